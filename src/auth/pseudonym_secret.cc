#include "src/auth/pseudonym_secret.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <vector>

#include "src/auth/pseudonymizer.h"
#include "src/auth/wait_for_lock.h"
#include "src/util/hex.h"
#include "src/util/random.h"

namespace tokenaudit::auth {
namespace {

constexpr size_t kGeneratedSecretBytes = 32;
constexpr uint64_t kCreateLockTimeoutMicros = 10'000'000;

// Env has no notion of file modes or symlinks; for those two things we go to the OS, but only
// when the Env is the OS's own (a memory Env's paths mean nothing to the kernel).
bool OnOsFileSystem(Env* env) { return env == Env::Default(); }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Standard or URL alphabet, with or without '=' padding; the unused low bits of the last
// character must be zero (so each secret has one spelling per alphabet).
Result<std::string> Base64Decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return Status::InvalidArgument("not hex or base64");
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = Base64Value(c);
    if (v < 0) return Status::InvalidArgument("not hex or base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return Status::InvalidArgument("not hex or base64");
  return out;
}

// "/a/./b/../c" -> "/a/c"; relative paths are taken from the working directory.
std::string AbsoluteNormalPath(const std::string& path) {
  std::string full = path;
  if (full.empty() || full[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof(cwd)) != nullptr) full = JoinPath(cwd, path);
  }
  std::vector<std::string_view> parts;
  std::string_view rest = full;
  while (!rest.empty()) {
    const size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (std::string_view part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? "/" : out;
}

// The path with symlinks resolved in its longest existing prefix; the rest is appended as is.
std::string ResolvedPath(const std::string& path) {
  std::string existing = AbsoluteNormalPath(path);
  std::string tail;
  while (true) {
    char buf[PATH_MAX];
    if (::realpath(existing.c_str(), buf) != nullptr) {
      return tail.empty() ? std::string(buf) : JoinPath(buf, tail);
    }
    if (existing == "/") return AbsoluteNormalPath(path);
    const size_t slash = existing.rfind('/');
    const std::string name = existing.substr(slash + 1);
    tail = tail.empty() ? name : JoinPath(name, tail);
    existing = slash == 0 ? "/" : existing.substr(0, slash);
  }
}

bool IsPrefixDir(const std::string& dir, const std::string& path) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

Status CheckOutsideDataDir(Env* env, const std::string& path, const std::string& data_dir) {
  if (data_dir.empty() || !PathIsInside(env, path, data_dir)) return Status::OK();
  return Status::FailedPrecondition(
      "pseudonym key file " + path + " is inside the data directory " + data_dir +
      "; keep it elsewhere (anyone with a copy of the data could link pseudonyms to names)");
}

Result<std::string> ReadSecretFile(Env* env, const std::string& path) {
  Result<std::string> text = ReadFileToString(env, path);
  if (!text.ok()) return text.status().WithContext("pseudonym key file");
  Result<std::string> secret = DecodePseudonymSecret(*text);
  OPENSSL_cleanse(text->data(), text->size());
  if (!secret.ok()) return secret.status().WithContext("pseudonym key file " + path);
  return secret;
}

// Writes a fresh secret to `path` (which does not exist): `<path>.tmp` restricted to the owner
// before any secret byte is in it, synced, renamed into place, directory synced.
Result<std::string> CreateSecretFile(Env* env, const std::string& path) {
  std::string secret(kGeneratedSecretBytes, '\0');
  RETURN_IF_ERROR(SecureRandomBytes(secret.data(), secret.size()));
  std::string text = HexEncode(secret) + "\n";
  const std::string tmp = path + ".tmp";
  Status s;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->NewWritableFile(tmp));
    if (OnOsFileSystem(env) && ::chmod(tmp.c_str(), S_IRUSR | S_IWUSR) != 0) {
      s = Status::IOError(tmp + ": cannot restrict mode to 0600");
    }
    if (s.ok()) s = file->Append(text);
    if (s.ok()) s = file->Sync();
    if (s.ok()) s = file->Close();
  }
  OPENSSL_cleanse(text.data(), text.size());
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (s.ok()) s = env->SyncDir(DirName(path));
  if (!s.ok()) {
    env->RemoveFile(tmp).IgnoreError();  // best effort; the error below is the one that matters
    return s.WithContext("creating pseudonym key file");
  }
  return secret;
}

}  // namespace

Result<std::string> DecodePseudonymSecret(std::string_view text) {
  text = Trim(text);
  bool hex = !text.empty() && text.size() % 2 == 0;
  for (char c : text) hex = hex && IsHexDigit(c);
  Result<std::string> decoded = hex ? HexDecode(text) : Base64Decode(text);
  if (!decoded.ok()) {
    return Status::InvalidArgument("pseudonym secret is neither hex nor base64");
  }
  if (decoded->size() < kMinPseudonymSecretBytes) {
    return Status::InvalidArgument("pseudonym secret decodes to " +
                                   std::to_string(decoded->size()) + " bytes; at least " +
                                   std::to_string(kMinPseudonymSecretBytes) + " are needed");
  }
  return decoded;
}

Result<std::string> DefaultPseudonymKeyPath(const char* xdg_config_home, const char* home) {
  if (xdg_config_home != nullptr && xdg_config_home[0] == '/') {
    return JoinPath(xdg_config_home, "tokenaudit/pseudonym.key");
  }
  if (home != nullptr && home[0] != '\0') return JoinPath(home, ".config/tokenaudit/pseudonym.key");
  return Status::FailedPrecondition(
      "no pseudonym key: set TOKENAUDIT_PSEUDONYM_KEY, configure a key file, or set HOME");
}

bool PathIsInside(Env* env, const std::string& path, const std::string& dir) {
  if (IsPrefixDir(AbsoluteNormalPath(dir), AbsoluteNormalPath(path))) return true;
  return OnOsFileSystem(env) && IsPrefixDir(ResolvedPath(dir), ResolvedPath(path));
}

Result<LoadedPseudonymSecret> LoadPseudonymSecret(Env* env, const PseudonymSecretSources& sources,
                                                  const std::string& data_dir) {
  LoadedPseudonymSecret loaded;
  if (sources.env_value != nullptr) {
    Result<std::string> secret = DecodePseudonymSecret(sources.env_value);
    if (!secret.ok()) return secret.status().WithContext(kPseudonymKeyEnvVar);
    loaded.secret = std::move(*secret);
    loaded.origin = std::string("environment variable ") + kPseudonymKeyEnvVar;
    return loaded;
  }
  if (!sources.configured_path.empty()) {
    RETURN_IF_ERROR(CheckOutsideDataDir(env, sources.configured_path, data_dir));
    ASSIGN_OR_RETURN(loaded.secret, ReadSecretFile(env, sources.configured_path));
    loaded.origin = sources.configured_path;
    return loaded;
  }
  const std::string& path = sources.default_path;
  if (path.empty()) {
    return Status::FailedPrecondition(
        "no pseudonym key: set TOKENAUDIT_PSEUDONYM_KEY or configure a key file");
  }
  RETURN_IF_ERROR(CheckOutsideDataDir(env, path, data_dir));
  loaded.origin = path;
  if (env->FileExists(path)) {
    ASSIGN_OR_RETURN(loaded.secret, ReadSecretFile(env, path));
    return loaded;
  }
  RETURN_IF_ERROR(env->CreateDir(DirName(path)));
  // Two processes starting at once must not each create (and use) a different secret.
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                   WaitForLock(env, path + ".lock", kCreateLockTimeoutMicros));
  if (env->FileExists(path)) {
    ASSIGN_OR_RETURN(loaded.secret, ReadSecretFile(env, path));
    return loaded;
  }
  ASSIGN_OR_RETURN(loaded.secret, CreateSecretFile(env, path));
  loaded.created = true;
  return loaded;
}

Result<std::string> LoadPseudonymSecret(Env* env, const std::string& configured_path,
                                        const char* env_value, const std::string& data_dir) {
  PseudonymSecretSources sources;
  sources.env_value = env_value;
  sources.configured_path = configured_path;
  if (env_value == nullptr && configured_path.empty()) {
    ASSIGN_OR_RETURN(sources.default_path,
                     DefaultPseudonymKeyPath(std::getenv("XDG_CONFIG_HOME"), std::getenv("HOME")));
  }
  ASSIGN_OR_RETURN(LoadedPseudonymSecret loaded, LoadPseudonymSecret(env, sources, data_dir));
  return std::move(loaded.secret);
}

}  // namespace tokenaudit::auth
