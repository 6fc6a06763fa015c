// The fake ComfyUI server: networking (Beast HTTP + WebSocket on one io thread), the HTTP routes,
// and the event routing of protocol.md §0.2. Prompt validation lives in fake_comfyui_validate.cc,
// the simulated run in fake_comfyui_run.cc, the shared state in fake_comfyui_state.h.

#include "test/comfy/fake_comfyui.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <simdjson.h>

#include <deque>
#include <map>
#include <thread>

#include "src/util/json_string.h"
#include "test/comfy/fake_comfyui_state.h"

namespace tokenaudit::comfy::testing {
namespace {

// An absent optional JSON field keeps the default it was initialised with.
void IgnoreAbsent(simdjson::error_code) {}

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class Server;

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, Server* server, std::string sid)
      : ws_(std::move(socket)), server_(server), sid_(std::move(sid)) {}

  void Accept(bhttp::request<bhttp::string_body> req);
  void Send(bool binary, std::string data) {
    outbox_.push_back({binary, std::move(data)});
    if (outbox_.size() == 1) WriteNext();
  }
  void Close() {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
  }
  const std::string& sid() const { return sid_; }
  bool metadata() const { return metadata_; }

 private:
  struct Frame {
    bool binary;
    std::string data;
  };
  void Read();
  void WriteNext();

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  Server* const server_;  // outlives every session (Stop joins the io thread first)
  const std::string sid_;
  std::deque<Frame> outbox_;
  bool metadata_ = false;
  bool first_text_ = true;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, Server* server) : stream_(std::move(socket)), server_(server) {}
  void Read() {
    parser_.emplace();
    parser_->body_limit(200ull << 20);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<bhttp::response<bhttp::string_body>> res_;
  Server* const server_;
};

class Server final : public FakeComfyUi, public EventSink {
 public:
  explicit Server(FakeComfyUiOptions o)
      : on_ws_write_(o.on_ws_write), state_(std::move(o), this), acceptor_(ioc_) {}
  ~Server() override { Stop(); }

  Status Listen(const std::string& host, uint16_t port) {
    beast::error_code ec;
    auto addr = net::ip::make_address(host, ec);
    if (ec) return Status::InvalidArgument("bad host");
    tcp::endpoint ep(addr, port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Status::Unavailable("fake comfyui: cannot listen: " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    Accept();
    io_thread_ = std::thread([this] { ioc_.run(); });
    state_.StartWorker();
    return Status::OK();
  }

  uint16_t port() const override { return port_; }
  size_t queue_remaining() const override { return state_.QueueRemaining(); }
  bool WaitIdle(int timeout_ms) const override { return state_.WaitIdle(timeout_ms); }
  void Stop() override {
    if (stopped_.exchange(true)) return;
    state_.StopWorker();
    net::post(ioc_, [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      for (auto& [sid, s] : sockets_) s->Close();
      for (auto& s : others_) s->Close();
      sockets_.clear();
      others_.clear();
      ioc_.stop();
    });
    if (io_thread_.joinable()) io_thread_.join();
  }

  // EventSink, from any thread. Events are queued under a lock and drained on the io thread:
  // posting each one would not keep the order, since Asio defers posts made from inside a
  // handler on the io thread until that handler returns, while other threads' posts go first.
  void Deliver(Event e) override {
    {
      MutexLock l(&events_mu_);
      events_.push_back(std::move(e));
    }
    net::post(ioc_, [this] { DrainEvents(); });
  }

  // io thread only.
  void Register(const std::shared_ptr<WsSession>& s) {
    auto it = sockets_.find(s->sid());
    if (it != sockets_.end()) others_.push_back(it->second);  // dropped from the table, still open
    sockets_[s->sid()] = s;
    s->Send(false, StatusFrame(state_.QueueRemaining(), s->sid()));
    if (auto node = state_.RunningNodeOf(s->sid())) {
      std::string data = "{\"type\":\"executing\",\"data\":{\"node\":";
      AppendJsonString(&data, *node);
      data += "}}";
      s->Send(false, std::move(data));
    }
  }
  void Unregister(const WsSession* s) {
    auto it = sockets_.find(s->sid());
    if (it != sockets_.end() && it->second.get() == s) sockets_.erase(it);
    std::erase_if(others_, [s](const auto& o) { return o.get() == s; });
  }
  FakeState& state() { return state_; }
  const FakeComfyUiOptions::WsWriteHook& on_ws_write() const { return on_ws_write_; }
  std::string system_stats_json() const { return state_.SystemStatsJson(); }

 private:
  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      socket.set_option(tcp::no_delay(true), ec);  // as aiohttp does (tcp_nodelay)
      std::make_shared<HttpSession>(std::move(socket), this)->Read();
      Accept();
    });
  }

  void DrainEvents() {
    std::deque<Event> events;
    {
      MutexLock l(&events_mu_);
      events.swap(events_);
    }
    for (Event& e : events) Route(std::move(e));
  }

  void Route(Event e) {
    auto send = [&](WsSession& s) {
      if (e.kind == Event::Kind::kPreview) {
        // Each preview event carries one encoding: type 4 for sockets that negotiated
        // supports_preview_metadata (never on broadcast), type 1 for the others.
        const bool with_metadata = !e.broadcast && s.metadata();
        const std::string& payload = with_metadata ? e.preview_with_metadata : e.data;
        if (!payload.empty()) s.Send(true, payload);
      } else {
        s.Send(e.kind == Event::Kind::kBinary, e.data);
      }
    };
    if (e.broadcast) {
      for (auto& [sid, s] : sockets_) send(*s);
      return;
    }
    // send_json: `elif sid in self.sockets` — an unconnected client_id drops the event.
    auto it = sockets_.find(e.sid);
    if (it != sockets_.end()) send(*it->second);
  }

  const FakeComfyUiOptions::WsWriteHook on_ws_write_;
  FakeState state_;
  net::io_context ioc_{1};
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread io_thread_;
  std::atomic<bool> stopped_{false};
  Mutex events_mu_;
  std::deque<Event> events_ GUARDED_BY(events_mu_);
  std::map<std::string, std::shared_ptr<WsSession>> sockets_;  // io thread only
  std::vector<std::shared_ptr<WsSession>> others_;             // replaced sids, io thread only
};

void WsSession::Accept(bhttp::request<bhttp::string_body> req) {
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    self->server_->Register(self);
    self->Read();
  });
}

void WsSession::WriteNext() {
  const Frame& f = outbox_.front();
  if (server_->on_ws_write()) server_->on_ws_write()(sid_, f.binary, f.data);
  ws_.binary(f.binary);
  ws_.async_write(net::buffer(f.data), [self = shared_from_this()](beast::error_code ec, size_t) {
    self->outbox_.pop_front();
    if (ec) {
      self->outbox_.clear();
      return;
    }
    if (!self->outbox_.empty()) self->WriteNext();
  });
}

void WsSession::Read() {
  ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) {
      self->server_->Unregister(self.get());
      return;
    }
    const std::string text = beast::buffers_to_string(self->buffer_.data());
    self->buffer_.consume(self->buffer_.size());
    // Feature negotiation counts only as the client's first text frame; all else is ignored.
    if (self->ws_.got_text() && self->first_text_) {
      self->first_text_ = false;
      simdjson::dom::parser p;
      simdjson::dom::element root;
      std::string_view type;
      bool flag = false;
      if (p.parse(simdjson::padded_string(text)).get(root) == simdjson::SUCCESS &&
          root["type"].get_string().get(type) == simdjson::SUCCESS && type == "feature_flags") {
        IgnoreAbsent(root["data"]["supports_preview_metadata"].get_bool().get(flag));
        self->metadata_ = flag;
        self->Send(false,
                   "{\"type\":\"feature_flags\",\"data\":{\"supports_preview_metadata\":true,"
                   "\"max_upload_size\":104857600}}");
      }
    }
    self->Read();
  });
}

void HttpSession::OnRead(beast::error_code ec) {
  if (ec) return;
  bhttp::request<bhttp::string_body> req = parser_->release();
  std::string target(req.target());
  std::string path = target.substr(0, target.find('?'));
  if (path.starts_with("/api/")) path = path.substr(4);  // every route is also under /api
  if (websocket::is_upgrade(req) && path == "/ws") {
    std::string sid = QueryValue(target, "clientId");
    if (sid.empty()) sid = RandomHex(32);
    auto ws = std::make_shared<WsSession>(stream_.release_socket(), server_, std::move(sid));
    ws->Accept(std::move(req));
    return;
  }
  HttpRequestView view;
  view.method = std::string(req.method_string());
  view.target = target;
  view.path = path;
  view.body = req.body();
  view.content_type = std::string(req[bhttp::field::content_type]);
  HttpReply reply = path == "/system_stats" ? HttpReply{200, kJsonType, server_->system_stats_json()}
                                            : server_->state().Handle(view);
  res_ = std::make_shared<bhttp::response<bhttp::string_body>>(
      static_cast<bhttp::status>(reply.status), req.version());
  res_->set(bhttp::field::content_type, reply.content_type);
  for (auto& [k, v] : reply.headers) res_->set(k, v);
  res_->body() = std::move(reply.body);
  res_->keep_alive(req.keep_alive());
  res_->prepare_payload();
  bhttp::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec || !self->res_->keep_alive()) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      return;
    }
    self->Read();
  });
}

}  // namespace

Result<std::unique_ptr<FakeComfyUi>> FakeComfyUi::Start(FakeComfyUiOptions options) {
  const std::string host = options.host;
  const uint16_t port = options.port;
  auto server = std::make_unique<Server>(std::move(options));
  RETURN_IF_ERROR(server->state().LoadCaptures());
  RETURN_IF_ERROR(server->Listen(host, port));
  return std::unique_ptr<FakeComfyUi>(std::move(server));
}

}  // namespace tokenaudit::comfy::testing
