// Fuzzes usage-record ingest parsing, whose input comes straight from HTTP clients: the bytes
// are parsed as every body format (plain JSON, CloudEvent, CloudEvents batch, NDJSON) with the
// default limits and with tiny ones, and as a Content-Type value. Invariants, trapped when broken:
//   - a refused body carries no items and a non-empty error code;
//   - every accepted item round-trips: ParseRecordJson(EncodeCanonical(r)) == r, and encoding
//     the result again gives the same bytes;
//   - Validate never crashes on an accepted item.
// Dictionary: test/fuzz/record_fuzz.dict.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/record/record_json.h"
#include "src/record/validate.h"

namespace {

using tokenaudit::UsageRecord;
using namespace tokenaudit::record;

void CheckBody(std::string_view input, BodyFormat format, const ParseLimits& limits) {
  const ParsedBody body = ParseBody(input, format, limits);
  if (!body.ok) {
    if (!body.items.empty() || body.error.code.empty()) __builtin_trap();
    return;
  }
  if (body.items.size() > limits.max_items) __builtin_trap();
  for (const ParsedItem& item : body.items) {
    if (!item.ok) {
      if (item.error.code.empty() || item.error.message.empty()) __builtin_trap();
      continue;
    }
    FieldError error;
    (void)Validate(item.record, &error);
    const std::string encoded = EncodeCanonical(item.record);
    UsageRecord back;
    if (!ParseRecordJson(encoded, &back, &error)) __builtin_trap();
    if (!(back == item.record)) __builtin_trap();
    if (EncodeCanonical(back) != encoded) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  (void)FormatFromContentType(input);
  ParseLimits tiny;
  tiny.max_depth = 3;
  tiny.max_items = 3;
  tiny.max_string_bytes = 16;
  for (BodyFormat format : {BodyFormat::kJson, BodyFormat::kCloudEvent,
                            BodyFormat::kCloudEventBatch, BodyFormat::kNdjson}) {
    CheckBody(input, format, ParseLimits{});
    CheckBody(input, format, tiny);
  }
  return 0;
}
