// Crash recovery of the HTTP server: `fundledger serve` ingests signed batches from several
// client threads over loopback (JSON and Cap'n Proto bodies) while a checkpoint reader asks for
// signed checkpoints, and is killed with SIGKILL at a random moment, sometimes while it is
// still opening the ledger. After every kill the ledger must hold every acknowledged event with
// the seq and leaf hash its answer gave, every checkpoint handed out, each posted event wholly
// (record, id row, leaf, account fact and movement view) or not at all, views equal to a fresh
// replay, and pass `fundledger verify`. When the server is back, the requests whose answers
// were lost are posted again, as a client would: each event comes back as the duplicate of its
// record if it was kept, or is appended now; a sample of acknowledged requests comes back as
// duplicates with their original seq and leaf hash.
//
// FL_CRASH_ROUNDS sets the number of kills (default 3; 50 or more for the long run),
// FL_CRASH_SEED the random seed (printed, to replay a failure). A fresh ledger is started every
// kRoundsPerLedger rounds so that a long run's rounds stay short.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/client.h"
#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "crypto/note.h"
#include "ledger/journal.h"
#include "ledger/storage_format.h"
#include "replay/rebuild.h"
#include "replay/view_rows.h"
#include "replay/views.h"
#include "tests/ledger/fund_events.h"
#include "tests/tools/journal_checks.h"
#include "tests/tools/test_dir.h"

namespace fundledger::test {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr int kDefaultRounds = 3;
constexpr int kRoundsPerLedger = 20;
constexpr int kClients = 4;               // posting threads; even ones JSON, odd ones Cap'n Proto
constexpr int kCyclesPerRequestMax = 12;  // 4 events per cycle
constexpr int kProjects = 8;
constexpr int kKillAfterAckMsMax = 800;
constexpr int kKillWhileOpeningMsMax = 40;
constexpr int kServeStartMsMax = 20000;
constexpr int64_t kClientTimeoutMs = 20000;

// The signers of the world: the operator, a municipal finance bureau, a housing bureau and a
// contractor who acknowledges its payments.
struct World {
  KeyPair operator_key = SeededKey(0x11);
  KeyPair finance_key = SeededKey(0x12);
  KeyPair housing_key = SeededKey(0x13);
  KeyPair contractor_key = SeededKey(0x14);
};

std::string Project(int p) { return "crash-" + std::to_string(p); }

SignedEvent MustSign(const json& event, const std::string& signer, const KeyPair& key) {
  SignedEvent out;
  Status s = SignedEvent::Sign(event, signer, key, &out);
  EXPECT_TRUE(s.ok()) << s.ToString() << " " << event.dump();
  return out;
}

json Registration(const std::string& org, const std::string& kind, const std::string& level,
                  const std::string& region, const KeyPair& key) {
  return {{"id", "reg-" + org},
          {"type", "org_registered"},
          {"occurred_on", "2025-05-01"},
          {"org", org},
          {"name", org + " name"},
          {"kind", kind},
          {"level", level},
          {"region", region},
          {"public_key", Base64Encode(key.public_key())}};
}

// A ledger of the world's orgs and kProjects approved projects, with a checkpoint.
void CreateLedger(const World& w, const std::string& dir) {
  NoteSigner log_key{"crash.example", 0, SeededKey(0x10)};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  Status s =
      CreateWithViews(dir, "crash.example/fundledger", log_key, JournalOptions(), &views, &journal);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<SignedEvent> setup = {
      MustSign(GenesisEvent("operator", "operator", w.operator_key.public_key(), "2025-05-01"),
               "operator", w.operator_key),
      MustSign(Registration("xt-finance", "finance_bureau", "municipal", "hunan/xiangtan",
                            w.finance_key),
               "operator", w.operator_key),
      MustSign(Registration("xt-housing", "housing_bureau", "municipal", "hunan/xiangtan",
                            w.housing_key),
               "operator", w.operator_key),
      MustSign(Registration("jianshe", "contractor", "none", "", w.contractor_key), "operator",
               w.operator_key)};
  for (int p = 0; p < kProjects; ++p) {
    json registration = testing::ProjectRegistration(Project(p));
    registration["occurred_on"] = "2025-05-02";
    setup.push_back(MustSign(registration, "xt-housing", w.housing_key));
    setup.push_back(
        MustSign(testing::StatusChange("approve-" + Project(p), Project(p), "approved", 7000),
                 "xt-housing", w.housing_key));
  }
  std::vector<AppendResult> results;
  s = journal->Append(setup, &results);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const auto& r : results) ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  std::string note;
  ASSERT_TRUE(journal->WriteCheckpoint(&note).ok());
}

// What became of one posted event.
struct Posted {
  bool money = false;  // a movement: it has an account fact row and a movement view row
  bool acked = false;
  uint64_t seq = 0;
  std::string leaf_hash;  // base64, when acked
};

// One request as posted: its events and its body, kept to post again.
struct Request {
  std::vector<std::string> ids;
  std::string body;
  bool capnp = false;
};

// Everything the clients learnt, shared by the client threads of a round.
struct Ledger {
  std::mutex mu;
  std::map<std::string, Posted> events;         // every event id ever posted
  std::vector<Request> unanswered;              // posted, the answer lost with the server
  std::vector<Request> answered;                // acknowledged, for a sample to post again
  std::map<uint64_t, std::string> checkpoints;  // handed out: size -> note
  std::atomic<uint64_t> acks{0};
  std::vector<std::string> failures;  // answers that are wrong, not merely lost
};

// `cycles` cycles of money: received into the pool, allocated to a project, part of it paid to
// the contractor, the payment acknowledged. Each cycle leaves the pool and the project richer,
// so requests sequenced in any order never overdraw.
Request MakeRequest(const World& w, const std::string& prefix, int cycles, std::mt19937_64& rng,
                    bool capnp, Ledger* ledger) {
  std::uniform_int_distribution<uint64_t> amount(400, 40'000'000);
  std::uniform_int_distribution<int> project(0, kProjects - 1);
  Request request;
  request.capnp = capnp;
  std::vector<SignedEvent> events;
  for (int c = 0; c < cycles; ++c) {
    const std::string id = prefix + "-" + std::to_string(c);
    const uint64_t fen = amount(rng);
    const std::string p = Project(project(rng));
    events.push_back(MustSign(
        testing::Received(id + "-in", "xt-finance", "pool", "municipal", "xt-finance", fen),
        "xt-finance", w.finance_key));
    events.push_back(
        MustSign(testing::Allocated(id + "-al", "xt-finance", p, "project", "municipal", fen / 2),
                 "xt-finance", w.finance_key));
    events.push_back(MustSign(testing::Disbursed(id + "-pay", p, "municipal", fen / 4),
                              "xt-finance", w.finance_key));
    events.push_back(MustSign(testing::Ack(id + "-ack", id + "-pay"), "jianshe", w.contractor_key));
  }
  json list = json::array();
  for (const SignedEvent& e : events) {
    request.ids.push_back(e.id());
    if (capnp) {
      request.body += e.ToEnvelopeCapnp();
    } else {
      list.push_back(e.ToEnvelopeJson());
    }
  }
  if (!capnp) request.body = list.dump();
  std::lock_guard<std::mutex> lock(ledger->mu);
  for (const std::string& id : request.ids) {
    bool money = id.ends_with("-in") || id.ends_with("-al") || id.ends_with("-pay");
    Posted posted;
    posted.money = money;
    ledger->events[id] = posted;
  }
  return request;
}

// Posts `request`; the parsed results, or nullopt if the answer was lost.
std::optional<json> Post(HttpConnection& connection, const Request& request) {
  HttpReply reply;
  Status s = connection.Exchange("POST", "/v1/events",
                                 request.capnp ? "application/x-capnp" : "application/json",
                                 request.body, std::nullopt, &reply);
  if (!s.ok()) return std::nullopt;
  json results = json::parse(reply.body, nullptr, false);
  if (reply.status != 200 || !results.is_array()) {
    return json{{"status", reply.status}, {"body", reply.body}};
  }
  return results;
}

// Takes the answer to `request` into the ledger: every event must be appended or a duplicate.
void Acknowledge(const Request& request, const json& results, Ledger* ledger) {
  std::lock_guard<std::mutex> lock(ledger->mu);
  if (!results.is_array() || results.size() != request.ids.size()) {
    ledger->failures.push_back("answer not one result per event: " + results.dump());
    return;
  }
  for (size_t i = 0; i < results.size(); ++i) {
    const json& r = results[i];
    Posted& posted = ledger->events[request.ids[i]];
    if (r.value("id", "") != request.ids[i] || !r.contains("seq") || !r.contains("leaf_hash")) {
      ledger->failures.push_back("event " + request.ids[i] + " not appended: " + r.dump());
      continue;
    }
    const uint64_t seq = r["seq"];
    const std::string leaf = r["leaf_hash"];
    if (posted.acked && (posted.seq != seq || posted.leaf_hash != leaf)) {
      ledger->failures.push_back("event " + request.ids[i] + " acknowledged as seq " +
                                 std::to_string(posted.seq) + ", now " + r.dump());
    }
    posted.acked = true;
    posted.seq = seq;
    posted.leaf_hash = leaf;
    ledger->acks.fetch_add(1);
  }
}

void ClientLoop(const World& w, const ServerAddress& address, int round, int client, uint64_t seed,
                const std::atomic<bool>& stop, Ledger* ledger) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> cycles(1, kCyclesPerRequestMax);
  const bool capnp = client % 2 == 1;
  HttpConnection connection(address, kClientTimeoutMs);
  for (int n = 0; !stop; ++n) {
    std::string prefix =
        "k" + std::to_string(round) + "c" + std::to_string(client) + "n" + std::to_string(n);
    Request request = MakeRequest(w, prefix, cycles(rng), rng, capnp, ledger);
    std::optional<json> results = Post(connection, request);
    if (!results) {
      std::lock_guard<std::mutex> lock(ledger->mu);
      ledger->unanswered.push_back(std::move(request));
      return;  // the server is gone
    }
    Acknowledge(request, *results, ledger);
    std::lock_guard<std::mutex> lock(ledger->mu);
    ledger->answered.push_back(std::move(request));
  }
}

// Asks for a signed checkpoint now and then (each one written at the head, with a sync).
void CheckpointLoop(const World& w, const ServerAddress& address, const std::atomic<bool>& stop,
                    Ledger* ledger) {
  HttpConnection connection(address, kClientTimeoutMs);
  RequestSigner signer{"xt-finance", &w.finance_key};
  while (!stop) {
    HttpReply reply;
    if (!connection.Exchange("GET", "/v1/checkpoint", "", "", signer, &reply).ok()) return;
    json checkpoint = json::parse(reply.body, nullptr, false);
    std::lock_guard<std::mutex> lock(ledger->mu);
    if (reply.status != 200 || !checkpoint.contains("note")) {
      ledger->failures.push_back("checkpoint: " + std::to_string(reply.status) + " " + reply.body);
      return;
    }
    ledger->checkpoints[checkpoint["size"]] = checkpoint["note"];
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
}

// `fundledger serve` on a free loopback port, its output to `out_path`; returns at once.
pid_t LaunchServe(const std::string& data, const std::string& out_path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) ::_exit(127);
    ::execl(FL_BINARY, FL_BINARY, "serve", "--data", data.c_str(), "--listen", "127.0.0.1:0",
            "--threads", "2", nullptr);
    ::_exit(127);
  }
  return pid;
}

// The server's port once it says it serves, or 0.
std::string WaitForPort(const std::string& out_path, pid_t pid) {
  std::regex serving("on http://127\\.0\\.0\\.1:([0-9]+)");
  auto deadline = Clock::now() + std::chrono::milliseconds(kServeStartMsMax);
  while (Clock::now() < deadline) {
    std::smatch match;
    std::string text = ReadFile(out_path);
    if (std::regex_search(text, match, serving)) return match[1];
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

void KillAndReap(pid_t pid) {
  ASSERT_EQ(::kill(pid, SIGKILL), 0) << "the server stopped by itself";
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
}

// Posts the requests whose answers were lost once more, and a sample of acknowledged ones:
// every event must come back appended or as the duplicate of the record the ledger kept.
void PostAgain(const ServerAddress& address, std::mt19937_64& rng, Ledger* ledger) {
  std::vector<Request> again;
  {
    std::lock_guard<std::mutex> lock(ledger->mu);
    again = std::move(ledger->unanswered);
    ledger->unanswered.clear();
    std::shuffle(ledger->answered.begin(), ledger->answered.end(), rng);
    for (size_t i = 0; i < ledger->answered.size() && i < 3; ++i) {
      again.push_back(ledger->answered[i]);
    }
    ledger->answered.clear();
  }
  HttpConnection connection(address, kClientTimeoutMs);
  for (const Request& request : again) {
    std::optional<json> results = Post(connection, request);
    ASSERT_TRUE(results) << "the restarted server does not answer on port " << address.port;
    Acknowledge(request, *results, ledger);
  }
}

// The leaf hash (base64) of a stored record, and the id of its event.
bool ReadRecordAt(const Journal& journal, uint64_t seq, std::string* leaf, std::string* id) {
  std::string bytes;
  if (!journal.ReadRecord(seq, &bytes).ok()) return false;
  *leaf = Base64Encode(MerkleLeafHash(AsBytes(bytes)));
  RecordReader record;
  SignedEvent event;
  if (!RecordReader::Open(bytes, &record).ok()) return false;
  if (!SignedEvent::FromEnvelopeReader(record.record().getEnvelope(), &event).ok()) return false;
  *id = event.id();
  return true;
}

bool HasRow(const Journal& journal, std::string_view family, const std::string& key) {
  std::string value;
  bool found = false;
  Status s = journal.Get(family, key, &value, &found);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return found;
}

// Every posted event is wholly there (acknowledged ones with their seq and leaf hash) or wholly
// absent.
void CheckEvents(const Journal& journal, Ledger* ledger, uint64_t* present, uint64_t* acked) {
  std::lock_guard<std::mutex> lock(ledger->mu);
  for (const auto& [id, posted] : ledger->events) {
    *acked += posted.acked;
    uint64_t seq = 0;
    Status found = journal.FindEvent(id, &seq);
    const bool here = found.ok();
    if (posted.acked) {
      ASSERT_TRUE(here) << "acknowledged event " << id << " is lost: " << found.ToString();
      EXPECT_EQ(seq, posted.seq) << id;
    }
    const std::string fact = std::string(1, storage::kFactRow) + id;
    const std::string movement = "v" + id;
    if (!here) {
      EXPECT_FALSE(HasRow(journal, storage::kAccountsFamily, fact)) << id << " half there";
      EXPECT_FALSE(HasRow(journal, storage::kProjectionsFamily, movement)) << id << " half there";
      continue;
    }
    ++*present;
    std::string leaf, record_id;
    ASSERT_TRUE(ReadRecordAt(journal, seq, &leaf, &record_id)) << id << " at seq " << seq;
    EXPECT_EQ(record_id, id) << "seq " << seq;
    if (posted.acked) {
      EXPECT_EQ(leaf, posted.leaf_hash) << id;
    }
    std::string stored_leaf;
    bool leaf_found = false;
    ASSERT_TRUE(
        journal.Get(storage::kTreeFamily, storage::TreeKey(0, seq - 1), &stored_leaf, &leaf_found)
            .ok());
    EXPECT_TRUE(leaf_found && Base64Encode(AsBytes(stored_leaf)) == leaf) << id;
    EXPECT_EQ(HasRow(journal, storage::kAccountsFamily, fact), posted.money) << id;
    EXPECT_EQ(HasRow(journal, storage::kProjectionsFamily, movement), posted.money) << id;
  }
}

// Every checkpoint handed out is stored and is a checkpoint of the recovered tree.
void CheckCheckpoints(const Journal& journal, Ledger* ledger) {
  std::map<uint64_t, std::string> stored;
  ASSERT_TRUE(journal
                  .ScanCheckpoints([&](uint64_t size, std::string_view note) {
                    stored.emplace(size, std::string(note));
                    return true;
                  })
                  .ok());
  std::lock_guard<std::mutex> lock(ledger->mu);
  for (const auto& [size, note] : ledger->checkpoints) {
    ASSERT_TRUE(stored.count(size)) << "checkpoint at size " << size << " handed out, then lost";
    EXPECT_EQ(stored[size], note);
    Checkpoint checkpoint;
    ASSERT_TRUE(OpenCheckpoint(note, journal.log_verifier(), &checkpoint).ok());
    std::vector<Hash> proof;
    Hash root1, root2;
    ASSERT_TRUE(journal.ConsistencyProof(size, journal.head().size, &proof, &root1, &root2).ok());
    EXPECT_EQ(root1, checkpoint.root) << "checkpoint at size " << size;
  }
}

// The views equal the ones rebuilt from the records alone, row for row.
void CheckViewsReplay(const Journal& journal) {
  ViewRows rebuilt;
  uint64_t records = 0;
  Status s = RebuildViews(journal, RebuildOptions(), &rebuilt, &records);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(records, journal.head().size);
  uint64_t equal = 0, differing = 0;
  s = DiffViews(
      journal, rebuilt,
      [&](std::string_view key, const std::string_view*, const std::string_view*) {
        if (++differing <= 3) ADD_FAILURE() << "view row differs from a replay: " << key;
      },
      &equal);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(differing, 0u);
  EXPECT_EQ(equal, rebuilt.row_count());
}

// Opens the ledger as a restarted server would and checks everything a crash could break; then
// `fundledger verify` as an auditor runs it.
void CheckRecovered(const TestDir& dir, const std::string& data, Ledger* ledger, uint64_t* size,
                    uint64_t* present, uint64_t* acked) {
  {
    std::unique_ptr<Journal> journal;
    Status s = Journal::Open(data, JournalOptions(), &journal);
    ASSERT_TRUE(s.ok()) << s.ToString();
    *size = journal->head().size;
    ASSERT_NO_FATAL_FAILURE(CheckRecordsWhole(*journal, *size));
    ASSERT_NO_FATAL_FAILURE(CheckEvents(*journal, ledger, present, acked));
    ASSERT_NO_FATAL_FAILURE(CheckCheckpoints(*journal, ledger));
    ASSERT_NO_FATAL_FAILURE(CheckViewsReplay(*journal));
  }
  CliResult verify = RunBinary(FL_BINARY, dir, {"verify", "--data", data});
  EXPECT_EQ(verify.exit_code, 0) << Describe(verify);
}

TEST(ServeCrashTest, AcknowledgedEventsSurviveSigkillOfTheServerUnderConcurrentIngest) {
  const uint64_t rounds = EnvOr("FL_CRASH_ROUNDS", kDefaultRounds);
  const uint64_t seed = EnvOr("FL_CRASH_SEED", std::random_device()());
  std::cout << "FL_CRASH_SEED=" << seed << " FL_CRASH_ROUNDS=" << rounds << "\n";
  ::testing::Test::RecordProperty("FL_CRASH_SEED", std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> kill_after_ack_ms(0, kKillAfterAckMsMax);
  std::uniform_int_distribution<int> kill_while_opening_ms(0, kKillWhileOpeningMsMax);
  const World world;
  TestDir dir;
  std::unique_ptr<Ledger> ledger;
  std::string data;
  uint64_t acked_total = 0, lost_answers_total = 0;
  uint64_t ledger_acked = 0;  // acknowledged events of the current ledger
  for (uint64_t r = 1; r <= rounds; ++r) {
    if ((r - 1) % kRoundsPerLedger == 0) {
      acked_total += ledger_acked;
      data = dir / ("data-" + std::to_string(r));
      ASSERT_NO_FATAL_FAILURE(CreateLedger(world, data));
      ledger = std::make_unique<Ledger>();
    }
    // Every fifth round kills the server while it opens the ledger (recovering from the last).
    const bool while_opening = r % 5 == 0;
    const int delay_ms = while_opening ? kill_while_opening_ms(rng) : kill_after_ack_ms(rng);
    SCOPED_TRACE("round " + std::to_string(r) + ", kill " + std::to_string(delay_ms) +
                 " ms after " + (while_opening ? "launch" : "the first acknowledgement") +
                 ", FL_CRASH_SEED=" + std::to_string(seed));
    // A log per launch: a new server must not be taken for the last one by its old log.
    const std::string out_path = dir / ("serve-" + std::to_string(r) + ".out");
    pid_t pid = LaunchServe(data, out_path);
    ASSERT_GT(pid, 0);
    size_t lost_answers = 0;
    if (while_opening) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      ASSERT_NO_FATAL_FAILURE(KillAndReap(pid));
    } else {
      std::string port = WaitForPort(out_path, pid);
      if (port.empty()) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        FAIL() << "the server did not start:\n" << ReadFile(out_path);
      }
      ServerAddress address{"127.0.0.1", port, ""};
      ASSERT_NO_FATAL_FAILURE(PostAgain(address, rng, ledger.get()));
      const uint64_t acks_before = ledger->acks;
      std::atomic<bool> stop{false};
      std::vector<std::thread> threads;
      for (int c = 0; c < kClients; ++c) {
        threads.emplace_back(ClientLoop, std::cref(world), address, int(r), c, rng(),
                             std::cref(stop), ledger.get());
      }
      threads.emplace_back(CheckpointLoop, std::cref(world), address, std::cref(stop),
                           ledger.get());
      auto deadline = Clock::now() + std::chrono::milliseconds(kServeStartMsMax);
      while (ledger->acks == acks_before && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      EXPECT_GT(ledger->acks, acks_before) << "nothing acknowledged";
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      KillAndReap(pid);
      stop = true;
      for (auto& t : threads) t.join();
      ASSERT_FALSE(HasFatalFailure());
      lost_answers = ledger->unanswered.size();
    }
    {
      std::lock_guard<std::mutex> lock(ledger->mu);
      for (const auto& f : ledger->failures) ADD_FAILURE() << f;
      ASSERT_TRUE(ledger->failures.empty());
    }
    uint64_t size = 0, present = 0;
    ledger_acked = 0;
    ASSERT_NO_FATAL_FAILURE(
        CheckRecovered(dir, data, ledger.get(), &size, &present, &ledger_acked));
    lost_answers_total += lost_answers;
    std::cout << "round " << r << ": killed " << delay_ms << " ms after "
              << (while_opening ? "launch" : "the first acknowledgement") << "; " << present
              << " of " << ledger->events.size() << " posted events recorded, " << ledger_acked
              << " of them acknowledged, " << lost_answers << " answers lost, "
              << ledger->checkpoints.size() << " checkpoints handed out; ledger of " << size
              << " records verifies" << std::endl;
  }
  acked_total += ledger_acked;
  std::cout << rounds << " kills: " << acked_total << " acknowledged events kept, "
            << lost_answers_total << " requests' answers lost and posted again" << std::endl;
  EXPECT_GT(acked_total, 0u);
}

}  // namespace
}  // namespace fundledger::test
