// ScanLog with read-ahead and digests computed on a helper thread must behave exactly like the
// plain frame-by-frame scan: same frames visited in the same order, same status, same summary.

#include "src/log/log_scanner.h"

#include <gtest/gtest.h>

#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/log/frame.h"
#include "src/log/log_format.h"
#include "src/util/sha256.h"

namespace tokenaudit::log {
namespace {

constexpr char kLogDir[] = "/log";
constexpr int kSegments = 4;
constexpr int kFramesPerSegment = 700;

struct TestFrame {
  uint64_t offset = 0;
  uint64_t size = 0;  // header + payload
  uint64_t seq = 0;
};

struct TestSegment {
  std::string name;
  std::string data;
  std::vector<TestFrame> frames;
};

// What a scan did, for comparing two scans.
struct ScanTrace {
  Status status;
  std::vector<uint64_t> seqs;
  std::vector<uint64_t> offsets;
  ScanSummary summary;
  std::vector<std::pair<uint64_t, uint64_t>> progress;
};

// How a scan is run: the plain scan, or the pipelined one with its hand-off unit.
struct ScanMode {
  bool read_ahead = false;
  bool digest = false;
  size_t batch = 256;
};

std::string Describe(const ScanMode& m) {
  return std::string(m.read_ahead ? "read-ahead " : "") +
         (m.digest ? "digest batch " + std::to_string(m.batch) : "no digest");
}

class LogScannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_ = NewMemEnv();
    ASSERT_TRUE(env_->CreateDir(kLogDir).ok());
    std::mt19937_64 rng(77);
    uint64_t seq = 0;
    for (int s = 0; s < kSegments; ++s) {
      TestSegment seg;
      seg.name = SegmentFileName(seq);
      SegmentHeader header;
      header.first_seq = seq;
      header.salt = 1000 + static_cast<uint64_t>(s);
      header.log_id = std::string(kLogIdSize, 'L');
      EncodeSegmentHeader(header, &seg.data);
      const uint32_t salt_crc = SaltCrc(header.salt);
      for (int i = 0; i < kFramesPerSegment; ++i, ++seq) {
        std::string payload(rng() % 400, 'a');
        for (auto& c : payload) c = static_cast<char>('a' + rng() % 26);
        const uint64_t offset = seg.data.size();
        EncodeFrame(salt_crc, seq, 1, payload, &seg.data);
        seg.frames.push_back({offset, seg.data.size() - offset, seq});
      }
      Write(seg.name, seg.data);
      segments_.push_back(std::move(seg));
    }
  }

  void Write(const std::string& name, const std::string& data) {
    ASSERT_TRUE(WriteFileAtomic(env_.get(), std::string(kLogDir) + "/" + name, data).ok());
  }

  void RestoreAll() {
    for (const auto& seg : segments_) Write(seg.name, seg.data);
  }

  // Scans the log; the visitor fails at `fail_at_seq` (if set) and checks every digest.
  ScanTrace Scan(const ScanMode& mode, uint64_t fail_at_seq = UINT64_MAX) {
    ScanTrace t;
    ScanOptions options;
    options.read_ahead = mode.read_ahead;
    options.digest_batch_frames = mode.batch;
    if (mode.digest) {
      options.digest = [this](std::string_view payload) {
        {
          std::lock_guard<std::mutex> l(threads_mu_);
          digest_threads_.insert(std::this_thread::get_id());
        }
        return Sha256Of(payload);
      };
    }
    options.progress = [&t](uint64_t done, uint64_t total) { t.progress.emplace_back(done, total); };
    t.status = ScanLog(
        env_.get(), kLogDir, options,
        [&](const ScannedFrame& f) {
          if (mode.digest) {
            EXPECT_NE(f.digest, nullptr) << "seq " << f.seq;
            if (f.digest != nullptr) {
              EXPECT_EQ(*f.digest, Sha256Of(f.payload)) << "seq " << f.seq;
            }
          } else {
            EXPECT_EQ(f.digest, nullptr);
          }
          t.seqs.push_back(f.seq);
          t.offsets.push_back(f.offset);
          if (f.seq == fail_at_seq) {
            return Status::Corruption("visitor stops at seq " + std::to_string(f.seq));
          }
          return Status::OK();
        },
        &t.summary);
    return t;
  }

  // Scans in every pipelined mode and expects each to match the plain scan; returns the latter.
  ScanTrace ExpectAllModesAgree(const std::string& what, uint64_t fail_at_seq = UINT64_MAX) {
    const ScanTrace plain = Scan(ScanMode{}, fail_at_seq);
    for (const ScanMode& mode : {ScanMode{true, false, 256}, ScanMode{false, true, 1},
                                 ScanMode{true, true, 3}, ScanMode{true, true, 256}}) {
      const ScanTrace t = Scan(mode, fail_at_seq);
      SCOPED_TRACE(what + ", " + Describe(mode));
      EXPECT_EQ(t.status.code(), plain.status.code());
      EXPECT_EQ(t.status.message(), plain.status.message());
      EXPECT_EQ(t.seqs, plain.seqs);
      EXPECT_EQ(t.offsets, plain.offsets);
      EXPECT_EQ(t.progress, plain.progress);
      EXPECT_EQ(t.summary.next_seq, plain.summary.next_seq);
      EXPECT_EQ(t.summary.segments, plain.summary.segments);
      EXPECT_EQ(t.summary.total_bytes, plain.summary.total_bytes);
      EXPECT_EQ(t.summary.last_segment, plain.summary.last_segment);
      EXPECT_EQ(t.summary.last_valid_end, plain.summary.last_valid_end);
      EXPECT_EQ(t.summary.torn_bytes, plain.summary.torn_bytes);
      EXPECT_EQ(t.summary.torn_offset, plain.summary.torn_offset);
      EXPECT_EQ(t.summary.torn_reason, plain.summary.torn_reason);
    }
    return plain;
  }

  static std::string Where(const TestSegment& seg, const TestFrame& f) {
    return "segment " + seg.name + " offset " + std::to_string(f.offset) + " (seq " +
           std::to_string(f.seq) + ")";
  }

  static void Flip(std::string* data, uint64_t byte) {
    (*data)[byte] = static_cast<char>((*data)[byte] ^ 0x10);
  }

  std::unique_ptr<Env> env_;
  std::vector<TestSegment> segments_;
  std::mutex threads_mu_;
  std::set<std::thread::id> digest_threads_;
};

TEST_F(LogScannerTest, CleanLogIsVisitedInOrderWithTheSameDigestsAndProgressInEveryMode) {
  const ScanTrace plain = ExpectAllModesAgree("clean");
  ASSERT_TRUE(plain.status.ok()) << plain.status;
  ASSERT_EQ(plain.seqs.size(), static_cast<size_t>(kSegments * kFramesPerSegment));
  for (size_t i = 0; i < plain.seqs.size(); ++i) ASSERT_EQ(plain.seqs[i], i);
  EXPECT_EQ(plain.summary.next_seq, plain.seqs.size());
  ASSERT_FALSE(plain.progress.empty());
  EXPECT_EQ(plain.progress.back().first, plain.summary.total_bytes);
}

// Damage in the second half of one segment and again in a later one: the pipelined scan has
// decoded and digested frames past the first bad one, yet it reports that first bad frame and has
// visited exactly the frames before it.
TEST_F(LogScannerTest, FirstBadFrameIsReportedWhenLaterSegmentsAreDamagedToo) {
  const TestSegment& seg = segments_[1];
  const TestFrame& bad = seg.frames[kFramesPerSegment * 3 / 4];
  std::string data = seg.data;
  Flip(&data, bad.offset + kFrameHeaderSize + (bad.size - kFrameHeaderSize) / 2);
  Write(seg.name, data);
  std::string later = segments_[3].data;
  Flip(&later, segments_[3].frames[10].offset + 2);
  Write(segments_[3].name, later);

  const ScanTrace plain = ExpectAllModesAgree("two damaged segments");
  ASSERT_EQ(plain.status.code(), StatusCode::kCorruption);
  EXPECT_NE(plain.status.message().find(Where(seg, bad)), std::string_view::npos)
      << plain.status;
  ASSERT_EQ(plain.seqs.size(), bad.seq);
}

TEST_F(LogScannerTest, SeqGapInTheSecondHalfOfASegmentIsReportedAtTheGap) {
  const TestSegment& seg = segments_[2];
  const TestFrame& gone = seg.frames[600];
  std::string data = seg.data;
  data.erase(gone.offset, gone.size);
  Write(seg.name, data);
  const ScanTrace plain = ExpectAllModesAgree("deleted frame");
  ASSERT_EQ(plain.status.code(), StatusCode::kCorruption);
  EXPECT_NE(plain.status.message().find(Where(seg, gone) + ": frame has seq " +
                                        std::to_string(gone.seq + 1)),
            std::string_view::npos)
      << plain.status;
  EXPECT_EQ(plain.seqs.size(), gone.seq);
}

// A visitor error on an earlier frame wins over a bad frame the pipeline decoded beyond it.
TEST_F(LogScannerTest, VisitorErrorBeforeABadFrameIsTheOneReported) {
  const TestSegment& seg = segments_[2];
  std::string data = seg.data;
  Flip(&data, seg.frames[650].offset + 1);
  Write(seg.name, data);
  const uint64_t stop = seg.frames[640].seq;
  const ScanTrace plain = ExpectAllModesAgree("visitor error", stop);
  ASSERT_EQ(plain.status.code(), StatusCode::kCorruption);
  EXPECT_EQ(plain.status.message(), "visitor stops at seq " + std::to_string(stop));
  EXPECT_EQ(plain.seqs.size(), stop + 1);
}

TEST_F(LogScannerTest, TornTailIsReportedAfterEveryEarlierFrameIsVisited) {
  const TestSegment& seg = segments_.back();
  const TestFrame& last = seg.frames.back();
  Write(seg.name, seg.data.substr(0, last.offset + last.size / 2));
  const ScanTrace plain = ExpectAllModesAgree("torn tail");
  ASSERT_TRUE(plain.status.ok()) << plain.status;
  EXPECT_EQ(plain.summary.torn_offset, last.offset);
  EXPECT_EQ(plain.summary.torn_bytes, last.size / 2);
  EXPECT_EQ(plain.seqs.size(), last.seq);
}

TEST_F(LogScannerTest, MissingSegmentIsTheSameErrorInEveryMode) {
  ASSERT_TRUE(env_->RemoveFile(std::string(kLogDir) + "/" + segments_[2].name).ok());
  const ScanTrace plain = ExpectAllModesAgree("missing segment");
  ASSERT_EQ(plain.status.code(), StatusCode::kCorruption);
  EXPECT_NE(plain.status.message().find("(records missing)"), std::string_view::npos)
      << plain.status;
  EXPECT_EQ(plain.seqs.size(), 2u * kFramesPerSegment);
}

TEST_F(LogScannerTest, RandomBitFlipsGiveTheSameResultInEveryMode) {
  std::mt19937_64 rng(20261130);
  for (int i = 0; i < 60; ++i) {
    const size_t s = rng() % segments_.size();
    std::string data = segments_[s].data;
    const uint64_t byte = rng() % data.size();
    data[byte] = static_cast<char>(data[byte] ^ (1 << (rng() % 8)));
    Write(segments_[s].name, data);
    ExpectAllModesAgree("flip " + std::to_string(i) + ": segment " + std::to_string(s) +
                        " byte " + std::to_string(byte));
    Write(segments_[s].name, segments_[s].data);
    if (HasFatalFailure() || HasNonfatalFailure()) break;
  }
  if (std::thread::hardware_concurrency() > 1) {
    // Hundreds of pipelined scans: the helper thread took part in the hashing.
    EXPECT_GE(digest_threads_.size(), 2u);
  }
}

}  // namespace
}  // namespace tokenaudit::log
