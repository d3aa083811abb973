// The HTTP messages answers are written as (api/wire_response.h): a shared body is written from
// the shared bytes, with the same bytes on the wire as an owned copy would give.

#include "api/wire_response.h"

#include <gtest/gtest.h>

#include <boost/beast/http/write.hpp>
#include <sstream>

namespace fundledger::testing {
namespace {

template <typename Message>
std::string OnTheWire(const Message& m) {
  std::ostringstream out;
  out << m;
  return out.str();
}

ApiResponse Answer() {
  ApiResponse answer;
  answer.status = 200;
  answer.content_type = "text/csv; charset=utf-8";
  answer.content_disposition = "attachment; filename=\"disbursements.csv\"";
  answer.link_next = "/v1/public/export/disbursements.csv?region=&page=2";
  return answer;
}

TEST(WireResponse, ASharedBodyIsWrittenFromTheSharedBytesNotACopy) {
  auto body = std::make_shared<const std::string>(std::string(3 << 20, 'a') + "\n,\"x\"\n");
  ApiResponse shared = Answer();
  shared.shared_body = body;
  WireResponse wire;
  ToWireResponse(shared, true, &wire);
  const auto* message = std::get_if<WireResponse::Shared>(&wire.message);
  ASSERT_NE(message, nullptr);
  EXPECT_EQ(message->body().data(), body->data()) << "the body was copied";
  EXPECT_EQ(wire.shared_body.get(), body.get());
  EXPECT_EQ(wire.body_bytes(), body->size());

  // The same bytes on the wire as the body owned by the message.
  ApiResponse owned = Answer();
  owned.body = *body;
  WireResponse copy;
  ToWireResponse(owned, true, &copy);
  ASSERT_TRUE(std::holds_alternative<WireResponse::Owned>(copy.message));
  EXPECT_EQ(copy.shared_body, nullptr);
  const std::string written = OnTheWire(*message);
  EXPECT_EQ(written, OnTheWire(std::get<WireResponse::Owned>(copy.message)));
  EXPECT_NE(written.find("Content-Length: " + std::to_string(body->size())), std::string::npos);
  EXPECT_NE(written.find("Link: </v1/public/export/disbursements.csv?region=&page=2>; "
                         "rel=\"next\""),
            std::string::npos);

  // The shared bytes outlive the cache's hold on them while the message is written.
  std::weak_ptr<const std::string> weak = body;
  body.reset();
  shared.shared_body.reset();
  EXPECT_FALSE(weak.expired());
  wire = WireResponse();
  EXPECT_TRUE(weak.expired());
}

TEST(WireResponse, HeadersOfAnOwnedAnswer) {
  ApiResponse answer;
  answer.status = 503;
  answer.body = R"({"code":"queue_full"})";
  answer.retry_after_s = 1;
  WireResponse wire;
  ToWireResponse(answer, false, &wire);
  EXPECT_EQ(wire.status(), 503u);
  EXPECT_FALSE(wire.keep_alive());
  const std::string written = OnTheWire(std::get<WireResponse::Owned>(wire.message));
  EXPECT_EQ(written.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << written;
  EXPECT_NE(written.find("Retry-After: 1\r\n"), std::string::npos) << written;
  EXPECT_NE(written.find("Connection: close\r\n"), std::string::npos) << written;
  EXPECT_NE(written.find("Server: fundledger\r\n"), std::string::npos) << written;
  EXPECT_EQ(written.substr(written.size() - answer.body.size()), answer.body);
  EXPECT_NE(written.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos) << written;
  EXPECT_EQ(written.find("Content-Security-Policy"), std::string::npos) << written;
}

// A page, and only a page, carries the policy that keeps its scripts to this server's files.
TEST(WireResponse, APageCarriesItsContentSecurityPolicy) {
  ApiResponse answer;
  answer.content_type = "text/html; charset=utf-8";
  answer.body = "<!doctype html>";
  WireResponse wire;
  ToWireResponse(answer, true, &wire);
  const std::string written = OnTheWire(std::get<WireResponse::Owned>(wire.message));
  EXPECT_NE(written.find(std::string("Content-Security-Policy: ") + kPageCsp + "\r\n"),
            std::string::npos)
      << written;
  EXPECT_NE(std::string(kPageCsp).find("script-src 'self';"), std::string::npos);
  EXPECT_NE(written.find("X-Content-Type-Options: nosniff\r\n"), std::string::npos) << written;
}

}  // namespace
}  // namespace fundledger::testing
