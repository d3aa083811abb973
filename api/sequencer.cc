#include "api/sequencer.h"

#include <algorithm>
#include <cassert>
#include <chrono>

#include "ledger/rules.h"

namespace fundledger {

namespace {

uint64_t MicrosecondsSince(std::chrono::steady_clock::time_point start) {
  return uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count());
}

}  // namespace

void ReadGate::LockShared() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!writer_ && writers_waiting_ == 0) {
    ++readers_;
    return;
  }
  const uint64_t since = releases_;
  ++readers_waiting_;
  // In when no writer holds or waits, or when a release since this reader came lets it in
  // ahead of the waiting writer.
  cv_.wait(lock, [&] { return !writer_ && (writers_waiting_ == 0 || releases_ != since); });
  --readers_waiting_;
  if (releases_ != since) --readers_admitted_;
  ++readers_;
}

void ReadGate::UnlockShared() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--readers_ == 0) cv_.notify_all();
}

void ReadGate::Lock() {
  std::unique_lock<std::mutex> lock(mu_);
  ++writers_waiting_;
  cv_.wait(lock, [&] { return !writer_ && readers_ == 0 && readers_admitted_ == 0; });
  --writers_waiting_;
  writer_ = true;
}

void ReadGate::Unlock() {
  std::lock_guard<std::mutex> lock(mu_);
  writer_ = false;
  ++releases_;
  readers_admitted_ = readers_waiting_;  // every reader waiting now goes before the next writer
  cv_.notify_all();
}

bool ReadGate::readers_waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return readers_waiting_ > 0;
}

bool ReadGate::writer_waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writers_waiting_ > 0;
}

Sequencer::Sequencer(Journal& journal, ReadGate& gate, Metrics& metrics,
                     const SequencerOptions& options)
    : journal_(journal), gate_(gate), metrics_(metrics), options_(options) {
  gate_.Lock();
  directory_ = OrgDirectory::FromState(journal_.state());
  metrics_.set_journal_records(journal_.head().size);
  gate_.Unlock();
  writer_ = std::thread([this] { RunWriter(); });
  syncer_ = std::thread([this] { RunSyncer(); });
}

Sequencer::~Sequencer() { Stop(); }

bool Sequencer::Submit(std::shared_ptr<const std::vector<SignedEvent>> events,
                       std::vector<std::optional<PublicKey>> verified_keys, Done done) {
  assert(events && !events->empty() && verified_keys.size() == events->size());
  const size_t n = events->size();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || queued_events_ + n > options_.queue_events_max) return false;
  queued_events_ += n;
  metrics_.set_queue_events(queued_events_);
  queue_.push_back(Request{std::move(events), std::move(verified_keys), std::move(done), {}});
  writer_cv_.notify_all();
  return true;
}

bool Sequencer::RequestCheckpoint(CheckpointDone done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || queued_checkpoints_ >= kCheckpointsQueuedMax) return false;
  ++queued_checkpoints_;
  queue_.push_back(Request{nullptr, {}, {}, std::move(done)});
  writer_cv_.notify_all();
  return true;
}

std::shared_ptr<const OrgDirectory> Sequencer::directory() const {
  std::lock_guard<std::mutex> lock(mu_);
  return directory_;
}

void Sequencer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    writer_cv_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  if (syncer_.joinable()) syncer_.join();
}

std::vector<Sequencer::Request> Sequencer::TakeBatch() {
  std::vector<Request> batch;
  size_t events = 0;
  while (!queue_.empty()) {
    size_t n = queue_.front().size();
    if (!batch.empty() && events + n > options_.batch_events_max) break;
    events += n;
    if (!queue_.front().events) --queued_checkpoints_;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  queued_events_ -= events;
  metrics_.set_queue_events(queued_events_);
  return batch;
}

void Sequencer::RunWriter() {
  for (;;) {
    std::vector<Request> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      writer_cv_.wait(lock, [&] {
        return (stopping_ && queue_.empty()) ||
               (!queue_.empty() && in_flight_events_ < options_.unsynced_events_max);
      });
      if (queue_.empty()) {  // stopping, and everything queued is written
        writer_done_ = true;
        ReleaseGateIfDurable();
        syncer_cv_.notify_all();
        return;
      }
      batch = TakeBatch();
    }
    HoldGateForWrite();
    Written written = Write(std::move(batch));
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    ++in_flight_batches_;
    in_flight_events_ += written.events;
    unsynced_.push_back(std::move(written));
    syncer_cv_.notify_all();
  }
}

void Sequencer::HoldGateForWrite() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    // Waiting readers go first: the gate is let go once the batches in flight are durable.
    if (gate_held_ && gate_.readers_waiting()) {
      writer_cv_.wait(lock, [&] { return !gate_held_; });
    }
    if (gate_held_) {
      writing_ = true;
      return;
    }
  }
  gate_.Lock();  // waits for the readers inside (and those let in first) to finish
  std::lock_guard<std::mutex> lock(mu_);
  gate_held_ = true;
  writing_ = true;
}

Sequencer::Written Sequencer::Write(std::vector<Request> batch) {
  Written written;
  written.requests = std::move(batch);
  // The event requests are appended from the first one's own vector when it is alone, else put
  // together; the checkpoint requests are written after them, at the head the batch leaves.
  const Request* first = nullptr;
  size_t event_requests = 0;
  bool checkpoint = false;
  for (const Request& r : written.requests) {
    written.events += r.size();
    if (r.events) {
      if (first == nullptr) first = &r;
      ++event_requests;
    } else {
      checkpoint = true;
    }
  }
  std::vector<SignedEvent> joined;
  std::vector<std::optional<PublicKey>> joined_keys;
  std::span<const SignedEvent> events;
  std::span<const std::optional<PublicKey>> keys;
  if (event_requests == 1) {
    events = *first->events;
    keys = first->verified_keys;
  } else if (event_requests > 1) {
    joined.reserve(written.events);
    joined_keys.reserve(written.events);
    for (const Request& r : written.requests) {
      if (!r.events) continue;
      joined.insert(joined.end(), r.events->begin(), r.events->end());
      joined_keys.insert(joined_keys.end(), r.verified_keys.begin(), r.verified_keys.end());
    }
    events = joined;
    keys = joined_keys;
  }
  auto start = std::chrono::steady_clock::now();
  bool registry_changed = false;
  if (!events.empty()) {
    AppendOptions options;
    options.verified_keys = keys;
    written.status =
        journal_.AppendUnsynced(events, &written.results, options, &written.sync_ticket);
    for (size_t i = 0; written.status.ok() && i < events.size(); ++i) {
      const AppendResult& r = written.results[i];
      registry_changed |= r.status.ok() && !r.duplicate && IsRegistryEvent(events[i]);
    }
  }
  if (checkpoint) {
    uint64_t ticket = 0;
    written.checkpoint_status = journal_.AppendCheckpointUnsynced(&written.checkpoint, &ticket);
    written.sync_ticket = std::max(written.sync_ticket, ticket);
  }
  // Built now, while the gate keeps readers out and no other batch is sequenced; published once
  // the batch is durable.
  if (registry_changed) written.directory = OrgDirectory::FromState(journal_.state());
  written.records = journal_.head().size;
  if (!events.empty()) metrics_.OnBatch(written.events, MicrosecondsSince(start));
  return written;
}

void Sequencer::RunSyncer() {
  for (;;) {
    std::deque<Written> group;
    {
      std::unique_lock<std::mutex> lock(mu_);
      syncer_cv_.wait(lock, [&] { return !unsynced_.empty() || writer_done_; });
      if (unsynced_.empty()) return;  // the writer is done and everything is completed
      group.swap(unsynced_);
    }
    // One sync covers every batch written so far.
    uint64_t ticket = 0;
    for (const Written& w : group) ticket = std::max(ticket, w.sync_ticket);
    auto start = std::chrono::steady_clock::now();
    Status synced = journal_.Sync(ticket);
    metrics_.OnSync(MicrosecondsSince(start));
    size_t events = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const Written& w : group) {
        events += w.events;
        // Published before any answer, so that an org acknowledged as registered can sign.
        if (synced.ok() && w.status.ok() && w.directory) directory_ = w.directory;
      }
    }
    for (Written& w : group) Complete(w, synced);
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_batches_ -= group.size();
    in_flight_events_ -= events;
    ReleaseGateIfDurable();
    writer_cv_.notify_all();
  }
}

void Sequencer::ReleaseGateIfDurable() {
  if (!gate_held_ || writing_ || in_flight_batches_ > 0) return;
  gate_.Unlock();
  gate_held_ = false;
}

void Sequencer::Complete(Written& written, const Status& synced) {
  Status s = written.status.ok() ? synced : written.status;
  if (s.ok()) {
    metrics_.set_journal_records(written.records);
    uint64_t appended = 0, duplicates = 0;
    for (const AppendResult& r : written.results) {
      if (!r.status.ok()) {
        metrics_.OnRejected(r.status.code());
      } else if (r.duplicate) {
        ++duplicates;
      } else {
        ++appended;
      }
    }
    metrics_.OnAppended(appended, duplicates);
  }
  size_t at = 0;
  for (Request& r : written.requests) {
    if (!r.events) {
      const Status& written_status = written.checkpoint_status;
      r.checkpoint_done(written_status.ok() ? synced : written_status, written.checkpoint);
      continue;
    }
    const size_t n = r.events->size();
    std::vector<AppendResult> slice;
    if (s.ok()) {
      slice.assign(std::make_move_iterator(written.results.begin() + long(at)),
                   std::make_move_iterator(written.results.begin() + long(at + n)));
    }
    at += n;
    r.done(s, std::move(slice));
  }
}

}  // namespace fundledger
