#include "tokenaudit/merkle.h"

#include <algorithm>
#include <bit>
#include <string>
#include <utility>

#include "src/util/hex.h"
#include "src/util/sha256.h"

namespace tokenaudit::merkle {

namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

// Number of hashes in the inclusion path of leaf `index` < `size`. Below the level where the
// paths to `index` and to the last leaf diverge, the leaf sits in a perfect subtree and has a
// sibling at every level; above it the path runs along the right edge, where a node has a
// (left) sibling exactly at the levels where its position bit is one.
uint64_t InclusionProofLength(uint64_t index, uint64_t size) {
  const int inner = std::bit_width(index ^ (size - 1));
  return static_cast<uint64_t>(inner + std::popcount(index >> inner));
}

// Number of hashes in the consistency proof from `size1` to `size2`, 0 < size1 < size2: the
// inclusion path of leaf size1-1 in the larger tree, less the lowest ctz(size1) levels, which
// the root of the last perfect subtree of the old tree stands in for; that root is sent as the
// first proof hash unless it is root1 itself (size1 a power of two).
uint64_t ConsistencyProofLength(uint64_t size1, uint64_t size2) {
  const int inner = std::bit_width((size1 - 1) ^ (size2 - 1));
  const int border = std::popcount((size1 - 1) >> inner);
  const int shift = std::countr_zero(size1);
  const int seed = std::has_single_bit(size1) ? 0 : 1;
  return static_cast<uint64_t>(seed + (inner - shift) + border);
}

}  // namespace

Hash HashLeaf(std::string_view record) {
  Sha256 h;
  h.Update(&kLeafPrefix, 1);
  h.Update(record);
  return h.Finish();
}

Hash HashChildren(const Hash& left, const Hash& right) {
  // One contiguous buffer: a single Update keeps the call overhead minimal for this hot path.
  uint8_t buf[1 + 2 * sizeof(Hash)];
  buf[0] = kNodePrefix;
  std::copy(left.begin(), left.end(), buf + 1);
  std::copy(right.begin(), right.end(), buf + 1 + sizeof(Hash));
  Sha256 h;
  h.Update(buf, sizeof(buf));
  return h.Finish();
}

Hash EmptyRoot() {
  static const Hash kEmptyRoot = Sha256Of(std::string_view());
  return kEmptyRoot;
}

std::string ToHex(const Hash& h) { return HexEncode(h.data(), h.size()); }

Result<Hash> HashFromHex(std::string_view hex) {
  Hash h{};
  if (hex.size() != 2 * h.size()) {
    return Status::InvalidArgument("hash hex must be 64 digits, got " + std::to_string(hex.size()));
  }
  ASSIGN_OR_RETURN(const std::string bytes, HexDecode(hex));
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

Result<CompactRange> CompactRange::FromSubtreeRoots(uint64_t size, std::vector<Hash> roots) {
  if (roots.size() != static_cast<size_t>(std::popcount(size))) {
    return Status::InvalidArgument("compact range of size " + std::to_string(size) + " needs " +
                                   std::to_string(std::popcount(size)) + " subtree roots, got " +
                                   std::to_string(roots.size()));
  }
  CompactRange range;
  range.size_ = size;
  range.roots_ = std::move(roots);
  return range;
}

void CompactRange::Append(const Hash& leaf_hash) {
  roots_.push_back(leaf_hash);
  // Each trailing one bit of the old size is a perfect subtree of the same height as the one
  // just completed, so merge once per trailing one: amortised one hash per append.
  for (uint64_t s = size_; (s & 1) != 0; s >>= 1) {
    Hash right = roots_.back();
    roots_.pop_back();
    roots_.back() = HashChildren(roots_.back(), right);
  }
  ++size_;
}

Hash CompactRange::Root() const {
  if (roots_.empty()) return EmptyRoot();
  Hash acc = roots_.back();
  for (size_t i = roots_.size() - 1; i-- > 0;) acc = HashChildren(roots_[i], acc);
  return acc;
}

Status VerifyInclusion(uint64_t leaf_index, uint64_t tree_size, const Hash& leaf_hash,
                       std::span<const Hash> proof, const Hash& root) {
  if (leaf_index >= tree_size) {
    return Status::InvalidArgument("leaf index " + std::to_string(leaf_index) +
                                   " is not below tree size " + std::to_string(tree_size));
  }
  // The RFC walk below also rejects a proof of the wrong length (via sn); checking up front
  // fails before any hashing and names the problem.
  const uint64_t want = InclusionProofLength(leaf_index, tree_size);
  if (proof.size() != want) {
    return Status::Corruption("inclusion proof has " + std::to_string(proof.size()) +
                              " hashes, expected " + std::to_string(want));
  }
  // RFC 9162 §2.1.3.2, steps 2-5.
  uint64_t fn = leaf_index;
  uint64_t sn = tree_size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return Status::Corruption("inclusion proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      r = HashChildren(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Status::Corruption("inclusion proof is too short");
  if (r != root) return Status::Corruption("inclusion proof does not lead to the root");
  return Status::OK();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                         std::span<const Hash> proof) {
  if (size1 > size2) {
    return Status::InvalidArgument("consistency from size " + std::to_string(size1) +
                                   " to smaller size " + std::to_string(size2));
  }
  if (size1 == size2) {
    if (!proof.empty()) {
      return Status::Corruption("consistency proof for equal sizes must be empty");
    }
    if (root1 != root2) return Status::Corruption("equal tree sizes with different roots");
    if (size1 == 0 && root1 != EmptyRoot()) {
      return Status::Corruption("root of the empty tree is not SHA-256(\"\")");
    }
    return Status::OK();
  }
  if (size1 == 0) {
    if (!proof.empty()) return Status::Corruption("consistency proof from size 0 must be empty");
    // Every tree extends the empty tree, but a tree head claiming size 0 must carry its root.
    if (root1 != EmptyRoot()) {
      return Status::Corruption("root of the empty tree is not SHA-256(\"\")");
    }
    return Status::OK();
  }

  // RFC 9162 §2.1.4.2. Step 2 prepends root1 when size1 is a power of two; instead of copying
  // the proof we seed fr/sr from root1 and walk the proof from its first element.
  const bool seed_from_root1 = std::has_single_bit(size1);
  const uint64_t want = ConsistencyProofLength(size1, size2);
  if (proof.size() != want) {
    return Status::Corruption("consistency proof has " + std::to_string(proof.size()) +
                              " hashes, expected " + std::to_string(want));
  }
  // The length is at least 1 here (size1 < size2), so proof[0] below exists.
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {  // step 4
    fn >>= 1;
    sn >>= 1;
  }
  size_t next = 0;
  Hash fr = seed_from_root1 ? root1 : proof[next++];
  Hash sr = fr;
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) return Status::Corruption("consistency proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Status::Corruption("consistency proof is too short");
  if (fr != root1) return Status::Corruption("consistency proof does not lead to the old root");
  if (sr != root2) return Status::Corruption("consistency proof does not lead to the new root");
  return Status::OK();
}

}  // namespace tokenaudit::merkle
