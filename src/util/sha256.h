// SHA-256 through OpenSSL (SHA-NI where the CPU has it). Sha256 objects are not thread-safe;
// the free function is.

#ifndef TOKENAUDIT_UTIL_SHA256_H_
#define TOKENAUDIT_UTIL_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tokenaudit {

using Sha256Digest = std::array<uint8_t, 32>;

// Incremental hasher. Finish() may be called once; Reset() starts over.
class Sha256 {
 public:
  Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  ~Sha256();

  void Update(const void* data, size_t n);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  Sha256Digest Finish();
  void Reset();

 private:
  alignas(16) unsigned char state_[128];  // OpenSSL SHA256_CTX, kept opaque here
};

Sha256Digest Sha256Of(std::string_view data);

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_SHA256_H_
