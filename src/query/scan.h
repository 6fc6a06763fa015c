// What every reader of the usage store does: resolve filters against the dictionaries, skip
// sealed chunks their zone maps rule out, decode the needed columns, and visit the rows that pass.

#ifndef TOKENAUDIT_QUERY_SCAN_H_
#define TOKENAUDIT_QUERY_SCAN_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "src/query/usage_columns.h"
#include "src/query/usage_query.h"
#include "src/query/usage_store.h"
#include "tokenaudit/result.h"

namespace tokenaudit::query {

// The value of a non-time dimension for row i: the string code, the resolution bucket's lower
// bound in 1/1000 MP (-1 without width and height), or model_input_size.
int64_t DimValue(Dim d, const int64_t* const* cols, size_t i, int64_t resolution_step_milli_mp);

// Filters and a time range, resolved to codes.
class RowFilter {
 public:
  // InvalidArgument for a malformed number or a filter on time.
  static Result<RowFilter> Make(const UsageStore& store, const std::vector<Filter>& filters,
                                std::optional<int64_t> from_us, std::optional<int64_t> to_us,
                                int64_t resolution_step_milli_mp);
  // No row can pass (a filter whose values were never seen).
  bool matches_nothing() const { return matches_nothing_; }
  // Marks the columns the filter reads.
  void Need(std::array<bool, kNumCols>* need) const;
  // A sealed chunk no row of which can pass.
  bool Excludes(const SealedChunk& c) const;
  // A granule of a sealed chunk no row of which can pass.
  bool Excludes(const SealedChunk& c, size_t granule) const;
  bool Admits(const int64_t* const* cols, size_t i) const;

  struct Resolved {
    Dim dim;
    std::vector<int64_t> values;  // sorted
  };
  const std::vector<Resolved>& filters() const { return filters_; }
  const std::optional<int64_t>& from_us() const { return from_us_; }
  const std::optional<int64_t>& to_us() const { return to_us_; }
  int64_t resolution_step() const { return step_; }

 private:
  // Zone map [lo, hi] of a column against the filter (time range or any-of codes).
  bool ExcludesRange(Col c, int64_t lo, int64_t hi) const;

  std::vector<Resolved> filters_;
  std::optional<int64_t> from_us_, to_us_;
  int64_t step_ = 1000;
  bool matches_nothing_ = false;
};

// Decoded columns of one chunk: cols[c] points at rows of column c for every c in `need`.
struct ChunkColumns {
  std::array<std::vector<int64_t>, kNumCols> decoded;
  std::array<const int64_t*, kNumCols> cols{};
  DecodeScratch scratch;
  size_t rows = 0;
  // Decodes the needed columns of granules [g0, g1) of a sealed part (row 0 of cols is the
  // first row of g0): every granule, or only those `filter` does not exclude (the rows of the
  // others are left undefined). Callers take a part a window of kLoadGranules at a time, so
  // that memory stays bounded however large the part.
  Status Load(const SealedChunk& chunk, size_t g0, size_t g1,
              const std::array<bool, kNumCols>& need, const RowFilter* filter = nullptr);
  static constexpr size_t kLoadGranules = 8;
  // Points at the first `rows` rows of a chunk still being filled (no copy).
  void Point(const TailChunk& chunk, size_t rows);
};

struct ScanStats {
  uint64_t rows_scanned = 0;
  uint64_t chunks_skipped = 0;
  uint64_t granules_skipped = 0;
};

// Calls visit(cols, i) for every row of a snapshot of `store` that `filter` admits; cols[c] is
// valid for the columns marked in `need` (and those the filter needs).
Status ScanStore(const UsageStore& store, const RowFilter& filter, std::array<bool, kNumCols> need,
                 const std::function<void(const int64_t* const* cols, size_t i)>& visit,
                 ScanStats* stats);

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_SCAN_H_
