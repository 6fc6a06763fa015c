// The ComfyUI gateway (doc/gateway.md): a listener that speaks ComfyUI's HTTP and WebSocket API
// (../shared/reference/comfyui/protocol.md) in front of one ComfyUI, so a user changes only the
// URL and adds a tokenaudit key. It authenticates every request, lets each user see and touch
// only their own prompts, files and events, checks limits before a prompt reaches ComfyUI, and
// turns every model node run into a usage record handed to `records`.
//
// Threads: one I/O thread runs every connection, upstream call and the upstream WebSocket; all
// gateway state is confined to it. `records` is called on that thread and must not block (the
// client library's Record() does not).

#ifndef TOKENAUDIT_GATEWAY_GATEWAY_H_
#define TOKENAUDIT_GATEWAY_GATEWAY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "src/auth/key_store.h"
#include "src/comfy/node_catalog.h"
#include "src/gateway/admission.h"
#include "src/ingest/cost_table.h"
#include "tokenaudit/result.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::gateway {

struct GatewayOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; see Gateway::address()
  // ComfyUI base URL, "http://host[:port][/prefix]" (https is not supported).
  std::string upstream;
  // `source` of every record; with the record id, the ingest idempotency key.
  std::string source = "comfyui-gateway";
  comfy::NodeCatalog catalog = comfy::NodeCatalog::Default();
  ingest::CostTable costs = ingest::CostTable::Default();
  AdmissionOptions admission;
  // Refuse prompts whose LoadImage names a file this user did not upload through the gateway
  // (another user's upload, or a file already on the ComfyUI host).
  bool require_own_uploads = true;
  uint64_t max_body_bytes = 110ull << 20;  // ComfyUI's default upload limit is 100 MiB
  uint32_t upstream_timeout_ms = 30'000;
  uint32_t reconnect_max_ms = 2'000;  // upstream WebSocket: retry delay grows to this
  // A client's keep-alive connection with no request for this long is closed (doc/gateway.md,
  // "Connections"), as is one whose request does not arrive whole within it.
  uint32_t idle_timeout_ms = 60'000;
  // Wall clock in microseconds since the epoch; default the system clock.
  std::function<int64_t()> now_us;
};

struct GatewayStats {
  uint64_t prompts_forwarded = 0;
  uint64_t prompts_refused = 0;
  uint64_t records = 0;
  uint64_t upstream_connects = 0;  // successful upstream WebSocket handshakes
  uint64_t reconciled = 0;         // prompts finished from /history after a gap
  // Requests whose reply callback was destroyed without being called (a bug; answered 500).
  uint64_t replies_dropped = 0;
};

class Gateway {
 public:
  using RecordSink = std::function<void(UsageRecord)>;

  // Binds, connects the upstream WebSocket (retrying in the background while ComfyUI is down)
  // and starts the I/O thread. `keys` is not owned and must outlive the gateway.
  // InvalidArgument for a bad host or upstream URL; Unavailable if the port cannot be bound.
  static Result<std::unique_ptr<Gateway>> Start(GatewayOptions options, auth::KeyStore* keys,
                                                RecordSink records);
  virtual ~Gateway() = default;

  // "host:port" actually bound.
  virtual std::string address() const = 0;
  virtual uint16_t port() const = 0;
  virtual GatewayStats stats() const = 0;
  // Stops accepting, closes every connection and the upstream socket, joins the I/O thread.
  // Records of prompts still running are not produced (their runs are in ComfyUI's history).
  // Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_GATEWAY_H_
