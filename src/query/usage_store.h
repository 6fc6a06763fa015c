// The query engine's copy of every usage record (doc/query_engine.md): a tail of recent rows
// answered directly, and sealed, compressed chunks. A record added here is visible to the next
// query; filling the tail seals it on a background thread. Derived from the log: the service
// rebuilds it at startup from the ledger and adds each record when its append completes.
// Thread-safe.

#ifndef TOKENAUDIT_QUERY_USAGE_STORE_H_
#define TOKENAUDIT_QUERY_USAGE_STORE_H_

#include <array>
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

class UsageStore {
 public:
  UsageStore();
  ~UsageStore();
  UsageStore(const UsageStore&) = delete;
  UsageStore& operator=(const UsageStore&) = delete;

  // Keeps sealed chunks as files in `dir` (doc/columns_format.md; created if missing) and loads
  // the ones already there. Sets loaded[seq] for every record loaded, so that a rebuild from the
  // log adds only the others. A file that does not load is removed (the log rebuilds its rows)
  // and counted in *discarded. Call once, before any Add.
  Status Open(Env* env, const std::string& dir, std::vector<bool>* loaded, size_t* discarded)
      TA_EXCLUDES(mu_);

  // The row of a stored record, its strings interned now. Any thread; `seq` may be set later
  // (row[kSeq]) when the ledger assigns it.
  Row MakeRow(const UsageRecord& r, uint64_t seq);
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
  };
  Stats GetStats() const TA_EXCLUDES(mu_);

  // Blocks until every full chunk is sealed (tests and shutdown).
  void WaitSealed() TA_EXCLUDES(mu_);

 private:
  void SealLoop();
  // Writes a sealed chunk's file and returns the chunk read from it (only its metadata in
  // memory); on an error, counted in stats, the chunk itself (its rows stay queryable).
  std::shared_ptr<const SealedChunk> Persist(std::shared_ptr<const SealedChunk> chunk);

  std::array<Dictionary, kNumStringCols> dicts_;

  mutable Mutex mu_;
  CondVar seal_cv_;   // the sealer: work to do, or stop
  CondVar sealed_cv_; // WaitSealed: a chunk was sealed
  std::vector<std::shared_ptr<const SealedChunk>> sealed_ GUARDED_BY(mu_);
  std::deque<std::shared_ptr<TailChunk>> frozen_ GUARDED_BY(mu_);  // full, not sealed yet
  std::shared_ptr<TailChunk> tail_ GUARDED_BY(mu_);
  size_t tail_rows_ GUARDED_BY(mu_) = 0;
  uint64_t rows_ GUARDED_BY(mu_) = 0;
  size_t sealed_bytes_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  Env* env_ = nullptr;  // set by Open; null: chunks live in memory only
  std::string dir_;
  uint64_t persist_failures_ GUARDED_BY(mu_) = 0;
  std::thread sealer_;
};

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_USAGE_STORE_H_
