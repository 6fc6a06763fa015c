// An HTTP/1.1 server on Boost.Beast/Asio with explicit limits: keep-alive, body and header size
// limits (a body over the limit is refused from Content-Length or while streaming, never
// buffered whole), idle/header/body timeouts, a connection cap, and a graceful shutdown that lets
// in-flight requests finish. Beast stays inside http_server.cc.

#ifndef TOKENAUDIT_HTTP_HTTP_SERVER_H_
#define TOKENAUDIT_HTTP_HTTP_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "src/http/http_message.h"
#include "tokenaudit/result.h"

namespace tokenaudit::http {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; see HttpServer::port()
  uint64_t max_body_bytes = 8ull << 20;
  uint32_t max_header_bytes = 16 << 10;
  uint32_t idle_timeout_ms = 60'000;    // keep-alive: waiting for the next request
  uint32_t header_timeout_ms = 10'000;  // first byte to end of headers
  uint32_t body_timeout_ms = 60'000;    // end of headers to end of body
  uint32_t max_connections = 1024;      // beyond: 503 and close
  int threads = 2;
};

struct HttpServerStats {
  uint64_t connections_open = 0;
  uint64_t connections_total = 0;
  uint64_t connections_refused = 0;  // over max_connections
  uint64_t requests_total = 0;
  uint64_t requests_in_flight = 0;
};

class HttpServer {
 public:
  // Binds, listens and starts the I/O threads. `handler` is not owned and must outlive the
  // server (until Shutdown returns). InvalidArgument for a bad host; Unavailable if the port
  // cannot be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   HttpHandler* handler);
  virtual ~HttpServer() = default;

  virtual uint16_t port() const = 0;
  // "host:port" actually bound.
  virtual std::string address() const = 0;
  virtual HttpServerStats stats() const = 0;

  // Stops accepting, waits up to `drain_ms` for requests already received to be answered, then
  // closes every connection and joins the I/O threads. Idempotent.
  virtual void Shutdown(uint32_t drain_ms) = 0;
};

}  // namespace tokenaudit::http

#endif  // TOKENAUDIT_HTTP_HTTP_SERVER_H_
