// The gateway's connections to the upstream ComfyUI, on the gateway's I/O context:
// UpstreamHttp, an HTTP/1.1 client with a pool of keep-alive connections, and UpstreamSocket,
// the gateway's one WebSocket (its own client_id) that reconnects with backoff. Internal to
// src/gateway; every method and callback runs on the I/O thread.

#ifndef TOKENAUDIT_GATEWAY_UPSTREAM_H_
#define TOKENAUDIT_GATEWAY_UPSTREAM_H_

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenaudit/result.h"

namespace tokenaudit::gateway {

// "http://host[:port][/prefix]".
struct UpstreamUrl {
  std::string host;
  uint16_t port = 80;
  std::string prefix;  // "" or "/path" without a trailing slash
};
Result<UpstreamUrl> ParseUpstreamUrl(const std::string& url);

struct UpstreamReply {
  int status = 0;
  std::string body;
  // Content-Type, Content-Disposition, Cache-Control as received (names lower-case).
  std::vector<std::pair<std::string, std::string>> headers;
};

class UpstreamHttp {
 public:
  using Callback = std::function<void(Result<UpstreamReply>)>;

  // `ioc` must outlive the client.
  UpstreamHttp(boost::asio::io_context* ioc, UpstreamUrl url, uint32_t timeout_ms);
  ~UpstreamHttp();
  UpstreamHttp(const UpstreamHttp&) = delete;
  UpstreamHttp& operator=(const UpstreamHttp&) = delete;

  // Sends `method target` (target without the prefix) with no Origin header; `done` is called
  // exactly once, with the reply, or Unavailable when the connection fails or times out. A
  // pooled connection the server has closed (or that idled 30 s) is not used. A request on a
  // pooled connection that fails is retried once on a new connection only when ComfyUI cannot
  // have acted on it: its write failed, or it is a GET/HEAD that got no byte of an answer. A
  // POST whose connection closed after it was written is never re-sent (Unavailable).
  void Request(std::string method, std::string target, std::string content_type,
               std::string body, Callback done);
  // Closes pooled connections; requests in flight complete with an error.
  void Close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

class UpstreamSocket {
 public:
  struct Handlers {
    std::function<void()> on_connected;     // after the handshake (and feature_flags sent)
    std::function<void()> on_disconnected;  // a connected socket was lost
    std::function<void(bool binary, std::string data)> on_frame;
  };

  // Connects to `/ws?clientId=<client_id>` and keeps reconnecting (100 ms doubling up to
  // `reconnect_max_ms`) until Close().
  UpstreamSocket(boost::asio::io_context* ioc, UpstreamUrl url, std::string client_id,
                 uint32_t reconnect_max_ms, Handlers handlers);
  ~UpstreamSocket();
  UpstreamSocket(const UpstreamSocket&) = delete;
  UpstreamSocket& operator=(const UpstreamSocket&) = delete;

  void Start();
  bool connected() const;
  void Close();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_UPSTREAM_H_
