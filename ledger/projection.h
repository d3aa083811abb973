// ProjectionHook: the one narrow interface through which the read side (replay/) keeps its
// materialised views in step with the journal. ledger/ never includes replay/; main() or the
// server builds the projections and hands them to the Journal (JournalOptions::projection).
//
// For each append batch the journal calls, on its single writer thread:
//   OnAccepted() for every accepted event in seq order, with the ledger state as that event left
//     it (the event's own changes staged, so its facts and balances are visible);
//   StagedRows() once, for the rows to add to the batch's WriteBatch (column family
//     "projections" only);
//   then Commit() once the batch is durable, or Abort() if it is dropped (a write error, or an
//     all-or-nothing batch with a rejected event).
// The same calls, with a fresh hook and state, rebuild the views from the records (replay and
// verification), so stored and rebuilt rows can be compared byte for byte.
//
// Thread safety: called from one thread at a time (the journal's writer).
#pragma once

#include <vector>

#include "crypto/status.h"
#include "ledger/event.h"
#include "ledger/rules.h"
#include "ledger/state.h"

namespace fundledger {

class ProjectionHook {
 public:
  virtual ~ProjectionHook() = default;

  // Folds one accepted event into the staged views. Non-ok (an I/O error reading a view row)
  // fails the whole batch: nothing of it is written.
  virtual Status OnAccepted(const SignedEvent& event, const EventContext& context,
                            const LedgerState& state) = 0;
  // The rows staged since the last Commit/Abort.
  virtual std::vector<LedgerState::Row> StagedRows() const = 0;
  virtual void Commit() = 0;
  virtual void Abort() = 0;
  // The rows a new ledger starts with (the views' format version), written with its
  // description when it is created.
  virtual std::vector<LedgerState::Row> InitialRows() const { return {}; }
};

}  // namespace fundledger
