// Sequencer: the server's single writer. Request threads decode events and verify their
// signatures, then hand them to Submit(); one thread takes everything queued at that moment
// (up to batch_events_max events, whole requests only) and appends it as one Journal::Append,
// so concurrent requests share one synced WriteBatch (group commit). Each request's callback
// then gets its own slice of the results, after the batch is durable.
//
// Reads and writes: the views read the journal's committed state, which Append changes, so
// readers hold a ReadGate shared and the sequencer holds it exclusive around each Append (and
// while it refreshes the org directory). A read waits for at most the batch being written;
// writers are not starved by a stream of readers (a waiting writer keeps new readers out).
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

// A readers-writer lock that lets a waiting writer in before readers that come after it.
class ReadGate {
 public:
  void LockShared();
  void UnlockShared();
  void Lock();
  void Unlock();

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
  std::mutex mu_;
  std::condition_variable cv_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
};

struct SequencerOptions {
  // Events waiting for the writer at most; Submit refuses beyond (the server answers 503).
  size_t queue_events_max = 50000;
  // Events per Append at most (whole requests; one larger request goes alone).
  size_t batch_events_max = 10000;
};

class Sequencer {
 public:
  // Called on the sequencer's thread once the request's events are durable (or the batch
  // failed: then `status` is not ok and `results` is empty). Must not block.
  using Done = std::function<void(Status status, std::vector<AppendResult> results)>;

  Sequencer(Journal& journal, ReadGate& gate, Metrics& metrics, const SequencerOptions& options);
  ~Sequencer();  // Stop()
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // Queues `events` (with the keys their signatures were verified with, one per event, see
  // AppendOptions::verified_keys). False, and `done` is not called, when the queue is full or
  // the sequencer is stopping.
  // REQUIRES: !events.empty(), verified_keys.size() == events.size().
  bool Submit(std::vector<SignedEvent> events, std::vector<std::optional<PublicKey>> verified_keys,
              Done done);

  // The registry as of the last durable batch (refreshed after batches that change it).
  std::shared_ptr<const OrgDirectory> directory() const;

  // Appends everything already queued, completes it, and stops the thread. Idempotent.
  void Stop();

 private:
  struct Request {
    std::vector<SignedEvent> events;
    std::vector<std::optional<PublicKey>> verified_keys;
    Done done;
  };

  void Run();
  // Takes whole requests from the queue, up to batch_events_max events. REQUIRES: mu_ held.
  std::vector<Request> TakeBatch();
  void AppendBatch(std::vector<Request>& batch);

  Journal& journal_;
  ReadGate& gate_;
  Metrics& metrics_;
  const SequencerOptions options_;

  mutable std::mutex mu_;  // guards the queue, stopping_ and directory_
  std::condition_variable cv_;
  std::deque<Request> queue_;
  size_t queued_events_ = 0;
  bool stopping_ = false;
  std::shared_ptr<const OrgDirectory> directory_;
  std::thread thread_;
};

}  // namespace fundledger
