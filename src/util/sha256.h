// SHA-256 through OpenSSL (SHA-NI where the CPU has it), and two messages at once on SHA-NI
// directly. Sha256 objects are not thread-safe; the free functions are.

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

// The digests of two messages, as two Sha256Of calls would give them. With SHA-NI (checked once
// at run time) their blocks are compressed side by side: one message's rounds wait on the
// latency of the ones before, and a second, independent message fills those cycles. On this
// project's AMD EPYC machine, 750-byte messages (a usage record's log payload) took 267 ns each
// this way against 442 ns through OpenSSL's SHA-NI code (bench/RESULTS.md, "Session 8"). For one
// message alone OpenSSL's code is the faster, so Sha256Of stays with it.
void Sha256Of2(std::string_view a, std::string_view b, Sha256Digest* digest_a,
               Sha256Digest* digest_b);

// True when Sha256Of2 uses SHA-NI; for tests and benchmark reports.
bool Sha256UsesShaNi();

}  // namespace tokenaudit

#endif  // TOKENAUDIT_UTIL_SHA256_H_
