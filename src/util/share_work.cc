#include "src/util/share_work.h"

#include <atomic>
#include <memory>

#include "src/util/mutex.h"

namespace tokenaudit {
namespace {

struct Shared {
  explicit Shared(size_t pieces, const std::function<void(size_t)>& f) : n(pieces), fn(f) {}
  const size_t n;
  const std::function<void(size_t)> fn;  // called only for a piece taken before all were
  std::atomic<size_t> next{0};           // the next piece to take
  std::atomic<size_t> done{0};
  Mutex mu;
  CondVar all_done;  // signalled, under mu, by whoever finishes the last piece
};

void TakePieces(Shared& s) {
  for (size_t i; (i = s.next.fetch_add(1, std::memory_order_relaxed)) < s.n;) {
    s.fn(i);
    if (s.done.fetch_add(1, std::memory_order_acq_rel) + 1 == s.n) {
      MutexLock l(&s.mu);
      s.all_done.SignalAll();
    }
  }
}

}  // namespace

void ShareWork(size_t n, int helpers, const std::function<void(std::function<void()>)>& post,
               const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  auto shared = std::make_shared<Shared>(n, fn);
  if (post) {
    for (int h = 0; h < helpers && static_cast<size_t>(h) + 1 < n; ++h) {
      post([shared] { TakePieces(*shared); });
    }
  }
  TakePieces(*shared);
  MutexLock l(&shared->mu);
  while (shared->done.load(std::memory_order_acquire) < n) shared->all_done.Wait(&shared->mu);
}

}  // namespace tokenaudit
