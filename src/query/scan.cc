#include "src/query/scan.h"

#include <algorithm>
#include <string>

namespace tokenaudit::query {
namespace {

Result<int64_t> ParseInt(Dim dim, const std::string& s) {
  auto bad = [&] {
    return Status::InvalidArgument(std::string(DimName(dim)) + ": '" + s + "' is not a number");
  };
  if (s.empty() || s.size() > 18) return bad();
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return bad();
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

int64_t DimValue(Dim d, const int64_t* const* cols, size_t i, int64_t step) {
  switch (d) {
    case Dim::kResolution: {
      const int64_t w = cols[kWidth][i], h = cols[kHeight][i];
      if (w <= 0 || h <= 0) return -1;
      return w * h / 1000 / step * step;
    }
    case Dim::kModelInputSize:
      return cols[kModelInputSize][i];
    case Dim::kTime:
      return cols[kTime][i];
    default:
      return cols[StringCol(d)][i];
  }
}

Result<RowFilter> RowFilter::Make(const UsageStore& store, const std::vector<Filter>& filters,
                                  std::optional<int64_t> from_us, std::optional<int64_t> to_us,
                                  int64_t step) {
  RowFilter f;
  f.from_us_ = from_us;
  f.to_us_ = to_us;
  f.step_ = step;
  // Several filters on one dimension intersect; a string never seen matches nothing.
  for (const Filter& in : filters) {
    Resolved r{in.dim, {}};
    for (const std::string& v : in.values) {
      if (IsStringDim(in.dim)) {
        if (auto code = store.dict(StringCol(in.dim)).Find(v)) r.values.push_back(*code);
      } else if (in.dim == Dim::kTime) {
        return Status::InvalidArgument("filter on time: use from and to");
      } else {
        ASSIGN_OR_RETURN(int64_t n, ParseInt(in.dim, v));
        r.values.push_back(n);
      }
    }
    std::sort(r.values.begin(), r.values.end());
    if (r.values.empty()) f.matches_nothing_ = true;
    f.filters_.push_back(std::move(r));
  }
  return f;
}

void RowFilter::Need(std::array<bool, kNumCols>* need) const {
  if (from_us_ || to_us_) (*need)[kTime] = true;
  for (const Resolved& r : filters_) {
    if (IsStringDim(r.dim)) (*need)[StringCol(r.dim)] = true;
    if (r.dim == Dim::kResolution) (*need)[kWidth] = (*need)[kHeight] = true;
    if (r.dim == Dim::kModelInputSize) (*need)[kModelInputSize] = true;
  }
}

bool RowFilter::ExcludesRange(Col c, int64_t lo, int64_t hi) const {
  if (c == kTime) return (from_us_ && hi < *from_us_) || (to_us_ && lo >= *to_us_);
  for (const Resolved& r : filters_) {
    if (!IsStringDim(r.dim) || StringCol(r.dim) != c) continue;
    auto it = std::lower_bound(r.values.begin(), r.values.end(), lo);
    if (it == r.values.end() || *it > hi) return true;
  }
  return false;
}

bool RowFilter::Excludes(const SealedChunk& c) const {
  if (ExcludesRange(kTime, c.min(kTime), c.max(kTime))) return true;
  for (const Resolved& r : filters_) {
    if (!IsStringDim(r.dim)) continue;
    const Col col = StringCol(r.dim);
    if (ExcludesRange(col, c.min(col), c.max(col))) return true;
  }
  return false;
}

bool RowFilter::Excludes(const SealedChunk& c, size_t g) const {
  if (ExcludesRange(kTime, c.min(kTime, g), c.max(kTime, g))) return true;
  for (const Resolved& r : filters_) {
    if (!IsStringDim(r.dim)) continue;
    const Col col = StringCol(r.dim);
    if (ExcludesRange(col, c.min(col, g), c.max(col, g))) return true;
    if (col == kUser &&
        std::none_of(r.values.begin(), r.values.end(),
                     [&](int64_t code) { return c.MayHaveUser(g, code); })) {
      return true;
    }
  }
  return false;
}

bool RowFilter::Admits(const int64_t* const* cols, size_t i) const {
  if (from_us_ && cols[kTime][i] < *from_us_) return false;
  if (to_us_ && cols[kTime][i] >= *to_us_) return false;
  for (const Resolved& r : filters_) {
    if (!std::binary_search(r.values.begin(), r.values.end(), DimValue(r.dim, cols, i, step_))) {
      return false;
    }
  }
  return true;
}

Status ScanStore(const UsageStore& store, const RowFilter& filter, std::array<bool, kNumCols> need,
                 const std::function<void(const int64_t* const* cols, size_t i)>& visit,
                 ScanStats* stats) {
  if (filter.matches_nothing()) return Status::OK();
  filter.Need(&need);
  UsageStore::Snapshot snap = store.Snap();
  ChunkColumns cc;
  for (const auto& chunk : snap.sealed) {
    if (filter.Excludes(*chunk)) {
      ++stats->chunks_skipped;
      continue;
    }
    for (size_t w = 0; w < chunk->granules(); w += ChunkColumns::kLoadGranules) {
      const size_t we = std::min(chunk->granules(), w + ChunkColumns::kLoadGranules);
      RETURN_IF_ERROR(cc.Load(*chunk, w, we, need, &filter));
      for (size_t g = w; g < we; ++g) {
        if (filter.Excludes(*chunk, g)) {
          ++stats->granules_skipped;
          continue;
        }
        const size_t begin = chunk->granule_begin(g) - chunk->granule_begin(w);
        const size_t end = begin + chunk->granule_rows(g);
        stats->rows_scanned += end - begin;
        for (size_t i = begin; i < end; ++i) {
          if (filter.Admits(cc.cols.data(), i)) visit(cc.cols.data(), i);
        }
      }
    }
  }
  for (const auto& raw : snap.raw) {
    cc.Point(*raw.chunk, raw.rows);
    stats->rows_scanned += cc.rows;
    for (size_t i = 0; i < cc.rows; ++i) {
      if (filter.Admits(cc.cols.data(), i)) visit(cc.cols.data(), i);
    }
  }
  return Status::OK();
}

Status ChunkColumns::Load(const SealedChunk& chunk, size_t g0, size_t g1,
                          const std::array<bool, kNumCols>& need, const RowFilter* filter) {
  const size_t first = chunk.granule_begin(g0);
  rows = g1 > g0 ? chunk.granule_begin(g1 - 1) + chunk.granule_rows(g1 - 1) - first : 0;
  std::vector<bool> skip(g1 - g0, false);
  if (filter != nullptr) {
    for (size_t g = g0; g < g1; ++g) skip[g - g0] = filter->Excludes(chunk, g);
  }
  for (int c = 0; c < kNumCols; ++c) {
    if (!need[c]) continue;
    decoded[c].resize(rows);
    // Runs of granules not skipped, each read with one read.
    for (size_t g = g0; g < g1;) {
      if (skip[g - g0]) {
        ++g;
        continue;
      }
      size_t e = g + 1;
      while (e < g1 && !skip[e - g0]) ++e;
      RETURN_IF_ERROR(chunk.DecodeGranules(static_cast<Col>(c), g, e,
                                           decoded[c].data() + chunk.granule_begin(g) - first,
                                           &scratch));
      g = e;
    }
    cols[c] = decoded[c].data();
  }
  return Status::OK();
}

void ChunkColumns::Point(const TailChunk& chunk, size_t n) {
  rows = n;
  for (int c = 0; c < kNumCols; ++c) cols[c] = chunk.col(static_cast<Col>(c));
}

}  // namespace tokenaudit::query
