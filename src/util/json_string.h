// JSON string literals as the canonical encoding writes them (doc/usage_record.md): quotes, `"`
// and `\` escaped with a backslash, bytes below 0x20 as \u00xx (lower-case hex), everything else
// (DEL, UTF-8) copied as is. One definition, used by the record encoder and every JSON response.

#ifndef TOKENAUDIT_UTIL_JSON_STRING_H_
#define TOKENAUDIT_UTIL_JSON_STRING_H_

#include <string>
#include <string_view>

namespace tokenaudit {

inline void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escaping, copied in bulk
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u != '"' && u != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    if (u == '"' || u == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(u));
    } else {
      out->append("\\u00");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xf]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_JSON_STRING_H_
