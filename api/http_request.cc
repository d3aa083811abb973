#include "api/http_request.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <string>

#include "api/auth.h"

namespace fundledger {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

Status Malformed(std::string_view message) {
  return Status::InvalidArgument("http_malformed", message);
}

}  // namespace

void LimitRequestParser(size_t header_bytes_max, size_t body_bytes_max, RequestParser* parser) {
  parser->header_limit(uint32_t(std::min<size_t>(header_bytes_max, UINT32_MAX)));
  parser->body_limit(body_bytes_max);
}

Status CheckHeaderBytes(std::string_view bytes) {
  size_t end = bytes.find("\r\n\r\n");
  std::string_view header = end == std::string_view::npos ? bytes : bytes.substr(0, end + 2);
  for (size_t at = header.find("\r\n"); at != std::string_view::npos;
       at = header.find("\r\n", at + 2)) {
    if (at + 2 < header.size() && (header[at + 2] == ' ' || header[at + 2] == '\t')) {
      return Malformed("a header field continues on the next line (obs-fold)");
    }
  }
  return Status::Ok();
}

Status CheckFraming(const RequestParser& parser) {
  const auto& header = parser.get();
  size_t encodings = header.count(http::field::transfer_encoding);
  if (encodings > 0) {
    if (header.version() < 11) {
      return Malformed("Transfer-Encoding is not allowed in an HTTP/1.0 request");
    }
    if (encodings > 1 || !beast::iequals(header[http::field::transfer_encoding], "chunked")) {
      return Malformed("the only Transfer-Encoding accepted is chunked");
    }
  }
  size_t lengths = header.count(http::field::content_length);
  if (lengths > 1 ||
      (lengths == 1 && header[http::field::content_length].find(',') != std::string_view::npos)) {
    return Malformed("a request has at most one Content-Length, of one value");
  }
  // A read carries no body: one would be read and held against the bodies' budget before the
  // request is authenticated, for nothing.
  if ((header.method() == http::verb::get || header.method() == http::verb::head) &&
      (encodings > 0 || (lengths == 1 && header[http::field::content_length] != "0"))) {
    return Malformed("a GET or HEAD request has no body");
  }
  return Status::Ok();
}

std::optional<Status> ReadErrorStatus(beast::error_code ec, size_t header_bytes_max,
                                      size_t body_bytes_max) {
  if (ec == http::error::header_limit) {
    return Status::InvalidArgument(
        "header_too_large",
        "request headers are at most " + std::to_string(header_bytes_max) + " bytes");
  }
  if (ec == http::error::body_limit) {
    // Beast finds a Content-Length over the limit with the header, a chunked body as it comes.
    return Status::InvalidArgument(
        "body_too_large", "a request body is at most " + std::to_string(body_bytes_max) + " bytes");
  }
  // The parser's verdicts on the bytes; the end of the stream and the socket's errors are not
  // answered.
  static constexpr http::error kParseErrors[] = {
      http::error::bad_line_ending,    http::error::bad_method,
      http::error::bad_target,         http::error::bad_version,
      http::error::bad_field,          http::error::bad_value,
      http::error::bad_content_length, http::error::bad_transfer_encoding,
      http::error::bad_chunk,          http::error::bad_chunk_extension,
      http::error::bad_obs_fold,       http::error::unexpected_body,
      http::error::bad_alloc};
  for (http::error parse_error : kParseErrors) {
    if (ec == parse_error) return Malformed("the request cannot be parsed: " + ec.message());
  }
  return std::nullopt;
}

ApiRequest ToApiRequest(http::request<http::string_body>&& request) {
  ApiRequest api;
  api.method = std::string(request.method_string());
  api.target = std::string(request.target());
  api.content_type = std::string(request[http::field::content_type]);
  api.signature.org = std::string(request[kOrgHeader]);
  api.signature.timestamp = std::string(request[kTimestampHeader]);
  api.signature.signature = std::string(request[kSignatureHeader]);
  for (const char* name : {kOrgHeader, kTimestampHeader, kSignatureHeader}) {
    if (request.count(name) > 1) api.signature.repeated = std::string(name);
  }
  api.body = std::move(request.body());
  return api;
}

}  // namespace fundledger
