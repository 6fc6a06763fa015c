// `tokenaudit keys create|list|revoke`: manage the API keys of a data directory (DESIGN §5,
// doc/keys_format.md). Works while a server runs on the same directory: the store locks
// DATA_DIR/keys/LOCK for each change and the server picks changes up within a second.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "src/auth/api_key.h"
#include "src/auth/key_store.h"
#include "src/auth/pseudonym_secret.h"
#include "src/auth/pseudonymizer.h"
#include "src/auth/role.h"
#include "src/config/config.h"
#include "tokenaudit/env.h"
#include "tools/tokenaudit/commands.h"

namespace tokenaudit::cli {
namespace {

struct KeysArgs {
  std::string config_file;
  std::string data_dir;  // empty: from the configuration (as `serve` resolves it)
  std::string role;
  std::string name;
  std::string tenant;
  std::string pseudonym_key_file;
  bool json = false;
  std::string key_id;
};

// NotFound (no such key) and Corruption (a damaged key file) are failures of the data; anything
// else is usage or environment.
int ExitCodeFor(const Status& s) {
  if (s.ok()) return kExitOk;
  return s.IsNotFound() || s.IsCorruption() ? kExitFailed : kExitUsage;
}

int Fail(const Status& s) {
  std::fprintf(stderr, "tokenaudit keys: %s\n", s.ToString().c_str());
  return ExitCodeFor(s);
}

// "2026-11-30T10:00:02Z"
std::string FormatTime(uint64_t unix_micros) {
  const time_t secs = static_cast<time_t>(unix_micros / 1'000'000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04x", static_cast<unsigned>(c));
      out += esc;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

Result<std::unique_ptr<auth::Pseudonymizer>> LoadPseudonymizer(const KeysArgs& args) {
  auth::PseudonymSecretSources sources;
  sources.env_value = std::getenv(auth::kPseudonymKeyEnvVar);
  sources.configured_path = args.pseudonym_key_file;
  if (sources.env_value == nullptr && sources.configured_path.empty()) {
    ASSIGN_OR_RETURN(
        sources.default_path,
        auth::DefaultPseudonymKeyPath(std::getenv("XDG_CONFIG_HOME"), std::getenv("HOME")));
  }
  ASSIGN_OR_RETURN(auth::LoadedPseudonymSecret loaded,
                   auth::LoadPseudonymSecret(Env::Default(), sources, args.data_dir));
  if (loaded.created) {
    std::fprintf(stderr,
                 "note: created a new pseudonym key at %s; back it up apart from the data, and "
                 "give the server the same key\n",
                 loaded.origin.c_str());
  }
  return auth::Pseudonymizer::Create(loaded.secret);
}

int RunCreate(const KeysArgs& args) {
  Result<auth::Role> role = auth::ParseRole(args.role);
  if (!role.ok()) return Fail(role.status());
  std::unique_ptr<auth::Pseudonymizer> pseudonymizer;
  if (*role == auth::Role::kUser) {
    Result<std::unique_ptr<auth::Pseudonymizer>> p = LoadPseudonymizer(args);
    if (!p.ok()) return Fail(p.status());
    pseudonymizer = std::move(*p);
  }
  Result<std::unique_ptr<auth::KeyStore>> store =
      auth::KeyStore::Open(Env::Default(), args.data_dir);
  if (!store.ok()) return Fail(store.status());
  Result<std::string> key = (*store)->Create(*role, args.name, args.tenant, pseudonymizer.get());
  if (!key.ok()) return Fail(key.status());
  const std::string key_id = auth::KeyIdOf(*key);

  // The key exists nowhere else: if it cannot be handed over, it must not stay valid.
  if (std::printf("%s\n", key->c_str()) < 0 || std::fflush(stdout) != 0) {
    Status revoked = (*store)->Revoke(key_id);
    std::fprintf(stderr, "tokenaudit keys: cannot write the key to stdout; key %s %s\n",
                 key_id.c_str(), revoked.ok() ? "revoked" : "could NOT be revoked");
    return kExitUsage;
  }
  const std::string who = *role == auth::Role::kUser
                              ? "user " + pseudonymizer->UserPseudonym(args.name)
                              : "name " + args.name;
  std::fprintf(stderr,
               "created key %s (role %s, %s, tenant %s) - store it now, it cannot be shown again\n",
               key_id.c_str(), args.role.c_str(), who.c_str(),
               args.tenant.empty() ? "*" : args.tenant.c_str());
  return kExitOk;
}

int RunList(const KeysArgs& args) {
  if (!Env::Default()->FileExists(args.data_dir)) {
    return Fail(Status::InvalidArgument("no data directory at " + args.data_dir));
  }
  Result<std::unique_ptr<auth::KeyStore>> store =
      auth::KeyStore::Open(Env::Default(), args.data_dir);
  if (!store.ok()) return Fail(store.status());
  const std::vector<auth::ApiKeyInfo> keys = (*store)->List();
  if (args.json) {
    std::printf("[");
    for (size_t i = 0; i < keys.size(); ++i) {
      const auth::ApiKeyInfo& k = keys[i];
      std::printf(
          "%s\n{\"key_id\":%s,\"role\":%s,\"name\":%s,\"user_pseudonym\":%s,\"tenant\":%s,"
          "\"created\":%s,\"created_unix_micros\":%llu,\"revoked\":%s,"
          "\"revoked_unix_micros\":%llu}",
          i == 0 ? "" : ",", JsonString(k.key_id).c_str(),
          JsonString(auth::RoleName(k.role)).c_str(), JsonString(k.name).c_str(),
          JsonString(k.user_pseudonym).c_str(), JsonString(k.tenant).c_str(),
          JsonString(FormatTime(k.created_unix_micros)).c_str(),
          static_cast<unsigned long long>(k.created_unix_micros), k.revoked ? "true" : "false",
          static_cast<unsigned long long>(k.revoked_unix_micros));
    }
    std::printf("%s]\n", keys.empty() ? "" : "\n");
  } else {
    size_t name_width = 4;
    for (const auth::ApiKeyInfo& k : keys)
      name_width = std::max(name_width, k.DisplayName().size());
    size_t tenant_width = 6;
    for (const auth::ApiKeyInfo& k : keys) tenant_width = std::max(tenant_width, k.tenant.size());
    std::printf("%-8s  %-7s  %-*s  %-*s  %-20s  %s\n", "KEY_ID", "ROLE",
                static_cast<int>(name_width), "NAME", static_cast<int>(tenant_width), "TENANT",
                "CREATED", "REVOKED");
    for (const auth::ApiKeyInfo& k : keys) {
      std::printf("%-8s  %-7s  %-*s  %-*s  %-20s  %s\n", k.key_id.c_str(),
                  std::string(auth::RoleName(k.role)).c_str(), static_cast<int>(name_width),
                  k.DisplayName().c_str(), static_cast<int>(tenant_width),
                  k.tenant.empty() ? "*" : k.tenant.c_str(),
                  FormatTime(k.created_unix_micros).c_str(),
                  k.revoked ? FormatTime(k.revoked_unix_micros).c_str() : "-");
    }
  }
  return std::fflush(stdout) == 0 ? kExitOk : kExitUsage;
}

int RunRevoke(const KeysArgs& args) {
  Result<std::unique_ptr<auth::KeyStore>> store =
      auth::KeyStore::Open(Env::Default(), args.data_dir);
  if (!store.ok()) return Fail(store.status());
  bool was_revoked = false;
  for (const auth::ApiKeyInfo& k : (*store)->List()) {
    was_revoked = was_revoked || (k.key_id == args.key_id && k.revoked);
  }
  Status s = (*store)->Revoke(args.key_id);
  if (!s.ok()) return Fail(s);
  std::fprintf(stderr, was_revoked ? "key %s was already revoked\n" : "revoked key %s\n",
               args.key_id.c_str());
  return kExitOk;
}

void AddDataDir(CLI::App* cmd, KeysArgs* args) {
  cmd->add_option("--config", args->config_file,
                  "the server's TOML configuration: data_dir and ingest.pseudonym_key_file are "
                  "taken from it (then from TOKENAUDIT_* variables) unless given as flags");
  cmd->add_option("--data-dir", args->data_dir,
                  "the data directory (default: the configuration's, ./tokenaudit-data)");
}

// Fills what the flags left open from the configuration, exactly as `serve` would resolve it, so
// the keys land in the directory the server reads and user pseudonyms match the server's.
Status ResolveFromConfig(KeysArgs* args) {
  config::ServeConfig cfg;
  RETURN_IF_ERROR(config::LoadLayered(args->config_file,
                                      [](const char* n) { return std::getenv(n); }, &cfg));
  if (args->data_dir.empty()) args->data_dir = cfg.data_dir;
  if (args->pseudonym_key_file.empty()) args->pseudonym_key_file = cfg.pseudonym_key_file;
  return Status::OK();
}

// Wraps a subcommand so it runs on the resolved arguments.
std::function<int()> Resolved(const std::shared_ptr<KeysArgs>& args, int (*fn)(const KeysArgs&)) {
  return [args, fn] {
    Status s = ResolveFromConfig(args.get());
    if (!s.ok()) {
      std::fprintf(stderr, "tokenaudit keys: %s\n", s.ToString().c_str());
      return kExitUsage;
    }
    return fn(*args);
  };
}

}  // namespace

void RegisterKeys(CLI::App* app, std::function<int()>* run) {
  auto args = std::make_shared<KeysArgs>();
  CLI::App* keys = app->add_subcommand(
      "keys",
      "Create, list and revoke API keys. Keys are stored only as SHA-256 digests in\n"
      "DATA_DIR/keys/api_keys.json. Exit status: 0 done; 1 no such key or a damaged key file;\n"
      "2 usage or I/O error.");
  keys->require_subcommand(1);

  CLI::App* create = keys->add_subcommand(
      "create",
      "Create a key and print it once on stdout (nothing else goes to stdout).\n"
      "For role user, --name is the user's name as producers send it in records; only its\n"
      "pseudonym is stored, computed with the pseudonym key (TOKENAUDIT_PSEUDONYM_KEY,\n"
      "--pseudonym-key-file, or $XDG_CONFIG_HOME/tokenaudit/pseudonym.key), which must be\n"
      "the server's.");
  AddDataDir(create, args.get());
  create->add_option("--role", args->role, "admin, auditor, user or ingest")
      ->required()
      ->check(CLI::IsMember({"admin", "auditor", "user", "ingest"}));
  create
      ->add_option("--name", args->name,
                   "a label (\"ci-ingest\"); for role user the user the key is bound to")
      ->required();
  create->add_option("--tenant", args->tenant, "restrict the key to one tenant (default: all)");
  create->add_option("--pseudonym-key-file", args->pseudonym_key_file,
                     "file holding the pseudonym secret (hex or base64); role user only");
  create->callback([run, args] { *run = Resolved(args, RunCreate); });

  CLI::App* list = keys->add_subcommand(
      "list", "List keys: id, role, name (the pseudonym for user keys), tenant, created, revoked.");
  AddDataDir(list, args.get());
  list->add_flag("--json", args->json, "print a JSON array instead of a table");
  list->callback([run, args] { *run = Resolved(args, RunList); });

  CLI::App* revoke =
      keys->add_subcommand("revoke", "Revoke a key by id; a running server refuses it within 1 s.");
  AddDataDir(revoke, args.get());
  revoke->add_option("key_id", args->key_id, "the id shown by `keys list`")->required();
  revoke->callback([run, args] { *run = Resolved(args, RunRevoke); });
}

}  // namespace tokenaudit::cli
