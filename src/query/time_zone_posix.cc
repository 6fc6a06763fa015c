#include "src/query/time_zone_posix.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "src/query/time_zone_civil.h"

namespace tokenaudit::query {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  bool AtEnd() const { return pos_ == s_.size(); }
  bool Peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool Consume(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }
  bool PeekNameStart() const {
    return pos_ < s_.size() && (s_[pos_] == '<' || std::isalpha(static_cast<unsigned char>(s_[pos_])));
  }

  Status Name(std::string* out) {
    if (Consume('<')) {
      const size_t start = pos_;
      while (pos_ < s_.size() && s_[pos_] != '>') {
        const char c = s_[pos_];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') {
          return Status::InvalidArgument("bad character in quoted zone abbreviation");
        }
        ++pos_;
      }
      if (!Consume('>')) return Status::InvalidArgument("unterminated <abbreviation>");
      *out = std::string(s_.substr(start, pos_ - 1 - start));
    } else {
      const size_t start = pos_;
      while (pos_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      *out = std::string(s_.substr(start, pos_ - start));
    }
    if (out->size() < 3) return Status::InvalidArgument("zone abbreviation shorter than 3");
    return Status::OK();
  }

  // Reads 1..`max_digits` decimal digits as a number <= max.
  Status Number(int max_digits, int max, int* out) {
    int v = 0, digits = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])) &&
           digits < max_digits) {
      v = v * 10 + (s_[pos_++] - '0');
      ++digits;
    }
    if (digits == 0) return Status::InvalidArgument("expected a number");
    if (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      return Status::InvalidArgument("number too long");
    }
    if (v > max) return Status::InvalidArgument("number out of range");
    *out = v;
    return Status::OK();
  }

  // [+-]hh[:mm[:ss]] with hh <= max_hours, as signed seconds.
  Status Duration(int max_hours, int32_t* out) {
    int sign = 1;
    if (Consume('-')) {
      sign = -1;
    } else {
      Consume('+');
    }
    int h = 0, m = 0, sec = 0;
    RETURN_IF_ERROR(Number(max_hours > 99 ? 3 : 2, max_hours, &h));
    if (Consume(':')) {
      RETURN_IF_ERROR(Number(2, 59, &m));
      if (Consume(':')) RETURN_IF_ERROR(Number(2, 59, &sec));
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return Status::OK();
  }

  Status Date(PosixTzRule::TransitionDate* d) {
    using Kind = PosixTzRule::TransitionDate::Kind;
    if (Consume('J')) {
      d->kind = Kind::kJulianNoLeap;
      RETURN_IF_ERROR(Number(3, 365, &d->day));
      if (d->day < 1) return Status::InvalidArgument("Jn day must be 1..365");
    } else if (Consume('M')) {
      d->kind = Kind::kMonthWeekDay;
      RETURN_IF_ERROR(Number(2, 12, &d->month));
      if (d->month < 1) return Status::InvalidArgument("month must be 1..12");
      if (!Consume('.')) return Status::InvalidArgument("expected '.' in Mm.w.d");
      RETURN_IF_ERROR(Number(1, 5, &d->week));
      if (d->week < 1) return Status::InvalidArgument("week must be 1..5");
      if (!Consume('.')) return Status::InvalidArgument("expected '.' in Mm.w.d");
      RETURN_IF_ERROR(Number(1, 6, &d->weekday));
    } else {
      d->kind = Kind::kZeroBasedDay;
      RETURN_IF_ERROR(Number(3, 365, &d->day));
    }
    d->time = 7200;
    if (Consume('/')) RETURN_IF_ERROR(Duration(167, &d->time));
    return Status::OK();
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

// Local seconds (since 1970-01-01 00:00 local) at which `d` happens in `year`.
int64_t LocalTransition(const PosixTzRule::TransitionDate& d, int64_t year) {
  using Kind = PosixTzRule::TransitionDate::Kind;
  int64_t days = 0;
  switch (d.kind) {
    case Kind::kJulianNoLeap:
      days = civil::DaysFromCivil(year, 1, 1) + d.day - 1 +
             (civil::IsLeapYear(year) && d.day >= 60 ? 1 : 0);
      break;
    case Kind::kZeroBasedDay:
      days = civil::DaysFromCivil(year, 1, 1) + d.day;
      break;
    case Kind::kMonthWeekDay: {
      const int64_t first = civil::DaysFromCivil(year, d.month, 1);
      const int first_wd = civil::WeekdayFromDays(first);
      int64_t day = first + (d.weekday - first_wd + 7) % 7 + 7 * (d.week - 1);
      const int64_t month_end = first + civil::DaysInMonth(year, d.month);
      while (day >= month_end) day -= 7;  // week 5 means the last such weekday
      days = day;
      break;
    }
  }
  return days * 86400 + d.time;
}

}  // namespace

Result<PosixTzRule> ParsePosixTz(std::string_view spec) {
  PosixTzRule rule;
  Parser p(spec);
  auto fail = [&](const Status& s) {
    return s.WithContext("TZ rule \"" + std::string(spec.substr(0, 64)) + "\"");
  };
  if (Status s = p.Name(&rule.std_abbreviation); !s.ok()) return fail(s);
  int32_t west = 0;
  if (Status s = p.Duration(24, &west); !s.ok()) return fail(s);
  rule.std_offset = -west;
  if (p.AtEnd()) return rule;
  if (!p.PeekNameStart()) return fail(Status::InvalidArgument("unexpected character"));
  rule.has_dst = true;
  if (Status s = p.Name(&rule.dst_abbreviation); !s.ok()) return fail(s);
  rule.dst_offset = rule.std_offset + 3600;
  if (!p.Peek(',')) {
    if (p.AtEnd()) return fail(Status::InvalidArgument("daylight time without rules"));
    if (Status s = p.Duration(24, &west); !s.ok()) return fail(s);
    rule.dst_offset = -west;
  }
  if (!p.Consume(',')) return fail(Status::InvalidArgument("expected ',' before the DST start"));
  if (Status s = p.Date(&rule.dst_start); !s.ok()) return fail(s);
  if (!p.Consume(',')) return fail(Status::InvalidArgument("expected ',' before the DST end"));
  if (Status s = p.Date(&rule.dst_end); !s.ok()) return fail(s);
  if (!p.AtEnd()) return fail(Status::InvalidArgument("trailing characters"));
  return rule;
}

OffsetSpan PosixSpanAt(const PosixTzRule& rule, int64_t unix_seconds) {
  if (!rule.has_dst || rule.dst_offset == rule.std_offset) {
    return {OffsetSpan::kMinusInfinity, OffsetSpan::kPlusInfinity, rule.std_offset};
  }
  // Transitions of five years around the instant, in time order; at equal times the later year's
  // (and within a year the later-in-local-time) transition wins. Rule times of up to 167 hours can
  // move a transition into the neighbouring year, hence the margin of two years each way.
  struct Event {
    int64_t at;
    int order;
    int32_t offset_after;
  };
  std::array<Event, 10> events;
  constexpr int64_t kLimit = int64_t{1} << 52;  // keeps the calendar arithmetic far from overflow
  unix_seconds = std::clamp(unix_seconds, -kLimit, kLimit);
  const int64_t year = civil::CivilFromDays(civil::FloorDiv(unix_seconds, 86400)).year;
  int n = 0;
  for (int64_t y = year - 2; y <= year + 2; ++y) {
    const int64_t start_local = LocalTransition(rule.dst_start, y);
    const int64_t end_local = LocalTransition(rule.dst_end, y);
    const int base = static_cast<int>(y - year + 2) * 2;
    const bool start_first = start_local <= end_local;
    events[n++] = {start_local - rule.std_offset, base + (start_first ? 0 : 1), rule.dst_offset};
    events[n++] = {end_local - rule.dst_offset, base + (start_first ? 1 : 0), rule.std_offset};
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.at != b.at ? a.at < b.at : a.order < b.order;
  });
  // Of several transitions at one instant only the last takes effect.
  int m = 0;
  for (int i = 0; i < n; ++i) {
    if (m > 0 && events[m - 1].at == events[i].at) --m;
    events[m++] = events[i];
  }
  n = m;
  // The last event at or before the instant sets the offset; the first one after it ends the span.
  int last = -1;
  for (int i = 0; i < n; ++i) {
    if (events[i].at <= unix_seconds) last = i;
  }
  // Only boundaries well inside the five years are reported: near the edges a transition of a
  // year not computed could coincide with one that was. A span reaching past them is unbounded
  // there (a rule that keeps one offset all year, or a real transition more than a year away,
  // which annual rules cannot have).
  const int64_t trusted_from = civil::DaysFromCivil(year - 2, 1, 1) * 86400 + 8 * 86400;
  const int64_t trusted_to = civil::DaysFromCivil(year + 3, 1, 1) * 86400 - 8 * 86400;
  OffsetSpan span{OffsetSpan::kMinusInfinity, OffsetSpan::kPlusInfinity, 0};
  if (last < 0) {
    // Unreachable for real years (two years of transitions precede the instant); fall back to the
    // state before the first event.
    span.utc_offset = events[0].offset_after == rule.dst_offset ? rule.std_offset : rule.dst_offset;
    span.end = events[0].at;
    return span;
  }
  span.utc_offset = events[last].offset_after;
  // Events that leave the offset unchanged do not bound the span.
  for (int i = last + 1; i < n; ++i) {
    if (events[i].offset_after != span.utc_offset) {
      if (events[i].at < trusted_to) span.end = events[i].at;
      break;
    }
  }
  int first = last;
  while (first > 0 && events[first - 1].offset_after == span.utc_offset) --first;
  if (first > 0 && events[first].at >= trusted_from) span.start = events[first].at;
  return span;
}

}  // namespace tokenaudit::query
