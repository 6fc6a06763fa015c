#include "src/query/scan.h"

#include <algorithm>
#include <string>
#include <thread>

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

bool RowFilter::Excludes(const SealedChunk& c) const {
  if (from_us_ && c.max(kTime) < *from_us_) return true;
  if (to_us_ && c.min(kTime) >= *to_us_) return true;
  for (const Resolved& r : filters_) {
    if (!IsStringDim(r.dim)) continue;
    const Col col = StringCol(r.dim);
    auto lo = std::lower_bound(r.values.begin(), r.values.end(), c.min(col));
    if (lo == r.values.end() || *lo > c.max(col)) return true;
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
  auto rows = [&](const int64_t* const* cols, size_t n) {
    stats->rows_scanned += n;
    for (size_t i = 0; i < n; ++i) {
      if (filter.Admits(cols, i)) visit(cols, i);
    }
  };
  UsageStore::Snapshot snap = store.Snap();
  ChunkColumns cc;
  for (const auto& chunk : snap.sealed) {
    if (filter.Excludes(*chunk)) {
      ++stats->chunks_skipped;
      continue;
    }
    RETURN_IF_ERROR(cc.Load(*chunk, need));
    rows(cc.cols.data(), cc.rows);
  }
  for (const auto& raw : snap.raw) {
    cc.Point(*raw.chunk, raw.rows);
    rows(cc.cols.data(), cc.rows);
  }
  return Status::OK();
}

Status ScanStoreParallel(
    const UsageStore& store, const RowFilter& filter, std::array<bool, kNumCols> need,
    const std::vector<std::function<void(const int64_t* const* cols, size_t i)>>& visitors,
    ScanStats* stats) {
  if (filter.matches_nothing()) return Status::OK();
  filter.Need(&need);
  const UsageStore::Snapshot snap = store.Snap();
  const size_t n = visitors.size();
  std::vector<ScanStats> part(n);
  std::vector<Status> status(n);
  auto work = [&](size_t t) {
    ChunkColumns cc;
    auto rows = [&](size_t count) {
      part[t].rows_scanned += count;
      for (size_t i = 0; i < count; ++i) {
        if (filter.Admits(cc.cols.data(), i)) visitors[t](cc.cols.data(), i);
      }
    };
    for (size_t c = t; c < snap.sealed.size(); c += n) {
      if (filter.Excludes(*snap.sealed[c])) {
        ++part[t].chunks_skipped;
        continue;
      }
      if (!(status[t] = cc.Load(*snap.sealed[c], need)).ok()) return;
      rows(cc.rows);
    }
    if (t != 0) return;
    for (const auto& raw : snap.raw) {
      cc.Point(*raw.chunk, raw.rows);
      rows(cc.rows);
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n; ++t) threads.emplace_back(work, t);
  work(0);
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < n; ++t) {
    RETURN_IF_ERROR(status[t]);
    stats->rows_scanned += part[t].rows_scanned;
    stats->chunks_skipped += part[t].chunks_skipped;
  }
  return Status::OK();
}

Status ChunkColumns::Load(const SealedChunk& chunk, const std::array<bool, kNumCols>& need) {
  rows = chunk.rows();
  for (int c = 0; c < kNumCols; ++c) {
    if (!need[c]) continue;
    decoded[c].resize(rows);
    RETURN_IF_ERROR(chunk.Decode(static_cast<Col>(c), decoded[c].data(), &scratch));
    cols[c] = decoded[c].data();
  }
  return Status::OK();
}

void ChunkColumns::Point(const TailChunk& chunk, size_t n) {
  rows = n;
  for (int c = 0; c < kNumCols; ++c) cols[c] = chunk.col(static_cast<Col>(c));
}

}  // namespace tokenaudit::query
