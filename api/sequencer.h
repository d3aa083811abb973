// Sequencer: the server's single writer. Request threads decode events and verify their
// signatures, then hand them to Submit(). The writer thread takes everything queued at that
// moment (up to batch_events_max events, whole requests only) and writes it as one batch with
// Journal::AppendUnsynced, so concurrent requests share one WriteBatch (group commit). The sync
// thread then makes written batches durable with Journal::Sync, one sync for every batch
// written meanwhile, while the writer sequences the next batch: the fsync of batch N overlaps
// the rules of batch N+1. Each request's callback gets its own slice of the results only after
// the sync that covers its batch has returned ok.
//
// Reads and writes: the views read the journal's state, which AppendUnsynced changes before
// the batch is durable. Readers hold a ReadGate shared; the sequencer holds it exclusive from
// the start of a batch's write until every batch written is durable, so a reader never sees a
// batch half applied nor one that a crash could still take back. While readers wait, the
// writer starts no new batch: they get in as soon as the batches in flight are synced, before
// the next one (a read waits for at most one batch and its sync). With no reader waiting, the
// writer keeps the gate from batch to batch and the syncs overlap the writes.
//
// Failure: if a write or sync fails, the journal fails for good (ledger/journal.h): the
// requests of that batch and of every batch after it get the journal's "journal_failed" error,
// never an acknowledgement, and the readers, let in once nothing is in flight, must check
// Journal::failure() and refuse (the server answers both with 500).
//
// Ownership: the caller owns the Journal, the ReadGate and the Metrics; they must outlive the
// Sequencer. Thread safety: Submit, directory and Stop may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "api/auth.h"
#include "api/metrics.h"
#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

// A readers-writer lock. A waiting writer keeps new readers out, and the readers that waited
// while the writer held it get in before the writer's next hold, so neither side starves.
class ReadGate final : public StateGate {
 public:
  void LockShared() override;
  void UnlockShared() override;
  void Lock();
  // May be called from another thread than Lock's.
  void Unlock();
  // True while a reader waits to get in.
  bool readers_waiting() const;
  // True while a writer waits to get in.
  bool writer_waiting() const;

  class Shared {  // RAII shared hold
   public:
    explicit Shared(ReadGate& gate) : gate_(gate) { gate_.LockShared(); }
    ~Shared() { gate_.UnlockShared(); }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;

   private:
    ReadGate& gate_;
  };

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
  uint64_t releases_ = 0;  // exclusive holds ended
  int readers_waiting_ = 0;
  int readers_admitted_ = 0;  // of the waiting readers, those a release let in
};

struct SequencerOptions {
  // Events waiting for the writer at most; Submit refuses beyond (the server answers 503).
  size_t queue_events_max = 50000;
  // Events per batch at most (whole requests; one larger request goes alone).
  size_t batch_events_max = 10000;
  // Events written and waiting for their sync at most; the writer waits beyond.
  size_t unsynced_events_max = 50000;
};

class Sequencer {
 public:
  // Called on the sync thread once the request's events are durable (or the batch failed: then
  // `status` is not ok and `results` is empty). Must not block.
  using Done = std::function<void(Status status, std::vector<AppendResult> results)>;

  Sequencer(Journal& journal, ReadGate& gate, Metrics& metrics, const SequencerOptions& options);
  ~Sequencer();  // Stop()
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Queues `events` (with the keys their signatures were verified with, one per event, see
  // AppendOptions::verified_keys); `events` must stay unchanged until `done` is called. False,
  // and `done` is not called, when the queue is full or the sequencer is stopping.
  // REQUIRES: events && !events->empty(), verified_keys.size() == events->size().
  bool Submit(std::shared_ptr<const std::vector<SignedEvent>> events,
              std::vector<std::optional<PublicKey>> verified_keys, Done done);

  // Called on the sync thread with a signed checkpoint note once it is durable. Must not block.
  using CheckpointDone = std::function<void(Status status, std::string note)>;

  // Queues a request for a checkpoint at the head, written with the next batch (so after every
  // event queued before it) and answered after that batch's sync: a checkpoint asked for under
  // ingest costs no sync of its own and holds no thread while it waits, and requests made at
  // once share one note. False, and `done` is not called, when kCheckpointsQueuedMax requests
  // are queued or the sequencer is stopping.
  bool RequestCheckpoint(CheckpointDone done);
  static constexpr size_t kCheckpointsQueuedMax = 4096;

  // The registry as of the last durable batch (refreshed after batches that change it).
  std::shared_ptr<const OrgDirectory> directory() const;

  // Appends everything already queued, completes it, and stops the threads. Idempotent.
  void Stop();

 private:
  // Events to append, or (events null) a checkpoint to sign.
  struct Request {
    std::shared_ptr<const std::vector<SignedEvent>> events;
    std::vector<std::optional<PublicKey>> verified_keys;
    Done done;
    CheckpointDone checkpoint_done;
    size_t size() const { return events ? events->size() : 0; }
  };
  // A batch written, waiting for the sync that makes it durable.
  struct Written {
    std::vector<Request> requests;
    size_t events = 0;
    Status status;  // of the write
    std::vector<AppendResult> results;
    uint64_t sync_ticket = 0;
    Status checkpoint_status;  // of the checkpoint's write, if one was asked for
    std::string checkpoint;    // its note
    uint64_t records = 0;      // the journal's size after it
    std::shared_ptr<const OrgDirectory> directory;  // the registry after it, if it changed it
  };

  void RunWriter();
  void RunSyncer();
  // Takes whole requests from the queue, up to batch_events_max events. REQUIRES: mu_ held.
  std::vector<Request> TakeBatch();
  // Holds the read gate exclusive for the next write, first letting waiting readers in.
  void HoldGateForWrite();
  Written Write(std::vector<Request> batch);
  void Complete(Written& written, const Status& synced);
  // Lets readers in if nothing is being written or waits for its sync. REQUIRES: mu_ held.
  void ReleaseGateIfDurable();

  Journal& journal_;
  ReadGate& gate_;
  Metrics& metrics_;
  const SequencerOptions options_;

  mutable std::mutex mu_;              // guards everything below
  std::condition_variable writer_cv_;  // queue, gate and in-flight limits changed
  std::condition_variable syncer_cv_;  // a batch written, or the writer done
  std::deque<Request> queue_;
  size_t queued_events_ = 0;
  size_t queued_checkpoints_ = 0;
  std::deque<Written> unsynced_;  // written, not yet taken by the sync thread
  size_t in_flight_batches_ = 0;  // written and not yet completed (unsynced_ and syncing)
  size_t in_flight_events_ = 0;
  bool writing_ = false;    // the writer is between HoldGateForWrite and its handing over
  bool gate_held_ = false;  // the sequencer holds the gate exclusive
  bool stopping_ = false;
  bool writer_done_ = false;
  std::shared_ptr<const OrgDirectory> directory_;
  std::thread writer_, syncer_;
};

}  // namespace fundledger
