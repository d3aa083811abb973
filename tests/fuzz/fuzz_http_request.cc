// libFuzzer target: raw bytes as a client sends them on one connection, read as a session of
// `fundledger serve` reads them (api/http_request.h: Beast's parser with the server's limits and
// framing checks) and answered by the server's request handler (HandleRequest) over a small real
// ledger. Up to 8 pipelined requests per input. No request may be answered 500, and every
// request is answered exactly once.
//
// The ledger (in a fresh temporary directory, removed at exit) holds the operator, a finance
// bureau and an auditor with keys from fixed seeds, and the clock stands at kFuzzNowMs, so that
// signed requests of the seed corpus (tests/fuzz/make_corpus.sh) stay valid.
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "api/http_handler.h"
#include "api/http_request.h"
#include "crypto/encoding.h"
#include "replay/views.h"

namespace fundledger {
namespace {

constexpr int64_t kFuzzNowMs = 1795320000000;  // 2026-11-22 12:00 China time
constexpr size_t kRequestsPerInput = 8;
constexpr size_t kHeaderBytesMax = 16 << 10;
constexpr size_t kBodyBytesMax = 1 << 20;

KeyPair SeededKey(uint8_t byte) {
  KeySeed seed;
  seed.fill(byte);
  return KeyPair::FromSeed(seed);
}

nlohmann::json Registration(const std::string& org, const std::string& kind,
                            const std::string& level, const std::string& region, uint8_t seed) {
  return {{"id", "reg-" + org},
          {"type", "org_registered"},
          {"occurred_on", "2026-11-02"},
          {"org", org},
          {"name", org},
          {"kind", kind},
          {"level", level},
          {"region", region},
          {"public_key", Base64Encode(SeededKey(seed).public_key())}};
}

void Check(const Status& s) {
  if (!s.ok()) {
    fprintf(stderr, "fuzz_http_request setup: %s\n", s.ToString().c_str());
    std::abort();
  }
}

// The ledger and the parts a handler works with, built once per process.
struct Fixture {
  Fixture() {
    dir = std::filesystem::temp_directory_path() /
          ("fundledger-fuzz-http-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    log_key.name = "fuzz.example";
    log_key.key = SeededKey(9);
    log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
    JournalOptions options;
    options.now_ms = [] { return kFuzzNowMs; };
    options.verify_threads = 1;
    Check(CreateWithViews(dir.string(), "fuzz.example/ledger", log_key, options, &views, &journal));
    std::vector<SignedEvent> events(4);
    Check(SignedEvent::Sign(
        GenesisEvent("operator", "operator", SeededKey(1).public_key(), "2026-11-01"), "operator",
        SeededKey(1), &events[0]));
    Check(SignedEvent::Sign(
        Registration("xt-finance", "finance_bureau", "municipal", "hunan/xiangtan", 2), "operator",
        SeededKey(1), &events[1]));
    Check(SignedEvent::Sign(Registration("audit", "auditor", "none", "hunan", 3), "operator",
                            SeededKey(1), &events[2]));
    Check(SignedEvent::Sign({{"id", "r0"},
                             {"type", "funds_received"},
                             {"occurred_on", "2026-11-03"},
                             {"to", "xt-finance"},
                             {"to_kind", "pool"},
                             {"category", "municipal"},
                             {"source_org", "xt-finance"},
                             {"channel", "transfer"},
                             {"amount_fen", 1000000}},
                            "xt-finance", SeededKey(2), &events[3]));
    std::vector<AppendResult> results;
    for (const SignedEvent& event : events) {
      Check(journal->Append(std::span<const SignedEvent>(&event, 1), &results));
      Check(results.at(0).status);
    }
    sequencer = std::make_unique<Sequencer>(*journal, gate, metrics, SequencerOptions());
    public_reads = std::make_unique<PublicReads>(*journal, gate, &log_key);
    context.journal = journal.get();
    context.gate = &gate;
    context.sequencer = sequencer.get();
    context.metrics = &metrics;
    context.now_ms = [] { return kFuzzNowMs; };
    context.defer = [](std::function<void()> work) { work(); };
    context.draining = &draining;
    context.public_reads = public_reads.get();
  }
  ~Fixture() {
    sequencer.reset();
    public_reads.reset();
    journal.reset();
    std::filesystem::remove_all(dir);
  }

  // Answers one request and waits for the answer.
  ApiResponse Answer(const ApiRequest& request) {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<ApiResponse> answer;
    int calls = 0;
    HandleRequest(context, request, [&](ApiResponse response) {
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
      answer = std::move(response);
      cv.notify_all();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return answer.has_value(); });
    if (calls != 1) std::abort();
    return std::move(*answer);
  }

  std::filesystem::path dir;
  NoteSigner log_key;
  Views views;
  std::unique_ptr<Journal> journal;
  ReadGate gate;
  Metrics metrics;
  std::atomic<bool> draining{false};
  std::unique_ptr<Sequencer> sequencer;
  std::unique_ptr<PublicReads> public_reads;
  ApiContext context;
};

Fixture* TheFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture();
    std::atexit([] { delete TheFixture(); });
    return f;
  }();
  return fixture;
}

// Reads one request at the start of `*rest` as a session does; nullopt when the session would
// answer an error or close.
std::optional<ApiRequest> ReadRequest(std::string_view* rest, bool* keep_alive) {
  if (!CheckHeaderBytes(*rest).ok()) return std::nullopt;
  RequestParser parser;
  LimitRequestParser(kHeaderBytesMax, kBodyBytesMax, &parser);
  boost::beast::error_code ec;
  size_t used = parser.put(boost::asio::buffer(rest->data(), rest->size()), ec);
  if (ec) {
    (void)ReadErrorStatus(ec, kHeaderBytesMax, kBodyBytesMax);
    return std::nullopt;
  }
  rest->remove_prefix(used);
  if (!CheckFraming(parser).ok()) return std::nullopt;
  while (!parser.is_done()) {
    used = parser.put(boost::asio::buffer(rest->data(), rest->size()), ec);
    if (ec || used == 0) {
      (void)ReadErrorStatus(ec, kHeaderBytesMax, kBodyBytesMax);
      return std::nullopt;
    }
    rest->remove_prefix(used);
  }
  *keep_alive = parser.get().keep_alive();
  return ToApiRequest(parser.release());
}

}  // namespace
}  // namespace fundledger

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fundledger;
  Fixture* fixture = TheFixture();
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  for (size_t n = 0; n < kRequestsPerInput && !rest.empty(); ++n) {
    bool keep_alive = false;
    std::optional<ApiRequest> request = ReadRequest(&rest, &keep_alive);
    if (!request) break;
    ApiResponse response = fixture->Answer(*request);
    if (response.status >= 500 && response.status != 503) {
      fprintf(stderr, "answered %u: %s\n", response.status, response.body.c_str());
      std::abort();
    }
    if (!keep_alive) break;
  }
  return 0;
}
