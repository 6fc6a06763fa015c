#include "src/gateway/upstream.h"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cerrno>
#include <chrono>
#include <deque>
#include <optional>

#include "src/util/parse_number.h"

namespace tokenaudit::gateway {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr uint64_t kMaxReplyBytes = 512ull << 20;
constexpr size_t kMaxIdle = 32;
// A pooled connection idle longer is dropped rather than reused: ComfyUI (aiohttp) closes idle
// keep-alive connections after 75 s, and a close that crosses our request on the wire is the
// one case StillOpen cannot see.
constexpr auto kMaxIdleAge = std::chrono::seconds(30);

// False when the server closed (FIN or RST) an idle pooled connection, or sent bytes nobody
// asked for: such a connection must not carry a request.
bool StillOpen(beast::tcp_stream* stream) {
  char c;
  const ssize_t n =
      ::recv(stream->socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::vector<tcp::endpoint> Resolve(net::io_context* ioc, const UpstreamUrl& url) {
  tcp::resolver r(*ioc);
  beast::error_code ec;
  auto results = r.resolve(url.host, std::to_string(url.port), ec);
  std::vector<tcp::endpoint> out;
  if (ec) return out;
  for (const auto& e : results) out.push_back(e.endpoint());
  return out;
}

}  // namespace

Result<UpstreamUrl> ParseUpstreamUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return Status::InvalidArgument("comfyui upstream must be an http:// URL");
  }
  std::string rest = url.substr(kScheme.size());
  UpstreamUrl u;
  size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    u.prefix = rest.substr(slash);
    rest = rest.substr(0, slash);
    while (!u.prefix.empty() && u.prefix.back() == '/') u.prefix.pop_back();
  }
  size_t colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    uint64_t port = 0;
    if (!ParseDecimalU64(rest.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return Status::InvalidArgument("comfyui upstream has a bad port");
    }
    u.port = static_cast<uint16_t>(port);
    rest = rest.substr(0, colon);
  }
  if (rest.size() >= 2 && rest.front() == '[' && rest.back() == ']') {
    rest = rest.substr(1, rest.size() - 2);
  }
  if (rest.empty()) return Status::InvalidArgument("comfyui upstream has no host");
  u.host = rest;
  return u;
}

// --- HTTP ------------------------------------------------------------------------------------

struct UpstreamHttp::Impl : std::enable_shared_from_this<UpstreamHttp::Impl> {
  Impl(net::io_context* i, UpstreamUrl u, uint32_t t) : ioc(i), url(std::move(u)), timeout_ms(t) {}

  net::io_context* const ioc;  // outlives the client
  const UpstreamUrl url;
  const uint32_t timeout_ms;
  std::vector<tcp::endpoint> endpoints;
  struct Idle {
    std::unique_ptr<beast::tcp_stream> stream;
    std::chrono::steady_clock::time_point since;
  };
  std::vector<Idle> idle;  // most recently used last
  bool closed = false;
};

namespace {

class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<UpstreamHttp::Impl> impl, bhttp::request<bhttp::string_body> req,
       UpstreamHttp::Callback done)
      : impl_(std::move(impl)), req_(std::move(req)), done_(std::move(done)) {}

  void Start() {
    if (impl_->closed) return Finish(Status::Unavailable("gateway shutting down"));
    while (!impl_->idle.empty()) {
      UpstreamHttp::Impl::Idle idle = std::move(impl_->idle.back());
      impl_->idle.pop_back();
      // Never send on a connection the server has closed (or may be closing): a request
      // written there may or may not have been read, and a POST must not be sent twice.
      if (std::chrono::steady_clock::now() - idle.since > kMaxIdleAge ||
          !StillOpen(idle.stream.get())) {
        continue;
      }
      stream_ = std::move(idle.stream);
      reused_ = true;
      return Send();
    }
    reused_ = false;
    if (impl_->endpoints.empty()) impl_->endpoints = Resolve(impl_->ioc, impl_->url);
    if (impl_->endpoints.empty()) return Finish(Status::Unavailable("cannot resolve ComfyUI host"));
    stream_ = std::make_unique<beast::tcp_stream>(*impl_->ioc);
    stream_->expires_after(std::chrono::milliseconds(impl_->timeout_ms));
    stream_->async_connect(impl_->endpoints,
                           [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
                             if (ec) {
                               self->impl_->endpoints.clear();  // resolve again next time
                               return self->Finish(
                                   Status::Unavailable("cannot connect to ComfyUI: " + ec.message()));
                             }
                             self->Send();
                           });
  }

 private:
  void Send() {
    stream_->expires_after(std::chrono::milliseconds(impl_->timeout_ms));
    bhttp::async_write(*stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Retry(ec);
      self->parser_.emplace();
      self->parser_->body_limit(kMaxReplyBytes);
      bhttp::async_read(*self->stream_, self->buffer_, *self->parser_,
                        [self](beast::error_code ec2, size_t) { self->OnRead(ec2); });
    });
  }

  // A pooled connection the server closed just after StillOpen; try a fresh one, once. Only
  // for a request ComfyUI certainly did not act on: one whose write failed (never complete),
  // or an idempotent one (GET, HEAD) that got no byte of an answer. A POST that was written may
  // have been queued (a prompt would run twice): its caller gets the error (a 502).
  void Retry(beast::error_code ec) {
    if (reused_ && !retried_ && !impl_->closed) {
      retried_ = true;
      stream_.reset();
      buffer_.clear();
      parser_.reset();
      reused_ = false;
      impl_->idle.clear();  // the others are probably as stale
      return Start();
    }
    Finish(Status::Unavailable("ComfyUI request failed: " + ec.message()));
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      const bool idempotent =
          req_.method() == bhttp::verb::get || req_.method() == bhttp::verb::head;
      if (idempotent && !parser_->got_some() && buffer_.size() == 0 &&
          (ec == bhttp::error::end_of_stream || ec == net::error::connection_reset ||
           ec == net::error::eof)) {
        return Retry(ec);
      }
      return Finish(Status::Unavailable("ComfyUI request failed: " + ec.message()));
    }
    auto res = parser_->release();
    UpstreamReply reply;
    reply.status = static_cast<int>(res.result_int());
    reply.body = std::move(res.body());
    for (auto field : {bhttp::field::content_type, bhttp::field::content_disposition,
                       bhttp::field::cache_control}) {
      auto it = res.find(field);
      if (it != res.end()) {
        std::string name(bhttp::to_string(field));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        reply.headers.emplace_back(std::move(name), std::string(it->value()));
      }
    }
    if (res.keep_alive() && !impl_->closed && impl_->idle.size() < kMaxIdle) {
      stream_->expires_never();
      impl_->idle.push_back({std::move(stream_), std::chrono::steady_clock::now()});
    }
    done_(std::move(reply));
  }

  void Finish(Status s) {
    stream_.reset();
    done_(std::move(s));
  }

  std::shared_ptr<UpstreamHttp::Impl> impl_;
  bhttp::request<bhttp::string_body> req_;
  UpstreamHttp::Callback done_;
  std::unique_ptr<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  bool reused_ = false;
  bool retried_ = false;
};

}  // namespace

UpstreamHttp::UpstreamHttp(net::io_context* ioc, UpstreamUrl url, uint32_t timeout_ms)
    : impl_(std::make_shared<Impl>(ioc, std::move(url), timeout_ms)) {}

UpstreamHttp::~UpstreamHttp() { Close(); }

void UpstreamHttp::Request(std::string method, std::string target, std::string content_type,
                           std::string body, Callback done) {
  bhttp::request<bhttp::string_body> req;
  req.method(bhttp::string_to_verb(method));
  req.target(impl_->url.prefix + target);
  req.version(11);
  req.set(bhttp::field::host, impl_->url.host + ":" + std::to_string(impl_->url.port));
  req.set(bhttp::field::user_agent, "tokenaudit-gateway");
  if (!content_type.empty()) req.set(bhttp::field::content_type, content_type);
  req.keep_alive(true);
  if (!body.empty() || method == "POST") {
    req.body() = std::move(body);
    req.prepare_payload();
  }
  std::make_shared<Call>(impl_, std::move(req), std::move(done))->Start();
}

void UpstreamHttp::Close() {
  impl_->closed = true;
  impl_->idle.clear();
}

// --- WebSocket -------------------------------------------------------------------------------

struct UpstreamSocket::Impl : std::enable_shared_from_this<UpstreamSocket::Impl> {
  Impl(net::io_context* i, UpstreamUrl u, std::string id, uint32_t max_ms, Handlers h)
      : ioc(i), url(std::move(u)), client_id(std::move(id)), reconnect_max_ms(max_ms),
        handlers(std::move(h)), timer(*i) {}

  void Connect() {
    if (closed) return;
    auto endpoints = Resolve(ioc, url);
    if (endpoints.empty()) return ScheduleReconnect();
    ws = std::make_unique<websocket::stream<beast::tcp_stream>>(*ioc);
    beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(10));
    beast::get_lowest_layer(*ws).async_connect(
        endpoints, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec || self->closed) return self->ScheduleReconnect();
          self->Handshake();
        });
  }

  void Handshake() {
    ws->async_handshake(url.host + ":" + std::to_string(url.port),
                        url.prefix + "/ws?clientId=" + client_id,
                        [self = shared_from_this()](beast::error_code ec) {
                          if (ec || self->closed) return self->ScheduleReconnect();
                          beast::get_lowest_layer(*self->ws).expires_never();
                          self->ws->set_option(websocket::stream_base::timeout::suggested(
                              beast::role_type::client));
                          self->ws->read_message_max(256ull << 20);
                          self->ws->text(true);
                          // Previews with metadata carry their prompt_id (protocol.md §2.4).
                          self->hello = std::make_shared<std::string>(
                              R"({"type":"feature_flags","data":{"supports_preview_metadata":true}})");
                          self->ws->async_write(
                              net::buffer(*self->hello), [self](beast::error_code ec2, size_t) {
                                if (ec2 || self->closed) return self->ScheduleReconnect();
                                self->is_connected = true;
                                self->delay_ms = 100;
                                if (self->handlers.on_connected) self->handlers.on_connected();
                                self->Read();
                              });
                        });
  }

  void Read() {
    ws->async_read(buffer, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || self->closed) return self->Lost();
      std::string data = beast::buffers_to_string(self->buffer.data());
      self->buffer.consume(self->buffer.size());
      const bool binary = !self->ws->got_text();
      if (self->handlers.on_frame) self->handlers.on_frame(binary, std::move(data));
      self->Read();
    });
  }

  void Lost() {
    const bool was = is_connected;
    is_connected = false;
    if (was && handlers.on_disconnected) handlers.on_disconnected();
    ScheduleReconnect();
  }

  void ScheduleReconnect() {
    is_connected = false;
    if (ws) {
      beast::error_code ec;
      beast::get_lowest_layer(*ws).socket().close(ec);
    }
    if (closed) return;
    timer.expires_after(std::chrono::milliseconds(delay_ms));
    delay_ms = std::min<uint32_t>(delay_ms * 2, reconnect_max_ms);
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Connect();
    });
  }

  net::io_context* const ioc;  // outlives the socket
  const UpstreamUrl url;
  const std::string client_id;
  const uint32_t reconnect_max_ms;
  Handlers handlers;
  net::steady_timer timer;
  std::unique_ptr<websocket::stream<beast::tcp_stream>> ws;
  beast::flat_buffer buffer;
  std::shared_ptr<std::string> hello;
  uint32_t delay_ms = 100;
  bool is_connected = false;
  bool closed = false;
};

UpstreamSocket::UpstreamSocket(net::io_context* ioc, UpstreamUrl url, std::string client_id,
                               uint32_t reconnect_max_ms, Handlers handlers)
    : impl_(std::make_shared<Impl>(ioc, std::move(url), std::move(client_id), reconnect_max_ms,
                                   std::move(handlers))) {}

UpstreamSocket::~UpstreamSocket() { Close(); }

void UpstreamSocket::Start() { impl_->Connect(); }
bool UpstreamSocket::connected() const { return impl_->is_connected; }

void UpstreamSocket::Close() {
  if (impl_->closed) return;
  impl_->closed = true;
  impl_->handlers = {};
  impl_->timer.cancel();
  if (impl_->ws) {
    beast::error_code ec;
    beast::get_lowest_layer(*impl_->ws).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(*impl_->ws).socket().close(ec);
  }
}

}  // namespace tokenaudit::gateway
