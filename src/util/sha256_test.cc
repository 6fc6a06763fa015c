#include "src/util/sha256.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace tokenaudit {
namespace {

std::string Hex(const Sha256Digest& d) {
  std::string out;
  char buf[3];
  for (uint8_t b : d) {
    std::snprintf(buf, sizeof(buf), "%02x", b);
    out += buf;
  }
  return out;
}

// FIPS 180-2 Appendix B.
constexpr char kAbcDigest[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr char k448BitMessage[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr char k448BitDigest[] = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr char kMillionADigest[] =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
constexpr char kEmptyDigest[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(Sha256Test, EmptyInputMatchesFips180Vector) {
  EXPECT_EQ(Hex(Sha256Of("")), kEmptyDigest);
  Sha256 h;
  EXPECT_EQ(Hex(h.Finish()), kEmptyDigest);
}

TEST(Sha256Test, AbcMatchesFips180Vector) { EXPECT_EQ(Hex(Sha256Of("abc")), kAbcDigest); }

TEST(Sha256Test, TwoBlockMessageMatchesFips180Vector) {
  EXPECT_EQ(Hex(Sha256Of(k448BitMessage)), k448BitDigest);
}

TEST(Sha256Test, MillionAsMatchesFips180Vector) {
  EXPECT_EQ(Hex(Sha256Of(std::string(1'000'000, 'a'))), kMillionADigest);
  // Also in uneven chunks, crossing block boundaries at every offset.
  Sha256 h;
  const std::string chunk(997, 'a');
  size_t left = 1'000'000;
  while (left > 0) {
    const size_t n = std::min(left, chunk.size());
    h.Update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(Hex(h.Finish()), kMillionADigest);
}

TEST(Sha256Test, IncrementalEqualsOneShotForEverySplit) {
  std::string msg;
  for (int i = 0; i < 300; ++i) msg.push_back(static_cast<char>(i * 37 + 11));
  for (size_t len : {0, 1, 55, 56, 63, 64, 65, 119, 128, 300}) {
    const std::string_view m(msg.data(), len);
    const Sha256Digest want = Sha256Of(m);
    for (size_t split = 0; split <= len; ++split) {
      Sha256 h;
      h.Update(m.substr(0, split));
      h.Update(m.substr(split));
      ASSERT_EQ(h.Finish(), want) << "len " << len << " split " << split;
    }
  }
}

TEST(Sha256Test, ByteAtATimeEqualsOneShot) {
  Sha256 h;
  for (char c : std::string_view(k448BitMessage)) h.Update(&c, 1);
  EXPECT_EQ(Hex(h.Finish()), k448BitDigest);
}

TEST(Sha256Test, ResetStartsOver) {
  Sha256 h;
  h.Update("garbage that must not leak into the next digest");
  h.Reset();
  h.Update("abc");
  EXPECT_EQ(Hex(h.Finish()), kAbcDigest);
  h.Reset();
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(Hex(h.Finish()), kAbcDigest);
}

TEST(Sha256Test, EmptyUpdatesWithNullDataAreNoOps) {
  Sha256 h;
  h.Update(nullptr, 0);
  h.Update("abc");
  h.Update(std::string_view());
  EXPECT_EQ(Hex(h.Finish()), kAbcDigest);
}

std::string RandomBytes(std::mt19937_64* rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>((*rng)());
  return s;
}

// Two messages at once (SHA-NI where the CPU has it) against OpenSSL one by one: every pair of
// lengths around the padding edges (one or two padding blocks, equal and different block counts,
// so that one message runs on alone), 2,000 random pairs, and the same message twice.
TEST(Sha256Test, TwoAtOnceEqualsOneByOne) {
  std::printf("Sha256Of2 on SHA-NI: %s\n", Sha256UsesShaNi() ? "yes" : "no");
  std::mt19937_64 rng(7);
  std::vector<size_t> lengths = {0, 1, 300, 511, 1000};
  for (size_t n = 55; n <= 65; ++n) lengths.push_back(n);
  for (size_t n = 118; n <= 129; ++n) lengths.push_back(n);
  for (size_t na : lengths) {
    for (size_t nb : lengths) {
      const std::string a = RandomBytes(&rng, na), b = RandomBytes(&rng, nb);
      Sha256Digest da, db;
      Sha256Of2(a, b, &da, &db);
      ASSERT_EQ(da, Sha256Of(a)) << na << " with " << nb;
      ASSERT_EQ(db, Sha256Of(b)) << nb << " with " << na;
    }
  }
  for (int i = 0; i < 2000; ++i) {
    const std::string a = RandomBytes(&rng, rng() % 700), b = RandomBytes(&rng, rng() % 700);
    Sha256Digest da, db;
    Sha256Of2(a, b, &da, &db);
    ASSERT_EQ(da, Sha256Of(a)) << a.size() << " with " << b.size();
    ASSERT_EQ(db, Sha256Of(b)) << b.size() << " with " << a.size();
  }
  Sha256Digest d1, d2;
  Sha256Of2("abc", "abc", &d1, &d2);
  EXPECT_EQ(Hex(d1), kAbcDigest);
  EXPECT_EQ(Hex(d2), kAbcDigest);
  Sha256Of2(std::string(1'000'000, 'a'), k448BitMessage, &d1, &d2);
  EXPECT_EQ(Hex(d1), kMillionADigest);
  EXPECT_EQ(Hex(d2), k448BitDigest);
}

}  // namespace
}  // namespace tokenaudit
