// LedgerState: the state that the rules read and the events change, kept in memory by the
// sequencer and persisted beside the records in the same WriteBatch.
//
// Changes are staged in a pending layer while a batch of events is sequenced; Commit() makes
// them current after the batch is durable, Abort() drops them. Each staged change remembers the
// storage row it must write (TakeDirtyRows()).
//
// Thread safety: not thread safe; owned by the single writer.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crypto/ed25519.h"
#include "crypto/status.h"
#include "ledger/schema/event.capnp.h"
#include "ledger/schema/state.capnp.h"
#include "ledger/string_map.h"

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

struct Project {
  std::string id;
  std::string region;
  schema::ProjectPhase phase = schema::ProjectPhase::REGISTERED;
  uint64_t registered_seq = 0;
  uint64_t phase_seq = 0;
  int64_t registered_day = 0;  // the registration's occurred_on: nothing of it is dated before
  int64_t phase_day = 0;       // the occurred_on of the event that set the phase: no later
                               // status is dated before it
  int64_t approved_day = 0;    // the approval's occurred_on (0 before): no payment is dated
                               // before it
  int64_t last_money_day = 0;  // the latest occurred_on of money moved in or out (0 before
                               // any): the project is not settled or cancelled before it

  // Settled and cancelled projects only refund.
  bool closed() const {
    return phase == schema::ProjectPhase::SETTLED || phase == schema::ProjectPhase::CANCELLED;
  }
  bool operator==(const Project&) const = default;
};
// A project's row (accounts family, key storage::kProjectRow + id), for the journal's upgrades
// of ledgers of earlier formats, whose project rows lack some of the days.
std::string EncodeProjectRow(const Project& project);
bool DecodeProjectRow(std::string_view bytes, Project* out);

inline constexpr size_t kCategories = 8;
inline constexpr uint8_t kAllWorks = 0b111;  // bit w: Work w may be paid

struct PolicyTargetRule {
  std::string metric;
  std::optional<uint32_t> min_bp, max_bp;
  bool operator==(const PolicyTargetRule&) const = default;
};

// The rules a region's policy_set puts in force (DESIGN.md section 4), or, from PolicyInForce,
// the combination of every policy that applies to a region.
struct Policy {
  std::string region;
  std::string setter;    // the org that set it
  uint64_t set_seq = 0;  // 0: the built-in default; combined: the latest policy that applies
  std::array<uint8_t, kCategories> works_allowed;  // per Category, a mask of Work bits
  std::array<bool, kCategories> restricted{};      // listed in the policy's restricted_use
  uint32_t consent_min_bp = 6667;
  uint32_t satisfaction_min_bp = 8000;
  uint32_t idle_days_max = 180;
  std::vector<std::pair<std::string, uint64_t>> unit_caps;  // item -> max fen per unit
  std::vector<PolicyTargetRule> targets;

  Policy();
  // The default: central and provincial money pays basic and improvement work only.
  static Policy Default();
  bool operator==(const Policy&) const = default;
};

// The Policy a policy_set event sets (values not yet range-checked: the rules do that).
// InvalidArgument naming the field for duplicate categories or works.
Status PolicyFromEvent(schema::PolicySet::Reader in, Policy* out);

// An account: (holder, category). Outside parties are external holders.
struct AccountKey {
  schema::AccountHolder kind = schema::AccountHolder::PROJECT;
  std::string holder;
  schema::Category category = schema::Category::CENTRAL;

  std::string Encode() const;  // the row key without the family's 'a' prefix
  static bool Decode(std::string_view bytes, AccountKey* out);
  bool operator==(const AccountKey&) const = default;
};

struct EventFact {
  std::string id;
  uint64_t seq = 0;
  uint16_t type = 0;  // schema::Event::Which
  std::string signer;
  int64_t occurred_day = 0;
  std::string counterparty;
  schema::Category category = schema::Category::CENTRAL;
  uint64_t amount_fen = 0;
  AccountKey from, to;  // (category is the fact's)
  std::string pledge;
  uint64_t received_fen = 0;
  std::string reversed_by;
  std::string acknowledged_by;
  bool operator==(const EventFact&) const = default;
};

// A fact's stored row (accounts family): its canonical schema::EventFact, and back (false if
// the bytes are not one).
std::string EncodeFact(const EventFact& fact);
bool DecodeFact(std::string_view bytes, EventFact* out);

struct Finding {
  std::string id;
  std::string auditor;
  std::string scope;
  std::string project;
  uint64_t opened_seq = 0;
  uint64_t resolved_seq = 0;
  int64_t opened_day = 0;  // its occurred_on: it is not resolved before
  bool operator==(const Finding&) const = default;
};
// A finding's row (accounts family, key storage::kFindingRow + id), for the upgrade of format 2.
std::string EncodeFindingRow(const Finding& finding);
bool DecodeFindingRow(std::string_view bytes, Finding* out);

// Where LedgerState reads rows it does not keep in memory (the journal's database).
class StateReader {
 public:
  virtual ~StateReader() = default;
  // Sets *found; on success and found, *value is the stored row.
  virtual Status Get(std::string_view family, std::string_view key, std::string* value,
                     bool* found) const = 0;
};

class LedgerState {
 public:
  // With a reader, committed event facts and ids are read back from it on demand and not kept
  // in memory (the journal); without one, everything stays in memory (verification's replay).
  explicit LedgerState(const StateReader* reader = nullptr) : reader_(reader) {}
  LedgerState(const LedgerState&) = delete;
  LedgerState& operator=(const LedgerState&) = delete;

  // Lookups see staged changes first. Returned pointers are valid until the next Stage*,
  // Commit or Abort.
  const Org* FindOrg(std::string_view id) const;
  bool has_operator() const { return !operator_id().empty(); }
  const std::string& operator_id() const;
  const Project* FindProject(std::string_view id) const;
  const Finding* FindFinding(std::string_view id) const;
  // The policy `setter` set for exactly `region`, if any.
  const Policy* FindPolicy(std::string_view region, std::string_view setter) const;
  // The policy in force in `region`. The baseline is the operator's national policy, else the
  // default; every policy set for `region` or a region above it then applies on top, and may
  // only make it stricter: restricted use is intersected, consent and satisfaction minimums take
  // the highest, idle_days_max and unit caps the lowest. A target (per metric) comes from the
  // nearest region that sets one. `ignore_setter` leaves out that org's own policy for exactly
  // `region` (to judge a policy it is about to replace).
  Policy PolicyInForce(std::string_view region, std::string_view ignore_setter = {}) const;
  int64_t Balance(const AccountKey& account) const;
  // IOError if the reader fails; *out is nullptr when there is no fact for `id`.
  Status FindFact(std::string_view id, const EventFact** out) const;
  // The seq of a recorded (or staged) event; 0 if there is none.
  Status EventSeq(std::string_view id, uint64_t* seq) const;

  void StageOrg(Org org);
  void StageProject(Project project);
  void StageFinding(Finding finding);
  void StagePolicy(Policy policy);
  void StageBalance(const AccountKey& account, int64_t balance_fen);
  void StageFact(EventFact fact);
  void StageEventId(std::string_view id, uint64_t seq);

  // The sum of every account balance, committed and staged; zero whenever no event is half
  // applied (double entry).
  __int128 balance_sum() const { return committed_sum_ + staged_sum_delta_; }

  // The ledger's volume, committed and staged: the fen of every amount its events moved or
  // pledged and of every project budget they registered or revised, in all. The rules bound it
  // (kLedgerVolumeFenMax), and with it every figure a view adds up over any scope.
  uint64_t volume_fen() const { return committed_volume_ + staged_volume_delta_; }
  // REQUIRES: volume_fen() + fen does not overflow (the rules check the bound first).
  void AddVolume(uint64_t fen) { (direct_ ? committed_volume_ : staged_volume_delta_) += fen; }

  // Storage rows (column family name, key, value) staged since the last Commit/Abort, in order
  // of family and key: a memtable inserts a key that follows the one before it from where that
  // one went, instead of from the top of its skip list.
  struct Row {
    std::string_view family;
    std::string key;
    std::string value;
  };
  std::vector<Row> StagedRows() const;

  void Commit();
  void Abort();

  // Loads one stored row at open; false if it is malformed.
  bool LoadRow(std::string_view family, std::string_view key, std::string_view value);
  // Every committed row of `family`, in no particular order (verification compares them with
  // the stored ones). REQUIRES: no reader (all rows are in memory).
  void ForEachRow(
      std::string_view family,
      const std::function<void(std::string_view key, std::string_view value)>& fn) const;
  // Makes the Stage* calls change the committed state directly, with nothing to commit or
  // abort: for a verifier, which replays events that must all pass and stops at the first that
  // does not (whose changes then need no undoing). Saves moving every change from the staged
  // layer to the committed one. REQUIRES: nothing staged; no reader.
  void set_direct() { direct_ = true; }
  // Makes room for the facts and ids of `events` events (a verifier knows how many it will
  // hold), so that the tables do not grow by rehashing. REQUIRES: no reader.
  void Reserve(size_t events) {
    facts_.committed.reserve(events);
    event_ids_.committed.reserve(events);
  }
  // The committed row `key` of `family`, encoded as stored: false if there is none.
  // REQUIRES: no reader.
  bool FindRow(std::string_view family, std::string_view key, std::string* value) const;
  // How many committed rows `family` has. REQUIRES: no reader.
  size_t RowCount(std::string_view family) const;

  // Loading (open) and comparison (verify).
  void LoadOrg(Org org);
  const std::map<std::string, Org>& orgs() const { return orgs_; }  // committed

 private:
  template <typename T>
  using HashMap = StringMap<T>;
  template <typename T>
  using OrderedMap = std::map<std::string, T, std::less<>>;

  // Committed rows and the rows staged over them. Hashed, except where a region prefix is
  // searched (policies): the rules look rows up one by one, and a verifier holds one fact and
  // one id per event, where a tree's string compares and node copies would cost.
  template <typename T, typename Map = HashMap<T>>
  struct Table {
    Map committed, staged;
    const T* Find(std::string_view key) const {
      if (auto it = staged.find(key); it != staged.end()) return &it->second;
      if (auto it = committed.find(key); it != committed.end()) return &it->second;
      return nullptr;
    }
    void Commit() {
      for (auto& [key, value] : staged) committed.insert_or_assign(key, std::move(value));
      staged.clear();
    }
  };

  // Where the Stage* calls write: the staged layer, or the committed one (set_direct).
  template <typename TableT>
  auto& Writable(TableT& table) {
    return direct_ ? table.committed : table.staged;
  }

  const StateReader* reader_;
  bool direct_ = false;
  std::map<std::string, Org> orgs_;
  std::map<std::string, Org> staged_orgs_;
  std::string operator_id_;
  std::string staged_operator_id_;
  Table<Project> projects_;
  Table<Finding> findings_;
  Table<Policy, OrderedMap<Policy>> policies_;  // keyed by region '\0' setter
  Table<int64_t> balances_;                     // keyed by AccountKey::Encode()
  Table<EventFact> facts_;                      // committed only without a reader
  Table<uint64_t> event_ids_;
  mutable HashMap<EventFact> fact_cache_;  // read back, this batch
  __int128 committed_sum_ = 0;
  __int128 staged_sum_delta_ = 0;
  uint64_t committed_volume_ = 0;
  uint64_t staged_volume_delta_ = 0;
};

}  // namespace fundledger
