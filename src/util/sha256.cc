// SHA-256: one message through OpenSSL, two at once on SHA-NI (sha256.h).
//
// The low-level SHA256_* interface is deprecated in OpenSSL 3 but is still exported and goes
// straight to the SHA-NI / AVX2 block function. EVP_DigestInit_ex/Update/Final with a reused
// EVP_MD_CTX costs a provider dispatch per call; for the short inputs we hash (65-byte node
// hashes, ~300-byte records) that overhead is a large fraction of the work, so we use the
// low-level calls (see the measurements in the merkle area's report).
#define OPENSSL_SUPPRESS_DEPRECATED

#include "src/util/sha256.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <new>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace tokenaudit {

namespace {

static_assert(sizeof(SHA256_CTX) <= 128, "Sha256::state_ is too small for SHA256_CTX");
static_assert(alignof(SHA256_CTX) <= 16, "Sha256::state_ is under-aligned for SHA256_CTX");
static_assert(SHA256_DIGEST_LENGTH == std::tuple_size_v<Sha256Digest>);

#if defined(__x86_64__)
#define TA_SHA_NI __attribute__((target("sha,sse4.1,ssse3")))

constexpr size_t kBlock = 64;

// FIPS 180-4 §5.3.3.
constexpr uint32_t kInit[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// FIPS 180-4 §4.2.2, in groups of four for the 4-round steps.
alignas(16) constexpr uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

// The state as the SHA-NI instructions take it: words (a, b, e, f) and (c, d, g, h), the first
// in the highest lane.
struct NiState {
  __m128i abef, cdgh;
};

TA_SHA_NI inline NiState NiLoad(const uint32_t h[8]) {
  const __m128i dcba = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)),
                                         0xB1);  // lanes b a d c
  const __m128i efgh = _mm_shuffle_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4)), 0x1B);  // lanes h g f e
  return {_mm_alignr_epi8(dcba, efgh, 8), _mm_blend_epi16(efgh, dcba, 0xF0)};
}

TA_SHA_NI inline void NiStore(const NiState& s, uint32_t h[8]) {
  const __m128i feba = _mm_shuffle_epi32(s.abef, 0x1B);  // lanes a b e f
  const __m128i dchg = _mm_shuffle_epi32(s.cdgh, 0xB1);  // lanes g h c d
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h), _mm_blend_epi16(feba, dchg, 0xF0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), _mm_alignr_epi8(dchg, feba, 8));
}

// The message words of a block, big-endian, four to a register.
TA_SHA_NI inline __m128i NiLoadWords(const uint8_t* p) {
  const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), swap);
}

// W[4r .. 4r+3] from the previous 16 words, m[r % 4] holding W[4r-16 .. 4r-13] and so on.
TA_SHA_NI inline __m128i NiSchedule(__m128i* m, int r) {
  __m128i w = _mm_sha256msg1_epu32(m[r & 3], m[(r + 1) & 3]);
  w = _mm_add_epi32(w, _mm_alignr_epi8(m[(r + 3) & 3], m[(r + 2) & 3], 4));
  w = _mm_sha256msg2_epu32(w, m[(r + 3) & 3]);
  m[r & 3] = w;
  return w;
}

// Four rounds with the words w (plus their constants) on the state (abef, cdgh).
TA_SHA_NI inline void NiFourRounds(__m128i& abef, __m128i& cdgh, __m128i w, int r) {
  const __m128i k =
      _mm_add_epi32(w, _mm_load_si128(reinterpret_cast<const __m128i*>(kRound + 4 * r)));
  cdgh = _mm_sha256rnds2_epu32(cdgh, abef, k);
  abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(k, 0x0E));
}

// The state is worked on in locals: through the pointers, which may alias, every round would
// store and reload it (524 instead of 267 ns per 750-byte message in Sha256Of2).
TA_SHA_NI inline void NiCompress(NiState* s, const uint8_t* p) {
  __m128i abef = s->abef, cdgh = s->cdgh;
  __m128i m[4];
  for (int i = 0; i < 4; ++i) m[i] = NiLoadWords(p + 16 * i);
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) NiFourRounds(abef, cdgh, r < 4 ? m[r] : NiSchedule(m, r), r);
  s->abef = _mm_add_epi32(abef, s->abef);
  s->cdgh = _mm_add_epi32(cdgh, s->cdgh);
}

// Two independent blocks, their instructions interleaved: each message's rounds wait on the
// latency of the one before, so a second message fills the SHA unit's idle cycles.
TA_SHA_NI inline void NiCompress2(NiState* s, const uint8_t* p, NiState* t, const uint8_t* q) {
  __m128i s_abef = s->abef, s_cdgh = s->cdgh, t_abef = t->abef, t_cdgh = t->cdgh;
  __m128i m[4], n[4];
  for (int i = 0; i < 4; ++i) {
    m[i] = NiLoadWords(p + 16 * i);
    n[i] = NiLoadWords(q + 16 * i);
  }
#pragma GCC unroll 16
  for (int r = 0; r < 16; ++r) {
    const __m128i wm = r < 4 ? m[r] : NiSchedule(m, r);
    const __m128i wn = r < 4 ? n[r] : NiSchedule(n, r);
    NiFourRounds(s_abef, s_cdgh, wm, r);
    NiFourRounds(t_abef, t_cdgh, wn, r);
  }
  s->abef = _mm_add_epi32(s_abef, s->abef);
  s->cdgh = _mm_add_epi32(s_cdgh, s->cdgh);
  t->abef = _mm_add_epi32(t_abef, t->abef);
  t->cdgh = _mm_add_epi32(t_cdgh, t->cdgh);
}

bool DetectShaNi() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool ssse3 = (c & bit_SSSE3) != 0, sse41 = (c & bit_SSE4_1) != 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return ssse3 && sse41 && (b & bit_SHA) != 0;
}
// Pads the last `n` (< 64) bytes of a message of `total` bytes: those bytes, the 0x80 byte,
// zeros, and the message's length in bits, big-endian (FIPS 180-4 §5.1.1). Writes one or two
// blocks to out and returns how many.
size_t PadTail(const uint8_t* rest, size_t n, uint64_t total, uint8_t out[2 * kBlock]) {
  const size_t blocks = n + 1 + 8 > kBlock ? 2 : 1;
  std::memset(out, 0, kBlock * blocks);
  if (n > 0) std::memcpy(out, rest, n);
  out[n] = 0x80;
  const uint64_t bits = total * 8;
  for (int i = 0; i < 8; ++i) {
    out[kBlock * blocks - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  }
  return blocks;
}

// A whole message as blocks: its full blocks where they are, then the padded tail.
class Padded {
 public:
  explicit Padded(std::string_view m)
      : data_(reinterpret_cast<const uint8_t*>(m.data())),
        full_(m.size() / kBlock),
        tail_blocks_(PadTail(data_ + kBlock * full_, m.size() % kBlock, m.size(), tail_)) {}
  size_t blocks() const { return full_ + tail_blocks_; }
  const uint8_t* block(size_t i) const {
    return i < full_ ? data_ + kBlock * i : tail_ + kBlock * (i - full_);
  }

 private:
  const uint8_t* data_;
  size_t full_;
  uint8_t tail_[2 * kBlock];
  size_t tail_blocks_;  // after tail_: set by writing it
};

Sha256Digest Digest(const uint32_t h[8]) {
  Sha256Digest out;
  for (int i = 0; i < 8; ++i) {
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
  }
  return out;
}

#else
bool DetectShaNi() { return false; }
#endif

bool HaveShaNi() {
  static const bool have = DetectShaNi();
  return have;
}

SHA256_CTX* AsCtx(unsigned char* state) {
  return std::launder(reinterpret_cast<SHA256_CTX*>(state));
}

}  // namespace

Sha256::Sha256() {
  // SHA256_CTX is a trivial C struct; constructing it in place starts its lifetime.
  ::new (static_cast<void*>(state_)) SHA256_CTX;
  SHA256_Init(AsCtx(state_));
}

Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t n) {
  if (n == 0) return;  // data may be null for an empty view
  SHA256_Update(AsCtx(state_), data, n);
}

Sha256Digest Sha256::Finish() {
  Sha256Digest out;
  SHA256_Final(out.data(), AsCtx(state_));
  return out;
}

void Sha256::Reset() { SHA256_Init(AsCtx(state_)); }

Sha256Digest Sha256Of(std::string_view data) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  if (!data.empty()) SHA256_Update(&ctx, data.data(), data.size());
  Sha256Digest out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

void Sha256Of2(std::string_view a, std::string_view b, Sha256Digest* digest_a,
               Sha256Digest* digest_b) {
#if defined(__x86_64__)
  if (HaveShaNi()) {
    const Padded pa(a), pb(b);
    NiState sa = NiLoad(kInit), sb = NiLoad(kInit);
    const size_t both = std::min(pa.blocks(), pb.blocks());
    for (size_t i = 0; i < both; ++i) NiCompress2(&sa, pa.block(i), &sb, pb.block(i));
    for (size_t i = both; i < pa.blocks(); ++i) NiCompress(&sa, pa.block(i));
    for (size_t i = both; i < pb.blocks(); ++i) NiCompress(&sb, pb.block(i));
    uint32_t h[8];
    NiStore(sa, h);
    *digest_a = Digest(h);
    NiStore(sb, h);
    *digest_b = Digest(h);
    return;
  }
#endif
  *digest_a = Sha256Of(a);
  *digest_b = Sha256Of(b);
}

bool Sha256UsesShaNi() { return HaveShaNi(); }

}  // namespace tokenaudit
