// A TCP connection of the tests' own to a server on a loopback port, which may send anything:
// for clients that misbehave (half requests, idle or vanishing connections, bytes no HTTP client
// would send) and for reading the server's answer exactly as it was written.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

namespace fundledger::test {

struct HttpAnswer {
  unsigned status = 0;  // 0: the connection closed without an answer
  std::string head;
  std::string body;
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:`port`; every read gives up after `timeout_seconds`. With
  // `receive_buffer_bytes`, the socket's receive buffer is that small (the kernel doubles it), so
  // that what the client has not read holds the server's writes back.
  explicit RawConnection(uint16_t port, int timeout_seconds = 5, int receive_buffer_bytes = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer_bytes > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof(receive_buffer_bytes));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    timeval timeout{timeout_seconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~RawConnection() { Close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Sends all of `bytes`; false if the server closed the connection first (it may answer a
  // request before reading all of it).
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(size_t(n));
    }
    return true;
  }

  // The first bytes the server sends (at most `bytes_max`); empty once it has closed.
  std::string ReadSome(size_t bytes_max = 4096) {
    std::string buffer(bytes_max, '\0');
    ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    buffer.resize(n > 0 ? size_t(n) : 0);
    return buffer;
  }

  // Everything until the server closes the connection (or the timeout passes).
  std::string ReadToClose() {
    std::string out;
    char buffer[4096];
    for (;;) {
      ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      out.append(buffer, size_t(n));
    }
    return out;
  }

  // The first answer: the head, then Content-Length bytes of body (or up to the close).
  HttpAnswer ReadAnswer() {
    HttpAnswer answer;
    std::string data;
    size_t head_end = std::string::npos;
    size_t body_bytes = std::string::npos;
    char buffer[16384];
    for (;;) {
      if (head_end == std::string::npos) head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos && body_bytes == std::string::npos) {
        answer.head = data.substr(0, head_end);
        std::string lower = answer.head;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        size_t at = lower.find("\r\ncontent-length:");
        body_bytes = at == std::string::npos ? 0 : std::stoul(lower.substr(at + 17));
      }
      if (body_bytes != std::string::npos && data.size() >= head_end + 4 + body_bytes) break;
      ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      data.append(buffer, size_t(n));
    }
    if (head_end == std::string::npos || data.compare(0, 9, "HTTP/1.1 ") != 0) return answer;
    answer.status = unsigned(std::stoul(data.substr(9, 3)));
    answer.body = data.substr(head_end + 4, body_bytes);
    return answer;
  }

 private:
  int fd_ = -1;
};

}  // namespace fundledger::test
