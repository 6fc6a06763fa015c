// WaitForLock: Env::LockFile fails at once when the lock is held; the key store and the
// pseudonym-secret loader instead wait a short while for another process (another `tokenaudit
// keys create`) to finish its read-modify-write.

#ifndef TOKENAUDIT_SRC_AUTH_WAIT_FOR_LOCK_H_
#define TOKENAUDIT_SRC_AUTH_WAIT_FOR_LOCK_H_

#include <cstdint>
#include <memory>
#include <string>

#include "tokenaudit/env.h"
#include "tokenaudit/result.h"

namespace tokenaudit::auth {

// Takes the lock on `path` (creating the file), retrying every millisecond or so while another
// holder has it. Unavailable after `timeout_micros` (by env->NowMicros()); other LockFile errors
// are returned at once.
Result<std::unique_ptr<FileLock>> WaitForLock(Env* env, const std::string& path,
                                              uint64_t timeout_micros);

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_WAIT_FOR_LOCK_H_
