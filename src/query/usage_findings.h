// The seed's "who behaves oddly" questions (doc/query_api.md): duplicate submissions and
// extreme parameter combinations. Both read a snapshot of the usage store like RunUsageQuery.

#ifndef TOKENAUDIT_QUERY_USAGE_FINDINGS_H_
#define TOKENAUDIT_QUERY_USAGE_FINDINGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/query/usage_query.h"
#include "src/query/usage_store.h"
#include "tokenaudit/result.h"

namespace tokenaudit::query {

// Rows a finding looks at: filters and time range as in UsageQuery (group_by, measures and
// ordering are not used).
struct FindingScope {
  std::vector<Filter> filters;
  std::optional<int64_t> from_us, to_us;
};

// Duplicate submissions: the same user ran the same input (input.hash) with the same parameters
// (model, model_variant, node_type, workflow_hash, model_input_size, batch) again within
// `window_us` of the previous run. Runs chained that way form one cluster; clusters of two or
// more runs are reported, most runs first.
struct DuplicateCluster {
  std::string user, model;
  uint64_t input_hash_prefix = 0;  // first 8 bytes of the input's SHA-256
  uint64_t runs = 0;
  int64_t first_time_us = 0, last_time_us = 0;
  int64_t tokens_milli = 0, cost_micros = 0;  // spent on the repeats (all runs but the first)
  std::vector<uint64_t> seqs;                 // the first 20, in time order
};
Result<std::vector<DuplicateCluster>> FindDuplicates(const UsageStore& store,
                                                     const FindingScope& scope, int64_t window_us,
                                                     size_t limit);

// Extreme parameter combinations: for each record in scope, the z-scores of its features
// (log2 megapixels, model_input_size, batch, log2 duration) against the same user's records and
// against everyone's (all records of the store, so history counts). A record is extreme when
// |z| >= threshold against everyone and also against the user's own history, or the user has
// fewer than `min_history` records. Users with extreme records are reported, most first.
struct Anomaly {
  std::string user;
  uint64_t records = 0;  // the user's records in scope
  uint64_t extreme = 0;  // of which extreme
  // The most extreme record.
  uint64_t seq = 0;
  std::string feature;  // "megapixels", "model_input_size", "batch" or "duration"
  double value = 0, z_user = 0, z_all = 0;
  std::string model;
};
Result<std::vector<Anomaly>> FindAnomalies(const UsageStore& store, const FindingScope& scope,
                                           double threshold, uint64_t min_history, size_t limit);

// GET /v1/events listing: the seqs of records in scope with seq >= after_seq, in increasing
// order, at most `limit`. *next_cursor is the after_seq that continues the listing, 0 when
// nothing is left. Chunks are visited by their seq zone maps, so a page reads only the chunks
// that can hold its seqs.
Result<std::vector<uint64_t>> FindEventSeqs(const UsageStore& store, const FindingScope& scope,
                                            uint64_t after_seq, size_t limit,
                                            uint64_t* next_cursor);

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_USAGE_FINDINGS_H_
