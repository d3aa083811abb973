// `fundledger serve` run as its users run it, and the client verbs against it (--server): the
// same answers as on the local ledger, signed reads, and a clean stop on SIGTERM.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "crypto/checkpoint.h"
#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "crypto/note.h"
#include "ledger/key_file.h"
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

  // The city's own money entering xt-finance's pool.
  static json Receipt(const std::string& id, int64_t fen) {
    return {{"id", id},
            {"type", "funds_received"},
            {"occurred_on", "2024-03-15"},
            {"to", "xt-finance"},
            {"to_kind", "pool"},
            {"category", "municipal"},
            {"source_org", "xt-finance"},
            {"channel", "transfer"},
            {"amount_fen", fen}};
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
  json receipt = Receipt("r1", 500000);
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

// A server that answers every request with what `answer` gives for its target, one request per
// connection, and keeps the targets it was asked for.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<std::string(size_t, const std::string&)> answer)
      : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  const std::string& url() const { return url_; }
  std::vector<std::string> targets() {
    std::lock_guard<std::mutex> lock(mu_);
    return targets_;
  }

 private:
  void Serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buffer, sizeof buffer);
        if (n <= 0) break;
        request.append(buffer, size_t(n));
      }
      size_t start = request.find(' ') + 1;
      std::string target = request.substr(start, request.find(' ', start) - start);
      size_t index;
      {
        std::lock_guard<std::mutex> lock(mu_);
        index = targets_.size();
        targets_.push_back(target);
      }
      std::string body = index < 50 ? answer_(index, target) : "{}";
      std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      for (size_t sent = 0; sent < reply.size();) {
        ssize_t n = ::write(c, reply.data() + sent, reply.size() - sent);
        if (n <= 0) break;
        sent += size_t(n);
      }
      ::close(c);
    }
  }

  std::function<std::string(size_t, const std::string&)> answer_;
  int fd_ = -1;
  std::string url_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> targets_;
};

// A reader who kept a checkpoint asks a server for its latest: the note must be signed by the
// log key the reader trusts, and the server must prove with a consistency proof that the log
// extends what the reader kept. A server answering from a copy rolled back, or from a fork that
// went on differently (signed by the same key), is caught.
TEST_F(ServeTest, ACheckpointKeptFromBeforeIsExtendedOrTheServerIsCaught) {
  const auto receipt = [](const std::string& id, int64_t fen) { return Receipt(id, fen).dump(); };
  const auto checkpoint = [&](int expected, std::vector<std::string> more) {
    std::vector<std::string> args = {"checkpoint", "--server", url_, "--key", "xt.key"};
    args.insert(args.end(), more.begin(), more.end());
    return Expect(expected, args);
  };
  const auto stop_server = [&] {
    ASSERT_EQ(::kill(pid_, SIGTERM), 0);
    ASSERT_EQ(::waitpid(pid_, nullptr, 0), pid_);
    pid_ = -1;
  };
  // A copy of the ledger as it is now (3 records), which will go on differently.
  stop_server();
  std::filesystem::copy(dir_ / "data", dir_ / "fork", std::filesystem::copy_options::recursive);
  StartServer();
  test::WriteFile(dir_ / "held3.note", checkpoint(0, {"--log-key", "log.pub"}).out);
  Expect(0, {"submit", "--server", url_, "--key", "xt.key", "-"},
         receipt("r1", 500000) + "\n" + receipt("r2", 700000));
  CliResult grown =
      checkpoint(0, {"--log-key", "log.pub", "--checkpoint", "held3.note", "--format", "json"});
  json answer = json::parse(grown.out);
  EXPECT_EQ(answer["size"], 5);
  EXPECT_EQ(answer["held_checkpoints"], 1);
  EXPECT_NE(grown.err.find("extends the held checkpoint held3.note"), std::string::npos)
      << grown.err;
  test::WriteFile(dir_ / "held5.note", answer["note"].get<std::string>());
  // Kept at the head itself: no proof needed, the roots are the same.
  checkpoint(0,
             {"--log-key", "log.pub", "--checkpoint", "held3.note", "--checkpoint", "held5.note"});
  // Usage: a held checkpoint is checked against a key the reader names, never the server's.
  CliResult no_key = checkpoint(2, {"--checkpoint", "held3.note"});
  EXPECT_NE(no_key.err.find("--log-key"), std::string::npos) << no_key.err;
  // A key that is not the log's: the server's note is not signed by it.
  CliResult other_key = checkpoint(1, {"--log-key", "xt.pub"});
  EXPECT_NE(other_key.err.find("note_signature_invalid"), std::string::npos) << other_key.err;
  // The copy, served with the same log key: first behind what the reader holds, then a fork.
  stop_server();
  pid_ = test::StartServe(FL_BINARY, dir_, "fork", &url_);
  ASSERT_FALSE(url_.empty()) << ReadFile(dir_ / "serve.out");
  CliResult behind = checkpoint(1, {"--log-key", "log.pub", "--checkpoint", "held5.note"});
  EXPECT_NE(behind.err.find("held_checkpoint_ahead"), std::string::npos) << behind.err;
  EXPECT_NE(behind.err.find("held5.note"), std::string::npos) << behind.err;
  EXPECT_EQ(behind.out, "");
  Expect(0, {"submit", "--server", url_, "--key", "xt.key", "-"},
         receipt("r1", 500000) + "\n" + receipt("r2", 600000) + "\n" + receipt("r3", 1));
  CliResult fork = checkpoint(1, {"--log-key", "log.pub", "--checkpoint", "held5.note"});
  EXPECT_NE(fork.err.find("held_checkpoint_root"), std::string::npos) << fork.err;
  EXPECT_EQ(fork.out, "");
  // The fork does extend what both histories share.
  checkpoint(0, {"--log-key", "log.pub", "--checkpoint", "held3.note"});
  // Without a held checkpoint, or a key, the note is printed as the server sends it.
  EXPECT_NE(checkpoint(0, {}).out.find("\n6\n"), std::string::npos);

  // A server that signs its real checkpoint but sends a consistency proof of its own making: the
  // proof is checked against the held root and the note's, never the roots the answer names.
  json note = json::parse(checkpoint(0, {"--format", "json"}).out);
  json proof = json::parse(
      Expect(0, {"proof", "consistency", "--from", "3", "--server", url_, "--key", "xt.key"}).out);
  ASSERT_FALSE(proof["proof"].empty());
  struct Case {
    const char* name;
    std::function<void(json*)> edit;
    const char* error;  // empty: the check passes
  };
  const std::vector<Case> cases = {
      {"as sent", [](json*) {}, ""},
      {"another hash", [&](json* p) { (*p)["proof"][0] = note["root"]; }, "held_checkpoint_root"},
      {"a hash fewer", [](json* p) { (*p)["proof"].erase(0); }, "held_checkpoint_root"},
      {"roots named as held", [&](json* p) { (*p)["root2"] = (*p)["root1"]; }, ""},
      {"other sizes", [](json* p) { (*p)["size1"] = 2; }, "http_reply"},
      {"not a hash", [](json* p) { (*p)["proof"][0] = "not base64"; }, "http_reply"},
      {"no list", [](json* p) { (*p)["proof"] = "x"; }, "http_reply"},
      {"too long", [&](json* p) { (*p)["proof"] = json(std::vector<json>(129, note["root"])); },
       "http_reply"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ScriptedServer server([&](size_t, const std::string& target) {
      if (target.rfind("/v1/checkpoint", 0) == 0) return note.dump();
      json p = proof;
      c.edit(&p);
      return p.dump();
    });
    CliResult r = test::RunBinary(FL_BINARY, dir_,
                                  {"checkpoint", "--server", server.url(), "--key", "xt.key",
                                   "--log-key", "log.pub", "--checkpoint", "held3.note"});
    EXPECT_EQ(server.targets(),
              (std::vector<std::string>{"/v1/checkpoint", "/v1/proofs/consistency?from=3&to=6"}));
    if (std::string(c.error).empty()) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, note["note"]);
    } else {
      EXPECT_EQ(r.exit_code, 1) << r.err;
      EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
      EXPECT_EQ(r.out, "");
    }
  }
}

// A citizen with no key of the ledger's keeps the public checkpoints and has each new one proved
// to extend the last by the public consistency proofs: a fork signed with the same log key is
// caught as it is for a registered reader.
TEST_F(ServeTest, ACitizenKeepingPublicCheckpointsCatchesAForkWithoutAKey) {
  const auto stop_server = [&] {
    ASSERT_EQ(::kill(pid_, SIGTERM), 0);
    ASSERT_EQ(::waitpid(pid_, nullptr, 0), pid_);
    pid_ = -1;
  };
  const auto citizen = [&](int expected, std::vector<std::string> more) {
    std::vector<std::string> args = {"checkpoint", "--server", url_, "--log-key", "log.pub"};
    args.insert(args.end(), more.begin(), more.end());
    return Expect(expected, args);
  };
  const auto grow = [&](const std::string& id, int64_t fen) {
    Expect(0, {"submit", "--server", url_, "--key", "xt.key", "-"}, Receipt(id, fen).dump());
    Expect(0, {"checkpoint", "--server", url_, "--key", "xt.key"});  // the bureau signs one
  };
  stop_server();
  std::filesystem::copy(dir_ / "data", dir_ / "fork", std::filesystem::copy_options::recursive);
  StartServer();
  grow("r1", 500000);
  test::WriteFile(dir_ / "public4.note", citizen(0, {}).out);
  grow("r2", 700000);
  json grown = json::parse(citizen(0, {"--checkpoint", "public4.note", "--format", "json"}).out);
  EXPECT_EQ(grown["size"], 5);
  EXPECT_EQ(grown["held_checkpoints"], 1);
  // No key and no log key: nothing to check the public checkpoint against.
  Expect(2, {"checkpoint", "--server", url_});
  stop_server();
  pid_ = test::StartServe(FL_BINARY, dir_, "fork", &url_);
  ASSERT_FALSE(url_.empty()) << ReadFile(dir_ / "serve.out");
  grow("r1", 600000);
  grow("r2", 700000);
  CliResult fork = citizen(1, {"--checkpoint", "public4.note"});
  EXPECT_NE(fork.err.find("held_checkpoint_root"), std::string::npos) << fork.err;
  EXPECT_EQ(fork.out, "");
}

// An inclusion proof under a checkpoint the reader kept: at that checkpoint's size, leading to its
// root, from the record as the server sends it (hashed by the reader, not taken from the answer),
// which must be the event asked for. The same from a local copy of the ledger.
TEST_F(ServeTest, AnInclusionProofUnderAKeptCheckpointChecksTheRecordItself) {
  Expect(0, {"submit", "--server", url_, "--key", "xt.key", "-"},
         Receipt("r1", 500000).dump() + "\n" + Receipt("r2", 700000).dump());
  test::WriteFile(dir_ / "held5.note",
                  Expect(0, {"checkpoint", "--server", url_, "--key", "xt.key"}).out);
  Expect(0, {"submit", "--server", url_, "--key", "xt.key", "-"}, Receipt("r3", 1).dump());
  const std::vector<std::string> held = {"--log-key", "log.pub", "--checkpoint", "held5.note"};
  // The operator's key: the record is read too, which only auditors and the operator may.
  const auto inclusion = [&](int expected, const std::string& server,
                             std::vector<std::string> more) {
    std::vector<std::string> args = {"proof", "inclusion", "--server", server, "--key", "op.key"};
    args.insert(args.end(), more.begin(), more.end());
    return Expect(expected, args);
  };
  std::vector<std::string> by_id = {"--id", "r1"};
  by_id.insert(by_id.end(), held.begin(), held.end());
  CliResult remote = inclusion(0, url_, by_id);
  json proof = json::parse(remote.out);
  EXPECT_EQ(proof["seq"], 4);
  EXPECT_EQ(proof["tree_size"], 5);
  EXPECT_NE(remote.err.find("record 4 is in the log of the held checkpoint held5.note"),
            std::string::npos)
      << remote.err;
  std::vector<std::string> local = {"proof", "inclusion", "--data", "data"};
  local.insert(local.end(), by_id.begin(), by_id.end());
  EXPECT_EQ(Expect(0, local).out, remote.out);
  // A record after the checkpoint is not in it (the request is refused, as a seq past the head
  // is); --size is the checkpoint's; a held checkpoint is opened with a key the reader names.
  EXPECT_NE(inclusion(2, url_, {"--id", "r3", "--log-key", "log.pub", "--checkpoint", "held5.note"})
                .err.find("bad_proof_request"),
            std::string::npos);
  inclusion(2, url_,
            {"--id", "r1", "--size", "5", "--log-key", "log.pub", "--checkpoint", "held5.note"});
  inclusion(2, url_, {"--id", "r1", "--checkpoint", "held5.note"});
  // A trust anchor given alone would be used for nothing: bad usage.
  inclusion(2, url_, {"--id", "r1", "--log-key", "log.pub"});

  // A note of the empty log holds no record: bad usage, asked of no server.
  NoteSigner log_signer;
  ASSERT_TRUE(ReadSecretKeyFile(dir_ / "log.key", &log_signer).ok());
  std::string empty_note;
  ASSERT_TRUE(
      SignCheckpoint({"xiangtan.example/fundledger", 0, MerkleEmptyRoot()}, log_signer, &empty_note)
          .ok());
  test::WriteFile(dir_ / "held0.note", empty_note);
  {
    ScriptedServer server([](size_t, const std::string&) { return std::string("{}"); });
    EXPECT_NE(inclusion(2, server.url(),
                        {"--seq", "1", "--log-key", "log.pub", "--checkpoint", "held0.note"})
                  .err.find("bad_proof_request"),
              std::string::npos);
    EXPECT_TRUE(server.targets().empty());
  }
  EXPECT_NE(Expect(2, {"proof", "inclusion", "--data", "data", "--seq", "1", "--checkpoint",
                       "held0.note"})
                .err.find("bad_proof_request"),
            std::string::npos);

  // A server that sends the record or the proof changed.
  json record = JsonLines(Expect(0, {"log", "--server", url_, "--key", "op.key", "--from", "4",
                                     "--limit", "1"})
                              .out)
                    .at(0);
  struct Case {
    const char* name;
    std::function<void(json* proof, json* record)> edit;
    const char* error;  // empty: the check passes
    std::vector<std::string> ask = {"--id", "r1"};
  };
  const std::vector<Case> cases = {
      {"as sent", [](json*, json*) {}, ""},
      {"the leaf named otherwise", [](json* p, json*) { (*p)["leaf_hash"] = (*p)["root"]; }, ""},
      {"the index and tree named otherwise, and more",
       [](json* p, json*) {
         (*p)["leaf_index"] = 7;
         (*p)["tree_size"] = 6;
         (*p)["root"] = (*p)["leaf_hash"];
         (*p)["verified"] = true;
       },
       ""},
      {"a seq not a whole number", [](json* p, json*) { (*p)["seq"] = 4.5; }, "http_reply"},
      {"recorded at no time", [](json*, json* r) { (*r)["recorded_at_ms"] = 1e300; }, "http_reply"},
      {"another amount", [](json*, json* r) { (*r)["envelope"]["event"]["amount_fen"] = 500001; },
       "inclusion_proof_invalid"},
      {"recorded at another time", [](json*, json* r) { (*r)["recorded_at_ms"] = 1; },
       "inclusion_proof_invalid"},
      {"another event", [](json*, json* r) { (*r)["envelope"]["event"]["id"] = "r9"; },
       "record_mismatch"},
      {"another hash", [](json* p, json*) { (*p)["proof"][0] = (*p)["root"]; },
       "inclusion_proof_invalid"},
      {"a hash fewer", [](json* p, json*) { (*p)["proof"].erase(0); }, "inclusion_proof_invalid"},
      {"another record asked",
       [](json* p, json*) { (*p)["seq"] = 5; },
       "http_reply",
       {"--seq", "4"}},
      {"past the checkpoint", [](json* p, json*) { (*p)["seq"] = 6; }, "http_reply"},
      {"another record sent", [](json*, json* r) { (*r)["seq"] = 5; }, "http_reply"},
      {"no envelope", [](json*, json* r) { (*r)["envelope"] = 1; }, "http_reply"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json p = proof, r = record;
    c.edit(&p, &r);
    ScriptedServer server([&](size_t, const std::string& target) {
      return target.rfind("/v1/proofs/inclusion", 0) == 0 ? p.dump() : json::array({r}).dump();
    });
    std::vector<std::string> args = c.ask;
    args.insert(args.end(), held.begin(), held.end());
    if (std::string(c.error).empty()) {
      EXPECT_EQ(inclusion(0, server.url(), args).out, remote.out);
    } else {
      CliResult refused = inclusion(1, server.url(), args);
      EXPECT_NE(refused.err.find(c.error), std::string::npos) << refused.err;
      EXPECT_EQ(refused.out, "");
    }
  }
}

// A page of a disbursements list of project p1 at seq 10: `listed` lines from `from` of `total`,
// with `next` (null for none).
json Page(uint64_t from, uint64_t listed, uint64_t total, json next = "/v1/events?from=1") {
  json lines = json::array();
  for (uint64_t i = 0; i < listed; ++i) {
    lines.push_back({{"id", "d" + std::to_string(from + i)},
                     {"seq", 5},
                     {"project", "p1"},
                     {"occurred_on", "2026-01-01"},
                     {"category", "central"},
                     {"amount_fen", 1},
                     {"payee", {{"name", "x"}, {"kind", "contractor"}}},
                     {"work", "basic"},
                     {"item", "pipe_network"},
                     {"units", nullptr},
                     {"contract_ref", "c"},
                     {"invoice_ref", "i"},
                     {"acknowledged", false},
                     {"acknowledged_by", nullptr},
                     {"reversed_by", nullptr},
                     {"findings", json::array()}});
  }
  return {{"view", "disbursements"},
          {"scope", {{"project", "p1"}}},
          {"as_of_seq", 10},
          {"as_of_date", nullptr},
          {"reference_date", "2026-01-01"},
          {"total_fen", 0},
          {"count", 0},
          {"by_work", json::array()},
          {"by_item", json::array()},
          {"by_payee", json::array()},
          {"by_month", json::array()},
          {"by_category", json::array()},
          {"disbursements", lines},
          {"page", {{"from", from}, {"listed", listed}, {"total", total}, {"next", next}}}};
}

// `show disbursements --server` against a server whose pages do not make one list: it asks only
// for the pages it builds itself (never the server's `next`, which it would sign), and stops with
// an error at the first page that does not continue the list, instead of reading on.
TEST(ServePagesTest, ShowStopsAtPagesThatDoNotMakeOneList) {
  TestDir dir;
  test::ExpectExit(FL_BINARY, dir, 0, {"keygen", "--name", "audit", "--out", "audit"});
  struct Case {
    const char* name;
    std::function<json(size_t)> page;  // the answer to the n-th request
    const char* error;                 // empty: the list is printed
    size_t requests;
  };
  const std::vector<Case> cases = {
      {"whole", [](size_t n) { return Page(n, 1, 3, n < 2 ? json("/v1/events") : json()); }, "", 3},
      {"endless", [](size_t n) { return Page(n, 1, 3); }, "goes on past its end", 3},
      {"empty and going on", [](size_t) { return Page(0, 0, 3); }, "goes on past its end", 1},
      {"repeated", [](size_t) { return Page(0, 1, 3); }, "does not go on where", 2},
      {"past the total", [](size_t n) { return Page(n, n == 0 ? 1 : 5, 3); }, "more than the total",
       2},
      {"short", [](size_t n) { return Page(n, 1, 3, json()); }, "do not add up", 1},
      {"another point",
       [](size_t n) {
         json p = Page(n, 1, 3);
         if (n == 1) p["as_of_seq"] = 11;
         return p;
       },
       "another point", 2},
      {"no point",
       [](size_t n) {
         json p = Page(n, 1, 3);
         p.erase("as_of_seq");
         return p;
       },
       "no as_of_seq", 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ScriptedServer server([&](size_t n, const std::string&) { return c.page(n).dump(); });
    CliResult r = test::RunBinary(FL_BINARY, dir,
                                  {"show", "disbursements", "--project", "p1", "--format", "csv",
                                   "--server", server.url(), "--key", "audit.key"});
    std::vector<std::string> targets = server.targets();
    EXPECT_EQ(targets.size(), c.requests) << r.err;
    if (std::string(c.error).empty()) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_NE(r.out.find("d0,"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("d2,"), std::string::npos) << r.out;
    } else {
      EXPECT_EQ(r.exit_code, 1);
      EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
    }
    // The first page as asked, the others at its point from where the list ended.
    for (size_t i = 0; i < targets.size(); ++i) {
      EXPECT_EQ(targets[i], i == 0 ? "/v1/views/disbursements?project=p1&format=json"
                                   : "/v1/views/disbursements?project=p1&as_of_seq=10&from=" +
                                         std::to_string(i) + "&format=json");
    }
  }
}

// Answers that are JSON but lack a field the protocol names, or hold it with another type, end
// the client verbs with exit 1 and an error naming the server's answer; they never crash them.
TEST(ServePagesTest, AnswersWithoutTheProtocolsFieldsAreErrorsNotCrashes) {
  TestDir dir;
  test::ExpectExit(FL_BINARY, dir, 0, {"keygen", "--name", "audit", "--out", "audit"});
  struct Case {
    const char* name;
    std::vector<std::string> args;
    const char* body;
    const char* error = "http_reply";
  };
  const std::vector<Case> cases = {
      {"log: seq of another type",
       {"log", "--format", "table"},
       R"([{"seq":"one","recorded_at_ms":1,"envelope":{}}])"},
      {"log: no envelope", {"log", "--format", "table"}, R"([{"seq":1,"recorded_at_ms":1}])"},
      {"log: a number for a record", {"log", "--format", "table"}, "[1]"},
      {"proof: hashes of another type",
       {"proof", "inclusion", "--seq", "1", "--format", "table"},
       R"({"proof":[1]})"},
      {"show: a view without its figures",
       {"show", "disbursements", "--project", "p1", "--format", "csv"},
       R"({"view":"disbursements","as_of_seq":3})",
       "bad_view_json: the server's answer"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ScriptedServer server([&](size_t, const std::string&) { return std::string(c.body); });
    std::vector<std::string> args = c.args;
    for (const char* a : {"--server", "", "--key", "audit.key"}) args.push_back(a);
    args[args.size() - 3] = server.url();
    CliResult r = test::RunBinary(FL_BINARY, dir, args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(c.error), std::string::npos) << r.err;
  }
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
