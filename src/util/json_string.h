// JSON string literals as the canonical encoding writes them (doc/usage_record.md): quotes, `"`
// and `\` escaped with a backslash, bytes below 0x20 as \u00xx (lower-case hex), everything else
// (DEL, UTF-8) copied as is. One definition, used by the record encoder and every JSON response.

#ifndef TOKENAUDIT_UTIL_JSON_STRING_H_
#define TOKENAUDIT_UTIL_JSON_STRING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tokenaudit {

// True if any of the 8 bytes of `v` is below 0x20, `"` or `\`: the bytes that end or interrupt a
// run of plain string content. Exact (no false positives), so callers can skip 8 bytes at a time.
inline bool HasJsonSpecialByte(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t quote = v ^ (kOnes * '"');
  const uint64_t backslash = v ^ (kOnes * '\\');
  // (x - 0x01..) & ~x & 0x80.. is non-zero iff some byte of x is zero (or, with 0x20.., < 0x20).
  return ((((v - kOnes * 0x20) & ~v) | ((quote - kOnes) & ~quote) |
           ((backslash - kOnes) & ~backslash)) &
          kHigh) != 0;
}

// The 8 bytes at `p` (any alignment) as one word.
inline uint64_t LoadWord(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

inline void AppendJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* run = p;  // start of the pending run of bytes that need no escaping, copied in bulk
  while (p < end) {
    if (end - p >= 8 && !HasJsonSpecialByte(LoadWord(p))) {
      p += 8;
      continue;
    }
    const auto u = static_cast<unsigned char>(*p);
    if (u >= 0x20 && u != '"' && u != '\\') {
      ++p;
      continue;
    }
    out->append(run, p);
    run = ++p;
    if (u == '"' || u == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(u));
    } else {
      const char escape[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 0xf]};
      out->append(escape, sizeof(escape));
    }
  }
  out->append(run, end);
  out->push_back('"');
}

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_JSON_STRING_H_
