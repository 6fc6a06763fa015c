// Fuzzes proof verification and hex parsing, whose inputs come from outside (HTTP clients,
// auditors): input = index u64 ‖ size u64 ‖ leaf 32 ‖ root 32 ‖ proof hashes (32 each), then the
// same bytes as hex text.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "tokenaudit/merkle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit::merkle;
  auto hex = HashFromHex(std::string_view(reinterpret_cast<const char*>(data), size));
  if (hex.ok() && ToHex(*hex).size() != 64) __builtin_trap();
  if (size < 80) return 0;
  uint64_t a, b;
  std::memcpy(&a, data, 8);
  std::memcpy(&b, data + 8, 8);
  Hash leaf, root;
  std::memcpy(leaf.data(), data + 16, 32);
  std::memcpy(root.data(), data + 48, 32);
  std::vector<Hash> proof((size - 80) / 32);
  for (size_t i = 0; i < proof.size(); ++i) std::memcpy(proof[i].data(), data + 80 + 32 * i, 32);
  // Bound sizes so a huge size cannot make a verifier loop long; proofs are short anyway.
  VerifyInclusion(a, b, leaf, proof, root).IgnoreError();
  VerifyConsistency(a, b, leaf, root, proof).IgnoreError();
  VerifyConsistency(a % 4096, b % 4096, leaf, root, proof).IgnoreError();
  VerifyInclusion(a % 4096, b % 4096, leaf, proof, root).IgnoreError();
  return 0;
}
