// A compact in-memory index of usage records for GET /v1/events: per record its seq, time and
// dictionary codes of tenant, user, model, workflow and status (about 32 bytes a record). Filters
// scan it from a cursor; the records themselves are read back from the ledger. Rebuilt from the
// log at startup. Thread-safe.
//
// No longer used by the service: GET /v1/events is answered from the query engine's columns
// (query::FindEventSeqs), which hold the same fields. Kept only until bench/query's memory
// breakdown stops comparing against it; then remove.

#ifndef TOKENAUDIT_INGEST_EVENT_INDEX_H_
#define TOKENAUDIT_INGEST_EVENT_INDEX_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/util/chunked_vector.h"
#include "src/util/mutex.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::ingest {

struct EventFilter {
  std::optional<std::string> tenant, user, model, workflow, status;
  std::optional<int64_t> from_us;  // time >= from
  std::optional<int64_t> to_us;    // time < to
  uint64_t after_seq = 0;          // cursor: only seqs >= after_seq
  size_t limit = 100;
};

class EventIndex {
 public:
  // A record as the index keeps it: its seq, time and dictionary codes.
  struct Row {
    uint64_t seq;
    int64_t time_us;
    uint32_t tenant, user, model, workflow, status;
  };

  // Adds a stored record. Seqs may arrive out of order (they are kept sorted).
  void Add(uint64_t seq, const UsageRecord& r);

  // The row of `r` with seq 0, its strings interned now: lets ingest do the string work before
  // the append and keep only 32 bytes per record until it completes. A code interned for a record
  // that is never added matches nothing.
  Row MakeRow(const UsageRecord& r);
  // Adds rows[i] with seq first_seq + i under one lock: a copy when the seqs are newer than every
  // row already held (the ledger completes appends in seq order), sorted in otherwise.
  void AddRows(uint64_t first_seq, std::span<Row> rows);

  // Seqs of matching records in increasing order, at most filter.limit of them. *next_cursor is
  // the value of after_seq that continues the listing, or 0 when nothing is left.
  std::vector<uint64_t> Find(const EventFilter& filter, uint64_t* next_cursor) const;

  size_t size() const;

 private:
  static constexpr uint32_t kAbsent = 0xffffffffu;
  uint32_t Code(std::string_view s) TA_REQUIRES(mu_);
  Row MakeRowLocked(const UsageRecord& r) TA_REQUIRES(mu_);
  void InsertLocked(const Row& row) TA_REQUIRES(mu_);
  // kAbsent if the string was never seen (nothing can match); nullopt if no filter.
  std::optional<uint32_t> Lookup(const std::optional<std::string>& s) const TA_REQUIRES(mu_);

  // The position of the first row in rows_ with seq >= `seq`.
  size_t LowerBound(uint64_t seq) const TA_REQUIRES(mu_);

  mutable Mutex mu_;
  // Rows arrive in seq order (the ledger completes appends in order, the rebuild scans in order)
  // and are appended to chunks that never move, so growing by millions of rows never stalls the
  // caller (the ledger's writer thread) on a copy. A row older than the newest one goes to late_,
  // kept sorted; Find merges the two.
  ChunkedVector<Row> rows_ GUARDED_BY(mu_);
  std::vector<Row> late_ GUARDED_BY(mu_);
  // Transparent hashing: lookups take a string_view and allocate nothing.
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> codes_ GUARDED_BY(mu_);
};

}  // namespace tokenaudit::ingest

#endif  // TOKENAUDIT_INGEST_EVENT_INDEX_H_
