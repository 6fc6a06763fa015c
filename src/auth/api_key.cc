#include "src/auth/api_key.h"

#include <openssl/crypto.h>

#include <array>
#include <cstdint>

#include "src/util/crc32c.h"
#include "src/util/hex.h"
#include "src/util/random.h"

namespace tokenaudit::auth {
namespace {

constexpr std::string_view kBase62Digits =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kRandomBytes = 32;
constexpr size_t kHeadLength = 3 + kKeyRandomChars;  // "ta_" + random part

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool AllBase62(std::string_view s) {
  for (char c : s) {
    if (!IsBase62(c)) return false;
  }
  return true;
}

// Writes the big-endian number in `bytes` as exactly `width` base62 digits (most significant
// first). `width` must be large enough: 43 digits hold any 256-bit number.
std::string ToBase62(std::array<uint8_t, kRandomBytes> bytes, size_t width) {
  std::string out(width, '0');
  for (size_t i = width; i-- > 0;) {
    // Long division of the whole number by 62; the remainder is the next digit.
    uint32_t rem = 0;
    for (uint8_t& b : bytes) {
      const uint32_t cur = (rem << 8) | b;
      b = static_cast<uint8_t>(cur / 62);
      rem = cur % 62;
    }
    out[i] = kBase62Digits[rem];
  }
  return out;
}

}  // namespace

std::string KeyChecksum(std::string_view head) {
  uint32_t crc = crc32c::Value(head);
  std::string out(kKeyChecksumChars, '0');
  for (size_t i = kKeyChecksumChars; i-- > 0;) {
    out[i] = kBase62Digits[crc % 62];
    crc /= 62;
  }
  return out;
}

Result<std::string> GenerateKey() {
  std::array<uint8_t, kRandomBytes> random;
  RETURN_IF_ERROR(SecureRandomBytes(random.data(), random.size()));
  std::string key(kKeyPrefix);
  key += ToBase62(random, kKeyRandomChars);
  const std::string checksum = KeyChecksum(key);
  key += '_';
  key += checksum;
  OPENSSL_cleanse(random.data(), random.size());
  return key;
}

Result<ParsedKey> ParseKey(std::string_view key) {
  if (key.size() != kKeyLength) {
    return Status::InvalidArgument("malformed API key: expected " + std::to_string(kKeyLength) +
                                   " characters, got " + std::to_string(key.size()));
  }
  const std::string_view head = key.substr(0, kHeadLength);
  const std::string_view random_part = head.substr(kKeyPrefix.size());
  const std::string_view checksum = key.substr(kHeadLength + 1);
  if (key.substr(0, kKeyPrefix.size()) != kKeyPrefix || key[kHeadLength] != '_' ||
      !AllBase62(random_part) || !AllBase62(checksum)) {
    return Status::InvalidArgument(
        "malformed API key: expected ta_ + 43 letters and digits + _ + 6 letters and digits");
  }
  if (KeyChecksum(head) != checksum) {
    return Status::InvalidArgument("API key checksum does not match (mistyped or truncated key?)");
  }
  return ParsedKey{std::string(key), std::string(random_part), std::string(checksum)};
}

Sha256Digest KeyDigest(std::string_view key) { return Sha256Of(key); }

std::string KeyDigestHex(std::string_view key) {
  const Sha256Digest d = KeyDigest(key);
  return HexEncode(d.data(), d.size());
}

std::string KeyIdFromDigestHex(std::string_view digest_hex) {
  return std::string(digest_hex.substr(0, kKeyIdLength));
}

bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace tokenaudit::auth
