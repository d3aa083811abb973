#include "api/submit.h"

#include <algorithm>

#include "crypto/encoding.h"
#include "ledger/codec.h"

namespace fundledger {

namespace {

Status TooManyEvents(size_t events_max) {
  return Status::InvalidArgument(
      "too_many_events", "at most " + std::to_string(events_max) + " events per submission");
}

// The next non-blank line of `body` at or after `*pos` into `*text`, `*pos` moved past it and
// `*line` (1-based) counting every line passed; false at the end. A byte order mark at the start
// of the body is not part of its first line (the JSON parser skips one too).
bool NextLine(std::string_view body, size_t* pos, size_t* line, std::string_view* text) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (*pos == 0 && body.starts_with(kBom)) *pos = kBom.size();
  while (*pos <= body.size()) {
    size_t end = body.find('\n', *pos);
    if (end == std::string_view::npos) end = body.size();
    *text = body.substr(*pos, end - *pos);
    ++*line;
    *pos = end + 1;
    if (text->find_first_not_of(" \t\r") != std::string_view::npos) return true;
  }
  return false;
}

// Whether a non-blank line begins as a JSON object does. Each line of a JSON-lines body is one
// envelope: a line that is anything else is not parsed, since ParseJson bounds the values of an
// object, or of each item of an array, but not an array's items together.
bool BeginsAsAnObject(std::string_view text) {
  return text[text.find_first_not_of(" \t\r")] == '{';
}

// Whether the first non-blank line of `body` is a JSON object on its own, as the first line of
// a JSON-lines submission is; true if every line is blank (an empty submission).
bool StartsWithAnObjectLine(std::string_view body) {
  std::string_view text;
  size_t pos = 0, line = 0;
  if (!NextLine(body, &pos, &line, &text)) return true;
  if (!BeginsAsAnObject(text)) return false;
  nlohmann::json first;
  return ParseJson(text, &first).ok() && first.is_object();
}

}  // namespace

Status ParseJsonItems(std::string_view body, size_t events_max, const JsonItemSink& sink) {
  events_max = std::min(events_max, kSubmissionEventsMax);
  size_t items = 0;
  Status s = ParseJsonEach(body, events_max, [&](nlohmann::json&& item) {
    ++items;
    sink.item(std::move(item), Status::Ok());
  });
  if (s.code() == "too_many_items") return TooManyEvents(events_max);
  if (!s.ok() && (body.size() > kJsonDocumentBytesMax || !StartsWithAnObjectLine(body))) {
    // Not JSON lines either (a pretty-printed envelope or array with a fault in it): the body is
    // refused as a whole, with the document's own error, rather than some of its lines taken.
    return s;
  }
  if (!s.ok()) {
    // JSON lines: one item per non-blank line; a bad line does not spoil the others. Lines past
    // the bound are not parsed: the body is refused as a whole.
    sink.restart();
    items = 0;
    std::string_view text;
    for (size_t pos = 0, line = 0; NextLine(body, &pos, &line, &text);) {
      if (items == events_max) return TooManyEvents(events_max);
      nlohmann::json item;
      Status parsed = BeginsAsAnObject(text)
                          ? ParseJson(text, &item)
                          : Status::InvalidArgument("json_malformed",
                                                    "a line of JSON lines is one envelope, a JSON "
                                                    "object");
      if (!parsed.ok()) {
        parsed = Status::InvalidArgument(parsed.code(),
                                         "line " + std::to_string(line) + ": " + parsed.message());
        item = nlohmann::json();
      }
      ++items;
      sink.item(std::move(item), parsed);
    }
  }
  if (items == 0) return Status::InvalidArgument("empty_submission", "no event in the body");
  return Status::Ok();
}

Status ParseJsonItems(std::string_view body, std::vector<nlohmann::json>* items,
                      std::vector<Status>* errors, size_t events_max) {
  items->clear();
  errors->clear();
  return ParseJsonItems(body, events_max,
                        JsonItemSink{[&] {
                                       items->clear();
                                       errors->clear();
                                     },
                                     [&](nlohmann::json&& item, Status parsed) {
                                       items->push_back(std::move(item));
                                       errors->push_back(std::move(parsed));
                                     }});
}

nlohmann::json ErrorJson(const Status& status) {
  // Messages, ids and fields may quote what a client sent, which need not be UTF-8; JSON text
  // must be (nlohmann::json::dump throws otherwise).
  auto text = [](const std::string& s) {
    return s.empty() ? nlohmann::json() : nlohmann::json(ToValidUtf8(s));
  };
  return {{"code", ToValidUtf8(status.code())},
          {"message", ToValidUtf8(status.message())},
          {"event_id", text(status.event_id())},
          {"field", text(status.field())}};
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

Status DecodeJsonSubmission(std::string_view body, Submission* out, size_t events_max) {
  // Each item is decoded as soon as it is parsed, and its JSON let go: a body is held as events,
  // never as one DOM of all its items.
  *out = Submission();
  JsonItemSink sink{[&] { *out = Submission(); },
                    [&](nlohmann::json&& item, Status parsed) {
                      const size_t i = out->errors.size();
                      if (parsed.ok()) {
                        SignedEvent event;
                        parsed = SignedEvent::FromEnvelopeJson(item, &event);
                        if (parsed.ok()) {
                          out->events.push_back(std::move(event));
                          out->positions.push_back(i);
                        } else if (parsed.event_id().empty()) {
                          parsed = parsed.WithEventId(ItemId(item));
                        }
                      }
                      out->errors.push_back(std::move(parsed));
                    }};
  Status s = ParseJsonItems(body, events_max, sink);
  if (!s.ok()) *out = Submission();
  return s;
}

namespace {

uint32_t LoadU32(std::string_view bytes, size_t at) {
  uint32_t v = 0;
  for (int b = 3; b >= 0; --b) v = (v << 8) | uint8_t(bytes[at + size_t(b)]);
  return v;
}

// The size in bytes of the standard-framed message at the start of `bytes`; 0 if its segment
// table is cut short, names too many segments or runs past the end.
size_t CapnpMessageBytes(std::string_view bytes) {
  if (bytes.size() < 8) return 0;
  uint64_t segments = uint64_t(LoadU32(bytes, 0)) + 1;
  if (segments > kCapnpSegmentsMax) return 0;
  uint64_t table = ((4 + 4 * segments) + 7) / 8 * 8;
  if (table > bytes.size()) return 0;
  uint64_t total = table;
  for (uint64_t s = 0; s < segments; ++s) total += uint64_t(LoadU32(bytes, 4 + 4 * s)) * 8;
  return total <= bytes.size() ? size_t(total) : 0;
}

}  // namespace

Status DecodeCapnpSubmission(std::string_view body, Submission* out, size_t events_max) {
  events_max = std::min(events_max, kSubmissionEventsMax);
  *out = Submission();
  std::vector<std::string_view> messages;
  for (size_t at = 0; at < body.size();) {
    size_t n = CapnpMessageBytes(body.substr(at));
    if (n == 0) {
      return Status::InvalidArgument("capnp_malformed", "message " +
                                                            std::to_string(messages.size() + 1) +
                                                            " is not a framed Cap'n Proto message");
    }
    if (messages.size() == events_max) return TooManyEvents(events_max);
    messages.push_back(body.substr(at, n));
    at += n;
  }
  if (messages.empty()) return Status::InvalidArgument("empty_submission", "no event in the body");
  out->errors.assign(messages.size(), Status::Ok());
  for (size_t i = 0; i < messages.size(); ++i) {
    SignedEvent event;
    auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(messages[i].data()),
                                          messages[i].size());
    out->errors[i] = SignedEvent::FromEnvelopeCapnp(bytes, &event);
    if (!out->errors[i].ok()) continue;
    out->events.push_back(std::move(event));
    out->positions.push_back(i);
  }
  return Status::Ok();
}

nlohmann::json RenderSubmission(const Submission& submission,
                                const std::vector<AppendResult>& appended, bool* accepted_all) {
  std::vector<Status> errors = submission.errors;
  std::vector<nlohmann::json> out(errors.size());
  for (size_t k = 0; k < submission.events.size(); ++k) {
    const AppendResult& r = appended[k];
    if (!r.status.ok()) {
      errors[submission.positions[k]] = r.status;
      continue;
    }
    out[submission.positions[k]] = {{"id", submission.events[k].id()},
                                    {"seq", r.seq},
                                    {"leaf_hash", Base64Encode(r.leaf_hash)},
                                    {"duplicate", r.duplicate}};
  }
  nlohmann::json results = nlohmann::json::array();
  *accepted_all = true;
  for (size_t i = 0; i < errors.size(); ++i) {
    if (!errors[i].ok()) {
      *accepted_all = false;
      std::string id = errors[i].event_id();
      out[i] = {{"id", id.empty() ? nlohmann::json() : nlohmann::json(ToValidUtf8(id))},
                {"error", ErrorJson(errors[i])}};
    }
    results.push_back(std::move(out[i]));
  }
  return results;
}

namespace {

// Appends `text` as a JSON string when it needs no escaping (printable ASCII other than '"' and
// '\\'); false, and nothing appended, otherwise.
bool AppendPlainJsonString(std::string_view text, std::string* out) {
  for (char c : text) {
    if (uint8_t(c) < 0x20 || uint8_t(c) >= 0x7f || c == '"' || c == '\\') return false;
  }
  out->push_back('"');
  out->append(text);
  out->push_back('"');
  return true;
}

}  // namespace

std::string RenderSubmissionText(const Submission& submission,
                                 const std::vector<AppendResult>& appended) {
  constexpr size_t kNoEvent = ~size_t(0);
  std::vector<size_t> event_of(submission.errors.size(), kNoEvent);  // per item
  for (size_t k = 0; k < submission.events.size(); ++k) event_of[submission.positions[k]] = k;
  std::string out;
  out.reserve(16 + submission.errors.size() * 112);  // an accepted result is about 100 bytes
  out.push_back('[');
  for (size_t i = 0; i < event_of.size(); ++i) {
    if (i > 0) out.push_back(',');
    const size_t k = event_of[i];
    if (k == kNoEvent || !appended[k].status.ok()) {
      // Errors are few and their messages free text: the JSON library writes them.
      const Status& error = k == kNoEvent ? submission.errors[i] : appended[k].status;
      nlohmann::json item = {
          {"id", error.event_id().empty() ? nlohmann::json()
                                          : nlohmann::json(ToValidUtf8(error.event_id()))},
          {"error", ErrorJson(error)}};
      out += item.dump();
      continue;
    }
    const AppendResult& r = appended[k];
    out += r.duplicate ? "{\"duplicate\":true,\"id\":" : "{\"duplicate\":false,\"id\":";
    capnp::Text::Reader id = submission.events[k].event().getId();
    if (!AppendPlainJsonString(std::string_view(id.cStr(), id.size()), &out)) {
      out += nlohmann::json(id.cStr()).dump();  // not reached for valid ids; kept exact anyway
    }
    out += ",\"leaf_hash\":\"";
    out += Base64Encode(r.leaf_hash);
    out += "\",\"seq\":";
    out += std::to_string(r.seq);
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

Status SubmitEnvelopes(Journal& journal, std::string_view body, nlohmann::json* results,
                       bool* accepted_all) {
  Submission submission;
  FL_RETURN_IF_ERROR(DecodeJsonSubmission(body, &submission));
  std::vector<AppendResult> appended;
  if (!submission.events.empty()) FL_RETURN_IF_ERROR(journal.Append(submission.events, &appended));
  *results = RenderSubmission(submission, appended, accepted_all);
  return Status::Ok();
}

}  // namespace fundledger
