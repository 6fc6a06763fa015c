#include "src/util/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace tokenaudit::crc32c {
namespace {

TEST(Crc32cTest, KnownAnswers) {
  // RFC 3720 B.4 test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(Value(zeros), 0x8a9136aau);
  std::string ones(32, '\xff');
  EXPECT_EQ(Value(ones), 0x62a8ab43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(Value(inc), 0x46dd794eu);
  std::string dec(32, '\0');
  for (int i = 0; i < 32; ++i) dec[i] = static_cast<char>(31 - i);
  EXPECT_EQ(Value(dec), 0x113fdb5cu);
  EXPECT_EQ(Value("123456789"), 0xe3069283u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string s = "hello world, this is a longer string that spans several words";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_EQ(Extend(Value(s.substr(0, cut)), s.data() + cut, s.size() - cut), Value(s));
  }
}

TEST(Crc32cTest, HardwareAndPortableAgree) {
  std::mt19937_64 rng(42);
  for (size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 300u, 4096u, 100000u}) {
    std::string s(len, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    EXPECT_EQ(Value(s), ExtendPortable(0, s.data(), s.size())) << len;
    EXPECT_EQ(Extend(123, s.data(), s.size()), ExtendPortable(123, s.data(), s.size())) << len;
  }
}

// Every length and alignment around the three-stream block sizes (192 bytes and multiples).
TEST(Crc32cTest, HardwareAndPortableAgreeAtEveryLengthAndOffset) {
  std::mt19937_64 rng(7);
  std::string s(1100, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  for (size_t len = 0; len <= 1000; ++len) {
    for (size_t off : {size_t{0}, size_t{3}}) {
      ASSERT_EQ(Extend(0x5a5a, s.data() + off, len), ExtendPortable(0x5a5a, s.data() + off, len))
          << len << " at " << off;
    }
  }
}

TEST(Crc32cTest, MaskRoundTripsAndChangesValue) {
  uint32_t crc = Value("foo");
  EXPECT_NE(Mask(crc), crc);
  EXPECT_NE(Mask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Unmask(Mask(Mask(crc)))), crc);
}

}  // namespace
}  // namespace tokenaudit::crc32c
