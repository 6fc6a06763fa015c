#include "src/auth/key_file.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "src/auth/api_key.h"
#include "src/auth/key_file_format.h"

namespace tokenaudit::auth {
namespace {

const std::string kDigest = "3f9a0c1e" + std::string(56, 'b');

StoredKey Admin() {
  StoredKey k;
  k.digest_hex = kDigest;
  k.info.key_id = "3f9a0c1e";
  k.info.name = "ops-admin";
  k.info.role = Role::kAdmin;
  k.info.created_unix_micros = 1764496800123456;
  return k;
}

StoredKey User(std::string_view digest_hex) {
  StoredKey k;
  k.digest_hex = std::string(digest_hex);
  k.info.key_id = k.digest_hex.substr(0, 8);
  k.info.role = Role::kUser;
  k.info.user_pseudonym = "u_AbCdEfGhIjKlMnOpQrSt-_";
  k.info.tenant = "city-archive";
  k.info.created_unix_micros = 1;
  k.info.revoked = true;
  k.info.revoked_unix_micros = 2;
  return k;
}

TEST(KeyFileTest, EncodesTheDocumentedBytes) {
  EXPECT_EQ(EncodeKeyFile({}), "{\"format\":\"tokenaudit-api-keys\",\"version\":1}\n");
  EXPECT_EQ(EncodeKeyFile({Admin()}),
            "{\"format\":\"tokenaudit-api-keys\",\"version\":1}\n"
            "{\"created_unix_micros\":1764496800123456,\"key_id\":\"3f9a0c1e\",\"name\":"
            "\"ops-admin\",\"revoked\":false,\"revoked_unix_micros\":0,\"role\":\"admin\","
            "\"sha256\":\"" +
                kDigest + "\",\"tenant\":\"\",\"user_pseudonym\":\"\"}\n");
}

TEST(KeyFileTest, RoundTripsEveryKind) {
  StoredKey quoted = Admin();
  quoted.digest_hex = "00000000" + std::string(56, '1');
  quoted.info.key_id = "00000000";
  quoted.info.name = "build \"nightly\" \\ 人物黑白修复";
  quoted.info.role = Role::kIngest;
  quoted.info.tenant = "t-1";
  std::vector<StoredKey> keys = {Admin(), User("ffffffff" + std::string(56, '0')), quoted};
  const std::string file = EncodeKeyFile(keys);
  Result<std::vector<StoredKey>> decoded = DecodeKeyFile(file);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, keys);
  EXPECT_NE(file.find("\\\"nightly\\\" \\\\ "), std::string::npos);
}

TEST(KeyFileTest, HeaderOnlyIsEmptyAndEmptyFileIsCorrupt) {
  Result<std::vector<StoredKey>> decoded = DecodeKeyFile(kKeyFileHeader);
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->empty());
  EXPECT_TRUE(DecodeKeyFile("").status().IsCorruption());
  EXPECT_TRUE(DecodeKeyFile("{\"format\":\"tokenaudit-api-keys\",\"version\":2}\n")
                  .status()
                  .IsCorruption());
}

TEST(KeyFileTest, RejectsAnythingTheEncoderWouldNotWrite) {
  const std::string header(kKeyFileHeader);
  const std::string good = EncodeKeyFile({Admin()}).substr(header.size());
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string line = good;
    const size_t pos = line.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    if (pos != std::string::npos) line.replace(pos, from.size(), to);
    return header + line;
  };
  const std::string bad[] = {
      header + good.substr(0, good.size() - 1),                           // no final newline
      header + good + good,                                               // key_id twice
      replaced("{\"created", "{ \"created"),                              // whitespace
      replaced("1764496800123456", "01764496800123456"),                  // leading zero
      replaced("1764496800123456", "-1"),                                 // negative
      replaced("1764496800123456", "99999999999999999999"),               // overflow
      replaced("\"admin\"", "\"root\""),                                  // unknown role
      replaced("\"3f9a0c1e\"", "\"3f9a0c1f\""),                           // id is not digest prefix
      replaced(kDigest, "3F9A0C1E" + std::string(56, 'B')),               // upper-case hex
      replaced("\"revoked\":false", "\"revoked\":true"),                  // revoked without time
      replaced("\"user_pseudonym\":\"\"", "\"user_pseudonym\":\"u_x\""),  // pseudonym on admin
      replaced("\"ops-admin\"", "\"\""),                                  // admin without name
      replaced("\"ops-admin\"", "\"ops\\u0001admin\""),                   // control character
      replaced("\"ops-admin\"", "\"ops\\u0041dmin\""),                    // needless escape
      replaced("\"ops-admin\"", "\"ops\\nadmin\""),                       // unsupported escape
      replaced("\"ops-admin\"",
               "\"ops\xff"
               "admin\""),                             // not UTF-8
      replaced(",\"tenant\":\"\"", ""),                // member missing
      replaced("\"key_id\"", "\"key_Id\""),            // member renamed
      replaced("\"revoked\":false", "\"revoked\":0"),  // wrong type
      replaced("}\n", "}x\n"),                         // trailing bytes
      replaced("}\n", "}\r\n"),                        // CRLF
  };
  for (const std::string& file : bad) {
    Result<std::vector<StoredKey>> decoded = DecodeKeyFile(file);
    EXPECT_TRUE(decoded.status().IsCorruption()) << file << "\n" << decoded.status();
  }
  Result<std::vector<StoredKey>> err = DecodeKeyFile(header + good + "{}\n");
  EXPECT_NE(err.status().message().find("line 3"), std::string_view::npos) << err.status();
}

TEST(KeyFileTest, AUserKeyHoldsAWellFormedPseudonymAndNoName) {
  StoredKey user = User("ffffffff" + std::string(56, '0'));
  EXPECT_TRUE(ValidateStoredKey(user).ok());
  for (const char* bad : {"", "u_short", "x_AbCdEfGhIjKlMnOpQrSt-_", "u_AbCdEfGhIjKlMnOpQrSt+/",
                          "u_AbCdEfGhIjKlMnOpQrSt-_x"}) {
    StoredKey k = user;
    k.info.user_pseudonym = bad;
    EXPECT_EQ(ValidateStoredKey(k).code(), StatusCode::kInvalidArgument) << bad;
  }
  StoredKey named = user;
  named.info.name = "alice";
  EXPECT_EQ(ValidateStoredKey(named).code(), StatusCode::kInvalidArgument);
}

TEST(KeyFileTest, RandomDamageNeverCrashesAndNeverYieldsANonCanonicalFile) {
  const std::string file = EncodeKeyFile(
      {Admin(), User("ffffffff" + std::string(56, '0')), User("0000aaaa" + std::string(56, 'c'))});
  std::mt19937_64 rng(42);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string damaged = file;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % damaged.size();
      switch (rng() % 4) {
        case 0:
          damaged[pos] = static_cast<char>(rng());
          break;
        case 1:
          damaged.erase(pos, 1 + rng() % 8);
          break;
        case 2:
          damaged.insert(pos, 1, static_cast<char>(rng()));
          break;
        default:
          damaged.resize(pos);
          break;
      }
      if (damaged.empty()) break;
    }
    Result<std::vector<StoredKey>> decoded = DecodeKeyFile(damaged);
    if (decoded.ok()) {
      ++accepted;
      EXPECT_EQ(EncodeKeyFile(*decoded), damaged);
    } else {
      EXPECT_TRUE(decoded.status().IsCorruption()) << decoded.status();
    }
  }
  EXPECT_LT(accepted, 2000);  // mostly whole-line truncations and harmless in-string edits
}

TEST(KeyFileTest, CheckKeyTextAcceptsUtf8LabelsOnly) {
  EXPECT_TRUE(CheckKeyText("name", "ci-ingest", 200).ok());
  EXPECT_TRUE(CheckKeyText("name", "DDColor人物黑白修复 🎨", 200).ok());
  EXPECT_TRUE(CheckKeyText("name", "", 200).ok());
  for (std::string_view bad :
       {std::string_view("a\tb"), std::string_view("a\nb"), std::string_view("\x7f"),
        std::string_view(" lead"), std::string_view("trail "), std::string_view("\xc3"),
        std::string_view("\xc0\xaf"), std::string_view("\xed\xa0\x80"),
        std::string_view("\xf4\x90\x80\x80")}) {
    EXPECT_EQ(CheckKeyText("name", bad, 200).code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(CheckKeyText("name", std::string(201, 'a'), 200).ok());
}

}  // namespace
}  // namespace tokenaudit::auth
