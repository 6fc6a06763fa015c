// Fuzzes the POSIX TZ rule parser and evaluator (src/query/time_zone_posix.h): TZif footers are
// outside input. Invariants, trapped when broken:
//   - a refusal is InvalidArgument;
//   - an accepted rule has names of 3+ characters and offsets within +-25 h;
//   - the span found for an instant contains it, for instants from year 1 to 9999.
// Corpus: test/fuzz/corpus/time_zone_posix (footers of real zones, J/n/M forms, extremes).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/query/time_zone_posix.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit::query;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tokenaudit::Result<PosixTzRule> rule = ParsePosixTz(input);
  if (!rule.ok()) {
    if (rule.status().code() != tokenaudit::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  if (rule->std_abbreviation.size() < 3) __builtin_trap();
  if (rule->std_offset < -25 * 3600 || rule->std_offset > 25 * 3600) __builtin_trap();
  if (rule->has_dst && rule->dst_abbreviation.size() < 3) __builtin_trap();
  for (int64_t t : {int64_t{-62135596800}, int64_t{-1}, int64_t{0}, int64_t{1743296400},
                    int64_t{1761440399}, int64_t{4102444800}, int64_t{253402300799}}) {
    const OffsetSpan span = PosixSpanAt(*rule, t);
    if (span.start > t || span.end <= t) __builtin_trap();
  }
  return 0;
}
