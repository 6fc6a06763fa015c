// SealedChunk: sealing a tail (sort, granules, frame-of-reference coding, zstd), decoding frames
// and the user Bloom filters. Its file format is in chunk_file.cc, merging in part_merge.cc.

#include "src/query/chunk.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>

namespace tokenaudit::query {
namespace {

// zstd's fastest level: the chunk is sealed once and read by every query.
constexpr int kZstdLevel = 1;

// A frame zstd shrinks by less than a third (compressed > raw * 2/3) is stored raw: decoding it
// is a copy instead of entropy decoding (the most expensive part of a scan), for little disk.
bool WorthCompressing(size_t compressed, size_t raw) { return compressed * 3 <= raw * 2; }

// out[i] = base + d[i] for the `width`-byte little-endian d of every row.
template <typename T>
void Widen(const unsigned char* p, size_t n, uint64_t base, int64_t* out) {
  for (size_t i = 0; i < n; ++i) {
    T d;
    std::memcpy(&d, p + sizeof(T) * i, sizeof(T));
    out[i] = static_cast<int64_t>(base + d);
  }
}
// The same for widths 3, 5, 6 and 7: 8 bytes loaded and masked (p has 8 readable bytes past
// the last value).
void WidenMasked(const unsigned char* p, size_t n, size_t width, uint64_t base, int64_t* out) {
  const uint64_t mask = (uint64_t{1} << (8 * width)) - 1;
  for (size_t i = 0; i < n; ++i) {
    uint64_t d;
    std::memcpy(&d, p + width * i, 8);
    out[i] = static_cast<int64_t>(base + (d & mask));
  }
}

// The inverse of Widen: p[width * i...] = the low `width` bytes of s[i] - base (little-endian).
template <typename T>
void Narrow(const int64_t* s, size_t n, uint64_t base, char* p) {
  for (size_t i = 0; i < n; ++i) {
    const auto d = static_cast<T>(static_cast<uint64_t>(s[i]) - base);
    std::memcpy(p + sizeof(T) * i, &d, sizeof(T));
  }
}
// The same for widths 3, 5, 6 and 7: 8 bytes stored, the next value overwriting the excess (p has
// 8 writable bytes past the last value).
void NarrowOverlapping(const int64_t* s, size_t n, size_t width, uint64_t base, char* p) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t d = static_cast<uint64_t>(s[i]) - base;
    std::memcpy(p + width * i, &d, 8);
  }
}

// Three bit positions of a code in a filter of 2^k bits (mask = 2^k - 1).
inline void BloomBits(int64_t code, uint64_t mask, uint64_t bits[3]) {
  uint64_t h = static_cast<uint64_t>(code) * 0x9e3779b97f4a7c15ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  bits[0] = h & mask;
  bits[1] = (h >> 21) & mask;
  bits[2] = (h >> 42) & mask;
}

}  // namespace

// The fewest whole bytes that hold every value of [0, range].
uint8_t SealedChunk::WidthFor(uint64_t range) {
  return static_cast<uint8_t>((std::bit_width(range) + 7) / 8);
}

Status SealedChunk::BadColumn(int c, const std::string& what) {
  return Status::Corruption("column " + std::to_string(c) + " " + what);
}

void SealedChunk::BuildUserBloom(size_t g, const int64_t* u) {
  const size_t n = granule_rows(g);
  size_t runs = 1;  // distinct users, at most (rows of one user are adjacent within a tenant)
  for (size_t i = 1; i < n; ++i) runs += u[i] != u[i - 1];
  // ~10 bits per user (about 1% false positives with 3 bits each), 64 .. 16,384 bits.
  const uint64_t nbits = std::clamp<uint64_t>(std::bit_ceil(runs * 10), 64, 1 << 14);
  std::vector<uint64_t>& f = user_bloom_[g];
  f.assign(nbits / 64, 0);
  uint64_t b[3];
  for (size_t i = 0; i < n; ++i) {
    if (i > 0 && u[i] == u[i - 1]) continue;
    BloomBits(u[i], nbits - 1, b);
    for (uint64_t x : b) f[x >> 6] |= uint64_t{1} << (x & 63);
  }
}

void SealedChunk::BuildUserBlooms(const int64_t* users) {
  user_bloom_.assign(granules(), {});
  for (size_t g = 0; g < granules(); ++g) BuildUserBloom(g, users + granule_begin(g));
}

Status SealedChunk::BuildUserBlooms() {
  // One granule at a time: a merged part may hold millions of rows.
  user_bloom_.assign(granules(), {});
  std::vector<int64_t> users(kGranuleRows);
  DecodeScratch scratch;
  for (size_t g = 0; g < granules(); ++g) {
    RETURN_IF_ERROR(DecodeGranules(kUser, g, g + 1, users.data(), &scratch));
    BuildUserBloom(g, users.data());
  }
  return Status::OK();
}

bool SealedChunk::MayHaveUser(size_t g, int64_t code) const {
  if (g >= user_bloom_.size()) return true;
  const std::vector<uint64_t>& f = user_bloom_[g];
  uint64_t b[3];
  BloomBits(code, f.size() * 64 - 1, b);
  for (uint64_t x : b) {
    if ((f[x >> 6] & (uint64_t{1} << (x & 63))) == 0) return false;
  }
  return true;
}

DecodeScratch::DecodeScratch() : dctx_(ZSTD_createDCtx()) {}
DecodeScratch::~DecodeScratch() { ZSTD_freeDCtx(dctx_); }

TailChunk::TailChunk() {
  // Not zeroed: a row is read only once Set has written it.
  for (auto& c : cols_) c = std::make_unique_for_overwrite<int64_t[]>(kChunkRows);
}

void TailChunk::Set(size_t at, const Row& row) {
  for (int c = 0; c < kNumCols; ++c) cols_[c][at] = row[c];
}

SealedChunk::EncodeBuffers::EncodeBuffers(Compression compression)
    : cctx(compression == Compression::kZstd ? ZSTD_createCCtx() : nullptr),
      awaiting(compression == Compression::kNone) {
  if (cctx == nullptr) return;
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, kZstdLevel);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
}
SealedChunk::EncodeBuffers::~EncodeBuffers() { ZSTD_freeCCtx(cctx); }

void SealedChunk::EncodeGranule(const int64_t* s, size_t n, EncodeBuffers* buf, Granule* gr,
                                std::string* out) {
  gr->base = gr->zmin = *std::min_element(s, s + n);
  gr->zmax = gr->fmax = *std::max_element(s, s + n);
  gr->width = WidthFor(static_cast<uint64_t>(gr->zmax) - static_cast<uint64_t>(gr->zmin));
  gr->offset = out->size();
  gr->length = 0;
  gr->raw = false;
  gr->awaiting = false;
  if (gr->width == 0) return;
  const size_t size = n * gr->width;
  // A stored frame is narrowed straight into *out; zstd's input goes to buf->packed first and
  // its frame straight into *out. (8 bytes of slack for NarrowOverlapping.)
  const bool store = buf->cctx == nullptr;
  char* p;
  if (store) {
    out->resize(gr->offset + size + 8);
    p = out->data() + gr->offset;
  } else {
    buf->packed.resize(size + 8);
    p = buf->packed.data();
  }
  const auto base = static_cast<uint64_t>(gr->base);
  switch (gr->width) {
    case 1: Narrow<uint8_t>(s, n, base, p); break;
    case 2: Narrow<uint16_t>(s, n, base, p); break;
    case 4: Narrow<uint32_t>(s, n, base, p); break;
    case 8: Narrow<uint64_t>(s, n, base, p); break;
    default: NarrowOverlapping(s, n, gr->width, base, p); break;
  }
  if (store) {
    out->resize(gr->offset + size);
    gr->raw = true;
    gr->awaiting = buf->awaiting;
    gr->length = static_cast<uint32_t>(size);
    return;
  }
  const size_t bound = ZSTD_compressBound(size);
  out->resize(gr->offset + bound);
  const size_t len = ZSTD_compress2(buf->cctx, out->data() + gr->offset, bound, p, size);
  // Compressing into a buffer of ZSTD_compressBound bytes cannot fail.
  if (!ZSTD_isError(len) && WorthCompressing(len, size)) {
    out->resize(gr->offset + len);
    gr->length = static_cast<uint32_t>(len);
  } else {
    out->resize(gr->offset);
    out->append(p, size);
    gr->raw = true;
    gr->length = static_cast<uint32_t>(size);
  }
}

std::shared_ptr<const SealedChunk> SealedChunk::Seal(const TailChunk& tail, size_t rows,
                                                     Compression compression) {
  std::vector<uint32_t> order(rows);
  std::iota(order.begin(), order.end(), 0u);
  return Seal(tail, std::move(order), compression);
}

std::shared_ptr<const SealedChunk> SealedChunk::Seal(const TailChunk& tail,
                                                     std::vector<uint32_t> order,
                                                     Compression compression) {
  return Seal(tail, std::move(order), compression, nullptr);
}

std::shared_ptr<SealedChunk> SealedChunk::Seal(const TailChunk& tail, std::vector<uint32_t> order,
                                               Compression compression, SealScratch* scratch) {
  // Sort order: tenant, user, time, model. Codes, not strings: what matters is that one user's
  // rows are adjacent (compression, user filters), not the alphabet.
  // Ties keep the rows' order in the tail. The keys are packed beside the row index first, so
  // that the sort compares values in one array instead of reaching into four columns per
  // comparison (a third of the seal thread's time went to those cache misses).
  SealScratch own;
  const bool reuse = scratch != nullptr;
  if (!reuse) scratch = &own;
  const size_t rows = order.size();
  {
    const int64_t* tenant = tail.col(kTenant);
    const int64_t* user = tail.col(kUser);
    const int64_t* time = tail.col(kTime);
    const int64_t* model = tail.col(kModel);
    std::vector<SealScratch::Key>& keys = scratch->keys_;
    keys.resize(rows);
    for (size_t i = 0; i < rows; ++i) {
      const uint32_t r = order[i];
      keys[i] = {static_cast<uint64_t>(tenant[r]) << 32 | static_cast<uint32_t>(user[r]),
                 static_cast<uint64_t>(time[r]) ^ (uint64_t{1} << 63),
                 static_cast<uint64_t>(model[r]) << 32 | r};
    }
    std::sort(keys.begin(), keys.end(), [](const SealScratch::Key& a, const SealScratch::Key& b) {
      return a.tenant_user != b.tenant_user ? a.tenant_user < b.tenant_user
             : a.time != b.time             ? a.time < b.time
                                            : a.model_row < b.model_row;
    });
    for (size_t i = 0; i < rows; ++i) order[i] = static_cast<uint32_t>(keys[i].model_row);
  }

  auto chunk = std::make_shared<SealedChunk>();
  chunk->rows_ = rows;
  // Granules: at most kGranuleRows rows, and a new one where the tenant changes.
  const int64_t* tenant = tail.col(kTenant);
  for (size_t i = 1, start = 0; i < rows; ++i) {
    if (i - start == kGranuleRows ||
        (i - start >= kMinGranuleRows && tenant[order[i]] != tenant[order[i - 1]])) {
      chunk->gstart_.push_back(static_cast<uint32_t>(i));
      start = i;
    }
  }
  if (rows > 0) chunk->gstart_.push_back(static_cast<uint32_t>(rows));
  const size_t ngran = chunk->granules();
  EncodeBuffers buf(compression);
  std::vector<int64_t>& sorted = scratch->sorted_;
  sorted.resize(rows);
  chunk->data_.swap(scratch->frames_);
  chunk->data_.clear();
  for (int c = 0; c < kNumCols; ++c) {
    const int64_t* v = tail.col(static_cast<Col>(c));
    for (size_t i = 0; i < rows; ++i) sorted[i] = v[order[i]];
    if (c == kUser) chunk->BuildUserBlooms(sorted.data());
    Column& col = chunk->cols_[c];
    col.g.resize(ngran);
    if (rows > 0) {
      col.min = col.file_min = *std::min_element(sorted.begin(), sorted.end());
      col.max = col.file_max = *std::max_element(sorted.begin(), sorted.end());
    }
    for (size_t g = 0; g < ngran; ++g) {
      EncodeGranule(sorted.data() + chunk->granule_begin(g), chunk->granule_rows(g), &buf,
                    &col.g[g], &chunk->data_);
      chunk->awaiting_compression_ |= col.g[g].awaiting;
    }
  }
  if (!reuse) chunk->data_.shrink_to_fit();
  return chunk;
}

void SealedChunk::ReturnFrames(SealScratch* scratch) {
  if (data_.capacity() > scratch->frames_.capacity()) scratch->frames_ = std::move(data_);
  data_ = std::string();
}

Status SealedChunk::ReadFrames(Col c, size_t g0, size_t g1, std::string* buf,
                               std::string_view* bytes, DecodeScratch* scratch) const {
  const Column& col = cols_[c];
  // Frames of one column are stored one after the other (zero-length when width is 0).
  const uint64_t begin = col.g[g0].offset;
  const uint64_t end = col.g[g1 - 1].offset + col.g[g1 - 1].length;
  if (end == begin) {
    *bytes = {};
    return Status::OK();
  }
  if (!on_disk()) {
    *bytes = std::string_view(data_).substr(begin, end - begin);
    return Status::OK();
  }
  buf->resize(end - begin);
  ASSIGN_OR_RETURN(size_t n, file_->Read(data_offset_ + begin, end - begin, buf->data()));
  if (n != end - begin) return Status::Corruption(path_ + ": column chunk file is truncated");
  *bytes = *buf;
  return Status::OK();
}

Status SealedChunk::DecodeFrame(Col c, size_t g, std::string_view frame, int64_t* out,
                                DecodeScratch* scratch) const {
  const Column& col = cols_[c];
  const Granule& gr = col.g[g];
  const size_t n = granule_rows(g);
  if (gr.width == 0) {
    const int64_t v = col.remap.empty() ? gr.base : col.remap[gr.base - col.file_min];
    std::fill(out, out + n, v);
    return Status::OK();
  }
  const size_t size = n * gr.width;
  // 8 bytes of slack for WidenMasked.
  if (scratch->raw_.size() < size + 8) scratch->raw_.resize(size + 8);
  if (gr.raw) {
    if (frame.size() != size) return BadColumn(c, "has a stored frame of the wrong size");
    std::memcpy(scratch->raw_.data(), frame.data(), size);
  } else {
    const size_t got = ZSTD_decompressDCtx(scratch->dctx_, scratch->raw_.data(), size,
                                           frame.data(), frame.size());
    if (ZSTD_isError(got) || got != size) {
      return BadColumn(c, std::string("does not decompress: ") +
                              (ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size"));
    }
  }
  const auto* p = reinterpret_cast<const unsigned char*>(scratch->raw_.data());
  const auto base = static_cast<uint64_t>(gr.base);
  switch (gr.width) {
    case 1: Widen<uint8_t>(p, n, base, out); break;
    case 2: Widen<uint16_t>(p, n, base, out); break;
    case 4: Widen<uint32_t>(p, n, base, out); break;
    case 8: Widen<uint64_t>(p, n, base, out); break;
    default: WidenMasked(p, n, gr.width, base, out); break;
  }
  if (c < kNumStringCols && col.remap.empty()) {
    // Codes must stay in the granule's range (they index dictionaries).
    for (size_t i = 0; i < n; ++i) {
      if (out[i] > gr.fmax) return BadColumn(c, "has a code outside its granule's range");
    }
  }
  if (!col.remap.empty()) {
    // Codes of a loaded file: translate to this process's dictionary.
    const uint64_t span = col.remap.size();
    for (size_t i = 0; i < n; ++i) {
      const uint64_t k = static_cast<uint64_t>(out[i]) - static_cast<uint64_t>(col.file_min);
      if (k >= span) return BadColumn(c, "has a code outside its dictionary");
      out[i] = col.remap[k];
    }
  }
  return Status::OK();
}

Status SealedChunk::DecodeGranules(Col c, size_t g0, size_t g1, int64_t* out,
                                   DecodeScratch* scratch) const {
  if (g0 >= g1) return Status::OK();
  std::string_view bytes;
  RETURN_IF_ERROR(ReadFrames(c, g0, g1, &scratch->io_, &bytes, scratch));
  for (size_t g = g0; g < g1; ++g) {
    RETURN_IF_ERROR(DecodeGranule(c, g, g0, bytes, out, scratch));
    out += granule_rows(g);
  }
  return Status::OK();
}

Status SealedChunk::DecodeGranule(Col c, size_t g, size_t g0, std::string_view bytes,
                                  int64_t* out, DecodeScratch* scratch) const {
  const Granule& gr = cols_[c].g[g];
  const uint64_t first = cols_[c].g[g0].offset;
  return DecodeFrame(c, g, bytes.substr(gr.offset - first, gr.length), out, scratch);
}

Status SealedChunk::Decode(Col c, int64_t* out, DecodeScratch* scratch) const {
  return DecodeGranules(c, 0, granules(), out, scratch);
}

size_t SealedChunk::encoded_bytes() const {
  size_t n = 0;
  for (const Column& c : cols_) {
    for (const Granule& g : c.g) n += g.length;
  }
  return n;
}

size_t SealedChunk::memory_bytes() const {
  size_t n = sizeof(*this) + data_.capacity() + path_.capacity();
  for (const Column& c : cols_) {
    n += c.g.capacity() * sizeof(Granule) + c.remap.capacity() * sizeof(uint32_t);
  }
  for (const auto& f : user_bloom_) n += f.capacity() * sizeof(uint64_t) + sizeof(f);
  return n;
}

}  // namespace tokenaudit::query
