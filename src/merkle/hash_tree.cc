#include "src/merkle/hash_tree.h"

#include <algorithm>
#include <bit>
#include <string>

namespace tokenaudit::merkle {

namespace {

// RFC 6962 splits a range of n > 1 leaves at k, the largest power of two smaller than n.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

int Log2(uint64_t power_of_two) { return std::countr_zero(power_of_two); }

}  // namespace

void HashTree::Append(const Hash& leaf_hash) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf_hash);
  ++size_;
  // A level with an even number of nodes has just completed a pair: its parent is complete.
  for (size_t level = 0; levels_[level].size() % 2 == 0; ++level) {
    if (level + 1 == levels_.size()) levels_.emplace_back();
    const ChunkedVector<Hash, 12>& nodes = levels_[level];
    levels_[level + 1].push_back(HashChildren(nodes[nodes.size() - 2], nodes.back()));
  }
}

Result<Hash> HashTree::LeafHash(uint64_t index) const {
  if (index >= size_) {
    return Status::InvalidArgument("leaf index " + std::to_string(index) +
                                   " is not below tree size " + std::to_string(size_));
  }
  return levels_[0][index];
}

Hash HashTree::Root() const { return size_ == 0 ? EmptyRoot() : RangeRoot(0, size_); }

Result<Hash> HashTree::RootAt(uint64_t tree_size) const {
  if (tree_size > size_) {
    return Status::InvalidArgument("tree size " + std::to_string(tree_size) +
                                   " is past the current size " + std::to_string(size_));
  }
  return tree_size == 0 ? EmptyRoot() : RangeRoot(0, tree_size);
}

Hash HashTree::RangeRoot(uint64_t begin, uint64_t end) const {
  // The range is a run of perfect subtrees, one per set bit of its length, largest first; MTH
  // folds them right to left. Walking the bits from the lowest visits them right to left.
  const uint64_t n = end - begin;
  uint64_t pos = end;
  Hash acc;
  bool have_acc = false;
  for (int level = 0; level < 64; ++level) {
    const uint64_t width = uint64_t{1} << level;
    if ((n & width) == 0) continue;
    pos -= width;
    const Hash& node = PerfectRoot(level, pos);
    acc = have_acc ? HashChildren(node, acc) : node;
    have_acc = true;
  }
  return acc;
}

Result<std::vector<Hash>> HashTree::InclusionProof(uint64_t index, uint64_t tree_size) const {
  if (tree_size > size_) {
    return Status::InvalidArgument("tree size " + std::to_string(tree_size) +
                                   " is past the current size " + std::to_string(size_));
  }
  if (index >= tree_size) {
    return Status::InvalidArgument("leaf index " + std::to_string(index) +
                                   " is not below tree size " + std::to_string(tree_size));
  }
  // PATH walked top-down; the RFC lists the siblings bottom-up, hence the reverse at the end.
  // Once the walk turns left the range is perfect, so only the first left turn can need a fold.
  std::vector<Hash> proof;
  uint64_t begin = 0;
  uint64_t end = tree_size;
  while (end - begin > 1) {
    const uint64_t k = SplitPoint(end - begin);
    if (index < begin + k) {
      proof.push_back(RangeRoot(begin + k, end));
      end = begin + k;
    } else {
      proof.push_back(PerfectRoot(Log2(k), begin));
      begin += k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

Result<std::vector<Hash>> HashTree::ConsistencyProof(uint64_t size1, uint64_t size2) const {
  if (size2 > size_) {
    return Status::InvalidArgument("tree size " + std::to_string(size2) +
                                   " is past the current size " + std::to_string(size_));
  }
  if (size1 > size2) {
    return Status::InvalidArgument("consistency from size " + std::to_string(size1) +
                                   " to smaller size " + std::to_string(size2));
  }
  std::vector<Hash> proof;
  if (size1 == 0 || size1 == size2) return proof;

  // SUBPROOF(m, D[begin:end], whole_old_tree) walked top-down; `m` counts old leaves from begin.
  uint64_t m = size1;
  uint64_t begin = 0;
  uint64_t end = size2;
  bool whole_old_tree = true;
  while (true) {
    const uint64_t n = end - begin;
    if (m == n) {
      // The verifier already holds root1 when this subtree is the whole old tree.
      if (!whole_old_tree) proof.push_back(RangeRoot(begin, end));
      break;
    }
    const uint64_t k = SplitPoint(n);
    if (m <= k) {
      proof.push_back(RangeRoot(begin + k, end));
      end = begin + k;
    } else {
      proof.push_back(PerfectRoot(Log2(k), begin));
      begin += k;
      m -= k;
      whole_old_tree = false;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

}  // namespace tokenaudit::merkle
