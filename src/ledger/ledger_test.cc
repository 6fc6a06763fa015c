#include "tokenaudit/ledger.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "src/env/fault_injection_env.h"
#include "src/ledger/checkpoint.h"
#include "src/ledger/ledger_test_util.h"
#include "src/ledger/verifier.h"
#include "src/log/log_format.h"
#include "src/log/log_scanner.h"

namespace tokenaudit::ledger {
namespace {

using testing::ReadLog;
using testing::StoredRecord;
using testing::TestRecord;
using env::FaultInjectionEnv;
using env::FaultKind;
using env::TearMode;

class LedgerTest : public ::testing::Test {
 protected:
  LedgerTest() : mem_(NewMemEnv()) {
    options_.env = mem_.get();
    options_.data_dir = "/data";
  }

  std::unique_ptr<Ledger> OpenOrDie() {
    auto r = Ledger::Open(options_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }

  std::string LastSegmentPath() {
    auto segs = log::ListSegments(mem_.get(), "/data/log");
    EXPECT_TRUE(segs.ok() && !segs->empty());
    return "/data/log/" + segs->back();
  }

  std::unique_ptr<Env> mem_;
  LedgerOptions options_;
};

TEST_F(LedgerTest, AppendsGetConsecutiveSeqsAndSurviveReopen) {
  auto ledger = OpenOrDie();
  for (int i = 0; i < 10; ++i) {
    auto seq = ledger->Append(TestRecord(0, i));
    ASSERT_TRUE(seq.ok()) << seq.status();
    EXPECT_EQ(*seq, static_cast<uint64_t>(i));
  }
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();

  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(mem_.get(), "/data", &log).ok());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(log[i].payload, TestRecord(0, i));

  ledger = OpenOrDie();
  uint64_t size = ledger->Size();
  EXPECT_GE(size, 11u);  // 10 records + the checkpoint Close() wrote
  auto seq = ledger->Append(TestRecord(0, 10));
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, size);
}

// On the real file system, with the synced log dropped from the page cache as it is written
// (page_cache_keep_bytes 0) and small segments (each sealed one dropped whole): every record
// reads back, in the same process and after reopening, and the log verifies.
TEST(LedgerPageCacheTest, DroppingSyncedPagesLosesNothing) {
  std::string tmpl = ::testing::TempDir() + "tokenaudit_ledger_drop.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  LedgerOptions options;
  options.env = Env::Default();
  options.data_dir = tmpl + "/data";
  options.segment_bytes = 256 << 10;
  options.page_cache_keep_bytes = 0;
  constexpr int kRecords = 3000;
  {
    auto ledger = Ledger::Open(options);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    std::vector<std::string> batch;
    for (int i = 0; i < kRecords; ++i) {
      batch.push_back(TestRecord(7, static_cast<uint64_t>(i), 200));
      if (batch.size() == 100) {
        std::vector<std::string_view> views(batch.begin(), batch.end());
        ASSERT_TRUE((*ledger)->AppendBatch(views).ok());
        batch.clear();
      }
    }
    for (uint64_t seq : {uint64_t{0}, uint64_t{1234}, uint64_t{kRecords - 1}}) {
      std::string payload;
      RecordType type;
      ASSERT_TRUE((*ledger)->Read(seq, &payload, &type).ok()) << seq;
      EXPECT_EQ(payload, TestRecord(7, seq, 200));
    }
    ASSERT_TRUE((*ledger)->Close().ok());
  }
  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(Env::Default(), options.data_dir, &log).ok());
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_EQ(log[static_cast<uint64_t>(i)].payload, TestRecord(7, static_cast<uint64_t>(i), 200))
        << i;
  }
  auto reopened = Ledger::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_GE((*reopened)->Size(), static_cast<uint64_t>(kRecords));
  EXPECT_TRUE((*reopened)->recovery_report().truncated_bytes == 0);
  ASSERT_TRUE((*reopened)->Close().ok());
  reopened->reset();
  std::filesystem::remove_all(tmpl);
}

TEST_F(LedgerTest, BatchesAreContiguousAndAsyncCompletes) {
  auto ledger = OpenOrDie();
  std::vector<std::string> owned = {TestRecord(1, 0), TestRecord(1, 1), TestRecord(1, 2)};
  std::vector<std::string_view> views(owned.begin(), owned.end());
  auto first = ledger->AppendBatch(views);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 0u);

  std::promise<std::pair<Status, uint64_t>> p;
  ledger->AppendAsync({TestRecord(2, 0), TestRecord(2, 1)}, RecordType::kUsage,
                      [&p](const Status& s, uint64_t seq) { p.set_value({s, seq}); });
  auto [s, seq] = p.get_future().get();
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(seq, 3u);
  EXPECT_EQ(ledger->Size(), 5u);
}

TEST_F(LedgerTest, RefusesOversizedEmptyAndSystemRecords) {
  options_.max_record_bytes = 100;
  auto ledger = OpenOrDie();
  EXPECT_EQ(ledger->Append(std::string(101, 'x')).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger->AppendBatch({}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger->Append("{}", RecordType::kCheckpoint).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(ledger->Append(std::string(100, 'x')).ok());
  std::promise<Status> p;
  ledger->AppendAsync({std::string(200, 'y')}, RecordType::kUsage,
                      [&p](const Status& s, uint64_t) { p.set_value(s); });
  EXPECT_EQ(p.get_future().get().code(), StatusCode::kInvalidArgument);
}

TEST_F(LedgerTest, ConcurrentProducersAllLandExactlyOnce) {
  auto ledger = OpenOrDie();
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> threads;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto seq = ledger->Append(TestRecord(t, i));
        ASSERT_TRUE(seq.ok());
        seqs[t].push_back(*seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(ledger->Close().ok());
  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(mem_.get(), "/data", &log).ok());
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(log[seqs[t][i]].payload, TestRecord(t, i));
  }
  uint64_t usage = 0;
  for (auto& [seq, rec] : log) usage += rec.type == RecordType::kUsage;
  EXPECT_EQ(usage, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(LedgerTest, CheckpointsEveryNRecordsVerifyAndMatchTheTree) {
  options_.checkpoint_every_records = 100;
  options_.checkpoint_interval_ms = 3600 * 1000;
  auto ledger = OpenOrDie();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  Checkpoint cp = ledger->LatestCheckpoint();
  EXPECT_GE(cp.tree_size, 900u);
  ASSERT_TRUE(VerifyCheckpointSignature(cp).ok());
  auto root = ledger->RootAt(cp.tree_size);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, cp.root);

  // Every record is provably in the checkpointed tree; the tree only grew between checkpoints.
  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(mem_.get(), "/data", &log).ok());
  for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{499}, cp.tree_size - 1}) {
    auto proof = ledger->InclusionProof(seq, cp.tree_size);
    ASSERT_TRUE(proof.ok());
    EXPECT_TRUE(merkle::VerifyInclusion(seq, cp.tree_size, merkle::HashLeaf(log[seq].payload),
                                        *proof, cp.root)
                    .ok());
  }
  auto cons = ledger->ConsistencyProof(100, cp.tree_size);
  ASSERT_TRUE(cons.ok());
  auto root100 = ledger->RootAt(100);
  ASSERT_TRUE(root100.ok());
  EXPECT_TRUE(merkle::VerifyConsistency(100, cp.tree_size, *root100, cp.root, *cons).ok());
  // Periodic checkpoint files are written by the checkpoint thread; Close() waits for it.
  ASSERT_TRUE(ledger->Close().ok());
  auto files = mem_->GetChildren("/data/checkpoints");
  ASSERT_TRUE(files.ok());
  EXPECT_GE(files->size(), 9u);
}

TEST_F(LedgerTest, CheckpointIsEmittedWithinTheIntervalWhenIdle) {
  options_.checkpoint_interval_ms = 50;
  auto ledger = OpenOrDie();
  ASSERT_TRUE(ledger->Append(TestRecord(0, 0)).ok());
  for (int i = 0; i < 100 && ledger->LatestCheckpoint().tree_size < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ledger->LatestCheckpoint().tree_size, 1u);
  // The checkpoint's own record does not trigger another checkpoint: the log stays quiet.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(ledger->Size(), 2u);
  EXPECT_EQ(ledger->LatestCheckpoint().tree_size, 1u);
}

TEST_F(LedgerTest, CheckpointFollowsARecordCommittedByItsProducer) {
  // A lone blocking producer commits on its own thread while the writer sleeps with no timer
  // armed; the checkpoint interval must still hold for that record.
  options_.checkpoint_interval_ms = 300;
  const auto opened = std::chrono::steady_clock::now();  // at or before the interval starts
  auto ledger = OpenOrDie();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the writer is idle now
  ASSERT_TRUE(ledger->Append(TestRecord(0, 0)).ok());
  if (std::chrono::steady_clock::now() - opened < std::chrono::milliseconds(300)) {
    EXPECT_EQ(ledger->LatestCheckpoint().tree_size, 0u);  // not due yet at the commit
  }
  for (int i = 0; i < 300 && ledger->LatestCheckpoint().tree_size < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ledger->LatestCheckpoint().tree_size, 1u);
}

TEST_F(LedgerTest, BlockingAndAsyncProducersInterleaveInOrder) {
  // Blocking producers take the commit role when the ledger is idle; async producers always go
  // through the writer. Both paths hand the role back and forth without losing or reordering.
  auto ledger = OpenOrDie();
  constexpr int kPerThread = 300;
  std::vector<uint64_t> blocking_seqs;
  std::thread blocking([&] {
    for (int i = 0; i < kPerThread; ++i) {
      auto seq = ledger->Append(TestRecord(0, i));
      ASSERT_TRUE(seq.ok());
      blocking_seqs.push_back(*seq);
    }
  });
  std::atomic<int> async_ok{0};
  std::thread async([&] {
    for (int i = 0; i < kPerThread; ++i) {
      std::promise<void> done;
      ledger->AppendAsync({TestRecord(1, i)}, RecordType::kUsage,
                          [&](const Status& s, uint64_t) {
                            if (s.ok()) async_ok.fetch_add(1);
                            done.set_value();
                          });
      done.get_future().wait();
    }
  });
  blocking.join();
  async.join();
  EXPECT_EQ(async_ok.load(), kPerThread);
  EXPECT_TRUE(std::is_sorted(blocking_seqs.begin(), blocking_seqs.end()));
  ASSERT_TRUE(ledger->Close().ok());
  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(mem_.get(), "/data", &log).ok());
  for (int i = 0; i < kPerThread; ++i) EXPECT_EQ(log[blocking_seqs[i]].payload, TestRecord(0, i));
  uint64_t usage = 0;
  for (auto& [seq, rec] : log) usage += rec.type == RecordType::kUsage;
  EXPECT_EQ(usage, 2u * kPerThread);
}

TEST_F(LedgerTest, ProofsReadOldLeavesBackFromTheLogAcrossSegmentsAndRestarts) {
  // The tree keeps nodes of 256-leaf blocks and up; proofs below that read the log.
  options_.segment_bytes = 64 << 10;
  auto ledger = OpenOrDie();
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();
  ledger = OpenOrDie();  // offsets and segments from recovery
  const uint64_t size = ledger->Size();
  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(mem_.get(), "/data", &log).ok());
  auto root = ledger->RootAt(size);
  ASSERT_TRUE(root.ok());
  for (uint64_t seq = 0; seq < size; seq += 97) {
    auto proof = ledger->InclusionProof(seq, size);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_TRUE(
        merkle::VerifyInclusion(seq, size, merkle::HashLeaf(log[seq].payload), *proof, *root).ok())
        << seq;
  }
  for (uint64_t old_size : {uint64_t{1}, uint64_t{255}, uint64_t{300}, uint64_t{1025}}) {
    auto old_root = ledger->RootAt(old_size);
    auto proof = ledger->ConsistencyProof(old_size, size);
    ASSERT_TRUE(old_root.ok() && proof.ok());
    EXPECT_TRUE(merkle::VerifyConsistency(old_size, size, *old_root, *root, *proof).ok());
  }
}

TEST_F(LedgerTest, MirrorDirectoryGetsEveryCheckpoint) {
  options_.checkpoint_mirror_dir = "/mirror";
  auto ledger = OpenOrDie();
  ASSERT_TRUE(ledger->Append(TestRecord(0, 0)).ok());
  auto cp = ledger->CreateCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  auto text = ReadFileToString(mem_.get(), "/mirror/" + CheckpointFileName(cp->tree_size));
  ASSERT_TRUE(text.ok()) << text.status();
  auto decoded = DecodeCheckpointFile(*text);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->root, cp->root);
}

TEST_F(LedgerTest, SegmentsRollAndRecoveryReadsThemAll) {
  options_.segment_bytes = 4096;
  auto ledger = OpenOrDie();
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  merkle::Hash root = *ledger->RootAt(500);
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();
  auto segs = log::ListSegments(mem_.get(), "/data/log");
  ASSERT_TRUE(segs.ok());
  EXPECT_GT(segs->size(), 30u);
  ledger = OpenOrDie();
  EXPECT_EQ(*ledger->RootAt(500), root);
  VerifyReport report;
  ASSERT_TRUE(ledger->Close().ok());
  Status s = VerifyDataDir(mem_.get(), "/data", VerifyOptions(), &report);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(report.usage_records, 500u);
}

TEST_F(LedgerTest, ReadAndScanReturnRecordsAcrossSegmentsAndRestarts) {
  options_.segment_bytes = 4096;
  auto ledger = OpenOrDie();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  auto check = [](Ledger* l, uint64_t n) {
    for (uint64_t seq = 0; seq < n; ++seq) {
      std::string payload;
      RecordType type;
      ASSERT_TRUE(l->Read(seq, &payload, &type).ok()) << seq;
      EXPECT_EQ(payload, TestRecord(0, seq));
      EXPECT_EQ(type, RecordType::kUsage);
    }
    std::vector<uint64_t> seen;
    ASSERT_TRUE(l->Scan(37, [&](uint64_t seq, RecordType, std::string_view p) {
                   if (seq < n) {
                     EXPECT_EQ(p, TestRecord(0, seq));
                   }
                   seen.push_back(seq);
                   return Status::OK();
                 }).ok());
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front(), 37u);
    for (size_t i = 1; i < seen.size(); ++i) EXPECT_EQ(seen[i], seen[i - 1] + 1);
    EXPECT_EQ(seen.back() + 1, l->Size());
  };
  check(ledger.get(), 100);
  std::string payload;
  RecordType type;
  EXPECT_EQ(ledger->Read(ledger->Size(), &payload, &type).code(), StatusCode::kNotFound);
  ASSERT_TRUE(ledger->Close().ok());
  ledger = OpenOrDie();
  check(ledger.get(), 100);
  for (int i = 100; i < 150; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  ASSERT_TRUE(ledger->Read(ledger->Size() - 1, &payload, &type).ok());
  EXPECT_EQ(payload, TestRecord(0, 149));
  // A visitor's error stops the scan and is returned as is.
  int calls = 0;
  Status s = ledger->Scan(0, [&](uint64_t, RecordType, std::string_view) {
    return ++calls == 3 ? Status::Internal("stop") : Status::OK();
  });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(calls, 3);
}

TEST_F(LedgerTest, TornTailIsTruncatedOnRecoveryAndNoted) {
  auto ledger = OpenOrDie();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();
  std::string path = LastSegmentPath();
  uint64_t good_size = *mem_->GetFileSize(path);
  {
    // Half a frame: a header promising more payload than follows.
    auto f = mem_->NewAppendableFile(path);
    ASSERT_TRUE(f.ok());
    static constexpr char kPartial[] = "\x11\x22\x33\x44\x00\x10\x00\x00garbage-garbage-garbage";
    std::string partial(kPartial, sizeof(kPartial) - 1);
    ASSERT_TRUE((*f)->Append(partial).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  ledger = OpenOrDie();
  const RecoveryReport& rep = ledger->recovery_report();
  EXPECT_EQ(rep.truncated_offset, good_size);
  EXPECT_EQ(rep.truncated_bytes, 31u);
  ASSERT_TRUE(ledger->Close().ok());
  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(mem_.get(), "/data", &log).ok());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(log[i].payload, TestRecord(0, i));
  bool noted = false;
  for (auto& [seq, rec] : log) {
    if (rec.type == RecordType::kRecovery) {
      noted = true;
      EXPECT_NE(rec.payload.find("\"truncated_bytes\":31"), std::string::npos) << rec.payload;
    }
  }
  EXPECT_TRUE(noted);
}

TEST_F(LedgerTest, BadFrameInTheMiddleRefusesStartupNamingSegmentAndOffset) {
  options_.segment_bytes = 4096;
  auto ledger = OpenOrDie();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();
  auto segs = log::ListSegments(mem_.get(), "/data/log");
  std::string path = "/data/log/" + (*segs)[1];
  std::string data = *ReadFileToString(mem_.get(), path);
  data[200] ^= 0x01;
  ASSERT_TRUE(WriteFileAtomic(mem_.get(), path, data).ok());
  auto r = Ledger::Open(options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find((*segs)[1]), std::string_view::npos) << r.status();
  EXPECT_NE(r.status().message().find("offset"), std::string_view::npos) << r.status();
}

TEST_F(LedgerTest, BadFrameFollowedByValidFrameInLastSegmentIsCorruptionNotTornTail) {
  auto ledger = OpenOrDie();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();
  std::string path = LastSegmentPath();
  std::string data = *ReadFileToString(mem_.get(), path);
  data[log::kSegmentHeaderSize + 30] ^= 0x40;  // inside the first frame's payload
  ASSERT_TRUE(WriteFileAtomic(mem_.get(), path, data).ok());
  auto r = Ledger::Open(options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status();
}

TEST_F(LedgerTest, LostTailBehindACheckpointRefusesStartup) {
  auto ledger = OpenOrDie();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  ASSERT_TRUE(ledger->CreateCheckpoint().ok());
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();
  // Cut the log back at a frame boundary: no CRC can notice, the checkpoint must.
  std::string path = LastSegmentPath();
  uint64_t cut = log::kSegmentHeaderSize;
  std::string data = *ReadFileToString(mem_.get(), path);
  for (int i = 0; i < 10; ++i) {
    cut += log::kFrameHeaderSize + (static_cast<uint8_t>(data[cut + 4]) |
                                    (static_cast<uint8_t>(data[cut + 5]) << 8));
  }
  ASSERT_TRUE(mem_->TruncateFile(path, cut).ok());
  auto r = Ledger::Open(options_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("missing"), std::string_view::npos) << r.status();
}

TEST_F(LedgerTest, SecondOpenOfTheSameDirectoryIsRefused) {
  auto ledger = OpenOrDie();
  auto second = Ledger::Open(options_);
  EXPECT_FALSE(second.ok());
}

TEST_F(LedgerTest, IntervalDurabilityAcknowledgesAndRecovers) {
  options_.durability = Durability::kInterval;
  options_.sync_interval_ms = 5;
  auto ledger = OpenOrDie();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  ASSERT_TRUE(ledger->Close().ok());
  ledger.reset();
  ledger = OpenOrDie();
  EXPECT_GE(ledger->Size(), 100u);
}

struct FaultCase {
  bool on_sync;
  FaultKind kind;
  const char* errno_name;
};

class LedgerFaultTest : public LedgerTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(LedgerFaultTest, FailureLatchesAndNothingIsAcknowledgedAfterIt) {
  FaultInjectionEnv env(mem_.get());
  options_.env = &env;
  auto ledger = OpenOrDie();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ledger->Append(TestRecord(0, i)).ok());
  if (GetParam().on_sync) {
    env.FailNthSync(1, GetParam().kind);
  } else {
    env.FailNthWrite(1, GetParam().kind);
  }
  auto failed = ledger->Append(TestRecord(0, 5));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kIOError) << failed.status();
  EXPECT_NE(failed.status().message().find(GetParam().errno_name), std::string_view::npos)
      << failed.status();
  // Latched: later appends are refused even though the disk would work again.
  for (int i = 6; i < 10; ++i) {
    auto r = ledger->Append(TestRecord(0, i));
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  }
  std::promise<Status> p;
  ledger->AppendAsync({TestRecord(0, 10)}, RecordType::kUsage,
                      [&p](const Status& s, uint64_t) { p.set_value(s); });
  EXPECT_EQ(p.get_future().get().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(ledger->GetStats().failed);
  EXPECT_FALSE(ledger->Close().ok());
  ledger.reset();

  // A restart recovers from disk; the acknowledged records are there.
  env.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  ledger = OpenOrDie();
  ASSERT_TRUE(ledger->Close().ok());
  std::map<uint64_t, StoredRecord> log;
  ASSERT_TRUE(ReadLog(&env, "/data", &log).ok());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(log[i].payload, TestRecord(0, i));
  for (auto& [seq, rec] : log) {
    EXPECT_EQ(rec.payload.find("\"n\":6,"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllFaults, LedgerFaultTest,
    ::testing::Values(FaultCase{false, FaultKind::kEIO, "EIO"},
                      FaultCase{false, FaultKind::kENOSPC, "ENOSPC"},
                      FaultCase{true, FaultKind::kEIO, "EIO"},
                      FaultCase{true, FaultKind::kENOSPC, "ENOSPC"}),
    [](const ::testing::TestParamInfo<FaultCase>& info) {
      return std::string(info.param.on_sync ? "Sync" : "Write") + info.param.errno_name;
    });

}  // namespace
}  // namespace tokenaudit::ledger
