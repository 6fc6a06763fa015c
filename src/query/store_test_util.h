// Checks shared by the tests of the query engine's store (tests only).

#ifndef TOKENAUDIT_QUERY_STORE_TEST_UTIL_H_
#define TOKENAUDIT_QUERY_STORE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "src/query/chunk.h"
#include "src/query/usage_store.h"

namespace tokenaudit::query {

// Every seq in [0, n) exactly once over the sealed parts and tails of `store`.
inline void ExpectEachSeqOnce(const UsageStore& store, uint64_t n) {
  std::vector<int> seen(n, 0);
  DecodeScratch scratch;
  UsageStore::Snapshot snap = store.Snap();
  std::vector<int64_t> seqs;
  for (const auto& part : snap.sealed) {
    seqs.resize(part->rows());
    ASSERT_TRUE(part->Decode(kSeq, seqs.data(), &scratch).ok());
    for (int64_t s : seqs) {
      ASSERT_TRUE(s >= 0 && static_cast<uint64_t>(s) < n) << s;
      ++seen[s];
    }
  }
  for (const auto& raw : snap.raw) {
    for (size_t i = 0; i < raw.rows; ++i) ++seen[raw.chunk->col(kSeq)[i]];
  }
  for (uint64_t s = 0; s < n; ++s) ASSERT_EQ(seen[s], 1) << "seq " << s;
}

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_STORE_TEST_UTIL_H_
