// `fundledger bench ...`: benchmarks that print each figure next to the machine's own limit
// measured in the same run.
#pragma once

#include <cstdint>
#include <string>

namespace fundledger::cli {

struct BenchArgs {
  uint64_t events = 200000;
  uint64_t batch = 1000;
  std::string dir;  // scratch; default a fresh temp dir, removed afterwards
  bool keep = false;  // bench views: leave the ledger in DIR/ledger (to profile replay, verify)
};

// Appends pre-signed events in durable batches; prints events/s and its ratio to the libsodium
// Ed25519 verify rate times the cores.
int BenchAppend(const BenchArgs& args);

// Builds a ledger of `events` (full rules and views), then measures against the same-run limits:
// rebuild of the views against a raw RocksDB scan of the records, full verify against the
// libsodium verify rate times the cores, and a project's view at the head and as of mid-history.
int BenchViews(const BenchArgs& args);

}  // namespace fundledger::cli
