// GatewayServer: the implementation of Gateway (gateway.h), shared by gateway.cc (listener,
// authentication, WebSocket demultiplexing, upstream socket lifecycle) and gateway_routes.cc
// (the HTTP routes). Internal to src/gateway.
//
// Threading: every member below the constructor's arguments is touched only on the I/O thread
// (ioc_ runs on io_thread_ alone), except stats_copy_ (stats_mu_), stopped_ and the immutable
// options. Borrowed pointers: keys_ outlives the server (Gateway::Start's contract).

#ifndef TOKENAUDIT_GATEWAY_GATEWAY_SERVER_H_
#define TOKENAUDIT_GATEWAY_GATEWAY_SERVER_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/auth/key_store.h"
#include "src/comfy/workflow_estimate.h"
#include "src/gateway/admission.h"
#include "src/gateway/comfy_messages.h"
#include "src/gateway/gateway.h"
#include "src/gateway/run_recorder.h"
#include "src/gateway/upstream.h"
#include "src/util/mutex.h"

namespace tokenaudit::gateway {

class WsSession;

// A random version-4 UUID.
std::string NewPromptId();

struct GwRequest {
  std::string method;
  std::string target;     // as received
  std::string path;       // decoded, without the query and without a leading /api
  std::string raw_query;  // after '?', as received
  std::vector<std::pair<std::string, std::string>> query;
  std::string content_type;
  std::string authorization;
  std::string body;

  std::optional<std::string> Query(std::string_view name) const {
    for (const auto& [k, v] : query) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
};

struct GwReply {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static GwReply Json(int status, std::string body);
  // ComfyUI-shaped: {"error": {"type", "message", "details", "extra_info"}, "node_errors": {}}.
  static GwReply Error(int status, std::string_view type, std::string_view message);
};

// Who is calling, once authenticated.
struct Caller {
  auth::Principal principal;
  std::string user_key;  // tenant + user pseudonym (or key id for keys bound to no user)
};

// The owner of a prompt the gateway submitted.
struct Owner {
  std::string user_key;
  std::string client_id;  // the user's socket named in the body; empty: all their sockets
  bool active = true;     // not yet finished
};

class GatewayServer final : public Gateway {
 public:
  GatewayServer(GatewayOptions options, UpstreamUrl url, auth::KeyStore* keys,
                Gateway::RecordSink records);
  ~GatewayServer() override;

  Status Listen();

  std::string address() const override { return address_; }
  uint16_t port() const override { return port_; }
  GatewayStats stats() const override;
  void Shutdown() override;

  // I/O thread only, from here on.
  const GatewayOptions& options() const { return options_; }
  Result<Caller> Authenticate(const GwRequest& request);
  void Handle(GwRequest request, std::function<void(GwReply)> respond);
  void RegisterSocket(const std::shared_ptr<WsSession>& session);
  // A request's reply callback was destroyed uncalled (HttpSession answers it 500).
  void NoteReplyDropped();
  // False from Shutdown on; shared so that handlers destroyed with the I/O context (after the
  // server's other members) can still ask.
  std::shared_ptr<const std::atomic<bool>> live() const { return live_; }
  void UnregisterSocket(const WsSession* session);

 private:
  static constexpr size_t kMaxOwners = 50'000;

  void Accept();
  int64_t Now() const;
  void PublishStats();

  // Routes (gateway_routes.cc).
  void Route(const Caller& caller, GwRequest request, std::function<void(GwReply)> respond);
  void PostPrompt(const Caller& caller, GwRequest request, std::function<void(GwReply)> respond);
  void GetHistory(const Caller& caller, GwRequest request, std::function<void(GwReply)> respond);
  void GetQueue(const Caller& caller, std::function<void(GwReply)> respond);
  void PostQueue(const Caller& caller, GwRequest request, std::function<void(GwReply)> respond);
  void PostInterrupt(const Caller& caller, GwRequest request,
                     std::function<void(GwReply)> respond);
  void PostUpload(const Caller& caller, GwRequest request, std::function<void(GwReply)> respond);
  void GetView(const Caller& caller, GwRequest request, std::function<void(GwReply)> respond);
  void GetObjectInfo(const Caller& caller, GwRequest request,
                     std::function<void(GwReply)> respond);
  void Proxy(GwRequest request, std::function<void(GwReply)> respond);
  bool Owns(const Caller& caller, std::string_view prompt_id) const;
  ClientIdOf UserClientIds() const;

  // Events and ownership (gateway.cc).
  void OnUpstreamFrame(bool binary, std::string data);
  void OnUpstreamConnected();
  void OnUpstreamLost();
  void ReconcilePrompts(std::vector<std::string> ids, std::string lost_reason);
  void SendTerminal(const Owner& owner, const std::string& prompt_id, const std::string& status,
                    int64_t timestamp_ms);
  void SendToOwner(const Owner& owner, bool binary, const std::string& data,
                   const std::string* legacy);
  void SendStatusToAll();
  size_t QueueRemaining(const std::string& user_key) const;
  Owner* FindOwner(const std::string& prompt_id);
  void AddOwner(const std::string& prompt_id, Owner owner);
  void RemoveOwner(const std::string& prompt_id);
  void SettleIfFinished(const std::string& prompt_id);
  void AllowFile(const std::string& user_key, const ComfyFile& file);
  bool FileAllowed(const std::string& user_key, const ComfyFile& file) const;

  GatewayOptions options_;
  auth::KeyStore* const keys_;  // not owned; outlives the server
  const Gateway::RecordSink records_;

  boost::asio::io_context ioc_{1};
  boost::asio::ip::tcp::acceptor acceptor_;
  UpstreamHttp upstream_;
  const std::string client_id_;  // the gateway's own upstream client_id
  UpstreamSocket socket_;
  RunRecorder recorder_;
  Admission admission_;
  std::thread io_thread_;
  std::atomic<bool> stopped_{false};
  const std::shared_ptr<std::atomic<bool>> live_ = std::make_shared<std::atomic<bool>>(true);
  uint16_t port_ = 0;
  std::string address_;

  std::multimap<std::string, std::shared_ptr<WsSession>> sockets_;  // by user_key
  std::map<std::string, Owner> owners_;                             // by prompt_id
  std::deque<std::string> owner_order_;
  std::map<std::string, size_t> active_per_user_;
  std::map<std::string, comfy::UploadIndex> uploads_;     // by user_key
  std::map<std::string, std::set<std::string>> files_;    // /view allow-list by user_key
  GatewayStats stats_;

  mutable Mutex stats_mu_;
  GatewayStats stats_copy_ GUARDED_BY(stats_mu_);
};

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_GATEWAY_SERVER_H_
