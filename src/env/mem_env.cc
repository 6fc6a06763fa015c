// NewMemEnv(): a file system in memory (leveldb helpers/memenv). Files are shared FileState
// objects, like inodes: renaming or removing a path does not disturb file objects already open
// on it, and truncating through NewWritableFile is seen by all of them. Errors carry the same
// messages as the POSIX Env (see errno_status.h).

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "src/env/errno_status.h"
#include "src/env/path.h"
#include "tokenaudit/env.h"

namespace tokenaudit {
namespace env {
namespace {

struct FileState {
  std::mutex mu;
  std::string data;  // guarded by mu
};

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(std::string path, std::shared_ptr<FileState> file, uint64_t initial_size,
                  bool append_mode)
      : path_(std::move(path)),
        file_(std::move(file)),
        append_mode_(append_mode),
        size_(initial_size) {}

  Status Append(std::string_view data) override {
    if (closed_) return ErrnoStatus(path_, EBADF);
    std::lock_guard<std::mutex> l(file_->mu);
    file_->data.append(data);
    size_ += data.size();
    return Status::OK();
  }
  Status WriteAt(uint64_t offset, std::string_view data) override {
    if (closed_) return ErrnoStatus(path_, EBADF);
    if (append_mode_) {  // as the POSIX Env, whose O_APPEND file would append instead
      return Status::FailedPrecondition(path_ + ": WriteAt on a file opened for appending");
    }
    std::lock_guard<std::mutex> l(file_->mu);
    if (offset > size_ || data.size() > size_ - offset || size_ > file_->data.size()) {
      return Status::InvalidArgument(path_ + ": WriteAt past the end of the file");
    }
    file_->data.replace(offset, data.size(), data);
    return Status::OK();
  }
  Status Sync() override {
    if (closed_) return ErrnoStatus(path_, EBADF);
    return Status::OK();
  }
  Status Close() override {
    closed_ = true;
    return Status::OK();
  }
  uint64_t Size() const override { return size_; }

 private:
  const std::string path_;
  const std::shared_ptr<FileState> file_;
  const bool append_mode_;
  uint64_t size_;
  bool closed_ = false;
};

class MemSequentialFile final : public SequentialFile {
 public:
  explicit MemSequentialFile(std::shared_ptr<FileState> file) : file_(std::move(file)) {}

  Result<size_t> Read(size_t n, char* scratch) override {
    std::lock_guard<std::mutex> l(file_->mu);
    const std::string& data = file_->data;
    if (pos_ >= data.size()) return size_t{0};
    const size_t count = static_cast<size_t>(std::min<uint64_t>(n, data.size() - pos_));
    std::memcpy(scratch, data.data() + pos_, count);
    pos_ += count;
    return count;
  }
  Status Skip(uint64_t n) override {
    pos_ += n;  // like lseek, may go past the end; Read then returns 0
    return Status::OK();
  }

 private:
  const std::shared_ptr<FileState> file_;
  uint64_t pos_ = 0;
};

class MemRandomAccessFile final : public RandomAccessFile {
 public:
  explicit MemRandomAccessFile(std::shared_ptr<FileState> file) : file_(std::move(file)) {}

  Result<size_t> Read(uint64_t offset, size_t n, char* scratch) const override {
    std::lock_guard<std::mutex> l(file_->mu);
    const std::string& data = file_->data;
    if (offset >= data.size()) return size_t{0};
    const size_t count = static_cast<size_t>(std::min<uint64_t>(n, data.size() - offset));
    std::memcpy(scratch, data.data() + offset, count);
    return count;
  }

 private:
  const std::shared_ptr<FileState> file_;
};

// Shared with the locks so a lock outliving its Env stays harmless.
struct MemLockTable {
  std::mutex mu;
  std::set<std::string> locked;  // guarded by mu
};

class MemFileLock final : public FileLock {
 public:
  MemFileLock(std::shared_ptr<MemLockTable> table, std::string path)
      : table_(std::move(table)), path_(std::move(path)) {}
  ~MemFileLock() override {
    std::lock_guard<std::mutex> l(table_->mu);
    table_->locked.erase(path_);
  }

 private:
  const std::shared_ptr<MemLockTable> table_;
  const std::string path_;
};

// If `path` lies strictly below `dir` (both normalized), the name of the entry of `dir` that
// leads to it: ChildName("a", "a/b/c") == "b".
std::optional<std::string_view> ChildName(std::string_view dir, std::string_view path) {
  std::string_view rest;
  if (dir == ".") {
    if (path == "." || path.empty() || path.front() == '/') return std::nullopt;
    rest = path;
  } else if (dir == "/") {
    if (path.size() < 2 || path.front() != '/') return std::nullopt;
    rest = path.substr(1);
  } else {
    if (path.size() <= dir.size() + 1 || path.substr(0, dir.size()) != dir ||
        path[dir.size()] != '/') {
      return std::nullopt;
    }
    rest = path.substr(dir.size() + 1);
  }
  std::string_view name = rest.substr(0, rest.find('/'));
  if (name == "..") return std::nullopt;
  return name;
}

class MemEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    const std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> l(mu_);
    if (IsDirLocked(p)) return ErrnoStatus(path, EISDIR);
    if (AncestorIsFileLocked(p)) return ErrnoStatus(path, ENOTDIR);
    std::shared_ptr<FileState>& file = files_[p];
    if (file == nullptr) {
      file = std::make_shared<FileState>();
    } else {
      std::lock_guard<std::mutex> fl(file->mu);
      file->data.clear();
    }
    return std::unique_ptr<WritableFile>(std::make_unique<MemWritableFile>(path, file, 0,
                                                                           /*append_mode=*/false));
  }

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    ASSIGN_OR_RETURN(std::shared_ptr<FileState> file, FindFile(path));
    uint64_t size;
    {
      std::lock_guard<std::mutex> fl(file->mu);
      size = file->data.size();
    }
    return std::unique_ptr<WritableFile>(std::make_unique<MemWritableFile>(path, file, size,
                                                                           /*append_mode=*/true));
  }

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    ASSIGN_OR_RETURN(std::shared_ptr<FileState> file, FindFile(path));
    return std::unique_ptr<SequentialFile>(std::make_unique<MemSequentialFile>(file));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    ASSIGN_OR_RETURN(std::shared_ptr<FileState> file, FindFile(path));
    return std::unique_ptr<RandomAccessFile>(std::make_unique<MemRandomAccessFile>(file));
  }

  bool FileExists(const std::string& path) override {
    const std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> l(mu_);
    return files_.count(p) != 0 || IsDirLocked(p);
  }

  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    const std::string d = NormalizePath(dir);
    std::lock_guard<std::mutex> l(mu_);
    if (files_.count(d) != 0) return ErrnoStatus(dir, ENOTDIR);
    std::set<std::string, std::less<>> names;
    for (const auto& [path, file] : files_) {
      if (auto name = ChildName(d, path)) names.emplace(*name);
    }
    for (const std::string& path : dirs_) {
      if (auto name = ChildName(d, path)) names.emplace(*name);
    }
    if (names.empty() && !IsDirLocked(d)) return ErrnoStatus(dir, ENOENT);
    return std::vector<std::string>(names.begin(), names.end());
  }

  Result<uint64_t> GetFileSize(const std::string& path) override {
    ASSIGN_OR_RETURN(std::shared_ptr<FileState> file, FindFile(path));
    std::lock_guard<std::mutex> fl(file->mu);
    return static_cast<uint64_t>(file->data.size());
  }

  Status RemoveFile(const std::string& path) override {
    const std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> l(mu_);
    if (files_.erase(p) != 0) return Status::OK();
    return ErrnoStatus(path, IsDirLocked(p) ? EISDIR : ENOENT);
  }

  Status CreateDir(const std::string& dir) override {
    const std::string d = NormalizePath(dir);
    std::lock_guard<std::mutex> l(mu_);
    // Every proper prefix ending before a '/' is an ancestor (mkdir -p).
    for (size_t pos = d.find('/', 1); pos != std::string::npos; pos = d.find('/', pos + 1)) {
      const std::string ancestor = d.substr(0, pos);
      if (files_.count(ancestor) != 0) return ErrnoStatus(dir, ENOTDIR);
      dirs_.insert(ancestor);
    }
    if (files_.count(d) != 0) return ErrnoStatus(dir, EEXIST);
    if (d != "." && d != "/") dirs_.insert(d);
    return Status::OK();
  }

  Status RenameFile(const std::string& src, const std::string& dst) override {
    const std::string s = NormalizePath(src);
    const std::string d = NormalizePath(dst);
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(s);
    if (it == files_.end()) {
      if (IsDirLocked(s)) {
        return Status::IOError(src + ": the memory Env cannot rename directories");
      }
      return ErrnoStatus(src, ENOENT);
    }
    if (IsDirLocked(d)) return ErrnoStatus(dst, EISDIR);
    if (AncestorIsFileLocked(d)) return ErrnoStatus(dst, ENOTDIR);
    if (s == d) return Status::OK();
    std::shared_ptr<FileState> file = std::move(it->second);
    files_.erase(it);
    files_[d] = std::move(file);
    return Status::OK();
  }

  Status TruncateFile(const std::string& path, uint64_t size) override {
    ASSIGN_OR_RETURN(std::shared_ptr<FileState> file, FindFile(path));
    std::lock_guard<std::mutex> fl(file->mu);
    file->data.resize(size, '\0');
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    const std::string d = NormalizePath(dir);
    std::lock_guard<std::mutex> l(mu_);
    if (files_.count(d) != 0) return ErrnoStatus(dir, ENOTDIR);
    if (!IsDirLocked(d)) return ErrnoStatus(dir, ENOENT);
    return Status::OK();
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    const std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> l(mu_);
    if (IsDirLocked(p)) return ErrnoStatus(path, EISDIR);
    if (AncestorIsFileLocked(p)) return ErrnoStatus(path, ENOTDIR);
    {
      std::lock_guard<std::mutex> tl(locks_->mu);
      if (!locks_->locked.insert(p).second) {
        return Status::FailedPrecondition(
            path + ": lock already held in this process (data directory is in use)");
      }
    }
    std::shared_ptr<FileState>& file = files_[p];
    if (file == nullptr) file = std::make_shared<FileState>();
    return std::unique_ptr<FileLock>(std::make_unique<MemFileLock>(locks_, p));
  }

  uint64_t NowMicros() override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
  uint64_t NowUnixMicros() override {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  }
  void SleepForMicros(uint64_t micros) override {
    std::this_thread::sleep_for(std::chrono::microseconds(micros));
  }

 private:
  Result<std::shared_ptr<FileState>> FindFile(const std::string& path) {
    const std::string p = NormalizePath(path);
    std::lock_guard<std::mutex> l(mu_);
    auto it = files_.find(p);
    if (it != files_.end()) return it->second;
    return ErrnoStatus(path, IsDirLocked(p) ? EISDIR : ENOENT);
  }

  // Directories are implicit: a path is a directory if it was created as one or if any file or
  // directory lies below it. Requires mu_.
  bool IsDirLocked(const std::string& p) const {
    if (p == "." || p == "/" || dirs_.count(p) != 0) return true;
    for (const auto& [path, file] : files_) {
      if (ChildName(p, path)) return true;
    }
    for (const std::string& path : dirs_) {
      if (ChildName(p, path)) return true;
    }
    return false;
  }

  // True if some proper prefix of `p` is a file, as in "a" for "a/b". Requires mu_.
  bool AncestorIsFileLocked(const std::string& p) const {
    for (size_t pos = p.find('/', 1); pos != std::string::npos; pos = p.find('/', pos + 1)) {
      if (files_.count(p.substr(0, pos)) != 0) return true;
    }
    return false;
  }

  std::mutex mu_;
  std::map<std::string, std::shared_ptr<FileState>> files_;  // by normalized path; guarded by mu_
  std::set<std::string> dirs_;  // created directories, normalized; guarded by mu_
  const std::shared_ptr<MemLockTable> locks_ = std::make_shared<MemLockTable>();
};

}  // namespace
}  // namespace env

std::unique_ptr<Env> NewMemEnv() { return std::make_unique<env::MemEnv>(); }

}  // namespace tokenaudit
