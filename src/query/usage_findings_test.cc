#include "src/query/usage_findings.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

namespace tokenaudit::query {
namespace {

constexpr int64_t kMinute = 60'000'000;
constexpr int64_t kT0 = 1'796'083'200'000'000;  // 2026-12-01T00:00:00Z

UsageRecord Rec(const std::string& user, char hash, int64_t t, int64_t w = 640, int64_t h = 480,
                int64_t size = 512, int64_t duration = 900) {
  UsageRecord r;
  r.user = user;
  r.tenant = "t";
  r.model = "ddcolor_paper_tiny";
  r.input_hash = "sha256:" + std::string(64, hash);
  r.time_us = t;
  r.input_width = w;
  r.input_height = h;
  r.input_model_input_size = size;
  r.input_batch = 1;
  r.duration_ms = duration;
  r.estimated_tokens_milli = w * h;
  r.cost_micros = 10;
  return r;
}

void Add(UsageStore* store, const std::vector<UsageRecord>& recs) {
  std::vector<Row> rows;
  for (size_t i = 0; i < recs.size(); ++i) rows.push_back(store->MakeRow(recs[i], store->rows() + i));
  store->Add(rows);
}

TEST(FindDuplicatesTest, SameUserInputAndParametersWithinTheWindow) {
  UsageStore store;
  UsageRecord other_params = Rec("u_a", 'a', kT0 + 3 * kMinute);
  other_params.input_model_input_size = 1024;
  Add(&store, {Rec("u_a", 'a', kT0), Rec("u_a", 'a', kT0 + 4 * kMinute),
               Rec("u_a", 'a', kT0 + 8 * kMinute),    // chained: 3 runs
               Rec("u_a", 'a', kT0 + 120 * kMinute),  // too late: alone
               other_params,                          // other parameters: alone
               Rec("u_b", 'a', kT0 + kMinute),        // another user: alone
               Rec("u_b", 'b', kT0), Rec("u_b", 'b', kT0 + 9 * kMinute)});  // 2 runs
  auto found = FindDuplicates(store, {}, 10 * kMinute, 0);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 2u);
  const DuplicateCluster& first = (*found)[0];
  EXPECT_EQ(first.user, "u_a");
  EXPECT_EQ(first.runs, 3u);
  EXPECT_EQ(first.seqs, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(first.first_time_us, kT0);
  EXPECT_EQ(first.last_time_us, kT0 + 8 * kMinute);
  EXPECT_EQ(first.tokens_milli, 2 * 640 * 480);  // the repeats
  EXPECT_EQ(first.input_hash_prefix, 0xaaaaaaaaaaaaaaaaull);
  EXPECT_EQ((*found)[1].user, "u_b");
  EXPECT_EQ((*found)[1].runs, 2u);

  // A narrower window splits the chain; a user filter narrows the scope.
  auto narrow = FindDuplicates(store, {}, 3 * kMinute, 0);
  ASSERT_TRUE(narrow.ok());
  EXPECT_TRUE(narrow->empty());
  auto only_b = FindDuplicates(store, {{{Dim::kUser, {"u_b"}}}, std::nullopt, std::nullopt},
                               10 * kMinute, 0);
  ASSERT_TRUE(only_b.ok());
  ASSERT_EQ(only_b->size(), 1u);
  EXPECT_EQ((*only_b)[0].user, "u_b");
  EXPECT_FALSE(FindDuplicates(store, {}, 0, 0).ok());
}

TEST(FindAnomaliesTest, ExtremeAgainstEveryoneAndTheirOwnHistory) {
  UsageStore store;
  std::vector<UsageRecord> recs;
  // 50 ordinary users: ~0.3 MP at 512, ~1 s.
  for (int u = 0; u < 50; ++u) {
    for (int i = 0; i < 20; ++i) {
      recs.push_back(Rec("u_user" + std::to_string(u), 'c', kT0 + i * kMinute, 600 + (i % 5) * 10,
                         480 + (u % 7) * 10, 512, 900 + (i * 37 + u * 11) % 200));
    }
  }
  // A regular big-image user: always 24 MP. Extreme against everyone, ordinary for them.
  for (int i = 0; i < 20; ++i) {
    recs.push_back(Rec("u_big", 'd', kT0 + i * kMinute, 6000, 4000, 1024, 9000 + i * 10));
  }
  // An ordinary user who once submits 24 MP at 1024.
  for (int i = 0; i < 19; ++i) recs.push_back(Rec("u_odd", 'e', kT0 + i * kMinute, 640, 480));
  recs.push_back(Rec("u_odd", 'f', kT0 + 30 * kMinute, 6000, 4000, 1024, 9500));
  Add(&store, recs);

  auto found = FindAnomalies(store, {}, 3.0, 10, 0);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 1u) << (*found)[0].user;
  const Anomaly& a = (*found)[0];
  EXPECT_EQ(a.user, "u_odd");
  EXPECT_EQ(a.records, 20u);
  EXPECT_EQ(a.extreme, 1u);
  EXPECT_EQ(a.seq, recs.size() - 1);
  EXPECT_GE(std::abs(a.z_all), 3.0);
  EXPECT_GE(std::abs(a.z_user), 3.0);

  // With no history requirement met (min_history above everyone's count), everything extreme
  // against everyone is reported: u_big too.
  auto strict = FindAnomalies(store, {}, 3.0, 1000, 0);
  ASSERT_TRUE(strict.ok());
  ASSERT_EQ(strict->size(), 2u);
  EXPECT_EQ((*strict)[0].user, "u_big");
  EXPECT_EQ((*strict)[0].extreme, 20u);
  // A time range limits the records judged, not the history.
  auto early = FindAnomalies(store, {{}, std::nullopt, kT0 + 25 * kMinute}, 3.0, 10, 0);
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(early->empty());
}

}  // namespace
}  // namespace tokenaudit::query

namespace tokenaudit::query {
namespace {

TEST(FindEventSeqsTest, PagesEqualABruteForceListingWithRowsAddedOutOfOrder) {
  UsageStore store;
  std::mt19937_64 rng(7);
  constexpr int kRecords = 140'000;  // two sealed chunks and a tail
  std::vector<UsageRecord> recs;
  for (int i = 0; i < kRecords; ++i) {
    UsageRecord r = Rec("u_" + std::to_string(rng() % 40), 'a', kT0 + (rng() % 1000) * kMinute);
    r.model = rng() % 3 ? "tiny" : "large";
    r.status = rng() % 5 ? "success" : "error";
    recs.push_back(r);
  }
  // Seqs reach the store a little out of order, as when two I/O threads complete appends.
  std::vector<int> order(kRecords);
  std::iota(order.begin(), order.end(), 0);
  for (int i = 0; i + 8 < kRecords; i += 8) std::shuffle(order.begin() + i, order.begin() + i + 8, rng);
  std::vector<Row> rows;
  for (int i : order) rows.push_back(store.MakeRow(recs[i], i));
  store.Add(rows);
  store.WaitSealed();
  // The same rows with the two chunks merged into one part (sorted by user, so each of its
  // granules spans the part's seqs).
  UsageStore merged(MergePolicy{.enabled = true, .fan_in = 2, .max_level = 2});
  rows.clear();
  for (int i : order) rows.push_back(merged.MakeRow(recs[i], i));
  merged.Add(rows);
  merged.WaitMerged();
  ASSERT_EQ(merged.GetStats().merges, 1u);

  for (int run = 0; run < 40; ++run) {
    // Each trial on both stores.
    const int trial = run / 2;
    const UsageStore& target = run % 2 ? merged : store;
    SCOPED_TRACE(run % 2 ? "merged" : "chunks");
    FindingScope scope;
    if (trial % 2) scope.filters.push_back({Dim::kUser, {"u_" + std::to_string(trial)}});
    if (trial % 3 == 0) scope.filters.push_back({Dim::kStatus, {"error"}});
    if (trial % 4 == 1) scope.from_us = kT0 + 300 * kMinute;
    if (trial == 7) scope.filters.push_back({Dim::kModel, {"no-such-model"}});
    std::vector<uint64_t> want;
    for (int i = 0; i < kRecords; ++i) {
      const UsageRecord& r = recs[i];
      bool ok = true;
      for (const Filter& f : scope.filters) {
        const std::string& v = f.dim == Dim::kUser ? r.user : f.dim == Dim::kStatus ? r.status : r.model;
        if (v != f.values[0]) ok = false;
      }
      if (scope.from_us && *r.time_us < *scope.from_us) ok = false;
      if (ok) want.push_back(i);
    }
    const size_t limit = 1 + rng() % 5000;
    std::vector<uint64_t> got;
    uint64_t cursor = trial == 5 ? 70'000 : 0;
    if (cursor) want.erase(want.begin(), std::lower_bound(want.begin(), want.end(), cursor));
    for (int page = 0; page < 1000; ++page) {
      uint64_t next = 0;
      auto seqs = FindEventSeqs(target, scope, cursor, limit, &next);
      ASSERT_TRUE(seqs.ok()) << seqs.status();
      ASSERT_LE(seqs->size(), limit);
      got.insert(got.end(), seqs->begin(), seqs->end());
      if (next == 0) break;
      ASSERT_EQ(seqs->size(), limit);
      cursor = next;
    }
    EXPECT_EQ(got, want) << "trial " << trial;
  }
}

}  // namespace
}  // namespace tokenaudit::query
