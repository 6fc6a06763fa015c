#include "src/query/chunk.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "src/query/dictionary.h"
#include "src/util/coding.h"
#include "src/util/crc32c.h"

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
    std::fill(out, out + rows_, col.remap.empty() ? col.min : col.remap[0]);
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
  if (!col.remap.empty()) {
    // Codes of a loaded file: translate to this process's dictionary.
    auto code = [&](size_t i) {
      uint64_t d = 0;
      std::memcpy(&d, p + col.width * i, col.width);
      return static_cast<int64_t>(col.remap[d]);
    };
    for (size_t i = 0; i < rows_; ++i) out[i] = code(i);
    return Status::OK();
  }
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

namespace {

constexpr char kMagic[8] = {'T', 'A', 'C', 'O', 'L', 'S', '0', '1'};
constexpr uint32_t kFileVersion = 1;
// A dictionary code range wider than this in one chunk is not plausible (and would make the
// remap table large): refuse the file.
constexpr int64_t kMaxCodeSpan = 1 << 24;

// Reads from a bounded view, remembering the first failure.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  uint8_t U8() { return Take(1) ? static_cast<uint8_t>(in_[pos_ - 1]) : 0; }
  uint32_t U32() { return Take(4) ? DecodeFixed32(in_.data() + pos_ - 4) : 0; }
  uint64_t U64() { return Take(8) ? DecodeFixed64(in_.data() + pos_ - 8) : 0; }
  std::string_view Bytes(uint64_t n) {
    if (n > in_.size() - pos_ || !Take(n)) {
      ok_ = false;
      return {};
    }
    return in_.substr(pos_ - n, n);
  }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  bool Take(uint64_t n) {
    if (!ok_ || n > in_.size() - pos_) return ok_ = false;
    pos_ += n;
    return true;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace

std::string SealedChunk::EncodeFile(const std::array<Dictionary, kNumStringCols>& dicts) const {
  std::string out(kMagic, sizeof(kMagic));
  PutFixed32(&out, kFileVersion);
  PutFixed32(&out, kNumCols);
  PutFixed64(&out, rows_);
  for (int c = 0; c < kNumCols; ++c) {
    const Column& col = cols_[c];
    PutFixed64(&out, static_cast<uint64_t>(col.min));
    PutFixed64(&out, static_cast<uint64_t>(col.max));
    out.push_back(static_cast<char>(col.width));
    PutFixed64(&out, col.zstd.size());
    out += col.zstd;
    if (c < kNumStringCols) {
      // The strings of codes min..max (unused codes are written as empty strings too: the
      // range is what Decode maps).
      for (int64_t code = col.min; code <= col.max; ++code) {
        std::string_view s = dicts[c].String(static_cast<uint32_t>(code));
        PutFixed32(&out, static_cast<uint32_t>(s.size()));
        out.append(s);
      }
    }
  }
  PutFixed32(&out, crc32c::Value(out));
  return out;
}

Result<std::shared_ptr<const SealedChunk>> SealedChunk::DecodeFile(
    std::string_view file, std::array<Dictionary, kNumStringCols>* dicts) {
  if (file.size() < sizeof(kMagic) + 4 || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption("not a column chunk file (bad magic)");
  }
  const uint32_t stored_crc = DecodeFixed32(file.data() + file.size() - 4);
  std::string_view body = file.substr(0, file.size() - 4);
  if (crc32c::Value(body) != stored_crc) return Status::Corruption("column chunk CRC mismatch");
  Reader r(body.substr(sizeof(kMagic)));
  const uint32_t version = r.U32();
  const uint32_t ncols = r.U32();
  const uint64_t rows = r.U64();
  if (!r.ok() || version != kFileVersion) {
    return Status::Corruption("unsupported column chunk version " + std::to_string(version));
  }
  if (ncols != kNumCols || rows == 0 || rows > kChunkRows) {
    return Status::Corruption("column chunk has " + std::to_string(ncols) + " columns and " +
                              std::to_string(rows) + " rows");
  }
  auto chunk = std::make_shared<SealedChunk>();
  chunk->rows_ = rows;
  for (int c = 0; c < kNumCols; ++c) {
    Column& col = chunk->cols_[c];
    col.min = static_cast<int64_t>(r.U64());
    col.max = static_cast<int64_t>(r.U64());
    col.width = r.U8();
    col.zstd = std::string(r.Bytes(r.U64()));
    if (!r.ok()) return Status::Corruption("column " + std::to_string(c) + " is truncated");
    const uint64_t range = static_cast<uint64_t>(col.max) - static_cast<uint64_t>(col.min);
    if (col.max < col.min || col.width != WidthFor(range)) {
      return Status::Corruption("column " + std::to_string(c) + " has an inconsistent range");
    }
    if (col.width > 0 && ZSTD_getFrameContentSize(col.zstd.data(), col.zstd.size()) !=
                             rows * col.width) {
      return Status::Corruption("column " + std::to_string(c) + " has the wrong size");
    }
    if (c < kNumStringCols) {
      if (col.min < 0 || col.max - col.min >= kMaxCodeSpan) {
        return Status::Corruption("column " + std::to_string(c) + " has implausible codes");
      }
      col.remap.resize(static_cast<size_t>(col.max - col.min + 1));
      for (auto& code : col.remap) {
        std::string_view s = r.Bytes(r.U32());
        if (!r.ok()) return Status::Corruption("dictionary of column " + std::to_string(c) +
                                               " is truncated");
        code = (*dicts)[c].Intern(s);
      }
      // Zone maps hold this process's codes; min/max of the remapped column.
      const auto [lo, hi] = std::minmax_element(col.remap.begin(), col.remap.end());
      // Only codes that occur matter, but any code in range may: a superset is still a valid
      // zone map.
      col.min = *lo;
      col.max = *hi;
      if (col.width == 0) col.remap = {col.remap.front()};
    }
  }
  if (r.remaining() != 0) return Status::Corruption("column chunk has trailing bytes");
  return std::shared_ptr<const SealedChunk>(std::move(chunk));
}

size_t SealedChunk::encoded_bytes() const {
  size_t n = 0;
  for (const auto& c : cols_) n += c.zstd.size();
  return n;
}

}  // namespace tokenaudit::query
