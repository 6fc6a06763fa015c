// Fuzzes the TZif reader (src/query/time_zone_tzif.h) and the zone built from what it accepts.
// Zone files come from the system's tzdata, but the reader must hold against any bytes.
// Invariants, trapped when broken:
//   - a refusal is Corruption or InvalidArgument;
//   - an accepted file has at least one type, one type index per transition, ascending times;
//   - for instants across the supported range, every window holds its instant:
//     Truncate(t) <= t < Next(t), for every granularity.
// Corpus: test/fuzz/corpus/time_zone_tzif (Europe/Berlin, Asia/Kolkata, Australia/Lord_Howe from
// Debian tzdata 2025b, a hand-made version 1 file, and truncated copies).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/query/time_zone.h"
#include "src/query/time_zone_tzif.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit::query;
  using tokenaudit::StatusCode;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  tokenaudit::Result<TzifData> tzif = ParseTzif(input);
  if (!tzif.ok()) {
    const StatusCode code = tzif.status().code();
    if (code != StatusCode::kCorruption && code != StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  if (tzif->types.empty()) __builtin_trap();
  if (tzif->transition_types.size() != tzif->transition_times.size()) __builtin_trap();
  for (size_t i = 1; i < tzif->transition_times.size(); ++i) {
    if (tzif->transition_times[i] <= tzif->transition_times[i - 1]) __builtin_trap();
  }
  auto zone = TimeZone::FromTzif("fuzz", *tzif);
  const int64_t instants[] = {TimeZone::kMinUnixMicros, -2422054408000000, 0, 1743296400000000,
                              1761440399999999, 4109878800000000, 95633265600000000,
                              TimeZone::kMaxUnixMicros};
  for (int64_t t : instants) {
    (void)zone->UtcOffsetAt(t);
    for (Granularity g : {Granularity::kMinute, Granularity::kHour, Granularity::kDay,
                          Granularity::kWeek, Granularity::kMonth}) {
      if (zone->Truncate(t, g) > t || zone->Next(t, g) <= t) __builtin_trap();
    }
  }
  return 0;
}
