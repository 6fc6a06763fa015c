// Making rows and sealing them (doc/query_engine.md): the intern cache gives the dictionary's
// codes and spreads user strings over its ways, the input-hash column holds the digest's first
// 16 hex digits, and Seal sorts by (tenant, user, time, model) with ties in row order.

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "src/query/chunk.h"
#include "src/query/dictionary.h"
#include "src/query/store_test_util.h"
#include "src/query/usage_store.h"
#include "tokenaudit/env.h"

namespace tokenaudit::query {
namespace {

TEST(RowSealTest, InternCacheGivesTheDictionarysCodes) {
  UsageStore store(MergePolicy{.enabled = false});
  UsageStore::InternCache cache;
  for (int i = 0; i < 5000; ++i) {
    UsageRecord r = NumberedRecord(i * 13 % 4001);
    // Users of one length that differ in their first bytes only, or in their last: both share
    // cache ways with others, and each gets its own code.
    if (i % 3 == 1) r.user = std::to_string(i % 700) + "-user-with-a-long-common-suffix";
    if (i % 3 == 2) r.user = "u_" + std::string(20, 'x') + std::to_string(1000 + i % 900);
    const Row cached = store.MakeRow(r, 1, &cache);
    const Row plain = store.MakeRow(r, 1);
    ASSERT_EQ(cached, plain) << i;
    EXPECT_EQ(store.dict(kUser).String(static_cast<uint32_t>(cached[kUser])), r.user);
    EXPECT_EQ(store.dict(kWorkflow).String(static_cast<uint32_t>(cached[kWorkflow])), r.workflow);
  }
}

// Seal's order: (tenant, user, time, model), ties in the tail's row order; times may be
// negative (before 1970) and codes use all 32 bits.
TEST(RowSealTest, SealSortsByTenantUserTimeModelWithTiesInRowOrder) {
  uint64_t state = 7;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  constexpr size_t kRows = 30'000;
  auto tail = std::make_unique<TailChunk>();
  std::vector<Row> rows;
  for (size_t i = 0; i < kRows; ++i) {
    Row row{};
    for (int c = 0; c < kNumCols; ++c) row[c] = static_cast<int64_t>(next(1000));
    row[kTenant] = next(3) == 0 ? 0xffffffffll : static_cast<int64_t>(next(3));
    row[kUser] = next(5) == 0 ? 0xfffffffell : static_cast<int64_t>(next(40));
    row[kTime] = static_cast<int64_t>(next(7)) - 3 + (next(9) == 0 ? INT64_MIN / 2 : 0);
    row[kModel] = next(4) == 0 ? 0x80000000ll : static_cast<int64_t>(next(3));
    row[kSeq] = static_cast<int64_t>(i);
    tail->Set(i, row);
    rows.push_back(row);
  }
  auto sorted_rows = [](std::vector<Row> v) {
    std::stable_sort(v.begin(), v.end(), [](const Row& a, const Row& b) {
      return std::tie(a[kTenant], a[kUser], a[kTime], a[kModel]) <
             std::tie(b[kTenant], b[kUser], b[kTime], b[kModel]);
    });
    return v;
  };
  auto decoded = [](const SealedChunk& chunk) {
    std::vector<std::vector<int64_t>> cols(kNumCols, std::vector<int64_t>(chunk.rows()));
    DecodeScratch scratch;
    for (int c = 0; c < kNumCols; ++c) {
      EXPECT_TRUE(chunk.Decode(static_cast<Col>(c), cols[c].data(), &scratch).ok());
    }
    std::vector<Row> out(chunk.rows());
    for (size_t i = 0; i < chunk.rows(); ++i) {
      for (int c = 0; c < kNumCols; ++c) out[i][c] = cols[c][i];
    }
    return out;
  };
  EXPECT_EQ(decoded(*SealedChunk::Seal(*tail, kRows, Compression::kNone)), sorted_rows(rows));
  // A subset (the rows of one time partition): the same order among those rows.
  std::vector<uint32_t> some;
  std::vector<Row> some_rows;
  for (uint32_t i = 0; i < kRows; i += 1 + static_cast<uint32_t>(next(3))) {
    some.push_back(i);
    some_rows.push_back(rows[i]);
  }
  EXPECT_EQ(decoded(*SealedChunk::Seal(*tail, some, Compression::kZstd)), sorted_rows(some_rows));
}

// The seal thread's path: Seal with a SealScratch reused from chunk to chunk (larger, then
// smaller, then larger again), WriteFile, ReturnFrames. Every file is byte for byte the one a
// fresh Seal and EncodeFile make.
TEST(RowSealTest, SealWithScratchWritesTheSameFilesAsAFreshSeal) {
  uint64_t state = 11;
  auto next = [&](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  std::array<Dictionary, kNumStringCols> dicts;
  constexpr size_t kRows = 20'000;
  auto tail = std::make_unique<TailChunk>();
  for (size_t i = 0; i < kRows; ++i) {
    Row row{};
    for (int c = 0; c < kNumCols; ++c) {
      row[c] = c < kNumStringCols ? dicts[c].Intern("v" + std::to_string(next(50)))
                                  : static_cast<int64_t>(next(1'000'000));
    }
    row[kSeq] = static_cast<int64_t>(i);
    tail->Set(i, row);
  }
  std::vector<uint32_t> all(kRows), some;
  for (uint32_t i = 0; i < kRows; ++i) all[i] = i;
  for (uint32_t i = 0; i < kRows; i += 1 + static_cast<uint32_t>(next(4))) some.push_back(i);
  std::unique_ptr<Env> env = NewMemEnv();
  ASSERT_TRUE(env->CreateDir("/c").ok());
  for (Compression compression : {Compression::kNone, Compression::kZstd}) {
    SealScratch scratch;
    size_t largest = 0;
    int n = 0;
    for (const std::vector<uint32_t>* rows : {&all, &some, &all}) {
      SCOPED_TRACE(testing::Message()
                   << "seal " << n << ", zstd " << (compression == Compression::kZstd));
      const std::string want = SealedChunk::Seal(*tail, *rows, compression)->EncodeFile(dicts);
      std::shared_ptr<SealedChunk> chunk = SealedChunk::Seal(*tail, *rows, compression, &scratch);
      const std::string path = "/c/" + std::to_string(n++) + ".tac";
      ASSERT_TRUE(chunk->WriteFile(env.get(), path, dicts).ok());
      Result<std::string> got = ReadFileToString(env.get(), path);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(*got == want);
      EXPECT_FALSE(env->FileExists(path + ".tmp"));
      // A seal after a larger one keeps the larger buffer (reused, not trimmed).
      if (rows == &some) {
        EXPECT_GE(chunk->memory_bytes(), largest);
      }
      largest = std::max(largest, chunk->encoded_bytes());
      chunk->ReturnFrames(&scratch);
      EXPECT_LT(chunk->memory_bytes(), chunk->encoded_bytes() / 4);  // the frames went back
    }
  }
}

TEST(RowSealTest, InputHashColumnHoldsTheFirst16HexDigits) {
  UsageStore store(MergePolicy{.enabled = false});
  auto prefix = [&](const std::string& hash) {
    UsageRecord r = NumberedRecord(1);
    r.input_hash = hash;
    return store.MakeRow(r, 1)[kInputHash];
  };
  const std::string tail(48, '7');
  EXPECT_EQ(prefix("sha256:0123456789abcdef" + tail), int64_t{0x0123456789abcdef});
  EXPECT_EQ(prefix("fedcba9876543210" + tail), static_cast<int64_t>(0xfedcba9876543210ull));
  EXPECT_EQ(prefix("sha256:" + std::string(64, 'f')), -1);
  EXPECT_EQ(prefix("sha256:0123456789abcdeF" + tail), 0);  // upper case: not a digest we make
  EXPECT_EQ(prefix("sha256:0123456789abcde/" + tail), 0);
  EXPECT_EQ(prefix("sha256:g123456789abcdef" + tail), 0);
  EXPECT_EQ(prefix("sha256:0123456789abcde"), 0);  // too short
  EXPECT_EQ(prefix(""), 0);
}

// The user column's cache ways are spread by the whole tail of the string and its length:
// sequential ids, fixed-width ids, ids differing only in length, and random pseudonyms all use
// most ways.
TEST(RowSealTest, UserCacheWaysSpreadOverManyKindsOfUserStrings) {
  UsageStore store(MergePolicy{.enabled = false});
  auto ways = [&](const std::function<std::string(int)>& user, int n) {
    UsageStore::InternCache cache;
    for (int i = 0; i < n; ++i) {
      UsageRecord r = NumberedRecord(i);
      r.user = user(i);
      store.MakeRow(r, 1, &cache);
    }
    return cache.user_ways_used();
  };
  auto fixed = [](int i) {
    char b[16];
    std::snprintf(b, sizeof b, "user-%06d", i);
    return std::string(b);
  };
  EXPECT_GE(ways(fixed, 1000), 200u);
  EXPECT_GE(ways([](int i) { return std::to_string(i); }, 1000), 200u);
  auto padded = [](int i) { return "u_" + std::string(20, 'x') + std::to_string(1000 + i); };
  EXPECT_GE(ways(padded, 1000), 200u);
  EXPECT_GE(ways([](int i) { return std::to_string(i) + "-user-with-a-long-common-suffix"; }, 1000),
            200u);
  EXPECT_GE(ways([](int i) { return std::string(1 + i % 40, 'a'); }, 40), 30u);  // length only
  uint64_t state = 3;
  EXPECT_GE(ways([&](int) {
              state = state * 6364136223846793005ull + 1442695040888963407ull;
              return "u_" + std::to_string(state);
            }, 1000),
            200u);
}

}  // namespace
}  // namespace tokenaudit::query
