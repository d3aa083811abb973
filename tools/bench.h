// `fundledger bench ...`: benchmarks that print each figure next to the machine's own limit
// measured in the same run.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/ed25519.h"
#include "ledger/event.h"

namespace fundledger::cli {

// Seconds elapsed since `since` on the steady clock (the benchmarks' one timer).
inline double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

struct BenchArgs {
  uint64_t events = 200000;
  uint64_t batch = 1000;
  std::string dir;    // scratch; default a fresh temp dir, removed afterwards
  bool keep = false;  // bench views: leave the ledger in DIR/ledger (to profile replay, verify)
};

// Appends pre-signed events in durable batches; prints events/s and its ratio to the libsodium
// Ed25519 verify rate times the cores.
int BenchAppend(const BenchArgs& args);

// Builds a ledger of `events` (full rules and views), then measures against the same-run limits:
// rebuild of the views against a raw RocksDB scan of the records, full verify against the
// libsodium verify rate times the cores, and a project's view at the head and as of mid-history.
// With `existing_ledger` (one left by --keep), measures that ledger, read only, instead.
int BenchViews(const BenchArgs& args, const std::string& existing_ledger = "");

// For benchmarks in other files (bench http): the scratch directory and the pre-signed world of
// bench append (orgs, 100 approved projects, then receipt, allocation, payment and
// acknowledgement cycles), and the signature-checking limit.
struct BenchWorkload {
  std::string dir;                    // scratch, made empty; the caller removes it
  std::vector<SignedEvent> setup;     // genesis, orgs, projects
  std::vector<SignedEvent> workload;  // `events` events; acknowledgements lag `batch` events
  KeyPair finance_key = KeyPair::Generate();  // signs as xt-finance (set by PrepareBenchWorkload)
  KeyPair housing_key = KeyPair::Generate();  // signs as xt-housing, of hunan/xiangtan
  std::string today;                          // the business date of every event
};
Status PrepareBenchWorkload(const BenchArgs& args, BenchWorkload* out);
// Ed25519 verifications per second of `event` on `threads` threads.
double BenchVerifyRate(const SignedEvent& event, const PublicKey& key, unsigned threads);

// Ingest over HTTP with concurrent clients against the verify limit, then a project's ratios
// view read over 64 connections (requests/s, p50 and p99 latency).
struct BenchHttpArgs {
  uint64_t events = 200000;
  uint64_t batch = 100;  // events per request
  unsigned clients = 16;
  unsigned connections = 64;  // for the reads
  double read_seconds = 5;
  std::string format = "capnp";  // or json
  std::string dir;
};
int BenchHttp(const BenchHttpArgs& args);

}  // namespace fundledger::cli
