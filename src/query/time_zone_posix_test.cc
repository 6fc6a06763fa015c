#include "src/query/time_zone_posix.h"

#include <gtest/gtest.h>

#include "src/query/time_zone_civil.h"

namespace tokenaudit::query {
namespace {

using Kind = PosixTzRule::TransitionDate::Kind;

int64_t UtcSeconds(int64_t y, int m, int d, int hh, int mm = 0) {
  return civil::DaysFromCivil(y, m, d) * 86400 + hh * 3600 + mm * 60;
}

TEST(PosixTzTest, ParsesCentralEurope) {
  Result<PosixTzRule> r = ParsePosixTz("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->std_abbreviation, "CET");
  EXPECT_EQ(r->std_offset, 3600);
  EXPECT_TRUE(r->has_dst);
  EXPECT_EQ(r->dst_abbreviation, "CEST");
  EXPECT_EQ(r->dst_offset, 7200);
  EXPECT_EQ(r->dst_start.kind, Kind::kMonthWeekDay);
  EXPECT_EQ(r->dst_start.month, 3);
  EXPECT_EQ(r->dst_start.week, 5);
  EXPECT_EQ(r->dst_start.weekday, 0);
  EXPECT_EQ(r->dst_start.time, 7200);
  EXPECT_EQ(r->dst_end.month, 10);
  EXPECT_EQ(r->dst_end.time, 3 * 3600);
}

TEST(PosixTzTest, ParsesQuotedNamesHalfHoursAndNegativeTimes) {
  Result<PosixTzRule> lh = ParsePosixTz("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  ASSERT_TRUE(lh.ok()) << lh.status();
  EXPECT_EQ(lh->std_abbreviation, "+1030");
  EXPECT_EQ(lh->std_offset, 10 * 3600 + 1800);
  EXPECT_EQ(lh->dst_offset, 11 * 3600);
  Result<PosixTzRule> nuuk = ParsePosixTz("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  ASSERT_TRUE(nuuk.ok()) << nuuk.status();
  EXPECT_EQ(nuuk->std_offset, -7200);
  EXPECT_EQ(nuuk->dst_offset, -3600);
  EXPECT_EQ(nuuk->dst_start.time, -3600);
  EXPECT_EQ(nuuk->dst_end.time, 0);
  Result<PosixTzRule> ist = ParsePosixTz("IST-5:30");
  ASSERT_TRUE(ist.ok()) << ist.status();
  EXPECT_FALSE(ist->has_dst);
  EXPECT_EQ(ist->std_offset, 5 * 3600 + 1800);
  Result<PosixTzRule> odd = ParsePosixTz("AAA+3:15:30BBB2,J60/167,299/-167:59:59");
  ASSERT_TRUE(odd.ok()) << odd.status();
  EXPECT_EQ(odd->std_offset, -(3 * 3600 + 15 * 60 + 30));
  EXPECT_EQ(odd->dst_offset, -7200);
  EXPECT_EQ(odd->dst_start.kind, Kind::kJulianNoLeap);
  EXPECT_EQ(odd->dst_start.day, 60);
  EXPECT_EQ(odd->dst_start.time, 167 * 3600);
  EXPECT_EQ(odd->dst_end.kind, Kind::kZeroBasedDay);
  EXPECT_EQ(odd->dst_end.day, 299);
  EXPECT_EQ(odd->dst_end.time, -(167 * 3600 + 59 * 60 + 59));
}

TEST(PosixTzTest, RejectsMalformedRules) {
  for (const char* bad : {"", "C", "CE-1", "CET", "CET-", "CET-25", "CET-1:60", "CET-1CEST",
                          "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M0.5.0,M10.5.0",
                          "CET-1CEST,M3.6.0,M10.5.0", "CET-1CEST,M3.0.0,M10.5.0",
                          "CET-1CEST,M3.5.7,M10.5.0", "CET-1CEST,J0,J365", "CET-1CEST,J1,J366",
                          "CET-1CEST,0,366", "CET-1CEST,M3.5.0/168,M10.5.0",
                          "CET-1CEST,M3.5.0,M10.5.0x", "CET-1 CEST,M3.5.0,M10.5.0",
                          "<AB>1", "<A!C>1", "<ABC1", ":Europe/Berlin", "CET-1CEST-2",
                          "CET-001", "CET-1CEST,M3.5.0,M10.5.0/", "CET-1CEST,M3..0,M10.5.0"}) {
    Result<PosixTzRule> r = ParsePosixTz(bad);
    EXPECT_FALSE(r.ok()) << "accepted \"" << bad << "\"";
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(PosixTzTest, CentralEuropeSpans) {
  const PosixTzRule rule = *ParsePosixTz("CET-1CEST,M3.5.0,M10.5.0/3");
  // 2030: DST from Sunday 2030-03-31 01:00Z to Sunday 2030-10-27 01:00Z.
  const int64_t start = UtcSeconds(2030, 3, 31, 1), end = UtcSeconds(2030, 10, 27, 1);
  OffsetSpan summer = PosixSpanAt(rule, UtcSeconds(2030, 7, 1, 12));
  EXPECT_EQ(summer.utc_offset, 7200);
  EXPECT_EQ(summer.start, start);
  EXPECT_EQ(summer.end, end);
  EXPECT_EQ(PosixSpanAt(rule, start - 1).utc_offset, 3600);
  EXPECT_EQ(PosixSpanAt(rule, start).utc_offset, 7200);
  EXPECT_EQ(PosixSpanAt(rule, end - 1).utc_offset, 7200);
  OffsetSpan winter = PosixSpanAt(rule, end);
  EXPECT_EQ(winter.utc_offset, 3600);
  EXPECT_EQ(winter.start, end);
  EXPECT_EQ(winter.end, UtcSeconds(2031, 3, 30, 1));
}

TEST(PosixTzTest, SouthernHemisphereRuleWrapsTheYear) {
  const PosixTzRule rule = *ParsePosixTz("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  // January is summer: from Sunday 2029-10-07 02:00 +1030 to Sunday 2030-04-07 02:00 +11.
  OffsetSpan jan = PosixSpanAt(rule, UtcSeconds(2030, 1, 15, 0));
  EXPECT_EQ(jan.utc_offset, 11 * 3600);
  EXPECT_EQ(jan.start, UtcSeconds(2029, 10, 6, 15, 30));
  EXPECT_EQ(jan.end, UtcSeconds(2030, 4, 6, 15));
  EXPECT_EQ(PosixSpanAt(rule, UtcSeconds(2030, 7, 1, 0)).utc_offset, 10 * 3600 + 1800);
}

TEST(PosixTzTest, JulianDaysAndLastWeekdays) {
  // J60 is March 1 in every year; zero-based 59 is February 29 in leap years.
  const PosixTzRule j = *ParsePosixTz("AAA0BBB,J60/0,J300/0");
  EXPECT_EQ(PosixSpanAt(j, UtcSeconds(2028, 3, 1, 0)).start, UtcSeconds(2028, 3, 1, 0));
  EXPECT_EQ(PosixSpanAt(j, UtcSeconds(2027, 3, 1, 0)).start, UtcSeconds(2027, 3, 1, 0));
  const PosixTzRule n = *ParsePosixTz("AAA0BBB,59/0,299/0");
  EXPECT_EQ(PosixSpanAt(n, UtcSeconds(2028, 3, 1, 0)).start, UtcSeconds(2028, 2, 29, 0));
  EXPECT_EQ(PosixSpanAt(n, UtcSeconds(2027, 3, 1, 0)).start, UtcSeconds(2027, 3, 1, 0));
  // M2.5.0: the last Sunday of February (2032-02-29 is a Sunday in a leap year).
  const PosixTzRule m = *ParsePosixTz("AAA0BBB,M2.5.0/0,M11.1.0/0");
  EXPECT_EQ(PosixSpanAt(m, UtcSeconds(2032, 6, 1, 0)).start, UtcSeconds(2032, 2, 29, 0));
  EXPECT_EQ(PosixSpanAt(m, UtcSeconds(2031, 6, 1, 0)).start, UtcSeconds(2031, 2, 23, 0));
}

TEST(PosixTzTest, DaylightTimeAllYearHasNoTransitions) {
  // zic's encoding of permanent DST: starts Jan 1 00:00, ends Dec 31 25:00 (next year's start).
  const PosixTzRule rule = *ParsePosixTz("EST5EDT,0/0,J365/25");
  for (int64_t t : {UtcSeconds(2030, 1, 1, 5), UtcSeconds(2030, 1, 1, 6), UtcSeconds(2030, 7, 1, 0),
                    UtcSeconds(2030, 12, 31, 23)}) {
    OffsetSpan s = PosixSpanAt(rule, t);
    EXPECT_EQ(s.utc_offset, -4 * 3600) << t;
    EXPECT_EQ(s.end, OffsetSpan::kPlusInfinity) << t;
  }
}

TEST(PosixTzTest, NoDaylightTimeIsOneUnboundedSpan) {
  OffsetSpan s = PosixSpanAt(*ParsePosixTz("<-03>3"), 0);
  EXPECT_EQ(s.utc_offset, -3 * 3600);
  EXPECT_EQ(s.start, OffsetSpan::kMinusInfinity);
  EXPECT_EQ(s.end, OffsetSpan::kPlusInfinity);
  // An explicit DST offset equal to the standard one changes nothing.
  OffsetSpan same = PosixSpanAt(*ParsePosixTz("AAA3BBB3,M3.5.0,M10.5.0"), 12345);
  EXPECT_EQ(same.end, OffsetSpan::kPlusInfinity);
}

TEST(PosixTzTest, SpansContainTheirInstantForAnyYear) {
  const PosixTzRule rule = *ParsePosixTz("CET-1CEST,M3.5.0,M10.5.0/3");
  for (int64_t t = -62135596800; t < 253402300799; t += 86400 * 97 + 3607) {
    const OffsetSpan s = PosixSpanAt(rule, t);
    ASSERT_LE(s.start, t);
    ASSERT_GT(s.end, t);
    ASSERT_LT(s.end - s.start, 366 * 86400);
  }
}

}  // namespace
}  // namespace tokenaudit::query
