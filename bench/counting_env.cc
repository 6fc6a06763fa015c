#include "bench/counting_env.h"

#include <chrono>
#include <utility>

namespace tokenaudit::bench {
namespace {

uint64_t Nanos() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

class CountingWritableFile final : public WritableFile {
 public:
  // `env` is not owned; it outlives the file (CountingEnv's contract).
  CountingWritableFile(CountingEnv* env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}

  Status Append(std::string_view data) override {
    uint64_t start = Nanos();
    Status s = base_->Append(data);
    env_->append_nanos_.fetch_add(Nanos() - start, std::memory_order_relaxed);
    env_->appends_.fetch_add(1, std::memory_order_relaxed);
    env_->append_bytes_.fetch_add(data.size(), std::memory_order_relaxed);
    return s;
  }
  // Not counted: only merges of the query engine write at an offset, and the ledger
  // benchmarks count the log's appends.
  Status WriteAt(uint64_t offset, std::string_view data) override {
    return base_->WriteAt(offset, data);
  }
  Status Sync() override {
    uint64_t start = Nanos();
    Status s = base_->Sync();
    env_->file_sync_nanos_.fetch_add(Nanos() - start, std::memory_order_relaxed);
    env_->file_syncs_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  CountingEnv* const env_;  // not owned
  std::unique_ptr<WritableFile> base_;
};

IoCounters IoCounters::operator-(const IoCounters& o) const {
  IoCounters d;
  d.file_syncs = file_syncs - o.file_syncs;
  d.file_sync_nanos = file_sync_nanos - o.file_sync_nanos;
  d.dir_syncs = dir_syncs - o.dir_syncs;
  d.dir_sync_nanos = dir_sync_nanos - o.dir_sync_nanos;
  d.appends = appends - o.appends;
  d.append_nanos = append_nanos - o.append_nanos;
  d.append_bytes = append_bytes - o.append_bytes;
  return d;
}

IoCounters CountingEnv::Snapshot() const {
  IoCounters c;
  c.file_syncs = file_syncs_.load(std::memory_order_relaxed);
  c.file_sync_nanos = file_sync_nanos_.load(std::memory_order_relaxed);
  c.dir_syncs = dir_syncs_.load(std::memory_order_relaxed);
  c.dir_sync_nanos = dir_sync_nanos_.load(std::memory_order_relaxed);
  c.appends = appends_.load(std::memory_order_relaxed);
  c.append_nanos = append_nanos_.load(std::memory_order_relaxed);
  c.append_bytes = append_bytes_.load(std::memory_order_relaxed);
  return c;
}

Result<std::unique_ptr<WritableFile>> CountingEnv::NewWritableFile(const std::string& path) {
  ASSIGN_OR_RETURN(auto f, base_->NewWritableFile(path));
  return std::unique_ptr<WritableFile>(std::make_unique<CountingWritableFile>(this, std::move(f)));
}

Result<std::unique_ptr<WritableFile>> CountingEnv::NewAppendableFile(const std::string& path) {
  ASSIGN_OR_RETURN(auto f, base_->NewAppendableFile(path));
  return std::unique_ptr<WritableFile>(std::make_unique<CountingWritableFile>(this, std::move(f)));
}

Status CountingEnv::SyncDir(const std::string& dir) {
  uint64_t start = Nanos();
  Status s = base_->SyncDir(dir);
  dir_sync_nanos_.fetch_add(Nanos() - start, std::memory_order_relaxed);
  dir_syncs_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

}  // namespace tokenaudit::bench
