// The synthetic usage records of the query benchmark (issue 4): DDColor-shaped ComfyUI runs with
// Zipf-distributed users, a handful of models and workflows, resolutions from 0.1 to 24 MP and
// durations that grow with resolution. Record i is a pure function of (seed, i, n), so every
// output (ledger, ClickHouse file, SQLite file) holds exactly the same records.

#ifndef TOKENAUDIT_BENCH_QUERY_RECORD_SHAPE_H_
#define TOKENAUDIT_BENCH_QUERY_RECORD_SHAPE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "tokenaudit/usage_record.h"

namespace tokenaudit::bench {

// 2026-11-01T00:00:00Z: the first record's time; records spread evenly over kSpanDays from here.
inline constexpr int64_t kBaseUnixSeconds = 1793491200;
inline constexpr int kSpanDays = 30;
inline constexpr int kUsers = 10000;
inline constexpr double kZipfExponent = 1.0;

class RecordShape {
 public:
  RecordShape(uint64_t seed, uint64_t total_records);

  // Record `i` of `total_records`, times in increasing order of i, the user already a pseudonym.
  void Make(uint64_t i, UsageRecord* r) const;

  // The pseudonym of the user with Zipf rank `rank` (1 = the heaviest).
  std::string UserPseudonym(int rank) const;

 private:
  uint64_t seed_;
  uint64_t total_;
  std::vector<double> zipf_cdf_;
};

}  // namespace tokenaudit::bench

#endif  // TOKENAUDIT_BENCH_QUERY_RECORD_SHAPE_H_
