// The server's group commit and durability, over loopback sockets, on a fault-injecting file
// system (tests/ledger/fault_fs.h): the next batch is written while the last one syncs; an
// answer comes only once its batch is durable; a read never sees a batch before it is durable;
// after a failed sync nothing more is acknowledged or read; and the read gate lets waiting
// readers in between the writer's holds.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "api/client.h"
#include "api/sequencer.h"
#include "api/server.h"
#include "crypto/checkpoint.h"
#include "ledger/storage_format.h"
#include "replay/verify.h"
#include "tests/ledger/fault_fs.h"
#include "tests/ledger/fund_events.h"
#include "tests/ledger/test_ledger.h"

namespace fundledger {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::FaultFs;
using testing::Received;
using testing::TestLedger;
using Clock = std::chrono::steady_clock;

json Parse(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(value.is_discarded()) << "not JSON: " << text;
  return value;
}

// Polls `done` for up to 10 s.
template <typename Fn>
bool Eventually(Fn done) {
  auto until = Clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

class DurabilityTest : public ::testing::Test {
 protected:
  DurabilityTest() : L({}, fault_.env.get()) {}
  void SetUp() override {
    L.Register("xt-finance", "finance_bureau", "municipal", "hunan/xiangtan");
    L.Register("audit", "auditor", "none", "hunan");
    L.AppendOk(L.Signed(
        "xt-finance", Received("r0", "xt-finance", "pool", "municipal", "xt-finance", 1'000'000)));
    ServerOptions options;
    options.threads = 4;  // reads waiting for the gate hold a request thread each
    Status s = Server::Start(L.journal(), options, &server_);
    ASSERT_TRUE(s.ok()) << s.ToString();
    address_ = ServerAddress{"127.0.0.1", std::to_string(server_->port()), ""};
  }
  void TearDown() override { server_.reset(); }

  std::string Receipts(const std::vector<std::string>& ids) {
    json list = json::array();
    for (const auto& id : ids) {
      list.push_back(
          L.Signed("xt-finance", Received(id, "xt-finance", "pool", "municipal", "xt-finance", 10))
              .ToEnvelopeJson());
    }
    return list.dump();
  }
  HttpReply Post(HttpConnection& connection, const std::string& body) {
    HttpReply reply;
    Status s =
        connection.Exchange("POST", "/v1/events", "application/json", body, std::nullopt, &reply);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return reply;
  }
  HttpReply Get(const std::string& target, bool signed_by_audit = true) {
    HttpConnection connection(address_, 20000);
    std::optional<RequestSigner> signer;
    if (signed_by_audit) signer = RequestSigner{"audit", &L.keys().at("audit")};
    HttpReply reply;
    Status s = connection.Exchange("GET", target, "", "", signer, &reply);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return reply;
  }
  int64_t PoolAvailableFen() {
    HttpReply reply = Get("/v1/views/balance?pool=xt-finance");
    EXPECT_EQ(reply.status, 200u) << reply.body;
    return Parse(reply.body)["total"]["available_fen"].get<int64_t>();
  }

  FaultFs::WithEnv fault_;  // before the ledger, which uses it
  TestLedger L;
  std::unique_ptr<Server> server_;
  ServerAddress address_;
};

TEST_F(DurabilityTest, TheNextBatchIsWrittenWhileTheLastOneSyncs) {
  fault_.fs->HoldSyncs(true);
  std::atomic<int> answered{0};
  std::vector<json> results(2);
  auto post = [&](int i, std::string id) {
    HttpConnection connection(address_, 20000);
    HttpReply reply = Post(connection, Receipts({id}));
    EXPECT_EQ(reply.status, 200u) << reply.body;
    results[i] = Parse(reply.body)[0];
    ++answered;
  };
  std::thread first(post, 0, "first");
  ASSERT_TRUE(fault_.fs->WaitForHeldSync(10000)) << "the first batch's sync never started";
  const uint64_t written = fault_.fs->AppendedBytes();
  std::thread second(post, 1, "second");
  // The writer does not wait for the sync: the second batch reaches the WAL meanwhile.
  EXPECT_TRUE(Eventually([&] { return fault_.fs->AppendedBytes() > written; }))
      << "the second batch waited for the first one's sync";
  EXPECT_EQ(answered, 0) << "answered before its batch was durable";
  fault_.fs->HoldSyncs(false);
  first.join();
  second.join();
  EXPECT_EQ(results[1]["seq"].get<uint64_t>(), results[0]["seq"].get<uint64_t>() + 1);
  EXPECT_EQ(fault_.fs->UnsyncedBytes(), 0u);
}

// A write's answer waits for its durable batch however long the sync takes: the deadline of a
// waiting read (ServerLimits::read_answer_timeout_ms) does not cut it off, since its events are
// appended whatever it is told. A read that waits past it (here a checkpoint, which waits for the
// writer's next batch) is answered 503 "answer_timeout".
TEST_F(DurabilityTest, AWriteWaitsForItsSyncPastTheDeadlineOfReads) {
  server_.reset();
  ServerOptions options;
  options.threads = 4;
  options.limits.read_answer_timeout_ms = 200;
  ASSERT_TRUE(Server::Start(L.journal(), options, &server_).ok());
  address_ = ServerAddress{"127.0.0.1", std::to_string(server_->port()), ""};
  fault_.fs->HoldSyncs(true);
  HttpReply written;
  std::thread writer([&] {
    HttpConnection connection(address_, 20000);
    written = Post(connection, Receipts({"slow-1"}));
  });
  ASSERT_TRUE(fault_.fs->WaitForHeldSync(10000));
  const auto asked = Clock::now();
  HttpReply checkpoint = Get("/v1/checkpoint");
  EXPECT_EQ(checkpoint.status, 503u) << checkpoint.body;
  EXPECT_EQ(Parse(checkpoint.body)["code"], "answer_timeout") << checkpoint.body;
  EXPECT_GE(Clock::now() - asked, std::chrono::milliseconds(200));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  fault_.fs->HoldSyncs(false);
  writer.join();
  EXPECT_EQ(written.status, 200u) << written.body;
  EXPECT_EQ(Parse(written.body)[0]["id"], "slow-1") << written.body;
  EXPECT_EQ(Get("/v1/checkpoint").status, 200u);
}

TEST_F(DurabilityTest, AReadDoesNotSeeABatchBeforeItIsDurable) {
  const int64_t before = PoolAvailableFen();
  EXPECT_EQ(Get("/v1/public/checkpoint", false).status, 404u) << "no checkpoint yet";
  // A minute of activity later, the held batch also writes an automatic checkpoint.
  L.set_now_ms(testing::kTestNowMs + 61'000);
  fault_.fs->HoldSyncs(true);
  std::thread writer([&] {
    HttpConnection connection(address_, 20000);
    EXPECT_EQ(Post(connection, Receipts({"held-1", "held-2"})).status, 200u);
  });
  ASSERT_TRUE(fault_.fs->WaitForHeldSync(10000));
  // The batch is written and its sync held: reads wait rather than show it.
  std::atomic<bool> released{false};
  int64_t seen = 0;
  std::string events, note;
  bool answered_after_release[2] = {};
  std::vector<std::thread> readers;
  readers.emplace_back([&] {
    seen = PoolAvailableFen();
    answered_after_release[0] = released;
  });
  readers.emplace_back([&] {
    events = Get("/v1/events?from=1&limit=1000").body;
    answered_after_release[1] = released;
  });
  // The public checkpoint does not wait: it is the newest durable one, here none yet, never
  // the one the held batch wrote.
  HttpReply during = Get("/v1/public/checkpoint", false);
  EXPECT_EQ(during.status, 404u) << during.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(Get("/v1/public/checkpoint", false).status, 404u) << "the held batch's checkpoint";
  released = true;
  fault_.fs->HoldSyncs(false);
  for (auto& t : readers) t.join();
  writer.join();
  const char* reads[2] = {"view", "events"};
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(answered_after_release[i]) << reads[i] << " answered before the batch was durable";
  }
  EXPECT_EQ(seen, before + 20) << "the read saw part of the batch or none of it";
  EXPECT_NE(events.find("held-2"), std::string::npos);
  // Once it is durable, the batch's checkpoint is the public one.
  note = Get("/v1/public/checkpoint", false).body;
  Checkpoint checkpoint;
  ASSERT_TRUE(OpenCheckpoint(note, L.journal().log_verifier(), &checkpoint).ok()) << note;
  EXPECT_EQ(checkpoint.size, L.journal().head().size);
}

TEST_F(DurabilityTest, AfterAFailedSyncNothingIsAcknowledgedOrReadAgain) {
  // Writers post all along; the syncs start failing once some answers have come.
  constexpr int kWriters = 4;
  std::vector<std::vector<std::string>> acknowledged(kWriters);
  std::vector<std::string> refusals(kWriters);
  std::atomic<int> answered{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      HttpConnection connection(address_, 20000);
      for (int r = 0;; ++r) {
        std::string a = "f-" + std::to_string(w) + "-" + std::to_string(r);
        HttpReply reply = Post(connection, Receipts({a + "-a", a + "-b"}));
        if (reply.status != 200) {
          refusals[w] = reply.body;
          EXPECT_EQ(reply.status, 500u) << reply.body;
          return;
        }
        acknowledged[w].push_back(a + "-a");
        acknowledged[w].push_back(a + "-b");
        ++answered;
      }
    });
  }
  // A registered org asks for checkpoints all along: each note it gets must survive the cut.
  std::vector<std::string> notes;
  std::string checkpoint_refusal;
  std::thread checkpoints([&] {
    HttpConnection connection(address_, 20000);
    RequestSigner signer{"audit", &L.keys().at("audit")};
    for (;;) {
      HttpReply reply;
      Status s = connection.Exchange("GET", "/v1/checkpoint", "", "", signer, &reply);
      ASSERT_TRUE(s.ok()) << s.ToString();
      if (reply.status != 200) {
        checkpoint_refusal = reply.body;
        EXPECT_EQ(reply.status, 500u) << reply.body;
        return;
      }
      notes.push_back(Parse(reply.body)["note"].get<std::string>());
    }
  });
  ASSERT_TRUE(Eventually([&] { return answered >= 20; }));
  fault_.fs->FailSyncs(true);
  for (auto& t : writers) t.join();
  checkpoints.join();
  EXPECT_EQ(Parse(checkpoint_refusal)["code"], "journal_failed") << checkpoint_refusal;
  EXPECT_GE(notes.size(), 1u);
  for (const auto& body : refusals) EXPECT_EQ(Parse(body)["code"], "journal_failed") << body;
  // The disk works again; the server still takes nothing and shows nothing, and says why.
  fault_.fs->FailSyncs(false);
  HttpConnection connection(address_, 20000);
  HttpReply later = Post(connection, Receipts({"later"}));
  EXPECT_EQ(later.status, 500u);
  EXPECT_EQ(Parse(later.body)["code"], "journal_failed") << later.body;
  EXPECT_NE(Parse(later.body)["message"].get<std::string>().find("injected sync failure"),
            std::string::npos)
      << later.body;
  for (std::string target :
       {"/v1/views/balance?pool=xt-finance", "/v1/events?from=1", "/v1/checkpoint"}) {
    HttpReply reply = Get(target);
    EXPECT_EQ(reply.status, 500u) << target << ": " << reply.body;
    EXPECT_EQ(Parse(reply.body)["code"], "journal_failed") << target;
  }
  EXPECT_EQ(Get("/healthz", false).status, 500u);
  EXPECT_EQ(Get("/v1/public/checkpoint", false).status, 500u);
  server_.reset();

  // A power cut now keeps only what was synced: every acknowledged event must be in it.
  const fs::path copy = L.dir().string() + "-cut";
  fault_.fs->CopyAsAfterPowerCut(L.dir() / std::string(storage::kDatabaseDir),
                                 copy / std::string(storage::kDatabaseDir),
                                 [](uint64_t) -> uint64_t { return 0; });
  fs::copy_file(L.dir() / std::string(storage::kLogKeyFile),
                copy / std::string(storage::kLogKeyFile));
  {
    Views views;
    std::unique_ptr<Journal> recovered;
    Status s = OpenWithViews(copy.string(), JournalOptions(), &views, &recovered);
    ASSERT_TRUE(s.ok()) << s.ToString();
    size_t count = 0;
    for (const auto& ids : acknowledged) {
      for (const auto& id : ids) {
        uint64_t seq = 0;
        EXPECT_TRUE(recovered->FindEvent(id, &seq).ok()) << id << " was acknowledged";
        ++count;
      }
    }
    EXPECT_GE(count, 40u);
    // Every checkpoint handed out is stored, at a size the recovered ledger reaches (verify
    // below recomputes the root at each).
    for (const std::string& note : notes) {
      Checkpoint checkpoint;
      ASSERT_TRUE(OpenCheckpoint(note, recovered->log_verifier(), &checkpoint).ok());
      EXPECT_LE(checkpoint.size, recovered->head().size);
      std::string stored;
      ASSERT_TRUE(recovered->ReadCheckpoint(checkpoint.size, &stored).ok()) << checkpoint.size;
      EXPECT_EQ(stored, note);
    }
    VerifyReport report;
    s = VerifyLedger(*recovered, VerifyOptions(), &report);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  fs::remove_all(copy);
}

TEST(ReadGate, ReadersThatWaitedGetInBeforeTheWritersNextHold) {
  ReadGate gate;
  gate.Lock();
  std::atomic<bool> read{false};
  std::thread reader([&] {
    ReadGate::Shared hold(gate);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    read = true;
  });
  ASSERT_TRUE(Eventually([&] { return gate.readers_waiting(); }));
  gate.Unlock();
  gate.Lock();  // at once again: the waiting reader goes first
  EXPECT_TRUE(read) << "the writer took the gate again before the waiting reader";
  gate.Unlock();
  reader.join();
}

TEST(ReadGate, AWaitingWriterKeepsNewReadersOut) {
  ReadGate gate;
  gate.LockShared();
  std::atomic<bool> written{false};
  std::thread writer([&] {
    gate.Lock();
    written = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gate.Unlock();
  });
  ASSERT_TRUE(Eventually([&] { return gate.writer_waiting(); }));  // it waits for us
  std::atomic<bool> late_read_saw_write{false};
  std::thread late_reader([&] {
    ReadGate::Shared hold(gate);
    late_read_saw_write = written.load();
  });
  ASSERT_TRUE(Eventually([&] { return gate.readers_waiting(); }));
  gate.UnlockShared();
  writer.join();
  late_reader.join();
  EXPECT_TRUE(late_read_saw_write) << "a reader that came after a waiting writer went first";
}

}  // namespace
}  // namespace fundledger
