#include "ledger/state.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>

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

std::string EncodeOrg(const Org& org) {
  capnp::MallocMessageBuilder builder;
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
  auto words = capnp::canonicalize(state.asReader());
  return std::string(reinterpret_cast<const char*>(words.begin()), words.size() * 8);
}

bool DecodeOrg(std::string_view bytes, Org* out) {
  if (bytes.empty() || bytes.size() % 8 != 0) return false;
  auto words = kj::heapArray<capnp::word>(bytes.size() / 8);
  memcpy(words.begin(), bytes.data(), bytes.size());
  kj::ArrayPtr<const capnp::word> segments[1] = {words.asPtr()};
  try {
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 1), LedgerReaderOptions());
    if (!reader.isCanonical()) return false;
    auto state = reader.getRoot<schema::OrgState>();
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
  } catch (const kj::Exception&) {
    return false;
  }
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

void LedgerState::StageOrg(Org org) {
  if (org.kind == schema::OrgKind::OPERATOR && operator_id().empty()) {
    staged_operator_id_ = org.id;
  }
  std::string id = org.id;
  staged_orgs_[id] = std::move(org);
}

std::vector<LedgerState::Row> LedgerState::StagedRows() const {
  std::vector<Row> rows;
  rows.reserve(staged_orgs_.size());
  for (const auto& [id, org] : staged_orgs_) {
    rows.push_back({storage::kRegistryFamily, id, EncodeOrg(org)});
  }
  return rows;
}

void LedgerState::Commit() {
  for (auto& [id, org] : staged_orgs_) orgs_[id] = std::move(org);
  staged_orgs_.clear();
  if (!staged_operator_id_.empty()) operator_id_ = std::move(staged_operator_id_);
  staged_operator_id_.clear();
}

void LedgerState::Abort() {
  staged_orgs_.clear();
  staged_operator_id_.clear();
}

void LedgerState::LoadOrg(Org org) {
  if (org.kind == schema::OrgKind::OPERATOR && operator_id_.empty()) operator_id_ = org.id;
  std::string id = org.id;
  orgs_[id] = std::move(org);
}

}  // namespace fundledger
