#include "src/log/log_scanner.h"

#include <algorithm>
#include <limits>
#include <thread>
#include <utility>

#include "src/log/frame.h"
#include "src/log/log_format.h"
#include "src/util/mutex.h"

namespace tokenaudit::log {
namespace {

std::string Where(std::string_view segment, uint64_t offset, uint64_t seq) {
  return "segment " + std::string(segment) + " offset " + std::to_string(offset) + " (seq " +
         std::to_string(seq) + ")";
}

// True if any offset after `from` holds a frame whose CRCs both verify under this salt: proof
// that the damage at `from` is not a torn tail but corruption in the middle of the segment.
bool ValidFrameAfter(std::string_view data, size_t from, uint32_t salt_crc, uint64_t* found_at,
                     uint64_t* found_seq) {
  Frame f;
  for (size_t o = from + 1; o + kFrameHeaderSize <= data.size(); ++o) {
    if (DecodeFrame(data.substr(o), salt_crc, &f) == FrameStatus::kOk) {
      *found_at = o;
      *found_seq = f.seq;
      return true;
    }
  }
  return false;
}

// Reads the segments of a scan, in order, into the caller's buffer. With read-ahead, segment i+1 is
// read on a thread of its own while the caller checks segment i; the two buffers are swapped at
// the hand-over, so both keep their capacity and no more than two are ever held.
class SegmentReader {
 public:
  // `env`, `log_dir` and `names` must outlive the reader.
  SegmentReader(Env* env, const std::string& log_dir, const std::vector<std::string>& names,
                bool read_ahead)
      : env_(env), log_dir_(log_dir), names_(names), read_ahead_(read_ahead) {}
  SegmentReader(const SegmentReader&) = delete;
  SegmentReader& operator=(const SegmentReader&) = delete;
  ~SegmentReader() {
    if (thread_.joinable()) thread_.join();
  }

  // Reads segment `i` into *data; called for i = 0, 1, 2, ... in turn.
  Status Read(size_t i, std::string* data) {
    Status s;
    if (pending_ == i) {
      thread_.join();  // hands buffer_ and status_ back to this thread
      pending_ = kNone;
      data->swap(buffer_);
      s = std::move(status_);
    } else {
      s = ReadFileInto(env_, JoinPath(log_dir_, names_[i]), data);
    }
    if (s.ok() && read_ahead_ && i + 1 < names_.size()) {
      pending_ = i + 1;
      thread_ = std::thread([this, path = JoinPath(log_dir_, names_[i + 1])] {
        status_ = ReadFileInto(env_, path, &buffer_);
      });
    }
    return s;
  }

 private:
  static constexpr size_t kNone = std::numeric_limits<size_t>::max();

  Env* const env_;
  const std::string& log_dir_;
  const std::vector<std::string>& names_;
  const bool read_ahead_;
  size_t pending_ = kNone;  // the segment thread_ is reading, if any
  std::thread thread_;
  // Written only by thread_ while it runs; the join in Read hands them back.
  std::string buffer_;
  Status status_;
};

// Hands valid frames to the visitor in order, with their digest if ScanOptions::digest is set.
//
// Without a digest, or on one core, each frame is visited as soon as it is added. Otherwise frames
// wait in a ring while a helper thread digests them a batch at a time; when the calling thread
// needs a batch that no one has claimed yet it digests it itself, so the two threads share the
// hashing whatever their relative speeds, and the calling thread alone visits, in order. Batches
// are claimed in frame order, by either thread, under mu_.
//
// A queued frame points into the current segment's buffer: Flush() before that buffer changes.
class FramePipeline {
 public:
  // `options` and `visit` must outlive the pipeline.
  FramePipeline(const ScanOptions& options, const FrameVisitor& visit, uint64_t total_bytes)
      : options_(options),
        visit_(visit),
        total_bytes_(total_bytes),
        batch_(std::max<size_t>(1, options.digest_batch_frames)) {
    if (options_.digest && std::thread::hardware_concurrency() > 1) {
      ring_.resize(16 * batch_);
      helper_ = std::thread([this] { DigestQueued(); });
    }
  }
  FramePipeline(const FramePipeline&) = delete;
  FramePipeline& operator=(const FramePipeline&) = delete;
  ~FramePipeline() {
    {
      MutexLock l(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    if (helper_.joinable()) helper_.join();  // it finishes the batch it holds first
  }

  void BeginSegment(uint64_t bytes_before) {
    bytes_before_ = bytes_before;
    frames_since_progress_ = 0;
  }

  // Queues `frame`, or visits it at once; returns the error of a visit made now.
  Status Add(const ScannedFrame& frame) {
    if (ring_.empty()) {
      if (!options_.digest) return Visit(frame);
      ScannedFrame f = frame;
      const FrameDigest digest = options_.digest(f.payload);
      f.digest = &digest;
      return Visit(f);
    }
    ring_[added_ % ring_.size()].frame = frame;
    ++added_;
    // The ring is full: the helper is behind, so digest here too until a batch fits again.
    if (added_ - visited_ == ring_.size()) return VisitQueued(ring_.size() - batch_, true);
    // Otherwise hand the batch over and visit what the helper has finished, without waiting.
    if (added_ % batch_ == 0) return VisitQueued(0, false);
    return Status::OK();
  }

  // Visits every queued frame; returns the first visit's error (later frames are not visited).
  Status Flush() { return ring_.empty() ? Status::OK() : VisitQueued(0, true); }

 private:
  // A ring position. Frame n lives in ring_[n % size]: the calling thread writes its `frame`
  // before n is published and reuses the slot only after visiting n; `digest` is written by the
  // thread that claimed n and read by the calling thread once that claim is complete.
  struct Slot {
    ScannedFrame frame;
    FrameDigest digest{};
  };

  Status Visit(const ScannedFrame& frame) {
    RETURN_IF_ERROR(visit_(frame));
    if (options_.progress && ++frames_since_progress_ == (1u << 16)) {
      frames_since_progress_ = 0;
      options_.progress(bytes_before_ + frame.offset + kFrameHeaderSize + frame.payload.size(),
                        total_bytes_);
    }
    return Status::OK();
  }

  // Makes every added frame available to the helper.
  void Publish() {
    MutexLock l(&mu_);
    published_ = added_;
    cv_.SignalAll();
  }

  // Publishes every added frame, then visits queued frames in order until at most `keep` remain.
  // With `help`, digests unclaimed batches here and waits for the helper's batch in progress;
  // without, stops at the first frame not digested yet.
  Status VisitQueued(uint64_t keep, bool help) {
    Publish();
    while (added_ - visited_ > keep) {
      const uint64_t begin = visited_;
      uint64_t end = 0;
      bool mine = false;
      {
        MutexLock l(&mu_);
        if (claimed_ == begin) {  // unclaimed
          if (!help) return Status::OK();
          end = std::min<uint64_t>(begin + batch_, published_);
          claimed_ = end;
          mine = true;
        } else {
          // Claimed by the helper; everything before its batch in progress is digested.
          if (!help && helper_busy_ && helper_begin_ <= begin) return Status::OK();
          while (helper_busy_ && helper_begin_ <= begin) cv_.Wait(&mu_);
          end = helper_busy_ ? helper_begin_ : claimed_;
        }
      }
      for (uint64_t n = begin; n < end; ++n) {
        Slot& slot = ring_[n % ring_.size()];
        if (mine) slot.digest = options_.digest(slot.frame.payload);
        slot.frame.digest = &slot.digest;
        ++visited_;
        RETURN_IF_ERROR(Visit(slot.frame));
      }
    }
    return Status::OK();
  }

  // The helper thread: digests published, unclaimed batches until stopped.
  void DigestQueued() {
    uint64_t begin = 0, end = 0;  // the batch just digested
    for (;;) {
      {
        MutexLock l(&mu_);
        if (end > begin) {
          helper_busy_ = false;
          cv_.SignalAll();
        }
        while (!stop_ && claimed_ == published_) cv_.Wait(&mu_);
        if (stop_) return;
        begin = claimed_;
        end = std::min<uint64_t>(begin + batch_, published_);
        claimed_ = end;
        helper_busy_ = true;
        helper_begin_ = begin;
      }
      for (uint64_t n = begin; n < end; ++n) {
        Slot& slot = ring_[n % ring_.size()];
        slot.digest = options_.digest(slot.frame.payload);
      }
    }
  }

  const ScanOptions& options_;
  const FrameVisitor& visit_;
  const uint64_t total_bytes_;
  const size_t batch_;
  // Calling thread only.
  uint64_t bytes_before_ = 0;
  uint64_t frames_since_progress_ = 0;
  uint64_t added_ = 0;    // frames added so far
  uint64_t visited_ = 0;  // frames visited so far
  // Sized once, before the helper starts; its slots are shared as described at Slot.
  std::vector<Slot> ring_;  // empty: every frame is visited as it is added

  Mutex mu_;
  CondVar cv_;
  uint64_t published_ GUARDED_BY(mu_) = 0;  // frames [0, published_) may be claimed
  uint64_t claimed_ GUARDED_BY(mu_) = 0;    // frames [0, claimed_) are digested or being digested
  bool helper_busy_ GUARDED_BY(mu_) = false;  // the helper digests [helper_begin_, its end)
  uint64_t helper_begin_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread helper_;  // started last, joined first
};

}  // namespace

Result<std::vector<std::string>> ListSegments(Env* env, const std::string& log_dir) {
  ASSIGN_OR_RETURN(auto children, env->GetChildren(log_dir));
  std::vector<std::pair<uint64_t, std::string>> segs;
  for (auto& name : children) {
    uint64_t first = 0;
    if (ParseSegmentFileName(name, &first)) segs.emplace_back(first, name);
  }
  std::sort(segs.begin(), segs.end());
  std::vector<std::string> out;
  out.reserve(segs.size());
  for (auto& s : segs) out.push_back(std::move(s.second));
  return out;
}

Status ScanLog(Env* env, const std::string& log_dir, const ScanOptions& options,
               const FrameVisitor& visit, ScanSummary* summary) {
  *summary = ScanSummary();
  ASSIGN_OR_RETURN(auto segments, ListSegments(env, log_dir));
  for (const auto& name : segments) {
    ASSIGN_OR_RETURN(uint64_t size, env->GetFileSize(JoinPath(log_dir, name)));
    summary->total_bytes += size;
  }
  uint64_t bytes_before = 0;
  uint64_t expected_seq = 0;
  std::string data;
  // Declared after `data`: their threads are joined before the buffer they read goes away.
  SegmentReader reader(env, log_dir, segments, options.read_ahead);
  FramePipeline pipeline(options, visit, summary->total_bytes);
  for (size_t si = 0; si < segments.size(); ++si) {
    const std::string& name = segments[si];
    const bool is_last = si + 1 == segments.size();
    RETURN_IF_ERROR(reader.Read(si, &data));
    uint64_t named_first = 0;
    ParseSegmentFileName(name, &named_first);
    auto header = DecodeSegmentHeader(data);
    if (!header.ok()) {
      return header.status().WithContext(Where(name, 0, expected_seq));
    }
    if (header->first_seq != named_first) {
      return Status::Corruption(Where(name, 0, expected_seq) + ": header first seq " +
                                std::to_string(header->first_seq) + " does not match file name");
    }
    if (header->first_seq != expected_seq) {
      return Status::Corruption(Where(name, 0, expected_seq) + ": segment starts at seq " +
                                std::to_string(header->first_seq) + ", expected " +
                                std::to_string(expected_seq) + " (records missing)");
    }
    if (si == 0) {
      summary->log_id = header->log_id;
      if (!options.expected_log_id.empty() && header->log_id != options.expected_log_id) {
        return Status::Corruption(Where(name, 0, expected_seq) +
                                  ": segment belongs to another log");
      }
    } else if (header->log_id != summary->log_id) {
      return Status::Corruption(Where(name, 0, expected_seq) + ": segment belongs to another log");
    }
    const uint32_t salt_crc = SaltCrc(header->salt);
    summary->segments++;
    summary->last_segment = name;
    summary->last_salt = header->salt;

    std::string_view rest(data);
    size_t offset = kSegmentHeaderSize;
    pipeline.BeginSegment(bytes_before);
    // The first bad frame (or the torn tail) is acted on only after every frame before it has
    // been visited, so a visitor error on an earlier frame still wins, as in a frame-by-frame scan.
    Status bad;
    bool torn = false;
    FrameStatus torn_status = FrameStatus::kOk;
    while (offset < data.size()) {
      Frame f;
      FrameStatus fs = DecodeFrame(rest.substr(offset), salt_crc, &f);
      if (fs != FrameStatus::kOk) {
        std::string what = Where(name, offset, expected_seq) + ": " +
                           std::string(FrameStatusName(fs));
        if (!is_last || !options.tolerate_torn_tail) {
          bad = Status::Corruption(what);
          break;
        }
        uint64_t at = 0, seq = 0;
        if (ValidFrameAfter(data, offset, salt_crc, &at, &seq)) {
          bad = Status::Corruption(what + "; a valid frame (seq " + std::to_string(seq) +
                                   ") follows at offset " + std::to_string(at));
          break;
        }
        torn = true;
        torn_status = fs;
        break;
      }
      if (f.seq != expected_seq) {
        bad = Status::Corruption(Where(name, offset, expected_seq) + ": frame has seq " +
                                 std::to_string(f.seq));
        break;
      }
      ScannedFrame sf{f.seq, f.type, f.payload, name, offset, header->first_seq, header->salt};
      RETURN_IF_ERROR(pipeline.Add(sf));
      ++expected_seq;
      offset += f.encoded_size;
    }
    RETURN_IF_ERROR(pipeline.Flush());
    RETURN_IF_ERROR(bad);
    if (torn) {
      summary->torn_offset = offset;
      summary->torn_bytes = data.size() - offset;
      summary->torn_reason = std::string(FrameStatusName(torn_status));
    }
    summary->next_seq = expected_seq;
    summary->last_valid_end = std::min<uint64_t>(offset, data.size());
    bytes_before += data.size();
    if (options.progress) options.progress(bytes_before, summary->total_bytes);
  }
  summary->next_seq = expected_seq;
  return Status::OK();
}

}  // namespace tokenaudit::log
