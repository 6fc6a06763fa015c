// QuantileSketch: a mergeable relative-error quantile sketch for non-negative integers (durations
// in milliseconds), in the style of DDSketch (Masson, Rim, Lee, VLDB 2019).
//
// Guarantee. Let a be the relative accuracy (0.01 unless chosen otherwise), n = count() > 0 and
// x the exact nearest-rank q-quantile of the values added: the value at 1-based rank
// NearestRank(q, n) = clamp(ceil(q * n), 1, n) of the sorted values. Then for every q in [0, 1]
//
//     |Quantile(q) - x| <= a * x
//
// whatever the distribution, the order of Add calls and how the values were split between
// sketches that were merged. In particular zero is returned exactly, Quantile(0) == min() and
// Quantile(1) == max() exactly, and values below about 1/(2a) (50 for a = 0.01) are exact.
// doc/query_sketch.md explains why the bound holds and the encoding byte by byte.
//
// How. Positive values fall into buckets that are ranges of consecutive integers [lo, hi] with
// (hi - lo) / (hi + lo) <= a; the bucket's representative 2*lo*hi / (lo + hi) is within a*x of
// every x in it. Buckets depend only on a, so two sketches with the same accuracy merge by adding
// bucket counts, and a merged sketch is identical (same buckets, same Encode() bytes, same
// quantiles) to the sketch of all values added to one.
//
// Memory. Counts are kept sparse (index, count pairs) while few buckets are occupied and switch
// to a dense array over the occupied index range when that is no larger or the sparse list grows
// past 32 entries. A sketch with a handful of values costs about 100 bytes plus 16 per distinct
// bucket; a dense one at most 8 bytes per bucket between its smallest and largest value (about
// 2,100 buckets span 1 .. 2^64 at a = 0.01).
//
// Thread-safety: a QuantileSketch is a value type, thread-compatible (const methods may run
// concurrently; anything else needs external synchronisation). Copyable and movable.

#ifndef TOKENAUDIT_QUERY_QUANTILE_SKETCH_H_
#define TOKENAUDIT_QUERY_QUANTILE_SKETCH_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

namespace tokenaudit::query {

namespace internal {
struct SketchBucketTable;  // defined in quantile_sketch.cc
}  // namespace internal

class QuantileSketch {
 public:
  // Relative accuracies a sketch can be built with, in parts per million (a = ppm / 10^6).
  // A fixed menu keeps the bucket tables shared and bounded (each is built once per process).
  static constexpr uint32_t kDefaultAccuracyPpm = 10000;  // a = 0.01
  static constexpr uint32_t kSupportedAccuracyPpm[] = {1000, 2000, 5000, 10000, 20000, 50000};

  // An empty sketch with a = 0.01.
  QuantileSketch();
  // An empty sketch with a = accuracy_ppm / 10^6; InvalidArgument unless accuracy_ppm is one of
  // kSupportedAccuracyPpm.
  static Result<QuantileSketch> WithAccuracy(uint32_t accuracy_ppm);

  QuantileSketch(const QuantileSketch&) = default;
  QuantileSketch& operator=(const QuantileSketch&) = default;
  QuantileSketch(QuantileSketch&&) noexcept = default;
  QuantileSketch& operator=(QuantileSketch&&) noexcept = default;

  // Adds one value. Precondition: count() < 2^64 - 1 (otherwise the value is dropped; only
  // reachable after Add(v, n) or Merge with counts near 2^64, which report it).
  void Add(uint64_t value);
  // Adds `n` copies of `value`. ResourceExhausted (and the sketch unchanged) if count() would
  // exceed 2^64 - 1. n == 0 is a no-op.
  [[nodiscard]] Status Add(uint64_t value, uint64_t n);
  // Adds every value of `other`. InvalidArgument if the accuracies differ, ResourceExhausted if
  // count() would exceed 2^64 - 1; on error this sketch is unchanged. Merging is commutative and
  // associative.
  [[nodiscard]] Status Merge(const QuantileSketch& other);

  // The nearest-rank q-quantile within the guarantee above; q is clamped to [0, 1] (NaN counts as
  // 0). Returns NaN when the sketch is empty.
  double Quantile(double q) const;
  // The 1-based nearest rank clamp(ceil(q * n), 1, n), with q * n evaluated in double precision
  // (so NearestRank(0.1, 10) == 1 and NearestRank(0.95, 100) == 95); q clamped to [0, 1], NaN
  // counts as 0. Exact scans (tests, brute-force checks) use it to agree with the sketch on the
  // rank. Precondition n > 0.
  static uint64_t NearestRank(double q, uint64_t n);

  bool empty() const { return count_ == 0; }
  uint64_t count() const { return count_; }
  // Exact smallest / largest value added; 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  // Exact sum of the values, saturating at 2^64 - 1 (sum_saturated() then says so).
  uint64_t sum() const { return sum_; }
  bool sum_saturated() const { return sum_ == UINT64_MAX; }
  // sum() / count(), NaN when empty.
  double Mean() const;
  uint32_t accuracy_ppm() const { return accuracy_ppm_; }
  double relative_accuracy() const { return accuracy_ppm_ / 1e6; }

  // Heap bytes plus sizeof(*this): what one more group in a group-by costs.
  size_t ApproximateMemoryUsage() const;

  // Appends the canonical encoding (doc/query_sketch.md) to *out. Equal sketches (same accuracy
  // and values, in any order or split) encode to the same bytes.
  void EncodeTo(std::string* out) const;
  std::string Encode() const;
  // Decodes exactly `data` (no trailing bytes). Corruption for malformed, truncated,
  // non-canonical or inconsistent input (counts that do not add up, min/max outside their
  // buckets, ...); InvalidArgument for an unsupported format version or accuracy.
  // Decode(Encode(s)) reproduces s exactly.
  static Result<QuantileSketch> Decode(std::string_view data);

  // Equality of content: accuracy, counts, min, max, sum and every bucket count.
  friend bool operator==(const QuantileSketch& a, const QuantileSketch& b);

 private:
  using BucketTable = internal::SketchBucketTable;
  struct SparseEntry {
    uint32_t index;
    uint64_t count;
  };

  QuantileSketch(uint32_t accuracy_ppm, const BucketTable* table);

  void AddToBucket(uint32_t index, uint64_t n);
  void ConvertToDense();
  void EnsureDenseRange(uint32_t lo, uint32_t hi);
  // Calls fn(index, count) for every non-empty bucket in increasing index order.
  template <typename Fn>
  void ForEachBucket(Fn&& fn) const;
  size_t NonEmptyBuckets() const;

  uint32_t accuracy_ppm_;
  const BucketTable* table_;  // process-lifetime, shared by every sketch of this accuracy
  uint64_t count_ = 0;        // zeros included
  uint64_t zero_count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  uint64_t sum_ = 0;
  // Exactly one of the two holds the counts of positive values: sparse_ (sorted by index, no zero
  // counts) while dense_ is empty, dense_ (counts of indices dense_base_ .. +size) once converted.
  std::vector<SparseEntry> sparse_;
  std::vector<uint64_t> dense_;
  uint32_t dense_base_ = 0;
};

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_QUANTILE_SKETCH_H_
