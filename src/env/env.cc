// Env helpers that only use the Env interface. Env::Default() lives in posix_env.cc.

#include "tokenaudit/env.h"

#include <memory>
#include <string>
#include <string_view>

namespace tokenaudit {

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> file, env->NewSequentialFile(path));
  std::string out;
  constexpr size_t kChunk = 64 * 1024;
  auto scratch = std::make_unique<char[]>(kChunk);
  while (true) {
    ASSIGN_OR_RETURN(size_t n, file->Read(kChunk, scratch.get()));
    if (n == 0) break;
    out.append(scratch.get(), n);
  }
  return out;
}

Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  Status s;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->NewWritableFile(tmp));
    s = file->Append(data);
    if (s.ok()) s = file->Sync();
    if (s.ok()) s = file->Close();
  }
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (!s.ok()) {
    // Best effort: a leftover .tmp is harmless (the next attempt truncates it), and the
    // original error is the one worth reporting.
    env->RemoveFile(tmp).IgnoreError();
    return s;
  }
  // The rename is only durable once the parent directory is synced.
  return env->SyncDir(DirName(path));
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  std::string out(dir);
  if (out.back() != '/') out += '/';
  while (!name.empty() && name.front() == '/') name.remove_prefix(1);
  out += name;
  return out;
}

std::string DirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  size_t end = slash;
  while (end > 0 && path[end - 1] == '/') --end;
  if (end == 0) return "/";
  return std::string(path.substr(0, end));
}

}  // namespace tokenaudit
