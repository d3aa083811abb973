// `fundledger bench soak`: a long run of mixed reads and writes over HTTP against a
// `fundledger serve` child process, reporting per interval the errors (which must stay zero),
// the server's resident memory and the latency of each kind of request, and at the end whether
// the ledger verifies.
//
// The server is a separate process (this binary, `serve`), so that its resident memory is its
// own and not the load generator's.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "api/client.h"
#include "crypto/encoding.h"
#include "ledger/rules.h"
#include "replay/verify.h"
#include "replay/views.h"
#include "tools/bench.h"
#include "tools/cli_util.h"

namespace fundledger::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int64_t kRequestTimeoutMs = 60000;
constexpr int kServeStartSecondsMax = 60;
constexpr int kServeStopSecondsMax = 30;
constexpr int kEventsPerCycle = 4;
constexpr int kCyclesPerRequestMax = 25;

// The kinds of request, each with its own latency figures.
enum Kind : size_t { kWrite, kView, kPublic, kProof, kLog, kKinds };
constexpr std::array<const char*, kKinds> kKindNames = {"write", "view", "public", "proof", "log"};

// What the clients measured since the last report. Thread safety: guarded by `mu`.
struct Interval {
  std::mutex mu;
  std::array<std::vector<double>, kKinds> latency_ms;
  std::array<uint64_t, kKinds> errors{};
  uint64_t events = 0;                    // appended
  std::vector<std::string> first_errors;  // a few, to print

  void Add(Kind kind, double ms, bool ok, const std::string& what, uint64_t appended = 0) {
    std::lock_guard<std::mutex> lock(mu);
    latency_ms[kind].push_back(ms);
    events += appended;
    if (!ok) {
      ++errors[kind];
      if (first_errors.size() < 5) first_errors.push_back(what);
    }
  }
};

struct SoakWorld {
  BenchWorkload keys;
  ServerAddress address;
  uint64_t setup = 1;             // records of the setup: the projects exist after it
  std::atomic<uint64_t> head{1};  // a recent journal size, for proofs and as-of views
};

// `cycles` cycles of money signed now: received into the bureau's pool, allocated to a project,
// partly paid to the contractor, and the payment acknowledged. Each cycle leaves the pool and
// the project richer, so requests sequenced in any order never overdraw.
Status CycleRequest(const SoakWorld& world, const std::string& prefix, int cycles,
                    std::mt19937_64& rng, std::string* body) {
  json list = json::array();
  for (int c = 0; c < cycles; ++c) {
    const std::string id = prefix + "-" + std::to_string(c);
    const uint64_t fen = 1'000'000 + rng() % 1'000'000;
    const std::string project = "xt-" + std::to_string(rng() % kBenchProjects);
    const std::string& today = world.keys.today;
    std::vector<std::pair<const KeyPair*, json>> events = {
        {&world.keys.finance_key,
         {{"id", id + "-in"},
          {"type", "funds_received"},
          {"occurred_on", today},
          {"to", "xt-finance"},
          {"to_kind", "pool"},
          {"category", "municipal"},
          {"source_org", "xt-finance"},
          {"channel", "transfer"},
          {"amount_fen", fen}}},
        {&world.keys.finance_key,
         {{"id", id + "-al"},
          {"type", "funds_allocated"},
          {"occurred_on", today},
          {"from", "xt-finance"},
          {"to", project},
          {"to_kind", "project"},
          {"category", "municipal"},
          {"amount_fen", fen / 2}}},
        {&world.keys.finance_key,
         {{"id", id + "-pay"},
          {"type", "funds_disbursed"},
          {"occurred_on", today},
          {"project", project},
          {"category", "municipal"},
          {"amount_fen", fen / 4},
          {"payee",
           {{"name", "湘潭市建设工程有限公司"}, {"kind", "contractor"}, {"org", "jianshe"}}},
          {"work", "basic"},
          {"item", "pipe_network"},
          {"contract_ref", "XTJS-" + id},
          {"invoice_ref", "No." + id}}},
        {&world.keys.contractor_key,
         {{"id", id + "-ack"},
          {"type", "acknowledged"},
          {"occurred_on", today},
          {"target", id + "-pay"}}}};
    for (auto& [key, event] : events) {
      SignedEvent signed_event;
      const char* signer = key == &world.keys.contractor_key ? "jianshe" : "xt-finance";
      FL_RETURN_IF_ERROR(SignedEvent::Sign(event, signer, *key, &signed_event));
      list.push_back(signed_event.ToEnvelopeJson());
    }
  }
  *body = list.dump();
  return Status::Ok();
}

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Posts cycles at `events_per_s` (0: as fast as answers come) until `stop`.
void WriteLoop(SoakWorld& world, int writer, double events_per_s, uint64_t seed,
               const std::atomic<bool>& stop, Interval* interval) {
  std::mt19937_64 rng(seed);
  HttpConnection connection(world.address, kRequestTimeoutMs);
  const auto start = Clock::now();
  uint64_t posted = 0;
  for (uint64_t n = 0; !stop; ++n) {
    if (events_per_s > 0) {
      auto due = start + std::chrono::duration<double>(double(posted) / events_per_s);
      while (!stop && Clock::now() < due) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (stop) return;
    }
    const int cycles = 1 + int(rng() % kCyclesPerRequestMax);
    std::string body;
    std::string prefix = "soak-w" + std::to_string(writer) + "-" + std::to_string(n);
    if (!CycleRequest(world, prefix, cycles, rng, &body).ok()) {
      interval->Add(kWrite, 0, false, "cannot sign " + prefix);
      return;
    }
    posted += uint64_t(cycles) * kEventsPerCycle;
    auto t = Clock::now();
    HttpReply reply;
    Status s = connection.Exchange("POST", "/v1/events", "application/json", std::move(body),
                                   std::nullopt, &reply);
    double ms = MsSince(t);
    if (!s.ok() || reply.status != 200) {
      interval->Add(kWrite, ms, false,
                    "POST /v1/events: " +
                        (s.ok() ? std::to_string(reply.status) + " " + reply.body.substr(0, 200)
                                : s.ToString()));
      continue;
    }
    json results = json::parse(reply.body, nullptr, false);
    uint64_t appended = 0, max_seq = 0;
    bool ok = results.is_array() && results.size() == size_t(cycles) * kEventsPerCycle;
    if (ok) {
      for (const json& r : results) {
        if (!r.contains("seq") || r.value("duplicate", true)) {
          ok = false;
          continue;
        }
        ++appended;
        max_seq = std::max<uint64_t>(max_seq, r["seq"]);
      }
    }
    uint64_t head = world.head.load();
    while (max_seq > head && !world.head.compare_exchange_weak(head, max_seq)) {
    }
    interval->Add(kWrite, ms, ok, "POST /v1/events refused: " + reply.body.substr(0, 200),
                  appended);
  }
}

// One read of a kind drawn by weight: views 40% (a tenth of them as of an earlier seq), public
// 25%, proofs 25%, the log 9%, a signed checkpoint (written at the head if it moved) 1%.
void ReadLoop(SoakWorld& world, uint64_t seed, const std::atomic<bool>& stop, Interval* interval) {
  std::mt19937_64 rng(seed);
  HttpConnection connection(world.address, kRequestTimeoutMs);
  const RequestSigner housing{"xt-housing", &world.keys.housing_key};
  const RequestSigner finance{"xt-finance", &world.keys.finance_key};
  const RequestSigner operator_signer{"operator", &world.keys.operator_key};
  static constexpr std::array<const char*, 4> kViews = {"balance", "ratios", "disbursements",
                                                        "flags"};
  while (!stop) {
    const unsigned draw = unsigned(rng() % 100);
    const uint64_t head = world.head.load();
    const std::string project = "xt-" + std::to_string(rng() % kBenchProjects);
    Kind kind;
    std::string target;
    std::optional<RequestSigner> signer;
    if (draw < 40) {
      kind = kView;
      const unsigned scope = unsigned(rng() % 10);
      target = std::string("/v1/views/") + kViews[rng() % kViews.size()] + "?" +
               (scope < 7   ? "project=" + project
                : scope < 9 ? std::string("pool=xt-finance")
                            : std::string("region=hunan/xiangtan/yuhu"));
      if (rng() % 10 == 0) {
        target += "&as_of_seq=" + std::to_string(world.setup + rng() % (head - world.setup + 1));
      }
      signer = scope >= 7 && scope < 9 ? finance : housing;
    } else if (draw < 65) {
      kind = kPublic;
      static constexpr std::array<const char*, 4> kPublicTargets = {
          "/v1/public/checkpoint", "/v1/public/projects", "/healthz",
          "/v1/public/summary?region=hunan/xiangtan"};
      const unsigned which = unsigned(rng() % 5);
      target =
          which < 4 ? std::string(kPublicTargets[which]) : "/v1/public/summary?project=" + project;
    } else if (draw < 90) {
      kind = kProof;
      target = rng() % 2 ? "/v1/proofs/inclusion?seq=" + std::to_string(1 + rng() % head)
                         : "/v1/proofs/consistency?from=" + std::to_string(1 + rng() % head);
      signer = housing;
    } else {
      kind = kLog;
      target = rng() % 10 ? "/v1/events?from=" + std::to_string(1 + rng() % head) + "&limit=100"
                          : std::string("/v1/checkpoint");
      signer = operator_signer;
    }
    auto t = Clock::now();
    HttpReply reply;
    Status s = connection.Exchange("GET", target, "", "", signer, &reply);
    const bool ok = s.ok() && reply.status == 200;
    interval->Add(kind, MsSince(t), ok,
                  "GET " + target + ": " +
                      (s.ok() ? std::to_string(reply.status) + " " + reply.body.substr(0, 200)
                              : s.ToString()));
  }
}

// The ledger of the benchmark's world (orgs, 100 approved projects) with money in the pool and
// a signed checkpoint, so that the public reads have one from the start.
Status CreateSoakLedger(const BenchWorkload& keys, const std::string& dir) {
  NoteSigner log_key{"soak.fundledger", 0, KeyPair::Generate()};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  Views views;
  std::unique_ptr<Journal> journal;
  FL_RETURN_IF_ERROR(
      CreateWithViews(dir, "soak.fundledger", log_key, JournalOptions(), &views, &journal));
  std::vector<AppendResult> results;
  FL_RETURN_IF_ERROR(journal->Append(keys.setup, &results));
  for (const auto& r : results) FL_RETURN_IF_ERROR(r.status);
  std::string note;
  return journal->WriteCheckpoint(&note);
}

// The server's resident memory in MiB (VmRSS), 0 if it cannot be read.
double ResidentMiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024;
  }
  return 0;
}

// The server's fundledger_memory_bytes gauges from /metrics, in MiB by part; empty if the
// scrape fails.
std::map<std::string, double> ServerMemoryMiB(const ServerAddress& address) {
  std::map<std::string, double> parts;
  HttpConnection connection(address, kRequestTimeoutMs);
  HttpReply reply;
  if (!connection.Exchange("GET", "/metrics", "", "", std::nullopt, &reply).ok() ||
      reply.status != 200) {
    return parts;
  }
  static const std::regex line("^fundledger_memory_bytes\\{part=\"([a-z_]+)\"\\} ([0-9]+)$");
  std::istringstream in(reply.body);
  std::string text;
  while (std::getline(in, text)) {
    std::smatch match;
    if (std::regex_match(text, match, line)) {
      parts[match[1]] = std::stod(match[2]) / (1 << 20);
    }
  }
  return parts;
}

// `fundledger serve` on a free loopback port as a child process; its port once it serves.
Status StartServer(const std::string& ledger, const std::string& log_path, unsigned threads,
                   pid_t* pid, std::string* port) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string threads_text = std::to_string(threads);
  *pid = ::fork();
  if (*pid < 0) return Status::IOError("fork", "cannot start the server");
  if (*pid == 0) {
    int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ::_exit(127);
    ::execl(self.c_str(), self.c_str(), "serve", "--data", ledger.c_str(), "--listen",
            "127.0.0.1:0", "--threads", threads_text.c_str(), nullptr);
    ::_exit(127);
  }
  const std::regex serving("on http://127\\.0\\.0\\.1:([0-9]+)");
  const auto deadline = Clock::now() + std::chrono::seconds(kServeStartSecondsMax);
  while (Clock::now() < deadline) {
    std::ifstream in(log_path);
    std::stringstream text;
    text << in.rdbuf();
    std::smatch match;
    const std::string s = text.str();
    if (std::regex_search(s, match, serving)) {
      *port = match[1];
      return Status::Ok();
    }
    if (::waitpid(*pid, nullptr, WNOHANG) == *pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(*pid, SIGKILL);
  ::waitpid(*pid, nullptr, 0);
  return Status::IOError("serve", "the server did not start; see " + log_path);
}

// SIGTERM, then the exit status (SIGKILL after kServeStopSecondsMax).
Status StopServer(pid_t pid) {
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(kServeStopSecondsMax);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Status::IOError("serve", "the server did not stop on SIGTERM");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::IOError("serve", "the server exited with status " + std::to_string(status));
  }
  return Status::Ok();
}

std::string LatencyText(std::vector<double>& ms) {
  if (ms.empty()) return "-";
  double max = *std::max_element(ms.begin(), ms.end());
  return Format("%.1f", Percentile(ms, 0.5)) + "/" + Format("%.1f", Percentile(ms, 0.99)) + "/" +
         Format("%.0f", max);
}

struct SoakTotals {
  uint64_t events = 0, reads = 0, errors = 0;
  std::vector<double> rss_mib;  // at the end of each interval
};

// Takes what the clients measured in the interval that just ended and prints its line.
void ReportInterval(double at_s, double seconds, pid_t server, const SoakWorld& world,
                    Interval* interval, SoakTotals* totals) {
  Interval taken;
  {
    std::lock_guard<std::mutex> lock(interval->mu);
    std::swap(taken.latency_ms, interval->latency_ms);
    std::swap(taken.errors, interval->errors);
    std::swap(taken.events, interval->events);
    std::swap(taken.first_errors, interval->first_errors);
  }
  uint64_t reads = 0, errors = 0;
  for (size_t k = 0; k < kKinds; ++k) {
    if (k != kWrite) reads += taken.latency_ms[k].size();
    errors += taken.errors[k];
  }
  const double rss = ResidentMiB(server);
  totals->events += taken.events;
  totals->reads += reads;
  totals->errors += errors;
  totals->rss_mib.push_back(rss);
  std::string line = Format("%6.0f s", at_s) + Format("  records %8.0f", double(world.head)) +
                     Format("  events/s %6.0f", double(taken.events) / seconds) +
                     Format("  reads/s %6.0f", double(reads) / seconds) + "  errors " +
                     std::to_string(errors) + Format("  rss %.1f MiB", rss) + "  ms p50/p99/max:";
  for (size_t k = 0; k < kKinds; ++k) {
    line += std::string(" ") + kKindNames[k] + " " + LatencyText(taken.latency_ms[k]);
  }
  printf("%s\n", line.c_str());
  // Where the memory is, as the server counts it (api/metrics.h, memory_bytes).
  auto memory = ServerMemoryMiB(world.address);
  if (!memory.empty()) {
    printf(
        "          MiB: heap in use %.1f, heap free %.1f, memtables %.1f, block cache %.1f, "
        "table readers %.1f, public cache %.1f\n",
        memory["heap_in_use"], memory["heap_free"], memory["memtables"], memory["block_cache"],
        memory["table_readers"], memory["public_cache"]);
  }
  for (const auto& e : taken.first_errors) printf("  error: %s\n", e.c_str());
  fflush(stdout);
}

// The rest of the run: stop the clients and the server, verify the ledger, print the summary.
int FinishSoak(const std::string& ledger, pid_t server, double seconds, const SoakTotals& totals) {
  Status stopped = StopServer(server);
  if (!stopped.ok()) printf("error: %s\n", stopped.ToString().c_str());
  const auto& rss = totals.rss_mib;
  printf("soak: %.0f s, %llu events appended, %llu reads, %llu errors\n", seconds,
         (unsigned long long)totals.events, (unsigned long long)totals.reads,
         (unsigned long long)totals.errors);
  if (rss.size() >= 2) {
    // Growth after the first interval, once the caches and memtables have filled once.
    const size_t half = rss.size() / 2;
    printf(
        "server RSS: %.1f MiB after the first interval, %.1f MiB at the end (%+.1f MiB); "
        "%+.1f MiB over the second half\n",
        rss.front(), rss.back(), rss.back() - rss.front(), rss.back() - rss[half]);
  }
  const auto start = Clock::now();
  std::unique_ptr<Journal> journal;
  Status s = Journal::Open(ledger, JournalOptions(), &journal);
  VerifyReport report;
  if (s.ok()) s = VerifyLedger(*journal, VerifyOptions(), &report);
  if (s.ok()) {
    printf("the ledger verifies: %llu records, %llu checkpoints (%.1f s)\n",
           (unsigned long long)report.records, (unsigned long long)report.checkpoints,
           Seconds(start));
  } else {
    printf("the ledger does not verify: %s\n", s.ToString().c_str());
  }
  fflush(stdout);
  return s.ok() && stopped.ok() && totals.errors == 0 ? kExitOk : kExitFailure;
}

}  // namespace

int BenchSoak(const BenchSoakArgs& args) {
  const double seconds = args.seconds > 0 ? args.seconds : args.minutes * 60;
  if (!(seconds > 0) || seconds > kSoakSecondsMax || !(args.interval_seconds > 0) ||
      args.writers == 0 || args.writers > 64 || args.readers > 256 || args.write_rate < 0 ||
      args.server_threads == 0 || args.server_threads > 64) {
    return Report(
        Status::InvalidArgument("bad_bench_args",
                                "need 0 < duration <= 24 h, 0 < interval, 0 < writers <= 64, "
                                "readers <= 256, write rate >= 0, 0 < server threads <= 64"));
  }
  SoakWorld world;
  BenchArgs prepare;
  prepare.events = 1;  // the world's setup only; the soak signs its events as it goes
  prepare.dir = args.dir;
  Status s = PrepareBenchWorkload(prepare, &world.keys);
  if (!s.ok()) return Report(s);
  const std::string ledger = (fs::path(world.keys.dir) / "ledger").string();
  s = CreateSoakLedger(world.keys, ledger);
  world.setup = world.keys.setup.size();
  world.head = world.setup;
  pid_t server = -1;
  std::string port;
  if (s.ok()) {
    s = StartServer(ledger, (fs::path(world.keys.dir) / "serve.log").string(), args.server_threads,
                    &server, &port);
  }
  if (!s.ok()) {
    fs::remove_all(world.keys.dir);
    return Report(s);
  }
  world.address = ServerAddress{"127.0.0.1", port, ""};
  printf(
      "soak: %.0f s of mixed load on fundledger serve (pid %d, %u threads): %u writers at "
      "%.0f events/s in all (cycles of receipt, allocation, payment, acknowledgement), %u "
      "readers (views 40%%, public 25%%, proofs 25%%, the log 9%%, a checkpoint 1%%); a line every "
      "%.0f s\n",
      seconds, int(server), args.server_threads, args.writers, args.write_rate, args.readers,
      args.interval_seconds);
  fflush(stdout);
  Interval interval;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::mt19937_64 seeds(std::random_device{}());
  for (unsigned w = 0; w < args.writers; ++w) {
    threads.emplace_back(WriteLoop, std::ref(world), int(w), args.write_rate / args.writers,
                         seeds(), std::cref(stop), &interval);
  }
  for (unsigned r = 0; r < args.readers; ++r) {
    threads.emplace_back(ReadLoop, std::ref(world), seeds(), std::cref(stop), &interval);
  }
  SoakTotals totals;
  const auto start = Clock::now();
  for (double at = args.interval_seconds;; at += args.interval_seconds) {
    const double end = std::min(at, seconds);
    std::this_thread::sleep_until(
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(end)));
    if (end >= seconds) {
      stop = true;
      for (auto& t : threads) t.join();
    }
    const double length = end - (at - args.interval_seconds);
    ReportInterval(end, length, server, world, &interval, &totals);
    if (end >= seconds) break;
  }
  int code = FinishSoak(ledger, server, seconds, totals);
  if (!args.keep) fs::remove_all(world.keys.dir);
  return code;
}

}  // namespace fundledger::cli
