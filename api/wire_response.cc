#include "api/wire_response.h"

#include <type_traits>
#include <utility>

namespace fundledger {

namespace http = boost::beast::http;

namespace {

template <typename Message>
void SetHead(const ApiResponse& answer, bool keep_alive, Message* m) {
  m->result(http::status(answer.status));
  m->version(11);
  m->set(http::field::server, "fundledger");
  m->set(http::field::content_type, answer.content_type);
  if (!answer.content_disposition.empty()) {
    m->set(http::field::content_disposition, answer.content_disposition);
  }
  if (!answer.link_next.empty()) {
    m->set(http::field::link, "<" + answer.link_next + ">; rel=\"next\"");
  }
  if (answer.retry_after_s) m->set(http::field::retry_after, std::to_string(*answer.retry_after_s));
  if (!answer.allow.empty()) m->set(http::field::allow, answer.allow);
  // Every body is what its Content-Type says, never sniffed into a script or a page.
  m->set("X-Content-Type-Options", "nosniff");
  if (answer.content_type.starts_with("text/html")) m->set("Content-Security-Policy", kPageCsp);
  m->keep_alive(keep_alive);
}

}  // namespace

void ToWireResponse(ApiResponse answer, bool keep_alive, WireResponse* out, bool head_only) {
  if (head_only) {
    WireResponse::Head& m = out->message.emplace<WireResponse::Head>();
    SetHead(answer, keep_alive, &m);
    m.content_length(answer.shared_body ? answer.shared_body->size() : answer.body.size());
    out->shared_body.reset();
  } else if (answer.shared_body) {
    WireResponse::Shared& m = out->message.emplace<WireResponse::Shared>();
    SetHead(answer, keep_alive, &m);
    out->shared_body = std::move(answer.shared_body);
    m.body() =
        http::span_body<const char>::value_type(out->shared_body->data(), out->shared_body->size());
    m.prepare_payload();
  } else {
    WireResponse::Owned& m = out->message.emplace<WireResponse::Owned>();
    SetHead(answer, keep_alive, &m);
    out->shared_body.reset();
    m.body() = std::move(answer.body);
    m.prepare_payload();
  }
}

unsigned WireResponse::status() const {
  return std::visit([](const auto& m) { return m.result_int(); }, message);
}

bool WireResponse::keep_alive() const {
  return std::visit([](const auto& m) { return m.keep_alive(); }, message);
}

size_t WireResponse::body_bytes() const {
  return std::visit(
      [](const auto& m) {
        if constexpr (std::is_same_v<std::decay_t<decltype(m)>, Head>) {
          return size_t(0);
        } else {
          return size_t(m.body().size());
        }
      },
      message);
}

}  // namespace fundledger
