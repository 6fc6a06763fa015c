// Mutex, MutexLock and CondVar with clang thread-safety annotations (leveldb port/port_stdcxx.h,
// abseil absl/synchronization/mutex.h), so `-Wthread-safety` checks every GUARDED_BY field.
// std::mutex itself carries no annotations in libstdc++.

#ifndef TOKENAUDIT_UTIL_MUTEX_H_
#define TOKENAUDIT_UTIL_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <shared_mutex>

#include "src/util/thread_annotations.h"

namespace tokenaudit {

class TA_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() TA_ACQUIRE() { mu_.lock(); }
  void Unlock() TA_RELEASE() { mu_.unlock(); }
  void AssertHeld() TA_ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class TA_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) TA_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() TA_RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable; callers hold the Mutex they pass to Wait/WaitFor (abseil style, so the
// analysis sees which mutex is required).
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex* mu) TA_REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    cv_.wait(l);
    l.release();
  }
  // Returns after a signal, a spurious wake-up or `micros`, whichever comes first.
  void WaitFor(Mutex* mu, uint64_t micros) TA_REQUIRES(mu) {
    std::unique_lock<std::mutex> l(mu->mu_, std::adopt_lock);
    cv_.wait_for(l, std::chrono::microseconds(micros));
    l.release();
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

// A reader-writer lock; readers share, a writer excludes everyone.
class TA_CAPABILITY("shared_mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() TA_ACQUIRE() { mu_.lock(); }
  void Unlock() TA_RELEASE() { mu_.unlock(); }
  void ReaderLock() TA_THREAD_ANNOTATION_(acquire_shared_capability()) { mu_.lock_shared(); }
  void ReaderUnlock() TA_THREAD_ANNOTATION_(release_shared_capability()) { mu_.unlock_shared(); }
  // Tells the analysis that the caller holds the lock (at least shared) where it cannot see it,
  // e.g. in a callback run under the lock. No runtime check.
  void AssertReaderHeld() const TA_THREAD_ANNOTATION_(assert_shared_capability(this)) {}

 private:
  std::shared_mutex mu_;
};

class TA_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) TA_ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() TA_RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class TA_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) TA_THREAD_ANNOTATION_(acquire_shared_capability(mu))
      : mu_(mu) {
    mu_->ReaderLock();
  }
  ~ReaderLock() TA_RELEASE() { mu_->ReaderUnlock(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_MUTEX_H_
