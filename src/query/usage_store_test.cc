#include "src/query/usage_store.h"

#include <gtest/gtest.h>

#include "src/query/store_test_util.h"
#include "src/query/usage_query.h"

namespace tokenaudit::query {
namespace {

std::string Answer(const UsageStore& store) {
  UsageQuery q;
  q.group_by = {Dim::kModel, Dim::kWorkflow, Dim::kStatus};
  q.measures = {Measure::kCount, Measure::kTokens, Measure::kCost, Measure::kDistinctUsers,
                Measure::kDurationMax};
  auto a = RunUsageQuery(store, q);
  EXPECT_TRUE(a.ok()) << a.status();
  std::string out;
  for (const GroupRow& g : a->groups) {
    out += g.keys[0] + "/" + g.keys[1] + "/" + g.keys[2] + ":" + std::to_string(g.count) + "," +
           std::to_string(g.tokens_milli) + "," + std::to_string(g.cost_micros) + "," +
           std::to_string(g.distinct_users) + "," + std::to_string(g.duration_max) + ";";
  }
  return out;
}

void AddRecords(UsageStore* store, int n, const std::vector<bool>& skip) {
  std::vector<Row> rows;
  for (int i = 0; i < n; ++i) {
    if (static_cast<size_t>(i) < skip.size() && skip[i]) continue;
    rows.push_back(store->MakeRow(NumberedRecord(i), i));
  }
  store->Add(rows);
}

TEST(UsageStoreTest, SealedChunksPersistAndReloadWithOtherDictionaryCodes) {
  auto env = NewMemEnv();
  constexpr int kRecords = 150'000;  // two sealed chunks and a tail
  std::string expected;
  {
    // Without merges: the closing merge of day 0 would otherwise join its two parts (or not,
    // depending on whether it ran before the store was closed).
    UsageStore store(MergePolicy{.enabled = false});
    std::vector<bool> loaded;
    size_t discarded = 0;
    ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
    EXPECT_TRUE(loaded.empty());
    AddRecords(&store, kRecords, {});
    store.WaitSealed();
    EXPECT_EQ(store.GetStats().persist_failures, 0u);
    expected = Answer(store);
  }
  auto files = env->GetChildren("/cols");
  ASSERT_TRUE(files.ok());
  // Record i is at midnight UTC + i s: the second chunk is sealed as two parts, one a day.
  EXPECT_EQ(files->size(), 3u);

  // A new process interns strings in another order, then loads the chunks and the rest.
  UsageStore store;
  // Codes differ from the first store's.
  for (int i = 4; i >= 0; --i) store.MakeRow(NumberedRecord(i), 0);
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 0u);
  size_t n_loaded = std::count(loaded.begin(), loaded.end(), true);
  EXPECT_EQ(n_loaded, 2 * kChunkRows);
  AddRecords(&store, kRecords, loaded);
  EXPECT_EQ(store.rows(), static_cast<uint64_t>(kRecords));
  EXPECT_EQ(Answer(store), expected);
}

TEST(UsageStoreTest, DamagedChunkFilesAreDiscardedAndRebuiltFromTheLog) {
  auto env = NewMemEnv();
  std::string expected;
  {
    UsageStore store;
    std::vector<bool> loaded;
    size_t discarded = 0;
    ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
    AddRecords(&store, 70'000, {});
    store.WaitSealed();
    expected = Answer(store);
  }
  auto files = env->GetChildren("/cols");
  ASSERT_TRUE(files.ok() && files->size() == 1u);
  const std::string path = "/cols/" + (*files)[0];
  auto data = ReadFileToString(env.get(), path);
  ASSERT_TRUE(data.ok());
  std::string bad = *data;
  bad[bad.size() / 2] ^= 0x10;
  ASSERT_TRUE(WriteFileAtomic(env.get(), path, bad).ok());
  ASSERT_TRUE(WriteFileAtomic(env.get(), "/cols/1-2.tac", "junk").ok());

  UsageStore store;
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 2u);
  EXPECT_EQ(std::count(loaded.begin(), loaded.end(), true), 0);
  EXPECT_FALSE(env->FileExists(path));
  AddRecords(&store, 70'000, loaded);
  store.WaitSealed();
  EXPECT_EQ(Answer(store), expected);
  // ...and the rebuilt chunk was written again.
  files = env->GetChildren("/cols");
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 1u);

  // Every truncation of a chunk file is refused cleanly.
  auto good = ReadFileToString(env.get(), "/cols/" + (*files)[0]);
  ASSERT_TRUE(good.ok());
  for (size_t n = 0; n < good->size(); n += 1 + n / 4) {
    std::array<Dictionary, kNumStringCols> dicts;
    EXPECT_FALSE(SealedChunk::DecodeFile(std::string_view(*good).substr(0, n), &dicts).ok()) << n;
  }
}

}  // namespace
}  // namespace tokenaudit::query
