#include "api/server.h"

#include <malloc.h>

#include <kj/exception.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

#include "api/http_handler.h"
#include "api/http_request.h"
#include "api/submit.h"
#include "api/wire_response.h"
#include "ledger/parallel.h"

namespace fundledger {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kFirstReadBytes = 4096;
constexpr size_t kBodyReadBytes = 64 << 10;  // what a body's read asks of the socket at once
// A large answer (a region's disbursements, the log) is built from many small allocations that
// are freed together once it is sent. glibc keeps such freed memory in the thread's arena, where
// the answer after it rarely fits exactly, so the server's memory would follow the largest
// answers ever built; returning the free pages afterwards (at most once per kTrimIntervalMs)
// keeps it to what is in use. Measured with `fundledger bench soak` (BENCHMARKS.md, Soak).
constexpr size_t kTrimAfterBodyBytes = 1 << 20;
constexpr int64_t kTrimIntervalMs = 1000;
constexpr int64_t kLingerMs = 1000;
// How long the acceptor waits after a failed accept before it accepts again.
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::chrono::milliseconds Ms(int64_t ms) { return std::chrono::milliseconds(ms); }

class Session;

}  // namespace

struct Server::Impl {
  Impl(Journal& journal_in, const ServerOptions& options_in)
      : journal(journal_in),
        options(options_in),
        ioc(int(ThreadsOrCores(options_in.threads))),
        acceptor(net::make_strand(ioc)),
        signals(acceptor.get_executor()),
        accept_retry(acceptor.get_executor()),
        view_points_sweep(acceptor.get_executor()) {}

  Status Listen();
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void RejectConnection(tcp::socket socket);
  void BeginStop();
  void WaitStopped();
  void Forget(uint64_t id);
  // Every kViewPointsSweepMs until the server stops: the view folds unread too long are freed.
  void SweepViewPoints();
  // Returns the heap's free pages to the system (malloc_trim), at most once per kTrimIntervalMs.
  void TrimHeap();

  Journal& journal;
  const ServerOptions options;
  // Declared before the io_context: sessions destroyed with it still report here.
  std::mutex mu;  // guards sessions, next_id, stop_requested, stopped
  std::condition_variable cv;
  std::map<uint64_t, std::weak_ptr<Session>> sessions;
  uint64_t next_id = 0;
  bool stop_requested = false;
  bool stopped = false;
  uint16_t port = 0;  // bound
  Metrics metrics;
  ReadGate gate;
  std::atomic<bool> draining{false};
  std::atomic<size_t> bodies_bytes{0};  // reserved by the requests in progress
  std::atomic<int64_t> last_trim_ms{0};
  net::io_context ioc;
  // Keeps the threads running while a request waits for the writer with no I/O pending.
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  tcp::acceptor acceptor;
  net::signal_set signals;
  // After a failed accept (out of descriptors or memory), the wait before the next: accepting
  // again at once would fail at once, and spin on every core while the cause lasts.
  net::steady_timer accept_retry;
  net::steady_timer view_points_sweep;
  // Views as of an earlier point (ApiContext::fold); joined before the io_context goes.
  std::unique_ptr<net::thread_pool> folds;
  std::atomic<size_t> folds_queued{0};   // waiting or running
  std::unique_ptr<Sequencer> sequencer;  // stopped before the io_context goes
  std::unique_ptr<PublicReads> public_reads;
  std::unique_ptr<ViewPoints> view_points;
  WebAssets web;
  ApiContext context;
  std::vector<std::thread> threads;
};

namespace {

// One connection: reads requests within the limits, hands them to HandleRequest, writes the
// answers. Every handler runs on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Server::Impl& server, uint64_t id)
      : stream_(std::move(socket)),
        answer_timer_(stream_.get_executor()),
        server_(server),
        id_(id) {
    server_.metrics.AddConnections(1);
  }
  ~Session() {
    ReleaseBody();
    server_.metrics.AddConnections(-1);
    server_.Forget(id_);
  }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::DoWaitRequest, shared_from_this()));
  }
  // On stop: an idle connection closes now, a busy one after its answer.
  void Drain() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->closing_ = true;
      if (!self->busy_) self->Close();
    });
  }

 private:
  const ServerLimits& limits() const { return server_.options.limits; }

  void DoWaitRequest() {
    busy_ = false;
    head_request_ = false;
    if (closing_ || server_.draining) return Close();
    parser_.emplace();
    LimitRequestParser(limits().header_bytes_max, limits().body_bytes_max, &*parser_);
    if (buffer_.size() > 0) return DoReadHeader();
    stream_.expires_after(Ms(limits().idle_timeout_ms));
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, size_t bytes) {
    if (ec) return Close();
    buffer_.commit(bytes);
    DoReadHeader();
  }

  void DoReadHeader() {
    busy_ = true;
    started_ = Clock::now();
    stream_.expires_after(Ms(limits().header_timeout_ms));
    ParseHeader();
  }

  // The header is parsed here rather than by http::async_read_header, so that its raw bytes can
  // be checked (api/http_request.h) before Beast folds them into fields.
  void ParseHeader() {
    auto bytes = buffer_.data();
    Status s =
        CheckHeaderBytes(std::string_view(static_cast<const char*>(bytes.data()), bytes.size()));
    if (!s.ok()) return Fail(s);
    beast::error_code ec;
    buffer_.consume(parser_->put(bytes, ec));
    if (ec == http::error::need_more) {
      return stream_.async_read_some(
          buffer_.prepare(kFirstReadBytes),
          beast::bind_front_handler(&Session::OnHeaderBytes, shared_from_this()));
    }
    OnHeader(ec);
  }

  void OnHeaderBytes(beast::error_code ec, size_t bytes) {
    if (ec) return Close();
    buffer_.commit(bytes);
    ParseHeader();
  }

  // Answers a request that cannot be read (api/http_request.h); false when no one is to be
  // answered (the connection just closes).
  bool FailOnReadError(beast::error_code ec) {
    std::optional<Status> status =
        ReadErrorStatus(ec, limits().header_bytes_max, limits().body_bytes_max);
    if (!status) return false;
    Fail(*status);
    return true;
  }

  void OnHeader(beast::error_code ec) {
    if (FailOnReadError(ec)) return;
    if (ec) return Close();
    Status framing = CheckFraming(*parser_);
    if (!framing.ok()) return Fail(framing);
    if (!ReserveBody()) return Fail(BodiesFull());
    // An HTTP/1.0 client is sent no 1xx answer (RFC 9110 section 15.2); it sends its body anyway.
    if (parser_->get().version() >= 11 &&
        beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      continue_ = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      return http::async_write(stream_, *continue_,
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 if (ec) return self->Close();
                                 self->DoReadBody();
                               });
    }
    DoReadBody();
  }

  void DoReadBody() {
    stream_.expires_after(Ms(limits().body_timeout_ms));
    ParseBody();
  }

  // The body is parsed here rather than by http::async_read, which reads on into the buffer
  // while the parser cannot use what it holds: a chunk's size line with endless extensions, or a
  // trailer with no end, would grow it without bound (the body limit counts chunk data only).
  // Here the bytes the parser has not taken are bounded like a header.
  void ParseBody() {
    beast::error_code ec;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return OnBody(ec, 0);
      if (used == 0) break;
    }
    if (parser_->is_done()) return OnBody(ec, 0);
    if (buffer_.size() > limits().header_bytes_max) {
      return Fail(Status::InvalidArgument(
          "header_too_large", "a chunk's size line or the body's trailer is at most " +
                                  std::to_string(limits().header_bytes_max) + " bytes"));
    }
    if (!ReserveBody()) return Fail(BodiesFull());
    stream_.async_read_some(buffer_.prepare(kBodyReadBytes),
                            beast::bind_front_handler(&Session::OnBodyBytes, shared_from_this()));
  }

  void OnBodyBytes(beast::error_code ec, size_t bytes) {
    if (ec == net::error::eof) {
      parser_->put_eof(ec);  // partial_message, unless the body ends with the stream
      return OnBody(ec, 0);
    }
    if (ec) return OnBody(ec, 0);
    buffer_.commit(bytes);
    ParseBody();
  }

  void OnBody(beast::error_code ec, size_t) {
    if (FailOnReadError(ec)) return;
    if (ec) return Close();
    stream_.expires_never();  // the answer may wait for a durable batch
    http::request<http::string_body> request = parser_->release();
    keep_alive_ = request.keep_alive();
    head_request_ = request.method() == http::verb::head;
    ApiRequest api = ToApiRequest(std::move(request));
    auto abandoned = std::make_shared<std::atomic<bool>>(false);
    api.abandoned = abandoned;
    const uint64_t request_no = ++requests_;
    auto reply = [self = shared_from_this(), request_no](ApiResponse response) {
      net::post(self->stream_.get_executor(),
                [self, request_no, response = std::move(response)]() mutable {
                  // Dropped if the request was answered at its deadline meanwhile.
                  if (request_no != self->requests_ || self->answered_) return;
                  self->answer_timer_.cancel();
                  self->Respond(std::move(response));
                });
    };
    answered_ = false;
    const std::string_view target = api.target;
    const Route route = RouteOf(api.method, target.substr(0, target.find('?')));
    if (route != Route::kPostEvents) {  // a write waits for its durable batch
      answer_timer_.expires_after(Ms(limits().read_answer_timeout_ms));
      answer_timer_.async_wait(
          [self = shared_from_this(), request_no, route, abandoned](beast::error_code ec) {
            if (ec || request_no != self->requests_ || self->answered_) return;
            abandoned->store(true);
            ApiResponse late = ErrorResponse(Status::IOError(
                "answer_timeout", "the answer was not ready within " +
                                      std::to_string(self->limits().read_answer_timeout_ms) +
                                      " ms; ask again later"));
            late.route = route;
            self->Respond(std::move(late));
          });
    }
    try {
      HandleRequest(server_.context, api, reply);
    } catch (const std::exception& e) {
      // A bug, not an input error; the connection is answered rather than left hanging.
      reply(ErrorResponse(Status::IOError("internal", e.what())));
    } catch (const kj::Exception& e) {  // Cap'n Proto's, from stored data it could not read
      reply(ErrorResponse(Status::IOError("internal", e.getDescription().cStr())));
    }
  }

  // An answer to a request that could not be read whole; the connection closes after it.
  void Fail(const Status& status) {
    keep_alive_ = false;
    linger_ = true;
    Respond(ErrorResponse(status));
  }

  // After an answer to a request left unread: the rest is read and dropped for a moment before
  // closing, since closing with unread input resets the connection and the client could lose
  // the answer.
  void DoLinger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(Ms(kLingerMs));
    DoDiscard();
  }
  void DoDiscard() {
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->DoDiscard();
                            });
  }

  void Respond(ApiResponse answer) {
    answered_ = true;
    route_ = answer.route;
    ToWireResponse(std::move(answer), keep_alive_ && !closing_ && !server_.draining, &response_,
                   head_request_);
    const uint64_t rate = std::max<size_t>(1, limits().write_bytes_per_s_min);
    stream_.expires_after(
        Ms(limits().write_timeout_ms + int64_t(uint64_t(response_.body_bytes()) * 1000 / rate)));
    std::visit(
        [&](auto& message) {
          http::async_write(stream_, message,
                            beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
        },
        response_.message);
  }

  // Room among all connections' request bodies (ServerLimits::bodies_bytes_max) for what the
  // body holds so far and one read more (kBodyReadBytes), up to its declared length
  // (body_bytes_max when chunked); false if there is none. Called before each read of the body,
  // so a body is counted as it arrives: a header that declares a large body and sends none
  // holds one read's worth, not the whole. Held until the answer is written.
  bool ReserveBody() {
    const auto declared = parser_->content_length();
    const size_t most = std::min<size_t>(declared             ? size_t(*declared)
                                         : parser_->chunked() ? limits().body_bytes_max
                                                              : 0,
                                         limits().body_bytes_max);
    const size_t bytes = std::min(most, parser_->get().body().size() + kBodyReadBytes);
    if (bytes <= body_reserved_) return true;
    const size_t more = bytes - body_reserved_;
    size_t held = server_.bodies_bytes.load();
    do {
      if (held + more > limits().bodies_bytes_max) return false;
    } while (!server_.bodies_bytes.compare_exchange_weak(held, held + more));
    body_reserved_ = bytes;
    server_.metrics.AddRequestBodies(int64_t(more));
    return true;
  }
  static Status BodiesFull() {
    return Status::IOError("bodies_full",
                           "the server holds as many request bodies as it may; try again shortly");
  }
  void ReleaseBody() {
    if (body_reserved_ == 0) return;
    server_.bodies_bytes.fetch_sub(body_reserved_);
    server_.metrics.AddRequestBodies(-int64_t(body_reserved_));
    body_reserved_ = 0;
  }

  void OnWrite(beast::error_code ec, size_t) {
    // A large request body, and what decoding it took, were freed too.
    const bool large_request = body_reserved_ >= kTrimAfterBodyBytes;
    ReleaseBody();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_);
    server_.metrics.OnResponse(route_, response_.status(), uint64_t(us.count()));
    bool keep_alive = response_.keep_alive();
    // Only a body of the connection's own was freed (a shared one stays in the cache).
    const bool large =
        large_request || (!response_.shared_body && response_.body_bytes() >= kTrimAfterBodyBytes);
    response_ = WireResponse();
    if (large) server_.TrimHeap();
    if (!ec && linger_) return DoLinger();
    if (ec || !keep_alive) return Close();
    DoWaitRequest();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  WireResponse response_;  // the answer being written
  std::shared_ptr<http::response<http::empty_body>> continue_;
  // A read's deadline for its answer (ServerLimits::read_answer_timeout_ms), and which request
  // an answer is for: one that comes after the deadline answered its request is dropped.
  net::steady_timer answer_timer_;
  uint64_t requests_ = 0;
  bool answered_ = false;
  bool head_request_ = false;  // the answer being made is to a HEAD: its body is left out
  Server::Impl& server_;
  const uint64_t id_;
  Route route_ = Route::kOther;
  Clock::time_point started_;
  size_t body_reserved_ = 0;  // of Server::Impl::bodies_bytes, for the request in progress
  bool busy_ = false;         // a request is being read, handled or answered
  bool closing_ = false;      // close after the answer in progress
  bool keep_alive_ = true;
  bool linger_ = false;  // the request was not read whole
};

}  // namespace

void Server::Impl::SweepViewPoints() {
  view_points_sweep.expires_after(Ms(kViewPointsSweepMs));
  view_points_sweep.async_wait([this](beast::error_code ec) {
    if (ec || draining.load()) return;  // the server stops
    // A dropped fold's pages go back to the system, as after a large answer.
    if (view_points->DropIdle() > 0) TrimHeap();
    SweepViewPoints();
  });
}

void Server::Impl::TrimHeap() {
  const int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
          .count();
  int64_t last = last_trim_ms.load();
  if (now - last < kTrimIntervalMs || !last_trim_ms.compare_exchange_strong(last, now)) return;
  ::malloc_trim(0);
}

Status Server::Impl::Listen() {
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto endpoints =
      resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) {
    return Status::InvalidArgument("bad_listen", "cannot resolve " + options.host, "listen");
  }
  tcp::endpoint endpoint = *endpoints.begin();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (!ec) port = acceptor.local_endpoint(ec).port();
  if (ec) {
    return Status::IOError("listen",
                           options.host + ":" + std::to_string(options.port) + ": " + ec.message());
  }
  return Status::Ok();
}

void Server::Impl::DoAccept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void Server::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
  if (!ec) {
    std::shared_ptr<Session> session;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!stop_requested && sessions.size() < options.limits.connections_max) {
        session = std::make_shared<Session>(std::move(socket), *this, next_id);
        sessions.emplace(next_id++, session);
      }
    }
    if (session) {
      session->Start();
    } else if (socket.is_open()) {
      RejectConnection(std::move(socket));
    }
  } else {
    accept_retry.expires_after(kAcceptRetryDelay);
    accept_retry.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor.is_open()) DoAccept();
    });
    return;
  }
  DoAccept();
}

void Server::Impl::RejectConnection(tcp::socket socket) {
  auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
  auto response =
      std::make_shared<http::response<http::string_body>>(http::status::service_unavailable, 11);
  // The heads every answer has (wire_response.cc), the body as its Content-Type says.
  response->set(http::field::server, "fundledger");
  response->set(http::field::content_type, "application/json");
  response->set("X-Content-Type-Options", "nosniff");
  response->set(http::field::retry_after, "1");
  response->keep_alive(false);
  response->body() = ErrorJson(Status::InvalidArgument("too_many_connections",
                                                       "the server is at its limit of "
                                                       "open connections"))
                         .dump();
  response->prepare_payload();
  stream->expires_after(Ms(options.limits.write_timeout_ms));
  http::async_write(*stream, *response, [stream, response](beast::error_code, size_t) {
    beast::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_send, ignored);
  });
}

void Server::Impl::Forget(uint64_t id) {
  std::lock_guard<std::mutex> lock(mu);
  sessions.erase(id);
  if (sessions.empty()) cv.notify_all();
}

void Server::Impl::BeginStop() {
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stop_requested) return;
    stop_requested = true;
    draining = true;
    for (auto& [id, weak] : sessions) {
      if (auto session = weak.lock()) open.push_back(std::move(session));
    }
    cv.notify_all();
  }
  net::post(acceptor.get_executor(), [this] {
    beast::error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    accept_retry.cancel();
    view_points_sweep.cancel();
  });
  for (auto& session : open) session->Drain();
  // Readers waiting for a public build not yet started are answered "stopping" now, while the
  // connections can still carry the answer; the build running ends the drain when it is done.
  public_reads->Refuse();
}

void Server::Impl::WaitStopped() {
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return stop_requested; });
    if (stopped) return;
    cv.wait_for(lock, Ms(options.limits.drain_timeout_ms), [&] { return sessions.empty(); });
    stopped = true;
  }
  // Requests still queued are appended (their clients may be gone; the events are durable).
  sequencer->Stop();
  // Public builds still waiting are answered "stopping"; the one running finishes first.
  public_reads->Stop();
  // Folds not started are dropped (their connections are gone or closing); the one running
  // finishes first.
  folds->stop();
  folds->join();
  work.reset();
  ioc.stop();
  for (auto& thread : threads) thread.join();
  threads.clear();
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  if (!impl_) return;
  Stop();
  Wait();
}

Status Server::Start(Journal& journal, const ServerOptions& options, std::unique_ptr<Server>* out) {
  if (options.limits.read_answer_timeout_ms <= 0) {
    return Status::InvalidArgument("bad_limit", "read_answer_timeout_ms is a positive time",
                                   "read_answer_timeout_ms");
  }
  auto impl = std::make_unique<Impl>(journal, options);
  if (!options.web_dir.empty() || !options.echarts_file.empty()) {
    FL_RETURN_IF_ERROR(LoadWebAssets(options.web_dir, options.echarts_file, &impl->web));
  }
  FL_RETURN_IF_ERROR(impl->Listen());
  SequencerOptions sequencer_options;
  sequencer_options.queue_events_max = options.limits.queue_events_max;
  sequencer_options.batch_events_max = options.limits.batch_events_max;
  impl->sequencer =
      std::make_unique<Sequencer>(journal, impl->gate, impl->metrics, sequencer_options);
  Impl* raw = impl.get();
  ApiContext& context = impl->context;
  context.journal = &journal;
  context.gate = &impl->gate;
  context.sequencer = impl->sequencer.get();
  context.metrics = &impl->metrics;
  context.now_ms = options.now_ms ? options.now_ms : SystemNowMs;
  context.defer = [raw](std::function<void()> work) { net::post(raw->ioc, std::move(work)); };
  context.draining = &impl->draining;
  impl->folds = std::make_unique<net::thread_pool>(std::max(1u, options.limits.view_fold_threads));
  context.fold = [raw](std::function<void()> work,
                       std::shared_ptr<const std::atomic<bool>> abandoned) {
    const size_t max =
        raw->options.limits.view_fold_threads + raw->options.limits.view_folds_waiting_max;
    size_t queued = raw->folds_queued.load();
    do {
      if (queued >= max) return false;
    } while (!raw->folds_queued.compare_exchange_weak(queued, queued + 1));
    raw->metrics.AddViewFoldsQueued(1);
    net::post(*raw->folds, [raw, work = std::move(work), abandoned = std::move(abandoned)] {
      struct Done {
        Server::Impl* raw;
        ~Done() {
          raw->folds_queued.fetch_sub(1);
          raw->metrics.AddViewFoldsQueued(-1);
        }
      } done{raw};
      // Its reader was answered at the deadline while it waited: nobody reads this fold, and
      // the readers queued behind it should not wait for it too.
      if (abandoned != nullptr && abandoned->load()) return raw->metrics.OnViewFoldAbandoned();
      if (raw->options.before_view_fold) raw->options.before_view_fold();
      work();
    });
    return true;
  };
  context.request_events_max = options.limits.request_events_max;
  context.view_lines_max = options.limits.view_lines_max;
  // A build's freed memory (a fold of a large scope) goes back to the system, as after a large
  // answer.
  impl->public_reads = std::make_unique<PublicReads>(journal, impl->gate, options.log_signer,
                                                     nullptr, [raw] { raw->TrimHeap(); });
  context.public_reads = impl->public_reads.get();
  impl->view_points = std::make_unique<ViewPoints>(
      options.limits.view_points_bytes_max, kViewPointsMax, options.limits.view_points_idle_ms);
  context.view_points = impl->view_points.get();
  net::post(impl->acceptor.get_executor(), [raw] { raw->SweepViewPoints(); });
  context.web = &impl->web;
  if (options.handle_signals) {
    impl->signals.add(SIGINT);
    impl->signals.add(SIGTERM);
    impl->signals.async_wait([raw](beast::error_code ec, int) {
      if (!ec) raw->BeginStop();
    });
  }
  raw->DoAccept();
  for (unsigned i = 0; i < ThreadsOrCores(options.threads); ++i) {
    impl->threads.emplace_back([raw] { raw->ioc.run(); });
  }
  out->reset(new Server(std::move(impl)));
  return Status::Ok();
}

uint16_t Server::port() const { return impl_->port; }

void Server::Stop() { impl_->BeginStop(); }

void Server::Wait() { impl_->WaitStopped(); }

}  // namespace fundledger
