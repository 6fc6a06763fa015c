// The query engine's copy of every usage record (doc/query_engine.md): a tail of recent rows
// answered directly, and sealed, compressed chunks. A record added here is visible to the next
// query; filling the tail seals it on a background thread. Derived from the log: the service
// rebuilds it at startup from the ledger and adds each record when its append completes.
// Thread-safe.

#ifndef TOKENAUDIT_QUERY_USAGE_STORE_H_
#define TOKENAUDIT_QUERY_USAGE_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "src/query/chunk.h"
#include "src/query/dictionary.h"
#include "src/query/usage_columns.h"
#include "src/util/mutex.h"
#include "tokenaudit/env.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::query {

// How sealed parts are merged in the background (doc/query_engine.md, "Merging").
//
// Time partitions (ClickHouse's PARTITION BY): with partition_us > 0, record time (kTime, UTC
// microseconds) is cut into partitions of that width, a full chunk is sealed as one part per
// partition its rows fall in, and only parts of one partition are merged together, so a part's
// time range stays within its partition and a short time range reads only the parts of its
// partitions. A part belongs to the partition of its smallest time (parts written by this code
// never straddle a boundary; a file written without partitions may, and then spills over).
// partition_us == 0: one partition, the merges of the levels alone.
//
// Within a partition:
//  - levels: `fan_in` parts of one level (consecutive in seal order among the partition's
//    parts) become one part of the next level. Level 0 is a sealed chunk (up to kChunkRows
//    rows); a part of level L holds up to kChunkRows * fan_in^L rows; parts of max_level are not
//    merged further;
//  - closing: once a later partition has parts, a partition's parts below max_level (two or
//    more) are merged into one, so that a past day ends in one part (or a few, if it holds more
//    than kChunkRows * fan_in^max_level rows) even when it never filled a level; but only when
//    the others together hold at least 1/fan_in of the largest one's rows, so that late records
//    trickling into a past partition are gathered first (by the levels) and a large part is
//    rewritten only once it grows by 1/fan_in: the rows these merges write are about fan_in + 1
//    times the late rows at most, not one rewrite of the day per chunk.
//
// Compression: while merging is on, sealed chunks, and with partitions the parts of the levels
// between 0 and max_level made in the newest partition, are stored without zstd (their frames
// frame-of-reference coded only, ~2x the bytes, marked as awaiting compression) unless
// compress_chunks: they are soon rewritten by the next level's or the closing merge, so
// compressing each first (and decompressing it for that merge) costs CPU for files that live
// seconds to minutes (hours for a level-1 part at low rates) on a machine that is ingesting.
// Every other part a merge makes is compressed. A past partition's part still awaiting
// compression is merged by the closing rule even when it is the only one below max_level
// (alone, it is rewritten compressed) or when the ratio rule would wait, and a part of max_level
// awaiting compression (max_level was higher when it was made) is rewritten alone, so that once
// the merges have caught up only the newest partition holds parts awaiting compression, besides
// late chunks of past ones that wait for the ratio rule.
struct MergePolicy {
  bool enabled = true;
  size_t fan_in = 8;
  int max_level = 2;
  bool compress_chunks = false;
  int64_t partition_us = int64_t{86'400} * 1'000'000;  // one UTC day
};

class TailPool;

class UsageStore {
 public:
  explicit UsageStore(MergePolicy merge = {});
  ~UsageStore();
  UsageStore(const UsageStore&) = delete;
  UsageStore& operator=(const UsageStore&) = delete;

  // Keeps sealed chunks and merged parts as files in `dir` (doc/columns_format.md; created if
  // missing) and loads the ones already there. Sets loaded[seq] for every record loaded, so that
  // a rebuild from the log adds only the others. A file that does not load is counted in
  // *discarded (the log rebuilds its rows) and removed if it is damaged (Corruption); one that
  // could not be read for another reason (no descriptor left, EIO) stays for the next start.
  // Larger files are loaded first; a file that overlaps one already loaded (the inputs of a
  // merge that was interrupted after its output was renamed into place) is removed, not
  // counted. Call once, before any Add.
  Status Open(Env* env, const std::string& dir, std::vector<bool>* loaded, size_t* discarded)
      TA_EXCLUDES(mu_);

  // Codes of strings interned lately, per string column: a caller that makes many rows (one
  // request's batch) keeps one so that the strings that repeat from record to record (tenant,
  // status, model, device...) are not looked up in the shared dictionary each time. Valid with
  // the store that filled it only (codes never change while the store lives). One thread.
  class InternCache {
   public:
    InternCache() = default;
    // User cache ways holding a string (for tests: how well user strings spread).
    size_t user_ways_used() const {
      size_t n = 0;
      for (const Entry& e : user_entries_) n += e.code != 0;
      return n;
    }

   private:
    friend class UsageStore;
    // Direct-mapped, per column. The user column has many values (pseudonyms of random
    // characters, all of one length), so it gets more ways, chosen by a hash of the string.
    static constexpr size_t kWays = 8;
    static constexpr size_t kUserWays = 256;  // UserWay in usage_store.cc gives 8 bits
    struct Entry {
      std::string_view s;  // the dictionary's copy: stable while the store lives
      uint32_t code = 0;
    };
    std::array<std::array<Entry, kWays>, kNumStringCols> entries_{};
    std::array<Entry, kUserWays> user_entries_{};
  };

  // The row of a stored record, its strings interned now. Any thread; `seq` may be set later
  // (row[kSeq]) when the ledger assigns it. `cache`, if given, must have been used with this
  // store only.
  Row MakeRow(const UsageRecord& r, uint64_t seq, InternCache* cache = nullptr);
  // Makes rows visible to queries.
  void Add(std::span<const Row> rows) TA_EXCLUDES(mu_);

  // What one query reads: immutable chunks plus a prefix of chunks still being filled or sealed.
  struct Snapshot {
    std::vector<std::shared_ptr<const SealedChunk>> sealed;
    struct Raw {
      std::shared_ptr<const TailChunk> chunk;
      size_t rows;
    };
    std::vector<Raw> raw;
  };
  Snapshot Snap() const TA_EXCLUDES(mu_);

  const Dictionary& dict(Col c) const { return dicts_[c]; }
  uint64_t rows() const TA_EXCLUDES(mu_);

  struct Stats {
    uint64_t rows = 0;
    size_t sealed_chunks = 0;
    size_t sealed_bytes = 0;  // encoded column bytes
    uint64_t persist_failures = 0;  // chunk files that could not be written
    size_t sealed_memory_bytes = 0;  // what the sealed chunks hold in memory
    size_t sealed_on_disk = 0;       // sealed chunks read from their files
    uint64_t merges = 0;             // merged parts made
    uint64_t merge_failures = 0;     // merges that failed (their inputs stayed)
    uint64_t merged_rows = 0;        // rows written by merges (write amplification)
    uint64_t covered_files = 0;      // files dropped at Open as covered by a larger one
    // The error of the last chunk file that could not be written or merge that failed (for the
    // operator: both leave the store correct, the rows stay where they were); empty if none.
    std::string last_error;
    bool merge_pending = false;      // a merge is running or could start
  };
  Stats GetStats() const TA_EXCLUDES(mu_);

  // Blocks until every full chunk is sealed (tests and shutdown).
  void WaitSealed() TA_EXCLUDES(mu_);
  // Blocks until every full chunk is sealed and no merge is running or due (tests, benchmarks).
  void WaitMerged() TA_EXCLUDES(mu_);

 private:
  void SealLoop();
  void MergeLoop();
  // The next merge (MergePolicy): its parts, in seal order (none: nothing to merge; only parts
  // on disk when the store has a directory), and how to store its output.
  struct MergePick {
    std::vector<std::shared_ptr<const SealedChunk>> inputs;
    Compression compression = Compression::kZstd;
  };
  MergePick PickMerge() const TA_REQUIRES(mu_);
  // The time partition of a part (of its smallest time); 0 without partitions.
  int64_t Partition(const SealedChunk& part) const;
  // Seals the first `rows` rows of `chunk`: one part per time partition they fall in. With
  // `scratch` (parts about to be persisted), its buffers are reused (SealedChunk::Seal).
  std::vector<std::shared_ptr<SealedChunk>> SealByPartition(const TailChunk& chunk, size_t rows,
                                                            SealScratch* scratch) const;
  bool MergePendingLocked() const TA_REQUIRES(mu_);
  int Level(size_t rows) const;
  bool MergeOn() const { return merge_.enabled && merge_.fan_in >= 2 && merge_.max_level >= 1; }
  // How a sealed chunk is stored (see MergePolicy).
  Compression ChunkCompression() const {
    return MergeOn() && !merge_.compress_chunks ? Compression::kNone : Compression::kZstd;
  }
  // Writes a sealed chunk's file and returns the chunk read from it (only its metadata in
  // memory; the frames' buffer goes back to seal_scratch_); on an error, counted in stats, the
  // chunk itself (its rows stay queryable). Seal thread only.
  std::shared_ptr<const SealedChunk> Persist(std::shared_ptr<SealedChunk> chunk);

  std::array<Dictionary, kNumStringCols> dicts_;
  SealScratch seal_scratch_;  // used by the seal thread only (SealLoop)

  mutable Mutex mu_;
  CondVar seal_cv_;   // the sealer: work to do, or stop
  CondVar sealed_cv_; // WaitSealed, WaitMerged: a chunk was sealed or a merge ended
  CondVar merge_cv_;  // the merger: parts changed, or stop
  std::vector<std::shared_ptr<const SealedChunk>> sealed_ GUARDED_BY(mu_);
  std::deque<std::shared_ptr<TailChunk>> frozen_ GUARDED_BY(mu_);  // full, not sealed yet
  // Where a tail goes once nothing holds it (sealed, and no query reads it), for the next tail.
  const std::shared_ptr<TailPool> tail_pool_;
  std::shared_ptr<TailChunk> tail_ GUARDED_BY(mu_);
  size_t tail_rows_ GUARDED_BY(mu_) = 0;
  uint64_t rows_ GUARDED_BY(mu_) = 0;
  size_t sealed_bytes_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  Env* env_ = nullptr;  // set by Open; null: chunks live in memory only
  std::string dir_;
  uint64_t persist_failures_ GUARDED_BY(mu_) = 0;
  const MergePolicy merge_;
  bool merging_ GUARDED_BY(mu_) = false;
  // After a failed merge, no other starts until the next chunk is sealed (a full disk would
  // otherwise be retried in a loop).
  bool merge_blocked_ GUARDED_BY(mu_) = false;
  uint64_t merges_ GUARDED_BY(mu_) = 0;
  uint64_t merge_failures_ GUARDED_BY(mu_) = 0;
  uint64_t merged_rows_ GUARDED_BY(mu_) = 0;
  uint64_t covered_files_ GUARDED_BY(mu_) = 0;
  std::string last_error_ GUARDED_BY(mu_);
  std::atomic<bool> stopping_{false};  // read by a running merge between granules
  std::thread sealer_;
  std::thread merger_;
};

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_USAGE_STORE_H_
