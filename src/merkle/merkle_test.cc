#include "tokenaudit/merkle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "src/merkle/merkle_testutil.h"
#include "src/util/sha256.h"

namespace tokenaudit::merkle {
namespace {

using testing::ConsistencySchedule;
using testing::H;
using testing::Hs;
using testing::InclusionSchedule;

Hash FlipBit(Hash h, size_t bit) {
  h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return h;
}

const Hash kSomeHash = Sha256Of("not a node of any tree here");

// Checks that a valid inclusion proof verifies and that every tampered variant is rejected:
// each single-bit flip of a proof hash, the leaf hash and the root; truncation at either end;
// extension at either end; any other index; and size changes that alter what the verifier
// computes (see InclusionSchedule for why the others cannot be rejected by any verifier).
void ExpectInclusionSoundAndTamperEvident(uint64_t index, uint64_t size, const Hash& leaf,
                                          const std::vector<Hash>& proof, const Hash& root) {
  SCOPED_TRACE("index " + std::to_string(index) + " size " + std::to_string(size));
  ASSERT_TRUE(VerifyInclusion(index, size, leaf, proof, root).ok());

  for (size_t i = 0; i < proof.size(); ++i) {
    for (size_t bit = 0; bit < 256; ++bit) {
      std::vector<Hash> bad = proof;
      bad[i] = FlipBit(bad[i], bit);
      ASSERT_TRUE(VerifyInclusion(index, size, leaf, bad, root).IsCorruption())
          << "proof[" << i << "] bit " << bit;
    }
  }
  for (size_t bit = 0; bit < 256; ++bit) {
    ASSERT_TRUE(VerifyInclusion(index, size, FlipBit(leaf, bit), proof, root).IsCorruption());
    ASSERT_TRUE(VerifyInclusion(index, size, leaf, proof, FlipBit(root, bit)).IsCorruption());
  }

  if (!proof.empty()) {
    std::vector<Hash> drop_last(proof.begin(), proof.end() - 1);
    std::vector<Hash> drop_first(proof.begin() + 1, proof.end());
    EXPECT_TRUE(VerifyInclusion(index, size, leaf, drop_last, root).IsCorruption());
    EXPECT_TRUE(VerifyInclusion(index, size, leaf, drop_first, root).IsCorruption());
  }
  for (const Hash& extra : {kSomeHash, root, leaf, EmptyRoot()}) {
    std::vector<Hash> appended = proof;
    appended.push_back(extra);
    std::vector<Hash> prepended = proof;
    prepended.insert(prepended.begin(), extra);
    EXPECT_TRUE(VerifyInclusion(index, size, leaf, appended, root).IsCorruption());
    EXPECT_TRUE(VerifyInclusion(index, size, leaf, prepended, root).IsCorruption());
  }

  // Any other position in the same tree has a different path, so it must be rejected.
  for (uint64_t other :
       {index - 1, index + 1, index ^ 1, index ^ 2, uint64_t{0}, size - 1, size / 2}) {
    if (other == index || other >= size) continue;
    EXPECT_TRUE(VerifyInclusion(other, size, leaf, proof, root).IsCorruption())
        << "index changed to " << other;
  }
  EXPECT_EQ(VerifyInclusion(size, size, leaf, proof, root).code(), StatusCode::kInvalidArgument);

  const std::string schedule = InclusionSchedule(index, size);
  for (uint64_t other : {size - 1, size + 1, size + 2, size * 2, size / 2, size + 7,
                         uint64_t{1} << std::bit_width(size)}) {
    if (other == size) continue;
    const Status s = VerifyInclusion(index, other, leaf, proof, root);
    if (index >= other) {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << "size changed to " << other;
    } else {
      EXPECT_EQ(s.ok(), InclusionSchedule(index, other) == schedule)
          << "size changed to " << other << ": " << s;
    }
  }
}

// The consistency counterpart of the above; `proof` must be non-empty (0 < size1 < size2).
void ExpectConsistencySoundAndTamperEvident(uint64_t size1, uint64_t size2, const Hash& root1,
                                            const Hash& root2, const std::vector<Hash>& proof) {
  SCOPED_TRACE("size1 " + std::to_string(size1) + " size2 " + std::to_string(size2));
  ASSERT_TRUE(VerifyConsistency(size1, size2, root1, root2, proof).ok());
  ASSERT_FALSE(proof.empty());

  for (size_t i = 0; i < proof.size(); ++i) {
    for (size_t bit = 0; bit < 256; ++bit) {
      std::vector<Hash> bad = proof;
      bad[i] = FlipBit(bad[i], bit);
      ASSERT_TRUE(VerifyConsistency(size1, size2, root1, root2, bad).IsCorruption())
          << "proof[" << i << "] bit " << bit;
    }
  }
  for (size_t bit = 0; bit < 256; ++bit) {
    ASSERT_TRUE(VerifyConsistency(size1, size2, FlipBit(root1, bit), root2, proof).IsCorruption());
    ASSERT_TRUE(VerifyConsistency(size1, size2, root1, FlipBit(root2, bit), proof).IsCorruption());
  }
  EXPECT_TRUE(VerifyConsistency(size1, size2, root2, root1, proof).IsCorruption());
  EXPECT_TRUE(VerifyConsistency(size1, size2, root1, root2, {}).IsCorruption());

  std::vector<Hash> drop_last(proof.begin(), proof.end() - 1);
  std::vector<Hash> drop_first(proof.begin() + 1, proof.end());
  EXPECT_TRUE(VerifyConsistency(size1, size2, root1, root2, drop_last).IsCorruption());
  EXPECT_TRUE(VerifyConsistency(size1, size2, root1, root2, drop_first).IsCorruption());
  for (const Hash& extra : {kSomeHash, root1, root2, proof[0], EmptyRoot()}) {
    std::vector<Hash> appended = proof;
    appended.push_back(extra);
    std::vector<Hash> prepended = proof;
    prepended.insert(prepended.begin(), extra);
    EXPECT_TRUE(VerifyConsistency(size1, size2, root1, root2, appended).IsCorruption());
    EXPECT_TRUE(VerifyConsistency(size1, size2, root1, root2, prepended).IsCorruption());
  }

  const std::string schedule = ConsistencySchedule(size1, size2);
  auto check_sizes = [&](uint64_t s1, uint64_t s2) {
    if (s1 == size1 && s2 == size2) return;
    const Status s = VerifyConsistency(s1, s2, root1, root2, proof);
    if (s1 > s2) {
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s1 << " -> " << s2;
    } else {
      // A non-empty proof never verifies for the trivial cases (s1 == 0 or s1 == s2).
      EXPECT_EQ(s.ok(), ConsistencySchedule(s1, s2) == schedule) << s1 << " -> " << s2 << ": " << s;
    }
  };
  for (uint64_t s1 : {size1 - 1, size1 + 1, size1 ^ 2, size1 * 2, size1 / 2}) {
    check_sizes(s1, size2);
  }
  for (uint64_t s2 : {size2 - 1, size2 + 1, size2 * 2, size2 / 2, size2 + 5}) {
    check_sizes(size1, s2);
  }
}

TEST(MerkleHashTest, LeafHashesMatchKnownAnswers) {
  const std::vector<std::string> inputs = testing::KnownLeafInputs();
  ASSERT_EQ(inputs.size(), 8u);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ(ToHex(HashLeaf(inputs[i])), testing::kLeafHashesHex[i]) << i;
  }
}

TEST(MerkleHashTest, EmptyRootIsSha256OfNothing) {
  EXPECT_EQ(ToHex(EmptyRoot()), testing::kRootsHex[0]);
}

TEST(MerkleHashTest, NodeHashUsesOnePrefixAndBothChildrenInOrder) {
  const Hash l = H(testing::kLeafHashesHex[0]);
  const Hash r = H(testing::kLeafHashesHex[1]);
  EXPECT_EQ(ToHex(HashChildren(l, r)), testing::kRootsHex[2]);
  EXPECT_EQ(HashChildren(l, r), testing::RefNode(l, r));
  EXPECT_NE(HashChildren(r, l), HashChildren(l, r));
}

TEST(MerkleHexTest, RoundTripsAndAcceptsUpperCase) {
  const Hash h = Sha256Of("x");
  const std::string hex = ToHex(h);
  EXPECT_EQ(hex.size(), 64u);
  EXPECT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos);
  Result<Hash> back = HashFromHex(hex);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
  std::string upper = hex;
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  back = HashFromHex(upper);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
}

TEST(MerkleHexTest, RejectsWrongLengthAndNonHexDigits) {
  const std::string hex = ToHex(Sha256Of("x"));
  for (const std::string& bad :
       {std::string(), hex.substr(1), hex.substr(2), hex + "0", hex + "00", "g" + hex.substr(1),
        hex.substr(0, 63) + " ", hex.substr(0, 31) + "-" + hex.substr(32), std::string(64, '\0')}) {
    EXPECT_EQ(HashFromHex(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CompactRangeTest, MatchesKnownSubtreeRootsAndRoots) {
  CompactRange range;
  EXPECT_EQ(range.Root(), EmptyRoot());
  const std::vector<std::string> inputs = testing::KnownLeafInputs();
  for (size_t n = 1; n <= inputs.size(); ++n) {
    range.Append(HashLeaf(inputs[n - 1]));
    EXPECT_EQ(range.size(), n);
    EXPECT_EQ(range.subtree_roots(), Hs(testing::kCompactRangesHex[n])) << n;
    EXPECT_EQ(ToHex(range.Root()), testing::kRootsHex[n]) << n;
  }
}

TEST(CompactRangeTest, RootEqualsReferenceAtEverySize) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(1500, /*seed=*/1);
  CompactRange range;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    range.Append(leaves[n - 1]);
    ASSERT_EQ(range.subtree_roots().size(), static_cast<size_t>(std::popcount(n)));
    ASSERT_EQ(range.Root(), testing::RefMth(std::span(leaves).first(n))) << n;
  }
}

TEST(CompactRangeTest, RestoredRangeContinuesLikeTheOriginal) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(300, /*seed=*/2);
  CompactRange original;
  for (size_t cut = 0; cut <= 100; ++cut) {
    Result<CompactRange> restored =
        CompactRange::FromSubtreeRoots(original.size(), original.subtree_roots());
    ASSERT_TRUE(restored.ok()) << restored.status();
    CompactRange a = *restored;
    CompactRange b = original;
    for (size_t i = cut; i < leaves.size(); i += 7) {
      a.Append(leaves[i]);
      b.Append(leaves[i]);
    }
    ASSERT_EQ(a.Root(), b.Root());
    ASSERT_EQ(a.subtree_roots(), b.subtree_roots());
    original.Append(leaves[cut]);
  }
}

TEST(CompactRangeTest, FromSubtreeRootsRejectsWrongRootCount) {
  const Hash h = Sha256Of("x");
  EXPECT_TRUE(CompactRange::FromSubtreeRoots(0, {}).ok());
  EXPECT_EQ(CompactRange::FromSubtreeRoots(0, {h}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CompactRange::FromSubtreeRoots(3, {h}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CompactRange::FromSubtreeRoots(4, {h, h}).status().code(),
            StatusCode::kInvalidArgument);
  Result<CompactRange> r = CompactRange::FromSubtreeRoots(5, {h, h});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 5u);
  EXPECT_EQ(r->Root(), HashChildren(h, h));
}

TEST(VerifyInclusionTest, KnownAnswerProofsVerifyAndResistTampering) {
  for (const testing::InclusionVector& v : testing::kInclusionVectors) {
    const Hash leaf = H(testing::kLeafHashesHex[v.index]);
    ExpectInclusionSoundAndTamperEvident(v.index, v.size, leaf, Hs(v.proof),
                                         H(testing::kRootsHex[v.size]));
  }
}

TEST(VerifyInclusionTest, IndexOutOfRangeIsInvalidArgument) {
  const Hash h = Sha256Of("x");
  EXPECT_EQ(VerifyInclusion(0, 0, h, {}, EmptyRoot()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(1, 0, h, {}, h).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(1, 1, h, {}, h).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(8, 8, h, std::vector<Hash>(3, h), h).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyInclusion(UINT64_MAX, 8, h, {}, h).code(), StatusCode::kInvalidArgument);
}

TEST(VerifyInclusionTest, SingleLeafTreeNeedsEmptyProofAndRootEqualToLeaf) {
  const Hash leaf = HashLeaf("data");
  EXPECT_TRUE(VerifyInclusion(0, 1, leaf, {}, leaf).ok());
  EXPECT_TRUE(VerifyInclusion(0, 1, leaf, {}, kSomeHash).IsCorruption());
  EXPECT_TRUE(VerifyInclusion(0, 1, kSomeHash, {}, leaf).IsCorruption());
  EXPECT_TRUE(VerifyInclusion(0, 1, leaf, std::vector<Hash>{leaf}, leaf).IsCorruption());
}

TEST(VerifyInclusionTest, EveryProofInSmallTreesVerifies) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(64, /*seed=*/3);
  for (uint64_t n = 1; n <= leaves.size(); ++n) {
    const auto d = std::span(leaves).first(n);
    const Hash root = testing::RefMth(d);
    for (uint64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(VerifyInclusion(i, n, leaves[i], testing::RefPath(i, d), root).ok())
          << i << " in " << n;
    }
  }
}

TEST(VerifyInclusionTest, SampledProofsInLargeTreesVerifyAndResistTampering) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(3000, /*seed=*/4);
  std::mt19937_64 rng(20240601);
  std::vector<std::pair<uint64_t, uint64_t>> cases = {
      {0, 3000}, {2999, 3000}, {1023, 1024}, {1024, 1025}, {2047, 2049}};
  for (int i = 0; i < 40; ++i) {
    const uint64_t n = 1 + rng() % leaves.size();
    cases.push_back({rng() % n, n});
  }
  for (const auto& [index, n] : cases) {
    const auto d = std::span(leaves).first(n);
    ExpectInclusionSoundAndTamperEvident(index, n, leaves[index], testing::RefPath(index, d),
                                         testing::RefMth(d));
  }
}

TEST(VerifyConsistencyTest, KnownAnswerProofsVerifyAndResistTampering) {
  for (const testing::ConsistencyVector& v : testing::kConsistencyVectors) {
    const Hash root1 = H(testing::kRootsHex[v.size1]);
    const Hash root2 = H(testing::kRootsHex[v.size2]);
    if (v.proof.empty()) {
      EXPECT_TRUE(VerifyConsistency(v.size1, v.size2, root1, root2, {}).ok());
      continue;
    }
    ExpectConsistencySoundAndTamperEvident(v.size1, v.size2, root1, root2, Hs(v.proof));
  }
}

TEST(VerifyConsistencyTest, EqualSizesNeedEqualRootsAndEmptyProof) {
  const Hash a = Sha256Of("a");
  const Hash b = Sha256Of("b");
  EXPECT_TRUE(VerifyConsistency(5, 5, a, a, {}).ok());
  EXPECT_TRUE(VerifyConsistency(5, 5, a, b, {}).IsCorruption());
  EXPECT_TRUE(VerifyConsistency(5, 5, a, a, std::vector<Hash>{a}).IsCorruption());
  EXPECT_TRUE(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), {}).ok());
  EXPECT_TRUE(VerifyConsistency(0, 0, a, a, {}).IsCorruption());
  EXPECT_TRUE(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), std::vector<Hash>{EmptyRoot()})
                  .IsCorruption());
}

TEST(VerifyConsistencyTest, EmptyOldTreeNeedsEmptyProofAndEmptyRoot) {
  const Hash a = Sha256Of("a");
  EXPECT_TRUE(VerifyConsistency(0, 7, EmptyRoot(), a, {}).ok());
  EXPECT_TRUE(VerifyConsistency(0, 7, EmptyRoot(), a, std::vector<Hash>{a}).IsCorruption());
  EXPECT_TRUE(VerifyConsistency(0, 7, a, a, {}).IsCorruption());
}

TEST(VerifyConsistencyTest, ShrinkingTreeIsInvalidArgument) {
  const Hash a = Sha256Of("a");
  EXPECT_EQ(VerifyConsistency(2, 1, a, a, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(1, 0, a, EmptyRoot(), {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(9, 8, a, a, std::vector<Hash>{a, a}).code(),
            StatusCode::kInvalidArgument);
}

TEST(VerifyConsistencyTest, EveryProofInSmallTreesVerifies) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(64, /*seed=*/5);
  std::vector<Hash> roots;
  for (uint64_t n = 0; n <= leaves.size(); ++n) {
    roots.push_back(testing::RefMth(std::span(leaves).first(n)));
  }
  for (uint64_t n = 0; n <= leaves.size(); ++n) {
    const auto d = std::span(leaves).first(n);
    for (uint64_t m = 0; m <= n; ++m) {
      ASSERT_TRUE(VerifyConsistency(m, n, roots[m], roots[n], testing::RefConsistency(m, d)).ok())
          << m << " -> " << n;
    }
  }
}

TEST(VerifyConsistencyTest, SampledProofsInLargeTreesVerifyAndResistTampering) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(3000, /*seed=*/6);
  std::mt19937_64 rng(20240602);
  std::vector<std::pair<uint64_t, uint64_t>> cases = {{1, 3000},    {2999, 3000}, {1024, 2048},
                                                      {1024, 1025}, {1025, 2049}, {3, 2999}};
  for (int i = 0; i < 40; ++i) {
    const uint64_t n = 2 + rng() % (leaves.size() - 1);
    cases.push_back({1 + rng() % (n - 1), n});
  }
  for (const auto& [m, n] : cases) {
    const auto d = std::span(leaves).first(n);
    ExpectConsistencySoundAndTamperEvident(m, n, testing::RefMth(d.first(m)), testing::RefMth(d),
                                           testing::RefConsistency(m, d));
  }
}

}  // namespace
}  // namespace tokenaudit::merkle
