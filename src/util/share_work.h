// Splitting one task into pieces that the calling thread and any idle threads of a pool run
// together (one large request's parsing, shared by the HTTP I/O threads).

#ifndef TOKENAUDIT_UTIL_SHARE_WORK_H_
#define TOKENAUDIT_UTIL_SHARE_WORK_H_

#include <cstddef>
#include <functional>

namespace tokenaudit {

// Runs fn(0), ..., fn(n - 1), each exactly once, and returns when all have returned. The calling
// thread runs pieces itself, and `helpers` tasks handed to `post` (which runs a task on some other
// thread, later) run pieces too when they get to run before the pieces are all taken. A piece is
// taken by whoever asks first, so the caller only ever waits for pieces that another thread is
// already running, never for a posted task to be scheduled: no deadlock when every thread of the
// pool is such a caller, and no piece is idle while the caller is. `fn` may refer to the caller's
// stack: no piece starts after ShareWork returns (a late task finds nothing left and does nothing).
void ShareWork(size_t n, int helpers, const std::function<void(std::function<void()>)>& post,
               const std::function<void(size_t)>& fn);

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_SHARE_WORK_H_
