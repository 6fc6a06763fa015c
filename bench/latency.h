// Latency samples of one benchmark scenario and their order statistics. Samples are kept raw
// (8 bytes each) rather than bucketed: a run produces at most a few million, and exact
// percentiles avoid arguing about bucket widths at p999.

#ifndef TOKENAUDIT_BENCH_LATENCY_H_
#define TOKENAUDIT_BENCH_LATENCY_H_

#include <cstdint>
#include <vector>

namespace tokenaudit::bench {

struct LatencySummary {
  uint64_t count = 0;
  double mean_ms = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double p999_ms = 0;
  double max_ms = 0;
};

// Nearest-rank percentiles of `nanos` (sorted in place). All zero if empty.
LatencySummary Summarize(std::vector<int64_t>* nanos);

}  // namespace tokenaudit::bench

#endif  // TOKENAUDIT_BENCH_LATENCY_H_
