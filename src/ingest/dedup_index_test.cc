#include "src/ingest/dedup_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace tokenaudit::ingest {
namespace {

TEST(DedupIndexTest, KeysSeparateTheirParts) {
  EXPECT_FALSE(DedupIndex::MakeKey("a", "bc", "d") == DedupIndex::MakeKey("ab", "c", "d"));
  EXPECT_TRUE(DedupIndex::MakeKey("t", "s", "1") == DedupIndex::MakeKey("t", "s", "1"));
}

TEST(DedupIndexTest, ClaimCommitThenDuplicate) {
  DedupIndex idx;
  auto k = DedupIndex::MakeKey("t", "s", "1");
  uint64_t seq = 0;
  EXPECT_EQ(idx.TryClaim(k, &seq, nullptr), DedupIndex::Claim::kNew);
  bool fired = false;
  EXPECT_EQ(idx.TryClaim(k, &seq,
                         [&](bool ok, uint64_t s) {
                           fired = true;
                           EXPECT_TRUE(ok);
                           EXPECT_EQ(s, 42u);
                         }),
            DedupIndex::Claim::kPending);
  idx.Commit(k, 42);
  EXPECT_TRUE(fired);
  EXPECT_EQ(idx.TryClaim(k, &seq, nullptr), DedupIndex::Claim::kDuplicate);
  EXPECT_EQ(seq, 42u);
}

TEST(DedupIndexTest, AbortLetsTheNextAttemptClaimAgain) {
  DedupIndex idx;
  auto k = DedupIndex::MakeKey("t", "s", "1");
  uint64_t seq = 0;
  ASSERT_EQ(idx.TryClaim(k, &seq, nullptr), DedupIndex::Claim::kNew);
  bool told = false;
  idx.TryClaim(k, &seq, [&](bool ok, uint64_t) { told = !ok; });
  idx.Abort(k);
  EXPECT_TRUE(told);
  EXPECT_EQ(idx.TryClaim(k, &seq, nullptr), DedupIndex::Claim::kNew);
}

TEST(DedupIndexTest, ConcurrentClaimsYieldExactlyOneOwner) {
  DedupIndex idx;
  auto k = DedupIndex::MakeKey("t", "s", "race");
  std::atomic<int> owners{0}, waiters{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&] {
      uint64_t seq;
      auto c = idx.TryClaim(k, &seq, [&](bool, uint64_t) { waiters++; });
      if (c == DedupIndex::Claim::kNew) owners++;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(owners.load(), 1);
  idx.Commit(k, 7);
  EXPECT_EQ(waiters.load(), 7);
}

TEST(DedupIndexTest, BatchCommitAssignsConsecutiveSeqsAndWakesWaiters) {
  DedupIndex idx;
  std::vector<DedupIndex::Key> keys;
  for (int i = 0; i < 5; ++i) keys.push_back(DedupIndex::MakeKey("t", "s", std::to_string(i)));
  uint64_t seq = 0;
  for (const auto& k : keys) ASSERT_EQ(idx.TryClaim(k, &seq, nullptr), DedupIndex::Claim::kNew);
  uint64_t woken_seq = 0;
  ASSERT_EQ(idx.TryClaim(keys[3], &seq, [&](bool ok, uint64_t s) { woken_seq = ok ? s : 0; }),
            DedupIndex::Claim::kPending);
  idx.CommitBatch(keys, 100);
  EXPECT_EQ(woken_seq, 103u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(idx.TryClaim(keys[i], &seq, nullptr), DedupIndex::Claim::kDuplicate);
    EXPECT_EQ(seq, 100u + i);
  }
}

}  // namespace
}  // namespace tokenaudit::ingest
