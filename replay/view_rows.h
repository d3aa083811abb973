// ViewRows: the materialised rows behind every view of DESIGN.md section 5, kept in step with
// the journal through ProjectionHook (in the append's WriteBatch), rebuilt from the records by
// replay and verification, and folded from a scope's own history for as-of views.
//
// The fold reads nothing but the events it is given and the rows it wrote itself, so the same
// code answers three questions: the views now (incrementally, rows in RocksDB), the views
// rebuilt from genesis (every event, rows in memory), and the views as of an earlier point
// (only the events of one scope, filtered by seq and business date, rows in memory). An event
// that refers to one the fold has not seen (a reversal or acknowledgement of an event outside
// the scope or after the as-of date) changes nothing.
//
// Rows (column family "projections"; kind is schema::AccountHolder as a byte; seq u64
// big-endian; ids cannot contain '\0'):
//   'b' kind holder                  -> Balance (balance_view.h): figures per category
//   'h' kind holder                  -> HolderView: project description, phase, activity days
//   'x' kind holder '\0' seq         -> empty: the events that change the holder's views
//                                       (the history an as-of view folds)
//   'r' region '\0' project          -> empty: projects by region, for roll-ups
//   'c' district '\0' compound '\0' project -> empty: compounds by district (region cut to its
//                                       first three segments), for duplicate_compound
//   'v' event id                     -> MovementView of a money event
//   'd' project '\0' seq             -> DisbursementView, with acknowledgement, reversal, findings
//   'g' finding                      -> FindingView
//   'f' project '\0' finding         -> empty: findings by project
//   'p' seq                          -> empty: the policy_set events, for policies as of a point
//
// Thread safety: the hook side runs on the journal's writer; reads (RowSource) between appends.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ledger/projection.h"
#include "replay/balance_view.h"

namespace fundledger {

// Where view rows are read from: the stored projections, or rows folded in memory.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual Status Get(std::string_view key, std::string* value, bool* found) const = 0;
  // Every row whose key starts with `prefix`, in key order, until `fn` returns false.
  virtual Status Scan(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const = 0;
};

class ViewRows : public ProjectionHook, public RowSource {
 public:
  // With `stored`, rows not staged are read from it and committed rows are not kept in memory
  // (the journal's projections family); without, every row stays in memory (a rebuild, a
  // verification or an as-of fold) and is committed as it is folded: Abort REQUIRES a stored
  // source.
  explicit ViewRows(const RowSource* stored = nullptr) : stored_(stored) {}
  // REQUIRES: nothing folded yet.
  void set_stored(const RowSource* stored) { stored_ = stored; }

  Status OnAccepted(const SignedEvent& event, const EventContext& context,
                    const LedgerState& state) override;
  std::vector<LedgerState::Row> StagedRows() const override;
  void Commit() override;
  void Abort() override;

  // Folds one event (accepted by the rules) into the staged rows.
  Status Fold(schema::Event::Reader event, std::string_view signer, uint64_t seq);

  // RowSource: staged rows first, then committed, then stored. Scan REQUIRES nothing staged.
  Status Get(std::string_view key, std::string* value, bool* found) const override;
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) const override;

  // Committed in-memory rows in key order (a rebuild). REQUIRES: no stored source.
  const std::map<std::string, std::string, std::less<>>& rows() const { return committed_; }

  // Row keys.
  static std::string BalanceKey(schema::AccountHolder kind, std::string_view holder);
  static std::string HolderKey(schema::AccountHolder kind, std::string_view holder);
  static std::string HistoryPrefix(schema::AccountHolder kind, std::string_view holder);
  static std::string RegionPrefix(std::string_view region);  // 'r' region (no '\0')
  static std::string CompoundPrefix(std::string_view region, std::string_view compound);
  static std::string MovementKey(std::string_view event_id);
  static std::string DisbursementPrefix(std::string_view project);
  static std::string FindingKey(std::string_view finding);
  static std::string ProjectFindingPrefix(std::string_view project);
  static constexpr char kPolicyIndex = 'p';
  // The seq at the end of a history, disbursement or policy index key.
  static uint64_t KeySeq(std::string_view key);
  // The part of a key after `prefix` up to the next '\0' (or the end).
  static std::string_view KeyPart(std::string_view key, size_t at);

 private:
  Status Load(const std::string& key, std::string* value, bool* found) const;
  // Without a stored source the rows go straight to the committed ones: rebuilds and folds
  // never abort.
  void Put(std::string key, std::string value) {
    (stored_ ? staged_ : committed_).insert_or_assign(std::move(key), std::move(value));
  }
  Status ActivityDays(schema::AccountHolder kind, std::string_view holder, int64_t* first_in,
                      int64_t* last_out, bool* found) const;
  void Index(schema::AccountHolder kind, std::string_view holder, uint64_t seq);
  Status AddFigure(schema::AccountHolder kind, std::string_view holder, schema::Category c,
                   int64_t Figures::*field, int64_t fen);
  // Loads (or starts) a holder's HolderView, lets `edit` change it and stages it.
  template <typename Edit>
  Status EditHolder(schema::AccountHolder kind, std::string_view holder, Edit edit);
  Status MoneyIn(schema::AccountHolder kind, std::string_view holder, int64_t day);
  Status MoneyOut(schema::AccountHolder kind, std::string_view holder, int64_t day);
  Status Reverse(schema::Event::Reader e, uint64_t seq);
  Status Acknowledge(schema::Event::Reader e, uint64_t seq);
  Status OpenFinding(schema::Event::Reader e, std::string_view signer, uint64_t seq, int64_t day);
  Status ResolveFinding(schema::Event::Reader e, uint64_t seq, int64_t day);

  const RowSource* stored_;
  std::map<std::string, std::string, std::less<>> staged_;
  // With a stored source: the committed balance and holder rows read or written lately, which
  // nearly every money event reads again (a pool, its busy projects). Bounded: cleared whole
  // when it reaches kCacheRowsMax.
  static constexpr size_t kCacheRowsMax = 1 << 16;
  std::unordered_map<std::string, std::string> cache_;
  std::map<std::string, std::string, std::less<>> committed_;  // only without a stored source
};

}  // namespace fundledger
