// `fundledger bench ...`: benchmarks that print each figure next to the machine's own limit
// measured in the same run.
//
// Each measurement is one function below, called by the single benchmarks (append, views, http,
// pg) and by `bench all`, which runs them all in one process; the Report* functions print a
// measurement's lines the same way wherever it was taken.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "crypto/ed25519.h"
#include "ledger/event.h"
#include "ledger/journal.h"
#include "tools/bench_report.h"

namespace fundledger::cli {

// Seconds elapsed since `since` on the steady clock (the benchmarks' one timer).
inline double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// The benchmark's projects are xt-0 .. xt-99.
inline constexpr int kBenchProjects = 100;

// Bounds of the benchmarks' own arguments.
inline constexpr uint64_t kBenchEventsMax = 20'000'000;  // held in memory, signed
inline constexpr double kBenchSecondsMax = 600;
inline constexpr uint64_t kBenchListPagesMax = 10000;  // pages of one list, to stop a loop

// Issue 7's targets, each a ratio to its limit measured in the same run.
inline constexpr double kTargetAppendOfVerifyLimit = 0.85;
inline constexpr double kTargetHttpIngestOfVerifyLimit = 0.70;
inline constexpr double kTargetVerifyOfVerifyLimit = 0.85;
inline constexpr double kTargetRebuildOfRawScan = 0.40;
inline constexpr double kTargetIngestOfPostgresql = 3.0;

struct BenchArgs {
  uint64_t events = 200000;
  uint64_t batch = 1000;
  // Money cycles between a payment and its acknowledgement (0: batch / 4), so that an
  // acknowledgement's target is read back from an earlier batch.
  uint64_t ack_lag_cycles = 0;
  std::string dir;    // scratch; default a fresh temp dir, removed afterwards
  bool keep = false;  // bench views: leave the ledger in DIR/ledger (to profile replay, verify)
  std::string json;   // when not empty, the figures are also written there as JSON
};

// The pre-signed world of the benchmarks: an operator, a municipal finance bureau, a housing
// bureau, a contractor and 100 approved projects (`setup`), then cycles of money (`workload`):
// received into the bureau's pool, allocated to a project, paid to the contractor, and an
// earlier payment acknowledged by the contractor. The keys are fixed, so a kept ledger can be
// measured again.
struct BenchWorkload {
  std::string dir;                    // scratch, made empty; the caller removes it
  std::vector<SignedEvent> setup;     // genesis, orgs, projects
  std::vector<SignedEvent> workload;  // `events` events
  KeyPair operator_key = KeyPair::Generate();
  KeyPair finance_key = KeyPair::Generate();     // signs as xt-finance
  KeyPair housing_key = KeyPair::Generate();     // signs as xt-housing, of hunan/xiangtan
  KeyPair contractor_key = KeyPair::Generate();  // signs as jianshe
  std::string today;                             // the business date of every event

  // A payment, whose record size the raw RocksDB figures use. REQUIRES: a workload.
  const SignedEvent& typical() const { return workload[std::min<size_t>(2, workload.size() - 1)]; }
  // The public key of one of the world's signers.
  PublicKey KeyOf(const std::string& signer) const;
};
// Checks the arguments, makes the scratch directory (refusing one that is not empty) and signs
// the workload on all cores.
Status PrepareBenchWorkload(const BenchArgs& args, BenchWorkload* out);
// Every cycle of the workload is this many events.
inline constexpr uint64_t kBenchEventsPerCycle = 4;
// The ack lag `args` asks for (BenchArgs::ack_lag_cycles, or batch / 4).
uint64_t BenchAckLagCycles(const BenchArgs& args);
// Events [first, first + count) of the workload PrepareBenchWorkload signs (for the same ack
// lag and business date), signed with `world`'s keys on every core: a workload too large to
// hold in memory is made a slice at a time (bench scale). REQUIRES: world's keys and today.
Status SignBenchWorkload(const BenchWorkload& world, uint64_t first, uint64_t count,
                         uint64_t ack_lag, std::vector<SignedEvent>* out);
// A fresh scratch directory: `dir` if given (which must be new or empty), else one in the
// system's temp directory named after this process.
Status BenchScratchDir(const std::string& dir, std::string* out);

// A rate, how many cores this process kept busy meanwhile (its CPU time / wall time: below the
// cores it could use, it waited on a lock, a serial phase or an fsync), and how many the rest of
// the machine used (/proc/stat less this process: other work on a shared machine, which the
// figure then had to share the cores with).
struct Throughput {
  double per_s = 0;
  double cores_busy = 0;
  double others_cores = 0;
};
// Times what it is given: the wall clock, the process's and the machine's CPU time since it was
// made.
class ThroughputMeter {
 public:
  ThroughputMeter();
  Throughput Done(uint64_t items) const;

 private:
  std::chrono::steady_clock::time_point start_;
  double cpu_start_;
  double machine_cpu_start_;
};
// " (1.52 of 2 cores busy, others 0.03)"
std::string CoresBusyText(const Throughput& t);

// A latency distribution and the rate of the calls that made it (one thread).
struct BenchLatency {
  double per_s = 0;
  double p50_us = 0, p99_us = 0;
  size_t samples = 0;
};
// Calls `fn` until `seconds` have passed or `samples_max` calls were made, at least once; stops
// at the first error.
Status BenchMeasureLatency(double seconds, size_t samples_max, const std::function<Status()>& fn,
                           BenchLatency* out);
double Percentile(std::vector<double> values, double p);

// ---- The machine's limits ----

// Ed25519 verifications per second (libsodium) on `threads` threads, each going round `events`
// (signed by `keys`, one per event) from its own starting point.
// `cycles`, when given, gets the user-space CPU cycles its threads spent per verification (0
// where they cannot be counted).
double BenchVerifyRate(std::span<const SignedEvent> events, std::span<const PublicKey> keys,
                       unsigned threads, double seconds = 1.5, double* cycles = nullptr);

// The user-space CPU time of every thread of the process so far (getrusage).
double UserCpuSeconds();

// The user-space CPU cycles of the calling thread and of the threads it starts while the counter
// exists, from the CPU's own counter (perf_event_open), where the kernel lets a process count
// its own. Cycles do not depend on the clock speed, which on a shared host moves from one
// second to the next: a ratio of two counts is steadier than a ratio of two rates.
class CycleCounter {
 public:
  CycleCounter();
  ~CycleCounter();
  CycleCounter(const CycleCounter&) = delete;
  CycleCounter& operator=(const CycleCounter&) = delete;
  // Cycles since the counter was made (those of started threads once they have ended); nullopt
  // if they cannot be counted here.
  std::optional<uint64_t> Read() const;

 private:
  int fd_ = -1;
};
// The limit is measured on the first events of the workload (a mix of the kinds the ledger
// holds, each with its own signature).
inline constexpr size_t kVerifyLimitEvents = 1024;
// The signature-checking limit: every event is verified once, so nothing that checks them can
// go faster than all cores verifying. The larger of (one core x cores) and all cores measured
// together, so that a noisy neighbour during one measurement does not lower the bar.
struct VerifyLimit {
  unsigned cores = 1;
  double one_core = 0;
  double all_cores = 0;
  // The user-space cycles of one verification on 1 core; 0 if they cannot be counted.
  double one_core_cycles = 0;
  double limit() const { return std::max(one_core * cores, all_cores); }
};
VerifyLimit BenchVerifyLimit(const BenchWorkload& world, double seconds);
// Of two measurements of the limit (before and after the figure it bounds), the higher: other
// work on the machine during one of them must not make a figure look closer to its limit. Its
// cycles per verification are the fewer of the two, for the same reason.
VerifyLimit HigherLimit(const VerifyLimit& a, const VerifyLimit& b);
void ReportVerifyLimit(const VerifyLimit& limit, BenchReport* report);
// The start of a single benchmark: the workload (as PrepareBenchWorkload), the machine's line
// and the signature-checking limit, printed.
Status BeginBench(const BenchArgs& args, BenchWorkload* world, BenchReport* report,
                  VerifyLimit* limit);
// The limit as the figures it bounds print it: "verify limit (57515 /s)".
std::string VerifyLimitName(const VerifyLimit& limit);

// RocksDB alone: synced WriteBatches of `batch` values of `value_bytes` into a new database in
// `dir`; puts per second.
Status BenchRawWriteRate(const std::string& dir, uint64_t events, uint64_t batch,
                         size_t value_bytes, double* rate);
// RocksDB alone: a sequential scan of the records family of the ledger in `ledger_dir`.
struct ScanFigures {
  double records_per_s = 0;
  uint64_t records = 0;
  double record_bytes_mean = 0;
};
Status BenchRawScan(const std::string& ledger_dir, ScanFigures* out);
// RocksDB alone: point reads of random leaves of the ledger's tree family (what proofs read).
Status BenchRawPointReads(const std::string& ledger_dir, uint64_t leaves, double seconds,
                          BenchLatency* out);

// ---- fundledger in process ----

// How the workload is handed to the journal: Journal::Append once per batch (a caller that
// gets its events a batch at a time), or all at once to Journal::AppendInBatches (an import,
// which has them all at hand: the next batch's signatures and sequencing overlap the last one's
// write and sync).
enum class AppendPath { kEachBatch, kInBatches };
// Appends the setup to a new ledger in `ledger_dir`, then times the workload in durable batches
// of `batch`, with the fund rules and the views or through the journal alone; events/s.
Status BenchAppendRate(const BenchWorkload& world, const std::string& ledger_dir, uint64_t batch,
                       bool fund_rules, Throughput* out, AppendPath path = AppendPath::kEachBatch);
Status BenchOpenReadOnly(const std::string& ledger_dir, std::unique_ptr<Journal>* out);
// Rebuilds the views from the records (no signatures): records/s, and the CPU time per record of
// the thread that folds them (which moves less with other work on the machine than the rate).
struct RebuildFigures {
  double records_per_s = 0;
  double fold_cpu_us_per_record = 0;
};
Status BenchRebuild(const Journal& journal, RebuildFigures* out);
// Full verification; records/s, and the user-space cycles per record (0 where they cannot be
// counted).
struct VerifyFigures {
  Throughput rate;
  double cycles_per_record = 0;
  // The process's user-space CPU time over the wall-clock time: the cores the cycles ran on.
  double user_cores_busy = 0;
};
Status BenchVerifyLedger(const Journal& journal, VerifyFigures* out);
// A project's balance and ratios (an auditor's screen) at the head, the projects in turn.
Status BenchViewAtHead(const Journal& journal, double seconds, BenchLatency* out);
// A project's balance as of `as_of_seq` (its own events up to there are folded).
Status BenchViewAsOf(const Journal& journal, uint64_t as_of_seq, double seconds, BenchLatency* out);
// Proof generation at the head, on one thread: inclusion proofs of random records, consistency
// proofs from random sizes to the head. `reads` is the mean number of tree nodes one proof reads
// (roots included), `hashes` the mean number in the proof, `limit_per_s` the proofs per second
// RocksDB alone could serve: its rate of reading the same nodes, over `reads`.
struct ProofFigures {
  BenchLatency latency;
  double reads = 0;
  double hashes = 0;
  double limit_per_s = 0;
};
Status BenchProofs(const Journal& journal, const std::string& ledger_dir, double seconds,
                   ProofFigures* inclusion, ProofFigures* consistency);
// Flushes and compacts every column family of the (closed) ledger in `ledger_dir`, then sums the
// live SST files and the WAL: what the ledger keeps on disk.
struct StoredBytes {
  uint64_t sst = 0;
  uint64_t wal = 0;
};
Status BenchStoredBytes(const std::string& ledger_dir, StoredBytes* out);

// Everything above on the ledger in `ledger_dir` (closed, full rules and views), each printed
// next to its limit: raw scan and rebuild, verify limit and full verify, raw point reads, the
// views, the proofs. Each timed measurement takes about `seconds`. `scan` gets the raw scan.
Status BenchBuiltLedger(const BenchWorkload& world, const std::string& ledger_dir, double seconds,
                        BenchReport* report, ScanFigures* scan);

void ReportRawWrite(double rate, size_t value_bytes, uint64_t batch, BenchReport* report);
void ReportWorkload(const BenchWorkload& world, uint64_t batch, BenchReport* report);
void ReportAppend(const std::string& key, const std::string& label, const Throughput& rate,
                  const VerifyLimit& limit, std::optional<double> target, BenchReport* report);
void ReportRebuild(const ScanFigures& scan, const RebuildFigures& rebuild, BenchReport* report);
void ReportVerifyLedger(const VerifyFigures& verify, const VerifyLimit& limit, BenchReport* report);
// `point_read` (p50) is the unit of the views' latency; absent when it was not measured.
void ReportViewAtHead(const BenchLatency& view, std::optional<double> point_read_us,
                      BenchReport* report);
void ReportViewAsOf(const BenchLatency& view, uint64_t as_of_seq, uint64_t project_events,
                    BenchReport* report);
void ReportPointReads(const BenchLatency& reads, BenchReport* report);
void ReportProofs(const ProofFigures& inclusion, const ProofFigures& consistency, uint64_t size,
                  BenchReport* report);
void ReportStoredBytes(const StoredBytes& stored, uint64_t records, double record_bytes_mean,
                       BenchReport* report);

// ---- over HTTP ----

struct BenchHttpArgs {
  uint64_t events = 200000;
  uint64_t batch = 100;  // events per request
  unsigned clients = 16;
  unsigned connections = 64;  // for the reads
  // Anonymous readers asking for the whole ledger's public summary in a loop while the events
  // are posted: each new checkpoint (every 10,000 events) makes its summary a new build.
  unsigned public_readers = 0;
  unsigned checkpoint_readers = 0;
  double read_seconds = 5;
  std::string format = "capnp";  // or json
  std::string dir;
  std::string json;
};
// Acknowledgements target payments several rounds of every client back, so that requests
// sequenced out of order still find them.
uint64_t BenchHttpAckLagCycles(const BenchHttpArgs& args);
struct HttpFigures {
  // Ingest: the workload posted by `clients` connections, full rules and views.
  double seconds = 0;
  Throughput ingest;
  uint64_t rejected = 0;
  uint64_t failed_requests = 0;
  // The public readers beside the ingest: summaries answered, their latency, and failures.
  BenchLatency public_reads;
  uint64_t failed_public = 0;
  // Registered readers of GET /v1/checkpoint beside the ingest, each signing a checkpoint at the
  // head if it has moved: answers, latency, failures, and the checkpoints stored afterwards.
  BenchLatency checkpoint_reads;
  uint64_t failed_checkpoint = 0;
  uint64_t checkpoints = 0;
  uint64_t records = 0;                                      // in the journal afterwards
  double writer_s = 0, fsync_s = 0, batches = 0, syncs = 0;  // from /metrics
  // Reads: a project's ratios over `connections`, each request signed.
  BenchLatency reads;
  uint64_t failed_reads = 0;
  // An auditor's list of the region's payments as of the ingest's mid-point, page after page:
  // the first page's time (the fold), the mean of the later pages', and the folds the server
  // counted meanwhile.
  uint64_t list_as_of = 0, list_pages = 0, list_lines = 0, list_folds = 0;
  double list_first_ms = 0, list_later_ms = 0;
  bool list_failed = false;
};
// A ledger of the world with seed money in `ledger_dir`, served on a loopback port; ingest then
// reads. REQUIRES: args checked (0 < batch <= 5000, clients and connections > 0).
Status BenchHttpRun(const BenchWorkload& world, const BenchHttpArgs& args,
                    const std::string& ledger_dir, HttpFigures* out);
void ReportHttp(const HttpFigures& http, const BenchHttpArgs& args, uint64_t events,
                const VerifyLimit& limit, BenchReport* report);

// ---- the PostgreSQL baseline (tools/bench_pg.cc) ----

struct BenchPgArgs {
  std::string bin_dir;            // initdb and pg_ctl; default the newest /usr/lib/postgresql/*/bin
  std::string user = "postgres";  // the server runs as this user when started by root
  std::vector<std::string> methods = {"copy", "insert"};
  std::vector<unsigned> writers = {1, 2, 4};
  uint64_t batch = 1000;  // events per transaction
};
struct PgRun {
  std::string method;
  unsigned writers = 1;
  double events_per_s = 0;
  uint64_t table_bytes = 0;  // pg_total_relation_size, indexes included
};
struct PgFigures {
  std::string version;      // the server's
  uint64_t events = 0;      // stored by each run
  std::string settings;     // fsync, synchronous_commit, ... as the server reports them
  std::vector<PgRun> runs;  // every configuration tried
  const PgRun* best() const;
};
// True when this build has libpq (bench pg exists).
bool BenchPgBuilt();
// Starts a private PostgreSQL server in DIR (unix socket only, fsync and synchronous_commit on),
// then stores the workload in an append-only table for each method and writer count, the
// application checking every signature on all cores and chaining SHA-256 over the records.
// NotFound "postgresql_missing" (with how to install it) when the server or libpq is missing.
Status BenchPgRun(const BenchWorkload& world, const BenchPgArgs& args, const std::string& dir,
                  PgFigures* out);
void ReportPg(const PgFigures& pg, uint64_t batch, const VerifyLimit& limit, BenchReport* report);

// ---- the commands ----

// Appends pre-signed events in durable batches; prints events/s and its ratio to the libsodium
// Ed25519 verify rate times the cores.
int BenchAppend(const BenchArgs& args);
// Builds a ledger of `events` (full rules and views), then measures against the same-run limits:
// rebuild of the views against a raw RocksDB scan of the records, full verify against the
// libsodium verify rate times the cores, and a project's view at the head and as of mid-history.
// With `existing_ledger` (one left by --keep), measures that ledger, read only, instead.
int BenchViews(const BenchArgs& args, const std::string& existing_ledger = "");
// Ingest over HTTP with concurrent clients against the verify limit, then a project's ratios
// view read over `connections` (requests/s, p50 and p99 latency).
int BenchHttp(const BenchHttpArgs& args);
// The PostgreSQL baseline alone, next to the verify limit.
int BenchPg(const BenchArgs& args, const BenchPgArgs& pg);

// A soak of mixed reads and writes over HTTP (tools/bench_soak.cc).
inline constexpr double kSoakSecondsMax = 24 * 3600;
struct BenchSoakArgs {
  double minutes = 10;
  double seconds = 0;            // when > 0, the duration instead of `minutes` (short runs, tests)
  double interval_seconds = 60;  // one report line each
  unsigned writers = 2;
  unsigned readers = 4;
  double write_rate = 1000;  // events/s over all writers; 0: as fast as the server answers
  unsigned server_threads = 2;
  std::string dir;
  bool keep = false;  // leave the ledger and the server's log in DIR
};
// Runs `fundledger serve` as a child process on a ledger of the benchmark's world while writers
// post cycles of signed events at `write_rate` and readers make signed view reads, public reads,
// proofs and log reads; prints per interval the events appended, the reads, the errors, the
// server's resident memory and each kind's latency (p50/p99/max), then the memory's growth and
// whether the ledger verifies. Exit 1 on any error.
int BenchSoak(const BenchSoakArgs& args);

// bench scale: one ledger grown through `stages` (default 100,000, 1,000,000, 10,000,000 below
// `events`, then `events`); at each, append (since the stage before) against the verify limit,
// rebuild against the raw scan, proof sizes and times, a project's view at the head and as of
// mid-history, and bytes stored per event; then a table of the stages. The workload is signed
// a slice at a time, outside the timing.
inline constexpr uint64_t kBenchScaleEventsMax = 100'000'000;
struct BenchScaleArgs {
  uint64_t events = 10'000'000;
  std::vector<uint64_t> stages;  // rising, ending at `events`; empty: the default
  uint64_t batch = 1000;
  double seconds = 2;  // per timed read-side measurement
  std::string dir;
  bool keep = false;  // leave the ledger in DIR/ledger
};
int BenchScale(const BenchScaleArgs& args);

struct BenchAllArgs {
  BenchArgs base;      // events, batch (in-process appends), dir, json
  BenchHttpArgs http;  // batch, clients, connections, format
  BenchPgArgs pg;
  std::string postgresql = "auto";  // auto (when installed), skip, require
  double seconds = 1.5;             // each timed measurement (limits, reads, proofs)
};
// Everything above in one run, on one workload: the limits, then fundledger's append, ingest
// over HTTP, rebuild, full verify, views, proofs and bytes per event, and the PostgreSQL
// baseline, each next to its limit; the targets of issue 7 marked met or not.
int BenchAll(const BenchAllArgs& args, const std::string& command);

}  // namespace fundledger::cli
