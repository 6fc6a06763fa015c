// FaultInjectionEnv: test support that wraps another Env and makes it misbehave the way disks and
// kernels do (leveldb db/fault_injection_test.cc, RocksDB FaultInjectionTestFS): a chosen write or
// fsync fails with EIO or ENOSPC, the machine "crashes" after a chosen number of mutating
// operations, and a simulated power loss throws away everything that was not made durable.
//
// Durability model, used by SimulatePowerLoss():
//  - File data is durable up to the size the file had at its last successful WritableFile::Sync
//    (Sync makes the whole file durable, whichever object appended). A file created or truncated
//    by NewWritableFile and never synced since holds 0 durable bytes. Files this Env has not opened
//    for writing are durable as they are. TruncateFile is durable at once.
//  - After a failed Sync (injected or real) the bytes it should have covered are lost for good:
//    later Syncs of that file report success but do not move its durable size (PostgreSQL
//    "fsyncgate"), until TruncateFile cuts the file back to its durable size or below.
//  - A directory entry created by NewWritableFile, renamed (both the source and the destination
//    name) or removed is durable once SyncDir of its parent succeeds; until then a power loss
//    reverts it. CreateDir and LockFile are durable at once; the lock file is never tracked.
//
// Paths are normalized lexically (src/env/path.h) before they reach the base Env.
//
// Thread-safety: every method, and every method of the WritableFiles it returns, is thread-safe;
// one internal mutex serializes all mutating operations (and the base calls they make). File
// objects returned by this Env, and FileLocks passed through from the base, must be destroyed
// before it.

#ifndef TOKENAUDIT_SRC_ENV_FAULT_INJECTION_ENV_H_
#define TOKENAUDIT_SRC_ENV_FAULT_INJECTION_ENV_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tokenaudit/env.h"

namespace tokenaudit::env {

// The error an injected fault reports: IOError whose message is "<path>: EIO: Input/output error"
// or "<path>: ENOSPC: No space left on device", as the POSIX Env reports the real ones.
enum class FaultKind { kEIO, kENOSPC };

// What SimulatePowerLoss keeps of each file's unsynced tail: nothing, or a prefix ending at a
// file offset that is a multiple of 512 (a torn sector write) or of 4096 (a torn page write).
enum class TearMode { kDropUnsynced, kTear512, kTear4K };

class FaultInjectionEnv : public Env {
 public:
  // `base` is not owned and must outlive this Env. It is normally a NewMemEnv(); Env::Default()
  // over a temporary directory works too.
  explicit FaultInjectionEnv(Env* base);
  ~FaultInjectionEnv() override;

  // The n-th WritableFile::Append (n >= 1, counted from this call, over all files) fails with
  // `kind` and writes nothing; appends before and after it behave normally. One plan at a time:
  // a new call replaces the previous plan; n == 0 cancels it.
  void FailNthWrite(uint64_t n, FaultKind kind);

  // The n-th WritableFile::Sync (n >= 1, counted from this call) fails with `kind`; that file's
  // unsynced bytes stay unsynced for good (see the durability model). Same plan rules as above.
  void FailNthSync(uint64_t n, FaultKind kind);

  // The next `n` mutating operations run normally; after them the Env is crashed: crashed() is
  // true and every later mutating operation returns IOError("simulated crash") without effect.
  // n == 0 crashes at once. Mutating operations are NewWritableFile, NewAppendableFile,
  // WritableFile::Append/Sync/Close, RenameFile, RemoveFile, TruncateFile, SyncDir and CreateDir.
  // Reads, FileExists, GetChildren, GetFileSize, LockFile and the clocks keep working.
  void CrashAfterOps(uint64_t n);
  bool crashed() const;

  // Mutating operations attempted since construction (those refused because of a crash or a
  // stale file object are not counted; injected failures are). Never reset, so a test measures a
  // workload as the difference before and after it.
  uint64_t mutating_ops() const;

  // Power loss: every file keeps only its durable bytes (plus, with kTear512/kTear4K, a prefix of
  // its unsynced tail cut at a random aligned offset, drawn from `seed`, never below the durable
  // size), and directory entries changed since the last SyncDir of their parent are reverted: a
  // file created since then disappears, a rename is undone (the destination gets its previous
  // content back, or disappears), a removed file comes back with its durable content.
  // Afterwards the crash and the fault plans are cleared, tracking restarts with everything
  // present counted as durable, and file objects opened before fail every later call with
  // IOError. Same seed and same workload give the same result. Aborts the process if the base
  // Env fails while the state is rewritten (the test could not trust the state after that).
  void SimulatePowerLoss(TearMode mode, uint64_t seed);

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  Result<std::vector<std::string>> GetChildren(const std::string& dir) override;
  Result<uint64_t> GetFileSize(const std::string& path) override;
  Status RemoveFile(const std::string& path) override;
  Status CreateDir(const std::string& dir) override;
  Status RenameFile(const std::string& src, const std::string& dst) override;
  Status TruncateFile(const std::string& path, uint64_t size) override;
  Status SyncDir(const std::string& dir) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
  uint64_t NowMicros() override;
  uint64_t NowUnixMicros() override;
  void SleepForMicros(uint64_t micros) override;

 private:
  struct TrackedFile;
  class FaultWritableFile;

  struct FaultPlan {
    uint64_t countdown = 0;  // 0: no fault planned
    FaultKind kind = FaultKind::kEIO;
  };

  // Each requires mu_.
  Status BeginMutatingOpLocked();
  static bool TakeFaultLocked(FaultPlan* plan, FaultKind* kind);
  Result<std::shared_ptr<TrackedFile>> TrackLocked(const std::string& path);
  std::shared_ptr<TrackedFile> NewTrackLocked(const std::string& path, uint64_t size,
                                              uint64_t synced_size);
  void RecordEntryChangeLocked(const std::string& path, std::shared_ptr<TrackedFile> before);

  Env* const base_;  // not owned
  mutable std::mutex mu_;
  uint64_t generation_ = 0;                  // bumped by each power loss; guarded by mu_
  uint64_t mutating_ops_ = 0;                // guarded by mu_
  bool crashed_ = false;                     // guarded by mu_
  std::optional<uint64_t> ops_until_crash_;  // guarded by mu_
  FaultPlan write_fault_;                    // guarded by mu_
  FaultPlan sync_fault_;                     // guarded by mu_
  uint64_t next_file_id_ = 0;                // guarded by mu_
  // Files opened for writing or moved since the last power loss, by current path.
  std::map<std::string, std::shared_ptr<TrackedFile>> live_;  // guarded by mu_
  // For each path whose directory entry changed since the last SyncDir of its parent: the file
  // that was there before the first such change, or null if there was none.
  std::map<std::string, std::shared_ptr<TrackedFile>> undurable_entries_;  // guarded by mu_
};

}  // namespace tokenaudit::env

#endif  // TOKENAUDIT_SRC_ENV_FAULT_INJECTION_ENV_H_
