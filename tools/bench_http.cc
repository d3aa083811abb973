// `fundledger bench http`: the server measured through real loopback sockets, by a load
// generator in the same process (so client and server share the machine's cores).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

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

struct IngestFigures {
  double seconds = 0;
  Throughput rate;
  uint64_t rejected = 0;
  uint64_t failed_requests = 0;
};

// `clients` connections post the bodies in turn, each taking the next one not yet posted.
IngestFigures Ingest(const ServerAddress& address, const std::vector<std::string>& bodies,
                     uint64_t events, unsigned clients, bool capnp) {
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> rejected{0}, failed{0};
  auto start = Clock::now();
  ThroughputMeter meter;
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
  return {Seconds(start), meter.Done(events), rejected.load(), failed.load()};
}

// `connections` clients read a project's ratios as the housing bureau for `seconds`, each
// request signed afresh by the client and verified by the server.
void ReadRatios(const ServerAddress& address, const KeyPair& key, unsigned connections,
                double seconds, HttpFigures* out) {
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
        latencies[c].push_back(Seconds(t) * 1e6);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double elapsed = Seconds(start);
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  out->reads.samples = all.size();
  out->reads.per_s = double(all.size()) / elapsed;
  out->reads.p50_us = Percentile(all, 0.5);
  out->reads.p99_us = Percentile(std::move(all), 0.99);
  out->failed_reads = failed.load();
}

// A value of the server's /metrics ("name value" line), 0 if absent.
double MetricValue(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  return at == std::string::npos ? 0 : std::atof(text.c_str() + at + name.size() + 2);
}

double ViewFolds(const ServerAddress& address) {
  HttpReply metrics;
  HttpConnection(address).Exchange("GET", "/metrics", "", "", std::nullopt, &metrics).ok();
  return MetricValue(metrics.body, "fundledger_view_folds_total{reused=\"false\"}");
}

// An auditor exporting the region's payments as of `as_of` (CSV), each page asked for by the
// last one's Link, as the housing bureau. The first page folds the region's records up to that
// point; the later pages name the same point.
void PageRegionList(const ServerAddress& address, const KeyPair& key, uint64_t as_of,
                    HttpFigures* out) {
  out->list_as_of = as_of;
  const double folds_before = ViewFolds(address);
  HttpConnection connection(address, 600000);
  const std::optional<RequestSigner> signer = RequestSigner{"xt-housing", &key};
  std::string target = "/v1/views/disbursements?region=hunan/xiangtan/yuhu&format=csv&as_of_seq=" +
                       std::to_string(as_of);
  double later_ms = 0;
  while (!target.empty()) {
    auto t = Clock::now();
    HttpReply reply;
    Status s = connection.Exchange("GET", target, "", "", signer, &reply);
    const double ms = Seconds(t) * 1e3;
    if (!s.ok() || reply.status != 200 || out->list_pages >= kBenchListPagesMax) {
      out->list_failed = true;
      return;
    }
    (out->list_pages == 0 ? out->list_first_ms : later_ms) += ms;
    ++out->list_pages;
    // A header line, then the page's lines.
    out->list_lines += std::count(reply.body.begin(), reply.body.end(), '\n') - 1;
    target.clear();
    // `<URL>; rel="next"`
    if (size_t end = reply.link.find('>');
        reply.link.starts_with("<") && end != std::string::npos) {
      target = reply.link.substr(1, end - 1);
    }
  }
  if (out->list_pages > 1) out->list_later_ms = later_ms / double(out->list_pages - 1);
  out->list_folds = uint64_t(ViewFolds(address) - folds_before);
}

}  // namespace

uint64_t BenchHttpAckLagCycles(const BenchHttpArgs& args) {
  return std::max<uint64_t>(
      1, std::min<uint64_t>(kAppendBatchEventsMax, args.batch * args.clients * 8) / 4);
}

Status BenchHttpRun(const BenchWorkload& world, const BenchHttpArgs& args,
                    const std::string& ledger_dir, HttpFigures* out) {
  bool capnp = args.format == "capnp";
  std::vector<std::string> bodies = RequestBodies(world, args.batch, capnp);
  Views views;
  std::unique_ptr<Journal> journal;
  FL_RETURN_IF_ERROR(CreateLedger(world, ledger_dir, &views, &journal));
  std::unique_ptr<Server> server;
  ServerOptions options;
  options.threads = ThreadsOrCores(0);
  FL_RETURN_IF_ERROR(Server::Start(*journal, options, &server));
  ServerAddress address{"127.0.0.1", std::to_string(server->port()), ""};
  // Readers beside the ingest, until it is done: anonymous readers of the whole ledger's public
  // summary, and registered readers of the checkpoint at the head.
  std::atomic<bool> ingested{false};
  struct SideReaders {
    std::vector<std::vector<double>> latencies;
    std::atomic<uint64_t> failed{0};
  } public_side, checkpoint_side;
  public_side.latencies.resize(args.public_readers);
  checkpoint_side.latencies.resize(args.checkpoint_readers);
  std::vector<std::thread> side_readers;
  auto read_beside = [&](SideReaders* side, unsigned r, std::string target,
                         std::optional<RequestSigner> signer) {
    HttpConnection connection(address, 120000);
    while (!ingested) {
      auto t = Clock::now();
      HttpReply reply;
      Status s = connection.Exchange("GET", target, "", "", signer, &reply);
      // Before the first checkpoint there is no summary to show (404 no_checkpoint).
      if (!s.ok() || (reply.status != 200 && reply.status != 404)) ++side->failed;
      side->latencies[r].push_back(Seconds(t) * 1e6);
    }
  };
  for (unsigned r = 0; r < args.public_readers; ++r) {
    side_readers.emplace_back(read_beside, &public_side, r,
                              "/v1/public/summary?region=", std::nullopt);
  }
  for (unsigned r = 0; r < args.checkpoint_readers; ++r) {
    side_readers.emplace_back(read_beside, &checkpoint_side, r, "/v1/checkpoint",
                              RequestSigner{"xt-housing", &world.housing_key});
  }
  auto side_start = Clock::now();
  IngestFigures ingest = Ingest(address, bodies, world.workload.size(), args.clients, capnp);
  ingested = true;
  for (auto& t : side_readers) t.join();
  auto side_figures = [&](SideReaders& side, BenchLatency* figures) {
    std::vector<double> all;
    for (auto& l : side.latencies) all.insert(all.end(), l.begin(), l.end());
    figures->samples = all.size();
    figures->per_s = double(all.size()) / Seconds(side_start);
    figures->p50_us = Percentile(all, 0.5);
    figures->p99_us = Percentile(std::move(all), 0.99);
    return side.failed.load();
  };
  if (args.public_readers > 0) out->failed_public = side_figures(public_side, &out->public_reads);
  if (args.checkpoint_readers > 0) {
    out->failed_checkpoint = side_figures(checkpoint_side, &out->checkpoint_reads);
  }
  out->seconds = ingest.seconds;
  out->ingest = ingest.rate;
  out->rejected = ingest.rejected;
  out->failed_requests = ingest.failed_requests;
  HttpReply metrics;
  HttpConnection(address).Exchange("GET", "/metrics", "", "", std::nullopt, &metrics).ok();
  out->writer_s = MetricValue(metrics.body, "fundledger_append_seconds_sum");
  out->fsync_s = MetricValue(metrics.body, "fundledger_fsync_seconds_sum");
  out->batches = MetricValue(metrics.body, "fundledger_batch_events_count");
  out->syncs = MetricValue(metrics.body, "fundledger_fsync_seconds_count");
  ReadRatios(address, world.housing_key, args.connections, args.read_seconds, out);
  PageRegionList(address, world.housing_key, journal->head().size / 2, out);
  server->Stop();
  server->Wait();
  server.reset();
  out->records = journal->head().size;
  return journal->ScanCheckpoints([&](uint64_t, std::string_view) {
    ++out->checkpoints;
    return true;
  });
}

void ReportHttp(const HttpFigures& http, const BenchHttpArgs& args, uint64_t events,
                const VerifyLimit& limit, BenchReport* report) {
  bool capnp = args.format == "capnp";
  report->Note("http_workload", "HTTP workload",
               std::to_string(events) + " events, " + std::to_string(args.batch) +
                   " per request (" + (capnp ? "application/x-capnp" : "application/json") + "), " +
                   std::to_string(args.clients) + " clients");
  // The cores busy include the in-process clients' own work (building and sending requests).
  report->Add("http_ingest", "ingest over HTTP, full rules, views", http.ingest.per_s, "events/s",
              Format("%.0f events/s", http.ingest.per_s) + CoresBusyText(http.ingest),
              http.ingest.per_s / limit.limit(), VerifyLimitName(limit),
              kTargetHttpIngestOfVerifyLimit);
  // Readers beside the ingest: "  beside it N <who>: R answers/s, p50, p99, F failed".
  auto beside = [&](const char* key, unsigned readers, const std::string& who,
                    const BenchLatency& reads, uint64_t failed) {
    if (readers == 0) return;
    report->Note(key, "",
                 "  beside it " + std::to_string(readers) + " " + who + ": " +
                     Format("%.1f answers/s", reads.per_s) +
                     Format(", p50 %.1f ms", reads.p50_us / 1e3) +
                     Format(", p99 %.1f ms", reads.p99_us / 1e3) + ", " + std::to_string(failed) +
                     " failed");
  };
  beside("http_public_beside", args.public_readers,
         "anonymous readers of the whole ledger's public summary", http.public_reads,
         http.failed_public);
  beside("http_checkpoint_beside", args.checkpoint_readers,
         "registered readers of GET /v1/checkpoint", http.checkpoint_reads, http.failed_checkpoint);
  report->Note("http_ingest_detail", "",
               "  refused events " + std::to_string(http.rejected) + ", failed requests " +
                   std::to_string(http.failed_requests) + ", journal " +
                   std::to_string(http.records) + " records, " + std::to_string(http.checkpoints) +
                   " checkpoints");
  // The WAL syncs run on their own thread, beside the writer's next batch.
  report->Note(
      "http_writer", "",
      Format("  the writer busy %.0f%% of the time, ", 100 * http.writer_s / http.seconds) +
          Format("%.0f batches of ", http.batches) +
          Format("%.0f events", http.batches > 0 ? double(events) / http.batches : 0.0) +
          Format("; the WAL sync (beside it) %.0f%%", 100 * http.fsync_s / http.seconds) +
          Format(", %.0f syncs", http.syncs));
  // What bounds ingest when every core is busy: the process's CPU per event against what
  // checking one signature takes.
  report->Note("http_cpu", "",
               Format("  %.1f us of the process's CPU per event",
                      1e6 * http.ingest.cores_busy / http.ingest.per_s) +
                   Format(", of which %.1f us verify its signature", 1e6 / limit.one_core));
  // Every read carries a signature the server checks (and the in-process client makes), so the
  // reads are bounded by signature checking too.
  report->Add("http_view", "project view over HTTP", http.reads.per_s, "requests/s",
              Format("%.0f requests/s", http.reads.per_s) +
                  Format(", p50 %.2f ms", http.reads.p50_us / 1e3) +
                  Format(", p99 %.2f ms", http.reads.p99_us / 1e3) + " (GET ratios, " +
                  std::to_string(args.connections) + " connections, signed; " +
                  std::to_string(http.failed_reads) + " failed)",
              http.reads.per_s / limit.limit(), VerifyLimitName(limit));
  report->Note("http_list_pages", "region's payments as of mid-history",
               http.list_failed
                   ? std::string("failed")
                   : std::to_string(http.list_lines) + " lines in " +
                         std::to_string(http.list_pages) + " pages (CSV, as of seq " +
                         std::to_string(http.list_as_of) +
                         Format("): first page %.0f ms", http.list_first_ms) +
                         Format(", each later page %.0f ms", http.list_later_ms) + "; " +
                         std::to_string(http.list_folds) + " fold(s) of the region");
}

Status CheckHttpArgs(const BenchHttpArgs& args) {
  if (args.batch == 0 || args.batch > 5000 || args.clients == 0 || args.clients > 1024 ||
      args.connections == 0 || args.connections > 1024 || args.public_readers > 64 ||
      args.checkpoint_readers > 64 || !(args.read_seconds > 0) ||
      args.read_seconds > kBenchSecondsMax) {
    return Status::InvalidArgument("bad_bench_args",
                                   "need 0 < batch <= 5000, 0 < clients, connections <= 1024, "
                                   "public and checkpoint readers <= 64 and "
                                   "0 < read seconds <= 600");
  }
  return Status::Ok();
}

int BenchHttp(const BenchHttpArgs& args) {
  Status s = CheckHttpArgs(args);
  if (!s.ok()) return Report(s);
  BenchArgs prepare;
  prepare.events = args.events;
  prepare.batch = kAppendBatchEventsMax;  // in-process batches are not used; any valid size
  prepare.ack_lag_cycles = BenchHttpAckLagCycles(args);
  prepare.dir = args.dir;
  prepare.json = args.json;
  BenchWorkload world;
  BenchReport report(args.json);
  VerifyLimit limit;
  s = BeginBench(prepare, &world, &report, &limit);
  if (!s.ok()) return Report(s);
  HttpFigures http;
  s = BenchHttpRun(world, args, (fs::path(world.dir) / "ledger").string(), &http);
  fs::remove_all(world.dir);
  if (!s.ok()) return Report(s);
  ReportHttp(http, args, world.workload.size(), limit, &report);
  bool finished = report.Finish("fundledger bench http");
  return http.failed_requests + http.rejected + http.failed_reads + http.failed_public +
                         http.failed_checkpoint ==
                     0 &&
                 finished
             ? kExitOk
             : kExitFailure;
}

}  // namespace fundledger::cli
