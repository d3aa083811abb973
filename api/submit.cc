#include "api/submit.h"

#include "crypto/encoding.h"
#include "ledger/codec.h"

namespace fundledger {

Status ParseJsonItems(std::string_view body, std::vector<nlohmann::json>* items,
                      std::vector<Status>* errors) {
  items->clear();
  errors->clear();
  nlohmann::json whole;
  Status s = ParseJson(body, &whole);
  if (s.ok()) {
    if (whole.is_array()) {
      for (auto& item : whole) items->push_back(std::move(item));
    } else {
      items->push_back(std::move(whole));
    }
    errors->assign(items->size(), Status::Ok());
  } else if (body.size() > kJsonDocumentBytesMax) {
    return s;
  } else {
    // JSON lines: one item per non-blank line; a bad line does not spoil the others.
    size_t line = 0;
    for (size_t pos = 0; pos <= body.size();) {
      size_t end = body.find('\n', pos);
      if (end == std::string_view::npos) end = body.size();
      std::string_view text = body.substr(pos, end - pos);
      ++line;
      pos = end + 1;
      if (text.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      nlohmann::json item;
      Status parsed = ParseJson(text, &item);
      if (!parsed.ok()) {
        parsed = Status::InvalidArgument(parsed.code(),
                                         "line " + std::to_string(line) + ": " + parsed.message());
      }
      items->push_back(parsed.ok() ? std::move(item) : nlohmann::json());
      errors->push_back(parsed);
    }
  }
  if (items->empty()) return Status::InvalidArgument("empty_submission", "no event in the body");
  if (items->size() > kSubmissionEventsMax) {
    return Status::InvalidArgument(
        "too_many_events",
        "at most " + std::to_string(kSubmissionEventsMax) + " events per submission");
  }
  return Status::Ok();
}

nlohmann::json ErrorJson(const Status& status) {
  return {{"code", status.code()},
          {"message", status.message()},
          {"event_id",
           status.event_id().empty() ? nlohmann::json() : nlohmann::json(status.event_id())},
          {"field", status.field().empty() ? nlohmann::json() : nlohmann::json(status.field())}};
}

namespace {

// The id of a raw item, for naming it in an error even when it could not be decoded.
std::string ItemId(const nlohmann::json& item) {
  if (item.is_object()) {
    auto event = item.find("event");
    if (event != item.end() && event->is_object()) {
      auto id = event->find("id");
      if (id != event->end() && id->is_string()) return id->get<std::string>();
    }
  }
  return {};
}

}  // namespace

Status SubmitEnvelopes(Journal& journal, std::string_view body, nlohmann::json* results,
                       bool* accepted_all) {
  std::vector<nlohmann::json> items;
  std::vector<Status> errors;
  FL_RETURN_IF_ERROR(ParseJsonItems(body, &items, &errors));
  std::vector<SignedEvent> events;
  std::vector<size_t> positions;  // item index of each decoded event
  for (size_t i = 0; i < items.size(); ++i) {
    if (!errors[i].ok()) continue;
    SignedEvent event;
    errors[i] = SignedEvent::FromEnvelopeJson(items[i], &event);
    if (errors[i].ok()) {
      events.push_back(std::move(event));
      positions.push_back(i);
    } else if (errors[i].event_id().empty()) {
      errors[i] = errors[i].WithEventId(ItemId(items[i]));
    }
  }
  std::vector<AppendResult> appended;
  if (!events.empty()) FL_RETURN_IF_ERROR(journal.Append(events, &appended));
  *results = nlohmann::json::array();
  *accepted_all = true;
  std::vector<nlohmann::json> out(items.size());
  for (size_t k = 0; k < events.size(); ++k) {
    const AppendResult& r = appended[k];
    if (!r.status.ok()) {
      errors[positions[k]] = r.status;
      continue;
    }
    out[positions[k]] = {{"id", events[k].id()},
                         {"seq", r.seq},
                         {"leaf_hash", Base64Encode(r.leaf_hash)},
                         {"duplicate", r.duplicate}};
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (!errors[i].ok()) {
      *accepted_all = false;
      std::string id = errors[i].event_id();
      out[i] = {{"id", id.empty() ? nlohmann::json() : nlohmann::json(id)},
                {"error", ErrorJson(errors[i])}};
    }
    results->push_back(std::move(out[i]));
  }
  return Status::Ok();
}

}  // namespace fundledger
