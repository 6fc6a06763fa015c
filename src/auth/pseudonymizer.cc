#include "src/auth/pseudonymizer.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstdlib>

#include "src/util/hex.h"

namespace tokenaudit::auth {
namespace {

// Contexts kept for reuse; more than this many concurrent callers allocate and free their own.
constexpr size_t kMaxIdleContexts = 64;

// An HMAC on an initialised context can only fail if OpenSSL cannot allocate; there is no useful
// way to continue without pseudonyms, and returning an unpseudonymised value would leak.
[[noreturn]] void DieOnOpenSslFailure(const char* what) {
  std::fprintf(stderr, "tokenaudit: OpenSSL HMAC failed in %s\n", what);
  std::abort();
}

// base64url (RFC 4648 §5) of the first 3*k bytes of `bytes`, 4*k characters, no padding needed.
std::string Base64UrlPrefix(const uint8_t* bytes, size_t groups) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve(4 * groups);
  for (size_t g = 0; g < groups; ++g) {
    const uint32_t v = (uint32_t{bytes[3 * g]} << 16) | (uint32_t{bytes[3 * g + 1]} << 8) |
                       uint32_t{bytes[3 * g + 2]};
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Pseudonymizer>> Pseudonymizer::Create(std::string_view secret) {
  if (secret.size() < kMinPseudonymSecretBytes) {
    return Status::InvalidArgument("pseudonym secret must be at least " +
                                   std::to_string(kMinPseudonymSecretBytes) + " bytes, got " +
                                   std::to_string(secret.size()));
  }
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
  if (mac == nullptr) return Status::Internal("OpenSSL provides no HMAC");
  EVP_MAC_CTX* keyed = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (keyed == nullptr || EVP_MAC_init(keyed, reinterpret_cast<const unsigned char*>(secret.data()),
                                       secret.size(), params) != 1) {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
    return Status::Internal("cannot initialise HMAC-SHA256");
  }
  return std::unique_ptr<Pseudonymizer>(new Pseudonymizer(mac, keyed));
}

Pseudonymizer::Pseudonymizer(evp_mac_st* mac, evp_mac_ctx_st* keyed) : mac_(mac), keyed_(keyed) {}

Pseudonymizer::~Pseudonymizer() {
  MutexLock l(&mu_);
  for (EVP_MAC_CTX* ctx : idle_) EVP_MAC_CTX_free(ctx);
  EVP_MAC_CTX_free(keyed_);
  EVP_MAC_free(mac_);
}

EVP_MAC_CTX* Pseudonymizer::Acquire() const {
  {
    MutexLock l(&mu_);
    if (!idle_.empty()) {
      EVP_MAC_CTX* ctx = idle_.back();
      idle_.pop_back();
      return ctx;
    }
  }
  // keyed_ is only read here; EVP_MAC_CTX_dup does not modify its source.
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed_);
  if (ctx == nullptr) DieOnOpenSslFailure("EVP_MAC_CTX_dup");
  return ctx;
}

void Pseudonymizer::Release(EVP_MAC_CTX* ctx) const {
  {
    MutexLock l(&mu_);
    if (idle_.size() < kMaxIdleContexts) {
      idle_.push_back(ctx);
      return;
    }
  }
  EVP_MAC_CTX_free(ctx);
}

Sha256Digest Pseudonymizer::Mac(std::string_view data) const {
  EVP_MAC_CTX* ctx = Acquire();
  Sha256Digest out;
  size_t out_len = 0;
  // A NULL key re-initialises with the key already set: HMAC restores its precomputed inner
  // state instead of hashing the key pads again (the expensive part of a fresh EVP_MAC_init).
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &out_len, out.size()) != 1 || out_len != out.size()) {
    DieOnOpenSslFailure("Pseudonymizer::Mac");
  }
  Release(ctx);
  return out;
}

std::string Pseudonymizer::UserPseudonym(std::string_view raw_user) const {
  const Sha256Digest mac = Mac(raw_user);
  // 6 groups of 3 bytes give 24 characters; the first 22 equal those of the full encoding.
  std::string out(kUserPseudonymPrefix);
  out += Base64UrlPrefix(mac.data(), 6).substr(0, kUserPseudonymChars);
  return out;
}

std::string Pseudonymizer::Redact(std::string_view value) const {
  std::string input = "redact:";
  input += value;
  const Sha256Digest mac = Mac(input);
  std::string out(kRedactedPrefix);
  out += HexEncode(mac.data(), kRedactedHexChars / 2);
  return out;
}

}  // namespace tokenaudit::auth
