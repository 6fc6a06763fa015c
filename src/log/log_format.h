// On-disk constants of the log segments. doc/log_format.md specifies the format byte by byte;
// change both together, and bump kFormatVersion on any incompatible change.

#ifndef TOKENAUDIT_LOG_LOG_FORMAT_H_
#define TOKENAUDIT_LOG_LOG_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tokenaudit::log {

inline constexpr char kSegmentMagic[8] = {'T', 'A', 'L', 'O', 'G', 'S', 'E', 'G'};
inline constexpr uint32_t kFormatVersion = 1;

// Segment header, 64 bytes, little-endian:
//   0  magic "TALOGSEG"       8
//   8  version                u32
//  12  header size (64)       u32
//  16  first seq              u64
//  24  salt                   u64   random per segment, mixed into every frame's header CRC
//  32  log id                 16 bytes, fixed when the data directory is created
//  48  created (unix micros)  u64
//  56  reserved (0)           u32
//  60  header CRC             u32   masked CRC32C of bytes [0, 60)
inline constexpr size_t kSegmentHeaderSize = 64;
inline constexpr size_t kLogIdSize = 16;

// Frame header, 24 bytes, followed by `length` payload bytes:
//   0  header CRC  u32  masked CRC32C of (salt as 8 LE bytes || frame bytes [4, 24))
//   4  length      u32  payload bytes, at most kMaxRecordBytes
//   8  seq         u64  Merkle leaf index; consecutive across the whole log
//  16  type        u8   RecordType
//  17  reserved    3 bytes, zero
//  20  data CRC    u32  masked CRC32C of the payload
inline constexpr size_t kFrameHeaderSize = 24;
inline constexpr uint32_t kMaxRecordBytes = 16u << 20;

// Highest RecordType value this version writes and accepts.
inline constexpr uint8_t kMaxRecordType = 4;

// Segment files are <log dir>/<first seq, 20 decimal digits>.seg; a segment being created is
// written under the same name plus ".tmp" and renamed into place once its header is durable.
inline constexpr std::string_view kSegmentSuffix = ".seg";
inline constexpr std::string_view kTempSuffix = ".tmp";

std::string SegmentFileName(uint64_t first_seq);
// True and sets *first_seq if `name` is a well-formed segment file name.
bool ParseSegmentFileName(std::string_view name, uint64_t* first_seq);

}  // namespace tokenaudit::log

#endif  // TOKENAUDIT_LOG_LOG_FORMAT_H_
