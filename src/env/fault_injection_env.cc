#include "src/env/fault_injection_env.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>

#include "src/env/errno_status.h"
#include "src/env/path.h"

namespace tokenaudit::env {

// What the Env knows about one file (one inode): shared by the path tables and by every
// WritableFile open on it. All fields are guarded by the owning Env's mu_.
struct FaultInjectionEnv::TrackedFile {
  uint64_t id = 0;           // creation order, so power loss draws random numbers in a fixed order
  std::string path;          // current path while live
  uint64_t size = 0;         // bytes in the file
  uint64_t synced_size = 0;  // bytes made durable by the last successful Sync
  bool sync_lost = false;    // a Sync failed: bytes past synced_size can no longer become durable
  bool detached = false;     // removed or renamed over; content is in `snapshot`
  std::string snapshot;      // content when detached
};

namespace {

Status FaultStatus(const std::string& path, FaultKind kind) {
  return ErrnoStatus(path, kind == FaultKind::kEIO ? EIO : ENOSPC);
}

Status CrashStatus() { return Status::IOError("simulated crash"); }

// Power loss cannot report errors to the test: a half-rewritten state would make every later
// check meaningless, so stop loudly.
void CheckRestored(const Status& s) {
  if (s.ok()) return;
  std::fprintf(stderr, "FaultInjectionEnv::SimulatePowerLoss: base Env failed: %s\n",
               s.ToString().c_str());
  std::abort();
}

}  // namespace

class FaultInjectionEnv::FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionEnv* env, std::shared_ptr<TrackedFile> file,
                    std::unique_ptr<WritableFile> base, uint64_t generation, std::string path)
      : env_(env),
        file_(std::move(file)),
        base_(std::move(base)),
        generation_(generation),
        path_(std::move(path)) {}

  Status Append(std::string_view data) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    RETURN_IF_ERROR(CheckCurrentLocked());
    RETURN_IF_ERROR(env_->BeginMutatingOpLocked());
    FaultKind kind;
    if (TakeFaultLocked(&env_->write_fault_, &kind)) return FaultStatus(path_, kind);
    const uint64_t before = base_->Size();
    Status s = base_->Append(data);
    file_->size += base_->Size() - before;
    return s;
  }

  // Counted as a write for FailNthWrite. An overwrite of bytes synced already is kept by a
  // simulated power loss (which cuts files back to their synced size): one of the outcomes a
  // real one may have.
  Status WriteAt(uint64_t offset, std::string_view data) override {
    std::lock_guard<std::mutex> l(env_->mu_);
    RETURN_IF_ERROR(CheckCurrentLocked());
    RETURN_IF_ERROR(env_->BeginMutatingOpLocked());
    FaultKind kind;
    if (TakeFaultLocked(&env_->write_fault_, &kind)) return FaultStatus(path_, kind);
    return base_->WriteAt(offset, data);
  }

  Status Sync() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    RETURN_IF_ERROR(CheckCurrentLocked());
    RETURN_IF_ERROR(env_->BeginMutatingOpLocked());
    FaultKind kind;
    Status s;
    if (TakeFaultLocked(&env_->sync_fault_, &kind)) {
      s = FaultStatus(path_, kind);
    } else {
      s = base_->Sync();
    }
    if (!s.ok()) {
      file_->sync_lost = true;
      return s;
    }
    if (!file_->sync_lost) file_->synced_size = file_->size;
    return s;
  }

  Status Close() override {
    std::lock_guard<std::mutex> l(env_->mu_);
    if (generation_ != env_->generation_) {
      // Closing the base object cannot change any content; release its resources.
      base_->Close().IgnoreError();
      return CheckCurrentLocked();
    }
    RETURN_IF_ERROR(env_->BeginMutatingOpLocked());
    return base_->Close();
  }

  uint64_t Size() const override { return base_->Size(); }

 private:
  Status CheckCurrentLocked() const {
    if (generation_ == env_->generation_) return Status::OK();
    return Status::IOError(path_ + ": file object opened before a simulated power loss");
  }

  FaultInjectionEnv* const env_;  // not owned; outlives this file (contract of the Env)
  const std::shared_ptr<TrackedFile> file_;
  const std::unique_ptr<WritableFile> base_;
  const uint64_t generation_;
  const std::string path_;
};

FaultInjectionEnv::FaultInjectionEnv(Env* base) : base_(base) {}

FaultInjectionEnv::~FaultInjectionEnv() = default;

void FaultInjectionEnv::FailNthWrite(uint64_t n, FaultKind kind) {
  std::lock_guard<std::mutex> l(mu_);
  write_fault_ = FaultPlan{n, kind};
}

void FaultInjectionEnv::FailNthSync(uint64_t n, FaultKind kind) {
  std::lock_guard<std::mutex> l(mu_);
  sync_fault_ = FaultPlan{n, kind};
}

void FaultInjectionEnv::CrashAfterOps(uint64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  if (n == 0) {
    crashed_ = true;
    ops_until_crash_.reset();
  } else {
    ops_until_crash_ = n;
  }
}

bool FaultInjectionEnv::crashed() const {
  std::lock_guard<std::mutex> l(mu_);
  return crashed_;
}

uint64_t FaultInjectionEnv::mutating_ops() const {
  std::lock_guard<std::mutex> l(mu_);
  return mutating_ops_;
}

Status FaultInjectionEnv::BeginMutatingOpLocked() {
  if (crashed_) return CrashStatus();
  ++mutating_ops_;
  if (ops_until_crash_.has_value() && --*ops_until_crash_ == 0) {
    // This operation still runs; the crash hits the next one.
    crashed_ = true;
    ops_until_crash_.reset();
  }
  return Status::OK();
}

bool FaultInjectionEnv::TakeFaultLocked(FaultPlan* plan, FaultKind* kind) {
  if (plan->countdown == 0) return false;
  if (--plan->countdown != 0) return false;
  *kind = plan->kind;
  return true;
}

std::shared_ptr<FaultInjectionEnv::TrackedFile> FaultInjectionEnv::NewTrackLocked(
    const std::string& path, uint64_t size, uint64_t synced_size) {
  auto track = std::make_shared<TrackedFile>();
  track->id = next_file_id_++;
  track->path = path;
  track->size = size;
  track->synced_size = synced_size;
  return track;
}

Result<std::shared_ptr<FaultInjectionEnv::TrackedFile>> FaultInjectionEnv::TrackLocked(
    const std::string& path) {
  auto it = live_.find(path);
  if (it != live_.end()) return it->second;
  // Not written through this Env since the last power loss: durable as it is.
  ASSIGN_OR_RETURN(uint64_t size, base_->GetFileSize(path));
  return NewTrackLocked(path, size, size);
}

void FaultInjectionEnv::RecordEntryChangeLocked(const std::string& path,
                                                std::shared_ptr<TrackedFile> before) {
  // Only the first change since the last SyncDir matters: it names what is on disk.
  undurable_entries_.emplace(path, std::move(before));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(const std::string& path) {
  const std::string p = NormalizePath(path);
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(BeginMutatingOpLocked());
  const bool existed = base_->FileExists(p);
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, base_->NewWritableFile(p));
  std::shared_ptr<TrackedFile>& track = live_[p];
  if (track == nullptr) {
    track = NewTrackLocked(p, 0, 0);
  } else {
    track->size = 0;
    track->synced_size = 0;
    track->sync_lost = false;
  }
  if (!existed) RecordEntryChangeLocked(p, nullptr);
  return std::unique_ptr<WritableFile>(
      std::make_unique<FaultWritableFile>(this, track, std::move(file), generation_, p));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewAppendableFile(
    const std::string& path) {
  const std::string p = NormalizePath(path);
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(BeginMutatingOpLocked());
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, base_->NewAppendableFile(p));
  std::shared_ptr<TrackedFile>& track = live_[p];
  if (track == nullptr) track = NewTrackLocked(p, file->Size(), file->Size());
  return std::unique_ptr<WritableFile>(
      std::make_unique<FaultWritableFile>(this, track, std::move(file), generation_, p));
}

Result<std::unique_ptr<SequentialFile>> FaultInjectionEnv::NewSequentialFile(
    const std::string& path) {
  return base_->NewSequentialFile(NormalizePath(path));
}

Result<std::unique_ptr<RandomAccessFile>> FaultInjectionEnv::NewRandomAccessFile(
    const std::string& path) {
  return base_->NewRandomAccessFile(NormalizePath(path));
}

bool FaultInjectionEnv::FileExists(const std::string& path) {
  return base_->FileExists(NormalizePath(path));
}

Result<std::vector<std::string>> FaultInjectionEnv::GetChildren(const std::string& dir) {
  return base_->GetChildren(NormalizePath(dir));
}

Result<uint64_t> FaultInjectionEnv::GetFileSize(const std::string& path) {
  return base_->GetFileSize(NormalizePath(path));
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  const std::string p = NormalizePath(path);
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(BeginMutatingOpLocked());
  // Missing paths and directories: let the base report its usual error.
  if (!base_->FileExists(p)) return base_->RemoveFile(p);
  ASSIGN_OR_RETURN(std::shared_ptr<TrackedFile> track, TrackLocked(p));
  ASSIGN_OR_RETURN(std::string content, ReadFileToString(base_, p));
  RETURN_IF_ERROR(base_->RemoveFile(p));
  track->detached = true;
  track->snapshot = std::move(content);
  RecordEntryChangeLocked(p, track);
  live_.erase(p);
  return Status::OK();
}

Status FaultInjectionEnv::CreateDir(const std::string& dir) {
  const std::string d = NormalizePath(dir);
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(BeginMutatingOpLocked());
  return base_->CreateDir(d);
}

Status FaultInjectionEnv::RenameFile(const std::string& src, const std::string& dst) {
  const std::string s = NormalizePath(src);
  const std::string d = NormalizePath(dst);
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(BeginMutatingOpLocked());
  if (s == d || !base_->FileExists(s)) return base_->RenameFile(s, d);
  ASSIGN_OR_RETURN(std::shared_ptr<TrackedFile> src_track, TrackLocked(s));
  std::shared_ptr<TrackedFile> dst_track;
  std::string dst_content;
  if (base_->FileExists(d)) {
    // Read before the rename replaces it, in case the rename has to be undone.
    ASSIGN_OR_RETURN(dst_track, TrackLocked(d));
    ASSIGN_OR_RETURN(dst_content, ReadFileToString(base_, d));
  }
  RETURN_IF_ERROR(base_->RenameFile(s, d));
  if (dst_track != nullptr) {
    dst_track->detached = true;
    dst_track->snapshot = std::move(dst_content);
  }
  RecordEntryChangeLocked(s, src_track);
  RecordEntryChangeLocked(d, dst_track);
  live_.erase(s);
  src_track->path = d;
  live_[d] = std::move(src_track);
  return Status::OK();
}

Status FaultInjectionEnv::TruncateFile(const std::string& path, uint64_t size) {
  const std::string p = NormalizePath(path);
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(BeginMutatingOpLocked());
  RETURN_IF_ERROR(base_->TruncateFile(p, size));
  auto it = live_.find(p);
  if (it != live_.end()) {
    TrackedFile& track = *it->second;
    track.size = size;
    // After a failed Sync, bytes past the durable size were dropped and stay dropped even if
    // the file is extended again.
    if (!track.sync_lost || size <= track.synced_size) {
      track.synced_size = size;
      track.sync_lost = false;
    }
  }
  return Status::OK();
}

Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  const std::string d = NormalizePath(dir);
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(BeginMutatingOpLocked());
  RETURN_IF_ERROR(base_->SyncDir(d));
  for (auto it = undurable_entries_.begin(); it != undurable_entries_.end();) {
    if (DirName(it->first) == d) {
      it = undurable_entries_.erase(it);
    } else {
      ++it;
    }
  }
  return Status::OK();
}

Result<std::unique_ptr<FileLock>> FaultInjectionEnv::LockFile(const std::string& path) {
  return base_->LockFile(NormalizePath(path));
}

uint64_t FaultInjectionEnv::NowMicros() { return base_->NowMicros(); }
uint64_t FaultInjectionEnv::NowUnixMicros() { return base_->NowUnixMicros(); }
void FaultInjectionEnv::SleepForMicros(uint64_t micros) { base_->SleepForMicros(micros); }

void FaultInjectionEnv::SimulatePowerLoss(TearMode mode, uint64_t seed) {
  std::lock_guard<std::mutex> l(mu_);

  // Every file that can appear after the power loss, in creation order.
  std::map<uint64_t, TrackedFile*> files;
  for (const auto& [path, track] : live_) files[track->id] = track.get();
  for (const auto& [path, track] : undurable_entries_) {
    if (track != nullptr) files[track->id] = track.get();
  }

  // How many bytes of each file survive.
  std::mt19937_64 rng(seed);
  const uint64_t align = mode == TearMode::kTear512 ? 512 : 4096;
  std::map<uint64_t, uint64_t> kept;
  for (const auto& [id, track] : files) {
    uint64_t end = track->size;
    if (track->detached) {
      end = std::min<uint64_t>(end, track->snapshot.size());
    } else if (Result<uint64_t> actual = base_->GetFileSize(track->path); actual.ok()) {
      end = std::min(end, *actual);
    }
    const uint64_t synced = std::min(track->synced_size, end);
    uint64_t keep = synced;
    if (mode != TearMode::kDropUnsynced && !track->sync_lost) {
      // Candidates: `synced` itself (nothing of the tail reached the disk) and every multiple of
      // `align` in (synced, end].
      const uint64_t aligned_cuts = end / align - synced / align;
      const uint64_t pick = rng() % (aligned_cuts + 1);
      if (pick > 0) keep = (synced / align + pick) * align;
    }
    kept[id] = keep;
  }

  // Read every reverted entry's surviving content before anything is rewritten: a file may be
  // both live under one name and the previous content of another.
  std::map<std::string, std::optional<std::string>> reverted;
  for (const auto& [path, track] : undurable_entries_) {
    if (track == nullptr) {
      reverted[path] = std::nullopt;
      continue;
    }
    std::string content;
    if (track->detached) {
      content = track->snapshot;
    } else {
      Result<std::string> r = ReadFileToString(base_, track->path);
      CheckRestored(r.status());
      content = std::move(*r);
    }
    content.resize(std::min<uint64_t>(content.size(), kept[track->id]));
    reverted[path] = std::move(content);
  }

  for (const auto& [path, track] : live_) {
    if (reverted.count(path) != 0) continue;
    Result<uint64_t> size = base_->GetFileSize(path);
    if (!size.ok()) continue;  // removed behind this Env's back: nothing to cut
    if (kept[track->id] < *size) CheckRestored(base_->TruncateFile(path, kept[track->id]));
  }
  for (const auto& [path, content] : reverted) {
    if (!content.has_value()) {
      if (base_->FileExists(path)) CheckRestored(base_->RemoveFile(path));
      continue;
    }
    Result<std::unique_ptr<WritableFile>> file = base_->NewWritableFile(path);
    CheckRestored(file.status());
    CheckRestored((*file)->Append(*content));
    CheckRestored((*file)->Sync());
    CheckRestored((*file)->Close());
  }

  ++generation_;
  crashed_ = false;
  ops_until_crash_.reset();
  write_fault_ = FaultPlan{};
  sync_fault_ = FaultPlan{};
  live_.clear();
  undurable_entries_.clear();
}

}  // namespace tokenaudit::env
