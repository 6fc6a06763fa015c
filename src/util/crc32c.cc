#include "src/util/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace tokenaudit::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial

// Slicing-by-8 tables, built at compile time.
struct Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  constexpr Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1) ? kPoly : 0);
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};
constexpr Tables kTables;

// Shifting a CRC register over `kBlock` zero bytes, as four byte-indexed tables: what lets three
// independent crc32 streams (over three adjacent blocks) be combined into one (Mark Adler's
// crc32c.c, "crc32c_zeros"). The register algebra is GF(2)-linear, so a 32x32 bit matrix applies
// it; the tables are that matrix pre-multiplied by every byte value at each position.
struct ShiftTables {
  std::array<std::array<uint32_t, 256>, 4> t{};
  explicit constexpr ShiftTables(size_t zero_bytes) {
    // op: the operator for one zero bit, then squared up to zero_bytes * 8 bits (a power of 2).
    std::array<uint32_t, 32> op{};
    op[0] = kPoly;
    for (int i = 1; i < 32; ++i) op[i] = uint32_t{1} << (i - 1);
    for (size_t bits = 1; bits < zero_bytes * 8; bits *= 2) op = Square(op);
    for (uint32_t b = 0; b < 256; ++b) {
      for (int k = 0; k < 4; ++k) t[k][b] = Times(op, b << (8 * k));
    }
  }
  static constexpr uint32_t Times(const std::array<uint32_t, 32>& m, uint32_t v) {
    uint32_t sum = 0;
    for (int i = 0; v != 0; ++i, v >>= 1) {
      if (v & 1) sum ^= m[i];
    }
    return sum;
  }
  static constexpr std::array<uint32_t, 32> Square(const std::array<uint32_t, 32>& m) {
    std::array<uint32_t, 32> sq{};
    for (int i = 0; i < 32; ++i) sq[i] = Times(m, m[i]);
    return sq;
  }
  uint32_t Shift(uint32_t crc) const {
    return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
  }
};
// Three streams of 64 bytes: records of a few hundred bytes (the log's frames) already gain.
constexpr size_t kBlock = 64;
constexpr ShiftTables kShift64(kBlock);

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t init_crc, const void* data,
                                                       size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t crc = ~init_crc;
  // crc32 has a latency of 3 cycles and a throughput of 1: three interleaved streams over
  // adjacent blocks keep the unit busy, then two table shifts fold them together.
  while (n >= 3 * kBlock) {
    uint64_t crc1 = 0, crc2 = 0;
    for (size_t i = 0; i < kBlock; i += 8) {
      uint64_t v0, v1, v2;
      std::memcpy(&v0, p + i, 8);
      std::memcpy(&v1, p + kBlock + i, 8);
      std::memcpy(&v2, p + 2 * kBlock + i, 8);
      crc = _mm_crc32_u64(crc, v0);
      crc1 = _mm_crc32_u64(crc1, v1);
      crc2 = _mm_crc32_u64(crc2, v2);
    }
    crc = kShift64.Shift(static_cast<uint32_t>(crc)) ^ crc1;
    crc = kShift64.Shift(static_cast<uint32_t>(crc)) ^ crc2;
    p += 3 * kBlock;
    n -= 3 * kBlock;
  }
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    crc = _mm_crc32_u64(crc, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<uint32_t>(crc);
  while (n > 0) {
    c32 = _mm_crc32_u8(c32, *p++);
    --n;
  }
  return ~c32;
}
#endif

bool DetectHardware() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

const bool kHasHardware = DetectHardware();

}  // namespace

uint32_t ExtendPortable(uint32_t init_crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t crc = ~init_crc;
  const auto& t = kTables.t;
  while (n >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
          t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
    --n;
  }
  return ~crc;
}

uint32_t Extend(uint32_t init_crc, const void* data, size_t n) {
#if defined(__x86_64__)
  if (kHasHardware) return ExtendSse42(init_crc, data, n);
#endif
  return ExtendPortable(init_crc, data, n);
}

bool IsHardwareAccelerated() { return kHasHardware; }

}  // namespace tokenaudit::crc32c
