// Reading records back: Read() by seq through the offset index, Scan() sequentially.

#include <algorithm>

#include "src/ledger/ledger_impl.h"
#include "src/log/frame.h"
#include "src/log/log_format.h"
#include "src/util/coding.h"

namespace tokenaudit::ledger {

const LedgerImpl::SegmentInfo& LedgerImpl::SegmentOf(uint64_t seq) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), seq,
                             [](uint64_t s, const SegmentInfo& g) { return s < g.first_seq; });
  return *(it - 1);  // segments_[0].first_seq == 0 <= seq
}

Result<std::shared_ptr<RandomAccessFile>> LedgerImpl::SegmentFile(const std::string& name) const {
  MutexLock l(&files_mu_);
  auto it = files_.find(name);
  if (it != files_.end()) return it->second;
  ASSIGN_OR_RETURN(auto file, env_->NewRandomAccessFile(JoinPath(log_dir_, name)));
  std::shared_ptr<RandomAccessFile> shared(std::move(file));
  files_[name] = shared;
  return shared;
}

Status LedgerImpl::Read(uint64_t seq, std::string* payload, RecordType* type) const {
  uint64_t offset;
  SegmentInfo seg;
  {
    ReaderLock l(&tree_mu_);
    if (seq >= offsets_.size()) {
      return Status::NotFound("seq " + std::to_string(seq) + " is beyond the log (size " +
                              std::to_string(offsets_.size()) + ")");
    }
    offset = offsets_[seq];
    seg = SegmentOf(seq);
  }
  return ReadFrameAt(seg, offset, seq, payload, type);
}

Status LedgerImpl::ReadFrameAt(const SegmentInfo& seg, uint64_t offset, uint64_t seq,
                               std::string* payload, RecordType* type) const {
  ASSIGN_OR_RETURN(auto file, SegmentFile(seg.name));
  std::string buf(log::kFrameHeaderSize + 512, '\0');
  ASSIGN_OR_RETURN(size_t n, file->Read(offset, buf.size(), buf.data()));
  buf.resize(n);
  if (n >= log::kFrameHeaderSize) {
    uint32_t length = DecodeFixed32(buf.data() + 4);
    if (length <= log::kMaxRecordBytes && log::kFrameHeaderSize + length > n) {
      buf.resize(log::kFrameHeaderSize + length);
      ASSIGN_OR_RETURN(size_t more, file->Read(offset + n, buf.size() - n, buf.data() + n));
      buf.resize(n + more);
    }
  }
  log::Frame f;
  log::FrameStatus fs = log::DecodeFrame(buf, log::SaltCrc(seg.salt), &f);
  if (fs != log::FrameStatus::kOk || f.seq != seq) {
    return Status::Corruption(
        "segment " + seg.name + " offset " + std::to_string(offset) + " (seq " +
        std::to_string(seq) +
        "): " + std::string(fs == log::FrameStatus::kOk ? "wrong seq" : log::FrameStatusName(fs)));
  }
  payload->assign(f.payload);
  *type = static_cast<RecordType>(f.type);
  return Status::OK();
}

Status LedgerImpl::ReadLeafHashes(uint64_t begin, uint64_t end,
                                  std::vector<merkle::Hash>* out) const {
  out->clear();
  out->reserve(end - begin);
  std::string payload;
  RecordType type;
  for (uint64_t seq = begin; seq < end; ++seq) {
    if (seq >= offsets_.size()) return Status::Internal("leaf " + std::to_string(seq) + " unknown");
    RETURN_IF_ERROR(ReadFrameAt(SegmentOf(seq), offsets_[seq], seq, &payload, &type));
    out->push_back(merkle::HashLeaf(payload));
  }
  return Status::OK();
}

Status LedgerImpl::Scan(uint64_t from_seq, const ScanVisitor& fn) const {
  uint64_t limit;
  std::vector<SegmentInfo> segs;
  {
    ReaderLock l(&tree_mu_);
    limit = offsets_.size();
    segs = segments_;
  }
  uint64_t seq = from_seq;
  std::string data;
  while (seq < limit) {
    SegmentInfo seg;
    uint64_t offset;
    {
      ReaderLock l(&tree_mu_);
      seg = SegmentOf(seq);
      offset = offsets_[seq];
    }
    RETURN_IF_ERROR(ReadFileInto(env_, JoinPath(log_dir_, seg.name), &data));
    const uint32_t salt_crc = log::SaltCrc(seg.salt);
    while (seq < limit && offset < data.size()) {
      log::Frame f;
      log::FrameStatus fs = log::DecodeFrame(std::string_view(data).substr(offset), salt_crc, &f);
      if (fs != log::FrameStatus::kOk || f.seq != seq) {
        return Status::Corruption("segment " + seg.name + " offset " + std::to_string(offset) +
                                  " (seq " + std::to_string(seq) +
                                  "): " + std::string(log::FrameStatusName(fs)));
      }
      RETURN_IF_ERROR(fn(seq, static_cast<RecordType>(f.type), f.payload));
      offset += f.encoded_size;
      ++seq;
    }
    if (seq < limit && offset >= data.size()) {
      // The next seq must start the next segment.
      ReaderLock l(&tree_mu_);
      if (SegmentOf(seq).first_seq != seq) {
        return Status::Corruption("segment " + seg.name + " ends before seq " +
                                  std::to_string(seq));
      }
    }
  }
  return Status::OK();
}

}  // namespace tokenaudit::ledger
