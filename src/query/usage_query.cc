#include "src/query/usage_query.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "src/query/quantile_sketch.h"
#include "src/query/scan.h"

namespace tokenaudit::query {
namespace {

constexpr std::string_view kMeasureNames[kNumMeasures] = {
    "count",          "tokens",           "gflops",
    "cost",           "duration_avg",     "duration_min",
    "duration_max",   "duration_p50",     "duration_p95",
    "duration_p99",   "distinct_users",   "tokens_avg",
    "megapixels_avg", "ms_per_megapixel", "ms_at_zero_megapixels",
    "fit_r2"};

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

// Per-group running state.
struct Acc {
  uint64_t count = 0;
  int64_t tokens = 0, gflops = 0, cost = 0;
  uint64_t dur_count = 0;
  int64_t dur_sum = 0, dur_min = INT64_MAX, dur_max = INT64_MIN;
  std::unique_ptr<QuantileSketch> sketch;
  std::unique_ptr<std::unordered_set<int64_t>> users;
  uint64_t fit_n = 0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
};

bool Needs(const UsageQuery& q, Measure m) {
  return q.measures.empty() ||
         std::find(q.measures.begin(), q.measures.end(), m) != q.measures.end();
}

// Computes the key part of a dimension for row i, caching the last time window (rows of a sealed
// chunk are sorted by time within a user, so consecutive rows mostly share it).
class KeyMaker {
 public:
  KeyMaker(const UsageQuery& q) : q_(q) {}

  int64_t Part(Dim d, const int64_t* const* cols, size_t i) {
    if (d != Dim::kTime) return DimValue(d, cols, i, q_.resolution_step_milli_mp);
    const int64_t t = cols[kTime][i];
    if (t < win_.start || t >= win_.end) win_ = q_.window(t);
    return win_.start;
  }

 private:
  const UsageQuery& q_;
  UsageQuery::Window win_{1, 0};  // empty: the first row computes its window
};

}  // namespace

std::string_view MeasureName(Measure m) { return kMeasureNames[static_cast<int>(m)]; }

std::optional<Measure> ParseMeasure(std::string_view name) {
  for (int i = 0; i < kNumMeasures; ++i) {
    if (kMeasureNames[i] == name) return static_cast<Measure>(i);
  }
  return std::nullopt;
}

double GroupRow::Value(Measure m) const {
  switch (m) {
    case Measure::kCount:
      return static_cast<double>(count);
    case Measure::kTokens:
      return static_cast<double>(tokens_milli);
    case Measure::kGflops:
      return static_cast<double>(gflops_milli);
    case Measure::kCost:
      return static_cast<double>(cost_micros);
    case Measure::kDurationAvg:
      return duration_avg();
    case Measure::kDurationMin:
      return static_cast<double>(duration_min);
    case Measure::kDurationMax:
      return static_cast<double>(duration_max);
    case Measure::kDurationP50:
      return static_cast<double>(duration_p50);
    case Measure::kDurationP95:
      return static_cast<double>(duration_p95);
    case Measure::kDurationP99:
      return static_cast<double>(duration_p99);
    case Measure::kDistinctUsers:
      return static_cast<double>(distinct_users);
    case Measure::kTokensAvg:
      return tokens_avg();
    case Measure::kMegapixelsAvg:
      return megapixels_avg();
    case Measure::kMsPerMegapixel:
      return ms_per_megapixel();
    case Measure::kMsAtZeroMegapixels:
      return ms_at_zero_megapixels();
    case Measure::kFitR2:
      return fit_r2();
  }
  return 0;
}

double GroupRow::ms_per_megapixel() const {
  const double n = static_cast<double>(fit_n);
  const double den = n * sum_xx - sum_x * sum_x;
  if (fit_n < 2 || den <= 1e-12 * n * sum_xx) return 0;
  return (n * sum_xy - sum_x * sum_y) / den;
}

double GroupRow::ms_at_zero_megapixels() const {
  if (fit_n < 2) return 0;
  return (sum_y - ms_per_megapixel() * sum_x) / static_cast<double>(fit_n);
}

double GroupRow::fit_r2() const {
  const double n = static_cast<double>(fit_n);
  const double sxx = n * sum_xx - sum_x * sum_x, syy = n * sum_yy - sum_y * sum_y;
  if (fit_n < 2 || sxx <= 1e-12 * n * sum_xx || syy <= 1e-12 * n * sum_yy) return 0;
  const double sxy = n * sum_xy - sum_x * sum_y;
  return sxy * sxy / (sxx * syy);
}

Result<UsageAnswer> RunUsageQuery(const UsageStore& store, const UsageQuery& q) {
  UsageAnswer answer;
  const bool want_time =
      std::find(q.group_by.begin(), q.group_by.end(), Dim::kTime) != q.group_by.end();
  if (want_time && !q.window) {
    return Status::InvalidArgument("group_by time needs a window");
  }
  if (q.resolution_step_milli_mp <= 0) {
    return Status::InvalidArgument("resolution_step must be positive");
  }
  const bool want_quantiles = Needs(q, Measure::kDurationP50) || Needs(q, Measure::kDurationP95) ||
                              Needs(q, Measure::kDurationP99);
  const bool want_users = Needs(q, Measure::kDistinctUsers);
  const bool want_fit = Needs(q, Measure::kMegapixelsAvg) || Needs(q, Measure::kMsPerMegapixel) ||
                        Needs(q, Measure::kMsAtZeroMegapixels) || Needs(q, Measure::kFitR2);

  ASSIGN_OR_RETURN(RowFilter filter, RowFilter::Make(store, q.filters, q.from_us, q.to_us,
                                                     q.resolution_step_milli_mp));

  // The columns the query reads (ScanStore adds the filter's).
  std::array<bool, kNumCols> need{};
  for (Dim d : q.group_by) {
    if (IsStringDim(d)) need[StringCol(d)] = true;
    if (d == Dim::kResolution) need[kWidth] = need[kHeight] = true;
    if (d == Dim::kModelInputSize) need[kModelInputSize] = true;
    if (d == Dim::kTime) need[kTime] = true;
  }
  need[kTokensMilli] = Needs(q, Measure::kTokens) || Needs(q, Measure::kTokensAvg);
  if (want_fit) need[kWidth] = need[kHeight] = true;
  need[kGflopsMilli] = Needs(q, Measure::kGflops);
  need[kCostMicros] = Needs(q, Measure::kCost);
  need[kDuration] = want_quantiles || want_fit || Needs(q, Measure::kDurationAvg) ||
                    Needs(q, Measure::kDurationMin) || Needs(q, Measure::kDurationMax);
  if (want_users) need[kUser] = true;

  const size_t ndims = q.group_by.size();
  using Groups = std::unordered_map<Key, Acc, KeyHash>;
  // One partial aggregation per thread, merged at the end.
  struct Partial {
    Groups groups;
    KeyMaker keys;
    // Rows of a sealed chunk come sorted by (tenant, user, time, model): consecutive rows often
    // fall into the same group, which then costs no hash lookup.
    Key last_key{};
    Acc* last = nullptr;
    // Grouping by one string dimension: the group of each code, found without hashing. Codes
    // interned after the query started fall back to the hash table.
    std::vector<Acc*> by_code;
  };
  // Two threads pay off only when there are sealed chunks to share.
  const size_t nthreads = store.GetStats().sealed_chunks >= 2 ? 2 : 1;
  std::vector<std::unique_ptr<Partial>> partials;
  std::vector<std::function<void(const int64_t* const*, size_t)>> visitors;
  for (size_t t = 0; t < nthreads; ++t) {
    partials.push_back(std::make_unique<Partial>(
        Partial{Groups(64, KeyHash{ndims}), KeyMaker(q), {}, nullptr, {}}));
    Partial& p = *partials.back();
    const bool direct = ndims == 1 && IsStringDim(q.group_by[0]);
    if (direct) p.by_code.assign(store.dict(StringCol(q.group_by[0])).size(), nullptr);
    visitors.push_back([&, &p = p, direct](const int64_t* const* cols, size_t i) {
      Acc* acc;
      if (direct && static_cast<uint64_t>(cols[StringCol(q.group_by[0])][i]) < p.by_code.size()) {
        const int64_t code = cols[StringCol(q.group_by[0])][i];
        Acc*& slot = p.by_code[code];
        if (slot == nullptr) {
          Key key{};
          key[0] = code;
          slot = &p.groups[key];
        }
        acc = slot;
      } else {
        Key key{};
        for (size_t d = 0; d < ndims; ++d) key[d] = p.keys.Part(q.group_by[d], cols, i);
        if (p.last == nullptr || key != p.last_key) {
          p.last = &p.groups[key];  // node-based: the pointer survives rehashing
          p.last_key = key;
        }
        acc = p.last;
      }
      Acc& a = *acc;
      ++a.count;
      if (need[kTokensMilli]) a.tokens += cols[kTokensMilli][i];
      if (need[kGflopsMilli]) a.gflops += cols[kGflopsMilli][i];
      if (need[kCostMicros]) a.cost += cols[kCostMicros][i];
      const int64_t dur = need[kDuration] ? cols[kDuration][i] : -1;
      if (dur >= 0) {
        ++a.dur_count;
        a.dur_sum += dur;
        a.dur_min = std::min(a.dur_min, dur);
        a.dur_max = std::max(a.dur_max, dur);
        if (want_quantiles) {
          if (!a.sketch) a.sketch = std::make_unique<QuantileSketch>();
          a.sketch->Add(static_cast<uint64_t>(dur));
        }
      }
      if (want_users) {
        if (!a.users) a.users = std::make_unique<std::unordered_set<int64_t>>();
        a.users->insert(cols[kUser][i]);
      }
      if (want_fit && dur >= 0 && cols[kWidth][i] > 0 && cols[kHeight][i] > 0) {
        const double x = static_cast<double>(cols[kWidth][i] * cols[kHeight][i]) / 1e6;
        const double y = static_cast<double>(dur);
        ++a.fit_n;
        a.sx += x;
        a.sy += y;
        a.sxx += x * x;
        a.sxy += x * y;
        a.syy += y * y;
      }
    });
  }

  ScanStats stats;
  RETURN_IF_ERROR(ScanStoreParallel(store, filter, need, visitors, &stats));
  answer.rows_scanned = stats.rows_scanned;
  answer.chunks_skipped = stats.chunks_skipped;

  // Merge the partials into the first.
  Groups& groups = partials[0]->groups;
  for (size_t t = 1; t < partials.size(); ++t) {
    for (auto& [key, b] : partials[t]->groups) {
      auto [it, inserted] = groups.try_emplace(key);
      Acc& a = it->second;
      if (inserted) {
        a = std::move(b);
        continue;
      }
      a.count += b.count;
      a.tokens += b.tokens;
      a.gflops += b.gflops;
      a.cost += b.cost;
      a.dur_count += b.dur_count;
      a.dur_sum += b.dur_sum;
      a.dur_min = std::min(a.dur_min, b.dur_min);
      a.dur_max = std::max(a.dur_max, b.dur_max);
      if (b.sketch) {
        if (!a.sketch) {
          a.sketch = std::move(b.sketch);
        } else {
          RETURN_IF_ERROR(a.sketch->Merge(*b.sketch));
        }
      }
      if (b.users) {
        if (!a.users) {
          a.users = std::move(b.users);
        } else {
          a.users->insert(b.users->begin(), b.users->end());
        }
      }
      a.fit_n += b.fit_n;
      a.sx += b.sx;
      a.sy += b.sy;
      a.sxx += b.sxx;
      a.sxy += b.sxy;
      a.syy += b.syy;
    }
  }

  // Materialise.
  answer.groups.reserve(groups.size());
  for (auto& [key, a] : groups) {
    GroupRow g;
    for (size_t d = 0; d < ndims; ++d) {
      const Dim dim = q.group_by[d];
      g.key_numbers.push_back(key[d]);
      g.keys.emplace_back(
          IsStringDim(dim)
              ? std::string(store.dict(StringCol(dim)).String(static_cast<uint32_t>(key[d])))
              : std::to_string(key[d]));
    }
    g.count = a.count;
    g.tokens_milli = a.tokens;
    g.gflops_milli = a.gflops;
    g.cost_micros = a.cost;
    g.duration_count = a.dur_count;
    g.duration_sum = a.dur_sum;
    if (a.dur_count > 0) {
      g.duration_min = a.dur_min;
      g.duration_max = a.dur_max;
    }
    if (a.sketch) {
      g.duration_p50 = std::llround(a.sketch->Quantile(0.50));
      g.duration_p95 = std::llround(a.sketch->Quantile(0.95));
      g.duration_p99 = std::llround(a.sketch->Quantile(0.99));
    }
    if (a.users) g.distinct_users = a.users->size();
    g.fit_n = a.fit_n;
    g.sum_x = a.sx;
    g.sum_y = a.sy;
    g.sum_xx = a.sxx;
    g.sum_xy = a.sxy;
    g.sum_yy = a.syy;
    answer.groups.push_back(std::move(g));
  }
  auto key_less = [&](const GroupRow& a, const GroupRow& b) {
    for (size_t d = 0; d < ndims; ++d) {
      if (IsStringDim(q.group_by[d])) {
        if (a.keys[d] != b.keys[d]) return a.keys[d] < b.keys[d];
      } else if (a.key_numbers[d] != b.key_numbers[d]) {
        return a.key_numbers[d] < b.key_numbers[d];
      }
    }
    return false;
  };
  if (q.order_by) {
    const Measure m = *q.order_by;
    std::sort(answer.groups.begin(), answer.groups.end(),
              [&](const GroupRow& a, const GroupRow& b) {
                const double va = a.Value(m), vb = b.Value(m);
                if (va != vb) return q.descending ? va > vb : va < vb;
                return key_less(a, b);
              });
  } else {
    std::sort(answer.groups.begin(), answer.groups.end(), key_less);
  }
  if (q.limit > 0 && answer.groups.size() > q.limit) answer.groups.resize(q.limit);
  return answer;
}

}  // namespace tokenaudit::query
