#include "src/record/json_scan.h"

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "src/util/json_string.h"

namespace tokenaudit::record {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

TextScan ScanJsonTextScalar(std::string_view text, size_t max_depth) {
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

#if defined(__SSE2__)
namespace {

// Bit k set where block[k] is `"`, `\`, a bracket or a byte below 0x20: the only bytes the scan's
// state machine acts on (everything else is skipped 64 bytes at a time).
uint64_t SpecialBits(const char* block) {
  uint64_t bits = 0;
  for (int k = 0; k < 4; ++k) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * k));
    const __m128i quote = _mm_cmpeq_epi8(v, _mm_set1_epi8('"'));
    const __m128i backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'));
    // v | 0x20 is '{' for '{' and '[', '}' for '}' and ']', and nothing else maps there.
    const __m128i folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
    const __m128i bracket = _mm_or_si128(_mm_cmpeq_epi8(folded, _mm_set1_epi8('{')),
                                         _mm_cmpeq_epi8(folded, _mm_set1_epi8('}')));
    const __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
    const __m128i any = _mm_or_si128(_mm_or_si128(quote, backslash), _mm_or_si128(bracket, control));
    bits |= static_cast<uint64_t>(static_cast<uint32_t>(_mm_movemask_epi8(any))) << (16 * k);
  }
  return bits;
}

}  // namespace

// The same state machine as ScanJsonTextScalar, driven by the positions of special bytes only.
TextScan ScanJsonText(std::string_view text, size_t max_depth) {
  const char* const data = text.data();
  const size_t n = text.size();
  size_t depth = 0;
  bool in_string = false;
  size_t next = 0;  // bytes before this were consumed (an escaped byte is skipped)
  for (size_t base = 0; base < n; base += 64) {
    uint64_t bits;
    if (n - base >= 64) {
      bits = SpecialBits(data + base);
    } else {
      char tail[64];
      std::memset(tail, ' ', sizeof(tail));  // spaces are not special
      std::memcpy(tail, data + base, n - base);
      bits = SpecialBits(tail);
    }
    for (; bits != 0; bits &= bits - 1) {
      const size_t p = base + static_cast<size_t>(std::countr_zero(bits));
      if (p < next) continue;
      const auto u = static_cast<unsigned char>(data[p]);
      if (in_string) {
        if (u == '"') {
          in_string = false;
        } else if (u == '\\') {
          // The escaped byte cannot end the string; the parser checks the escape itself.
          if (p + 1 < n && static_cast<unsigned char>(data[p + 1]) < 0x20) return TextScan::kInvalid;
          next = p + 2;
        } else if (u < 0x20) {
          return TextScan::kInvalid;
        }
        continue;
      }
      switch (u) {
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
          if (--depth == 0) {  // the root closed: only whitespace may follow
            for (size_t j = p + 1; j < n; ++j) {
              if (!IsJsonWhitespace(data[j])) return TextScan::kInvalid;
            }
            return TextScan::kOk;
          }
          break;
        default:  // a control byte or backslash outside strings: the parser's business
          break;
      }
    }
  }
  return TextScan::kOk;
}
#else
TextScan ScanJsonText(std::string_view text, size_t max_depth) {
  return ScanJsonTextScalar(text, max_depth);
}
#endif

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
