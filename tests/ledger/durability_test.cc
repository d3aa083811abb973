// Durability of the journal's appends (ledger/journal.h): Append returns only once the WAL is
// synced past its batch; AppendUnsynced leaves the batch to Sync, and one sync covers every
// batch written before it; a failed sync fails the journal for good; and after a power cut the
// ledger holds every acknowledged batch, whole batches only, in the order they were written.
// A fault-injecting file system (fault_fs.h) counts what was written and synced, fails or holds
// syncs, and copies the database as a power cut would leave it.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "ledger/storage_format.h"
#include "replay/verify.h"
#include "tests/ledger/fault_fs.h"
#include "tests/ledger/test_ledger.h"

namespace fundledger::testing {
namespace {

namespace fs = std::filesystem;

// A batch of `n` receipts into xt-finance's pool with ids PREFIX-0.. .
std::vector<SignedEvent> Receipts(TestLedger& ledger, const std::string& prefix, size_t n) {
  std::vector<SignedEvent> batch;
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(ledger.Signed(
        "xt-finance", Receipt(prefix + "-" + std::to_string(i), "xt-finance", 100 + i)));
  }
  return batch;
}

std::set<std::string> IdsOf(const std::vector<SignedEvent>& batch) {
  std::set<std::string> ids;
  for (const auto& e : batch) ids.insert(e.id());
  return ids;
}

// How many of `ids` `journal` holds.
size_t Held(const Journal& journal, const std::set<std::string>& ids) {
  size_t held = 0;
  for (const auto& id : ids) {
    uint64_t seq = 0;
    held += journal.FindEvent(id, &seq).ok();
  }
  return held;
}

void ExpectVerifies(const Journal& journal) {
  VerifyReport report;
  Status s = VerifyLedger(journal, VerifyOptions(), &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// After a failed write or sync, opened again on the real file system: the ledger holds every
// acknowledged event, each of `unacknowledged` (batches in the order written) whole or not at
// all and only with every batch before it, none of `later`; it verifies, and takes an append.
void ExpectReopenedWithWholeBatches(TestLedger& ledger,
                                    const std::vector<SignedEvent>& acknowledged,
                                    const std::vector<std::vector<SignedEvent>>& unacknowledged,
                                    const std::vector<SignedEvent>& later) {
  ledger.set_env(nullptr);
  ledger.Reopen();
  EXPECT_TRUE(ledger.journal().failure().ok());
  EXPECT_EQ(Held(ledger.journal(), IdsOf(acknowledged)), acknowledged.size());
  bool all_before = true;  // every batch before this one is held
  for (size_t i = 0; i < unacknowledged.size(); ++i) {
    const size_t held = Held(ledger.journal(), IdsOf(unacknowledged[i]));
    EXPECT_TRUE(held == 0 || (held == unacknowledged[i].size() && all_before))
        << "batch " << i << ": " << held << " of " << unacknowledged[i].size() << " held";
    all_before = all_before && held == unacknowledged[i].size();
  }
  EXPECT_EQ(Held(ledger.journal(), IdsOf(later)), 0u);
  ExpectVerifies(ledger.journal());
  ledger.AppendOk(ledger.Signed("xt-finance", Receipt("after-reopen", "xt-finance", 1)));
}

TEST(Durability, AppendReturnsOnlyOnceTheWalIsSyncedPastItsBatch) {
  FaultFs::WithEnv fault;
  TestLedger ledger({}, fault.env.get());
  ledger.Register("xt-finance");
  for (int b = 0; b < 5; ++b) {
    std::vector<AppendResult> results;
    ASSERT_TRUE(
        ledger.journal().Append(Receipts(ledger, "b" + std::to_string(b), 3), &results).ok());
    EXPECT_EQ(fault.fs->UnsyncedBytes(), 0u) << "batch " << b << " acknowledged before its sync";
  }
  EXPECT_GT(fault.fs->AppendedBytes(), 0u) << "the WAL was not seen";
}

TEST(Durability, AppendUnsyncedLeavesItsBatchToOneSyncThatCoversAllBefore) {
  FaultFs::WithEnv fault;
  TestLedger ledger({}, fault.env.get());
  ledger.Register("xt-finance");
  Journal& journal = ledger.journal();
  const uint64_t size = journal.head().size;

  std::vector<AppendResult> first, second;
  uint64_t ticket1 = 0, ticket2 = 0;
  ASSERT_TRUE(journal.AppendUnsynced(Receipts(ledger, "u1", 2), &first, {}, &ticket1).ok());
  EXPECT_GT(fault.fs->UnsyncedBytes(), 0u) << "written, and not synced yet";
  EXPECT_EQ(journal.head().size, size + 2) << "the batch is current";
  EXPECT_EQ(first[1].seq, size + 2);
  ASSERT_TRUE(journal.AppendUnsynced(Receipts(ledger, "u2", 2), &second, {}, &ticket2).ok());
  EXPECT_GT(ticket2, ticket1);

  const uint64_t syncs = fault.fs->syncs();
  ASSERT_TRUE(journal.Sync(ticket1).ok());
  EXPECT_EQ(fault.fs->UnsyncedBytes(), 0u) << "one sync covers the batches written before it";
  EXPECT_EQ(fault.fs->syncs(), syncs + 1);
  ASSERT_TRUE(journal.Sync(ticket2).ok());
  EXPECT_EQ(fault.fs->syncs(), syncs + 1) << "a ticket already covered needs no sync";

  // A batch that writes nothing (a resubmitted event) still rests on the unsynced batch whose
  // event it names: its ticket is that batch's.
  std::vector<SignedEvent> third = Receipts(ledger, "u3", 1);
  std::vector<AppendResult> results;
  uint64_t ticket3 = 0, ticket4 = 0;
  ASSERT_TRUE(journal.AppendUnsynced(third, &results, {}, &ticket3).ok());
  ASSERT_TRUE(journal.AppendUnsynced(third, &results, {}, &ticket4).ok());
  EXPECT_TRUE(results[0].duplicate);
  EXPECT_EQ(ticket4, ticket3);
  EXPECT_GT(fault.fs->UnsyncedBytes(), 0u);
  ASSERT_TRUE(journal.Sync(ticket4).ok());
  EXPECT_EQ(fault.fs->UnsyncedBytes(), 0u);
}

// A checkpoint is given out only once it, and every batch it signs, is durable: appended unsynced
// it carries a ticket past those batches; WriteCheckpoint syncs before it returns, even when the
// latest checkpoint (one a batch wrote) needs no new note; and after a failed sync none is given.
TEST(Durability, ACheckpointIsGivenOutOnlyOnceDurable) {
  FaultFs::WithEnv fault;
  TestLedger ledger({}, fault.env.get());
  ledger.Register("xt-finance");
  Journal& journal = ledger.journal();
  std::vector<AppendResult> results;
  ASSERT_TRUE(journal.Append(Receipts(ledger, "s", 2), &results).ok());

  uint64_t batch = 0, ticket = 0;
  ASSERT_TRUE(journal.AppendUnsynced(Receipts(ledger, "u1", 2), &results, {}, &batch).ok());
  std::string note;
  ASSERT_TRUE(journal.AppendCheckpointUnsynced(&note, &ticket).ok());
  EXPECT_GT(ticket, batch) << "a batch of its own, after the one it signs";
  Checkpoint checkpoint;
  ASSERT_TRUE(OpenCheckpoint(note, journal.log_verifier(), &checkpoint).ok());
  EXPECT_EQ(checkpoint.size, journal.head().size);
  EXPECT_GT(fault.fs->UnsyncedBytes(), 0u);
  std::string durable;
  EXPECT_EQ(journal.LatestDurableCheckpoint(&durable).code(), "no_checkpoint")
      << "not durable before its sync: " << durable;
  // Asked again at the same head: the same note, nothing written, the same ticket.
  const uint64_t appended = fault.fs->AppendedBytes();
  std::string again;
  uint64_t again_ticket = 0;
  ASSERT_TRUE(journal.AppendCheckpointUnsynced(&again, &again_ticket).ok());
  EXPECT_EQ(again, note);
  EXPECT_EQ(again_ticket, ticket);
  EXPECT_EQ(fault.fs->AppendedBytes(), appended);
  // WriteCheckpoint gives that unsynced note only after syncing it.
  ASSERT_TRUE(journal.WriteCheckpoint(&again).ok());
  EXPECT_EQ(again, note);
  EXPECT_EQ(fault.fs->UnsyncedBytes(), 0u);
  ASSERT_TRUE(journal.LatestDurableCheckpoint(&durable).ok());
  EXPECT_EQ(durable, note) << "durable once synced";
  // A sync of a later batch that counts an unsynced note promotes it; one that does not count
  // it leaves the durable note where it was.
  const std::string first_durable = durable;
  ASSERT_TRUE(journal.AppendUnsynced(Receipts(ledger, "u1b", 1), &results, {}, &batch).ok());
  ASSERT_TRUE(journal.Sync(batch).ok());
  ASSERT_TRUE(journal.AppendCheckpointUnsynced(&note, &ticket).ok());
  ASSERT_TRUE(journal.LatestDurableCheckpoint(&durable).ok());
  EXPECT_EQ(durable, first_durable);
  ASSERT_TRUE(journal.Sync(ticket).ok());
  ASSERT_TRUE(journal.LatestDurableCheckpoint(&durable).ok());
  EXPECT_EQ(durable, note);

  // A checkpoint written with a batch, unsynced, is the latest: given only once synced.
  ASSERT_TRUE(journal.AppendUnsynced(Receipts(ledger, "u2", 1), &results, {}, &batch).ok());
  ASSERT_TRUE(journal.AppendCheckpointUnsynced(&note, &ticket).ok());
  EXPECT_GT(fault.fs->UnsyncedBytes(), 0u);
  ASSERT_TRUE(journal.WriteCheckpoint(&again).ok());
  EXPECT_EQ(again, note);
  EXPECT_EQ(fault.fs->UnsyncedBytes(), 0u);

  // After a failed sync no note is given, new or latest.
  ASSERT_TRUE(journal.AppendUnsynced(Receipts(ledger, "u3", 1), &results, {}, &batch).ok());
  fault.fs->FailSyncs(true);
  std::string failed;
  EXPECT_EQ(journal.WriteCheckpoint(&failed).code(), "journal_failed");
  EXPECT_TRUE(failed.empty()) << failed;
  fault.fs->FailSyncs(false);
  EXPECT_EQ(journal.WriteCheckpoint(&failed).code(), "journal_failed");
}

TEST(Durability, AFailedSyncFailsTheJournalForGood) {
  FaultFs::WithEnv fault;
  TestLedger ledger({}, fault.env.get());
  ledger.Register("xt-finance");
  Journal& journal = ledger.journal();
  std::vector<SignedEvent> acknowledged = Receipts(ledger, "ok", 3);
  std::vector<SignedEvent> first = Receipts(ledger, "first", 3);
  std::vector<SignedEvent> second = Receipts(ledger, "second", 3);
  std::vector<SignedEvent> later = Receipts(ledger, "later", 3);
  std::vector<AppendResult> results;
  ASSERT_TRUE(journal.Append(acknowledged, &results).ok());
  uint64_t ticket1 = 0, ticket2 = 0;
  ASSERT_TRUE(journal.AppendUnsynced(first, &results, {}, &ticket1).ok());
  ASSERT_TRUE(journal.AppendUnsynced(second, &results, {}, &ticket2).ok());

  fault.fs->FailSyncs(true);
  Status s = journal.Sync(ticket1);
  EXPECT_EQ(s.code(), "journal_failed") << s.ToString();
  EXPECT_NE(s.message().find("injected sync failure"), std::string::npos) << s.ToString();
  EXPECT_EQ(journal.failure().code(), "journal_failed");

  // The disk works again, and still nothing is acknowledged or written: a retried fsync may
  // report success for pages that were dropped.
  fault.fs->FailSyncs(false);
  const uint64_t appended = fault.fs->AppendedBytes();
  EXPECT_EQ(journal.Sync(ticket2).code(), "journal_failed");
  EXPECT_EQ(journal.Append(later, &results).code(), "journal_failed");
  uint64_t ticket = 0;
  EXPECT_EQ(journal.AppendUnsynced(later, &results, {}, &ticket).code(), "journal_failed");
  std::string note;
  EXPECT_EQ(journal.WriteCheckpoint(&note).code(), "journal_failed");
  EXPECT_EQ(fault.fs->AppendedBytes(), appended) << "written after the failure";

  // Opened again, the ledger holds what was acknowledged, each unacknowledged batch whole or
  // not at all (the second only with the first), and nothing after.
  ExpectReopenedWithWholeBatches(ledger, acknowledged, {first, second}, later);
}

// RocksDB's flushes sync the WAL files they close, on RocksDB's own threads. If such a sync
// fails, the kernel may have dropped the unwritten pages of a batch not yet acknowledged, and a
// later fsync of the same file reports success (Linux reports a writeback error once per open
// file): the journal's own sync must not then take the batch as durable.
TEST(Durability, AWalSyncThatFailedInAFlushFailsTheJournal) {
  FaultFs::WithEnv fault;
  TestLedger ledger({}, fault.env.get());
  ledger.Register("xt-finance");
  Journal& journal = ledger.journal();
  std::vector<SignedEvent> acknowledged = Receipts(ledger, "ok", 3);
  std::vector<SignedEvent> pending = Receipts(ledger, "pending", 3);
  std::vector<SignedEvent> later = Receipts(ledger, "later", 3);
  std::vector<AppendResult> results;
  ASSERT_TRUE(journal.Append(acknowledged, &results).ok());
  uint64_t ticket = 0;
  ASSERT_TRUE(journal.AppendUnsynced(pending, &results, {}, &ticket).ok());

  fault.fs->FailNextSyncs(1);
  const uint64_t syncs_before = fault.fs->syncs();
  (void)journal.FlushForTesting();  // RocksDB may or may not report the failed sync here
  ASSERT_EQ(fault.fs->failed_syncs(), 1u) << "the flush synced no WAL file";
  EXPECT_EQ(fault.fs->syncs(), syncs_before) << "a WAL sync succeeded before the journal's";

  Status s = journal.Sync(ticket);
  EXPECT_EQ(s.code(), "journal_failed") << s.ToString();
  EXPECT_NE(s.message().find("injected sync failure"), std::string::npos) << s.ToString();
  EXPECT_EQ(journal.failure().code(), "journal_failed");
  EXPECT_EQ(journal.Append(later, &results).code(), "journal_failed");

  ExpectReopenedWithWholeBatches(ledger, acknowledged, {pending}, later);
}

// AppendInBatches syncs each batch on a thread of its own: with the first sync held, every
// later batch is still written, and the call returns only once all of them are synced.
TEST(Durability, AppendInBatchesWritesOnWhileASyncIsHeldAndReturnsOnceAllAreSynced) {
  FaultFs::WithEnv fault;
  TestLedger ledger({}, fault.env.get());
  ledger.Register("xt-finance");
  Journal& journal = ledger.journal();
  const uint64_t size = journal.head().size;
  const std::vector<SignedEvent> events = Receipts(ledger, "bulk", 10);
  fault.fs->HoldSyncs(true);
  std::atomic<size_t> written{0};
  std::atomic<bool> returned{false}, first_sync_held{false};
  Status status;
  std::vector<AppendResult> results;
  std::thread appender([&] {
    status = journal.AppendInBatches(events, 3, &results, [&](size_t n) {
      // The first batch's sync starts (and is held) before the second batch is written.
      if (n == 3) first_sync_held = fault.fs->WaitForHeldSync(10000);
      written = n;
    });
    returned = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (written.load() < events.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(first_sync_held.load()) << "no sync started";
  EXPECT_EQ(written.load(), events.size()) << "the next batches waited for a sync";
  EXPECT_EQ(journal.head().size, size + events.size());
  EXPECT_FALSE(returned.load()) << "returned before its batches were synced";
  EXPECT_GT(fault.fs->UnsyncedBytes(), 0u);
  fault.fs->HoldSyncs(false);
  appender.join();
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(fault.fs->UnsyncedBytes(), 0u) << "returned with a batch not synced";
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_TRUE(results[i].status.ok()) << results[i].status.ToString();
    EXPECT_EQ(results[i].seq, size + i + 1);
  }
  // The journal itself counts every batch as synced: a sync up to the last one written needs
  // no new sync. (The held sync reached the disk only once released, so the bytes alone would
  // not show a later batch's sync missing.)
  std::vector<AppendResult> none;
  uint64_t last_written = 0;
  ASSERT_TRUE(journal.AppendUnsynced({}, &none, {}, &last_written).ok());
  const uint64_t syncs = fault.fs->syncs();
  ASSERT_TRUE(journal.Sync(last_written).ok());
  EXPECT_EQ(fault.fs->syncs(), syncs) << "a batch was left for a later sync";
}

// A sync that fails under AppendInBatches fails the call and the journal: with one batch only
// the last sync can see it; with four, a later batch's write or the last sync, whichever comes
// first. Opened again, the ledger holds whole batches only, each with every batch before it,
// and verifies.
TEST(Durability, AppendInBatchesFailsWithAFailedSyncAndLeavesWholeBatchesInOrder) {
  for (size_t batch_events : {3, 12}) {
    FaultFs::WithEnv fault;
    TestLedger ledger({}, fault.env.get());
    ledger.Register("xt-finance");
    const std::vector<SignedEvent> events = Receipts(ledger, "bulk", 12);
    fault.fs->FailSyncs(true);
    std::vector<AppendResult> results;
    Status s = ledger.journal().AppendInBatches(events, batch_events, &results);
    EXPECT_EQ(s.code(), "journal_failed") << batch_events << ": " << s.ToString();
    EXPECT_EQ(ledger.journal().failure().code(), "journal_failed");
    fault.fs->FailSyncs(false);
    ledger.set_env(nullptr);
    ledger.Reopen();
    bool gap = false;
    for (size_t at = 0; at < events.size(); at += batch_events) {
      std::set<std::string> batch;
      for (size_t i = at; i < at + batch_events; ++i) batch.insert(events[i].id());
      const size_t held = Held(ledger.journal(), batch);
      EXPECT_TRUE(held == 0 || (held == batch_events && !gap))
          << "batch at " << at << " holds " << held;
      gap |= held == 0;
    }
    ExpectVerifies(ledger.journal());
  }
}

// Batches written with AppendUnsynced and synced now and then; after each step the database is
// copied as a power cut would leave it, with none, some or all of the unsynced WAL bytes. Each
// copy must open to a ledger that holds every acknowledged (synced) batch, holds each batch
// whole or not at all, holds no batch without every batch written before it, and verifies.
TEST(Durability, APowerCutKeepsAcknowledgedBatchesAndOnlyWholeOnesInOrder) {
  FaultFs::WithEnv fault;
  TestLedger ledger({}, fault.env.get());
  ledger.Register("xt-finance");
  const uint64_t base = ledger.journal().head().size;
  const fs::path db = ledger.dir() / std::string(storage::kDatabaseDir);
  std::mt19937_64 rng(20261122);
  struct Written {
    std::set<std::string> ids;
    uint64_t ticket = 0;
  };
  std::vector<Written> written;
  uint64_t synced_ticket = 0;
  for (int step = 0; step < 14; ++step) {
    std::vector<SignedEvent> batch = Receipts(ledger, "p" + std::to_string(step), 1 + rng() % 12);
    std::vector<AppendResult> results;
    Written w{IdsOf(batch), 0};
    ASSERT_TRUE(ledger.journal().AppendUnsynced(batch, &results, {}, &w.ticket).ok());
    written.push_back(w);
    if (rng() % 3 == 0) {
      ASSERT_TRUE(ledger.journal().Sync(w.ticket).ok());
      synced_ticket = w.ticket;
    }
    // None of the unsynced bytes, all of them, or a cut anywhere between (a torn record).
    const int mode = step % 3;
    const fs::path copy = ledger.dir().string() + "-cut-" + std::to_string(step);
    fault.fs->CopyAsAfterPowerCut(db, copy / std::string(storage::kDatabaseDir),
                                  [&](uint64_t unsynced) -> uint64_t {
                                    if (mode == 0 || unsynced == 0) return 0;
                                    if (mode == 1) return unsynced;
                                    return rng() % unsynced;
                                  });
    fs::copy_file(ledger.dir() / std::string(storage::kLogKeyFile),
                  copy / std::string(storage::kLogKeyFile));
    {
      Views views;
      std::unique_ptr<Journal> recovered;
      Status s = OpenWithViews(copy.string(), JournalOptions(), &views, &recovered);
      ASSERT_TRUE(s.ok()) << "step " << step << ": " << s.ToString();
      uint64_t expected_size = base;
      bool gap = false;
      for (size_t b = 0; b < written.size(); ++b) {
        size_t held = Held(*recovered, written[b].ids);
        if (written[b].ticket <= synced_ticket) {
          EXPECT_EQ(held, written[b].ids.size()) << "step " << step << ": acknowledged batch " << b;
        }
        EXPECT_TRUE(held == 0 || held == written[b].ids.size())
            << "step " << step << ": batch " << b << " half there";
        EXPECT_FALSE(gap && held > 0) << "step " << step << ": batch " << b << " after a lost one";
        gap |= held == 0;
        expected_size += held;
      }
      EXPECT_EQ(recovered->head().size, expected_size) << "step " << step;
      ExpectVerifies(*recovered);
    }
    fs::remove_all(copy);
  }
}

// A WAL append that fails (a full or failing disk), with part of the batch in the file or none:
// the journal fails, nothing of the batch is visible, every later write or sync is refused, and
// opened again the ledger holds every acknowledged batch, whole batches only, and verifies.
TEST(Durability, AFailedWalWriteFailsTheJournalAndLeavesNothingHalfVisible) {
  for (size_t keep : {size_t(0), size_t(7), size_t(300), size_t(100000)}) {
    SCOPED_TRACE("bytes of the failed append in the file: " + std::to_string(keep));
    FaultFs::WithEnv fault;
    TestLedger ledger({}, fault.env.get());
    ledger.Register("xt-finance");
    Journal& journal = ledger.journal();
    const std::vector<SignedEvent> acknowledged = Receipts(ledger, "ok", 3);
    const std::vector<SignedEvent> unsynced = Receipts(ledger, "unsynced", 3);
    const std::vector<SignedEvent> failing = Receipts(ledger, "failing", 40);
    const std::vector<SignedEvent> later = Receipts(ledger, "later", 3);
    std::vector<AppendResult> results;
    ASSERT_TRUE(journal.Append(acknowledged, &results).ok());
    uint64_t ticket = 0;
    ASSERT_TRUE(journal.AppendUnsynced(unsynced, &results, {}, &ticket).ok());
    const Journal::Head before = journal.head();
    fault.fs->FailNextAppend(keep);
    uint64_t failed_ticket = 0;
    Status s = journal.AppendUnsynced(failing, &results, {}, &failed_ticket);
    EXPECT_EQ(s.code(), "journal_failed") << s.ToString();
    EXPECT_NE(s.message().find("RocksDB's write failed"), std::string::npos) << s.ToString();
    EXPECT_EQ(journal.head().size, before.size);
    EXPECT_EQ(journal.head().root, before.root);
    EXPECT_EQ(Held(journal, IdsOf(failing)), 0u);
    EXPECT_EQ(journal.Sync(ticket).code(), "journal_failed");
    EXPECT_EQ(journal.Append(later, &results).code(), "journal_failed");
    std::string note;
    EXPECT_EQ(journal.WriteCheckpoint(&note).code(), "journal_failed");
    ExpectReopenedWithWholeBatches(ledger, acknowledged, {unsynced, failing}, later);
  }
}

// A checkpoint whose write fails is never given out, durable or not.
TEST(Durability, AFailedCheckpointWriteFailsTheJournal) {
  FaultFs::WithEnv fault;
  TestLedger ledger({}, fault.env.get());
  ledger.Register("xt-finance");
  Journal& journal = ledger.journal();
  std::vector<AppendResult> results;
  ASSERT_TRUE(journal.Append(Receipts(ledger, "ok", 3), &results).ok());
  fault.fs->FailNextAppend(5);
  std::string note;
  Status s = journal.WriteCheckpoint(&note);
  EXPECT_EQ(s.code(), "journal_failed") << s.ToString();
  EXPECT_TRUE(note.empty());
  std::string latest;
  EXPECT_FALSE(journal.LatestDurableCheckpoint(&latest).ok());
  EXPECT_FALSE(journal.CheckpointAtHeadIfDurable(&latest));
  ledger.set_env(nullptr);
  ledger.Reopen();
  ExpectVerifies(ledger.journal());
}

}  // namespace
}  // namespace fundledger::testing
