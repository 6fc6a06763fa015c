// Rows of usage records in column form, 65,536 to a chunk (doc/query_engine.md).
//
// TailChunk: the rows being appended, in fixed-capacity arrays that never move, so a reader can
// read the first n rows it was told about while the writer appends behind them.
// SealedChunk: an immutable chunk with its rows sorted by (tenant, user, time, model); every
// column is frame-of-reference coded into the narrowest byte width that holds it, then
// zstd-compressed, with its min and max kept as a zone map.

#ifndef TOKENAUDIT_QUERY_CHUNK_H_
#define TOKENAUDIT_QUERY_CHUNK_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/query/usage_columns.h"
#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

namespace tokenaudit::query {

inline constexpr size_t kChunkRows = 65536;

class TailChunk {
 public:
  TailChunk();
  // Writes row `at`; the owner publishes the new size to readers (under its lock).
  void Set(size_t at, const Row& row);
  const int64_t* col(Col c) const { return cols_[c].get(); }

 private:
  std::array<std::unique_ptr<int64_t[]>, kNumCols> cols_;
};

class Dictionary;

class SealedChunk {
 public:
  // Sorts and encodes the first `rows` rows of `tail`.
  static std::shared_ptr<const SealedChunk> Seal(const TailChunk& tail, size_t rows);

  // The chunk as a self-contained file (doc/columns_format.md): its columns plus the strings of
  // every dictionary code it uses, so another process can load it with its own dictionaries.
  std::string EncodeFile(const std::array<Dictionary, kNumStringCols>& dicts) const;
  // Loads a file written by EncodeFile, interning its strings into `dicts` and remapping codes.
  // Corruption (naming what) for anything malformed, truncated or failing its CRC.
  static Result<std::shared_ptr<const SealedChunk>> DecodeFile(
      std::string_view file, std::array<Dictionary, kNumStringCols>* dicts);

  size_t rows() const { return rows_; }
  int64_t min(Col c) const { return cols_[c].min; }
  int64_t max(Col c) const { return cols_[c].max; }
  // Decodes column `c` into out[0, rows()). `scratch` is reused between calls.
  Status Decode(Col c, int64_t* out, std::string* scratch) const;
  // Bytes held by the encoded columns.
  size_t encoded_bytes() const;

 private:
  struct Column {
    int64_t min = 0, max = 0;
    uint8_t width = 0;   // bytes per value after subtracting min: 0 (all equal), 1, 2, 4 or 8
    std::string zstd;    // rows * width bytes, compressed
    // Loaded from a file: remap[code - min] is this process's code for the file's code.
    std::vector<uint32_t> remap;
  };
  size_t rows_ = 0;
  std::array<Column, kNumCols> cols_;
};

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_CHUNK_H_
