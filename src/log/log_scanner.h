// Reads every segment of a log directory in order and checks it frame by frame: header CRC
// before length, payload CRC, consecutive seqs across segments, one log id, per-segment salt.
// Used by recovery, `tokenaudit verify` and readers. Thread-compatible; with ScanOptions::read_ahead
// or ::digest a scan runs helper threads of its own, all joined before ScanLog returns.

#ifndef TOKENAUDIT_LOG_LOG_SCANNER_H_
#define TOKENAUDIT_LOG_LOG_SCANNER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/env.h"
#include "tokenaudit/status.h"

namespace tokenaudit::log {

// A 32-byte digest of a frame's payload, computed by ScanOptions::digest.
using FrameDigest = std::array<uint8_t, 32>;

struct ScannedFrame {
  uint64_t seq = 0;
  uint8_t type = 0;
  std::string_view payload;      // valid only during the visit
  std::string_view segment;      // file name of the segment
  uint64_t offset = 0;           // of the frame header within the segment
  uint64_t segment_first_seq = 0;
  uint64_t segment_salt = 0;
  // ScanOptions::digest(payload) when that is set; nullptr otherwise. Valid only during the visit.
  const FrameDigest* digest = nullptr;
};

struct ScanOptions {
  // A bad frame in the last segment with no valid frame anywhere after it is a torn tail: the
  // scan stops there and reports it in ScanSummary. When false it is Corruption like any other.
  bool tolerate_torn_tail = true;
  // If non-empty, every segment's log id must equal this (raw bytes).
  std::string expected_log_id;
  // Called now and then with (bytes scanned, total bytes of all segments).
  std::function<void(uint64_t, uint64_t)> progress;

  // Reads the next segment on a second thread while the current one is checked and visited: I/O
  // overlaps the checks, at the price of a second segment-sized buffer.
  bool read_ahead = false;
  // If set, computed for every valid frame's payload and handed to the visitor in
  // ScannedFrame::digest. On a machine with more than one core a helper thread computes digests
  // while the calling thread decodes, checks and visits, so frames are decoded up to a few
  // thousand ahead of their visit; visits still happen one at a time, in seq order, on the calling
  // thread, and the result (visited frames, status, summary) is the same as without it. Called
  // concurrently from two threads: must be thread-safe.
  std::function<FrameDigest(std::string_view payload)> digest;
  // Frames per unit of digest work handed between the threads. Tests make it small to exercise
  // the hand-offs; there is no reason to change it otherwise.
  size_t digest_batch_frames = 256;
};

struct ScanSummary {
  uint64_t next_seq = 0;   // one past the last valid frame's seq
  uint64_t segments = 0;
  uint64_t total_bytes = 0;
  std::string log_id;      // raw bytes, from the first segment (empty if there is none)
  // The last segment, where appends continue.
  std::string last_segment;  // file name; empty if the log has no segment
  uint64_t last_salt = 0;
  uint64_t last_valid_end = 0;  // offset just past the last valid frame of the last segment
  // Torn tail, if one was found (tolerate_torn_tail only).
  uint64_t torn_bytes = 0;
  uint64_t torn_offset = 0;
  std::string torn_reason;
};

using FrameVisitor = std::function<Status(const ScannedFrame&)>;

// Visits every valid frame in seq order. Returns Corruption naming the segment, offset and
// expected seq at the first bad frame, header or gap (or the visitor's error, unchanged); IOError
// if a file cannot be read. `summary` is filled as far as the scan got.
Status ScanLog(Env* env, const std::string& log_dir, const ScanOptions& options,
               const FrameVisitor& visit, ScanSummary* summary);

// Segment file names in `log_dir`, sorted by first seq; stale ".tmp" files are not included.
Result<std::vector<std::string>> ListSegments(Env* env, const std::string& log_dir);

}  // namespace tokenaudit::log

#endif  // TOKENAUDIT_LOG_LOG_SCANNER_H_
