#include "bench/latency.h"

#include <algorithm>
#include <cmath>

namespace tokenaudit::bench {

LatencySummary Summarize(std::vector<int64_t>* nanos) {
  LatencySummary s;
  if (nanos->empty()) return s;
  std::sort(nanos->begin(), nanos->end());
  const size_t n = nanos->size();
  auto rank = [&](double q) {
    // Nearest rank: the smallest sample with at least q of the samples at or below it.
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(n)));
    i = std::clamp<size_t>(i, 1, n);
    return static_cast<double>((*nanos)[i - 1]) / 1e6;
  };
  double sum = 0;
  for (int64_t v : *nanos) sum += static_cast<double>(v);
  s.count = n;
  s.mean_ms = sum / static_cast<double>(n) / 1e6;
  s.p50_ms = rank(0.50);
  s.p90_ms = rank(0.90);
  s.p99_ms = rank(0.99);
  s.p999_ms = rank(0.999);
  s.max_ms = static_cast<double>(nanos->back()) / 1e6;
  return s;
}

}  // namespace tokenaudit::bench
