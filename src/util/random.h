// Randomness: cryptographic bytes from the OS for salts, ids and keys.

#ifndef TOKENAUDIT_UTIL_RANDOM_H_
#define TOKENAUDIT_UTIL_RANDOM_H_

#include <cstddef>
#include <cstdint>

#include "tokenaudit/status.h"

namespace tokenaudit {

// Fills `out` with `n` bytes from a CSPRNG (OpenSSL RAND_bytes, seeded by the OS).
Status SecureRandomBytes(void* out, size_t n);

// A random 64-bit value from the CSPRNG; aborts only if the OS has no entropy source at all.
uint64_t SecureRandomU64();

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_RANDOM_H_
