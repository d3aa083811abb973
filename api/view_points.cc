#include "api/view_points.h"

#include <algorithm>

namespace fundledger {

ViewPoints::ViewPoints(size_t bytes_max, size_t points_max, int64_t idle_ms)
    : bytes_max_(bytes_max), points_max_(points_max), idle_(std::chrono::milliseconds(idle_ms)) {}

std::shared_ptr<const ViewPoint> ViewPoints::Find(
    const Key& key, std::shared_ptr<const DisbursementsIndex>* index) {
  std::list<Entry> dropped;  // freed after the lock is let go
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = Clock::now();
  EvictLocked(now, &dropped);
  auto it =
      std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
  if (it == entries_.end()) return nullptr;
  it->read_at = now;
  entries_.splice(entries_.begin(), entries_, it);
  ++reuses_;
  if (index != nullptr) *index = it->index;
  return it->point;
}

void ViewPoints::Keep(const Key& key, const std::shared_ptr<ViewPoint>& point,
                      std::shared_ptr<const DisbursementsIndex> index) {
  // Outside the lock: the first call encodes every row of the fold.
  const size_t bytes = point->PrepareSharedReads() + (index ? index->bytes() : 0);
  std::list<Entry> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  const Clock::time_point now = Clock::now();
  auto same =
      std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
  if (same != entries_.end()) {  // folded twice at once: keep the one kept first
    same->read_at = now;
    entries_.splice(entries_.begin(), entries_, same);
    return;
  }
  if (bytes > bytes_max_ || points_max_ == 0 || idle_ <= Clock::duration::zero()) return;
  entries_.push_front(Entry{key, point, std::move(index), bytes, now});
  bytes_ += bytes;
  EvictLocked(now, &dropped);
}

void ViewPoints::CountFold() {
  std::lock_guard<std::mutex> lock(mu_);
  ++folds_;
}

size_t ViewPoints::DropIdle() {
  std::list<Entry> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  EvictLocked(Clock::now(), &dropped);
  return dropped.size();
}

void ViewPoints::EvictLocked(Clock::time_point now, std::list<Entry>* out) {
  // Entries are in order of their last read, so the idle ones are at the back.
  while (!entries_.empty() && (entries_.size() > points_max_ || bytes_ > bytes_max_ ||
                               now - entries_.back().read_at >= idle_)) {
    bytes_ -= entries_.back().bytes;
    out->splice(out->begin(), entries_, std::prev(entries_.end()));
  }
}

size_t ViewPoints::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

uint64_t ViewPoints::folds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return folds_;
}

uint64_t ViewPoints::reuses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return reuses_;
}

}  // namespace fundledger
