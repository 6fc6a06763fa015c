// HashTree: the prover side of the ledger's RFC 6962 Merkle tree. It keeps the complete nodes
// from some level up, so that roots of past tree sizes, inclusion proofs and consistency proofs
// cost O(log n) node reads and a bounded number of SHA-256 computations.

#ifndef TOKENAUDIT_MERKLE_HASH_TREE_H_
#define TOKENAUDIT_MERKLE_HASH_TREE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "src/util/chunked_vector.h"
#include "tokenaudit/merkle.h"
#include "tokenaudit/result.h"

namespace tokenaudit::merkle {

// An append-only Merkle tree over leaf hashes (HashLeaf of each record), per RFC 6962 §2.1.
//
// Storage: level k holds the root of every perfect subtree of 2^k leaves that is complete so
// far, for k >= stored_from_level. With stored_from_level 0 that is every node, about 64 bytes
// per leaf. With stored_from_level L > 0 only the leaves of the last, incomplete block of 2^L
// leaves stay in memory (64 / 2^L bytes per leaf otherwise: 0.25 bytes at L = 8); a node below
// level L in a complete block is recomputed from that block's leaf hashes, which `leaf_source`
// supplies (the ledger reads them back from the log).
//
// Append costs amortised one node hash. Root() folds at most log2(size) nodes and never needs
// the leaf source. RootAt(), InclusionProof() and ConsistencyProof() read O(log n) stored nodes
// and, with L > 0, at most two blocks of leaves from the source (2^L hashes each). Proofs are in
// RFC 9162 order (from the leaf or the old root up) and verify with VerifyInclusion /
// VerifyConsistency. Errors of the source are returned as they are.
//
// Not thread-safe: the caller (the ledger) serialises Append against everything else; const
// calls may run concurrently with each other (they call the source concurrently too). Movable,
// not copyable.
class HashTree {
 public:
  // Fills `out` with the leaf hashes of leaves [begin, end).
  using LeafSource =
      std::function<Status(uint64_t begin, uint64_t end, std::vector<Hash>* out)>;

  // Every node in memory.
  HashTree() = default;
  // Nodes from `stored_from_level` up in memory (0..30); `leaf_source` is required when it is
  // above 0.
  HashTree(int stored_from_level, LeafSource leaf_source);
  HashTree(const HashTree&) = delete;
  HashTree& operator=(const HashTree&) = delete;
  HashTree(HashTree&&) = default;
  HashTree& operator=(HashTree&&) = default;

  // Appends the leaf hash for the next index (== size() before the call).
  void Append(const Hash& leaf_hash);
  // Number of leaves.
  uint64_t size() const { return size_; }
  // Bytes of node storage (for stats and tests).
  size_t MemoryUsage() const;
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
  class NodeReader;

  int stored_from_ = 0;
  LeafSource leaf_source_;
  uint64_t size_ = 0;
  // levels_[k][i] = MTH(D[i*2^k : (i+1)*2^k]) for k >= stored_from_ (lower entries stay empty).
  // Chunked: appending never copies a level, so the writer that appends under its lock never
  // stalls on a reallocation.
  std::vector<ChunkedVector<Hash, 12>> levels_;
  // stored_from_ > 0: the leaves of the incomplete last block.
  std::vector<Hash> tail_;
};

}  // namespace tokenaudit::merkle

#endif  // TOKENAUDIT_MERKLE_HASH_TREE_H_
