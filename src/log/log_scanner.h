// Reads every segment of a log directory in order and checks it frame by frame: header CRC
// before length, payload CRC, consecutive seqs across segments, one log id, per-segment salt.
// Used by recovery, `tokenaudit verify` and readers. Thread-compatible.

#ifndef TOKENAUDIT_LOG_LOG_SCANNER_H_
#define TOKENAUDIT_LOG_LOG_SCANNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tokenaudit/env.h"
#include "tokenaudit/status.h"

namespace tokenaudit::log {

struct ScannedFrame {
  uint64_t seq = 0;
  uint8_t type = 0;
  std::string_view payload;      // valid only during the visit
  std::string_view segment;      // file name of the segment
  uint64_t offset = 0;           // of the frame header within the segment
  uint64_t segment_first_seq = 0;
  uint64_t segment_salt = 0;
};

struct ScanOptions {
  // A bad frame in the last segment with no valid frame anywhere after it is a torn tail: the
  // scan stops there and reports it in ScanSummary. When false it is Corruption like any other.
  bool tolerate_torn_tail = true;
  // If non-empty, every segment's log id must equal this (raw bytes).
  std::string expected_log_id;
  // Called now and then with (bytes scanned, total bytes of all segments).
  std::function<void(uint64_t, uint64_t)> progress;
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
