// CRC-32C (Castagnoli), as used by iSCSI, ext4 and leveldb. Uses the SSE4.2 crc32 instruction
// when the CPU has it (checked once at run time) and a table-driven fallback otherwise.

#ifndef TOKENAUDIT_UTIL_CRC32C_H_
#define TOKENAUDIT_UTIL_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tokenaudit::crc32c {

// Returns the CRC-32C of concat(A, data[0,n)) where `init_crc` is the CRC-32C of some string A.
// Extend(0, data, n) is the CRC of data.
uint32_t Extend(uint32_t init_crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

// Stored CRCs are masked (leveldb util/crc32c.h): computing the CRC of a string that contains
// embedded CRCs is otherwise prone to producing the same CRC again.
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

// True when the hardware path is in use; for tests and benchmark reports.
bool IsHardwareAccelerated();
// The portable path, exposed so tests can compare both on the same input.
uint32_t ExtendPortable(uint32_t init_crc, const void* data, size_t n);

}  // namespace tokenaudit::crc32c

#endif  // TOKENAUDIT_UTIL_CRC32C_H_
