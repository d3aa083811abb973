#include "crypto/status.h"

namespace fundledger {
namespace {
const std::string kEmpty;
}

Status::Status(Kind kind, std::string_view code, std::string_view message,
               std::string_view field)
    : rep_(std::make_shared<const Rep>(
          Rep{kind, std::string(code), std::string(message), std::string(field), {}})) {}

Status Status::NotFound(std::string_view code, std::string_view message,
                        std::string_view field) {
  return Status(Kind::kNotFound, code, message, field);
}
Status Status::Corruption(std::string_view code, std::string_view message,
                          std::string_view field) {
  return Status(Kind::kCorruption, code, message, field);
}
Status Status::InvalidArgument(std::string_view code, std::string_view message,
                               std::string_view field) {
  return Status(Kind::kInvalidArgument, code, message, field);
}
Status Status::Rejected(std::string_view code, std::string_view message,
                        std::string_view field) {
  return Status(Kind::kRejected, code, message, field);
}
Status Status::Conflict(std::string_view code, std::string_view message,
                        std::string_view field) {
  return Status(Kind::kConflict, code, message, field);
}
Status Status::IOError(std::string_view code, std::string_view message) {
  return Status(Kind::kIOError, code, message, {});
}

const std::string& Status::code() const { return rep_ ? rep_->code : kEmpty; }
const std::string& Status::message() const { return rep_ ? rep_->message : kEmpty; }
const std::string& Status::field() const { return rep_ ? rep_->field : kEmpty; }
const std::string& Status::event_id() const { return rep_ ? rep_->event_id : kEmpty; }

Status Status::WithEventId(std::string_view event_id) const {
  if (ok()) return *this;
  Rep rep = *rep_;
  rep.event_id = std::string(event_id);
  Status s;
  s.rep_ = std::make_shared<const Rep>(std::move(rep));
  return s;
}

Status Status::WithFieldPrefix(std::string_view prefix) const {
  if (ok() || prefix.empty()) return *this;
  Rep rep = *rep_;
  rep.field = rep.field.empty() ? std::string(prefix) : std::string(prefix) + "." + rep.field;
  Status s;
  s.rep_ = std::make_shared<const Rep>(std::move(rep));
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out = rep_->code + ": " + rep_->message;
  if (!rep_->event_id.empty() || !rep_->field.empty()) {
    out += " (";
    if (!rep_->event_id.empty()) out += "event " + rep_->event_id;
    if (!rep_->event_id.empty() && !rep_->field.empty()) out += ", ";
    if (!rep_->field.empty()) out += "field " + rep_->field;
    out += ")";
  }
  return out;
}

}  // namespace fundledger
