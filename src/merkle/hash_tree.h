// HashTree: the prover side of the ledger's RFC 6962 Merkle tree. It keeps every complete node
// so that roots of past tree sizes, inclusion proofs and consistency proofs cost O(log n) node
// reads and at most O(log n) SHA-256 computations.

#ifndef TOKENAUDIT_MERKLE_HASH_TREE_H_
#define TOKENAUDIT_MERKLE_HASH_TREE_H_

#include <cstdint>
#include <vector>

#include "src/util/chunked_vector.h"
#include "tokenaudit/merkle.h"
#include "tokenaudit/result.h"

namespace tokenaudit::merkle {

// An append-only Merkle tree over leaf hashes (HashLeaf of each record), per RFC 6962 §2.1.
//
// Storage: level 0 holds the leaf hashes, level k holds the root of every perfect subtree of
// 2^k leaves that is complete so far. That is about 2 node hashes, i.e. ~64 bytes, per leaf
// (plus up to 2x transient slack while a level's vector grows), all in memory.
//
// Append costs amortised one node hash. Root() and RootAt() fold at most log2(size) stored
// nodes; InclusionProof() and ConsistencyProof() read O(log n) stored nodes and fold at most
// one non-perfect range, O(log n) hashes. Proofs are returned in RFC 9162 order (from the leaf
// or the old root up) and verify with VerifyInclusion / VerifyConsistency.
//
// Not thread-safe: the caller (the ledger) serialises all calls, including const ones against
// Append. Movable, not copyable.
class HashTree {
 public:
  HashTree() = default;
  HashTree(const HashTree&) = delete;
  HashTree& operator=(const HashTree&) = delete;
  HashTree(HashTree&&) = default;
  HashTree& operator=(HashTree&&) = default;

  // Appends the leaf hash for the next index (== size() before the call).
  void Append(const Hash& leaf_hash);

  // Number of leaves.
  uint64_t size() const { return size_; }

  // The leaf hash at `index`; InvalidArgument unless index < size().
  Result<Hash> LeafHash(uint64_t index) const;

  // MTH of all leaves; EmptyRoot() when empty.
  Hash Root() const;

  // MTH of leaves [0, tree_size); EmptyRoot() for 0. InvalidArgument if tree_size > size().
  Result<Hash> RootAt(uint64_t tree_size) const;

  // RFC 6962 PATH(index, D[0:tree_size]), the audit path of leaf `index` in the tree of
  // `tree_size` leaves. Empty for tree_size 1. InvalidArgument unless
  // index < tree_size <= size().
  Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t tree_size) const;

  // RFC 6962 PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true). Empty when
  // size1 == 0 or size1 == size2 (VerifyConsistency accepts those with an empty proof).
  // InvalidArgument unless size1 <= size2 <= size().
  Result<std::vector<Hash>> ConsistencyProof(uint64_t size1, uint64_t size2) const;

 private:
  // Root of the perfect subtree of 2^level leaves starting at leaf `begin`; the node must be
  // complete (begin + 2^level <= size_) and begin a multiple of 2^level.
  const Hash& PerfectRoot(int level, uint64_t begin) const {
    return levels_[level][begin >> level];
  }

  // MTH(D[begin:end]) for begin < end <= size_, where `begin` is a multiple of the largest
  // power of two <= end - begin (true of every range the RFC 6962 recursion visits).
  Hash RangeRoot(uint64_t begin, uint64_t end) const;

  uint64_t size_ = 0;
  // levels_[k][i] = MTH(D[i*2^k : (i+1)*2^k]). Chunked: appending never copies a level, so the
  // writer that appends under its lock never stalls on a reallocation.
  std::vector<ChunkedVector<Hash, 12>> levels_;
};

}  // namespace tokenaudit::merkle

#endif  // TOKENAUDIT_MERKLE_HASH_TREE_H_
