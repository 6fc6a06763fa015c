// Aggregate queries over the usage store: GET /v1/usage and GET /v1/top (doc/query_api.md).
//
// A query groups the records that pass its filters by any combination of dimensions (Dim) and
// computes measures per group. It reads a snapshot of the store: sealed chunks whose zone maps
// rule them out are skipped; the others are decoded column by column, only the columns the query
// needs.

#ifndef TOKENAUDIT_QUERY_USAGE_QUERY_H_
#define TOKENAUDIT_QUERY_USAGE_QUERY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/query/usage_columns.h"
#include "src/query/usage_store.h"
#include "tokenaudit/result.h"

namespace tokenaudit::query {

enum class Measure : uint8_t {
  kCount,
  kTokens,         // sum of usage.estimated_tokens_milli
  kGflops,         // sum of usage.gflops (milli)
  kCost,           // sum of cost_micros
  kDurationAvg,    // over records with a duration
  kDurationMin,
  kDurationMax,
  kDurationP50,    // sketch: within kQuantileRelativeError of the exact nearest-rank value
  kDurationP95,
  kDurationP99,
  kDistinctUsers,  // exact
  kTokensAvg,      // tokens / count
  kMegapixelsAvg,  // mean width*height/10^6 over records with a resolution
  // Least-squares fit of duration (ms) against megapixels over records with both: the slope is
  // the marginal processing time of one more megapixel, r2 how well a line explains it.
  kMsPerMegapixel,
  kMsAtZeroMegapixels,  // the fit's intercept: fixed cost per run
  kFitR2,
};
inline constexpr int kNumMeasures = static_cast<int>(Measure::kFitR2) + 1;
std::string_view MeasureName(Measure m);
std::optional<Measure> ParseMeasure(std::string_view name);

// Any of `values` (strings for string dims, decimal numbers for resolution/model_input_size).
struct Filter {
  Dim dim;
  std::vector<std::string> values;
};

struct UsageQuery {
  std::vector<Dim> group_by;
  // Dim::kTime: the window [start, end) (unix µs) holding an instant (unix µs).
  struct Window {
    int64_t start, end;
  };
  std::function<Window(int64_t)> window;
  int64_t resolution_step_milli_mp = 1000;  // Dim::kResolution bucket width, in 1/1000 MP
  std::vector<Filter> filters;
  std::optional<int64_t> from_us;  // time >= from
  std::optional<int64_t> to_us;    // time < to
  std::vector<Measure> measures;   // empty: all
  // Sorting and limit (top-K); without order_by groups come in key order.
  std::optional<Measure> order_by;
  bool descending = true;
  size_t limit = 0;  // 0: all groups
};

// One group of the answer. keys[i] belongs to group_by[i]: the string for string dims (the
// empty string is "absent"), otherwise the number (resolution bucket lower bound in 1/1000 MP,
// model_input_size, window start in unix µs).
struct GroupRow {
  std::vector<std::string> keys;
  std::vector<int64_t> key_numbers;
  uint64_t count = 0;
  int64_t tokens_milli = 0, gflops_milli = 0, cost_micros = 0;
  uint64_t duration_count = 0;
  int64_t duration_sum = 0, duration_min = 0, duration_max = 0;
  int64_t duration_p50 = 0, duration_p95 = 0, duration_p99 = 0;
  uint64_t distinct_users = 0;
  // Sums over the records with both a resolution (x, MP) and a duration (y, ms).
  uint64_t fit_n = 0;
  double sum_x = 0, sum_y = 0, sum_xx = 0, sum_xy = 0, sum_yy = 0;

  double tokens_avg() const { return count == 0 ? 0.0 : tokens_milli / 1000.0 / count; }
  double megapixels_avg() const { return fit_n == 0 ? 0.0 : sum_x / fit_n; }
  // Slope, intercept and r^2 of the fit; 0 when undefined (fewer than 2 points, all x equal).
  double ms_per_megapixel() const;
  double ms_at_zero_megapixels() const;
  double fit_r2() const;

  double duration_avg() const {
    return duration_count == 0 ? 0.0 : static_cast<double>(duration_sum) / duration_count;
  }
  // The value of a measure as a double (for ordering and generic output).
  double Value(Measure m) const;
};

struct UsageAnswer {
  std::vector<GroupRow> groups;
  uint64_t rows_scanned = 0;   // rows read after zone-map pruning
  uint64_t chunks_skipped = 0;
  uint64_t granules_skipped = 0;  // in chunks not skipped
};

// Runs `q` over a snapshot of `store`.
Result<UsageAnswer> RunUsageQuery(const UsageStore& store, const UsageQuery& q);

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_USAGE_QUERY_H_
