#include "src/client/spool.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/client/spool_format.h"
#include "src/env/fault_injection_env.h"
#include "src/log/log_format.h"

namespace tokenaudit::client {
namespace {

std::string Rec(int i) { return "{\"id\":\"r-" + std::to_string(i) + "\",\"status\":\"success\"}"; }

class SpoolTest : public ::testing::Test {
 protected:
  std::unique_ptr<Spool> Open(SpoolOptions o = {}) {
    auto s = Spool::Open(env_, "/spool", o);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  Status Append(Spool* s, int from, int to) {
    std::vector<std::string> recs;
    for (int i = from; i < to; ++i) recs.push_back(Rec(i));
    std::vector<SpoolEntry> entries;
    for (int i = from; i < to; ++i) {
      entries.push_back(SpoolEntry{recs[i - from], static_cast<uint64_t>(i)});
    }
    return s->Append(entries);
  }

  std::vector<SpoolRecord> ReadAll(Spool* s) {
    std::vector<SpoolRecord> out;
    for (;;) {
      auto n = s->ReadNext(1000, 1 << 20, &out);
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
    }
    return out;
  }

  std::vector<std::string> SpoolFiles() {
    auto names = env_->GetChildren("/spool");
    std::vector<std::string> files;
    for (auto& n : *names) {
      uint64_t num;
      if (ParseSpoolFileName(n, &num)) files.push_back("/spool/" + n);
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  std::unique_ptr<Env> mem_ = NewMemEnv();
  Env* env_ = mem_.get();
};

TEST_F(SpoolTest, FileNamesRoundTrip) {
  uint64_t n = 0;
  EXPECT_EQ(SpoolFileName(42), "00000000000000000042.spool");
  EXPECT_TRUE(ParseSpoolFileName(SpoolFileName(42), &n));
  EXPECT_EQ(n, 42u);
  EXPECT_FALSE(ParseSpoolFileName("00000000000000000042.seg", &n));
  EXPECT_FALSE(ParseSpoolFileName("0000000000000000004x.spool", &n));
  EXPECT_FALSE(ParseSpoolFileName("99999999999999999999.spool", &n));  // overflows u64
}

TEST_F(SpoolTest, AppendedRecordsReadBackInOrderWithTheirOrdinals) {
  auto s = Open();
  EXPECT_TRUE(s->empty());
  ASSERT_TRUE(Append(s.get(), 1, 11).ok());
  ASSERT_TRUE(Append(s.get(), 11, 21).ok());
  EXPECT_FALSE(s->empty());
  EXPECT_TRUE(s->HasUnread());
  auto recs = ReadAll(s.get());
  ASSERT_EQ(recs.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(recs[i].json, Rec(i + 1));
    EXPECT_EQ(recs[i].ord, static_cast<uint64_t>(i + 1));
  }
  EXPECT_FALSE(s->HasUnread());
  EXPECT_FALSE(s->empty());  // read, but not yet acknowledged
  ASSERT_TRUE(s->AcknowledgeRead().ok());
  EXPECT_TRUE(s->empty());
  EXPECT_TRUE(SpoolFiles().empty());
}

TEST_F(SpoolTest, FilesFoundAtOpenAreReadWithOrdinalZero) {
  {
    auto s = Open();
    ASSERT_TRUE(Append(s.get(), 1, 6).ok());
  }
  auto s = Open();
  EXPECT_TRUE(s->HoldsForeignFiles());
  auto recs = ReadAll(s.get());
  ASSERT_EQ(recs.size(), 5u);
  for (auto& r : recs) EXPECT_EQ(r.ord, 0u);
  // New appends go to a new file after the old ones.
  ASSERT_TRUE(Append(s.get(), 6, 8).ok());
  ASSERT_TRUE(s->AcknowledgeRead().ok());
  EXPECT_FALSE(s->HoldsForeignFiles());
  recs = ReadAll(s.get());
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].ord, 6u);
}

TEST_F(SpoolTest, RollsFilesAndDeletesOnlyFilesReadToTheEnd) {
  SpoolOptions o;
  o.file_bytes = 300;
  auto s = Open(o);
  ASSERT_TRUE(Append(s.get(), 0, 40).ok());
  const size_t files = SpoolFiles().size();
  EXPECT_GT(files, 3u);
  EXPECT_EQ(s->files(), files);
  std::vector<SpoolRecord> out;
  ASSERT_EQ(*s->ReadNext(7, 1 << 20, &out), 7u);
  ASSERT_TRUE(s->AcknowledgeRead().ok());
  EXPECT_LT(SpoolFiles().size(), files);  // the first files are gone ...
  EXPECT_FALSE(s->empty());               // ... not the one being read
  auto rest = ReadAll(s.get());
  ASSERT_EQ(rest.size(), 33u);
  EXPECT_EQ(rest[0].json, Rec(7));
  ASSERT_TRUE(s->AcknowledgeRead().ok());
  EXPECT_TRUE(SpoolFiles().empty());
}

TEST_F(SpoolTest, ReadingSealsTheActiveFile) {
  auto s = Open();
  ASSERT_TRUE(Append(s.get(), 0, 3).ok());
  EXPECT_EQ(ReadAll(s.get()).size(), 3u);
  ASSERT_TRUE(Append(s.get(), 3, 5).ok());  // goes to a new file
  EXPECT_EQ(SpoolFiles().size(), 2u);
  ASSERT_TRUE(s->AcknowledgeRead().ok());
  EXPECT_EQ(SpoolFiles().size(), 1u);
  auto recs = ReadAll(s.get());
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].json, Rec(3));
}

TEST_F(SpoolTest, ReadNextHonoursLimitsButAlwaysReturnsOneRecord) {
  auto s = Open();
  ASSERT_TRUE(Append(s.get(), 0, 10).ok());
  std::vector<SpoolRecord> out;
  EXPECT_EQ(*s->ReadNext(3, 1 << 20, &out), 3u);
  // A record counts with the newline that ends it in the body: two fit in twice (size + 1)...
  EXPECT_EQ(*s->ReadNext(100, (Rec(3).size() + 1) * 2, &out), 2u);
  // ... and not in one byte less.
  EXPECT_EQ(*s->ReadNext(100, (Rec(5).size() + 1) * 2 - 1, &out), 1u);
  EXPECT_EQ(*s->ReadNext(100, 1, &out), 1u);  // larger than the byte limit, alone
  EXPECT_EQ(out.size(), 7u);
  EXPECT_EQ(out[5].json, Rec(5));
  EXPECT_EQ(out[6].json, Rec(6));
}

TEST_F(SpoolTest, TornTailIsSkipped) {
  {
    auto s = Open();
    ASSERT_TRUE(Append(s.get(), 0, 10).ok());
  }
  auto files = SpoolFiles();
  ASSERT_EQ(files.size(), 1u);
  const uint64_t size = *env_->GetFileSize(files[0]);
  ASSERT_TRUE(env_->TruncateFile(files[0], size - 5).ok());
  auto s = Open();
  auto recs = ReadAll(s.get());
  ASSERT_EQ(recs.size(), 9u);
  EXPECT_EQ(recs[8].json, Rec(8));
  EXPECT_EQ(s->skipped_bytes(), log::kFrameHeaderSize + Rec(9).size() - 5);
  EXPECT_NE(s->last_skip().find("tail"), std::string::npos) << s->last_skip();
  ASSERT_TRUE(s->AcknowledgeRead().ok());
  EXPECT_TRUE(s->empty());
}

TEST_F(SpoolTest, DamagedFrameIsSkippedAndReadingResumesAfterIt) {
  {
    auto s = Open();
    ASSERT_TRUE(Append(s.get(), 0, 10).ok());
  }
  auto files = SpoolFiles();
  std::string data = *ReadFileToString(env_, files[0]);
  const size_t pos = data.find(Rec(4));
  ASSERT_NE(pos, std::string::npos);
  data[pos + 3] ^= 0x20;  // payload CRC no longer matches
  ASSERT_TRUE(WriteFileAtomic(env_, files[0], data).ok());
  auto s = Open();
  auto recs = ReadAll(s.get());
  ASSERT_EQ(recs.size(), 9u);
  EXPECT_EQ(recs[3].json, Rec(3));
  EXPECT_EQ(recs[4].json, Rec(5));
  EXPECT_EQ(s->skipped_bytes(), log::kFrameHeaderSize + Rec(4).size());
}

TEST_F(SpoolTest, FileWithABadHeaderIsSkippedWhole) {
  {
    auto s = Open();
    ASSERT_TRUE(Append(s.get(), 0, 3).ok());
  }
  ASSERT_TRUE(WriteFileAtomic(env_, "/spool/" + SpoolFileName(99), "garbage").ok());
  auto s = Open();
  auto recs = ReadAll(s.get());
  EXPECT_EQ(recs.size(), 3u);
  EXPECT_EQ(s->skipped_bytes(), 7u);
  ASSERT_TRUE(s->AcknowledgeRead().ok());
  EXPECT_TRUE(s->empty());
}

TEST_F(SpoolTest, FullSpoolRefusesAndKeepsWhatItHas) {
  SpoolOptions o;
  o.max_bytes = 600;
  auto s = Open(o);
  ASSERT_TRUE(Append(s.get(), 0, 5).ok());
  Status st = Append(s.get(), 5, 20);
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st;
  EXPECT_TRUE(s->writable());
  EXPECT_EQ(ReadAll(s.get()).size(), 5u);
}

TEST_F(SpoolTest, SecondOpenOfTheSameDirectoryIsRefused) {
  auto a = Open();
  auto b = Spool::Open(env_, "/spool", {});
  EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(SpoolTest, FailedSyncLatchesTheSpoolAndHidesTheUnsyncedRecords) {
  env::FaultInjectionEnv fault(mem_.get());
  env_ = &fault;
  auto s = Open();
  ASSERT_TRUE(Append(s.get(), 0, 3).ok());
  fault.FailNthSync(1, env::FaultKind::kEIO);
  Status st = Append(s.get(), 3, 6);
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st;
  EXPECT_FALSE(s->writable());
  EXPECT_EQ(Append(s.get(), 6, 7).code(), StatusCode::kIOError);  // latched
  // What was synced before the failure is still read; the rest is not.
  auto recs = ReadAll(s.get());
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[2].json, Rec(2));
}

TEST_F(SpoolTest, SyncedRecordsSurvivePowerLoss) {
  env::FaultInjectionEnv fault(mem_.get());
  env_ = &fault;
  {
    auto s = Open();
    ASSERT_TRUE(Append(s.get(), 0, 50).ok());
  }
  fault.SimulatePowerLoss(env::TearMode::kTear512, 7);
  auto s = Open();
  EXPECT_EQ(ReadAll(s.get()).size(), 50u);
  EXPECT_EQ(s->skipped_bytes(), 0u);
}

}  // namespace
}  // namespace tokenaudit::client
