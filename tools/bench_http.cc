// `fundledger bench http`: the server measured through real loopback sockets, by a load
// generator in the same process (so client and server share the machine's cores).

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <sys/resource.h>

#include "api/client.h"
#include "api/server.h"
#include "crypto/encoding.h"
#include "ledger/parallel.h"
#include "ledger/rules.h"
#include "replay/views.h"
#include "tools/bench.h"
#include "tools/cli_util.h"

namespace fundledger::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

// Money enough in the pool and every project that requests sequenced in any order never
// overdraw: 10^13 fen into the bureau's pool, 10^10 fen to each project.
Status SeedEvents(const BenchWorkload& world, std::vector<SignedEvent>* out) {
  std::vector<json> events = {{{"id", "seed-pool"},
                               {"type", "funds_received"},
                               {"occurred_on", world.today},
                               {"to", "xt-finance"},
                               {"to_kind", "pool"},
                               {"category", "municipal"},
                               {"source_org", "xt-finance"},
                               {"channel", "transfer"},
                               {"amount_fen", 10'000'000'000'000}}};
  for (int p = 0; p < 100; ++p) {
    events.push_back({{"id", "seed-" + std::to_string(p)},
                      {"type", "funds_allocated"},
                      {"occurred_on", world.today},
                      {"from", "xt-finance"},
                      {"to", "xt-" + std::to_string(p)},
                      {"to_kind", "project"},
                      {"category", "municipal"},
                      {"amount_fen", 10'000'000'000}});
  }
  for (const json& e : events) {
    SignedEvent event;
    FL_RETURN_IF_ERROR(SignedEvent::Sign(e, "xt-finance", world.finance_key, &event));
    out->push_back(std::move(event));
  }
  return Status::Ok();
}

// A ledger of the workload's world, with the seed money, ready to serve.
Status CreateLedger(const BenchWorkload& world, const fs::path& dir, Views* views,
                    std::unique_ptr<Journal>* journal) {
  NoteSigner log_key{"bench.fundledger", 0, KeyPair::Generate()};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  FL_RETURN_IF_ERROR(
      CreateWithViews(dir.string(), "bench.fundledger", log_key, JournalOptions(), views, journal));
  std::vector<SignedEvent> first = world.setup;
  FL_RETURN_IF_ERROR(SeedEvents(world, &first));
  std::vector<AppendResult> results;
  FL_RETURN_IF_ERROR((*journal)->Append(first, &results));
  for (const auto& r : results) FL_RETURN_IF_ERROR(r.status);
  return Status::Ok();
}

// The workload cut into request bodies of `batch` events.
std::vector<std::string> RequestBodies(const BenchWorkload& world, uint64_t batch, bool capnp) {
  std::vector<std::string> bodies;
  for (size_t at = 0; at < world.workload.size(); at += batch) {
    size_t end = std::min<size_t>(world.workload.size(), at + batch);
    std::string body;
    json list = json::array();
    for (size_t i = at; i < end; ++i) {
      if (capnp) {
        body += world.workload[i].ToEnvelopeCapnp();
      } else {
        list.push_back(world.workload[i].ToEnvelopeJson());
      }
    }
    bodies.push_back(capnp ? std::move(body) : list.dump());
  }
  return bodies;
}

// CPU time this process has used (every thread: server, writer, load generator, RocksDB's).
double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

struct IngestFigures {
  double seconds = 0;
  double cpu_seconds = 0;  // of the whole process
  double events_per_s = 0;
  uint64_t rejected = 0;
  uint64_t failed_requests = 0;
};

// `clients` connections post the bodies in turn, each taking the next one not yet posted.
IngestFigures Ingest(const ServerAddress& address, const std::vector<std::string>& bodies,
                     uint64_t events, unsigned clients, bool capnp) {
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> rejected{0}, failed{0};
  auto start = Clock::now();
  const double cpu_start = ProcessCpuSeconds();
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      HttpConnection connection(address, 120000);
      for (size_t i = next++; i < bodies.size(); i = next++) {
        HttpReply reply;
        Status s = connection.Exchange("POST", "/v1/events",
                                       capnp ? "application/x-capnp" : "application/json",
                                       bodies[i], std::nullopt, &reply);
        if (!s.ok() || reply.status != 200) {
          ++failed;
          continue;
        }
        // Each refused event's result holds an "error" object.
        for (size_t at = reply.body.find("\"error\""); at != std::string::npos;
             at = reply.body.find("\"error\"", at + 1)) {
          ++rejected;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = Seconds(start);
  return {seconds, ProcessCpuSeconds() - cpu_start, double(events) / seconds, rejected.load(),
          failed.load()};
}

struct ReadFigures {
  double requests_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  uint64_t failed = 0;
};

// `connections` clients read a project's ratios as the housing bureau for `seconds`, each
// request signed afresh by the client and verified by the server.
ReadFigures ReadRatios(const ServerAddress& address, const KeyPair& key, unsigned connections,
                       double seconds) {
  std::vector<std::vector<double>> latencies(connections);
  std::atomic<uint64_t> failed{0};
  std::atomic<bool> stop{false};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      HttpConnection connection(address, 60000);
      std::string query = "project=xt-" + std::to_string(c % 100);
      std::optional<RequestSigner> signer = RequestSigner{"xt-housing", &key};
      while (!stop) {
        auto t = Clock::now();
        HttpReply reply;
        Status s = connection.Exchange("GET", "/v1/views/ratios?" + query, "", "", signer, &reply);
        if (!s.ok() || reply.status != 200) ++failed;
        latencies[c].push_back(Seconds(t) * 1e3);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = Seconds(start);
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  return {double(all.size()) / elapsed, Percentile(all, 0.5), Percentile(all, 0.99), failed.load()};
}

// A value of the server's /metrics ("name value" line), 0 if absent.
double MetricValue(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::atof(text.c_str() + at + name.size() + 2);
}

}  // namespace

int BenchHttp(const BenchHttpArgs& args) {
  if (args.batch == 0 || args.batch > 5000 || args.clients == 0 || args.connections == 0) {
    return Report(Status::InvalidArgument("bad_bench_args",
                                          "need 0 < batch <= 5000, clients > 0, connections > 0"));
  }
  BenchArgs prepare{args.events, 0, args.dir};
  // Acknowledgements target payments several rounds of every client back, so that requests
  // sequenced out of order still find them.
  prepare.batch = std::min<uint64_t>(kAppendBatchEventsMax, args.batch * args.clients * 8);
  BenchWorkload world;
  Status s = PrepareBenchWorkload(prepare, &world);
  if (!s.ok()) return Report(s);
  unsigned cores = ThreadsOrCores(0);
  bool capnp = args.format == "capnp";
  const SignedEvent& typical = world.workload[std::min<size_t>(2, world.workload.size() - 1)];
  double verify_1 = BenchVerifyRate(typical, world.finance_key.public_key(), 1);
  double limit = verify_1 * cores;
  std::vector<std::string> bodies = RequestBodies(world, args.batch, capnp);

  Views views;
  std::unique_ptr<Journal> journal;
  s = CreateLedger(world, fs::path(world.dir) / "ledger", &views, &journal);
  std::unique_ptr<Server> server;
  ServerOptions options;
  options.threads = cores;
  if (s.ok()) s = Server::Start(*journal, options, &server);
  if (!s.ok()) return Report(s);
  ServerAddress address{"127.0.0.1", std::to_string(server->port()), ""};
  IngestFigures ingest = Ingest(address, bodies, world.workload.size(), args.clients, capnp);
  HttpReply metrics;
  HttpConnection(address).Exchange("GET", "/metrics", "", "", std::nullopt, &metrics).ok();
  double writer_s = MetricValue(metrics.body, "fundledger_append_seconds_sum");
  double fsync_s = MetricValue(metrics.body, "fundledger_fsync_seconds_sum");
  double batches = MetricValue(metrics.body, "fundledger_batch_events_count");
  double syncs = MetricValue(metrics.body, "fundledger_fsync_seconds_count");
  ReadFigures reads = ReadRatios(address, world.housing_key, args.connections, args.read_seconds);
  server->Stop();
  server->Wait();
  server.reset();
  uint64_t records = journal->head().size;
  journal.reset();
  fs::remove_all(world.dir);

  printf("cores                                %u\n", cores);
  printf("ed25519 verify, 1 core               %.0f /s; x %u cores = %.0f /s (limit)\n", verify_1,
         cores, limit);
  printf(
      "workload                             receipt, allocation, payment, acknowledgement; %llu "
      "events, %llu per request (%s), %u clients\n",
      (unsigned long long)world.workload.size(), (unsigned long long)args.batch,
      capnp ? "application/x-capnp" : "application/json", args.clients);
  printf("ingest over HTTP, full rules, views  %.0f events/s = %.2f x limit\n", ingest.events_per_s,
         ingest.events_per_s / limit);
  printf("  refused events %llu, failed requests %llu, journal %llu records\n",
         (unsigned long long)ingest.rejected, (unsigned long long)ingest.failed_requests,
         (unsigned long long)records);
  printf(
      "  the process used %.2f of %u cores: %.1f us of CPU per event, of which %.1f us verify "
      "its signature\n",
      ingest.cpu_seconds / ingest.seconds, cores,
      1e6 * ingest.cpu_seconds / double(world.workload.size()), 1e6 / verify_1);
  printf(
      "  the writer busy %.0f%% of the time, %.0f batches of %.0f events; the WAL sync (beside "
      "it) %.0f%%, %.0f syncs\n",
      100 * writer_s / ingest.seconds, batches,
      batches > 0 ? double(world.workload.size()) / batches : 0.0, 100 * fsync_s / ingest.seconds,
      syncs);
  printf(
      "GET /v1/views/ratios?project=...     %.0f requests/s, p50 %.2f ms, p99 %.2f ms (%u "
      "connections, signed, %.0f s; %llu failed)\n",
      reads.requests_per_s, reads.p50_ms, reads.p99_ms, args.connections, args.read_seconds,
      (unsigned long long)reads.failed);
  return ingest.failed_requests + ingest.rejected + reads.failed == 0 ? kExitOk : kExitFailure;
}

}  // namespace fundledger::cli
