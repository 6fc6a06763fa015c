// Strict decimal parsing for outside input (query parameters, environment variables): digits
// only, the whole string, no sign, no whitespace, no overflow.

#ifndef TOKENAUDIT_UTIL_PARSE_NUMBER_H_
#define TOKENAUDIT_UTIL_PARSE_NUMBER_H_

#include <charconv>
#include <cstdint>
#include <string_view>

namespace tokenaudit {

inline bool ParseDecimalU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;  // from_chars would accept nothing else
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_PARSE_NUMBER_H_
