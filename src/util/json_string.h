// JSON string literals as the canonical encoding writes them (doc/usage_record.md): quotes, `"`
// and `\` escaped with a backslash, bytes below 0x20 as \u00xx (lower-case hex), everything else
// (DEL, UTF-8) copied as is. One definition, used by the record encoder and every JSON response.

#ifndef TOKENAUDIT_UTIL_JSON_STRING_H_
#define TOKENAUDIT_UTIL_JSON_STRING_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace tokenaudit {

static_assert(std::endian::native == std::endian::little, "word scans assume little-endian");

// A word with bit 7 of a byte set where that byte of `v` is below 0x20, `"` or `\\`: the bytes
// that end or interrupt a run of plain string content. Zero iff there is none. The lowest flagged
// byte is always a real one (a borrow only ever flags bytes above a real hit), so it locates the
// first special byte; bytes above it may be flagged spuriously.
inline uint64_t JsonSpecialMask(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint64_t quote = v ^ (kOnes * '"');
  const uint64_t backslash = v ^ (kOnes * '\\');
  // (x - 0x01..) & ~x & 0x80.. flags the zero bytes of x (with 0x20.., the bytes below 0x20).
  return (((v - kOnes * 0x20) & ~v) | ((quote - kOnes) & ~quote) |
          ((backslash - kOnes) & ~backslash)) &
         kHigh;
}
inline bool HasJsonSpecialByte(uint64_t v) { return JsonSpecialMask(v) != 0; }

// The 8 bytes at `p` (any alignment) as one word.
inline uint64_t LoadWord(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The position of the first byte below 0x20, `"` or `\\` in data[pos, n), or n if none: a word
// per step, the tail included (as one word with zero bytes above the end, so it always flags).
inline size_t FindJsonSpecialByte(const char* data, size_t pos, size_t n) {
  for (; pos + 8 <= n; pos += 8) {
    if (const uint64_t mask = JsonSpecialMask(LoadWord(data + pos)); mask != 0) {
      return pos + static_cast<size_t>(std::countr_zero(mask) >> 3);
    }
  }
  if (pos >= n) return n;
  const size_t left = n - pos;  // 1..7
  uint64_t tail = 0;
  if (n >= 8) {
    tail = LoadWord(data + n - 8) >> (8 * (8 - left));  // the last word, bytes before pos dropped
  } else {
    for (size_t k = 0; k < left; ++k) {
      tail |= uint64_t{static_cast<unsigned char>(data[pos + k])} << (8 * k);
    }
  }
  const size_t first = static_cast<size_t>(std::countr_zero(JsonSpecialMask(tail)) >> 3);
  return first < left ? pos + first : n;
}

// The size of `s` as a JSON string literal, quotes included.
inline size_t JsonStringSize(std::string_view s) {
  size_t size = s.size() + 2;
  for (size_t i = FindJsonSpecialByte(s.data(), 0, s.size()); i < s.size();
       i = FindJsonSpecialByte(s.data(), i + 1, s.size())) {
    const auto u = static_cast<unsigned char>(s[i]);
    size += u == '"' || u == '\\' ? 1 : 5;
  }
  return size;
}

// Writes `s` as a JSON string literal at `out`, which has room for JsonStringSize(s) bytes;
// returns the end. Runs of plain bytes are copied in bulk.
inline char* WriteJsonString(char* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  *out++ = '"';
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (size_t i = FindJsonSpecialByte(s.data(), 0, s.size()); i < s.size();
       i = FindJsonSpecialByte(s.data(), i + 1, s.size())) {
    std::memcpy(out, s.data() + run, i - run);
    out += i - run;
    run = i + 1;
    const auto u = static_cast<unsigned char>(s[i]);
    *out++ = '\\';
    if (u == '"' || u == '\\') {
      *out++ = static_cast<char>(u);
    } else {
      const char escape[5] = {'u', '0', '0', kHex[u >> 4], kHex[u & 0xf]};
      std::memcpy(out, escape, sizeof(escape));
      out += sizeof(escape);
    }
  }
  std::memcpy(out, s.data() + run, s.size() - run);
  out += s.size() - run;
  *out++ = '"';
  return out;
}

inline void AppendJsonString(std::string* out, std::string_view s) {
  const size_t old = out->size();
  out->resize(old + JsonStringSize(s));
  WriteJsonString(out->data() + old, s);
}

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_JSON_STRING_H_
