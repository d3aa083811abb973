// The measurements of a built ledger: RocksDB's own scan and point-read rates on its families,
// then rebuild, full verify, a project's views, proofs and the bytes it keeps on disk.

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <random>

#include <rocksdb/db.h>

#include "crypto/merkle.h"
#include "ledger/parallel.h"
#include "ledger/storage_format.h"
#include "replay/rebuild.h"
#include "replay/reports.h"
#include "replay/verify.h"
#include "replay/views.h"
#include "tools/bench.h"
#include "tools/cli_util.h"

namespace fundledger::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A ledger's RocksDB database opened by RocksDB alone, every column family with default
// options (as the journal opens them), read only unless `writable`.
class RawLedgerDb {
 public:
  ~RawLedgerDb() {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  }
  static Status Open(const std::string& ledger_dir, bool writable,
                     std::unique_ptr<RawLedgerDb>* out) {
    std::string path = (fs::path(ledger_dir) / storage::kDatabaseDir).string();
    std::unique_ptr<RawLedgerDb> raw(new RawLedgerDb());
    std::vector<std::string> names;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
    if (!s.ok()) return Status::IOError("rocksdb", s.ToString());
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* db = nullptr;
    s = writable ? rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &raw->handles_, &db)
                 : rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, families,
                                                &raw->handles_, &db);
    if (!s.ok()) return Status::IOError("rocksdb", s.ToString());
    raw->db_.reset(db);
    for (size_t i = 0; i < names.size(); ++i) raw->by_name_[names[i]] = raw->handles_[i];
    *out = std::move(raw);
    return Status::Ok();
  }
  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* family(std::string_view name) const {
    auto it = by_name_.find(std::string(name));
    return it == by_name_.end() ? nullptr : it->second;
  }
  const std::vector<rocksdb::ColumnFamilyHandle*>& handles() const { return handles_; }

 private:
  RawLedgerDb() = default;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // destroyed before the database
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
};

// Records the keys of the tree nodes that proofs read, so that RocksDB alone can be timed
// reading the same nodes: the proofs' limit.
class RecordingNodeReader : public NodeReader {
 public:
  explicit RecordingNodeReader(const NodeReader& inner) : inner_(inner) {}
  Status ReadNode(uint32_t level, uint64_t index, Hash* out) const override {
    keys_.push_back(storage::TreeKey(level, index));
    return inner_.ReadNode(level, index, out);
  }
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  const NodeReader& inner_;
  mutable std::vector<std::string> keys_;
};

// Point reads per second of RocksDB alone reading `keys` of the tree family in turn.
Status RawReadRate(const RawLedgerDb& raw, const std::vector<std::string>& keys, double seconds,
                   double* rate) {
  rocksdb::ColumnFamilyHandle* family = raw.family(storage::kTreeFamily);
  if (family == nullptr || keys.empty()) return Status::NotFound("ledger_missing", "no tree");
  size_t at = 0;
  std::string value;
  BenchLatency latency;
  FL_RETURN_IF_ERROR(BenchMeasureLatency(
      seconds, 10'000'000,
      [&] {
        rocksdb::Status s = raw.db()->Get(rocksdb::ReadOptions(), family, keys[at], &value);
        at = (at + 1) % keys.size();
        return s.ok() ? Status::Ok() : Status::IOError("rocksdb", s.ToString());
      },
      &latency));
  *rate = latency.per_s;
  return Status::Ok();
}

Scope ProjectScope(uint64_t i) {
  return Scope{ScopeKind::kProject, "xt-" + std::to_string(i % kBenchProjects)};
}

}  // namespace

Status BenchRawScan(const std::string& ledger_dir, ScanFigures* out) {
  std::unique_ptr<RawLedgerDb> raw;
  FL_RETURN_IF_ERROR(RawLedgerDb::Open(ledger_dir, /*writable=*/false, &raw));
  rocksdb::ColumnFamilyHandle* family = raw->family(storage::kRecordsFamily);
  if (family == nullptr) return Status::NotFound("ledger_missing", ledger_dir + " has no records");
  uint64_t n = 0, bytes = 0;
  auto start = Clock::now();
  std::unique_ptr<rocksdb::Iterator> it(raw->db()->NewIterator(rocksdb::ReadOptions(), family));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    bytes += it->value().size();
    ++n;
  }
  out->records_per_s = double(n) / Seconds(start);
  if (!it->status().ok()) return Status::IOError("rocksdb", it->status().ToString());
  out->records = n;
  out->record_bytes_mean = n ? double(bytes) / double(n) : 0;
  return Status::Ok();
}

Status BenchRawPointReads(const std::string& ledger_dir, uint64_t leaves, double seconds,
                          BenchLatency* out) {
  std::unique_ptr<RawLedgerDb> raw;
  FL_RETURN_IF_ERROR(RawLedgerDb::Open(ledger_dir, /*writable=*/false, &raw));
  rocksdb::ColumnFamilyHandle* family = raw->family(storage::kTreeFamily);
  if (family == nullptr || leaves == 0) return Status::NotFound("ledger_missing", "no tree");
  std::mt19937_64 random(7);
  std::string value;
  return BenchMeasureLatency(
      seconds, 1'000'000,
      [&] {
        rocksdb::Status s = raw->db()->Get(rocksdb::ReadOptions(), family,
                                           storage::TreeKey(0, random() % leaves), &value);
        return s.ok() ? Status::Ok() : Status::IOError("rocksdb", s.ToString());
      },
      out);
}

Status BenchOpenReadOnly(const std::string& ledger_dir, std::unique_ptr<Journal>* out) {
  JournalOptions options;
  options.read_only = true;
  return Journal::Open(ledger_dir, options, out);
}

// CPU seconds the calling thread has run.
double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

Status BenchRebuild(const Journal& journal, RebuildFigures* out) {
  auto start = Clock::now();
  double fold_cpu_start = ThreadCpuSeconds();
  uint64_t records = 0;
  {
    ViewRows rebuilt;  // freed inside the timing: a rebuild ends with its tables released
    FL_RETURN_IF_ERROR(RebuildViews(journal, RebuildOptions(), &rebuilt, &records));
  }
  out->records_per_s = double(records) / Seconds(start);
  out->fold_cpu_us_per_record =
      (ThreadCpuSeconds() - fold_cpu_start) * 1e6 / double(std::max<uint64_t>(1, records));
  return Status::Ok();
}

Status BenchVerifyLedger(const Journal& journal, VerifyFigures* out) {
  // As `fundledger verify` does: the rebuilt tables are freed after the verification, here
  // once the clock has stopped (the command leaves them to its exit).
  VerifyReport report;
  std::shared_ptr<void> rebuilt;
  VerifyOptions options;
  options.keep_rebuilt = &rebuilt;
  std::optional<uint64_t> cycles;
  {
    CycleCounter counter;  // counts the checking threads once they have ended
    ThroughputMeter meter;
    const double user_start = UserCpuSeconds();
    FL_RETURN_IF_ERROR(VerifyLedger(journal, options, &report));
    out->rate = meter.Done(report.records);
    const double user = UserCpuSeconds() - user_start;
    // The wall time is the meter's: records over their rate.
    if (out->rate.per_s > 0) out->user_cores_busy = user * out->rate.per_s / double(report.records);
    cycles = counter.Read();
  }
  out->cycles_per_record =
      cycles ? double(*cycles) / double(std::max<uint64_t>(1, report.records)) : 0;
  return Status::Ok();
}

Status BenchViewAtHead(const Journal& journal, double seconds, BenchLatency* out) {
  uint64_t i = 0;
  return BenchMeasureLatency(
      seconds, 20000,
      [&] {
        std::unique_ptr<ViewPoint> point;
        FL_RETURN_IF_ERROR(ViewPoint::Open(journal, ProjectScope(i++), AsOf(), &point));
        Balance balance;
        Ratios ratios;
        FL_RETURN_IF_ERROR(BalanceOf(*point, &balance));
        return RatiosOf(*point, &ratios);
      },
      out);
}

Status BenchViewAsOf(const Journal& journal, uint64_t as_of_seq, double seconds,
                     BenchLatency* out) {
  uint64_t i = 0;
  return BenchMeasureLatency(
      seconds, 20,
      [&] {
        std::unique_ptr<ViewPoint> point;
        FL_RETURN_IF_ERROR(
            ViewPoint::Open(journal, ProjectScope(i++), AsOf{as_of_seq, std::nullopt}, &point));
        Balance balance;
        return BalanceOf(*point, &balance);
      },
      out);
}

Status BenchProofs(const Journal& journal, const std::string& ledger_dir, double seconds,
                   ProofFigures* inclusion, ProofFigures* consistency) {
  uint64_t size = journal.head().size;
  if (size < 2) return Status::InvalidArgument("bad_bench_args", "proofs need 2 records");
  std::mt19937_64 random(11);
  std::vector<Hash> proof;
  Hash a, b;
  uint64_t hashes = 0;
  FL_RETURN_IF_ERROR(BenchMeasureLatency(
      seconds, 1'000'000,
      [&] {
        FL_RETURN_IF_ERROR(journal.InclusionProof(1 + random() % size, 0, &proof, &a, &b));
        hashes += proof.size();
        return Status::Ok();
      },
      &inclusion->latency));
  inclusion->hashes = double(hashes) / double(inclusion->latency.samples);
  hashes = 0;
  FL_RETURN_IF_ERROR(BenchMeasureLatency(
      seconds, 1'000'000,
      [&] {
        FL_RETURN_IF_ERROR(
            journal.ConsistencyProof(1 + random() % (size - 1), size, &proof, &a, &b));
        hashes += proof.size();
        return Status::Ok();
      },
      &consistency->latency));
  consistency->hashes = double(hashes) / double(consistency->latency.samples);

  // The nodes each proof reads, recorded on a sample (what Journal::InclusionProof and
  // ConsistencyProof read: the leaf, the roots, the proof's nodes), then read again by RocksDB
  // alone: a proof can go no faster than its reads.
  constexpr int kRecorded = 200;
  RecordingNodeReader inclusion_reads(journal.tree()), consistency_reads(journal.tree());
  for (int i = 0; i < kRecorded; ++i) {
    uint64_t seq = 1 + random() % size, from = 1 + random() % (size - 1);
    FL_RETURN_IF_ERROR(inclusion_reads.ReadNode(0, seq - 1, &a));
    FL_RETURN_IF_ERROR(MerkleRoot(inclusion_reads, size, &b));
    FL_RETURN_IF_ERROR(MerkleInclusionProof(inclusion_reads, seq - 1, size, &proof));
    FL_RETURN_IF_ERROR(MerkleRoot(consistency_reads, from, &a));
    FL_RETURN_IF_ERROR(MerkleRoot(consistency_reads, size, &b));
    FL_RETURN_IF_ERROR(MerkleConsistencyProof(consistency_reads, from, size, &proof));
  }
  inclusion->reads = double(inclusion_reads.keys().size()) / kRecorded;
  consistency->reads = double(consistency_reads.keys().size()) / kRecorded;
  std::unique_ptr<RawLedgerDb> raw;
  FL_RETURN_IF_ERROR(RawLedgerDb::Open(ledger_dir, /*writable=*/false, &raw));
  double rate = 0;
  FL_RETURN_IF_ERROR(RawReadRate(*raw, inclusion_reads.keys(), seconds, &rate));
  inclusion->limit_per_s = rate / inclusion->reads;
  FL_RETURN_IF_ERROR(RawReadRate(*raw, consistency_reads.keys(), seconds, &rate));
  consistency->limit_per_s = rate / consistency->reads;
  return Status::Ok();
}

Status BenchStoredBytes(const std::string& ledger_dir, StoredBytes* out) {
  std::unique_ptr<RawLedgerDb> raw;
  FL_RETURN_IF_ERROR(RawLedgerDb::Open(ledger_dir, /*writable=*/true, &raw));
  auto check = [](const rocksdb::Status& s) {
    return s.ok() ? Status::Ok() : Status::IOError("rocksdb", s.ToString());
  };
  FL_RETURN_IF_ERROR(check(raw->db()->Flush(rocksdb::FlushOptions(), raw->handles())));
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  *out = StoredBytes();
  for (auto* handle : raw->handles()) {
    FL_RETURN_IF_ERROR(check(raw->db()->CompactRange(compact, handle, nullptr, nullptr)));
    uint64_t sst = 0;
    if (raw->db()->GetIntProperty(handle, "rocksdb.live-sst-files-size", &sst)) out->sst += sst;
  }
  rocksdb::VectorLogPtr wal;
  FL_RETURN_IF_ERROR(check(raw->db()->GetSortedWalFiles(wal)));
  for (const auto& file : wal) out->wal += file->SizeFileBytes();
  return Status::Ok();
}

// ---- the lines ----

void ReportRebuild(const ScanFigures& scan, const RebuildFigures& rebuild, BenchReport* report) {
  report->Add("raw_rocksdb_scan", "raw RocksDB scan of the records", scan.records_per_s,
              "records/s",
              Format("%.0f records/s", scan.records_per_s) + " (" + std::to_string(scan.records) +
                  " records of " + Format("%.0f", scan.record_bytes_mean) + " bytes on average)");
  report->Add("rebuild", "rebuild of the views, no signatures", rebuild.records_per_s, "records/s",
              Format("%.0f records/s", rebuild.records_per_s),
              rebuild.records_per_s / scan.records_per_s, "raw scan", kTargetRebuildOfRawScan);
  // The fold runs on the calling thread (the scan on another): its CPU time per record shows what
  // the rebuild costs whatever else the machine is doing.
  report->Add("rebuild_fold_cpu", "  the folding thread's CPU", rebuild.fold_cpu_us_per_record,
              "us/record",
              Format("%.2f us/record", rebuild.fold_cpu_us_per_record) +
                  Format(" (the raw scan: %.2f us/record)", 1e6 / scan.records_per_s));
}

void ReportVerifyLedger(const VerifyFigures& verify, const VerifyLimit& limit,
                        BenchReport* report) {
  const Throughput& rate = verify.rate;
  report->Add("full_verify", "full verify", rate.per_s, "records/s",
              Format("%.0f records/s", rate.per_s) + CoresBusyText(rate),
              rate.per_s / limit.limit(), VerifyLimitName(limit), kTargetVerifyOfVerifyLimit);
  // The same comparison in cycles, which the host's clock speed does not move: the share of the
  // verification's cycles a bare signature check would take.
  if (verify.cycles_per_record > 0 && limit.one_core_cycles > 0) {
    report->Add("full_verify_cycles", "  the verification's cycles", verify.cycles_per_record,
                "cycles/record",
                Format("%.0f per record", verify.cycles_per_record) +
                    Format(", of which a bare signature check is %.0f", limit.one_core_cycles) +
                    Format(" (%.2f)", limit.one_core_cycles / verify.cycles_per_record));
    // The limit at the verification's own clock: a core checks 1 / one_core_cycles signatures
    // per cycle, and the verification ran cycles_per_record per record on the cores it kept
    // busy. Unlike the ratio above, it does not move when the host's clock speed differs
    // between the limit's measurement and the verification's.
    const double same_clock = limit.one_core_cycles / verify.cycles_per_record *
                              verify.user_cores_busy / double(limit.cores);
    report->Add("full_verify_same_clock", "  at the verification's own clock", same_clock, "x",
                Format("%.2f x verify limit", same_clock) +
                    Format(" (the cycles' share x %.2f of ", verify.user_cores_busy) +
                    std::to_string(limit.cores) + " cores busy in user space)");
  } else {
    report->Note("full_verify_cycles", "  the verification's cycles",
                 "not counted (the kernel does not let this process read the CPU's cycle counter)");
  }
}

void ReportPointReads(const BenchLatency& reads, BenchReport* report) {
  report->Add("raw_rocksdb_point_read", "raw RocksDB point read (tree nodes)", reads.p50_us, "us",
              Format("p50 %.2f us", reads.p50_us) + Format(", p99 %.2f us", reads.p99_us) +
                  Format(", %.0f reads/s on 1 thread", reads.per_s));
}

void ReportViewAtHead(const BenchLatency& view, std::optional<double> point_read_us,
                      BenchReport* report) {
  std::string text = Format("p50 %.1f us", view.p50_us) + Format(", p99 %.1f us", view.p99_us) +
                     " (balance + ratios, " + std::to_string(view.samples) + " samples)";
  if (point_read_us && *point_read_us > 0) {
    report->Add("view_at_head", "project view at the head", view.p50_us, "us", text,
                view.p50_us / *point_read_us, "a raw point read (p50)");
  } else {
    report->Add("view_at_head", "project view at the head", view.p50_us, "us", text);
  }
}

void ReportViewAsOf(const BenchLatency& view, uint64_t as_of_seq, uint64_t project_events,
                    BenchReport* report) {
  report->Add("view_as_of", "project view as of mid-history", view.p50_us / 1e3, "ms",
              Format("p50 %.2f ms", view.p50_us / 1e3) +
                  Format(", p99 %.2f ms", view.p99_us / 1e3) + " (as of seq " +
                  std::to_string(as_of_seq) + ", folds ~" + std::to_string(project_events) +
                  " of the project's events)");
}

void ReportProofs(const ProofFigures& inclusion, const ProofFigures& consistency, uint64_t size,
                  BenchReport* report) {
  auto line = [&](const std::string& key, const std::string& label, const ProofFigures& f) {
    report->Add(key, label, f.latency.per_s, "proofs/s",
                Format("%.0f proofs/s", f.latency.per_s) +
                    Format(", p50 %.1f us, ", f.latency.p50_us) + Format("%.1f hashes", f.hashes) +
                    Format(" = %.0f bytes", 32 * f.hashes) + Format(", %.1f node reads", f.reads),
                f.latency.per_s / f.limit_per_s,
                Format("RocksDB reading the same nodes (%.0f /s)", f.limit_per_s));
  };
  line("inclusion_proof", "inclusion proof at " + std::to_string(size), inclusion);
  line("consistency_proof", "consistency proof to " + std::to_string(size), consistency);
}

void ReportStoredBytes(const StoredBytes& stored, uint64_t records, double record_bytes_mean,
                       BenchReport* report) {
  double per_event = double(stored.sst + stored.wal) / double(std::max<uint64_t>(1, records));
  report->Add("bytes_per_event", "stored bytes per event", per_event, "bytes/event",
              Format("%.0f bytes/event", per_event) + " (live SST " +
                  Format("%.1f MB", double(stored.sst) / 1e6) + " + WAL " +
                  Format("%.1f MB", double(stored.wal) / 1e6) +
                  " after a flush and a full compaction)",
              per_event / std::max(1.0, record_bytes_mean), "the record bytes");
}

// ---- bench views ----

Status BenchBuiltLedger(const BenchWorkload& world, const std::string& ledger_dir, double seconds,
                        BenchReport* report, ScanFigures* scan_out) {
  ScanFigures& scan = *scan_out;
  FL_RETURN_IF_ERROR(BenchRawScan(ledger_dir, &scan));
  std::unique_ptr<Journal> journal;
  FL_RETURN_IF_ERROR(BenchOpenReadOnly(ledger_dir, &journal));
  uint64_t head = journal->head().size;
  RebuildFigures rebuild;
  FL_RETURN_IF_ERROR(BenchRebuild(*journal, &rebuild));
  ReportRebuild(scan, rebuild, report);

  // The limit is measured just before and just after the verify it bounds, so that both see the
  // same machine; the higher of the two counts.
  VerifyLimit before = BenchVerifyLimit(world, seconds);
  VerifyFigures verify;
  FL_RETURN_IF_ERROR(BenchVerifyLedger(*journal, &verify));
  VerifyLimit after = BenchVerifyLimit(world, seconds);
  ReportVerifyLedger(verify, HigherLimit(before, after), report);

  BenchLatency point_reads, at_head, as_of;
  FL_RETURN_IF_ERROR(BenchRawPointReads(ledger_dir, head, seconds, &point_reads));
  ReportPointReads(point_reads, report);
  FL_RETURN_IF_ERROR(BenchViewAtHead(*journal, seconds, &at_head));
  ReportViewAtHead(at_head, point_reads.p50_us, report);
  FL_RETURN_IF_ERROR(BenchViewAsOf(*journal, head / 2, seconds, &as_of));
  ReportViewAsOf(as_of, head / 2, head / kBenchProjects / 2, report);
  ProofFigures inclusion, consistency;
  FL_RETURN_IF_ERROR(BenchProofs(*journal, ledger_dir, seconds, &inclusion, &consistency));
  ReportProofs(inclusion, consistency, head, report);
  return Status::Ok();
}

int BenchViews(const BenchArgs& args, const std::string& existing_ledger) {
  BenchWorkload world;
  // With --ledger only the typical event of a small world is needed (its keys are fixed).
  BenchArgs world_args = args;
  if (!existing_ledger.empty()) world_args.events = std::min<uint64_t>(args.events, 1000);
  Status s = PrepareBenchWorkload(world_args, &world);
  if (!s.ok()) return Report(s);
  fs::path ledger =
      existing_ledger.empty() ? fs::path(world.dir) / "ledger" : fs::path(existing_ledger);
  BenchReport report(args.json);
  ReportMachine(&report);
  if (existing_ledger.empty()) {
    ReportWorkload(world, args.batch, &report);
    Throughput append;
    s = BenchAppendRate(world, ledger.string(), args.batch, /*fund_rules=*/true, &append);
    if (s.ok()) {
      report.Add("append_in_process", "ledger built by append, full rules", append.per_s,
                 "events/s", Format("%.0f events/s", append.per_s) + CoresBusyText(append));
    }
  } else {
    report.Note("ledger", "ledger", existing_ledger + " (existing, read only)");
  }
  ScanFigures scan;
  if (s.ok()) s = BenchBuiltLedger(world, ledger.string(), 1.5, &report, &scan);
  StoredBytes stored;
  // Not on an existing ledger, which the benchmark only reads.
  if (s.ok() && existing_ledger.empty()) s = BenchStoredBytes(ledger.string(), &stored);
  if (s.ok() && existing_ledger.empty()) {
    ReportStoredBytes(stored, scan.records, scan.record_bytes_mean, &report);
  }
  if (!s.ok()) return Report(s);
  if (args.keep && existing_ledger.empty()) {
    report.Note("kept", "ledger kept in", ledger.string());
  } else {
    fs::remove_all(world.dir);
  }
  return report.Finish("fundledger bench views") ? kExitOk : kExitFailure;
}

}  // namespace fundledger::cli
