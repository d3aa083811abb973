// Submission handling shared by `fundledger submit` and `POST /v1/events`: a plain function
// from a request body to per-event results.
//
// A body is one JSON envelope, a JSON array of envelopes, or one envelope per line (JSON lines).
// Items that cannot be decoded get an error result; the others are appended as one batch. The
// result array is in the order of the input:
//   {"id": ..., "seq": N, "leaf_hash": base64, "duplicate": bool}            accepted
//   {"id": ..., "error": {"code", "message", "event_id", "field"}}            rejected
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

inline constexpr size_t kSubmissionEventsMax = 10000;

// Splits a body into its JSON items (see above). `errors[i]` is non-ok where item i could not be
// parsed (`items[i]` is then null). InvalidArgument if the body holds no item or too many.
Status ParseJsonItems(std::string_view body, std::vector<nlohmann::json>* items,
                      std::vector<Status>* errors);

nlohmann::json ErrorJson(const Status& status);

// Decodes, appends and renders. `*accepted_all` is true if every item was appended (or was an
// identical duplicate). Returns non-ok only when nothing could be processed (bad body, I/O).
Status SubmitEnvelopes(Journal& journal, std::string_view body, nlohmann::json* results,
                       bool* accepted_all);

}  // namespace fundledger
