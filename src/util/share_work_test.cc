#include "src/util/share_work.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <thread>
#include <vector>

#include "src/util/mutex.h"

namespace tokenaudit {
namespace {

// A pool of threads that run posted tasks in order.
class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~Pool() {
    {
      MutexLock l(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    for (auto& t : threads_) t.join();
  }
  void Post(std::function<void()> task) {
    MutexLock l(&mu_);
    tasks_.push_back(std::move(task));
    cv_.Signal();
  }
  std::function<void(std::function<void()>)> poster() {
    return [this](std::function<void()> t) { Post(std::move(t)); };
  }

 private:
  void Loop() {
    for (;;) {
      std::function<void()> task;
      {
        MutexLock l(&mu_);
        while (tasks_.empty() && !stop_) cv_.Wait(&mu_);
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

TEST(ShareWorkTest, RunsEveryPieceOnceWithHelpers) {
  Pool pool(3);
  for (size_t n : {1u, 2u, 7u, 64u}) {
    std::vector<std::atomic<int>> runs(n);
    ShareWork(n, 3, pool.poster(), [&](size_t i) { runs[i].fetch_add(1); });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(runs[i].load(), 1) << n << " " << i;
  }
}

TEST(ShareWorkTest, TheCallerRunsEverythingWhenNoHelperComes) {
  std::vector<std::function<void()>> never_run_until_later;
  std::vector<int> runs(5, 0);
  const std::thread::id caller = std::this_thread::get_id();
  ShareWork(5, 4, [&](std::function<void()> t) { never_run_until_later.push_back(std::move(t)); },
            [&](size_t i) {
              EXPECT_EQ(std::this_thread::get_id(), caller);
              ++runs[i];
            });
  EXPECT_EQ(runs, std::vector<int>(5, 1));
  // Tasks that run after ShareWork returned find nothing left: fn (on this stack) is not called.
  EXPECT_EQ(never_run_until_later.size(), 4u);
  for (auto& t : never_run_until_later) t();
  EXPECT_EQ(runs, std::vector<int>(5, 1));
}

TEST(ShareWorkTest, NoDeadlockWhenEveryPoolThreadIsACaller) {
  // Both threads of the pool split their own work and post helpers to the pool, which is busy
  // with the two callers: each must finish its pieces alone rather than wait for a helper.
  Pool pool(2);
  std::atomic<int> total{0};
  Mutex mu;
  CondVar cv;
  int finished = 0;
  for (int c = 0; c < 2; ++c) {
    pool.Post([&] {
      for (int round = 0; round < 200; ++round) {
        ShareWork(8, 2, pool.poster(), [&](size_t) { total.fetch_add(1); });
      }
      MutexLock l(&mu);
      ++finished;
      cv.SignalAll();
    });
  }
  MutexLock l(&mu);
  while (finished < 2) cv.Wait(&mu);
  EXPECT_EQ(total.load(), 2 * 200 * 8);
}

}  // namespace
}  // namespace tokenaudit
