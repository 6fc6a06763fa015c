// `tokenaudit serve`: the ledger, the ingest/read HTTP API and the indexes in one process.

#include <CLI/CLI.hpp>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>

#include "src/auth/key_store.h"
#include "src/auth/pseudonym_secret.h"
#include "src/auth/pseudonymizer.h"
#include "src/comfy/node_catalog.h"
#include "src/config/config.h"
#include "src/gateway/gateway.h"
#include "src/http/http_server.h"
#include "src/ingest/service.h"
#include "src/metrics/metrics.h"
#include "tools/tokenaudit/commands.h"
#include "tokenaudit/env.h"
#include "tokenaudit/client.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::cli {
namespace {

struct ServeArgs {
  std::string config_file;
  std::string data_dir, listen, gateway_listen, comfyui_upstream, durability, pseudonym_key_file;
};

// Operational log lines on stderr. Never pass raw user data here: only counts, paths of our own
// files, addresses and statuses.
void Log(const std::string& msg) {
  std::time_t t = std::time(nullptr);
  char ts[32];
  std::tm tm;
  std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
  std::fprintf(stderr, "%s tokenaudit: %s\n", ts, msg.c_str());
  std::fflush(stderr);
}

int Fail(const std::string& what, const Status& s) {
  Log(what + ": " + s.ToString());
  return s.code() == StatusCode::kCorruption ? kExitFailed : kExitUsage;
}

// The ComfyUI gateway's settings, checked before anything starts so a bad gateway config never
// leaves a half-started server.
struct GatewaySetup {
  std::string ingest_key;
  comfy::NodeCatalog catalog = comfy::NodeCatalog::Default();
};

Status PrepareGateway(const config::ServeConfig& cfg, GatewaySetup* setup) {
  if (cfg.gateway_ingest_key_file.empty()) {
    return Status::FailedPrecondition(
        "the ComfyUI gateway needs gateway.ingest_key_file: a file holding a key of role ingest "
        "(tokenaudit keys create --role ingest --name comfy-gateway > FILE)");
  }
  auto key = ReadFileToString(Env::Default(), cfg.gateway_ingest_key_file);
  if (!key.ok()) return key.status().WithContext("gateway.ingest_key_file");
  std::string k = *key;
  while (!k.empty() && (k.back() == '\n' || k.back() == '\r' || k.back() == ' ')) k.pop_back();
  if (k.empty()) return Status::InvalidArgument("gateway.ingest_key_file is empty");
  setup->ingest_key = std::move(k);
  if (!cfg.gateway_node_catalog_file.empty()) {
    auto text = ReadFileToString(Env::Default(), cfg.gateway_node_catalog_file);
    if (!text.ok()) return text.status().WithContext("gateway.node_catalog_file");
    auto catalog = comfy::NodeCatalog::FromToml(*text, cfg.gateway_node_catalog_file,
                                                comfy::NodeCatalog::Default());
    if (!catalog.ok()) return catalog.status();
    setup->catalog = std::move(*catalog);
  }
  return Status::OK();
}

int RunServe(const ServeArgs& args) {
  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  config::ServeConfig cfg;
  Status s =
      config::LoadLayered(args.config_file, [](const char* n) { return std::getenv(n); }, &cfg);
  if (!s.ok()) return Fail("startup", s);
  if (!args.data_dir.empty()) cfg.data_dir = args.data_dir;
  if (!args.listen.empty()) cfg.listen = args.listen;
  if (!args.gateway_listen.empty()) cfg.gateway_listen = args.gateway_listen;
  if (!args.comfyui_upstream.empty()) cfg.comfyui_upstream = args.comfyui_upstream;
  if (!args.durability.empty()) cfg.durability = args.durability;
  if (!args.pseudonym_key_file.empty()) cfg.pseudonym_key_file = args.pseudonym_key_file;
  if (!(s = config::Validate(cfg)).ok()) return Fail("config", s);
  GatewaySetup gateway_setup;
  if (!cfg.gateway_listen.empty() && !(s = PrepareGateway(cfg, &gateway_setup)).ok()) {
    return Fail("gateway", s);
  }

  Env* env = Env::Default();
  auto secret = auth::LoadPseudonymSecret(env, cfg.pseudonym_key_file,
                                          std::getenv(auth::kPseudonymKeyEnvVar), cfg.data_dir);
  if (!secret.ok()) return Fail("pseudonym key", secret.status());
  auto pseudonymizer = auth::Pseudonymizer::Create(*secret);
  if (!pseudonymizer.ok()) return Fail("pseudonym key", pseudonymizer.status());

  metrics::Registry registry;
  LedgerOptions lo;
  lo.data_dir = cfg.data_dir;
  lo.durability = cfg.durability == "sync" ? Durability::kSync : Durability::kInterval;
  lo.sync_interval_ms = static_cast<uint32_t>(cfg.sync_interval_ms);
  lo.segment_bytes = cfg.segment_bytes;
  lo.max_record_bytes = static_cast<uint32_t>(cfg.max_record_bytes);
  lo.checkpoint_interval_ms = static_cast<uint32_t>(cfg.checkpoint_interval_ms);
  lo.checkpoint_every_records = cfg.checkpoint_every_records;
  lo.checkpoint_mirror_dir = cfg.checkpoint_mirror_dir;
  lo.signing_key_path = cfg.signing_key_file;
  ingest::Service::RegisterLedgerMetrics(&registry, &lo);
  Log("opening the ledger in " + cfg.data_dir);
  auto ledger = Ledger::Open(lo);
  if (!ledger.ok()) return Fail("ledger", ledger.status());
  const RecoveryReport& rep = (*ledger)->recovery_report();
  if (rep.truncated_bytes > 0) {
    Log("recovery cut a torn tail of " + std::to_string(rep.truncated_bytes) + " bytes from " +
        rep.truncated_segment);
  }
  auto keys = auth::KeyStore::Open(env, cfg.data_dir);
  if (!keys.ok()) return Fail("API keys", keys.status());

  ingest::ServiceOptions so;
  so.columns_dir = JoinPath(cfg.data_dir, "columns");
  so.default_tenant = cfg.default_tenant;
  so.limits.max_body_bytes = cfg.max_body_bytes;
  so.limits.max_items = cfg.max_batch_items;
  so.limits.max_depth = cfg.max_json_depth;
  so.max_record_bytes = static_cast<uint32_t>(cfg.max_record_bytes);
  ingest::Service service(ledger->get(), keys->get(), pseudonymizer->get(), &cfg.pricing,
                          &registry, so);

  http::HttpServerOptions ho;
  if (!(s = config::SplitHostPort(cfg.listen, &ho.host, &ho.port)).ok()) return Fail("listen", s);
  ho.max_body_bytes = cfg.max_body_bytes;
  ho.max_header_bytes = static_cast<uint32_t>(cfg.max_header_bytes);
  ho.idle_timeout_ms = static_cast<uint32_t>(cfg.idle_timeout_ms);
  ho.header_timeout_ms = static_cast<uint32_t>(cfg.header_timeout_ms);
  ho.body_timeout_ms = static_cast<uint32_t>(cfg.body_timeout_ms);
  ho.max_connections = static_cast<uint32_t>(cfg.max_connections);
  ho.threads = static_cast<int>(cfg.http_threads);
  auto server = http::HttpServer::Start(ho, &service);
  if (!server.ok()) return Fail("listen", server.status());
  // Scripts read this line (stdout) to learn the address, e.g. with --listen 127.0.0.1:0.
  std::printf("tokenaudit listening on http://%s\n", (*server)->address().c_str());
  std::fflush(stdout);

  auto last = std::chrono::steady_clock::now();
  s = service.Rebuild([&last](uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::seconds(1)) return;
    last = now;
    Log("indexing the log: " + std::to_string(done) + " of " + std::to_string(total) +
        " records");
  });
  if (!s.ok()) {
    (*server)->Shutdown(0);
    return Fail("indexing the log", s);
  }
  Log("query columns: " + std::to_string(service.rebuild_report().column_chunks) +
      " chunks loaded from columns/, " +
      std::to_string(service.rebuild_report().column_chunks_discarded) +
      " damaged ones discarded (rebuilt from the log)");
  Log("ready: " + std::to_string((*ledger)->Size()) + " records; API at http://" +
      (*server)->address());
  if ((*keys)->List().empty()) {
    Log("no API keys yet: create the first admin key with\n  tokenaudit keys create --data-dir " +
        cfg.data_dir + " --role admin --name admin");
  }

  // The ComfyUI gateway records through the client library like any producer: a user's request
  // never waits for the ledger, and records survive an outage of the ingest API in the spool.
  std::unique_ptr<Client> gateway_client;
  std::unique_ptr<gateway::Gateway> gateway;
  if (!cfg.gateway_listen.empty()) {
    ClientOptions co;
    co.url = cfg.gateway_ingest_url.empty() ? "http://" + (*server)->address()
                                            : cfg.gateway_ingest_url;
    co.api_key = gateway_setup.ingest_key;
    co.source = cfg.gateway_source;
    co.spool_dir = cfg.gateway_spool_dir.empty() ? cfg.data_dir + "/gateway-spool"
                                                 : cfg.gateway_spool_dir;
    co.on_rejected = [](const RejectedRecord& r) {
      Log("gateway record refused by the ingest API: HTTP " + std::to_string(r.http_status) +
          " " + r.code + " " + r.field);
    };
    auto client = Client::Create(co);
    if (!client.ok()) {
      (*server)->Shutdown(0);
      return Fail("gateway record client", client.status());
    }
    gateway_client = std::move(*client);
    gateway::GatewayOptions go;
    if (!(s = config::SplitHostPort(cfg.gateway_listen, &go.host, &go.port)).ok()) {
      (*server)->Shutdown(0);
      return Fail("gateway.listen", s);
    }
    go.upstream = cfg.comfyui_upstream;
    go.source = cfg.gateway_source;
    go.catalog = gateway_setup.catalog;
    go.costs = cfg.pricing;
    go.require_own_uploads = cfg.gateway_require_own_uploads != 0;
    go.idle_timeout_ms = static_cast<uint32_t>(cfg.idle_timeout_ms);  // http.idle_timeout_ms
    go.admission.max_pixels = cfg.gateway_max_pixels;
    go.admission.daily_token_limit = cfg.gateway_daily_token_limit;
    go.admission.duplicate_window_s = static_cast<int64_t>(cfg.gateway_duplicate_window_s);
    go.admission.refuse_duplicates = cfg.gateway_duplicate_action == "refuse";
    for (const auto& kl : cfg.gateway_key_limits) {
      go.admission.key_limits[kl.key_id] = {kl.max_pixels, kl.daily_token_limit};
    }
    Client* records = gateway_client.get();
    auto gw = gateway::Gateway::Start(std::move(go), keys->get(), [records](UsageRecord r) {
      Status rs = records->Record(std::move(r));
      if (!rs.ok()) Log("gateway record not queued: " + rs.ToString());
    });
    if (!gw.ok()) {
      (*server)->Shutdown(0);
      return Fail("gateway", gw.status());
    }
    gateway = std::move(*gw);
    // Scripts read this line too.
    std::printf("tokenaudit gateway listening on http://%s (ComfyUI %s)\n",
                gateway->address().c_str(), cfg.comfyui_upstream.c_str());
    std::fflush(stdout);
  }

  int sig = 0;
  sigwait(&sigs, &sig);
  Log("signal " + std::to_string(sig) + ": draining requests and syncing the log");
  if (gateway) {
    gateway->Shutdown();
    Status cs = gateway_client->Close(std::chrono::milliseconds(cfg.shutdown_drain_ms));
    if (!cs.ok()) Log("gateway records: " + cs.ToString());
  }
  (*server)->Shutdown(static_cast<uint32_t>(cfg.shutdown_drain_ms));
  s = (*ledger)->Close();
  if (!s.ok()) return Fail("closing the ledger", s);
  Checkpoint cp = (*ledger)->LatestCheckpoint();
  Log("stopped cleanly; last checkpoint covers " + std::to_string(cp.tree_size) + " records");
  return kExitOk;
}

}  // namespace

void RegisterServe(CLI::App* app, std::function<int()>* run) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app->add_subcommand(
      "serve",
      "Run the ledger and its HTTP API (ingest, reads, proofs, metrics).\n"
      "Configuration: --config FILE (TOML), then TOKENAUDIT_* environment variables, then\n"
      "these flags. With no arguments: data in ./tokenaudit-data, API on 127.0.0.1:8080.\n"
      "Prints 'tokenaudit listening on http://HOST:PORT' on stdout once bound.");
  cmd->add_option("--config", args->config_file, "TOML configuration file (doc/config.md)");
  cmd->add_option("--data-dir", args->data_dir, "data directory (default ./tokenaudit-data)");
  cmd->add_option("--listen", args->listen,
                  "HOST:PORT for the API (default 127.0.0.1:8080; port 0 picks a free one)");
  cmd->add_option("--gateway-listen", args->gateway_listen, "HOST:PORT for the ComfyUI gateway");
  cmd->add_option("--comfyui-upstream", args->comfyui_upstream, "ComfyUI base URL");
  cmd->add_option("--durability", args->durability,
                  "sync (acknowledge after fdatasync, default) or interval");
  cmd->add_option("--pseudonym-key-file", args->pseudonym_key_file,
                  "HMAC key for user pseudonyms (outside the data directory)");
  cmd->callback([run, args] { *run = [args] { return RunServe(*args); }; });
}

}  // namespace tokenaudit::cli
