// Merging sealed chunks into larger parts (doc/query_engine.md, "Merging"): answers stay exactly
// those of the unmerged chunks, merged parts keep the sorted layout, and an interrupted merge
// (output renamed into place, inputs not yet removed) counts no record twice after a restart.

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <thread>
#include <tuple>

#include "src/query/store_test_util.h"
#include "src/query/usage_query.h"
#include "src/query/usage_store.h"

namespace tokenaudit::query {
namespace {

// The tests of the merge's mechanics (levels, files, crashes) use no time partitions: their
// records (one a second) cross midnight UTC inside a chunk. part_partition_test.cc covers them.


void AddRecords(UsageStore* store, int n, const std::vector<bool>& skip) {
  std::vector<Row> rows;
  for (int i = 0; i < n; ++i) {
    if (static_cast<size_t>(i) < skip.size() && skip[i]) continue;
    rows.push_back(store->MakeRow(NumberedRecord(i), i));
  }
  store->Add(rows);
}

// Every exact measure of a few queries (a user's days, a time range by model and status, all
// rows by workflow and resolution), as text.
std::string Answers(const UsageStore& store) {
  std::vector<UsageQuery> qs(3);
  qs[0].group_by = {Dim::kTime};
  qs[0].window = [](int64_t t) {
    const int64_t day = 86'400'000'000;
    return UsageQuery::Window{t / day * day, t / day * day + day};
  };
  qs[0].filters = {{Dim::kUser, {"u_17"}}};
  qs[0].from_us = 1'796'083'200'000'000 + 20'000'000'000;
  qs[0].to_us = *qs[0].from_us + 200'000'000'000;
  qs[1].group_by = {Dim::kModel, Dim::kStatus};
  qs[1].from_us = 1'796'083'200'000'000 + 50'000'000'000;
  qs[1].to_us = *qs[1].from_us + 100'000'000'000;
  qs[2].group_by = {Dim::kWorkflow, Dim::kResolution};
  std::string out;
  for (const UsageQuery& q : qs) {
    auto a = RunUsageQuery(store, q);
    EXPECT_TRUE(a.ok()) << a.status();
    if (!a.ok()) return "";
    for (const GroupRow& g : a->groups) {
      for (const std::string& k : g.keys) out += k + "/";
      out += ":" + std::to_string(g.count) + "," + std::to_string(g.tokens_milli) + "," +
             std::to_string(g.gflops_milli) + "," + std::to_string(g.cost_micros) + "," +
             std::to_string(g.distinct_users) + "," + std::to_string(g.duration_count) + "," +
             std::to_string(g.duration_min) + "," + std::to_string(g.duration_max) + "," +
             std::to_string(g.duration_p50) + "," + std::to_string(g.duration_p95) + "," +
             std::to_string(g.duration_p99) + "," + std::to_string(g.duration_avg()) + ";";
    }
    out += "\n";
  }
  return out;
}

std::vector<std::string> Files(Env* env, const std::string& dir) {
  auto names = env->GetChildren(dir);
  EXPECT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  return *names;
}

// Rows of every sealed part are sorted by (tenant, user, time, model) and its granules hold at
// most kGranuleRows rows.
void ExpectSortedParts(const UsageStore& store) {
  DecodeScratch scratch;
  for (const auto& part : store.Snap().sealed) {
    std::array<std::vector<int64_t>, 4> k;
    const Col cols[4] = {kTenant, kUser, kTime, kModel};
    for (int j = 0; j < 4; ++j) {
      k[j].resize(part->rows());
      ASSERT_TRUE(part->Decode(cols[j], k[j].data(), &scratch).ok());
    }
    for (size_t i = 1; i < part->rows(); ++i) {
      const auto a = std::tie(k[0][i - 1], k[1][i - 1], k[2][i - 1], k[3][i - 1]);
      const auto b = std::tie(k[0][i], k[1][i], k[2][i], k[3][i]);
      ASSERT_LE(a, b) << "row " << i;
    }
    for (size_t g = 0; g < part->granules(); ++g) ASSERT_LE(part->granule_rows(g), kGranuleRows);
  }
}

TEST(PartMergeTest, MergedPartsAnswerExactlyAsTheChunksTheyReplace) {
  constexpr int kRecords = 5 * 65'536 + 3'000;  // five chunks and a tail
  UsageStore unmerged(MergePolicy{.enabled = false, .partition_us = 0});
  AddRecords(&unmerged, kRecords, {});
  unmerged.WaitSealed();
  ASSERT_EQ(unmerged.GetStats().sealed_chunks, 5u);
  const std::string expected = Answers(unmerged);

  // Fan-in 2: chunks 1+2 and 3+4 make two parts of level 1, those one part of level 2; chunk 5
  // waits for a partner.
  const MergePolicy pairs{.enabled = true, .fan_in = 2, .max_level = 2, .partition_us = 0};
  UsageStore in_memory(pairs);
  AddRecords(&in_memory, kRecords, {});
  in_memory.WaitMerged();
  EXPECT_EQ(in_memory.GetStats().merges, 3u);
  EXPECT_EQ(in_memory.GetStats().sealed_chunks, 2u);
  EXPECT_EQ(in_memory.GetStats().merged_rows, 8u * 65'536);
  EXPECT_EQ(in_memory.rows(), static_cast<uint64_t>(kRecords));
  EXPECT_EQ(Answers(in_memory), expected);
  ExpectSortedParts(in_memory);

  auto env = NewMemEnv();
  UsageStore on_disk(pairs);
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(on_disk.Open(env.get(), "/cols", &loaded, &discarded).ok());
  AddRecords(&on_disk, kRecords, {});
  on_disk.WaitMerged();
  EXPECT_EQ(on_disk.GetStats().merges, 3u);
  EXPECT_EQ(on_disk.GetStats().sealed_on_disk, 2u);
  EXPECT_EQ(on_disk.GetStats().merge_failures, 0u);
  EXPECT_EQ(Answers(on_disk), expected);
  ExpectSortedParts(on_disk);
  // Without time partitions no closing merge would compress a part later: a part of level 1
  // is compressed as it is made, like the level-2 part.
  for (const auto& part : on_disk.Snap().sealed) {
    EXPECT_EQ(part->awaiting_compression(), part->rows() <= 65'536) << part->rows();
  }
  // The merged part's file and chunk 5's; the inputs' files are gone.
  EXPECT_EQ(Files(env.get(), "/cols"),
            (std::vector<std::string>{"0-262143-262144.tac", "262144-327679.tac"}));

  // Reopened from the files by a process with other dictionary codes.
  UsageStore reopened(MergePolicy{.partition_us = 0});
  for (int i = 9; i >= 0; --i) reopened.MakeRow(NumberedRecord(i), 0);
  loaded.clear();
  ASSERT_TRUE(reopened.Open(env.get(), "/cols", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 0u);
  EXPECT_EQ(std::count(loaded.begin(), loaded.end(), true), 5 * 65'536);
  AddRecords(&reopened, kRecords, loaded);
  EXPECT_EQ(reopened.rows(), static_cast<uint64_t>(kRecords));
  EXPECT_EQ(Answers(reopened), expected);
}

// A merge's rows, column for column, are those of its inputs stably sorted by (tenant, user,
// time, model): rows of equal keys in input order, then in their order within the input. Few
// distinct keys (many ties), inputs of several granules and of a few rows, compressed or not.
TEST(PartMergeTest, MergeIsAStableSortOfItsInputsInEveryColumn) {
  uint64_t state = 42;
  auto next = [&state](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<int64_t>((state >> 33) % n);
  };
  const size_t sizes[] = {20'000, 3, 9'000, 1, 17'000};
  std::vector<std::shared_ptr<const SealedChunk>> inputs;
  std::vector<Row> expected;
  int64_t id = 0;
  for (size_t k = 0; k < std::size(sizes); ++k) {
    auto tail = std::make_unique<TailChunk>();
    for (size_t i = 0; i < sizes[k]; ++i) {
      Row row{};
      for (int c = 0; c < kNumCols; ++c) row[c] = next(1'000'000);
      row[kTenant] = next(2);
      row[kUser] = next(4);
      row[kTime] = next(6);
      row[kModel] = next(3);
      row[kSeq] = id++;  // unique: tells every row apart
      tail->Set(i, row);
    }
    inputs.push_back(SealedChunk::Seal(*tail, sizes[k],
                                       k % 2 == 0 ? Compression::kNone : Compression::kZstd));
    // The input's rows in its own (sorted) order.
    std::vector<std::vector<int64_t>> cols(kNumCols, std::vector<int64_t>(sizes[k]));
    DecodeScratch scratch;
    for (int c = 0; c < kNumCols; ++c) {
      ASSERT_TRUE(inputs.back()->Decode(static_cast<Col>(c), cols[c].data(), &scratch).ok());
    }
    for (size_t i = 0; i < sizes[k]; ++i) {
      Row row;
      for (int c = 0; c < kNumCols; ++c) row[c] = cols[c][i];
      expected.push_back(row);
    }
  }
  std::stable_sort(expected.begin(), expected.end(), [](const Row& a, const Row& b) {
    return std::tie(a[kTenant], a[kUser], a[kTime], a[kModel]) <
           std::tie(b[kTenant], b[kUser], b[kTime], b[kModel]);
  });

  std::array<Dictionary, kNumStringCols> dicts;
  auto merged = SealedChunk::Merge(inputs, &dicts, nullptr, "", [] { return true; });
  ASSERT_TRUE(merged.ok()) << merged.status();
  ASSERT_EQ((*merged)->rows(), expected.size());
  DecodeScratch scratch;
  std::vector<int64_t> col(expected.size());
  for (int c = 0; c < kNumCols; ++c) {
    ASSERT_TRUE((*merged)->Decode(static_cast<Col>(c), col.data(), &scratch).ok());
    for (size_t i = 0; i < expected.size(); ++i) {
      ASSERT_EQ(col[i], expected[i][c]) << "column " << c << ", row " << i;
    }
  }
  for (size_t g = 0; g < (*merged)->granules(); ++g) {
    ASSERT_LE((*merged)->granule_rows(g), kGranuleRows);
  }
}

// Frame-of-reference packing round-trips every byte width, stored or compressed, up to the
// whole int64 range.
TEST(PartMergeTest, EveryByteWidthRoundTrips) {
  for (int width = 1; width <= 8; ++width) {
    const int64_t lo = width == 8 ? std::numeric_limits<int64_t>::min() : -1'000'000'007;
    const uint64_t span = width == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * width)) - 1;
    const size_t rows = 9'000;  // two granules
    auto tail = std::make_unique<TailChunk>();
    std::vector<int64_t> values(rows);
    for (size_t i = 0; i < rows; ++i) {
      Row row{};
      row[kTime] = static_cast<int64_t>(i);  // the sort keeps row order
      // Both ends of the span in each granule, the rest spread over it.
      const uint64_t off = i % 8192 == 0 ? 0 : i % 8192 == 1 ? span : (span / rows) * i;
      values[i] = static_cast<int64_t>(static_cast<uint64_t>(lo) + off);
      row[kCostMicros] = values[i];
      tail->Set(i, row);
    }
    for (Compression compression : {Compression::kNone, Compression::kZstd}) {
      auto chunk = SealedChunk::Seal(*tail, rows, compression);
      std::vector<int64_t> out(rows);
      DecodeScratch scratch;
      ASSERT_TRUE(chunk->Decode(kCostMicros, out.data(), &scratch).ok());
      ASSERT_EQ(out, values) << "width " << width;
    }
  }
}

// Edge cases of a merge's runs: an empty input, a single input, and an input whose rows all sort
// before the others', so that one run crosses tenant changes and granule cuts.
TEST(PartMergeTest, MergeRunsCrossGranuleCutsAndSkipEmptyInputs) {
  auto seal = [](std::vector<std::array<int64_t, 2>> tenant_user) {
    auto tail = std::make_unique<TailChunk>();
    for (size_t i = 0; i < tenant_user.size(); ++i) {
      Row row{};
      row[kTenant] = tenant_user[i][0];
      row[kUser] = tenant_user[i][1];
      row[kTime] = static_cast<int64_t>(i);
      row[kCostMicros] = tenant_user[i][0] * 1'000'000 + static_cast<int64_t>(i);
      tail->Set(i, row);
    }
    return SealedChunk::Seal(*tail, tenant_user.size(), Compression::kNone);
  };
  std::vector<std::array<int64_t, 2>> first, last;
  for (int i = 0; i < 3'000; ++i) first.push_back({1 + i / 1'500, 7});  // tenants 1 and 2
  for (int i = 0; i < 2'000; ++i) last.push_back({5, i % 3});
  const auto a = seal(first), empty = seal({}), b = seal(last);
  std::array<Dictionary, kNumStringCols> dicts;
  auto keep_going = [] { return true; };
  for (const auto& inputs : std::vector<std::vector<std::shared_ptr<const SealedChunk>>>{
           {b, empty, a}, {a}, {empty}, {empty, empty}}) {
    size_t total = 0;
    for (const auto& in : inputs) total += in->rows();
    auto merged = SealedChunk::Merge(inputs, &dicts, nullptr, "", keep_going);
    ASSERT_TRUE(merged.ok()) << merged.status();
    ASSERT_EQ((*merged)->rows(), total);
    if (total == 0) continue;
    std::vector<int64_t> tenant(total), cost(total);
    DecodeScratch scratch;
    ASSERT_TRUE((*merged)->Decode(kTenant, tenant.data(), &scratch).ok());
    ASSERT_TRUE((*merged)->Decode(kCostMicros, cost.data(), &scratch).ok());
    EXPECT_TRUE(std::is_sorted(tenant.begin(), tenant.end()));
    // Input a's rows first, in their order: its one run crossed the tenant change at row 1,500
    // (a granule cut) without losing or reordering a row.
    if (inputs.size() == 3) {
      for (size_t i = 0; i < first.size(); ++i) {
        ASSERT_EQ(cost[i], first[i][0] * 1'000'000 + static_cast<int64_t>(i)) << i;
      }
      EXPECT_EQ((*merged)->granule_begin(1), 1'500u);
    }
  }
}

// A stored frame has no checksum of its own: a merge checks its inputs' data CRC first, so a chunk
// damaged on disk after it was written is not rewritten into a part with fresh CRCs (and its rows
// are rebuilt from the log at the next start, which drops the damaged file).
TEST(PartMergeTest, MergeRefusesAnInputWhoseFramesWereDamagedOnDisk) {
  std::string dir = ::testing::TempDir() + "ta_part_merge_test.XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  Env* env = Env::Default();
  const MergePolicy pairs{.enabled = true, .fan_in = 2, .max_level = 1, .partition_us = 0};
  std::string damaged;
  {
    UsageStore store(pairs);
    std::vector<bool> loaded;
    size_t discarded = 0;
    ASSERT_TRUE(store.Open(env, dir, &loaded, &discarded).ok());
    AddRecords(&store, 65'536 + 100, {});
    store.WaitSealed();
    auto names = env->GetChildren(dir);
    ASSERT_TRUE(names.ok());
    for (const std::string& name : *names) {
      if (name.ends_with(".tac")) damaged = dir + "/" + name;
    }
    ASSERT_FALSE(damaged.empty());
    // One byte in the middle of the data section, in place: the store reads the file it holds.
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekg(0, std::ios::end);
    const std::streamoff middle = f.tellg() / 3;
    f.seekg(middle);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x40;
    f.seekp(middle);
    f.write(&c, 1);
    f.close();

    std::vector<Row> rows;
    for (int i = 65'536 + 100; i < 2 * 65'536 + 100; ++i) {
      rows.push_back(store.MakeRow(NumberedRecord(i), i));
    }
    store.Add(rows);
    // The merge fails and blocks further merges: WaitMerged returns once it has given up.
    store.WaitMerged();
    const auto st = store.GetStats();
    EXPECT_EQ(st.merges, 0u);
    EXPECT_GE(st.merge_failures, 1u);
    EXPECT_NE(st.last_error.find("CRC mismatch"), std::string::npos) << st.last_error;
    EXPECT_TRUE(env->FileExists(damaged)) << "a failed merge keeps its inputs";
  }
  UsageStore reopened(pairs);
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(reopened.Open(env, dir, &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 1u);
  EXPECT_FALSE(env->FileExists(damaged));
  EXPECT_EQ(std::count(loaded.begin(), loaded.end(), true), 65'536) << "the second chunk";
  reopened.WaitMerged();
  auto left = env->GetChildren(dir);
  ASSERT_TRUE(left.ok());
  for (const std::string& name : *left) env->RemoveFile(dir + "/" + name).IgnoreError();
  ::rmdir(dir.c_str());
}

// A merge's inputs and its temporary file are removed a few MiB at a time (freeing a large file
// at once stalls the log's fdatasyncs on a file system with online discard).
TEST(PartMergeTest, RemoveFileGraduallyShrinksTheFileInStepsThenRemovesIt) {
  auto env = NewMemEnv();
  ASSERT_TRUE(env->CreateDir("/d").ok());
  const std::string path = "/d/big.tac";
  ASSERT_TRUE(WriteFileAtomic(env.get(), path, std::string(5 * 1000 + 300, 'x')).ok());
  std::vector<uint64_t> sizes;
  RemoveFileGradually(env.get(), path, [&] {
    sizes.push_back(*env->GetFileSize(path));
    return false;
  }, /*step_bytes=*/1000, /*pause_us=*/0);
  EXPECT_EQ(sizes, (std::vector<uint64_t>{5300, 4300, 3300, 2300, 1300}));
  EXPECT_FALSE(env->FileExists(path));

  // In a hurry (the store is stopping): removed at once.
  ASSERT_TRUE(WriteFileAtomic(env.get(), path, std::string(5000, 'x')).ok());
  int calls = 0;
  RemoveFileGradually(env.get(), path, [&] { return ++calls > 0; }, 1000, 0);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(env->FileExists(path));
}

// With merging on, a chunk is stored without zstd until the merge that rewrites it into a part
// of the top level compresses the rows once (MergePolicy::compress_chunks); the answers never
// change. (Levels in between: PartPartitionTest.)
TEST(PartMergeTest, ChunksAreStoredWithoutZstdUntilAMergeCompressesThem) {
  constexpr int kOneChunk = 65'536 + 100;
  UsageStore unmerged(MergePolicy{.enabled = false, .partition_us = 0});
  AddRecords(&unmerged, kOneChunk, {});
  unmerged.WaitSealed();
  const size_t compressed = unmerged.GetStats().sealed_bytes;
  const std::string expected_one = Answers(unmerged);

  const MergePolicy pairs{.enabled = true, .fan_in = 2, .max_level = 1, .partition_us = 0};
  MergePolicy pairs_zstd = pairs;
  pairs_zstd.compress_chunks = true;
  auto env = NewMemEnv();
  size_t merged_bytes = 0;
  for (const MergePolicy& policy : {pairs, pairs_zstd}) {
    const std::string dir = policy.compress_chunks ? "/zstd" : "/plain";
    UsageStore store(policy);
    std::vector<bool> loaded;
    size_t discarded = 0;
    ASSERT_TRUE(store.Open(env.get(), dir, &loaded, &discarded).ok());
    AddRecords(&store, kOneChunk, {});
    store.WaitMerged();
    ASSERT_EQ(store.GetStats().sealed_on_disk, 1u);
    const size_t one = store.GetStats().sealed_bytes;
    if (policy.compress_chunks) {
      EXPECT_EQ(one, compressed);
    } else {
      EXPECT_GT(one, compressed * 3 / 2) << "a chunk awaiting its merge is not compressed";
    }
    EXPECT_EQ(Answers(store), expected_one);

    // The second chunk completes a pair: the merged part, of the top level, is compressed
    // whatever the chunks were.
    std::vector<Row> rows;
    for (int i = kOneChunk; i < 2 * 65'536 + 100; ++i) {
      rows.push_back(store.MakeRow(NumberedRecord(i), i));
    }
    store.Add(rows);
    store.WaitMerged();
    EXPECT_EQ(store.GetStats().merges, 1u);
    EXPECT_EQ(store.GetStats().sealed_chunks, 1u);
    EXPECT_LT(store.GetStats().sealed_bytes, one * (policy.compress_chunks ? 3 : 1)) << dir;
    if (merged_bytes == 0) {
      merged_bytes = store.GetStats().sealed_bytes;
    } else {
      EXPECT_EQ(store.GetStats().sealed_bytes, merged_bytes) << "the same part either way";
    }

    // A reopened store reads the files either way.
    UsageStore reopened(policy);
    loaded.clear();
    ASSERT_TRUE(reopened.Open(env.get(), dir, &loaded, &discarded).ok());
    EXPECT_EQ(discarded, 0u);
    EXPECT_EQ(std::count(loaded.begin(), loaded.end(), true), 2 * 65'536);
  }
}

TEST(PartMergeTest, InterruptedMergeCountsNoRecordTwiceAfterRestart) {
  constexpr int kRecords = 140'000;  // two chunks and a tail
  auto env = NewMemEnv();
  std::vector<bool> loaded;
  size_t discarded = 0;
  std::string expected;
  {
    UsageStore store(MergePolicy{.enabled = false, .partition_us = 0});
    ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
    AddRecords(&store, kRecords, {});
    store.WaitSealed();
    expected = Answers(store);
  }
  const std::vector<std::string> inputs = Files(env.get(), "/cols");
  ASSERT_EQ(inputs.size(), 2u);
  std::map<std::string, std::string> saved;
  for (const std::string& name : inputs) {
    auto data = ReadFileToString(env.get(), "/cols/" + name);
    ASSERT_TRUE(data.ok());
    saved[name] = *data;
  }
  {
    // Merges the two chunks it loads; a query that took its snapshot before still reads them
    // after their files are removed.
    UsageStore store(MergePolicy{.enabled = true, .fan_in = 2, .max_level = 2, .partition_us = 0});
    loaded.clear();
    ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
    UsageStore::Snapshot before = store.Snap();
    AddRecords(&store, kRecords, loaded);
    store.WaitMerged();
    EXPECT_EQ(store.GetStats().merges, 1u);
    EXPECT_EQ(Answers(store), expected);
    DecodeScratch scratch;
    std::vector<int64_t> seqs(65'536);
    for (const auto& part : before.sealed) {
      EXPECT_TRUE(part->Decode(kSeq, seqs.data(), &scratch).ok());
    }
  }
  const std::vector<std::string> merged = Files(env.get(), "/cols");
  ASSERT_EQ(merged, (std::vector<std::string>{"0-131071-131072.tac"}));

  // A crash after the merged part was renamed into place, before its inputs were removed: all
  // three files are there (and the temporary files of another merge that did not finish).
  for (const auto& [name, data] : saved) {
    ASSERT_TRUE(WriteFileAtomic(env.get(), "/cols/" + name, data).ok());
  }
  ASSERT_TRUE(WriteFileAtomic(env.get(), "/cols/9-10-2.tac.tmp", "partial").ok());
  ASSERT_TRUE(WriteFileAtomic(env.get(), "/cols/9-10-2.tac.data.tmp", "frames").ok());
  {
    UsageStore store(MergePolicy{.partition_us = 0});
    loaded.clear();
    ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
    EXPECT_EQ(discarded, 0u);
    EXPECT_EQ(store.GetStats().covered_files, 2u);
    EXPECT_EQ(store.GetStats().sealed_chunks, 1u);
    EXPECT_EQ(std::count(loaded.begin(), loaded.end(), true), 131'072);
    AddRecords(&store, kRecords, loaded);
    EXPECT_EQ(store.rows(), static_cast<uint64_t>(kRecords));
    EXPECT_EQ(Answers(store), expected);
  }
  EXPECT_EQ(Files(env.get(), "/cols"), merged);

  // The same crash, but the merged part was damaged since: it goes, its inputs load.
  for (const auto& [name, data] : saved) {
    ASSERT_TRUE(WriteFileAtomic(env.get(), "/cols/" + name, data).ok());
  }
  auto part = ReadFileToString(env.get(), "/cols/" + merged[0]);
  ASSERT_TRUE(part.ok());
  std::string bad = *part;
  bad[bad.size() / 3] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomic(env.get(), "/cols/" + merged[0], bad).ok());
  {
    UsageStore store(MergePolicy{.enabled = false, .partition_us = 0});
    loaded.clear();
    ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
    EXPECT_EQ(discarded, 1u);
    EXPECT_EQ(store.GetStats().covered_files, 0u);
    EXPECT_EQ(store.GetStats().sealed_chunks, 2u);
    AddRecords(&store, kRecords, loaded);
    EXPECT_EQ(store.rows(), static_cast<uint64_t>(kRecords));
    EXPECT_EQ(Answers(store), expected);
  }
  EXPECT_EQ(Files(env.get(), "/cols"), inputs);
}

TEST(PartMergeTest, QueriesDuringMergesCountEveryRowOnce) {
  // Ingest fills eight chunks while merges (fan-in 2) replace them; each query's count must lie
  // between the rows added before it started and after it ended: a snapshot that held both a
  // merge's inputs and its output (or neither) would count rows twice (or miss them).
  auto env = NewMemEnv();
  UsageStore store(MergePolicy{.enabled = true, .fan_in = 2, .max_level = 2});
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
  constexpr int kRecords = 8 * 65'536 + 100, kBatch = 4'096;
  std::atomic<bool> done{false};
  std::thread ingest([&] {
    for (int b = 0; b < kRecords; b += kBatch) {
      std::vector<Row> rows;
      for (int i = b; i < std::min(kRecords, b + kBatch); ++i) {
        rows.push_back(store.MakeRow(NumberedRecord(i), i));
      }
      store.Add(rows);
    }
    done = true;
  });
  UsageQuery q;
  q.measures = {Measure::kCount};
  int queries = 0;
  while (!done || store.GetStats().merge_pending || queries < 10) {
    const uint64_t before = store.rows();
    auto a = RunUsageQuery(store, q);
    const uint64_t after = store.rows();
    ASSERT_TRUE(a.ok()) << a.status();
    const uint64_t n = a->groups.empty() ? 0 : a->groups[0].count;
    ASSERT_GE(n, before);
    ASSERT_LE(n, after);
    ++queries;
  }
  ingest.join();
  store.WaitMerged();
  // A record a second: six whole days of 86,400 records, each in pieces of two chunks, which
  // merge into a part of level 1: compressed at once if the next day had a part by then, else
  // stored awaiting compression and compressed alone when the next day closes its day (which
  // depends on how far ingest got meanwhile): 1 or 2 merges a day; the seventh day is open.
  EXPECT_GE(store.GetStats().merges, 6u);
  EXPECT_LE(store.GetStats().merges, 12u);
  for (const auto& part : store.Snap().sealed) {
    if (part->rows() > 65'536) {
      EXPECT_FALSE(part->awaiting_compression()) << part->rows();
    }
  }
  EXPECT_EQ(store.GetStats().merge_failures, 0u);
  auto a = RunUsageQuery(store, q);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->groups[0].count, static_cast<uint64_t>(kRecords));
}

}  // namespace
}  // namespace tokenaudit::query
