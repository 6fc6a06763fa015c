// Checks shared by the tests of the query engine's store (tests only).

#ifndef TOKENAUDIT_QUERY_STORE_TEST_UTIL_H_
#define TOKENAUDIT_QUERY_STORE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "src/query/chunk.h"
#include "src/query/usage_store.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::query {

// Record i of a numbered set: 3 tenants, 389 users, 5 models, 4 workflows (and none), an
// error every 11th, one a second from 2026-12-01 00:00 UTC, sizes and cost varying with i.
inline UsageRecord NumberedRecord(int i) {
  UsageRecord r;
  r.tenant = "t" + std::to_string(i % 3);
  r.user = "u_" + std::to_string((static_cast<int64_t>(i) * 7919) % 389);
  r.model = "model-" + std::to_string(i % 5);
  r.workflow = i % 7 == 0 ? "" : "wf-" + std::to_string(i % 4);
  r.status = i % 11 == 0 ? "error" : "success";
  r.time_us = 1'796'083'200'000'000 + static_cast<int64_t>(i) * 1'000'000;
  r.duration_ms = 100 + i % 1000;
  r.input_width = 100 + i % 3000;
  r.input_height = 200 + i % 2000;
  r.estimated_tokens_milli = *r.input_width * *r.input_height;
  r.cost_micros = i % 100;
  return r;
}

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
