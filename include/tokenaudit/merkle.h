// RFC 6962 / RFC 9162 Merkle tree hashing, compact ranges and proof verification.
//
//   leaf hash  = SHA-256(0x00 || record bytes)
//   node hash  = SHA-256(0x01 || left || right)
//   empty root = SHA-256("")
//
// Anyone holding an exported record and a checkpoint can check inclusion and consistency with
// the functions below; they need nothing else from tokenaudit. All functions are thread-safe.

#ifndef TOKENAUDIT_MERKLE_H_
#define TOKENAUDIT_MERKLE_H_

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

namespace tokenaudit::merkle {

using Hash = std::array<uint8_t, 32>;

Hash HashLeaf(std::string_view record);
Hash HashChildren(const Hash& left, const Hash& right);
Hash EmptyRoot();

std::string ToHex(const Hash& h);
// InvalidArgument unless `hex` is exactly 64 hex digits.
Result<Hash> HashFromHex(std::string_view hex);

// The Merkle tree over leaves [0, size) summarised by the roots of its maximal perfect subtrees,
// left to right (one per set bit of size, largest first). Appending a leaf costs amortised one
// node hash; Root() folds the subtree roots right to left. Not thread-safe.
class CompactRange {
 public:
  CompactRange() = default;
  // Restores a range from its subtree roots; InvalidArgument if the count does not match the
  // number of set bits of `size`.
  static Result<CompactRange> FromSubtreeRoots(uint64_t size, std::vector<Hash> roots);

  void Append(const Hash& leaf_hash);
  uint64_t size() const { return size_; }
  // MTH of leaves [0, size); EmptyRoot() for size 0.
  Hash Root() const;
  const std::vector<Hash>& subtree_roots() const { return roots_; }

 private:
  uint64_t size_ = 0;
  std::vector<Hash> roots_;
};

// RFC 9162 §2.1.3.2. OK iff `proof` proves that the leaf with hash `leaf_hash` is at `leaf_index`
// in the tree of `tree_size` leaves with root `root`; otherwise Corruption (a bad proof) or
// InvalidArgument (index out of range).
Status VerifyInclusion(uint64_t leaf_index, uint64_t tree_size, const Hash& leaf_hash,
                       std::span<const Hash> proof, const Hash& root);

// RFC 9162 §2.1.4.2. OK iff `proof` proves that the tree of `size1` leaves with root `root1` is a
// prefix of the tree of `size2` leaves with root `root2`. size1 == size2 needs an empty proof and
// equal roots; size1 == 0 needs an empty proof.
Status VerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                         std::span<const Hash> proof);

}  // namespace tokenaudit::merkle

#endif  // TOKENAUDIT_MERKLE_H_
