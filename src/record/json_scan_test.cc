#include "src/record/json_scan.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>

namespace tokenaudit::record {
namespace {

TEST(ScanJsonTextTest, CountsNestingOutsideStringsOnly) {
  EXPECT_EQ(ScanJsonText(R"({"a":[1,{"b":2}]})", 3), TextScan::kOk);
  EXPECT_EQ(ScanJsonText(R"({"a":[1,{"b":2}]})", 2), TextScan::kTooDeep);
  EXPECT_EQ(ScanJsonText(R"({"a":"[[[[{{{{"})", 1), TextScan::kOk);
  EXPECT_EQ(ScanJsonText(R"({"a":"\"[[[["})", 1), TextScan::kOk);
  EXPECT_EQ(ScanJsonText(R"({"a\\":[[1]]})", 2), TextScan::kTooDeep);  // \\ ends the escape
  EXPECT_EQ(ScanJsonText("[]", 0), TextScan::kTooDeep);
  EXPECT_EQ(ScanJsonText("123", 0), TextScan::kOk);
}

TEST(ScanJsonTextTest, HugeNestingStopsAtTheLimit) {
  const std::string deep(1'000'000, '[');
  EXPECT_EQ(ScanJsonText(deep, 32), TextScan::kTooDeep);
}

TEST(ScanJsonTextTest, RawControlBytesInStringsAreInvalid) {
  EXPECT_EQ(ScanJsonText("{\"a\":\"x\ny\"}", 8), TextScan::kInvalid);
  EXPECT_EQ(ScanJsonText(std::string("{\"a\":\"x\0y\"}", 11), 8), TextScan::kInvalid);
  EXPECT_EQ(ScanJsonText("{\"a\":\"x\\\ny\"}", 8), TextScan::kInvalid);
  EXPECT_EQ(ScanJsonText("{\n\"a\"\t:\r1}", 8), TextScan::kOk);  // whitespace between tokens
}

TEST(ScanJsonTextTest, TrailingContentAndStrayClosersAreInvalid) {
  EXPECT_EQ(ScanJsonText("{} \n", 8), TextScan::kOk);
  EXPECT_EQ(ScanJsonText("{}{}", 8), TextScan::kInvalid);
  EXPECT_EQ(ScanJsonText("[] x", 8), TextScan::kInvalid);
  EXPECT_EQ(ScanJsonText("}", 8), TextScan::kInvalid);
  EXPECT_EQ(ScanJsonText("[]]", 8), TextScan::kInvalid);
}

// The SIMD scan and the byte-at-a-time reference agree on every input: random texts over the
// bytes the state machine acts on (and some it must skip), at lengths around the 64-byte blocks.
TEST(ScanJsonTextTest, SimdScanEqualsTheScalarReference) {
  static constexpr char kAlphabet[] = {'"', '\\', '{', '}', '[', ']', ' ', '\n', '\t', 'a', ':',
                                       ',', '\x01', '\x1f', '\x7f', '\x80', '\xc3', '\xbb', '0'};
  std::mt19937_64 rng(2026);
  std::map<TextScan, int> outcomes;
  for (int round = 0; round < 200000; ++round) {
    const size_t len = rng() % 200;
    std::string text(len, ' ');
    // Mostly well-formed-looking objects, so the scan gets deep into the text.
    const bool object = rng() % 2 == 0;
    for (size_t i = 0; i < len; ++i) {
      text[i] = object && rng() % 4 != 0 ? "{\"ab\":[1,\"x\\\"y\"]}"[i % 17]
                                         : kAlphabet[rng() % sizeof(kAlphabet)];
    }
    const size_t depth = 1 + rng() % 4;
    const TextScan scan = ScanJsonText(text, depth);
    ASSERT_EQ(scan, ScanJsonTextScalar(text, depth))
        << "depth " << depth << " text " << ::testing::PrintToString(text);
    ++outcomes[scan];
  }
  EXPECT_GT(outcomes[TextScan::kOk], 1000);  // every outcome well represented
  EXPECT_GT(outcomes[TextScan::kTooDeep], 1000);
  EXPECT_GT(outcomes[TextScan::kInvalid], 1000);
}

TEST(ParseJsonNumberTokenTest, AcceptsTheRfc8259Grammar) {
  JsonNumber n;
  ASSERT_TRUE(ParseJsonNumberToken("0", &n));
  EXPECT_EQ(n.int_digits, "0");
  ASSERT_TRUE(ParseJsonNumberToken("-12.500 \n", &n));
  EXPECT_TRUE(n.negative);
  EXPECT_EQ(n.int_digits, "12");
  EXPECT_EQ(n.frac_digits, "500");
  EXPECT_TRUE(n.has_fraction);
  EXPECT_FALSE(n.has_exponent);
  ASSERT_TRUE(ParseJsonNumberToken("1E+400", &n));
  EXPECT_TRUE(n.has_exponent);
  ASSERT_TRUE(ParseJsonNumberToken("-0", &n));
  EXPECT_TRUE(n.negative);
  ASSERT_TRUE(ParseJsonNumberToken("18446744073709551616", &n));
  EXPECT_EQ(n.int_digits.size(), 20u);
}

TEST(ParseJsonNumberTokenTest, RefusesEverythingElse) {
  JsonNumber n;
  for (const char* bad : {"", "-", "+1", "01", "1.", ".5", "1e", "1e+", "1x", "0x10", "1 2", "NaN",
                          "Infinity", "--1", "1.2.3", "1e5.5", " 1"}) {
    EXPECT_FALSE(ParseJsonNumberToken(bad, &n)) << bad;
  }
}

}  // namespace
}  // namespace tokenaudit::record
