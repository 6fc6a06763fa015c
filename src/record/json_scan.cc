#include "src/record/json_scan.h"

#include "src/util/json_string.h"

namespace tokenaudit::record {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

TextScan ScanJsonText(std::string_view text, size_t max_depth) {
  const char* const data = text.data();
  const size_t n = text.size();
  size_t depth = 0;
  bool root_closed = false;
  size_t i = 0;
  while (i < n) {
    const char c = data[i++];
    if (root_closed) {
      if (!IsJsonWhitespace(c)) return TextScan::kInvalid;
      continue;
    }
    switch (c) {
      case '"':
        // Most of a record's bytes are string content: skip it a word at a time up to the next
        // quote, backslash or control byte.
        for (;;) {
          i = FindJsonSpecialByte(data, i, n);
          if (i >= n) return TextScan::kOk;  // unterminated: the parser reports it
          const auto u = static_cast<unsigned char>(data[i++]);
          if (u == '"') break;
          if (u == '\\') {
            // The escaped byte cannot end the string; the parser checks the escape itself.
            if (i < n && static_cast<unsigned char>(data[i]) < 0x20) return TextScan::kInvalid;
            ++i;
          } else if (u < 0x20) {
            return TextScan::kInvalid;
          }
        }
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return TextScan::kTooDeep;
        break;
      case ']':
      case '}':
        if (depth == 0) return TextScan::kInvalid;
        if (--depth == 0) root_closed = true;
        break;
      default:
        break;
    }
  }
  return TextScan::kOk;
}

bool ParseJsonNumberToken(std::string_view token, JsonNumber* out) {
  while (!token.empty() && IsJsonWhitespace(token.back())) token.remove_suffix(1);
  JsonNumber n;
  size_t i = 0;
  if (i < token.size() && token[i] == '-') {
    n.negative = true;
    ++i;
  }
  const size_t int_start = i;
  if (i < token.size() && token[i] == '0') {
    ++i;
  } else if (i < token.size() && token[i] >= '1' && token[i] <= '9') {
    while (i < token.size() && IsDigit(token[i])) ++i;
  } else {
    return false;
  }
  n.int_digits = token.substr(int_start, i - int_start);
  if (i < token.size() && token[i] == '.') {
    const size_t frac_start = ++i;
    while (i < token.size() && IsDigit(token[i])) ++i;
    if (i == frac_start) return false;
    n.has_fraction = true;
    n.frac_digits = token.substr(frac_start, i - frac_start);
  }
  if (i < token.size() && (token[i] == 'e' || token[i] == 'E')) {
    ++i;
    if (i < token.size() && (token[i] == '+' || token[i] == '-')) ++i;
    const size_t exp_start = i;
    while (i < token.size() && IsDigit(token[i])) ++i;
    if (i == exp_start) return false;
    n.has_exponent = true;
  }
  if (i != token.size()) return false;
  *out = n;
  return true;
}

}  // namespace tokenaudit::record
