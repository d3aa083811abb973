#include "api/reads.h"

#include "crypto/checkpoint.h"
#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "ledger/rules.h"
#include "replay/reports.h"

namespace fundledger {

using nlohmann::json;

namespace {

Status DecodeRecord(uint64_t seq, std::string_view bytes, RecordReader* record,
                    SignedEvent* event) {
  Status s = RecordReader::Open(bytes, record);
  if (s.ok()) s = SignedEvent::FromRecordEnvelope(*record, event);
  if (!s.ok())
    return Status::Corruption(s.code(), "seq " + std::to_string(seq) + ": " + s.message());
  return Status::Ok();
}

json HashList(const std::vector<Hash>& hashes) {
  json out = json::array();
  for (const auto& h : hashes) out.push_back(Base64Encode(h));
  return out;
}

}  // namespace

Status RecordJson(uint64_t seq, std::string_view bytes, json* out) {
  RecordReader record;
  SignedEvent event;
  FL_RETURN_IF_ERROR(DecodeRecord(seq, bytes, &record, &event));
  *out = {{"seq", seq},
          {"recorded_at_ms", record.record().getRecordedAtMs()},
          {"leaf_hash", Base64Encode(MerkleLeafHash(AsBytes(bytes)))},
          {"envelope", event.ToEnvelopeJson()}};
  return Status::Ok();
}

Status RecordTableLine(uint64_t seq, std::string_view bytes, std::string* out) {
  RecordReader record;
  SignedEvent event;
  FL_RETURN_IF_ERROR(DecodeRecord(seq, bytes, &record, &event));
  json envelope = event.ToEnvelopeJson();
  *out = std::to_string(seq) + "\t" + FormatDate(BusinessDay(record.record().getRecordedAtMs())) +
         "\t" + envelope["event"]["type"].get<std::string>() + "\t" + event.id() + "\t" +
         event.signer();
  return Status::Ok();
}

Status CheckpointJson(Journal& journal, json* out) {
  std::string note;
  FL_RETURN_IF_ERROR(journal.WriteCheckpoint(&note));
  return CheckpointNoteJson(journal, note, out);
}

Status CheckpointNoteJson(const Journal& journal, const std::string& note, json* out) {
  Checkpoint checkpoint;
  FL_RETURN_IF_ERROR(OpenCheckpoint(note, journal.log_verifier(), &checkpoint));
  *out = {{"origin", checkpoint.origin},
          {"size", checkpoint.size},
          {"root", Base64Encode(checkpoint.root)},
          {"note", note},
          {"log_key", FormatVerifierKey(journal.log_verifier().name, journal.log_verifier().key)}};
  return Status::Ok();
}

json InclusionJson(uint64_t seq, uint64_t tree_size, const Hash& leaf_hash, const Hash& root,
                   const std::vector<Hash>& proof) {
  return {{"seq", seq},
          {"leaf_index", seq - 1},
          {"tree_size", tree_size},
          {"leaf_hash", Base64Encode(leaf_hash)},
          {"root", Base64Encode(root)},
          {"proof", HashList(proof)}};
}

Status InclusionProofJson(const Journal& journal, uint64_t seq, std::string_view id,
                          uint64_t tree_size, json* out) {
  if (!id.empty()) {
    Status found = journal.FindEvent(id, &seq);
    if (found.code() == "event_not_found") {
      return Status::NotFound(found.code(), found.message(), "id");
    }
    FL_RETURN_IF_ERROR(found);
  }
  uint64_t size = tree_size ? tree_size : journal.head().size;
  std::vector<Hash> proof;
  Hash leaf, root;
  FL_RETURN_IF_ERROR(journal.InclusionProof(seq, size, &proof, &leaf, &root));
  *out = InclusionJson(seq, size, leaf, root, proof);
  return Status::Ok();
}

Status ConsistencyProofJson(const Journal& journal, uint64_t size1, uint64_t size2, json* out) {
  uint64_t to = size2 ? size2 : journal.head().size;
  std::vector<Hash> proof;
  Hash root1, root2;
  FL_RETURN_IF_ERROR(journal.ConsistencyProof(size1, to, &proof, &root1, &root2));
  *out = {{"size1", size1},
          {"size2", to},
          {"root1", Base64Encode(root1)},
          {"root2", Base64Encode(root2)},
          {"proof", HashList(proof)}};
  return Status::Ok();
}

Status MakeViewQuery(std::string_view view, const std::string& project, const std::string& pool,
                     const std::optional<std::string>& region, uint64_t as_of_seq,
                     const std::string& as_of_date, ViewQuery* out) {
  if (view != "balance" && view != "ratios" && view != "disbursements" && view != "flags") {
    return Status::InvalidArgument("bad_view", "a view is balance, ratios, disbursements or flags",
                                   "view");
  }
  *out = ViewQuery();
  out->view = std::string(view);
  if (int(!project.empty()) + int(!pool.empty()) + int(region.has_value()) != 1) {
    return Status::InvalidArgument("bad_scope", "give exactly one of project, pool, region",
                                   "project");
  }
  if (!project.empty()) {
    out->scope = {ScopeKind::kProject, project};
  } else if (!pool.empty()) {
    out->scope = {ScopeKind::kPool, pool};
  } else {
    if (!IsValidRegion(*region)) {
      return Status::InvalidArgument("bad_region", "lowercase ascii slugs joined by '/'", "region");
    }
    out->scope = {ScopeKind::kRegion, *region};
  }
  out->as_of.seq = as_of_seq;
  if (!as_of_date.empty()) {
    int64_t day = 0;
    Status s = ParseDate(as_of_date, "as_of_date", &day);
    if (!s.ok()) return Status::InvalidArgument(s.code(), s.message(), "as_of_date");
    out->as_of.day = day;
  }
  return Status::Ok();
}

Status OpenView(const Journal& journal, const ViewQuery& query, std::unique_ptr<ViewPoint>* out,
                StateGate* gate) {
  Status s = ViewPoint::Open(journal, query.scope, query.as_of, out, gate);
  if (s.code() == "as_of_seq_beyond_head" || s.code() == "bad_region") {
    return Status::InvalidArgument(s.code(), s.message(), s.field());
  }
  return s;
}

bool ScopeRegion(const Journal& journal, const Scope& scope, std::string* region) {
  switch (scope.kind) {
    case ScopeKind::kRegion:
      *region = scope.id;
      return IsValidRegion(scope.id);
    case ScopeKind::kPool: {
      const Org* org = journal.state().FindOrg(scope.id);
      if (org == nullptr || org->kind != schema::OrgKind::FINANCE_BUREAU) return false;
      *region = org->region;
      return true;
    }
    case ScopeKind::kProject: {
      const Project* project = journal.state().FindProject(scope.id);
      if (project == nullptr) return false;
      *region = project->region;
      return true;
    }
  }
  return false;
}

namespace {

// The figures of the view in `format`.
template <typename Figures>
void RenderAs(std::string_view format, const Figures& figures,
              nlohmann::json (*to_json)(const Figures&), std::string (*to_csv)(const Figures&),
              std::string (*to_table)(const Figures&), RenderedView* out) {
  if (format == "csv") {
    out->csv = to_csv(figures);
  } else if (format == "table") {
    out->table = to_table(figures);
  } else {
    out->json = to_json(figures);
  }
}

json FlagsObject(const std::vector<Flag>& flags) { return {{"flags", FlagsJson(flags)}}; }

Status RenderFigures(const ViewPoint& point, const ViewQuery& query, std::string_view format,
                     RenderedView* out, const DisbursementsIndex* reuse, DisbursementsIndex* made) {
  const std::string& view = query.view;
  if (view == "balance") {
    Balance balance;
    FL_RETURN_IF_ERROR(BalanceOf(point, &balance));
    RenderAs(format, balance, BalanceJson, BalanceCsv, BalanceTable, out);
  } else if (view == "ratios") {
    Ratios ratios;
    FL_RETURN_IF_ERROR(RatiosOf(point, &ratios));
    RenderAs(format, ratios, RatiosJson, RatiosCsv, RatiosTable, out);
  } else if (view == "disbursements") {
    Disbursements d;
    FL_RETURN_IF_ERROR(DisbursementsOf(point, &d, query.lines, reuse, made));
    RenderAs(format, d, DisbursementsJson, DisbursementsCsv, DisbursementsTable, out);
    if (d.lines_from + d.lines.size() < d.lines_total) {
      out->next_from = d.lines_from + d.lines.size();
    }
  } else {
    std::vector<Flag> flags;
    FL_RETURN_IF_ERROR(FlagsOf(point, &flags));
    RenderAs(format, flags, FlagsObject, FlagsCsv, FlagsTable, out);
  }
  return Status::Ok();
}

}  // namespace

std::string ViewTableHeading(const ViewQuery& query, uint64_t as_of_seq,
                             std::optional<int64_t> as_of_day) {
  std::string as_of_text = "seq " + std::to_string(as_of_seq);
  if (as_of_day) as_of_text += ", occurred on or before " + FormatDate(*as_of_day);
  return query.view + " of " + ScopeKindName(query.scope.kind) + " " + query.scope.id + " as of " +
         as_of_text + "\n";
}

Status RenderView(const ViewPoint& point, const ViewQuery& query, std::string_view format,
                  RenderedView* out, const DisbursementsIndex* reuse, DisbursementsIndex* made) {
  RenderedView figures;
  FL_RETURN_IF_ERROR(RenderFigures(point, query, format, &figures, reuse, made));
  out->next_from = figures.next_from;
  if (format == "csv") {
    out->csv = std::move(figures.csv);
  } else if (format == "table") {
    out->table = ViewTableHeading(query, point.as_of_seq(), point.as_of_day()) + figures.table;
  } else {
    json scope_json = {{ScopeKindName(query.scope.kind), query.scope.id}};
    if (query.scope.kind == ScopeKind::kRegion) scope_json["projects"] = point.projects().size();
    out->json = {{"view", query.view}, {"scope", scope_json}, {"as_of_seq", point.as_of_seq()}};
    out->json["as_of_date"] = point.as_of_day() ? json(FormatDate(*point.as_of_day())) : json();
    out->json["reference_date"] = FormatDate(point.reference_day());
    out->json.update(figures.json);
  }
  return Status::Ok();
}

}  // namespace fundledger
