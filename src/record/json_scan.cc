#include "src/record/json_scan.h"

namespace tokenaudit::record {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

TextScan ScanJsonText(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  bool root_closed = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped byte cannot end the string; the parser checks the escape itself
        if (i < text.size() && static_cast<unsigned char>(text[i]) < 0x20)
          return TextScan::kInvalid;
      } else if (c == '"') {
        in_string = false;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        return TextScan::kInvalid;
      }
      continue;
    }
    if (root_closed) {
      if (!IsJsonWhitespace(c)) return TextScan::kInvalid;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
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
