// The load generator's records (bench/ingest/ingest_loadgen.cc): a DDColor colourisation call as a
// ComfyUI gateway would report it (DESIGN §2, all its fields, ~560 bytes of compact JSON). Record i
// is a pure function of (seed, id prefix, i), so tokenaudit and ClickHouse receive the same
// records. Ids are UUID-shaped: the first 12 hex digits come from a hash of (seed, id prefix), the
// last 12 are i. Users follow a Zipf distribution over 2,000 names; 2% of records are errors.

#ifndef TOKENAUDIT_BENCH_INGEST_LOADGEN_RECORDS_H_
#define TOKENAUDIT_BENCH_INGEST_LOADGEN_RECORDS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace tokenaudit::bench {

class Writer;

class RecordGenerator {
 public:
  // underscore_keys: dotted field names spelled with '_' (the ClickHouse table's columns).
  RecordGenerator(uint64_t seed, std::string id_prefix, bool underscore_keys);

  // Appends record `i` as one JSON object (no newline).
  void Append(uint64_t i, std::string* out) const;

  // A body of records [first, first + n): NDJSON (JSONEachRow) or a JSON array.
  void Body(uint64_t first, uint64_t n, bool array, std::string* out) const;

 private:
  // A dotted field name as tokenaudit spells it, or with '_' for the ClickHouse columns.
  void Key(Writer& w, std::string_view dotted) const;
  // Writes a time as a quoted RFC 3339 string; `slot` picks the cache (0 start, 1 end time).
  void WriteTime(Writer& w, int slot, int64_t unix_us) const;

  // The formatted second of the last time written per slot (one generator per thread).
  struct TimeCache {
    int64_t secs = -1;
    char text[19];
  };

  uint64_t seed_;
  std::string id_prefix_;
  bool underscore_;
  uint64_t prefix_hash_;
  mutable TimeCache time_cache_[2];
};

}  // namespace tokenaudit::bench

#endif  // TOKENAUDIT_BENCH_INGEST_LOADGEN_RECORDS_H_
