// The per-query state of the usage executor (usage_query.cc): the plan every thread reads, the
// aggregates of one thread's groups, the group lookups, and the time-window table of a chunk.
// Internal to the query engine.

#ifndef TOKENAUDIT_QUERY_USAGE_QUERY_GROUPS_H_
#define TOKENAUDIT_QUERY_USAGE_QUERY_GROUPS_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "src/query/quantile_sketch.h"
#include "src/query/scan.h"
#include "src/query/usage_query.h"

namespace tokenaudit::query::internal {

using Key = std::array<int64_t, kNumDims>;
// Hashes the first `n` parts (the rest are zero in every key of a query).
struct KeyHash {
  size_t n = kNumDims;
  size_t operator()(const Key& k) const {
    uint64_t h = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n; ++i) {
      h ^= static_cast<uint64_t>(k[i]) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    }
    return static_cast<size_t>(h * 0xff51afd7ed558ccdull);
  }
};

// y / d for 0 <= y < 2^52 and d >= 1 without a hardware division: a floating-point estimate,
// corrected to the exact quotient.
struct Divider {
  int64_t d = 1;
  double inv = 1;
  explicit Divider(int64_t divisor) : d(divisor), inv(1.0 / static_cast<double>(divisor)) {}
  int64_t Div(int64_t y) const {
    if (y < 0 || y >= (int64_t{1} << 52) || d >= (int64_t{1} << 40)) return y / d;
    int64_t q = static_cast<int64_t>(static_cast<double>(y) * inv);
    while (q * d > y) --q;
    while ((q + 1) * d <= y) ++q;
    return q;
  }
};

// The resolution bucket number of a row (bucket lower bound = number * step), -1 without a
// resolution: w * h / 1000 / step as DimValue computes it.
inline int64_t ResolutionBucket(int64_t w, int64_t h, const Divider& step) {
  if (w <= 0 || h <= 0) return -1;
  return step.Div(w * h / 1000);
}

// The time windows that cover [tmin, tmax] of one chunk, with a lookup that needs no call of the
// query's window function per row: the range is cut into cells of 2^shift µs, no wider than the
// narrowest window, so a cell holds at most one window boundary.
struct TimeTable {
  bool ok = false;
  uint64_t tmin = 0;
  int shift = 0;
  std::vector<uint32_t> cell_win;  // the window holding the cell's first instant
  std::vector<int64_t> cell_next;  // where that window ends
  std::vector<int64_t> win_start;
  std::vector<int32_t> win_gid;  // grouping by time alone: the group of each window, -1 unseen

  static constexpr size_t kMaxWindows = 1 << 16;

  // False when the windows are too many for a table or do not tile the range (then the caller
  // asks the window function per row).
  bool Build(const UsageQuery& q, int64_t lo, int64_t hi);
  // t in [lo, hi] of Build.
  uint32_t Index(int64_t t) const {
    const uint64_t c = (static_cast<uint64_t>(t) - tmin) >> shift;
    return cell_win[c] + (t >= cell_next[c] ? 1 : 0);
  }
};

// What every thread of one query shares, read-only.
struct Plan {
  const UsageQuery* q = nullptr;
  const RowFilter* filter = nullptr;
  size_t ndims = 0;
  std::array<bool, kNumCols> need{};
  bool want_tokens = false, want_gflops = false, want_cost = false, want_dur = false;
  bool want_quantiles = false, want_users = false, want_fit = false;
  // The filter, in the form the kernels use.
  bool time_filter = false;
  int64_t from = INT64_MIN, to = INT64_MAX;
  struct CodeSet {
    Col col;
    std::vector<uint8_t> allowed;  // by code
  };
  std::vector<CodeSet> code_filters;
  std::vector<const RowFilter::Resolved*> number_filters;  // resolution, model_input_size
  // Dictionary sizes when the query started (direct-indexed group tables).
  std::array<uint32_t, kNumStringCols> dict_size{};
};

// Aggregates of the groups of one thread, column by column; group ids are indexes.
struct Aggs {
  const Plan* plan = nullptr;
  std::vector<Key> keys;
  std::vector<uint64_t> count;
  std::vector<int64_t> tokens, gflops, cost;
  std::vector<uint64_t> dur_count;
  std::vector<int64_t> dur_sum, dur_min, dur_max;
  std::vector<std::unique_ptr<QuantileSketch>> sketch;
  std::vector<std::unique_ptr<std::unordered_set<int64_t>>> users;
  struct Fit {
    uint64_t n = 0;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
  };
  std::vector<Fit> fit;

  size_t size() const { return keys.size(); }
  int32_t Add(const Key& k);
  // Adds group `b` of `o` into group `a` of this.
  Status Merge(int32_t a, Aggs& o, int32_t b);
};

// Maps values of one dimension to group ids (grouping by that dimension alone): small
// non-negative values through an array, others through a hash table.
class GroupIndex {
 public:
  static constexpr int64_t kMaxDense = 1 << 20;
  explicit GroupIndex(size_t dense_hint) : dense_(std::min<size_t>(dense_hint, kMaxDense), -1) {}
  // The group of dense index `idx` (the value's position), its key value `v`.
  int32_t Get(int64_t idx, int64_t v, Aggs* aggs, size_t dim_pos) {
    if (static_cast<uint64_t>(idx) < dense_.size() && dense_[idx] >= 0) [[likely]] {
      return dense_[idx];
    }
    return GetSlow(idx, v, aggs, dim_pos);
  }
  [[gnu::noinline]] int32_t GetSlow(int64_t idx, int64_t v, Aggs* aggs, size_t dim_pos);
  // The group of key value v, without a dense index.
  int32_t ByValue(int64_t v, Aggs* aggs, size_t dim_pos) {
    auto [it, inserted] = sparse_.try_emplace(v, -1);
    if (inserted) it->second = New(v, aggs, dim_pos);
    return it->second;
  }

 private:
  static int32_t New(int64_t v, Aggs* aggs, size_t dim_pos) {
    Key k{};
    k[dim_pos] = v;
    return aggs->Add(k);
  }
  std::vector<int32_t> dense_;
  std::unordered_map<int64_t, int32_t> sparse_;
};

}  // namespace tokenaudit::query::internal

#endif  // TOKENAUDIT_QUERY_USAGE_QUERY_GROUPS_H_
