#include "src/config/config.h"

#include "src/util/parse_number.h"
#include "tokenaudit/env.h"

#include <toml++/toml.h>

#include <charconv>
#include <sstream>

namespace tokenaudit::config {
namespace {

// The single table of scalar settings: TOML key, environment variable, and where it lands.
struct Setting {
  const char* key;  // "section.name" or "name"
  const char* help;
  std::string ServeConfig::*str = nullptr;
  uint64_t ServeConfig::*num = nullptr;
};

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> kSettings = {
      {"data_dir", "data directory", &ServeConfig::data_dir},
      {"listen", "HTTP API listen address host:port (port 0 picks one)", &ServeConfig::listen},
      {"ledger.durability", "sync (ack after fdatasync) or interval", &ServeConfig::durability},
      {"ledger.sync_interval_ms", "interval durability: sync period", nullptr,
       &ServeConfig::sync_interval_ms},
      {"ledger.segment_bytes", "log segment size", nullptr, &ServeConfig::segment_bytes},
      {"ledger.max_record_bytes", "largest stored record", nullptr, &ServeConfig::max_record_bytes},
      {"ledger.checkpoint_interval_ms", "checkpoint at least this often while records arrive",
       nullptr, &ServeConfig::checkpoint_interval_ms},
      {"ledger.checkpoint_every_records", "checkpoint after this many records", nullptr,
       &ServeConfig::checkpoint_every_records},
      {"ledger.checkpoint_mirror_dir", "also write checkpoints here",
       &ServeConfig::checkpoint_mirror_dir},
      {"ledger.signing_key_file", "Ed25519 checkpoint key (default DATA_DIR/keys/...)",
       &ServeConfig::signing_key_file},
      {"http.max_body_bytes", "largest request body", nullptr, &ServeConfig::max_body_bytes},
      {"http.max_header_bytes", "largest request header block", nullptr,
       &ServeConfig::max_header_bytes},
      {"http.idle_timeout_ms", "keep-alive idle timeout", nullptr, &ServeConfig::idle_timeout_ms},
      {"http.header_timeout_ms", "time allowed to send headers", nullptr,
       &ServeConfig::header_timeout_ms},
      {"http.body_timeout_ms", "time allowed to send the body", nullptr,
       &ServeConfig::body_timeout_ms},
      {"http.max_connections", "open connections beyond which 503", nullptr,
       &ServeConfig::max_connections},
      {"http.threads", "I/O threads", nullptr, &ServeConfig::http_threads},
      {"http.shutdown_drain_ms", "graceful shutdown: wait for in-flight requests", nullptr,
       &ServeConfig::shutdown_drain_ms},
      {"ingest.default_tenant", "tenant of records that name none", &ServeConfig::default_tenant},
      {"ingest.max_batch_items", "records per request", nullptr, &ServeConfig::max_batch_items},
      {"ingest.max_json_depth", "JSON nesting limit", nullptr, &ServeConfig::max_json_depth},
      {"ingest.pseudonym_key_file", "HMAC key for user pseudonyms (never in the data dir)",
       &ServeConfig::pseudonym_key_file},
      {"gateway.listen", "ComfyUI gateway listen address (off when empty)",
       &ServeConfig::gateway_listen},
      {"gateway.comfyui_upstream", "ComfyUI base URL", &ServeConfig::comfyui_upstream},
      {"gateway.ingest_key_file", "file holding the ingest key the gateway records with",
       &ServeConfig::gateway_ingest_key_file},
      {"gateway.ingest_url", "where the gateway sends records (default: this server)",
       &ServeConfig::gateway_ingest_url},
      {"gateway.spool_dir", "gateway record spool (default DATA_DIR/gateway-spool)",
       &ServeConfig::gateway_spool_dir},
      {"gateway.source", "source of the gateway's records", &ServeConfig::gateway_source},
      {"gateway.node_catalog_file", "TOML node catalog (default: built-in)",
       &ServeConfig::gateway_node_catalog_file},
      {"gateway.max_pixels", "largest model-node input image in pixels (0: no cap)", nullptr,
       &ServeConfig::gateway_max_pixels},
      {"gateway.daily_token_limit", "estimated tokens per user per UTC day (0: no limit)",
       nullptr, &ServeConfig::gateway_daily_token_limit},
      {"gateway.duplicate_window_s", "repeat submissions within this window are duplicates",
       nullptr, &ServeConfig::gateway_duplicate_window_s},
      {"gateway.duplicate_action", "flag or refuse duplicate submissions",
       &ServeConfig::gateway_duplicate_action},
      {"gateway.require_own_uploads", "1: prompts may read only the user's own uploads", nullptr,
       &ServeConfig::gateway_require_own_uploads},
  };
  return kSettings;
}

std::string EnvName(const char* key) {
  std::string out = "TOKENAUDIT_";
  for (const char* p = key; *p; ++p) {
    out.push_back(*p == '.' ? '_'
                            : static_cast<char>(std::toupper(static_cast<unsigned char>(*p))));
  }
  return out;
}

Status ParseU64(std::string_view s, uint64_t* out) {
  if (!ParseDecimalU64(s, out)) return Status::InvalidArgument("not a non-negative integer");
  return Status::OK();
}

std::string Where(const std::string& origin, const toml::source_region& src) {
  return origin + ":" + std::to_string(src.begin.line);
}

Status LoadPricing(const toml::table& t, const std::string& origin, ServeConfig* c) {
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    if (key == "version") {
      auto s = v.value<std::string>();
      if (!s)
        return Status::InvalidArgument(Where(origin, v.source()) +
                                       ": pricing.version must be a string");
      c->pricing.set_version(*s);
    } else if (key == "models") {
      const toml::array* arr = v.as_array();
      if (arr == nullptr)
        return Status::InvalidArgument(Where(origin, v.source()) +
                                       ": pricing.models must be an array of tables");
      for (const auto& m : *arr) {
        const toml::table* mt = m.as_table();
        if (mt == nullptr)
          return Status::InvalidArgument(Where(origin, m.source()) +
                                         ": pricing.models entries must be tables");
        ingest::ModelCost mc;
        for (const auto& entry : *mt) {
          const toml::node& mv = entry.second;  // named, so the lambdas below can capture it
          std::string name(entry.first.str());
          auto num = mv.value<double>();
          auto integer = mv.value<int64_t>();
          auto milli = [&](int64_t* dst) -> Status {
            if (!num || *num < 0 || *num > 1e12)
              return Status::InvalidArgument(Where(origin, mv.source()) + ": pricing.models." +
                                             name + " must be a non-negative number");
            *dst = static_cast<int64_t>(*num * 1000.0 + 0.5);
            return Status::OK();
          };
          auto whole = [&](int64_t* dst) -> Status {
            if (!integer || *integer < 0)
              return Status::InvalidArgument(Where(origin, mv.source()) + ": pricing.models." +
                                             name + " must be a non-negative integer");
            *dst = *integer;
            return Status::OK();
          };
          if (name == "name") {
            auto s = mv.value<std::string>();
            if (!s || s->empty())
              return Status::InvalidArgument(Where(origin, mv.source()) +
                                             ": pricing.models.name must be a string");
            mc.name = *s;
          } else if (name == "gflops_at_512") {
            RETURN_IF_ERROR(milli(&mc.gflops_at_512_milli));
          } else if (name == "exponent") {
            RETURN_IF_ERROR(milli(&mc.exponent_milli));
          } else if (name == "default_input_size") {
            RETURN_IF_ERROR(whole(&mc.default_input_size));
          } else if (name == "micros_per_tflop") {
            RETURN_IF_ERROR(whole(&mc.micros_per_tflop));
          } else if (name == "micros_per_1k_input_tokens") {
            RETURN_IF_ERROR(whole(&mc.micros_per_1k_input_tokens));
          } else if (name == "micros_per_1k_output_tokens") {
            RETURN_IF_ERROR(whole(&mc.micros_per_1k_output_tokens));
          } else if (name == "micros_per_call") {
            RETURN_IF_ERROR(whole(&mc.micros_per_call));
          } else {
            return Status::InvalidArgument(Where(origin, mv.source()) +
                                           ": unknown key pricing.models." + name);
          }
        }
        if (mc.name.empty())
          return Status::InvalidArgument(Where(origin, m.source()) +
                                         ": pricing.models entry without name");
        c->pricing.Add(std::move(mc));
      }
    } else {
      return Status::InvalidArgument(Where(origin, v.source()) + ": unknown key pricing." + key);
    }
  }
  return Status::OK();
}

Status LoadGatewayKeyLimits(const toml::node& v, const std::string& origin, ServeConfig* c) {
  const toml::array* arr = v.as_array();
  if (arr == nullptr) {
    return Status::InvalidArgument(Where(origin, v.source()) +
                                   ": gateway.key_limits must be an array of tables");
  }
  for (const auto& m : *arr) {
    const toml::table* t = m.as_table();
    if (t == nullptr) {
      return Status::InvalidArgument(Where(origin, m.source()) +
                                     ": gateway.key_limits entries must be tables");
    }
    ServeConfig::GatewayKeyLimits limits;
    for (const auto& [k, value] : *t) {
      const std::string name(k.str());
      if (name == "key_id") {
        auto s = value.value_exact<std::string>();
        if (!s || s->empty()) {
          return Status::InvalidArgument(Where(origin, value.source()) +
                                         ": gateway.key_limits.key_id must be a string");
        }
        limits.key_id = *s;
      } else if (name == "max_pixels" || name == "daily_token_limit") {
        auto n = value.value_exact<int64_t>();
        if (!n || *n < 0) {
          return Status::InvalidArgument(Where(origin, value.source()) + ": gateway.key_limits." +
                                         name + " must be a non-negative integer");
        }
        (name == "max_pixels" ? limits.max_pixels : limits.daily_token_limit) =
            static_cast<uint64_t>(*n);
      } else {
        return Status::InvalidArgument(Where(origin, value.source()) +
                                       ": unknown key gateway.key_limits." + name);
      }
    }
    if (limits.key_id.empty()) {
      return Status::InvalidArgument(Where(origin, m.source()) +
                                     ": gateway.key_limits entry without key_id");
    }
    c->gateway_key_limits.push_back(std::move(limits));
  }
  return Status::OK();
}

Status Assign(const Setting& s, const toml::node& v, const std::string& origin, ServeConfig* c) {
  if (s.str != nullptr) {
    auto str = v.value_exact<std::string>();
    if (!str)
      return Status::InvalidArgument(Where(origin, v.source()) + ": " + s.key +
                                     " must be a string");
    c->*s.str = *str;
  } else {
    auto n = v.value_exact<int64_t>();
    if (!n || *n < 0)
      return Status::InvalidArgument(Where(origin, v.source()) + ": " + s.key +
                                     " must be a non-negative integer");
    c->*s.num = static_cast<uint64_t>(*n);
  }
  return Status::OK();
}

const Setting* FindSetting(const std::string& key) {
  for (const auto& s : Settings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

}  // namespace

std::vector<SettingInfo> ListSettings() {
  std::vector<SettingInfo> out;
  const ServeConfig defaults;
  for (const auto& s : Settings()) {
    out.push_back({s.key, EnvName(s.key), s.str ? "string" : "integer", s.help,
                   s.str ? defaults.*s.str : std::to_string(defaults.*s.num)});
  }
  return out;
}

Status LoadString(const std::string& text, const std::string& origin, ServeConfig* c) {
  toml::table root;
  try {  // toml++ reports syntax errors by exception; this is its one boundary.
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ": " << e.description();
    return Status::InvalidArgument(msg.str());
  }
  for (const auto& [k, v] : root) {
    std::string key(k.str());
    if (const toml::table* section = v.as_table()) {
      if (key == "pricing") {
        RETURN_IF_ERROR(LoadPricing(*section, origin, c));
        continue;
      }
      for (const auto& [sk, sv] : *section) {
        std::string full = key + "." + std::string(sk.str());
        if (full == "gateway.key_limits") {
          RETURN_IF_ERROR(LoadGatewayKeyLimits(sv, origin, c));
          continue;
        }
        const Setting* s = FindSetting(full);
        if (s == nullptr)
          return Status::InvalidArgument(Where(origin, sv.source()) + ": unknown key " + full);
        RETURN_IF_ERROR(Assign(*s, sv, origin, c));
      }
      continue;
    }
    const Setting* s = FindSetting(key);
    if (s == nullptr)
      return Status::InvalidArgument(Where(origin, v.source()) + ": unknown key " + key);
    RETURN_IF_ERROR(Assign(*s, v, origin, c));
  }
  return Status::OK();
}

Status LoadFile(const std::string& path, ServeConfig* c) {
  auto text = ReadFileToString(Env::Default(), path);
  if (!text.ok()) return text.status();
  return LoadString(*text, path, c);
}

Status ApplyEnvironment(const std::function<const char*(const char*)>& getenv, ServeConfig* c) {
  for (const auto& s : Settings()) {
    std::string name = EnvName(s.key);
    const char* v = getenv(name.c_str());
    if (v == nullptr) continue;
    if (s.str != nullptr) {
      c->*s.str = v;
    } else {
      uint64_t n = 0;
      Status st = ParseU64(v, &n);
      if (!st.ok()) return Status::InvalidArgument(name + ": " + std::string(st.message()));
      c->*s.num = n;
    }
  }
  return Status::OK();
}

Status LoadLayered(const std::string& path,
                   const std::function<const char*(const char*)>& getenv, ServeConfig* c) {
  if (!path.empty()) {
    Status s = LoadFile(path, c);
    if (!s.ok()) return s.WithContext("config");
  }
  Status s = ApplyEnvironment(getenv, c);
  if (!s.ok()) return s.WithContext("environment");
  return Status::OK();
}

Status SplitHostPort(const std::string& hp, std::string* host, uint16_t* port) {
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos || colon + 1 == hp.size()) {
    return Status::InvalidArgument("'" + hp + "' is not host:port");
  }
  std::string h = hp.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return Status::InvalidArgument("'" + hp + "' has no host");
  uint64_t p = 0;
  if (!ParseU64(hp.substr(colon + 1), &p).ok() || p > 65535) {
    return Status::InvalidArgument("'" + hp + "' has a bad port");
  }
  *host = h;
  *port = static_cast<uint16_t>(p);
  return Status::OK();
}

Status Validate(const ServeConfig& c) {
  if (c.durability != "sync" && c.durability != "interval") {
    return Status::InvalidArgument("ledger.durability must be \"sync\" or \"interval\", not \"" +
                                   c.durability + "\"");
  }
  std::string host;
  uint16_t port;
  RETURN_IF_ERROR(SplitHostPort(c.listen, &host, &port).WithContext("listen"));
  if (!c.gateway_listen.empty()) {
    RETURN_IF_ERROR(SplitHostPort(c.gateway_listen, &host, &port).WithContext("gateway.listen"));
  }
  if (!c.gateway_listen.empty() && c.comfyui_upstream.empty()) {
    return Status::InvalidArgument("gateway.listen needs gateway.comfyui_upstream");
  }
  if (c.gateway_duplicate_action != "flag" && c.gateway_duplicate_action != "refuse") {
    return Status::InvalidArgument("gateway.duplicate_action must be \"flag\" or \"refuse\"");
  }
  if (c.gateway_require_own_uploads > 1) {
    return Status::InvalidArgument("gateway.require_own_uploads must be 0 or 1");
  }
  if (c.data_dir.empty()) return Status::InvalidArgument("data_dir must not be empty");
  if (c.http_threads == 0 || c.http_threads > 64) {
    return Status::InvalidArgument("http.threads must be 1..64");
  }
  if (c.max_batch_items == 0) return Status::InvalidArgument("ingest.max_batch_items must be > 0");
  return Status::OK();
}

}  // namespace tokenaudit::config
