// Test-only: known-answer vectors and a deliberately naive recursive RFC 6962 reference
// (MTH, PATH, SUBPROOF) to check the production code against. The reference hashes nodes with
// Sha256Of directly, not HashChildren, so it does not share code with what it checks.

#ifndef TOKENAUDIT_MERKLE_MERKLE_TESTUTIL_H_
#define TOKENAUDIT_MERKLE_MERKLE_TESTUTIL_H_

#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "src/util/sha256.h"
#include "tokenaudit/merkle.h"

namespace tokenaudit::merkle::testing {

// Known answers for the 8-leaf tree of the certificate-transparency reference tests, copied
// (data only) from transparency-dev/merkle testonly/constants.go and proof/verify_test.go.
// Leaf inputs, hex encoded.
// clang-format off
inline const char* const kLeafInputsHex[] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
// kRootsHex[n] = MTH of the first n leaves.
inline const char* const kRootsHex[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
// Leaf hashes (level 0) of the same tree.
inline const char* const kLeafHashesHex[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
};
// Subtree roots of CompactRange after n leaves (compact.Tree hashes in the Go reference).
inline const std::vector<std::vector<const char*>> kCompactRangesHex = {
    {},
    {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"},
    {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"},
    {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"},
    {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
};

// Inclusion proofs; the Go source numbers leaves from 1, these from 0.
struct InclusionVector {
  uint64_t index;
  uint64_t size;
  std::vector<const char*> proof;
};
inline const std::vector<InclusionVector> kInclusionVectors = {
    {0, 1, {}},
    {0, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5, 8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1, 5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

struct ConsistencyVector {
  uint64_t size1;
  uint64_t size2;
  std::vector<const char*> proof;
};
inline const std::vector<ConsistencyVector> kConsistencyVectors = {
    {1, 1, {}},
    {1, 8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6, 7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};
// clang-format on

inline Hash H(const char* hex) {
  Result<Hash> h = HashFromHex(hex);
  if (!h.ok()) std::abort();  // malformed test vector
  return *h;
}

inline std::vector<Hash> Hs(const std::vector<const char*>& hexes) {
  std::vector<Hash> out;
  for (const char* hex : hexes) out.push_back(H(hex));
  return out;
}

// The leaf inputs above as raw bytes.
inline std::vector<std::string> KnownLeafInputs() {
  std::vector<std::string> out;
  for (const char* hex : kLeafInputsHex) {
    std::string bytes;
    for (size_t i = 0; hex[i] != '\0'; i += 2) {
      bytes.push_back(static_cast<char>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
    }
    out.push_back(bytes);
  }
  return out;
}

// Deterministic pseudo-random leaf hashes.
inline std::vector<Hash> MakeLeafHashes(uint64_t n, uint64_t seed) {
  std::vector<Hash> out;
  for (uint64_t i = 0; i < n; ++i) {
    out.push_back(Sha256Of("leaf " + std::to_string(seed) + " " + std::to_string(i)));
  }
  return out;
}

// --- Reference RFC 6962 §2.1, written straight from the recursive definitions. ---

inline Hash RefNode(const Hash& l, const Hash& r) {
  std::string buf(1, '\x01');
  buf.append(reinterpret_cast<const char*>(l.data()), l.size());
  buf.append(reinterpret_cast<const char*>(r.data()), r.size());
  return Sha256Of(buf);
}

inline uint64_t RefSplit(uint64_t n) {  // largest power of two < n, n > 1
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

inline Hash RefMth(std::span<const Hash> d) {
  if (d.empty()) return Sha256Of("");
  if (d.size() == 1) return d[0];
  const uint64_t k = RefSplit(d.size());
  return RefNode(RefMth(d.subspan(0, k)), RefMth(d.subspan(k)));
}

// PATH(m, D[n]), bottom-up.
inline std::vector<Hash> RefPath(uint64_t m, std::span<const Hash> d) {
  if (d.size() <= 1) return {};
  const uint64_t k = RefSplit(d.size());
  std::vector<Hash> p;
  if (m < k) {
    p = RefPath(m, d.subspan(0, k));
    p.push_back(RefMth(d.subspan(k)));
  } else {
    p = RefPath(m - k, d.subspan(k));
    p.push_back(RefMth(d.subspan(0, k)));
  }
  return p;
}

// SUBPROOF(m, D[n], b), bottom-up.
inline std::vector<Hash> RefSubproof(uint64_t m, std::span<const Hash> d, bool b) {
  if (m == d.size()) {
    if (b) return {};
    return {RefMth(d)};
  }
  const uint64_t k = RefSplit(d.size());
  std::vector<Hash> p;
  if (m <= k) {
    p = RefSubproof(m, d.subspan(0, k), b);
    p.push_back(RefMth(d.subspan(k)));
  } else {
    p = RefSubproof(m - k, d.subspan(k), false);
    p.push_back(RefMth(d.subspan(0, k)));
  }
  return p;
}

// PROOF(m, D[n]); empty for m == 0 or m == n, which RFC 6962 leaves undefined.
inline std::vector<Hash> RefConsistency(uint64_t m, std::span<const Hash> d) {
  if (m == 0 || m == d.size()) return {};
  return RefSubproof(m, d, true);
}

// The "schedule" of a proof: one tag per proof hash saying how a verifier must combine it.
// It depends only on the sizes and fully determines what an RFC 9162 verifier computes, so two
// (index, size) or (size1, size2) pairs with equal schedules accept exactly the same proofs.
// That is inherent to RFC 9162 (the signed tree head binds the size), so tamper tests expect a
// changed size to be rejected exactly when it changes the schedule.
//
// Inclusion tags, following PATH: 'L' = sibling on the left, 'R' = sibling on the right.
inline std::string InclusionSchedule(uint64_t m, uint64_t n) {
  if (m >= n) return "invalid";
  if (n == 1) return "";
  const uint64_t k = RefSplit(n);
  return m < k ? InclusionSchedule(m, k) + 'R' : InclusionSchedule(m - k, n - k) + 'L';
}

// Consistency tags, following SUBPROOF: 'S' = seed (root of the old tree's last subtree),
// 'B' = left sibling inside the old tree (hashed into both roots), 'N' = right sibling that is
// only in the new tree.
inline std::string SubproofSchedule(uint64_t m, uint64_t n, bool b) {
  if (m == n) return b ? "" : "S";
  const uint64_t k = RefSplit(n);
  return m <= k ? SubproofSchedule(m, k, b) + 'N' : SubproofSchedule(m - k, n - k, false) + 'B';
}

inline std::string ConsistencySchedule(uint64_t size1, uint64_t size2) {
  if (size1 > size2) return "invalid";
  if (size1 == 0 || size1 == size2) return "trivial";
  return SubproofSchedule(size1, size2, true);
}

}  // namespace tokenaudit::merkle::testing

#endif  // TOKENAUDIT_MERKLE_MERKLE_TESTUTIL_H_
