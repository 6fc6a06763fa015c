// Verify against rewrites of the whole log and against checkpoints from elsewhere.

#include "src/ledger/verifier_test_fixture.h"

namespace tokenaudit::ledger {
namespace {

using namespace verifier_testing;  // NOLINT(build/namespaces): test fixture and helpers

class VerifierRewriteTest : public VerifierTest, public ::testing::WithParamInterface<bool> {
 protected:
  // The attacker's signer: a fresh key, or (worse) the ledger's own key, which sits in the data
  // directory the attacker can write.
  std::unique_ptr<CheckpointSigner> AttackerSigner() {
    const std::string path =
        GetParam() ? std::string(kDataDir) + "/keys/checkpoint_ed25519.pem" : "/attacker/key.pem";
    auto signer = CheckpointSigner::LoadOrCreate(mem_.get(), path);
    EXPECT_TRUE(signer.ok()) << signer.status();
    return signer.ok() ? std::move(*signer) : nullptr;
  }
};

TEST_P(VerifierRewriteTest, RewrittenLogVerifiesAloneButNotAgainstAnOlderExportedCheckpoint) {
  VerifyReport before;
  ASSERT_TRUE(Verify(&before).ok());
  // An auditor exported a checkpoint from the middle of the log to another machine.
  std::vector<uint64_t> sizes = CheckpointFileSizes();
  ASSERT_GE(sizes.size(), 4u);
  const uint64_t exported_size = sizes[sizes.size() / 2];
  const std::string exported = ExportCheckpoint(exported_size);
  ASSERT_TRUE(Verify(nullptr, {exported}).ok());

  // Later an attacker alters one usage record well inside the exported range and rewrites the
  // log around it so that every CRC, every root and every signature is consistent again.
  bool altered = false;
  auto signer = AttackerSigner();
  ASSERT_NE(signer, nullptr);
  RewriteLog(
      [&](uint64_t seq, std::string* payload) {
        if (altered || seq < exported_size / 3) return;
        size_t at = payload->find("\"pad\":\"");
        ASSERT_NE(at, std::string::npos);
        payload->insert(at, "\"tokens\":1,");
        altered = true;
      },
      *signer);
  ASSERT_TRUE(altered);

  // Nothing inside the data directory can tell: this is why checkpoints must be exported.
  VerifyReport after;
  Status alone = Verify(&after);
  ASSERT_TRUE(alone.ok()) << alone;
  EXPECT_EQ(after.records, before.records);
  EXPECT_EQ(after.checkpoints_checked, before.checkpoints_checked);
  EXPECT_NE(after.root, before.root);

  Status s = Verify(nullptr, {exported});
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, exported)) << s;
  EXPECT_TRUE(Contains(s, "root at size " + std::to_string(exported_size))) << s;
}

TEST_P(VerifierRewriteTest, RewriteOfRecordsAfterTheExportedCheckpointIsNotCoveredByIt) {
  const uint64_t exported_size = CheckpointFileSizes().front();
  const std::string exported = ExportCheckpoint(exported_size);
  auto signer = AttackerSigner();
  ASSERT_NE(signer, nullptr);
  VerifyReport before;
  ASSERT_TRUE(Verify(&before).ok());
  RewriteLog(
      [&](uint64_t seq, std::string* payload) {
        if (seq + 5 >= total_frames_) payload->insert(1, "\"tokens\":1,");
      },
      *signer);
  // An exported checkpoint vouches for the records before it, and for nothing after.
  VerifyReport after;
  Status s = Verify(&after, {exported});
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_NE(after.root, before.root);
}

INSTANTIATE_TEST_SUITE_P(Keys, VerifierRewriteTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "StolenLedgerKey" : "NewKey";
                         });

TEST_F(VerifierTest, ExportedCheckpointOfAnotherLedgerIsRefused) {
  LedgerOptions other = options_;
  other.data_dir = "/other";
  auto ledger = Ledger::Open(other);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*ledger)->Append(TestRecord(9, i)).ok());
  auto cp = (*ledger)->CreateCheckpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  ASSERT_TRUE((*ledger)->Close().ok());
  const std::string path = "/export/other.cp";
  ASSERT_TRUE(WriteFileAtomic(mem_.get(), path, EncodeCheckpointFile(*cp)).ok());

  auto mine = ReadFileToString(mem_.get(), std::string(kDataDir) + "/LEDGER");
  ASSERT_TRUE(mine.ok());
  const std::string my_id = mine->substr(mine->size() - 33, 32);
  ASSERT_NE(cp->log_id, my_id);
  Status s = Verify(nullptr, {path});
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, path + ": checkpoint of log " + cp->log_id + ", this log is " + my_id))
      << s;
}

TEST_F(VerifierTest, CheckpointRecordOfAnotherLogInsideTheLogIsCorruption) {
  auto signer = CheckpointSigner::LoadOrCreate(mem_.get(), "/attacker/key.pem");
  ASSERT_TRUE(signer.ok()) << signer.status();
  const std::string foreign(32, 'f');
  RewriteLog([](uint64_t, std::string*) {}, **signer,
             [&foreign](Checkpoint* cp) { cp->log_id = foreign; });
  // The rewritten files in checkpoints/ are refused for their log id before the scan starts...
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, "checkpoint of log " + foreign)) << s;
  // ...and without them, so are the records in the log: each is signed and has the right root,
  // but states the tree of another log.
  RemoveCheckpointFilesAbove(0);
  const FrameInfo* first = nullptr;
  const SegmentInfo* in = nullptr;
  for (const auto& seg : segments_) {
    for (const auto& f : seg.frames) {
      if (first == nullptr && f.type == static_cast<uint8_t>(RecordType::kCheckpoint)) {
        first = &f;
        in = &seg;
      }
    }
  }
  ASSERT_NE(first, nullptr);
  s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(
      s, Where(in->name, first->offset, first->seq) + ": checkpoint of log " + foreign))
      << s;
}

TEST_F(VerifierTest, ExportedCheckpointBeyondTheEndOfTheLogMeansRecordsAreMissing) {
  const uint64_t latest = CheckpointFileSizes().back();
  const std::string exported = ExportCheckpoint(latest);
  // The attacker drops the newest records at a frame boundary, spanning a segment boundary.
  const uint64_t cut = segments_.back().first_seq - 2;
  CutLogBefore(cut);

  // The checkpoint files left in the data directory still catch it...
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, "missing")) << s;

  // ...until the attacker removes them too; then only the exported checkpoint can.
  RemoveCheckpointFilesAbove(cut);
  VerifyReport report;
  s = Verify(&report);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(report.records, cut);

  s = Verify(nullptr, {exported});
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, exported + ": checkpoint covers " + std::to_string(latest) +
                              " records but the log has only " + std::to_string(cut)))
      << s;
  EXPECT_TRUE(Contains(s, "missing")) << s;
}

TEST_F(VerifierTest, UnreadableMalformedOrForgedExportedCheckpointIsRefused) {
  const uint64_t size = CheckpointFileSizes().front();
  const std::string good = ExportCheckpoint(size);
  auto text = ReadFileToString(mem_.get(), good);
  ASSERT_TRUE(text.ok());

  Status s = Verify(nullptr, {"/export/nonexistent.cp"});
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.IsCorruption()) << "a file that cannot be read says nothing about the log: " << s;

  ASSERT_TRUE(WriteFileAtomic(mem_.get(), "/export/garbage.cp", "hello\n").ok());
  s = Verify(nullptr, {"/export/garbage.cp"});
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, "/export/garbage.cp")) << s;

  // Someone edits the exported root: the signature no longer verifies.
  auto cp = DecodeCheckpointFile(*text);
  ASSERT_TRUE(cp.ok());
  cp->root[0] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(mem_.get(), "/export/forged.cp", EncodeCheckpointFile(*cp)).ok());
  s = Verify(nullptr, {"/export/forged.cp"});
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, "/export/forged.cp")) << s;
  EXPECT_TRUE(Contains(s, "signature does not verify")) << s;
}

TEST_F(VerifierTest, TamperedCheckpointFileInTheDataDirectoryIsCorruption) {
  const uint64_t size = CheckpointFileSizes()[1];
  const std::string path = std::string(kCheckpointDir) + "/" + CheckpointFileName(size);
  auto text = ReadFileToString(mem_.get(), path);
  ASSERT_TRUE(text.ok());
  std::string bad = *text;
  bad[bad.find("key ") - 2] ^= 1;  // last digit of the time: the signature no longer verifies
  ASSERT_TRUE(WriteFileAtomic(mem_.get(), path, bad).ok());
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, path)) << s;
}

TEST_F(VerifierTest, MissingDataDirectoryIsNotFound) {
  VerifyReport report;
  Status s = VerifyDataDir(mem_.get(), "/nowhere", VerifyOptions(), &report);
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s;
  EXPECT_TRUE(Contains(s, "/nowhere")) << s;
}

}  // namespace
}  // namespace tokenaudit::ledger
