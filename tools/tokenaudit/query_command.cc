// `tokenaudit query`: usage aggregates (GET /v1/usage, GET /v1/top) as a table, JSON or CSV, either
// from a running server (--server, with a key) or straight from a data directory's log (offline:
// reads every segment, no server needed, sees everything the files hold).

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "src/auth/pseudonym_secret.h"
#include "src/auth/pseudonymizer.h"
#include "src/client/http_transport.h"
#include "src/config/config.h"
#include "src/log/log_reader.h"
#include "src/query/time_zone_database.h"
#include "src/query/usage_json.h"
#include "src/query/usage_params.h"
#include "src/query/usage_store.h"
#include "src/record/record_json.h"
#include "tokenaudit/env.h"
#include "tools/tokenaudit/commands.h"

namespace tokenaudit::cli {
namespace {

struct QueryArgs {
  std::string server, key, config_file, data_dir, pseudonym_key_file;
  std::string group_by, window, tz, from, to, measures, resolution_step, order_by, order;
  std::string top, top_measure;
  uint64_t limit = 0, k = 0;
  std::vector<std::string> filters;  // dim=value
  std::string format = "table";
  bool quiet = false;
};

int Fail(const std::string& msg, int code = kExitUsage) {
  std::fprintf(stderr, "tokenaudit query: %s\n", msg.c_str());
  return code;
}

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The flags as the HTTP API's parameters, so both modes parse them with the same code.
Result<std::vector<std::pair<std::string, std::string>>> ToParams(const QueryArgs& a) {
  std::vector<std::pair<std::string, std::string>> p;
  auto add = [&p](const char* k, const std::string& v) {
    if (!v.empty()) p.emplace_back(k, v);
  };
  if (!a.top.empty()) {
    add("by", a.top);
    add("measure", a.top_measure);
    if (a.k) add("k", std::to_string(a.k));
  } else {
    add("group_by", a.group_by);
    add("order_by", a.order_by);
    if (a.limit) add("limit", std::to_string(a.limit));
  }
  add("window", a.window);
  add("tz", a.tz);
  add("from", a.from);
  add("to", a.to);
  add("measures", a.measures);
  add("resolution_step", a.resolution_step);
  add("order", a.order);
  for (const std::string& f : a.filters) {
    size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("--filter wants DIM=VALUE, got '" + f + "'");
    }
    p.emplace_back(f.substr(0, eq), f.substr(eq + 1));
  }
  return p;
}

int RunRemote(const QueryArgs& a, const std::vector<std::pair<std::string, std::string>>& params) {
  std::string url = a.server;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += a.top.empty() ? "/v1/usage" : "/v1/top";
  char sep = '?';
  for (const auto& [k, v] : params) {
    url += sep + UrlEncode(k) + "=" + UrlEncode(v);
    sep = '&';
  }
  url += std::string(1, sep) + "format=" + a.format;
  const char* env_key = std::getenv("TOKENAUDIT_KEY");
  client::TransportOptions o;
  o.url = a.server;
  o.content_type = "application/json";
  o.bearer_token = !a.key.empty() ? a.key : env_key != nullptr ? env_key : "";
  o.request_timeout_ms = 120'000;
  if (o.bearer_token.empty()) return Fail("--server needs a key: --key or TOKENAUDIT_KEY");
  auto t = client::HttpTransport::Create(o);
  if (!t.ok()) return Fail(t.status().ToString());
  client::HttpReply r = (*t)->Get(url);
  if (r.status == 0) return Fail("cannot reach " + a.server + ": " + r.error);
  if (r.status != 200) {
    return Fail("server answered " + std::to_string(r.status) + ": " + r.body,
                r.status >= 500 ? kExitFailed : kExitUsage);
  }
  std::fwrite(r.body.data(), 1, r.body.size(), stdout);
  if (!r.body.empty() && r.body.back() != '\n') std::fputc('\n', stdout);
  return kExitOk;
}

int RunLocal(const QueryArgs& a, std::vector<std::pair<std::string, std::string>> params) {
  config::ServeConfig cfg;
  Status s = config::LoadLayered(a.config_file, [](const char* n) { return std::getenv(n); }, &cfg);
  if (!s.ok()) return Fail(s.ToString());
  const std::string data_dir = a.data_dir.empty() ? cfg.data_dir : a.data_dir;
  const std::string key_file =
      a.pseudonym_key_file.empty() ? cfg.pseudonym_key_file : a.pseudonym_key_file;
  if (!Env::Default()->FileExists(log::LogDir(data_dir))) {
    return Fail("no log in " + data_dir + " (use --data-dir, or --server for a remote one)");
  }
  params.emplace_back("format", a.format);

  std::unique_ptr<auth::Pseudonymizer> pseudonymizer;
  query::ParamContext ctx;
  ctx.zone = [](std::string_view name) { return query::TimeZoneDatabase::Default()->Get(name); };
  ctx.is_pseudonym = auth::IsUserPseudonym;
  std::string pseudonym_error;
  ctx.user_pseudonym = [&](std::string_view raw) -> std::string {
    if (!pseudonymizer) {
      auto secret = auth::LoadPseudonymSecret(Env::Default(), key_file,
                                              std::getenv(auth::kPseudonymKeyEnvVar), data_dir);
      auto p = secret.ok() ? auth::Pseudonymizer::Create(*secret)
                           : Result<std::unique_ptr<auth::Pseudonymizer>>(secret.status());
      if (!p.ok()) {
        pseudonym_error = p.status().ToString();
        return "u_unresolvable";
      }
      pseudonymizer = std::move(*p);
    }
    return pseudonymizer->UserPseudonym(raw);
  };
  query::ParsedParams parsed;
  query::ParamError err;
  if (!query::ParseUsageParams(params, a.top.empty() ? query::Endpoint::kUsage
                                                     : query::Endpoint::kTop,
                               ctx, &parsed, &err)) {
    return Fail(err.field + ": " + err.message);
  }
  if (!pseudonym_error.empty()) {
    return Fail("a raw user name needs the pseudonym key: " + pseudonym_error);
  }

  // Read the log. Progress once a second on stderr for large logs.
  query::UsageStore store;
  std::vector<query::Row> rows;
  uint64_t usage = 0, skipped = 0;
  std::time_t last = std::time(nullptr);
  s = log::ReadAllRecords(Env::Default(), data_dir,
                          [&](uint64_t seq, RecordType type, std::string_view payload) {
                            if (type != RecordType::kUsage) return Status::OK();
                            UsageRecord r;
                            if (!record::ParseRecordJson(payload, &r)) {
                              ++skipped;
                              return Status::OK();
                            }
                            rows.push_back(store.MakeRow(r, seq));
                            if (rows.size() == 4096) {
                              store.Add(rows);
                              rows.clear();
                            }
                            ++usage;
                            if (!a.quiet && std::time(nullptr) != last) {
                              last = std::time(nullptr);
                              std::fprintf(stderr, "\rreading log: %llu usage records",
                                           static_cast<unsigned long long>(usage));
                            }
                            return Status::OK();
                          });
  store.Add(rows);
  if (!a.quiet && usage >= 100'000) std::fprintf(stderr, "\n");
  if (!s.ok()) return Fail("reading the log: " + s.ToString(), kExitFailed);
  if (skipped > 0) {
    std::fprintf(stderr, "warning: %llu usage records could not be parsed and were skipped\n",
                 static_cast<unsigned long long>(skipped));
  }
  auto answer = query::RunUsageQuery(store, parsed.query);
  if (!answer.ok()) return Fail(answer.status().ToString(), kExitFailed);
  std::string out = query::EncodeUsage(parsed.format, parsed.query, *answer);
  if (parsed.format == query::OutputFormat::kJson) out += "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace

void RegisterQuery(CLI::App* app, std::function<int()>* run) {
  auto a = std::make_shared<QueryArgs>();
  CLI::App* cmd = app->add_subcommand(
      "query",
      "Usage aggregates: tokens, GFLOPs, cost, durations (avg/min/max/p50/p95/p99) and distinct\n"
      "users, grouped by any of tenant, user, model, workflow, task_type, status, node_type,\n"
      "device, resolution (MP buckets), model_input_size and time windows in a time zone.\n"
      "With --server it asks a running server (GET /v1/usage or /v1/top, with --key or\n"
      "TOKENAUDIT_KEY; a user key sees only its own usage). Without it, it reads the log of\n"
      "--data-dir (default: the configuration's) directly.\n"
      "Examples:\n"
      "  tokenaudit query --group-by model --measures count,tokens,cost\n"
      "  tokenaudit query --group-by workflow --filter model=ddcolor_paper_tiny --format csv\n"
      "  tokenaudit query --window day --tz Europe/Berlin --from 2026-11-01T00:00:00Z\n"
      "  tokenaudit query --top user --measure tokens --k 10\n"
      "  tokenaudit query --group-by resolution --resolution-step 0.5 "
      "--measures count,duration_avg,duration_p95\n"
      "Exit status: 0 answered; 1 the log or server failed; 2 usage error.");
  cmd->add_option("--server", a->server, "base URL of a running server, e.g. http://127.0.0.1:8080");
  cmd->add_option("--key", a->key, "API key for --server (default: $TOKENAUDIT_KEY)");
  cmd->add_option("--config", a->config_file, "TOML configuration (for data_dir and the pseudonym key)");
  cmd->add_option("--data-dir", a->data_dir, "data directory to read offline");
  cmd->add_option("--pseudonym-key-file", a->pseudonym_key_file,
                  "offline: pseudonym key, to filter by a raw user name");
  cmd->add_option("--group-by", a->group_by, "comma-separated dimensions");
  cmd->add_option("--window", a->window, "time windows: minute, hour, day, week or month");
  cmd->add_option("--tz", a->tz, "time zone of the windows: UTC (default), +02:00, Europe/Berlin");
  cmd->add_option("--from", a->from, "only records with time >= this (RFC 3339)");
  cmd->add_option("--to", a->to, "only records with time < this (RFC 3339)");
  cmd->add_option("--measures", a->measures,
                  "comma-separated: count, tokens, gflops, cost, duration_avg, duration_min, "
                  "duration_max, duration_p50, duration_p95, duration_p99, distinct_users "
                  "(default: all)");
  cmd->add_option("--filter", a->filters, "DIM=VALUE; repeat for alternatives or other dims");
  cmd->add_option("--resolution-step", a->resolution_step, "resolution bucket width in MP (default 1)");
  cmd->add_option("--order-by", a->order_by, "sort groups by this measure");
  cmd->add_option("--order", a->order, "asc or desc (default desc)");
  cmd->add_option("--limit", a->limit, "at most this many groups");
  cmd->add_option("--top", a->top, "top-K of one dimension (user, model, workflow, ...)");
  cmd->add_option("--measure", a->top_measure, "--top: rank by this measure (default tokens)");
  cmd->add_option("--k", a->k, "--top: how many (default 10)");
  cmd->add_option("--format", a->format, "table, json or csv")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json", "csv"}));
  cmd->add_flag("-q,--quiet", a->quiet, "no progress output");
  cmd->callback([run, a] {
    *run = [a] {
      auto params = ToParams(*a);
      if (!params.ok()) return Fail(std::string(params.status().message()));
      return a->server.empty() ? RunLocal(*a, std::move(*params)) : RunRemote(*a, *params);
    };
  });
}

}  // namespace tokenaudit::cli
