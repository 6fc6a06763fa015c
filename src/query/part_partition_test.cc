// Time-partitioned merging (MergePolicy::partition_us, doc/query_engine.md "Merging"): a chunk
// is sealed as one part per partition its rows fall in, merged parts never hold rows of two
// partitions, a past day ends in one part, and late (out-of-order) records go into their own
// days' parts without breaking answers, losing or doubling a record, or leaving merges that
// never end.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>

#include "src/query/usage_query.h"
#include "src/query/store_test_util.h"
#include "src/query/usage_store.h"

namespace tokenaudit::query {
namespace {

constexpr int64_t kDay = 86'400'000'000;
constexpr int64_t kT0 = 1'796'083'200'000'000;  // 2026-12-01 00:00 UTC

// Days since kT0, rounded down.
int64_t DayOf(int64_t t) { return t >= kT0 ? (t - kT0) / kDay : -((kT0 - t - 1) / kDay) - 1; }

// Record `seq` at time `t`.
Row MakeRecordRow(UsageStore* store, uint64_t seq, int64_t t) {
  UsageRecord r;
  r.tenant = "t" + std::to_string(seq % 3);
  r.user = "u_" + std::to_string((seq * 7919) % 389);
  r.model = "model-" + std::to_string(seq % 5);
  r.status = seq % 11 == 0 ? "error" : "success";
  r.time_us = t;
  r.duration_ms = 100 + static_cast<int64_t>(seq % 1000);
  r.estimated_tokens_milli = 1000 + static_cast<int64_t>(seq % 977);
  r.cost_micros = static_cast<int64_t>(seq % 100);
  return store->MakeRow(r, seq);
}

// Adds the same records to every store.
class Stores {
 public:
  explicit Stores(std::vector<UsageStore*> stores) : stores_(std::move(stores)) {}
  void Add(const std::vector<int64_t>& times) {
    for (UsageStore* s : stores_) {
      std::vector<Row> rows;
      for (size_t i = 0; i < times.size(); ++i) {
        rows.push_back(MakeRecordRow(s, next_ + i, times[i]));
      }
      s->Add(rows);
    }
    next_ += times.size();
  }
  uint64_t records() const { return next_; }

 private:
  std::vector<UsageStore*> stores_;
  uint64_t next_ = 0;
};

// Count, tokens and cost by model over several time ranges (an hour, a day, days across
// midnight, everything) and one user's days.
std::string Answers(const UsageStore& store, int days) {
  std::vector<UsageQuery> qs;
  for (int64_t from : {kT0 + kDay / 2, kT0 + 2 * kDay - 3'600'000'000, kT0 + 3 * kDay}) {
    for (int64_t span : {int64_t{3'600'000'000}, kDay, 2 * kDay + 7}) {
      UsageQuery q;
      q.group_by = {Dim::kModel};
      q.from_us = from;
      q.to_us = from + span;
      qs.push_back(q);
    }
  }
  UsageQuery all;
  all.group_by = {Dim::kModel, Dim::kStatus};
  qs.push_back(all);
  UsageQuery user;
  user.group_by = {Dim::kTime};
  user.window = [](int64_t t) {
    const int64_t d = (t - kT0) / kDay;
    return UsageQuery::Window{kT0 + d * kDay, kT0 + d * kDay + kDay};
  };
  user.filters = {{Dim::kUser, {"u_17"}}};
  user.from_us = kT0;
  user.to_us = kT0 + days * kDay;
  qs.push_back(user);
  std::string out;
  for (UsageQuery& q : qs) {
    q.measures = {Measure::kCount, Measure::kTokens, Measure::kCost, Measure::kDistinctUsers};
    auto a = RunUsageQuery(store, q);
    EXPECT_TRUE(a.ok()) << a.status();
    if (!a.ok()) return "";
    for (const GroupRow& g : a->groups) {
      for (const std::string& k : g.keys) out += k + "/";
      out += std::to_string(g.count) + "," + std::to_string(g.tokens_milli) + "," +
             std::to_string(g.cost_micros) + "," + std::to_string(g.distinct_users) + ";";
    }
    out += "\n";
  }
  return out;
}

// The sealed parts of each day (days since kT0); fails if a part holds rows of two days, by its
// zone map and by its decoded times.
std::map<int64_t, int> PartsByDay(const UsageStore& store) {
  std::map<int64_t, int> parts;
  DecodeScratch scratch;
  std::vector<int64_t> times;
  for (const auto& part : store.Snap().sealed) {
    const int64_t day = DayOf(part->min(kTime));
    EXPECT_EQ(DayOf(part->max(kTime)), day) << part->rows() << " rows";
    times.resize(part->rows());
    EXPECT_TRUE(part->Decode(kTime, times.data(), &scratch).ok());
    for (int64_t t : times) {
      EXPECT_EQ(DayOf(t), day);
      if (DayOf(t) != day) break;
    }
    ++parts[day];
  }
  return parts;
}

TEST(PartPartitionTest, MergedPartsNeverSpanTwoDaysAndAPastDayEndsInOnePart) {
  // 100,000 records a day in time order for 6 days: chunks cross midnight every day or so.
  constexpr int kDays = 6, kPerDay = 100'000;
  auto env = NewMemEnv();
  UsageStore store;  // the default policy: day partitions, fan-in 8
  UsageStore truth(MergePolicy{.enabled = false, .partition_us = 0});
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
  Stores stores({&store, &truth});
  std::vector<int64_t> times;
  for (int i = 0; i < kDays * kPerDay; ++i) times.push_back(kT0 + i * (kDay / kPerDay));
  stores.Add(times);
  store.WaitMerged();
  truth.WaitSealed();

  const std::map<int64_t, int> parts = PartsByDay(store);
  ASSERT_EQ(parts.size(), static_cast<size_t>(kDays));
  // Every past day's chunks and pieces of chunks (of 100,000 rows: never 8 of a level) were
  // merged into one part when the next day began; the last day keeps its chunks.
  for (int d = 0; d + 1 < kDays; ++d) EXPECT_EQ(parts.at(d), 1) << "day " << d;
  EXPECT_GE(store.GetStats().merges, static_cast<uint64_t>(kDays - 1));
  EXPECT_EQ(store.GetStats().merge_failures, 0u);
  EXPECT_EQ(Answers(store, kDays), Answers(truth, kDays));
  ExpectEachSeqOnce(store, stores.records());

  // A restart loads the day parts and keeps them apart.
  UsageStore reopened;
  loaded.clear();
  ASSERT_TRUE(reopened.Open(env.get(), "/cols", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 0u);
  reopened.WaitMerged();
  EXPECT_EQ(PartsByDay(reopened), parts);
}

// The file names in `dir`.
std::vector<std::string> Files(Env* env, const std::string& dir) {
  auto names = env->GetChildren(dir);
  EXPECT_TRUE(names.ok());
  return names.ok() ? *names : std::vector<std::string>{};
}

// Parts below the top level are stored awaiting compression (MergePolicy), the "-stored" in
// their file names and the codec in the files telling them apart after a restart; a merge to the
// top level compresses, and so does closing a past day, also of a part awaiting compression alone
// (which the ratio rule would otherwise leave as it is).
TEST(PartPartitionTest, PartsBelowTheTopLevelAwaitCompressionUntilTheTopOrClosingMerge) {
  const MergePolicy pairs{.fan_in = 2, .max_level = 2};  // levels of 2 and 4 chunks
  auto env = NewMemEnv();
  UsageStore store(pairs);
  UsageStore truth(MergePolicy{.enabled = false, .partition_us = 0});
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
  Stores stores({&store, &truth});
  // Adds `n` rows of `day` with times from `first` (microseconds into the day), then waits for
  // the merges they start.
  auto add_day = [&](int64_t day, size_t n, int64_t first = 0) {
    std::vector<int64_t> times;
    for (size_t i = 0; i < n; ++i) {
      times.push_back(kT0 + day * kDay + first + static_cast<int64_t>(i));
    }
    stores.Add(times);
    store.WaitMerged();
  };
  auto stored_files = [&] {
    size_t n = 0;
    for (const std::string& f : Files(env.get(), "/cols")) {
      n += f.find("-stored.tac") != std::string::npos;
    }
    return n;
  };

  // (A full tail is sealed when the next row arrives.)
  // Day 0, two chunks: one level-1 part, awaiting compression, on disk and after a restart.
  add_day(0, 2 * kChunkRows + 1);
  std::vector<std::shared_ptr<const SealedChunk>> parts = store.Snap().sealed;
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0]->rows(), 2 * kChunkRows);
  EXPECT_TRUE(parts[0]->awaiting_compression());
  EXPECT_EQ(stored_files(), 1u);
  const size_t level1_bytes = store.GetStats().sealed_bytes;
  {
    UsageStore reopened(MergePolicy{.enabled = false});
    loaded.clear();
    ASSERT_TRUE(reopened.Open(env.get(), "/cols", &loaded, &discarded).ok());
    EXPECT_EQ(discarded, 0u);
    ASSERT_EQ(reopened.Snap().sealed.size(), 1u);
    EXPECT_TRUE(reopened.Snap().sealed[0]->awaiting_compression());
  }

  // Two more chunks of day 0 (the last sealed by day 1's first row): a second level-1 part, then
  // the level-2 part of all four, compressed. Day 1 fills two chunks, the second still the tail.
  add_day(0, 2 * kChunkRows - 1);
  add_day(1, 2 * kChunkRows);
  parts = store.Snap().sealed;
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->rows(), 4 * kChunkRows);
  EXPECT_FALSE(parts[0]->awaiting_compression());
  EXPECT_LT(parts[0]->encoded_bytes(), level1_bytes * 2 * 2 / 3);
  EXPECT_TRUE(parts[1]->awaiting_compression()) << "day 1's first chunk";

  // Day 2 begins: its first row seals day 1's second chunk, and the pair makes a level-1 part
  // awaiting compression, the only part of day 1 below the top. (The merges wait for it here:
  // were day 2's chunk sealed first, day 1 would be closed before its pair was merged, and one
  // closing merge would take both chunks.) Once day 2 has a part, day 1 is closed and that part
  // compressed alone.
  add_day(2, 1);
  parts = store.Snap().sealed;
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1]->rows(), 2 * kChunkRows);
  EXPECT_TRUE(parts[1]->awaiting_compression());
  add_day(2, kChunkRows, 1);
  for (const auto& part : store.Snap().sealed) {
    const int64_t day = DayOf(part->min(kTime));
    EXPECT_EQ(part->awaiting_compression(), day == 2) << "day " << day;
  }
  EXPECT_EQ(PartsByDay(store), (std::map<int64_t, int>{{0, 1}, {1, 1}, {2, 1}}));
  EXPECT_EQ(stored_files(), 0u);
  EXPECT_EQ(store.GetStats().merges, 5u);  // day 0: 2 + 1; day 1: 1, then compressed alone
  EXPECT_EQ(store.GetStats().merge_failures, 0u);
  truth.WaitSealed();
  EXPECT_EQ(Answers(store, 3), Answers(truth, 3));
  ExpectEachSeqOnce(store, stores.records());

  // The files load as they are: nothing discarded, nothing covered twice.
  UsageStore reopened(pairs);
  loaded.clear();
  ASSERT_TRUE(reopened.Open(env.get(), "/cols", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 0u);
  EXPECT_EQ(std::count(loaded.begin(), loaded.end(), true),
            static_cast<long>(stores.records() - 1));  // all but the tail's row
  reopened.WaitMerged();
  EXPECT_EQ(PartsByDay(reopened), PartsByDay(store));
}

// A crash after a part awaiting compression was compressed alone, before its file was removed,
// leaves both files: same rows, same seqs. The next start takes the compressed one and removes
// the other.
TEST(PartPartitionTest, ACompressedPartWinsOverItsStoredCopyLeftByACrash) {
  const MergePolicy pairs{.fan_in = 2, .max_level = 2};
  auto env = NewMemEnv();
  std::vector<bool> loaded;
  size_t discarded = 0;
  // `n` times of `day`, from `first` microseconds into it.
  auto day_times = [](int64_t day, size_t n, int64_t first = 0) {
    std::vector<int64_t> times;
    for (size_t i = 0; i < n; ++i) {
      times.push_back(kT0 + day * kDay + first + static_cast<int64_t>(i));
    }
    return times;
  };
  // The stored part of day 0's two chunks, as another store wrote it.
  std::string stored_name, stored_bytes;
  {
    UsageStore a(pairs);
    ASSERT_TRUE(a.Open(env.get(), "/a", &loaded, &discarded).ok());
    Stores({&a}).Add(day_times(0, 2 * kChunkRows + 1));
    a.WaitMerged();
    for (const std::string& f : Files(env.get(), "/a")) {
      if (f.find("-stored.tac") != std::string::npos) stored_name = f;
    }
    ASSERT_FALSE(stored_name.empty());
    auto bytes = ReadFileToString(env.get(), "/a/" + stored_name);
    ASSERT_TRUE(bytes.ok());
    stored_bytes = *bytes;
  }
  // The same records, then day 1: day 0's part is compressed alone (the name without "-stored").
  std::string compressed_name = stored_name;
  compressed_name.replace(compressed_name.find("-stored"), 7, "");
  {
    UsageStore b(pairs);
    loaded.clear();
    ASSERT_TRUE(b.Open(env.get(), "/b", &loaded, &discarded).ok());
    Stores stores({&b});
    // Day 1's first row seals day 0's second chunk; the pair is merged (stored: day 0 is still
    // the newest day) before day 1 has a part of its own, which closes day 0.
    stores.Add(day_times(0, 2 * kChunkRows));
    stores.Add(day_times(1, 1));
    b.WaitMerged();
    stores.Add(day_times(1, kChunkRows, 1));
    b.WaitMerged();
    EXPECT_EQ(b.GetStats().merges, 2u);
    const std::vector<std::string> files = Files(env.get(), "/b");
    EXPECT_NE(std::find(files.begin(), files.end(), compressed_name), files.end());
  }
  ASSERT_TRUE(WriteFileAtomic(env.get(), "/b/" + stored_name, stored_bytes).ok());
  UsageStore reopened(MergePolicy{.enabled = false});
  loaded.clear();
  ASSERT_TRUE(reopened.Open(env.get(), "/b", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 0u);
  EXPECT_EQ(reopened.GetStats().covered_files, 1u);
  for (const auto& part : reopened.Snap().sealed) {
    if (part->rows() == 2 * kChunkRows) {
      EXPECT_FALSE(part->awaiting_compression());
    }
  }
  const std::vector<std::string> files = Files(env.get(), "/b");
  EXPECT_EQ(std::find(files.begin(), files.end(), stored_name), files.end());
  EXPECT_NE(std::find(files.begin(), files.end(), compressed_name), files.end());
  EXPECT_EQ(std::count(loaded.begin(), loaded.end(), true), 3 * kChunkRows);
}

TEST(PartPartitionTest, LateRecordsGoToTheirOwnDaysAndMergesEnd) {
  // Ten days in time order, then three kinds of late records: a past stretch re-ingested in
  // time order, records of the whole past mixed at random with live ones (every chunk cut into
  // about ten parts), and a trickle of a few late records per chunk.
  constexpr int kDays = 10, kPerDay = 50'000;
  auto env = NewMemEnv();
  UsageStore store;
  UsageStore truth(MergePolicy{.enabled = false, .partition_us = 0});
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
  Stores stores({&store, &truth});
  std::vector<int64_t> times;
  for (int i = 0; i < kDays * kPerDay; ++i) times.push_back(kT0 + i * (kDay / kPerDay));
  stores.Add(times);
  store.WaitMerged();
  const uint64_t in_order_rows = stores.records();
  const uint64_t merged_in_order = store.GetStats().merged_rows;

  times.clear();
  for (int i = 0; i < 2 * kPerDay; ++i) times.push_back(kT0 + 2 * kDay + i * (kDay / kPerDay));
  stores.Add(times);
  std::mt19937_64 rng(7);
  times.clear();
  for (int i = 0; i < 4 * 65'536; ++i) {
    times.push_back(rng() % 2 ? kT0 + static_cast<int64_t>(rng() % (kDays * kDay))
                              : kT0 + kDays * kDay + int64_t{i} * 1'000'000);
  }
  stores.Add(times);
  for (int c = 0; c < 6; ++c) {
    times.clear();
    for (int i = 0; i < 65'536; ++i) {
      times.push_back(i % 1000 == 0
                          ? kT0 + static_cast<int64_t>(rng() % (kDays * kDay))
                          : kT0 + (kDays + 1) * kDay + int64_t{c * 65'536 + i} * 1'000'000);
    }
    stores.Add(times);
  }
  store.WaitMerged();
  truth.WaitSealed();
  const UsageStore::Stats st = store.GetStats();
  EXPECT_FALSE(st.merge_pending);
  EXPECT_EQ(st.merge_failures, 0u);
  const std::map<int64_t, int> parts = PartsByDay(store);
  // Days 0-9 hold their own rows and the late ones; days 10-15 the live ones.
  ASSERT_LE(parts.size(), 16u);
  // Few parts a day: the late rows of a past day are gathered by the levels (fewer than fan-in
  // of each) beside the day's part until they are as large as it.
  for (const auto& [day, n] : parts) EXPECT_LE(n, 8) << "day " << day;
  // Each late row is rewritten a few times at most, not once per chunk that reached its day.
  const uint64_t late_rows = stores.records() - in_order_rows;
  EXPECT_LE(st.merged_rows - merged_in_order, 4 * (late_rows + in_order_rows));
  EXPECT_EQ(Answers(store, kDays + 4), Answers(truth, kDays + 4));
  ExpectEachSeqOnce(store, stores.records());

  // Reopened (after a restart, the same parts; nothing merges twice).
  UsageStore reopened;
  loaded.clear();
  ASSERT_TRUE(reopened.Open(env.get(), "/cols", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 0u);
  reopened.WaitMerged();
  EXPECT_EQ(reopened.GetStats().merges, 0u);
  std::printf("%llu records (%llu late): %zu parts, %llu rows written by merges\n",
              static_cast<unsigned long long>(stores.records()),
              static_cast<unsigned long long>(late_rows), st.sealed_chunks,
              static_cast<unsigned long long>(st.merged_rows));
}

TEST(PartPartitionTest, NoPartitionsSealsWholeChunks) {
  // partition_us = 0: a chunk that crosses midnight stays one part (the merges of the levels
  // alone, as before partitions).
  UsageStore store(MergePolicy{.enabled = false, .partition_us = 0});
  std::vector<Row> rows;
  for (int i = 0; i < 65'536; ++i)
    rows.push_back(MakeRecordRow(&store, i, kT0 - kDay / 2 + int64_t{i} * 1'000'000));
  store.Add(rows);
  store.Add(std::vector<Row>{MakeRecordRow(&store, 65'536, kT0)});
  store.WaitSealed();
  EXPECT_EQ(store.GetStats().sealed_chunks, 1u);

  UsageStore days(MergePolicy{.enabled = false});
  rows.clear();
  for (int i = 0; i < 65'536; ++i)
    rows.push_back(MakeRecordRow(&days, i, kT0 - kDay / 2 + int64_t{i} * 1'000'000));
  days.Add(rows);
  days.Add(std::vector<Row>{MakeRecordRow(&days, 65'536, kT0)});
  days.WaitSealed();
  EXPECT_EQ(days.GetStats().sealed_chunks, 2u);
  EXPECT_EQ(PartsByDay(days).size(), 2u);
}

}  // namespace
}  // namespace tokenaudit::query
