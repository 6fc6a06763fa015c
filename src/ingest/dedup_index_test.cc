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

// Keys that share a shard and a home slot chain up in one probe sequence; aborting (erasing) any
// of them must keep every other one findable.
TEST(DedupIndexTest, AbortInTheMiddleOfACollisionChainKeepsTheOthers) {
  DedupIndex idx;
  std::vector<DedupIndex::Key> keys;
  for (uint64_t i = 0; i < 40; ++i) {
    // Same top bits (shard) and the same low bits (home slot), or a neighbour's.
    keys.push_back({uint64_t{7} << 58 | i, (i % 3) << 20 | (i % 2)});
  }
  uint64_t seq = 0;
  for (const auto& k : keys) ASSERT_EQ(idx.TryClaim(k, &seq, nullptr), DedupIndex::Claim::kNew);
  for (size_t i = 0; i < keys.size(); i += 3) idx.Abort(keys[i]);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i % 3 == 0) continue;
    idx.Commit(keys[i], 1000 + i);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto c = idx.TryClaim(keys[i], &seq, nullptr);
    if (i % 3 == 0) {
      EXPECT_EQ(c, DedupIndex::Claim::kNew) << i;
    } else {
      ASSERT_EQ(c, DedupIndex::Claim::kDuplicate) << i;
      EXPECT_EQ(seq, 1000 + i);
    }
  }
}

TEST(DedupIndexTest, GrowsPastManyKeysAndTheFirstSeqWins) {
  DedupIndex idx;
  constexpr int kKeys = 200'000;
  for (int i = 0; i < kKeys; ++i) idx.Insert(DedupIndex::MakeKey("t", "s", std::to_string(i)), i);
  idx.Insert(DedupIndex::MakeKey("t", "s", "5"), 99);
  EXPECT_EQ(idx.size(), static_cast<size_t>(kKeys));
  uint64_t seq = 0;
  for (int i = 0; i < kKeys; i += 997) {
    ASSERT_EQ(idx.TryClaim(DedupIndex::MakeKey("t", "s", std::to_string(i)), &seq, nullptr),
              DedupIndex::Claim::kDuplicate);
    EXPECT_EQ(seq, static_cast<uint64_t>(i));
  }
  ASSERT_EQ(idx.TryClaim(DedupIndex::MakeKey("t", "s", "5"), &seq, nullptr),
            DedupIndex::Claim::kDuplicate);
  EXPECT_EQ(seq, 5u);
}

TEST(DedupIndexTest, ClaimBatchSeesItsOwnEarlierKeysAsPending) {
  DedupIndex idx;
  const auto a = DedupIndex::MakeKey("t", "s", "a");
  const auto b = DedupIndex::MakeKey("t", "s", "b");
  uint64_t seq = 0;
  ASSERT_EQ(idx.TryClaim(b, &seq, nullptr), DedupIndex::Claim::kNew);
  idx.Commit(b, 9);
  const std::vector<DedupIndex::Key> keys = {a, b, a};
  std::vector<DedupIndex::Claim> claims(keys.size());
  std::vector<uint64_t> seqs(keys.size());
  std::vector<size_t> waiting;
  uint64_t told = 0;
  idx.ClaimBatch(keys, claims, seqs, [&](size_t i) {
    waiting.push_back(i);
    return [&told](bool ok, uint64_t s) { told = ok ? s : 0; };
  });
  EXPECT_EQ(claims[0], DedupIndex::Claim::kNew);
  EXPECT_EQ(claims[1], DedupIndex::Claim::kDuplicate);
  EXPECT_EQ(seqs[1], 9u);
  EXPECT_EQ(claims[2], DedupIndex::Claim::kPending);
  EXPECT_EQ(waiting, std::vector<size_t>{2});
  idx.CommitBatch({&a, 1}, 12);
  EXPECT_EQ(told, 12u);
}

}  // namespace
}  // namespace tokenaudit::ingest
