// Submission handling shared by `fundledger submit` and `POST /v1/events`: a plain function
// from a request body to per-event results.
//
// A body is one JSON envelope, a JSON array of envelopes, or one envelope per line (JSON lines).
// Items that cannot be decoded get an error result; the others are appended as one batch. The
// result array is in the order of the input:
//   {"id": ..., "seq": N, "leaf_hash": base64, "duplicate": bool}            accepted
//   {"id": ..., "error": {"code", "message", "event_id", "field"}}            rejected
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

inline constexpr size_t kSubmissionEventsMax = 10000;
// A Cap'n Proto submission holds at most this many segments per message (a sender has no need
// of more; the bound keeps the framing walk short).
inline constexpr uint32_t kCapnpSegmentsMax = 64;

// Splits a body into its JSON items (see above), handing each to `sink.item` as soon as it is
// parsed, with a non-ok status where it could not be parsed (the item is then null); none is
// kept. If the body turns out to be JSON lines after items were handed over as one document,
// `sink.restart` is called and the items are handed over again, line by line. InvalidArgument if
// the body holds no item, or more than `events_max` (at most kSubmissionEventsMax):
// "too_many_events", found before the items past the bound are parsed; or if an item holds more
// than kJsonItemValuesMax values and keys: "too_many_values".
struct JsonItemSink {
  std::function<void()> restart;
  std::function<void(nlohmann::json&& item, Status parsed)> item;
};
Status ParseJsonItems(std::string_view body, size_t events_max, const JsonItemSink& sink);
// The same, into vectors: `errors[i]` is non-ok where item i could not be parsed.
Status ParseJsonItems(std::string_view body, std::vector<nlohmann::json>* items,
                      std::vector<Status>* errors, size_t events_max = kSubmissionEventsMax);

nlohmann::json ErrorJson(const Status& status);

// A submission decoded into events, remembering where each input item went, so that the results
// can be given back in the order of the input.
struct Submission {
  std::vector<SignedEvent> events;  // the items that decoded, in input order
  std::vector<size_t> positions;    // item index of each event
  std::vector<Status> errors;       // per item: non-ok where it could not be decoded
};

// Decodes a JSON body (see above). Non-ok only when the body as a whole is unusable
// (InvalidArgument "json_malformed", "empty_submission", "too_many_events").
Status DecodeJsonSubmission(std::string_view body, Submission* out,
                            size_t events_max = kSubmissionEventsMax);
// Decodes a body of Cap'n Proto Envelope messages (standard framing), one after another.
// InvalidArgument "capnp_malformed" when the framing cannot be followed (nothing is decoded
// then); a message that frames but does not decode is an error of its item.
Status DecodeCapnpSubmission(std::string_view body, Submission* out,
                             size_t events_max = kSubmissionEventsMax);
// The per-item results in input order. `appended` holds one result per submission.events
// (Journal::Append's). `*accepted_all` is true if every item was appended or was an identical
// duplicate.
nlohmann::json RenderSubmission(const Submission& submission,
                                const std::vector<AppendResult>& appended, bool* accepted_all);
// The same results as JSON text, RenderSubmission(...).dump() byte for byte, written directly
// rather than built as a JSON value: the server answers every posted list with it.
std::string RenderSubmissionText(const Submission& submission,
                                 const std::vector<AppendResult>& appended);

// Decodes, appends and renders. `*accepted_all` is true if every item was appended (or was an
// identical duplicate). Returns non-ok only when nothing could be processed (bad body, I/O).
Status SubmitEnvelopes(Journal& journal, std::string_view body, nlohmann::json* results,
                       bool* accepted_all);

}  // namespace fundledger
