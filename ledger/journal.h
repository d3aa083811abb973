// Journal: the append-only, Merkle-verifiable event log in RocksDB (layout: storage_format.h).
//
// Append() takes a batch of signed events, checks their signatures on every core from the front
// while the calling thread sequences the events already checked through the rules one by one
// (ledger/parallel.h, WorkAhead), and writes every accepted event's record, id, tree nodes
// and state changes, plus any automatic checkpoint, in one WriteBatch, then syncs the WAL. When
// it returns ok, every event whose result is ok is durable. A rejected event changes nothing;
// the other events of its batch are unaffected.
//
// A single writer that wants to sequence the next batch while the last one syncs (the server's
// group commit) splits Append in two: AppendUnsynced() sequences and writes a batch without
// syncing and returns a sync ticket; Sync(ticket), from any thread and outside the append lock,
// makes that batch and every one written before it durable. Until Sync returns ok for a batch's
// ticket, none of its results may be told to anyone: not its appends, not its duplicates, not
// its rejections (which may rest on the batches before it).
//
// An import, which has many batches at hand at once, hands them all to AppendInBatches: the
// signatures of every batch are checked ahead while it sequences, and each batch's sync runs
// beside the sequencing of the next, with the results and the durability of one Append a batch.
//
// Written but not yet synced, a batch is visible to every read of this journal (head, records,
// rows, state). A caller that must not show what might still be lost keeps its readers out
// until the sync returns (the server's ReadGate does). A crash before the sync loses whole
// batches from the end, never part of one, never one before a kept one, never a synced one.
//
// Failure: if a write or a sync fails, the journal fails for good: every later AppendUnsynced,
// Sync, Append, WriteCheckpoint and WriteProjectionRows returns IOError "journal_failed" naming
// what failed, and failure() says so. After a failed fsync the kernel may have dropped the pages
// it could not write and a retried fsync can report success for data that is gone (as
// PostgreSQL concluded in 2018, and since then panics rather than retrying), so what is on disk
// is known only after the ledger is opened again: recovery replays the WAL as it is, keeping
// every acknowledged event. RocksDB's own background work counts too: a flush syncs the WAL
// files it closes, and a failed flush or compaction (RocksDB's background error) fails the
// journal as a failed write would.
//
// Thread safety: all methods may be called from any thread; appends are serialised internally,
// and so are syncs. A data directory is opened read-write by one process at a time (RocksDB's
// lock); read-only opens see the state as of their opening.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/checkpoint.h"
#include "crypto/merkle.h"
#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/event.h"
#include "ledger/projection.h"
#include "ledger/state.h"

namespace rocksdb {
class Cache;
class DB;
class Env;
class Iterator;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace fundledger {

inline constexpr size_t kAppendBatchEventsMax = 100000;

struct AppendResult {
  Status status;     // ok, or why this event was rejected
  uint64_t seq = 0;  // when ok
  Hash leaf_hash{};  // when ok
  bool duplicate =
      false;  // the id was already recorded with identical content: seq is the original
};

struct JournalOptions {
  bool read_only = false;
  // Threads used to verify signatures in Append (0: all cores).
  unsigned verify_threads = 0;
  // Wall clock, ms since the Unix epoch; replaceable in tests.
  std::function<int64_t()> now_ms;
  // The read side's views, kept in step with every append (projection.h). Not owned; must
  // outlive the Journal. nullptr: no views.
  ProjectionHook* projection = nullptr;
  // Measuring only (`fundledger bench append`): check signatures and the registry's rules but
  // not the fund domain's, and keep no account state, to see what the fund rules cost. A ledger
  // written so does not verify.
  bool skip_fund_rules_for_benchmark = false;
  // The RocksDB environment (file system) to use; not owned, must outlive the Journal.
  // nullptr: the default. Tests put a fault-injecting file system here.
  rocksdb::Env* env = nullptr;
};

struct AppendOptions {
  // If any event is rejected, append none: the rejected events carry their reasons and every
  // other event of the batch gets Rejected "batch_not_appended".
  bool all_or_nothing = false;

  // Signatures the caller has already checked (a server verifies on its request threads, so
  // that its single writer does not). Empty: Append checks every signature itself. Otherwise
  // one entry per event: a key means the caller verified the event's signature with that key;
  // Append then checks the signature again only if that is not the signer's key at the event's
  // point of the log (a key rotated meanwhile). An entry without a key is checked by Append.
  // REQUIRES: empty or events.size() entries; a key given only for a signature that verifies
  // with it.
  std::span<const std::optional<PublicKey>> verified_keys{};
};

// What keeps the journal's committed in-memory state (Journal::state()) still for a reader on
// another thread than the appending one: the server's read gate (api/sequencer.h), which its
// writer holds exclusively while it appends. A reader that takes it only for as long as it reads
// that state takes it through this.
class StateGate {
 public:
  virtual void LockShared() = 0;
  virtual void UnlockShared() = 0;

  class Shared {  // RAII shared hold; none without a gate
   public:
    explicit Shared(StateGate* gate) : gate_(gate) {
      if (gate_ != nullptr) gate_->LockShared();
    }
    ~Shared() {
      if (gate_ != nullptr) gate_->UnlockShared();
    }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;

   private:
    StateGate* gate_;
  };

 protected:
  ~StateGate() = default;
};

class Journal : public StateReader {
 public:
  // Creates an empty ledger in `dir` (which must not already hold one) whose checkpoints carry
  // `origin` and are signed by `log_key`; the key is stored in DIR/log.key with mode 0600.
  // The first event appended must be the operator's self-signed genesis.
  static Status Create(const std::string& dir, std::string_view origin, const NoteSigner& log_key,
                       const JournalOptions& options, std::unique_ptr<Journal>* out);
  // Opens an existing ledger. NotFound if `dir` holds none; Corruption "format_version_unknown"
  // for a format this build does not know.
  static Status Open(const std::string& dir, const JournalOptions& options,
                     std::unique_ptr<Journal>* out);

  ~Journal() override;
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Appends `events` in order and syncs them. `results` gets one entry per event. Returns
  // non-ok only if the batch could not be written or synced (then `results` is meaningless and
  // no event of it may be taken as appended; after a failed write or sync the journal has
  // failed, see above) or the journal is read-only.
  // REQUIRES: events.size() <= kAppendBatchEventsMax.
  Status Append(std::span<const SignedEvent> events, std::vector<AppendResult>* results,
                const AppendOptions& options = AppendOptions());
  // Append without the sync: sequences and writes the batch, makes it the current state, and
  // sets `*sync_ticket` to what Sync must be given before any of `results` may be told. Returns
  // as Append does; on a failed write nothing of the batch is staged or current.
  // REQUIRES: events.size() <= kAppendBatchEventsMax.
  Status AppendUnsynced(std::span<const SignedEvent> events, std::vector<AppendResult>* results,
                        const AppendOptions& options, uint64_t* sync_ticket);
  // For a caller with many events at hand (an import): appends them in batches of at most
  // `batch_events`, each batch its own WriteBatch, durable as a whole, with the results that
  // appending the batches one after another with Append would give. Pipelined: the signatures
  // of all the events are checked ahead on every core while this thread sequences, and each
  // batch's sync runs on a thread of its own while the next batch is sequenced. `progress`, if
  // set, gets the number of events written so far after each batch (not yet synced). Returns
  // once every batch written is durable; non-ok as Append does, and then only the batches
  // before the one that failed may have been written.
  // REQUIRES: 1 <= batch_events <= kAppendBatchEventsMax.
  Status AppendInBatches(std::span<const SignedEvent> events, size_t batch_events,
                         std::vector<AppendResult>* results,
                         const std::function<void(size_t written)>& progress = {});
  // Makes every batch written up to `sync_ticket` durable (one WAL sync covers every batch
  // written so far; a ticket already covered returns at once). IOError "journal_failed" if the
  // journal has failed or the sync fails.
  // REQUIRES: a ticket from AppendUnsynced of this journal.
  Status Sync(uint64_t sync_ticket);
  // Ok while the journal accepts writes; the IOError "journal_failed" once a write or sync has
  // failed.
  Status failure() const;

  struct Head {
    uint64_t size = 0;
    Hash root{};
  };
  Head head() const;
  // RocksDB's estimate of the rows in the records family: for sizing tables by what is stored,
  // where the head (the last record's key) may not be trusted.
  uint64_t EstimatedRecords() const;

  // The stored record bytes of `seq` (1-based). NotFound if seq is not in the log.
  Status ReadRecord(uint64_t seq, std::string* bytes) const;
  // Calls `fn(seq, bytes)` for records from `from_seq` (at least 1) on, in order, until it
  // returns false.
  Status ScanRecords(uint64_t from_seq,
                     const std::function<bool(uint64_t seq, std::string_view bytes)>& fn) const;
  Status FindEvent(std::string_view id, uint64_t* seq) const;

  const NodeReader& tree() const;
  // Inclusion proof of record `seq` in the tree of `tree_size` records (0: the head).
  Status InclusionProof(uint64_t seq, uint64_t tree_size, std::vector<Hash>* proof, Hash* leaf_hash,
                        Hash* root) const;
  Status ConsistencyProof(uint64_t size1, uint64_t size2, std::vector<Hash>* proof, Hash* root1,
                          Hash* root2) const;

  // Signs a checkpoint at the head if the head is past the latest one; returns the latest, once
  // it is durable with all it signs.
  Status WriteCheckpoint(std::string* note);
  // The same, written as a batch of its own (AppendUnsynced) and not synced: the note is durable
  // once Sync(*sync_ticket) returns ok, and must not be given out before.
  Status AppendCheckpointUnsynced(std::string* note, uint64_t* sync_ticket);
  // The latest checkpoint if it is at the head and durable with nothing written since, without
  // waiting for anything (false while an append is under way); false otherwise (a checkpoint
  // must then be written).
  bool CheckpointAtHeadIfDurable(std::string* note) const;
  // The newest checkpoint known to be durable, without waiting for anything: it lags the latest
  // by at most the sync under way. NotFound "no_checkpoint" if none; the journal's failure once
  // it has failed.
  Status LatestDurableCheckpoint(std::string* note) const;
  // NotFound when no checkpoint has been written yet. The note may be one a batch wrote and has
  // not synced yet: a caller that must give out only durable notes keeps readers out until
  // batches are synced (the server's ReadGate does), or uses WriteCheckpoint.
  Status LatestCheckpoint(std::string* note) const;
  // The checkpoint stored for tree size `size`: NotFound "checkpoint_unknown" if there is none.
  Status ReadCheckpoint(uint64_t size, std::string* note) const;
  Status ScanCheckpoints(const std::function<bool(uint64_t size, std::string_view note)>& fn) const;

  // What RocksDB holds in memory for this journal (thread-safe; for /metrics and the soak).
  struct Memory {
    uint64_t memtables_bytes = 0;      // active and immutable memtables, all families
    uint64_t block_cache_bytes = 0;    // the one block cache's usage (at most kBlockCacheBytes)
    uint64_t table_readers_bytes = 0;  // table files' indexes and filters outside the cache
  };
  Memory MemoryUsage() const;

  const std::string& origin() const { return origin_; }
  const NoteVerifier& log_verifier() const { return log_verifier_; }
  // Committed state. REQUIRES: no concurrent Append.
  const LedgerState& state() const { return state_; }
  // One stored row of a column family (StateReader): for state and views that read rows back
  // on demand.
  Status Get(std::string_view family, std::string_view key, std::string* value,
             bool* found) const override;
  // Stored rows of a column family from `start` on, in key order, until `fn` returns false.
  Status ScanFamilyFrom(
      std::string_view family, std::string_view start,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  // Every stored row of a column family, in key order (verification and tests).
  Status ScanFamily(
      std::string_view family,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) const;
  // A forward cursor over one column family's stored rows in key order, on an implicit
  // snapshot taken when it is made (writes after that are not seen). For walking stored rows
  // side by side with rows computed in order (verification, replay). The views it returns stay
  // valid until the next Next(). The cursor must not outlive the journal.
  class RowCursor {
   public:
    ~RowCursor();
    bool Valid() const;
    std::string_view key() const;
    std::string_view value() const;
    void Next();
    // Ok, or the error that ended the walk early.
    Status status() const;

   private:
    friend class Journal;
    explicit RowCursor(std::unique_ptr<rocksdb::Iterator> it);
    std::unique_ptr<rocksdb::Iterator> it_;
  };
  // A cursor at the first row of `family` at or after `start`. `fill_cache` false for walks
  // over a whole family, which would evict the working set.
  std::unique_ptr<RowCursor> NewCursor(std::string_view family, std::string_view start = {},
                                       bool fill_cache = false) const;
  // Puts and deletes rows of the projections family in one synced WriteBatch: for replacing
  // the views with ones rebuilt from the records (replay). InvalidArgument on a read-only copy
  // or for another family.
  Status WriteProjectionRows(const std::vector<LedgerState::Row>& puts,
                             const std::vector<std::string>& deletes);
  // Writes one raw row, bypassing every rule. Only for tamper tests of verification.
  Status PutRawForTesting(std::string_view family, std::string_view key, std::string_view value);
  // Deletes one raw row, bypassing every rule. Only for tamper tests of verification.
  Status DeleteRawForTesting(std::string_view family, std::string_view key);
  // Flushes every family's memtable into table files now, as a full memtable would, and waits
  // for it (RocksDB's flush also syncs the WAL files it closes). Only for durability tests.
  Status FlushForTesting();

 private:
  class TreeReader;
  class BackgroundErrors;
  struct Families;
  struct Staging;

  Journal();
  static Status OpenDb(const std::string& dir, bool create, const JournalOptions& options,
                       std::unique_ptr<Journal>* out);
  Status Load();
  // Adds to `batch` a format 2 ledger's project rows with their registration day and its
  // finding rows with their day (each read from the record its row names): format 3.
  Status UpgradeFromFormat2(rocksdb::WriteBatch* batch);
  // Adds to `batch` the project rows of a ledger of format 3 (or 2, after the above) with the
  // days format 5 keeps: registration, phase, approval and last money, read from the records
  // (format 4's too: its last money days counted refunds and reversals).
  Status UpgradeFromFormat3(rocksdb::WriteBatch* batch);
  rocksdb::ColumnFamilyHandle* Family(std::string_view name) const;
  Status SignCheckpointAt(uint64_t size, const Hash& root, std::string* note) const;
  Status LookupDuplicate(const SignedEvent& event, uint64_t* seq, bool* found) const;
  Status SequenceEvent(std::span<const SignedEvent> events, size_t i, const PublicKey& verified_key,
                       uint8_t verified, Staging* staging, std::vector<AppendResult>* results);
  static bool RefuseAllIfAnyRejected(std::span<const SignedEvent> events, uint64_t size_before,
                                     std::vector<AppendResult>* results);
  struct Checks;
  Status CheckWritable() const;
  Status SequenceAndWrite(std::span<const SignedEvent> events, size_t begin, size_t end,
                          Checks* checks, bool all_or_nothing, std::vector<AppendResult>* results,
                          uint64_t* sync_ticket);
  Status FinishBatch(Staging* staging, int64_t* checkpoint_ms);
  // Makes the journal fail for good (see above) with `cause`; returns the failure.
  Status Fail(const Status& cause);
  // Each event's signer key in the committed state, or `valid` 2 where there is none.
  void ResolveSignerKeys(std::span<const SignedEvent> events, std::vector<PublicKey>* keys,
                         std::vector<uint8_t>* valid) const;
  // Checks the signatures of events [begin, end) that have a key; sets `valid` 1 or 0. Touches
  // nothing else, so several threads may check disjoint ranges at once.
  static void CheckSignatures(std::span<const SignedEvent> events, size_t begin, size_t end,
                              const std::vector<PublicKey>& keys, std::vector<uint8_t>* valid);
  static void UsePreverifiedKeys(size_t events, std::span<const std::optional<PublicKey>> verified,
                                 std::vector<PublicKey>* keys, std::vector<uint8_t>* valid);
  int64_t NowMs() const;

  JournalOptions options_;
  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::unique_ptr<Families> families_;
  std::unique_ptr<TreeReader> tree_;
  std::string origin_;
  NoteVerifier log_verifier_;
  std::optional<NoteSigner> log_signer_;  // absent on read-only copies

  mutable std::mutex mu_;  // serialises appends and guards the head
  LedgerState state_;      // reads committed event facts back through Get()
  CompactRange range_;
  int64_t last_recorded_at_ms_ = 0;
  uint64_t last_checkpoint_size_ = 0;
  int64_t last_checkpoint_ms_ = 0;
  // Batches written, counted under mu_; read by Sync without it.
  std::atomic<uint64_t> written_batches_{0};

  std::mutex sync_mu_;                        // serialises syncs
  uint64_t synced_batches_ = 0;               // guarded by sync_mu_: the batches a sync has covered
  std::atomic<uint64_t> durable_batches_{0};  // the same, for readers without sync_mu_
  // The newest checkpoint note written and its batch's ticket, until a sync covers it; then it
  // is the durable one. Set under mu_, promoted under sync_mu_.
  void CheckpointWritten(uint64_t sync_ticket, std::string note);
  // Makes the pending note durable if a sync covered its batch (`synced` batches).
  void PromoteDurableCheckpoint(uint64_t synced);
  mutable std::mutex durable_mu_;  // guards the three below (taken last)
  uint64_t pending_ticket_ = 0;
  std::string pending_note_;
  std::string durable_note_;

  static constexpr size_t kFailureCausesMax = 4;
  mutable std::mutex failure_mu_;  // guards failure_ and failure_causes_
  Status failure_;
  std::vector<std::string> failure_causes_;  // what failed, in order
  std::atomic<bool> failed_{false};
};

}  // namespace fundledger
