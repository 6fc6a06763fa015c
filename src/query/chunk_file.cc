// SealedChunk's file (doc/columns_format.md): encoding its header, metadata and footer, writing
// it, and reading it back (DecodeFile, OpenFile, VerifyData). The frames themselves are coded in
// chunk.cc.

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "src/query/chunk.h"
#include "src/query/dictionary.h"
#include "src/util/coding.h"
#include "src/util/crc32c.h"

namespace tokenaudit::query {
namespace {

constexpr char kMagic[8] = {'T', 'A', 'C', 'O', 'L', 'S', '0', '2'};
constexpr char kMagicV1[8] = {'T', 'A', 'C', 'O', 'L', 'S', '0', '1'};
constexpr char kFooterMagic[4] = {'T', 'A', 'C', '2'};
constexpr uint32_t kFileVersion = 2;
constexpr size_t kHeaderBytes = 32;
constexpr size_t kFooterBytes = 20;  // meta size (8), meta CRC (4), data CRC (4), magic (4)
// A dictionary code range wider than this in one chunk is not plausible (and would make the
// remap table large): refuse the file.
constexpr int64_t kMaxCodeSpan = 1 << 24;

// kStoredAwaiting: stored as kRaw is, by Compression::kNone (a merge is to compress it).
enum Codec : uint8_t { kNone = 0, kZstd = 1, kRaw = 2, kStoredAwaiting = 3 };

// Reads from a bounded view, remembering the first failure.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  uint8_t U8() { return Take(1) ? static_cast<uint8_t>(in_[pos_ - 1]) : 0; }
  uint32_t U32() { return Take(4) ? DecodeFixed32(in_.data() + pos_ - 4) : 0; }
  uint64_t U64() { return Take(8) ? DecodeFixed64(in_.data() + pos_ - 8) : 0; }
  std::string_view Bytes(uint64_t n) {
    if (!Take(n)) return {};
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

std::string SealedChunk::EncodeHeader(uint64_t data_size) const {
  std::string out(kMagic, sizeof(kMagic));
  PutFixed32(&out, kFileVersion);
  PutFixed32(&out, kNumCols);
  PutFixed32(&out, static_cast<uint32_t>(rows_));
  PutFixed32(&out, static_cast<uint32_t>(granules()));
  PutFixed64(&out, data_size);
  return out;
}

std::string SealedChunk::EncodeMeta(const std::array<Dictionary, kNumStringCols>& dicts) const {
  std::string meta;
  for (size_t g = 0; g < granules(); ++g) PutFixed32(&meta, static_cast<uint32_t>(granule_rows(g)));
  for (int c = 0; c < kNumCols; ++c) {
    const Column& col = cols_[c];
    PutFixed64(&meta, static_cast<uint64_t>(col.file_min));
    PutFixed64(&meta, static_cast<uint64_t>(col.file_max));
    for (const Granule& gr : col.g) {
      PutFixed64(&meta, static_cast<uint64_t>(gr.base));
      PutFixed64(&meta, static_cast<uint64_t>(gr.fmax));
      meta.push_back(static_cast<char>(gr.width));
      const Codec codec = gr.width == 0 ? kNone
                          : gr.awaiting ? kStoredAwaiting
                          : gr.raw      ? kRaw
                                        : kZstd;
      meta.push_back(static_cast<char>(codec));
      PutFixed64(&meta, gr.offset);
      PutFixed32(&meta, gr.length);
    }
    if (c < kNumStringCols) {
      // The strings of codes file_min..file_max (unused codes too: the range is what a reader
      // maps).
      for (int64_t code = col.file_min; code <= col.file_max && !col.g.empty(); ++code) {
        const uint32_t mine =
            col.remap.empty() ? static_cast<uint32_t>(code) : col.remap[code - col.file_min];
        std::string_view s = dicts[c].String(mine);
        PutFixed32(&meta, static_cast<uint32_t>(s.size()));
        meta.append(s);
      }
    }
  }
  return meta;
}

std::string SealedChunk::EncodeFile(const std::array<Dictionary, kNumStringCols>& dicts) const {
  const std::string header = EncodeHeader(data_.size());
  const std::string meta = EncodeMeta(dicts);
  const std::string footer = EncodeFooter(header, meta, crc32c::Value(data_));
  std::string out;
  out.reserve(header.size() + data_.size() + meta.size() + footer.size());
  out.append(header).append(data_).append(meta).append(footer);
  return out;
}

Status SealedChunk::WriteFile(Env* env, const std::string& path,
                              const std::array<Dictionary, kNumStringCols>& dicts) const {
  const std::string header = EncodeHeader(data_.size());
  const std::string meta = EncodeMeta(dicts);
  const std::string footer = EncodeFooter(header, meta, crc32c::Value(data_));
  return WriteFileAtomic(env, path, {header, data_, meta, footer});
}

std::string SealedChunk::EncodeFooter(std::string_view header, std::string_view meta,
                                      uint32_t data_crc) {
  std::string out;
  PutFixed64(&out, meta.size());
  uint32_t crc = crc32c::Value(header.data(), header.size());
  crc = crc32c::Extend(crc, meta.data(), meta.size());
  PutFixed32(&out, crc);
  PutFixed32(&out, data_crc);
  out.append(kFooterMagic, sizeof(kFooterMagic));
  return out;
}

Result<std::shared_ptr<SealedChunk>> SealedChunk::ParseMeta(
    std::string_view header, std::string_view meta, uint64_t data_offset, uint64_t data_size,
    std::array<Dictionary, kNumStringCols>* dicts) {
  Reader h(header.substr(sizeof(kMagic)));
  const uint32_t version = h.U32();
  const uint32_t ncols = h.U32();
  const uint32_t rows = h.U32();
  const uint32_t ngran = h.U32();
  if (ncols != kNumCols || rows == 0 || rows > kMaxPartRows || ngran == 0 || ngran > rows ||
      version != kFileVersion) {
    return Status::Corruption("column chunk has version " + std::to_string(version) + ", " +
                              std::to_string(ncols) + " columns, " + std::to_string(rows) +
                              " rows, " + std::to_string(ngran) + " granules");
  }
  auto chunk = std::make_shared<SealedChunk>();
  chunk->rows_ = rows;
  chunk->data_offset_ = data_offset;
  Reader r(meta);
  for (uint32_t g = 0; g < ngran; ++g) {
    const uint32_t n = r.U32();
    if (!r.ok() || n == 0 || n > kGranuleRows || n > rows - chunk->gstart_.back()) {
      return Status::Corruption("column chunk has inconsistent granule sizes");
    }
    chunk->gstart_.push_back(chunk->gstart_.back() + n);
  }
  if (chunk->gstart_.back() != rows) {
    return Status::Corruption("column chunk granules do not add up to its rows");
  }
  for (int c = 0; c < kNumCols; ++c) {
    Column& col = chunk->cols_[c];
    col.file_min = static_cast<int64_t>(r.U64());
    col.file_max = static_cast<int64_t>(r.U64());
    if (!r.ok() || col.file_max < col.file_min) return BadColumn(c, "has an inconsistent range");
    col.g.resize(ngran);
    uint64_t next = 0;  // frames of a column follow each other
    for (size_t g = 0; g < ngran; ++g) {
      Granule& gr = col.g[g];
      gr.base = static_cast<int64_t>(r.U64());
      const auto gmax = static_cast<int64_t>(r.U64());
      gr.width = r.U8();
      const uint8_t codec = r.U8();
      gr.raw = codec == kRaw || codec == kStoredAwaiting;
      gr.awaiting = codec == kStoredAwaiting;
      chunk->awaiting_compression_ |= gr.awaiting;
      gr.offset = r.U64();
      gr.length = r.U32();
      if (!r.ok()) return BadColumn(c, "is truncated");
      if (gmax < gr.base || gr.base < col.file_min || gmax > col.file_max ||
          gr.width != WidthFor(static_cast<uint64_t>(gmax) - static_cast<uint64_t>(gr.base)) ||
          (gr.width == 0) != (codec == kNone) || (codec == kNone) != (gr.length == 0) ||
          codec > kStoredAwaiting || (gr.raw && gr.length != chunk->granule_rows(g) * gr.width) ||
          (g > 0 && gr.offset != next) || gr.offset > data_size ||
          gr.length > data_size - gr.offset) {
        return BadColumn(c, "granule " + std::to_string(g) + " is inconsistent");
      }
      next = gr.offset + gr.length;
      gr.zmin = gr.base;
      gr.zmax = gr.fmax = gmax;
    }
    if (c < kNumStringCols) {
      if (col.file_min < 0 || col.file_max - col.file_min >= kMaxCodeSpan) {
        return BadColumn(c, "has implausible codes");
      }
      col.remap.resize(static_cast<size_t>(col.file_max - col.file_min + 1));
      for (auto& code : col.remap) {
        std::string_view s = r.Bytes(r.U32());
        if (!r.ok()) return BadColumn(c, "has a truncated dictionary");
        code = (*dicts)[c].Intern(s);
      }
      // Zone maps in this process's codes: the codes of the file's range of each granule.
      for (Granule& gr : col.g) {
        const auto lo = col.remap.begin() + (gr.base - col.file_min);
        const auto hi = col.remap.begin() + (gr.fmax - col.file_min) + 1;
        const auto [mn, mx] = std::minmax_element(lo, hi);
        gr.zmin = *mn;
        gr.zmax = *mx;
      }
      // The file's codes are this process's (it wrote the file, or interned the strings in
      // the same order): no table needed.
      bool identity = true;
      for (size_t i = 0; identity && i < col.remap.size(); ++i) {
        identity = col.remap[i] == static_cast<uint64_t>(col.file_min) + i;
      }
      if (identity) {
        col.remap.clear();
        col.remap.shrink_to_fit();
      }
    }
    col.min = col.g[0].zmin;
    col.max = col.g[0].zmax;
    for (const Granule& gr : col.g) {
      col.min = std::min(col.min, gr.zmin);
      col.max = std::max(col.max, gr.zmax);
    }
  }
  if (r.remaining() != 0) return Status::Corruption("column chunk metadata has trailing bytes");
  return chunk;
}

Result<std::shared_ptr<const SealedChunk>> SealedChunk::DecodeFile(
    std::string_view file, std::array<Dictionary, kNumStringCols>* dicts) {
  if (file.size() >= sizeof(kMagicV1) && std::memcmp(file.data(), kMagicV1, 8) == 0) {
    return Status::Corruption("column chunk file of version 1 (rebuilt from the log)");
  }
  if (file.size() < kHeaderBytes + kFooterBytes ||
      std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0 ||
      std::memcmp(file.data() + file.size() - 4, kFooterMagic, 4) != 0) {
    return Status::Corruption("not a column chunk file (bad magic)");
  }
  const std::string_view header = file.substr(0, kHeaderBytes);
  const uint64_t data_size = DecodeFixed64(file.data() + 24);
  const uint64_t meta_size = DecodeFixed64(file.data() + file.size() - kFooterBytes);
  const uint64_t body = file.size() - kHeaderBytes - kFooterBytes;
  if (data_size > body || meta_size != body - data_size) {
    return Status::Corruption("column chunk file has inconsistent section sizes");
  }
  const std::string_view meta = file.substr(kHeaderBytes + data_size, meta_size);
  uint32_t crc = crc32c::Value(header.data(), header.size());
  crc = crc32c::Extend(crc, meta.data(), meta.size());
  if (crc != DecodeFixed32(file.data() + file.size() - 12) ||
      crc32c::Value(file.substr(kHeaderBytes, data_size)) !=
          DecodeFixed32(file.data() + file.size() - 8)) {
    return Status::Corruption("column chunk CRC mismatch");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<SealedChunk> chunk,
                   ParseMeta(header, meta, kHeaderBytes, data_size, dicts));
  chunk->data_ = std::string(file.substr(kHeaderBytes, data_size));
  // Every frame once: a file that loads decodes.
  DecodeScratch scratch;
  std::vector<int64_t> out(chunk->rows());
  for (int c = 0; c < kNumCols; ++c) {
    RETURN_IF_ERROR(chunk->Decode(static_cast<Col>(c), out.data(), &scratch));
    if (c == kUser) chunk->BuildUserBlooms(out.data());
  }
  return std::shared_ptr<const SealedChunk>(std::move(chunk));
}

Result<std::shared_ptr<const SealedChunk>> SealedChunk::OpenFile(
    Env* env, const std::string& path, std::array<Dictionary, kNumStringCols>* dicts,
    bool verify_data) {
  ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> f, env->NewRandomAccessFile(path));
  ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(path));
  if (size < kHeaderBytes + kFooterBytes) return Status::Corruption(path + ": too short");
  char header[kHeaderBytes], footer[kFooterBytes];
  ASSIGN_OR_RETURN(size_t n, f->Read(0, kHeaderBytes, header));
  if (n != kHeaderBytes) return Status::Corruption(path + ": truncated");
  ASSIGN_OR_RETURN(n, f->Read(size - kFooterBytes, kFooterBytes, footer));
  if (n != kFooterBytes) return Status::Corruption(path + ": truncated");
  if (std::memcmp(header, kMagicV1, 8) == 0) {
    return Status::Corruption("column chunk file of version 1 (rebuilt from the log)");
  }
  if (std::memcmp(header, kMagic, 8) != 0 || std::memcmp(footer + 16, kFooterMagic, 4) != 0) {
    return Status::Corruption("not a column chunk file (bad magic)");
  }
  const uint64_t data_size = DecodeFixed64(header + 24);
  const uint64_t meta_size = DecodeFixed64(footer);
  const uint64_t body = size - kHeaderBytes - kFooterBytes;
  if (data_size > body || meta_size != body - data_size) {
    return Status::Corruption("column chunk file has inconsistent section sizes");
  }
  std::string meta(meta_size, '\0');
  ASSIGN_OR_RETURN(n, f->Read(kHeaderBytes + data_size, meta_size, meta.data()));
  if (n != meta_size) return Status::Corruption(path + ": truncated");
  uint32_t crc = crc32c::Value(header, kHeaderBytes);
  crc = crc32c::Extend(crc, meta.data(), meta.size());
  if (crc != DecodeFixed32(footer + 8)) return Status::Corruption("column chunk CRC mismatch");
  ASSIGN_OR_RETURN(
      std::shared_ptr<SealedChunk> chunk,
      ParseMeta(std::string_view(header, kHeaderBytes), meta, kHeaderBytes, data_size, dicts));
  chunk->path_ = path;
  chunk->file_ = std::move(f);
  chunk->data_size_ = data_size;
  chunk->data_crc_ = DecodeFixed32(footer + 12);
  if (verify_data) RETURN_IF_ERROR(chunk->VerifyData());
  RETURN_IF_ERROR(chunk->BuildUserBlooms());
  return std::shared_ptr<const SealedChunk>(std::move(chunk));
}

Status SealedChunk::VerifyData() const {
  if (!on_disk()) return Status::OK();
  // The frames, read in pieces (nothing of them stays in memory).
  std::string piece(std::min<uint64_t>(std::max<uint64_t>(data_size_, 1), 1 << 20), '\0');
  uint32_t crc = 0;
  for (uint64_t at = 0; at < data_size_;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(piece.size(), data_size_ - at));
    ASSIGN_OR_RETURN(size_t n, file_->Read(data_offset_ + at, want, piece.data()));
    if (n != want) return Status::Corruption(path_ + ": truncated");
    crc = crc32c::Extend(crc, piece.data(), want);
    at += want;
  }
  if (crc != data_crc_) return Status::Corruption(path_ + ": column chunk CRC mismatch");
  return Status::OK();
}

}  // namespace tokenaudit::query
