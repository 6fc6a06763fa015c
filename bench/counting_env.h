// CountingEnv: forwards every call to another Env and counts (and times) the calls that reach the
// device: WritableFile::Sync (fdatasync), SyncDir (fsync of a directory) and WritableFile::Append
// (write). The benchmark uses it to report the syncs the ledger really issues (LedgerStats::syncs
// counts only segment syncs, not checkpoint files and their directory) and how much of the
// writer thread's time goes to them.
//
// Thread-safety: as thread-safe as the wrapped Env; the counters are atomics.

#ifndef TOKENAUDIT_BENCH_COUNTING_ENV_H_
#define TOKENAUDIT_BENCH_COUNTING_ENV_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenaudit/env.h"

namespace tokenaudit::bench {

struct IoCounters {
  uint64_t file_syncs = 0;
  uint64_t file_sync_nanos = 0;
  uint64_t dir_syncs = 0;
  uint64_t dir_sync_nanos = 0;
  uint64_t appends = 0;
  uint64_t append_nanos = 0;
  uint64_t append_bytes = 0;

  IoCounters operator-(const IoCounters& o) const;
};

class CountingEnv final : public Env {
 public:
  // `base` is not owned and must outlive this Env and every file it opened.
  explicit CountingEnv(Env* base) : base_(base) {}

  IoCounters Snapshot() const;

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    return base_->NewSequentialFile(path);
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    return base_->NewRandomAccessFile(path);
  }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override {
    return base_->GetChildren(dir);
  }
  Result<uint64_t> GetFileSize(const std::string& path) override {
    return base_->GetFileSize(path);
  }
  Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  Status RenameFile(const std::string& src, const std::string& dst) override {
    return base_->RenameFile(src, dst);
  }
  Status TruncateFile(const std::string& path, uint64_t size) override {
    return base_->TruncateFile(path, size);
  }
  Status SyncDir(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }
  uint64_t NowMicros() override { return base_->NowMicros(); }
  uint64_t NowUnixMicros() override { return base_->NowUnixMicros(); }
  void SleepForMicros(uint64_t micros) override { base_->SleepForMicros(micros); }

 private:
  friend class CountingWritableFile;

  Env* const base_;  // not owned
  std::atomic<uint64_t> file_syncs_{0}, file_sync_nanos_{0}, dir_syncs_{0}, dir_sync_nanos_{0},
      appends_{0}, append_nanos_{0}, append_bytes_{0};
};

}  // namespace tokenaudit::bench

#endif  // TOKENAUDIT_BENCH_COUNTING_ENV_H_
