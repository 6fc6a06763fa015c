// Strict reader of TZif files (RFC 8536), the compiled zone files of the IANA time zone database
// that Debian's tzdata installs under /usr/share/zoneinfo.
//
// Version 1 files are read from their 32-bit block; version 2 and later from the 64-bit block and
// the footer (the v1 block is checked for size only, as RFC 8536 section 4 advises). Everything
// the RFC says MUST hold is checked: magic, version, zero reserved bytes, non-zero type and
// character counts, isstd/isut counts of 0 or typecnt, strictly ascending transition times, type
// indices in range, UTC offsets in -89999..93599 (so never -2^31), isdst/isstd/isut in {0, 1},
// isut only with isstd, NUL-terminated designations inside the character array, the footer framed
// by newlines, a valid POSIX TZ string (time_zone_posix.h) whose offset agrees with the last
// transition's type, and nothing after the footer. Files with leap-second records (the "right/"
// zones) are refused: their timestamps are not POSIX time. Errors are Corruption, except the
// leap-second refusal (InvalidArgument).
//
// Thread-safety: pure function over its input.

#ifndef TOKENAUDIT_QUERY_TIME_ZONE_TZIF_H_
#define TOKENAUDIT_QUERY_TIME_ZONE_TZIF_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/query/time_zone_posix.h"
#include "tokenaudit/result.h"

namespace tokenaudit::query {

struct TzifLocalTimeType {
  int32_t utc_offset;  // seconds east of UTC
  bool is_dst;
  std::string abbreviation;
};

struct TzifData {
  int version = 0;                      // 1, 2, 3 or 4
  std::vector<int64_t> transition_times;  // Unix seconds, strictly ascending
  std::vector<uint8_t> transition_types;  // index into types, one per transition
  std::vector<TzifLocalTimeType> types;   // types[0] also applies before the first transition
  // The footer rule for instants after the last transition; absent in v1 files and when the
  // footer is empty (then the last transition's type applies for ever).
  std::optional<PosixTzRule> footer;
};

// Parses a whole TZif file; see the header comment for what is checked.
Result<TzifData> ParseTzif(std::string_view file);

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_TIME_ZONE_TZIF_H_
