// `fundledger bench scale`: one ledger grown through stages (by default 100,000, 1,000,000 and
// 10,000,000 events), and at each stage how append, rebuild, proofs and views compare with the
// stage before. The workload is the benchmark's usual one (tools/bench.h), signed a slice at a
// time so that no stage holds more than a slice of signed events in memory.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "replay/views.h"
#include "tools/bench.h"
#include "tools/bench_report.h"
#include "tools/cli_util.h"

namespace fundledger::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Events signed and appended per slice: a few hundred MB of signed events at most.
constexpr uint64_t kSliceEvents = 100'000;

// What one stage measured.
struct StageFigures {
  uint64_t records = 0;
  double append_per_s = 0;  // the events appended since the stage before
  double append_cores = 0;  // of the appending process, while appending
  ScanFigures scan;
  RebuildFigures rebuild;
  BenchLatency at_head, as_of;
  ProofFigures inclusion, consistency;
  double bytes_per_event = 0;
};

// The ledger of the benchmark's world, its setup appended, open for writing with its views.
// `views` must outlive `journal`.
Status OpenScaleLedger(const BenchWorkload& world, const std::string& dir, bool create,
                       Views* views, std::unique_ptr<Journal>* journal) {
  if (!create) return OpenWithViews(dir, JournalOptions(), views, journal);
  NoteSigner log_key{"bench.fundledger", 0, KeyPair::Generate()};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  FL_RETURN_IF_ERROR(
      CreateWithViews(dir, "bench.fundledger", log_key, JournalOptions(), views, journal));
  std::vector<AppendResult> results;
  FL_RETURN_IF_ERROR((*journal)->Append(world.setup, &results));
  for (const auto& r : results) FL_RETURN_IF_ERROR(r.status);
  return Status::Ok();
}

// Appends workload events [from, to) in durable batches of `batch`, signing a slice at a time;
// only the appends are timed.
Status GrowLedger(const BenchWorkload& world, Journal* journal, uint64_t from, uint64_t to,
                  uint64_t batch, uint64_t ack_lag, double* append_seconds, double* cpu_seconds) {
  std::vector<SignedEvent> slice;
  std::vector<AppendResult> results;
  for (uint64_t at = from; at < to; at += kSliceEvents) {
    const uint64_t n = std::min(kSliceEvents, to - at);
    FL_RETURN_IF_ERROR(SignBenchWorkload(world, at, n, ack_lag, &slice));
    ThroughputMeter meter;
    for (size_t i = 0; i < slice.size(); i += batch) {
      const size_t m = std::min<size_t>(batch, slice.size() - i);
      FL_RETURN_IF_ERROR(
          journal->Append(std::span<const SignedEvent>(slice.data() + i, m), &results));
      for (const auto& r : results) FL_RETURN_IF_ERROR(r.status);
    }
    Throughput t = meter.Done(n);
    const double seconds = double(n) / t.per_s;
    *append_seconds += seconds;
    *cpu_seconds += t.cores_busy * seconds;
  }
  return Status::Ok();
}

// The read side of a stage, on the closed ledger opened read only.
Status MeasureStage(const std::string& ledger, double seconds, StageFigures* out) {
  FL_RETURN_IF_ERROR(BenchRawScan(ledger, &out->scan));
  std::unique_ptr<Journal> journal;
  FL_RETURN_IF_ERROR(BenchOpenReadOnly(ledger, &journal));
  out->records = journal->head().size;
  FL_RETURN_IF_ERROR(BenchRebuild(*journal, &out->rebuild));
  FL_RETURN_IF_ERROR(BenchViewAtHead(*journal, seconds, &out->at_head));
  FL_RETURN_IF_ERROR(BenchViewAsOf(*journal, out->records / 2, seconds, &out->as_of));
  FL_RETURN_IF_ERROR(BenchProofs(*journal, ledger, seconds, &out->inclusion, &out->consistency));
  journal.reset();
  StoredBytes stored;
  FL_RETURN_IF_ERROR(BenchStoredBytes(ledger, &stored));
  out->bytes_per_event =
      double(stored.sst + stored.wal) / double(std::max<uint64_t>(1, out->records));
  return Status::Ok();
}

void PrintStage(const StageFigures& f, const VerifyLimit& limit) {
  printf("stage %llu records\n", (unsigned long long)f.records);
  printf("  append, full rules and views      %.0f events/s (%.2f cores busy) = %.2f x %s\n",
         f.append_per_s, f.append_cores, f.append_per_s / limit.limit(),
         VerifyLimitName(limit).c_str());
  printf(
      "  rebuild of the views              %.0f records/s = %.2f x raw scan (%.0f /s); fold "
      "%.2f us/record\n",
      f.rebuild.records_per_s, f.rebuild.records_per_s / f.scan.records_per_s, f.scan.records_per_s,
      f.rebuild.fold_cpu_us_per_record);
  printf(
      "  inclusion proof                   %.1f hashes = %.0f bytes, p50 %.1f us, %.1f node "
      "reads\n",
      f.inclusion.hashes, 32 * f.inclusion.hashes, f.inclusion.latency.p50_us, f.inclusion.reads);
  printf("  consistency proof                 %.1f hashes = %.0f bytes, p50 %.1f us\n",
         f.consistency.hashes, 32 * f.consistency.hashes, f.consistency.latency.p50_us);
  printf("  project view at the head          p50 %.1f us, p99 %.1f us\n", f.at_head.p50_us,
         f.at_head.p99_us);
  printf("  project view as of mid-history    p50 %.2f ms (folds ~%llu events)\n",
         f.as_of.p50_us / 1e3, (unsigned long long)(f.records / 2 / kBenchProjects));
  printf("  stored bytes per event            %.0f\n", f.bytes_per_event);
  fflush(stdout);
}

void PrintSummary(const std::vector<StageFigures>& stages, const VerifyLimit& limit) {
  printf(
      "\nrecords     append/s (x limit)   rebuild x scan   inclusion bytes   view p50 us   "
      "as-of p50 ms   bytes/event\n");
  for (const auto& f : stages) {
    printf(
        "%-11llu %8.0f (%.2f)      %.2f             %5.0f             %6.1f        %8.2f     "
        "%5.0f\n",
        (unsigned long long)f.records, f.append_per_s, f.append_per_s / limit.limit(),
        f.rebuild.records_per_s / f.scan.records_per_s, 32 * f.inclusion.hashes, f.at_head.p50_us,
        f.as_of.p50_us / 1e3, f.bytes_per_event);
  }
  fflush(stdout);
}

}  // namespace

int BenchScale(const BenchScaleArgs& args) {
  std::vector<uint64_t> stages = args.stages;
  if (stages.empty()) {
    for (uint64_t s : {uint64_t(100'000), uint64_t(1'000'000), uint64_t(10'000'000)}) {
      if (s < args.events) stages.push_back(s);
    }
    stages.push_back(args.events);
  }
  const bool ascending = std::is_sorted(stages.begin(), stages.end()) &&
                         std::adjacent_find(stages.begin(), stages.end()) == stages.end();
  if (args.events == 0 || args.events > kBenchScaleEventsMax || !ascending || stages[0] == 0 ||
      stages.back() != args.events || stages.size() > 16 || args.batch == 0 ||
      args.batch > kAppendBatchEventsMax || !(args.seconds > 0)) {
    return Report(Status::InvalidArgument(
        "bad_bench_args", "need 0 < events <= " + std::to_string(kBenchScaleEventsMax) +
                              ", at most 16 rising stages ending at --events, 0 < batch <= " +
                              std::to_string(kAppendBatchEventsMax) + " and seconds > 0"));
  }
  // The world (keys, setup, business date) and the limit's events; the workload is signed later,
  // a slice at a time.
  BenchArgs world_args;
  world_args.events = std::min<uint64_t>(args.events, kVerifyLimitEvents);
  world_args.batch = args.batch;
  world_args.dir = args.dir;
  BenchWorkload world;
  Status s = PrepareBenchWorkload(world_args, &world);
  if (!s.ok()) return Report(s);
  const std::string ledger = (fs::path(world.dir) / "ledger").string();
  BenchReport report(/*json=*/"");
  ReportMachine(&report);
  const VerifyLimit limit = BenchVerifyLimit(world, args.seconds);
  ReportVerifyLimit(limit, &report);
  printf(
      "workload    cycles of receipt, allocation, payment, acknowledgement over %d projects, "
      "in batches of %llu, signed %llu at a time outside the timing\n",
      kBenchProjects, (unsigned long long)args.batch, (unsigned long long)kSliceEvents);
  fflush(stdout);

  std::vector<StageFigures> figures;
  uint64_t appended = 0;
  for (size_t i = 0; i < stages.size() && s.ok(); ++i) {
    StageFigures f;
    double append_seconds = 0, cpu_seconds = 0;
    {
      Views views;  // declared first: it outlives the journal
      std::unique_ptr<Journal> journal;
      s = OpenScaleLedger(world, ledger, /*create=*/i == 0, &views, &journal);
      if (s.ok()) {
        s = GrowLedger(world, journal.get(), appended, stages[i], args.batch,
                       BenchAckLagCycles(world_args), &append_seconds, &cpu_seconds);
      }
    }
    if (!s.ok()) break;
    f.append_per_s = double(stages[i] - appended) / append_seconds;
    f.append_cores = cpu_seconds / append_seconds;
    appended = stages[i];
    s = MeasureStage(ledger, args.seconds, &f);
    if (!s.ok()) break;
    PrintStage(f, limit);
    figures.push_back(f);
  }
  if (s.ok()) PrintSummary(figures, limit);
  if (!args.keep) fs::remove_all(world.dir);
  return s.ok() ? kExitOk : Report(s);
}

}  // namespace fundledger::cli
