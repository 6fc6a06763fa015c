// Usage records as JSON: strict parsing of ingest bodies (plain JSON, CloudEvents, NDJSON) into
// UsageRecord values, and the canonical encoding that the ledger stores and hashes.
//
// Parsing checks syntax and types only; semantic rules (required fields, ranges, patterns) are in
// validate.h and run after the server has applied its defaults. The rules, error codes and the
// canonical form are specified in doc/usage_record.md.
//
// Error messages name the field and the rule that failed and never contain the offending value:
// values may carry personal data, and messages end up in logs and HTTP responses.
//
// All functions are pure and thread-safe. JSON parsing uses simdjson behind this interface.

#ifndef TOKENAUDIT_RECORD_RECORD_JSON_H_
#define TOKENAUDIT_RECORD_RECORD_JSON_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "src/record/body_format.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::record {

// `error.code` values (doc/http_api.md) produced by this area.
inline constexpr std::string_view kInvalidJson = "invalid_json";
inline constexpr std::string_view kTooDeep = "too_deep";
inline constexpr std::string_view kInvalidUtf8 = "invalid_utf8";
inline constexpr std::string_view kMissingField = "missing_field";
inline constexpr std::string_view kInvalidType = "invalid_type";
inline constexpr std::string_view kOutOfRange = "out_of_range";
inline constexpr std::string_view kInvalidFormat = "invalid_format";
inline constexpr std::string_view kUnknownField = "unknown_field";
inline constexpr std::string_view kTooLong = "too_long";
inline constexpr std::string_view kTooManyItems = "too_many_items";
inline constexpr std::string_view kBodyTooLarge = "body_too_large";

// Why a body or an item was refused. `field` is the JSON name at fault (empty when the whole
// body or item is at fault); for unknown_field it is the unknown key, cut to at most 64 bytes on
// a UTF-8 boundary. `message` is "<field>: <rule>" and never contains a value from the input.
struct FieldError {
  std::string code;
  std::string field;
  std::string message;

  bool operator==(const FieldError&) const = default;
};

// A FieldError whose message is "<field>: <rule>" (just `rule` when `field` is empty). `rule`
// must not contain input values.
FieldError MakeFieldError(std::string_view code, std::string_view field, std::string_view rule);

struct ParseLimits {
  size_t max_body_bytes = size_t{8} << 20;  // larger bodies: body_too_large
  size_t max_depth = 32;           // nesting of [ and {, checked before parsing; capped at 1024
  size_t max_items = 10000;        // records per body: too_many_items
  size_t max_string_bytes = 1024;  // any string value after unescaping: too_long
};

// One record of a body. When !ok, `error` says why and `record` holds whatever was parsed.
struct ParsedItem {
  bool ok = false;
  UsageRecord record;
  FieldError error;
  size_t line = 0;  // kNdjson: 1-based line number of the item; 0 for other formats
};

struct ParsedBody {
  // False when the body as a whole is refused (not JSON, too deep, invalid UTF-8, too many
  // items, too large, wrong shape); then `error` says why and `items` is empty. The server
  // answers 400 (413 for body_too_large).
  bool ok = false;
  FieldError error;
  // True for an array body, a CloudEvents batch and NDJSON (answered with per-item results);
  // false for a single object (answered with the one record or its error).
  bool batch = false;
  // In body order; NDJSON blank lines produce no item. An item that fails is independent of the
  // others.
  std::vector<ParsedItem> items;
};

// Parses a whole ingest body. Items are parsed, not validated: call Validate() on each ok item
// after applying server defaults.
ParsedBody ParseBody(std::string_view body, BodyFormat format, const ParseLimits& limits = {});

// Receives the items of a body in order. `item` is one object reused for every item (its strings
// keep their buffers): it is valid only during the call; move or copy out what is kept.
using ItemSink = std::function<void(ParsedItem& item)>;

// ParseBody without collecting the items: each goes to `sink` as soon as it is parsed, and the
// result (`items` always empty) is the verdict on the body. When that verdict is !ok the items
// already handed over must be discarded: a syntax error late in a JSON array, or one item too
// many, refuses the whole body. Same checks, errors and order as ParseBody.
ParsedBody ParseBodyEach(std::string_view body, BodyFormat format, const ParseLimits& limits,
                         const ItemSink& sink);

// Lines of NDJSON text: its newlines plus one (a final newline ends an empty last line), an
// upper bound on its items.
size_t CountNdjsonLines(std::string_view text);

// An NDJSON body parsed in pieces, on several threads at once, item for item as ParseBodyEach
// would parse it whole. A piece is a run of whole lines of the body; `first_line` is the body's
// line number (1-based) of its first line.
struct NdjsonPiece {
  std::string_view text;
  size_t first_line = 1;
};

// Cuts an NDJSON body into at most `max_pieces` pieces of whole lines, at most one per
// `min_lines` lines of the body, about equal in bytes (so a piece may hold fewer lines). Returns no pieces when the body is one that
// ParseBodyEach might refuse as a whole (too large, not UTF-8, possibly more than max_items
// items) or is too short to cut (a cut would leave one piece): parse it with ParseBodyEach then,
// which gives the exact error.
std::vector<NdjsonPiece> SplitNdjson(std::string_view body, const ParseLimits& limits,
                                     size_t max_pieces, size_t min_lines);

// Hands the items of a piece of a body accepted by SplitNdjson to `sink`, in order, exactly as
// ParseBodyEach(body, kNdjson) hands over those lines (same items, same item.line, same errors).
void ParseNdjsonPiece(const NdjsonPiece& piece, const ParseLimits& limits, const ItemSink& sink);

// Parses one JSON record object (the kJson single-object case). Returns false and fills `*error`
// (if non-null) on any failure; `*record` is then unspecified.
bool ParseRecordJson(std::string_view json, UsageRecord* record, FieldError* error = nullptr,
                     const ParseLimits& limits = {});

// The canonical stored form: keys sorted by bytes, no whitespace, absent fields omitted,
// minimal deterministic string escaping, integers in decimal, usage.gflops as a trimmed decimal,
// times as "YYYY-MM-DDTHH:MM:SS.ffffffZ". For every record r that ParseRecordJson accepts or
// Validate accepts: ParseRecordJson(EncodeCanonical(r)) == r.
std::string EncodeCanonical(const UsageRecord& record);

// EncodeCanonical's bytes written at `out`, which has room for CanonicalSizeBound(record) bytes
// (a bound computed without scanning the strings: every string byte counted as its longest
// escape); returns the end. One pass over the record, for encoding straight into a RecordBatch.
size_t CanonicalSizeBound(const UsageRecord& record);
char* EncodeCanonicalTo(const UsageRecord& record, char* out);

// EncodeCanonical plus `"seq":N` in its sorted position, for API responses. Not parseable as a
// record (seq is assigned by the ledger, never sent).
std::string EncodeWithSeq(const UsageRecord& record, uint64_t seq);

}  // namespace tokenaudit::record

#endif  // TOKENAUDIT_RECORD_RECORD_JSON_H_
