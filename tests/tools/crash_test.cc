// Crash recovery of the journal: a writer process appends batches of signed events and is
// killed with SIGKILL at a random moment; the ledger it leaves must verify, hold every event it
// acknowledged, and hold only whole events. Rounds continue the same ledger.
//
// FL_CRASH_ROUNDS sets the number of rounds (default 4; set it high for a long run),
// FL_CRASH_SEED the random seed (printed, to replay a failure).
//
// The writer is a separate program (fork + exec): this process opens RocksDB between rounds,
// and RocksDB's background threads would not exist in a child that is only forked.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/note.h"
#include "ledger/journal.h"
#include "ledger/storage_format.h"
#include "replay/verify.h"
#include "replay/views.h"
#include "tests/tools/crash_common.h"
#include "tests/tools/journal_checks.h"
#include "tests/tools/test_dir.h"

namespace fundledger::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kDefaultRounds = 4;
constexpr int kKillDelayMsMin = 20;
constexpr int kKillDelayMsMax = 300;
// How long a writer may take to say it is ready, or to acknowledge its first batch.
constexpr int kWriterStartMsMax = 20000;

// A ledger holding the operator's genesis and the registration of the writer's organisation.
void CreateLedger(const std::string& dir) {
  NoteSigner log_key{"crash.example", 0, SeededKey(0x01)};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  KeyPair operator_key = SeededKey(0x02);
  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  Status s =
      CreateWithViews(dir, "crash.example/fundledger", log_key, JournalOptions(), &views, &journal);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<SignedEvent> setup(2);
  s = SignedEvent::Sign({{"id", "genesis"},
                         {"type", "org_registered"},
                         {"occurred_on", "2024-03-01"},
                         {"org", "operator"},
                         {"name", "operator"},
                         {"kind", "operator"},
                         {"level", "none"},
                         {"region", ""},
                         {"public_key", Base64Encode(operator_key.public_key())}},
                        "operator", operator_key, &setup[0]);
  ASSERT_TRUE(s.ok()) << s.ToString();
  s = SignedEvent::Sign({{"id", "reg-xt-finance"},
                         {"type", "org_registered"},
                         {"occurred_on", "2024-03-01"},
                         {"org", kCrashOrg},
                         {"name", "湘潭市财政局"},
                         {"kind", "finance_bureau"},
                         {"level", "municipal"},
                         {"region", "hunan/xiangtan"},
                         {"public_key", Base64Encode(CrashOrgKey().public_key())}},
                        "operator", operator_key, &setup[1]);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<AppendResult> results;
  s = journal->Append(setup, &results);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (const auto& r : results) ASSERT_TRUE(r.status.ok()) << r.status.ToString();
}

struct Round {
  std::vector<std::string> acks;  // ids acknowledged before the kill
  bool ready = false;
  bool killed = false;  // we sent the SIGKILL (the writer did not stop by itself first)
  int wait_status = 0;
};

// Splits complete lines off `buffer` into `round`.
void TakeLines(std::string* buffer, Round* round) {
  size_t end;
  while ((end = buffer->find('\n')) != std::string::npos) {
    std::string line = buffer->substr(0, end);
    buffer->erase(0, end + 1);
    if (!round->ready && line == kCrashReady) {
      round->ready = true;
    } else {
      round->acks.push_back(line);
    }
  }
}

// Starts the writer and kills it `kill_delay_ms` after it is ready (or, with `from_first_ack`,
// after its first acknowledged batch, so that the kill lands in the middle of appending).
Round RunWriterUntilKilled(const std::string& dir, uint64_t round_number, uint64_t seed,
                           int kill_delay_ms, bool from_first_ack) {
  Round round;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed";
    return round;
  }
  std::vector<std::string> words = {FL_CRASH_WRITER, dir, std::to_string(round_number),
                                    std::to_string(seed)};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec. dup2 clears O_CLOEXEC on fd 1.
    if (::dup2(fds[1], 1) < 0) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    ADD_FAILURE() << "fork failed";
    return round;
  }
  std::string buffer;
  auto start_by = Clock::now() + std::chrono::milliseconds(kWriterStartMsMax);
  std::optional<Clock::time_point> kill_at;
  char chunk[4096];
  for (;;) {
    auto now = Clock::now();
    auto until = kill_at ? *kill_at : start_by;
    if (now >= until) break;  // time to kill, or the writer never got going
    int wait_ms =
        int(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()) + 1;
    pollfd p{fds[0], POLLIN, 0};
    int ready = ::poll(&p, 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t n = ::read(fds[0], chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the writer exited by itself: a failure, reported by the caller
    buffer.append(chunk, size_t(n));
    TakeLines(&buffer, &round);
    bool started = from_first_ack ? !round.acks.empty() : round.ready;
    if (started && !kill_at) kill_at = Clock::now() + std::chrono::milliseconds(kill_delay_ms);
  }
  round.killed = ::kill(pid, SIGKILL) == 0;
  // Acks written before the kill are still in the pipe.
  ssize_t n;
  while ((n = ::read(fds[0], chunk, sizeof(chunk))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    buffer.append(chunk, size_t(n));
  }
  TakeLines(&buffer, &round);
  ::close(fds[0]);
  ::waitpid(pid, &round.wait_status, 0);
  return round;
}

// Reopens the ledger as a restarted writer would and checks everything a crash could break.
void CheckRecovered(const std::string& dir, const std::set<std::string>& acked, uint64_t* size) {
  std::unique_ptr<Journal> journal;
  Status s = Journal::Open(dir, JournalOptions(), &journal);
  ASSERT_TRUE(s.ok()) << s.ToString();
  VerifyReport report;
  s = VerifyLedger(*journal, VerifyOptions(), &report);
  ASSERT_TRUE(s.ok()) << s.ToString() << " (first bad seq " << report.first_bad_seq << ")";
  const Journal::Head head = journal->head();
  *size = head.size;
  EXPECT_EQ(report.records, head.size);
  EXPECT_GE(head.size, acked.size() + 2) << "fewer records than acknowledged events";

  // Records 1..size, each whole and readable, each a distinct event; as many id rows and leaf
  // nodes as records, none beyond the head: no half event.
  std::set<std::string> ids;
  ASSERT_NO_FATAL_FAILURE(CheckRecordsWhole(*journal, head.size, &ids));

  for (const auto& id : acked) {
    uint64_t seq = 0;
    Status found = journal->FindEvent(id, &seq);
    EXPECT_TRUE(found.ok()) << "acknowledged event " << id << " is lost: " << found.ToString();
    EXPECT_TRUE(ids.count(id)) << "acknowledged event " << id << " has no record";
  }
}

TEST(CrashTest, AcknowledgedEventsSurviveSigkillAndTheLedgerStaysWhole) {
  const uint64_t rounds = EnvOr("FL_CRASH_ROUNDS", kDefaultRounds);
  const uint64_t seed = EnvOr("FL_CRASH_SEED", std::random_device()());
  std::cout << "FL_CRASH_SEED=" << seed << " FL_CRASH_ROUNDS=" << rounds << "\n";
  ::testing::Test::RecordProperty("FL_CRASH_SEED", std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> kill_delay_ms(kKillDelayMsMin, kKillDelayMsMax);

  TestDir dir;
  const std::string data = dir / "data";
  ASSERT_NO_FATAL_FAILURE(CreateLedger(data));
  std::set<std::string> acked;
  uint64_t size = 2;
  for (uint64_t r = 1; r <= rounds; ++r) {
    // Odd rounds may kill the writer while it opens (recovering from the last kill); even rounds
    // kill it while it appends.
    const bool from_first_ack = r % 2 == 0;
    const int delay_ms = kill_delay_ms(rng);
    SCOPED_TRACE("round " + std::to_string(r) + ", kill " + std::to_string(delay_ms) +
                 " ms after " + (from_first_ack ? "the first ack" : "start") + ", seed " +
                 std::to_string(seed));
    Round round = RunWriterUntilKilled(data, r, rng(), delay_ms, from_first_ack);
    ASSERT_TRUE(round.ready) << "the writer never started";
    ASSERT_TRUE(round.killed && WIFSIGNALED(round.wait_status) &&
                WTERMSIG(round.wait_status) == SIGKILL)
        << "the writer stopped by itself, exit status "
        << (WIFEXITED(round.wait_status) ? WEXITSTATUS(round.wait_status) : -1);
    if (from_first_ack) {
      EXPECT_FALSE(round.acks.empty());
    }
    for (const auto& id : round.acks) {
      EXPECT_TRUE(acked.insert(id).second) << id << " acknowledged twice";
    }
    const uint64_t size_before = size;
    ASSERT_NO_FATAL_FAILURE(CheckRecovered(data, acked, &size));
    EXPECT_GE(size, size_before) << "records were lost";
    std::cout << "round " << r << ": " << round.acks.size() << " acknowledged, ledger of " << size
              << " records\n";
  }
  EXPECT_FALSE(acked.empty());
}

}  // namespace
}  // namespace fundledger::test
