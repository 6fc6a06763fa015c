// Proleptic Gregorian calendar arithmetic on day numbers (days since 1970-01-01), for the time-zone
// code (Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms"). Pure functions, valid for
// every year an int64 day count can hold well beyond the years 1..9999 that time_zone.h supports.

#ifndef TOKENAUDIT_QUERY_TIME_ZONE_CIVIL_H_
#define TOKENAUDIT_QUERY_TIME_ZONE_CIVIL_H_

#include <cstdint>

namespace tokenaudit::query::civil {

struct Date {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};

constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}
constexpr int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

constexpr bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr int DaysInMonth(int64_t y, int m) {
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

constexpr int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

constexpr Date CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return Date{yoe + era * 400 + (m <= 2), m, d};
}

// 0 = Sunday .. 6 = Saturday (POSIX TZ rules count this way); 1970-01-01 was a Thursday.
constexpr int WeekdayFromDays(int64_t z) { return static_cast<int>(FloorMod(z + 4, 7)); }

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);
static_assert(CivilFromDays(11017).year == 2000 && CivilFromDays(11017).month == 3);
static_assert(WeekdayFromDays(0) == 4);

}  // namespace tokenaudit::query::civil

#endif  // TOKENAUDIT_QUERY_TIME_ZONE_CIVIL_H_
