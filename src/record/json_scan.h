// Byte-level checks on JSON text that run before (or beside) the JSON parser, so that hostile
// input is refused in linear time and constant stack: nesting depth, raw control bytes in
// strings, trailing content, and the exact RFC 8259 number grammar (simdjson's on-demand API
// hands out raw number tokens without checking them). Pure functions; thread-safe.

#ifndef TOKENAUDIT_RECORD_JSON_SCAN_H_
#define TOKENAUDIT_RECORD_JSON_SCAN_H_

#include <cstddef>
#include <string_view>

namespace tokenaudit::record {

enum class TextScan {
  kOk,
  kTooDeep,  // more than max_depth [ / { open at once (outside strings)
  kInvalid,  // a raw byte < 0x20 inside a string, a close with nothing open, or non-whitespace
             // after the first complete top-level array/object
};

// One pass over `text`; stops at the first problem. Whatever it accepts still goes to the parser:
// this scan does not check the grammar, only what the parser must never see.
TextScan ScanJsonText(std::string_view text, size_t max_depth);
// The same, a byte at a time: the reference the SIMD version is tested against (and the
// implementation where SSE2 is missing).
TextScan ScanJsonTextScalar(std::string_view text, size_t max_depth);

// The parts of a JSON number token.
struct JsonNumber {
  bool negative = false;
  std::string_view int_digits;   // "0" or [1-9][0-9]*
  std::string_view frac_digits;  // after '.', empty when there is no fraction
  bool has_fraction = false;
  bool has_exponent = false;
};

// Splits `token` (trailing JSON whitespace allowed) by the RFC 8259 grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?. False if the token is not exactly that.
bool ParseJsonNumberToken(std::string_view token, JsonNumber* out);

// True for the four JSON whitespace bytes: space, tab, LF, CR.
inline bool IsJsonWhitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace tokenaudit::record

#endif  // TOKENAUDIT_RECORD_JSON_SCAN_H_
