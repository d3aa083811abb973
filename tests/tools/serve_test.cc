// `fundledger serve` run as its users run it, and the client verbs against it (--server): the
// same answers as on the local ledger, signed reads, and a clean stop on SIGTERM.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/note.h"
#include "tests/tools/test_dir.h"

namespace fundledger {
namespace {

using nlohmann::json;
using test::CliResult;
using test::JsonLines;
using test::ReadFile;
using test::TestDir;

class ServeTest : public ::testing::Test {
 protected:
  CliResult Expect(int expected, const std::vector<std::string>& args,
                   const std::string& input = "") {
    return test::ExpectExit(FL_BINARY, dir_, expected, args, input);
  }

  // A ledger with a finance bureau, then `fundledger serve` on a free port.
  void SetUp() override {
    for (auto [name, prefix] : {std::pair{"operator", "op"},
                                {"xiangtan.example", "log"},
                                {"xt-finance", "xt"},
                                {"bj-finance", "bj"}}) {
      Expect(0, {"keygen", "--name", name, "--out", prefix});
    }
    Expect(0, {"init", "--data", "data", "--origin", "xiangtan.example/fundledger", "--log-key",
               "log.key", "--operator", "operator", "--operator-key", "op.key"});
    std::vector<json> registrations;
    for (auto [org, region, pub] : {std::tuple{"xt-finance", "hunan/xiangtan", "xt.pub"},
                                    {"bj-finance", "beijing", "bj.pub"}}) {
      registrations.push_back({{"id", std::string("reg-") + org},
                               {"type", "org_registered"},
                               {"occurred_on", "2024-03-01"},
                               {"org", org},
                               {"name", org},
                               {"kind", "finance_bureau"},
                               {"level", "municipal"},
                               {"region", region},
                               {"public_key", PublicKeyOf(pub)}});
    }
    std::string lines;
    for (const auto& r : registrations) lines += r.dump() + "\n";
    Expect(0, {"submit", "--data", "data", "--key", "op.key", "-"}, lines);
    StartServer();
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // base64 of the raw Ed25519 key in a .pub file.
  std::string PublicKeyOf(const std::string& pub_file) {
    std::string text = ReadFile(dir_ / pub_file);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    NoteVerifier verifier;
    Status s = ParseVerifierKey(text, &verifier);
    EXPECT_TRUE(s.ok()) << pub_file << ": " << s.ToString();
    return Base64Encode(verifier.key);
  }

  void StartServer() {
    pid_ = test::StartServe(FL_BINARY, dir_, "data", &url_);
    ASSERT_FALSE(url_.empty()) << ReadFile(dir_ / "serve.out");
  }

  TestDir dir_;
  pid_t pid_ = -1;
  std::string url_;
};

TEST_F(ServeTest, ClientVerbsAgainstTheServerAnswerAsOnTheLedger) {
  json receipt = {{"id", "r1"},
                  {"type", "funds_received"},
                  {"occurred_on", "2024-03-15"},
                  {"to", "xt-finance"},
                  {"to_kind", "pool"},
                  {"category", "municipal"},
                  {"source_org", "xt-finance"},
                  {"channel", "transfer"},
                  {"amount_fen", 500000}};
  CliResult submitted =
      Expect(0, {"submit", "--server", url_, "--key", "xt.key", "-"}, receipt.dump());
  json result = JsonLines(submitted.out).at(0);
  EXPECT_EQ(result["seq"], 4);
  // A rule's refusal exits 1 and names the rule, as locally.
  receipt["id"] = "r2";
  receipt["amount_fen"] = 0;
  CliResult refused = Expect(
      1, {"submit", "--server", url_, "--key", "xt.key", "--format", "table", "-"}, receipt.dump());
  EXPECT_NE(refused.out.find("rejected \"r2\""), std::string::npos) << refused.out;
  // Reads: the same output from the server (signed) and from the ledger (read-only).
  std::vector<std::vector<std::string>> reads = {
      {"show", "balance", "--pool", "xt-finance", "--format", "json"},
      {"show", "ratios", "--pool", "xt-finance", "--format", "csv"},
      {"log", "--from", "2"},
      {"proof", "inclusion", "--id", "r1"},
      {"proof", "consistency", "--from", "2"},
  };
  for (auto args : reads) {
    std::vector<std::string> remote = args;
    // The log is the auditors' and the operator's; the views of its pool the bureau's own.
    remote.insert(remote.end(),
                  {"--server", url_, "--key", args[0] == "log" ? "op.key" : "xt.key"});
    std::vector<std::string> local = args;
    local.insert(local.end(), {"--data", "data"});
    EXPECT_EQ(Expect(0, remote).out, Expect(0, local).out) << args[0] << " " << args[1];
  }
  CliResult checkpoint = Expect(0, {"checkpoint", "--server", url_, "--key", "xt.key"});
  EXPECT_NE(checkpoint.out.find("\n4\n"), std::string::npos) << checkpoint.out;
  // Unsigned, or by an org outside the region: refused (exit 1), nothing printed.
  CliResult unsigned_read =
      Expect(1, {"show", "balance", "--pool", "xt-finance", "--server", url_});
  EXPECT_NE(unsigned_read.err.find("auth_missing"), std::string::npos) << unsigned_read.err;
  CliResult outside =
      Expect(1, {"show", "balance", "--pool", "xt-finance", "--server", url_, "--key", "bj.key"});
  EXPECT_NE(outside.err.find("forbidden_region"), std::string::npos) << outside.err;
  Expect(2, {"log", "--server", url_, "--data", "data"});
  // SIGTERM: the server stops cleanly and the ledger verifies.
  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid_, &status, 0), pid_);
  pid_ = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_NE(ReadFile(dir_ / "serve.out").find("stopped"), std::string::npos);
  Expect(0, {"verify", "--data", "data"});
}

// A server hands a disbursements list out in pages (here of 16 lines); `show --server` follows
// them and prints what `show` prints on the ledger itself, in every format.
TEST(ServePagesTest, ShowJoinsTheDisbursementPagesIntoTheWholeList) {
  TestDir dir;
  test::ExpectExit(FL_BINARY, dir, 0, {"demo", "--data", "demo", "--seed", "1", "--projects", "2"});
  std::string url;
  pid_t pid = test::StartServe(FL_BINARY, dir, "demo", &url, {"--view-lines-max", "16"});
  ASSERT_FALSE(url.empty()) << ReadFile(dir / "serve.out");
  const std::vector<std::vector<std::string>> scopes = {
      {"--region", ""},
      {"--region", "hunan/xiangtan"},
      {"--region", "", "--as-of-seq", "500"},
      {"--region", "", "--as-of-date", "2024-12-31"}};
  for (const auto& scope : scopes) {
    for (std::string format : {"json", "csv", "table"}) {
      std::vector<std::string> local = {"show", "disbursements", "--format", format};
      local.insert(local.end(), scope.begin(), scope.end());
      std::vector<std::string> remote = local;
      local.insert(local.end(), {"--data", "demo"});
      remote.insert(remote.end(), {"--server", url, "--key", "demo/keys/cnao.key"});
      CliResult mine = test::ExpectExit(FL_BINARY, dir, 0, local);
      CliResult served = test::ExpectExit(FL_BINARY, dir, 0, remote);
      EXPECT_EQ(served.out, mine.out) << ::testing::PrintToString(remote);
      if (format == "json") {
        // More than two pages of it, none of them cut.
        json whole = json::parse(mine.out, nullptr, /*allow_exceptions=*/false);
        ASSERT_TRUE(whole.is_object()) << mine.out;
        EXPECT_GT(whole["page"]["total"].get<uint64_t>(), 32u) << scope.back();
        EXPECT_EQ(whole["page"]["listed"], whole["page"]["total"]);
      }
    }
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace
}  // namespace fundledger
