// Counters, gauges and histograms rendered in the Prometheus text exposition format (0.0.4).
// Metric objects are created once at startup and updated lock-free on hot paths.

#ifndef TOKENAUDIT_METRICS_METRICS_H_
#define TOKENAUDIT_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "src/util/mutex.h"

namespace tokenaudit::metrics {

class Counter {
 public:
  void Add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Cumulative-bucket histogram with fixed upper bounds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Renders `name` with `labels` ("" or `a="b"`), one line per bucket, then _sum and _count.
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 (+Inf)
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micro_{0};  // sum × 1e6, as an integer
};

// A set of named metrics. Registration is thread-safe; Render() may run concurrently with
// updates.
class Registry {
 public:
  // `labels` like `reason="invalid_json"` (already escaped) or "".
  Counter* AddCounter(const std::string& name, const std::string& help,
                      const std::string& labels = "");
  Histogram* AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, const std::string& labels = "");
  // A gauge read at render time.
  void AddGauge(const std::string& name, const std::string& help, std::function<double()> read,
                const std::string& labels = "");
  // A counter whose value is kept elsewhere and read at render time (it must never decrease).
  void AddCounterFn(const std::string& name, const std::string& help,
                    std::function<uint64_t()> read, const std::string& labels = "");
  std::string Render() const;

 private:
  struct Entry {
    std::string name, help, type, labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Histogram> histogram;
    std::function<double()> gauge;
    std::function<uint64_t()> counter_fn;
  };
  mutable Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_ GUARDED_BY(mu_);
};

}  // namespace tokenaudit::metrics

#endif  // TOKENAUDIT_METRICS_METRICS_H_
