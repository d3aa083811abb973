#include "api/bundle.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "ledger/event.h"
#include "ledger/fund_rules.h"
#include "ledger/rules.h"
#include "ledger/storage_format.h"
#include "replay/reports.h"

namespace fundledger {

using nlohmann::json;
using ordered = nlohmann::ordered_json;

bool IsWithheldEvent(schema::Event::Reader event) {
  return event.isFundsReceived() && event.getFundsReceived().hasContributorRef();
}

// ---- residents.txt ----

namespace {

constexpr std::string_view kStatementHeader = "fundledger/export-residents/v2";

std::string ScopeLine(const Scope& scope) {
  return std::string(scope.kind == ScopeKind::kRegion ? "scope region " : "scope project ") +
         scope.id;
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (true) {
    size_t end = text.find(sep, pos);
    if (end == std::string_view::npos) {
      out.push_back(text.substr(pos));
      return out;
    }
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

bool ParseI64(std::string_view text, int64_t* out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size() && *out >= 0;
}

Status BadStatement(size_t line, std::string_view what) {
  return Status::InvalidArgument("bad_residents_statement",
                                 "line " + std::to_string(line) + ": " + std::string(what));
}

// Every amount of the residents lines is part of the ledger's volume, and every receipt and
// household one of a withheld record of the bundle: within these bounds, each line's and their
// sums, no figure the bundle adds up from them can pass what an int64 holds.
constexpr int64_t kResidentAmountsMax = int64_t(kLedgerVolumeFenMax);
constexpr int64_t kResidentReceiptsMax = int64_t(kBundleRecordsMax);
constexpr int64_t kResidentHouseholdsMax = int64_t(kBundleRecordsMax) * UINT32_MAX;

// One "withheld" or "residents" line.
Status ParseStatementItem(size_t n, const std::vector<std::string_view>& f,
                          ResidentsStatement* out) {
  if (f[0] == "withheld" && f.size() == 4) {
    WithheldRecord w;
    int64_t seq = 0;
    if (!ParseI64(f[1], &seq) || seq == 0 || !Base64DecodeExact(f[2], w.leaf_hash) ||
        !CheckIdChars(f[3], "event_id").ok()) {
      return BadStatement(n, "withheld SEQ LEAF_HASH EVENT_ID");
    }
    w.seq = uint64_t(seq);
    w.event_id = std::string(f[3]);
    if (!out->withheld.empty() && out->withheld.back().seq >= w.seq) {
      return BadStatement(n, "withheld records are listed in seq order, once");
    }
    if (out->withheld.size() >= kBundleRecordsMax) {
      return BadStatement(n, "more withheld records than a bundle holds records");
    }
    out->withheld.push_back(std::move(w));
    return Status::Ok();
  }
  if (f[0] == "residents" && f.size() == 7) {
    ResidentTotal t{std::string(f[1]), std::string(f[2]), std::string(f[3])};
    if (!ParseI64(f[4], &t.amount_fen) || !ParseI64(f[5], &t.households) ||
        !ParseI64(f[6], &t.receipts) || t.project.empty() || t.source_org.empty() ||
        t.channel.empty() || t.amount_fen > kResidentAmountsMax ||
        t.receipts > kResidentReceiptsMax || t.households > kResidentHouseholdsMax) {
      return BadStatement(n, "residents PROJECT SOURCE_ORG CHANNEL AMOUNT_FEN HOUSEHOLDS RECEIPTS");
    }
    if (out->totals.size() >= kBundleRecordsMax) {
      return BadStatement(n, "more residents lines than a bundle holds records");
    }
    out->totals.push_back(std::move(t));
    return Status::Ok();
  }
  return BadStatement(n, "expected a withheld or a residents line");
}

}  // namespace

void RecordsDigest::Add(uint64_t seq, const Hash& leaf_hash) {
  uint8_t seq_bytes[8];
  for (int i = 0; i < 8; ++i) seq_bytes[i] = uint8_t(seq >> (56 - 8 * i));
  hasher_.Update(seq_bytes);
  hasher_.Update(leaf_hash);
  ++count_;
}

Hash RecordsDigest::Finish() { return hasher_.Finish(); }

std::string FormatResidentsStatement(const ResidentsStatement& s) {
  std::string out = std::string(kStatementHeader) + "\n" + ScopeLine(s.scope) + "\ncheckpoint " +
                    s.checkpoint.origin + "\nsize " + std::to_string(s.checkpoint.size) +
                    "\nroot " + Base64Encode(s.checkpoint.root) + "\nrecords " +
                    std::to_string(s.records) + " " + Base64Encode(s.records_digest) + "\n";
  for (const WithheldRecord& w : s.withheld) {
    out += "withheld " + std::to_string(w.seq) + " " + Base64Encode(w.leaf_hash) + " " +
           w.event_id + "\n";
  }
  for (const ResidentTotal& t : s.totals) {
    out += "residents " + t.project + " " + t.source_org + " " + t.channel + " " +
           std::to_string(t.amount_fen) + " " + std::to_string(t.households) + " " +
           std::to_string(t.receipts) + "\n";
  }
  return out;
}

Status ParseResidentsStatement(std::string_view text, ResidentsStatement* out) {
  *out = ResidentsStatement();
  if (text.empty() || text.back() != '\n') return BadStatement(1, "the text ends with a newline");
  std::vector<std::string_view> lines = Split(text.substr(0, text.size() - 1), '\n');
  if (lines.size() < 6 || lines[0] != kStatementHeader) {
    return BadStatement(1, "expected " + std::string(kStatementHeader));
  }
  std::string_view scope = lines[1];
  if (scope.rfind("scope project ", 0) == 0) {
    out->scope = {ScopeKind::kProject, std::string(scope.substr(14))};
  } else if (scope.rfind("scope region ", 0) == 0) {
    out->scope = {ScopeKind::kRegion, std::string(scope.substr(13))};
  } else if (scope == "scope region") {
    out->scope = {ScopeKind::kRegion, ""};
  } else {
    return BadStatement(2, "scope project ID or scope region PATH");
  }
  int64_t size = 0;
  if (lines[2].rfind("checkpoint ", 0) != 0) return BadStatement(3, "checkpoint ORIGIN");
  out->checkpoint.origin = std::string(lines[2].substr(11));
  if (lines[3].rfind("size ", 0) != 0 || !ParseI64(lines[3].substr(5), &size)) {
    return BadStatement(4, "size N");
  }
  out->checkpoint.size = uint64_t(size);
  if (lines[4].rfind("root ", 0) != 0 ||
      !Base64DecodeExact(lines[4].substr(5), out->checkpoint.root)) {
    return BadStatement(5, "root BASE64");
  }
  std::vector<std::string_view> records = Split(lines[5], ' ');
  int64_t count = 0;
  if (records.size() != 3 || records[0] != "records" || !ParseI64(records[1], &count) ||
      !Base64DecodeExact(records[2], out->records_digest)) {
    return BadStatement(6, "records COUNT DIGEST");
  }
  out->records = uint64_t(count);
  for (size_t i = 6; i < lines.size(); ++i) {
    FL_RETURN_IF_ERROR(ParseStatementItem(i + 1, Split(lines[i], ' '), out));
  }
  int64_t amounts = 0, receipts = 0, households = 0;  // each term within its bound: no overflow
  for (size_t i = 0; i < out->totals.size(); ++i) {
    const ResidentTotal& t = out->totals[i];
    amounts += t.amount_fen;
    receipts += t.receipts;
    households += t.households;
    if (amounts > kResidentAmountsMax || receipts > kResidentReceiptsMax ||
        households > kResidentHouseholdsMax) {
      return BadStatement(lines.size() - out->totals.size() + i + 1,
                          "the residents lines add up to more than a ledger's volume (10^18 "
                          "fen), or than a bundle's records or their households");
    }
  }
  if (FormatResidentsStatement(*out) != text) {
    return BadStatement(1, "not in its one written form (order, spacing or numbers)");
  }
  return Status::Ok();
}

// ---- events.jsonl ----

namespace {

// The events.jsonl line of a record and, for a published one, its envelope's JSON form.
Status RenderRecord(const BundleRecord& r, std::string* line, json* envelope) {
  std::string proof = "[";
  for (size_t i = 0; i < r.proof.size(); ++i) {
    proof += (i ? ",\"" : "\"") + Base64Encode(r.proof[i]) + "\"";
  }
  proof += "]";
  std::string head = "{\"seq\":" + std::to_string(r.seq) + ",\"leaf_hash\":\"" +
                     Base64Encode(r.leaf_hash) + "\",\"proof\":" + proof;
  if (r.withheld()) {
    *line = head + ",\"withheld\":\"resident_receipt\"}\n";
    return Status::Ok();
  }
  RecordReader record;
  SignedEvent event;
  Status s = RecordReader::Open(r.bytes, &record);
  if (s.ok()) s = SignedEvent::FromRecordEnvelope(record, &event);
  if (!s.ok()) {
    return Status::Corruption(s.code(), "seq " + std::to_string(r.seq) + ": " + s.message());
  }
  *envelope = event.ToEnvelopeJson();
  *line = head + ",\"recorded_at_ms\":" + std::to_string(record.record().getRecordedAtMs()) +
          ",\"record\":\"" + Base64Encode(AsBytes(r.bytes)) +
          "\",\"envelope\":" + envelope->dump(-1, ' ', false, json::error_handler_t::strict) +
          "}\n";
  return Status::Ok();
}

}  // namespace

Status RenderEventLine(const BundleRecord& r, std::string* out) {
  json envelope;
  return RenderRecord(r, out, &envelope);
}

// ---- the figures the files show, folded from the published events ----

namespace {

constexpr const char* kCategoryZh[kCategories] = {"中央",     "省级", "市级",       "区级",
                                                  "管线单位", "居民", "原产权单位", "社会资本"};

int CategoryIndex(const std::string& name) {
  for (size_t c = 0; c < kCategories; ++c) {
    if (name == CategoryName(schema::Category(c))) return int(c);
  }
  return -1;
}

const char* ChannelZh(const std::string& channel) {
  static const std::map<std::string, const char*> kNames = {{"transfer", "直接出资"},
                                                            {"provident_fund", "住房公积金"},
                                                            {"maintenance_fund", "维修资金"},
                                                            {"public_revenue", "让渡公共收益"},
                                                            {"donation", "捐资捐物"},
                                                            {"in_kind_labour", "投工投劳"},
                                                            {"in_kind_works", "自行施工"},
                                                            {"loan", "贷款"},
                                                            {"bond", "专项债"},
                                                            {"allocation", "上级下达"}};
  auto it = kNames.find(channel);
  return it == kNames.end() ? "" : it->second;
}

struct Party {
  std::string name, kind, region;
  std::set<std::string> roles;
};

struct FundingLine {
  int64_t amount_fen = 0, households = 0, events = 0;
};
// (category, source party, channel or "allocation")
using FundingKey = std::tuple<int, std::string, std::string>;

// The acknowledgement of a money event by its counterparty: its id, day and document.
struct Acknowledgement {
  std::string id, date, doc_ref;
};

struct Payment {
  uint64_t seq = 0;
  std::string id, date, project, category, work, item, units, payee_name, payee_kind, credit_code,
      payee_org, contract_ref, invoice_ref, doc_ref, payer;
  int64_t amount_fen = 0;
  std::string payee_id, reversed_by;
  Acknowledgement acknowledgement;
};

// A money event other than a disbursement or a resident receipt.
struct Transaction {
  uint64_t seq = 0;
  std::string id, date, type, category, payer, payee, doc_ref, reversed_by;
  int64_t amount_fen = 0;
  Acknowledgement acknowledgement;
};

struct FindingItem {
  std::string id, date, auditor, severity, text, doc_ref, resolved_on, resolution,
      resolution_doc_ref;
  std::vector<std::string> targets;
};

// A project_status event: the phase, its day and document, and the residents' consent (to
// approve) or satisfaction (to complete) it records, in basis points, or -1.
struct StatusStep {
  std::string status, date, doc_ref;
  int64_t consent_bp = -1, satisfaction_bp = -1;
};

struct ProjectModel {
  std::string id;
  json description;  // the registration's fields, budget and plan as revised
  std::string registered_by, registered_on, status = "registered", status_on;
  std::vector<StatusStep> status_history;
  std::map<FundingKey, FundingLine> funding;
  std::map<std::pair<int, std::string>, int64_t> pledged;
  std::vector<Payment> payments;
  std::vector<Transaction> transactions;
  std::map<std::string, Party> parties;
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> documents;
  std::vector<FindingItem> findings;
  std::array<int64_t, kCategories> money_in{}, disbursed{}, refunded{};
};

// Where a money event went in the model, for its reversal or acknowledgement.
struct Movement {
  std::string project;
  std::string type;
  FundingKey key;
  int category = 0;
  int64_t amount_fen = 0, households = 0;
  size_t payment = SIZE_MAX, transaction = SIZE_MAX;
};

class Fold {
 public:
  explicit Fold(const ResidentsStatement& residents) {
    for (const WithheldRecord& w : residents.withheld) withheld_ids_.insert(w.event_id);
  }
  void Add(uint64_t seq, const std::string& signer, const json& e);
  // InvalidArgument "residents_line_invalid" for a line of a project the bundle does not
  // register or through a channel that is not residents'.
  Status AddResidents(const ResidentsStatement& residents);
  // Whether the statement's receipts are as many as the withheld records that no event of the
  // bundle reverses. InvalidArgument "residents_receipts_mismatch" otherwise.
  Status CheckReceipts(const ResidentsStatement& residents) const;
  std::map<std::string, ProjectModel>& projects() { return projects_; }
  const std::map<std::string, Party>& orgs() const { return orgs_; }
  std::string last_date;

 private:
  ProjectModel& ProjectOf(const std::string& id) {
    ProjectModel& p = projects_[id];
    p.id = id;
    return p;
  }
  void Role(ProjectModel& p, const std::string& org, const std::string& role) {
    p.parties[org].roles.insert(role);
  }
  void Document(ProjectModel& p, const json& e) {
    if (!e.contains("doc_ref")) return;
    auto& doc = p.documents[e["doc_ref"].get<std::string>()];
    if (doc.first.empty()) doc.first = e["occurred_on"].get<std::string>();
    doc.second.push_back(e["id"].get<std::string>());
  }
  void Registry(uint64_t seq, const std::string& type, const json& e);
  void Project(const std::string& signer, const std::string& type, const json& e);
  void Received(uint64_t seq, const json& e);
  void Allocated(uint64_t seq, const json& e);
  void Disbursed(uint64_t seq, const std::string& signer, const json& e);
  void Refunded(uint64_t seq, const json& e);
  void Reversed(const json& e);
  void Acknowledged(const json& e);
  void Finding(const std::string& signer, const json& e);

  std::set<std::string> withheld_ids_;
  std::set<std::string> withheld_reversed_;  // withheld receipts a published event reverses
  std::map<std::string, ProjectModel> projects_;
  std::map<std::string, Party> orgs_;
  std::map<std::string, Movement> movements_;
  std::map<std::string, std::vector<std::pair<std::string, size_t>>> findings_;
};

std::string Str(const json& e, const char* field) {
  auto it = e.find(field);
  return it == e.end() ? std::string() : it->get<std::string>();
}

int64_t Fen(const json& e) { return int64_t(e["amount_fen"].get<uint64_t>()); }

void Fold::Add(uint64_t seq, const std::string& signer, const json& e) {
  std::string type = e["type"].get<std::string>();
  last_date = std::max(last_date, e["occurred_on"].get<std::string>());
  if (type == "org_registered" || type == "key_rotated" || type == "org_revoked") {
    return Registry(seq, type, e);
  }
  if (type.rfind("project_", 0) == 0) return Project(signer, type, e);
  if (type == "funds_pledged") {
    ProjectModel& p = ProjectOf(Str(e, "project"));
    int c = CategoryIndex(Str(e, "category"));
    p.pledged[{c, Str(e, "source_org")}] += Fen(e);
    Role(p, Str(e, "source_org"), "funder");
    movements_[Str(e, "id")] = {p.id, type, {c, Str(e, "source_org"), ""}, c, Fen(e)};
    return Document(p, e);
  }
  if (type == "funds_received") return Received(seq, e);
  if (type == "funds_allocated") return Allocated(seq, e);
  if (type == "funds_disbursed") return Disbursed(seq, signer, e);
  if (type == "funds_refunded") return Refunded(seq, e);
  if (type == "event_reversed") return Reversed(e);
  if (type == "acknowledged") return Acknowledged(e);
  if (type == "audit_finding" || type == "finding_resolved") return Finding(signer, e);
}

void Fold::Registry(uint64_t, const std::string& type, const json& e) {
  if (type != "org_registered") return;
  Party& org = orgs_[Str(e, "org")];
  org.name = Str(e, "name");
  org.kind = Str(e, "kind");
  org.region = Str(e, "region");
}

void Fold::Project(const std::string& signer, const std::string& type, const json& e) {
  ProjectModel& p = ProjectOf(Str(e, "project"));
  Role(p, signer, "publicAuthority");
  Document(p, e);
  if (type == "project_registered") {
    p.description = e;
    p.registered_by = signer;
    p.registered_on = Str(e, "occurred_on");
  } else if (type == "project_revised") {
    p.description["budget"] = e["budget"];
    p.description["funding_plan"] = e["funding_plan"];
  } else {
    p.status = Str(e, "status");
    p.status_on = Str(e, "occurred_on");
    StatusStep step{p.status, p.status_on, Str(e, "doc_ref")};
    if (e.contains("consent_bp")) step.consent_bp = e["consent_bp"].get<int64_t>();
    if (e.contains("satisfaction_bp")) step.satisfaction_bp = e["satisfaction_bp"].get<int64_t>();
    p.status_history.push_back(std::move(step));
  }
}

void Fold::Received(uint64_t seq, const json& e) {
  if (Str(e, "to_kind") != "project") return;
  ProjectModel& p = ProjectOf(Str(e, "to"));
  int c = CategoryIndex(Str(e, "category"));
  std::string source = Str(e, "source_org");
  FundingKey key{c, source, Str(e, "channel")};
  int64_t households = e.contains("households") ? int64_t(e["households"].get<uint32_t>()) : 0;
  FundingLine& line = p.funding[key];
  line.amount_fen += Fen(e);
  line.households += households;
  line.events += 1;
  p.money_in[size_t(c)] += Fen(e);
  Role(p, source, "funder");
  Document(p, e);
  Movement m{p.id, "funds_received", key, c, Fen(e), households};
  if (c != int(schema::Category::RESIDENT)) {
    m.transaction = p.transactions.size();
    p.transactions.push_back({seq,
                              Str(e, "id"),
                              Str(e, "occurred_on"),
                              "receipt",
                              Str(e, "category"),
                              source,
                              p.id,
                              Str(e, "doc_ref"),
                              "",
                              Fen(e),
                              {}});
  }
  movements_[Str(e, "id")] = std::move(m);
}

void Fold::Allocated(uint64_t seq, const json& e) {
  if (Str(e, "to_kind") != "project") return;
  ProjectModel& p = ProjectOf(Str(e, "to"));
  int c = CategoryIndex(Str(e, "category"));
  std::string from = Str(e, "from");
  FundingKey key{c, from, "allocation"};
  FundingLine& line = p.funding[key];
  line.amount_fen += Fen(e);
  line.events += 1;
  p.money_in[size_t(c)] += Fen(e);
  Role(p, from, "funder");
  Document(p, e);
  Movement m{p.id, "funds_allocated", key, c, Fen(e), 0};
  m.transaction = p.transactions.size();
  p.transactions.push_back({seq,
                            Str(e, "id"),
                            Str(e, "occurred_on"),
                            "allocation",
                            Str(e, "category"),
                            from,
                            p.id,
                            Str(e, "doc_ref"),
                            "",
                            Fen(e),
                            {}});
  movements_[Str(e, "id")] = std::move(m);
}

// The party id of a payee: its org, else its credit code, else its name.
std::string PayeeId(const json& payee) {
  if (payee.contains("org")) return payee["org"].get<std::string>();
  if (payee.contains("credit_code")) return "credit:" + payee["credit_code"].get<std::string>();
  return "name:" + payee["name"].get<std::string>();
}

void Fold::Disbursed(uint64_t seq, const std::string& signer, const json& e) {
  ProjectModel& p = ProjectOf(Str(e, "project"));
  const json& payee = e["payee"];
  int c = CategoryIndex(Str(e, "category"));
  Payment pay{seq,
              Str(e, "id"),
              Str(e, "occurred_on"),
              p.id,
              Str(e, "category"),
              Str(e, "work"),
              Str(e, "item"),
              e.contains("units") ? std::to_string(e["units"].get<uint32_t>()) : "",
              Str(payee, "name"),
              Str(payee, "kind"),
              Str(payee, "credit_code"),
              Str(payee, "org"),
              Str(e, "contract_ref"),
              Str(e, "invoice_ref"),
              Str(e, "doc_ref"),
              signer,
              Fen(e),
              "",
              "",
              {}};
  p.disbursed[size_t(c)] += Fen(e);
  Role(p, signer, "payer");
  std::string payee_id = PayeeId(payee);
  pay.payee_id = payee_id;
  Role(p, payee_id, "payee");
  Party& party = p.parties[payee_id];
  if (party.name.empty()) party.name = pay.payee_name;
  if (party.kind.empty()) party.kind = pay.payee_kind;
  Document(p, e);
  Movement m{p.id, "funds_disbursed", {}, c, Fen(e), 0};
  m.payment = p.payments.size();
  p.payments.push_back(std::move(pay));
  movements_[Str(e, "id")] = std::move(m);
}

void Fold::Refunded(uint64_t seq, const json& e) {
  if (Str(e, "from_kind") != "project") return;
  ProjectModel& p = ProjectOf(Str(e, "from"));
  int c = CategoryIndex(Str(e, "category"));
  p.refunded[size_t(c)] += Fen(e);
  Role(p, Str(e, "to_org"), "payee");
  Document(p, e);
  Movement m{p.id, "funds_refunded", {}, c, Fen(e), 0};
  m.transaction = p.transactions.size();
  p.transactions.push_back({seq,
                            Str(e, "id"),
                            Str(e, "occurred_on"),
                            "refund",
                            Str(e, "category"),
                            p.id,
                            Str(e, "to_org"),
                            Str(e, "doc_ref"),
                            "",
                            Fen(e),
                            {}});
  movements_[Str(e, "id")] = std::move(m);
}

void Fold::Reversed(const json& e) {
  std::string target = Str(e, "target");
  // A withheld receipt's reversal is in the signed resident totals, which are net.
  if (withheld_ids_.count(target)) {
    withheld_reversed_.insert(target);
    return;
  }
  auto it = movements_.find(target);
  if (it == movements_.end()) return;
  const Movement& m = it->second;
  ProjectModel& p = ProjectOf(m.project);
  Document(p, e);
  std::string by = Str(e, "id");
  if (m.transaction != SIZE_MAX) p.transactions[m.transaction].reversed_by = by;
  if (m.payment != SIZE_MAX) p.payments[m.payment].reversed_by = by;
  if (m.type == "funds_pledged") {
    p.pledged[{m.category, std::get<1>(m.key)}] -= m.amount_fen;
  } else if (m.type == "funds_received" || m.type == "funds_allocated") {
    FundingLine& line = p.funding[m.key];
    line.amount_fen -= m.amount_fen;
    line.households -= m.households;
    line.events -= 1;
    p.money_in[size_t(m.category)] -= m.amount_fen;
  } else if (m.type == "funds_disbursed") {
    p.disbursed[size_t(m.category)] -= m.amount_fen;
  } else if (m.type == "funds_refunded") {
    p.refunded[size_t(m.category)] -= m.amount_fen;
  }
  movements_.erase(it);
}

void Fold::Acknowledged(const json& e) {
  auto it = movements_.find(Str(e, "target"));
  if (it == movements_.end()) return;  // not a movement of a project's money
  ProjectModel& p = ProjectOf(it->second.project);
  const Acknowledgement ack{Str(e, "id"), Str(e, "occurred_on"), Str(e, "doc_ref")};
  // A pledge, or a resident receipt (counted in the residents' lines), has no transaction.
  if (it->second.payment != SIZE_MAX) p.payments[it->second.payment].acknowledgement = ack;
  if (it->second.transaction != SIZE_MAX) {
    p.transactions[it->second.transaction].acknowledgement = ack;
  }
  Document(p, e);
}

void Fold::Finding(const std::string& signer, const json& e) {
  std::string finding = Str(e, "finding");
  if (Str(e, "type") == "finding_resolved") {
    for (auto& [project, index] : findings_[finding]) {
      ProjectModel& p = ProjectOf(project);
      FindingItem& item = p.findings[index];
      item.resolved_on = Str(e, "occurred_on");
      item.resolution = Str(e, "text");
      item.resolution_doc_ref = Str(e, "doc_ref");
      Document(p, e);
    }
    return;
  }
  std::set<std::string> projects;
  if (e.contains("project")) projects.insert(Str(e, "project"));
  FindingItem item{finding,
                   Str(e, "occurred_on"),
                   signer,
                   Str(e, "severity"),
                   Str(e, "text"),
                   Str(e, "doc_ref"),
                   "",
                   "",
                   "",
                   {}};
  for (const auto& target : e["targets"]) {
    item.targets.push_back(target.get<std::string>());
    auto it = movements_.find(item.targets.back());
    if (it != movements_.end()) projects.insert(it->second.project);
  }
  for (const std::string& project : projects) {
    ProjectModel& p = ProjectOf(project);
    Role(p, signer, "reviewBody");
    Document(p, e);
    findings_[finding].emplace_back(project, p.findings.size());
    p.findings.push_back(item);
  }
}

Status Fold::AddResidents(const ResidentsStatement& residents) {
  constexpr int kResident = int(schema::Category::RESIDENT);
  // The channels residents give through (the rules' sources and channels, ledger/rules.h).
  static const std::set<std::string, std::less<>> kResidentChannels = {
      "transfer",       "provident_fund", "maintenance_fund",
      "public_revenue", "donation",       "in_kind_labour"};
  size_t line = kResidentsFirstWithheldLine + residents.withheld.size();
  for (const ResidentTotal& t : residents.totals) {
    // A line of a project the bundle does not register, or through a channel residents do not
    // use, would show money the events of the bundle do not account for.
    auto it = projects_.find(t.project);
    if (it == projects_.end() || it->second.registered_by.empty()) {
      return Status::InvalidArgument("residents_line_invalid",
                                     "residents.txt line " + std::to_string(line) +
                                         ": the project " + t.project +
                                         " is not one the bundle registers",
                                     "residents.txt");
    }
    if (!kResidentChannels.count(t.channel)) {
      return Status::InvalidArgument("residents_line_invalid",
                                     "residents.txt line " + std::to_string(line) + ": " +
                                         t.channel + " is not a channel of residents' money",
                                     "residents.txt");
    }
    ++line;
    ProjectModel& p = it->second;
    FundingLine& line = p.funding[{kResident, t.source_org, t.channel}];
    line.amount_fen += t.amount_fen;
    line.households += t.households;
    line.events += t.receipts;
    p.money_in[kResident] += t.amount_fen;
    Role(p, t.source_org, "funder");
  }
  return Status::Ok();
}

Status Fold::CheckReceipts(const ResidentsStatement& residents) const {
  int64_t counted = 0;  // within kResidentReceiptsMax (ParseResidentsStatement)
  for (const ResidentTotal& t : residents.totals) counted += t.receipts;
  const int64_t withheld = int64_t(withheld_ids_.size() - withheld_reversed_.size());
  if (counted == withheld) return Status::Ok();
  return Status::InvalidArgument(
      "residents_receipts_mismatch",
      "residents.txt line " +
          std::to_string(kResidentsFirstWithheldLine + residents.withheld.size()) +
          ": the residents lines count " + std::to_string(counted) +
          " receipts, the bundle withholds " + std::to_string(withheld) +
          " that none of its events reverses",
      "residents.txt");
}

// ---- rendering ----

json Money(int64_t fen) { return {{"amountFen", fen}, {"currency", "CNY"}}; }

int64_t Sum(const std::array<int64_t, kCategories>& a) {
  int64_t s = 0;
  for (int64_t v : a) s += v;
  return s;
}

const char* Oc4idsStatus(const std::string& status) {
  if (status == "registered" || status == "approved") return "preparation";
  if (status == "started") return "implementation";
  if (status == "cancelled") return "cancellation";
  return "completion";
}

class Renderer {
 public:
  Renderer(const BundleInput& in, Fold& fold) : in_(in), fold_(fold) {}
  std::string ProjectJson();
  std::string FundingCsv();
  std::string DisbursementsCsv();
  std::string Readme();
  // The first cell of the CSV files that a spreadsheet would read as a formula; empty if none.
  const std::string& formula() const { return formula_; }

 private:
  std::string Row(const std::vector<std::string>& cells);
  std::string PartyName(const ProjectModel& p, const std::string& id) const {
    auto org = fold_.orgs().find(id);
    if (org != fold_.orgs().end()) return org->second.name;
    auto party = p.parties.find(id);
    return party == p.parties.end() ? std::string() : party->second.name;
  }
  ordered PartyRef(const ProjectModel& p, const std::string& id) const {
    return {{"id", id}, {"name", PartyName(p, id)}};
  }
  ordered Totals(const std::array<int64_t, kCategories>& in,
                 const std::array<int64_t, kCategories>& disbursed,
                 const std::array<int64_t, kCategories>& refunded) const;
  ordered ProjectRecord(const ProjectModel& p) const;
  ordered Parties(const ProjectModel& p) const;
  ordered Budget(const ProjectModel& p) const;

  const BundleInput& in_;
  Fold& fold_;
  std::string formula_;
};

ordered Renderer::Totals(const std::array<int64_t, kCategories>& in,
                         const std::array<int64_t, kCategories>& disbursed,
                         const std::array<int64_t, kCategories>& refunded) const {
  ordered by_category = ordered::object();
  for (size_t c = 0; c < kCategories; ++c) {
    if (in[c] == 0 && disbursed[c] == 0 && refunded[c] == 0) continue;
    by_category[CategoryName(schema::Category(c))] = {
        {"moneyInFen", in[c]}, {"disbursedFen", disbursed[c]}, {"refundedFen", refunded[c]}};
  }
  int64_t total_in = Sum(in), total_out = Sum(disbursed) + Sum(refunded);
  return {{"moneyInFen", total_in},
          {"disbursedFen", Sum(disbursed)},
          {"refundedFen", Sum(refunded)},
          {"availableFen", total_in - total_out},
          {"byCategory", by_category}};
}

ordered Renderer::Parties(const ProjectModel& p) const {
  ordered parties = ordered::array();
  for (const auto& [id, party] : p.parties) {
    ordered item = {{"id", id}, {"name", PartyName(p, id)}};
    auto org = fold_.orgs().find(id);
    if (org != fold_.orgs().end()) {
      item["details"] = {{"kind", org->second.kind}, {"region", org->second.region}};
    } else {
      item["details"] = {{"kind", party.kind}};
    }
    if (id.rfind("credit:", 0) == 0) {
      item["identifier"] = {{"scheme", "CN-USCC"}, {"id", id.substr(7)}};
    }
    item["roles"] = std::vector<std::string>(party.roles.begin(), party.roles.end());
    parties.push_back(std::move(item));
  }
  return parties;
}

ordered Renderer::Budget(const ProjectModel& p) const {
  const json& d = p.description;
  ordered works = ordered::object();
  int64_t budget = 0;
  if (d.contains("budget")) {
    for (const char* w : {"basic_fen", "improvement_fen", "enhancement_fen"}) {
      int64_t v = int64_t(d["budget"][w].get<uint64_t>());
      works[w] = v;
      budget += v;
    }
  }
  ordered plan = ordered::array();
  if (d.contains("funding_plan")) {
    for (const json& item : d["funding_plan"]) {
      plan.push_back({{"category", item["category"]},
                      {"amountFen", int64_t(item["amount_fen"].get<uint64_t>())}});
    }
  }
  // By source party: what each party has put in (net of reversals) and pledged.
  std::map<std::pair<int, std::string>, std::pair<int64_t, int64_t>> by_party;
  for (const auto& [key, line] : p.funding) {
    by_party[{std::get<0>(key), std::get<1>(key)}].first += line.amount_fen;
  }
  for (const auto& [key, fen] : p.pledged) by_party[key].second += fen;
  ordered breakdown = ordered::array();
  for (const auto& [key, fen] : by_party) {
    std::string category = CategoryName(schema::Category(key.first));
    breakdown.push_back({{"id", category + "/" + key.second},
                         {"category", category},
                         {"sourceParty", PartyRef(p, key.second)},
                         {"amount", Money(fen.first)},
                         {"pledgedFen", fen.second}});
  }
  return {{"amount", Money(budget)},
          {"works", works},
          {"fundingPlan", plan},
          {"budgetBreakdown", breakdown}};
}

void AddAcknowledgement(const Acknowledgement& ack, ordered* item) {
  if (ack.id.empty()) return;
  (*item)["acknowledgedBy"] = ack.id;
  (*item)["acknowledgedOn"] = ack.date;
  if (!ack.doc_ref.empty()) (*item)["acknowledgementDocRef"] = ack.doc_ref;
}

// Each phase the project entered, with its day and document, and the residents' consent to
// approve it and satisfaction to complete it (basis points) as recorded.
ordered StatusHistory(const ProjectModel& p) {
  ordered history = ordered::array();
  for (const StatusStep& step : p.status_history) {
    ordered item = {{"status", step.status}, {"date", step.date}};
    if (!step.doc_ref.empty()) item["docRef"] = step.doc_ref;
    if (step.consent_bp >= 0) item["consentBp"] = step.consent_bp;
    if (step.satisfaction_bp >= 0) item["satisfactionBp"] = step.satisfaction_bp;
    history.push_back(std::move(item));
  }
  return history;
}

ordered Renderer::ProjectRecord(const ProjectModel& p) const {
  const json& d = p.description;
  std::string region = Str(d, "region");
  ordered path = ordered::array();
  if (!region.empty()) {
    for (std::string_view part : Split(region, '/')) path.push_back(std::string(part));
  }
  ordered record = {{"id", p.id},
                    {"title", Str(d, "name")},
                    {"status", Oc4idsStatus(p.status)},
                    {"ledgerStatus", p.status},
                    {"ledgerStatusDate", p.status_on},
                    {"statusHistory", StatusHistory(p)},
                    {"registeredBy", p.registered_by},
                    {"registeredOn", p.registered_on},
                    {"locations", {{{"id", "1"}, {"description", region}, {"regionPath", path}}}}};
  for (const char* field :
       {"compounds", "households", "buildings", "floor_area_m2", "built_year"}) {
    if (d.contains(field)) record[field] = d[field];
  }
  record["budget"] = Budget(p);
  record["parties"] = Parties(p);
  ordered documents = ordered::array();
  for (const auto& [ref, doc] : p.documents) {
    documents.push_back(
        {{"id", ref}, {"title", ref}, {"datePublished", doc.first}, {"relatedEvents", doc.second}});
  }
  record["documents"] = documents;
  ordered transactions = ordered::array();
  for (const Transaction& t : p.transactions) {
    ordered item = {{"id", t.id},
                    {"seq", t.seq},
                    {"date", t.date},
                    {"type", t.type},
                    {"category", t.category},
                    {"value", Money(t.amount_fen)},
                    {"payer", PartyRef(p, t.payer)},
                    {"payee", PartyRef(p, t.payee)}};
    if (!t.doc_ref.empty()) item["docRef"] = t.doc_ref;
    AddAcknowledgement(t.acknowledgement, &item);
    if (!t.reversed_by.empty()) item["reversedBy"] = t.reversed_by;
    transactions.push_back(std::move(item));
  }
  for (const Payment& pay : p.payments) {
    ordered item = {{"id", pay.id},
                    {"seq", pay.seq},
                    {"date", pay.date},
                    {"type", "disbursement"},
                    {"category", pay.category},
                    {"value", Money(pay.amount_fen)},
                    {"payer", PartyRef(p, pay.payer)},
                    {"payee", {{"id", pay.payee_id}, {"name", pay.payee_name}}},
                    {"work", pay.work},
                    {"item", pay.item}};
    if (!pay.contract_ref.empty()) item["contractRef"] = pay.contract_ref;
    if (!pay.invoice_ref.empty()) item["invoiceRef"] = pay.invoice_ref;
    if (!pay.doc_ref.empty()) item["docRef"] = pay.doc_ref;
    AddAcknowledgement(pay.acknowledgement, &item);
    if (!pay.reversed_by.empty()) item["reversedBy"] = pay.reversed_by;
    transactions.push_back(std::move(item));
  }
  record["transactions"] = transactions;
  ordered residents = ordered::array();
  for (const auto& [key, line] : p.funding) {
    if (std::get<0>(key) != int(schema::Category::RESIDENT)) continue;
    residents.push_back({{"sourceParty", PartyRef(p, std::get<1>(key))},
                         {"channel", std::get<2>(key)},
                         {"value", Money(line.amount_fen)},
                         {"householdPayments", line.households},
                         {"receipts", line.events}});
  }
  record["residentContributions"] = residents;
  ordered findings = ordered::array();
  for (const FindingItem& f : p.findings) {
    ordered item = {{"id", f.id},
                    {"date", f.date},
                    {"auditor", f.auditor},
                    {"severity", f.severity},
                    {"text", f.text},
                    {"targets", f.targets},
                    {"resolvedOn", f.resolved_on},
                    {"resolution", f.resolution}};
    if (!f.doc_ref.empty()) item["docRef"] = f.doc_ref;
    if (!f.resolution_doc_ref.empty()) item["resolutionDocRef"] = f.resolution_doc_ref;
    findings.push_back(std::move(item));
  }
  record["findings"] = findings;
  record["totals"] = Totals(p.money_in, p.disbursed, p.refunded);
  return record;
}

}  // namespace

namespace {

// Money in per category summed over the projects shown.
struct ScopeTotals {
  std::array<int64_t, kCategories> in{}, disbursed{}, refunded{};
};

// A line of a CSV file. The ledger refuses texts that a spreadsheet would read as a formula;
// a bundle whose records hold one (a log that published what its rules refuse) names the
// first such cell in `*formula`, and is not rendered.
std::string CsvRow(const std::vector<std::string>& cells, std::string* formula) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) out += ",";
    out += CsvField(cells[i]);
    if (formula->empty() && BeginsAsFormula(cells[i]) && !IsDecimalNumber(cells[i])) {
      *formula = cells[i];
    }
  }
  return out + "\r\n";
}

std::string Renderer::Row(const std::vector<std::string>& cells) {
  return CsvRow(cells, &formula_);
}

constexpr std::string_view kBom = "\xEF\xBB\xBF";

}  // namespace

namespace {

// The projects a bundle shows: the scope's, in id order, each with its registration.
std::vector<const ProjectModel*> Shown(const Scope& scope,
                                       const std::map<std::string, ProjectModel>& projects) {
  std::vector<const ProjectModel*> out;
  for (const auto& [id, p] : projects) {
    if (!p.description.contains("region")) continue;
    bool in_scope = scope.kind == ScopeKind::kProject
                        ? id == scope.id
                        : RegionWithin(p.description["region"].get<std::string>(), scope.id);
    if (in_scope) out.push_back(&p);
  }
  return out;
}

}  // namespace

std::string Renderer::ProjectJson() {
  ScopeTotals sum;
  ordered projects = ordered::array();
  for (const ProjectModel* p : Shown(in_.scope, fold_.projects())) {
    projects.push_back(ProjectRecord(*p));
    for (size_t c = 0; c < kCategories; ++c) {
      sum.in[c] += p->money_in[c];
      sum.disbursed[c] += p->disbursed[c];
      sum.refunded[c] += p->refunded[c];
    }
  }
  size_t withheld = in_.residents.withheld.size();
  ordered package = {
      {"version", "0.9"},
      {"publisher", {{"name", in_.checkpoint.origin}}},
      {"publishedDate", fold_.last_date},
      {"scope", {{"kind", ScopeKindName(in_.scope.kind)}, {"id", in_.scope.id}}},
      {"checkpoint",
       {{"origin", in_.checkpoint.origin},
        {"size", in_.checkpoint.size},
        {"root", Base64Encode(in_.checkpoint.root)}}},
      {"records", {{"published", in_.records.size() - withheld}, {"withheld", withheld}}},
      {"totals", Totals(sum.in, sum.disbursed, sum.refunded)},
      {"projects", projects}};
  return package.dump(2, ' ', false, json::error_handler_t::strict) + "\n";
}

std::string Renderer::FundingCsv() {
  std::string out(kBom);
  out += Row({"项目编号 project", "项目名称 project_name", "资金类别 category",
              "类别名称 category_name", "来源单位 source_org", "来源名称 source_name",
              "渠道 channel", "渠道名称 channel_name", "户次 household_payments", "笔数 events",
              "金额（分） amount_fen", "金额（元） amount_yuan"});
  int64_t households = 0, events = 0, fen = 0;
  for (const ProjectModel* p : Shown(in_.scope, fold_.projects())) {
    std::string name = Str(p->description, "name");
    for (const auto& [key, line] : p->funding) {
      if (line.events == 0 && line.amount_fen == 0) continue;  // reversed whole
      auto [c, source, channel] = key;
      bool resident = c == int(schema::Category::RESIDENT);
      out += Row({p->id, name, CategoryName(schema::Category(c)), kCategoryZh[c], source,
                  PartyName(*p, source), channel, ChannelZh(channel),
                  resident ? std::to_string(line.households) : "", std::to_string(line.events),
                  std::to_string(line.amount_fen), Yuan(line.amount_fen)});
      if (resident) households += line.households;
      events += line.events;
      fen += line.amount_fen;
    }
  }
  out += Row({"合计 total", "", "", "", "", "", "", "", std::to_string(households),
              std::to_string(events), std::to_string(fen), Yuan(fen)});
  return out;
}

std::string Renderer::DisbursementsCsv() {
  std::string out(kBom);
  out +=
      Row({"序号 seq", "事件编号 event_id", "日期 date", "项目编号 project", "资金类别 category",
           "改造类别 work", "改造项目 item", "数量 units", "收款单位 payee_name",
           "统一社会信用代码 payee_credit_code", "收款机构编号 payee_org", "合同编号 contract_ref",
           "发票号码 invoice_ref", "文号 doc_ref", "金额（分） amount_fen",
           "金额（元） amount_yuan", "确认事件 acknowledged_by", "冲正事件 reversed_by"});
  int64_t count = 0, fen = 0;
  for (const ProjectModel* p : Shown(in_.scope, fold_.projects())) {
    for (const Payment& pay : p->payments) {
      out += Row({std::to_string(pay.seq), pay.id, pay.date, pay.project, pay.category, pay.work,
                  pay.item, pay.units, pay.payee_name, pay.credit_code, pay.payee_org,
                  pay.contract_ref, pay.invoice_ref, pay.doc_ref, std::to_string(pay.amount_fen),
                  Yuan(pay.amount_fen), pay.acknowledgement.id, pay.reversed_by});
      if (pay.reversed_by.empty()) {
        count += 1;
        fen += pay.amount_fen;
      }
    }
  }
  out += Row({"合计 total (" + std::to_string(count) + ", reversed ones left out)", "", "", "", "",
              "", "", "", "", "", "", "", "", "", std::to_string(fen), Yuan(fen), "", ""});
  return out;
}

std::string Renderer::Readme() {
  std::string scope = in_.scope.kind == ScopeKind::kRegion
                          ? "region \"" + in_.scope.id + "\" (" +
                                std::to_string(Shown(in_.scope, fold_.projects()).size()) +
                                " projects)"
                          : "project " + in_.scope.id;
  size_t withheld = in_.residents.withheld.size();
  return "fundledger 公示数据包 / public export bundle\n"
         "\n"
         "Scope: " +
         scope +
         "\n"
         "Log: " +
         in_.checkpoint.origin + ", tree size " + std::to_string(in_.checkpoint.size) + ", root " +
         Base64Encode(in_.checkpoint.root) +
         "\n"
         "Log key: " +
         in_.log_key +
         "\n"
         "Records: " +
         std::to_string(in_.records.size() - withheld) + " published, " + std::to_string(withheld) +
         " withheld (residents' own receipts)\n"
         "\n"
         "Files\n"
         "  project.json       OC4IDS-style project records: budget and its breakdown by source\n"
         "                     party, parties and their roles, location, documents (doc_ref),\n"
         "                     transactions, residents' contributions per channel, totals.\n"
         "                     Amounts are integer fen (amountFen), 100 fen = 1 yuan.\n"
         "  funding.csv        money in per project, category, source and channel.\n"
         "  disbursements.csv  every disbursement, with its acknowledgement and reversal.\n"
         "  events.jsonl       one line per record: seq, leaf hash, inclusion proof, the record\n"
         "                     bytes (base64) and the signed event decoded from them.\n"
         "  checkpoint.txt     the log's signed checkpoint (C2SP signed note) of tree size " +
         std::to_string(in_.checkpoint.size) +
         ".\n"
         "  residents.txt      the log's signed statement of the bundle's records (their\n"
         "                     number and digest) and of the withheld resident receipts.\n"
         "\n"
         "How to verify (no ledger needed)\n"
         "  fundledger verify-export DIR --log-key LOG_KEY\n"
         "  LOG_KEY is the log key above as you obtained it yourself (from the operator's\n"
         "  publications, not from this bundle). verify-export checks the checkpoint's and the\n"
         "  statement's signatures by that key, every inclusion proof against the checkpoint's\n"
         "  root, that each decoded event is exactly what its record bytes hold, every event's\n"
         "  signature with the key its signer held at that point (from the registry events in\n"
         "  the bundle), and renders project.json, the CSV files and this file again from the\n"
         "  events: a changed byte anywhere makes it fail, naming the file and the line.\n"
         "\n"
         "What the bundle proves, and what it does not\n"
         "  Every published event is in the log at the checkpoint, signed by its signer, and\n"
         "  every figure is exactly what those events add up to. The bundle is the one the log\n"
         "  exported: residents.txt signs the number of its records and a digest of their seqs\n"
         "  and leaf hashes, so a line left out or added after the export fails. It does not\n"
         "  prove that the log left no event of the scope out: that is checked against the\n"
         "  ledger itself, whose checkpoints all lead to the same tree (fundledger verify, or a\n"
         "  mirror).\n"
         "\n"
         "Residents\n"
         "  A receipt that names one household (it carries a contributor_ref) is never\n"
         "  published: events.jsonl lists it by seq, leaf hash and inclusion proof only, and its\n"
         "  amount and households appear only in sums per project, source and channel, which\n"
         "  the log key signs in residents.txt with the list of withheld leaves. Those sums are\n"
         "  the operator's signed word; whoever holds the records can check them leaf by leaf.\n"
         "  Receipts recorded as aggregates (households, no contributor_ref) are published.\n";
}

Status RenderBundle(const BundleInput& in, std::vector<BundleFile>* out) {
  out->clear();
  Fold fold(in.residents);
  std::string events;
  for (const BundleRecord& r : in.records) {
    std::string line;
    json envelope;
    FL_RETURN_IF_ERROR(RenderRecord(r, &line, &envelope));
    events += line;
    if (!r.withheld()) {
      fold.Add(r.seq, envelope["signer"].get<std::string>(), envelope["event"]);
    }
  }
  FL_RETURN_IF_ERROR(fold.AddResidents(in.residents));
  FL_RETURN_IF_ERROR(fold.CheckReceipts(in.residents));
  Renderer render(in, fold);
  *out = {{"README.txt", render.Readme()},      {"checkpoint.txt", in.checkpoint_note},
          {"residents.txt", in.residents_note}, {"project.json", render.ProjectJson()},
          {"funding.csv", render.FundingCsv()}, {"disbursements.csv", render.DisbursementsCsv()},
          {"events.jsonl", std::move(events)}};
  if (!render.formula().empty()) {
    out->clear();
    return Status::Corruption(
        "text_formula_start",
        "a cell of the CSV files begins with =, +, -, @ or a tab, which a spreadsheet reads as a "
        "formula (the rules refuse such texts): " +
            storage::PrintableKey(render.formula().substr(0, 80)),
        "events.jsonl");
  }
  return Status::Ok();
}

}  // namespace fundledger
