#include "tools/bench.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "crypto/encoding.h"
#include "crypto/note.h"
#include "ledger/journal.h"
#include "ledger/parallel.h"
#include "ledger/rules.h"
#include "tools/cli_util.h"

namespace fundledger::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

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

json ReceiptEvent(uint64_t i, const std::string& today) {
  return {{"id", "bench-" + std::to_string(i)},
          {"type", "funds_received"},
          {"occurred_on", today},
          {"doc_ref", "湘财建〔2021〕" + std::to_string(i % 1000) + "号"},
          {"to", "xt-finance"},
          {"to_kind", "pool"},
          {"category", "municipal"},
          {"source_org", "xt-finance"},
          {"channel", "transfer"},
          {"amount_fen", 100000 + i}};
}

}  // namespace

int BenchAppend(const BenchArgs& args) {
  if (args.events == 0 || args.batch == 0 || args.batch > kAppendBatchEventsMax) {
    return Report(Status::InvalidArgument(
        "bad_bench_args",
        "need events > 0 and 0 < batch <= " + std::to_string(kAppendBatchEventsMax)));
  }
  fs::path dir = args.dir.empty()
                     ? fs::temp_directory_path() / ("fundledger-bench-" + std::to_string(getpid()))
                     : fs::path(args.dir);
  fs::remove_all(dir);
  KeyPair operator_key = KeyPair::Generate(), bureau_key = KeyPair::Generate();
  NoteSigner log_key{"bench.fundledger", 0, KeyPair::Generate()};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  std::unique_ptr<Journal> journal;
  Status s = Journal::Create(dir.string(), "bench.fundledger", log_key, JournalOptions(), &journal);
  if (!s.ok()) return Report(s);
  std::string today =
      FormatDate(BusinessDay(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count()));
  std::vector<SignedEvent> setup(2);
  s = SignedEvent::Sign(GenesisEvent("operator", "operator", operator_key.public_key(), today),
                        "operator", operator_key, &setup[0]);
  if (s.ok()) {
    s = SignedEvent::Sign({{"id", "reg-xt-finance"},
                           {"type", "org_registered"},
                           {"occurred_on", today},
                           {"org", "xt-finance"},
                           {"name", "湘潭市财政局"},
                           {"kind", "finance_bureau"},
                           {"level", "municipal"},
                           {"region", "hunan/xiangtan"},
                           {"public_key", Base64Encode(bureau_key.public_key())}},
                          "operator", operator_key, &setup[1]);
  }
  std::vector<AppendResult> results;
  if (s.ok()) s = journal->Append(setup, &results);
  if (!s.ok()) return Report(s);

  unsigned cores = ThreadsOrCores(0);
  std::vector<SignedEvent> events(args.events);
  ParallelFor(events.size(), 0, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      Status signed_ok =
          SignedEvent::Sign(ReceiptEvent(i, today), "xt-finance", bureau_key, &events[i]);
      if (!signed_ok.ok()) std::abort();
    }
  });
  double verify_1 = VerifyRate(events[0], bureau_key.public_key(), 1);
  double verify_n = VerifyRate(events[0], bureau_key.public_key(), cores);

  auto start = Clock::now();
  for (size_t at = 0; at < events.size(); at += args.batch) {
    size_t n = std::min<size_t>(args.batch, events.size() - at);
    s = journal->Append(std::span<const SignedEvent>(events.data() + at, n), &results);
    if (!s.ok()) return Report(s);
    for (const auto& r : results) {
      if (!r.status.ok()) return Report(r.status);
    }
  }
  double seconds = Seconds(start);
  double rate = double(args.events) / seconds;
  printf("cores                         %u\n", cores);
  printf("ed25519 verify, 1 core        %.0f /s\n", verify_1);
  printf("ed25519 verify, %u cores       %.0f /s   (limit)\n", cores, verify_n);
  printf("append, batches of %-6llu     %.0f events/s  = %.2f x limit  (%llu events, %.2f s)\n",
         (unsigned long long)args.batch, rate, rate / verify_n, (unsigned long long)args.events,
         seconds);
  journal.reset();
  if (args.dir.empty()) fs::remove_all(dir);
  return kExitOk;
}

}  // namespace fundledger::cli
