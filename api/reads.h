// The read answers of the ledger, shared by the command line (`fundledger log`, `checkpoint`,
// `proof`, `show`) and the HTTP server (GET /v1/events, /v1/checkpoint, /v1/proofs/*,
// /v1/views/*), so that both give the same fields.
//
// Thread safety: each function reads `journal` as its REQUIRES say; the view functions read the
// journal's committed state (ViewPoint), so REQUIRE no concurrent Append.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/status.h"
#include "ledger/journal.h"
#include "replay/reports.h"
#include "replay/views.h"

namespace fundledger {

// Records per answer of GET /v1/events at most.
inline constexpr uint64_t kLogRecordsMax = 1000;

// {seq, recorded_at_ms, leaf_hash, envelope} of one stored record. Corruption naming the seq if
// the record does not decode.
Status RecordJson(uint64_t seq, std::string_view bytes, nlohmann::json* out);
// One line of `log --format table`: seq, business date, type, id, signer (tab separated).
Status RecordTableLine(uint64_t seq, std::string_view bytes, std::string* out);

// Signs a checkpoint at the head if the head is past the latest one (Journal::WriteCheckpoint),
// then {origin, size, root, note, log_key}.
Status CheckpointJson(Journal& journal, nlohmann::json* out);
// The same of a note the journal's log key signed.
Status CheckpointNoteJson(const Journal& journal, const std::string& note, nlohmann::json* out);

// {seq, leaf_index, tree_size, leaf_hash, root, proof}: the inclusion proof of record `seq` in
// the tree of `tree_size` records, as GET /v1/proofs/inclusion answers it.
nlohmann::json InclusionJson(uint64_t seq, uint64_t tree_size, const Hash& leaf_hash,
                             const Hash& root, const std::vector<Hash>& proof);
// The same for record `seq` (or event `id` when not empty) in the tree of `tree_size` records
// (0: the head).
Status InclusionProofJson(const Journal& journal, uint64_t seq, std::string_view id,
                          uint64_t tree_size, nlohmann::json* out);
// {size1, size2, root1, root2, proof}; `size2` 0 means the head.
Status ConsistencyProofJson(const Journal& journal, uint64_t size1, uint64_t size2,
                            nlohmann::json* out);

// What a view is asked for: the view's name, one scope, and the point.
struct ViewQuery {
  std::string view;  // balance, ratios, disbursements or flags
  Scope scope;
  AsOf as_of;
  LinesWindow lines;  // the part of the disbursements list rendered (all of it by default)
};

// Builds a ViewQuery from the options of `show` / the query of GET /v1/views/VIEW: exactly one of
// project, pool, region (`region` counts when given, even empty: the national roll-up), and an
// optional as_of_seq (0: none) and as_of_date. InvalidArgument naming the field otherwise
// ("bad_view", "bad_scope", "bad_region", "bad_date").
Status MakeViewQuery(std::string_view view, const std::string& project, const std::string& pool,
                     const std::optional<std::string>& region, uint64_t as_of_seq,
                     const std::string& as_of_date, ViewQuery* out);

// A view rendered three ways: JSON (`show --format json`: view, scope, as_of_seq, as_of_date,
// reference_date and the view's figures), CSV, and the table with its heading line.
struct RenderedView {
  nlohmann::json json;
  std::string csv;
  std::string table;
  // Where the disbursements list goes on past the lines rendered: the `from` of the next page.
  std::optional<uint64_t> next_from;
};

// The ViewPoint of `query` (ViewPoint::Open): NotFound "project_unknown"/"pool_unknown";
// InvalidArgument "as_of_seq_beyond_head", "bad_region". Its region() is where the scope lies,
// for access checks before rendering.
// REQUIRES: no concurrent Append on `journal` while the point is open, or `gate` given (a view
// at a point of durable records, read beside the writer: ViewPoint::Open).
Status OpenView(const Journal& journal, const ViewQuery& query, std::unique_ptr<ViewPoint>* out,
                StateGate* gate = nullptr);
// The region a view's scope lies in, as the journal's state has it now (a project's or a pool's
// bureau's region, or the region itself), for access checks before a view is opened; false if
// the scope names nothing (OpenView then says why). REQUIRES: no concurrent Append.
bool ScopeRegion(const Journal& journal, const Scope& scope, std::string* region);
// Renders the view of `query` at `point` (opened by OpenView for the same query) in `format`
// ("json", "csv" or "table"; only that member of `out` is filled). For the disbursements view,
// `reuse` and `made` are DisbursementsOf's (replay/reports.h): the list's index kept from an
// earlier page of the same point, and the one this page makes.
Status RenderView(const ViewPoint& point, const ViewQuery& query, std::string_view format,
                  RenderedView* out, const DisbursementsIndex* reuse = nullptr,
                  DisbursementsIndex* made = nullptr);

// The first line of a view's table form: "VIEW of KIND ID as of seq N[, occurred on or before
// DATE]".
std::string ViewTableHeading(const ViewQuery& query, uint64_t as_of_seq,
                             std::optional<int64_t> as_of_day);

}  // namespace fundledger
