#include "src/auth/api_key.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "src/auth/role.h"

namespace tokenaudit::auth {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// CRC-32C bit by bit (reflected polynomial 0x82F63B78), independent of src/util/crc32c.
uint32_t ReferenceCrc32c(std::string_view s) {
  uint32_t crc = 0xffffffffu;
  for (char c : s) {
    crc ^= static_cast<unsigned char>(c);
    for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

std::string ReferenceChecksum(std::string_view head) {
  uint64_t v = ReferenceCrc32c(head);
  std::string out;
  for (int i = 0; i < 6; ++i) {
    out.insert(out.begin(), kBase62[v % 62]);
    v /= 62;
  }
  return out;
}

std::string NewKey() {
  Result<std::string> key = GenerateKey();
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? *key : std::string();
}

TEST(ApiKeyTest, GeneratedKeyHasTheDocumentedShape) {
  const std::string key = NewKey();
  ASSERT_EQ(key.size(), kKeyLength);
  EXPECT_EQ(key.size(), 53u);
  EXPECT_EQ(key.substr(0, 3), "ta_");
  EXPECT_EQ(key[46], '_');
  for (size_t i = 3; i < 46; ++i) EXPECT_NE(kBase62.find(key[i]), std::string_view::npos) << i;
  EXPECT_EQ(key.substr(47), ReferenceChecksum(key.substr(0, 46)));
  Result<ParsedKey> parsed = ParseKey(key);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->text, key);
  EXPECT_EQ(parsed->random_part, key.substr(3, 43));
  EXPECT_EQ(parsed->checksum, key.substr(47));
}

TEST(ApiKeyTest, ChecksumMatchesIndependentCrc32cAndBase62) {
  const std::string head = "ta_" + std::string(43, '0');
  EXPECT_EQ(KeyChecksum(head), ReferenceChecksum(head));
  // CRC-32C("123456789") = 0xE3069283 (RFC 3720 check value) = base62 "49la9j".
  EXPECT_EQ(ReferenceCrc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(KeyChecksum("123456789"), "49la9j");
  const std::string key = head + "_" + KeyChecksum(head);
  EXPECT_TRUE(ParseKey(key).ok());
}

TEST(ApiKeyTest, KeysAreDistinctAndUseTheWholeAlphabet) {
  std::set<std::string> keys;
  std::set<char> chars;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = NewKey();
    keys.insert(key);
    for (size_t j = 4; j < 46; ++j) chars.insert(key[j]);  // the first digit is < 62 too
  }
  EXPECT_EQ(keys.size(), 2000u);
  EXPECT_EQ(chars.size(), 62u);
}

TEST(ApiKeyTest, EverySingleCharacterTypoIsRejected) {
  const std::string alphabet = std::string(kBase62) + "_-+/=. \t\n\x7f\xc3";
  for (int k = 0; k < 20; ++k) {
    const std::string key = NewKey();
    for (size_t pos = 0; pos < key.size(); ++pos) {
      for (char c : alphabet) {
        if (c == key[pos]) continue;
        std::string typo = key;
        typo[pos] = c;
        Result<ParsedKey> parsed = ParseKey(typo);
        ASSERT_FALSE(parsed.ok()) << "substitution at " << pos;
        EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
      }
    }
  }
}

TEST(ApiKeyTest, AdjacentSwapsDroppedAndDoubledCharactersAreRejected) {
  for (int k = 0; k < 50; ++k) {
    const std::string key = NewKey();
    for (size_t pos = 0; pos + 1 < key.size(); ++pos) {
      std::string swapped = key;
      std::swap(swapped[pos], swapped[pos + 1]);
      if (swapped == key) continue;
      EXPECT_FALSE(ParseKey(swapped).ok()) << "swap at " << pos;
    }
    for (size_t pos = 0; pos < key.size(); ++pos) {
      std::string dropped = key;
      dropped.erase(pos, 1);
      EXPECT_FALSE(ParseKey(dropped).ok());
      std::string doubled = key;
      doubled.insert(pos, 1, key[pos]);
      EXPECT_FALSE(ParseKey(doubled).ok());
    }
  }
}

TEST(ApiKeyTest, MalformedKeysAreRejectedWithoutEchoingThem) {
  const std::string key = NewKey();
  const std::string bad[] = {
      "",
      "ta_",
      key + "\n",
      " " + key.substr(1),
      "TA_" + key.substr(3),
      "tb_" + key.substr(3),
      key.substr(0, 46) + "-" + key.substr(47),
      "Bearer " + key,
  };
  for (const std::string& b : bad) {
    Result<ParsedKey> parsed = ParseKey(b);
    ASSERT_FALSE(parsed.ok()) << b;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message().find(key.substr(3, 43)), std::string_view::npos);
  }
}

TEST(ApiKeyTest, DigestIsSha256OfTheWholeKeyAndIdIsItsPrefix) {
  EXPECT_EQ(KeyDigestHex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string key = NewKey();
  const std::string digest = KeyDigestHex(key);
  EXPECT_EQ(digest.size(), 64u);
  EXPECT_EQ(KeyIdOf(key), digest.substr(0, 8));
  EXPECT_EQ(KeyIdFromDigestHex(digest), digest.substr(0, kKeyIdLength));
}

TEST(ApiKeyTest, DigestsEqualComparesAllBytes) {
  Sha256Digest a = KeyDigest("x");
  Sha256Digest b = a;
  EXPECT_TRUE(DigestsEqual(a, b));
  for (size_t i = 0; i < b.size(); ++i) {
    Sha256Digest c = a;
    c[i] ^= 1;
    EXPECT_FALSE(DigestsEqual(a, c)) << i;
  }
}

TEST(RoleTest, NamesRoundTripAndAreExact) {
  for (Role role : {Role::kAdmin, Role::kAuditor, Role::kUser, Role::kIngest}) {
    Result<Role> parsed = ParseRole(RoleName(role));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, role);
  }
  EXPECT_EQ(RoleName(Role::kAuditor), "auditor");
  for (std::string_view bad : {"", "Admin", "root", "admin ", "users"}) {
    Result<Role> parsed = ParseRole(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace tokenaudit::auth
