// Verify detects damage: bit flips, deleted and swapped records, truncated segments.

#include "src/ledger/verifier_test_fixture.h"

namespace tokenaudit::ledger {
namespace {

using namespace verifier_testing;  // NOLINT(build/namespaces): test fixture and helpers

TEST_F(VerifierTest, CleanLedgerVerifiesWithExactCountsAndTheLedgersRoot) {
  uint64_t logged_checkpoints = 0;
  uint64_t bytes = 0;
  for (const auto& seg : segments_) {
    bytes += seg.data.size();
    for (const auto& f : seg.frames) {
      logged_checkpoints += f.type == static_cast<uint8_t>(RecordType::kCheckpoint);
    }
  }
  ASSERT_GE(logged_checkpoints, 6u);

  VerifyOptions options;
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  options.progress = [&progress](uint64_t done, uint64_t total) {
    progress.emplace_back(done, total);
  };
  VerifyReport report;
  Status s = VerifyDataDir(mem_.get(), kDataDir, options, &report);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(report.records, total_frames_);
  EXPECT_EQ(report.segments, segments_.size());
  EXPECT_EQ(report.bytes, bytes);
  EXPECT_EQ(report.usage_records, static_cast<uint64_t>(kUsageRecords));
  EXPECT_EQ(report.access_records, static_cast<uint64_t>(kAccessRecords));
  EXPECT_EQ(report.recovery_records, 0u);
  EXPECT_EQ(report.records, report.usage_records + report.access_records + logged_checkpoints);
  // Every checkpoint record in the log and every file in checkpoints/ was checked.
  EXPECT_EQ(report.checkpoints_checked, logged_checkpoints + CheckpointFileSizes().size());
  EXPECT_EQ(report.torn_bytes, 0u);
  EXPECT_TRUE(report.torn_segment.empty());

  ASSERT_FALSE(progress.empty());
  for (size_t i = 1; i < progress.size(); ++i) {
    EXPECT_GE(progress[i].first, progress[i - 1].first);
    EXPECT_EQ(progress[i].second, bytes);
  }
  EXPECT_EQ(progress.back().first, bytes);

  // The ledger, reopened, agrees on size and root; the reopen appends nothing.
  auto ledger = Ledger::Open(options_);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  EXPECT_EQ((*ledger)->Size(), report.records);
  auto root = (*ledger)->RootAt(report.records);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, report.root);
  ASSERT_TRUE((*ledger)->Close().ok());
  ledger->reset();
  VerifyReport again;
  ASSERT_TRUE(Verify(&again).ok());
  EXPECT_EQ(again.records, report.records);
  EXPECT_EQ(again.root, report.root);
}

TEST_F(VerifierTest, EveryBitFlipInASealedSegmentIsCorruptionNamingSegmentOffsetAndSeq) {
  std::mt19937_64 rng(20251130);
  const size_t sealed = segments_.size() - 1;
  constexpr int kFlips = 600;
  int header_flips = 0;
  for (int i = 0; i < kFlips; ++i) {
    const SegmentInfo& seg = segments_[rng() % sealed];
    const uint64_t offset = rng() % seg.data.size();
    const int bit = static_cast<int>(rng() % 8);
    std::string data = seg.data;
    data[offset] = static_cast<char>(data[offset] ^ (1 << bit));
    WriteSegment(seg.name, data);

    const FrameInfo* f = FrameAt(seg, offset);
    header_flips += f == nullptr;
    const std::string where =
        f == nullptr ? Where(seg.name, 0, seg.first_seq) : Where(seg.name, f->offset, f->seq);
    Status s = Verify();
    ASSERT_EQ(s.code(), StatusCode::kCorruption)
        << "flip " << i << ": " << seg.name << " byte " << offset << " bit " << bit << ": " << s;
    ASSERT_TRUE(Contains(s, where))
        << "flip " << i << " at byte " << offset << ": " << s << "\nexpected it to name: " << where;
    WriteSegment(seg.name, seg.data);
  }
  EXPECT_GT(header_flips, 0);  // the 64-byte headers are hit too, not only frames
  ASSERT_TRUE(Verify().ok());
}

// In the last segment a bad frame with no valid frame after it looks exactly like a write torn by
// a crash, which recovery cuts and notes; verify reports it as a torn tail, not as tampering. Any
// other flip there has a valid frame after it, so it is corruption.
TEST_F(VerifierTest, BitFlipsInTheLastSegmentAreCorruptionExceptInItsFinalFrame) {
  const SegmentInfo& seg = segments_.back();
  const FrameInfo& final_frame = seg.frames.back();
  std::mt19937_64 rng(4242);
  int torn = 0, corrupt = 0;
  for (int i = 0; i < 300; ++i) {
    // Every third flip aims at the final frame, which is otherwise a small target.
    const uint64_t offset =
        i % 3 == 0 ? final_frame.offset + rng() % final_frame.size : rng() % seg.data.size();
    const int bit = static_cast<int>(rng() % 8);
    std::string data = seg.data;
    data[offset] = static_cast<char>(data[offset] ^ (1 << bit));
    WriteSegment(seg.name, data);

    const FrameInfo* f = FrameAt(seg, offset);
    VerifyReport report;
    Status s = Verify(&report);
    if (f == &final_frame) {
      ++torn;
      ASSERT_TRUE(s.ok()) << "byte " << offset << ": " << s;
      EXPECT_EQ(report.torn_segment, seg.name);
      EXPECT_EQ(report.torn_offset, final_frame.offset);
      EXPECT_EQ(report.torn_bytes, final_frame.size);
      EXPECT_EQ(report.records, total_frames_ - 1);
    } else {
      ++corrupt;
      ASSERT_EQ(s.code(), StatusCode::kCorruption) << "byte " << offset << ": " << s;
      if (f == nullptr) {
        ASSERT_TRUE(Contains(s, Where(seg.name, 0, seg.first_seq))) << s;
      } else {
        const FrameInfo& next = *(f + 1);
        ASSERT_TRUE(Contains(s, Where(seg.name, f->offset, f->seq))) << s;
        ASSERT_TRUE(Contains(s, "a valid frame (seq " + std::to_string(next.seq) +
                                    ") follows at offset " + std::to_string(next.offset)))
            << s;
      }
    }
    WriteSegment(seg.name, seg.data);
  }
  EXPECT_GE(torn, 100);
  EXPECT_GE(corrupt, 50);
}

// The final frame after a clean Close() is the closing checkpoint record, which no checkpoint
// covers. Once it is gone, the final frame is a record that checkpoints/ covers: a "torn" final
// frame then means acknowledged records are missing.
TEST_F(VerifierTest, TornFinalFrameCoveredByACheckpointIsCorruption) {
  const SegmentInfo& seg = segments_.back();
  const FrameInfo& closing = seg.frames.back();
  ASSERT_EQ(closing.type, static_cast<uint8_t>(RecordType::kCheckpoint));
  ASSERT_EQ(CheckpointFileSizes().back(), closing.seq);
  std::string data = seg.data.substr(0, closing.offset);
  WriteSegment(seg.name, data);
  ASSERT_TRUE(Verify().ok()) << "a lost closing checkpoint record alone is a crash, not tampering";
  const FrameInfo& last = seg.frames[seg.frames.size() - 2];
  data[last.offset + log::kFrameHeaderSize + 3] ^= 0x10;
  WriteSegment(seg.name, data);
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, CheckpointFileName(closing.seq))) << s;
  EXPECT_TRUE(Contains(s, "missing")) << s;
}

TEST_F(VerifierTest, DeletedRecordInASealedSegmentIsCorruptionNamingTheSeqGap) {
  const SegmentInfo& seg = segments_[segments_.size() / 2];
  ASSERT_GE(seg.frames.size(), 3u);
  const FrameInfo& victim = seg.frames[seg.frames.size() / 2];
  WriteSegment(seg.name, Without(seg, victim));
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(seg.name, victim.offset, victim.seq) + ": frame has seq " +
                              std::to_string(victim.seq + 1)))
      << s;
}

TEST_F(VerifierTest, DeletedRecordInTheLastSegmentIsCorruptionNamingTheSeqGap) {
  const SegmentInfo& seg = segments_.back();
  const FrameInfo& victim = seg.frames[seg.frames.size() / 2];
  ASSERT_NE(&victim, &seg.frames.back());
  WriteSegment(seg.name, Without(seg, victim));
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(seg.name, victim.offset, victim.seq) + ": frame has seq " +
                              std::to_string(victim.seq + 1)))
      << s;
}

TEST_F(VerifierTest, DeletedFirstOrLastRecordOfASealedSegmentIsCorruption) {
  const SegmentInfo& seg = segments_[3];
  const SegmentInfo& next = segments_[4];
  WriteSegment(seg.name, Without(seg, seg.frames.front()));
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(seg.name, seg.frames.front().offset, seg.first_seq))) << s;

  WriteSegment(seg.name, Without(seg, seg.frames.back()));
  s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(next.name, 0, next.first_seq - 1))) << s;
  EXPECT_TRUE(Contains(s, "records missing")) << s;
}

TEST_F(VerifierTest, DeletedSegmentFileIsCorruption) {
  for (size_t victim : {size_t{0}, size_t{5}}) {
    SCOPED_TRACE(victim);
    const SegmentInfo& seg = segments_[victim];
    const SegmentInfo& next = segments_[victim + 1];
    ASSERT_TRUE(mem_->RemoveFile(SegmentPath(seg.name)).ok());
    Status s = Verify();
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
    EXPECT_TRUE(Contains(s, Where(next.name, 0, seg.first_seq))) << s;
    EXPECT_TRUE(Contains(s, "records missing")) << s;
    WriteSegment(seg.name, seg.data);
  }
  ASSERT_TRUE(Verify().ok());
}

TEST_F(VerifierTest, SwappedRecordsAreCorruption) {
  struct Case {
    size_t segment;
    size_t a, b;  // frame indexes, a < b
  };
  const size_t last = segments_.size() - 1;
  const size_t last_frames = segments_.back().frames.size();
  for (const Case& c : {Case{2, 0, 1}, Case{7, 1, 3}, Case{last / 2, 0, 2}, Case{last, 0, 1},
                        Case{last, last_frames - 2, last_frames - 1}}) {
    SCOPED_TRACE("segment " + std::to_string(c.segment) + " frames " + std::to_string(c.a) + "<->" +
                 std::to_string(c.b));
    const SegmentInfo& seg = segments_[c.segment];
    ASSERT_LT(c.b, seg.frames.size());
    const FrameInfo& a = seg.frames[c.a];
    WriteSegment(seg.name, Swapped(seg, a, seg.frames[c.b]));
    Status s = Verify();
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
    EXPECT_TRUE(Contains(s, Where(seg.name, a.offset, a.seq) + ": frame has seq " +
                                std::to_string(seg.frames[c.b].seq)))
        << s;
    WriteSegment(seg.name, seg.data);
  }
  ASSERT_TRUE(Verify().ok());
}

TEST_F(VerifierTest, RecordsSwappedAcrossSegmentsAreCorruption) {
  // Each segment has its own salt in every frame's header CRC, so a frame moved to another
  // segment fails its CRC there even with its seq in order.
  const SegmentInfo& x = segments_[4];
  const SegmentInfo& y = segments_[9];
  const FrameInfo& fx = x.frames[1];
  const FrameInfo& fy = y.frames[2];
  std::string dx = x.data.substr(0, fx.offset) + y.data.substr(fy.offset, fy.size) +
                   x.data.substr(fx.offset + fx.size);
  std::string dy = y.data.substr(0, fy.offset) + x.data.substr(fx.offset, fx.size) +
                   y.data.substr(fy.offset + fy.size);
  WriteSegment(x.name, dx);
  WriteSegment(y.name, dy);
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(x.name, fx.offset, fx.seq) + ": frame header CRC mismatch")) << s;
}

TEST_F(VerifierTest, SwappedSegmentFilesAreCorruption) {
  const SegmentInfo& x = segments_[4];
  const SegmentInfo& y = segments_[5];
  WriteSegment(x.name, y.data);
  WriteSegment(y.name, x.data);
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(x.name, 0, x.first_seq) + ": header first seq")) << s;
}

TEST_F(VerifierTest, TruncatedMiddleSegmentIsCorruption) {
  const SegmentInfo& seg = segments_[segments_.size() / 2];
  const SegmentInfo& next = segments_[segments_.size() / 2 + 1];
  const FrameInfo& f = seg.frames[seg.frames.size() / 2];
  struct Case {
    const char* what;
    uint64_t size;
    std::string expect;
  };
  const Case cases[] = {
      {"mid-payload", f.offset + f.size / 2,
       Where(seg.name, f.offset, f.seq) + ": truncated frame"},
      {"mid-header", f.offset + 10, Where(seg.name, f.offset, f.seq) + ": truncated frame"},
      {"at a frame boundary", f.offset, Where(next.name, 0, f.seq) + ": segment starts at seq"},
      {"just the header", log::kSegmentHeaderSize,
       Where(next.name, 0, seg.first_seq) + ": segment starts at seq"},
      {"inside the header", 40, Where(seg.name, 0, seg.first_seq) + ": segment shorter"},
      {"empty", 0, Where(seg.name, 0, seg.first_seq) + ": segment shorter"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ASSERT_TRUE(mem_->TruncateFile(SegmentPath(seg.name), c.size).ok());
    Status s = Verify();
    ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
    EXPECT_TRUE(Contains(s, c.expect)) << s << "\nexpected: " << c.expect;
    WriteSegment(seg.name, seg.data);
  }
  ASSERT_TRUE(Verify().ok());
}

TEST_F(VerifierTest, GarbageAppendedToASealedSegmentIsCorruption) {
  const SegmentInfo& seg = segments_[6];
  WriteSegment(seg.name, seg.data + std::string(100, '\0'));
  Status s = Verify();
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(seg.name, seg.data.size(), seg.frames.back().seq + 1))) << s;
}

// Segments of thousands of frames, so that verify's pipeline runs as on a real log: leaf hashes
// computed on a helper thread while the calling thread decodes frames a ring's length ahead of the
// replay, and the next segment read while this one is checked.
class VerifierLargeSegmentTest : public VerifierTest {
 protected:
  static constexpr int kRecords = 14000;

  void SetUp() override {
    mem_ = NewMemEnv();
    options_.env = mem_.get();
    options_.data_dir = kDataDir;
    options_.segment_bytes = 1 << 20;
    options_.checkpoint_every_records = 1000;
    options_.checkpoint_interval_ms = 3600 * 1000;
    auto ledger = Ledger::Open(options_);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    std::vector<std::string> records;
    for (int i = 0; i < kRecords; ++i) records.push_back(TestRecord(0, i, 250 + (i * 37) % 100));
    for (int i = 0; i < kRecords; i += 500) {
      std::vector<std::string_view> batch(records.begin() + i, records.begin() + i + 500);
      ASSERT_TRUE((*ledger)->AppendBatch(batch).ok());
    }
    ASSERT_TRUE((*ledger)->Close().ok());
    segments_ = ReadSegments();
    ASSERT_GE(segments_.size(), 4u);
    ASSERT_GT(segments_[1].frames.size(), 3000u);
    for (const auto& seg : segments_) total_frames_ += seg.frames.size();
  }

  // The usage-record frame nearest to three quarters of the way through `seg`.
  static const FrameInfo& FrameInSecondHalf(const SegmentInfo& seg) {
    size_t i = seg.frames.size() * 3 / 4;
    while (seg.frames[i].type != static_cast<uint8_t>(RecordType::kUsage)) ++i;
    return seg.frames[i];
  }

  // `seg` with the payload of frame `f` altered and the frame re-encoded with valid CRCs: it
  // decodes, only its leaf hash differs.
  static std::string Reencoded(const SegmentInfo& seg, const FrameInfo& f) {
    auto header = log::DecodeSegmentHeader(seg.data);
    EXPECT_TRUE(header.ok());
    std::string payload =
        seg.data.substr(f.offset + log::kFrameHeaderSize, f.size - log::kFrameHeaderSize);
    payload[payload.size() / 2] = payload[payload.size() / 2] == 'x' ? 'y' : 'x';
    std::string frame;
    log::EncodeFrame(log::SaltCrc(header.ok() ? header->salt : 0), f.seq, f.type, payload,
                     &frame);
    std::string data = seg.data;
    data.replace(f.offset, f.size, frame);
    return data;
  }
};

TEST_F(VerifierLargeSegmentTest, CleanLogVerifiesWithTheLedgersRoot) {
  VerifyReport report;
  Status s = Verify(&report);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(report.records, total_frames_);
  EXPECT_EQ(report.usage_records, static_cast<uint64_t>(kRecords));
  EXPECT_EQ(report.segments, segments_.size());
  auto ledger = Ledger::Open(options_);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  auto root = (*ledger)->RootAt(report.records);
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, report.root);
  ASSERT_TRUE((*ledger)->Close().ok());
}

// The pipeline decodes and hashes past the first bad frame before replaying up to it; what is
// reported is still that first bad frame, with exactly the records before it counted.
TEST_F(VerifierLargeSegmentTest, DamageLateInASegmentAndInALaterSegmentReportsTheFirst) {
  const SegmentInfo& seg = segments_[1];
  const FrameInfo& bad = FrameInSecondHalf(seg);
  std::string data = seg.data;
  data[bad.offset + bad.size / 2] ^= 0x04;
  WriteSegment(seg.name, data);
  const SegmentInfo& later = segments_[3];
  std::string later_data = later.data;
  later_data[later.frames[5].offset + later.frames[5].size / 2] ^= 0x04;
  WriteSegment(later.name, later_data);

  VerifyReport report;
  Status s = Verify(&report);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(seg.name, bad.offset, bad.seq) + ": frame payload CRC mismatch")) << s;
  EXPECT_EQ(report.records, bad.seq);

  WriteSegment(seg.name, seg.data);
  s = Verify(&report);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(later.name, later.frames[5].offset, later.frames[5].seq))) << s;
  EXPECT_EQ(report.records, later.frames[5].seq);
}

// A record altered with valid CRCs changes only its leaf hash, which the helper thread computes:
// the first checkpoint record after it in the log no longer matches, and is the one named.
TEST_F(VerifierLargeSegmentTest, RecordRewrittenWithValidCrcsFailsAtTheNextLoggedCheckpoint) {
  const SegmentInfo& seg = segments_[1];
  const FrameInfo& altered = FrameInSecondHalf(seg);
  const SegmentInfo* checkpoint_segment = nullptr;
  const FrameInfo* checkpoint = nullptr;
  for (const auto& s : segments_) {
    for (const auto& f : s.frames) {
      if (checkpoint == nullptr && f.seq > altered.seq &&
          f.type == static_cast<uint8_t>(RecordType::kCheckpoint)) {
        checkpoint_segment = &s;
        checkpoint = &f;
      }
    }
  }
  ASSERT_NE(checkpoint, nullptr);
  // Without checkpoints/ (checked first at the same size) the log's own checkpoint record speaks.
  RemoveCheckpointFilesAbove(0);
  WriteSegment(seg.name, Reencoded(seg, altered));
  // Damage further on must not hide the first failure either.
  std::string later_data = segments_[3].data;
  later_data[segments_[3].frames[7].offset + 3] ^= 0x01;
  WriteSegment(segments_[3].name, later_data);

  VerifyReport report;
  Status s = Verify(&report);
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s;
  EXPECT_TRUE(Contains(s, Where(checkpoint_segment->name, checkpoint->offset, checkpoint->seq) +
                              ": checkpoint root"))
      << s;
  EXPECT_EQ(report.records, checkpoint->seq);
}

}  // namespace
}  // namespace tokenaudit::ledger
