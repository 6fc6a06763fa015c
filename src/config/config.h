// The configuration of `tokenaudit serve`: one TOML file (`--config`), every key overridable by
// a TOKENAUDIT_* environment variable, then by command-line flags (DESIGN §6). doc/config.md is
// the reference; every key lives in one table here so the file, the environment and the docs
// cannot drift apart.

#ifndef TOKENAUDIT_CONFIG_CONFIG_H_
#define TOKENAUDIT_CONFIG_CONFIG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/ingest/cost_table.h"
#include "tokenaudit/status.h"

namespace tokenaudit::config {

struct ServeConfig {
  std::string data_dir = "./tokenaudit-data";
  std::string listen = "127.0.0.1:8080";

  // [ledger]
  std::string durability = "sync";  // sync | interval
  uint64_t sync_interval_ms = 50;
  uint64_t segment_bytes = 64ull << 20;
  uint64_t max_record_bytes = 1ull << 20;
  uint64_t checkpoint_interval_ms = 1000;
  uint64_t checkpoint_every_records = 100000;
  std::string checkpoint_mirror_dir;
  std::string signing_key_file;

  // [http]
  uint64_t max_body_bytes = 8ull << 20;  // as the record parser and the client library
  uint64_t max_header_bytes = 16 << 10;
  uint64_t idle_timeout_ms = 60'000;
  uint64_t header_timeout_ms = 10'000;
  uint64_t body_timeout_ms = 60'000;
  uint64_t max_connections = 1024;
  uint64_t http_threads = 2;
  uint64_t shutdown_drain_ms = 10'000;

  // [ingest]
  std::string default_tenant = "default";
  uint64_t max_batch_items = 10'000;
  uint64_t max_json_depth = 32;
  std::string pseudonym_key_file;  // empty: TOKENAUDIT_PSEUDONYM_KEY or the per-user default

  // [gateway] (off unless listen is set; doc/gateway.md)
  std::string gateway_listen;
  std::string comfyui_upstream;
  std::string gateway_ingest_key_file;  // required with the gateway: an `ingest` key, one line
  std::string gateway_ingest_url;       // empty: this server's own API address
  std::string gateway_spool_dir;        // empty: DATA_DIR/gateway-spool
  std::string gateway_source = "comfyui-gateway";
  std::string gateway_node_catalog_file;  // empty: the built-in node catalog
  uint64_t gateway_max_pixels = 0;        // per model-node input image; 0: no cap
  uint64_t gateway_daily_token_limit = 0;  // per user per UTC day; 0: no limit
  uint64_t gateway_duplicate_window_s = 600;
  std::string gateway_duplicate_action = "flag";  // flag | refuse
  uint64_t gateway_require_own_uploads = 1;       // 1: LoadImage must name the user's upload
  // [[gateway.key_limits]]: per API key (by key id) overrides of max_pixels and
  // daily_token_limit; 0 keeps the gateway-wide value.
  struct GatewayKeyLimits {
    std::string key_id;
    uint64_t max_pixels = 0;
    uint64_t daily_token_limit = 0;
  };
  std::vector<GatewayKeyLimits> gateway_key_limits;

  // [pricing]
  ingest::CostTable pricing = ingest::CostTable::Default();
};

// One configurable key, for docs and `--help`.
struct SettingInfo {
  std::string toml_key;  // "ledger.durability"
  std::string env_var;   // "TOKENAUDIT_LEDGER_DURABILITY"
  std::string type;      // "string" | "integer"
  std::string help;
  std::string default_value;  // as a default ServeConfig holds it ("" for none)
};
std::vector<SettingInfo> ListSettings();

// Reads a TOML file into `config` (keys absent from the file keep their value). InvalidArgument
// naming the key (and line) for unknown keys, wrong types and syntax errors; NotFound if the
// file does not exist.
Status LoadFile(const std::string& path, ServeConfig* config);
// Same, from text (for tests); `origin` names it in errors.
Status LoadString(const std::string& text, const std::string& origin, ServeConfig* config);

// Applies TOKENAUDIT_* variables read through `getenv` (std::getenv in production).
// InvalidArgument naming the variable for a malformed value.
Status ApplyEnvironment(const std::function<const char*(const char*)>& getenv,
                        ServeConfig* config);

// The file (if `path` is not empty), then the TOKENAUDIT_* environment: what every subcommand
// that reads the configuration starts from before applying its own flags. The error names where
// it came from ("config: ..." or "environment: ...").
Status LoadLayered(const std::string& path,
                   const std::function<const char*(const char*)>& getenv, ServeConfig* config);

// Checks cross-field rules (durability value, listen syntax, ...).
Status Validate(const ServeConfig& config);

// Splits "host:port" or "[v6]:port"; InvalidArgument if malformed.
Status SplitHostPort(const std::string& hp, std::string* host, uint16_t* port);

}  // namespace tokenaudit::config

#endif  // TOKENAUDIT_CONFIG_CONFIG_H_
