#include "src/record/rfc3339.h"

#include <algorithm>

namespace tokenaudit::record {
namespace {

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` ASCII digits at `pos`; false if any is not a digit or the text is short.
bool Digits(std::string_view s, size_t pos, size_t n, unsigned* out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  *out = v;
  return true;
}

// Writes the low `width` decimal digits of `v` (zero-padded) at `out`; returns the end.
char* PutDigits(char* out, int64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return out + width;
}

}  // namespace

TimeParse ParseRfc3339Micros(std::string_view s, int64_t* micros) {
  unsigned year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' ||
      !Digits(s, 17, 2, &second)) {
    return TimeParse::kBadFormat;
  }
  size_t pos = 19;
  int64_t frac_us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t ndigits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      // Digits past the sixth are read (they must be digits) and dropped: truncation.
      if (ndigits < 6) frac_us = frac_us * 10 + (s[pos] - '0');
      ++ndigits;
      ++pos;
    }
    if (ndigits == 0 || ndigits > 9) return TimeParse::kBadFormat;
    for (size_t i = ndigits; i < 6; ++i) frac_us *= 10;
  }
  if (pos >= s.size()) return TimeParse::kBadFormat;
  int64_t offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    unsigned oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return TimeParse::kBadFormat;
    }
    offset_minutes = (s[pos] == '-' ? -1 : 1) * static_cast<int64_t>(oh * 60 + om);
    pos += 6;
  } else {
    return TimeParse::kBadFormat;
  }
  if (pos != s.size()) return TimeParse::kBadFormat;
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month) || hour > 23 ||
      minute > 59 || second > 60) {
    return TimeParse::kBadFormat;
  }
  if (second == 60) return TimeParse::kOutOfRange;  // a leap second has no POSIX instant
  const int64_t local_seconds = DaysFromCivil(year, month, day) * 86'400 + int64_t{hour} * 3'600 +
                                int64_t{minute} * 60 + second;
  const int64_t utc = (local_seconds - offset_minutes * 60) * kMicrosPerSecond + frac_us;
  if (utc < kMinRfc3339Micros || utc > kMaxRfc3339Micros) return TimeParse::kOutOfRange;
  *micros = utc;
  return TimeParse::kOk;
}

std::string FormatRfc3339Micros(int64_t micros) {
  std::string out;
  AppendRfc3339Micros(&out, micros);
  return out;
}

void AppendRfc3339Micros(std::string* out, int64_t micros) {
  char buf[kRfc3339MicrosSize];
  out->append(buf, WriteRfc3339Micros(buf, micros));
}

char* WriteRfc3339Micros(char* out, int64_t micros) {
  micros = std::clamp(micros, kMinRfc3339Micros, kMaxRfc3339Micros);
  int64_t days = micros / kMicrosPerDay;
  int64_t rem = micros % kMicrosPerDay;
  if (rem < 0) {
    rem += kMicrosPerDay;
    --days;
  }
  // civil_from_days (H. Hinnant).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);

  out = PutDigits(out, year, 4);
  *out++ = '-';
  out = PutDigits(out, month, 2);
  *out++ = '-';
  out = PutDigits(out, day, 2);
  *out++ = 'T';
  const int64_t secs = rem / kMicrosPerSecond;
  out = PutDigits(out, secs / 3600, 2);
  *out++ = ':';
  out = PutDigits(out, secs / 60 % 60, 2);
  *out++ = ':';
  out = PutDigits(out, secs % 60, 2);
  *out++ = '.';
  out = PutDigits(out, rem % kMicrosPerSecond, 6);
  *out++ = 'Z';
  return out;
}

}  // namespace tokenaudit::record
