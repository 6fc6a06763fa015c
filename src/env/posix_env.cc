// The POSIX Env (leveldb util/env_posix.cc): files through raw file descriptors, no user-space
// buffering, every error reported with the errno name (see errno_status.h).

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "src/env/errno_status.h"
#include "tokenaudit/env.h"

namespace tokenaudit {
namespace env {
namespace {

constexpr mode_t kFileMode = 0644;
constexpr mode_t kDirMode = 0755;

// Closes `fd`, ignoring EINTR: on Linux the descriptor is released even then, and retrying could
// close a descriptor another thread just received.
int CloseFd(int fd) { return ::close(fd); }

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t initial_size, bool append_mode)
      : path_(std::move(path)), fd_(fd), append_mode_(append_mode), size_(initial_size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) CloseFd(fd_);
  }

  Status Append(std::string_view data) override {
    if (fd_ < 0) return ErrnoStatus(path_, EBADF);
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(path_, errno);
      }
      // Counted as they land so Size() stays true to the file after a partial failure.
      size_ += static_cast<uint64_t>(n);
      p += n;
      left -= static_cast<size_t>(n);
    }
    return Status::OK();
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    if (fd_ < 0) return ErrnoStatus(path_, EBADF);
    if (append_mode_) {
      return Status::FailedPrecondition(path_ + ": WriteAt on a file opened for appending");
    }
    if (offset > size_ || data.size() > size_ - offset) {
      return Status::InvalidArgument(path_ + ": WriteAt past the end of the file");
    }
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(path_, errno);
      }
      p += n;
      offset += static_cast<uint64_t>(n);
      left -= static_cast<size_t>(n);
    }
    return Status::OK();
  }

  Status Sync() override {
    if (fd_ < 0) return ErrnoStatus(path_, EBADF);
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return ErrnoStatus(path_, errno);
    }
    return Status::OK();
  }

  Status Close() override {
    if (fd_ < 0) return Status::OK();
    const int rc = CloseFd(fd_);
    fd_ = -1;
    if (rc != 0 && errno != EINTR) return ErrnoStatus(path_, errno);
    return Status::OK();
  }

  uint64_t Size() const override { return size_; }

  void DropCache(uint64_t end) override {
    static const uint64_t kPage = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    end = std::min(end, size_) / kPage * kPage;
    if (fd_ < 0 || end <= dropped_) return;
    // Clean pages go at once; a page still dirty (not synced) is kept by the kernel.
    ::posix_fadvise(fd_, static_cast<off_t>(dropped_), static_cast<off_t>(end - dropped_),
                    POSIX_FADV_DONTNEED);
    dropped_ = end;
  }

 private:
  const std::string path_;
  int fd_;  // -1 once closed
  const bool append_mode_;  // O_APPEND: pwrite would append, whatever its offset
  uint64_t dropped_ = 0;  // DropCache covered [0, dropped_)
  uint64_t size_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { CloseFd(fd_); }

  Result<size_t> Read(size_t n, char* scratch) override {
    while (true) {
      const ssize_t r = ::read(fd_, scratch, n);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return ErrnoStatus(path_, errno);
    }
  }

  Status Skip(uint64_t n) override {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) return ErrnoStatus(path_, errno);
    return Status::OK();
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { CloseFd(fd_); }

  Result<size_t> Read(uint64_t offset, size_t n, char* scratch) const override {
    // pread may return fewer bytes than asked before EOF; keep going until EOF or `n`.
    size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, scratch + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(path_, errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

 private:
  const std::string path_;
  const int fd_;
};

// fcntl locks are per process, so a second LockFile from this process would succeed at the
// kernel level; this table makes it fail like a lock held by another process (leveldb
// PosixLockTable). Thread-safe.
class PosixLockTable {
 public:
  bool Insert(const std::string& path) {
    std::lock_guard<std::mutex> l(mu_);
    return locked_.insert(path).second;
  }
  void Remove(const std::string& path) {
    std::lock_guard<std::mutex> l(mu_);
    locked_.erase(path);
  }

 private:
  std::mutex mu_;
  std::set<std::string> locked_;  // guarded by mu_
};

class PosixFileLock final : public FileLock {
 public:
  // `table` must outlive the lock; it is the Default() Env's, which is never deleted.
  PosixFileLock(PosixLockTable* table, std::string path, int fd)
      : table_(table), path_(std::move(path)), fd_(fd) {}
  ~PosixFileLock() override {
    struct flock f = {};
    f.l_type = F_UNLCK;
    f.l_whence = SEEK_SET;
    ::fcntl(fd_, F_SETLK, &f);
    CloseFd(fd_);
    table_->Remove(path_);
  }

 private:
  PosixLockTable* const table_;
  const std::string path_;
  const int fd_;
};

uint64_t ClockMicros(clockid_t clock) {
  struct timespec ts;
  ::clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kFileMode);
    if (fd < 0) return ErrnoStatus(path, errno);
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixWritableFile>(path, fd, 0, /*append_mode=*/false));
  }

  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      CloseFd(fd);
      return ErrnoStatus(path, err);
    }
    return std::unique_ptr<WritableFile>(
        std::make_unique<PosixWritableFile>(path, fd, static_cast<uint64_t>(st.st_size),
                                            /*append_mode=*/true));
  }

  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, errno);
    return std::unique_ptr<SequentialFile>(std::make_unique<PosixSequentialFile>(path, fd));
  }

  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, errno);
    return std::unique_ptr<RandomAccessFile>(std::make_unique<PosixRandomAccessFile>(path, fd));
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoStatus(dir, errno);
    std::vector<std::string> names;
    while (true) {
      errno = 0;
      const struct dirent* entry = ::readdir(d);
      if (entry == nullptr) break;
      const std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) return ErrnoStatus(dir, err);
    return names;
  }

  Result<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoStatus(path, errno);
    return Status::OK();
  }

  Status CreateDir(const std::string& dir) override {
    // mkdir -p: create each prefix in turn; EEXIST on a prefix is fine.
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
      if (pos != dir.size() && dir[pos] != '/') continue;
      if (dir[pos - 1] == '/') continue;
      const std::string prefix = dir.substr(0, pos);
      if (::mkdir(prefix.c_str(), kDirMode) != 0 && errno != EEXIST) {
        return ErrnoStatus(prefix, errno);
      }
    }
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(dir, errno);
    if (!S_ISDIR(st.st_mode)) return ErrnoStatus(dir, EEXIST);
    return Status::OK();
  }

  Status RenameFile(const std::string& src, const std::string& dst) override {
    if (::rename(src.c_str(), dst.c_str()) != 0) return ErrnoStatus(src + " -> " + dst, errno);
    return Status::OK();
  }

  Status TruncateFile(const std::string& path, uint64_t size) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, errno);
    Status s;
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      s = ErrnoStatus(path, errno);
    } else if (::fsync(fd) != 0) {
      s = ErrnoStatus(path, errno);
    }
    CloseFd(fd);
    return s;
  }

  Status SyncDir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(dir, errno);
    Status s;
    if (::fsync(fd) != 0) s = ErrnoStatus(dir, errno);
    CloseFd(fd);
    return s;
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    if (!lock_table_.Insert(path)) {
      return Status::FailedPrecondition(
          path + ": lock already held in this process (data directory is in use)");
    }
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, kFileMode);
    if (fd < 0) {
      const int err = errno;
      lock_table_.Remove(path);
      return ErrnoStatus(path, err);
    }
    struct flock f = {};
    f.l_type = F_WRLCK;
    f.l_whence = SEEK_SET;
    if (::fcntl(fd, F_SETLK, &f) != 0) {
      const int err = errno;
      CloseFd(fd);
      lock_table_.Remove(path);
      if (err == EACCES || err == EAGAIN) {
        return Status::FailedPrecondition(path + ": data directory is in use by another process");
      }
      return ErrnoStatus(path, err);
    }
    return std::unique_ptr<FileLock>(std::make_unique<PosixFileLock>(&lock_table_, path, fd));
  }

  uint64_t NowMicros() override { return ClockMicros(CLOCK_MONOTONIC); }
  uint64_t NowUnixMicros() override { return ClockMicros(CLOCK_REALTIME); }
  void SleepForMicros(uint64_t micros) override {
    std::this_thread::sleep_for(std::chrono::microseconds(micros));
  }

 private:
  PosixLockTable lock_table_;
};

}  // namespace
}  // namespace env

Env* Env::Default() {
  // Leaked on purpose: file objects and locks may be destroyed during static destruction.
  static Env* const default_env = new env::PosixEnv();
  return default_env;
}

}  // namespace tokenaudit
