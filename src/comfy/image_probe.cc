#include "src/comfy/image_probe.h"

#include <array>
#include <cstddef>
#include <string>

#include "src/util/hex.h"
#include "src/util/sha256.h"

namespace tokenaudit::comfy {
namespace {

constexpr std::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);
constexpr std::string_view kJpegSignature("\xff\xd8", 2);
constexpr size_t kRiffHeaderBytes = 12;  // "RIFF" size "WEBP"

uint8_t Byte(std::string_view b, size_t i) { return static_cast<uint8_t>(b[i]); }
uint32_t Be16(std::string_view b, size_t i) { return (uint32_t{Byte(b, i)} << 8) | Byte(b, i + 1); }
uint32_t Be32(std::string_view b, size_t i) { return (Be16(b, i) << 16) | Be16(b, i + 2); }
uint32_t Le16(std::string_view b, size_t i) { return Byte(b, i) | (uint32_t{Byte(b, i + 1)} << 8); }
uint32_t Le24(std::string_view b, size_t i) { return Le16(b, i) | (uint32_t{Byte(b, i + 2)} << 16); }
uint32_t Le32(std::string_view b, size_t i) { return Le24(b, i) | (uint32_t{Byte(b, i + 3)} << 24); }

Status Truncated(std::string_view format, std::string_view where) {
  return Status::InvalidArgument(std::string(format) + ": truncated " + std::string(where));
}
Status Corrupt(std::string_view format, std::string_view what) {
  return Status::InvalidArgument(std::string(format) + ": corrupt: " + std::string(what));
}

// CRC-32 of ISO 3309 / ITU-T V.42 as PNG uses it (reflected, polynomial 0xedb88320). Only the 17
// bytes of IHDR are checked, so a small table built once is plenty.
uint32_t PngCrc(std::string_view data) {
  static const std::array<uint32_t, 256> kTable = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (char ch : data) c = kTable[(c ^ static_cast<uint8_t>(ch)) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

bool ValidPngDepth(uint8_t color_type, uint8_t depth) {
  switch (color_type) {
    case 0: return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3: return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2: case 4: case 6: return depth == 8 || depth == 16;
    default: return false;
  }
}

// PNG: signature, then the first chunk must be IHDR (length 13) with a valid CRC.
Result<ImageSize> ProbePng(std::string_view b) {
  constexpr size_t kChunkHeader = 8, kIhdrData = 13, kCrc = 4;
  const size_t start = kPngSignature.size();
  if (b.size() < start + kChunkHeader) return Truncated("png", "before the IHDR chunk header");
  if (b.substr(start + 4, 4) != "IHDR") return Corrupt("png", "first chunk is not IHDR");
  if (Be32(b, start) != kIhdrData) return Corrupt("png", "IHDR length is not 13");
  if (b.size() < start + kChunkHeader + kIhdrData + kCrc) return Truncated("png", "in IHDR");
  const size_t data = start + kChunkHeader;
  if (PngCrc(b.substr(start + 4, 4 + kIhdrData)) != Be32(b, data + kIhdrData)) {
    return Corrupt("png", "IHDR CRC mismatch");
  }
  ImageSize s;
  s.format = ImageFormat::kPng;
  s.width = Be32(b, data);
  s.height = Be32(b, data + 4);
  const uint8_t depth = Byte(b, data + 8), color = Byte(b, data + 9);
  if (s.width == 0 || s.height == 0) return Corrupt("png", "zero width or height");
  if (s.width > 0x7fffffffu || s.height > 0x7fffffffu) {
    return Corrupt("png", "width or height above 2^31-1");
  }
  if (!ValidPngDepth(color, depth)) return Corrupt("png", "invalid bit depth / colour type");
  if (Byte(b, data + 10) != 0 || Byte(b, data + 11) != 0 || Byte(b, data + 12) > 1) {
    return Corrupt("png", "unknown compression, filter or interlace method");
  }
  return s;
}

bool IsSofMarker(uint8_t m) {
  // C0-CF except C4 (DHT), C8 (JPG extension) and CC (DAC).
  return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

// JPEG: walks markers from SOI to the first SOFn. Every segment with a length is skipped whole,
// so an EXIF thumbnail's own SOI/SOF inside APP1 is never mistaken for the frame.
Result<ImageSize> ProbeJpeg(std::string_view b) {
  size_t pos = kJpegSignature.size();
  for (;;) {
    if (pos >= b.size()) return Truncated("jpeg", "before the frame header (SOFn)");
    if (Byte(b, pos) != 0xff) {
      return Corrupt("jpeg", "no marker at offset " + std::to_string(pos));
    }
    while (pos < b.size() && Byte(b, pos) == 0xff) ++pos;  // fill bytes
    if (pos >= b.size()) return Truncated("jpeg", "in a marker");
    const uint8_t marker = Byte(b, pos++);
    if (marker == 0x00) return Corrupt("jpeg", "stuffed 0xFF00 outside a scan");
    if (marker == 0xd8) return Corrupt("jpeg", "second SOI before the frame header");
    if (marker == 0xd9) return Corrupt("jpeg", "EOI before the frame header");
    if (marker == 0xda) return Corrupt("jpeg", "scan (SOS) before the frame header");
    if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;  // no length
    if (pos + 2 > b.size()) return Truncated("jpeg", "in a segment length");
    const uint32_t length = Be16(b, pos);  // counts itself, not the marker
    if (length < 2) return Corrupt("jpeg", "segment length below 2");
    if (IsSofMarker(marker)) {
      if (length < 8) return Corrupt("jpeg", "frame header shorter than 8 bytes");
      if (pos + 8 > b.size()) return Truncated("jpeg", "in the frame header");
      ImageSize s;
      s.format = ImageFormat::kJpeg;
      s.height = Be16(b, pos + 3);
      s.width = Be16(b, pos + 5);
      const uint32_t components = Byte(b, pos + 7);
      s.progressive = marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce;
      if (components == 0 || length != 8 + 3 * components) {
        return Corrupt("jpeg", "frame header length does not match its component count");
      }
      if (pos + length > b.size()) return Truncated("jpeg", "in the frame header components");
      if (s.width == 0) return Corrupt("jpeg", "zero width");
      if (s.height == 0) {
        return Status::InvalidArgument("jpeg: unsupported: height defined later by a DNL marker");
      }
      return s;
    }
    pos += length;
  }
}

// WebP: RIFF header, then the first chunk says the size: VP8 (lossy key frame header), VP8L
// (lossless header) or VP8X (extended: canvas size). The RIFF size must cover the chunk and the
// bytes must cover the RIFF size.
Result<ImageSize> ProbeWebp(std::string_view b) {
  constexpr size_t kChunkHeader = 8;
  const size_t data = kRiffHeaderBytes + kChunkHeader;
  if (b.size() < data) return Truncated("webp", "before the first chunk header");
  const uint64_t riff_size = Le32(b, 4);
  const uint64_t chunk_size = Le32(b, kRiffHeaderBytes + 4);
  if (riff_size < 4 + kChunkHeader + chunk_size) {
    return Corrupt("webp", "first chunk extends past the RIFF size");
  }
  const std::string_view fourcc = b.substr(kRiffHeaderBytes, 4);
  ImageSize s;
  s.format = ImageFormat::kWebp;
  if (fourcc == "VP8 ") {
    if (chunk_size < 10) return Corrupt("webp", "VP8 chunk shorter than its frame header");
    if (b.size() < data + 10) return Truncated("webp", "in the VP8 frame header");
    if ((Byte(b, data) & 1) != 0) return Corrupt("webp", "VP8 frame is not a key frame");
    if (b.substr(data + 3, 3) != std::string_view("\x9d\x01\x2a", 3)) {
      return Corrupt("webp", "VP8 start code missing");
    }
    s.width = Le16(b, data + 6) & 0x3fff;  // the top two bits are a scaling hint
    s.height = Le16(b, data + 8) & 0x3fff;
  } else if (fourcc == "VP8L") {
    if (chunk_size < 5) return Corrupt("webp", "VP8L chunk shorter than its header");
    if (b.size() < data + 5) return Truncated("webp", "in the VP8L header");
    if (Byte(b, data) != 0x2f) return Corrupt("webp", "VP8L signature missing");
    const uint32_t bits = Le32(b, data + 1);
    if ((bits >> 29) != 0) return Corrupt("webp", "VP8L version is not 0");
    s.width = (bits & 0x3fff) + 1;
    s.height = ((bits >> 14) & 0x3fff) + 1;
  } else if (fourcc == "VP8X") {
    if (chunk_size < 10) return Corrupt("webp", "VP8X chunk shorter than 10 bytes");
    if (b.size() < data + 10) return Truncated("webp", "in the VP8X header");
    s.width = Le24(b, data + 4) + 1;
    s.height = Le24(b, data + 7) + 1;
    if (uint64_t{s.width} * s.height > 0xffffffffu) {
      return Corrupt("webp", "VP8X canvas larger than 2^32-1 pixels");
    }
  } else {
    return Corrupt("webp", "first chunk is not VP8, VP8L or VP8X");
  }
  if (s.width == 0 || s.height == 0) return Corrupt("webp", "zero width or height");
  if (b.size() < riff_size + 8) return Truncated("webp", "before the end the RIFF size declares");
  return s;
}

// True when `b` is shorter than `signature` but agrees with it as far as it goes.
bool IsPrefixOf(std::string_view b, std::string_view signature) {
  return b.size() < signature.size() && signature.substr(0, b.size()) == b;
}

}  // namespace

std::string_view ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kPng: return "png";
    case ImageFormat::kJpeg: return "jpeg";
    case ImageFormat::kWebp: return "webp";
  }
  return "unknown";
}

Result<ImageSize> ProbeImageSize(std::string_view b) {
  if (b.empty()) return Status::InvalidArgument("image: empty input");
  if (b.starts_with(kPngSignature)) return ProbePng(b);
  if (b.starts_with(kJpegSignature)) return ProbeJpeg(b);
  if (b.size() >= kRiffHeaderBytes && b.starts_with("RIFF") && b.substr(8, 4) == "WEBP") {
    return ProbeWebp(b);
  }
  if (IsPrefixOf(b, kPngSignature)) return Truncated("png", "in the signature");
  if (IsPrefixOf(b, kJpegSignature)) return Truncated("jpeg", "in the signature");
  // "RIFF", 4 size bytes, "WEBP": a short input matches where it has bytes at the fixed places.
  if (b.size() < kRiffHeaderBytes && std::string_view("RIFF").starts_with(b.substr(0, 4)) &&
      (b.size() <= 8 || std::string_view("WEBP").starts_with(b.substr(8)))) {
    return Truncated("webp", "in the RIFF header");
  }
  return Status::InvalidArgument("image: unknown image format (not PNG, JPEG or WebP)");
}

Result<ImageProbe> ProbeImage(std::string_view bytes) {
  ASSIGN_OR_RETURN(ImageSize size, ProbeImageSize(bytes));
  const Sha256Digest digest = Sha256Of(bytes);
  return ImageProbe{size, HexEncode(digest.data(), digest.size())};
}

}  // namespace tokenaudit::comfy
