#include "src/merkle/hash_tree.h"

#include <gtest/gtest.h>

#include <bit>
#include <random>
#include <utility>
#include <vector>

#include "src/merkle/merkle_testutil.h"
#include "tokenaudit/merkle.h"

namespace tokenaudit::merkle {
namespace {

using testing::H;
using testing::Hs;

HashTree BuildTree(const std::vector<Hash>& leaves) {
  HashTree tree;
  for (const Hash& leaf : leaves) tree.Append(leaf);
  return tree;
}

std::vector<Hash> KnownLeafHashes() {
  std::vector<Hash> out;
  for (const std::string& input : testing::KnownLeafInputs()) out.push_back(HashLeaf(input));
  return out;
}

TEST(HashTreeTest, EmptyTreeHasEmptyRootAndNoProofs) {
  HashTree tree;
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_EQ(tree.Root(), EmptyRoot());
  Result<Hash> root0 = tree.RootAt(0);
  ASSERT_TRUE(root0.ok());
  EXPECT_EQ(*root0, EmptyRoot());
  EXPECT_EQ(tree.RootAt(1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.LeafHash(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.InclusionProof(0, 0).status().code(), StatusCode::kInvalidArgument);
  Result<std::vector<Hash>> proof = tree.ConsistencyProof(0, 0);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(proof->empty());
}

TEST(HashTreeTest, RootsMatchKnownAnswersAtEverySize) {
  const std::vector<Hash> leaves = KnownLeafHashes();
  HashTree tree;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    tree.Append(leaves[n - 1]);
    EXPECT_EQ(ToHex(tree.Root()), testing::kRootsHex[n]) << n;
  }
  for (size_t n = 0; n <= leaves.size(); ++n) {
    Result<Hash> root = tree.RootAt(n);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ(ToHex(*root), testing::kRootsHex[n]) << n;
  }
  EXPECT_EQ(tree.RootAt(9).status().code(), StatusCode::kInvalidArgument);
}

TEST(HashTreeTest, ProofsMatchKnownAnswers) {
  const HashTree tree = BuildTree(KnownLeafHashes());
  for (const testing::InclusionVector& v : testing::kInclusionVectors) {
    Result<std::vector<Hash>> proof = tree.InclusionProof(v.index, v.size);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(*proof, Hs(v.proof)) << v.index << " in " << v.size;
  }
  for (const testing::ConsistencyVector& v : testing::kConsistencyVectors) {
    Result<std::vector<Hash>> proof = tree.ConsistencyProof(v.size1, v.size2);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(*proof, Hs(v.proof)) << v.size1 << " -> " << v.size2;
  }
}

TEST(HashTreeTest, LeafHashReturnsAppendedLeaves) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(37, /*seed=*/10);
  const HashTree tree = BuildTree(leaves);
  for (uint64_t i = 0; i < leaves.size(); ++i) {
    Result<Hash> leaf = tree.LeafHash(i);
    ASSERT_TRUE(leaf.ok());
    EXPECT_EQ(*leaf, leaves[i]);
  }
  EXPECT_EQ(tree.LeafHash(leaves.size()).status().code(), StatusCode::kInvalidArgument);
}

TEST(HashTreeTest, RootsEqualReferenceAndCompactRangeAtEverySize) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(3000, /*seed=*/11);
  HashTree tree;
  CompactRange range;
  std::vector<Hash> roots = {EmptyRoot()};
  for (size_t n = 1; n <= leaves.size(); ++n) {
    tree.Append(leaves[n - 1]);
    range.Append(leaves[n - 1]);
    ASSERT_EQ(tree.size(), n);
    ASSERT_EQ(tree.Root(), range.Root()) << n;
    if (n <= 600 || std::has_single_bit(n) || n % 97 == 0) {
      ASSERT_EQ(tree.Root(), testing::RefMth(std::span(leaves).first(n))) << n;
    }
    roots.push_back(tree.Root());
  }
  // Past roots stay available after the tree has grown.
  for (size_t n = 0; n <= leaves.size(); ++n) {
    Result<Hash> root = tree.RootAt(n);
    ASSERT_TRUE(root.ok());
    ASSERT_EQ(*root, roots[n]) << n;
  }
}

TEST(HashTreeTest, EveryProofInSmallTreesEqualsReferenceAndVerifies) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(70, /*seed=*/12);
  const HashTree tree = BuildTree(leaves);
  for (uint64_t n = 0; n <= leaves.size(); ++n) {
    const auto d = std::span(leaves).first(n);
    const Hash root = *tree.RootAt(n);
    for (uint64_t i = 0; i < n; ++i) {
      Result<std::vector<Hash>> proof = tree.InclusionProof(i, n);
      ASSERT_TRUE(proof.ok()) << proof.status();
      ASSERT_EQ(*proof, testing::RefPath(i, d)) << i << " in " << n;
      ASSERT_TRUE(VerifyInclusion(i, n, leaves[i], *proof, root).ok()) << i << " in " << n;
    }
    for (uint64_t m = 0; m <= n; ++m) {
      Result<std::vector<Hash>> proof = tree.ConsistencyProof(m, n);
      ASSERT_TRUE(proof.ok()) << proof.status();
      ASSERT_EQ(*proof, testing::RefConsistency(m, d)) << m << " -> " << n;
      ASSERT_TRUE(VerifyConsistency(m, n, *tree.RootAt(m), root, *proof).ok()) << m << " -> " << n;
    }
  }
}

TEST(HashTreeTest, SampledProofsInLargeTreeEqualReferenceAndVerify) {
  const std::vector<Hash> leaves = testing::MakeLeafHashes(4100, /*seed=*/13);
  const HashTree tree = BuildTree(leaves);
  std::mt19937_64 rng(20240603);
  std::vector<std::pair<uint64_t, uint64_t>> pairs = {
      {0, 4100}, {4099, 4100}, {4095, 4096}, {4096, 4097}, {2048, 4096}, {1, 4097}, {4097, 4099}};
  for (int i = 0; i < 150; ++i) {
    const uint64_t n = 1 + rng() % leaves.size();
    pairs.push_back({rng() % n, n});
  }
  for (const auto& [a, n] : pairs) {
    const auto d = std::span(leaves).first(n);
    const Hash root = *tree.RootAt(n);
    const uint64_t log_n = std::bit_width(n - 1);  // ceil(log2 n)

    Result<std::vector<Hash>> inclusion = tree.InclusionProof(a, n);
    ASSERT_TRUE(inclusion.ok()) << inclusion.status();
    ASSERT_LE(inclusion->size(), log_n);
    ASSERT_EQ(*inclusion, testing::RefPath(a, d)) << a << " in " << n;
    ASSERT_TRUE(VerifyInclusion(a, n, leaves[a], *inclusion, root).ok()) << a << " in " << n;

    Result<std::vector<Hash>> consistency = tree.ConsistencyProof(a, n);
    ASSERT_TRUE(consistency.ok()) << consistency.status();
    ASSERT_LE(consistency->size(), log_n + 1);
    ASSERT_EQ(*consistency, testing::RefConsistency(a, d)) << a << " -> " << n;
    ASSERT_TRUE(VerifyConsistency(a, n, *tree.RootAt(a), root, *consistency).ok())
        << a << " -> " << n;
  }
}

TEST(HashTreeTest, OutOfRangeRequestsAreInvalidArgument) {
  const HashTree tree = BuildTree(testing::MakeLeafHashes(10, /*seed=*/14));
  EXPECT_EQ(tree.RootAt(11).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.InclusionProof(10, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.InclusionProof(5, 5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.InclusionProof(0, 11).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.InclusionProof(UINT64_MAX, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.ConsistencyProof(6, 5).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.ConsistencyProof(3, 11).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.ConsistencyProof(11, 11).status().code(), StatusCode::kInvalidArgument);
}

TEST(HashTreeTest, TrivialConsistencyProofsAreEmpty) {
  const HashTree tree = BuildTree(testing::MakeLeafHashes(10, /*seed=*/15));
  for (const auto& [m, n] :
       {std::pair<uint64_t, uint64_t>{0, 0}, {0, 10}, {0, 1}, {1, 1}, {7, 7}, {10, 10}}) {
    Result<std::vector<Hash>> proof = tree.ConsistencyProof(m, n);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_TRUE(proof->empty()) << m << " -> " << n;
    EXPECT_TRUE(VerifyConsistency(m, n, *tree.RootAt(m), *tree.RootAt(n), *proof).ok());
  }
}

TEST(HashTreeTest, SingleLeafTreeHasEmptyInclusionProof) {
  const Hash leaf = HashLeaf("only");
  HashTree tree;
  tree.Append(leaf);
  EXPECT_EQ(tree.Root(), leaf);
  Result<std::vector<Hash>> proof = tree.InclusionProof(0, 1);
  ASSERT_TRUE(proof.ok());
  EXPECT_TRUE(proof->empty());
  EXPECT_TRUE(VerifyInclusion(0, 1, leaf, *proof, tree.Root()).ok());
}

TEST(HashTreeTest, MovedTreeKeepsItsContents) {
  HashTree a = BuildTree(testing::MakeLeafHashes(21, /*seed=*/16));
  const Hash root = a.Root();
  HashTree b = std::move(a);
  EXPECT_EQ(b.size(), 21u);
  EXPECT_EQ(b.Root(), root);
  b.Append(HashLeaf("more"));
  EXPECT_EQ(b.size(), 22u);
}

}  // namespace
}  // namespace tokenaudit::merkle

namespace tokenaudit::merkle {
namespace {

// A tree that keeps only levels >= L, reading leaves back from `all` (what the ledger does with
// the log), must answer exactly like the tree that keeps everything.
TEST(PrunedHashTreeTest, AnswersEqualTheFullTreeAtEverySizeAndLevel) {
  std::vector<Hash> all;
  for (int i = 0; i < 300; ++i) all.push_back(HashLeaf("leaf " + std::to_string(i)));
  for (int stored_from : {1, 3, 4, 8}) {
    SCOPED_TRACE("stored_from " + std::to_string(stored_from));
    int fetches = 0;
    HashTree pruned(stored_from, [&](uint64_t begin, uint64_t end, std::vector<Hash>* out) {
      ++fetches;
      out->assign(all.begin() + begin, all.begin() + end);
      return Status::OK();
    });
    HashTree full;
    for (size_t n = 1; n <= all.size(); ++n) {
      pruned.Append(all[n - 1]);
      full.Append(all[n - 1]);
      ASSERT_EQ(pruned.Root(), full.Root()) << n;
      if (n % 37 != 0 && n >= 40) continue;  // every size below 40, sampled above
      for (uint64_t size = 1; size <= n; size += (n < 40 ? 1 : 13)) {
        ASSERT_EQ(*pruned.RootAt(size), *full.RootAt(size));
        for (uint64_t i = 0; i < size; i += (size < 40 ? 1 : 11)) {
          ASSERT_EQ(*pruned.InclusionProof(i, size), *full.InclusionProof(i, size))
              << i << " in " << size;
          ASSERT_EQ(*pruned.LeafHash(i), all[i]);
        }
        ASSERT_EQ(*pruned.ConsistencyProof(size / 2, size), *full.ConsistencyProof(size / 2, size));
        ASSERT_EQ(*pruned.ConsistencyProof(size, n), *full.ConsistencyProof(size, n));
      }
    }
    EXPECT_GT(fetches, 0);
    EXPECT_LT(pruned.MemoryUsage(), full.MemoryUsage() / 2);
  }
}

TEST(PrunedHashTreeTest, RootNeverReadsTheSourceAndSourceErrorsAreReturned) {
  bool fail = false;
  int fetches = 0;
  HashTree pruned(4, [&](uint64_t, uint64_t, std::vector<Hash>* out) {
    ++fetches;
    if (fail) return Status::IOError("disk gone");
    out->assign(16, Hash{});
    return Status::OK();
  });
  for (int i = 0; i < 1000; ++i) {
    pruned.Append(HashLeaf(std::to_string(i)));
    pruned.Root();
  }
  EXPECT_EQ(fetches, 0);
  fail = true;
  EXPECT_EQ(pruned.InclusionProof(3, 1000).status().code(), StatusCode::kIOError);
  EXPECT_EQ(pruned.RootAt(990).status().code(), StatusCode::kIOError);  // inside block 976..991
  EXPECT_EQ(pruned.LeafHash(5).status().code(), StatusCode::kIOError);
  // Proofs that stay in stored levels and the tail need no source.
  EXPECT_TRUE(pruned.RootAt(992).ok());
  EXPECT_TRUE(pruned.InclusionProof(999, 1000).ok());
}

}  // namespace
}  // namespace tokenaudit::merkle
