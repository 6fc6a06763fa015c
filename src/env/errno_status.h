// Status values for failed system calls, shared by the Envs so that the POSIX Env, the memory Env
// and the fault-injection Env describe the same failure with the same words.

#ifndef TOKENAUDIT_SRC_ENV_ERRNO_STATUS_H_
#define TOKENAUDIT_SRC_ENV_ERRNO_STATUS_H_

#include <string_view>

#include "tokenaudit/status.h"

namespace tokenaudit::env {

// Returns the Status for a system call that failed with `err` while working on `context`
// (normally a path). ENOENT becomes NotFound, every other value IOError. The message is
// "<context>: <ERRNO NAME>: <strerror text>", e.g. "log/000.seg: ENOSPC: No space left on device",
// so callers and tests can tell ENOSPC from EIO by message. Thread-safe.
Status ErrnoStatus(std::string_view context, int err);

}  // namespace tokenaudit::env

#endif  // TOKENAUDIT_SRC_ENV_ERRNO_STATUS_H_
