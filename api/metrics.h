// The server's counters and histograms, rendered in the Prometheus text format (version 0.0.4)
// for GET /metrics.
//
// Names (all prefixed fundledger_):
//   events_appended_total, events_duplicate_total      accepted events, and identical resubmits
//   events_rejected_total{rule}                         refused events by the rule's code
//   batch_events (histogram)                            events per group-commit batch
//   fsync_seconds (histogram)                           a WAL sync, covering the batches
//                                                       written since the last one
//   append_seconds (histogram)                          a batch's rules, views and (unsynced)
//                                                       write, by the writer
//   request_seconds{route} (histogram)                  request handling, read to response
//   responses_total{status}                             responses by HTTP status
//   journal_records                                     records in the journal (its size)
//   write_queue_events, connections                     gauges
//   request_bodies_bytes                                gauge: the request bodies held, as
//                                                       counted against bodies_bytes_max
//                                                       (ServerLimits)
//   memory_bytes{part}                                  where the server's memory is: resident
//                                                       (the process's RSS), heap_in_use and
//                                                       heap_free (glibc's heap: allocated, and
//                                                       freed but kept), memtables, block_cache
//                                                       and table_readers (RocksDB), public_cache,
//                                                       view_points (api/view_points.h)
//   view_folds_total{reused}                            as-of views folded, and those a later
//                                                       page reused (reused="true")
//   view_folds_queued                                   gauge: as-of views being folded or
//                                                       waiting for a fold thread
//   view_folds_abandoned_total                          as-of views not folded: their reader
//                                                       was answered at its deadline
//                                                       (answer_timeout) while they waited
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fundledger {

// A histogram over integer observations (microseconds, events) with fixed upper bounds,
// rendered with each value times `scale` (1e-6 turns microseconds into seconds).
class Histogram {
 public:
  Histogram(std::vector<uint64_t> bounds, double scale);
  void Observe(uint64_t value);
  // Appends the _bucket, _sum and _count lines of `name` with `labels` ("" or `k="v"`).
  void Render(std::string_view name, std::string_view labels, std::string* out) const;

 private:
  std::vector<uint64_t> bounds_;
  double scale_;
  std::vector<std::atomic<uint64_t>> buckets_;  // one per bound, plus +Inf
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> count_{0};
};

enum class Route { kPostEvents, kGetEvents, kViews, kCheckpoint, kProofs, kPublic, kOther };
inline constexpr size_t kRoutes = 7;
const char* RouteName(Route route);

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void OnBatch(uint64_t events, uint64_t append_us);
  void OnSync(uint64_t fsync_us);
  void OnAppended(uint64_t appended, uint64_t duplicates);
  void OnRejected(std::string_view rule);
  void OnResponse(Route route, unsigned status, uint64_t us);
  void set_journal_records(uint64_t n) { journal_records_ = n; }
  void set_queue_events(uint64_t n) { queue_events_ = n; }
  void AddConnections(int64_t delta) { connections_ += delta; }
  void AddRequestBodies(int64_t bytes) { request_bodies_bytes_ += bytes; }
  void AddViewFoldsQueued(int64_t delta) { view_folds_queued_ += delta; }
  void OnViewFoldAbandoned() { ++view_folds_abandoned_; }

  std::string Render() const;

 private:
  std::atomic<uint64_t> appended_{0}, duplicates_{0}, journal_records_{0}, queue_events_{0};
  std::atomic<int64_t> connections_{0};
  std::atomic<int64_t> request_bodies_bytes_{0};
  std::atomic<int64_t> view_folds_queued_{0};
  std::atomic<uint64_t> view_folds_abandoned_{0};
  mutable std::mutex mu_;  // guards the maps
  std::map<std::string, uint64_t, std::less<>> rejected_by_rule_;
  std::map<unsigned, uint64_t> responses_by_status_;
  Histogram batch_events_, fsync_us_, append_us_;
  std::array<Histogram, kRoutes> request_us_;
};

// The parts of memory_bytes. The process's own figures come from ProcessMemory; the rest from
// their owners (Journal::MemoryUsage, PublicReads::cache_bytes).
struct MemoryGauges {
  uint64_t resident = 0, heap_in_use = 0, heap_free = 0;
  uint64_t memtables = 0, block_cache = 0, table_readers = 0, public_cache = 0, view_points = 0;
  // Not memory, read at the same moment: PublicReads::builds() and builds_waiting(), and
  // ViewPoints::folds() and reuses().
  uint64_t public_builds = 0, public_builds_waiting = 0, view_folds = 0, view_fold_reuses = 0;
};
// Fills resident (from /proc/self/statm) and the heap figures (glibc's mallinfo2).
void ProcessMemory(MemoryGauges* out);
// The memory_bytes lines, with their header, public_builds_total and public_builds_waiting.
std::string RenderMemory(const MemoryGauges& memory);

}  // namespace fundledger
