// BalanceView: the materialised balance figures of every project and pool, per category
// (DESIGN.md section 5), kept in step with the journal through ProjectionHook and rebuilt from
// the records by replay and verification.
//
// Rows (column family "projections"):
//   'b' holder kind u8 || holder  -> for each Category in order, the Figures below as seven
//                                    i64 big-endian two's complement (448 bytes)
//   'r' region '\0' project       -> empty: the region index behind roll-ups
//
// A reversal takes its target's figures back out (a reversed receipt is not "received"), so
// every figure is net of corrections.
//
// Thread safety: the hook side runs on the journal's writer; the read side (Balance, Rollup) on
// a read-only copy or between appends.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/projection.h"
#include "ledger/state.h"

namespace fundledger {

struct Figures {
  int64_t received_fen = 0;
  int64_t allocated_in_fen = 0;
  int64_t allocated_out_fen = 0;
  int64_t disbursed_fen = 0;
  int64_t refunded_fen = 0;
  int64_t pledged_fen = 0;
  int64_t pledge_received_fen = 0;  // received against pledges

  int64_t available_fen() const {
    return received_fen + allocated_in_fen - allocated_out_fen - disbursed_fen - refunded_fen;
  }
  int64_t pledge_outstanding_fen() const { return pledged_fen - pledge_received_fen; }
  Figures& operator+=(const Figures& o);
  bool operator==(const Figures&) const = default;
};

struct Balance {
  std::array<Figures, kCategories> by_category{};
  Figures Total() const;
  Balance& operator+=(const Balance& o);
  bool operator==(const Balance&) const = default;
};

class BalanceView : public ProjectionHook {
 public:
  // With a reader, rows not yet in memory are read from it (the journal's projections family);
  // without one, everything is in memory (a rebuild).
  explicit BalanceView(const StateReader* reader = nullptr) : reader_(reader) {}
  // Attaches the store to read rows back from (a journal opened with this view as its hook).
  // REQUIRES: nothing read or staged yet.
  void set_reader(const StateReader* reader) { reader_ = reader; }

  Status OnAccepted(const SignedEvent& event, const EventContext& context,
                    const LedgerState& state) override;
  std::vector<LedgerState::Row> StagedRows() const override;
  void Commit() override;
  void Abort() override;

  // The figures of one project or pool (all zero if nothing moved there).
  Status HolderBalance(schema::AccountHolder kind, std::string_view holder, Balance* out) const;

  // Every committed row in key order (verification). REQUIRES: no reader.
  void ForEachRow(const std::function<void(std::string_view, std::string_view)>& fn) const;

  static std::string BalanceKey(schema::AccountHolder kind, std::string_view holder);
  static std::string RegionKey(std::string_view region, std::string_view project);
  static std::string EncodeBalance(const Balance& b);
  static bool DecodeBalance(std::string_view bytes, Balance* out);

 private:
  Status Load(const std::string& key, Balance** out) const;
  Status Add(schema::AccountHolder kind, const std::string& holder, schema::Category c,
             int64_t Figures::*field, int64_t fen);

  const StateReader* reader_;
  mutable std::map<std::string, Balance> committed_;  // loaded or rebuilt
  std::map<std::string, Balance> staged_;
  std::map<std::string, bool> staged_regions_;
  std::map<std::string, bool> committed_regions_;  // only without a reader
};

}  // namespace fundledger
