#include "src/query/usage_query_groups.h"

namespace tokenaudit::query::internal {

bool TimeTable::Build(const UsageQuery& q, int64_t lo, int64_t hi) {
  ok = false;
  win_start.clear();
  win_gid.clear();
  std::vector<int64_t> win_end;
  UsageQuery::Window w = q.window(lo);
  if (!(w.start <= lo && lo < w.end)) return false;
  uint64_t min_width = UINT64_MAX;
  for (;;) {
    win_start.push_back(w.start);
    win_end.push_back(w.end);
    min_width = std::min(min_width, static_cast<uint64_t>(w.end) - static_cast<uint64_t>(w.start));
    if (w.end > hi) break;
    if (win_start.size() >= kMaxWindows) return false;
    const UsageQuery::Window next = q.window(w.end);
    if (next.start != w.end || next.end <= next.start) return false;
    w = next;
  }
  shift = 63 - std::countl_zero(min_width);
  tmin = static_cast<uint64_t>(lo);
  const uint64_t cells = ((static_cast<uint64_t>(hi) - tmin) >> shift) + 1;
  if (cells > 4 * kMaxWindows) return false;
  cell_win.resize(cells);
  cell_next.resize(cells);
  uint32_t k = 0;
  for (uint64_t c = 0; c < cells; ++c) {
    const auto start = static_cast<int64_t>(tmin + (c << shift));
    while (k + 1 < win_start.size() && win_end[k] <= start) ++k;
    cell_win[c] = k;
    cell_next[c] = win_end[k];
  }
  win_gid.assign(win_start.size(), -1);
  return ok = true;
}

int32_t Aggs::Add(const Key& k) {
  const Plan& p = *plan;
  keys.push_back(k);
  count.push_back(0);
  if (p.want_tokens) tokens.push_back(0);
  if (p.want_gflops) gflops.push_back(0);
  if (p.want_cost) cost.push_back(0);
  if (p.want_dur) {
    dur_count.push_back(0);
    dur_sum.push_back(0);
    dur_min.push_back(INT64_MAX);
    dur_max.push_back(INT64_MIN);
  }
  if (p.want_quantiles) sketch.push_back(std::make_unique<QuantileSketch>());
  if (p.want_users) users.push_back(std::make_unique<std::unordered_set<int64_t>>());
  if (p.want_fit) fit.emplace_back();
  return static_cast<int32_t>(keys.size() - 1);
}

Status Aggs::Merge(int32_t a, Aggs& o, int32_t b) {
  const Plan& p = *plan;
  count[a] += o.count[b];
  if (p.want_tokens) tokens[a] += o.tokens[b];
  if (p.want_gflops) gflops[a] += o.gflops[b];
  if (p.want_cost) cost[a] += o.cost[b];
  if (p.want_dur) {
    dur_count[a] += o.dur_count[b];
    dur_sum[a] += o.dur_sum[b];
    dur_min[a] = std::min(dur_min[a], o.dur_min[b]);
    dur_max[a] = std::max(dur_max[a], o.dur_max[b]);
  }
  if (p.want_quantiles) RETURN_IF_ERROR(sketch[a]->Merge(*o.sketch[b]));
  if (p.want_users) users[a]->insert(o.users[b]->begin(), o.users[b]->end());
  if (p.want_fit) {
    Fit& f = fit[a];
    const Fit& g = o.fit[b];
    f.n += g.n;
    f.sx += g.sx;
    f.sy += g.sy;
    f.sxx += g.sxx;
    f.sxy += g.sxy;
    f.syy += g.syy;
  }
  return Status::OK();
}

int32_t GroupIndex::GetSlow(int64_t idx, int64_t v, Aggs* aggs, size_t dim_pos) {
  if (static_cast<uint64_t>(idx) < dense_.size()) {
    int32_t& slot = dense_[idx];
    if (slot < 0) slot = New(v, aggs, dim_pos);
    return slot;
  }
  if (idx >= 0 && idx < kMaxDense) {
    dense_.resize(std::max<size_t>(idx + 1, dense_.size() * 2), -1);
    return GetSlow(idx, v, aggs, dim_pos);
  }
  auto [it, inserted] = sparse_.try_emplace(v, -1);
  if (inserted) it->second = New(v, aggs, dim_pos);
  return it->second;
}

}  // namespace tokenaudit::query::internal
