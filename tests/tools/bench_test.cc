// `fundledger bench all` on a tiny workload: not a timed test, but the benchmark must keep
// running to its end and print every figure, so that it cannot rot between the runs that
// BENCHMARKS.md records. The PostgreSQL baseline runs when PostgreSQL is installed and is
// reported skipped otherwise.

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/tools/test_dir.h"

namespace fundledger {
namespace {

using nlohmann::json;
using test::TestDir;

struct Expected {
  const char* key;
  const char* label;
  bool has_ratio;
  bool has_target;
};

// Every figure of bench all, with the label its line starts with.
const std::vector<Expected> kFigures = {
    {"verify_1_core", "ed25519 verify, 1 core", false, false},
    {"verify_all_cores", "ed25519 verify, ", false, false},
    {"raw_rocksdb_synced_puts", "raw RocksDB, synced batches", false, false},
    {"append_in_process", "append in-process, full rules, views", true, true},
    {"append_in_batches", "  the same, all at once (an import)", true, true},
    {"http_ingest", "ingest over HTTP, full rules, views", true, true},
    {"http_view", "project view over HTTP", true, false},
    {"raw_rocksdb_scan", "raw RocksDB scan of the records", false, false},
    {"rebuild", "rebuild of the views, no signatures", true, true},
    {"rebuild_fold_cpu", "  the folding thread's CPU", false, false},
    {"full_verify", "full verify", true, true},
    {"raw_rocksdb_point_read", "raw RocksDB point read (tree nodes)", false, false},
    {"view_at_head", "project view at the head", true, false},
    {"view_as_of", "project view as of mid-history", false, false},
    {"inclusion_proof", "inclusion proof at ", true, false},
    {"consistency_proof", "consistency proof to ", true, false},
    {"bytes_per_event", "stored bytes per event", true, false},
};

const std::vector<Expected> kPostgresqlFigures = {
    {"postgresql_copy_1", "  PostgreSQL, COPY, 1 writer", false, false},
    {"postgresql_insert_2", "  PostgreSQL, INSERT, 2 writers", false, false},
    {"postgresql", "PostgreSQL baseline (best)", true, false},
    {"append_vs_postgresql", "append in-process / PostgreSQL", true, true},
    {"http_ingest_vs_postgresql", "ingest over HTTP / PostgreSQL", true, true},
};

bool HasLineStartingWith(const std::string& out, const std::string& prefix) {
  return out.rfind(prefix, 0) == 0 || out.find("\n" + prefix) != std::string::npos;
}

void ExpectFigure(const json& figures, const std::string& out, const Expected& e) {
  SCOPED_TRACE(e.key);
  ASSERT_TRUE(figures.contains(e.key));
  const json& f = figures[e.key];
  EXPECT_TRUE(f["value"].is_number());
  EXPECT_TRUE(std::isfinite(f["value"].get<double>()));
  EXPECT_GT(f["value"].get<double>(), 0);
  EXPECT_EQ(f.contains("ratio"), e.has_ratio);
  if (e.has_ratio) {
    EXPECT_GT(f["ratio"].get<double>(), 0);
  }
  EXPECT_EQ(f.contains("target"), e.has_target);
  if (e.has_target) {
    EXPECT_TRUE(f["met"].is_boolean());
  }
  EXPECT_TRUE(HasLineStartingWith(out, e.label)) << "no line starts with \"" << e.label << "\"";
  EXPECT_TRUE(HasLineStartingWith(out, f["label"].get<std::string>()));
}

TEST(BenchAll, TinyWorkloadPrintsEveryFigure) {
  TestDir dir;
  std::string json_path = dir / "bench.json";
  test::CliResult r = test::ExpectExit(
      FL_BINARY, dir, 0,
      {"bench", "all", "--events", "400", "--batch", "100", "--http-batch", "20", "--clients", "4",
       "--connections", "4", "--seconds", "0.05", "--pg-writers", "1", "2", "--json", json_path});
  json report = json::parse(test::ReadFile(json_path), nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << test::Describe(r);
  const json& figures = report["figures"];
  for (const auto& e : kFigures) ExpectFigure(figures, r.out, e);
  EXPECT_TRUE(HasLineStartingWith(r.out, "machine "));
  EXPECT_TRUE(HasLineStartingWith(r.out, "workload "));
  EXPECT_TRUE(HasLineStartingWith(r.out, "load at the end "));
  EXPECT_NE(r.out.find("refused events 0, failed requests 0"), std::string::npos) << r.out;
  EXPECT_TRUE(HasLineStartingWith(r.out, "  the verification's cycles")) << r.out;

  // Verification's cycles against a bare signature check's, and the ratio at the verification's
  // own clock, where the kernel lets the process count them; a note saying they were not
  // counted otherwise.
  size_t counted = 0;
  if (figures.contains("full_verify_cycles")) {
    ExpectFigure(figures, r.out,
                 {"full_verify_cycles", "  the verification's cycles", false, false});
    ExpectFigure(figures, r.out,
                 {"full_verify_same_clock", "  at the verification's own clock", false, false});
    const double same_clock = figures["full_verify_same_clock"]["value"].get<double>();
    EXPECT_LE(same_clock, 1.5) << "a ratio to the limit, not a rate";
    counted = 2;
  } else {
    EXPECT_FALSE(figures.contains("full_verify_same_clock"));
    std::string note = report["notes"]["full_verify_cycles"].get<std::string>();
    EXPECT_NE(note.find("not counted"), std::string::npos) << note;
  }

  // The baseline ran, or the report says why not and how to install it.
  if (figures.contains("postgresql")) {
    for (const auto& e : kPostgresqlFigures) ExpectFigure(figures, r.out, e);
    // 2 methods x 2 writer counts, the best, and fundledger as multiples of it.
    EXPECT_EQ(figures.size(), kFigures.size() + counted + 4 + 1 + 2);
  } else {
    std::string note = report["notes"]["postgresql"].get<std::string>();
    EXPECT_NE(note.find("skipped"), std::string::npos) << note;
    EXPECT_NE(note.find("install-bench-deps.sh"), std::string::npos) << note;
    EXPECT_EQ(figures.size(), kFigures.size() + counted);
  }
}

// bench append's own figures: the journal alone and the whole write path, each one Append per
// batch and all at once. The journal alone all at once is the bound the note on a missed append
// target refers to, so it must keep being printed beside the figures it bounds.
TEST(BenchAppend, TinyWorkloadPrintsEveryFigure) {
  TestDir dir;
  std::string json_path = dir / "bench.json";
  test::CliResult r = test::ExpectExit(
      FL_BINARY, dir, 0,
      {"bench", "append", "--events", "400", "--batch", "100", "--json", json_path});
  json report = json::parse(test::ReadFile(json_path), nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << test::Describe(r);
  const json& figures = report["figures"];
  const std::vector<Expected> expected = {
      {"verify_1_core", "ed25519 verify, 1 core", false, false},
      {"verify_all_cores", "ed25519 verify, ", false, false},
      {"raw_rocksdb_synced_puts", "raw RocksDB, synced batches", false, false},
      {"append_journal_only", "append, journal only (no fund rules)", true, false},
      {"append_journal_only_in_batches", "  journal only, all at once", true, false},
      {"append_in_process", "append, full rules and views", true, true},
      {"append_rules_cost", "  full rules and views / journal only", false, false},
      {"append_in_batches", "  the same, all at once (an import)", true, true},
      {"append_in_batches_rules_cost", "  all at once, full / journal only", false, false},
  };
  for (const auto& e : expected) ExpectFigure(figures, r.out, e);
  EXPECT_EQ(figures.size(), expected.size()) << r.out;
  // The lines in the order that reads as a table: each path, then its own all-at-once figure.
  size_t last = 0;
  for (const auto& e : expected) {
    size_t at = r.out.find(figures[e.key]["label"].get<std::string>(), last);
    ASSERT_NE(at, std::string::npos) << e.key << " out of order\n" << r.out;
    last = at;
  }
}

// bench scale grows one ledger through its stages and measures each; the 10M run is outside
// the suite, this keeps the command working.
TEST(BenchScale, EveryStagePrintsEveryFigure) {
  TestDir dir;
  test::CliResult r = test::ExpectExit(FL_BINARY, dir, 0,
                                       {"bench", "scale", "--events", "1200", "--stages", "400",
                                        "1200", "--batch", "100", "--seconds", "0.05"});
  // The world's setup is 204 records (genesis, 3 orgs, 100 projects registered and approved).
  for (const std::string stage : {"stage 604 records", "stage 1404 records"}) {
    EXPECT_TRUE(HasLineStartingWith(r.out, stage)) << stage << "\n" << r.out;
  }
  for (const std::string figure :
       {"  append, full rules and views", "  rebuild of the views", "  inclusion proof",
        "  consistency proof", "  project view at the head", "  project view as of mid-history",
        "  stored bytes per event"}) {
    size_t first = r.out.find("\n" + figure);
    ASSERT_NE(first, std::string::npos) << figure << "\n" << r.out;
    EXPECT_NE(r.out.find("\n" + figure, first + 1), std::string::npos) << figure << " twice";
  }
  EXPECT_TRUE(HasLineStartingWith(r.out, "records     append/s")) << r.out;
  EXPECT_TRUE(HasLineStartingWith(r.out, "604 ")) << r.out;
  EXPECT_TRUE(HasLineStartingWith(r.out, "1404 ")) << r.out;
}

TEST(BenchScale, RefusesStagesThatDoNotRiseToTheEvents) {
  TestDir dir;
  test::ExpectExit(FL_BINARY, dir, 2, {"bench", "scale", "--events", "1000", "--stages", "500"});
  test::ExpectExit(FL_BINARY, dir, 2,
                   {"bench", "scale", "--events", "1000", "--stages", "800", "400", "1000"});
  test::ExpectExit(FL_BINARY, dir, 2, {"bench", "scale", "--events", "0"});
  test::ExpectExit(FL_BINARY, dir, 2, {"bench", "scale", "--events", "1000", "--seconds", "0"});
}

TEST(BenchAll, RefusesBadArguments) {
  TestDir dir;
  test::ExpectExit(FL_BINARY, dir, 2, {"bench", "all", "--events", "0", "--postgresql", "skip"});
  test::ExpectExit(FL_BINARY, dir, 2, {"bench", "all", "--seconds", "0", "--postgresql", "skip"});
  test::ExpectExit(FL_BINARY, dir, 2, {"bench", "all", "--postgresql", "maybe"});
}

}  // namespace
}  // namespace fundledger
