#include "src/query/chunk.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <numeric>

namespace tokenaudit::query {
namespace {

// zstd's fastest level: the chunk is sealed once and read by every query.
constexpr int kZstdLevel = 1;

uint8_t WidthFor(uint64_t range) {
  if (range == 0) return 0;
  if (range <= 0xff) return 1;
  if (range <= 0xffff) return 2;
  if (range <= 0xffffffffu) return 4;
  return 8;
}

}  // namespace

TailChunk::TailChunk() {
  for (auto& c : cols_) c = std::make_unique<int64_t[]>(kChunkRows);
}

void TailChunk::Set(size_t at, const Row& row) {
  for (int c = 0; c < kNumCols; ++c) cols_[c][at] = row[c];
}

std::shared_ptr<const SealedChunk> SealedChunk::Seal(const TailChunk& tail, size_t rows) {
  // Sort order: tenant, user, time, model. Codes, not strings: what matters is that one user's
  // rows are adjacent (compression, user filters), not the alphabet.
  std::vector<uint32_t> order(rows);
  std::iota(order.begin(), order.end(), 0u);
  const int64_t* keys[] = {tail.col(kTenant), tail.col(kUser), tail.col(kTime), tail.col(kModel)};
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    for (const int64_t* k : keys) {
      if (k[a] != k[b]) return k[a] < k[b];
    }
    return a < b;
  });

  auto chunk = std::make_shared<SealedChunk>();
  chunk->rows_ = rows;
  std::string packed;
  for (int c = 0; c < kNumCols; ++c) {
    const int64_t* v = tail.col(static_cast<Col>(c));
    Column& col = chunk->cols_[c];
    if (rows == 0) continue;
    col.min = *std::min_element(v, v + rows);
    col.max = *std::max_element(v, v + rows);
    col.width = WidthFor(static_cast<uint64_t>(col.max) - static_cast<uint64_t>(col.min));
    if (col.width == 0) continue;
    packed.resize(rows * col.width);
    char* p = packed.data();
    for (uint32_t i : order) {
      const uint64_t d = static_cast<uint64_t>(v[i]) - static_cast<uint64_t>(col.min);
      std::memcpy(p, &d, col.width);  // little-endian: the low `width` bytes
      p += col.width;
    }
    col.zstd.resize(ZSTD_compressBound(packed.size()));
    const size_t n =
        ZSTD_compress(col.zstd.data(), col.zstd.size(), packed.data(), packed.size(), kZstdLevel);
    // Compressing into a buffer of ZSTD_compressBound bytes cannot fail.
    col.zstd.resize(ZSTD_isError(n) ? 0 : n);
    col.zstd.shrink_to_fit();
  }
  return chunk;
}

Status SealedChunk::Decode(Col c, int64_t* out, std::string* scratch) const {
  const Column& col = cols_[c];
  if (col.width == 0) {
    std::fill(out, out + rows_, col.min);
    return Status::OK();
  }
  scratch->resize(rows_ * col.width);
  const size_t n = ZSTD_decompress(scratch->data(), scratch->size(), col.zstd.data(),
                                   col.zstd.size());
  if (ZSTD_isError(n) || n != scratch->size()) {
    return Status::Corruption("column " + std::to_string(c) + " does not decompress: " +
                              (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size"));
  }
  const auto base = static_cast<uint64_t>(col.min);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(scratch->data());
  switch (col.width) {
    case 1:
      for (size_t i = 0; i < rows_; ++i) out[i] = static_cast<int64_t>(base + p[i]);
      break;
    case 2:
      for (size_t i = 0; i < rows_; ++i) {
        uint16_t d;
        std::memcpy(&d, p + 2 * i, 2);
        out[i] = static_cast<int64_t>(base + d);
      }
      break;
    case 4:
      for (size_t i = 0; i < rows_; ++i) {
        uint32_t d;
        std::memcpy(&d, p + 4 * i, 4);
        out[i] = static_cast<int64_t>(base + d);
      }
      break;
    default:
      for (size_t i = 0; i < rows_; ++i) {
        uint64_t d;
        std::memcpy(&d, p + 8 * i, 8);
        out[i] = static_cast<int64_t>(base + d);
      }
  }
  return Status::OK();
}

size_t SealedChunk::encoded_bytes() const {
  size_t n = 0;
  for (const auto& c : cols_) n += c.zstd.size();
  return n;
}

}  // namespace tokenaudit::query
