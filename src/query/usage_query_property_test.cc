// Property test (issue 4): 200,000 random records, appended to a real ledger and added to the
// store as the service does, x 500 random queries. Every answer must equal a brute-force
// computation over the records read back from the log: counts, sums, min/max and distinct users
// exactly, percentiles within the sketch's documented relative error. The records fill three
// sealed chunks; the store merges the first two into a part (merge fan-in 2) and keeps the third
// as a chunk, and the rest stays in the tail, so a query reads a merged part, a chunk and the
// tail (dealt out to two threads, then merged). Each query runs on three stores: the one ingest
// filled (its part and chunk written to files and read back from them on demand), one opened
// from those files, as after a restart (other dictionary codes), with the tail added from the
// log, and one that never merges (in memory), whose answers the merged store must equal exactly.
// Run without time partitions and with day partitions (then every chunk is cut into ~31 parts).
// User filters and short time ranges hit granules partly; windows are regular or of uneven
// widths.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "src/query/quantile_sketch.h"
#include "src/query/usage_query.h"
#include "src/query/usage_store.h"
#include "src/record/record_json.h"
#include "tokenaudit/env.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::query {
namespace {

constexpr int64_t kDay = 86'400'000'000;
constexpr int64_t kStart = 1'790'000'000'000'000;  // 2026-09-22

const char* Pick(std::mt19937_64& rng, std::initializer_list<const char*> v) {
  return v.begin()[rng() % v.size()];
}

UsageRecord RandomRecord(std::mt19937_64& rng, int i) {
  UsageRecord r;
  r.id = "prop-" + std::to_string(i);
  r.source = "test/prop";
  r.tenant = Pick(rng, {"city-archive", "museum"});
  // Zipf-ish users: user k with probability ~ 1/k.
  const int users = 60;
  double u = std::uniform_real_distribution<double>(0, std::log(users + 1.0))(rng);
  r.user = "u_user" + std::to_string(static_cast<int>(std::exp(u)));
  r.time_us = kStart + static_cast<int64_t>(rng() % (30 * kDay));
  r.start_time_us = *r.time_us - 1000;
  if (rng() % 10 != 0) r.duration_ms = static_cast<int64_t>(std::exp((rng() % 900) / 100.0));
  r.task_type = Pick(rng, {"image_colorization", "text_generation", "speech_transcription"});
  r.workflow = Pick(rng, {"portrait", "building", "street", "", "landscape"});
  r.node_type = Pick(rng, {"DDColor_Colorize", "DDColor_Batch", ""});
  r.model = Pick(rng, {"ddcolor_paper_tiny", "ddcolor_modelscope", "ddcolor_artistic", "gpt-x"});
  r.device = Pick(rng, {"cuda", "cpu", ""});
  r.status = Pick(rng, {"success", "success", "success", "error", "cached", "interrupted"});
  if (rng() % 8 != 0) {
    r.input_width = 100 + static_cast<int64_t>(rng() % 6000);
    r.input_height = 100 + static_cast<int64_t>(rng() % 4000);
    r.estimated_tokens_milli = *r.input_width * *r.input_height;
  }
  if (rng() % 3 != 0) r.input_model_input_size = 256 << (rng() % 3);
  if (rng() % 2) r.gflops_milli = static_cast<int64_t>(rng() % 5'000'000);
  if (rng() % 2) r.cost_micros = static_cast<int64_t>(rng() % 100'000);
  return r;
}

// Brute force: the same question answered from parsed records with maps and sorting.
struct Expected {
  uint64_t count = 0;
  int64_t tokens = 0, gflops = 0, cost = 0;
  std::vector<int64_t> durations;
  std::set<std::string> users;
  std::vector<std::pair<double, double>> fit;  // (MP, ms)
};

// Least squares by the textbook two-pass formulas, as an independent check of the engine's
// one-pass sums.
void Fit(const std::vector<std::pair<double, double>>& pts, double* slope, double* r2) {
  double mx = 0, my = 0;
  for (auto [x, y] : pts) mx += x, my += y;
  mx /= pts.size();
  my /= pts.size();
  double sxx = 0, sxy = 0, syy = 0;
  for (auto [x, y] : pts) {
    sxx += (x - mx) * (x - mx);
    sxy += (x - mx) * (y - my);
    syy += (y - my) * (y - my);
  }
  *slope = sxy / sxx;
  *r2 = sxy * sxy / (sxx * syy);
}

std::string BruteKey(Dim d, const UsageRecord& r, const UsageQuery& q) {
  switch (d) {
    case Dim::kTenant: return r.tenant;
    case Dim::kUser: return r.user;
    case Dim::kModel: return r.model;
    case Dim::kWorkflow: return r.workflow;
    case Dim::kTaskType: return r.task_type;
    case Dim::kStatus: return r.status;
    case Dim::kNodeType: return r.node_type;
    case Dim::kDevice: return r.device;
    case Dim::kResolution: {
      if (!r.input_width || !r.input_height) return "-1";
      int64_t mmp = *r.input_width * *r.input_height / 1000;
      return std::to_string(mmp / q.resolution_step_milli_mp * q.resolution_step_milli_mp);
    }
    case Dim::kModelInputSize: return std::to_string(r.input_model_input_size.value_or(0));
    case Dim::kTime: return std::to_string(q.window(*r.time_us).start);
  }
  return "";
}

int64_t NearestRank(std::vector<int64_t> v, double q) {
  std::sort(v.begin(), v.end());
  return v[QuantileSketch::NearestRank(q, v.size()) - 1];
}

// Param: the stores' time-partition width (0: none; a day: each chunk of records spread over 30
// days is sealed as one part per day, and each day's parts merge into one).
class UsageQueryPropertyTest : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    env_ = NewMemEnv();
    LedgerOptions o;
    o.env = env_.get();
    o.data_dir = "/data";
    auto ledger = Ledger::Open(o);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = std::move(*ledger);
  }

  std::unique_ptr<Env> env_;
  std::unique_ptr<Ledger> ledger_;
};

TEST_P(UsageQueryPropertyTest, RandomQueriesMatchABruteForceScanOfTheLog) {
  std::mt19937_64 rng(20261130);
  const int64_t partition = GetParam();
  UsageStore store(
      MergePolicy{.enabled = true, .fan_in = 2, .max_level = 2, .partition_us = partition});
  UsageStore unmerged(MergePolicy{.enabled = false, .partition_us = partition});
  {
    std::vector<bool> loaded;
    size_t discarded = 0;
    ASSERT_TRUE(store.Open(env_.get(), "/cols", &loaded, &discarded).ok());
  }
  constexpr int kRecords = 200'000, kBatch = 1000;  // >= 100,000 (the issue), 3 sealed chunks
  for (int b = 0; b < kRecords / kBatch; ++b) {
    std::vector<UsageRecord> recs;
    std::vector<std::string> payloads;
    for (int i = 0; i < kBatch; ++i) {
      recs.push_back(RandomRecord(rng, b * kBatch + i));
      payloads.push_back(record::EncodeCanonical(recs.back()));
    }
    std::vector<std::string_view> views(payloads.begin(), payloads.end());
    auto first = ledger_->AppendBatch(views, RecordType::kUsage);
    ASSERT_TRUE(first.ok()) << first.status();
    std::vector<Row> rows;
    for (int i = 0; i < kBatch; ++i) rows.push_back(store.MakeRow(recs[i], *first + i));
    store.Add(rows);
    rows.clear();
    for (int i = 0; i < kBatch; ++i) rows.push_back(unmerged.MakeRow(recs[i], *first + i));
    unmerged.Add(rows);
  }
  store.WaitMerged();
  unmerged.WaitSealed();
  if (partition == 0) {
    // A merged part of two chunks and a chunk, on disk; 3,392 rows in the tail.
    ASSERT_EQ(store.GetStats().merges, 1u);
    ASSERT_EQ(store.GetStats().sealed_chunks, 2u);
    ASSERT_EQ(store.GetStats().sealed_on_disk, 2u);
    ASSERT_EQ(unmerged.GetStats().sealed_chunks, 3u);
  } else {
    // Each chunk sealed as one part per day it holds (30 days from 14:13 UTC: 31 days); each
    // day's three parts merged into one, inside its day.
    ASSERT_EQ(unmerged.GetStats().sealed_chunks, 3u * 31);
    ASSERT_EQ(store.GetStats().sealed_chunks, 31u);
    ASSERT_EQ(store.GetStats().sealed_on_disk, 31u);
    for (const auto& part : store.Snap().sealed) {
      ASSERT_EQ(part->min(kTime) / partition, part->max(kTime) / partition);
    }
  }

  // The truth: what the log holds.
  std::vector<UsageRecord> log;
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(ledger_
                  ->Scan(0,
                         [&](uint64_t seq, RecordType t, std::string_view p) {
                           if (t != RecordType::kUsage) return Status::OK();
                           UsageRecord r;
                           if (!record::ParseRecordJson(p, &r)) {
                             return Status::Corruption("unparseable record");
                           }
                           log.push_back(std::move(r));
                           seqs.push_back(seq);
                           return Status::OK();
                         })
                  .ok());
  ASSERT_EQ(log.size(), static_cast<size_t>(kRecords));

  // The restarted store: chunks from the files, the rest from the log.
  UsageStore reopened(MergePolicy{.partition_us = partition});
  {
    std::vector<bool> loaded;
    size_t discarded = 0;
    ASSERT_TRUE(reopened.Open(env_.get(), "/cols", &loaded, &discarded).ok());
    ASSERT_EQ(discarded, 0u);
    std::vector<Row> rows;
    for (size_t i = 0; i < log.size(); ++i) {
      if (seqs[i] < loaded.size() && loaded[seqs[i]]) continue;
      rows.push_back(reopened.MakeRow(log[i], seqs[i]));
    }
    ASSERT_EQ(rows.size(), 200'000u - 3 * 65'536u);
    reopened.Add(rows);
    ASSERT_EQ(reopened.GetStats().sealed_chunks, partition == 0 ? 2u : 31u);
  }
  std::vector<std::string> users;
  for (const UsageRecord& r : log) users.push_back(r.user);
  uint64_t granules_skipped = 0;

  const std::vector<Dim> dims = {Dim::kTenant,   Dim::kUser,       Dim::kModel,
                                 Dim::kWorkflow, Dim::kTaskType,   Dim::kStatus,
                                 Dim::kNodeType, Dim::kDevice,     Dim::kResolution,
                                 Dim::kModelInputSize, Dim::kTime};
  for (int qi = 0; qi < 500; ++qi) {
    SCOPED_TRACE("query " + std::to_string(qi));
    UsageQuery q;
    const int64_t window_us = (rng() % 2 ? 3'600'000'000 : kDay) * (1 + rng() % 3);
    if (rng() % 4 != 0) {
      q.window = [window_us](int64_t t) {
        int64_t s = t / window_us * window_us;
        return UsageQuery::Window{s, s + window_us};
      };
    } else {
      // Uneven windows (as days across a DST change, or months): boundary k at
      // k * width + jitter(k), jitter < width / 2.
      auto boundary = [window_us](int64_t k) {
        return k * window_us + static_cast<int64_t>((static_cast<uint64_t>(k) * 2654435761u) %
                                                    static_cast<uint64_t>(window_us / 2));
      };
      q.window = [window_us, boundary](int64_t t) {
        int64_t k = t / window_us + 1;
        while (boundary(k) > t) --k;
        return UsageQuery::Window{boundary(k), boundary(k + 1)};
      };
    }
    q.resolution_step_milli_mp = rng() % 2 ? 1000 : 250;
    const int ngroup = static_cast<int>(rng() % 4);
    for (int g = 0; g < ngroup; ++g) {
      Dim d = dims[rng() % dims.size()];
      if (std::find(q.group_by.begin(), q.group_by.end(), d) == q.group_by.end()) {
        q.group_by.push_back(d);
      }
    }
    const int nfilter = static_cast<int>(rng() % 3);
    for (int f = 0; f < nfilter; ++f) {
      Dim d = dims[rng() % (dims.size() - 1)];  // not time
      Filter filter{d, {}};
      const int nvalues = 1 + static_cast<int>(rng() % 3);
      for (int v = 0; v < nvalues; ++v) {
        if (rng() % 10 == 0) {
          filter.values.push_back(d == Dim::kResolution || d == Dim::kModelInputSize
                                      ? "999999"
                                      : "never-seen");
        } else {
          filter.values.push_back(BruteKey(d, log[rng() % log.size()], q));
        }
      }
      // "No resolution" (-1) is a group key but not a filter value.
      std::erase(filter.values, "-1");
      if (!filter.values.empty()) q.filters.push_back(filter);
    }
    if (rng() % 4 == 0) {
      // One user (granules of the sorted chunks hold few users each).
      q.filters.push_back({Dim::kUser, {users[rng() % users.size()]}});
    }
    switch (rng() % 4) {
      case 0:
        q.from_us = kStart + static_cast<int64_t>(rng() % (30 * kDay));
        q.to_us = *q.from_us + static_cast<int64_t>(rng() % (10 * kDay));
        break;
      case 1:  // a few hours: inside a granule's time range
        q.from_us = kStart + static_cast<int64_t>(rng() % (30 * kDay));
        q.to_us = *q.from_us + static_cast<int64_t>(rng() % (kDay / 4));
        break;
      case 2:  // one side only
        if (rng() % 2) {
          q.from_us = kStart + static_cast<int64_t>(rng() % (30 * kDay));
        } else {
          q.to_us = kStart + static_cast<int64_t>(rng() % (30 * kDay));
        }
        break;
      default:
        break;
    }
    if (rng() % 3 == 0) {
      q.order_by = static_cast<Measure>(rng() % kNumMeasures);
      q.limit = 1 + rng() % 10;
    }

    auto got_live = RunUsageQuery(store, q);
    ASSERT_TRUE(got_live.ok()) << got_live.status();
    auto got_reopened = RunUsageQuery(reopened, q);
    ASSERT_TRUE(got_reopened.ok()) << got_reopened.status();
    auto got_unmerged = RunUsageQuery(unmerged, q);
    ASSERT_TRUE(got_unmerged.ok()) << got_unmerged.status();
    // Merging changes no answer: every group, key and exact measure (percentiles included: the
    // sketch does not depend on row order) equal; the least-squares sums are floating point
    // added in another order.
    ASSERT_EQ(got_live->groups.size(), got_unmerged->groups.size());
    for (size_t i = 0; i < got_live->groups.size(); ++i) {
      const GroupRow& a = got_live->groups[i];
      const GroupRow& b = got_unmerged->groups[i];
      EXPECT_EQ(a.keys, b.keys);
      EXPECT_EQ(a.count, b.count);
      EXPECT_EQ(a.tokens_milli, b.tokens_milli);
      EXPECT_EQ(a.gflops_milli, b.gflops_milli);
      EXPECT_EQ(a.cost_micros, b.cost_micros);
      EXPECT_EQ(a.distinct_users, b.distinct_users);
      EXPECT_EQ(a.duration_count, b.duration_count);
      EXPECT_EQ(a.duration_min, b.duration_min);
      EXPECT_EQ(a.duration_max, b.duration_max);
      EXPECT_EQ(a.duration_p50, b.duration_p50);
      EXPECT_EQ(a.duration_p95, b.duration_p95);
      EXPECT_EQ(a.duration_p99, b.duration_p99);
      EXPECT_EQ(a.fit_n, b.fit_n);
      EXPECT_NEAR(a.sum_xy, b.sum_xy, 1e-9 * (1 + std::abs(b.sum_xy)));
    }

    std::map<std::vector<std::string>, Expected> want;
    for (const UsageRecord& r : log) {
      if (q.from_us && *r.time_us < *q.from_us) continue;
      if (q.to_us && *r.time_us >= *q.to_us) continue;
      bool pass = true;
      for (const Filter& f : q.filters) {
        std::string k = BruteKey(f.dim, r, q);
        if (std::find(f.values.begin(), f.values.end(), k) == f.values.end()) pass = false;
      }
      if (!pass) continue;
      std::vector<std::string> key;
      for (Dim d : q.group_by) key.push_back(BruteKey(d, r, q));
      Expected& e = want[key];
      ++e.count;
      e.tokens += r.estimated_tokens_milli.value_or(0);
      e.gflops += r.gflops_milli.value_or(0);
      e.cost += r.cost_micros.value_or(0);
      if (r.duration_ms) e.durations.push_back(*r.duration_ms);
      e.users.insert(r.user);
      if (r.duration_ms && r.input_width && r.input_height) {
        e.fit.emplace_back(static_cast<double>(*r.input_width * *r.input_height) / 1e6,
                           static_cast<double>(*r.duration_ms));
      }
    }

    granules_skipped += got_live->granules_skipped + got_reopened->granules_skipped;
    for (const Result<UsageAnswer>* res : {&got_live, &got_reopened}) {
      SCOPED_TRACE(res == &got_live ? "store filled by ingest" : "store reopened from files");
      const UsageAnswer* got = &**res;
      const size_t expected_groups = q.limit == 0 ? want.size() : std::min(want.size(), q.limit);
      ASSERT_EQ(got->groups.size(), expected_groups);
      for (const GroupRow& g : got->groups) {
        auto it = want.find(g.keys);
        ASSERT_NE(it, want.end());
        const Expected& e = it->second;
        EXPECT_EQ(g.count, e.count);
        EXPECT_EQ(g.tokens_milli, e.tokens);
        EXPECT_EQ(g.gflops_milli, e.gflops);
        EXPECT_EQ(g.cost_micros, e.cost);
        EXPECT_EQ(g.distinct_users, e.users.size());
        EXPECT_EQ(g.duration_count, e.durations.size());
        EXPECT_EQ(g.fit_n, e.fit.size());
        if (e.fit.size() >= 10) {
          double slope = 0, r2 = 0;
          Fit(e.fit, &slope, &r2);
          EXPECT_NEAR(g.ms_per_megapixel(), slope, 1e-6 * (1 + std::abs(slope)));
          EXPECT_NEAR(g.fit_r2(), r2, 1e-6);
        }
        if (e.count > 0) {
          EXPECT_DOUBLE_EQ(g.tokens_avg(), static_cast<double>(e.tokens) / 1000 / e.count);
        }
        if (!e.durations.empty()) {
          EXPECT_EQ(g.duration_min, *std::min_element(e.durations.begin(), e.durations.end()));
          EXPECT_EQ(g.duration_max, *std::max_element(e.durations.begin(), e.durations.end()));
          for (auto [q_, got_v] : {std::pair{0.50, g.duration_p50}, std::pair{0.95, g.duration_p95},
                                   std::pair{0.99, g.duration_p99}}) {
            const double exact = static_cast<double>(NearestRank(e.durations, q_));
            // The sketch's bound (a = 0.01), plus rounding to whole milliseconds.
            EXPECT_LE(std::abs(got_v - exact), 0.01 * exact + 0.5)
                << "p" << q_ * 100 << " exact " << exact << " got " << got_v;
          }
        }
      }
      if (q.order_by) {
        // Sorted, and for exact measures the top-K are the K largest of all groups: no group left
        // out beats the last one kept.
        std::vector<double> kept;
        for (const GroupRow& g : got->groups) kept.push_back(g.Value(*q.order_by));
        EXPECT_TRUE(std::is_sorted(kept.rbegin(), kept.rend()));
        auto exact = [&](const Expected& e) -> std::optional<double> {
          switch (*q.order_by) {
            case Measure::kCount: return static_cast<double>(e.count);
            case Measure::kTokens: return static_cast<double>(e.tokens);
            case Measure::kCost: return static_cast<double>(e.cost);
            case Measure::kDistinctUsers: return static_cast<double>(e.users.size());
            default: return std::nullopt;
          }
        };
        if (!kept.empty() && exact(want.begin()->second)) {
          std::set<std::vector<std::string>> in;
          for (const GroupRow& g : got->groups) in.insert(g.keys);
          for (const auto& [key, e] : want) {
            if (!in.count(key)) {
              EXPECT_LE(*exact(e), kept.back());
            }
          }
        }
      }
    }
  }
  // The zone maps of granules did prune (and the answers above stayed exact).
  EXPECT_GT(granules_skipped, 0u);
}

INSTANTIATE_TEST_SUITE_P(PartitionWidth, UsageQueryPropertyTest,
                         ::testing::Values(int64_t{0}, kDay));

}  // namespace
}  // namespace tokenaudit::query
