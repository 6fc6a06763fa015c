#include "src/log/frame.h"

#include <cstdio>
#include <cstring>

#include "src/util/coding.h"
#include "src/util/crc32c.h"

namespace tokenaudit::log {

std::string SegmentFileName(uint64_t first_seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(first_seq));
  return std::string(buf) + std::string(kSegmentSuffix);
}

bool ParseSegmentFileName(std::string_view name, uint64_t* first_seq) {
  if (name.size() != 20 + kSegmentSuffix.size()) return false;
  if (name.substr(20) != kSegmentSuffix) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return false;
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return false;  // overflow
    v = next;
  }
  *first_seq = v;
  return true;
}

void EncodeSegmentHeader(const SegmentHeader& h, std::string* dst) {
  char buf[kSegmentHeaderSize];
  std::memset(buf, 0, sizeof(buf));
  std::memcpy(buf, kSegmentMagic, 8);
  EncodeFixed32(buf + 8, h.version);
  EncodeFixed32(buf + 12, static_cast<uint32_t>(kSegmentHeaderSize));
  EncodeFixed64(buf + 16, h.first_seq);
  EncodeFixed64(buf + 24, h.salt);
  std::memcpy(buf + 32, h.log_id.data(), std::min(h.log_id.size(), kLogIdSize));
  EncodeFixed64(buf + 48, h.created_unix_micros);
  EncodeFixed32(buf + 60, crc32c::Mask(crc32c::Value(buf, 60)));
  dst->append(buf, sizeof(buf));
}

Result<SegmentHeader> DecodeSegmentHeader(std::string_view data) {
  if (data.size() < kSegmentHeaderSize) {
    return Status::Corruption("segment shorter than its 64-byte header");
  }
  const char* p = data.data();
  if (std::memcmp(p, kSegmentMagic, 8) != 0) return Status::Corruption("bad segment magic");
  if (crc32c::Unmask(DecodeFixed32(p + 60)) != crc32c::Value(p, 60)) {
    return Status::Corruption("segment header CRC mismatch");
  }
  SegmentHeader h;
  h.version = DecodeFixed32(p + 8);
  if (h.version != kFormatVersion) {
    return Status::Corruption("unsupported segment format version " + std::to_string(h.version));
  }
  if (DecodeFixed32(p + 12) != kSegmentHeaderSize) {
    return Status::Corruption("unexpected segment header size");
  }
  h.first_seq = DecodeFixed64(p + 16);
  h.salt = DecodeFixed64(p + 24);
  h.log_id.assign(p + 32, kLogIdSize);
  h.created_unix_micros = DecodeFixed64(p + 48);
  return h;
}

uint32_t SaltCrc(uint64_t salt) {
  char buf[8];
  EncodeFixed64(buf, salt);
  return crc32c::Value(buf, 8);
}

void EncodeFrame(uint32_t salt_crc, uint64_t seq, uint8_t type, std::string_view payload,
                 std::string* dst) {
  char hdr[kFrameHeaderSize];
  EncodeFixed32(hdr + 4, static_cast<uint32_t>(payload.size()));
  EncodeFixed32(hdr + 20, crc32c::Mask(crc32c::Value(payload.data(), payload.size())));
  CompleteFrameHeader(salt_crc, seq, type, hdr);
  dst->append(hdr, sizeof(hdr));
  dst->append(payload.data(), payload.size());
}

void CompleteFrameHeader(uint32_t salt_crc, uint64_t seq, uint8_t type, char* hdr) {
  EncodeFixed64(hdr + 8, seq);
  hdr[16] = static_cast<char>(type);
  hdr[17] = hdr[18] = hdr[19] = 0;
  EncodeFixed32(hdr, crc32c::Mask(crc32c::Extend(salt_crc, hdr + 4, kFrameHeaderSize - 4)));
}

std::string_view FrameStatusName(FrameStatus s) {
  switch (s) {
    case FrameStatus::kOk: return "ok";
    case FrameStatus::kTruncated: return "truncated frame";
    case FrameStatus::kBadHeaderCrc: return "frame header CRC mismatch";
    case FrameStatus::kBadLength: return "frame header fields out of range";
    case FrameStatus::kBadDataCrc: return "frame payload CRC mismatch";
  }
  return "unknown";
}

FrameStatus DecodeFrame(std::string_view data, uint32_t salt_crc, Frame* frame) {
  if (data.size() < kFrameHeaderSize) return FrameStatus::kTruncated;
  const char* p = data.data();
  if (crc32c::Unmask(DecodeFixed32(p)) != crc32c::Extend(salt_crc, p + 4, kFrameHeaderSize - 4)) {
    return FrameStatus::kBadHeaderCrc;
  }
  uint32_t length = DecodeFixed32(p + 4);
  auto type = static_cast<uint8_t>(p[16]);
  if (length > kMaxRecordBytes || type == 0 || type > kMaxRecordType || p[17] != 0 ||
      p[18] != 0 || p[19] != 0) {
    return FrameStatus::kBadLength;
  }
  if (data.size() - kFrameHeaderSize < length) return FrameStatus::kTruncated;
  std::string_view payload(p + kFrameHeaderSize, length);
  if (crc32c::Unmask(DecodeFixed32(p + 20)) != crc32c::Value(payload)) {
    return FrameStatus::kBadDataCrc;
  }
  frame->seq = DecodeFixed64(p + 8);
  frame->type = type;
  frame->payload = payload;
  frame->encoded_size = kFrameHeaderSize + length;
  return FrameStatus::kOk;
}

}  // namespace tokenaudit::log
