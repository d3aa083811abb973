// Full audit verification of a ledger: everything an auditor needs to trust it, recomputed from
// the records alone and compared with what is stored.
//
// For every record, in order: the key is its seq and there is no gap; the record is canonical,
// its seq field matches, its event has exactly one JSON form; its leaf hash and every tree node
// it completes equal the stored nodes; its id row points back at it; its signature verifies with
// the key its signer held at that point (checked on all cores); every rule holds when the event
// is replayed onto the state rebuilt so far. Every stored checkpoint is signed by the log key,
// names the ledger's origin, and its root equals the recomputed root at its size. Finally the
// rebuilt registry equals the stored one byte for byte.
//
// Thread safety: reads a Journal that may be appended to concurrently; verifies up to the head
// at the start.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

struct VerifyOptions {
  // Threads checking signatures, the calling one among them; 0 = one per core.
  unsigned threads = 0;
  // Called now and then with (records verified, records in all), for progress displays.
  std::function<void(uint64_t, uint64_t)> progress;
  // When set, the state and views rebuilt from the records are handed over here once compared,
  // instead of being freed before VerifyLedger returns: freeing a million facts and movements
  // one by one takes a large part of a second, which a command about to exit need not wait for
  // (it leaves them to the exit, see LeaveToExit) and a benchmark spends after its clock stops.
  std::shared_ptr<void>* keep_rebuilt = nullptr;
};

struct VerifyReport {
  uint64_t records = 0;      // records checked
  uint64_t checkpoints = 0;  // checkpoints checked
  // The size of the largest checkpoint checked: the records its signer vouches for. Records past
  // it rest on their own signatures only, until the journal's next checkpoint.
  uint64_t checkpointed_size = 0;
  uint64_t signatures = 0;     // signatures verified
  uint64_t first_bad_seq = 0;  // 0 if none, or if the failure is not tied to one record
};

// Ok if the ledger verifies. Otherwise Corruption naming the check (code), what failed
// (message, which includes "seq N" where one record is at fault), and report->first_bad_seq.
Status VerifyLedger(const Journal& journal, const VerifyOptions& options, VerifyReport* report);

// Whether the ledger extends a checkpoint its reader kept from before (`note`, a signed
// checkpoint, opened with `log_key`): the same origin, at least as many records, and the tree of
// the ledger's first `size` records has the note's root. So an auditor who kept a checkpoint
// finds a ledger rolled back, cut or forked since, which VerifyLedger alone cannot (such a
// ledger is consistent in itself). Corruption "held_checkpoint_origin" (field "origin"),
// "held_checkpoint_ahead" (the ledger holds fewer records; field "size") or
// "held_checkpoint_root" (another tree at that size; field "root"); the note's own errors
// (OpenCheckpoint) as they are.
// REQUIRES: VerifyLedger passed on `journal` (its tree nodes are those of its records).
Status VerifyHeldCheckpoint(const Journal& journal, std::string_view note,
                            const NoteVerifier& log_key);

// Keeps `memory` reachable until the process exits and never frees it: for a command's last
// large structures, which the operating system takes back at once when the process ends (as
// compilers skip freeing their syntax trees). Leak checkers see it as still referenced.
void LeaveToExit(std::shared_ptr<void> memory);

}  // namespace fundledger
