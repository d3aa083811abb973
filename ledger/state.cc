#include "ledger/state.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstring>

#include "ledger/canonical_row.h"
#include "ledger/event.h"
#include "ledger/schema/state.capnp.h"
#include "ledger/storage_format.h"

namespace fundledger {

const PublicKey* Org::KeyAt(uint64_t seq) const {
  const PublicKey* found = nullptr;
  for (const OrgKey& k : keys) {
    if (k.from_seq <= seq) found = &k.key;
  }
  return found;
}

namespace {

AccountKey GetAccountRef(schema::AccountRef::Reader in, schema::Category category) {
  return AccountKey{in.getHolderKind(), in.getHolder(), category};
}

std::string EncodeProject(const Project& p) {
  RowMessageBuilder builder;
  auto row = builder.initRoot<schema::ProjectState>();
  row.setProject(p.id);
  row.setRegion(p.region);
  row.setPhase(p.phase);
  row.setRegisteredSeq(p.registered_seq);
  row.setPhaseSeq(p.phase_seq);
  row.setRegisteredDay(p.registered_day);
  row.setPhaseDay(p.phase_day);
  row.setApprovedDay(p.approved_day);
  row.setLastMoneyDay(p.last_money_day);
  return CanonicalBytes(row);
}

bool DecodeProject(std::string_view bytes, Project* out) {
  return DecodeCanonicalRow<schema::ProjectState>(bytes, [&](schema::ProjectState::Reader row) {
    if (uint16_t(row.getPhase()) > uint16_t(schema::ProjectPhase::CANCELLED)) return false;
    *out = Project{row.getProject(),       row.getRegion(),      row.getPhase(),
                   row.getRegisteredSeq(), row.getPhaseSeq(),    row.getRegisteredDay(),
                   row.getPhaseDay(),      row.getApprovedDay(), row.getLastMoneyDay()};
    return true;
  });
}

std::string EncodeFinding(const Finding& f) {
  RowMessageBuilder builder;
  auto row = builder.initRoot<schema::FindingState>();
  row.setFinding(f.id);
  row.setAuditor(f.auditor);
  row.setScope(f.scope);
  row.setProject(f.project);
  row.setOpenedSeq(f.opened_seq);
  row.setResolvedSeq(f.resolved_seq);
  row.setOpenedDay(f.opened_day);
  return CanonicalBytes(row);
}

bool DecodeFinding(std::string_view bytes, Finding* out) {
  return DecodeCanonicalRow<schema::FindingState>(bytes, [&](schema::FindingState::Reader row) {
    *out = Finding{row.getFinding(),   row.getAuditor(),     row.getScope(),    row.getProject(),
                   row.getOpenedSeq(), row.getResolvedSeq(), row.getOpenedDay()};
    return true;
  });
}

std::string EncodePolicy(const Policy& p) {
  RowMessageBuilder builder;
  auto row = builder.initRoot<schema::PolicyState>();
  row.setRegion(p.region);
  row.setSetSeq(p.set_seq);
  row.setSetter(p.setter);
  auto policy = row.initPolicy();
  policy.setRegion(p.region);
  size_t restricted = 0;
  for (bool r : p.restricted) restricted += r;
  auto uses = policy.initRestrictedUse(restricted);
  size_t at = 0;
  for (size_t c = 0; c < kCategories; ++c) {
    if (!p.restricted[c]) continue;
    uses[at].setCategory(schema::Category(c));
    size_t n = __builtin_popcount(p.works_allowed[c]);
    auto works = uses[at].initWorks(n);
    size_t w_at = 0;
    for (size_t w = 0; w < 3; ++w) {
      if (p.works_allowed[c] & (1u << w)) works.set(w_at++, schema::Work(w));
    }
    ++at;
  }
  policy.setConsentMinBp(p.consent_min_bp);
  policy.setSatisfactionMinBp(p.satisfaction_min_bp);
  auto caps = policy.initUnitCaps(p.unit_caps.size());
  for (size_t i = 0; i < p.unit_caps.size(); ++i) {
    caps[i].setItem(p.unit_caps[i].first);
    caps[i].setMaxFenPerUnit(p.unit_caps[i].second);
  }
  auto targets = policy.initTargets(p.targets.size());
  for (size_t i = 0; i < p.targets.size(); ++i) {
    targets[i].setMetric(p.targets[i].metric);
    if (p.targets[i].min_bp) targets[i].getMinBp().setValue(*p.targets[i].min_bp);
    if (p.targets[i].max_bp) targets[i].getMaxBp().setValue(*p.targets[i].max_bp);
  }
  policy.setIdleDaysMax(p.idle_days_max);
  return CanonicalBytes(row);
}

bool DecodePolicy(std::string_view bytes, Policy* out) {
  return DecodeCanonicalRow<schema::PolicyState>(bytes, [&](schema::PolicyState::Reader row) {
    Status s = PolicyFromEvent(row.getPolicy(), out);
    out->set_seq = row.getSetSeq();
    out->setter = row.getSetter();
    return s.ok() && out->region == row.getRegion().cStr() && !out->setter.empty();
  });
}

// An AccountRef at `at` (a pointer), its struct and holder text following.
void WriteAccountRef(CanonicalWriter* w, size_t at, const AccountKey& key) {
  const uint16_t kind = uint16_t(key.kind);
  const uint16_t data_words = kind != 0 ? 1 : 0;
  const size_t body = w->Take(data_words + 1);
  w->StructPointer(at, body, data_words, 1);
  if (data_words) w->Word(body, 0, &kind, 2);
  w->Text(body + data_words, key.holder);
}

}  // namespace

// The canonical Cap'n Proto encoding of a schema::EventFact, written directly (CanonicalWriter):
// one fact per event is encoded for every append and for every row verification compares, and
// capnp's builder and canonicalize took most of that time. Every text of a fact is set (an empty
// one is the NUL alone), so no pointer is null. Field offsets are those capnp gives EventFact
// and AccountRef (ledger/schema/state.capnp); state_rows_test compares this with capnp's own
// encoding.
std::string EncodeFact(const EventFact& f) {
  // Data section: seq @ byte 0, type @ 8, category @ 10, occurredDay @ 16, amountFen @ 24,
  // receivedFen @ 32.
  uint64_t data[5] = {f.seq, 0, uint64_t(f.occurred_day), f.amount_fen, f.received_fen};
  const uint16_t category = uint16_t(f.category);
  memcpy(reinterpret_cast<char*>(&data[1]), &f.type, 2);
  memcpy(reinterpret_cast<char*>(&data[1]) + 2, &category, 2);
  uint16_t data_words = 5;
  while (data_words > 0 && data[data_words - 1] == 0) --data_words;
  constexpr uint16_t kPointers = 8;
  const size_t words = 1 + data_words + kPointers + TextWords(f.id) + TextWords(f.signer) +
                       TextWords(f.counterparty) + 2 + TextWords(f.from.holder) + 2 +
                       TextWords(f.to.holder) + TextWords(f.pledge) + TextWords(f.reversed_by) +
                       TextWords(f.acknowledged_by);
  CanonicalWriter w(words);
  const size_t root = w.Take(1);
  const size_t body = w.Take(data_words + kPointers);
  w.StructPointer(root, body, data_words, kPointers);
  if (data_words) w.Word(body, 0, data, data_words * 8);
  const size_t ptr = body + data_words;
  w.Text(ptr + 0, f.id);
  w.Text(ptr + 1, f.signer);
  w.Text(ptr + 2, f.counterparty);
  WriteAccountRef(&w, ptr + 3, f.from);
  WriteAccountRef(&w, ptr + 4, f.to);
  w.Text(ptr + 5, f.pledge);
  w.Text(ptr + 6, f.reversed_by);
  w.Text(ptr + 7, f.acknowledged_by);
  return w.Finish();
}

bool DecodeFact(std::string_view bytes, EventFact* out) {
  return DecodeCanonicalRow<schema::EventFact>(bytes, [&](schema::EventFact::Reader row) {
    auto kind_ok = [](schema::AccountRef::Reader r) {
      return uint16_t(r.getHolderKind()) <= uint16_t(schema::AccountHolder::EXTERNAL);
    };
    if (uint16_t(row.getCategory()) >= kCategories || !kind_ok(row.getFrom()) ||
        !kind_ok(row.getTo())) {
      return false;
    }
    EventFact f;
    f.id = row.getId();
    f.seq = row.getSeq();
    f.type = row.getType();
    f.signer = row.getSigner();
    f.occurred_day = row.getOccurredDay();
    f.counterparty = row.getCounterparty();
    f.category = row.getCategory();
    f.amount_fen = row.getAmountFen();
    f.from = GetAccountRef(row.getFrom(), f.category);
    f.to = GetAccountRef(row.getTo(), f.category);
    f.pledge = row.getPledge();
    f.received_fen = row.getReceivedFen();
    f.reversed_by = row.getReversedBy();
    f.acknowledged_by = row.getAcknowledgedBy();
    *out = std::move(f);
    return true;
  });
}

namespace {

std::string EncodeBalance(int64_t v) { return storage::EncodeU64(uint64_t(v)); }

// Row keys of the accounts family: one prefix byte per kind of row.
constexpr char kBalancePrefix = storage::kBalanceRow;
constexpr char kFactPrefix = storage::kFactRow;
constexpr char kFindingPrefix = storage::kFindingRow;
constexpr char kProjectPrefix = storage::kProjectRow;
constexpr char kPolicyPrefix = storage::kPolicyRow;
constexpr char kVolumePrefix = storage::kVolumeRow;  // the key is this byte alone

}  // namespace

std::string EncodeProjectRow(const Project& project) { return EncodeProject(project); }
bool DecodeProjectRow(std::string_view bytes, Project* out) { return DecodeProject(bytes, out); }
std::string EncodeFindingRow(const Finding& finding) { return EncodeFinding(finding); }
bool DecodeFindingRow(std::string_view bytes, Finding* out) { return DecodeFinding(bytes, out); }

namespace {

std::string RowKey(char prefix, std::string_view key) {
  std::string out(1, prefix);
  out.append(key);
  return out;
}

}  // namespace

std::string EncodeOrg(const Org& org) {
  RowMessageBuilder builder;
  auto state = builder.initRoot<schema::OrgState>();
  state.setOrg(org.id);
  state.setName(org.name);
  state.setKind(org.kind);
  state.setLevel(org.level);
  state.setRegion(org.region);
  state.setRegisteredSeq(org.registered_seq);
  state.setRevokedSeq(org.revoked_seq);
  auto keys = state.initKeys(org.keys.size());
  for (size_t i = 0; i < org.keys.size(); ++i) {
    keys[i].setFromSeq(org.keys[i].from_seq);
    keys[i].setPublicKey(capnp::Data::Reader(org.keys[i].key.data(), org.keys[i].key.size()));
  }
  return CanonicalBytes(state);
}

bool DecodeOrg(std::string_view bytes, Org* out) {
  return DecodeCanonicalRow<schema::OrgState>(bytes, [&](schema::OrgState::Reader state) {
    if (uint16_t(state.getKind()) > uint16_t(schema::OrgKind::AUDITOR) ||
        uint16_t(state.getLevel()) > uint16_t(schema::Level::NONE)) {
      return false;
    }
    Org org;
    org.id = state.getOrg();
    org.name = state.getName();
    org.kind = state.getKind();
    org.level = state.getLevel();
    org.region = state.getRegion();
    org.registered_seq = state.getRegisteredSeq();
    org.revoked_seq = state.getRevokedSeq();
    for (auto key : state.getKeys()) {
      if (key.getPublicKey().size() != sizeof(PublicKey)) return false;
      OrgKey k;
      k.from_seq = key.getFromSeq();
      memcpy(k.key.data(), key.getPublicKey().begin(), sizeof(PublicKey));
      org.keys.push_back(k);
    }
    if (org.keys.empty()) return false;
    *out = std::move(org);
    return true;
  });
}

Policy::Policy() { works_allowed.fill(kAllWorks); }

Policy Policy::Default() {
  Policy p;
  constexpr uint8_t kBasicAndImprovement =
      (1u << uint8_t(schema::Work::BASIC)) | (1u << uint8_t(schema::Work::IMPROVEMENT));
  for (auto c : {schema::Category::CENTRAL, schema::Category::PROVINCIAL}) {
    p.restricted[size_t(c)] = true;
    p.works_allowed[size_t(c)] = kBasicAndImprovement;
  }
  return p;
}

Status PolicyFromEvent(schema::PolicySet::Reader in, Policy* out) {
  Policy p;
  p.region = in.getRegion();
  size_t i = 0;
  for (auto use : in.getRestrictedUse()) {
    std::string field = "restricted_use[" + std::to_string(i++) + "]";
    size_t c = size_t(use.getCategory());
    if (c >= kCategories) return Status::InvalidArgument("bad_category", "unknown", field);
    if (p.restricted[c]) {
      return Status::InvalidArgument("duplicate_category", "one entry per category",
                                     field + ".category");
    }
    p.restricted[c] = true;
    p.works_allowed[c] = 0;
    for (auto w : use.getWorks()) {
      // The range check comes before the shift: a stored row is untrusted input to Load, and a
      // shift by a work value of 8 or more is undefined.
      if (uint16_t(w) > 2) return Status::InvalidArgument("bad_work", "unknown", field + ".works");
      uint8_t bit = uint8_t(1u << uint16_t(w));
      if (p.works_allowed[c] & bit) {
        return Status::InvalidArgument("duplicate_work", "each work once", field + ".works");
      }
      p.works_allowed[c] |= bit;
    }
  }
  p.consent_min_bp = in.getConsentMinBp();
  p.satisfaction_min_bp = in.getSatisfactionMinBp();
  p.idle_days_max = in.getIdleDaysMax();
  for (auto cap : in.getUnitCaps()) p.unit_caps.emplace_back(cap.getItem(), cap.getMaxFenPerUnit());
  for (auto t : in.getTargets()) {
    PolicyTargetRule rule;
    rule.metric = t.getMetric();
    if (t.getMinBp().isValue()) rule.min_bp = t.getMinBp().getValue();
    if (t.getMaxBp().isValue()) rule.max_bp = t.getMaxBp().getValue();
    p.targets.push_back(std::move(rule));
  }
  *out = std::move(p);
  return Status::Ok();
}

std::string AccountKey::Encode() const {
  std::string out;
  out.reserve(2 + holder.size());
  out.push_back(char(kind));
  out.push_back(char(category));
  out.append(holder);
  return out;
}

bool AccountKey::Decode(std::string_view bytes, AccountKey* out) {
  if (bytes.size() < 3 || uint8_t(bytes[0]) > 2 || uint8_t(bytes[1]) >= kCategories) return false;
  *out = AccountKey{schema::AccountHolder(bytes[0]), std::string(bytes.substr(2)),
                    schema::Category(bytes[1])};
  return true;
}

const Org* LedgerState::FindOrg(std::string_view id) const {
  std::string key(id);
  if (auto it = staged_orgs_.find(key); it != staged_orgs_.end()) return &it->second;
  if (auto it = orgs_.find(key); it != orgs_.end()) return &it->second;
  return nullptr;
}

const std::string& LedgerState::operator_id() const {
  return staged_operator_id_.empty() ? operator_id_ : staged_operator_id_;
}

const Project* LedgerState::FindProject(std::string_view id) const { return projects_.Find(id); }
const Finding* LedgerState::FindFinding(std::string_view id) const { return findings_.Find(id); }
namespace {

std::string PolicyKey(std::string_view region, std::string_view setter) {
  std::string key(region);
  key.push_back('\0');
  key.append(setter);
  return key;
}

// Makes `into` no looser than `p`.
void Tighten(const Policy& p, Policy* into) {
  for (size_t c = 0; c < kCategories; ++c) {
    if (!p.restricted[c]) continue;
    into->restricted[c] = true;
    into->works_allowed[c] &= p.works_allowed[c];
  }
  into->consent_min_bp = std::max(into->consent_min_bp, p.consent_min_bp);
  into->satisfaction_min_bp = std::max(into->satisfaction_min_bp, p.satisfaction_min_bp);
  into->idle_days_max = std::min(into->idle_days_max, p.idle_days_max);
  for (const auto& [item, cap] : p.unit_caps) {
    auto it = std::find_if(into->unit_caps.begin(), into->unit_caps.end(),
                           // item named again: clang 14 cannot capture a structured binding
                           [&item = item](const auto& c) { return c.first == item; });
    if (it == into->unit_caps.end()) {
      into->unit_caps.emplace_back(item, cap);
    } else {
      it->second = std::min(it->second, cap);
    }
  }
  for (const auto& t : p.targets) {
    auto it = std::find_if(into->targets.begin(), into->targets.end(),
                           [&](const auto& x) { return x.metric == t.metric; });
    if (it == into->targets.end()) {
      into->targets.push_back(t);
    } else {
      *it = t;  // the nearer region's target replaces the one above
    }
  }
  into->set_seq = std::max(into->set_seq, p.set_seq);
}

}  // namespace

const Policy* LedgerState::FindPolicy(std::string_view region, std::string_view setter) const {
  return policies_.Find(PolicyKey(region, setter));
}

Policy LedgerState::PolicyInForce(std::string_view region, std::string_view ignore_setter) const {
  const Policy* national = operator_id().empty() ? nullptr : FindPolicy("", operator_id());
  Policy result = national ? *national : Policy::Default();
  // Every region from the nation down to `region`, each with the policies set for it in set
  // order (so that of two targets for one metric at one region the later wins).
  size_t end = 0;
  while (true) {
    std::string_view prefix = region.substr(0, end);
    std::string from = PolicyKey(prefix, "");
    std::vector<const Policy*> here;
    for (auto* table : {&policies_.committed, &policies_.staged}) {
      for (auto it = table->lower_bound(from);
           it != table->end() && it->first.compare(0, from.size(), from) == 0; ++it) {
        if (table == &policies_.committed && policies_.staged.contains(it->first)) continue;
        const Policy& p = it->second;
        if (&p == national) continue;
        if (prefix == region && p.setter == ignore_setter) continue;
        here.push_back(&p);
      }
    }
    std::sort(here.begin(), here.end(),
              [](const Policy* a, const Policy* b) { return a->set_seq < b->set_seq; });
    for (const Policy* p : here) Tighten(*p, &result);
    if (end >= region.size()) break;
    size_t slash = region.find('/', end + (end == 0 ? 0 : 1));
    end = slash == std::string_view::npos ? region.size() : slash;
  }
  result.region = std::string(region);
  return result;
}

int64_t LedgerState::Balance(const AccountKey& account) const {
  const int64_t* b = balances_.Find(account.Encode());
  return b ? *b : 0;
}

Status LedgerState::FindFact(std::string_view id, const EventFact** out) const {
  *out = facts_.Find(id);
  if (*out != nullptr || reader_ == nullptr) return Status::Ok();
  if (auto it = fact_cache_.find(id); it != fact_cache_.end()) {
    *out = &it->second;
    return Status::Ok();
  }
  std::string value;
  bool found = false;
  FL_RETURN_IF_ERROR(
      reader_->Get(storage::kAccountsFamily, RowKey(kFactPrefix, id), &value, &found));
  if (!found) return Status::Ok();
  EventFact fact;
  if (!DecodeFact(value, &fact) || fact.id != id) {
    return Status::Corruption("fact_malformed", "stored fact of event " + std::string(id));
  }
  *out = &fact_cache_.emplace(std::string(id), std::move(fact)).first->second;
  return Status::Ok();
}

Status LedgerState::EventSeq(std::string_view id, uint64_t* seq) const {
  *seq = 0;
  if (const uint64_t* s = event_ids_.Find(id)) {
    *seq = *s;
    return Status::Ok();
  }
  if (reader_ == nullptr) return Status::Ok();
  std::string value;
  bool found = false;
  FL_RETURN_IF_ERROR(reader_->Get(storage::kIdsFamily, id, &value, &found));
  if (found) {
    if (value.size() != 8)
      return Status::Corruption("id_row_malformed", "id row " + std::string(id));
    *seq = storage::DecodeU64(value);
  }
  return Status::Ok();
}

void LedgerState::StageOrg(Org org) {
  if (org.kind == schema::OrgKind::OPERATOR && operator_id().empty()) {
    (direct_ ? operator_id_ : staged_operator_id_) = org.id;
  }
  std::string id = org.id;
  (direct_ ? orgs_ : staged_orgs_)[id] = std::move(org);
}

void LedgerState::StageProject(Project project) {
  std::string id = project.id;
  Writable(projects_)[id] = std::move(project);
}

void LedgerState::StageFinding(Finding finding) {
  std::string id = finding.id;
  Writable(findings_)[id] = std::move(finding);
}

void LedgerState::StagePolicy(Policy policy) {
  std::string key = PolicyKey(policy.region, policy.setter);
  Writable(policies_)[key] = std::move(policy);
}

void LedgerState::StageBalance(const AccountKey& account, int64_t balance_fen) {
  (direct_ ? committed_sum_ : staged_sum_delta_) += __int128(balance_fen) - Balance(account);
  Writable(balances_)[account.Encode()] = balance_fen;
}

void LedgerState::StageFact(EventFact fact) {
  std::string id = fact.id;
  Writable(facts_).insert_or_assign(id, std::move(fact));
}

void LedgerState::StageEventId(std::string_view id, uint64_t seq) {
  Writable(event_ids_)[id] = seq;
}

std::vector<LedgerState::Row> LedgerState::StagedRows() const {
  std::vector<Row> rows;
  rows.reserve(staged_orgs_.size() + projects_.staged.size() + findings_.staged.size() +
               policies_.staged.size() + balances_.staged.size() + facts_.staged.size());
  for (const auto& [id, org] : staged_orgs_) {
    rows.push_back({storage::kRegistryFamily, id, EncodeOrg(org)});
  }
  for (const auto& [k, v] : balances_.staged) {
    rows.push_back({storage::kAccountsFamily, RowKey(kBalancePrefix, k), EncodeBalance(v)});
  }
  for (const auto& [k, v] : facts_.staged) {
    rows.push_back({storage::kAccountsFamily, RowKey(kFactPrefix, k), EncodeFact(v)});
  }
  for (const auto& [k, v] : findings_.staged) {
    rows.push_back({storage::kAccountsFamily, RowKey(kFindingPrefix, k), EncodeFinding(v)});
  }
  for (const auto& [k, v] : projects_.staged) {
    rows.push_back({storage::kAccountsFamily, RowKey(kProjectPrefix, k), EncodeProject(v)});
  }
  for (const auto& [k, v] : policies_.staged) {
    rows.push_back({storage::kAccountsFamily, RowKey(kPolicyPrefix, k), EncodePolicy(v)});
  }
  if (staged_volume_delta_ != 0) {
    rows.push_back({storage::kAccountsFamily, std::string(1, kVolumePrefix),
                    storage::EncodeU64(volume_fen())});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.family != b.family ? a.family < b.family : a.key < b.key;
  });
  return rows;
}

void LedgerState::Commit() {
  for (auto& [id, org] : staged_orgs_) orgs_[id] = std::move(org);
  staged_orgs_.clear();
  if (!staged_operator_id_.empty()) operator_id_ = std::move(staged_operator_id_);
  staged_operator_id_.clear();
  projects_.Commit();
  findings_.Commit();
  policies_.Commit();
  balances_.Commit();
  committed_sum_ += staged_sum_delta_;
  staged_sum_delta_ = 0;
  committed_volume_ += staged_volume_delta_;
  staged_volume_delta_ = 0;
  if (reader_ != nullptr) {
    // Committed facts and ids are durable in the reader's store; read them back when needed.
    facts_.staged.clear();
    event_ids_.staged.clear();
  } else {
    facts_.Commit();
    event_ids_.Commit();
  }
  fact_cache_.clear();
}

void LedgerState::Abort() {
  staged_orgs_.clear();
  staged_operator_id_.clear();
  projects_.staged.clear();
  findings_.staged.clear();
  policies_.staged.clear();
  balances_.staged.clear();
  facts_.staged.clear();
  event_ids_.staged.clear();
  staged_sum_delta_ = 0;
  staged_volume_delta_ = 0;
  fact_cache_.clear();
}

void LedgerState::LoadOrg(Org org) {
  if (org.kind == schema::OrgKind::OPERATOR && operator_id_.empty()) operator_id_ = org.id;
  std::string id = org.id;
  orgs_[id] = std::move(org);
}

bool LedgerState::LoadRow(std::string_view family, std::string_view key, std::string_view value) {
  if (family == storage::kRegistryFamily) {
    Org org;
    if (!DecodeOrg(value, &org) || org.id != key) return false;
    LoadOrg(std::move(org));
    return true;
  }
  if (family != storage::kAccountsFamily || key.empty()) return false;
  std::string_view id = key.substr(1);
  switch (key[0]) {
    case kVolumePrefix: {
      if (!id.empty() || value.size() != 8) return false;
      committed_volume_ = storage::DecodeU64(value);
      return committed_volume_ != 0;
    }
    case kBalancePrefix: {
      AccountKey account;
      if (value.size() != 8 || !AccountKey::Decode(id, &account)) return false;
      int64_t v = int64_t(storage::DecodeU64(value));
      balances_.committed[std::string(id)] = v;
      committed_sum_ += v;
      return true;
    }
    case kFactPrefix: {
      if (reader_ != nullptr) return true;  // read back on demand
      EventFact fact;
      if (!DecodeFact(value, &fact) || fact.id != id) return false;
      facts_.committed[std::string(id)] = std::move(fact);
      return true;
    }
    case kFindingPrefix: {
      Finding f;
      if (!DecodeFinding(value, &f) || f.id != id) return false;
      findings_.committed[std::string(id)] = std::move(f);
      return true;
    }
    case kProjectPrefix: {
      Project p;
      if (!DecodeProject(value, &p) || p.id != id) return false;
      projects_.committed[std::string(id)] = std::move(p);
      return true;
    }
    case kPolicyPrefix: {
      Policy p;
      if (!DecodePolicy(value, &p) || PolicyKey(p.region, p.setter) != id) return false;
      policies_.committed[std::string(id)] = std::move(p);
      return true;
    }
    default:
      return false;
  }
}

void LedgerState::ForEachRow(
    std::string_view family,
    const std::function<void(std::string_view, std::string_view)>& fn) const {
  if (family == storage::kRegistryFamily) {
    for (const auto& [id, org] : orgs_) fn(id, EncodeOrg(org));
    return;
  }
  if (family != storage::kAccountsFamily) return;
  for (const auto& [k, v] : balances_.committed) fn(RowKey(kBalancePrefix, k), EncodeBalance(v));
  for (const auto& [k, v] : facts_.committed) fn(RowKey(kFactPrefix, k), EncodeFact(v));
  for (const auto& [k, v] : findings_.committed) fn(RowKey(kFindingPrefix, k), EncodeFinding(v));
  for (const auto& [k, v] : projects_.committed) fn(RowKey(kProjectPrefix, k), EncodeProject(v));
  for (const auto& [k, v] : policies_.committed) fn(RowKey(kPolicyPrefix, k), EncodePolicy(v));
  if (committed_volume_ != 0) {
    fn(std::string(1, kVolumePrefix), storage::EncodeU64(committed_volume_));
  }
}

bool LedgerState::FindRow(std::string_view family, std::string_view key, std::string* value) const {
  if (family == storage::kRegistryFamily) {
    auto it = orgs_.find(std::string(key));
    if (it == orgs_.end()) return false;
    *value = EncodeOrg(it->second);
    return true;
  }
  if (family != storage::kAccountsFamily || key.empty()) return false;
  std::string_view id = key.substr(1);
  auto encode = [&](const auto& table, auto encoder) {
    auto it = table.committed.find(id);
    if (it == table.committed.end()) return false;
    *value = encoder(it->second);
    return true;
  };
  switch (key[0]) {
    case kVolumePrefix:
      if (!id.empty() || committed_volume_ == 0) return false;
      *value = storage::EncodeU64(committed_volume_);
      return true;
    case kBalancePrefix:
      return encode(balances_, EncodeBalance);
    case kFactPrefix:
      return encode(facts_, EncodeFact);
    case kFindingPrefix:
      return encode(findings_, EncodeFinding);
    case kProjectPrefix:
      return encode(projects_, EncodeProject);
    case kPolicyPrefix:
      return encode(policies_, EncodePolicy);
    default:
      return false;
  }
}

size_t LedgerState::RowCount(std::string_view family) const {
  if (family == storage::kRegistryFamily) return orgs_.size();
  if (family != storage::kAccountsFamily) return 0;
  return balances_.committed.size() + facts_.committed.size() + findings_.committed.size() +
         projects_.committed.size() + policies_.committed.size() + (committed_volume_ != 0);
}

}  // namespace fundledger
