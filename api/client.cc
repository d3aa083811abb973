#include "api/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

namespace fundledger {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr uint64_t kReplyBytesMax = 64 << 20;

Status ParseServerUrl(std::string_view url, ServerAddress* out) {
  constexpr std::string_view kScheme = "http://";
  auto bad = [&] {
    return Status::InvalidArgument("bad_server_url", "a server is http://HOST[:PORT][/PREFIX]",
                                   "server");
  };
  if (url.substr(0, kScheme.size()) != kScheme) return bad();
  url.remove_prefix(kScheme.size());
  size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  std::string_view prefix = slash == std::string_view::npos ? "" : url.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  size_t colon = authority.rfind(':');
  ServerAddress address;
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    address.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
    if (address.port.empty() || address.port.find_first_not_of("0123456789") != std::string::npos) {
      return bad();
    }
  }
  if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty()) return bad();
  address.host = std::string(authority);
  address.prefix = std::string(prefix);
  *out = std::move(address);
  return Status::Ok();
}

struct HttpConnection::Impl {
  ServerAddress address;
  int64_t timeout_ms;
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  // Runs the asynchronous operations started on `ioc` to their end; the stream's expiry
  // bounds each (synchronous operations would ignore it).
  void RunAll() {
    ioc.restart();
    ioc.run();
  }

  Status Connect() {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(address.host, address.port, ec);
    if (ec) return Status::IOError("http", address.host + ": " + ec.message());
    stream.emplace(ioc);
    stream->expires_after(std::chrono::milliseconds(timeout_ms));
    stream->async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    RunAll();
    if (ec) {
      stream.reset();
      return Status::IOError("http", address.host + ":" + address.port + ": " + ec.message());
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    buffer.clear();
    return Status::Ok();
  }

  // One request and its answer on the open stream.
  beast::error_code Once(http::request<http::string_body>& request, HttpReply* out) {
    beast::error_code ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kReplyBytesMax);
    stream->expires_after(std::chrono::milliseconds(timeout_ms));
    http::async_write(*stream, request, [&](beast::error_code e, size_t) {
      ec = e;
      if (!ec)
        http::async_read(*stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    });
    RunAll();
    if (ec) return ec;
    auto& response = parser.get();
    out->status = response.result_int();
    out->content_type = std::string(response[http::field::content_type]);
    out->link = std::string(response[http::field::link]);
    out->body = std::move(response.body());
    if (!response.keep_alive()) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream.reset();
    }
    return ec;
  }
};

HttpConnection::HttpConnection(ServerAddress address, int64_t timeout_ms)
    : impl_(std::make_unique<Impl>()) {
  impl_->address = std::move(address);
  impl_->timeout_ms = timeout_ms;
}

HttpConnection::~HttpConnection() = default;

Status HttpConnection::Exchange(std::string_view method, std::string_view target,
                                std::string_view content_type, std::string body,
                                const std::optional<RequestSigner>& signer, HttpReply* out) {
  std::string full = impl_->address.prefix + std::string(target);
  http::request<http::string_body> request(
      http::string_to_verb(beast::string_view(method.data(), method.size())), full, 11);
  request.set(http::field::host, impl_->address.host);
  request.set(http::field::user_agent, "fundledger");
  if (!content_type.empty()) request.set(http::field::content_type, std::string(content_type));
  if (signer) {
    size_t question = full.find('?');
    std::string path = full.substr(0, question);
    std::string query = question == std::string::npos ? "" : full.substr(question + 1);
    int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    RequestSignature signature =
        SignRequest(*signer->key, signer->org, method, path, query, now_ms);
    request.set(kOrgHeader, signature.org);
    request.set(kTimestampHeader, signature.timestamp);
    request.set(kSignatureHeader, signature.signature);
  }
  request.body() = std::move(body);
  request.keep_alive(true);
  request.prepare_payload();
  bool reused = impl_->stream.has_value();
  if (!reused) FL_RETURN_IF_ERROR(impl_->Connect());
  impl_->stream->expires_after(std::chrono::milliseconds(impl_->timeout_ms));
  beast::error_code ec = impl_->Once(request, out);
  if (ec && reused && ec != beast::error::timeout) {
    // The server may have closed the idle connection: once more on a new one.
    FL_RETURN_IF_ERROR(impl_->Connect());
    ec = impl_->Once(request, out);
  }
  if (ec) {
    impl_->stream.reset();
    return Status::IOError("http",
                           impl_->address.host + ":" + impl_->address.port + ": " + ec.message());
  }
  return Status::Ok();
}

Status StatusOfReply(const HttpReply& reply) {
  if (reply.status >= 200 && reply.status < 300) return Status::Ok();
  nlohmann::json body = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  std::string code = "http_" + std::to_string(reply.status);
  std::string message = reply.body.substr(0, 200), field, event_id;
  if (body.is_object()) {
    auto text = [&](const char* name) {
      auto it = body.find(name);
      return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (!text("code").empty()) code = text("code");
    message = text("message");
    field = text("field");
    event_id = text("event_id");
  }
  message = "server answered " + std::to_string(reply.status) + ": " + message;
  Status s;
  switch (reply.status) {
    case 400:
    case 413:
      s = Status::InvalidArgument(code, message, field);
      break;
    case 404:
      s = Status::NotFound(code, message, field);
      break;
    case 409:
      s = Status::Conflict(code, message, field);
      break;
    case 401:
    case 403:
    case 422:
      s = Status::Rejected(code, message, field);
      break;
    default:
      s = Status::IOError(code, message);
  }
  return event_id.empty() ? s : s.WithEventId(event_id);
}

}  // namespace fundledger
