// LedgerState: the state that the rules read and the events change, kept in memory by the
// sequencer and persisted beside the records in the same WriteBatch.
//
// Changes are staged in a pending layer while a batch of events is sequenced; Commit() makes
// them current after the batch is durable, Abort() drops them. Each staged change remembers the
// storage row it must write (TakeDirtyRows()).
//
// Thread safety: not thread safe; owned by the single writer.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto/ed25519.h"
#include "ledger/schema/event.capnp.h"

namespace fundledger {

struct OrgKey {
  uint64_t from_seq = 0;
  PublicKey key{};
  bool operator==(const OrgKey&) const = default;
};

struct Org {
  std::string id;
  std::string name;
  schema::OrgKind kind = schema::OrgKind::OPERATOR;
  schema::Level level = schema::Level::NONE;
  std::string region;
  uint64_t registered_seq = 0;
  uint64_t revoked_seq = 0;  // 0 while active
  std::vector<OrgKey> keys;  // in seq order, never empty

  bool revoked() const { return revoked_seq != 0; }
  const PublicKey& current_key() const { return keys.back().key; }
  // The key that verified events at `seq`; nullptr if seq precedes registration.
  const PublicKey* KeyAt(uint64_t seq) const;
  bool operator==(const Org&) const = default;
};

// Canonical storage encoding of an Org (capnp OrgState).
std::string EncodeOrg(const Org& org);
bool DecodeOrg(std::string_view bytes, Org* out);

class LedgerState {
 public:
  // Lookups see staged changes first.
  const Org* FindOrg(std::string_view id) const;
  bool has_operator() const { return !operator_id().empty(); }
  const std::string& operator_id() const;

  void StageOrg(Org org);

  // Storage rows (column family name, key, value) staged since the last Commit/Abort.
  struct Row {
    std::string_view family;
    std::string key;
    std::string value;
  };
  std::vector<Row> StagedRows() const;

  void Commit();
  void Abort();

  // Loading (open) and comparison (verify).
  void LoadOrg(Org org);
  const std::map<std::string, Org>& orgs() const { return orgs_; }  // committed

 private:
  std::map<std::string, Org> orgs_;
  std::map<std::string, Org> staged_orgs_;
  std::string operator_id_;
  std::string staged_operator_id_;
};

}  // namespace fundledger
