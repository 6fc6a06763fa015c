// API keys: generation, syntax and checksum, digests (DESIGN §5; byte format in
// doc/keys_format.md).
//
// A key is 53 ASCII characters:
//
//   ta_<43 base62 characters: 256 random bits>_<6 base62 characters: checksum>
//
// The checksum is CRC-32C of the first 46 characters ("ta_" and the random part), written as a
// 6-digit base62 number. A CRC detects every error burst up to 32 bits long, so every
// single-character typo and every swap of two adjacent characters fails ParseKey, before any
// lookup (as GitHub's tokens do). Base62 digits are 0-9, A-Z, a-z in that order.
//
// Keys are never stored: the key store keeps SHA-256(key) and compares digests in constant time.
// Every function here is thread-safe.

#ifndef TOKENAUDIT_SRC_AUTH_API_KEY_H_
#define TOKENAUDIT_SRC_AUTH_API_KEY_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "src/util/sha256.h"
#include "tokenaudit/result.h"

namespace tokenaudit::auth {

inline constexpr std::string_view kKeyPrefix = "ta_";
inline constexpr size_t kKeyRandomChars = 43;   // ceil(256 / log2(62))
inline constexpr size_t kKeyChecksumChars = 6;  // 62^6 > 2^32
inline constexpr size_t kKeyLength = 3 + kKeyRandomChars + 1 + kKeyChecksumChars;  // 53
inline constexpr size_t kKeyIdLength = 8;  // hex digits of the digest

// A key that passed ParseKey: well-formed and with a matching checksum. It may still be unknown
// or revoked; only KeyStore::Authenticate says whether it grants anything.
struct ParsedKey {
  std::string text;         // the whole key, kKeyLength characters
  std::string random_part;  // the kKeyRandomChars base62 characters after "ta_"
  std::string checksum;     // the kKeyChecksumChars base62 characters at the end
};

// Returns a new key made from 32 bytes of the OpenSSL CSPRNG; Internal if it fails.
Result<std::string> GenerateKey();

// Checks syntax and checksum. InvalidArgument for anything else; the message never repeats the
// input (it may be a secret with a typo in it).
Result<ParsedKey> ParseKey(std::string_view key);

// The checksum characters for `head` = "ta_" + random part; exposed for tests and tools.
std::string KeyChecksum(std::string_view head);

// SHA-256 of the key's bytes: what the key store keeps.
Sha256Digest KeyDigest(std::string_view key);
// The same as 64 lower-case hex digits.
std::string KeyDigestHex(std::string_view key);

// The public id of a key: the first kKeyIdLength hex digits of its digest. Safe to print and log.
std::string KeyIdFromDigestHex(std::string_view digest_hex);
inline std::string KeyIdOf(std::string_view key) { return KeyIdFromDigestHex(KeyDigestHex(key)); }

// Constant-time equality of two digests (CRYPTO_memcmp), so a timing side channel tells an
// attacker nothing about how much of a guessed digest matched.
bool DigestsEqual(const Sha256Digest& a, const Sha256Digest& b);

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_API_KEY_H_
