#include "tokenaudit/record_batch.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <thread>
#include <vector>

#include "src/ledger/ledger_test_util.h"
#include "src/ledger/verifier.h"
#include "src/log/frame.h"
#include "src/log/log_format.h"
#include "src/util/coding.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::ledger {
namespace {

using testing::ReadLog;
using testing::StoredRecord;
using testing::TestRecord;

TEST(RecordBatchTest, HoldsEachRecordBehindItsFrameHeaderWithLeafHashes) {
  RecordBatch b;
  b.Add("first");
  char* p = b.Begin(100);  // written in place, committed shorter than reserved
  std::memcpy(p, "second", 6);
  b.Commit(6);
  b.Begin(50);  // begun and never committed: dropped
  b.Add("");
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b.record(0), "first");
  EXPECT_EQ(b.record(1), "second");
  EXPECT_EQ(b.record(2), "");
  EXPECT_EQ(b.frame_bytes(), 3 * log::kFrameHeaderSize + 11);
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(b.leaves()[i], merkle::HashLeaf(b.record(i)));
    // Completed in place, the frame is byte for byte what EncodeFrame writes.
    const std::string_view rec = b.record(i);
    log::CompleteFrameHeader(0x1234, 70 + i, 1, b.mutable_frame(i));
    std::string expected;
    log::EncodeFrame(0x1234, 70 + i, 1, rec, &expected);
    EXPECT_EQ(std::string_view(b.mutable_frame(i), b.frame_size(i)), expected) << i;
  }
}

// Records are hashed in pairs as they are committed; the last one waits for a partner or for
// leaves(). Whenever leaves() is asked, with an odd or even count, every record has its leaf and
// its frame is complete, also for records committed after an earlier leaves() and for batches
// appended to each other with a record waiting in either.
TEST(RecordBatchTest, LeavesAndFramesAreCompleteWheneverAskedWhileHashedInPairs) {
  auto check = [](RecordBatch& b, const std::vector<std::string>& recs) {
    ASSERT_EQ(b.size(), recs.size());
    ASSERT_EQ(b.leaves().size(), recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
      ASSERT_EQ(b.leaves()[i], merkle::HashLeaf(recs[i])) << i;
      std::string expected;
      log::EncodeFrame(0x99, 5 + i, 1, recs[i], &expected);
      log::CompleteFrameHeader(0x99, 5 + i, 1, b.mutable_frame(i));
      ASSERT_EQ(std::string_view(b.data() + b.frame_offset(i), b.frame_size(i)), expected) << i;
    }
  };
  RecordBatch b;
  std::vector<std::string> recs;
  for (int i = 0; i < 40; ++i) {
    recs.push_back(TestRecord(1, static_cast<uint64_t>(i), i % 7 == 0 ? 0 : 30 + i * 13));
    b.Add(recs.back());
    if (i % 3 == 0 || i % 5 == 0) check(b, recs);  // asked at odd and even counts
  }
  check(b, recs);
  for (int waiting_in : {0, 1, 2, 3}) {  // neither, this, other, both with a record waiting
    RecordBatch x, y;
    std::vector<std::string> rx, ry;
    for (int i = 0; i < 4 + (waiting_in & 1); ++i) {
      rx.push_back(TestRecord(2, static_cast<uint64_t>(i), 50 + i));
      x.Add(rx.back());
    }
    for (int i = 0; i < 6 + (waiting_in >> 1); ++i) {
      ry.push_back(TestRecord(3, static_cast<uint64_t>(i), 70 + i));
      y.Add(ry.back());
    }
    x.Append(std::move(y));
    rx.insert(rx.end(), ry.begin(), ry.end());
    check(x, rx);
  }
  // A batch moved from with a record waiting is empty, and can be filled again.
  RecordBatch from;
  from.Add("one");
  RecordBatch to(std::move(from));
  EXPECT_EQ(from.size(), 0u);
  EXPECT_EQ(from.frame_bytes(), 0u);
  EXPECT_TRUE(from.leaves().empty());
  std::vector<std::string> again = {"two", "three", "four"};
  for (const std::string& r : again) from.Add(r);
  check(from, again);
  check(to, {"one"});
  to = std::move(from);
  check(to, again);
}

TEST(RecordBatchTest, RetainKeepsTheListedRecordsInOrderAcrossRegrowth) {
  RecordBatch b;
  std::vector<std::string> recs;
  for (int i = 0; i < 3000; ++i) {  // several times the first buffer: regrows keep the records
    recs.push_back(TestRecord(3, static_cast<uint64_t>(i), 40 + i % 90));
    b.Add(recs.back());
  }
  const std::vector<uint32_t> keep = {1, 2, 5, 2999};
  b.Retain(keep);
  ASSERT_EQ(b.size(), keep.size());
  uint64_t bytes = 0;
  for (size_t k = 0; k < keep.size(); ++k) {
    EXPECT_EQ(b.record(k), recs[keep[k]]);
    EXPECT_EQ(b.leaves()[k], merkle::HashLeaf(recs[keep[k]]));
    bytes += log::kFrameHeaderSize + recs[keep[k]].size();
  }
  EXPECT_EQ(b.frame_bytes(), bytes);
}

TEST(RecordBatchTest, AppendMovesTheOtherBatchsRecordsBehindInOrder) {
  std::vector<std::string> recs;
  RecordBatch whole, empty_first;
  std::vector<RecordBatch> parts(4);  // the first is empty: Append into it takes the buffer
  for (int i = 0; i < 2000; ++i) {
    recs.push_back(TestRecord(5, static_cast<uint64_t>(i), 30 + i % 70));
    parts[1 + i % 3].Add(recs.back());  // part k holds records k-1, k+2, ...
  }
  // Expected order: part 1's records, then part 2's, then part 3's.
  std::vector<std::string> order;
  for (int k = 1; k <= 3; ++k) {
    for (size_t i = static_cast<size_t>(k - 1); i < recs.size(); i += 3) order.push_back(recs[i]);
  }
  for (int k = 0; k < 4; ++k) whole.Append(std::move(parts[k]));
  whole.Append(std::move(empty_first));  // an empty batch adds nothing
  ASSERT_EQ(whole.size(), order.size());
  uint64_t bytes = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    ASSERT_EQ(whole.record(i), order[i]) << i;
    EXPECT_EQ(whole.leaves()[i], merkle::HashLeaf(order[i])) << i;
    bytes += log::kFrameHeaderSize + order[i].size();
  }
  EXPECT_EQ(whole.frame_bytes(), bytes);
  for (const RecordBatch& p : parts) EXPECT_TRUE(p.empty());
  // Frames stay whole: CRCs completed in place still match a fresh encoding.
  log::CompleteFrameHeader(0x77, 9, 1, whole.mutable_frame(whole.size() - 1));
  std::string expected;
  log::EncodeFrame(0x77, 9, 1, order.back(), &expected);
  EXPECT_EQ(std::string_view(whole.mutable_frame(whole.size() - 1), whole.frame_size(whole.size() - 1)),
            expected);
}

class RecordBatchLedgerTest : public ::testing::Test {
 protected:
  RecordBatchLedgerTest() : mem_(NewMemEnv()) {
    options_.env = mem_.get();
    options_.data_dir = "/data";
  }
  std::unique_ptr<Ledger> OpenOrDie() {
    auto r = Ledger::Open(options_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }
  // Appends `b` and waits for its callback.
  static std::pair<Status, uint64_t> AppendAndWait(Ledger* ledger, RecordBatch b) {
    std::promise<std::pair<Status, uint64_t>> p;
    ledger->AppendAsync(std::move(b), RecordType::kUsage,
                        [&p](const Status& s, uint64_t seq) { p.set_value({s, seq}); });
    return p.get_future().get();
  }

  std::unique_ptr<Env> mem_;
  LedgerOptions options_;
};

TEST_F(RecordBatchLedgerTest, BatchesSpanningSegmentRollsMixedWithOtherAppendsReadBackAndVerify) {
  options_.segment_bytes = 4096;  // ~12 records a segment: rolls fall inside every batch
  auto ledger = OpenOrDie();
  std::map<uint64_t, std::string> expected;
  // Another producer appends through the copying paths meanwhile, so commits mix both kinds.
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(ledger->Append(TestRecord(9, i)).ok());
  });
  std::vector<std::pair<uint64_t, std::string>> mine;
  for (int batch = 0; batch < 20; ++batch) {
    RecordBatch b;
    std::vector<std::string> recs;
    for (int i = 0; i < 25; ++i) {
      recs.push_back(TestRecord(batch, static_cast<uint64_t>(i), 100 + 10 * i));
      b.Add(recs.back());
    }
    auto [s, first] = AppendAndWait(ledger.get(), std::move(b));
    ASSERT_TRUE(s.ok()) << s;
    for (size_t i = 0; i < recs.size(); ++i) mine.emplace_back(first + i, recs[i]);
  }
  other.join();
  for (const auto& [seq, rec] : mine) {
    std::string payload;
    RecordType type;
    ASSERT_TRUE(ledger->Read(seq, &payload, &type).ok()) << seq;
    EXPECT_EQ(payload, rec) << seq;
  }
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();

  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(mem_.get(), "/data", &log).ok());
  for (const auto& [seq, rec] : mine) EXPECT_EQ(log[seq].payload, rec) << seq;
  VerifyReport report;
  Status s = VerifyDataDir(mem_.get(), "/data", VerifyOptions(), &report);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(report.usage_records, 600u);
  ledger = OpenOrDie();  // recovery reads every segment back
  EXPECT_GE(ledger->Size(), 600u);
}

TEST_F(RecordBatchLedgerTest, RefusesEmptyAndOversizedBatchesUpFront) {
  options_.max_record_bytes = 100;
  auto ledger = OpenOrDie();
  EXPECT_EQ(AppendAndWait(ledger.get(), RecordBatch()).first.code(),
            StatusCode::kInvalidArgument);
  RecordBatch b;
  b.Add(std::string(100, 'x'));
  b.Add(std::string(101, 'x'));
  EXPECT_EQ(AppendAndWait(ledger.get(), std::move(b)).first.code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger->Size(), 0u);
}

}  // namespace
}  // namespace tokenaudit::ledger
