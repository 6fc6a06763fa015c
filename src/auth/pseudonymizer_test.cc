#include "src/auth/pseudonymizer.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/util/hex.h"

namespace tokenaudit::auth {
namespace {

std::string Secret() {
  std::string s;
  for (int i = 0; i < 32; ++i) s.push_back(static_cast<char>(i));
  return s;
}

std::unique_ptr<Pseudonymizer> Make(const std::string& secret) {
  Result<std::unique_ptr<Pseudonymizer>> p = Pseudonymizer::Create(secret);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : nullptr;
}

// The one-shot, deprecated-style HMAC() and OpenSSL's own base64 encoder: a computation that
// shares no code with Pseudonymizer.
std::string ReferenceHmac(const std::string& secret, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string ReferencePseudonym(const std::string& secret, const std::string& raw) {
  const std::string mac = ReferenceHmac(secret, raw);
  unsigned char b64[64];
  EVP_EncodeBlock(b64, reinterpret_cast<const unsigned char*>(mac.data()),
                  static_cast<int>(mac.size()));
  std::string s(reinterpret_cast<char*>(b64));
  std::replace(s.begin(), s.end(), '+', '-');
  std::replace(s.begin(), s.end(), '/', '_');
  return "u_" + s.substr(0, 22);
}

TEST(PseudonymizerTest, KnownAnswers) {
  auto p = Make(Secret());
  // Python: "u_" + base64.urlsafe_b64encode(hmac.new(bytes(range(32)), raw, sha256).digest())[:22]
  EXPECT_EQ(p->UserPseudonym("alice"), "u_bu-tK-2Xttk-5mPWekS0YB");
  EXPECT_EQ(p->UserPseudonym(""), "u_04tCCW2A9F-Ca0Sp1WB95y");
  EXPECT_EQ(p->UserPseudonym("Zo\xc3\xab \xe6\x9d\x8e"), "u_VMoX4r33SQ4iNLkSIL-IMf");
  EXPECT_EQ(p->Redact("/home/alice/x.png"), "redacted:601c8a8cc8cf8243");
}

TEST(PseudonymizerTest, MatchesAnIndependentHmac) {
  const std::string secrets[] = {Secret(), std::string(32, '\0'), std::string(100, 'k')};
  const std::string names[] = {"alice", "bob", "", std::string(1000, 'x'), "a\0b", "user@x.org"};
  for (const std::string& secret : secrets) {
    auto p = Make(secret);
    for (const std::string& name : names) {
      EXPECT_EQ(p->UserPseudonym(name), ReferencePseudonym(secret, name)) << name;
      const std::string mac = ReferenceHmac(secret, "redact:" + name);
      EXPECT_EQ(p->Redact(name), "redacted:" + HexEncode(mac).substr(0, 16));
      const Sha256Digest digest = p->Mac(name);
      EXPECT_EQ(std::string(digest.begin(), digest.end()), ReferenceHmac(secret, name));
    }
  }
}

TEST(PseudonymizerTest, PseudonymsAreStableAndDependOnTheSecret) {
  auto a = Make(Secret());
  auto a2 = Make(Secret());
  std::string other_secret = Secret();
  other_secret[31] ^= 1;
  auto b = Make(other_secret);
  for (const char* name : {"alice", "bob", "carol"}) {
    EXPECT_EQ(a->UserPseudonym(name), a->UserPseudonym(name));
    EXPECT_EQ(a->UserPseudonym(name), a2->UserPseudonym(name));
    EXPECT_NE(a->UserPseudonym(name), b->UserPseudonym(name));
    EXPECT_NE(a->Redact(name), b->Redact(name));
  }
  EXPECT_NE(a->UserPseudonym("alice"), a->UserPseudonym("Alice"));
  // A pseudonym and a redaction of the same text are unrelated.
  EXPECT_NE(a->UserPseudonym("alice").substr(2, 16), a->Redact("alice").substr(9));
}

TEST(PseudonymizerTest, OutputHasTheDocumentedShape) {
  auto p = Make(Secret());
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string u = p->UserPseudonym("user" + std::to_string(i));
    ASSERT_EQ(u.size(), 24u);
    EXPECT_EQ(u.substr(0, 2), "u_");
    EXPECT_EQ(
        u.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 2),
        std::string::npos);
    seen.insert(u);
    const std::string r = p->Redact("v" + std::to_string(i));
    ASSERT_EQ(r.size(), 25u);
    EXPECT_EQ(r.substr(0, 9), "redacted:");
    EXPECT_EQ(r.find_first_not_of("0123456789abcdef", 9), std::string::npos);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(PseudonymizerTest, ShortSecretsAreRefused) {
  EXPECT_EQ(Pseudonymizer::Create(std::string(31, 'k')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Pseudonymizer::Create("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Pseudonymizer::Create(std::string(32, 'k')).ok());
}

TEST(PseudonymizerTest, ConcurrentCallersGetTheSameAnswers) {
  auto p = Make(Secret());
  std::vector<std::string> expected;
  for (int i = 0; i < 200; ++i) expected.push_back(ReferencePseudonym(Secret(), std::to_string(i)));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 20; ++round) {
        for (int i = 0; i < 200; ++i) {
          if (p->UserPseudonym(std::to_string(i)) != expected[i]) ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace tokenaudit::auth
