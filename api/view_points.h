// ViewPoints: the scopes that GET /v1/views/ folded as of an earlier point, kept for the pages
// that follow.
//
// A view as of an earlier point is a fold of the scope's records up to it (replay/views.h), and
// each page of a long disbursements list names that same point (its Link pins as_of_seq). So
// does every page after the first of a list asked for at the head, once the head has moved on.
// Without this cache every page folded the scope again, and paging a list of n pages folded it n
// times; with it, the pages after the first read the fold the first one made. Only the fold of
// a page with a next page is kept: most as-of views are read once, and keeping those would only
// hold memory (the other views of a kept point read it too).
//
// A folded point never changes: it holds only records up to its seq, which are durable and
// never rewritten. So a kept point is always right for its key, and is dropped only to bound
// memory: at most kViewPointsMax points and kViewPointsBytesMax bytes (as estimated by
// ViewPoint::PrepareSharedReads), the least recently read first, and none left unread for
// kViewPointsIdleMs (the server calls DropIdle every kViewPointsSweepMs, and Find and Keep drop
// them too). A point larger than the whole budget is not kept. A point is freed outside the
// cache's lock: freeing a large fold takes a while, and the other readers need not wait for it.
// Pages asked for at once before the first fold is kept each fold the point; one is kept.
//
// The key is the scope and the point, not the org: the org's right to read the scope is
// checked on every request before the cache is consulted, and what is rendered does not depend
// on who asks.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "replay/reports.h"
#include "replay/views.h"

namespace fundledger {

inline constexpr size_t kViewPointsMax = 16;
inline constexpr size_t kViewPointsBytesMax = 256 << 20;
inline constexpr int64_t kViewPointsIdleMs = 60'000;
inline constexpr int64_t kViewPointsSweepMs = 5'000;

class ViewPoints {
 public:
  struct Key {
    Scope scope;
    uint64_t as_of_seq = 0;  // never 0: the point's own seq
    std::optional<int64_t> as_of_day;
    bool operator==(const Key&) const = default;
  };

  // A point unread for idle_ms is dropped; idle_ms <= 0 keeps none.
  explicit ViewPoints(size_t bytes_max = kViewPointsBytesMax, size_t points_max = kViewPointsMax,
                      int64_t idle_ms = kViewPointsIdleMs);
  ViewPoints(const ViewPoints&) = delete;
  ViewPoints& operator=(const ViewPoints&) = delete;

  // The point kept for `key`, or nullptr; `*index` (if given) gets its disbursements list's index,
  // if one was kept with it.
  std::shared_ptr<const ViewPoint> Find(const Key& key,
                                        std::shared_ptr<const DisbursementsIndex>* index = nullptr);
  // Prepares `point`, a fold as of key.as_of_seq (not a point at the head), to be read from
  // several threads at once (ViewPoint::PrepareSharedReads), and keeps it if it fits, with
  // `index` (its disbursements list's totals and line counts, which later pages read instead of
  // the whole list; may be null). REQUIRES: no other thread reads `point` yet.
  void Keep(const Key& key, const std::shared_ptr<ViewPoint>& point,
            std::shared_ptr<const DisbursementsIndex> index = nullptr);
  // Counts a fold made, kept or not (folds()).
  void CountFold();
  // Drops the points unread for idle_ms; returns how many.
  size_t DropIdle();

  // What the cache holds and has done, for /metrics.
  size_t bytes() const;
  uint64_t folds() const;   // CountFold calls
  uint64_t reuses() const;  // points Found

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    Key key;
    std::shared_ptr<const ViewPoint> point;
    std::shared_ptr<const DisbursementsIndex> index;
    size_t bytes = 0;
    Clock::time_point read_at;
  };
  // Moves to `*out` the points idle too long, then the least recently read while over a bound,
  // for the caller to free once it has let go of mu_. REQUIRES: mu_ held.
  void EvictLocked(Clock::time_point now, std::list<Entry>* out);

  const size_t bytes_max_, points_max_;
  const Clock::duration idle_;
  mutable std::mutex mu_;     // guards everything below
  std::list<Entry> entries_;  // the most recently read first
  size_t bytes_ = 0;
  uint64_t folds_ = 0, reuses_ = 0;
};

}  // namespace fundledger
