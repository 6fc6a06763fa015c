// SealedChunk::Merge: k-way merge of sealed parts into one larger part (doc/query_engine.md,
// "Merging"). Two passes, so that memory stays bounded by a few granules per input whatever the
// size of the output:
//   1. the sort keys (tenant, user, time, model) of every input are read granule by granule and
//      merged; the output keeps only where its granules end and which input its rows come from,
//      as runs of consecutive rows from one input (4 bytes a run: at most 4 bytes a row, 128 MiB
//      for a part of kMaxPartRows, and far less when a user has several rows in an input);
//   2. column after column (the file's layout), each input's column is read granule by granule
//      and the runs are copied out of it in order, and each output granule is encoded and
//      written as soon as it is full.
// The inputs' data CRCs are checked first.
// The part's temporary file gets a placeholder for the header first, since the header holds the
// frames' size; the frames, the metadata and the footer follow, then the header is written over
// the placeholder, and the file is synced and renamed.

#include <algorithm>
#include <compare>
#include <cstring>
#include <optional>

#include "src/query/chunk.h"
#include "src/query/dictionary.h"
#include "src/util/crc32c.h"

namespace tokenaudit::query {
namespace {

// Reads some columns of a part, one granule at a time, in row order.
class PartCursor {
 public:
  PartCursor(const SealedChunk* part, std::vector<Col> cols)
      : part_(part), cols_(std::move(cols)), vals_(cols_.size()) {
    for (auto& v : vals_) v.resize(kGranuleRows);
  }
  // Loads the first granule.
  Status Start() { return Load(); }
  bool done() const { return g_ >= part_->granules(); }
  // Column k (of those named at construction) of the current row; only while !done().
  int64_t at(size_t k) const { return vals_[k][pos_]; }
  // Column k from the current row to the end of the current granule: left() values.
  const int64_t* values(size_t k) const { return vals_[k].data() + pos_; }
  size_t left() const { return part_->granule_rows(g_) - pos_; }
  Status Advance() { return Skip(1); }
  // Moves n rows on, n <= left().
  Status Skip(size_t n) {
    pos_ += n;
    if (pos_ < part_->granule_rows(g_)) return Status::OK();
    ++g_;
    pos_ = 0;
    return Load();
  }

 private:
  Status Load() {
    if (done()) return Status::OK();
    for (size_t k = 0; k < cols_.size(); ++k) {
      RETURN_IF_ERROR(part_->DecodeGranules(cols_[k], g_, g_ + 1, vals_[k].data(), &scratch_));
    }
    return Status::OK();
  }

  const SealedChunk* part_;  // borrowed: the caller holds the part for the merge
  std::vector<Col> cols_;
  std::vector<std::vector<int64_t>> vals_;
  size_t g_ = 0, pos_ = 0;
  DecodeScratch scratch_;
};

// The sort key of a cursor's current row, with the input's index as the last key: rows of equal
// keys are taken in input order.
struct MergeKey {
  int64_t tenant, user, time, model;
  size_t input;
  auto operator<=>(const MergeKey&) const = default;
};

// Consecutive output rows taken from one input.
struct Run {
  uint32_t rows : 24;
  uint32_t input : 8;
};
static_assert(sizeof(Run) == 4);
constexpr uint32_t kMaxRunRows = (uint32_t{1} << 24) - 1;

// Where the frames of the merged part go: memory, or the part's temporary file (behind the
// header's placeholder) with their CRC.
class FrameSink {
 public:
  // In memory: appends to *data.
  explicit FrameSink(std::string* data) : data_(data) {}
  explicit FrameSink(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {}
  // A file: the header's placeholder, before the frames (not counted in size() or the CRC).
  Status Begin(std::string_view placeholder) { return file_->Append(placeholder); }
  // Bytes of frames so far (where the next frame starts in the data section).
  uint64_t size() const { return data_ != nullptr ? data_->size() : written_ + pending_.size(); }
  // Where EncodeGranule appends; Flush() after.
  std::string* buffer() { return data_ != nullptr ? data_ : &pending_; }
  Status Flush(bool force) {
    if (data_ != nullptr || (!force && pending_.size() < (1 << 20))) return Status::OK();
    crc_ = crc32c::Extend(crc_, pending_.data(), pending_.size());
    RETURN_IF_ERROR(file_->Append(pending_));
    written_ += pending_.size();
    pending_.clear();
    return Status::OK();
  }
  // A file: the metadata and footer behind the frames, the header over its placeholder, Sync.
  Status Finish(std::string_view header, std::string_view meta, std::string_view footer) {
    RETURN_IF_ERROR(file_->Append(meta));
    RETURN_IF_ERROR(file_->Append(footer));
    RETURN_IF_ERROR(file_->WriteAt(0, header));
    RETURN_IF_ERROR(file_->Sync());
    Status s = file_->Close();
    file_.reset();  // closed: a later Close() has nothing to do
    return s;
  }
  Status Close() { return file_ == nullptr ? Status::OK() : file_->Close(); }
  uint32_t crc() const { return crc_; }

 private:
  std::string* data_ = nullptr;
  std::unique_ptr<WritableFile> file_;
  std::string pending_;
  uint64_t written_ = 0;
  uint32_t crc_ = 0;
};

}  // namespace

void RemoveFileGradually(Env* env, const std::string& path, const std::function<bool()>& hurry,
                         uint64_t step_bytes, uint64_t pause_us) {
  Result<uint64_t> size = env->GetFileSize(path);
  for (uint64_t left = size.ok() ? *size : 0; left > step_bytes && !hurry();) {
    left -= step_bytes;
    if (!env->TruncateFile(path, left).ok()) break;
    env->SleepForMicros(pause_us);
  }
  env->RemoveFile(path).IgnoreError();
}

Result<std::shared_ptr<const SealedChunk>> SealedChunk::Merge(
    const std::vector<std::shared_ptr<const SealedChunk>>& inputs,
    std::array<Dictionary, kNumStringCols>* dicts, Env* env, const std::string& path,
    const std::function<bool()>& keep_going, Compression compression) {
  if (inputs.empty() || inputs.size() > 255) {
    return Status::InvalidArgument("a merge takes 1 to 255 parts");
  }
  size_t total = 0;
  for (const auto& in : inputs) total += in->rows();
  if (total > kMaxPartRows) return Status::InvalidArgument("merged part would be too large");
  const Status aborted = Status::Unavailable("merge stopped");
  // The inputs' frames are checked before their values are rewritten under new CRCs (a stored
  // frame has no checksum of its own; a zstd frame's is checked when decoded anyway).
  for (const auto& in : inputs) RETURN_IF_ERROR(in->VerifyData());

  // Pass 1: the order of the rows (as runs of rows from one input), and the granules. The
  // input with the smallest key gives rows until its key passes the smallest key of the others
  // (one comparison a row; a run is typically a user's rows in one input).
  std::vector<Run> runs;
  auto part = std::make_shared<SealedChunk>();
  part->rows_ = total;
  {
    std::vector<std::unique_ptr<PartCursor>> cur;
    for (const auto& in : inputs) {
      cur.push_back(std::make_unique<PartCursor>(
          in.get(), std::vector<Col>{kTenant, kUser, kTime, kModel}));
      RETURN_IF_ERROR(cur.back()->Start());
    }
    auto key_of = [&](size_t k) {
      const PartCursor& c = *cur[k];
      return MergeKey{c.at(0), c.at(1), c.at(2), c.at(3), k};
    };
    int64_t prev_tenant = 0;
    size_t i = 0, start = 0;
    while (i < total) {
      size_t best = cur.size();
      std::optional<MergeKey> best_key, bound;  // bound: the smallest key of the others
      for (size_t k = 0; k < cur.size(); ++k) {
        if (cur[k]->done()) continue;
        const MergeKey key = key_of(k);
        if (!best_key || key < *best_key) {
          bound = best_key;
          best_key = key;
          best = k;
        } else if (!bound || key < *bound) {
          bound = key;
        }
      }
      if (best == cur.size()) return Status::Internal("merge inputs ran out of rows");
      PartCursor& c = *cur[best];
      do {
        const int64_t tenant = c.at(0);
        if (i > 0 && (i - start == kGranuleRows ||
                      (i - start >= kMinGranuleRows && tenant != prev_tenant))) {
          part->gstart_.push_back(static_cast<uint32_t>(i));
          start = i;
          if (!keep_going()) return aborted;
        }
        prev_tenant = tenant;
        if (runs.empty() || runs.back().input != best || runs.back().rows == kMaxRunRows) {
          runs.push_back({0, static_cast<uint32_t>(best)});
        }
        ++runs.back().rows;
        ++i;
        RETURN_IF_ERROR(c.Advance());
      } while (!c.done() && (!bound || key_of(best) < *bound));
    }
    if (total > 0) part->gstart_.push_back(static_cast<uint32_t>(total));
  }
  const size_t ngran = part->granules();
  part->user_bloom_.assign(ngran, {});

  // Pass 2: column after column, granule after granule.
  const std::string tmp = path + ".tmp";
  std::unique_ptr<FrameSink> sink;
  if (env == nullptr) {
    sink = std::make_unique<FrameSink>(&part->data_);
  } else {
    ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, env->NewWritableFile(tmp));
    sink = std::make_unique<FrameSink>(std::move(f));
  }
  auto fail = [&](Status s) {
    sink->Close().IgnoreError();
    if (env != nullptr) env->RemoveFile(tmp).IgnoreError();
    return s;
  };
  if (env != nullptr) {
    // The placeholder: the header has a fixed length (kHeaderBytes), whatever it holds.
    Status s = sink->Begin(part->EncodeHeader(0));
    if (!s.ok()) return fail(s);
  }
  EncodeBuffers buf(compression);
  std::vector<int64_t> out(kGranuleRows);
  for (int c = 0; c < kNumCols; ++c) {
    std::vector<std::unique_ptr<PartCursor>> cur;
    for (const auto& in : inputs) {
      cur.push_back(std::make_unique<PartCursor>(in.get(), std::vector<Col>{static_cast<Col>(c)}));
      Status s = cur.back()->Start();
      if (!s.ok()) return fail(s);
    }
    Column& col = part->cols_[c];
    col.g.resize(ngran);
    size_t run = 0, run_left = runs.empty() ? 0 : runs[0].rows;
    for (size_t g = 0; g < ngran; ++g) {
      // The granule's values, copied a run (or the part of one within an input's granule) at a
      // time.
      const size_t n = part->granule_rows(g);
      for (size_t filled = 0; filled < n;) {
        if (run_left == 0) run_left = runs[++run].rows;
        PartCursor& k = *cur[runs[run].input];
        const size_t take = std::min({run_left, n - filled, k.left()});
        std::memcpy(out.data() + filled, k.values(0), take * sizeof(int64_t));
        filled += take;
        run_left -= take;
        Status s = k.Skip(take);
        if (!s.ok()) return fail(s);
      }
      // EncodeGranule sets the offset from the buffer; in a file, the flushed bytes precede it.
      const uint64_t offset = sink->size();
      EncodeGranule(out.data(), n, &buf, &col.g[g], sink->buffer());
      col.g[g].offset = offset;
      part->awaiting_compression_ |= col.g[g].awaiting;
      if (c == kUser) part->BuildUserBloom(g, out.data());
      col.min = g == 0 ? col.g[g].zmin : std::min(col.min, col.g[g].zmin);
      col.max = g == 0 ? col.g[g].zmax : std::max(col.max, col.g[g].zmax);
      Status s = sink->Flush(/*force=*/false);
      if (!s.ok()) return fail(s);
      if (!keep_going()) return fail(aborted);
    }
    col.file_min = col.min;
    col.file_max = col.max;
  }
  if (env == nullptr) {
    part->data_.shrink_to_fit();
    return std::shared_ptr<const SealedChunk>(std::move(part));
  }
  Status s = sink->Flush(/*force=*/true);
  if (s.ok()) {
    const std::string header = part->EncodeHeader(sink->size());
    const std::string meta = part->EncodeMeta(*dicts);
    s = sink->Finish(header, meta, EncodeFooter(header, meta, sink->crc()));
  }
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (!s.ok()) return fail(s);
  // The rename is durable once the directory is synced.
  RETURN_IF_ERROR(env->SyncDir(DirName(path)));
  // Read back as any part on disk: only its metadata stays in memory.
  return OpenFile(env, path, dicts, /*verify_data=*/false);
}

}  // namespace tokenaudit::query
