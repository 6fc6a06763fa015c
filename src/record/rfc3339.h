// RFC 3339 date-times for usage records: parsing to UTC microseconds and the one canonical form.
//
// Accepted: `YYYY-MM-DDTHH:MM:SS[.f]Z` or with a `±HH:MM` offset instead of `Z`; `f` is 1 to 9
// digits; `T` and `Z` may be lower case (RFC 3339 §5.6 note). Fractions finer than a microsecond
// are truncated toward the past. Leap seconds (`:60`) are refused. The instant, after applying the
// offset, must lie in years 0000..9999 UTC so that the canonical form can always print it.
// Pure functions; thread-safe.

#ifndef TOKENAUDIT_RECORD_RFC3339_H_
#define TOKENAUDIT_RECORD_RFC3339_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tokenaudit::record {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

inline constexpr int64_t kMicrosPerSecond = 1'000'000;
inline constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;
// The range FormatRfc3339Micros can print: 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z.
inline constexpr int64_t kMinRfc3339Micros = DaysFromCivil(0, 1, 1) * kMicrosPerDay;
inline constexpr int64_t kMaxRfc3339Micros = DaysFromCivil(10000, 1, 1) * kMicrosPerDay - 1;

enum class TimeParse {
  kOk,
  kBadFormat,   // not the grammar above, or not a calendar date/time (Feb 30, 25:00)
  kOutOfRange,  // well formed, but a leap second or outside years 0000..9999 UTC
};

// Parses `text` into microseconds since 1970-01-01T00:00:00Z. `*micros` is set only on kOk.
TimeParse ParseRfc3339Micros(std::string_view text, int64_t* micros);

// Formats as "YYYY-MM-DDTHH:MM:SS.ffffffZ" (always 6 fractional digits, always Z).
// Precondition: kMinRfc3339Micros <= micros <= kMaxRfc3339Micros; values outside are clamped.
std::string FormatRfc3339Micros(int64_t micros);
// FormatRfc3339Micros appended to *out.
void AppendRfc3339Micros(std::string* out, int64_t micros);
// The length of every FormatRfc3339Micros result.
inline constexpr size_t kRfc3339MicrosSize = 27;
// FormatRfc3339Micros written at `out` (room for kRfc3339MicrosSize bytes); returns the end.
char* WriteRfc3339Micros(char* out, int64_t micros);

}  // namespace tokenaudit::record

#endif  // TOKENAUDIT_RECORD_RFC3339_H_
