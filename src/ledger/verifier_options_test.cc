// VerifyOptions beyond the defaults: pinned keys, --strict, and directories missing their log.

#include <gtest/gtest.h>

#include <filesystem>

#include "src/ledger/ledger_test_util.h"
#include "src/ledger/verifier.h"
#include "src/log/log_scanner.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::ledger {
namespace {

using testing::TestRecord;

class VerifierOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta_verify_opts_XXXXXX";
    dir_ = mkdtemp(tmpl);
    LedgerOptions o;
    o.data_dir = dir_ + "/data";
    o.checkpoint_every_records = 10;
    auto ledger = Ledger::Open(o);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    for (int i = 0; i < 35; ++i) ASSERT_TRUE((*ledger)->Append(TestRecord(0, i)).ok());
    key_ = (*ledger)->LatestCheckpoint().public_key_hex;
    ASSERT_EQ(key_.size(), 64u);
    ASSERT_TRUE((*ledger)->Close().ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Status Verify(const VerifyOptions& o, VerifyReport* report) {
    return VerifyDataDir(Env::Default(), dir_ + "/data", o, report);
  }

  std::string dir_, key_;
};

TEST_F(VerifierOptionsTest, PinnedKeyAcceptsItsOwnCheckpointsAndRefusesOthers) {
  VerifyOptions o;
  VerifyReport r;
  o.trusted_keys = {key_};
  ASSERT_TRUE(Verify(o, &r).ok());
  EXPECT_GT(r.checkpoints_checked, 3u);
  o.trusted_keys = {std::string(64, 'a')};
  Status s = Verify(o, &r);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_NE(s.message().find("not a trusted key"), std::string_view::npos) << s;
}

TEST_F(VerifierOptionsTest, StrictTurnsATornTailIntoCorruption) {
  auto segs = log::ListSegments(Env::Default(), dir_ + "/data/log");
  ASSERT_TRUE(segs.ok());
  std::string last = dir_ + "/data/log/" + segs->back();
  {
    auto f = Env::Default()->NewAppendableFile(last);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(std::string(10, '\x01')).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  VerifyOptions o;
  VerifyReport r;
  ASSERT_TRUE(Verify(o, &r).ok());
  EXPECT_EQ(r.torn_bytes, 10u);
  o.strict = true;
  Status s = Verify(o, &r);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_NE(s.message().find("torn tail"), std::string_view::npos) << s;
}

TEST_F(VerifierOptionsTest, CleanCloseLeavesNoRecordUncovered) {
  VerifyReport r;
  ASSERT_TRUE(Verify(VerifyOptions(), &r).ok());
  // Close() checkpoints everything; only that checkpoint's own record follows it.
  EXPECT_LE(r.uncovered_records, 1u);
}

TEST_F(VerifierOptionsTest, DataDirectoryWithoutItsLogIsCorruption) {
  std::filesystem::remove_all(dir_ + "/data/log");
  std::filesystem::remove_all(dir_ + "/data/checkpoints");
  VerifyReport r;
  Status s = Verify(VerifyOptions(), &r);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s;
}

}  // namespace
}  // namespace tokenaudit::ledger
