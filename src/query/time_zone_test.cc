#include "src/query/time_zone.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "src/query/time_zone_civil.h"
#include "src/query/time_zone_database.h"
#include "tokenaudit/env.h"

namespace tokenaudit::query {
namespace {

// Expected values below were obtained with GNU date and Debian's tzdata 2025b, e.g.
//   TZ=Europe/Berlin date -d '2025-03-30 00:00' +%s          -> local midnight as Unix seconds
//   TZ=Europe/Berlin date -d @1743296400 '+%F %T %z'         -> local time and offset
// and are hard-coded so the test does not depend on the C library.

constexpr int64_t Us(int64_t unix_seconds) { return unix_seconds * 1000000; }

class TimeZoneTest : public ::testing::Test {
 protected:
  std::shared_ptr<const TimeZone> Zone(const std::string& name) {
    Result<std::shared_ptr<const TimeZone>> tz = db_.Get(name);
    EXPECT_TRUE(tz.ok()) << name << ": " << tz.status();
    return tz.ok() ? *tz : TimeZone::Utc();
  }

  TimeZoneDatabase db_{Env::Default(), TA_QUERY_TEST_ZONEINFO};
};

// [start, end) (Unix seconds) is exactly one window of `g`: its first and last microsecond and a
// point inside truncate to start, and Next gives end from each of them.
void ExpectWindow(const TimeZone& tz, Granularity g, int64_t start, int64_t end) {
  SCOPED_TRACE(tz.name() + " " + std::string(GranularityName(g)) + " [" + std::to_string(start) +
               ", " + std::to_string(end) + ")");
  for (int64_t t : {Us(start), Us(start) + (Us(end) - Us(start)) / 2, Us(end) - 1}) {
    EXPECT_EQ(tz.Truncate(t, g), Us(start)) << "t=" << t;
    EXPECT_EQ(tz.Next(t, g), Us(end)) << "t=" << t;
  }
  EXPECT_EQ(tz.Truncate(Us(end), g), Us(end));
  EXPECT_LT(tz.Truncate(Us(start) - 1, g), Us(start));
}

TEST(GranularityTest, NamesRoundTrip) {
  for (Granularity g : {Granularity::kMinute, Granularity::kHour, Granularity::kDay,
                        Granularity::kWeek, Granularity::kMonth}) {
    Result<Granularity> back = ParseGranularity(GranularityName(g));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, g);
  }
  EXPECT_EQ(ParseGranularity("year").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(ParseGranularity("Day").ok());
}

TEST_F(TimeZoneTest, UtcWindows) {
  auto utc = TimeZone::Utc();
  EXPECT_EQ(utc->name(), "UTC");
  EXPECT_EQ(utc->UtcOffsetAt(Us(1743296400)), 0);
  // 2025-03-30T10:17:23.5Z
  const int64_t t = Us(1743329843) + 500000;
  EXPECT_EQ(utc->Truncate(t, Granularity::kMinute), Us(1743329820));
  EXPECT_EQ(utc->Truncate(t, Granularity::kHour), Us(1743328800));
  EXPECT_EQ(utc->Truncate(t, Granularity::kDay), Us(1743292800));
  EXPECT_EQ(utc->Truncate(t, Granularity::kWeek), Us(1742774400));   // Monday 2025-03-24
  EXPECT_EQ(utc->Truncate(t, Granularity::kMonth), Us(1740787200));  // 2025-03-01
  EXPECT_EQ(utc->Next(t, Granularity::kMonth), Us(1743465600));      // 2025-04-01
  // Before 1970 (floor, not truncation toward zero): 1969-12-31T23:59:59.5Z.
  EXPECT_EQ(utc->Truncate(-500000, Granularity::kDay), Us(-86400));
  EXPECT_EQ(utc->Truncate(-500000, Granularity::kWeek), Us(-3 * 86400));  // Monday 1969-12-29
}

TEST_F(TimeZoneTest, BerlinOffsetsAroundTransitions2025) {
  auto tz = Zone("Europe/Berlin");
  // 2025-03-30 01:59:59 +0100 -> 03:00:00 +0200 at 1743296400.
  EXPECT_EQ(tz->UtcOffsetAt(Us(1743296400) - 1), 3600);
  EXPECT_EQ(tz->UtcOffsetAt(Us(1743296400)), 7200);
  // 2025-10-26 02:59:59 +0200 -> 02:00:00 +0100 at 1761440400.
  EXPECT_EQ(tz->UtcOffsetAt(Us(1761440400) - 1), 7200);
  EXPECT_EQ(tz->UtcOffsetAt(Us(1761440400)), 3600);
}

TEST_F(TimeZoneTest, BerlinSpringForwardDayIs23HoursAndFallBackDayIs25) {
  auto tz = Zone("Europe/Berlin");
  // Local midnights: 2025-03-30 1743289200, 2025-03-31 1743372000.
  ExpectWindow(*tz, Granularity::kDay, 1743289200, 1743372000);
  EXPECT_EQ(1743372000 - 1743289200, 23 * 3600);
  // 2025-10-26 1761429600, 2025-10-27 1761519600.
  ExpectWindow(*tz, Granularity::kDay, 1761429600, 1761519600);
  EXPECT_EQ(1761519600 - 1761429600, 25 * 3600);
}

TEST_F(TimeZoneTest, BerlinHoursAcrossTransitions) {
  auto tz = Zone("Europe/Berlin");
  // Spring: 01:00-02:00 +0100, then 03:00-04:00 +0200 (02:xx does not exist).
  ExpectWindow(*tz, Granularity::kHour, 1743296400 - 3600, 1743296400);
  ExpectWindow(*tz, Granularity::kHour, 1743296400, 1743296400 + 3600);
  // Autumn: 02:00-03:00 happens twice, once per offset, each a window of its own.
  ExpectWindow(*tz, Granularity::kHour, 1761440400 - 3600, 1761440400);  // +0200
  ExpectWindow(*tz, Granularity::kHour, 1761440400, 1761440400 + 3600);  // +0100
  ExpectWindow(*tz, Granularity::kMinute, 1761440400 - 60, 1761440400);
  ExpectWindow(*tz, Granularity::kMinute, 1761440400, 1761440400 + 60);
}

TEST_F(TimeZoneTest, NewYorkTransitionsDaysAndTheWeekHoldingThem) {
  auto tz = Zone("America/New_York");
  // 2025-03-09 01:59:59 -0500 -> 03:00:00 -0400 at 1741503600.
  EXPECT_EQ(tz->UtcOffsetAt(Us(1741503600) - 1), -5 * 3600);
  EXPECT_EQ(tz->UtcOffsetAt(Us(1741503600)), -4 * 3600);
  // 2025-11-02 01:59:59 -0400 -> 01:00:00 -0500 at 1762063200.
  EXPECT_EQ(tz->UtcOffsetAt(Us(1762063200) - 1), -4 * 3600);
  EXPECT_EQ(tz->UtcOffsetAt(Us(1762063200)), -5 * 3600);
  ExpectWindow(*tz, Granularity::kDay, 1741496400, 1741579200);  // 2025-03-09: 23 h
  ExpectWindow(*tz, Granularity::kDay, 1762056000, 1762146000);  // 2025-11-02: 25 h
  // ISO week Monday 2025-03-03 .. Monday 2025-03-10: 7 days minus an hour.
  ExpectWindow(*tz, Granularity::kWeek, 1740978000, 1741579200);
  EXPECT_EQ(1741579200 - 1740978000, 7 * 86400 - 3600);
}

TEST_F(TimeZoneTest, LordHoweHalfHourDaylightSaving) {
  auto tz = Zone("Australia/Lord_Howe");
  // 2025-04-06 01:59:59 +1100 -> 01:30:00 +1030 at 1743865200.
  EXPECT_EQ(tz->UtcOffsetAt(Us(1743865200) - 1), 11 * 3600);
  EXPECT_EQ(tz->UtcOffsetAt(Us(1743865200)), 10 * 3600 + 1800);
  // 2025-10-05 01:59:59 +1030 -> 02:30:00 +1100 at 1759591800.
  EXPECT_EQ(tz->UtcOffsetAt(Us(1759591800) - 1), 10 * 3600 + 1800);
  EXPECT_EQ(tz->UtcOffsetAt(Us(1759591800)), 11 * 3600);
  // Days: 2025-04-06 is 24.5 h, 2025-10-05 is 23.5 h.
  ExpectWindow(*tz, Granularity::kDay, 1743858000, 1743946200);
  ExpectWindow(*tz, Granularity::kDay, 1759584600, 1759669200);
  // Autumn hours: 01:00-02:00 +1100 (1743861600 = TZ=... date -d '2025-04-06 01:00'), then the
  // repeated half hour 01:30-02:00 +1030, then 02:00-03:00 +1030.
  ExpectWindow(*tz, Granularity::kHour, 1743861600, 1743865200);
  ExpectWindow(*tz, Granularity::kHour, 1743865200, 1743865200 + 1800);
  ExpectWindow(*tz, Granularity::kHour, 1743865200 + 1800, 1743865200 + 1800 + 3600);
  // Spring hours: 01:00-02:00 +1030, then 02:30-03:00 +1100, then 03:00-04:00.
  ExpectWindow(*tz, Granularity::kHour, 1759591800 - 3600, 1759591800);
  ExpectWindow(*tz, Granularity::kHour, 1759591800, 1759591800 + 1800);
  ExpectWindow(*tz, Granularity::kHour, 1759591800 + 1800, 1759591800 + 1800 + 3600);
}

TEST_F(TimeZoneTest, KolkataIsFixedPlusFiveThirty) {
  auto tz = Zone("Asia/Kolkata");
  for (int64_t t : {int64_t{0}, int64_t{1750000000}, int64_t{4102444800}, int64_t{32503680000}}) {
    EXPECT_EQ(tz->UtcOffsetAt(Us(t)), 5 * 3600 + 1800) << t;
  }
  ExpectWindow(*tz, Granularity::kDay, 1749925800, 1750012200);  // 2025-06-15
  // Hours start at :30 UTC.
  EXPECT_EQ(tz->Truncate(Us(1750000000), Granularity::kHour), Us(1749999600 - 1800));
}

TEST_F(TimeZoneTest, DatesBeyond2037FollowTheFooterRule) {
  auto berlin = Zone("Europe/Berlin");
  // 2100-03-28 01:59:59 +0100 -> 03:00:00 +0200 at 4109878800.
  EXPECT_EQ(berlin->UtcOffsetAt(Us(4109878800) - 1), 3600);
  EXPECT_EQ(berlin->UtcOffsetAt(Us(4109878800)), 7200);
  ExpectWindow(*berlin, Granularity::kDay, 4109871600, 4109954400);  // 23 h
  auto ny = Zone("America/New_York");
  // 2060-11-07 01:59:59 -0400 -> 01:00:00 -0500 at 2867032800.
  EXPECT_EQ(ny->UtcOffsetAt(Us(2867032800) - 1), -4 * 3600);
  EXPECT_EQ(ny->UtcOffsetAt(Us(2867032800)), -5 * 3600);
  ExpectWindow(*ny, Granularity::kDay, 2867025600, 2867115600);  // 25 h
  // Year 5000: summer and winter time still alternate (5000-07-01 and 5000-01-15 12:00 UTC;
  // date -u -d "5000-07-01 12:00" +%s, then TZ=Europe/Berlin date -d @... +%z).
  EXPECT_EQ(berlin->UtcOffsetAt(Us(95633265600)), 7200);
  EXPECT_EQ(berlin->UtcOffsetAt(Us(95618836800)), 3600);
}

TEST_F(TimeZoneTest, MonthAndWeekWindowsAcrossTheYearEnd) {
  auto tz = Zone("Europe/Berlin");
  // Local 2025-12-01, 2026-01-01, 2026-02-01.
  ExpectWindow(*tz, Granularity::kMonth, 1764543600, 1767222000);
  ExpectWindow(*tz, Granularity::kMonth, 1767222000, 1769900400);
  // March 2025 holds the spring-forward night: 2025-03-01 +0100 .. 2025-04-01 +0200.
  ExpectWindow(*tz, Granularity::kMonth, 1740783600, 1743458400);
  // ISO week 1 of 2026 starts Monday 2025-12-29 and ends Monday 2026-01-05.
  ExpectWindow(*tz, Granularity::kWeek, 1766962800, 1767567600);
}

TEST_F(TimeZoneTest, DayStartsAtTheTransitionWhenMidnightIsSkipped) {
  auto tz = Zone("Asia/Beirut");  // DST starts and ends at 00:00 local
  // 2025-03-29 23:59:59 +0200 -> 2025-03-30 01:00:00 +0300 at 1743285600; 2025-03-31 00:00 is
  // 1743368400. The day is 23 h and starts at 01:00.
  ExpectWindow(*tz, Granularity::kDay, 1743285600, 1743368400);
  // 2025-10-25 23:59:59 +0300 -> 23:00:00 +0200 at 1761426000: the 25th is 25 h long, from
  // 1761339600 to 2025-10-26 00:00 +0200 = 1761429600, its 23:00 hour happening twice.
  ExpectWindow(*tz, Granularity::kDay, 1761339600, 1761429600);
  ExpectWindow(*tz, Granularity::kHour, 1761426000 - 3600, 1761426000);
  ExpectWindow(*tz, Granularity::kHour, 1761426000, 1761429600);
}

TEST_F(TimeZoneTest, LocalMeanTimeOffsetsWithSeconds) {
  auto tz = Zone("Europe/Berlin");
  // Berlin kept LMT +00:53:28 until 1893-03-31 23:59:59, then jumped to 00:06:32 CET at
  // -2422054408: 1893-04-01 starts at the jump, and minutes before it end at :32 seconds UTC.
  EXPECT_EQ(tz->UtcOffsetAt(Us(-2422054408) - 1), 53 * 60 + 28);
  EXPECT_EQ(tz->UtcOffsetAt(Us(-2422054408)), 3600);
  EXPECT_EQ(tz->Truncate(Us(-2422054408) + 1, Granularity::kDay), Us(-2422054408));
  EXPECT_EQ(tz->Truncate(Us(-2422054408) + 1, Granularity::kMonth), Us(-2422054408));
  EXPECT_EQ(tz->Truncate(Us(-2422054408) - 1, Granularity::kMinute), Us(-2422054408) - Us(60));
  EXPECT_EQ(tz->Next(Us(-2422054408) - Us(61), Granularity::kMinute), Us(-2422054408) - Us(60));
}

TEST_F(TimeZoneTest, FixedOffsetZones) {
  Result<std::shared_ptr<const TimeZone>> plus2 = db_.Get("+02:00");
  ASSERT_TRUE(plus2.ok()) << plus2.status();
  EXPECT_EQ((*plus2)->name(), "+02:00");
  EXPECT_EQ((*plus2)->UtcOffsetAt(0), 7200);
  // 2025-03-30 00:00 +02:00 is 1743285600.
  ExpectWindow(**plus2, Granularity::kDay, 1743285600, 1743285600 + 86400);
  Result<std::shared_ptr<const TimeZone>> minus = db_.Get("-05:30");
  ASSERT_TRUE(minus.ok()) << minus.status();
  EXPECT_EQ((*minus)->UtcOffsetAt(0), -(5 * 3600 + 1800));
  EXPECT_EQ((*minus)->Truncate(Us(0), Granularity::kDay), Us(-86400 + 5 * 3600 + 1800));
  EXPECT_FALSE(TimeZone::Fixed(18 * 3600 + 1).ok());
}

TEST_F(TimeZoneTest, ExtremeInstantsAreClamped) {
  auto tz = Zone("Europe/Berlin");
  for (int64_t t : {INT64_MIN, INT64_MAX, TimeZone::kMinUnixMicros, TimeZone::kMaxUnixMicros}) {
    for (Granularity g : {Granularity::kMinute, Granularity::kDay, Granularity::kMonth}) {
      const int64_t w = tz->Truncate(t, g);
      EXPECT_GE(w, TimeZone::kMinUnixMicros);
      EXPECT_LE(w, TimeZone::kMaxUnixMicros);
      EXPECT_GT(tz->Next(t, g), w);
      EXPECT_LE(tz->Next(t, g), TimeZone::kMaxUnixMicros + 1);
    }
  }
}

// Windows tile the time line: iterating with Next from any start visits contiguous windows, each
// of which truncates to itself, over two years around "now" in zones with odd rules.
TEST_F(TimeZoneTest, WindowsTileTheTimeLine) {
  const char* zones[] = {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                         "Asia/Kolkata", "Asia/Beirut", "America/Santiago", "Pacific/Chatham",
                         "Africa/Casablanca", "Antarctica/Troll", "Europe/Dublin"};
  for (const char* name : zones) {
    auto tz = Zone(name);
    for (Granularity g : {Granularity::kHour, Granularity::kDay, Granularity::kWeek,
                          Granularity::kMonth}) {
      const int64_t from = Us(1735689600), to = Us(1798761600);  // 2025-01-01 .. 2027-01-01
      int64_t w = tz->Truncate(from, g);
      ASSERT_LE(w, from);
      int windows = 0;
      while (w < to) {
        const int64_t next = tz->Next(w, g);
        ASSERT_GT(next, w) << name;
        ASSERT_EQ(tz->Truncate(w, g), w) << name << " " << GranularityName(g);
        ASSERT_EQ(tz->Truncate(next - 1, g), w) << name << " " << GranularityName(g);
        const int64_t hours = (next - w) / Us(3600);
        if (g == Granularity::kHour) {
          ASSERT_LE(hours, 1) << name;
        }
        if (g == Granularity::kDay) {
          ASSERT_GE(next - w, Us(22 * 3600)) << name;
          ASSERT_LE(next - w, Us(26 * 3600)) << name;
        }
        w = next;
        ++windows;
      }
      EXPECT_GT(windows, 20) << name;
    }
  }
}

// The C library is an independent reader of the same files: offsets agree for every installed
// zone at random instants of 1900..2300, and each day window holds exactly one local date.
TEST_F(TimeZoneTest, AgreesWithTheCLibraryForEveryInstalledZone) {
  std::vector<std::string> names;
  const std::filesystem::path root(TA_QUERY_TEST_ZONEINFO);
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = e.path().lexically_relative(root).string();
    if (rel.rfind("right/", 0) == 0 || rel.rfind("posix/", 0) == 0) continue;
    if (!ValidateZoneName(rel).ok()) continue;
    if (!db_.Get(rel).ok()) continue;  // not TZif (e.g. "leapseconds"); TzifTest checks files
    names.push_back(rel);
  }
  ASSERT_GT(names.size(), 300u);
  const char* old_tz = std::getenv("TZ");
  const std::string saved = old_tz ? old_tz : "";
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int64_t> when(-2208988800, 10413792000);  // 1900 .. 2300
  int mismatches = 0;
  for (const std::string& name : names) {
    setenv("TZ", (":" + root.string() + "/" + name).c_str(), 1);
    tzset();
    auto tz = Zone(name);
    for (int i = 0; i < 300; ++i) {
      const time_t t = when(rng);
      struct tm tm;
      ASSERT_NE(localtime_r(&t, &tm), nullptr);
      if (tz->UtcOffsetAt(Us(t)) != tm.tm_gmtoff && ++mismatches < 20) {
        ADD_FAILURE() << name << " at " << t << ": ours " << tz->UtcOffsetAt(Us(t)) << " libc "
                      << tm.tm_gmtoff;
      }
      const int64_t day = tz->Truncate(Us(t), Granularity::kDay);
      const time_t start = civil::FloorDiv(day, 1000000);
      const time_t last = civil::FloorDiv(tz->Next(Us(t), Granularity::kDay) - 1, 1000000);
      struct tm a, b;
      localtime_r(&start, &a);
      localtime_r(&last, &b);
      if ((a.tm_yday != tm.tm_yday || b.tm_yday != tm.tm_yday) && ++mismatches < 20) {
        ADD_FAILURE() << name << " day window of " << t << " is [" << start << ", " << last << "]";
      }
    }
  }
  if (old_tz) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace tokenaudit::query
