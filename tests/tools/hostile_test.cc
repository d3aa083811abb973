// The catalogue of hostile requests (tests/data/hostile, described in its README.md) sent to a
// real `fundledger serve` over raw loopback sockets: each case gets its documented status, error
// code and field, and leaves the journal's size, its Merkle root and the views unchanged.
//
// The ledger is the demo's (`fundledger demo --seed 1`, so every organisation's key is at hand
// and the same for every run), plus what some cases need set up: the municipal money of
// xt-finance's pool brought to within one receipt of the balance limit (the overflow cases).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/auth.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "ledger/event.h"
#include "ledger/fund_rules.h"
#include "ledger/key_file.h"
#include "tests/api/raw_connection.h"
#include "tests/tools/test_dir.h"

namespace fundledger {
namespace {

using nlohmann::json;
using test::CliResult;
using test::ReadFile;
using test::TestDir;

constexpr char kCatalogue[] = FL_TEST_DATA_DIR "/hostile/cases";
// The org whose signed reads take the fingerprints: an auditor reads everything.
constexpr char kAuditor[] = "cnao";
// The account the overflow cases aim at: xt-finance's pool, municipal money, set up to hold
// kOverflowBalanceFen.
constexpr char kOverflowPool[] = "xt-finance";
constexpr int64_t kOverflowBalanceFen = kBalanceFenMax - int64_t(kAmountFenMax) + 2;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using test::HttpAnswer;
using test::RawConnection;

// Signs and renders what the case files describe (see tests/data/hostile/README.md).
class CaseBuilder {
 public:
  CaseBuilder(std::string keys_dir, uint16_t port) : keys_dir_(std::move(keys_dir)), port_(port) {}

  const KeyPair& Key(const std::string& org) {
    auto it = keys_.find(org);
    if (it != keys_.end()) return it->second;
    KeyPair key = KeyPair::FromSeed(KeySeed{});
    constexpr std::string_view kFresh = "fresh:", kDemoOld = "demo-old:";
    if (org.compare(0, kFresh.size(), kFresh) == 0) {
      // A key of no registered org: its seed is SHA-256 of the name.
      key = KeyPair::FromSeed(Sha256(org));
    } else if (org.compare(0, kDemoOld.size(), kDemoOld) == 0) {
      // The first key of an org that rotated it, derived as the demo derives it (tools/demo.h).
      std::string material = "fundledger-demo";
      material += '\0';
      material += "1";  // the seed of the runner's demo ledger
      material += '\0';
      material += org.substr(kDemoOld.size());
      key = KeyPair::FromSeed(Sha256(material));
    } else {
      NoteSigner signer;
      Status s = ReadSecretKeyFile(keys_dir_ + "/" + org + ".key", &signer);
      EXPECT_TRUE(s.ok()) << org << ": " << s.ToString();
      key = signer.key;
    }
    return keys_.emplace(org, key).first->second;
  }

  // The bytes of a body part, or of the whole of a raw request.
  std::string Part(const json& part) {
    if (part.is_string()) return part.get<std::string>();
    if (part.is_array()) {
      std::string out;
      for (const json& p : part) out += Part(p);
      return out;
    }
    if (part.contains("hex")) {
      std::vector<uint8_t> bytes;
      Status s = HexDecode(part["hex"].get<std::string>(), &bytes);
      EXPECT_TRUE(s.ok()) << part.dump();
      return std::string(bytes.begin(), bytes.end());
    }
    if (part.contains("repeat")) {
      std::string one = Part(part["repeat"]), out;
      for (uint64_t i = 0; i < part["count"].get<uint64_t>(); ++i) out += one;
      return out;
    }
    if (part.contains("envelope")) return Envelope(part["envelope"]);
    if (part.contains("signed_read_headers")) return SignedHeaders(part["signed_read_headers"]);
    ADD_FAILURE() << "unknown body part " << part.dump();
    return {};
  }

  // The whole request of a case.
  std::string Request(const json& request) {
    if (request.contains("raw")) return Part(request["raw"]);
    std::string method = request.value("method", "GET");
    std::string target = request.value("target", "/");
    std::string out = method + " " + target +
                      " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                      "\r\nConnection: close\r\n";
    const json headers = request.value("headers", json::object());
    for (auto& [name, value] : headers.items()) {
      out += name + ": " + value.get<std::string>() + "\r\n";
    }
    if (request.contains("sign")) {
      json sign = request["sign"];
      if (!sign.contains("method")) sign["method"] = method;
      if (!sign.contains("target")) sign["target"] = target;
      out += SignedHeaders(sign);
    }
    std::string body = request.contains("body") ? Part(request["body"]) : "";
    if (request.contains("body") || method == "POST") {
      out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    return out + "\r\n" + body;
  }

 private:
  // The X-Fundledger-* header lines of a read signed by `org` over `method` and `target`, stamped
  // `timestamp_offset_ms` from now (or exactly `timestamp`, a string sent as it is).
  std::string SignedHeaders(const json& sign) {
    std::string org = sign["org"], target = sign["target"];
    size_t question = target.find('?');
    std::string path = target.substr(0, question);
    std::string query = question == std::string::npos ? "" : target.substr(question + 1);
    std::string timestamp =
        sign.contains("timestamp")
            ? sign["timestamp"].get<std::string>()
            : std::to_string(WallMs() + sign.value("timestamp_offset_ms", int64_t(0)));
    Signature signature = Key(sign.value("key", org))
                              .Sign(AsBytes(RequestSigningBytes(sign.value("method", "GET"), path,
                                                                query, timestamp)));
    return std::string(kOrgHeader) + ": " + org + "\r\n" + kTimestampHeader + ": " + timestamp +
           "\r\n" + kSignatureHeader + ": " + Base64Encode(signature) + "\r\n";
  }

  // An envelope: `event` signed by `key` (default: the signer) and rendered in `form`.
  std::string Envelope(const json& spec) {
    std::string signer = spec["signer"];
    const KeyPair& key = Key(spec.value("key", signer));
    json sign = spec.value("sign", json("event"));
    Signature signature{};
    std::string capnp;
    if (sign == "event" || sign.is_object()) {
      SignedEvent signed_event;
      Status s =
          SignedEvent::Sign(sign.is_object() ? sign : spec["event"], signer, key, &signed_event);
      EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << spec.dump();
      if (!s.ok()) return {};
      signature = signed_event.signature();
      if (sign == "event") capnp = signed_event.ToEnvelopeCapnp();
    } else {
      EXPECT_EQ(sign, "zeros") << spec.dump();
    }
    std::string out;
    if (spec.value("form", "json") == "capnp") {
      EXPECT_FALSE(capnp.empty()) << "a capnp envelope is the signed event's: " << spec.dump();
      out = capnp;
    } else {
      json envelope = {
          {"signer", signer}, {"signature", Base64Encode(signature)}, {"event", spec["event"]}};
      const json extra = spec.value("envelope_extra", json::object());
      for (auto& [name, value] : extra.items()) envelope[name] = value;
      out = envelope.dump();
    }
    const json patches = spec.value("patch", json::array());
    for (const json& patch : patches) {
      std::string with = Part(patch["with"]);
      if (patch.contains("at")) {
        size_t at = patch["at"];
        EXPECT_LE(at + with.size(), out.size()) << "patch past the envelope: " << patch.dump();
        if (at + with.size() <= out.size()) out.replace(at, with.size(), with);
        continue;
      }
      std::string find = patch["find"];
      size_t at = out.find(find);
      EXPECT_NE(at, std::string::npos) << "patch: " << find << " not in the envelope";
      if (at != std::string::npos) out.replace(at, find.size(), with);
    }
    return out;
  }

  std::string keys_dir_;
  uint16_t port_;
  std::map<std::string, KeyPair> keys_;
};

class HostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TestDir();
    Expect(0, {"demo", "--data", "ledger", "--seed", "1", "--projects", "3"});
    FillOverflowPool();
    pid_ = test::StartServe(FL_BINARY, *dir_, "ledger", &url_);
    ASSERT_FALSE(url_.empty()) << ReadFile(*dir_ / "serve.out");
    port_ = uint16_t(std::stoul(url_.substr(url_.rfind(':') + 1)));
    builder_ = new CaseBuilder(*dir_ / "ledger/keys", port_);
    // A checkpoint at the head, so that GET /v1/checkpoint writes nothing in the cases.
    HttpAnswer checkpoint = SignedGet("/v1/checkpoint");
    ASSERT_EQ(checkpoint.status, 200u) << checkpoint.body;
    initial_ = new std::string(Fingerprint());
  }

  static void TearDownTestSuite() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "the server did not stop cleanly: " << status << "\n"
          << ReadFile(*dir_ / "serve.out");
      pid_ = -1;
      // The ledger the catalogue was thrown at verifies, every record, tree node and view.
      Expect(0, {"verify", "--data", "ledger"});
    }
    delete builder_;
    delete initial_;
    delete dir_;
  }

  static CliResult Expect(int expected, const std::vector<std::string>& args,
                          const std::string& input = "") {
    return test::ExpectExit(FL_BINARY, *dir_, expected, args, input);
  }

  // Receipts of xt-finance's own money into its pool until it holds kOverflowBalanceFen.
  static void FillOverflowPool() {
    CliResult shown = Expect(
        0, {"show", "balance", "--data", "ledger", "--pool", kOverflowPool, "--format", "json"});
    json balance = json::parse(shown.out);
    int64_t held = balance["categories"]["municipal"]["available_fen"].get<int64_t>();
    ASSERT_LT(held, kOverflowBalanceFen);
    std::string lines;
    for (int64_t missing = kOverflowBalanceFen - held, n = 0; missing > 0; ++n) {
      int64_t amount = std::min<int64_t>(missing, int64_t(kAmountFenMax));
      missing -= amount;
      json receipt = {{"id", "fill-" + std::to_string(n)},
                      {"type", "funds_received"},
                      {"occurred_on", "2026-11-01"},
                      {"to", kOverflowPool},
                      {"to_kind", "pool"},
                      {"category", "municipal"},
                      {"source_org", kOverflowPool},
                      {"channel", "transfer"},
                      {"amount_fen", amount}};
      lines += receipt.dump() + "\n";
    }
    Expect(0,
           {"submit", "--data", "ledger", "--key",
            std::string("ledger/keys/") + kOverflowPool + ".key", "--format", "table", "-"},
           lines);
  }

  static HttpAnswer Send(const std::string& bytes, bool shutdown_write = false) {
    RawConnection connection(port_, /*timeout_seconds=*/10);
    connection.Send(bytes);
    if (shutdown_write) connection.ShutdownWrite();
    return connection.ReadAnswer();
  }

  static HttpAnswer SignedGet(const std::string& target) {
    return Send(builder_->Request({{"target", target}, {"sign", {{"org", kAuditor}}}}));
  }

  // What must not change: the head (size and root, by a consistency proof from 1), and the
  // views of the whole ledger and of the pool the overflow cases aim at.
  static std::string Fingerprint() {
    std::string out;
    for (const char* target :
         {"/v1/proofs/consistency?from=1", "/v1/views/balance?region=", "/v1/views/flags?region=",
          "/v1/views/ratios?region=hunan", "/v1/views/balance?pool=xt-finance"}) {
      HttpAnswer answer = SignedGet(target);
      EXPECT_EQ(answer.status, 200u) << target << ": " << answer.body;
      json body = json::parse(answer.body, nullptr, false);
      if (body.contains("proof")) body.erase("proof");  // the proof from 1 grows with nothing
      out += std::string(target) + " " + body.dump() + "\n";
    }
    return out;
  }

  static std::vector<std::filesystem::path> CaseFiles() {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(kCatalogue)) {
      if (entry.path().extension() == ".json") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  // Writes the request of a case to DIR/NAME.http and its body to DIR/NAME.body (the seeds of
  // the fuzz corpora).
  static void Dump(const std::string& dir, const std::filesystem::path& file,
                   const std::string& request) {
    std::string name = (std::filesystem::path(dir) / file.stem()).string();
    test::WriteFile(name + ".http", request);
    size_t head_end = request.find("\r\n\r\n");
    if (head_end != std::string::npos)
      test::WriteFile(name + ".body", request.substr(head_end + 4));
  }

  // Sends one case and checks its answer and the fingerprint after it.
  static void RunCase(const std::filesystem::path& file) {
    SCOPED_TRACE(file.filename().string());
    json c = json::parse(ReadFile(file.string()), nullptr, false);
    ASSERT_TRUE(c.is_object()) << "not a JSON case";
    for (const char* field : {"category", "description", "request", "expect"}) {
      ASSERT_TRUE(c.contains(field)) << "a case has " << field;
    }
    const json& expect = c["expect"];
    std::string request = builder_->Request(c["request"]);
    if (const char* dump = std::getenv("FL_HOSTILE_DUMP")) Dump(dump, file, request);
    HttpAnswer answer = Send(request, c["request"].value("shutdown_write", false));
    EXPECT_EQ(answer.status, expect["status"].get<unsigned>()) << c["description"] << "\n"
                                                               << answer.head << "\n"
                                                               << answer.body.substr(0, 2000);
    json body = json::parse(answer.body, nullptr, false);
    if (expect.contains("code")) {
      ASSERT_TRUE(body.is_object()) << answer.body.substr(0, 2000);
      EXPECT_EQ(body.value("code", json()), expect["code"]) << body.dump();
      EXPECT_EQ(body.value("field", json()), expect.value("field", json())) << body.dump();
      if (expect.contains("event_id")) {
        EXPECT_EQ(body["event_id"], expect["event_id"]);
      }
      EXPECT_TRUE(body.contains("message") && body.contains("event_id")) << body.dump();
    }
    if (expect.contains("results")) {
      ASSERT_TRUE(body.is_array()) << answer.body.substr(0, 2000);
      ASSERT_EQ(body.size(), expect["results"].size()) << body.dump();
      for (size_t i = 0; i < body.size(); ++i) {
        const json& want = expect["results"][i];
        if (want.contains("duplicate")) {
          EXPECT_EQ(body[i].value("duplicate", json()), want["duplicate"]) << body[i].dump();
          continue;
        }
        EXPECT_EQ(body[i]["error"].value("code", json()), want["code"]) << body[i].dump();
        EXPECT_EQ(body[i]["error"].value("field", json()), want.value("field", json()))
            << body[i].dump();
      }
    }
    if (expect.contains("header")) {
      EXPECT_NE(answer.head.find(expect["header"].get<std::string>()), std::string::npos)
          << answer.head;
    }
    EXPECT_EQ(Fingerprint(), *initial_) << "the case changed the ledger";
  }

  static TestDir* dir_;
  static pid_t pid_;
  static std::string url_;
  static uint16_t port_;
  static CaseBuilder* builder_;
  static std::string* initial_;
};

TestDir* HostileTest::dir_ = nullptr;
pid_t HostileTest::pid_ = -1;
std::string HostileTest::url_;
uint16_t HostileTest::port_ = 0;
CaseBuilder* HostileTest::builder_ = nullptr;
std::string* HostileTest::initial_ = nullptr;

TEST_F(HostileTest, CatalogueHasEveryCategory) {
  std::map<std::string, int> categories;
  for (const auto& file : CaseFiles()) {
    json c = json::parse(ReadFile(file.string()), nullptr, false);
    categories[c.value("category", "")]++;
  }
  EXPECT_GE(CaseFiles().size(), 60u);
  for (const char* category :
       {"body_size", "capnp", "utf8", "limits", "overflow", "enum", "unknown_field", "json_syntax",
        "replay", "signature", "revoked", "smuggling", "path", "query"}) {
    EXPECT_GT(categories[category], 0) << category;
  }
}

TEST_F(HostileTest, EveryCaseGetsItsErrorAndChangesNothing) {
  for (const auto& file : CaseFiles()) RunCase(file);
  // The server still answers, and the ledger is the one it was.
  EXPECT_EQ(Send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status, 200u);
}

}  // namespace
}  // namespace fundledger
