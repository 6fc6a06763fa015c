// The gateway's listener (Beast HTTP + WebSocket on one port), authentication, WebSocket
// demultiplexing and the upstream WebSocket's lifecycle. The per-route handlers are in
// gateway_routes.cc; both work on GatewayServer (gateway_server.h).

#include "src/gateway/gateway.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>

#include "src/gateway/coalescing_stream.h"
#include "src/gateway/gateway_server.h"
#include "src/gateway/reply_once.h"
#include "src/http/http_message.h"
#include "src/util/hex.h"
#include "src/util/json_string.h"
#include "src/util/random.h"

namespace tokenaudit::gateway {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string RandomHex(size_t bytes) {
  std::string raw;
  while (raw.size() < bytes) {
    uint64_t v = SecureRandomU64();
    raw.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  raw.resize(bytes);
  return HexEncode(raw);
}

}  // namespace

std::string NewPromptId() {
  // A random (version 4) UUID, as ComfyUI makes them.
  std::string h = RandomHex(16);
  h[12] = '4';
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3];
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

// --- downstream WebSocket --------------------------------------------------------------------

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket socket, GatewayServer* server, Caller caller, std::string client_id)
      : ws_(std::move(socket)), server_(server), caller_(std::move(caller)),
        client_id_(std::move(client_id)) {}

  void Accept(bhttp::request<bhttp::string_body> req) {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.read_message_max(64 << 10);
    ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->server_->RegisterSocket(self);
      self->Read();
    });
  }

  void Send(bool binary, std::string data) {
    if (closed_) return;
    if (outbox_bytes_ + ws_.next_layer().buffered() > CoalescingStream::kMaxBuffered) {
      // A client that stopped reading: let it go.
      Close();
      return;
    }
    outbox_bytes_ += data.size();
    outbox_.push_back({binary, std::move(data)});
    if (outbox_.size() == 1) WriteNext();
  }

  void Close() {
    closed_ = true;
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  const Caller& caller() const { return caller_; }
  const std::string& client_id() const { return client_id_; }
  bool metadata() const { return metadata_; }
  // The queue_remaining of the last `status` frame sent; -1 before the first.
  int64_t last_status() const { return last_status_; }
  void set_last_status(int64_t n) { last_status_ = n; }

 private:
  struct Frame {
    bool binary;
    std::string data;
  };

  void WriteNext() {
    ws_.binary(outbox_.front().binary);
    ws_.async_write(net::buffer(outbox_.front().data),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      self->outbox_bytes_ -= self->outbox_.front().data.size();
                      self->outbox_.pop_front();
                      if (ec) {
                        self->outbox_.clear();
                        self->outbox_bytes_ = 0;
                        return;
                      }
                      if (!self->outbox_.empty()) self->WriteNext();
                    });
  }

  void Read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->closed_ = true;
        self->server_->UnregisterSocket(self.get());
        return;
      }
      const std::string text = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      // Feature negotiation counts only as the client's first text frame (protocol.md §2).
      if (self->ws_.got_text() && self->first_text_) {
        self->first_text_ = false;
        if (text.find("\"feature_flags\"") != std::string::npos &&
            text.find("\"supports_preview_metadata\":true") != std::string::npos) {
          self->metadata_ = true;
          self->Send(false,
                     "{\"type\":\"feature_flags\",\"data\":{\"supports_preview_metadata\":true,"
                     "\"max_upload_size\":104857600}}");
        }
      }
      self->Read();
    });
  }

  websocket::stream<CoalescingStream> ws_;
  beast::flat_buffer buffer_;
  GatewayServer* const server_;  // outlives every session (Shutdown joins the I/O thread first)
  const Caller caller_;
  const std::string client_id_;
  std::deque<Frame> outbox_;
  size_t outbox_bytes_ = 0;
  bool metadata_ = false;
  bool first_text_ = true;
  bool closed_ = false;
  int64_t last_status_ = -1;
};

// --- downstream HTTP -------------------------------------------------------------------------

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket socket, GatewayServer* server)
      : stream_(std::move(socket)), server_(server) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(server_->options().max_body_bytes);
    parser_->header_limit(16 << 10);
    stream_.expires_after(std::chrono::milliseconds(server_->options().idle_timeout_ms));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec == bhttp::error::body_limit) {
      return Write(11, false, GwReply::Error(413, "request_too_large", "request body too large"));
    }
    if (ec) {
      // No byte of a request: the client closed its idle connection, or left it idle past
      // idle_timeout_ms (closed; doc/gateway.md, "Connections"). Part of one that stopped
      // coming (client gone, or too slow: the timeout closed the socket): nobody to answer.
      // Anything else is a request we cannot parse, and it is answered.
      if (!parser_->got_some() && buffer_.size() == 0) return;
      if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream ||
          ec == bhttp::error::partial_message || ec == net::error::eof ||
          ec == net::error::connection_reset || ec == net::error::operation_aborted) {
        return;
      }
      if (ec == bhttp::error::header_limit) {
        return Write(11, false,
                     GwReply::Error(431, "request_header_too_large", "request header too large"));
      }
      return Write(11, false,
                   GwReply::Error(400, "bad_request", "malformed HTTP request: " + ec.message()));
    }
    bhttp::request<bhttp::string_body> req = parser_->release();
    stream_.expires_never();
    GwRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    const size_t q = r.target.find('?');
    r.path = http::PercentDecode(r.target.substr(0, q), false);
    r.raw_query = q == std::string::npos ? "" : r.target.substr(q + 1);
    r.query = http::ParseQuery(r.raw_query);
    r.content_type = std::string(req[bhttp::field::content_type]);
    r.authorization = std::string(req[bhttp::field::authorization]);
    r.body = std::move(req.body());
    // Every ComfyUI route is also under /api (protocol.md §1).
    if (r.path.rfind("/api/", 0) == 0) r.path = r.path.substr(4);
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    if (websocket::is_upgrade(req) && r.path == "/ws") {
      Result<Caller> caller = server_->Authenticate(r);
      if (!caller.ok()) {
        return Write(version, false,
                     GwReply::Error(401, "unauthorized", std::string(caller.status().message())));
      }
      std::string client_id;
      for (auto& [k, v] : r.query) {
        if (k == "clientId") client_id = v;
      }
      if (client_id.empty()) client_id = RandomHex(16);
      stream_.expires_never();
      auto ws = std::make_shared<WsSession>(stream_.release_socket(), server_, std::move(*caller),
                                            std::move(client_id));
      ws->Accept(std::move(req));
      return;
    }
    // A reply lost inside the gateway (a bug) still answers the client, 500, and is counted
    // (GatewayStats::replies_dropped; tests check it stays 0). Not while shutting down: the
    // handlers destroyed with the I/O context go with their connections.
    auto self = shared_from_this();
    server_->Handle(
        std::move(r),
        ReplyOnce<GwReply>(
            [self, version, keep_alive](GwReply reply) {
              self->Write(version, keep_alive, std::move(reply));
            },
            [self, version, live = server_->live()] {
              if (!live->load()) return;
              self->server_->NoteReplyDropped();
              self->Write(version, false,
                          GwReply::Error(500, "internal_error",
                                         "the gateway lost the reply to this request"));
            }));
  }

  void Write(unsigned version, bool keep_alive, GwReply reply) {
    res_ = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(reply.status), version);
    if (!reply.content_type.empty()) res_->set(bhttp::field::content_type, reply.content_type);
    for (auto& [k, v] : reply.headers) res_->set(k, v);
    res_->body() = std::move(reply.body);
    res_->keep_alive(keep_alive);
    res_->prepare_payload();
    stream_.expires_after(std::chrono::seconds(60));
    bhttp::async_write(stream_, *res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->res_->keep_alive()) {
        beast::error_code ignored;
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        return;
      }
      self->Read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::shared_ptr<bhttp::response<bhttp::string_body>> res_;
  GatewayServer* const server_;  // outlives every session
};

// --- GatewayServer: lifecycle, auth, sockets, demux -------------------------------------------

GwReply GwReply::Json(int status, std::string body) {
  GwReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

GwReply GwReply::Error(int status, std::string_view type, std::string_view message) {
  return Json(status, ComfyErrorJson(type, message, ""));
}

GatewayServer::GatewayServer(GatewayOptions options, UpstreamUrl url, auth::KeyStore* keys,
                             Gateway::RecordSink records)
    : options_(std::move(options)),
      keys_(keys),
      records_(std::move(records)),
      acceptor_(ioc_),
      upstream_(&ioc_, url, options_.upstream_timeout_ms),
      client_id_("tokenaudit-gw-" + RandomHex(8)),
      socket_(&ioc_, url, client_id_, options_.reconnect_max_ms,
              UpstreamSocket::Handlers{[this] { OnUpstreamConnected(); },
                                       [this] { OnUpstreamLost(); },
                                       [this](bool binary, std::string data) {
                                         OnUpstreamFrame(binary, std::move(data));
                                       }}),
      recorder_(options_.source,
                [this](UsageRecord r) {
                  ++stats_.records;
                  records_(std::move(r));
                }),
      admission_(options_.admission) {
  if (!options_.now_us) {
    options_.now_us = [] {
      return std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

GatewayServer::~GatewayServer() { Shutdown(); }

Status GatewayServer::Listen() {
  beast::error_code ec;
  auto addr = net::ip::make_address(options_.host, ec);
  if (ec) return Status::InvalidArgument("gateway: bad listen host");
  tcp::endpoint ep(addr, options_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable("gateway: cannot listen: " + ec.message());
  const tcp::endpoint bound = acceptor_.local_endpoint();
  port_ = bound.port();
  address_ = (bound.address().is_v6() ? "[" + bound.address().to_string() + "]"
                                      : bound.address().to_string()) +
             ":" + std::to_string(port_);
  Accept();
  socket_.Start();
  io_thread_ = std::thread([this] { ioc_.run(); });
  return Status::OK();
}

void GatewayServer::Accept() {
  acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) return;
    socket.set_option(tcp::no_delay(true), ec);
    std::make_shared<HttpSession>(std::move(socket), this)->Read();
    Accept();
  });
}

void GatewayServer::Shutdown() {
  if (stopped_.exchange(true)) return;
  live_->store(false);
  net::post(ioc_, [this] {
    beast::error_code ec;
    acceptor_.close(ec);
    socket_.Close();
    upstream_.Close();
    for (auto& [user, s] : sockets_) s->Close();
    sockets_.clear();
    ioc_.stop();
  });
  if (io_thread_.joinable()) io_thread_.join();
}

GatewayStats GatewayServer::stats() const {
  MutexLock l(&stats_mu_);
  return stats_copy_;
}

void GatewayServer::PublishStats() {
  MutexLock l(&stats_mu_);
  stats_copy_ = stats_;
}

Result<Caller> GatewayServer::Authenticate(const GwRequest& r) {
  std::string_view key;
  constexpr std::string_view kBearer = "Bearer ";
  if (r.authorization.size() > kBearer.size() &&
      std::equal(kBearer.begin(), kBearer.end(), r.authorization.begin(),
                 [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    key = std::string_view(r.authorization).substr(kBearer.size());
  } else {
    for (auto& [k, v] : r.query) {
      if (k == "token") key = v;
    }
  }
  if (key.empty()) {
    return Status::Unauthenticated(
        "a tokenaudit key is required: Authorization: Bearer <key>, or ?token=<key>");
  }
  ASSIGN_OR_RETURN(auth::Principal p, keys_->Authenticate(key));
  if (p.role == auth::Role::kIngest) {
    return Status::PermissionDenied("ingest keys cannot use the ComfyUI gateway");
  }
  Caller c;
  c.principal = std::move(p);
  c.user_key = c.principal.tenant + "\x1f" +
               (c.principal.user_pseudonym.empty() ? "key:" + c.principal.key_id
                                                   : c.principal.user_pseudonym);
  return c;
}

int64_t GatewayServer::Now() const { return options_.now_us(); }

void GatewayServer::NoteReplyDropped() {
  ++stats_.replies_dropped;
  PublishStats();
}

void GatewayServer::RegisterSocket(const std::shared_ptr<WsSession>& s) {
  sockets_.emplace(s->caller().user_key, s);
  // First frame, as ComfyUI sends it: the queue (this user's) and the socket's sid.
  const size_t queued = QueueRemaining(s->caller().user_key);
  s->set_last_status(static_cast<int64_t>(queued));
  std::string frame = "{\"type\":\"status\",\"data\":{\"status\":{\"exec_info\":{\"queue_remaining\":" +
                      std::to_string(queued) + "}},\"sid\":";
  AppendJsonString(&frame, s->client_id());
  frame += "}}";
  s->Send(false, std::move(frame));
}

void GatewayServer::UnregisterSocket(const WsSession* s) {
  auto range = sockets_.equal_range(s->caller().user_key);
  for (auto it = range.first; it != range.second; ++it) {
    if (it->second.get() == s) {
      sockets_.erase(it);
      return;
    }
  }
}

size_t GatewayServer::QueueRemaining(const std::string& user_key) const {
  auto it = active_per_user_.find(user_key);
  return it == active_per_user_.end() ? 0 : it->second;
}

void GatewayServer::SendToOwner(const Owner& owner, bool binary, const std::string& data,
                                const std::string* legacy) {
  auto range = sockets_.equal_range(owner.user_key);
  for (auto it = range.first; it != range.second; ++it) {
    WsSession& s = *it->second;
    if (!owner.client_id.empty() && s.client_id() != owner.client_id) continue;
    if (legacy != nullptr && !s.metadata()) {
      if (!legacy->empty()) s.Send(true, *legacy);
    } else {
      s.Send(binary, data);
    }
  }
}

void GatewayServer::SendStatusToAll() {
  // ComfyUI broadcasts `status` to every socket at every queue change of anyone. Each socket gets
  // it only when its own user's count changed: another user's activity stays invisible, and a
  // busy gateway does not send every user a frame per prompt of everyone.
  for (auto& [user_key, s] : sockets_) {
    const int64_t queued = static_cast<int64_t>(QueueRemaining(user_key));
    if (s->last_status() == queued) continue;
    s->set_last_status(queued);
    s->Send(false, "{\"type\":\"status\",\"data\":{\"status\":{\"exec_info\":{\"queue_remaining\":" +
                       std::to_string(queued) + "}}}}");
  }
}

Owner* GatewayServer::FindOwner(const std::string& prompt_id) {
  auto it = owners_.find(prompt_id);
  return it == owners_.end() ? nullptr : &it->second;
}

void GatewayServer::AddOwner(const std::string& prompt_id, Owner owner) {
  ++active_per_user_[owner.user_key];
  owners_[prompt_id] = std::move(owner);
  owner_order_.push_back(prompt_id);
  while (owner_order_.size() > kMaxOwners) {
    auto it = owners_.find(owner_order_.front());
    if (it != owners_.end() && !it->second.active) owners_.erase(it);
    owner_order_.pop_front();
  }
}

void GatewayServer::SettleIfFinished(const std::string& prompt_id) {
  Owner* o = FindOwner(prompt_id);
  if (o == nullptr || !o->active || recorder_.Outcome(prompt_id).empty()) return;
  o->active = false;
  auto it = active_per_user_.find(o->user_key);
  if (it != active_per_user_.end() && it->second > 0 && --it->second == 0) {
    active_per_user_.erase(it);
  }
}

void GatewayServer::RemoveOwner(const std::string& prompt_id) {
  Owner* o = FindOwner(prompt_id);
  if (o == nullptr) return;
  if (o->active) {
    auto it = active_per_user_.find(o->user_key);
    if (it != active_per_user_.end() && it->second > 0 && --it->second == 0) {
      active_per_user_.erase(it);
    }
  }
  owners_.erase(prompt_id);
}

void GatewayServer::OnUpstreamFrame(bool binary, std::string data) {
  const int64_t now = Now();
  if (binary) {
    // Previews with metadata name their prompt; type 1 previews and TEXT frames carry none and
    // belong to the prompt running now (one at a time per ComfyUI, protocol.md §0.1).
    std::optional<uint32_t> type = BinaryEventType(data);
    if (!type) return;
    std::string prompt_id =
        *type == kPreviewImageWithMetadata ? PreviewPromptId(data) : recorder_.running();
    Owner* owner = FindOwner(prompt_id);
    if (owner == nullptr) return;
    if (*type == kPreviewImageWithMetadata) {
      std::string legacy = PreviewToLegacy(data).value_or("");
      SendToOwner(*owner, true, data, &legacy);
    } else {
      SendToOwner(*owner, true, data, nullptr);
    }
    return;
  }
  Result<UpstreamEvent> parsed = ParseUpstreamEvent(data);
  if (!parsed.ok()) return;
  const UpstreamEvent& e = *parsed;
  if (e.type == "status") {
    SendStatusToAll();
    return;
  }
  std::string prompt_id = e.prompt_id;
  if (prompt_id.empty() && e.type == "executing") prompt_id = recorder_.running();
  Owner* owner = FindOwner(prompt_id);
  if (owner == nullptr) return;  // not a prompt of the gateway's users (or feature_flags)
  const bool reconcile = recorder_.OnEvent(e, now);
  for (const ComfyFile& f : e.output_files) AllowFile(owner->user_key, f);
  SendToOwner(*owner, false, data, nullptr);
  SettleIfFinished(prompt_id);
  if (reconcile) ReconcilePrompts({prompt_id}, "upstream_lost");
  PublishStats();
}

void GatewayServer::OnUpstreamConnected() {
  ++stats_.upstream_connects;
  PublishStats();
  // Anything that ran while the socket was down is in /history (protocol.md §0.3).
  std::vector<std::string> gap = recorder_.ActiveWithGap();
  if (!gap.empty()) ReconcilePrompts(std::move(gap), "upstream_lost");
}

void GatewayServer::OnUpstreamLost() { recorder_.MarkGap(); }

void GatewayServer::ReconcilePrompts(std::vector<std::string> ids, std::string lost_reason) {
  upstream_.Request(
      "GET", "/queue", "", "",
      [this, ids = std::move(ids), lost_reason](Result<UpstreamReply> queue) {
        if (!queue.ok() || queue->status != 200) return;  // retried at the next reconnect
        auto queued = QueuePromptIds(queue->body);
        if (!queued.ok()) return;
        for (const std::string& id : ids) {
          const bool in_queue =
              std::find(queued->begin(), queued->end(), id) != queued->end();
          upstream_.Request(
              "GET", "/history/" + id, "", "",
              [this, id, in_queue, lost_reason](Result<UpstreamReply> hist) {
                if (!hist.ok() || hist->status != 200) return;
                auto h = ParseHistoryEntry(hist->body, id);
                if (!h.ok()) return;
                Owner* owner = FindOwner(id);
                if (owner == nullptr || !owner->active) return;
                for (const ComfyFile& f : h->output_files) AllowFile(owner->user_key, f);
                const int64_t now = Now();
                if (h->finished) {
                  recorder_.Reconcile(id, *h, now);
                  ++stats_.reconciled;
                  SendTerminal(*owner, id, h->status, h->end_ms.value_or(now / 1000));
                } else if (!h->found && !in_queue) {
                  const bool deleted = lost_reason == "deleted_from_queue";
                  recorder_.Lost(id, deleted ? "interrupted" : "error", lost_reason, now);
                  SendTerminal(*owner, id, deleted ? "interrupted" : "error", now / 1000);
                } else {
                  return;  // still queued or running: the live events finish it
                }
                SettleIfFinished(id);
                SendStatusToAll();
                PublishStats();
              });
        }
      });
}

void GatewayServer::SendTerminal(const Owner& owner, const std::string& prompt_id,
                                 const std::string& status, int64_t timestamp_ms) {
  // The user's socket missed the end too: tell it, in ComfyUI's words.
  const std::string type = status == "success"       ? "execution_success"
                           : status == "interrupted" ? "execution_interrupted"
                                                     : "execution_error";
  std::string frame = "{\"type\":\"" + type + "\",\"data\":{\"prompt_id\":";
  AppendJsonString(&frame, prompt_id);
  frame += ",\"timestamp\":" + std::to_string(timestamp_ms) + "}}";
  SendToOwner(owner, false, frame, nullptr);
  std::string done = "{\"type\":\"executing\",\"data\":{\"node\":null,\"prompt_id\":";
  AppendJsonString(&done, prompt_id);
  done += "}}";
  SendToOwner(owner, false, done, nullptr);
}

void GatewayServer::AllowFile(const std::string& user_key, const ComfyFile& f) {
  files_[user_key].insert(f.type + "\x1f" + f.subfolder + "\x1f" + f.filename);
}

bool GatewayServer::FileAllowed(const std::string& user_key, const ComfyFile& f) const {
  auto it = files_.find(user_key);
  return it != files_.end() && it->second.count(f.type + "\x1f" + f.subfolder + "\x1f" + f.filename);
}

Result<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options, auth::KeyStore* keys,
                                                RecordSink records) {
  ASSIGN_OR_RETURN(UpstreamUrl url, ParseUpstreamUrl(options.upstream));
  auto server = std::make_unique<GatewayServer>(std::move(options), url, keys, std::move(records));
  RETURN_IF_ERROR(server->Listen());
  return std::unique_ptr<Gateway>(std::move(server));
}

}  // namespace tokenaudit::gateway
