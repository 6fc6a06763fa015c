// The low-level SHA256_* interface is deprecated in OpenSSL 3 but is still exported and goes
// straight to the SHA-NI / AVX2 block function. EVP_DigestInit_ex/Update/Final with a reused
// EVP_MD_CTX costs a provider dispatch per call; for the short inputs we hash (65-byte node
// hashes, ~300-byte records) that overhead is a large fraction of the work, so we use the
// low-level calls (see the measurements in the merkle area's report).
#define OPENSSL_SUPPRESS_DEPRECATED

#include "src/util/sha256.h"

#include <openssl/sha.h>

#include <new>

namespace tokenaudit {

namespace {

static_assert(sizeof(SHA256_CTX) <= 128, "Sha256::state_ is too small for SHA256_CTX");
static_assert(alignof(SHA256_CTX) <= 16, "Sha256::state_ is under-aligned for SHA256_CTX");
static_assert(SHA256_DIGEST_LENGTH == std::tuple_size_v<Sha256Digest>);

SHA256_CTX* AsCtx(unsigned char* state) {
  return std::launder(reinterpret_cast<SHA256_CTX*>(state));
}

}  // namespace

Sha256::Sha256() {
  // SHA256_CTX is a trivial C struct; constructing it in place starts its lifetime.
  ::new (static_cast<void*>(state_)) SHA256_CTX;
  SHA256_Init(AsCtx(state_));
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t n) {
  if (n == 0) return;  // data may be null for an empty view
  SHA256_Update(AsCtx(state_), data, n);
}

Sha256Digest Sha256::Finish() {
  Sha256Digest out;
  SHA256_Final(out.data(), AsCtx(state_));
  return out;
}

void Sha256::Reset() { SHA256_Init(AsCtx(state_)); }

Sha256Digest Sha256Of(std::string_view data) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  if (!data.empty()) SHA256_Update(&ctx, data.data(), data.size());
  Sha256Digest out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

}  // namespace tokenaudit
