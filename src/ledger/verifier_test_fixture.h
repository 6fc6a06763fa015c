#ifndef TOKENAUDIT_LEDGER_VERIFIER_TEST_FIXTURE_H_
#define TOKENAUDIT_LEDGER_VERIFIER_TEST_FIXTURE_H_

// The fixture of the verifier tamper tests (verifier_test.cc, verifier_rewrite_test.cc).

#include <gtest/gtest.h>

#include "src/ledger/verifier.h"

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

namespace tokenaudit::ledger::verifier_testing {

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
inline std::string Where(const std::string& segment, uint64_t offset, uint64_t seq) {
  return "segment " + segment + " offset " + std::to_string(offset) + " (seq " +
         std::to_string(seq) + ")";
}

inline bool Contains(const Status& s, const std::string& needle) {
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

}  // namespace tokenaudit::ledger::verifier_testing

#endif  // TOKENAUDIT_LEDGER_VERIFIER_TEST_FIXTURE_H_
