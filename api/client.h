// The client side of the HTTP API, for the command line's --server verbs and the benchmark: a
// server address, one blocking HTTP/1.1 exchange, and request signing (api/auth.h).
//
// Thread safety: functions are independent; an HttpConnection is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/auth.h"
#include "crypto/status.h"

namespace fundledger {

// http://HOST[:PORT][/PREFIX] (TLS is a reverse proxy's job).
struct ServerAddress {
  std::string host;
  std::string port = "80";
  std::string prefix;  // without a trailing '/'
};
// InvalidArgument "bad_server_url" (field server) unless `url` has that form.
Status ParseServerUrl(std::string_view url, ServerAddress* out);

struct HttpReply {
  unsigned status = 0;
  std::string content_type;
  std::string link;  // the Link header, if any
  std::string body;
};

// Who signs a request: the org and its secret key.
struct RequestSigner {
  std::string org;
  const KeyPair* key = nullptr;  // not owned
};

// One kept-alive connection to a server; reconnects once if the server closed it.
class HttpConnection {
 public:
  explicit HttpConnection(ServerAddress address, int64_t timeout_ms = 60000);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends METHOD PREFIX+`target` (path and query) with `body`, signed by `signer` when given,
  // and reads the answer. IOError "http" when the server cannot be reached or the exchange
  // fails; any HTTP status is a reply, not an error.
  Status Exchange(std::string_view method, std::string_view target, std::string_view content_type,
                  std::string body, const std::optional<RequestSigner>& signer, HttpReply* out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The Status an error reply of the API ({code, message, event_id, field}) stands for, as
// Rejected/NotFound/InvalidArgument/... by its HTTP status; Ok for 2xx.
Status StatusOfReply(const HttpReply& reply);

}  // namespace fundledger
