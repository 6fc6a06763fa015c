// Fuzzes usage-record ingest parsing, whose input comes straight from HTTP clients: the bytes
// are parsed as every body format (plain JSON, CloudEvent, CloudEvents batch, NDJSON) with the
// default limits and with tiny ones, and as a Content-Type value. Invariants, trapped when broken:
//   - a refused body carries no items and a non-empty error code;
//   - every accepted item round-trips: ParseRecordJson(EncodeCanonical(r)) == r, and encoding
//     the result again gives the same bytes;
//   - Validate never crashes on an accepted item;
//   - an NDJSON body cut by SplitNdjson (the server parses large bodies in pieces on several
//     threads) is the body joined again, and its pieces give the items of ParseBody, item for
//     item (same ok, record, error, line); a body ParseBody refuses is never cut.
// Dictionary: test/fuzz/record_fuzz.dict.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

void CheckNdjsonPieces(std::string_view input, const ParseLimits& limits, size_t max_pieces,
                       size_t min_lines) {
  const std::vector<NdjsonPiece> pieces = SplitNdjson(input, limits, max_pieces, min_lines);
  if (pieces.empty()) return;
  if (pieces.size() < 2 || pieces.size() > max_pieces) __builtin_trap();
  const ParsedBody whole = ParseBody(input, BodyFormat::kNdjson, limits);
  if (!whole.ok) __builtin_trap();  // only bodies ParseBodyEach accepts are cut
  std::string joined;
  size_t n = 0;
  bool same = true;
  for (const NdjsonPiece& piece : pieces) {
    if (piece.text.empty()) __builtin_trap();
    joined.append(piece.text);
    ParseNdjsonPiece(piece, limits, [&](ParsedItem& item) {
      if (n >= whole.items.size()) {
        same = false;
        return;
      }
      const ParsedItem& want = whole.items[n++];
      same = same && item.ok == want.ok && item.line == want.line && item.error == want.error &&
             (!item.ok || item.record == want.record);
    });
  }
  if (joined != input || !same || n != whole.items.size()) __builtin_trap();
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
  ParseLimits few_items;
  few_items.max_items = 8;
  for (size_t min_lines : {1u, 2u, 5u}) {
    CheckNdjsonPieces(input, ParseLimits{}, 2, min_lines);
    CheckNdjsonPieces(input, ParseLimits{}, 7, min_lines);
    CheckNdjsonPieces(input, few_items, 3, min_lines);
  }
  return 0;
}
