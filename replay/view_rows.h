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
//   '#' "views"                      -> kViewsVersion: the format of these rows (a ledger whose
//                                       views are of another is rebuilt when opened to write)
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
//   'l' pool '\0' pool               -> i64 big-endian: what the first pool allocated to the
//                                       second, net of reversals (the money a region's pools
//                                       pass among themselves, counted once in its 分配进度)
//   'f' project '\0' finding         -> empty: findings by project
//   'o' pool '\0' seq                -> i64 big-endian: the day of an allocation out of the pool;
//                                       empty once reversed (the pool's idle_funds)
//   'p' seq                          -> empty: the policy_set events, for policies as of a point
//
// Thread safety: the hook side runs on the journal's writer; reads (RowSource) between appends.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/projection.h"
#include "ledger/string_map.h"
#include "replay/balance_view.h"

namespace fundledger {

// A movement's row ('v'): the canonical schema::MovementView, written directly (one per money
// event, encoded by every append and compared by every verification). view_rows_test compares
// it with capnp's own encoding.
std::string EncodeMovementView(uint64_t seq, schema::Event::Which type, int64_t day,
                               schema::Category category, uint64_t amount_fen,
                               schema::AccountHolder from_kind, std::string_view from,
                               schema::AccountHolder to_kind, std::string_view to,
                               bool against_pledge);

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
  // The format of the rows below, stored at kVersionKey. 2: the pools' rows 'l' and 'o', a
  // holder's first day of money in forgotten when all of it is reversed, and no last day of money
  // out (1: before them, and not stored).
  static constexpr std::string_view kVersionKey = "#views";
  static constexpr std::string_view kViewsVersion = "2";

  // With `stored`, rows not staged are read from it and only the rows an append batch changes
  // are staged (the journal's projections family); without, the fold keeps every view in typed
  // in-memory tables (a rebuild, a verification or an as-of fold), encoded to rows only when
  // they are read or walked, and Abort REQUIRES a stored source.
  explicit ViewRows(const RowSource* stored = nullptr);
  ~ViewRows() override;
  ViewRows(const ViewRows&) = delete;
  ViewRows& operator=(const ViewRows&) = delete;
  // REQUIRES: nothing folded yet.
  void set_stored(const RowSource* stored) { stored_ = stored; }

  Status OnAccepted(const SignedEvent& event, const EventContext& context,
                    const LedgerState& state) override;
  std::vector<LedgerState::Row> StagedRows() const override;
  void Commit() override;
  void Abort() override;
  std::vector<LedgerState::Row> InitialRows() const override;

  // Sizes the in-memory tables for about `events` events (a rebuild knows how many it folds),
  // so that they do not grow by rehashing.
  void Reserve(uint64_t events);

  // Folds one event (accepted by the rules) into the staged rows.
  Status Fold(schema::Event::Reader event, std::string_view signer, uint64_t seq);
  // The same, with the event's occurred_on already read as a day number (ParseDate).
  Status Fold(schema::Event::Reader event, std::string_view signer, uint64_t seq, int64_t day);

  // RowSource: staged rows first, then committed, then stored. Scan REQUIRES nothing staged.
  // Without a stored source the first read after a fold encodes every row once.
  Status Get(std::string_view key, std::string* value, bool* found) const override;
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) const override;

  // A half-open range of row keys [from, to); an empty `to` sets no upper bound.
  struct KeyRange {
    std::string_view from, to;
    bool Contains(std::string_view key) const { return key >= from && (to.empty() || key < to); }
    // Whether a row of `kind` (its key's first byte) can be in the range.
    bool MayHoldKind(char kind) const {
      return (from.empty() || kind >= from[0]) && (to.empty() || std::string_view(&kind, 1) < to);
    }
  };

  // Every row in `range`, encoded, in key order (a rebuild compared with or written over the
  // stored rows). REQUIRES: no stored source.
  // Without the keyed rows (below) when `with_keyed` is false.
  void ForEachRow(const std::function<void(std::string_view key, std::string_view value)>& fn,
                  bool with_keyed = true, const KeyRange& range = {}) const;
  // The number of rows ForEachRow walks. REQUIRES: no stored source.
  size_t row_count() const;
  // Encodes the rows for Get and Scan now rather than at the first of them, so that the rows may
  // then be read from several threads at once (an as-of fold kept for later pages), and drops the
  // tables they were encoded from, which Get and Scan no longer read. Returns an estimate of the
  // bytes held. REQUIRES: no stored source; afterwards, the rows are read by Get and Scan only.
  size_t PrepareSharedReads();

  // The keyed rows: a movement per money event and a payment per disbursement, the two tables
  // with a row per event. A comparison with the stored rows looks them up as it meets them
  // rather than sorting them. REQUIRES (all three): no stored source.
  static bool IsKeyedRow(std::string_view key);
  // The rebuilt value of keyed row `key`; false if it has none.
  bool FindKeyedRow(std::string_view key, std::string* value) const;
  size_t keyed_row_count() const;
  // The keyed rows in key order.
  void ForEachKeyedRow(
      const std::function<void(std::string_view key, std::string_view value)>& fn) const;

  // Row keys.
  static std::string BalanceKey(schema::AccountHolder kind, std::string_view holder);
  static std::string HolderKey(schema::AccountHolder kind, std::string_view holder);
  static std::string HistoryPrefix(schema::AccountHolder kind, std::string_view holder);
  static std::string RegionPrefix(std::string_view region);  // 'r' region (no '\0')
  static std::string CompoundPrefix(std::string_view region, std::string_view compound);
  // 'c' and the region cut as CompoundPrefix cuts it (no '\0'): the compound rows of that
  // district, or, above district level, of it and of every region below it whose name begins
  // the same (the caller checks for the '/').
  static std::string CompoundRegionPrefix(std::string_view region);
  static std::string MovementKey(std::string_view event_id);
  static std::string DisbursementPrefix(std::string_view project);
  static std::string FindingKey(std::string_view finding);
  static std::string ProjectFindingPrefix(std::string_view project);
  static std::string PoolFlowPrefix(std::string_view from_pool);  // 'l' pool '\0'
  static std::string PoolOutPrefix(std::string_view pool);        // 'o' pool '\0'
  // The value of an 8-byte row (a pool flow, an allocation's day) into *out; Corruption
  // "projection_row_malformed" naming `what` and the key if it is not 8 bytes.
  static Status DecodeI64Row(std::string_view what, std::string_view key, std::string_view value,
                             int64_t* out);
  static constexpr char kPolicyIndex = 'p';
  // The seq at the end of a history, disbursement or policy index key.
  static uint64_t KeySeq(std::string_view key);
  // The part of a key after `prefix` up to the next '\0' (or the end).
  static std::string_view KeyPart(std::string_view key, size_t at);

 private:
  struct Tables;
  // The keyed rows of each kind in `range`, in key order.
  void ForEachPaymentRow(
      const std::function<void(std::string_view key, std::string_view value)>& fn,
      const KeyRange& range = {}) const;
  void ForEachMovementRow(
      const std::function<void(std::string_view key, std::string_view value)>& fn,
      const KeyRange& range = {}) const;
  struct Holder;
  struct Movement;
  struct Payment;

  // The holder's entry to change: in memory, or staged (copied from the cache or read from the
  // stored rows on first use in a batch).
  Status EditableHolder(schema::AccountHolder kind, std::string_view holder, Holder** out);
  Status LoadHolder(const std::string& holder_key, Holder* out) const;
  // Remembers `entry` as the most recent of the last two holders (a money event moves between
  // two and touches each a few times, alternately).
  void Remember(schema::AccountHolder kind, std::string_view holder, Holder* entry) {
    std::swap(recent_[0], recent_[1]);
    recent_[0].kind = kind;
    recent_[0].id.assign(holder);
    recent_[0].entry = entry;
  }
  void Forget() { recent_[0].entry = recent_[1].entry = nullptr; }
  void Index(schema::AccountHolder kind, std::string_view holder, uint64_t seq);
  // Row 'o' of an allocation out of `pool` at `seq`: its day, or Holder::kReversedOut.
  void AllocatedOut(std::string_view pool, uint64_t seq, int64_t day);
  void PutRow(std::string key, std::string value);  // the rarer rows: c f g l o p r
  Status GetRow(const std::string& key, std::string* value, bool* found) const;
  void PutMovement(std::string_view id, Movement m);
  Status FindMovement(std::string_view id, Movement* out, bool* found) const;
  Status AddFigure(schema::AccountHolder kind, std::string_view holder, schema::Category c,
                   int64_t Figures::*field, int64_t fen);
  // Loads (or starts) a holder's HolderView and lets `edit` change it.
  template <typename Edit>
  Status EditHolder(schema::AccountHolder kind, std::string_view holder, Edit edit);
  Status MoneyIn(schema::AccountHolder kind, std::string_view holder, int64_t day);
  // After a reversal of money into `holder`: with none left, its first day of money in is
  // forgotten, so that it counts from the next money in.
  Status MoneyInReversed(schema::AccountHolder kind, std::string_view holder);
  // Adds `fen` (negative for a reversal) to what pool `from` allocated to pool `to` (row 'l').
  Status AddPoolFlow(std::string_view from, std::string_view to, int64_t fen);
  template <typename Edit>
  Status EditDisbursement(const Movement& m, Edit edit);
  Status Reverse(schema::Event::Reader e, uint64_t seq);
  Status Acknowledge(schema::Event::Reader e, uint64_t seq);
  Status OpenFinding(schema::Event::Reader e, std::string_view signer, uint64_t seq, int64_t day);
  Status ResolveFinding(schema::Event::Reader e, uint64_t seq, int64_t day);
  // Encodes every in-memory row into `encoded_` for Get and Scan (an as-of fold).
  void Materialize() const;

  const RowSource* stored_;
  std::unique_ptr<Tables> tables_;  // in memory: every view; stored: the staged batch
  // With a stored source: the committed holder entries read or written lately, which nearly
  // every money event reads again (a pool, its busy projects). Bounded: cleared whole when it
  // reaches kCacheHoldersMax.
  static constexpr size_t kCacheHoldersMax = 1 << 14;
  std::unique_ptr<StringMap<Holder>> cache_;
  // The two entries EditableHolder returned last (entries of a StringMap stay where they are
  // until it is cleared: Commit and Abort forget it).
  struct Recent {
    schema::AccountHolder kind = schema::AccountHolder::EXTERNAL;
    std::string id;
    Holder* entry = nullptr;
  };
  Recent recent_[2];
  mutable bool encoded_valid_ = false;
  mutable std::map<std::string, std::string, std::less<>> encoded_;  // see Materialize
};

}  // namespace fundledger
