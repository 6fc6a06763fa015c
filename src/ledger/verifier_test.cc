#include "src/ledger/verifier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "src/ledger/checkpoint.h"
#include "src/ledger/ledger_test_util.h"
#include "src/log/frame.h"
#include "src/log/log_format.h"
#include "src/log/log_scanner.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::ledger {
namespace {

using testing::TestRecord;

constexpr char kDataDir[] = "/data";
constexpr char kLogDir[] = "/data/log";
constexpr char kCheckpointDir[] = "/data/checkpoints";
constexpr int kUsageRecords = 300;
constexpr int kAccessRecords = 20;

// One frame of a segment as it sits on disk.
struct FrameInfo {
  uint64_t offset = 0;
  uint64_t size = 0;  // header + payload
  uint64_t seq = 0;
  uint8_t type = 0;
};

struct SegmentInfo {
  std::string name;
  std::string data;
  uint64_t first_seq = 0;
  std::vector<FrameInfo> frames;
};

// How ScanLog names a position in its errors.
std::string Where(const std::string& segment, uint64_t offset, uint64_t seq) {
  return "segment " + segment + " offset " + std::to_string(offset) + " (seq " +
         std::to_string(seq) + ")";
}

bool Contains(const Status& s, const std::string& needle) {
  return s.message().find(needle) != std::string_view::npos;
}

// A ledger of a few hundred records over many 4 KiB segments, with checkpoints in the log and in
// checkpoints/, closed cleanly; tests then damage its files the way an attacker or a bad disk
// would and check what VerifyDataDir says.
class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = NewMemEnv();
    options_.env = mem_.get();
    options_.data_dir = kDataDir;
    options_.segment_bytes = 4096;
    options_.checkpoint_every_records = 50;
    options_.checkpoint_interval_ms = 3600 * 1000;  // only count-driven checkpoints: repeatable
    auto ledger = Ledger::Open(options_);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    for (int i = 0; i < kUsageRecords; ++i) {
      ASSERT_TRUE((*ledger)->Append(TestRecord(0, i, 200 + (i * 37) % 200)).ok());
      if (i % 15 == 0) {
        ASSERT_TRUE((*ledger)->Append(TestRecord(1, i / 15, 150), RecordType::kAccess).ok());
      }
    }
    ASSERT_TRUE((*ledger)->Close().ok());
    segments_ = ReadSegments();
    ASSERT_GT(segments_.size(), 20u);
    ASSERT_GE(segments_.back().frames.size(), 3u) << "the last segment needs several frames";
    for (const auto& seg : segments_) total_frames_ += seg.frames.size();
  }

  // Every segment with its frames, parsed independently of the scanner under test.
  std::vector<SegmentInfo> ReadSegments() {
    std::vector<SegmentInfo> out;
    auto names = log::ListSegments(mem_.get(), kLogDir);
    EXPECT_TRUE(names.ok()) << names.status();
    if (!names.ok()) return out;
    for (const auto& name : *names) {
      SegmentInfo seg;
      seg.name = name;
      auto data = ReadFileToString(mem_.get(), SegmentPath(name));
      EXPECT_TRUE(data.ok()) << data.status();
      seg.data = std::move(*data);
      auto header = log::DecodeSegmentHeader(seg.data);
      EXPECT_TRUE(header.ok()) << header.status();
      if (!header.ok()) return out;
      seg.first_seq = header->first_seq;
      const uint32_t salt_crc = log::SaltCrc(header->salt);
      uint64_t offset = log::kSegmentHeaderSize;
      while (offset < seg.data.size()) {
        log::Frame f;
        auto fs = log::DecodeFrame(std::string_view(seg.data).substr(offset), salt_crc, &f);
        EXPECT_EQ(fs, log::FrameStatus::kOk) << name << " offset " << offset;
        if (fs != log::FrameStatus::kOk) break;
        seg.frames.push_back({offset, f.encoded_size, f.seq, f.type});
        offset += f.encoded_size;
      }
      out.push_back(std::move(seg));
    }
    return out;
  }

  static std::string SegmentPath(const std::string& name) {
    return std::string(kLogDir) + "/" + name;
  }

  void WriteSegment(const std::string& name, std::string_view data) {
    ASSERT_TRUE(WriteFileAtomic(mem_.get(), SegmentPath(name), data).ok());
  }

  Status Verify(VerifyReport* report = nullptr, std::vector<std::string> checkpoint_files = {}) {
    VerifyOptions options;
    options.checkpoint_files = std::move(checkpoint_files);
    VerifyReport local;
    return VerifyDataDir(mem_.get(), kDataDir, options, report ? report : &local);
  }

  std::vector<uint64_t> CheckpointFileSizes() {
    std::vector<uint64_t> sizes;
    auto names = mem_->GetChildren(kCheckpointDir);
    if (!names.ok()) return sizes;
    for (const auto& n : *names) {
      uint64_t size = 0;
      if (ParseCheckpointFileName(n, &size)) sizes.push_back(size);
    }
    std::sort(sizes.begin(), sizes.end());
    return sizes;
  }

  // Copies the checkpoint file for `tree_size` out of the data directory, as an auditor exporting
  // it to another machine would; returns the copy's path.
  std::string ExportCheckpoint(uint64_t tree_size) {
    const std::string from = std::string(kCheckpointDir) + "/" + CheckpointFileName(tree_size);
    const std::string to = "/export/" + std::to_string(tree_size) + ".cp";
    auto text = ReadFileToString(mem_.get(), from);
    EXPECT_TRUE(text.ok()) << text.status();
    EXPECT_TRUE(mem_->CreateDir("/export").ok());
    EXPECT_TRUE(WriteFileAtomic(mem_.get(), to, text.ok() ? *text : "").ok());
    return to;
  }

  void RemoveCheckpointFilesAbove(uint64_t tree_size) {
    for (uint64_t size : CheckpointFileSizes()) {
      if (size > tree_size) {
        ASSERT_TRUE(
            mem_->RemoveFile(std::string(kCheckpointDir) + "/" + CheckpointFileName(size)).ok());
      }
    }
  }

  // Cuts the log at a frame boundary so that it ends just before `seq`: the segment holding `seq`
  // is truncated there, later segments are removed.
  void CutLogBefore(uint64_t seq) {
    for (const auto& seg : segments_) {
      if (seg.first_seq >= seq && seg.first_seq != 0) {
        ASSERT_TRUE(mem_->RemoveFile(SegmentPath(seg.name)).ok());
        continue;
      }
      for (const auto& f : seg.frames) {
        if (f.seq == seq) {
          ASSERT_TRUE(mem_->TruncateFile(SegmentPath(seg.name), f.offset).ok());
        }
      }
    }
  }

  // Re-encodes the whole log as an attacker with write access to the data directory would:
  // every record passes through `alter`, segments get fresh salts and correct CRCs, the Merkle
  // tree is recomputed, and every checkpoint, in the log and in checkpoints/, is re-signed by
  // `signer` with the new roots. Seqs, record types and segment boundaries stay as they were.
  // `alter_checkpoint`, if set, edits each checkpoint before it is signed.
  void RewriteLog(const std::function<void(uint64_t seq, std::string* payload)>& alter,
                  const CheckpointSigner& signer,
                  const std::function<void(Checkpoint*)>& alter_checkpoint = nullptr) {
    merkle::CompactRange tree;
    std::vector<Checkpoint> resigned;
    uint64_t salt = 0x5eed0000;
    for (const auto& seg : segments_) {
      auto header = log::DecodeSegmentHeader(seg.data);
      ASSERT_TRUE(header.ok());
      header->salt = ++salt;
      std::string out;
      log::EncodeSegmentHeader(*header, &out);
      const uint32_t salt_crc = log::SaltCrc(header->salt);
      for (const auto& f : seg.frames) {
        std::string payload =
            seg.data.substr(f.offset + log::kFrameHeaderSize, f.size - log::kFrameHeaderSize);
        if (f.type == static_cast<uint8_t>(RecordType::kCheckpoint)) {
          auto cp = DecodeCheckpointRecord(payload);
          ASSERT_TRUE(cp.ok()) << cp.status();
          ASSERT_EQ(cp->tree_size, tree.size());
          cp->root = tree.Root();
          if (alter_checkpoint) alter_checkpoint(&*cp);
          ASSERT_TRUE(signer.Sign(&*cp).ok());
          payload = EncodeCheckpointRecord(*cp);
          resigned.push_back(*cp);
        } else {
          alter(f.seq, &payload);
        }
        log::EncodeFrame(salt_crc, f.seq, f.type, payload, &out);
        tree.Append(merkle::HashLeaf(payload));
      }
      WriteSegment(seg.name, out);
    }
    RemoveCheckpointFilesAbove(0);
    ASSERT_TRUE(CheckpointFileSizes().empty());
    for (const auto& cp : resigned) {
      ASSERT_TRUE(
          WriteFileAtomic(mem_.get(),
                          std::string(kCheckpointDir) + "/" + CheckpointFileName(cp.tree_size),
                          EncodeCheckpointFile(cp))
              .ok());
    }
  }

  // The frame of `seg` that holds byte `offset`, or nullptr for the segment header.
  static const FrameInfo* FrameAt(const SegmentInfo& seg, uint64_t offset) {
    for (const auto& f : seg.frames) {
      if (offset >= f.offset && offset < f.offset + f.size) return &f;
    }
    return nullptr;
  }

  static std::string Without(const SegmentInfo& seg, const FrameInfo& f) {
    std::string data = seg.data;
    data.erase(f.offset, f.size);
    return data;
  }

  // The segment's bytes with frames a and b (a before b) exchanged.
  static std::string Swapped(const SegmentInfo& seg, const FrameInfo& a, const FrameInfo& b) {
    const std::string& d = seg.data;
    return d.substr(0, a.offset) + d.substr(b.offset, b.size) +
           d.substr(a.offset + a.size, b.offset - (a.offset + a.size)) +
           d.substr(a.offset, a.size) + d.substr(b.offset + b.size);
  }

  std::unique_ptr<Env> mem_;
  LedgerOptions options_;
  std::vector<SegmentInfo> segments_;
  uint64_t total_frames_ = 0;
};

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
