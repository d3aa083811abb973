#include "api/sequencer.h"

#include <cassert>
#include <chrono>

#include "ledger/rules.h"

namespace fundledger {

void ReadGate::LockShared() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !writer_ && writers_waiting_ == 0; });
  ++readers_;
}

void ReadGate::UnlockShared() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--readers_ == 0) cv_.notify_all();
}

void ReadGate::Lock() {
  std::unique_lock<std::mutex> lock(mu_);
  ++writers_waiting_;
  cv_.wait(lock, [&] { return !writer_ && readers_ == 0; });
  --writers_waiting_;
  writer_ = true;
}

void ReadGate::Unlock() {
  std::lock_guard<std::mutex> lock(mu_);
  writer_ = false;
  cv_.notify_all();
}

Sequencer::Sequencer(Journal& journal, ReadGate& gate, Metrics& metrics,
                     const SequencerOptions& options)
    : journal_(journal), gate_(gate), metrics_(metrics), options_(options) {
  gate_.Lock();
  directory_ = OrgDirectory::FromState(journal_.state());
  metrics_.set_journal_records(journal_.head().size);
  gate_.Unlock();
  thread_ = std::thread([this] { Run(); });
}

Sequencer::~Sequencer() { Stop(); }

bool Sequencer::Submit(std::vector<SignedEvent> events,
                       std::vector<std::optional<PublicKey>> verified_keys, Done done) {
  assert(!events.empty() && verified_keys.size() == events.size());
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || queued_events_ + events.size() > options_.queue_events_max) return false;
  queued_events_ += events.size();
  metrics_.set_queue_events(queued_events_);
  queue_.push_back(Request{std::move(events), std::move(verified_keys), std::move(done)});
  cv_.notify_one();
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
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<Sequencer::Request> Sequencer::TakeBatch() {
  std::vector<Request> batch;
  size_t events = 0;
  while (!queue_.empty()) {
    size_t n = queue_.front().events.size();
    if (!batch.empty() && events + n > options_.batch_events_max) break;
    events += n;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  queued_events_ -= events;
  metrics_.set_queue_events(queued_events_);
  return batch;
}

void Sequencer::Run() {
  for (;;) {
    std::vector<Request> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      batch = TakeBatch();
    }
    AppendBatch(batch);
  }
}

void Sequencer::AppendBatch(std::vector<Request>& batch) {
  std::vector<SignedEvent> events;
  std::vector<std::optional<PublicKey>> keys;
  for (Request& r : batch) {
    events.insert(events.end(), r.events.begin(), r.events.end());
    keys.insert(keys.end(), r.verified_keys.begin(), r.verified_keys.end());
  }
  std::vector<AppendResult> results;
  AppendOptions options;
  options.verified_keys = keys;
  int64_t write_us = 0;
  options.write_us = &write_us;
  auto start = std::chrono::steady_clock::now();
  gate_.Lock();
  Status s = journal_.Append(events, &results, options);
  bool registry_changed = false;
  for (size_t i = 0; s.ok() && i < events.size(); ++i) {
    registry_changed |=
        results[i].status.ok() && !results[i].duplicate && IsRegistryEvent(events[i]);
  }
  if (registry_changed) {
    auto directory = OrgDirectory::FromState(journal_.state());
    std::lock_guard<std::mutex> lock(mu_);
    directory_ = std::move(directory);
  }
  uint64_t records = journal_.head().size;
  gate_.Unlock();
  auto append_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  metrics_.OnBatch(events.size(), uint64_t(append_us), uint64_t(write_us));
  metrics_.set_journal_records(records);
  uint64_t appended = 0, duplicates = 0;
  for (const AppendResult& r : results) {
    if (!r.status.ok())
      metrics_.OnRejected(r.status.code());
    else if (r.duplicate)
      ++duplicates;
    else
      ++appended;
  }
  metrics_.OnAppended(appended, duplicates);
  size_t at = 0;
  for (Request& r : batch) {
    std::vector<AppendResult> slice;
    if (s.ok()) {
      slice.assign(results.begin() + long(at), results.begin() + long(at + r.events.size()));
    }
    at += r.events.size();
    r.done(s, std::move(slice));
  }
}

}  // namespace fundledger
