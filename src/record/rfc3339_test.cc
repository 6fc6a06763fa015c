#include "src/record/rfc3339.h"

#include <gtest/gtest.h>

#include <random>

namespace tokenaudit::record {
namespace {

int64_t ParseOk(std::string_view s) {
  int64_t us = -1;
  EXPECT_EQ(ParseRfc3339Micros(s, &us), TimeParse::kOk) << s;
  return us;
}

TEST(Rfc3339Test, ParsesUtcWithAndWithoutFraction) {
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseOk("2026-11-30T10:00:02.480000Z"), 1'796'032'802'480'000);
  EXPECT_EQ(ParseOk("2026-11-30T10:00:02.48Z"), 1'796'032'802'480'000);
  EXPECT_EQ(ParseOk("2026-11-30t10:00:02.48z"), 1'796'032'802'480'000);
  EXPECT_EQ(ParseOk("2026-11-30T10:00:02.4Z"), 1'796'032'802'400'000);
}

TEST(Rfc3339Test, OffsetsAreNormalizedToUtc) {
  EXPECT_EQ(ParseOk("2026-11-30T15:30:02.48+05:30"), 1'796'032'802'480'000);
  EXPECT_EQ(ParseOk("2026-11-30T02:00:02.48-08:00"), 1'796'032'802'480'000);
  EXPECT_EQ(ParseOk("2026-11-30T10:00:02.48-00:00"), 1'796'032'802'480'000);
  EXPECT_EQ(ParseOk("2026-12-01T09:59:02.48+23:59"), 1'796'032'802'480'000);
}

TEST(Rfc3339Test, SubMicrosecondDigitsAreTruncatedTowardThePast) {
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.123456999Z"), 123'456);
  EXPECT_EQ(ParseOk("1969-12-31T23:59:59.999999999Z"), -1);
}

TEST(Rfc3339Test, RefusesMalformedAndImpossibleDates) {
  int64_t us;
  for (const char* bad : {"",
                          "2026-11-30",
                          "2026-11-30T10:00:02",
                          "2026-11-30 10:00:02Z",
                          "2026-11-30T10:00Z",
                          "2026-11-30T10:00:02.Z",
                          "2026-11-30T10:00:02.1234567890Z",
                          "2026-13-01T00:00:00Z",
                          "2026-00-01T00:00:00Z",
                          "2026-02-29T00:00:00Z",
                          "2026-04-31T00:00:00Z",
                          "2026-11-30T24:00:00Z",
                          "2026-11-30T10:60:00Z",
                          "2026-11-30T10:00:61Z",
                          "2026-11-30T10:00:00+24:00",
                          "2026-11-30T10:00:00+05:60",
                          "2026-11-30T10:00:00+0530",
                          "2026-11-30T10:00:00ZZ",
                          "+2026-11-30T10:00:00Z",
                          "2026-11-30T10:00:00.5+05",
                          "２０２６-11-30T10:00:00Z",
                          "2026-11-30T10:00:00Z\n"}) {
    EXPECT_EQ(ParseRfc3339Micros(bad, &us), TimeParse::kBadFormat) << bad;
  }
  EXPECT_EQ(ParseOk("2024-02-29T00:00:00Z"), DaysFromCivil(2024, 2, 29) * kMicrosPerDay);
  EXPECT_EQ(ParseOk("2000-02-29T00:00:00Z"), DaysFromCivil(2000, 2, 29) * kMicrosPerDay);
  EXPECT_EQ(ParseRfc3339Micros("1900-02-29T00:00:00Z", &us), TimeParse::kBadFormat);
}

TEST(Rfc3339Test, LeapSecondsAndYearsOutsideTheRangeAreOutOfRange) {
  int64_t us;
  EXPECT_EQ(ParseRfc3339Micros("2016-12-31T23:59:60Z", &us), TimeParse::kOutOfRange);
  EXPECT_EQ(ParseRfc3339Micros("0000-01-01T00:00:00+00:01", &us), TimeParse::kOutOfRange);
  EXPECT_EQ(ParseRfc3339Micros("9999-12-31T23:59:59-00:01", &us), TimeParse::kOutOfRange);
  EXPECT_EQ(ParseOk("0000-01-01T00:00:00Z"), kMinRfc3339Micros);
  EXPECT_EQ(ParseOk("9999-12-31T23:59:59.999999999Z"), kMaxRfc3339Micros);
}

TEST(Rfc3339Test, FormatsWithSixDigitsAndZ) {
  EXPECT_EQ(FormatRfc3339Micros(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(1'796'032'802'480'000), "2026-11-30T10:00:02.480000Z");
  EXPECT_EQ(FormatRfc3339Micros(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatRfc3339Micros(kMinRfc3339Micros), "0000-01-01T00:00:00.000000Z");
  EXPECT_EQ(FormatRfc3339Micros(kMaxRfc3339Micros), "9999-12-31T23:59:59.999999Z");
}

TEST(Rfc3339Test, FormatThenParseIsIdentityOverTheWholeRange) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> dist(kMinRfc3339Micros, kMaxRfc3339Micros);
  for (int i = 0; i < 20000; ++i) {
    const int64_t us = dist(rng);
    EXPECT_EQ(ParseOk(FormatRfc3339Micros(us)), us);
  }
}

}  // namespace
}  // namespace tokenaudit::record
