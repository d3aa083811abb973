// The process the crash test kills: it opens an existing ledger and appends batches of signed
// events (1..kCrashBatchEventsMax each) until killed. After each Append that returns ok it
// writes the id of every event whose result is ok, one per line, to standard output (the test's
// pipe): those events are acknowledged and must survive the kill.
//
//   crash_writer DATA_DIR ROUND RANDOM_SEED
//
// Exit status (it is meant to die by SIGKILL instead): 2 bad usage, 3 cannot open, 4 cannot
// sign, 5 Append failed, 6 an event was not accepted, 7 the pipe is gone.

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ledger/event.h"
#include "ledger/journal.h"
#include "replay/views.h"
#include "tests/tools/crash_common.h"

namespace fundledger::test {
namespace {

// One write() per call keeps a batch's acks (well under PIPE_BUF) whole on the pipe.
bool WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

int Fail(int code, const std::string& what) {
  fprintf(stderr, "crash_writer: %s\n", what.c_str());
  return code;
}

int Run(const std::string& dir, uint64_t round, uint64_t seed) {
  const KeyPair key = CrashOrgKey();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> batch_events(1, kCrashBatchEventsMax);
  std::uniform_int_distribution<uint64_t> amount_fen(1, 100000000);
  if (!WriteAll(1, std::string(kCrashReady) + "\n")) return Fail(7, "ack pipe closed");
  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  Status s = OpenWithViews(dir, JournalOptions(), &views, &journal);
  if (!s.ok()) return Fail(3, s.ToString());
  std::vector<AppendResult> results;
  for (uint64_t next = 0; next < kCrashEventsMax;) {
    std::vector<SignedEvent> batch(batch_events(rng));
    for (size_t i = 0; i < batch.size(); ++i) {
      s = SignedEvent::Sign(CrashReceipt(CrashEventId(round, next + i), amount_fen(rng)), kCrashOrg,
                            key, &batch[i]);
      if (!s.ok()) return Fail(4, s.ToString());
    }
    s = journal->Append(batch, &results);
    if (!s.ok()) return Fail(5, s.ToString());
    std::string acks;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!results[i].status.ok() || results[i].duplicate) {
        return Fail(6, batch[i].id() + ": " + results[i].status.ToString());
      }
      acks += batch[i].id() + "\n";
    }
    if (!WriteAll(1, acks)) return Fail(7, "ack pipe closed");
    next += batch.size();
  }
  return 0;
}

}  // namespace
}  // namespace fundledger::test

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: crash_writer DATA_DIR ROUND RANDOM_SEED\n");
    return 2;
  }
  return fundledger::test::Run(argv[1], std::strtoull(argv[2], nullptr, 10),
                               std::strtoull(argv[3], nullptr, 10));
}
