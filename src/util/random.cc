#include "src/util/random.h"

#include <openssl/rand.h>

#include <climits>
#include <cstdlib>

namespace tokenaudit {

Status SecureRandomBytes(void* out, size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    int chunk = n > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(n);
    if (RAND_bytes(p, chunk) != 1) return Status::Internal("RAND_bytes failed");
    p += chunk;
    n -= static_cast<size_t>(chunk);
  }
  return Status::OK();
}

uint64_t SecureRandomU64() {
  uint64_t v = 0;
  if (!SecureRandomBytes(&v, sizeof(v)).ok()) std::abort();  // no entropy: nothing is safe
  return v;
}

}  // namespace tokenaudit
