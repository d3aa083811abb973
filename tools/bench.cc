#include "tools/bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

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

// Verifications per second of one typical event signature on `threads` threads.
double VerifyRate(const SignedEvent& event, const PublicKey& key, unsigned threads) {
  constexpr double kSeconds = 1.5;
  std::atomic<uint64_t> total{0};
  auto work = [&] {
    uint64_t n = 0;
    auto start = Clock::now();
    while (Seconds(start) < kSeconds) {
      for (int i = 0; i < 64; ++i) {
        if (!VerifyEventSignature(key, event.canonical_event(), event.signature())) std::abort();
      }
      n += 64;
    }
    total += n;
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  return double(total.load()) / kSeconds;
}

// CPU seconds the calling thread has run.
double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

constexpr int kBenchProjects = 100;

// Signers of the benchmark's world, with deterministic keys.
struct BenchWorld {
  KeyPair operator_key = KeyPair::FromSeed(Sha256Of("bench/operator"));
  KeyPair finance_key = KeyPair::FromSeed(Sha256Of("bench/xt-finance"));
  KeyPair housing_key = KeyPair::FromSeed(Sha256Of("bench/xt-housing"));
  KeyPair contractor_key = KeyPair::FromSeed(Sha256Of("bench/jianshe"));
  std::vector<SignedEvent> setup;     // orgs, approved projects
  std::vector<SignedEvent> workload;  // timed

  static KeySeed Sha256Of(std::string_view text) { return Sha256(text); }
};

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

Status BuildWorld(const BenchArgs& args, const std::string& today, BenchWorld* world) {
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
  std::vector<std::pair<std::string, json>> workload;
  uint64_t ack_lag = std::max<uint64_t>(1, args.batch / 4);
  for (uint64_t i = 0; workload.size() < args.events; ++i)
    CycleEvents(i, ack_lag, today, &workload);
  workload.resize(args.events);
  auto key_of = [&](const std::string& signer) -> const KeyPair& {
    if (signer == "operator") return world->operator_key;
    if (signer == "xt-finance") return world->finance_key;
    if (signer == "xt-housing") return world->housing_key;
    return world->contractor_key;
  };
  auto sign_all = [&](const std::vector<std::pair<std::string, json>>& in,
                      std::vector<SignedEvent>* out) {
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
  };
  FL_RETURN_IF_ERROR(sign_all(setup, &world->setup));
  return sign_all(workload, &world->workload);
}

// Appends the setup, then times the workload in durable batches; events per second.
Status RunAppend(const BenchWorld& world, const fs::path& dir, uint64_t batch, bool fund_rules,
                 double* rate) {
  NoteSigner log_key{"bench.fundledger", 0, KeyPair::Generate()};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  JournalOptions options;
  options.skip_fund_rules_for_benchmark = !fund_rules;
  // With the fund rules, the views too: the whole write path a ledger runs.
  Views views;
  std::unique_ptr<Journal> journal;
  FL_RETURN_IF_ERROR(
      fund_rules
          ? CreateWithViews(dir.string(), "bench.fundledger", log_key, options, &views, &journal)
          : Journal::Create(dir.string(), "bench.fundledger", log_key, options, &journal));
  std::vector<AppendResult> results;
  auto append = [&](std::span<const SignedEvent> events) {
    FL_RETURN_IF_ERROR(journal->Append(events, &results));
    for (const auto& r : results) FL_RETURN_IF_ERROR(r.status);
    return Status::Ok();
  };
  FL_RETURN_IF_ERROR(append(world.setup));
  auto start = Clock::now();
  for (size_t at = 0; at < world.workload.size(); at += batch) {
    size_t n = std::min<size_t>(batch, world.workload.size() - at);
    FL_RETURN_IF_ERROR(append(std::span<const SignedEvent>(world.workload.data() + at, n)));
  }
  *rate = double(world.workload.size()) / Seconds(start);
  return Status::Ok();
}

// RocksDB alone: synced WriteBatches of `batch` values the size of a typical record.
Status RawRocksDbRate(const fs::path& dir, uint64_t events, uint64_t batch, size_t value_bytes,
                      double* rate) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.enable_pipelined_write = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir.string(), &raw);
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

// RocksDB alone: a sequential scan of the records family of the ledger in `dir`; records/s.
Status RawScanRate(const fs::path& dir, double* rate, uint64_t* records) {
  std::string path = (dir / storage::kDatabaseDir).string();
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
  if (!s.ok()) return Status::IOError("rocksdb", s.ToString());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, families, &handles, &raw);
  if (!s.ok()) return Status::IOError("rocksdb", s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* family = nullptr;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == storage::kRecordsFamily) family = handles[i];
  }
  uint64_t n = 0, bytes = 0;
  auto start = Clock::now();
  {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), family));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      bytes += it->value().size() + uint8_t(it->value()[0]);
      ++n;
    }
  }
  *rate = double(n) / Seconds(start);
  *records = n + (bytes == 0);  // bytes is used, so the scan is not optimised away
  for (auto* handle : handles) db->DestroyColumnFamilyHandle(handle);
  return Status::Ok();
}

Status ScratchDir(const BenchArgs& args, fs::path* out) {
  fs::path dir = args.dir.empty()
                     ? fs::temp_directory_path() / ("fundledger-bench-" + std::to_string(getpid()))
                     : fs::path(args.dir);
  if (!args.dir.empty() && fs::exists(dir) && !fs::is_empty(dir)) {
    // The benchmark writes and deletes its scratch ledgers; it never touches a directory that
    // already holds something (a real ledger, say).
    return Status::InvalidArgument(
        "bench_dir_not_empty", args.dir + " is not empty; give a new or empty directory", "dir");
  }
  fs::remove_all(dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("mkdir", dir.string() + ": " + ec.message());
  *out = dir;
  return Status::Ok();
}

std::string Today() {
  return FormatDate(BusinessDay(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count()));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

// Checks the arguments, makes the scratch directory and signs the workload.
Status Prepare(const BenchArgs& args, const std::string& today, fs::path* dir, BenchWorld* world) {
  if (args.events == 0 || args.batch == 0 || args.batch > kAppendBatchEventsMax) {
    return Status::InvalidArgument("bad_bench_args", "need events > 0 and 0 < batch <= " +
                                                         std::to_string(kAppendBatchEventsMax));
  }
  FL_RETURN_IF_ERROR(ScratchDir(args, dir));
  return BuildWorld(args, today, world);
}

}  // namespace

int BenchViews(const BenchArgs& args, const std::string& existing_ledger) {
  fs::path dir;
  BenchWorld world;
  // With --ledger only the typical event of a small world is needed (its keys are fixed).
  BenchArgs world_args = args;
  if (!existing_ledger.empty()) world_args.events = std::min<uint64_t>(args.events, 1000);
  Status s = Prepare(world_args, Today(), &dir, &world);
  if (!s.ok()) return Report(s);
  unsigned cores = ThreadsOrCores(0);
  const SignedEvent& typical = world.workload[std::min<size_t>(2, world.workload.size() - 1)];
  fs::path ledger = existing_ledger.empty() ? dir / "ledger" : fs::path(existing_ledger);
  double append = 0;
  if (existing_ledger.empty()) {
    s = RunAppend(world, ledger, args.batch, /*fund_rules=*/true, &append);
    if (!s.ok()) return Report(s);
  }

  double scan = 0;
  uint64_t records = 0;
  s = RawScanRate(ledger, &scan, &records);
  if (!s.ok()) return Report(s);

  JournalOptions options;
  options.read_only = true;
  std::unique_ptr<Journal> journal;
  s = Journal::Open(ledger.string(), options, &journal);
  if (!s.ok()) return Report(s);
  uint64_t head = journal->head().size;

  auto start = Clock::now();
  uint64_t rebuilt_records = 0;
  double fold_cpu_start = ThreadCpuSeconds();
  {
    ViewRows rebuilt;
    s = RebuildViews(*journal, RebuildOptions(), &rebuilt, &rebuilt_records);
  }
  double rebuild = double(rebuilt_records) / Seconds(start);
  // The fold runs on this thread (the scan on another): its CPU time per record shows what the
  // rebuild costs whatever else the machine is doing.
  double fold_us =
      (ThreadCpuSeconds() - fold_cpu_start) * 1e6 / double(std::max<uint64_t>(1, rebuilt_records));
  if (!s.ok()) return Report(s);

  // The limit is measured just before the verify it bounds, so that both see the same machine.
  double verify_n = VerifyRate(typical, world.finance_key.public_key(), cores);
  start = Clock::now();
  VerifyReport report;
  s = VerifyLedger(*journal, VerifyOptions(), &report);
  double verify = double(report.records) / Seconds(start);
  if (!s.ok()) return Report(s);

  // A project's balance and ratios at the head, as an auditor's screen asks for them.
  constexpr int kSamples = 20000;
  std::vector<double> head_us;
  head_us.reserve(kSamples);
  for (int i = 0; i < kSamples && s.ok(); ++i) {
    auto t = Clock::now();
    std::unique_ptr<ViewPoint> point;
    s = ViewPoint::Open(*journal,
                        Scope{ScopeKind::kProject, "xt-" + std::to_string(i % kBenchProjects)},
                        AsOf(), &point);
    Balance balance;
    Ratios ratios;
    if (s.ok()) s = BalanceOf(*point, &balance);
    if (s.ok()) s = RatiosOf(*point, &ratios);
    head_us.push_back(Seconds(t) * 1e6);
  }
  if (!s.ok()) return Report(s);
  // The same as of the middle of the history: the project's own events up to there are folded.
  constexpr int kAsOfSamples = 20;
  std::vector<double> as_of_ms;
  for (int i = 0; i < kAsOfSamples && s.ok(); ++i) {
    auto t = Clock::now();
    std::unique_ptr<ViewPoint> point;
    s = ViewPoint::Open(*journal,
                        Scope{ScopeKind::kProject, "xt-" + std::to_string(i % kBenchProjects)},
                        AsOf{head / 2, std::nullopt}, &point);
    Balance balance;
    if (s.ok()) s = BalanceOf(*point, &balance);
    as_of_ms.push_back(Seconds(t) * 1e3);
  }
  if (!s.ok()) return Report(s);
  uint64_t project_events = head / kBenchProjects;

  printf("cores                                %u\n", cores);
  printf("ed25519 verify, %u cores              %.0f /s   (limit of verify)\n", cores, verify_n);
  if (existing_ledger.empty()) {
    printf("ledger                               %llu records, %d projects, append %.0f events/s\n",
           (unsigned long long)head, kBenchProjects, append);
  } else {
    printf("ledger                               %llu records, %s (existing)\n",
           (unsigned long long)head, existing_ledger.c_str());
  }
  printf("raw RocksDB scan of the records      %.0f records/s   (limit of rebuild)\n", scan);
  printf("rebuild of the views, no signatures  %.0f records/s = %.2f x raw scan\n", rebuild,
         rebuild / scan);
  printf("  the folding thread's CPU           %.2f us/record (the raw scan: %.2f us/record)\n",
         fold_us, 1e6 / scan);
  printf("full verify                          %.0f records/s = %.2f x verify limit\n", verify,
         verify / verify_n);
  printf(
      "project view at the head             median %.1f us, p99 %.1f us (balance + ratios, %d "
      "samples)\n",
      Percentile(head_us, 0.5), Percentile(head_us, 0.99), kSamples);
  printf("project view as of seq %llu       median %.1f ms (folds ~%llu of the project's events)\n",
         (unsigned long long)(head / 2), Percentile(as_of_ms, 0.5),
         (unsigned long long)(project_events / 2));
  journal.reset();
  if (args.keep && existing_ledger.empty()) {
    printf("ledger kept in                       %s\n", ledger.string().c_str());
  } else {
    fs::remove_all(dir);
  }
  return kExitOk;
}

int BenchAppend(const BenchArgs& args) {
  fs::path dir;
  BenchWorld world;
  Status s = Prepare(args, Today(), &dir, &world);
  if (!s.ok()) return Report(s);
  unsigned cores = ThreadsOrCores(0);
  const SignedEvent& typical = world.workload[std::min<size_t>(2, world.workload.size() - 1)];
  double verify_1 = VerifyRate(typical, world.finance_key.public_key(), 1);
  double verify_n = VerifyRate(typical, world.finance_key.public_key(), cores);
  size_t record_bytes = EncodeRecord(1, 0, typical).bytes.size();
  double raw = 0, without = 0, with = 0;
  s = RawRocksDbRate(dir / "raw", args.events, args.batch, record_bytes, &raw);
  if (s.ok())
    s = RunAppend(world, dir / "journal-only", args.batch, /*fund_rules=*/false, &without);
  if (s.ok()) s = RunAppend(world, dir / "full-rules", args.batch, /*fund_rules=*/true, &with);
  if (!s.ok()) return Report(s);
  printf("cores                                %u\n", cores);
  printf("ed25519 verify, 1 core               %.0f /s\n", verify_1);
  printf("ed25519 verify, %u cores              %.0f /s   (limit)\n", cores, verify_n);
  printf("raw RocksDB, synced batches          %.0f puts/s of %zu bytes\n", raw, record_bytes);
  printf(
      "workload                             receipt, allocation, payment, acknowledgement; "
      "%llu events, batches of %llu\n",
      (unsigned long long)args.events, (unsigned long long)args.batch);
  printf("append, journal only (no fund rules) %.0f events/s = %.2f x limit\n", without,
         without / verify_n);
  printf(
      "append, full rules and views         %.0f events/s = %.2f x limit = %.2f x journal only\n",
      with, with / verify_n, with / without);
  fs::remove_all(dir);
  return kExitOk;
}

Status PrepareBenchWorkload(const BenchArgs& args, BenchWorkload* out) {
  fs::path dir;
  BenchWorld world;
  out->today = Today();
  FL_RETURN_IF_ERROR(Prepare(args, out->today, &dir, &world));
  out->dir = dir.string();
  out->setup = std::move(world.setup);
  out->workload = std::move(world.workload);
  out->finance_key = world.finance_key;
  out->housing_key = world.housing_key;
  return Status::Ok();
}

double BenchVerifyRate(const SignedEvent& event, const PublicKey& key, unsigned threads) {
  return VerifyRate(event, key, threads);
}

}  // namespace fundledger::cli
