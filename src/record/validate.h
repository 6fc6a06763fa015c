// Semantic rules of a usage record (doc/usage_record.md, "Rules"): required fields, allowed
// values, patterns, ranges and cross-field constraints. Parsing (record_json.h) checks only
// syntax and types; the server parses, applies its defaults (tenant, request_id, ...), then
// validates. Pure; thread-safe.

#ifndef TOKENAUDIT_RECORD_VALIDATE_H_
#define TOKENAUDIT_RECORD_VALIDATE_H_

#include <cstddef>
#include <cstdint>

#include "src/record/record_json.h"
#include "src/record/rfc3339.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::record {

// Limits that are part of the record's definition (doc/usage_record.md).
inline constexpr size_t kMaxStringBytes = 1024;  // any string field
inline constexpr size_t kMaxIdBytes = 256;       // id, source
inline constexpr int64_t kMinRecordTimeUs = DaysFromCivil(2000, 1, 1) * kMicrosPerDay;
inline constexpr int64_t kEndRecordTimeUs = DaysFromCivil(2200, 1, 1) * kMicrosPerDay;

// Returns true if `record` satisfies every rule. Otherwise returns false and, if `error` is
// non-null, sets it to the first failure: required fields first (missing_field), then each
// present field in canonical key order, then start_time <= time. Codes: missing_field,
// invalid_utf8, too_long, invalid_format, out_of_range. Messages never contain values.
bool Validate(const UsageRecord& record, FieldError* error);

}  // namespace tokenaudit::record

#endif  // TOKENAUDIT_RECORD_VALIDATE_H_
