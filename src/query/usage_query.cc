#include "src/query/usage_query.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <unordered_map>
#include <unordered_set>
#include <thread>

#include "src/query/quantile_sketch.h"
#include "src/query/scan.h"
#include "src/query/usage_query_groups.h"

namespace tokenaudit::query {
namespace {

using internal::Aggs;
using internal::Divider;
using internal::GroupIndex;
using internal::Key;
using internal::KeyHash;
using internal::Plan;
using internal::ResolutionBucket;
using internal::TimeTable;

// Granules of a sealed part one thread takes at a time (a chunk has 8 or a few more).
constexpr size_t kPieceGranules = 16;

constexpr std::string_view kMeasureNames[kNumMeasures] = {
    "count",          "tokens",           "gflops",
    "cost",           "duration_avg",     "duration_min",
    "duration_max",   "duration_p50",     "duration_p95",
    "duration_p99",   "distinct_users",   "tokens_avg",
    "megapixels_avg", "ms_per_megapixel", "ms_at_zero_megapixels",
    "fit_r2"};

bool Needs(const UsageQuery& q, Measure m) {
  return q.measures.empty() ||
         std::find(q.measures.begin(), q.measures.end(), m) != q.measures.end();
}

// One thread's share of a query: decodes granules and runs the kernels over blocks of rows.
class Worker {
 public:
  explicit Worker(const Plan& p)
      : p_(p), q_(*p.q), step_(p.q->resolution_step_milli_mp), groups_(64, KeyHash{p.ndims}) {
    aggs_.plan = &p;
    if (p_.ndims == 1) {
      const Dim d = q_.group_by[0];
      index_ = std::make_unique<GroupIndex>(IsStringDim(d) ? p_.dict_size[StringCol(d)] : 64);
    }
    if (p_.ndims == 0) aggs_.Add(Key{});
    for (int c = 0; c < kNumCols; ++c) {
      if (p_.need[c]) buf_[c].resize(kGranuleRows);
    }
  }

  Aggs& aggs() { return aggs_; }
  const ScanStats& stats() const { return stats_; }

  // Granules [first, end) of a sealed part (a large part is dealt out in several pieces).
  Status Sealed(const SealedChunk& chunk, size_t first, size_t end) {
    if (p_.filter->Excludes(chunk)) {
      if (first == 0) ++stats_.chunks_skipped;
      return Status::OK();
    }
    if (prepared_ != &chunk) {
      PrepareTime(chunk.min(kTime), chunk.max(kTime));
      prepared_ = &chunk;
    }
    const size_t ng = end;
    std::array<std::string_view, kNumCols> bytes;
    std::array<const int64_t*, kNumCols> cols{};
    for (size_t g0 = first; g0 < ng;) {
      if (p_.filter->Excludes(chunk, g0)) {
        ++stats_.granules_skipped;
        ++g0;
        continue;
      }
      size_t g1 = g0 + 1;
      while (g1 < ng && !p_.filter->Excludes(chunk, g1)) ++g1;
      for (int c = 0; c < kNumCols; ++c) {
        if (!p_.need[c]) continue;
        RETURN_IF_ERROR(chunk.ReadFrames(static_cast<Col>(c), g0, g1, &io_[c], &bytes[c],
                                         &scratch_));
      }
      for (size_t g = g0; g < g1; ++g) {
        for (int c = 0; c < kNumCols; ++c) {
          if (!p_.need[c]) continue;
          RETURN_IF_ERROR(chunk.DecodeGranule(static_cast<Col>(c), g, g0, bytes[c],
                                              buf_[c].data(), &scratch_));
          cols[c] = buf_[c].data();
        }
        const size_t n = chunk.granule_rows(g);
        stats_.rows_scanned += n;
        // A granule inside the time range needs no per-row time check.
        const bool check_time = p_.time_filter && (chunk.min(kTime, g) < p_.from ||
                                                   chunk.max(kTime, g) >= p_.to);
        Block(cols.data(), n, check_time);
      }
      g0 = g1;
    }
    return Status::OK();
  }

  void Raw(const TailChunk& chunk, size_t rows) {
    if (rows == 0) return;
    prepared_ = nullptr;
    if (has_time_dim_) {
      const int64_t* t = chunk.col(kTime);
      const auto [lo, hi] = std::minmax_element(t, t + rows);
      PrepareTime(*lo, *hi);
    }
    std::array<const int64_t*, kNumCols> cols{};
    for (size_t begin = 0; begin < rows; begin += kGranuleRows) {
      for (int c = 0; c < kNumCols; ++c) cols[c] = chunk.col(static_cast<Col>(c)) + begin;
      const size_t n = std::min(kGranuleRows, rows - begin);
      stats_.rows_scanned += n;
      Block(cols.data(), n, p_.time_filter);
    }
  }

  bool has_time_dim_ = false;

 private:
  void PrepareTime(int64_t lo, int64_t hi) {
    if (!has_time_dim_) return;
    // A table per chunk: windows are found by index, not by calling the window function.
    table_ok_ = time_.Build(q_, lo, hi);
  }

  // Rows of the block that pass the filter: sel_[0, m), or all rows (returns n, sel unused).
  size_t Select(const int64_t* const* cols, size_t n, bool check_time, bool* all) {
    *all = !check_time && p_.code_filters.empty() && p_.number_filters.empty();
    if (*all) return n;
    uint32_t* sel = sel_.data();
    size_t m = 0;
    if (check_time) {
      const int64_t* t = cols[kTime];
      const int64_t from = p_.from, to = p_.to;
      for (size_t i = 0; i < n; ++i) {
        sel[m] = static_cast<uint32_t>(i);
        m += (t[i] >= from) & (t[i] < to);
      }
    } else {
      for (size_t i = 0; i < n; ++i) sel[i] = static_cast<uint32_t>(i);
      m = n;
    }
    for (const Plan::CodeSet& f : p_.code_filters) {
      const int64_t* v = cols[f.col];
      const uint8_t* ok = f.allowed.data();
      const uint64_t size = f.allowed.size();
      size_t k = 0;
      for (size_t j = 0; j < m; ++j) {
        const uint32_t i = sel[j];
        sel[k] = i;
        k += static_cast<uint64_t>(v[i]) < size && ok[v[i]];
      }
      m = k;
    }
    for (const RowFilter::Resolved* f : p_.number_filters) {
      size_t k = 0;
      for (size_t j = 0; j < m; ++j) {
        const uint32_t i = sel[j];
        sel[k] = i;
        k += std::binary_search(f->values.begin(), f->values.end(),
                                DimValue(f->dim, cols, i, step_.d));
      }
      m = k;
    }
    return m;
  }

  // The key value of dimension d for row i (multi-dimension grouping).
  int64_t Value(Dim d, const int64_t* const* cols, size_t i) {
    switch (d) {
      case Dim::kResolution: {
        const int64_t b = ResolutionBucket(cols[kWidth][i], cols[kHeight][i], step_);
        return b < 0 ? -1 : b * step_.d;
      }
      case Dim::kModelInputSize:
        return cols[kModelInputSize][i];
      case Dim::kTime:
        return WindowStart(cols[kTime][i]);
      default:
        return cols[StringCol(d)][i];
    }
  }

  int64_t WindowStart(int64_t t) {
    if (table_ok_) return time_.win_start[time_.Index(t)];
    if (t < win_.start || t >= win_.end) win_ = q_.window(t);
    return win_.start;
  }

  template <bool kAll>
  void GroupIds(const int64_t* const* cols, const uint32_t* sel, size_t m) {
    int32_t* gid = gid_.data();
    auto row = [sel](size_t k) -> size_t {
      if constexpr (kAll) {
        return k;
      } else {
        return sel[k];
      }
    };
    if (p_.ndims == 0) {
      std::fill(gid, gid + m, 0);
      return;
    }
    if (p_.ndims == 1) {
      const Dim d = q_.group_by[0];
      GroupIndex& ix = *index_;
      switch (d) {
        case Dim::kResolution: {
          const int64_t* w = cols[kWidth];
          const int64_t* h = cols[kHeight];
          for (size_t k = 0; k < m; ++k) {
            const size_t i = row(k);
            const int64_t b = ResolutionBucket(w[i], h[i], step_);
            gid[k] = ix.Get(b + 1, b < 0 ? -1 : b * step_.d, &aggs_, 0);
          }
          return;
        }
        case Dim::kModelInputSize: {
          const int64_t* v = cols[kModelInputSize];
          for (size_t k = 0; k < m; ++k) gid[k] = ix.Get(v[row(k)], v[row(k)], &aggs_, 0);
          return;
        }
        case Dim::kTime: {
          const int64_t* t = cols[kTime];
          if (table_ok_) {
            int32_t* wg = time_.win_gid.data();
            for (size_t k = 0; k < m; ++k) {
              const uint32_t w = time_.Index(t[row(k)]);
              if (wg[w] < 0) wg[w] = ix.ByValue(time_.win_start[w], &aggs_, 0);
              gid[k] = wg[w];
            }
          } else {
            for (size_t k = 0; k < m; ++k) {
              gid[k] = ix.ByValue(WindowStart(t[row(k)]), &aggs_, 0);
            }
          }
          return;
        }
        default: {
          const int64_t* v = cols[StringCol(d)];
          for (size_t k = 0; k < m; ++k) gid[k] = ix.Get(v[row(k)], v[row(k)], &aggs_, 0);
          return;
        }
      }
    }
    // Several dimensions: the whole key through a hash table, skipped while consecutive rows
    // (sorted by tenant, user, time, model) repeat the previous key.
    for (size_t k = 0; k < m; ++k) {
      const size_t i = row(k);
      Key key{};
      for (size_t d = 0; d < p_.ndims; ++d) key[d] = Value(q_.group_by[d], cols, i);
      if (last_gid_ < 0 || key != last_key_) {
        auto [it, inserted] = groups_.try_emplace(key, -1);
        if (inserted) it->second = aggs_.Add(key);
        last_gid_ = it->second;
        last_key_ = key;
      }
      gid[k] = last_gid_;
    }
  }

  template <bool kAll>
  void Aggregate(const int64_t* const* cols, const uint32_t* sel, size_t m) {
    const int32_t* gid = gid_.data();
    auto row = [sel](size_t k) -> size_t {
      if constexpr (kAll) {
        return k;
      } else {
        return sel[k];
      }
    };
    Aggs& a = aggs_;
    if (p_.ndims == 0) {
      // One group: plain sums.
      a.count[0] += m;
      auto sum = [&](Col c) {
        const int64_t* v = cols[c];
        int64_t s = 0;
        for (size_t k = 0; k < m; ++k) s += v[row(k)];
        return s;
      };
      if (p_.want_tokens) a.tokens[0] += sum(kTokensMilli);
      if (p_.want_gflops) a.gflops[0] += sum(kGflopsMilli);
      if (p_.want_cost) a.cost[0] += sum(kCostMicros);
    } else {
      uint64_t* count = a.count.data();
      for (size_t k = 0; k < m; ++k) ++count[gid[k]];
      auto sum = [&](Col c, std::vector<int64_t>* out) {
        const int64_t* v = cols[c];
        int64_t* o = out->data();
        for (size_t k = 0; k < m; ++k) o[gid[k]] += v[row(k)];
      };
      if (p_.want_tokens) sum(kTokensMilli, &a.tokens);
      if (p_.want_gflops) sum(kGflopsMilli, &a.gflops);
      if (p_.want_cost) sum(kCostMicros, &a.cost);
    }
    if (p_.want_dur) {
      const int64_t* dur = cols[kDuration];
      uint64_t* dc = a.dur_count.data();
      int64_t* ds = a.dur_sum.data();
      int64_t* dmin = a.dur_min.data();
      int64_t* dmax = a.dur_max.data();
      for (size_t k = 0; k < m; ++k) {
        const int64_t d = dur[row(k)];
        if (d < 0) continue;
        const int32_t g = gid[k];
        ++dc[g];
        ds[g] += d;
        dmin[g] = std::min(dmin[g], d);
        dmax[g] = std::max(dmax[g], d);
      }
      if (p_.want_quantiles) {
        for (size_t k = 0; k < m; ++k) {
          const int64_t d = dur[row(k)];
          if (d >= 0) a.sketch[gid[k]]->Add(static_cast<uint64_t>(d));
        }
      }
    }
    if (p_.want_users) {
      const int64_t* u = cols[kUser];
      for (size_t k = 0; k < m; ++k) a.users[gid[k]]->insert(u[row(k)]);
    }
    if (p_.want_fit) {
      const int64_t* dur = cols[kDuration];
      const int64_t* w = cols[kWidth];
      const int64_t* h = cols[kHeight];
      for (size_t k = 0; k < m; ++k) {
        const size_t i = row(k);
        if (dur[i] < 0 || w[i] <= 0 || h[i] <= 0) continue;
        const double x = static_cast<double>(w[i] * h[i]) / 1e6;
        const double y = static_cast<double>(dur[i]);
        Aggs::Fit& f = a.fit[gid[k]];
        ++f.n;
        f.sx += x;
        f.sy += y;
        f.sxx += x * x;
        f.sxy += x * y;
        f.syy += y * y;
      }
    }
  }

  void Block(const int64_t* const* cols, size_t n, bool check_time) {
    bool all = false;
    const size_t m = Select(cols, n, check_time, &all);
    if (m == 0) return;
    if (all) {
      GroupIds<true>(cols, nullptr, m);
      Aggregate<true>(cols, nullptr, m);
    } else {
      GroupIds<false>(cols, sel_.data(), m);
      Aggregate<false>(cols, sel_.data(), m);
    }
  }

  const Plan& p_;
  const UsageQuery& q_;
  const Divider step_;
  Aggs aggs_;
  ScanStats stats_;
  DecodeScratch scratch_;
  const SealedChunk* prepared_ = nullptr;  // the part the time table was built for
  std::array<std::string, kNumCols> io_;
  std::array<std::vector<int64_t>, kNumCols> buf_;
  std::array<uint32_t, kGranuleRows> sel_;
  std::array<int32_t, kGranuleRows> gid_;
  // Grouping by one dimension.
  std::unique_ptr<GroupIndex> index_;
  // Grouping by several.
  std::unordered_map<Key, int32_t, KeyHash> groups_;
  Key last_key_{};
  int32_t last_gid_ = -1;
  // Time windows of the chunk being read.
  TimeTable time_;
  bool table_ok_ = false;
  UsageQuery::Window win_{1, 0};  // without a table: the last window, empty at first
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
  ASSIGN_OR_RETURN(RowFilter filter, RowFilter::Make(store, q.filters, q.from_us, q.to_us,
                                                     q.resolution_step_milli_mp));

  Plan p;
  p.q = &q;
  p.filter = &filter;
  p.ndims = q.group_by.size();
  p.want_quantiles = Needs(q, Measure::kDurationP50) || Needs(q, Measure::kDurationP95) ||
                     Needs(q, Measure::kDurationP99);
  p.want_users = Needs(q, Measure::kDistinctUsers);
  p.want_fit = Needs(q, Measure::kMegapixelsAvg) || Needs(q, Measure::kMsPerMegapixel) ||
               Needs(q, Measure::kMsAtZeroMegapixels) || Needs(q, Measure::kFitR2);
  p.want_tokens = Needs(q, Measure::kTokens) || Needs(q, Measure::kTokensAvg);
  p.want_gflops = Needs(q, Measure::kGflops);
  p.want_cost = Needs(q, Measure::kCost);
  p.want_dur = p.want_quantiles || Needs(q, Measure::kDurationAvg) ||
               Needs(q, Measure::kDurationMin) || Needs(q, Measure::kDurationMax);

  // The columns the query reads.
  std::array<bool, kNumCols>& need = p.need;
  for (Dim d : q.group_by) {
    if (IsStringDim(d)) need[StringCol(d)] = true;
    if (d == Dim::kResolution) need[kWidth] = need[kHeight] = true;
    if (d == Dim::kModelInputSize) need[kModelInputSize] = true;
    if (d == Dim::kTime) need[kTime] = true;
  }
  need[kTokensMilli] = p.want_tokens;
  need[kGflopsMilli] = p.want_gflops;
  need[kCostMicros] = p.want_cost;
  need[kDuration] = p.want_dur || p.want_fit;
  if (p.want_fit) need[kWidth] = need[kHeight] = true;
  if (p.want_users) need[kUser] = true;
  filter.Need(&need);

  // The filter in kernel form.
  p.time_filter = q.from_us.has_value() || q.to_us.has_value();
  if (q.from_us) p.from = *q.from_us;
  if (q.to_us) p.to = *q.to_us;
  for (const RowFilter::Resolved& r : filter.filters()) {
    if (IsStringDim(r.dim)) {
      Plan::CodeSet set{StringCol(r.dim), {}};
      if (!r.values.empty()) set.allowed.assign(r.values.back() + 1, 0);
      for (int64_t v : r.values) set.allowed[v] = 1;
      // Several filters on one dimension intersect: each is its own set.
      p.code_filters.push_back(std::move(set));
    } else {
      p.number_filters.push_back(&r);
    }
  }
  for (int c = 0; c < kNumStringCols; ++c) p.dict_size[c] = store.dict(static_cast<Col>(c)).size();

  UsageStore::Snapshot snap;
  if (!filter.matches_nothing()) snap = store.Snap();
  // Work items: pieces of the sealed parts (up to kPieceGranules granules each, so that two
  // threads share a large merged part), then the chunks still being filled; threads take the
  // next.
  struct Piece {
    const SealedChunk* part;
    size_t g0, g1;
  };
  std::vector<Piece> pieces;
  for (const auto& part : snap.sealed) {
    for (size_t g = 0; g < part->granules(); g += kPieceGranules) {
      pieces.push_back({part.get(), g, std::min(part->granules(), g + kPieceGranules)});
    }
  }
  const size_t items = pieces.size() + snap.raw.size();
  const size_t nthreads = items >= 2 ? 2 : 1;
  std::vector<std::unique_ptr<Worker>> workers;
  for (size_t t = 0; t < nthreads; ++t) {
    workers.push_back(std::make_unique<Worker>(p));
    workers.back()->has_time_dim_ = want_time;
  }
  std::atomic<size_t> next{0};
  std::vector<Status> status(nthreads);
  auto work = [&](size_t t) {
    Worker& w = *workers[t];
    for (;;) {
      const size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= items) return;
      if (i < pieces.size()) {
        Status s = w.Sealed(*pieces[i].part, pieces[i].g0, pieces[i].g1);
        if (!s.ok()) {
          status[t] = s;
          next.store(items);
          return;
        }
      } else {
        const auto& raw = snap.raw[i - pieces.size()];
        w.Raw(*raw.chunk, raw.rows);
      }
    }
  };
  {
    std::vector<std::thread> threads;
    for (size_t t = 1; t < nthreads; ++t) threads.emplace_back(work, t);
    work(0);
    for (auto& th : threads) th.join();
  }
  for (const Status& s : status) RETURN_IF_ERROR(s);
  for (const auto& w : workers) {
    answer.rows_scanned += w->stats().rows_scanned;
    answer.chunks_skipped += w->stats().chunks_skipped;
    answer.granules_skipped += w->stats().granules_skipped;
  }

  // Merge the other threads' groups into the first's.
  const size_t ndims = p.ndims;
  Aggs& aggs = workers[0]->aggs();
  if (nthreads > 1) {
    std::unordered_map<Key, int32_t, KeyHash> index(aggs.size() * 2 + 16, KeyHash{ndims});
    for (size_t g = 0; g < aggs.size(); ++g) index.emplace(aggs.keys[g], static_cast<int32_t>(g));
    for (size_t t = 1; t < nthreads; ++t) {
      Aggs& o = workers[t]->aggs();
      for (size_t g = 0; g < o.size(); ++g) {
        auto [it, inserted] = index.try_emplace(o.keys[g], -1);
        if (inserted) it->second = aggs.Add(o.keys[g]);
        RETURN_IF_ERROR(aggs.Merge(it->second, o, static_cast<int32_t>(g)));
      }
    }
  }

  // Materialise (groups that received no row exist only without group_by: none then).
  answer.groups.reserve(aggs.size());
  for (size_t gi = 0; gi < aggs.size(); ++gi) {
    if (aggs.count[gi] == 0) continue;
    const Key& key = aggs.keys[gi];
    GroupRow g;
    for (size_t d = 0; d < ndims; ++d) {
      const Dim dim = q.group_by[d];
      g.key_numbers.push_back(key[d]);
      g.keys.emplace_back(
          IsStringDim(dim)
              ? std::string(store.dict(StringCol(dim)).String(static_cast<uint32_t>(key[d])))
              : std::to_string(key[d]));
    }
    g.count = aggs.count[gi];
    if (p.want_tokens) g.tokens_milli = aggs.tokens[gi];
    if (p.want_gflops) g.gflops_milli = aggs.gflops[gi];
    if (p.want_cost) g.cost_micros = aggs.cost[gi];
    if (p.want_dur) {
      g.duration_count = aggs.dur_count[gi];
      g.duration_sum = aggs.dur_sum[gi];
      if (g.duration_count > 0) {
        g.duration_min = aggs.dur_min[gi];
        g.duration_max = aggs.dur_max[gi];
      }
    }
    if (p.want_quantiles && !aggs.sketch[gi]->empty()) {
      const QuantileSketch& s = *aggs.sketch[gi];
      g.duration_p50 = std::llround(s.Quantile(0.50));
      g.duration_p95 = std::llround(s.Quantile(0.95));
      g.duration_p99 = std::llround(s.Quantile(0.99));
    }
    if (p.want_users) g.distinct_users = aggs.users[gi]->size();
    if (p.want_fit) {
      const Aggs::Fit& f = aggs.fit[gi];
      g.fit_n = f.n;
      g.sum_x = f.sx;
      g.sum_y = f.sy;
      g.sum_xx = f.sxx;
      g.sum_xy = f.sxy;
      g.sum_yy = f.syy;
    }
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
    auto better = [&](const GroupRow& a, const GroupRow& b) {
      const double va = a.Value(m), vb = b.Value(m);
      if (va != vb) return q.descending ? va > vb : va < vb;
      return key_less(a, b);
    };
    if (q.limit > 0 && answer.groups.size() > q.limit) {
      std::partial_sort(answer.groups.begin(), answer.groups.begin() + q.limit,
                        answer.groups.end(), better);
    } else {
      std::sort(answer.groups.begin(), answer.groups.end(), better);
    }
  } else {
    std::sort(answer.groups.begin(), answer.groups.end(), key_less);
  }
  if (q.limit > 0 && answer.groups.size() > q.limit) answer.groups.resize(q.limit);
  return answer;
}

}  // namespace tokenaudit::query
