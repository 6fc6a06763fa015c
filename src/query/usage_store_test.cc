#include "src/query/usage_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <span>

#include "src/env/fault_injection_env.h"
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

// Tails are reused (TailPool) only once nothing holds them: a query's snapshot of a full tail
// reads its rows unchanged while the store seals it and fills five more (through reused tails);
// once the snapshot is gone, every record is still counted once.
TEST(UsageStoreTest, ATailHeldByAQueryIsReusedOnlyAfterTheQueryEnds) {
  UsageStore store(MergePolicy{.enabled = false});
  AddRecords(&store, static_cast<int>(kChunkRows), {});  // a full tail, not yet frozen
  std::optional<UsageStore::Snapshot> held = store.Snap();
  ASSERT_EQ(held->raw.size(), 1u);
  ASSERT_EQ(held->raw[0].rows, kChunkRows);
  const TailChunk* first = held->raw[0].chunk.get();
  std::vector<Row> rows;
  constexpr int kRows = static_cast<int>(kChunkRows);
  for (int i = kRows; i < 6 * kRows + 100; ++i) {
    rows.push_back(store.MakeRow(NumberedRecord(i), i));
  }
  for (size_t at = 0; at < rows.size(); at += 1000) {  // as ingest does: a batch at a time
    store.Add(std::span<const Row>(rows).subspan(at, std::min<size_t>(1000, rows.size() - at)));
  }
  store.WaitSealed();
  for (size_t i = 0; i < kChunkRows; ++i) {
    ASSERT_EQ(first->col(kSeq)[i], static_cast<int64_t>(i)) << i;
  }
  held.reset();  // the query ends: the first tail goes to the pool, or is freed if it is full
  const int n = 8 * kRows + 100;
  rows.clear();
  for (int i = 6 * kRows + 100; i < n; ++i) rows.push_back(store.MakeRow(NumberedRecord(i), i));
  store.Add(rows);
  store.WaitSealed();
  EXPECT_EQ(store.rows(), static_cast<uint64_t>(n));
  ExpectEachSeqOnce(store, n);
}

// A chunk whose file cannot be written stays in memory, queryable; the next chunk is written.
TEST(UsageStoreTest, ChunkThatCannotBeWrittenStaysInMemoryAndTheNextIsWritten) {
  auto base = NewMemEnv();
  env::FaultInjectionEnv fenv(base.get());
  UsageStore store(MergePolicy{.enabled = false, .partition_us = 0});
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(&fenv, "/cols", &loaded, &discarded).ok());
  fenv.FailNthWrite(1, env::FaultKind::kENOSPC);
  constexpr int kRows = static_cast<int>(kChunkRows);
  AddRecords(&store, kRows + 10, {});
  store.WaitSealed();
  UsageStore::Stats st = store.GetStats();
  EXPECT_EQ(st.persist_failures, 1u);
  EXPECT_NE(st.last_error.find("ENOSPC"), std::string::npos) << st.last_error;
  std::vector<Row> more;
  for (int i = kRows + 10; i < 2 * kRows + 10; ++i) {
    more.push_back(store.MakeRow(NumberedRecord(i), i));
  }
  store.Add(more);
  store.WaitSealed();
  EXPECT_EQ(store.GetStats().persist_failures, 1u);
  auto files = fenv.GetChildren("/cols");
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 1u);  // the second chunk's file
  ExpectEachSeqOnce(store, 2 * kRows + 10);
  UsageStore plain(MergePolicy{.enabled = false, .partition_us = 0});
  AddRecords(&plain, 2 * kRows + 10, {});
  EXPECT_EQ(Answer(store), Answer(plain));
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
