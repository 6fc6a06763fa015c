// HttpTransport: POSTs request bodies to one URL over a reused (keep-alive) HTTP/1.1 connection.
// The adapter around libcurl; no other file includes curl.
//
// Thread-compatible: one thread makes the requests; Abort() may be called from any thread.

#ifndef TOKENAUDIT_CLIENT_HTTP_TRANSPORT_H_
#define TOKENAUDIT_CLIENT_HTTP_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tokenaudit/result.h"

namespace tokenaudit::client {

struct TransportOptions {
  std::string url;           // full URL requests go to
  std::string content_type;  // of the request bodies
  std::string bearer_token;  // "Authorization: Bearer <token>" when not empty
  uint32_t connect_timeout_ms = 2000;
  uint32_t request_timeout_ms = 10000;
};

struct HttpReply {
  // 0 when no HTTP answer was received (connection refused or reset, timeout, abort); `error`
  // then says why.
  int status = 0;
  std::string body;
  uint64_t retry_after_ms = 0;  // from a Retry-After header in seconds; 0 when absent
  std::string error;
};

class HttpTransport {
 public:
  // InvalidArgument if the URL is not http:// or https://; Internal if libcurl cannot start.
  static Result<std::unique_ptr<HttpTransport>> Create(const TransportOptions& options);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Sends one POST to the URL and waits for the whole answer (at most request_timeout_ms).
  HttpReply Post(std::string_view body);
  // Sends one GET to `url` (any http(s) URL) on the same connection settings.
  HttpReply Get(const std::string& url);

  // Makes the request in flight, and every later one, end soon with status 0 ("aborted").
  void Abort() { aborted_.store(true, std::memory_order_relaxed); }

 private:
  struct Impl;
  explicit HttpTransport(std::unique_ptr<Impl> impl);
  HttpReply Perform();

  std::unique_ptr<Impl> impl_;
  std::atomic<bool> aborted_{false};
};

}  // namespace tokenaudit::client

#endif  // TOKENAUDIT_CLIENT_HTTP_TRANSPORT_H_
