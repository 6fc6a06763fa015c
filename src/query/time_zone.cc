#include "src/query/time_zone.h"

#include <algorithm>
#include <cstdio>

#include "src/query/time_zone_civil.h"

namespace tokenaudit::query {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerDay = 86400 * kMicrosPerSecond;
// Span ends are clamped this far outside the supported range: enough for any offset (< 26 h) and
// local arithmetic, far from int64 overflow.
constexpr int64_t kSpanSlackMicros = 4 * kMicrosPerDay;
// Equal-offset neighbours are merged this many times at most; real data needs one (where the
// table hands over to the footer rule) and rules that never change the offset are unbounded.
constexpr int kMaxCoalesce = 4;
// Footer-rule transitions before this instant (2100-01-01T00:00Z) are computed when a zone is
// loaded; later ones when asked for.
constexpr int64_t kPrecomputeRuleUntil = 4102444800;
// Calendar windows are extended over at most this many offset changes (real zones: one or two).
constexpr int kMaxCalendarSteps = 16;

int64_t SecondsToMicros(int64_t s) {
  constexpr int64_t kLo = TimeZone::kMinUnixMicros / kMicrosPerSecond - kSpanSlackMicros / kMicrosPerSecond;
  constexpr int64_t kHi = TimeZone::kMaxUnixMicros / kMicrosPerSecond + kSpanSlackMicros / kMicrosPerSecond;
  return std::clamp(s, kLo, kHi) * kMicrosPerSecond;
}

// The local unit [*lo, *hi) (local microseconds) that holds local time `local`.
void LocalUnit(int64_t local, Granularity g, int64_t* lo, int64_t* hi) {
  switch (g) {
    case Granularity::kMinute:
    case Granularity::kHour: {
      const int64_t len = (g == Granularity::kMinute ? 60 : 3600) * kMicrosPerSecond;
      *lo = civil::FloorDiv(local, len) * len;
      *hi = *lo + len;
      return;
    }
    case Granularity::kDay:
      *lo = civil::FloorDiv(local, kMicrosPerDay) * kMicrosPerDay;
      *hi = *lo + kMicrosPerDay;
      return;
    case Granularity::kWeek: {
      const int64_t days = civil::FloorDiv(local, kMicrosPerDay);
      const int64_t monday = days - civil::FloorMod(days + 3, 7);  // 1970-01-01 was a Thursday
      *lo = monday * kMicrosPerDay;
      *hi = *lo + 7 * kMicrosPerDay;
      return;
    }
    case Granularity::kMonth: {
      const civil::Date d = civil::CivilFromDays(civil::FloorDiv(local, kMicrosPerDay));
      *lo = civil::DaysFromCivil(d.year, d.month, 1) * kMicrosPerDay;
      *hi = d.month == 12 ? civil::DaysFromCivil(d.year + 1, 1, 1) * kMicrosPerDay
                          : civil::DaysFromCivil(d.year, d.month + 1, 1) * kMicrosPerDay;
      return;
    }
  }
}

bool IsClockGranularity(Granularity g) {
  return g == Granularity::kMinute || g == Granularity::kHour;
}

std::string OffsetName(int32_t offset) {
  const char sign = offset < 0 ? '-' : '+';
  const int32_t a = offset < 0 ? -offset : offset;
  char buf[16];
  if (a % 60 == 0) {
    std::snprintf(buf, sizeof buf, "%c%02d:%02d", sign, a / 3600, a / 60 % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%c%02d:%02d:%02d", sign, a / 3600, a / 60 % 60, a % 60);
  }
  return buf;
}

}  // namespace

std::string_view GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kMinute: return "minute";
    case Granularity::kHour: return "hour";
    case Granularity::kDay: return "day";
    case Granularity::kWeek: return "week";
    case Granularity::kMonth: return "month";
  }
  return "unknown";
}

Result<Granularity> ParseGranularity(std::string_view name) {
  for (Granularity g : {Granularity::kMinute, Granularity::kHour, Granularity::kDay,
                        Granularity::kWeek, Granularity::kMonth}) {
    if (GranularityName(g) == name) return g;
  }
  return Status::InvalidArgument("unknown time window \"" + std::string(name.substr(0, 32)) +
                                 "\" (minute, hour, day, week or month)");
}

std::shared_ptr<const TimeZone> TimeZone::Utc() {
  static const std::shared_ptr<const TimeZone> utc(new TimeZone("UTC"));
  return utc;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Fixed(int32_t utc_offset_seconds) {
  if (utc_offset_seconds < -kMaxFixedOffsetSeconds || utc_offset_seconds > kMaxFixedOffsetSeconds) {
    return Status::InvalidArgument("UTC offset beyond +-18:00");
  }
  std::shared_ptr<TimeZone> tz(new TimeZone(OffsetName(utc_offset_seconds)));
  tz->initial_offset_ = utc_offset_seconds;
  return std::shared_ptr<const TimeZone>(std::move(tz));
}

std::shared_ptr<const TimeZone> TimeZone::FromTzif(std::string name, const TzifData& tzif) {
  std::shared_ptr<TimeZone> tz(new TimeZone(std::move(name)));
  tz->initial_offset_ = tzif.types.empty() ? 0 : tzif.types[0].utc_offset;
  int32_t current = tz->initial_offset_;
  for (size_t i = 0; i < tzif.transition_times.size(); ++i) {
    const int32_t offset = tzif.types[tzif.transition_types[i]].utc_offset;
    if (offset == current) continue;  // abbreviation or isdst change only: not a window boundary
    tz->transition_at_.push_back(tzif.transition_times[i]);
    tz->offset_after_.push_back(offset);
    current = offset;
  }
  if (tzif.footer.has_value()) {
    tz->rule_ = tzif.footer;
    // The rule takes over at the file's last transition, even one that changed nothing above.
    if (!tzif.transition_times.empty() &&
        (tz->transition_at_.empty() || tz->transition_at_.back() != tzif.transition_times.back())) {
      tz->transition_at_.push_back(tzif.transition_times.back());
      tz->offset_after_.push_back(current);
    }
    // Evaluating the rule costs microseconds per lookup; a binary search a hundred nanoseconds.
    // So the rule's transitions up to kPrecomputeRuleUntil join the table (about two a year).
    // A zone without a table follows its rule at all times and keeps evaluating it.
    if (!tz->transition_at_.empty()) {
      int64_t at = tz->transition_at_.back();
      while (at < kPrecomputeRuleUntil) {
        const OffsetSpan span = PosixSpanAt(*tz->rule_, at);
        if (span.end == OffsetSpan::kPlusInfinity) break;
        at = span.end;
        const int32_t offset = PosixSpanAt(*tz->rule_, at).utc_offset;
        if (offset == tz->offset_after_.back()) continue;
        tz->transition_at_.push_back(at);
        tz->offset_after_.push_back(offset);
      }
    }
  }
  return tz;
}

OffsetSpan TimeZone::RawSpanAt(int64_t s) const {
  if (transition_at_.empty()) {
    if (rule_.has_value()) return PosixSpanAt(*rule_, s);
    return {OffsetSpan::kMinusInfinity, OffsetSpan::kPlusInfinity, initial_offset_};
  }
  const size_t after = static_cast<size_t>(
      std::upper_bound(transition_at_.begin(), transition_at_.end(), s) - transition_at_.begin());
  if (after == 0) return {OffsetSpan::kMinusInfinity, transition_at_[0], initial_offset_};
  const size_t i = after - 1;
  if (i + 1 < transition_at_.size()) {
    return {transition_at_[i], transition_at_[i + 1], offset_after_[i]};
  }
  if (!rule_.has_value()) return {transition_at_[i], OffsetSpan::kPlusInfinity, offset_after_[i]};
  OffsetSpan span = PosixSpanAt(*rule_, s);
  span.start = std::max(span.start, transition_at_[i]);
  return span;
}

OffsetSpan TimeZone::SpanAtSeconds(int64_t s) const {
  OffsetSpan span = RawSpanAt(s);
  for (int i = 0; i < kMaxCoalesce && span.start != OffsetSpan::kMinusInfinity; ++i) {
    const OffsetSpan before = RawSpanAt(span.start - 1);
    if (before.utc_offset != span.utc_offset) break;
    span.start = before.start;
  }
  for (int i = 0; i < kMaxCoalesce && span.end != OffsetSpan::kPlusInfinity; ++i) {
    const OffsetSpan after = RawSpanAt(span.end);
    if (after.utc_offset != span.utc_offset) break;
    span.end = after.end;
  }
  return span;
}

TimeZone::Span TimeZone::SpanAt(int64_t unix_micros) const {
  const OffsetSpan s = SpanAtSeconds(civil::FloorDiv(unix_micros, kMicrosPerSecond));
  return {s.start == OffsetSpan::kMinusInfinity ? kMinUnixMicros - kSpanSlackMicros
                                                : SecondsToMicros(s.start),
          s.end == OffsetSpan::kPlusInfinity ? kMaxUnixMicros + kSpanSlackMicros
                                             : SecondsToMicros(s.end),
          s.utc_offset};
}

int32_t TimeZone::UtcOffsetAt(int64_t unix_micros) const {
  return SpanAt(std::clamp(unix_micros, kMinUnixMicros, kMaxUnixMicros)).utc_offset;
}

int64_t TimeZone::Truncate(int64_t unix_micros, Granularity g) const {
  return std::max(WindowEdge(unix_micros, g, /*forward=*/false), kMinUnixMicros);
}

int64_t TimeZone::Next(int64_t unix_micros, Granularity g) const {
  return std::min(WindowEdge(unix_micros, g, /*forward=*/true), kMaxUnixMicros + 1);
}

int64_t TimeZone::WindowEdge(int64_t unix_micros, Granularity g, bool forward) const {
  const int64_t t = std::clamp(unix_micros, kMinUnixMicros, kMaxUnixMicros);
  Span span = SpanAt(t);
  int64_t lo = 0, hi = 0;  // the local unit holding t
  LocalUnit(t + span.utc_offset * kMicrosPerSecond, g, &lo, &hi);
  for (int step = 0;; ++step) {
    // Where this span's clock reaches the unit's edge, unless the span ends first.
    const int64_t edge = (forward ? hi : lo) - span.utc_offset * kMicrosPerSecond;
    const int64_t bound = forward ? span.end : span.start;
    if (forward ? edge < bound : edge >= bound) return edge;
    // Clock units stop at an offset change. Calendar units go on into the neighbouring span while
    // its clock still shows the same unit (a fall-back night inside one day).
    if (IsClockGranularity(g) || step == kMaxCalendarSteps) return bound;
    if (forward ? bound > kMaxUnixMicros : bound <= kMinUnixMicros) return bound;
    const int64_t probe = forward ? bound : bound - 1;
    const Span other = SpanAt(probe);
    const int64_t local = probe + other.utc_offset * kMicrosPerSecond;
    if (local < lo || local >= hi) return bound;
    span = other;
  }
}

}  // namespace tokenaudit::query
