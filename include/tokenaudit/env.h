// Env: every file-system and clock access tokenaudit makes goes through an Env, so tests can run
// on memory and inject faults (leveldb include/leveldb/env.h, RocksDB FileSystem).
//
// Three implementations exist: Env::Default() (POSIX), NewMemEnv() (in memory, for hermetic tests),
// and FaultInjectionEnv (src/env/fault_injection_env.h, test support: fails the Nth write or sync,
// drops unsynced data, tears the last write).
//
// Paths are plain strings joined with '/'. All methods are thread-safe unless noted; file objects
// are used by one thread at a time.

#ifndef TOKENAUDIT_ENV_H_
#define TOKENAUDIT_ENV_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

namespace tokenaudit {

// A file written sequentially. Append() may buffer in user space only if Flush()/Sync() are
// honoured; the POSIX implementation writes straight through with write(2).
class WritableFile {
 public:
  WritableFile() = default;
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;
  virtual ~WritableFile() = default;

  // Appends all of `data`. A short write is retried internally; any error is returned as IOError
  // (ENOSPC included) and leaves an unknown amount of `data` written.
  virtual Status Append(std::string_view data) = 0;
  // Overwrites bytes already in the file: [offset, offset + data.size()) must lie within Size(),
  // which does not change (InvalidArgument otherwise). Durable, like appended bytes, once Sync
  // returns. For a header whose content is known only once what follows it has been appended (a
  // merged part's data size). Only on a file from NewWritableFile: one from NewAppendableFile
  // (opened O_APPEND, where pwrite appends) answers FailedPrecondition.
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Makes every byte appended so far durable (fdatasync). After a failed Sync the caller must not
  // call Sync again on this object and expect it to mean anything: the kernel may have dropped
  // the dirty pages and cleared the error (PostgreSQL "fsyncgate").
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  // Bytes appended through this object plus the size the file had when opened.
  virtual uint64_t Size() const = 0;
  // A hint that the bytes before `end`, durable by a Sync, will not be read soon: the OS may
  // drop them from its page cache (whole pages only; the page holding `end` stays). Nothing is
  // lost and no error is reported: a file that ignores it behaves the same, only with more
  // memory cached. Used by the log, which is written once and read rarely (PostgreSQL does the
  // same for its WAL).
  virtual void DropCache(uint64_t end) { (void)end; }
};

// A file read from the start to the end.
class SequentialFile {
 public:
  SequentialFile() = default;
  SequentialFile(const SequentialFile&) = delete;
  SequentialFile& operator=(const SequentialFile&) = delete;
  virtual ~SequentialFile() = default;

  // Reads up to `n` bytes into `scratch` and returns how many were read; 0 means end of file.
  virtual Result<size_t> Read(size_t n, char* scratch) = 0;
  virtual Status Skip(uint64_t n) = 0;
};

// A file read at arbitrary offsets; thread-safe.
class RandomAccessFile {
 public:
  RandomAccessFile() = default;
  RandomAccessFile(const RandomAccessFile&) = delete;
  RandomAccessFile& operator=(const RandomAccessFile&) = delete;
  virtual ~RandomAccessFile() = default;

  // Reads up to `n` bytes at `offset` into `scratch`; returns how many were read (short at EOF).
  virtual Result<size_t> Read(uint64_t offset, size_t n, char* scratch) const = 0;
};

// An exclusive advisory lock on a file, released when destroyed.
class FileLock {
 public:
  FileLock() = default;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  virtual ~FileLock() = default;
};

class Env {
 public:
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  virtual ~Env() = default;

  // The process-wide POSIX Env. Never deleted.
  static Env* Default();

  // Creates (or truncates) `path` for writing.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Opens an existing `path` for appending at its end; NotFound if it does not exist.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..", in no particular order.
  virtual Result<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  virtual Result<uint64_t> GetFileSize(const std::string& path) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // Creates `dir`; OK if it already exists as a directory.
  virtual Status CreateDir(const std::string& dir) = 0;
  // Atomically replaces `dst` with `src` (rename(2)). Durable only after SyncDir of the parent.
  virtual Status RenameFile(const std::string& src, const std::string& dst) = 0;
  // Truncates `path` to `size` bytes and makes the new size durable.
  virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;
  // Makes the entries of `dir` (creations, renames, removals) durable (fsync on the directory).
  virtual Status SyncDir(const std::string& dir) = 0;
  // Takes an exclusive lock on `path` (creating it); FailedPrecondition if another process or
  // another lock in this process holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // Monotonic clock in microseconds, for intervals.
  virtual uint64_t NowMicros() = 0;
  // Wall clock: microseconds since the Unix epoch, for timestamps that leave the process.
  virtual uint64_t NowUnixMicros() = 0;
  virtual void SleepForMicros(uint64_t micros) = 0;
};

// An Env that keeps files in memory; for tests. Each call returns an independent file system.
// Directories are implicit but CreateDir/GetChildren behave as on POSIX for the paths used.
std::unique_ptr<Env> NewMemEnv();

// Reads the whole of `path`.
Result<std::string> ReadFileToString(Env* env, const std::string& path);
// Reads the whole of `path` into *out, reusing its capacity (for readers of many large files).
Status ReadFileInto(Env* env, const std::string& path, std::string* out);

// Writes `data` to `path` atomically and durably: write `path`.tmp, Sync, Close, rename over
// `path`, SyncDir of the parent. After a crash either the old or the new content is present.
Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data);
// The same for content in pieces, appended in order (no copy into one string first).
Status WriteFileAtomic(Env* env, const std::string& path,
                       std::initializer_list<std::string_view> pieces);

// "a/b" + "c" -> "a/b/c".
std::string JoinPath(std::string_view dir, std::string_view name);
// "a/b/c" -> "a/b"; "c" -> ".".
std::string DirName(std::string_view path);

}  // namespace tokenaudit

#endif  // TOKENAUDIT_ENV_H_
