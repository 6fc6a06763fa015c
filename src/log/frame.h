// Encoding and decoding of segment headers and frames (see log_format.h). Pure functions over
// byte buffers; no I/O. Thread-safe.

#ifndef TOKENAUDIT_LOG_FRAME_H_
#define TOKENAUDIT_LOG_FRAME_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "src/log/log_format.h"
#include "tokenaudit/result.h"

namespace tokenaudit::log {

struct SegmentHeader {
  uint32_t version = kFormatVersion;
  uint64_t first_seq = 0;
  uint64_t salt = 0;
  std::string log_id;  // kLogIdSize raw bytes
  uint64_t created_unix_micros = 0;
};

// Appends the 64-byte encoding of `h` to `dst`. h.log_id must be kLogIdSize bytes.
void EncodeSegmentHeader(const SegmentHeader& h, std::string* dst);
// Corruption naming what is wrong (short, magic, version, CRC).
Result<SegmentHeader> DecodeSegmentHeader(std::string_view data);

// CRC32C state after the 8 salt bytes: the seed of every frame header CRC in a segment.
uint32_t SaltCrc(uint64_t salt);

// Appends one frame to `dst`. `salt_crc` is SaltCrc(segment salt). payload.size() must be at most
// kMaxRecordBytes (callers check; the encoder does not).
void EncodeFrame(uint32_t salt_crc, uint64_t seq, uint8_t type, std::string_view payload,
                 std::string* dst);

// Completes a frame header built in place (RecordBatch): `hdr` points at kFrameHeaderSize bytes
// whose length (bytes 4..8) and data CRC (20..24) are already set; writes seq, type, the reserved
// zeros and the header CRC. The result equals EncodeFrame's header for the same frame.
void CompleteFrameHeader(uint32_t salt_crc, uint64_t seq, uint8_t type, char* hdr);

// What DecodeFrame found at an offset.
enum class FrameStatus {
  kOk,           // a whole frame with both CRCs valid
  kTruncated,    // fewer bytes left than the header or the header's length claims
  kBadHeaderCrc, // header CRC mismatch: the length cannot be trusted
  kBadLength,    // header CRC valid but length above kMaxRecordBytes, or a bad type/reserved
  kBadDataCrc,   // header valid, payload CRC mismatch
};
std::string_view FrameStatusName(FrameStatus s);

struct Frame {
  uint64_t seq = 0;
  uint8_t type = 0;
  std::string_view payload;  // points into the decoded buffer
  size_t encoded_size = 0;   // header + payload
};

// Decodes the frame at the start of `data`. The header CRC is checked before the length is used.
FrameStatus DecodeFrame(std::string_view data, uint32_t salt_crc, Frame* frame);

}  // namespace tokenaudit::log

#endif  // TOKENAUDIT_LOG_FRAME_H_
