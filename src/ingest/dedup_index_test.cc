#include "src/ingest/dedup_index.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "src/util/sha256.h"

namespace tokenaudit::ingest {
namespace {

using Claim = DedupIndex::Claim;
using Key = DedupIndex::Key;

// Stands in for the ledger: the key of the record at each seq, as the index reads it back to
// confirm a tag match.
class FakeLog {
 public:
  DedupIndex::KeyReader Reader() {
    return [this](uint64_t seq) -> Result<Key> {
      MutexLock l(&mu_);
      ++reads_;
      if (fail_) return Status::IOError("injected read failure");
      auto it = keys_.find(seq);
      if (it == keys_.end()) return Status::NotFound("no record at seq " + std::to_string(seq));
      return it->second;
    };
  }
  void Put(uint64_t seq, const Key& key) {
    MutexLock l(&mu_);
    keys_[seq] = key;
  }
  void SetFailing(bool fail) {
    MutexLock l(&mu_);
    fail_ = fail;
  }
  int reads() {
    MutexLock l(&mu_);
    return reads_;
  }

 private:
  Mutex mu_;
  std::map<uint64_t, Key> keys_ GUARDED_BY(mu_);
  bool fail_ GUARDED_BY(mu_) = false;
  int reads_ GUARDED_BY(mu_) = 0;
};

class DedupIndexTest : public ::testing::Test {
 protected:
  // Commits like the service does: the record is in the log at `seq` first.
  void Commit(const Key& k, uint64_t seq) {
    log_.Put(seq, k);
    idx_.Commit(k, seq);
  }
  void Insert(const Key& k, uint64_t seq) {
    log_.Put(seq, k);
    ASSERT_TRUE(idx_.Insert(k, seq).ok());
  }
  // A claim whose waiter (if it must wait) ignores the outcome.
  Claim ClaimOf(const Key& k, uint64_t* seq) {
    return idx_.TryClaim(k, seq, [](bool, uint64_t) {});
  }

  // A key that shares shard, bucket and tag (the 41 hash bits the index keeps) with every other
  // key made with the same `prefix`: the test hook for forcing tag collisions.
  static Key CollidingKey(uint64_t prefix, uint64_t n) {
    const int kept = DedupIndex::kShardBits + DedupIndex::kBucketBits + DedupIndex::kTagBits;
    return Key{prefix << (64 - kept) | (n & ((uint64_t{1} << (64 - kept)) - 1)), n * 0x9e37 + 1};
  }

  FakeLog log_;
  DedupIndex idx_{log_.Reader()};
};

TEST_F(DedupIndexTest, KeysSeparateTheirParts) {
  EXPECT_FALSE(DedupIndex::MakeKey("a", "bc", "d") == DedupIndex::MakeKey("ab", "c", "d"));
  EXPECT_TRUE(DedupIndex::MakeKey("t", "s", "1") == DedupIndex::MakeKey("t", "s", "1"));
}

// The key is SHA-256 over (u64 length, bytes) of each part, whatever the parts' sizes (short
// ones are hashed from one buffer, long ones streamed): keys must never depend on that choice.
TEST_F(DedupIndexTest, KeyIsTheLengthPrefixedSha256OfItsPartsAtAnySize) {
  for (size_t id_size : {size_t{0}, size_t{1}, size_t{36}, size_t{470}, size_t{471}, size_t{2000}}) {
    const std::string tenant = "city-archive", source = "comfyui-gateway/eu1";
    const std::string id(id_size, 'i');
    std::string bytes;
    for (const std::string* part : {&tenant, &source, &id}) {
      const uint64_t n = part->size();
      bytes.append(reinterpret_cast<const char*>(&n), sizeof(n));
      bytes += *part;
    }
    const Sha256Digest d = Sha256Of(bytes);
    DedupIndex::Key expected;
    std::memcpy(&expected.hi, d.data(), 8);
    std::memcpy(&expected.lo, d.data() + 8, 8);
    EXPECT_TRUE(DedupIndex::MakeKey(tenant, source, id) == expected) << id_size;
  }
}

TEST_F(DedupIndexTest, ClaimCommitThenDuplicate) {
  auto k = DedupIndex::MakeKey("t", "s", "1");
  uint64_t seq = 0;
  EXPECT_EQ(ClaimOf(k, &seq), Claim::kNew);
  bool fired = false;
  EXPECT_EQ(idx_.TryClaim(k, &seq,
                          [&](bool ok, uint64_t s) {
                            fired = true;
                            EXPECT_TRUE(ok);
                            EXPECT_EQ(s, 42u);
                          }),
            Claim::kPending);
  Commit(k, 42);
  EXPECT_TRUE(fired);
  EXPECT_EQ(ClaimOf(k, &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 42u);
}

TEST_F(DedupIndexTest, AbortLetsTheNextAttemptClaimAgain) {
  auto k = DedupIndex::MakeKey("t", "s", "1");
  uint64_t seq = 0;
  ASSERT_EQ(ClaimOf(k, &seq), Claim::kNew);
  bool told = false;
  idx_.TryClaim(k, &seq, [&](bool ok, uint64_t) { told = !ok; });
  idx_.Abort(k);
  EXPECT_TRUE(told);
  EXPECT_EQ(ClaimOf(k, &seq), Claim::kNew);
}

TEST_F(DedupIndexTest, ConcurrentClaimsYieldExactlyOneOwner) {
  auto k = DedupIndex::MakeKey("t", "s", "race");
  std::atomic<int> owners{0}, waiters{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&] {
      uint64_t seq;
      auto c = idx_.TryClaim(k, &seq, [&](bool, uint64_t) { waiters++; });
      if (c == Claim::kNew) owners++;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(owners.load(), 1);
  Commit(k, 7);
  EXPECT_EQ(waiters.load(), 7);
}

TEST_F(DedupIndexTest, BatchCommitAssignsConsecutiveSeqsAndWakesWaiters) {
  std::vector<Key> keys;
  for (int i = 0; i < 5; ++i) keys.push_back(DedupIndex::MakeKey("t", "s", std::to_string(i)));
  uint64_t seq = 0;
  for (const auto& k : keys) ASSERT_EQ(ClaimOf(k, &seq), Claim::kNew);
  uint64_t woken_seq = 0;
  ASSERT_EQ(idx_.TryClaim(keys[3], &seq, [&](bool ok, uint64_t s) { woken_seq = ok ? s : 0; }),
            Claim::kPending);
  for (int i = 0; i < 5; ++i) log_.Put(100 + i, keys[i]);
  idx_.CommitBatch(keys, 100);
  EXPECT_EQ(woken_seq, 103u);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(ClaimOf(keys[i], &seq), Claim::kDuplicate);
    EXPECT_EQ(seq, 100u + i);
  }
}

// Keys equal in all 40 kept bits share one tag; aborting any of them must keep every other one
// exactly (each found at its own seq, confirmed against the log).
TEST_F(DedupIndexTest, AbortAmongEqualTagsKeepsTheOthers) {
  std::vector<Key> keys;
  for (uint64_t i = 0; i < 40; ++i) keys.push_back(CollidingKey(7, i));
  uint64_t seq = 0;
  for (const auto& k : keys) ASSERT_EQ(ClaimOf(k, &seq), Claim::kNew);
  for (size_t i = 0; i < keys.size(); i += 3) idx_.Abort(keys[i]);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i % 3 == 0) continue;
    Commit(keys[i], 1000 + i);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const auto c = ClaimOf(keys[i], &seq);
    if (i % 3 == 0) {
      EXPECT_EQ(c, Claim::kNew) << i;
    } else {
      ASSERT_EQ(c, Claim::kDuplicate) << i;
      EXPECT_EQ(seq, 1000 + i);
    }
  }
  EXPECT_EQ(idx_.size(), 26u);
}

TEST_F(DedupIndexTest, TwoKeysWithEqualTagsAreBothKeptExactly) {
  const Key a = CollidingKey(0xABCDEF, 1), b = CollidingKey(0xABCDEF, 2);
  ASSERT_FALSE(a == b);
  uint64_t seq = 0;
  ASSERT_EQ(ClaimOf(a, &seq), Claim::kNew);
  Commit(a, 10);
  EXPECT_EQ(log_.reads(), 0);  // a new key whose tag nobody has: no read
  // b's tag matches a's entry: the index reads seq 10, sees a's key, and lets b in.
  ASSERT_EQ(ClaimOf(b, &seq), Claim::kNew);
  EXPECT_EQ(log_.reads(), 1);
  Commit(b, 11);
  ASSERT_EQ(ClaimOf(a, &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 10u);
  ASSERT_EQ(ClaimOf(b, &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 11u);
  EXPECT_EQ(idx_.size(), 2u);
  EXPECT_EQ(idx_.GetStats().confirm_reads, static_cast<uint64_t>(log_.reads()));
}

TEST_F(DedupIndexTest, EqualTagsInFlightTogetherStayApart) {
  const Key a = CollidingKey(5, 1), b = CollidingKey(5, 2);
  uint64_t seq = 0;
  ASSERT_EQ(ClaimOf(a, &seq), Claim::kNew);
  ASSERT_EQ(ClaimOf(b, &seq), Claim::kNew);  // a is claimed, not b: no read needed
  EXPECT_EQ(log_.reads(), 0);
  uint64_t a_told = 0;
  ASSERT_EQ(idx_.TryClaim(a, &seq, [&](bool ok, uint64_t s) { a_told = ok ? s : 1; }),
            Claim::kPending);
  Commit(b, 20);  // b's commit must not complete a's claim
  EXPECT_EQ(a_told, 0u);
  ASSERT_EQ(ClaimOf(b, &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 20u);
  ASSERT_EQ(ClaimOf(a, &seq), Claim::kPending);
  Commit(a, 21);
  EXPECT_EQ(a_told, 21u);
  ASSERT_EQ(ClaimOf(a, &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 21u);
}

TEST_F(DedupIndexTest, InsertKeepsTheFirstSeqAmongEqualTags) {
  const Key a = CollidingKey(9, 1), b = CollidingKey(9, 2);
  Insert(a, 1);
  Insert(b, 2);
  Insert(a, 3);  // a retry that reached the log twice: the first seq wins
  EXPECT_EQ(idx_.size(), 2u);
  uint64_t seq = 0;
  ASSERT_EQ(ClaimOf(a, &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 1u);
  ASSERT_EQ(ClaimOf(b, &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 2u);
}

TEST_F(DedupIndexTest, InsertOfAKeyInFlightFailsInsteadOfStoringItTwice) {
  const Key k = DedupIndex::MakeKey("t", "s", "1");
  uint64_t seq = 0;
  ASSERT_EQ(ClaimOf(k, &seq), Claim::kNew);
  log_.Put(5, k);
  EXPECT_EQ(idx_.Insert(k, 5).code(), StatusCode::kFailedPrecondition);
  Commit(k, 7);
  EXPECT_EQ(idx_.size(), 1u);
  ASSERT_EQ(ClaimOf(k, &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 7u);
}

TEST_F(DedupIndexTest, UnreadableLogFailsOnlyTagMatches) {
  const Key a = CollidingKey(3, 1), b = CollidingKey(3, 2);
  Insert(a, 1);
  log_.SetFailing(true);
  uint64_t seq = 0;
  EXPECT_EQ(ClaimOf(b, &seq), Claim::kUnavailable);  // cannot tell b from a: nothing claimed
  EXPECT_FALSE(idx_.Insert(b, 2).ok());
  EXPECT_EQ(ClaimOf(DedupIndex::MakeKey("t", "s", "other"), &seq), Claim::kNew);
  log_.SetFailing(false);
  EXPECT_EQ(ClaimOf(b, &seq), Claim::kNew);
}

TEST_F(DedupIndexTest, SeqsBeyondFortyBitsAreKeptExactly) {
  const uint64_t big = (uint64_t{1} << 40) + 5;
  const Key a = CollidingKey(11, 1), b = CollidingKey(11, 2), c = CollidingKey(11, 3);
  Insert(a, big);
  Insert(b, big + 1);
  uint64_t seq = 0;
  ASSERT_EQ(ClaimOf(c, &seq), Claim::kNew);
  Commit(c, big + 2);
  for (auto [k, want] : {std::pair{a, big}, std::pair{b, big + 1}, std::pair{c, big + 2}}) {
    ASSERT_EQ(ClaimOf(k, &seq), Claim::kDuplicate);
    EXPECT_EQ(seq, want);
  }
}

TEST_F(DedupIndexTest, GrowsPastManyKeysAndTheFirstSeqWins) {
  constexpr int kKeys = 200'000;
  for (int i = 0; i < kKeys; ++i) Insert(DedupIndex::MakeKey("t", "s", std::to_string(i)), i);
  ASSERT_TRUE(idx_.Insert(DedupIndex::MakeKey("t", "s", "5"), 99).ok());
  EXPECT_EQ(idx_.size(), static_cast<size_t>(kKeys));
  uint64_t seq = 0;
  for (int i = 0; i < kKeys; i += 997) {
    ASSERT_EQ(ClaimOf(DedupIndex::MakeKey("t", "s", std::to_string(i)), &seq), Claim::kDuplicate);
    EXPECT_EQ(seq, static_cast<uint64_t>(i));
  }
  ASSERT_EQ(ClaimOf(DedupIndex::MakeKey("t", "s", "5"), &seq), Claim::kDuplicate);
  EXPECT_EQ(seq, 5u);
}

// The memory contract behind the 300 MB budget: well under 12 bytes per key once the bucket
// headers (2 MiB) are shared by enough keys.
TEST_F(DedupIndexTest, HoldsTwoMillionKeysInUnderTenBytesEach) {
  DedupIndex idx([](uint64_t) -> Result<Key> { return Status::NotFound("no log"); });
  std::mt19937_64 rng(42);
  constexpr size_t kKeys = 2'000'000;
  for (size_t i = 0; i < kKeys; ++i) {
    // Two random keys share their 41 kept bits with probability 2^-41: the index would ask the
    // (absent) log and Insert fails; about 2 of the 2e12 pairs here do.
    const Key k{rng(), rng()};
    if (!idx.Insert(k, i).ok()) continue;
  }
  const auto st = idx.GetStats();
  EXPECT_GT(idx.size(), kKeys - 100);
  EXPECT_LT(static_cast<double>(st.bytes) / static_cast<double>(idx.size()), 10.0);
}

TEST_F(DedupIndexTest, ClaimBatchSeesItsOwnEarlierKeysAsPending) {
  const auto a = DedupIndex::MakeKey("t", "s", "a");
  const auto b = DedupIndex::MakeKey("t", "s", "b");
  uint64_t seq = 0;
  ASSERT_EQ(ClaimOf(b, &seq), Claim::kNew);
  Commit(b, 9);
  const std::vector<Key> keys = {a, b, a};
  std::vector<Claim> claims(keys.size());
  std::vector<uint64_t> seqs(keys.size());
  std::vector<size_t> waiting;
  uint64_t told = 0;
  idx_.ClaimBatch(keys, claims, seqs, [&](size_t i) {
    waiting.push_back(i);
    return [&told](bool ok, uint64_t s) { told = ok ? s : 0; };
  });
  EXPECT_EQ(claims[0], Claim::kNew);
  EXPECT_EQ(claims[1], Claim::kDuplicate);
  EXPECT_EQ(seqs[1], 9u);
  EXPECT_EQ(claims[2], Claim::kPending);
  EXPECT_EQ(waiting, std::vector<size_t>{2});
  log_.Put(12, a);
  idx_.CommitBatch({&a, 1}, 12);
  EXPECT_EQ(told, 12u);
}

// Random claims, commits, aborts and inserts over keys drawn from a few tags, against a plain
// map of what the log holds.
TEST_F(DedupIndexTest, MatchesAnExactModelUnderHeavyTagCollisions) {
  std::mt19937_64 rng(7);
  std::vector<Key> universe;
  for (uint64_t p = 0; p < 4; ++p) {
    for (uint64_t n = 0; n < 50; ++n) universe.push_back(CollidingKey(p * 977, n));
  }
  std::map<size_t, uint64_t> logged;  // universe index → seq
  std::vector<size_t> in_flight;
  uint64_t next_seq = 0;
  for (int step = 0; step < 20'000; ++step) {
    const size_t u = rng() % universe.size();
    const Key& k = universe[u];
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      uint64_t seq = 0;
      const Claim c = ClaimOf(k, &seq);
      const bool flying = std::find(in_flight.begin(), in_flight.end(), u) != in_flight.end();
      if (logged.count(u)) {
        ASSERT_EQ(c, Claim::kDuplicate) << step;
        ASSERT_EQ(seq, logged[u]) << step;
      } else if (flying) {
        ASSERT_EQ(c, Claim::kPending) << step;
      } else {
        ASSERT_EQ(c, Claim::kNew) << step;
        in_flight.push_back(u);
      }
    } else if (op < 9 && !in_flight.empty()) {
      const size_t j = rng() % in_flight.size();
      const size_t v = in_flight[j];
      in_flight.erase(in_flight.begin() + static_cast<ptrdiff_t>(j));
      if (op < 8) {
        logged[v] = next_seq;
        Commit(universe[v], next_seq++);
      } else {
        idx_.Abort(universe[v]);
      }
    } else if (!logged.count(u) &&
               std::find(in_flight.begin(), in_flight.end(), u) == in_flight.end()) {
      logged[u] = next_seq;
      Insert(k, next_seq++);
    }
  }
  EXPECT_EQ(idx_.size(), logged.size());
}

}  // namespace
}  // namespace tokenaudit::ingest
