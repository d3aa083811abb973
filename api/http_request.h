// Reading one HTTP/1.1 request off the wire, shared by the server's sessions (api/server.cc) and
// the request fuzzer (tests/fuzz): the parser's limits, the framing that Beast accepts but a
// server must refuse (RFC 9112), the answer to a request that cannot be read, and the ApiRequest
// of one that can.
//
// Refused as "http_malformed" (400, and the connection closes after the answer), beyond what
// Beast's parser refuses itself (a bad request line or field, conflicting Content-Length values,
// Content-Length beside chunked, a bad chunk size):
//   - an obs-fold (a field line continued on the next, RFC 9112 section 5.2): a proxy in front
//     may read the field differently;
//   - a Transfer-Encoding other than exactly "chunked" (Beast reads "chunked, gzip" or "gzip" as
//     a request without a body, so that the body would be read as the next request), or any
//     Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1);
//   - more than one Content-Length, or a list in one ("4, 4"), even of equal values.
//
// Thread safety: pure functions.
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string_view>

#include "api/http_handler.h"
#include "crypto/status.h"

namespace fundledger {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Sets the parser's header and body limits.
void LimitRequestParser(size_t header_bytes_max, size_t body_bytes_max, RequestParser* parser);

// Checks the bytes of a request's header read so far (`bytes` may end before the blank line, or
// run past it into the body: only what comes before the first blank line is looked at).
// InvalidArgument "http_malformed" for an obs-fold.
Status CheckHeaderBytes(std::string_view bytes);

// Checks the framing of a parsed header (see above). InvalidArgument "http_malformed".
// REQUIRES: parser.is_header_done().
Status CheckFraming(const RequestParser& parser);

// What a request that could not be read is answered with: "header_too_large" or
// "body_too_large" (413), "http_malformed" (400) for a parse error, naming it. nullopt when there
// is no one to answer (the peer closed the connection, a time-out, a socket error).
std::optional<Status> ReadErrorStatus(boost::beast::error_code ec, size_t header_bytes_max,
                                      size_t body_bytes_max);

// The request as the handler sees it.
ApiRequest ToApiRequest(boost::beast::http::request<boost::beast::http::string_body>&& request);

}  // namespace fundledger
