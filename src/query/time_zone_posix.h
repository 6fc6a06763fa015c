// POSIX TZ rule strings, as found in the footer of TZif files (RFC 8536 section 3.3): how a zone
// keeps time after the last transition of its table, e.g. "CET-1CEST,M3.5.0,M10.5.0/3".
//
// Accepted grammar (POSIX.1-2017 section 8.3 with the RFC 8536 extensions):
//   std offset [dst [offset] , start[/time] , end[/time]]
//   names:   three or more letters, or <...> holding three or more of [A-Za-z0-9+-]
//   offset:  [+-]hh[:mm[:ss]], hh 0..24, hours *west* of UTC as POSIX has it ("CET-1" is UTC+1)
//   date:    Jn (1..365, February 29 never counted), n (0..365, counted), Mm.w.d (month 1..12,
//            week 1..5 where 5 is the last, weekday 0..6 from Sunday)
//   time:    [+-]hh[:mm[:ss]], hh 0..167 (RFC 8536 allows -167..167), default 02:00:00
// A dst name without rules is refused (POSIX leaves the rules implementation-defined). The empty
// string, spaces, a leading ':' (implementation-defined form) and trailing characters are refused.
//
// Thread-safety: PosixTzRule is an immutable value; all functions are pure.

#ifndef TOKENAUDIT_QUERY_TIME_ZONE_POSIX_H_
#define TOKENAUDIT_QUERY_TIME_ZONE_POSIX_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "tokenaudit/result.h"

namespace tokenaudit::query {

// A span of Unix seconds [start, end) over which the UTC offset does not change.
struct OffsetSpan {
  static constexpr int64_t kMinusInfinity = INT64_MIN;
  static constexpr int64_t kPlusInfinity = INT64_MAX;
  int64_t start;       // first second of the span, or kMinusInfinity
  int64_t end;         // first second after it, or kPlusInfinity
  int32_t utc_offset;  // seconds east of UTC
};

struct PosixTzRule {
  struct TransitionDate {
    enum class Kind { kJulianNoLeap, kZeroBasedDay, kMonthWeekDay };
    Kind kind = Kind::kMonthWeekDay;
    int day = 0;      // Jn: 1..365; n: 0..365
    int month = 0;    // Mm.w.d
    int week = 0;     // 1..5
    int weekday = 0;  // 0..6, Sunday = 0
    int32_t time = 7200;  // seconds after local midnight of that date, -167 h .. 167 h
  };

  std::string std_abbreviation;
  int32_t std_offset = 0;  // seconds east of UTC (the negation of the POSIX value)
  bool has_dst = false;
  std::string dst_abbreviation;
  int32_t dst_offset = 0;  // seconds east of UTC; std_offset + 3600 when not given
  TransitionDate dst_start;  // in standard local time
  TransitionDate dst_end;    // in daylight local time
};

// Parses `spec`; InvalidArgument naming the problem when it does not follow the grammar above.
Result<PosixTzRule> ParsePosixTz(std::string_view spec);

// The span of constant offset that contains `unix_seconds` under `rule`. Without DST (or with a
// DST offset equal to the standard one) the span is unbounded. With DST it runs between the
// rule's transitions before and after the instant (proleptic Gregorian calendar, any year);
// transitions that do not change the offset are skipped, so a rule on daylight time all year
// (zic's "EST5EDT,0/0,J365/25") gives one unbounded span. Instants beyond +-2^52 s (about 142
// million years) are treated as +-2^52.
OffsetSpan PosixSpanAt(const PosixTzRule& rule, int64_t unix_seconds);

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_TIME_ZONE_POSIX_H_
