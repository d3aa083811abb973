// The HTTP server over real loopback sockets: every endpoint, every error status, signed reads,
// group commit under concurrent writers, slow and vanishing clients, and a graceful stop under
// load.

#include "api/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "api/client.h"
#include "api/export.h"
#include "api/http_handler.h"
#include "api/public_reads.h"
#include "api/reads.h"
#include "api/submit.h"
#include "crypto/merkle.h"
#include "ledger/storage_format.h"
#include "replay/verify.h"
#include "tests/api/raw_connection.h"
#include "tests/ledger/fund_events.h"
#include "tests/ledger/test_ledger.h"

namespace fundledger {
namespace {

using nlohmann::json;
using testing::Allocated;
using testing::kHeping;
using testing::ProjectRegistration;
using testing::Received;
using testing::TestLedger;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json Parse(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(value.is_discarded()) << "not JSON: " << text;
  return value;
}

using test::RawConnection;

// A ledger of Xiangtan with a project in Heping, served on a loopback port.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    L.Register("xt-finance", "finance_bureau", "municipal", "hunan/xiangtan");
    L.Register("bj-finance", "finance_bureau", "municipal", "beijing");
    L.Register("yh-housing", "housing_bureau", "district", "hunan/xiangtan/yuhu");
    L.Register("jianshe", "contractor", "none", "hunan/xiangtan");
    L.Register("audit", "auditor", "none", "hunan");
    L.Register("gone", "auditor", "none", "hunan");
    L.AppendOk(L.Signed(
        "operator", testing::Event("revoke-gone", "org_revoked", {{"org", "gone"}}, "2026-11-02")));
    L.AppendOk(L.Signed("yh-housing", ProjectRegistration("p1")));
    L.AppendOk(L.Signed(
        "xt-finance", Received("r0", "xt-finance", "pool", "municipal", "xt-finance", 1'000'000)));
  }
  void TearDown() override { server_.reset(); }
  std::string web_dir_;                     // the dashboard's files, for Start
  std::function<void()> before_view_fold_;  // for Start

  // `threads` request threads; with `exports`, the log key signs public export bundles.
  void Start(ServerLimits limits = ServerLimits(), unsigned threads = 2, bool exports = false) {
    ServerOptions options;
    options.threads = threads;
    options.limits = limits;
    if (exports) options.log_signer = &L.log_key();
    options.web_dir = web_dir_;
    options.before_view_fold = before_view_fold_;
    Status s = Server::Start(L.journal(), options, &server_);
    ASSERT_TRUE(s.ok()) << s.ToString();
    address_ = ServerAddress{"127.0.0.1", std::to_string(server_->port()), ""};
    client_ = std::make_unique<HttpConnection>(address_, 10000);
  }

  HttpReply Call(const std::string& method, const std::string& target, const std::string& org = "",
                 const std::string& body = "",
                 const std::string& content_type = "application/json") {
    std::optional<RequestSigner> signer;
    if (!org.empty()) signer = RequestSigner{org, &L.keys().at(org)};
    HttpReply reply;
    Status s =
        client_->Exchange(method, target, body.empty() ? "" : content_type, body, signer, &reply);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return reply;
  }
  HttpReply Get(const std::string& target, const std::string& org = "") {
    return Call("GET", target, org);
  }
  HttpReply Post(const json& body) { return Call("POST", "/v1/events", "", body.dump()); }

  json Envelope(const std::string& signer, const json& event) {
    return L.Signed(signer, event).ToEnvelopeJson();
  }
  json ReceiptEnvelope(const std::string& id, uint64_t amount_fen) {
    return Envelope("xt-finance",
                    Received(id, "xt-finance", "pool", "municipal", "xt-finance", amount_fen));
  }
  json AllocationEnvelope(const std::string& id, uint64_t amount_fen) {
    return Envelope("xt-finance",
                    Allocated(id, "xt-finance", "p1", "project", "municipal", amount_fen));
  }
  // Serves with lists of at most `lines_max` lines, after seven payments from p1 (pay-0 to
  // pay-6); the head after them.
  uint64_t ServeSevenPayments(size_t lines_max) {
    ServerLimits limits;
    limits.view_lines_max = lines_max;
    Start(limits);
    ApproveP1();
    for (int i = 0; i < 7; ++i) PayFromP1("pay-" + std::to_string(i));
    return L.journal().head().size;
  }
  // Approves p1, so that it may be paid.
  void ApproveP1() {
    HttpReply reply =
        Post(Envelope("yh-housing", testing::StatusChange("approve-p1", "p1", "approved", 9000)));
    ASSERT_EQ(reply.status, 200u) << reply.body;
  }
  // Money allocated to p1 and a payment `id` of 200 yuan from it, each accepted.
  void PayFromP1(const std::string& id) {
    json body = {AllocationEnvelope(id + "-al", 50'000),
                 Envelope("xt-finance", testing::Disbursed(id, "p1", "municipal", 20'000))};
    HttpReply reply = Post(body);
    ASSERT_EQ(reply.status, 200u) << reply.body;
    for (const json& r : Parse(reply.body)) ASSERT_FALSE(r.contains("error")) << r;
  }

  TestLedger L;
  std::unique_ptr<Server> server_;
  ServerAddress address_;
  std::unique_ptr<HttpConnection> client_;
};

TEST_F(ServerTest, PublicEndpointsNeedNoSignature) {
  Start();
  HttpReply health = Get("/healthz");
  EXPECT_EQ(health.status, 200u);
  EXPECT_EQ(Parse(health.body)["status"], "ok");
  HttpReply home = Get("/");
  EXPECT_EQ(home.status, 200u);
  EXPECT_NE(home.body.find("records"), std::string::npos) << home.body;
  EXPECT_EQ(Get("/v1/public/checkpoint").status, 404u) << "no checkpoint written yet";
  EXPECT_EQ(Get("/v1/checkpoint", "jianshe").status, 200u);
  HttpReply note = Get("/v1/public/checkpoint");
  EXPECT_EQ(note.status, 200u);
  Checkpoint checkpoint;
  ASSERT_TRUE(OpenCheckpoint(note.body, L.journal().log_verifier(), &checkpoint).ok()) << note.body;
  EXPECT_EQ(checkpoint.size, L.journal().head().size);
  ASSERT_EQ(Post(ReceiptEnvelope("m1", 5)).status, 200u);
  HttpReply metrics = Get("/metrics");
  EXPECT_EQ(metrics.status, 200u);
  EXPECT_EQ(metrics.content_type.rfind("text/plain", 0), 0u) << metrics.content_type;
  for (const std::string& name : std::vector<std::string>{
           "fundledger_events_appended_total 1", "fundledger_batch_events_count 1",
           // the checkpoint's sync (the sequencer writes it) and the post's
           "fundledger_fsync_seconds_count 2", "fundledger_request_seconds_bucket{route=\"views\"",
           "fundledger_journal_records " + std::to_string(L.journal().head().size)}) {
    EXPECT_NE(metrics.body.find(name), std::string::npos) << name << "\n" << metrics.body;
  }
}

// /metrics says where the server's memory is (api/metrics.h, memory_bytes): each part is
// there, and the parts that must hold something after a write and a public read do.
TEST_F(ServerTest, MetricsNameWhereTheMemoryIs) {
  Start();
  ASSERT_EQ(Post(ReceiptEnvelope("m1", 5)).status, 200u);
  ASSERT_EQ(Get("/v1/checkpoint", "jianshe").status, 200u);
  ASSERT_EQ(Get("/v1/public/projects").status, 200u);
  const std::string body = Get("/metrics").body;
  std::map<std::string, uint64_t> parts;
  const std::regex line("fundledger_memory_bytes\\{part=\"([a-z_]+)\"\\} ([0-9]+)");
  for (std::sregex_iterator it(body.begin(), body.end(), line), end; it != end; ++it) {
    parts[(*it)[1]] = std::stoull((*it)[2]);
  }
  for (const char* part : {"resident", "heap_in_use", "heap_free", "memtables", "block_cache",
                           "table_readers", "public_cache"}) {
    EXPECT_TRUE(parts.count(part)) << part << "\n" << body;
  }
  EXPECT_GT(parts["resident"], parts["memtables"]);
  EXPECT_GT(parts["heap_in_use"], 0u);
  EXPECT_GT(parts["memtables"], 0u) << "the receipt's rows are in the memtables";
  EXPECT_GT(parts["public_cache"], 0u) << "the projects answer is kept";
  EXPECT_LE(parts["block_cache"], 32u << 20);
  // One public answer built; asked for again, it comes from the cache.
  EXPECT_NE(body.find("\nfundledger_public_builds_total 1\n"), std::string::npos) << body;
  ASSERT_EQ(Get("/v1/public/projects").status, 200u);
  EXPECT_NE(Get("/metrics").body.find("\nfundledger_public_builds_total 1\n"), std::string::npos);
}

TEST_F(ServerTest, PostAnswersEachEnvelopeWithItsResultAndStatus) {
  Start();
  uint64_t head = L.journal().head().size;
  HttpReply one = Post(ReceiptEnvelope("r1", 100));
  ASSERT_EQ(one.status, 200u) << one.body;
  json result = Parse(one.body);
  EXPECT_EQ(result["id"], "r1");
  EXPECT_EQ(result["seq"], head + 1);
  EXPECT_EQ(result["duplicate"], false);
  uint64_t seq = 0;
  ASSERT_TRUE(L.journal().FindEvent("r1", &seq).ok());
  EXPECT_EQ(seq, head + 1);
  // The same again is a duplicate with the original seq; other content under its id conflicts.
  HttpReply again = Post(ReceiptEnvelope("r1", 100));
  EXPECT_EQ(again.status, 200u);
  EXPECT_EQ(Parse(again.body)["duplicate"], true);
  HttpReply conflict = Post(ReceiptEnvelope("r1", 101));
  EXPECT_EQ(conflict.status, 409u) << conflict.body;
  EXPECT_EQ(Parse(conflict.body)["code"], "duplicate_id");
  EXPECT_EQ(Parse(conflict.body)["event_id"], "r1");
  // A rule's refusal: 422 naming the rule, the event and the field; nothing changes.
  HttpReply overdraft = Post(AllocationEnvelope("a-big", 10'000'000));
  EXPECT_EQ(overdraft.status, 422u) << overdraft.body;
  json error = Parse(overdraft.body);
  EXPECT_EQ(error["code"], "overdraft");
  EXPECT_EQ(error["event_id"], "a-big");
  EXPECT_EQ(error["field"], "amount_fen");
  EXPECT_EQ(L.journal().head().size, head + 1);
  // A list gets 200 and one result per item, in order, errors included.
  json list = {ReceiptEnvelope("r2", 1), AllocationEnvelope("a-big", 10'000'000),
               json{{"signer", "xt-finance"}}};
  HttpReply many = Post(list);
  ASSERT_EQ(many.status, 200u) << many.body;
  json results = Parse(many.body);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0]["seq"], head + 2);
  EXPECT_EQ(results[1]["error"]["code"], "overdraft");
  EXPECT_TRUE(results[2].contains("error"));
  // Cap'n Proto envelopes, one after another.
  std::string capnp =
      L.Signed("xt-finance", Received("c1", "xt-finance", "pool", "municipal", "xt-finance", 7))
          .ToEnvelopeCapnp() +
      L.Signed("xt-finance", Received("c2", "xt-finance", "pool", "municipal", "xt-finance", 8))
          .ToEnvelopeCapnp();
  HttpReply binary = Call("POST", "/v1/events", "", capnp, "application/x-capnp");
  ASSERT_EQ(binary.status, 200u) << binary.body;
  EXPECT_EQ(Parse(binary.body)[1]["seq"], head + 4);
  HttpReply torn =
      Call("POST", "/v1/events", "", capnp.substr(0, capnp.size() - 8), "application/x-capnp");
  EXPECT_EQ(torn.status, 400u);
  EXPECT_EQ(Parse(torn.body)["code"], "capnp_malformed");
}

TEST_F(ServerTest, MalformedRequestsAreRefusedWithTheirStatus) {
  ServerLimits limits;
  limits.body_bytes_max = 4096;
  limits.header_bytes_max = 2048;
  limits.request_events_max = 3;
  Start(limits);
  uint64_t head = L.journal().head().size;
  struct Case {
    HttpReply reply;
    unsigned status;
    std::string code;
  };
  std::vector<Case> cases = {
      {Call("POST", "/v1/events", "", "{not json"), 400, "json_malformed"},
      {Call("POST", "/v1/events", "", "x", "text/plain"), 400, "content_type_unsupported"},
      {Call("POST", "/v1/events", "", std::string(5000, ' ')), 413, "body_too_large"},
      {Post({ReceiptEnvelope("t1", 1), ReceiptEnvelope("t2", 1), ReceiptEnvelope("t3", 1),
             ReceiptEnvelope("t4", 1)}),
       413, "too_many_events"},
      {Get("/v1/views/balance?project=p1&bogus=1", "audit"), 400, "unknown_parameter"},
      {Get("/v1/views/balance?project=p1&as_of_seq=x", "audit"), 400, "bad_number"},
      {Get("/v1/views/balance?project=p1&pool=xt-finance", "audit"), 400, "bad_scope"},
      {Get("/v1/views/balance?project=p1&as_of_seq=99999", "audit"), 400, "as_of_seq_beyond_head"},
      {Get("/v1/views/colour?project=p1", "audit"), 400, "bad_view"},
      {Get("/v1/views/balance?project=nope", "audit"), 404, "project_unknown"},
      {Get("/v1/proofs/inclusion?id=nope", "audit"), 404, "event_not_found"},
      {Get("/v1/nothing"), 404, "no_route"},
      {Call("POST", "/v1/views/balance?project=p1", "", "{}"), 405, "method_not_allowed"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.reply.status, c.status) << c.reply.body;
    EXPECT_EQ(Parse(c.reply.body)["code"], c.code) << c.reply.body;
    for (const char* field : {"code", "message", "event_id", "field"}) {
      EXPECT_TRUE(Parse(c.reply.body).contains(field)) << c.reply.body;
    }
  }
  // Headers over the limit: 413, and the connection is closed.
  RawConnection raw(server_->port());
  raw.Send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(4000, 'a') + "\r\n\r\n");
  std::string answer = raw.ReadToClose();
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_NE(answer.find("header_too_large"), std::string::npos) << answer;
  EXPECT_EQ(L.journal().head().size, head) << "refused requests change nothing";
}

// The body limit counts chunk data; the bytes of a chunk's size line (its extensions) and of the
// trailer are bounded like a header's, so a request whose line or trailer never ends does not
// grow the server's buffer without bound.
TEST_F(ServerTest, AChunkSizeLineOrTrailerWithNoEndIsRefusedAtTheHeaderLimit) {
  Start();
  const uint64_t head = L.journal().head().size;
  const std::string chunked =
      "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const std::string endless(1 << 20, 'a');
  for (const std::string& start : {chunked + "1;", chunked + "1\r\n{\r\n0\r\nX-T: "}) {
    RawConnection raw(server_->port());
    raw.Send(start);
    raw.Send(endless);  // the server may close before it has read it all
    std::string answer = raw.ReadToClose();
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 300);
    EXPECT_NE(answer.find("header_too_large"), std::string::npos) << answer.substr(0, 300);
  }
  EXPECT_EQ(L.journal().head().size, head);
  EXPECT_NE(Get("/metrics").body.find("\nfundledger_request_bodies_bytes 0\n"), std::string::npos);
  // Extensions and a trailer within the limit are read as before, and so is a body sent a few
  // bytes at a time, pipelined with the request after it.
  const std::string body = json::array({ReceiptEnvelope("chunked-1", 1)}).dump();
  RawConnection raw(server_->port());
  std::string request = chunked + "5;name=value\r\n" + body.substr(0, 5) + "\r\n";
  request += (std::ostringstream() << std::hex << body.size() - 5).str() + "\r\n" + body.substr(5) +
             "\r\n0\r\nX-Trailer: " + std::string(1000, 't') + "\r\n\r\n";
  request += "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (size_t at = 0; at < request.size(); at += 7) {
    ASSERT_TRUE(raw.Send(std::string_view(request).substr(at, 7)));
  }
  std::string answers = raw.ReadToClose();
  EXPECT_EQ(answers.rfind("HTTP/1.1 200", 0), 0u) << answers.substr(0, 300);
  EXPECT_NE(answers.find("\"seq\":" + std::to_string(head + 1)), std::string::npos) << answers;
  EXPECT_NE(answers.find("HTTP/1.1 200", 10), std::string::npos) << "the pipelined request";
  EXPECT_EQ(L.journal().head().size, head + 1);
}

// HEAD is GET without the body (RFC 9110 section 9.3.2): the same status and Content-Length,
// and the next answer on the connection starts right after the header. Other methods get 405
// with the methods the path takes.
TEST_F(ServerTest, HeadIsAnsweredAsGetWithoutTheBodyAndOtherMethodsNameTheirAllowed) {
  Start();
  const std::string health = Get("/healthz").body;
  const std::string missing = Get("/v1/nothing").body;
  RawConnection raw(server_->port());
  raw.Send(
      "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
      "DELETE /v1/events HTTP/1.1\r\nHost: x\r\n\r\n"
      "PUT /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string answers = raw.ReadToClose();
  auto header_of = [&](size_t* at) {
    size_t end = answers.find("\r\n\r\n", *at);
    EXPECT_NE(end, std::string::npos) << answers;
    std::string head = answers.substr(*at, end + 4 - *at);
    *at = end + 4;
    return head;
  };
  auto length_of = [](const std::string& head) {
    size_t at = head.find("Content-Length: ");
    return at == std::string::npos ? std::string()
                                   : head.substr(at + 16, head.find('\r', at) - at - 16);
  };
  size_t at = 0;
  std::string head = header_of(&at);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(length_of(head), std::to_string(health.size())) << head;
  head = header_of(&at);  // right after the first header: no body came between
  EXPECT_EQ(head.rfind("HTTP/1.1 404", 0), 0u) << head;
  EXPECT_EQ(length_of(head), std::to_string(missing.size())) << head;
  for (const char* allowed : {"Allow: GET, HEAD, POST\r\n", "Allow: GET, HEAD\r\n"}) {
    head = header_of(&at);
    EXPECT_EQ(head.rfind("HTTP/1.1 405", 0), 0u) << head;
    EXPECT_NE(head.find(allowed), std::string::npos) << head;
    const size_t length = std::stoul(length_of(head));
    EXPECT_EQ(Parse(answers.substr(at, length))["code"], "method_not_allowed");
    at += length;
  }
  head = header_of(&at);
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
  EXPECT_EQ(answers.substr(at), health);
}

// Expect: 100-continue: an HTTP/1.1 client is told to send its body once it may (its room among
// the bodies held is reserved), and not if the request is refused first; an HTTP/1.0 client gets
// no 1xx answer at all.
TEST_F(ServerTest, AClientThatExpectsContinueIsToldOnlyWhenItsBodyIsWanted) {
  ServerLimits limits;
  limits.body_bytes_max = 4096;
  Start(limits);
  const uint64_t head = L.journal().head().size;
  const std::string body = json::array({ReceiptEnvelope("after-continue", 1)}).dump();
  auto header = [&](const char* version, size_t length) {
    return std::string("POST /v1/events ") + version +
           "\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
           "Expect: 100-continue\r\nContent-Length: " +
           std::to_string(length) + "\r\n\r\n";
  };
  {
    RawConnection raw(server_->port());
    ASSERT_TRUE(raw.Send(header("HTTP/1.1", body.size())));
    EXPECT_EQ(raw.ReadSome(), "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(raw.Send(body));
    std::string answer = raw.ReadToClose();
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
    EXPECT_EQ(L.journal().head().size, head + 1);
  }
  {
    RawConnection raw(server_->port());
    ASSERT_TRUE(raw.Send(header("HTTP/1.1", limits.body_bytes_max + 1)));
    std::string answer = raw.ReadToClose();
    EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << "refused, not continued: " << answer;
  }
  {
    RawConnection raw(server_->port());
    ASSERT_TRUE(raw.Send(header("HTTP/1.0", 2) + "[]"));
    std::string answer = raw.ReadToClose();
    EXPECT_EQ(answer.find(" 100 "), std::string::npos) << answer;
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;  // its body read: nothing in it
    EXPECT_NE(answer.find("empty_submission"), std::string::npos) << answer;
  }
}

TEST_F(ServerTest, SignedReadsAreCheckedForOrgTimeAndSignature) {
  Start();
  std::string target = "/v1/views/balance?project=p1";
  auto signed_get = [&](const RequestSignature& signature) {
    RawConnection raw(server_->port());
    raw.Send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + kOrgHeader + ": " +
             signature.org + "\r\n" + kTimestampHeader + ": " + signature.timestamp + "\r\n" +
             kSignatureHeader + ": " + signature.signature + "\r\n\r\n");
    return raw.ReadToClose();
  };
  auto status_and_code = [](const std::string& answer) {
    size_t body = answer.find("\r\n\r\n");
    return answer.substr(9, 3) + " " + Parse(answer.substr(body + 4)).value("code", "");
  };
  std::string path = "/v1/views/balance", query = "project=p1";
  const KeyPair& audit = L.keys().at("audit");
  EXPECT_EQ(Get(target).status, 401u);
  EXPECT_EQ(Parse(Get(target).body)["code"], "auth_missing");
  EXPECT_EQ(status_and_code(signed_get(
                SignRequest(audit, "audit", "GET", path, query, WallMs() - 6 * 60 * 1000))),
            "401 auth_timestamp_stale");
  EXPECT_EQ(status_and_code(signed_get(
                SignRequest(audit, "audit", "GET", path, query, WallMs() + 6 * 60 * 1000))),
            "401 auth_timestamp_stale");
  // Signed by one org's key in another's name; by an unknown org; over another query.
  EXPECT_EQ(
      status_and_code(signed_get(SignRequest(audit, "xt-finance", "GET", path, query, WallMs()))),
      "401 auth_signature_invalid");
  EXPECT_EQ(status_and_code(signed_get(SignRequest(audit, "nobody", "GET", path, query, WallMs()))),
            "401 auth_org_unknown");
  EXPECT_EQ(
      status_and_code(signed_get(SignRequest(audit, "audit", "GET", path, "project=p2", WallMs()))),
      "401 auth_signature_invalid");
  EXPECT_EQ(status_and_code(
                signed_get(SignRequest(L.keys().at("gone"), "gone", "GET", path, query, WallMs()))),
            "403 org_revoked");
  EXPECT_EQ(status_and_code(signed_get(SignRequest(audit, "audit", "GET", path, query, WallMs()))),
            "200 ");
  // A signature header given twice, one of them good: what a proxy reads of the request could
  // be the other.
  const RequestSignature good = SignRequest(audit, "audit", "GET", path, query, WallMs());
  for (const std::string& twice :
       {std::string(kOrgHeader) + ": xt-finance\r\n", std::string(kTimestampHeader) + ": 1\r\n",
        std::string(kSignatureHeader) + ": " + good.signature + "\r\n"}) {
    RawConnection raw(server_->port());
    raw.Send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + kOrgHeader + ": " +
             good.org + "\r\n" + kTimestampHeader + ": " + good.timestamp + "\r\n" +
             kSignatureHeader + ": " + good.signature + "\r\n" + twice + "\r\n");
    EXPECT_EQ(status_and_code(raw.ReadToClose()), "401 auth_header_repeated") << twice;
  }
  // Who reads what.
  struct Case {
    std::string org, target;
    unsigned status;
  };
  for (const Case& c : std::vector<Case>{
           {"audit", "/v1/views/flags?region=beijing", 200},
           {"audit", "/v1/events", 200},
           {"xt-finance", "/v1/views/ratios?project=p1", 200},
           {"xt-finance", "/v1/views/balance?region=hunan/xiangtan/yuhu", 200},
           {"yh-housing", "/v1/views/disbursements?project=p1", 200},
           {"bj-finance", "/v1/views/balance?project=p1", 403},
           {"bj-finance", "/v1/views/balance?pool=xt-finance", 403},
           {"yh-housing", "/v1/views/balance?pool=xt-finance", 403},
           {"xt-finance", "/v1/views/balance?region=hunan", 403},
           {"jianshe", "/v1/views/balance?project=p1", 403},
           {"xt-finance", "/v1/events", 403},
           {"jianshe", "/v1/proofs/consistency?from=1", 200},
       }) {
    HttpReply reply = Get(c.target, c.org);
    EXPECT_EQ(reply.status, c.status) << c.org << " " << c.target << ": " << reply.body;
    if (c.status == 403) {
      std::string code = Parse(reply.body)["code"];
      EXPECT_TRUE(code == "forbidden_region" || code == "forbidden_kind") << reply.body;
    }
  }
}

TEST_F(ServerTest, ReadsAnswerWhatTheCommandLinePrints) {
  Start();
  ASSERT_EQ(Post(AllocationEnvelope("a1", 300'000)).status, 200u);
  // Views: the same JSON as `show --format json`, rendered here from the same journal.
  for (std::string view : {"balance", "ratios", "disbursements", "flags"}) {
    ViewQuery query;
    ASSERT_TRUE(MakeViewQuery(view, "p1", "", std::nullopt, 0, "", &query).ok());
    std::unique_ptr<ViewPoint> point;
    RenderedView local, local_csv;
    ASSERT_TRUE(OpenView(L.journal(), query, &point).ok());
    ASSERT_TRUE(RenderView(*point, query, "json", &local).ok());
    ASSERT_TRUE(RenderView(*point, query, "csv", &local_csv).ok());
    HttpReply reply = Get("/v1/views/" + view + "?project=p1", "audit");
    ASSERT_EQ(reply.status, 200u) << reply.body;
    EXPECT_EQ(Parse(reply.body), local.json) << view;
    HttpReply csv = Get("/v1/views/" + view + "?project=p1&format=csv", "audit");
    EXPECT_EQ(csv.body, local_csv.csv);
  }
  HttpReply balance = Get("/v1/views/balance?pool=xt-finance&as_of_date=2025-06-01", "audit");
  ASSERT_EQ(balance.status, 200u) << balance.body;
  EXPECT_EQ(Parse(balance.body)["total"]["available_fen"], 1'000'000 - 300'000);
  // The log: the fields of `log --format json`.
  HttpReply log = Get("/v1/events?from=2&limit=3", "audit");
  ASSERT_EQ(log.status, 200u);
  json records = Parse(log.body);
  ASSERT_EQ(records.size(), 3u);
  std::string bytes;
  ASSERT_TRUE(L.journal().ReadRecord(3, &bytes).ok());
  json expected;
  ASSERT_TRUE(RecordJson(3, bytes, &expected).ok());
  EXPECT_EQ(records[1], expected);
  // Checkpoint and proofs verify against each other.
  json checkpoint = Parse(Get("/v1/checkpoint", "audit").body);
  uint64_t size = checkpoint["size"];
  EXPECT_EQ(size, L.journal().head().size);
  json inclusion = Parse(Get("/v1/proofs/inclusion?id=a1", "audit").body);
  EXPECT_EQ(inclusion["tree_size"], size);
  EXPECT_EQ(inclusion["root"], checkpoint["root"]);
  json by_seq = Parse(
      Get("/v1/proofs/inclusion?seq=" + std::to_string(inclusion["seq"].get<uint64_t>()), "audit")
          .body);
  EXPECT_EQ(by_seq, inclusion);
  json consistency =
      Parse(Get("/v1/proofs/consistency?from=3&to=" + std::to_string(size), "audit").body);
  EXPECT_EQ(consistency["root2"], checkpoint["root"]);
  EXPECT_FALSE(consistency["proof"].empty());
}

// A disbursements list is answered in pages of at most view_lines_max lines, each naming the next
// (in the JSON and in a Link header) at the same point, so that the pages join into the list of
// that point even while the head moves on; the totals are always of the whole list.
TEST_F(ServerTest, ADisbursementsListComesInPagesOfOnePoint) {
  const uint64_t point = ServeSevenPayments(3);

  // The whole list at that point, as `show` renders it.
  ViewQuery query;
  ASSERT_TRUE(MakeViewQuery("disbursements", "p1", "", std::nullopt, point, "", &query).ok());
  std::unique_ptr<ViewPoint> view;
  RenderedView whole, whole_csv;
  ASSERT_TRUE(OpenView(L.journal(), query, &view).ok());
  ASSERT_TRUE(RenderView(*view, query, "json", &whole).ok());
  ASSERT_TRUE(RenderView(*view, query, "csv", &whole_csv).ok());
  ASSERT_EQ(whole.json["disbursements"].size(), 7u);

  HttpReply first = Get("/v1/views/disbursements?project=p1", "audit");
  ASSERT_EQ(first.status, 200u) << first.body;
  json page = Parse(first.body);
  const std::string next =
      "/v1/views/disbursements?as_of_seq=" + std::to_string(point) + "&from=3&project=p1";
  EXPECT_EQ(page["page"], json({{"from", 0}, {"listed", 3}, {"total", 7}, {"next", next}}));
  EXPECT_EQ(first.link, "<" + next + ">; rel=\"next\"");
  EXPECT_EQ(page["total_fen"], whole.json["total_fen"]);
  EXPECT_EQ(page["by_payee"], whole.json["by_payee"]);

  // The head moves on; the pages still join into the list of the first page's point.
  PayFromP1("pay-later");
  json joined = json::array();
  for (auto& line : page["disbursements"]) joined.push_back(line);
  int pages = 1;
  while (page["page"]["next"].is_string()) {
    HttpReply reply = Get(page["page"]["next"].get<std::string>(), "audit");
    ASSERT_EQ(reply.status, 200u) << reply.body;
    page = Parse(reply.body);
    EXPECT_EQ(page["as_of_seq"], point);
    EXPECT_EQ(page["total_fen"], whole.json["total_fen"]);
    EXPECT_EQ(page["page"]["from"], joined.size());
    EXPECT_EQ(reply.link.empty(), page["page"]["next"].is_null()) << reply.link;
    for (auto& line : page["disbursements"]) joined.push_back(line);
    ASSERT_LE(++pages, 3);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(joined, whole.json["disbursements"]);

  // CSV pages: a header and the page's lines, the next page in the Link header.
  HttpReply csv = Get(next + "&format=csv", "audit");
  ASSERT_EQ(csv.status, 200u) << csv.body;
  std::vector<std::string> csv_lines;
  for (size_t pos = 0; pos < whole_csv.csv.size();) {
    size_t end = whole_csv.csv.find('\n', pos) + 1;
    csv_lines.push_back(whole_csv.csv.substr(pos, end - pos));
    pos = end;
  }
  ASSERT_EQ(csv_lines.size(), 8u);
  EXPECT_EQ(csv.body, csv_lines[0] + csv_lines[4] + csv_lines[5] + csv_lines[6]);
  EXPECT_EQ(csv.link, "</v1/views/disbursements?as_of_seq=" + std::to_string(point) +
                          "&format=csv&from=6&project=p1>; rel=\"next\"");
  // A table says which part of the list it shows.
  HttpReply table = Get(next + "&format=table", "audit");
  EXPECT_NE(table.body.find("(payments 4 to 6 of 7)"), std::string::npos) << table.body;

  // A smaller limit is kept in the next page's query; past the end is an empty last page.
  json small = Parse(Get("/v1/views/disbursements?project=p1&limit=2&from=6", "audit").body);
  EXPECT_EQ(small["page"], json({{"from", 6}, {"listed", 2}, {"total", 8}, {"next", nullptr}}));
  small = Parse(Get("/v1/views/disbursements?project=p1&limit=2&from=1", "audit").body);
  EXPECT_EQ(small["page"]["next"], "/v1/views/disbursements?as_of_seq=" +
                                       std::to_string(point + 2) + "&from=3&limit=2&project=p1");
  json past = Parse(Get("/v1/views/disbursements?project=p1&from=100", "audit").body);
  EXPECT_EQ(past["page"], json({{"from", 100}, {"listed", 0}, {"total", 8}, {"next", nullptr}}));
  EXPECT_EQ(past["count"], 8);

  // Refused: a limit past the server's, a zero limit, paging a view that lists nothing.
  auto refused = [&](const std::string& target) {
    HttpReply reply = Get(target, "audit");
    json error = Parse(reply.body);
    return std::to_string(reply.status) + " " + error.value("code", "") + " " +
           error.value("field", "");
  };
  EXPECT_EQ(refused("/v1/views/disbursements?project=p1&limit=4"), "400 bad_limit limit");
  EXPECT_EQ(refused("/v1/views/disbursements?project=p1&limit=0"), "400 bad_limit limit");
  EXPECT_EQ(refused("/v1/views/disbursements?project=p1&from=x"), "400 bad_number from");
  EXPECT_EQ(refused("/v1/views/balance?project=p1&from=0"), "400 bad_page from");
  EXPECT_EQ(refused("/v1/views/flags?project=p1&limit=1"), "400 bad_page limit");
}

// The later pages of a list name the point of the first. Once the head has moved past it, that
// point is a fold of the records: made by the first page that needs it and read by the pages
// after it (api/view_points.h), not made again per page. The pages read from the kept fold join
// into the list a fresh fold renders.
TEST_F(ServerTest, ThePagesOfAnEarlierPointReadOneFold) {
  const uint64_t point = ServeSevenPayments(2);
  auto folds = [&](bool reused) {
    const std::string body = Get("/metrics").body;
    const std::string name =
        std::string("fundledger_view_folds_total{reused=\"") + (reused ? "true" : "false") + "\"} ";
    size_t at = body.find(name);
    return at == std::string::npos ? uint64_t(-1) : std::stoull(body.substr(at + name.size()));
  };

  HttpReply first = Get("/v1/views/disbursements?project=p1", "audit");
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(folds(false), 0u) << "the head reads the stored rows";
  PayFromP1("pay-later");
  json page = Parse(first.body);
  json joined = page["disbursements"];
  while (page["page"]["next"].is_string()) {
    HttpReply reply = Get(page["page"]["next"].get<std::string>(), "audit");
    ASSERT_EQ(reply.status, 200u) << reply.body;
    page = Parse(reply.body);
    EXPECT_EQ(page["as_of_seq"], point);
    for (auto& line : page["disbursements"]) joined.push_back(line);
    ASSERT_LE(joined.size(), 7u);
  }
  EXPECT_EQ(folds(false), 1u);
  EXPECT_EQ(folds(true), 2u) << "pages 3 and 4 read page 2's fold";

  ViewQuery query;
  ASSERT_TRUE(MakeViewQuery("disbursements", "p1", "", std::nullopt, point, "", &query).ok());
  std::unique_ptr<ViewPoint> view;
  RenderedView whole;
  ASSERT_TRUE(OpenView(L.journal(), query, &view).ok());
  ASSERT_TRUE(RenderView(*view, query, "json", &whole).ok());
  EXPECT_EQ(joined, whole.json["disbursements"]);

  // The same point in another format, or another view of it, reads the same fold; another
  // point, or the same seq with a date, is a fold of its own, which is not kept: its answer had
  // no next page.
  const std::string at = "as_of_seq=" + std::to_string(point);
  const std::string before = "as_of_seq=" + std::to_string(point - 1);
  EXPECT_EQ(Get("/v1/views/disbursements?project=p1&format=csv&" + at, "audit").status, 200u);
  EXPECT_EQ(Get("/v1/views/ratios?project=p1&" + at, "audit").status, 200u);
  EXPECT_EQ(folds(false), 1u);
  EXPECT_EQ(folds(true), 4u);
  EXPECT_EQ(Get("/v1/views/ratios?project=p1&" + before, "audit").status, 200u);
  EXPECT_EQ(Get("/v1/views/ratios?project=p1&as_of_date=2099-01-01&" + at, "audit").status, 200u);
  EXPECT_EQ(folds(false), 3u);
  EXPECT_EQ(folds(true), 4u);
  EXPECT_EQ(Get("/v1/views/ratios?project=p1&" + before, "audit").status, 200u);
  EXPECT_EQ(folds(false), 4u);
  EXPECT_EQ(folds(true), 4u);
  EXPECT_NE(Get("/metrics").body.find("fundledger_memory_bytes{part=\"view_points\"} "),
            std::string::npos);

  // A reader who may not read the scope is refused before the kept fold is looked at.
  HttpReply outside = Get("/v1/views/disbursements?project=p1&" + at, "bj-finance");
  EXPECT_EQ(outside.status, 403u) << outside.body;
  EXPECT_EQ(folds(true), 4u);
}

// The kept folds are bounded: by count, bytes and idle time, the least recently read dropped
// first, and a fold larger than the whole budget is not kept.
TEST_F(ServerTest, KeptFoldsAreBoundedAndTheLeastRecentlyReadGoFirst) {
  for (int i = 0; i < 6; ++i) {
    L.AppendOk(L.Signed("xt-finance", Received("kf" + std::to_string(i), "xt-finance", "pool",
                                               "municipal", "xt-finance", 5)));
  }
  const uint64_t head = L.journal().head().size;
  auto fold = [&](uint64_t seq) {
    std::unique_ptr<ViewPoint> point;
    Status s = ViewPoint::Open(L.journal(), Scope{ScopeKind::kRegion, "hunan"},
                               AsOf{seq, std::nullopt}, &point, nullptr);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return std::shared_ptr<ViewPoint>(std::move(point));
  };
  auto key = [](uint64_t seq) {
    return ViewPoints::Key{Scope{ScopeKind::kRegion, "hunan"}, seq, std::nullopt};
  };
  const size_t one = fold(head - 1)->PrepareSharedReads();
  ASSERT_GT(one, 0u);

  ViewPoints by_count(size_t(1) << 30, 3, 60'000);
  for (uint64_t seq = head - 4; seq < head; ++seq) by_count.Keep(key(seq), fold(seq));
  EXPECT_EQ(by_count.Find(key(head - 4)), nullptr) << "the oldest of four, past three";
  ASSERT_NE(by_count.Find(key(head - 3)), nullptr);  // now the most recently read
  by_count.Keep(key(head - 5), fold(head - 5));
  EXPECT_NE(by_count.Find(key(head - 3)), nullptr);
  EXPECT_EQ(by_count.Find(key(head - 2)), nullptr) << "the least recently read went";
  EXPECT_EQ(by_count.reuses(), 2u);
  EXPECT_EQ(by_count.bytes(), 3 * one) << "the folds of this region are alike at these points";

  // Room for two: the third drops the least recently read.
  ViewPoints by_bytes(2 * one + one / 2, 16, 60'000);
  by_bytes.Keep(key(head - 1), fold(head - 1));
  by_bytes.Keep(key(head - 2), fold(head - 2));
  ASSERT_NE(by_bytes.Find(key(head - 1)), nullptr);
  by_bytes.Keep(key(head - 3), fold(head - 3));
  EXPECT_EQ(by_bytes.Find(key(head - 2)), nullptr);
  EXPECT_NE(by_bytes.Find(key(head - 1)), nullptr);
  EXPECT_NE(by_bytes.Find(key(head - 3)), nullptr);
  EXPECT_EQ(by_bytes.bytes(), 2 * one);

  ViewPoints too_small(one - 1, 3, 60'000);
  too_small.Keep(key(head - 1), fold(head - 1));
  EXPECT_EQ(too_small.Find(key(head - 1)), nullptr);
  EXPECT_EQ(too_small.bytes(), 0u);
  ViewPoints no_idle_time(size_t(1) << 30, 3, 0);
  no_idle_time.Keep(key(head - 1), fold(head - 1));
  EXPECT_EQ(no_idle_time.Find(key(head - 1)), nullptr);

  // Dropped once unread for the idle time, with nobody asking for anything (the server's sweep).
  ViewPoints idle(size_t(1) << 30, 3, 1000);
  idle.Keep(key(head - 1), fold(head - 1));
  idle.Keep(key(head - 2), fold(head - 2));
  EXPECT_NE(idle.Find(key(head - 1)), nullptr);
  EXPECT_EQ(idle.DropIdle(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  EXPECT_EQ(idle.bytes(), 2 * one);
  EXPECT_EQ(idle.DropIdle(), 2u);
  EXPECT_EQ(idle.bytes(), 0u);
  EXPECT_EQ(idle.Find(key(head - 1)), nullptr);
}

// A kept fold is read by many request threads at once; each of them renders what a fold of its
// own renders, in every view and format.
TEST_F(ServerTest, AKeptFoldReadByManyThreadsAtOnceAnswersAsAFreshOne) {
  L.AppendOk(L.Signed("yh-housing", testing::StatusChange("approve-p1", "p1", "approved", 9000)));
  for (int i = 0; i < 20; ++i) {
    const std::string id = "mt" + std::to_string(i);
    L.AppendOk(L.Signed("xt-finance",
                        Allocated(id + "-al", "xt-finance", "p1", "project", "municipal", 30)));
    L.AppendOk(L.Signed("xt-finance", testing::Disbursed(id, "p1", "municipal", 20)));
  }
  const uint64_t point = L.journal().head().size - 5;
  const std::vector<std::string> views = {"balance", "ratios", "disbursements", "flags"};
  const std::vector<std::string> formats = {"json", "csv", "table"};
  auto render = [&](const ViewPoint& at, const std::string& view, const std::string& format) {
    ViewQuery query;
    EXPECT_TRUE(MakeViewQuery(view, "", "", std::string("hunan"), point, "", &query).ok());
    RenderedView out;
    Status s = RenderView(at, query, format, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out.json.dump() + out.csv + out.table;
  };
  std::unique_ptr<ViewPoint> fresh, opened;
  const Scope region{ScopeKind::kRegion, "hunan"};
  ASSERT_TRUE(ViewPoint::Open(L.journal(), region, AsOf{point, std::nullopt}, &fresh).ok());
  ASSERT_TRUE(ViewPoint::Open(L.journal(), region, AsOf{point, std::nullopt}, &opened).ok());
  std::map<std::string, std::string> expected;
  for (const auto& view : views) {
    for (const auto& format : formats) expected[view + format] = render(*fresh, view, format);
  }
  ASSERT_NE(expected["disbursementscsv"].find("mt3"), std::string::npos)
      << expected["disbursementscsv"];
  ViewPoints kept;
  const ViewPoints::Key key{region, point, std::nullopt};
  kept.Keep(key, std::shared_ptr<ViewPoint>(std::move(opened)));
  std::vector<std::thread> readers;
  std::atomic<int> differed{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      for (int round = 0; round < 5; ++round) {
        std::shared_ptr<const ViewPoint> at = kept.Find(key);
        if (at == nullptr) {
          ++differed;
          return;
        }
        for (const auto& view : views) {
          for (const auto& format : formats) {
            if (render(*at, view, format) != expected[view + format]) ++differed;
          }
        }
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(differed.load(), 0);
  EXPECT_EQ(kept.reuses(), 20u);
}

TEST_F(ServerTest, ConcurrentWritersEqualSequentialApplication) {
  Start();
  uint64_t head = L.journal().head().size;
  // Receipts and allocations race: whether an allocation finds money in the pool depends on the
  // order the sequencer gives them, which the results must reflect exactly.
  constexpr int kWriters = 6, kRequests = 12;
  std::vector<std::vector<json>> results(kWriters);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      HttpConnection connection(address_, 20000);
      for (int r = 0; r < kRequests; ++r) {
        std::string id = std::to_string(w) + "-" + std::to_string(r);
        json body = {ReceiptEnvelope("cr-" + id, 20'000), AllocationEnvelope("ca-" + id, 70'000)};
        HttpReply reply;
        Status s = connection.Exchange("POST", "/v1/events", "application/json", body.dump(),
                                       std::nullopt, &reply);
        ASSERT_TRUE(s.ok()) << s.ToString();
        ASSERT_EQ(reply.status, 200u) << reply.body;
        for (auto& item : Parse(reply.body)) results[w].push_back(item);
      }
    });
  }
  for (auto& t : writers) t.join();
  server_.reset();  // the journal is ours again
  std::set<uint64_t> seqs;
  uint64_t accepted = 0;
  for (const auto& list : results) {
    ASSERT_EQ(list.size(), size_t(2 * kRequests));
    for (const json& r : list) {
      if (r.contains("error")) {
        EXPECT_EQ(r["error"]["code"], "overdraft") << r;
        uint64_t seq = 0;
        EXPECT_TRUE(L.journal().FindEvent(r["id"].get<std::string>(), &seq).IsNotFound());
        continue;
      }
      ++accepted;
      EXPECT_TRUE(seqs.insert(r["seq"].get<uint64_t>()).second) << "seq given twice: " << r;
      uint64_t seq = 0;
      ASSERT_TRUE(L.journal().FindEvent(r["id"].get<std::string>(), &seq).ok());
      EXPECT_EQ(seq, r["seq"].get<uint64_t>());
    }
  }
  EXPECT_EQ(L.journal().head().size, head + accepted) << "nothing lost, nothing extra";
  EXPECT_LT(accepted, uint64_t(2 * kWriters * kRequests)) << "some allocations must overdraw";
  // The records applied one by one, in seq order, to a copy of the ledger: every one accepted,
  // and the same views.
  TestLedger sequential(L.keys());
  uint64_t replayed = 0;
  ASSERT_TRUE(
      L.journal()
          .ScanRecords(
              2,
              [&](uint64_t, std::string_view bytes) {
                RecordReader record;
                SignedEvent event;
                EXPECT_TRUE(RecordReader::Open(bytes, &record).ok());
                EXPECT_TRUE(
                    SignedEvent::FromEnvelopeReader(record.record().getEnvelope(), &event).ok());
                sequential.AppendOk(event);
                ++replayed;
                return true;
              })
          .ok());
  EXPECT_EQ(replayed + 1, L.journal().head().size);
  for (auto [kind, id] : {std::pair{ScopeKind::kPool, "xt-finance"}, {ScopeKind::kProject, "p1"}}) {
    Balance served, applied;
    ASSERT_TRUE(L.ScopeBalance(kind, id, &served).ok());
    ASSERT_TRUE(sequential.ScopeBalance(kind, id, &applied).ok());
    EXPECT_EQ(BalanceJson(served), BalanceJson(applied)) << id;
  }
  VerifyReport report;
  Status s = VerifyLedger(L.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(ServerTest, ReadsDuringWritesSeeWholeBatches) {
  Start();
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    HttpConnection connection(address_, 20000);
    for (int r = 0; r < 40; ++r) {
      json body = {ReceiptEnvelope("wr-" + std::to_string(r), 1000),
                   AllocationEnvelope("wa-" + std::to_string(r), 1000)};
      HttpReply reply;
      ASSERT_TRUE(
          connection
              .Exchange("POST", "/v1/events", "application/json", body.dump(), std::nullopt, &reply)
              .ok());
      ASSERT_EQ(reply.status, 200u);
    }
    writing = false;
  });
  // Every request appends a receipt and an allocation of the same amount in one batch, so a
  // reader that saw half a batch would find the pool off by 1000.
  int reads = 0;
  HttpConnection reader(address_, 20000);
  RequestSigner audit{"audit", &L.keys().at("audit")};
  while (writing || reads < 5) {
    HttpReply reply;
    ASSERT_TRUE(
        reader.Exchange("GET", "/v1/views/balance?pool=xt-finance", "", "", audit, &reply).ok());
    ASSERT_EQ(reply.status, 200u) << reply.body;
    json total = Parse(reply.body)["total"];
    EXPECT_EQ(total["available_fen"], 1'000'000) << total;
    ++reads;
  }
  writer.join();
  EXPECT_GT(reads, 5);
}

// The request handler on its own over `journal`, with a gate, metrics and sequencer of its own;
// deferred work runs at once.
struct HandlerAlone {
  explicit HandlerAlone(Journal& journal, const SequencerOptions& options = SequencerOptions())
      : sequencer(journal, gate, metrics, options) {
    context.journal = &journal;
    context.gate = &gate;
    context.sequencer = &sequencer;
    context.metrics = &metrics;
    context.now_ms = WallMs;
    context.defer = [](std::function<void()> work) { work(); };
    context.draining = &draining;
  }
  Metrics metrics;
  ReadGate gate;
  Sequencer sequencer;
  std::atomic<bool> draining{false};
  ApiContext context;
};

TEST_F(ServerTest, FullQueueAnswers503WithRetryAfter) {
  // The handler on its own: the read gate held, the writer cannot append, and the queue fills.
  SequencerOptions options;
  options.queue_events_max = 2;
  HandlerAlone handler(L.journal(), options);
  ReadGate& gate = handler.gate;
  Metrics& metrics = handler.metrics;
  Sequencer& sequencer = handler.sequencer;
  const ApiContext& context = handler.context;
  std::mutex mu;
  std::vector<ApiResponse> answers;
  auto post = [&](const json& body) {
    ApiRequest request{"POST", "/v1/events", "application/json", {}, body.dump()};
    HandleRequest(context, request, [&](ApiResponse response) {
      std::lock_guard<std::mutex> lock(mu);
      answers.push_back(std::move(response));
    });
  };
  {
    ReadGate::Shared hold(gate);
    post(ReceiptEnvelope("q1", 1));  // taken by the writer, which waits for the gate
    for (int i = 0; i < 200 && metrics.Render().find("write_queue_events 0") == std::string::npos;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    post(ReceiptEnvelope("q2", 1));
    post(ReceiptEnvelope("q3", 1));  // the queue holds 2
    post(ReceiptEnvelope("q4", 1));
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].status, 503u);
    EXPECT_EQ(answers[0].retry_after_s, 1u);
    EXPECT_EQ(Parse(answers[0].body)["code"], "queue_full");
  }
  sequencer.Stop();
  ASSERT_EQ(answers.size(), 4u);
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(answers[i].status, 200u) << answers[i].body;
}

// GET /v1/checkpoint is signed by the sequencer with its next batch and answered once that batch
// is durable: requests made at once share one note, which covers the events queued with them,
// and no request waits on a thread of its own for a sync.
TEST_F(ServerTest, CheckpointsAskedForTogetherShareOneNoteWrittenWithTheNextBatch) {
  HandlerAlone handler(L.journal());
  const ApiContext& context = handler.context;
  auto stored = [&] {
    uint64_t n = 0;
    EXPECT_TRUE(L.journal().ScanCheckpoints([&](uint64_t, std::string_view) { return ++n; }).ok());
    return n;
  };
  const uint64_t stored_before = stored();
  std::mutex mu;
  std::vector<ApiResponse> posts, checkpoints;
  auto ask = [&](const std::string& method, const std::string& path, std::string body,
                 std::vector<ApiResponse>* answers) {
    RequestSignature signature;
    if (method == "GET") {
      signature = SignRequest(L.keys().at("audit"), "audit", "GET", path, "", WallMs());
    }
    ApiRequest request{method, path, method == "POST" ? "application/json" : "", signature,
                       std::move(body)};
    HandleRequest(context, request, [&mu, answers](ApiResponse response) {
      std::lock_guard<std::mutex> lock(mu);
      answers->push_back(std::move(response));
    });
  };
  {
    // The gate held: the writer takes the first post and waits; the rest queue behind it.
    ReadGate::Shared hold(handler.gate);
    ask("POST", "/v1/events", ReceiptEnvelope("c1", 1).dump(), &posts);
    for (int i = 0;
         i < 200 && handler.metrics.Render().find("write_queue_events 0") == std::string::npos;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ask("POST", "/v1/events", ReceiptEnvelope("c2", 1).dump(), &posts);
    for (int i = 0; i < 5; ++i) ask("GET", "/v1/checkpoint", "", &checkpoints);
    ask("POST", "/v1/events", ReceiptEnvelope("c3", 1).dump(), &posts);
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(checkpoints.empty()) << "answered before its batch was durable";
  }
  handler.sequencer.Stop();
  ASSERT_EQ(posts.size(), 3u);
  for (const ApiResponse& p : posts) EXPECT_EQ(p.status, 200u) << p.body;
  ASSERT_EQ(checkpoints.size(), 5u);
  for (const ApiResponse& c : checkpoints) {
    ASSERT_EQ(c.status, 200u) << c.body;
    EXPECT_EQ(c.body, checkpoints[0].body);
  }
  json answer = Parse(checkpoints[0].body);
  EXPECT_EQ(answer["size"], L.journal().head().size) << "the events queued with it included";
  Checkpoint checkpoint;
  ASSERT_TRUE(
      OpenCheckpoint(answer["note"].get<std::string>(), L.journal().log_verifier(), &checkpoint)
          .ok());
  EXPECT_EQ(checkpoint.size, L.journal().head().size);
  EXPECT_EQ(stored(), stored_before + 1) << "one note for the five";

  // At a head that has not moved, the stored note at once, without the writer: even with the
  // gate held, and nothing written.
  const RequestSignature signature =
      SignRequest(L.keys().at("audit"), "audit", "GET", "/v1/checkpoint", "", WallMs());
  HandlerAlone again(L.journal());
  {
    ReadGate::Shared hold(again.gate);
    ApiResponse same;
    HandleRequest(again.context, {"GET", "/v1/checkpoint", "", signature, ""},
                  [&](ApiResponse response) { same = std::move(response); });
    EXPECT_EQ(same.body, checkpoints[0].body);
  }
  EXPECT_EQ(stored(), stored_before + 1);
  // Unsigned: refused. Once the head has moved and the sequencer stops: refused.
  ApiResponse unsigned_answer, stopped;
  HandleRequest(again.context, {"GET", "/v1/checkpoint", "", {}, ""},
                [&](ApiResponse response) { unsigned_answer = std::move(response); });
  EXPECT_EQ(unsigned_answer.status, 401u) << unsigned_answer.body;
  again.sequencer.Stop();
  L.AppendOk(
      L.Signed("xt-finance", Received("c4", "xt-finance", "pool", "municipal", "xt-finance", 1)));
  HandleRequest(again.context, {"GET", "/v1/checkpoint", "", signature, ""},
                [&](ApiResponse response) { stopped = std::move(response); });
  EXPECT_EQ(stopped.status, 503u) << stopped.body;
}

// The checkpoint requests queued are bounded like the events.
TEST_F(ServerTest, CheckpointRequestsQueuedAreBounded) {
  HandlerAlone handler(L.journal());
  std::atomic<size_t> answered{0};
  auto done = [&](Status s, std::string) {
    EXPECT_TRUE(s.ok()) << s.ToString();
    ++answered;
  };
  size_t refused = 0;
  {
    // The gate held, the writer takes a post and waits; the requests after it stay queued.
    ReadGate::Shared hold(handler.gate);
    HandleRequest(handler.context,
                  {"POST", "/v1/events", "application/json", {}, ReceiptEnvelope("b1", 1).dump()},
                  [&](ApiResponse response) { EXPECT_EQ(response.status, 200u) << response.body; });
    for (int i = 0;
         i < 200 && handler.metrics.Render().find("write_queue_events 0") == std::string::npos;
         ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (size_t i = 0; i < Sequencer::kCheckpointsQueuedMax + 1; ++i) {
      if (!handler.sequencer.RequestCheckpoint(done)) ++refused;
    }
  }
  handler.sequencer.Stop();
  EXPECT_EQ(refused, 1u);
  EXPECT_EQ(answered, Sequencer::kCheckpointsQueuedMax);
}

TEST_F(ServerTest, SlowAndVanishingClientsAreCutOffWithoutHarm) {
  ServerLimits limits;
  limits.header_timeout_ms = 300;
  limits.idle_timeout_ms = 300;
  limits.body_timeout_ms = 300;
  Start(limits);
  auto start = std::chrono::steady_clock::now();
  // Headers a byte at a time: cut off at the header timeout, not kept forever.
  std::thread slow([&] {
    RawConnection raw(server_->port());
    std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(40, 'a');
    for (char c : request) {
      if (!raw.Send(std::string_view(&c, 1))) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  // Meanwhile others are served.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Get("/healthz").status, 200u);
  slow.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  // A connection that says nothing is closed after the idle time.
  {
    RawConnection idle(server_->port());
    auto t = std::chrono::steady_clock::now();
    EXPECT_EQ(idle.ReadToClose(), "");
    EXPECT_LT(std::chrono::steady_clock::now() - t, std::chrono::seconds(3));
  }
  // A body promised and not sent; a client gone mid-body; a client gone before its answer.
  {
    RawConnection partial(server_->port());
    partial.Send(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n[{\"sig");
    EXPECT_EQ(partial.ReadToClose(), "");
  }
  {
    RawConnection gone(server_->port());
    gone.Send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[{");
  }
  std::string body = json::array({ReceiptEnvelope("left", 3)}).dump();
  {
    RawConnection gone(server_->port());
    gone.Send(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
  }
  EXPECT_EQ(Get("/healthz").status, 200u);
  // The vanished client's request may still be on its way through the server: a resubmission
  // sent before it is sequenced would be the one appended. Wait until it is.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Get("/metrics").body.find("fundledger_events_appended_total 1") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The event of the vanished client was appended all the same: resubmitting finds it.
  HttpReply again = Post(ReceiptEnvelope("left", 3));
  ASSERT_EQ(again.status, 200u);
  EXPECT_EQ(Parse(again.body)["duplicate"], true);
}

TEST_F(ServerTest, ConnectionsBeyondTheLimitGet503) {
  ServerLimits limits;
  limits.connections_max = 2;
  Start(limits);
  ASSERT_EQ(Get("/healthz").status, 200u);  // one kept-alive connection
  RawConnection second(server_->port());
  second.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(second.ReadSome().rfind("HTTP/1.1 200", 0), 0u) << "the second is served";
  RawConnection third(server_->port());
  std::string answer = third.ReadToClose();
  EXPECT_EQ(answer.rfind("HTTP/1.1 503", 0), 0u) << answer;
  EXPECT_NE(answer.find("Retry-After: 1"), std::string::npos) << answer;
  EXPECT_NE(answer.find("too_many_connections"), std::string::npos) << answer;
  EXPECT_NE(answer.find("X-Content-Type-Options: nosniff"), std::string::npos) << answer;
}

TEST_F(ServerTest, StopDrainsRequestsInFlightAndLosesNoAcknowledgedEvent) {
  ServerLimits limits;
  limits.drain_timeout_ms = 8000;
  Start(limits);
  constexpr int kWriters = 4;
  std::vector<std::vector<std::string>> acknowledged(kWriters);
  std::atomic<int> answered{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      HttpConnection connection(address_, 20000);
      for (int r = 0;; ++r) {
        std::string id = "s-" + std::to_string(w) + "-" + std::to_string(r);
        json body = {ReceiptEnvelope(id, 10)};
        HttpReply reply;
        if (!connection
                 .Exchange("POST", "/v1/events", "application/json", body.dump(), std::nullopt,
                           &reply)
                 .ok()) {
          return;  // the server has gone
        }
        if (reply.status != 200) {
          EXPECT_EQ(reply.status, 503u) << reply.body;
          return;
        }
        json result = Parse(reply.body)[0];
        EXPECT_FALSE(result.contains("error")) << result;
        acknowledged[w].push_back(id);
        ++answered;
      }
    });
  }
  while (answered < 40) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto stop_start = std::chrono::steady_clock::now();
  server_->Stop();
  server_->Wait();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, std::chrono::seconds(5))
      << "drained before the drain time-out";
  for (auto& t : writers) t.join();
  server_.reset();
  L.Reopen();  // closes and opens the database again
  for (const auto& ids : acknowledged) {
    for (const std::string& id : ids) {
      uint64_t seq = 0;
      EXPECT_TRUE(L.journal().FindEvent(id, &seq).ok()) << id << " was acknowledged";
    }
  }
  VerifyReport report;
  Status s = VerifyLedger(L.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// Out of file descriptors, a failed accept is retried after a pause, not at once: the server does
// not spin on the cores while another process holds connections it cannot accept, and serves
// again once they close.
//
// Under the sanitizers, no code may run for the first time while the descriptors are gone: the
// undefined-behaviour checker reads an object's vtable through a pipe the first time it meets the
// object's type, and with no descriptor for the pipe it reports a false "invalid vptr". So before
// the limit is lowered the server runs all it will run during the test: it answers twice on one
// connection (the second answer is read only after the first answer's write has completed), and
// ends another connection (its count of connections is back to one before the test goes on).
TEST_F(ServerTest, AcceptingWithNoDescriptorLeftDoesNotSpin) {
  Start();
  ASSERT_EQ(Get("/healthz").status, 200);
  ASSERT_EQ(Get("/healthz").status, 200);
  {
    HttpConnection other(address_, 10000);
    HttpReply reply;
    ASSERT_TRUE(other.Exchange("GET", "/healthz", "", "", std::nullopt, &reply).ok());
  }
  for (int i = 0;; ++i) {
    ASSERT_LT(i, 500) << "the closed connection is still counted";
    if (Get("/metrics").body.find("\nfundledger_connections 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(Get("/healthz").status, 200);
  size_t open_fds = 0;
  for ([[maybe_unused]] const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++open_fds;
  }
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  const uint16_t port = server_->port();
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // only calls that are safe after fork in a threaded process
    for (int i = 0; i < 32; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(port);
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fd >= 0) connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    }
    sleep(2);
    _exit(0);
  }
  rlimit low = saved;
  low.rlim_cur = open_fds + 4;  // a few accepts, then none
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto cpu_seconds = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  const double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double spent = cpu_seconds() - before;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_LT(spent, 0.25) << "CPU seconds spent in one second with accepts failing";

  HttpConnection fresh(address_, 10000);
  HttpReply reply;
  ASSERT_TRUE(fresh.Exchange("GET", "/healthz", "", "", std::nullopt, &reply).ok());
  EXPECT_EQ(reply.status, 200);
}

// Builds something with `build` on a thread of its own while this thread does as the writer does
// with `gate`: takes it exclusively for a batch, releases it, over and over until the build is
// done. The build's status; `ratio` gets the writer's longest wait for the gate over the build's
// time. Tried up to three times until the ratio is under `enough`: on a loaded machine a writer
// preempted between asking and taking the gate waits for the scheduler, and one such wait can be
// a large share of a short build, whereas a build that holds the gate throughout reads near 1 on
// every try. A try in which the writer did not take the gate twice measures nothing and is
// tried again. `build` must do its whole work on every call.
Status BuildBesideTheWriter(ReadGate& gate, const std::function<Status()>& build, double* ratio,
                            double enough = 0.5) {
  using Clock = std::chrono::steady_clock;
  Status built;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::atomic<bool> started{false}, done{false};
    Clock::duration build_time{};
    std::thread builder([&] {
      started = true;
      auto start = Clock::now();
      built = build();
      build_time = Clock::now() - start;
      done = true;
    });
    while (!started) std::this_thread::yield();
    Clock::duration longest_wait{};
    int holds = 0;
    while (!done) {
      auto asked = Clock::now();
      gate.Lock();
      longest_wait = std::max(longest_wait, Clock::now() - asked);
      gate.Unlock();
      ++holds;
    }
    builder.join();
    *ratio = std::chrono::duration<double>(longest_wait) / build_time;
    if (!built.ok() || (holds > 1 && *ratio < enough)) break;
    if (attempt == 2) {
      EXPECT_GT(holds, 1) << "the build was done before the writer was at work";
    }
  }
  return built;
}

// Appends `n` allocations of 1 fen from xt-finance's pool to p1, in batches of 1,000, and writes
// a checkpoint after the first `checkpoint_after` of them (into `note`).
void AppendAllocations(TestLedger& L, int n, int checkpoint_after, std::string* note) {
  std::vector<SignedEvent> events;
  for (int i = 0; i < n; ++i) {
    events.push_back(L.Signed("xt-finance", Allocated("a" + std::to_string(i), "xt-finance", "p1",
                                                      "project", "municipal", 1)));
  }
  std::vector<AppendResult> results;
  for (int at = 0; at < n; at += 1000) {
    ASSERT_TRUE(
        L.journal().Append(std::span<const SignedEvent>(events.data() + at, 1000), &results).ok());
    for (const auto& r : results) ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    if (at + 1000 == checkpoint_after && note != nullptr) {
      ASSERT_TRUE(L.journal().WriteCheckpoint(note).ok());
    }
  }
}

// An export reads the journal's in-memory state under the read gate, and the history rows,
// records and tree nodes of its checkpoint with the gate released: a writer taking the gate over
// and over while a large bundle is built never waits for the whole build.
TEST_F(ServerTest, ABundleIsBuiltWithoutHoldingTheWriterBack) {
  std::string note;
  AppendAllocations(L, 4000, 4000, &note);
  ReadGate gate;
  BundleInput bundle;
  double ratio = 1;
  Status built = BuildBesideTheWriter(
      gate,
      [&] {
        return BuildBundle(L.journal(), {ScopeKind::kProject, "p1"}, note, L.log_key(), &bundle,
                           &gate);
      },
      &ratio);
  ASSERT_TRUE(built.ok()) << built.ToString();
  EXPECT_GT(bundle.records.size(), 4000u);  // the project's history and the registry
  EXPECT_LT(ratio, 0.5) << "the writer waited that share of the build";
}

// Many readers asking at once for a public answer not yet built (the summary of a new
// checkpoint, its project list, a file of an export bundle) make the server build it once: those
// who ask while it is built wait for that build and share its answer. An error is not kept, so a
// later reader builds again.
TEST_F(ServerTest, APublicAnswerAskedForAtOnceIsBuiltOnce) {
  std::string note;
  AppendAllocations(L, 3000, 2000, &note);  // the checkpoint is folded: it is not the head
  ReadGate gate;
  PublicReads reads(L.journal(), gate, &L.log_key());
  using Answer = std::shared_ptr<const std::string>;
  using Call = std::function<Status(PublicReads&, Answer*)>;
  const std::vector<std::pair<std::string, Call>> answers = {
      {"summary",
       [](PublicReads& r, Answer* out) {
         return r.Summary({ScopeKind::kRegion, ""}, out);
       }},
      {"projects", [](PublicReads& r, Answer* out) { return r.Projects(out); }},
      {"export",
       [](PublicReads& r, Answer* out) {
         return r.ExportFile({ScopeKind::kProject, "p1"}, "funding.csv", out);
       }},
      {"error",
       [](PublicReads& r, Answer* out) {
         return r.Summary({ScopeKind::kProject, "nowhere"}, out);
       }},
  };
  constexpr int kReaders = 8;
  for (const auto& [what, call] : answers) {
    SCOPED_TRACE(what);
    const uint64_t builds = reads.builds();
    std::vector<std::shared_ptr<const std::string>> bodies(kReaders);
    std::vector<Status> statuses(kReaders);
    std::vector<std::thread> readers;
    gate.Lock();  // as the writer does: every reader waits for it before it asks
    for (int i = 0; i < kReaders; ++i) {
      readers.emplace_back([&, i] { statuses[i] = call(reads, &bodies[i]); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    gate.Unlock();
    for (auto& t : readers) t.join();
    // An error is not kept: one that comes at once (an unknown project) may be built again by
    // a reader that asks only after it came.
    const uint64_t built = reads.builds() - builds;
    if (what == "error") {
      EXPECT_GE(built, 1u);
      EXPECT_LE(built, uint64_t(kReaders));
    } else {
      EXPECT_EQ(built, 1u);
    }
    for (int i = 0; i < kReaders; ++i) {
      if (what == "error") {
        EXPECT_EQ(statuses[i].code(), "project_unknown") << statuses[i].ToString();
        continue;
      }
      ASSERT_TRUE(statuses[i].ok()) << statuses[i].ToString();
      EXPECT_TRUE(bodies[i].get() == bodies[0].get()) << "one answer, shared";
    }
    // Asked again: from the cache; an error is built again.
    std::shared_ptr<const std::string> again;
    Status s = call(reads, &again);
    EXPECT_EQ(reads.builds(), builds + built + (what == "error" ? 1 : 0));
    if (what != "error") {
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(again, bodies[0]);
      // The same answer as a server that built it alone.
      ReadGate alone_gate;
      PublicReads alone(L.journal(), alone_gate, &L.log_key());
      Answer expected;
      ASSERT_TRUE(call(alone, &expected).ok());
      EXPECT_EQ(*expected, *bodies[0]);
    }
  }
}

// The answers of a region that holds no project cost little to build, and anyone may ask for any
// region path: at most kPublicCheapEntriesMax of them are kept, each in the place of an older one
// of them, so that they never push out the answers that cost a build of a real scope.
TEST_F(ServerTest, PublicAnswersOfRegionsWithoutProjectsDoNotPushOutOthers) {
  std::string note;
  AppendAllocations(L, 1000, 1000, &note);
  ReadGate gate;
  PublicReads reads(L.journal(), gate, &L.log_key());
  std::shared_ptr<const std::string> body;
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, "hunan"}, &body).ok());
  EXPECT_GT(json::parse(*body)["projects"].size(), 0u);
  ASSERT_TRUE(reads.ExportFile({ScopeKind::kRegion, "hunan"}, "funding.csv", &body).ok());
  const size_t real_bytes = reads.cache_bytes();
  // Many more regions without projects than the cache holds answers.
  const int empty = int(kPublicCacheEntriesMax) + 100;
  for (int i = 0; i < empty; ++i) {
    ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, "zz/r" + std::to_string(i)}, &body).ok());
    ASSERT_EQ(json::parse(*body)["projects"].size(), 0u);
  }
  ASSERT_TRUE(reads.ExportFile({ScopeKind::kRegion, "zz/r0"}, "funding.csv", &body).ok());
  uint64_t before = reads.builds();
  // The real scope's answers are still kept: asked again, nothing is built.
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, "hunan"}, &body).ok());
  ASSERT_TRUE(reads.ExportFile({ScopeKind::kRegion, "hunan"}, "project.json", &body).ok());
  EXPECT_EQ(reads.builds(), before);
  EXPECT_GT(reads.cache_bytes(), real_bytes);
  // The latest empty ones are kept, the earliest were given up for them.
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, "zz/r" + std::to_string(empty - 1)}, &body).ok());
  EXPECT_EQ(reads.builds(), before);
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, "zz/r1"}, &body).ok());
  EXPECT_EQ(reads.builds(), before + 1);
}

// Anyone may ask for the bundle of every earlier checkpoint (`?size=N`), each a build of its
// own. Their files keep a bounded share of the cache, each in the place of older ones of them,
// and never push out the answers at the latest checkpoint.
TEST_F(ServerTest, BundlesOfEarlierCheckpointsDoNotPushOutTheLatestAnswers) {
  std::string note;
  AppendAllocations(L, 1000, 1000, &note);
  // More earlier checkpoints than the cache holds answers of their bundles (7 files each).
  const size_t earlier = kPublicCacheEntriesMax / kBundleFileCount + 20;
  for (size_t i = 0; i < earlier; ++i) {
    L.AppendOk(L.Signed("xt-finance", Allocated("c" + std::to_string(i), "xt-finance", "p1",
                                                "project", "municipal", 1)));
    ASSERT_TRUE(L.journal().WriteCheckpoint(&note).ok());
  }
  std::vector<uint64_t> sizes;
  ASSERT_TRUE(L.journal()
                  .ScanCheckpoints([&](uint64_t size, std::string_view) {
                    sizes.push_back(size);
                    return true;
                  })
                  .ok());
  ASSERT_GT(sizes.size(), earlier);
  const size_t first = sizes.size() - 1 - earlier;  // the first of the earlier ones asked for
  ReadGate gate;
  PublicReads reads(L.journal(), gate, &L.log_key());
  const Scope hunan{ScopeKind::kRegion, "hunan"};
  std::shared_ptr<const std::string> body;
  ASSERT_TRUE(reads.Summary(hunan, &body).ok());
  ASSERT_TRUE(reads.ExportFile(hunan, "funding.csv", &body).ok());
  for (size_t i = first; i + 1 < sizes.size(); ++i) {
    ASSERT_TRUE(reads.ExportFile(hunan, "funding.csv", &body, sizes[i]).ok());
  }
  const uint64_t before = reads.builds();
  // The latest answers are still kept: asked again, nothing is built.
  ASSERT_TRUE(reads.Summary(hunan, &body).ok());
  ASSERT_TRUE(reads.ExportFile(hunan, "project.json", &body).ok());
  ASSERT_TRUE(reads.ExportFile(hunan, "events.jsonl", &body, sizes.back()).ok());
  EXPECT_EQ(reads.builds(), before);
  // The latest earlier bundle is kept; the first ones were given up for the later ones.
  ASSERT_TRUE(reads.ExportFile(hunan, "events.jsonl", &body, sizes[sizes.size() - 2]).ok());
  EXPECT_EQ(reads.builds(), before);
  ASSERT_TRUE(reads.ExportFile(hunan, "events.jsonl", &body, sizes[first]).ok());
  EXPECT_EQ(reads.builds(), before + 1);
}

// 分配进度 of a region takes its finance bureaus' pools as one: what one of them allocates to
// another is neither money in nor passed on, so the province's money that passes through the
// city's pool to a project counts once. The same figures from the stored views (a checkpoint at
// the head) and from a fold (a checkpoint behind it).
TEST_F(ServerTest, ARegionsAllocationProgressCountsMoneyPassedAmongItsPoolsOnce) {
  L.Register("hn-finance", "finance_bureau", "provincial", "hunan");
  L.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
  auto ok = [&](const std::string& signer, const json& event) {
    L.AppendOk(L.Signed(signer, event));
  };
  // The province: 10,000,000 in, 6,000,000 to the city (a second 500,000 reversed). The city:
  // 1,000,000 of its own (SetUp) and the province's 6,000,000 in; 2,000,000 to Yuhu's pool and
  // 4,000,000 to p1. Yuhu: 2,000,000 in, 500,000 to p1.
  ok("hn-finance", Received("hn-in", "hn-finance", "pool", "provincial", "hn-finance", 10'000'000));
  ok("hn-finance", Allocated("hn-xt", "hn-finance", "xt-finance", "pool", "provincial", 6'000'000));
  ok("hn-finance", Allocated("hn-xt-2", "hn-finance", "xt-finance", "pool", "provincial", 500'000));
  ok("hn-finance", testing::Reversal("undo-hn-xt-2", "hn-xt-2"));
  ok("xt-finance", Allocated("xt-yh", "xt-finance", "yh-finance", "pool", "provincial", 2'000'000));
  ok("xt-finance", Allocated("xt-p1", "xt-finance", "p1", "project", "provincial", 3'000'000));
  ok("xt-finance", Allocated("xt-p1-m", "xt-finance", "p1", "project", "municipal", 1'000'000));
  ok("yh-finance", Allocated("yh-p1", "yh-finance", "p1", "project", "provincial", 500'000));
  std::string note;
  ASSERT_TRUE(L.journal().WriteCheckpoint(&note).ok());
  struct Want {
    const char* region;
    int pools;
    int64_t in, out;
    int bp;
  };
  // Each pool's own figures add up to 19,000,000 in and 12,500,000 out for Hunan; 8,000,000 of
  // both passed from one of its pools to another.
  const Want wants[] = {{"hunan", 3, 11'000'000, 4'500'000, 4091},
                        {"hunan/xiangtan", 2, 7'000'000, 4'500'000, 6429},  // 4.5 / 7 = 0.642857
                        {"hunan/xiangtan/yuhu", 1, 2'000'000, 500'000, 2500}};
  auto expect_progress = [&](const std::string& when) {
    SCOPED_TRACE(when);
    ReadGate gate;
    PublicReads reads(L.journal(), gate, &L.log_key());
    for (const Want& want : wants) {
      SCOPED_TRACE(want.region);
      std::shared_ptr<const std::string> answer;
      Status s = reads.Summary({ScopeKind::kRegion, want.region}, &answer);
      ASSERT_TRUE(s.ok()) << s.ToString();
      json progress = Parse(*answer)["progress"];
      EXPECT_EQ(progress["allocation_basis"], "pools");
      EXPECT_EQ(progress["pools"], want.pools);
      EXPECT_EQ(progress["pools_money_in_fen"], want.in);
      EXPECT_EQ(progress["pools_allocated_out_fen"], want.out);
      EXPECT_EQ(progress["allocation_rate_bp"], want.bp);
    }
  };
  expect_progress("at the head");
  // A receipt after the checkpoint: the summary of that checkpoint is now folded.
  ok("hn-finance", Received("hn-in-2", "hn-finance", "pool", "provincial", "hn-finance", 1'000));
  expect_progress("folded");
}

// The files of a bundle fetched one by one are of one checkpoint even while newer ones are
// signed: the summary links them at its checkpoint's size, and a size names a stored checkpoint
// no later than the latest.
TEST_F(ServerTest, AnExportPinnedToACheckpointStaysOfIt) {
  Start(ServerLimits(), /*threads=*/2, /*exports=*/true);
  ASSERT_EQ(Post(AllocationEnvelope("a1", 100)).status, 200u);
  json first = Parse(Get("/v1/checkpoint", "jianshe").body);
  const std::string size = std::to_string(first["size"].get<uint64_t>());
  json summary = Parse(Get("/v1/public/summary?project=p1").body);
  ASSERT_EQ(summary["checkpoint"]["size"], first["size"]);
  const std::string funding_link = summary["exports"]["funding.csv"];
  const std::string checkpoint_link = summary["exports"]["checkpoint.txt"];
  EXPECT_TRUE(funding_link.ends_with("?project=p1&size=" + size)) << funding_link;
  HttpReply funding = Get(funding_link);
  ASSERT_EQ(funding.status, 200u) << funding.body;
  EXPECT_EQ(Get(checkpoint_link).body, first["note"]);
  // A newer checkpoint: the pinned links still give the first one's files.
  ASSERT_EQ(Post(AllocationEnvelope("a2", 200)).status, 200u);
  ASSERT_EQ(Post(AllocationEnvelope("a3", 300)).status, 200u);
  json second = Parse(Get("/v1/checkpoint", "jianshe").body);
  ASSERT_EQ(second["size"], first["size"].get<uint64_t>() + 2);
  EXPECT_EQ(Get(checkpoint_link).body, first["note"]);
  EXPECT_EQ(Get(funding_link).body, funding.body);
  EXPECT_EQ(Get("/v1/public/export/checkpoint.txt?project=p1").body, second["note"]);
  EXPECT_NE(Get("/v1/public/export/funding.csv?project=p1").body, funding.body);
  // Sizes with no checkpoint stored, or past the latest, name nothing; only exports are pinned.
  auto refused = [&](const std::string& target) {
    HttpReply reply = Get(target);
    return std::to_string(reply.status) + " " + Parse(reply.body).value("code", "");
  };
  const uint64_t latest = second["size"];
  EXPECT_EQ(refused("/v1/public/export/README.txt?project=p1&size=" +
                    std::to_string(first["size"].get<uint64_t>() + 1)),
            "404 checkpoint_unknown");
  EXPECT_EQ(refused("/v1/public/export/README.txt?project=p1&size=" + std::to_string(latest + 1)),
            "404 checkpoint_unknown");
  EXPECT_EQ(refused("/v1/public/export/README.txt?project=p1&size=x"), "400 bad_number");
  EXPECT_EQ(refused("/v1/public/summary?project=p1&size=" + size), "400 unknown_parameter");
}

// A public build runs on the public reads' own thread, not on a request thread: with a single
// request thread, the server still answers at once while a large bundle is being built.
TEST_F(ServerTest, APublicBuildLeavesTheRequestThreadsFree) {
  std::string note;
  AppendAllocations(L, 4000, 4000, &note);
  Start(ServerLimits(), /*threads=*/1, /*exports=*/true);
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> answered{false};
  double export_seconds = 0;
  std::thread exporter([&] {
    HttpConnection connection(address_, 60000);
    auto start = Clock::now();
    HttpReply reply;
    Status s = connection.Exchange("GET", "/v1/public/export/events.jsonl?project=p1", "", "",
                                   std::nullopt, &reply);
    export_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(reply.status, 200u) << reply.body.substr(0, 200);
    EXPECT_GT(reply.body.size(), 4000u * 500);
    answered = true;
  });
  HttpConnection probe(address_, 60000);
  double longest = 0;
  bool seen_building = false;
  while (!answered) {
    auto start = Clock::now();
    HttpReply reply;
    ASSERT_TRUE(probe.Exchange("GET", "/metrics", "", "", std::nullopt, &reply).ok());
    longest = std::max(longest, std::chrono::duration<double>(Clock::now() - start).count());
    seen_building |=
        !answered && reply.body.find("\nfundledger_public_builds_total 1\n") != std::string::npos;
  }
  exporter.join();
  EXPECT_TRUE(seen_building) << "the server answered while the bundle was being built";
  EXPECT_LT(longest, export_seconds / 2) << "a request waited for the build";
}

// A public builder held at its first build until the test lets it go, and the outcomes of the
// readers' answers by code ("ok" for an answer).
struct HeldBuilds {
  std::mutex mu;
  std::condition_variable cv;
  bool held = false, released = false;
  std::map<std::string, int> outcomes;
  int answered = 0;

  std::function<void()> BeforeBuild() {
    return [this] {
      std::unique_lock<std::mutex> lock(mu);
      held = true;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });
    };
  }
  PublicReads::Done Done() {
    return [this](const Status& s, PublicReads::Answer) {
      std::lock_guard<std::mutex> lock(mu);
      ++outcomes[s.ok() ? "ok" : s.code()];
      ++answered;
    };
  }
  void WaitHeld() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return held; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
};

// Public reads of `ledger` at a checkpoint, with their first build (of project p1's bundle, asked
// for by a reader) held by `builds`.
struct HeldPublicReads {
  explicit HeldPublicReads(TestLedger& ledger)
      : reads(ledger.journal(), gate, &ledger.log_key(), builds.BeforeBuild()) {
    std::string note;
    EXPECT_TRUE(ledger.journal().WriteCheckpoint(&note).ok());
    reads.ExportFile({ScopeKind::kProject, "p1"}, "events.jsonl", builds.Done());
    builds.WaitHeld();
  }
  HeldBuilds builds;
  ReadGate gate;
  PublicReads reads;
};

// At most kPublicWaitersMax readers wait for public builds at once: past that the next reader
// whose answer is not at hand is refused public_busy at once, and not kept waiting (holding a
// connection) with the others. Those that wait get their answers once the build is done.
TEST_F(ServerTest, PublicReadersWaitingAreBounded) {
  HeldPublicReads held(L);
  HeldBuilds& builds = held.builds;
  PublicReads& reads = held.reads;
  auto done = builds.Done();
  // The same bundle's files, and a summary of another scope (a build of its own).
  for (size_t i = 1; i < kPublicWaitersMax; ++i) {
    reads.ExportFile({ScopeKind::kProject, "p1"}, i % 2 ? "funding.csv" : "project.json", done);
  }
  {
    std::lock_guard<std::mutex> lock(builds.mu);
    EXPECT_EQ(builds.answered, 0) << "all of them wait";
  }
  reads.ExportFile({ScopeKind::kProject, "p1"}, "funding.csv", done);
  reads.Summary({ScopeKind::kRegion, "hunan"}, done);
  {
    std::lock_guard<std::mutex> lock(builds.mu);
    EXPECT_EQ(builds.outcomes["public_busy"], 2) << "refused at once";
    EXPECT_EQ(builds.answered, 2);
  }
  builds.Release();
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard<std::mutex> lock(builds.mu);
      if (builds.answered == int(kPublicWaitersMax) + 2) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  {
    std::lock_guard<std::mutex> lock(builds.mu);
    EXPECT_EQ(builds.outcomes["ok"], int(kPublicWaitersMax)) << "every waiting reader answered";
  }
  // The room is back: a reader may wait again.
  PublicReads::Answer body;
  EXPECT_TRUE(reads.Summary({ScopeKind::kRegion, "hunan"}, &body).ok());
  reads.Stop();
}

// At most kPublicBuildsMax builds wait or run at once: past that, a reader whose answer is not at
// hand is refused 503 public_busy at once. Refusing (as a stopping server does) answers the
// builds still waiting "stopping" at once, and the one running when it is done.
TEST_F(ServerTest, PublicBuildsWaitingAreBounded) {
  // The first build, held; then more summaries of other scopes than may wait besides it.
  HeldPublicReads held(L);
  HeldBuilds& builds = held.builds;
  PublicReads& reads = held.reads;
  auto done = builds.Done();
  std::mutex& mu = builds.mu;
  std::map<std::string, int>& outcomes = builds.outcomes;
  int& answered = builds.answered;
  const int summaries = int(kPublicBuildsMax) + 5;
  for (int i = 0; i < summaries; ++i) {
    reads.Summary({ScopeKind::kRegion, "r" + std::to_string(i)}, done);
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(outcomes["public_busy"], 6) << "refused at once";
    EXPECT_EQ(answered, 6);
  }
  // A reader of the build running waits for it, and is not refused.
  reads.ExportFile({ScopeKind::kProject, "p1"}, "funding.csv", done);
  reads.Refuse();
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(outcomes["stopping"], summaries - 6) << "the waiting builds refused at once";
    EXPECT_EQ(answered, summaries);
  }
  PublicReads::Answer body;
  EXPECT_EQ(reads.Summary({ScopeKind::kRegion, ""}, &body).code(), "stopping");
  builds.Release();
  reads.Stop();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(answered, summaries + 2) << "every reader answered once";
  EXPECT_EQ(outcomes["ok"], 2) << "the bundle being built when the refusal came";
  EXPECT_EQ(reads.builds(), 1u);
  ApiResponse busy = ErrorResponse(Status::InvalidArgument("public_busy", "busy"));
  EXPECT_EQ(busy.status, 503u);
  EXPECT_EQ(busy.retry_after_s, 1u);
}

// The summary and the project list of a newer checkpoint are built while readers get those of the
// newest checkpoint already built, so that under ingest no reader waits for each new fold; a
// reader with no earlier answer waits, and export files are always of the checkpoint asked for.
TEST_F(ServerTest, ANewerCheckpointsSummaryIsBuiltWhileReadersGetTheLastOne) {
  std::mutex hold_mu;
  std::condition_variable hold_cv;
  bool hold_next = false, held = false, released = false;
  auto before_build = [&] {
    std::unique_lock<std::mutex> lock(hold_mu);
    if (!hold_next) return;
    held = true;
    hold_cv.notify_all();
    hold_cv.wait(lock, [&] { return released; });
  };
  ReadGate gate;
  // Refreshed as soon as a newer checkpoint is asked for (no kPublicRefreshMs between).
  PublicReads reads(L.journal(), gate, &L.log_key(), before_build, {}, 0);
  auto size_of = [](const PublicReads::Answer& body) {
    return json::parse(*body)["checkpoint"]["size"].get<uint64_t>();
  };
  std::string first, second;
  ASSERT_TRUE(L.journal().WriteCheckpoint(&first).ok());
  const uint64_t first_size = L.journal().head().size;
  PublicReads::Answer summary, projects;
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, ""}, &summary).ok());
  ASSERT_TRUE(reads.Projects(&projects).ok());
  EXPECT_EQ(size_of(summary), first_size);
  L.AppendOk(
      L.Signed("xt-finance", Allocated("a1", "xt-finance", "p1", "project", "municipal", 1)));
  ASSERT_TRUE(L.journal().WriteCheckpoint(&second).ok());
  const uint64_t second_size = L.journal().head().size;
  {
    std::lock_guard<std::mutex> lock(hold_mu);
    hold_next = true;
  }
  // The newer summary's build starts and is held; meanwhile readers get the first checkpoint's.
  PublicReads::Answer now;
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, ""}, &now).ok());
  EXPECT_EQ(now, summary);
  {
    std::unique_lock<std::mutex> lock(hold_mu);
    hold_cv.wait(lock, [&] { return held; });
  }
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, ""}, &now).ok());
  EXPECT_EQ(now, summary) << "while it is being built";
  ASSERT_TRUE(reads.Projects(&now).ok());
  EXPECT_EQ(now, projects);
  // A scope never built before, and an export file, wait for their builds.
  std::promise<std::pair<Status, PublicReads::Answer>> exported, project;
  reads.ExportFile({ScopeKind::kProject, "p1"}, "checkpoint.txt",
                   [&](const Status& s, PublicReads::Answer body) {
                     exported.set_value({s, std::move(body)});
                   });
  reads.Summary({ScopeKind::kProject, "p1"}, [&](const Status& s, PublicReads::Answer body) {
    project.set_value({s, std::move(body)});
  });
  auto export_answer = exported.get_future();
  auto project_answer = project.get_future();
  EXPECT_EQ(export_answer.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  {
    std::lock_guard<std::mutex> lock(hold_mu);
    released = true;
    hold_cv.notify_all();
  }
  auto [export_status, export_body] = export_answer.get();
  ASSERT_TRUE(export_status.ok()) << export_status.ToString();
  EXPECT_EQ(*export_body, second);
  auto [project_status, project_body] = project_answer.get();
  ASSERT_TRUE(project_status.ok()) << project_status.ToString();
  EXPECT_EQ(size_of(project_body), second_size);
  // Once built, the newer answers are given.
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, ""}, &now).ok());
  EXPECT_EQ(size_of(now), second_size);
  // The project list asked for during the hold got the earlier one, and queued the newer one's
  // build, which nobody waits for: it runs after the export's and the project's.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (reads.builds_waiting() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(reads.builds_waiting(), 0u);
  ASSERT_TRUE(reads.Projects(&now).ok());
  EXPECT_EQ(size_of(now), second_size);
  EXPECT_EQ(reads.builds(), 6u);
  reads.Stop();
}

// A scope's summary is built anew for a newer checkpoint at most once per refresh interval:
// within it, readers get the newest built and no build is queued; after it, the next reader
// queues one (and still gets the earlier answer at once). A never-built scope is built at once.
TEST_F(ServerTest, ASummaryIsBuiltAnewAtMostOncePerRefreshInterval) {
  const int64_t refresh_ms = 1000;
  ReadGate gate;
  PublicReads reads(L.journal(), gate, &L.log_key(), {}, {}, refresh_ms);
  auto size_of = [](const PublicReads::Answer& body) {
    return json::parse(*body)["checkpoint"]["size"].get<uint64_t>();
  };
  auto idle = [&] {
    for (int i = 0; i < 10000 && reads.builds_waiting() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return reads.builds_waiting() == 0;
  };
  std::string note;
  ASSERT_TRUE(L.journal().WriteCheckpoint(&note).ok());
  const uint64_t first = L.journal().head().size;
  const auto built_first = std::chrono::steady_clock::now();
  PublicReads::Answer answer;
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, ""}, &answer).ok());
  EXPECT_EQ(size_of(answer), first);
  EXPECT_EQ(reads.builds(), 1u);
  // Newer checkpoints within the interval: the first one's answer, nothing built.
  for (int i = 0; i < 3; ++i) {
    L.AppendOk(L.Signed("xt-finance", Allocated("a" + std::to_string(i), "xt-finance", "p1",
                                                "project", "municipal", 1)));
    ASSERT_TRUE(L.journal().WriteCheckpoint(&note).ok());
    ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, ""}, &answer).ok());
    EXPECT_EQ(size_of(answer), first);
  }
  ASSERT_TRUE(idle());
  if (std::chrono::steady_clock::now() - built_first < std::chrono::milliseconds(refresh_ms)) {
    EXPECT_EQ(reads.builds(), 1u) << "built anew within the interval";
  }
  // A scope never built is built at once, interval or not.
  ASSERT_TRUE(reads.Summary({ScopeKind::kProject, "p1"}, &answer).ok());
  EXPECT_EQ(size_of(answer), L.journal().head().size);
  const uint64_t builds = reads.builds();
  // After the interval the next reader queues the newer build, and gets the earlier answer.
  std::this_thread::sleep_for(std::chrono::milliseconds(refresh_ms + 50));
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, ""}, &answer).ok());
  EXPECT_EQ(size_of(answer), first);
  ASSERT_TRUE(idle());
  EXPECT_EQ(reads.builds(), builds + 1);
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, ""}, &answer).ok());
  EXPECT_EQ(size_of(answer), L.journal().head().size);
  reads.Stop();
}

// When the builds waiting are at their bound, a build that nobody waits for (a newer summary whose
// readers got an earlier one) gives way to a reader who has no earlier answer, and builds that
// readers wait for are started first.
TEST_F(ServerTest, ARefreshGivesWayToAReaderWhoWaits) {
  std::mutex hold_mu;
  std::condition_variable hold_cv;
  bool hold_next = false, held = false, released = false;
  std::vector<std::string> order;  // the scopes' builds, in the order they ran
  ReadGate gate;
  // Refreshed as soon as a newer checkpoint is asked for (no kPublicRefreshMs between).
  PublicReads reads(
      L.journal(), gate, &L.log_key(),
      [&] {
        std::unique_lock<std::mutex> lock(hold_mu);
        if (!hold_next) return;
        held = true;
        hold_cv.notify_all();
        hold_cv.wait(lock, [&] { return released; });
      },
      {}, 0);
  std::string note;
  ASSERT_TRUE(L.journal().WriteCheckpoint(&note).ok());
  const int scopes = int(kPublicBuildsMax);
  PublicReads::Answer body;
  for (int i = 0; i < scopes; ++i) {
    ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, "r" + std::to_string(i)}, &body).ok());
  }
  L.AppendOk(
      L.Signed("xt-finance", Allocated("a1", "xt-finance", "p1", "project", "municipal", 1)));
  ASSERT_TRUE(L.journal().WriteCheckpoint(&note).ok());
  {
    std::lock_guard<std::mutex> lock(hold_mu);
    hold_next = true;
  }
  // Every scope's earlier summary is given at once, and its newer one queued: the bound is full.
  for (int i = 0; i < scopes; ++i) {
    ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, "r" + std::to_string(i)}, &body).ok());
  }
  EXPECT_EQ(reads.builds_waiting(), kPublicBuildsMax);
  // A reader with no earlier answer: a refresh gives way, and its build runs first.
  std::promise<Status> waited;
  std::atomic<uint64_t> builds_then{0};
  reads.Summary({ScopeKind::kProject, "p1"}, [&](const Status& s, PublicReads::Answer) {
    builds_then = reads.builds();
    waited.set_value(s);
  });
  EXPECT_EQ(reads.builds_waiting(), kPublicBuildsMax);
  const uint64_t builds = reads.builds();
  {
    std::lock_guard<std::mutex> lock(hold_mu);
    released = true;
    hold_cv.notify_all();
  }
  auto answer = waited.get_future();
  ASSERT_EQ(answer.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(answer.get().ok());
  EXPECT_EQ(builds_then, builds + 1) << "the first build after the held one";
  // The refresh that gave way (the newest queued, r63's) is queued again by its next reader.
  auto idle = [&] {
    for (int i = 0; i < 10000 && reads.builds_waiting() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return reads.builds_waiting() == 0;
  };
  const std::string last = "r" + std::to_string(scopes - 1);
  auto size_of = [](const PublicReads::Answer& answer) {
    return json::parse(*answer)["checkpoint"]["size"].get<uint64_t>();
  };
  ASSERT_TRUE(idle());
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, last}, &body).ok());
  EXPECT_LT(size_of(body), L.journal().head().size) << "the earlier answer, its refresh dropped";
  ASSERT_TRUE(idle());
  ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, last}, &body).ok());
  EXPECT_EQ(size_of(body), L.journal().head().size);
  reads.Stop();
}

// A server that stops answers the readers waiting for a public build not yet started 503
// "stopping" at once, and stops once the build running is done, not after the drain's time-out.
TEST_F(ServerTest, AStoppingServerAnswersThePublicReadersWaiting) {
  std::string note;
  AppendAllocations(L, 4000, 4000, &note);
  Start(ServerLimits(), /*threads=*/2, /*exports=*/true);
  auto get = [&](const std::string& target, HttpReply* reply) {
    HttpConnection connection(address_, 60000);
    EXPECT_TRUE(connection.Exchange("GET", target, "", "", std::nullopt, reply).ok());
  };
  HttpReply bundle, summary;
  std::thread exporter([&] { get("/v1/public/export/events.jsonl?project=p1", &bundle); });
  // The bundle's build under way, then a summary queued behind it.
  for (int i = 0; i < 2000; ++i) {
    HttpReply metrics;
    get("/metrics", &metrics);
    if (metrics.body.find("\nfundledger_public_builds_total 1\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::thread reader([&] { get("/v1/public/summary?region=hunan", &summary); });
  for (int i = 0; i < 2000; ++i) {  // the summary waits behind the bundle
    HttpReply metrics;
    get("/metrics", &metrics);
    if (metrics.body.find("\nfundledger_public_builds_waiting 2\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  server_->Stop();
  server_->Wait();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  exporter.join();
  reader.join();
  EXPECT_LT(seconds, 5.0) << "not the drain's 10 s";
  EXPECT_EQ(bundle.status, 200u) << bundle.body.substr(0, 200);
  EXPECT_EQ(summary.status, 503u) << summary.body;
  EXPECT_NE(summary.body.find("stopping"), std::string::npos) << summary.body;
}

// A region's summary gives each project's money in from the region's own fold: the same figures
// as each project's own summary, at a checkpoint the head has moved past (folded) and at one
// that is the head (the stored rows).
TEST_F(ServerTest, ARegionSummarysProjectsAreThoseOfTheirOwnSummaries) {
  L.AppendOk(L.Signed("yh-housing", ProjectRegistration("p2")));
  L.AppendOk(
      L.Signed("xt-finance", Allocated("a1", "xt-finance", "p1", "project", "municipal", 500)));
  L.AppendOk(
      L.Signed("xt-finance", Allocated("a2", "xt-finance", "p2", "project", "municipal", 300)));
  std::string note;
  for (bool folded : {true, false}) {
    SCOPED_TRACE(folded ? "folded" : "stored rows");
    ASSERT_TRUE(L.journal().WriteCheckpoint(&note).ok());
    if (folded) {
      L.AppendOk(
          L.Signed("xt-finance", Allocated("a3", "xt-finance", "p2", "project", "municipal", 7)));
    }
    ReadGate gate;
    PublicReads reads(L.journal(), gate, &L.log_key());
    std::shared_ptr<const std::string> body;
    ASSERT_TRUE(reads.Summary({ScopeKind::kRegion, "hunan/xiangtan"}, &body).ok());
    json region = json::parse(*body);
    ASSERT_EQ(region["money_in_by_project"].size(), 2u) << region.dump();
    for (const json& entry : region["money_in_by_project"]) {
      const std::string id = entry["project"];
      ASSERT_TRUE(reads.Summary({ScopeKind::kProject, id}, &body).ok());
      json project = json::parse(*body);
      EXPECT_EQ(entry["by_category"], project["money_in"]["by_category"]) << id;
      EXPECT_EQ(project["checkpoint"]["size"], region["checkpoint"]["size"]);
    }
    EXPECT_EQ(region["money_in_by_project"][0]["by_category"]["municipal"], 500);
    EXPECT_EQ(region["money_in_by_project"][1]["by_category"]["municipal"], folded ? 300 : 307);
  }
}

// The public summary and project list fold the checkpoint's records with the read gate released
// (only the journal's in-memory state is read under it): a writer taking the gate over and over
// while the whole ledger's summary is built never waits for the whole build.
TEST_F(ServerTest, APublicSummaryIsBuiltWithoutHoldingTheWriterBack) {
  std::string note;  // at 4,000 allocations; the public reads are of the ledger as of then
  AppendAllocations(L, 5000, 4000, &note);
  for (const char* what : {"summary", "projects"}) {
    SCOPED_TRACE(what);
    ReadGate gate;
    std::shared_ptr<const std::string> body;
    double ratio = 1;
    Status built = BuildBesideTheWriter(
        gate,
        [&] {
          PublicReads reads(L.journal(), gate, &L.log_key());  // an empty cache: a whole build
          return std::string_view(what) == "summary"
                     ? reads.Summary({ScopeKind::kRegion, ""}, &body)
                     : reads.Projects(&body);
        },
        &ratio);
    ASSERT_TRUE(built.ok()) << built.ToString();
    ASSERT_TRUE(body);
    if (std::string_view(what) == "summary") {
      json summary = json::parse(*body);
      EXPECT_EQ(summary["checkpoint"]["size"], L.journal().head().size - 1000);
      EXPECT_EQ(summary["money_in"]["by_category"]["municipal"], 4000);
    }
    EXPECT_LT(ratio, 0.5) << "the writer waited that share of the build";
  }
  // At a checkpoint that is the head, the stored rows are read under the gate; once the head
  // has moved past it, the same checkpoint is folded beside the writer: the same answers.
  std::string at_head;
  ASSERT_TRUE(L.journal().WriteCheckpoint(&at_head).ok());
  std::map<std::string, std::string> answers;
  for (int pass = 0; pass < 2; ++pass) {
    ReadGate gate;
    PublicReads reads(L.journal(), gate, &L.log_key());
    for (const Scope& scope : {Scope{ScopeKind::kRegion, ""}, Scope{ScopeKind::kProject, "p1"},
                               Scope{ScopeKind::kRegion, "hunan/xiangtan"}}) {
      std::shared_ptr<const std::string> body;
      ASSERT_TRUE(reads.Summary(scope, &body).ok());
      std::string& first = answers[scope.id];
      if (pass == 0) {
        first = *body;
      } else {
        EXPECT_EQ(*body, first) << scope.id;
      }
    }
    std::shared_ptr<const std::string> projects;
    ASSERT_TRUE(reads.Projects(&projects).ok());
    if (pass == 0) {
      answers["/projects"] = *projects;
    } else {
      EXPECT_EQ(*projects, answers["/projects"]);
    }
    if (pass == 0) {
      L.AppendOk(L.Signed("xt-finance",
                          Allocated("one-more", "xt-finance", "p1", "project", "municipal", 1)));
    }
  }
}

// A signed view as of an earlier point is a fold of durable records, made with the read gate
// released once the point is fixed: a writer taking the gate over and over while a large scope
// is folded never waits for the whole fold. The same view at the head reads the stored rows.
TEST_F(ServerTest, AnAsOfViewIsFoldedWithoutHoldingTheWriterBack) {
  AppendAllocations(L, 5000, 0, nullptr);
  HandlerAlone handler(L.journal());
  ReadGate& gate = handler.gate;
  const ApiContext& context = handler.context;
  auto view = [&](const std::string& query) {
    const std::string path = "/v1/views/balance";
    ApiRequest request{"GET", path + "?" + query, "",
                       SignRequest(L.keys().at("audit"), "audit", "GET", path, query, WallMs()),
                       ""};
    ApiResponse answer;
    HandleRequest(context, request, [&](ApiResponse response) { answer = std::move(response); });
    return answer;
  };
  const uint64_t head = L.journal().head().size;
  for (const std::string& point :
       {"as_of_seq=" + std::to_string(head - 1000), std::string("as_of_date=2026-11-22")}) {
    SCOPED_TRACE(point);
    ApiResponse answer;
    double ratio = 1;
    Status built = BuildBesideTheWriter(
        gate,
        [&] {
          answer = view("region=&" + point);
          return Status::Ok();
        },
        &ratio);
    ASSERT_TRUE(built.ok());
    ASSERT_EQ(answer.status, 200u) << answer.body;
    json balance = json::parse(answer.body);
    EXPECT_EQ(balance["as_of_seq"], point.rfind("as_of_seq", 0) == 0 ? head - 1000 : head);
    EXPECT_LT(ratio, 0.5) << "the writer waited that share of the fold";
  }
  // Past the head, refused as before; at the head, the rows.
  ApiResponse beyond = view("region=&as_of_seq=" + std::to_string(head + 1));
  EXPECT_EQ(beyond.status, 400u);
  EXPECT_NE(beyond.body.find("as_of_seq_beyond_head"), std::string::npos) << beyond.body;
  ApiResponse now = view("region=");
  ASSERT_EQ(now.status, 200u) << now.body;
  ApiResponse folded = view("region=&as_of_seq=" + std::to_string(head));
  ASSERT_EQ(folded.status, 200u) << folded.body;
  EXPECT_EQ(json::parse(now.body), json::parse(folded.body));
}

// A signed view is refused before its point is opened or folded where the scope is known: an org
// reading outside its region cannot make the server fold what it may not see. A record of p1's
// history is broken, so that any fold of p1 fails.
TEST_F(ServerTest, AViewOutsideTheReadersRegionIsRefusedBeforeItIsFolded) {
  L.AppendOk(
      L.Signed("xt-finance", Allocated("a1", "xt-finance", "p1", "project", "municipal", 1)));
  uint64_t seq = 0;
  ASSERT_TRUE(L.journal().FindEvent("a1", &seq).ok());
  ASSERT_TRUE(L.journal()
                  .PutRawForTesting(storage::kRecordsFamily, storage::EncodeU64(seq), "broken")
                  .ok());
  L.AppendOk(
      L.Signed("xt-finance", Allocated("a2", "xt-finance", "p1", "project", "municipal", 1)));
  HandlerAlone handler(L.journal());
  auto view = [&](const std::string& org, const std::string& query) {
    const std::string path = "/v1/views/balance";
    ApiRequest request{"GET", path + "?" + query, "",
                       SignRequest(L.keys().at(org), org, "GET", path, query, WallMs()), ""};
    ApiResponse answer;
    HandleRequest(handler.context, request,
                  [&](ApiResponse response) { answer = std::move(response); });
    return answer;
  };
  // Before the head: a point the head is at reads the stored rows, not a fold.
  const std::string at = "&as_of_seq=" + std::to_string(L.journal().head().size - 1);
  for (std::string scope : {"project=p1", "region=hunan", "pool=xt-finance"}) {
    SCOPED_TRACE(scope);
    ApiResponse refused = view("bj-finance", scope + at);
    EXPECT_EQ(refused.status, 403u) << refused.body;
    EXPECT_NE(refused.body.find("forbidden_region"), std::string::npos) << refused.body;
  }
  ApiResponse contractor = view("jianshe", "project=p1" + at);
  EXPECT_EQ(contractor.status, 403u) << contractor.body;
  EXPECT_NE(contractor.body.find("forbidden_kind"), std::string::npos) << contractor.body;
  // The fold does fail for those who may read it.
  ApiResponse folded = view("xt-finance", "project=p1" + at);
  EXPECT_EQ(folded.status, 500u) << folded.body;
  // A point that is the head (the later pages of a list asked for at the head) is read from the
  // stored rows, as the head itself is, not folded from the records again.
  const std::string head = std::to_string(L.journal().head().size);
  for (const std::string& query : {std::string("project=p1"), "project=p1&as_of_seq=" + head}) {
    ApiResponse stored = view("xt-finance", query);
    EXPECT_EQ(stored.status, 200u) << query << ": " << stored.body;
  }
}

// The request bodies of all connections together are bounded: while one slow client holds most
// of the room, a request whose declared body would pass the bound is answered 503 with
// Retry-After before its body is read, one that fits is read, and the room comes back once the
// slow request is answered.
// An answer's write deadline grows with its size (ServerLimits::write_bytes_per_s_min): an 8 MiB
// file read at about 3 MiB/s arrives whole where a fixed 0.3 s would cut it off, and a reader
// that reads nothing is still cut off once the deadline for its size has passed.
TEST_F(ServerTest, ALargeAnswerReachesASlowReaderAndOneThatReadsNothingIsCutOff) {
  namespace fs = std::filesystem;
  const fs::path web = L.dir() / "web";
  fs::create_directories(web);
  const size_t size = 8 << 20;
  {
    std::ofstream out(web / "dashboard.js", std::ios::binary);
    out << std::string(size, 'x');
  }
  web_dir_ = web.string();
  ServerLimits limits;
  limits.write_timeout_ms = 300;
  limits.write_bytes_per_s_min = 1 << 20;  // 8 MiB: 0.3 + 8 s
  Start(limits);
  const std::string request = "GET /dashboard.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

  RawConnection slow(server_->port(), 10, 64 << 10);
  ASSERT_TRUE(slow.Send(request));
  std::string received;
  const auto started = std::chrono::steady_clock::now();
  for (;;) {
    std::string chunk = slow.ReadSome(64 << 10);
    if (chunk.empty()) break;
    received += chunk;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GT(seconds, 0.5) << "the kernel's buffers held the whole answer: nothing is tested";
  ASSERT_GE(received.size(), size);
  EXPECT_EQ(received.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(received.substr(received.size() - size), std::string(size, 'x'))
      << "cut off after " << received.size() << " bytes in " << seconds << " s";

  RawConnection idle(server_->port(), 15, 64 << 10);
  ASSERT_TRUE(idle.Send(request));
  std::this_thread::sleep_for(std::chrono::milliseconds(9000));
  std::string late = idle.ReadToClose();
  EXPECT_EQ(late.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_LT(late.size(), size) << "a reader that read nothing was not cut off";
}

// Views as of an earlier point are folded on a thread of their own: while one folds, the one
// request thread answers others; past the fold thread and those waiting for it, 503 views_busy.
TEST_F(ServerTest, AsOfViewsAreFoldedOffTheRequestThreads) {
  std::mutex mu;
  std::condition_variable cv;
  int folding = 0;
  bool released = false;
  before_view_fold_ = [&] {
    std::unique_lock<std::mutex> lock(mu);
    ++folding;
    cv.notify_all();
    cv.wait(lock, [&] { return released; });
  };
  ServerLimits limits;
  limits.view_fold_threads = 1;
  limits.view_folds_waiting_max = 1;
  Start(limits, /*threads=*/1);
  const std::string view =
      "/v1/views/balance?project=p1&as_of_seq=" + std::to_string(L.journal().head().size - 1);
  auto get_view = [&](HttpReply* reply) {
    HttpConnection connection(address_, 20000);
    Status s = connection.Exchange("GET", view, "", "",
                                   RequestSigner{"audit", &L.keys().at("audit")}, reply);
    EXPECT_TRUE(s.ok()) << s.ToString();
  };
  HttpReply first, second;
  std::thread a([&] { get_view(&first); });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return folding == 1; }))
        << "the view was not folded on a fold thread";
  }
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(Get("/healthz").status, 200u);
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::seconds(2));
  // A view asked for without a signature, or signed with another org's key, is refused at once:
  // it takes no place among the folds waiting.
  HttpReply unsigned_view = Get(view);
  EXPECT_EQ(unsigned_view.status, 401u) << unsigned_view.body;
  EXPECT_EQ(Parse(unsigned_view.body)["code"], "auth_missing") << unsigned_view.body;
  HttpReply forged;
  ASSERT_TRUE(
      client_
          ->Exchange("GET", view, "", "", RequestSigner{"audit", &L.keys().at("jianshe")}, &forged)
          .ok());
  EXPECT_EQ(forged.status, 401u) << forged.body;
  EXPECT_EQ(Parse(forged.body)["code"], "auth_signature_invalid") << forged.body;
  std::thread b([&] { get_view(&second); });
  bool queued = false;
  for (int i = 0; i < 500 && !queued; ++i) {
    queued = Get("/metrics").body.find("\nfundledger_view_folds_queued 2\n") != std::string::npos;
    if (!queued) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(queued);
  HttpReply busy = Get(view, "audit");
  EXPECT_EQ(busy.status, 503u) << busy.body;
  EXPECT_EQ(Parse(busy.body)["code"], "views_busy") << busy.body;
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  a.join();
  b.join();
  EXPECT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(second.status, 200u) << second.body;
  EXPECT_EQ(first.body, second.body);
  EXPECT_EQ(Get(view, "audit").status, 200u) << "the room is back";
}

// A read whose answer waits past ServerLimits::read_answer_timeout_ms (here a fold held back) is
// answered 503 "answer_timeout" with Retry-After; its answer, when it comes, is dropped, and the
// connection goes on with the next request's own answer.
TEST_F(ServerTest, AReadWaitingPastItsDeadlineIsAnsweredAndItsLateAnswerDropped) {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  before_view_fold_ = [&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return released; });
  };
  ServerLimits limits;
  limits.read_answer_timeout_ms = 200;
  Start(limits, /*threads=*/1);
  const std::string view =
      "/v1/views/balance?project=p1&as_of_seq=" + std::to_string(L.journal().head().size - 1);
  const RequestSigner audit{"audit", &L.keys().at("audit")};
  HttpConnection connection(address_, 20000);
  HttpReply late;
  const auto asked = std::chrono::steady_clock::now();
  ASSERT_TRUE(connection.Exchange("GET", view, "", "", audit, &late).ok());
  EXPECT_EQ(late.status, 503u) << late.body;
  EXPECT_EQ(Parse(late.body)["code"], "answer_timeout") << late.body;
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(200));
  EXPECT_NE(Get("/metrics").body.find("fundledger_request_seconds_count{route=\"views\"} 1\n"),
            std::string::npos)
      << "counted as a view";
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  // The fold finishes; its answer is not written to the connection.
  bool folded = false;
  for (int i = 0; i < 500 && !folded; ++i) {
    folded = Get("/metrics").body.find("\nfundledger_view_folds_total{reused=\"false\"} 1\n") !=
             std::string::npos;
    if (!folded) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(folded);
  HttpReply health;
  ASSERT_TRUE(connection.Exchange("GET", "/healthz", "", "", std::nullopt, &health).ok());
  EXPECT_EQ(health.status, 200u) << health.body;
  EXPECT_EQ(health.body, Get("/healthz").body);
  HttpReply again;
  ASSERT_TRUE(connection.Exchange("GET", view, "", "", audit, &again).ok());
  EXPECT_EQ(again.status, 200u) << again.body;
}

// A fold still waiting for the fold thread when its reader is answered at the deadline is not
// made: nobody would read it, and the readers behind it would wait for it too.
TEST_F(ServerTest, AFoldWhoseReaderWasAnsweredAtItsDeadlineIsNotMade) {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  int held = 0;
  before_view_fold_ = [&] {
    std::unique_lock<std::mutex> lock(mu);
    ++held;
    cv.wait(lock, [&] { return released; });
  };
  ServerLimits limits;
  limits.read_answer_timeout_ms = 200;
  limits.view_fold_threads = 1;
  Start(limits, /*threads=*/2);
  const uint64_t head = L.journal().head().size;
  auto view = [&](std::string_view name) {
    return "/v1/views/" + std::string(name) + "?project=p1&as_of_seq=" + std::to_string(head - 1);
  };
  const RequestSigner audit{"audit", &L.keys().at("audit")};
  HttpConnection first(address_, 20000), second(address_, 20000);
  HttpReply folding, waiting;
  ASSERT_TRUE(first.Exchange("GET", view("balance"), "", "", audit, &folding).ok());
  ASSERT_EQ(folding.status, 503u) << folding.body;
  ASSERT_TRUE(second.Exchange("GET", view("ratios"), "", "", audit, &waiting).ok());
  ASSERT_EQ(waiting.status, 503u) << waiting.body;
  EXPECT_EQ(Parse(waiting.body)["code"], "answer_timeout") << waiting.body;
  EXPECT_NE(Get("/metrics").body.find("\nfundledger_view_folds_queued 2\n"), std::string::npos);
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  // The fold under way finishes (its answer dropped); the one that waited is dropped unmade.
  std::string metrics;
  for (int i = 0; i < 500; ++i) {
    metrics = Get("/metrics").body;
    if (metrics.find("\nfundledger_view_folds_queued 0\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(metrics.find("\nfundledger_view_folds_queued 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nfundledger_view_folds_total{reused=\"false\"} 1\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("\nfundledger_view_folds_abandoned_total 1\n"), std::string::npos)
      << metrics;
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(held, 1) << "the abandoned fold never reached the fold thread's work";
  }
  // Asked again, it is folded and answered.
  HttpReply again;
  ASSERT_TRUE(second.Exchange("GET", view("ratios"), "", "", audit, &again).ok());
  EXPECT_EQ(again.status, 200u) << again.body;
  EXPECT_NE(Get("/metrics").body.find("\nfundledger_view_folds_total{reused=\"false\"} 2\n"),
            std::string::npos);
}

// Consistency proofs for anyone who keeps the public checkpoints: no signature needed, up to the
// newest durable checkpoint (the trees the public has been shown) and no further.
TEST_F(ServerTest, PublicConsistencyProofsReachTheLatestPublicCheckpointAndNoFurther) {
  Start();
  EXPECT_EQ(Get("/v1/public/proofs/consistency?from=1").status, 404u) << "no checkpoint yet";
  ASSERT_EQ(Get("/v1/checkpoint", "audit").status, 200u);
  const uint64_t shown = L.journal().head().size;
  HttpReply proof = Get("/v1/public/proofs/consistency?from=2");
  ASSERT_EQ(proof.status, 200u) << proof.body;
  json answer = Parse(proof.body);
  EXPECT_EQ(answer["size2"], shown);
  EXPECT_EQ(answer, Parse(Get("/v1/proofs/consistency?from=2", "audit").body));
  ASSERT_EQ(Post(json::array({ReceiptEnvelope("after", 1)})).status, 200u);
  // The head moved on, the public checkpoint did not: nothing past it is proved.
  HttpReply past =
      Get("/v1/public/proofs/consistency?from=2&to=" + std::to_string(L.journal().head().size));
  EXPECT_EQ(past.status, 400u) << past.body;
  EXPECT_EQ(Parse(past.body)["code"], "bad_proof_request") << past.body;
  EXPECT_EQ(Parse(past.body)["field"], "to") << past.body;
  EXPECT_EQ(Parse(Get("/v1/public/proofs/consistency?from=2").body)["size2"], shown);
  EXPECT_EQ(Get("/v1/public/proofs/consistency?from=0").status, 400u);
  EXPECT_EQ(Get("/v1/public/proofs/consistency?from=2&seq=1").status, 400u);
}

TEST_F(ServerTest, AReadDeadlineThatIsNotPositiveIsRefused) {
  for (int64_t ms : {int64_t(0), int64_t(-1)}) {
    ServerOptions options;
    options.limits.read_answer_timeout_ms = ms;
    std::unique_ptr<Server> server;
    Status s = Server::Start(L.journal(), options, &server);
    EXPECT_EQ(s.code(), "bad_limit") << ms;
    EXPECT_EQ(s.field(), "read_answer_timeout_ms") << ms;
    EXPECT_EQ(server, nullptr);
  }
}

TEST_F(ServerTest, RequestBodiesTogetherAreBounded) {
  ServerLimits limits;
  limits.body_bytes_max = 1000;
  limits.bodies_bytes_max = 1500;
  Start(limits);
  auto post = [&](size_t length) {
    RawConnection raw(server_->port());
    raw.Send(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
        "application/json\r\nContent-Length: " +
        std::to_string(length) + "\r\n\r\n" + std::string(length, 'x'));
    return raw.ReadToClose();
  };
  // The bodies held, as /metrics shows them, once they are `bytes` (a GET holds none).
  auto held_reaches = [&](size_t bytes) {
    const std::string line = "\nfundledger_request_bodies_bytes " + std::to_string(bytes) + "\n";
    for (int i = 0; i < 500; ++i) {
      if (Get("/metrics").body.find(line) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  RawConnection slow(server_->port());
  ASSERT_TRUE(
      slow.Send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
                "application/json\r\nContent-Length: 1000\r\n\r\nxx"));
  ASSERT_TRUE(held_reaches(1000));
  std::string refused = post(600);
  ASSERT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_NE(refused.find("bodies_full"), std::string::npos) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  // Bodies that are read are parsed (x's are not JSON: 400 json_malformed, not 503).
  std::string read = post(400);
  EXPECT_EQ(read.rfind("HTTP/1.1 400", 0), 0u) << "a body that fits is read: " << read;
  EXPECT_NE(read.find("json_malformed"), std::string::npos) << read;

  ASSERT_TRUE(slow.Send(std::string(998, 'x')));
  EXPECT_EQ(slow.ReadAnswer().status, 400u);
  ASSERT_TRUE(held_reaches(0)) << "the room comes back once the answers are written";
  EXPECT_EQ(post(600).rfind("HTTP/1.1 400", 0), 0u);
}

// A body is counted as it arrives: headers that declare large bodies and send none hold one read
// each (64 KiB), not what they declare, so a few idle connections cannot refuse every write; the
// bytes that do arrive still meet the limit, mid-body.
TEST_F(ServerTest, RequestBodiesAreCountedAsTheyArrive) {
  ServerLimits limits;
  limits.body_bytes_max = 1 << 20;
  limits.bodies_bytes_max = 3 << 20;
  Start(limits);
  auto gauge = [&] {
    const std::string metrics = Get("/metrics").body;
    const std::string name = "\nfundledger_request_bodies_bytes ";
    const size_t at = metrics.find(name);
    return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + name.size()));
  };
  const std::string declares_whole =
      "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(limits.body_bytes_max) + "\r\n\r\n[";
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 8; ++i) {  // 8 MiB declared, over twice the limit
    idle.push_back(std::make_unique<RawConnection>(server_->port()));
    ASSERT_TRUE(idle.back()->Send(declares_whole));
  }
  const long long one_read = 64 << 10;
  for (int i = 0; i < 500 && gauge() < 8 * (one_read + 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(gauge(), 8 * (one_read + 1));
  const uint64_t head = L.journal().head().size;
  HttpReply written = Post(json::array({ReceiptEnvelope("beside-idle-bodies", 1)}));
  EXPECT_EQ(written.status, 200u) << written.body;
  EXPECT_EQ(L.journal().head().size, head + 1);
  // Bodies that arrive are counted: two bodies all but whole hold 2 MiB of the 3, and a third
  // sent while they wait is refused part way.
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(idle[i]->Send(std::string(limits.body_bytes_max - 2, ' ')));
  for (int i = 0; i < 500 && gauge() < 6 * (one_read + 1) + 2 * (1 << 20); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(gauge(), 6 * (one_read + 1) + 2 * (1 << 20));
  idle[2]->Send(std::string(limits.body_bytes_max - 2, ' '));
  std::string refused = idle[2]->ReadSome();
  EXPECT_EQ(refused.rfind("HTTP/1.1 503", 0), 0u) << refused;
  EXPECT_NE(refused.find("bodies_full"), std::string::npos) << refused;
  for (int i = 0; i < 2; ++i) {  // the last byte: read whole, and not JSON
    ASSERT_TRUE(idle[i]->Send(" "));
    std::string answer = idle[i]->ReadSome();
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  }
  idle.clear();
  for (int i = 0; i < 500 && gauge() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(gauge(), 0) << "the room comes back once the connections are gone";
}

}  // namespace
}  // namespace fundledger
