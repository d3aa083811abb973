// The HTTP message an ApiResponse is written as. A shared body (a public answer that many
// connections may be writing at once, held by the public answers' cache) is written from the
// shared bytes themselves, which the message keeps alive until it is written: a thousand
// readers of one 300 MB export hold one copy of it, not a thousand. Any other body is moved in.
//
// Thread safety: a WireResponse is used by one connection at a time; the shared bytes are
// immutable and may be written by many at once.
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <string>
#include <variant>

#include "api/http_handler.h"

namespace fundledger {

// The Content-Security-Policy of every HTML page (the dashboard at /): its scripts, styles,
// fetches and images only from this server, and no inline script. A name or a reference that a
// signer wrote and a page shows can then not run as a script even if a page's code let it in.
// Inline styles stay allowed: ECharts positions its tooltips with them.
inline constexpr char kPageCsp[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'";

struct WireResponse {
  using Owned = boost::beast::http::response<boost::beast::http::string_body>;
  using Shared = boost::beast::http::response<boost::beast::http::span_body<const char>>;
  // The answer to a HEAD request: the header of the answer to GET, its Content-Length too, and
  // no body.
  using Head = boost::beast::http::response<boost::beast::http::empty_body>;
  std::variant<Owned, Shared, Head> message;
  std::shared_ptr<const std::string> shared_body;  // what a Shared message's body points into

  unsigned status() const;
  bool keep_alive() const;
  size_t body_bytes() const;
};

// REQUIRES: `out` not in use by a write.
// With `head_only` (a HEAD request), the body is left out and Content-Length is still its size.
void ToWireResponse(ApiResponse answer, bool keep_alive, WireResponse* out, bool head_only = false);

}  // namespace fundledger
