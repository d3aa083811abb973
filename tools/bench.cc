#include "tools/bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <linux/perf_event.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "crypto/encoding.h"
#include "crypto/note.h"
#include "crypto/sha256.h"
#include "ledger/journal.h"
#include "ledger/parallel.h"
#include "ledger/rules.h"
#include "ledger/storage_format.h"
#include "replay/rebuild.h"
#include "replay/reports.h"
#include "replay/verify.h"
#include "replay/views.h"
#include "tools/cli_util.h"

namespace fundledger::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

json Registration(const std::string& org, const std::string& name, const std::string& kind,
                  const std::string& level, const KeyPair& key, const std::string& today) {
  return {{"id", "reg-" + org},
          {"type", "org_registered"},
          {"occurred_on", today},
          {"org", org},
          {"name", name},
          {"kind", kind},
          {"level", level},
          {"region", "hunan/xiangtan"},
          {"public_key", Base64Encode(key.public_key())}};
}

json ProjectEvent(int p, const std::string& today) {
  std::string id = "xt-" + std::to_string(p);
  return {{"id", "reg-" + id},
          {"type", "project_registered"},
          {"occurred_on", today},
          {"project", id},
          {"name", "湘潭市老旧小区改造项目" + std::to_string(p)},
          {"region", "hunan/xiangtan/yuhu"},
          {"compounds", {"小区" + std::to_string(p)}},
          {"households", 400},
          {"buildings", 10},
          {"floor_area_m2", 30000},
          {"built_year", 1996},
          {"budget",
           {{"basic_fen", 1'000'000'000'000}, {"improvement_fen", 0}, {"enhancement_fen", 0}}},
          {"funding_plan", {{{"category", "municipal"}, {"amount_fen", 1'000'000'000'000}}}}};
}

// One cycle of money: received into the bureau's pool, allocated to a project, paid to the
// contractor, and a payment acknowledged by the contractor (one from an earlier batch, so its
// fact is read back from disk).
void CycleEvents(uint64_t i, uint64_t ack_lag, const std::string& today,
                 std::vector<std::pair<std::string, json>>* out) {
  std::string n = std::to_string(i);
  std::string project = "xt-" + std::to_string(i % kBenchProjects);
  out->push_back({"xt-finance",
                  {{"id", "rc-" + n},
                   {"type", "funds_received"},
                   {"occurred_on", today},
                   {"doc_ref", "潭财建〔2026〕" + std::to_string(i % 1000) + "号"},
                   {"to", "xt-finance"},
                   {"to_kind", "pool"},
                   {"category", "municipal"},
                   {"source_org", "xt-finance"},
                   {"channel", "transfer"},
                   {"amount_fen", 1'000'000 + i}}});
  out->push_back({"xt-finance",
                  {{"id", "al-" + n},
                   {"type", "funds_allocated"},
                   {"occurred_on", today},
                   {"from", "xt-finance"},
                   {"to", project},
                   {"to_kind", "project"},
                   {"category", "municipal"},
                   {"amount_fen", 1'000'000}}});
  out->push_back(
      {"xt-finance",
       {{"id", "pay-" + n},
        {"type", "funds_disbursed"},
        {"occurred_on", today},
        {"project", project},
        {"category", "municipal"},
        {"amount_fen", 900'000},
        {"payee", {{"name", "湘潭市建设工程有限公司"}, {"kind", "contractor"}, {"org", "jianshe"}}},
        {"work", "basic"},
        {"item", "pipe_network"},
        {"contract_ref", "XTJS-2026-" + n},
        {"invoice_ref", "No." + n}}});
  if (i < ack_lag) {
    // Nothing old enough to acknowledge yet: part of the allocation goes back instead.
    out->push_back({"xt-finance",
                    {{"id", "rf-" + n},
                     {"type", "funds_refunded"},
                     {"occurred_on", today},
                     {"from", project},
                     {"from_kind", "project"},
                     {"category", "municipal"},
                     {"to_org", "xt-finance"},
                     {"amount_fen", 50'000}}});
    return;
  }
  out->push_back({"jianshe",
                  {{"id", "ack-" + n},
                   {"type", "acknowledged"},
                   {"occurred_on", today},
                   {"target", "pay-" + std::to_string(i - ack_lag)}}});
}

// Signs each (signer, event) with the world's key of that signer, on every core.
Status SignAll(const BenchWorkload& world, const std::vector<std::pair<std::string, json>>& in,
               std::vector<SignedEvent>* out) {
  auto key_of = [&](const std::string& signer) -> const KeyPair& {
    return signer == "operator"     ? world.operator_key
           : signer == "xt-finance" ? world.finance_key
           : signer == "xt-housing" ? world.housing_key
                                    : world.contractor_key;
  };
  out->clear();
  out->resize(in.size());
  std::atomic<bool> failed{false};
  ParallelFor(in.size(), 0, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      if (!SignedEvent::Sign(in[i].second, in[i].first, key_of(in[i].first), &(*out)[i]).ok()) {
        failed = true;
      }
    }
  });
  return failed ? Status::InvalidArgument("bench_sign", "could not sign the workload")
                : Status::Ok();
}

Status BuildWorld(const BenchArgs& args, const std::string& today, BenchWorkload* world) {
  std::vector<std::pair<std::string, json>> setup = {
      {"operator", GenesisEvent("operator", "operator", world->operator_key.public_key(), today)},
      {"operator", Registration("xt-finance", "湘潭市财政局", "finance_bureau", "municipal",
                                world->finance_key, today)},
      {"operator", Registration("xt-housing", "湘潭市住房和城乡建设局", "housing_bureau",
                                "municipal", world->housing_key, today)},
      {"operator", Registration("jianshe", "湘潭市建设工程有限公司", "contractor", "none",
                                world->contractor_key, today)}};
  for (int p = 0; p < kBenchProjects; ++p) {
    setup.push_back({"xt-housing", ProjectEvent(p, today)});
    setup.push_back({"xt-housing",
                     {{"id", "approve-" + std::to_string(p)},
                      {"type", "project_status"},
                      {"occurred_on", today},
                      {"project", "xt-" + std::to_string(p)},
                      {"status", "approved"},
                      {"consent_bp", 8000}}});
  }
  FL_RETURN_IF_ERROR(SignAll(*world, setup, &world->setup));
  return SignBenchWorkload(*world, 0, args.events, BenchAckLagCycles(args), &world->workload);
}

std::string Today() {
  return FormatDate(BusinessDay(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count()));
}

}  // namespace

uint64_t BenchAckLagCycles(const BenchArgs& args) {
  return args.ack_lag_cycles ? args.ack_lag_cycles : std::max<uint64_t>(1, args.batch / 4);
}

Status SignBenchWorkload(const BenchWorkload& world, uint64_t first, uint64_t count,
                         uint64_t ack_lag, std::vector<SignedEvent>* out) {
  std::vector<std::pair<std::string, json>> events;
  events.reserve(count + kBenchEventsPerCycle);
  const uint64_t first_cycle = first / kBenchEventsPerCycle;
  for (uint64_t i = first_cycle; events.size() < first % kBenchEventsPerCycle + count; ++i) {
    CycleEvents(i, ack_lag, world.today, &events);
  }
  events.erase(events.begin(), events.begin() + std::ptrdiff_t(first % kBenchEventsPerCycle));
  events.resize(count);
  return SignAll(world, events, out);
}

PublicKey BenchWorkload::KeyOf(const std::string& signer) const {
  return signer == "operator"     ? operator_key.public_key()
         : signer == "xt-finance" ? finance_key.public_key()
         : signer == "xt-housing" ? housing_key.public_key()
                                  : contractor_key.public_key();
}

Status BenchScratchDir(const std::string& dir_arg, std::string* out) {
  fs::path dir = dir_arg.empty()
                     ? fs::temp_directory_path() / ("fundledger-bench-" + std::to_string(getpid()))
                     : fs::path(dir_arg);
  if (!dir_arg.empty() && fs::exists(dir) && !fs::is_empty(dir)) {
    // The benchmark writes and deletes its scratch ledgers; it never touches a directory that
    // already holds something (a real ledger, say).
    return Status::InvalidArgument("bench_dir_not_empty",
                                   dir_arg + " is not empty; give a new or empty directory", "dir");
  }
  fs::remove_all(dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("mkdir", dir.string() + ": " + ec.message());
  *out = dir.string();
  return Status::Ok();
}

Status PrepareBenchWorkload(const BenchArgs& args, BenchWorkload* out) {
  if (args.events == 0 || args.events > kBenchEventsMax || args.batch == 0 ||
      args.batch > kAppendBatchEventsMax) {
    return Status::InvalidArgument(
        "bad_bench_args", "need 0 < events <= " + std::to_string(kBenchEventsMax) +
                              " and 0 < batch <= " + std::to_string(kAppendBatchEventsMax));
  }
  FL_RETURN_IF_ERROR(BenchScratchDir(args.dir, &out->dir));
  out->today = Today();
  // Fixed keys: a ledger kept by one run can be measured by another (bench views --ledger).
  out->operator_key = KeyPair::FromSeed(Sha256("bench/operator"));
  out->finance_key = KeyPair::FromSeed(Sha256("bench/xt-finance"));
  out->housing_key = KeyPair::FromSeed(Sha256("bench/xt-housing"));
  out->contractor_key = KeyPair::FromSeed(Sha256("bench/jianshe"));
  Status s = BuildWorld(args, out->today, out);
  if (!s.ok()) fs::remove_all(out->dir);
  return s;
}

double UserCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec) + double(usage.ru_utime.tv_usec) * 1e-6;
}

namespace {

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// CPU seconds every process of the machine has run: the first line of /proc/stat, "cpu  user
// nice system idle iowait irq softirq steal ..." in clock ticks; idle and iowait are not busy.
double MachineCpuSeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {};
  in >> cpu;
  for (auto& x : v) in >> x;
  if (!in || cpu != "cpu") return 0;
  uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return double(busy) / double(sysconf(_SC_CLK_TCK));
}

}  // namespace

ThroughputMeter::ThroughputMeter()
    : start_(Clock::now()),
      cpu_start_(ProcessCpuSeconds()),
      machine_cpu_start_(MachineCpuSeconds()) {}

Throughput ThroughputMeter::Done(uint64_t items) const {
  double wall = Seconds(start_);
  double ours = ProcessCpuSeconds() - cpu_start_;
  double machine = MachineCpuSeconds() - machine_cpu_start_;
  return {double(items) / wall, ours / wall, std::max(0.0, machine - ours) / wall};
}

std::string CoresBusyText(const Throughput& t) {
  return Format(" (%.2f of ", t.cores_busy) + std::to_string(ThreadsOrCores(0)) +
         Format(" cores busy, others %.2f)", t.others_cores);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

Status BenchMeasureLatency(double seconds, size_t samples_max, const std::function<Status()>& fn,
                           BenchLatency* out) {
  std::vector<double> us;
  auto start = Clock::now();
  do {
    auto t = Clock::now();
    FL_RETURN_IF_ERROR(fn());
    us.push_back(Seconds(t) * 1e6);
  } while (us.size() < samples_max && Seconds(start) < seconds);
  double elapsed = Seconds(start);
  out->samples = us.size();
  out->per_s = double(us.size()) / elapsed;
  out->p50_us = Percentile(us, 0.5);
  out->p99_us = Percentile(std::move(us), 0.99);
  return Status::Ok();
}

// ---- limits ----

CycleCounter::CycleCounter() {
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_CPU_CYCLES;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  attr.inherit = 1;  // and the threads started from here on
  fd_ = int(syscall(SYS_perf_event_open, &attr, 0 /* this thread */, -1 /* any CPU */,
                    -1 /* no group */, PERF_FLAG_FD_CLOEXEC));
}

CycleCounter::~CycleCounter() {
  if (fd_ >= 0) close(fd_);
}

std::optional<uint64_t> CycleCounter::Read() const {
  uint64_t cycles = 0;
  if (fd_ < 0 || read(fd_, &cycles, sizeof(cycles)) != ssize_t(sizeof(cycles)) || cycles == 0) {
    return std::nullopt;
  }
  return cycles;
}

double BenchVerifyRate(std::span<const SignedEvent> events, std::span<const PublicKey> keys,
                       unsigned threads, double seconds, double* cycles) {
  CycleCounter counter;
  std::atomic<uint64_t> total{0};
  auto work = [&](size_t first) {
    uint64_t n = 0;
    size_t i = first % events.size();
    auto start = Clock::now();
    while (Seconds(start) < seconds) {
      for (int k = 0; k < 64; ++k) {
        const SignedEvent& event = events[i];
        if (!VerifyEventSignature(keys[i], event.canonical_event(), event.signature())) {
          std::abort();
        }
        if (++i == events.size()) i = 0;
      }
      n += 64;
    }
    total += n;
  };
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t * events.size() / threads);
  for (auto& t : pool) t.join();
  double elapsed = Seconds(start);
  if (cycles != nullptr) {
    std::optional<uint64_t> counted = counter.Read();
    *cycles = counted ? double(*counted) / double(std::max<uint64_t>(1, total.load())) : 0;
  }
  return double(total.load()) / elapsed;
}

VerifyLimit BenchVerifyLimit(const BenchWorkload& world, double seconds) {
  // Distinct signatures, as a ledger holds: one signature verified over and over lets the
  // branch predictor learn the variable-time scalar multiplication's branches, which makes
  // libsodium about 5% faster than on a ledger's records.
  size_t n = std::min<size_t>(world.workload.size(), kVerifyLimitEvents);
  std::span<const SignedEvent> events(world.workload.data(), n);
  std::vector<PublicKey> keys;
  keys.reserve(n);
  for (const SignedEvent& event : events) keys.push_back(world.KeyOf(event.signer()));
  VerifyLimit limit;
  limit.cores = ThreadsOrCores(0);
  limit.one_core = BenchVerifyRate(events, keys, 1, seconds, &limit.one_core_cycles);
  limit.all_cores = BenchVerifyRate(events, keys, limit.cores, seconds);
  return limit;
}

VerifyLimit HigherLimit(const VerifyLimit& a, const VerifyLimit& b) {
  VerifyLimit higher = a.limit() >= b.limit() ? a : b;
  higher.one_core_cycles = std::min(a.one_core_cycles, b.one_core_cycles);
  return higher;
}

std::string VerifyLimitName(const VerifyLimit& limit) {
  return "verify limit (" + Format("%.0f", limit.limit()) + " /s)";
}

void ReportVerifyLimit(const VerifyLimit& limit, BenchReport* report) {
  report->Add("verify_1_core", "ed25519 verify, 1 core", limit.one_core, "/s",
              Format("%.0f /s", limit.one_core));
  report->Add("verify_all_cores", "ed25519 verify, " + std::to_string(limit.cores) + " cores",
              limit.all_cores, "/s",
              Format("%.0f /s", limit.all_cores) + "; limit of signature checking: the larger of " +
                  "this and 1 core x " + std::to_string(limit.cores) + " = " +
                  Format("%.0f /s", limit.limit()));
}

Status BeginBench(const BenchArgs& args, BenchWorkload* world, BenchReport* report,
                  VerifyLimit* limit) {
  FL_RETURN_IF_ERROR(PrepareBenchWorkload(args, world));
  ReportMachine(report);
  *limit = BenchVerifyLimit(*world, 1.5);
  ReportVerifyLimit(*limit, report);
  return Status::Ok();
}

Status BenchRawWriteRate(const std::string& dir, uint64_t events, uint64_t batch,
                         size_t value_bytes, double* rate) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.enable_pipelined_write = true;  // as the journal opens its database
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) return Status::IOError("rocksdb", s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string value(value_bytes, 'x');
  rocksdb::WriteOptions sync;
  sync.sync = true;
  auto start = Clock::now();
  for (uint64_t at = 0; at < events; at += batch) {
    rocksdb::WriteBatch wb;
    for (uint64_t i = at; i < std::min(events, at + batch); ++i) {
      wb.Put(storage::EncodeU64(i), value);
    }
    s = db->Write(sync, &wb);
    if (!s.ok()) return Status::IOError("rocksdb", s.ToString());
  }
  *rate = double(events) / Seconds(start);
  return Status::Ok();
}

void ReportRawWrite(double rate, size_t value_bytes, uint64_t batch, BenchReport* report) {
  report->Add("raw_rocksdb_synced_puts", "raw RocksDB, synced batches", rate, "puts/s",
              Format("%.0f puts/s", rate) + " of " + std::to_string(value_bytes) +
                  " bytes, batches of " + std::to_string(batch));
}

void ReportWorkload(const BenchWorkload& world, uint64_t batch, BenchReport* report) {
  report->Note("workload", "workload",
               "receipt, allocation, payment, acknowledgement; " +
                   std::to_string(world.workload.size()) + " events (after " +
                   std::to_string(world.setup.size()) + " of set-up), batches of " +
                   std::to_string(batch) + ", record of a payment " +
                   std::to_string(EncodeRecord(1, 0, world.typical()).bytes.size()) + " bytes");
}

// ---- fundledger's append ----

Status BenchAppendRate(const BenchWorkload& world, const std::string& ledger_dir, uint64_t batch,
                       bool fund_rules, Throughput* out, AppendPath path) {
  NoteSigner log_key{"bench.fundledger", 0, KeyPair::Generate()};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  JournalOptions options;
  options.skip_fund_rules_for_benchmark = !fund_rules;
  // With the fund rules, the views too: the whole write path a ledger runs.
  Views views;
  std::unique_ptr<Journal> journal;
  FL_RETURN_IF_ERROR(
      fund_rules
          ? CreateWithViews(ledger_dir, "bench.fundledger", log_key, options, &views, &journal)
          : Journal::Create(ledger_dir, "bench.fundledger", log_key, options, &journal));
  std::vector<AppendResult> results;
  auto append = [&](std::span<const SignedEvent> events) {
    FL_RETURN_IF_ERROR(journal->Append(events, &results));
    for (const auto& r : results) FL_RETURN_IF_ERROR(r.status);
    return Status::Ok();
  };
  FL_RETURN_IF_ERROR(append(world.setup));
  ThroughputMeter meter;
  if (path == AppendPath::kInBatches) {
    FL_RETURN_IF_ERROR(journal->AppendInBatches(world.workload, batch, &results));
    for (const auto& r : results) FL_RETURN_IF_ERROR(r.status);
  } else {
    for (size_t at = 0; at < world.workload.size(); at += batch) {
      size_t n = std::min<size_t>(batch, world.workload.size() - at);
      FL_RETURN_IF_ERROR(append(std::span<const SignedEvent>(world.workload.data() + at, n)));
    }
  }
  *out = meter.Done(world.workload.size());
  return Status::Ok();
}

void ReportAppend(const std::string& key, const std::string& label, const Throughput& rate,
                  const VerifyLimit& limit, std::optional<double> target, BenchReport* report) {
  report->Add(key, label, rate.per_s, "events/s",
              Format("%.0f events/s", rate.per_s) + CoresBusyText(rate), rate.per_s / limit.limit(),
              VerifyLimitName(limit), target);
}

int BenchAppend(const BenchArgs& args) {
  BenchWorkload world;
  BenchReport report(args.json);
  VerifyLimit limit;
  Status s = BeginBench(args, &world, &report, &limit);
  if (!s.ok()) return Report(s);
  fs::path dir = world.dir;
  size_t record_bytes = EncodeRecord(1, 0, world.typical()).bytes.size();
  double raw = 0;
  // Each workload twice, one Append per batch and all at once: the journal alone, then the whole
  // write path. The journal alone all at once is what the write path would reach if the fund
  // rules, the state and the views cost nothing: the bound of the full rules' figure.
  Throughput without, without_at_once, with, imported;
  s = BenchRawWriteRate((dir / "raw").string(), args.events, args.batch, record_bytes, &raw);
  if (s.ok()) ReportRawWrite(raw, record_bytes, args.batch, &report);
  if (s.ok()) ReportWorkload(world, args.batch, &report);
  if (s.ok()) {
    s = BenchAppendRate(world, (dir / "journal-only").string(), args.batch, false, &without);
  }
  if (s.ok()) {
    s = BenchAppendRate(world, (dir / "journal-only-at-once").string(), args.batch, false,
                        &without_at_once, AppendPath::kInBatches);
  }
  if (s.ok()) {
    s = BenchAppendRate(world, (dir / "full-rules").string(), args.batch, true, &with);
  }
  if (s.ok()) {
    s = BenchAppendRate(world, (dir / "in-batches").string(), args.batch, true, &imported,
                        AppendPath::kInBatches);
  }
  fs::remove_all(dir);
  if (!s.ok()) return Report(s);
  ReportAppend("append_journal_only", "append, journal only (no fund rules)", without, limit,
               std::nullopt, &report);
  ReportAppend("append_journal_only_in_batches", "  journal only, all at once", without_at_once,
               limit, std::nullopt, &report);
  ReportAppend("append_in_process", "append, full rules and views", with, limit,
               kTargetAppendOfVerifyLimit, &report);
  report.Add("append_rules_cost", "  full rules and views / journal only",
             with.per_s / without.per_s, "x", Format("%.2f", with.per_s / without.per_s));
  ReportAppend("append_in_batches", "  the same, all at once (an import)", imported, limit,
               kTargetAppendOfVerifyLimit, &report);
  report.Add("append_in_batches_rules_cost", "  all at once, full / journal only",
             imported.per_s / without_at_once.per_s, "x",
             Format("%.2f", imported.per_s / without_at_once.per_s));
  return report.Finish("fundledger bench append") ? kExitOk : kExitFailure;
}

}  // namespace fundledger::cli
