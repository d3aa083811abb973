// The HTTP API of DESIGN.md section 9 as plain functions from a request to a response,
// independent of the transport (api/server.h moves the bytes).
//
//   POST /v1/events                     one envelope, an array or JSON lines (application/json),
//                                       or Cap'n Proto Envelope messages one after another
//                                       (application/x-capnp). Not signed as a request: every
//                                       event carries its own signature.
//   GET  /v1/events?from=&limit=        records (auditors, operator)
//   GET  /v1/views/VIEW?project=|pool=|region=[&as_of_seq=][&as_of_date=][&format=json|csv|table]
//                                       VIEW: balance, ratios, disbursements, flags (auditors,
//                                       operator; bureaus and street offices in their region)
//   GET  /v1/checkpoint                 signs one at the head if needed (any registered org),
//                                       written with the sequencer's next batch and answered
//                                       once it is durable; 503 when too many are queued
//   GET  /v1/proofs/inclusion?seq=|id=[&size=]   GET /v1/proofs/consistency?from=[&to=]
//   GET  /v1/public/checkpoint          the latest signed checkpoint note, text (anyone)
//   GET  /v1/public/projects, /v1/public/summary?project=|region=,
//        /v1/public/export/FILE?project=|region=    transparency exports (api/public_reads.h)
//   GET  /, /dashboard.js, /dashboard.css, /vendor/echarts.min.js   the public dashboard
//   GET  /healthz, /metrics             health, Prometheus text (anyone)
//
// Answers are the JSON of the command line's --format json. An error is
// {"code", "message", "event_id", "field"} with the status of its kind: 400 malformed, 401 not
// authenticated, 403 not allowed, 404 not found, 405 wrong method, 409 conflict (an id recorded
// with other content), 413 too large, 422 refused by a rule, 503 busy or stopping (with
// Retry-After), 500 for a failed journal ("journal_failed": a write or sync of the journal failed;
// from then on the server acknowledges no write and serves no read of the journal, and /healthz
// answers the same error, until it is restarted). POST /v1/events with an array answers 200 and one
// result per item (an item's error is in its result); with a single envelope it answers that
// envelope's result with the status that fits it.
//
// Thread safety: HandleRequest may be called from many threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "api/auth.h"
#include "api/metrics.h"
#include "api/public_reads.h"
#include "api/sequencer.h"
#include "api/view_points.h"
#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query as sent
  std::string content_type;
  RequestSignature signature;  // the X-Fundledger-* header values (empty when absent)
  std::string body;
  // Set by the connection once the request has its answer another way (503 answer_timeout at
  // its deadline): work queued for it that has not started is dropped. Null: never.
  std::shared_ptr<const std::atomic<bool>> abandoned = nullptr;
};

struct ApiResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  // A body shared with the public answers' cache, sent instead of `body` when set: written
  // from the shared bytes, never copied (wire_response.h).
  std::shared_ptr<const std::string> shared_body;
  std::string content_disposition;        // downloads: attachment; filename=...
  std::optional<unsigned> retry_after_s;  // with 503
  std::string link_next;                  // a Link header with rel="next": the next page's URL
  std::string allow;                      // with 405: the methods the path takes (Allow)
  Route route = Route::kOther;            // for the metrics
};

// The parts a handler works with. Not owned; all outlive every request.
struct ApiContext {
  Journal* journal = nullptr;
  ReadGate* gate = nullptr;  // held shared around every read of the journal's state
  Sequencer* sequencer = nullptr;
  Metrics* metrics = nullptr;
  std::function<int64_t()> now_ms;
  // Runs `work` on a request thread (POST results are rendered there, not on the sequencer).
  std::function<void(std::function<void()>)> defer;
  // Runs `work` (a view as of an earlier point) on a fold thread, unless `abandoned` (may be
  // null) is set by the time a thread is free for it; false if too many wait. Empty: such views
  // are answered on the request thread.
  std::function<bool(std::function<void()>, std::shared_ptr<const std::atomic<bool>> abandoned)>
      fold;
  const std::atomic<bool>* draining = nullptr;  // true while the server stops
  size_t request_events_max = 5000;
  size_t view_lines_max = 10000;        // disbursements listed per answer of GET /v1/views/
  PublicReads* public_reads = nullptr;  // the /v1/public/ reads beyond the checkpoint
  ViewPoints* view_points = nullptr;    // folds of GET /v1/views/ kept for later pages; optional
  const WebAssets* web = nullptr;       // the dashboard's files; nullptr: a plain page at /
};

// Answers `request`; `reply` is called exactly once, possibly later and from another thread
// (POST /v1/events answers once its events are durable).
void HandleRequest(const ApiContext& context, const ApiRequest& request,
                   std::function<void(ApiResponse)> reply);

// "name=value" for a URL's query, `value` percent-encoded (all but ASCII letters, digits and
// -_.~/), as ParseQuery reads it back.
std::string QueryPart(std::string_view name, std::string_view value);

// The status an error of this code and kind is answered with.
unsigned HttpStatusOf(const Status& status);
// An error response: ErrorJson(status) with HttpStatusOf(status).
ApiResponse ErrorResponse(const Status& status);
// The route a request's metrics count it under.
Route RouteOf(std::string_view method, std::string_view path);

}  // namespace fundledger
