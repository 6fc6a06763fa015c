// Rows of usage records in column form, 65,536 to a chunk (doc/query_engine.md).
//
// TailChunk: the rows being appended, in fixed-capacity arrays that never move, so a reader can
// read the first n rows it was told about while the writer appends behind them.
// SealedChunk: an immutable chunk with its rows sorted by (tenant, user, time, model), cut into
// granules of kGranuleRows rows. Every column of every granule is frame-of-reference coded into
// the narrowest byte width that holds it and compressed as its own zstd frame (or stored as it
// is: see Compression); the granule's min
// and max stay in memory as a zone map, so a filter decodes only the granules it can match.
// A chunk written to DATA_DIR/columns/ (doc/columns_format.md) keeps only that metadata in
// memory and reads its frames from the file when a query needs them.

#ifndef TOKENAUDIT_QUERY_CHUNK_H_
#define TOKENAUDIT_QUERY_CHUNK_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/query/usage_columns.h"
#include "tokenaudit/env.h"
#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

typedef struct ZSTD_DCtx_s ZSTD_DCtx;
typedef struct ZSTD_CCtx_s ZSTD_CCtx;

namespace tokenaudit::query {

inline constexpr size_t kChunkRows = 65536;
// Most rows in a granule of a sealed chunk: the unit of pruning and of decompression. A granule
// also ends where the tenant changes (once it holds kMinGranuleRows), so that its user codes,
// sorted within a tenant, give a tight zone map.
inline constexpr size_t kGranuleRows = 8192;
inline constexpr size_t kMinGranuleRows = 1024;
// Most rows in a sealed part (a chunk, or parts merged into a larger one; doc/columns_format.md).
inline constexpr size_t kMaxPartRows = size_t{1} << 25;

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
class SealedChunk;

// What a thread reuses between decodes: a zstd context, I/O and frame buffers, the open file of
// the chunk read last. Not thread-safe: one per thread.
class DecodeScratch {
 public:
  DecodeScratch();
  ~DecodeScratch();
  DecodeScratch(const DecodeScratch&) = delete;
  DecodeScratch& operator=(const DecodeScratch&) = delete;

 private:
  friend class SealedChunk;
  ZSTD_DCtx* dctx_;
  std::string io_;   // bytes read from a file
  std::string raw_;  // one decompressed frame
};

// What the thread that seals chunks reuses from one chunk to the next: the sort keys (1.5 MB),
// a column in sorted order (0.5 MB) and the frames' buffer (~3 MB). Allocated afresh per chunk,
// their pages were first-touched (a fault each, costly on a VM) and the frames copied as the
// buffer grew: with the file copied into one string, ~45% of the seal thread's time
// (bench/RESULTS.md, session 13). Not thread-safe: one per thread.
class SealScratch {
 public:
  SealScratch() = default;
  SealScratch(const SealScratch&) = delete;
  SealScratch& operator=(const SealScratch&) = delete;

 private:
  friend class SealedChunk;
  struct Key {
    uint64_t tenant_user;  // dictionary codes: 32 bits each
    uint64_t time;         // the sign bit flipped: unsigned order is signed order
    uint64_t model_row;    // model code, then the row index
  };
  std::vector<Key> keys_;
  std::vector<int64_t> sorted_;
  std::string frames_;
};

// Whether a part's frames go through zstd. kNone stores every frame as frame-of-reference bytes
// only, marked as awaiting compression (codec 3 in doc/columns_format.md): for parts that a merge
// rewrites soon, where compressing costs more CPU than the space is worth (what RocksDB's
// per-level compression does for its first levels). Either decodes the same way; the mark lets
// the merge policy find a part that must still be compressed, also after a restart.
enum class Compression { kZstd, kNone };

// Removes a file a few MiB at a time: truncates it in steps of `step_bytes`, pausing `pause_us`
// between them (unless `hurry` returns true), then unlinks it. On a file system with online
// discard (ext4 mounted `discard`), freeing a large file's blocks at once queues discards that
// every fdatasync of the log then waits behind: tens to hundreds of ms for 100+ MB
// (bench/RESULTS.md, "Session 6"). For files nobody reads any more; errors are ignored (a file
// left behind is removed at the next UsageStore::Open).
void RemoveFileGradually(Env* env, const std::string& path, const std::function<bool()>& hurry,
                         uint64_t step_bytes = 8 << 20, uint64_t pause_us = 20'000);

class SealedChunk {
 public:
  // Sorts and encodes the first `rows` rows of `tail`; the frames stay in memory. Rows are
  // sorted by (tenant, user, time, model), ties in row order; tenant, user and model hold
  // dictionary codes (0 to 2^32 - 1), as MakeRow makes them.
  static std::shared_ptr<const SealedChunk> Seal(const TailChunk& tail, size_t rows,
                                                 Compression compression = Compression::kZstd);
  // The same for the rows of `tail` listed in `rows` (row indexes, in increasing order; not
  // empty): a chunk cut at time-partition boundaries seals as one part per partition.
  static std::shared_ptr<const SealedChunk> Seal(const TailChunk& tail,
                                                 std::vector<uint32_t> rows,
                                                 Compression compression = Compression::kZstd);
  // The same, reusing `scratch`'s buffers: the chunk's frames are encoded into scratch's frames
  // buffer, which the chunk holds, untrimmed, until ReturnFrames (for a chunk about to be written
  // with WriteFile and read back from its file). With a null scratch, as the overload above.
  static std::shared_ptr<SealedChunk> Seal(const TailChunk& tail, std::vector<uint32_t> rows,
                                           Compression compression, SealScratch* scratch);
  // Hands the frames' buffer back to `scratch` for the next Seal. The chunk has no frames
  // after: only for one that was written to a file and is read from there from now on.
  void ReturnFrames(SealScratch* scratch);
  // For a chunk sealed with a scratch that stays in memory after all (its file could not be
  // written): trims its frames' buffer to their size.
  void TrimFrames() { data_.shrink_to_fit(); }

  // The chunk as a self-contained file (doc/columns_format.md): its columns plus the strings of
  // every dictionary code it uses, so another process can load it with its own dictionaries.
  // Only for a chunk whose frames are in memory (Seal, DecodeFile).
  std::string EncodeFile(const std::array<Dictionary, kNumStringCols>& dicts) const;
  // Writes that file to `path` with WriteFileAtomic (durably, atomically), its sections
  // appended one after the other rather than first copied into one string.
  Status WriteFile(Env* env, const std::string& path,
                   const std::array<Dictionary, kNumStringCols>& dicts) const;
  // Loads a whole file held in memory, interning its strings into `dicts` and remapping codes;
  // every frame is decompressed once to check it. Corruption (naming what) for anything
  // malformed, truncated or failing a checksum.
  static Result<std::shared_ptr<const SealedChunk>> DecodeFile(
      std::string_view file, std::array<Dictionary, kNumStringCols>* dicts);
  // Reads the header and the metadata of a chunk file (checked by their CRC) and, with
  // verify_data, checks the CRC of the frames; the frames are read from the file when they are
  // decoded (and checked again then, by their zstd checksums). The chunk keeps the file open
  // for as long as it lives, so removing the file does not disturb a query that holds it.
  static Result<std::shared_ptr<const SealedChunk>> OpenFile(
      Env* env, const std::string& path, std::array<Dictionary, kNumStringCols>* dicts,
      bool verify_data);

  // Merges `inputs` (sealed parts, each sorted by (tenant, user, time, model) in this process's
  // codes) into one part of the same layout, sorted the same way (rows of equal keys in input
  // order), streaming one granule at a time (part_merge.cc), its frames stored as `compression`
  // says. With an env, the part is written
  // to `path` (a temporary file, fsync, rename, fsync of the directory) and returned as read
  // from it; without one (env == nullptr) its frames stay in memory. `keep_going` is called
  // between granules; when it returns false the merge stops with Aborted and leaves no file.
  // `dicts` holds the strings of every code of the inputs. The inputs are not changed.
  static Result<std::shared_ptr<const SealedChunk>> Merge(
      const std::vector<std::shared_ptr<const SealedChunk>>& inputs,
      std::array<Dictionary, kNumStringCols>* dicts, Env* env, const std::string& path,
      const std::function<bool()>& keep_going, Compression compression = Compression::kZstd);

  size_t rows() const { return rows_; }
  size_t granules() const { return gstart_.size() - 1; }
  size_t granule_begin(size_t g) const { return gstart_[g]; }
  size_t granule_rows(size_t g) const { return gstart_[g + 1] - gstart_[g]; }
  // Zone maps: of the chunk, and of one granule (this process's dictionary codes for strings;
  // for a loaded file possibly a superset of the codes that occur).
  int64_t min(Col c) const { return cols_[c].min; }
  int64_t max(Col c) const { return cols_[c].max; }
  int64_t min(Col c, size_t g) const { return cols_[c].g[g].zmin; }
  int64_t max(Col c, size_t g) const { return cols_[c].g[g].zmax; }
  bool on_disk() const { return !path_.empty(); }
  // Stored with Compression::kNone: a merge is to compress it (MergePolicy).
  bool awaiting_compression() const { return awaiting_compression_; }
  // The file the chunk is read from (empty when in memory).
  const std::string& path() const { return path_; }
  // False when granule g holds no row of user `code` (a Bloom filter of its user codes: a zone
  // map is loose there, since the user codes of the tenants in a chunk interleave). True may be
  // a false positive (about 1%).
  bool MayHaveUser(size_t g, int64_t code) const;

  // Decodes column `c` into out[0, rows()).
  Status Decode(Col c, int64_t* out, DecodeScratch* scratch) const;
  // Decodes granules [g0, g1) of column `c` into out[0, rows of those granules). From a file,
  // the frames of the range are read with one read.
  Status DecodeGranules(Col c, size_t g0, size_t g1, int64_t* out, DecodeScratch* scratch) const;
  // Reads the frames of granules [g0, g1) of column `c` with one read (or points at them when
  // the chunk is in memory); *bytes stays valid while `buf` and the chunk do.
  Status ReadFrames(Col c, size_t g0, size_t g1, std::string* buf, std::string_view* bytes,
                    DecodeScratch* scratch) const;
  // Decodes granule g (g0 <= g < g1) of column `c` from the bytes ReadFrames returned for
  // [g0, g1) into out[0, granule_rows(g)).
  Status DecodeGranule(Col c, size_t g, size_t g0, std::string_view bytes, int64_t* out,
                       DecodeScratch* scratch) const;
  // Checks the frames of a chunk read from a file against the file's data CRC, reading them in
  // pieces; Corruption if they differ (OK for a chunk in memory). Stored (uncompressed) frames
  // carry no checksum of their own, so a merge checks its inputs this way before it rewrites
  // their values into a part with fresh CRCs and removes them.
  Status VerifyData() const;
  // Bytes of the compressed frames (in memory or in the file).
  size_t encoded_bytes() const;
  // Bytes this object holds in memory (metadata, and the frames unless on disk).
  size_t memory_bytes() const;

 private:
  struct Granule {
    int64_t base = 0, fmax = 0;   // the granule's min (frame-of-reference base) and max, in
                                  // the file's code domain
    int64_t zmin = 0, zmax = 0;   // zone map (this process's codes)
    uint64_t offset = 0;          // of the frame, from the start of the data section
    uint32_t length = 0;          // of the frame; 0 when width is 0
    uint8_t width = 0;            // bytes per value after subtracting base: 0 to 8
    bool raw = false;             // stored without zstd (it saved too little, or kNone)
    bool awaiting = false;        // stored by Compression::kNone (codec 3)
  };
  struct Column {
    int64_t min = 0, max = 0;  // zone map (this process's codes)
    int64_t file_min = 0, file_max = 0;  // the file's (or, sealed here, this process's) codes
    // Loaded from a file: remap[code - file_min] is this process's code for the file's code.
    std::vector<uint32_t> remap;
    std::vector<Granule> g;
  };

  // How a granule's values were coded: frame of reference, width, zstd or stored.
  // Appends the frame to *out and fills gr (offset from out's size before the append).
  struct EncodeBuffers {
    explicit EncodeBuffers(Compression compression);
    ~EncodeBuffers();
    EncodeBuffers(const EncodeBuffers&) = delete;
    EncodeBuffers& operator=(const EncodeBuffers&) = delete;
    ZSTD_CCtx* cctx;  // null with Compression::kNone (or when zstd could not allocate one)
    const bool awaiting;  // Compression::kNone: frames stored, awaiting compression
    std::string packed;   // a granule's values narrowed, before zstd
  };
  static void EncodeGranule(const int64_t* values, size_t n, EncodeBuffers* buf, Granule* gr,
                            std::string* out);
  // The fewest whole bytes that hold every value of [0, range].
  static uint8_t WidthFor(uint64_t range);
  // Corruption naming column c.
  static Status BadColumn(int c, const std::string& what);
  // The header (32 bytes) for a data section of `data_size` bytes, and the metadata section.
  std::string EncodeHeader(uint64_t data_size) const;
  std::string EncodeMeta(const std::array<Dictionary, kNumStringCols>& dicts) const;
  // What follows the metadata: its size, the two CRCs, the magic.
  static std::string EncodeFooter(std::string_view header, std::string_view meta,
                                  uint32_t data_crc);
  // Builds user_bloom_[g] from the user codes of granule g (this process's codes, sorted).
  void BuildUserBloom(size_t g, const int64_t* users);

  static Result<std::shared_ptr<SealedChunk>> ParseMeta(
      std::string_view header, std::string_view meta, uint64_t data_offset, uint64_t data_size,
      std::array<Dictionary, kNumStringCols>* dicts);
  Status DecodeFrame(Col c, size_t g, std::string_view frame, int64_t* out,
                     DecodeScratch* scratch) const;
  // Builds user_bloom_ from the user column (this process's codes), sorted rows.
  void BuildUserBlooms(const int64_t* users);
  // The same from the frames, one granule at a time.
  Status BuildUserBlooms();

  size_t rows_ = 0;
  bool awaiting_compression_ = false;  // some granule is stored by Compression::kNone
  std::vector<uint32_t> gstart_{0};  // first row of each granule, then rows_
  // Per granule: a Bloom filter of its user codes (a power of two of bits), kept in memory only.
  std::vector<std::vector<uint64_t>> user_bloom_;
  std::array<Column, kNumCols> cols_;
  // Frames of every column and granule, column after column (the file's data section); empty
  // when the chunk is read from path_.
  std::string data_;
  std::string path_;
  std::unique_ptr<RandomAccessFile> file_;  // open while the chunk lives (when path_ is set)
  uint64_t data_offset_ = 0;  // of the data section in the file
  uint64_t data_size_ = 0;    // of the data section in the file
  uint32_t data_crc_ = 0;     // the footer's CRC of the data section
};

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_CHUNK_H_
