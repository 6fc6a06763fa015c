#include "src/auth/wait_for_lock.h"

#include <algorithm>

namespace tokenaudit::auth {

Result<std::unique_ptr<FileLock>> WaitForLock(Env* env, const std::string& path,
                                              uint64_t timeout_micros) {
  const uint64_t start = env->NowMicros();
  uint64_t backoff = 200;
  while (true) {
    Result<std::unique_ptr<FileLock>> lock = env->LockFile(path);
    if (lock.ok() || lock.status().code() != StatusCode::kFailedPrecondition) return lock;
    if (env->NowMicros() - start >= timeout_micros) {
      return Status::Unavailable(path + ": still locked by another process after " +
                                 std::to_string(timeout_micros / 1000) + " ms");
    }
    env->SleepForMicros(backoff);
    backoff = std::min<uint64_t>(backoff * 2, 5000);
  }
}

}  // namespace tokenaudit::auth
