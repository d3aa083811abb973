// Reading a request off the wire (api/http_request.h): the framing Beast accepts but the server
// refuses, on raw bytes through the parser as a session feeds it.

#include "api/http_request.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <string>

namespace fundledger {
namespace {

// The verdict on the header of `bytes`: ok, or the status the session answers with.
Status ReadHeader(const std::string& bytes) {
  FL_RETURN_IF_ERROR(CheckHeaderBytes(bytes));
  RequestParser parser;
  LimitRequestParser(16 << 10, 8 << 20, &parser);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(bytes), ec);
  if (ec) {
    std::optional<Status> status = ReadErrorStatus(ec, 16 << 10, 8 << 20);
    return status ? *status : Status::IOError("no_answer", ec.message());
  }
  return CheckFraming(parser);
}

std::string Post(const std::string& fields) {
  return "POST /v1/events HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n[{}]";
}

TEST(HttpRequestTest, PlainFramingIsRead) {
  EXPECT_TRUE(ReadHeader(Post("Content-Length: 4\r\n")).ok());
  EXPECT_TRUE(ReadHeader(Post("Transfer-Encoding: chunked\r\n")).ok());
  EXPECT_TRUE(ReadHeader(Post("transfer-encoding: Chunked\r\n")).ok());
  EXPECT_TRUE(ReadHeader("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Note: a b\r\n\r\n").ok());
  EXPECT_TRUE(ReadHeader("GET /healthz HTTP/1.0\r\n\r\n").ok());
}

TEST(HttpRequestTest, AmbiguousFramingIsRefused) {
  for (const std::string& fields : {
           // Beast reads these as requests without a body: the body would be the next request.
           std::string("Transfer-Encoding: chunked, gzip\r\n"),
           std::string("Transfer-Encoding: gzip\r\n"),
           std::string("Transfer-Encoding: xchunked\r\n"),
           // Beast keeps one of equal Content-Lengths; a proxy in front may not.
           std::string("Content-Length: 4\r\nContent-Length: 4\r\n"),
           std::string("Content-Length: 4, 4\r\n"),
           // Beast refuses these itself; they are answered now rather than left unanswered.
           std::string("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"),
           std::string("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n"),
           std::string("Content-Length: 4\r\nContent-Length: 5\r\n"),
           std::string("Content-Length : 4\r\n"),
           // obs-fold, which Beast unfolds: refused, a proxy may read it otherwise.
           std::string("Transfer-Encoding:\r\n chunked\r\n"),
           std::string("X-Note: a\r\n\tb\r\nContent-Length: 4\r\n"),
       }) {
    Status s = ReadHeader(Post(fields));
    EXPECT_EQ(s.code(), "http_malformed") << fields << " -> " << s.ToString();
  }
  Status http10 = ReadHeader("POST /v1/events HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(http10.code(), "http_malformed") << http10.ToString();
}

// A read has no body: one is refused with the header, before it is read or authenticated.
TEST(HttpRequestTest, AReadWithABodyIsRefusedWithItsHeader) {
  for (const std::string method : {"GET", "HEAD"}) {
    for (const std::string& fields :
         {std::string("Content-Length: 4\r\n"), std::string("Transfer-Encoding: chunked\r\n")}) {
      Status s = ReadHeader(method + " /v1/views/balance?project=p1 HTTP/1.1\r\nHost: x\r\n" +
                            fields + "\r\n");
      EXPECT_EQ(s.code(), "http_malformed") << method << " " << fields << s.ToString();
    }
    EXPECT_TRUE(
        ReadHeader(method + " /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").ok());
  }
}

TEST(HttpRequestTest, ObsFoldIsFoundBeforeTheHeaderIsWhole) {
  // The session checks the bytes as they come: a fold is refused before the blank line.
  EXPECT_EQ(CheckHeaderBytes("GET / HTTP/1.1\r\nX-A: a\r\n b").code(), "http_malformed");
  // Only the header is looked at: a body may hold anything.
  EXPECT_TRUE(CheckHeaderBytes("POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n\r\n a").ok());
}

TEST(HttpRequestTest, LimitsAndParseErrorsHaveTheirAnswers) {
  namespace http = boost::beast::http;
  EXPECT_EQ(ReadErrorStatus(http::error::header_limit, 1, 2)->code(), "header_too_large");
  EXPECT_EQ(ReadErrorStatus(http::error::body_limit, 1, 2)->code(), "body_too_large");
  EXPECT_EQ(ReadErrorStatus(http::error::bad_chunk, 1, 2)->code(), "http_malformed");
  // Nothing to answer: the peer went away or stopped in the middle.
  EXPECT_FALSE(ReadErrorStatus(http::error::end_of_stream, 1, 2));
  EXPECT_FALSE(ReadErrorStatus(http::error::partial_message, 1, 2));
  EXPECT_FALSE(ReadErrorStatus(boost::asio::error::connection_reset, 1, 2));
  Status bare_lf = ReadHeader("POST /v1/events HTTP/1.1\nHost: x\nContent-Length: 2\n\n[]");
  EXPECT_EQ(bare_lf.code(), "http_malformed") << bare_lf.ToString();
}

}  // namespace
}  // namespace fundledger
