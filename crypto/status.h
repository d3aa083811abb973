// Status: the result of an operation that can fail in an expected way.
//
// Modelled on leveldb::Status. An ok Status is cheap (no allocation). A failed Status has a kind,
// a stable machine-readable `code` (for rule violations, the rule's name, e.g.
// "signature_invalid"), a human message, and optionally the event id and field it concerns.
// Thread safety: a Status is a value; distinct objects may be used from distinct threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace fundledger {

class [[nodiscard]] Status {
 public:
  enum class Kind {
    kOk,
    kNotFound,         // the thing asked for does not exist
    kCorruption,       // stored data fails a check: a bug or tampering
    kInvalidArgument,  // input is malformed (cannot be decoded, bad syntax)
    kRejected,         // input is well-formed but breaks a rule of the ledger
    kConflict,         // an id is already used with different content
    kIOError,          // the operating system or RocksDB failed
  };

  Status() = default;

  static Status Ok() { return Status(); }
  static Status NotFound(std::string_view code, std::string_view message,
                         std::string_view field = {});
  static Status Corruption(std::string_view code, std::string_view message,
                           std::string_view field = {});
  static Status InvalidArgument(std::string_view code, std::string_view message,
                                std::string_view field = {});
  static Status Rejected(std::string_view code, std::string_view message,
                         std::string_view field = {});
  static Status Conflict(std::string_view code, std::string_view message,
                         std::string_view field = {});
  static Status IOError(std::string_view code, std::string_view message);

  bool ok() const { return rep_ == nullptr; }
  Kind kind() const { return rep_ ? rep_->kind : Kind::kOk; }
  bool IsNotFound() const { return kind() == Kind::kNotFound; }
  bool IsCorruption() const { return kind() == Kind::kCorruption; }

  // Empty strings for an ok Status.
  const std::string& code() const;
  const std::string& message() const;
  const std::string& field() const;
  const std::string& event_id() const;

  // Returns a copy of this Status that names the event it concerns (no-op when ok).
  Status WithEventId(std::string_view event_id) const;
  // Returns a copy with `prefix` prepended to the field path ("budget" + "basic_fen").
  Status WithFieldPrefix(std::string_view prefix) const;

  // "code: message (event e1, field amount_fen)".
  std::string ToString() const;

 private:
  struct Rep {
    Kind kind;
    std::string code;
    std::string message;
    std::string field;
    std::string event_id;
  };
  Status(Kind kind, std::string_view code, std::string_view message, std::string_view field);

  std::shared_ptr<const Rep> rep_;  // null when ok; shared because a Status is immutable
};

// Returns from the enclosing function if `expr` yields a failed Status.
#define FL_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::fundledger::Status _fl_status = (expr); \
    if (!_fl_status.ok()) return _fl_status;  \
  } while (0)

}  // namespace fundledger
