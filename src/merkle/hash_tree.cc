#include "src/merkle/hash_tree.h"

#include <algorithm>
#include <bit>
#include <string>

namespace tokenaudit::merkle {

namespace {

// RFC 6962 splits a range of n > 1 leaves at k, the largest power of two smaller than n.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

int Log2(uint64_t power_of_two) { return std::countr_zero(power_of_two); }

// MTH of a perfect run of leaves (a power of two of them), folded in place.
Hash FoldPerfect(std::vector<Hash> nodes) {
  for (size_t n = nodes.size(); n > 1; n /= 2) {
    for (size_t i = 0; i < n / 2; ++i) nodes[i] = HashChildren(nodes[2 * i], nodes[2 * i + 1]);
  }
  return nodes[0];
}

}  // namespace

// Reads nodes for one call: stored ones directly, those below the stored levels from the
// leaves of their block (the tail in memory, or the source, keeping the last block fetched).
// The first error sticks; nodes read after it are meaningless and the call returns the error.
class HashTree::NodeReader {
 public:
  explicit NodeReader(const HashTree& t) : t_(t) {}

  Hash Perfect(int level, uint64_t begin) {
    if (level >= t_.stored_from_) return t_.levels_[level][begin >> level];
    const uint64_t block = begin >> t_.stored_from_;
    const uint64_t block_begin = block << t_.stored_from_;
    const std::vector<Hash>* leaves = &t_.tail_;
    const bool in_tail = !t_.tail_.empty() && block_begin == t_.size_ - t_.tail_.size();
    if (!in_tail) {
      // A complete block: its leaves come from the source.
      if (block != cached_block_) {
        cached_.clear();
        Status s = t_.leaf_source_(block_begin, block_begin + (uint64_t{1} << t_.stored_from_),
                                   &cached_);
        if (s.ok() && cached_.size() != (size_t{1} << t_.stored_from_)) {
          s = Status::Internal("leaf source returned " + std::to_string(cached_.size()) +
                               " leaves for block " + std::to_string(block));
        }
        if (!s.ok()) {
          if (status_.ok()) status_ = s;
          return Hash{};
        }
        cached_block_ = block;
      }
      leaves = &cached_;
    }
    const uint64_t first = begin - block_begin;
    const uint64_t width = uint64_t{1} << level;
    return FoldPerfect(
        std::vector<Hash>(leaves->begin() + first, leaves->begin() + first + width));
  }

  // MTH(D[begin:end]) for begin < end <= size, where `begin` is a multiple of the largest power
  // of two <= end - begin (true of every range the RFC 6962 recursion visits). The range is a
  // run of perfect subtrees, one per set bit of its length, largest first; MTH folds them right
  // to left, which walking the bits from the lowest does.
  Hash Range(uint64_t begin, uint64_t end) {
    const uint64_t n = end - begin;
    uint64_t pos = end;
    Hash acc;
    bool have_acc = false;
    for (int level = 0; level < 64; ++level) {
      const uint64_t width = uint64_t{1} << level;
      if ((n & width) == 0) continue;
      pos -= width;
      const Hash node = Perfect(level, pos);
      acc = have_acc ? HashChildren(node, acc) : node;
      have_acc = true;
    }
    return acc;
  }

  const Status& status() const { return status_; }

 private:
  const HashTree& t_;
  uint64_t cached_block_ = UINT64_MAX;
  std::vector<Hash> cached_;
  Status status_;
};

HashTree::HashTree(int stored_from_level, LeafSource leaf_source)
    : stored_from_(std::clamp(stored_from_level, 0, 30)), leaf_source_(std::move(leaf_source)) {
  if (!leaf_source_) stored_from_ = 0;
}

void HashTree::Append(const Hash& leaf_hash) {
  ++size_;
  size_t level = stored_from_;
  if (stored_from_ > 0) {
    tail_.push_back(leaf_hash);
    if (tail_.size() < (size_t{1} << stored_from_)) return;
    // The block is complete: its root joins the stored levels, its leaves leave memory.
    while (levels_.size() <= level) levels_.emplace_back();
    levels_[level].push_back(FoldPerfect(std::move(tail_)));
    tail_.clear();
  } else {
    if (levels_.empty()) levels_.emplace_back();
    levels_[0].push_back(leaf_hash);
  }
  // A level with an even number of nodes has just completed a pair: its parent is complete.
  for (; levels_[level].size() % 2 == 0; ++level) {
    if (level + 1 == levels_.size()) levels_.emplace_back();
    const ChunkedVector<Hash, 12>& nodes = levels_[level];
    levels_[level + 1].push_back(HashChildren(nodes[nodes.size() - 2], nodes.back()));
  }
}

size_t HashTree::MemoryUsage() const {
  size_t n = tail_.capacity() * sizeof(Hash);
  for (const auto& level : levels_) n += level.size() * sizeof(Hash);
  return n;
}

Result<Hash> HashTree::LeafHash(uint64_t index) const {
  if (index >= size_) {
    return Status::InvalidArgument("leaf index " + std::to_string(index) +
                                   " is not below tree size " + std::to_string(size_));
  }
  NodeReader r(*this);
  Hash h = r.Perfect(0, index);
  RETURN_IF_ERROR(r.status());
  return h;
}

Hash HashTree::Root() const {
  if (size_ == 0) return EmptyRoot();
  // Perfect subtrees below the stored levels can only be in the tail: no source read.
  NodeReader r(*this);
  return r.Range(0, size_);
}

Result<Hash> HashTree::RootAt(uint64_t tree_size) const {
  if (tree_size > size_) {
    return Status::InvalidArgument("tree size " + std::to_string(tree_size) +
                                   " is past the current size " + std::to_string(size_));
  }
  if (tree_size == 0) return EmptyRoot();
  NodeReader r(*this);
  Hash h = r.Range(0, tree_size);
  RETURN_IF_ERROR(r.status());
  return h;
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
  NodeReader r(*this);
  std::vector<Hash> proof;
  uint64_t begin = 0;
  uint64_t end = tree_size;
  while (end - begin > 1) {
    const uint64_t k = SplitPoint(end - begin);
    if (index < begin + k) {
      proof.push_back(r.Range(begin + k, end));
      end = begin + k;
    } else {
      proof.push_back(r.Perfect(Log2(k), begin));
      begin += k;
    }
  }
  RETURN_IF_ERROR(r.status());
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
  NodeReader r(*this);
  uint64_t m = size1;
  uint64_t begin = 0;
  uint64_t end = size2;
  bool whole_old_tree = true;
  while (true) {
    const uint64_t n = end - begin;
    if (m == n) {
      // The verifier already holds root1 when this subtree is the whole old tree.
      if (!whole_old_tree) proof.push_back(r.Range(begin, end));
      break;
    }
    const uint64_t k = SplitPoint(n);
    if (m <= k) {
      proof.push_back(r.Range(begin + k, end));
      end = begin + k;
    } else {
      proof.push_back(r.Perfect(Log2(k), begin));
      begin += k;
      m -= k;
      whole_old_tree = false;
    }
  }
  RETURN_IF_ERROR(r.status());
  std::reverse(proof.begin(), proof.end());
  return proof;
}

}  // namespace tokenaudit::merkle
