// Env helpers that only use the Env interface. Env::Default() lives in posix_env.cc.

#include "tokenaudit/env.h"

#include <memory>
#include <string>
#include <string_view>

namespace tokenaudit {

Status ReadFileInto(Env* env, const std::string& path, std::string* out) {
  ASSIGN_OR_RETURN(std::unique_ptr<SequentialFile> file, env->NewSequentialFile(path));
  // Size the buffer once and read straight into it: no growth by doubling, no copy through a
  // scratch buffer, and a caller that reuses `out` reuses its capacity.
  auto size = env->GetFileSize(path);
  size_t want = size.ok() ? static_cast<size_t>(*size) : 0;
  out->resize(want);
  size_t have = 0;
  while (true) {
    if (have == out->size()) out->resize(out->size() + 64 * 1024);  // the file grew meanwhile
    ASSIGN_OR_RETURN(size_t n, file->Read(out->size() - have, out->data() + have));
    if (n == 0) break;
    have += n;
  }
  out->resize(have);
  return Status::OK();
}

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  std::string out;
  RETURN_IF_ERROR(ReadFileInto(env, path, &out));
  return out;
}

Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data) {
  return WriteFileAtomic(env, path, {data});
}

Status WriteFileAtomic(Env* env, const std::string& path,
                       std::initializer_list<std::string_view> pieces) {
  const std::string tmp = path + ".tmp";
  Status s;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->NewWritableFile(tmp));
    for (auto piece = pieces.begin(); s.ok() && piece != pieces.end(); ++piece) {
      s = file->Append(*piece);
    }
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
