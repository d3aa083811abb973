// `fundledger bench all`: every benchmark in one run on one workload, each figure next to the
// limit it is bounded by, measured in the same run and, for the signature-checking limit, just
// before the figure (other work on a shared machine moves both together).

#include <cstdio>
#include <filesystem>

#include "ledger/parallel.h"
#include "tools/bench.h"
#include "tools/cli_util.h"

namespace fundledger::cli {
namespace {

namespace fs = std::filesystem;

Status CheckAllArgs(const BenchAllArgs& args) {
  if (!(args.seconds > 0) || args.seconds > kBenchSecondsMax) {
    return Status::InvalidArgument("bad_bench_args", "need 0 < seconds <= 600");
  }
  if (args.postgresql != "auto" && args.postgresql != "skip" && args.postgresql != "require") {
    return Status::InvalidArgument("bad_bench_args", "--postgresql is auto, skip or require");
  }
  if (args.http.batch == 0 || args.http.batch > 5000 || args.http.clients == 0 ||
      args.http.clients > 1024 || args.http.connections == 0 || args.http.connections > 1024) {
    return Status::InvalidArgument(
        "bad_bench_args", "need 0 < http batch <= 5000 and 0 < clients, connections <= 1024");
  }
  return Status::Ok();
}

// The PostgreSQL baseline and fundledger's ingest as multiples of it; skipped (with how to
// install it) when PostgreSQL is missing and not required.
Status RunPostgresql(const BenchAllArgs& args, const BenchWorkload& world, double append,
                     double http_ingest, BenchReport* report) {
  if (args.postgresql == "skip") {
    report->Note("postgresql", "PostgreSQL baseline", "skipped (--postgresql skip)");
    return Status::Ok();
  }
  PgFigures pg;
  VerifyLimit before = BenchVerifyLimit(world, args.seconds);
  Status s = BenchPgRun(world, args.pg, (fs::path(world.dir) / "pg").string(), &pg);
  if (s.code() == "postgresql_missing" && args.postgresql == "auto") {
    report->Note("postgresql", "PostgreSQL baseline", "skipped: " + s.message());
    return Status::Ok();
  }
  FL_RETURN_IF_ERROR(s);
  VerifyLimit after = BenchVerifyLimit(world, args.seconds);
  ReportPg(pg, args.pg.batch, HigherLimit(before, after), report);
  double baseline = pg.best()->events_per_s;
  report->Add("append_vs_postgresql", "append in-process / PostgreSQL", append / baseline, "x", "",
              append / baseline, "PostgreSQL baseline", kTargetIngestOfPostgresql);
  report->Add("http_ingest_vs_postgresql", "ingest over HTTP / PostgreSQL", http_ingest / baseline,
              "x", "", http_ingest / baseline, "PostgreSQL baseline", kTargetIngestOfPostgresql);
  return Status::Ok();
}

Status RunAll(const BenchAllArgs& args, const BenchWorkload& world, BenchReport* report) {
  fs::path dir = world.dir;
  const uint64_t batch = args.base.batch;
  size_t record_bytes = EncodeRecord(1, 0, world.typical()).bytes.size();
  double raw = 0;
  FL_RETURN_IF_ERROR(
      BenchRawWriteRate((dir / "raw").string(), world.workload.size(), batch, record_bytes, &raw));
  fs::remove_all(dir / "raw");
  // The signature-checking limit is measured before and after each figure it bounds, and the
  // higher of the two is the figure's limit.
  VerifyLimit before = BenchVerifyLimit(world, args.seconds);
  ReportVerifyLimit(before, report);
  ReportRawWrite(raw, record_bytes, batch, report);
  ReportWorkload(world, batch, report);

  // The ledger appended here is the one every read-side figure below is measured on.
  std::string ledger = (dir / "ledger").string();
  Throughput append, imported;
  FL_RETURN_IF_ERROR(BenchAppendRate(world, ledger, batch, /*fund_rules=*/true, &append));
  VerifyLimit after = BenchVerifyLimit(world, args.seconds);
  ReportAppend("append_in_process", "append in-process, full rules, views", append,
               HigherLimit(before, after), kTargetAppendOfVerifyLimit, report);
  before = after;
  FL_RETURN_IF_ERROR(BenchAppendRate(world, (dir / "in-batches").string(), batch,
                                     /*fund_rules=*/true, &imported, AppendPath::kInBatches));
  fs::remove_all(dir / "in-batches");
  after = BenchVerifyLimit(world, args.seconds);
  ReportAppend("append_in_batches", "  the same, all at once (an import)", imported,
               HigherLimit(before, after), kTargetAppendOfVerifyLimit, report);

  BenchHttpArgs http = args.http;
  http.read_seconds = 2 * args.seconds;
  before = after;
  HttpFigures figures;
  FL_RETURN_IF_ERROR(BenchHttpRun(world, http, (dir / "http-ledger").string(), &figures));
  fs::remove_all(dir / "http-ledger");
  after = BenchVerifyLimit(world, args.seconds);
  ReportHttp(figures, http, world.workload.size(), HigherLimit(before, after), report);
  if (figures.failed_requests + figures.rejected + figures.failed_reads != 0) {
    return Status::Rejected("bench_http_failed", "requests of the HTTP benchmark failed");
  }

  ScanFigures scan;
  FL_RETURN_IF_ERROR(BenchBuiltLedger(world, ledger, args.seconds, report, &scan));
  StoredBytes stored;
  FL_RETURN_IF_ERROR(BenchStoredBytes(ledger, &stored));
  ReportStoredBytes(stored, scan.records, scan.record_bytes_mean, report);
  fs::remove_all(ledger);

  return RunPostgresql(args, world, append.per_s, figures.ingest.per_s, report);
}

}  // namespace

int BenchAll(const BenchAllArgs& args, const std::string& command) {
  Status s = CheckAllArgs(args);
  if (!s.ok()) return Report(s);
  BenchArgs base = args.base;
  // One workload for every part: acknowledgements lag far enough behind their payments for the
  // HTTP clients, whose requests are sequenced in any order.
  base.ack_lag_cycles = std::max<uint64_t>(base.batch / 4, BenchHttpAckLagCycles(args.http));
  BenchWorkload world;
  s = PrepareBenchWorkload(base, &world);
  if (!s.ok()) return Report(s);
  BenchReport report(base.json);
  ReportMachine(&report);
  s = RunAll(args, world, &report);
  fs::remove_all(world.dir);
  if (!s.ok()) return Report(s);
  report.Note("load_at_end", "load at the end", LoadAverage() + " (1, 5, 15 min)");
  return report.Finish(command) ? kExitOk : kExitFailure;
}

}  // namespace fundledger::cli
