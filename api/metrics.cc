#include "api/metrics.h"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// From the sanitizers' runtime (sanitizer/allocator_interface.h, which GCC does not install).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
extern "C" size_t __sanitizer_get_free_bytes();
#endif

namespace fundledger {

namespace {

std::vector<uint64_t> LatencyBoundsUs() {
  return {100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};
}

std::string Number(double v) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.9g", v);
  return text;
}

void Header(std::string_view name, std::string_view help, std::string_view type, std::string* out) {
  out->append("# HELP fundledger_").append(name).append(" ").append(help).append("\n");
  out->append("# TYPE fundledger_").append(name).append(" ").append(type).append("\n");
}

}  // namespace

Histogram::Histogram(std::vector<uint64_t> bounds, double scale)
    : bounds_(std::move(bounds)), scale_(scale), buckets_(bounds_.size() + 1) {}

void Histogram::Observe(uint64_t value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::Render(std::string_view name, std::string_view labels, std::string* out) const {
  std::string prefix = "fundledger_" + std::string(name);
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    std::string le = i < bounds_.size() ? Number(double(bounds_[i]) * scale_) : "+Inf";
    out->append(prefix + "_bucket{" + std::string(labels) + sep + "le=\"" + le + "\"} " +
                std::to_string(cumulative) + "\n");
  }
  std::string braces = labels.empty() ? "" : "{" + std::string(labels) + "}";
  out->append(prefix + "_sum" + braces + " " + Number(double(sum_.load()) * scale_) + "\n");
  out->append(prefix + "_count" + braces + " " + std::to_string(count_.load()) + "\n");
}

const char* RouteName(Route route) {
  static const char* names[kRoutes] = {"post_events", "get_events", "views", "checkpoint",
                                       "proofs",      "public",     "other"};
  return names[size_t(route)];
}

Metrics::Metrics()
    : batch_events_({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}, 1),
      fsync_us_(LatencyBoundsUs(), 1e-6),
      append_us_(LatencyBoundsUs(), 1e-6),
      request_us_{Histogram(LatencyBoundsUs(), 1e-6), Histogram(LatencyBoundsUs(), 1e-6),
                  Histogram(LatencyBoundsUs(), 1e-6), Histogram(LatencyBoundsUs(), 1e-6),
                  Histogram(LatencyBoundsUs(), 1e-6), Histogram(LatencyBoundsUs(), 1e-6),
                  Histogram(LatencyBoundsUs(), 1e-6)} {}

void Metrics::OnSync(uint64_t fsync_us) { fsync_us_.Observe(fsync_us); }

void Metrics::OnBatch(uint64_t events, uint64_t append_us) {
  batch_events_.Observe(events);
  append_us_.Observe(append_us);
}

void Metrics::OnAppended(uint64_t appended, uint64_t duplicates) {
  appended_ += appended;
  duplicates_ += duplicates;
}

void Metrics::OnRejected(std::string_view rule) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = rejected_by_rule_.find(rule);
  if (it == rejected_by_rule_.end()) it = rejected_by_rule_.emplace(std::string(rule), 0).first;
  ++it->second;
}

void Metrics::OnResponse(Route route, unsigned status, uint64_t us) {
  request_us_[size_t(route)].Observe(us);
  std::lock_guard<std::mutex> lock(mu_);
  ++responses_by_status_[status];
}

std::string Metrics::Render() const {
  std::string out;
  Header("events_appended_total", "events appended", "counter", &out);
  out += "fundledger_events_appended_total " + std::to_string(appended_.load()) + "\n";
  Header("events_duplicate_total", "resubmitted events already recorded", "counter", &out);
  out += "fundledger_events_duplicate_total " + std::to_string(duplicates_.load()) + "\n";
  Header("events_rejected_total", "events refused, by rule", "counter", &out);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [rule, n] : rejected_by_rule_) {
      out += "fundledger_events_rejected_total{rule=\"" + rule + "\"} " + std::to_string(n) + "\n";
    }
    Header("responses_total", "HTTP responses, by status", "counter", &out);
    for (const auto& [status, n] : responses_by_status_) {
      out += "fundledger_responses_total{status=\"" + std::to_string(status) + "\"} " +
             std::to_string(n) + "\n";
    }
  }
  Header("batch_events", "events per group-commit batch", "histogram", &out);
  batch_events_.Render("batch_events", "", &out);
  Header("fsync_seconds", "a WAL sync, covering the batches written since the last one",
         "histogram", &out);
  fsync_us_.Render("fsync_seconds", "", &out);
  Header("append_seconds", "a batch's rules, views and write, before its sync", "histogram", &out);
  append_us_.Render("append_seconds", "", &out);
  Header("request_seconds", "requests, from read to response", "histogram", &out);
  for (size_t r = 0; r < kRoutes; ++r) {
    request_us_[r].Render("request_seconds", std::string("route=\"") + RouteName(Route(r)) + "\"",
                          &out);
  }
  Header("journal_records", "records in the journal", "gauge", &out);
  out += "fundledger_journal_records " + std::to_string(journal_records_.load()) + "\n";
  Header("write_queue_events", "events waiting for the sequencer", "gauge", &out);
  out += "fundledger_write_queue_events " + std::to_string(queue_events_.load()) + "\n";
  Header("connections", "open connections", "gauge", &out);
  out += "fundledger_connections " + std::to_string(connections_.load()) + "\n";
  Header("request_bodies_bytes", "request bodies held, as counted against their limit", "gauge",
         &out);
  out += "fundledger_request_bodies_bytes " + std::to_string(request_bodies_bytes_.load()) + "\n";
  Header("view_folds_queued", "as-of views being folded or waiting for a fold thread", "gauge",
         &out);
  out += "fundledger_view_folds_queued " + std::to_string(view_folds_queued_.load()) + "\n";
  Header("view_folds_abandoned_total",
         "as-of views not folded: their reader was answered at its deadline while they waited",
         "counter", &out);
  out += "fundledger_view_folds_abandoned_total " + std::to_string(view_folds_abandoned_.load()) +
         "\n";
  return out;
}

void ProcessMemory(MemoryGauges* out) {
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  if (statm >> size_pages >> resident_pages) {
    out->resident = resident_pages * uint64_t(::sysconf(_SC_PAGESIZE));
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizers replace malloc (mallinfo2 then says 0): their allocator's own figures.
  out->heap_in_use = __sanitizer_get_current_allocated_bytes();
  out->heap_free = __sanitizer_get_free_bytes();
#else
  // mallinfo2 walks every arena under its lock: microseconds, once per scrape.
  struct mallinfo2 heap = ::mallinfo2();
  out->heap_in_use = heap.uordblks + heap.hblkhd;
  out->heap_free = heap.fordblks;
#endif
}

std::string RenderMemory(const MemoryGauges& memory) {
  std::string out;
  Header("memory_bytes", "the server's memory, by part", "gauge", &out);
  const std::pair<const char*, uint64_t> parts[] = {
      {"resident", memory.resident},         {"heap_in_use", memory.heap_in_use},
      {"heap_free", memory.heap_free},       {"memtables", memory.memtables},
      {"block_cache", memory.block_cache},   {"table_readers", memory.table_readers},
      {"public_cache", memory.public_cache}, {"view_points", memory.view_points}};
  for (const auto& [part, bytes] : parts) {
    out += "fundledger_memory_bytes{part=\"" + std::string(part) + "\"} " + std::to_string(bytes) +
           "\n";
  }
  Header("public_builds_total",
         "public answers built (the rest came from the cache or from a build under way)", "counter",
         &out);
  out += "fundledger_public_builds_total " + std::to_string(memory.public_builds) + "\n";
  Header("public_builds_waiting", "public answers being built or waiting for their build", "gauge",
         &out);
  out += "fundledger_public_builds_waiting " + std::to_string(memory.public_builds_waiting) + "\n";
  Header("view_folds_total",
         "views folded as of an earlier point (GET /v1/views/), and those reused by later pages",
         "counter", &out);
  out +=
      "fundledger_view_folds_total{reused=\"false\"} " + std::to_string(memory.view_folds) + "\n";
  out += "fundledger_view_folds_total{reused=\"true\"} " + std::to_string(memory.view_fold_reuses) +
         "\n";
  return out;
}

}  // namespace fundledger
