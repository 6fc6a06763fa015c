#include "src/query/usage_findings.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_map>

#include "src/query/scan.h"

namespace tokenaudit::query {
namespace {

constexpr size_t kMaxSeqsPerCluster = 20;

struct Run {
  int64_t user, input_hash, param_hash, time, seq, model, tokens, cost;
};

// Features compared by FindAnomalies; NaN when the record lacks it.
constexpr int kFeatures = 4;
constexpr const char* kFeatureNames[kFeatures] = {"megapixels", "model_input_size", "batch",
                                                  "duration"};
// Megapixels and durations span orders of magnitude: compared on a log scale.
void Features(const int64_t* const* cols, size_t i, double f[kFeatures]) {
  const int64_t w = cols[kWidth][i], h = cols[kHeight][i];
  f[0] = w > 0 && h > 0 ? std::log2(static_cast<double>(w * h) / 1e6) : NAN;
  f[1] = cols[kModelInputSize][i] > 0 ? static_cast<double>(cols[kModelInputSize][i]) : NAN;
  f[2] = cols[kBatch][i] > 0 ? static_cast<double>(cols[kBatch][i]) : NAN;
  f[3] = cols[kDuration][i] > 0 ? std::log2(static_cast<double>(cols[kDuration][i])) : NAN;
}
double FeatureValue(int k, double f) { return k == 0 || k == 3 ? std::exp2(f) : f; }

// Running mean and variance (Welford), mergeable enough for one pass.
struct Moments {
  uint64_t n = 0;
  double mean = 0, m2 = 0;
  void Add(double x) {
    ++n;
    const double d = x - mean;
    mean += d / static_cast<double>(n);
    m2 += d * (x - mean);
  }
  // z-score of x; 0 when the spread is zero or there are fewer than 2 values.
  double Z(double x) const {
    if (n < 2) return 0;
    const double sd = std::sqrt(m2 / static_cast<double>(n - 1));
    return sd > 1e-12 ? (x - mean) / sd : 0;
  }
};

}  // namespace

Result<std::vector<DuplicateCluster>> FindDuplicates(const UsageStore& store,
                                                     const FindingScope& scope, int64_t window_us,
                                                     size_t limit) {
  if (window_us <= 0) return Status::InvalidArgument("window must be positive");
  ASSIGN_OR_RETURN(RowFilter filter,
                   RowFilter::Make(store, scope.filters, scope.from_us, scope.to_us, 1000));
  std::array<bool, kNumCols> need{};
  for (Col c : {kUser, kInputHash, kParamHash, kTime, kSeq, kModel, kTokensMilli, kCostMicros}) {
    need[c] = true;
  }
  std::vector<Run> runs;
  ScanStats stats;
  RETURN_IF_ERROR(ScanStore(
      store, filter, need,
      [&](const int64_t* const* cols, size_t i) {
        if (cols[kInputHash][i] == 0) return;  // no input hash: nothing to compare
        runs.push_back({cols[kUser][i], cols[kInputHash][i], cols[kParamHash][i], cols[kTime][i],
                        cols[kSeq][i], cols[kModel][i], cols[kTokensMilli][i],
                        cols[kCostMicros][i]});
      },
      &stats));
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) {
    if (a.user != b.user) return a.user < b.user;
    if (a.input_hash != b.input_hash) return a.input_hash < b.input_hash;
    if (a.param_hash != b.param_hash) return a.param_hash < b.param_hash;
    if (a.time != b.time) return a.time < b.time;
    return a.seq < b.seq;
  });
  std::vector<DuplicateCluster> clusters;
  for (size_t i = 0; i < runs.size();) {
    size_t j = i + 1;
    while (j < runs.size() && runs[j].user == runs[i].user &&
           runs[j].input_hash == runs[i].input_hash && runs[j].param_hash == runs[i].param_hash &&
           runs[j].time - runs[j - 1].time <= window_us) {
      ++j;
    }
    if (j - i >= 2) {
      DuplicateCluster c;
      c.user = store.dict(kUser).String(static_cast<uint32_t>(runs[i].user));
      c.model = store.dict(kModel).String(static_cast<uint32_t>(runs[i].model));
      c.input_hash_prefix = static_cast<uint64_t>(runs[i].input_hash);
      c.runs = j - i;
      c.first_time_us = runs[i].time;
      c.last_time_us = runs[j - 1].time;
      for (size_t k = i; k < j; ++k) {
        if (k > i) {
          c.tokens_milli += runs[k].tokens;
          c.cost_micros += runs[k].cost;
        }
        if (c.seqs.size() < kMaxSeqsPerCluster)
          c.seqs.push_back(static_cast<uint64_t>(runs[k].seq));
      }
      clusters.push_back(std::move(c));
    }
    i = j;
  }
  std::stable_sort(
      clusters.begin(), clusters.end(),
      [](const DuplicateCluster& a, const DuplicateCluster& b) { return a.runs > b.runs; });
  if (limit > 0 && clusters.size() > limit) clusters.resize(limit);
  return clusters;
}

Result<std::vector<Anomaly>> FindAnomalies(const UsageStore& store, const FindingScope& scope,
                                           double threshold, uint64_t min_history, size_t limit) {
  if (!(threshold > 0)) return Status::InvalidArgument("threshold must be positive");
  std::array<bool, kNumCols> need{};
  for (Col c : {kUser, kWidth, kHeight, kModelInputSize, kBatch, kDuration, kSeq, kModel}) {
    need[c] = true;
  }
  // Pass 1: everyone's and each user's moments over all records (their history).
  ASSIGN_OR_RETURN(RowFilter everything,
                   RowFilter::Make(store, {}, std::nullopt, std::nullopt, 1000));
  Moments all[kFeatures];
  std::unordered_map<int64_t, std::array<Moments, kFeatures>> by_user;
  ScanStats stats;
  RETURN_IF_ERROR(ScanStore(
      store, everything, need,
      [&](const int64_t* const* cols, size_t i) {
        double f[kFeatures];
        Features(cols, i, f);
        auto& mine = by_user[cols[kUser][i]];
        for (int k = 0; k < kFeatures; ++k) {
          if (std::isnan(f[k])) continue;
          all[k].Add(f[k]);
          mine[k].Add(f[k]);
        }
      },
      &stats));
  // Pass 2: the records in scope against both.
  ASSIGN_OR_RETURN(RowFilter filter,
                   RowFilter::Make(store, scope.filters, scope.from_us, scope.to_us, 1000));
  struct Found {
    Anomaly a;
    double score = 0;  // of the most extreme record
  };
  std::unordered_map<int64_t, Found> found;
  RETURN_IF_ERROR(ScanStore(
      store, filter, need,
      [&](const int64_t* const* cols, size_t i) {
        double f[kFeatures];
        Features(cols, i, f);
        const auto& mine = by_user[cols[kUser][i]];
        Found& u = found[cols[kUser][i]];
        ++u.a.records;
        bool extreme = false;
        for (int k = 0; k < kFeatures; ++k) {
          if (std::isnan(f[k])) continue;
          const double z_all = all[k].Z(f[k]);
          const double z_user = mine[k].Z(f[k]);
          const bool new_user = mine[k].n < min_history;
          if (std::abs(z_all) < threshold || (!new_user && std::abs(z_user) < threshold)) {
            continue;
          }
          extreme = true;
          const double score = std::abs(z_all) + (new_user ? 0 : std::abs(z_user));
          if (score > u.score) {
            u.score = score;
            u.a.seq = static_cast<uint64_t>(cols[kSeq][i]);
            u.a.feature = kFeatureNames[k];
            u.a.value = FeatureValue(k, f[k]);
            u.a.z_all = z_all;
            u.a.z_user = z_user;
            u.a.model = store.dict(kModel).String(static_cast<uint32_t>(cols[kModel][i]));
          }
        }
        if (extreme) ++u.a.extreme;
      },
      &stats));
  std::vector<Found> list;
  for (auto& [user, u] : found) {
    if (u.a.extreme == 0) continue;
    u.a.user = store.dict(kUser).String(static_cast<uint32_t>(user));
    list.push_back(std::move(u));
  }
  std::sort(list.begin(), list.end(), [](const Found& a, const Found& b) {
    if (a.a.extreme != b.a.extreme) return a.a.extreme > b.a.extreme;
    if (a.score != b.score) return a.score > b.score;
    return a.a.user < b.a.user;
  });
  std::vector<Anomaly> out;
  for (auto& f : list) {
    if (limit > 0 && out.size() == limit) break;
    out.push_back(std::move(f.a));
  }
  return out;
}

Result<std::vector<uint64_t>> FindEventSeqs(const UsageStore& store, const FindingScope& scope,
                                            uint64_t after_seq, size_t limit,
                                            uint64_t* next_cursor) {
  *next_cursor = 0;
  std::vector<uint64_t> found;
  if (limit == 0) return found;
  ASSIGN_OR_RETURN(RowFilter filter,
                   RowFilter::Make(store, scope.filters, scope.from_us, scope.to_us, 1000));
  if (filter.matches_nothing()) return found;
  std::array<bool, kNumCols> need{};
  need[kSeq] = true;
  filter.Need(&need);

  // Every part with its seq range; rows arrive about in seq order, so the ranges barely
  // overlap and a page is found in the first parts whose range reaches after_seq (a merged
  // part is read whole: its granules are sorted by user, each spans the part's seqs).
  struct Part {
    int64_t min_seq, max_seq;
    const SealedChunk* sealed;
    const TailChunk* raw;
    size_t rows;
  };
  UsageStore::Snapshot snap = store.Snap();
  std::vector<Part> parts;
  for (const auto& c : snap.sealed) {
    if (filter.Excludes(*c)) continue;
    parts.push_back({c->min(kSeq), c->max(kSeq), c.get(), nullptr, c->rows()});
  }
  for (const auto& r : snap.raw) {
    const int64_t* seqs = r.chunk->col(kSeq);
    const auto [lo, hi] = std::minmax_element(seqs, seqs + r.rows);
    if (r.rows > 0) parts.push_back({*lo, *hi, nullptr, r.chunk.get(), r.rows});
  }
  std::sort(parts.begin(), parts.end(),
            [](const Part& a, const Part& b) { return a.min_seq < b.min_seq; });

  // Keep the limit + 1 smallest matching seqs (the extra one is the next cursor).
  const size_t keep = limit + 1;
  ChunkColumns cc;
  for (const Part& p : parts) {
    if (p.max_seq < static_cast<int64_t>(after_seq)) continue;
    if (found.size() >= keep && p.min_seq > static_cast<int64_t>(found[keep - 1])) break;
    // Once `keep` seqs are found, a row can only matter if its seq is below the largest kept.
    int64_t bound = INT64_MAX;
    if (found.size() >= keep) bound = static_cast<int64_t>(found[keep - 1]);
    auto rows = [&](const int64_t* const* cols, size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        const int64_t seq = cols[kSeq][i];
        if (seq >= static_cast<int64_t>(after_seq) && seq < bound && filter.Admits(cols, i)) {
          found.push_back(static_cast<uint64_t>(seq));
        }
      }
    };
    if (p.sealed == nullptr) {
      cc.Point(*p.raw, p.rows);
      rows(cc.cols.data(), 0, cc.rows);
    } else {
      // A window of granules at a time; granules the filter excludes are not decoded.
      const SealedChunk& part = *p.sealed;
      for (size_t w = 0; w < part.granules(); w += ChunkColumns::kLoadGranules) {
        const size_t we = std::min(part.granules(), w + ChunkColumns::kLoadGranules);
        RETURN_IF_ERROR(cc.Load(part, w, we, need, &filter));
        for (size_t g = w; g < we; ++g) {
          if (filter.Excludes(part, g)) continue;
          const size_t begin = part.granule_begin(g) - part.granule_begin(w);
          rows(cc.cols.data(), begin, begin + part.granule_rows(g));
        }
        // Keep the smallest only (a merged part holds many).
        if (found.size() > keep) {
          std::nth_element(found.begin(), found.begin() + (keep - 1), found.end());
          found.resize(keep);
          bound = static_cast<int64_t>(*std::max_element(found.begin(), found.end()));
        }
      }
    }
    std::sort(found.begin(), found.end());
    if (found.size() > keep) found.resize(keep);
  }
  if (found.size() > limit) {
    *next_cursor = found[limit];
    found.resize(limit);
  }
  return found;
}

}  // namespace tokenaudit::query
