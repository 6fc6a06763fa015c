// TimeZone: UTC offsets and local time windows (minute, hour, day, ISO week, month) of one zone,
// for grouping usage records by time in the zone a query names. doc/time_zones.md has the
// definitions with examples; TimeZoneDatabase (time_zone_database.h) loads zones by name.
//
// Instants are Unix microseconds (UTC, leap seconds not counted, as in usage records); offsets are
// seconds east of UTC. Supported instants are the years 0001..9999 UTC: inputs outside are clamped
// to that range first.
//
// Windows. Every zone partitions the time line into windows of each granularity;
// Truncate(t, g) is the start of the window holding t and Next(t, g) the start of the following
// one (the end of t's window), so for (w = Truncate(from, g); w < to; w = Next(w, g)) visits every
// window in order, each start being a UTC instant.
//   - minute, hour: local clock minutes/hours, measured in the offset in effect. A window never
//     spans an offset change, so each is one real minute/hour except where a change is not a
//     whole number of minutes/hours: in Europe/Berlin the autumn 02:00-03:00 hour exists twice
//     (two windows, +02:00 and +01:00), and in Australia/Lord_Howe (30-minute DST) the hour in
//     which the clock jumps is split into two half-hour windows at the jump.
//   - day, week (ISO: Monday 00:00 to Monday 00:00), month: local calendar units, from the first
//     instant the local clock shows the unit to the first instant it shows the next one. So a day
//     in Europe/Berlin is 23 h in the spring-forward night and 25 h in the fall-back one, and a
//     day whose midnight does not exist (DST starting at 00:00) starts at the transition.
//
// Cost: a binary search over the zone's transitions (those of its footer rule up to 2100 are
// computed at load); later instants evaluate the rule (microseconds). doc/time_zones.md.
//
// Thread-safety: immutable after construction; every method is const and safe to call from any
// number of threads. Shared as std::shared_ptr<const TimeZone>.

#ifndef TOKENAUDIT_QUERY_TIME_ZONE_H_
#define TOKENAUDIT_QUERY_TIME_ZONE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/query/time_zone_posix.h"
#include "src/query/time_zone_tzif.h"
#include "tokenaudit/result.h"

namespace tokenaudit::query {

enum class Granularity { kMinute, kHour, kDay, kWeek, kMonth };

// "minute", "hour", "day", "week", "month" (the spelling of the query API).
std::string_view GranularityName(Granularity g);
// Inverse of GranularityName; InvalidArgument for anything else.
Result<Granularity> ParseGranularity(std::string_view name);

class TimeZone {
 public:
  // First and last supported instant: 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
  static constexpr int64_t kMinUnixMicros = -62135596800LL * 1000000;
  static constexpr int64_t kMaxUnixMicros = 253402300799LL * 1000000 + 999999;
  // Largest accepted fixed offset: +-18:00, as java.time and RFC 3339 consumers accept.
  static constexpr int32_t kMaxFixedOffsetSeconds = 18 * 3600;

  // The UTC zone, named "UTC".
  static std::shared_ptr<const TimeZone> Utc();
  // A zone with a constant offset, named "+hh:mm" / "-hh:mm" (seconds kept if not zero).
  // InvalidArgument beyond +-kMaxFixedOffsetSeconds.
  static Result<std::shared_ptr<const TimeZone>> Fixed(int32_t utc_offset_seconds);
  // A zone from a parsed TZif file, called `name` (e.g. "Europe/Berlin").
  static std::shared_ptr<const TimeZone> FromTzif(std::string name, const TzifData& tzif);

  TimeZone(const TimeZone&) = delete;
  TimeZone& operator=(const TimeZone&) = delete;

  const std::string& name() const { return name_; }

  // Seconds east of UTC in effect at `unix_micros`.
  int32_t UtcOffsetAt(int64_t unix_micros) const;
  // Start (UTC) of the window of granularity `g` holding `unix_micros`; see the header comment.
  // Never below kMinUnixMicros.
  int64_t Truncate(int64_t unix_micros, Granularity g) const;
  // Start of the window after the one holding `unix_micros`: Next(Truncate(t)) > t always
  // (kMaxUnixMicros + 1 past the last window).
  int64_t Next(int64_t unix_micros, Granularity g) const;

 private:
  // Span of constant offset in microseconds: [start, end) clamped to the supported range
  // widened by a few days, so callers can do arithmetic on them.
  struct Span {
    int64_t start;
    int64_t end;
    int32_t utc_offset;
  };

  explicit TimeZone(std::string name) : name_(std::move(name)) {}

  OffsetSpan SpanAtSeconds(int64_t unix_seconds) const;  // coalesced, in seconds
  OffsetSpan RawSpanAt(int64_t unix_seconds) const;
  Span SpanAt(int64_t unix_micros) const;
  // Start (forward = false) or end (forward = true) of the window holding `unix_micros`.
  int64_t WindowEdge(int64_t unix_micros, Granularity g, bool forward) const;

  std::string name_;
  int32_t initial_offset_ = 0;           // before the first transition (or always, if none)
  std::vector<int64_t> transition_at_;   // Unix seconds, ascending; each changes the offset
  std::vector<int32_t> offset_after_;    // offset from transition_at_[i] on
  std::optional<PosixTzRule> rule_;      // from the last transition on (or always, if none)
};

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_TIME_ZONE_H_
