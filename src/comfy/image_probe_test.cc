#include "src/comfy/image_probe.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tokenaudit::comfy {
namespace {

// Minimal byte builders: just the headers ProbeImageSize reads, plus a little filler.

void PutBe16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v));
}
void PutBe32(std::string* s, uint32_t v) {
  PutBe16(s, v >> 16);
  PutBe16(s, v & 0xffff);
}
void PutLe16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v));
  s->push_back(static_cast<char>(v >> 8));
}
void PutLe24(std::string* s, uint32_t v) {
  PutLe16(s, v & 0xffff);
  s->push_back(static_cast<char>(v >> 16));
}
void PutLe32(std::string* s, uint32_t v) {
  PutLe16(s, v & 0xffff);
  PutLe16(s, v >> 16);
}

uint32_t Crc32(std::string_view data) {  // bitwise, independent of the table in the library
  uint32_t c = 0xffffffffu;
  for (char ch : data) {
    c ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

std::string Png(uint32_t width, uint32_t height, uint8_t depth = 8, uint8_t color = 2) {
  std::string s("\x89PNG\r\n\x1a\n", 8);
  std::string chunk = "IHDR";
  PutBe32(&chunk, width);
  PutBe32(&chunk, height);
  chunk += static_cast<char>(depth);
  chunk += static_cast<char>(color);
  chunk += std::string(3, '\0');  // compression, filter, interlace
  PutBe32(&s, 13);
  s += chunk;
  PutBe32(&s, Crc32(chunk));
  PutBe32(&s, 0);  // an empty IEND, so the file looks whole
  s += "IEND";
  PutBe32(&s, Crc32("IEND"));
  return s;
}

// A JPEG segment: marker, length (counting itself) and payload.
std::string Segment(uint8_t marker, std::string_view payload) {
  std::string s("\xff", 1);
  s += static_cast<char>(marker);
  PutBe16(&s, static_cast<uint32_t>(payload.size() + 2));
  s += payload;
  return s;
}

std::string Sof(uint8_t marker, uint32_t width, uint32_t height, int components = 3) {
  std::string p(1, '\x08');  // precision
  PutBe16(&p, height);
  PutBe16(&p, width);
  p += static_cast<char>(components);
  for (int i = 0; i < components; ++i) p += std::string{static_cast<char>(i + 1), '\x11', '\0'};
  return Segment(marker, p);
}

const std::string kSoi("\xff\xd8", 2);
const std::string kEoi("\xff\xd9", 2);
std::string Jfif() { return Segment(0xe0, std::string("JFIF\0\x01\x01\0\0\x01\0\x01\0\0", 14)); }
std::string Sos() { return Segment(0xda, std::string("\x03\x01\0\x02\x11\x03\x11\0\x3f\0", 10)); }

std::string Jpeg(uint8_t sof_marker, uint32_t width, uint32_t height) {
  return kSoi + Jfif() + Segment(0xdb, std::string(65, '\x01')) + Sof(sof_marker, width, height) +
         Segment(0xc4, std::string(20, '\0')) + Sos() + std::string("\x12\x34\xff\x00\x56", 5) +
         kEoi;
}

std::string Riff(std::string_view fourcc, std::string_view chunk_data) {
  std::string chunk(fourcc);
  PutLe32(&chunk, static_cast<uint32_t>(chunk_data.size()));
  chunk += chunk_data;
  if (chunk_data.size() % 2) chunk += '\0';
  std::string s = "RIFF";
  PutLe32(&s, static_cast<uint32_t>(4 + chunk.size()));
  return s + "WEBP" + chunk;
}

std::string Vp8Data(uint32_t width, uint32_t height, uint8_t tag0 = 0x10) {
  std::string d{static_cast<char>(tag0), '\x03', '\0', '\x9d', '\x01', '\x2a'};
  PutLe16(&d, width);
  PutLe16(&d, height);
  return d + std::string(8, '\x55');
}

std::string Vp8lData(uint32_t width, uint32_t height, uint32_t version = 0) {
  std::string d(1, '\x2f');
  PutLe32(&d, (width - 1) | ((height - 1) << 14) | (version << 29));
  return d + std::string(3, '\0');
}

std::string Vp8xData(uint32_t width, uint32_t height) {
  std::string d(4, '\0');  // flags + reserved
  PutLe24(&d, width - 1);
  PutLe24(&d, height - 1);
  return d;
}

void ExpectSize(std::string_view bytes, ImageFormat format, uint32_t w, uint32_t h) {
  Result<ImageSize> r = ProbeImageSize(bytes);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->format, format);
  EXPECT_EQ(r->width, w);
  EXPECT_EQ(r->height, h);
}

void ExpectError(std::string_view bytes, std::string_view message_part) {
  Result<ImageSize> r = ProbeImageSize(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(message_part), std::string_view::npos) << r.status();
}

TEST(ImageProbeTest, PngSizeComesFromIhdr) {
  ExpectSize(Png(460, 680), ImageFormat::kPng, 460, 680);
  ExpectSize(Png(1, 1, 1, 0), ImageFormat::kPng, 1, 1);
  ExpectSize(Png(0x7fffffff, 3, 16, 6), ImageFormat::kPng, 0x7fffffff, 3);
}

TEST(ImageProbeTest, CapturedPngHeaderGivesSizeAndHash) {
  // The first 33 bytes of the PNG in captures/view.json ("output": 32×24, IHDR CRC 14316863).
  const std::string header("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x20\0\0\0\x18\x08\x02\0\0\0\x14\x31\x68\x63",
                           33);
  Result<ImageProbe> r = ProbeImage(header);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size, (ImageSize{ImageFormat::kPng, 32, 24, false}));
  EXPECT_EQ(r->sha256_hex, "c1243354ea81c3275f5f046e7fa84e58a08883704b2d34a90a0839c4163bc88b");
}

TEST(ImageProbeTest, PngBrokenIhdrIsCorrupt) {
  std::string bad_crc = Png(10, 10);
  bad_crc[29] ^= 1;
  ExpectError(bad_crc, "png: corrupt: IHDR CRC mismatch");
  std::string not_ihdr = Png(10, 10);
  not_ihdr[12] = 'X';
  ExpectError(not_ihdr, "first chunk is not IHDR");
  std::string long_ihdr = Png(10, 10);
  long_ihdr[11] = 14;
  ExpectError(long_ihdr, "IHDR length is not 13");
  ExpectError(Png(0, 10), "zero width or height");
  ExpectError(Png(10, 0), "zero width or height");
  ExpectError(Png(0x80000000u, 1), "above 2^31-1");
  ExpectError(Png(10, 10, 3, 2), "bit depth");  // RGB needs 8 or 16 bits
  ExpectError(Png(10, 10, 8, 5), "bit depth");  // colour type 5 does not exist
}

TEST(ImageProbeTest, JpegBaselineAndProgressiveFrames) {
  ExpectSize(Jpeg(0xc0, 1024, 768), ImageFormat::kJpeg, 1024, 768);
  ExpectSize(Jpeg(0xc1, 3, 65535), ImageFormat::kJpeg, 3, 65535);
  Result<ImageSize> progressive = ProbeImageSize(Jpeg(0xc2, 640, 480));
  ASSERT_TRUE(progressive.ok()) << progressive.status();
  EXPECT_EQ(*progressive, (ImageSize{ImageFormat::kJpeg, 640, 480, true}));
  EXPECT_FALSE(ProbeImageSize(Jpeg(0xc0, 1, 1))->progressive);
  // Lossless and arithmetic-coded frames count too; DHT (C4), JPG (C8) and DAC (CC) are skipped.
  ExpectSize(Jpeg(0xc3, 7, 9), ImageFormat::kJpeg, 7, 9);
  ExpectSize(Jpeg(0xca, 7, 9), ImageFormat::kJpeg, 7, 9);
  ExpectSize(kSoi + Segment(0xcc, "ab") + Segment(0xc8, "") + Sof(0xc0, 5, 6), ImageFormat::kJpeg,
             5, 6);
}

TEST(ImageProbeTest, JpegSkipsAppSegmentsWithAnEmbeddedThumbnail) {
  // APP1 (Exif) carries a whole 16×16 thumbnail JPEG; its SOF must not be taken for the frame.
  const std::string thumbnail = kSoi + Sof(0xc0, 16, 16) + Sos() + kEoi;
  const std::string exif = Segment(0xe1, std::string("Exif\0\0", 6) + thumbnail);
  const std::string icc = Segment(0xe2, std::string(300, '\xff'));  // 0xFF bytes inside a segment
  ExpectSize(kSoi + exif + icc + Jfif() + Sof(0xc2, 2000, 1500) + Sos() + kEoi,
             ImageFormat::kJpeg, 2000, 1500);
}

TEST(ImageProbeTest, JpegFillBytesAndStandaloneMarkersAreSkipped) {
  const std::string fill("\xff\xff\xff", 3);
  const std::string tem("\xff\x01", 2);
  ExpectSize(kSoi + fill + Jfif() + tem + fill + Sof(0xc0, 33, 44), ImageFormat::kJpeg, 33, 44);
}

TEST(ImageProbeTest, JpegStructureErrors) {
  ExpectError(kSoi + Sos() + Sof(0xc0, 1, 1), "jpeg: corrupt: scan (SOS) before the frame header");
  ExpectError(kSoi + Jfif() + kEoi, "EOI before the frame header");
  ExpectError(kSoi + kSoi + Sof(0xc0, 1, 1), "second SOI");
  ExpectError(kSoi + std::string("\xff\xe0\x00\x01", 4) + Sof(0xc0, 1, 1), "length below 2");
  ExpectError(kSoi + Jfif() + "junk" + Sof(0xc0, 1, 1), "no marker at offset 20");
  ExpectError(kSoi + std::string("\xff\x00", 2), "stuffed");
  ExpectError(kSoi + Sof(0xc0, 0, 5), "zero width");
  ExpectError(kSoi + Sof(0xc0, 5, 0), "DNL");
  std::string short_sof = kSoi + Segment(0xc0, std::string(5, '\1'));
  ExpectError(short_sof, "frame header shorter than 8 bytes");
  std::string mismatch = kSoi + Sof(0xc0, 8, 8, 3);
  mismatch[kSoi.size() + 3] += 1;  // length one more than 8 + 3 × 3
  ExpectError(mismatch, "does not match its component count");
  ExpectError(kSoi + Jfif(), "jpeg: truncated before the frame header");
}

TEST(ImageProbeTest, WebpLossyLosslessAndExtended) {
  ExpectSize(Riff("VP8 ", Vp8Data(460, 680)), ImageFormat::kWebp, 460, 680);
  ExpectSize(Riff("VP8 ", Vp8Data(0x4000 | 300, 0xc000 | 200)), ImageFormat::kWebp, 300, 200);
  ExpectSize(Riff("VP8L", Vp8lData(16384, 1)), ImageFormat::kWebp, 16384, 1);
  ExpectSize(Riff("VP8X", Vp8xData(1 << 24, 1)), ImageFormat::kWebp, 1 << 24, 1);
}

TEST(ImageProbeTest, CapturedWebpPreviewHeader) {
  // captures/view.json "preview_webp": RIFF size 68 (76 bytes), VP8 chunk of 56 bytes, 32×24.
  std::string webp("RIFFD\0\0\0WEBPVP8 8\0\0\0\x10\x03\0\x9d\x01\x2a\x20\0\x18\0", 30);
  webp.resize(76, '\x42');
  ExpectSize(webp, ImageFormat::kWebp, 32, 24);
}

TEST(ImageProbeTest, WebpStructureErrors) {
  ExpectError(Riff("VP8 ", Vp8Data(10, 10, 0x11)), "not a key frame");
  std::string no_start = Riff("VP8 ", Vp8Data(10, 10));
  no_start[23] = 0;
  ExpectError(no_start, "start code");
  ExpectError(Riff("VP8 ", Vp8Data(0, 10)), "zero width or height");
  ExpectError(Riff("VP8 ", std::string(6, '\0')), "VP8 chunk shorter");
  ExpectError(Riff("VP8L", Vp8lData(5, 5, 1)), "VP8L version is not 0");
  std::string no_sig = Riff("VP8L", Vp8lData(5, 5));
  no_sig[20] = 0x2e;
  ExpectError(no_sig, "VP8L signature");
  ExpectError(Riff("VP8X", Vp8xData(1 << 24, 1 << 24)), "canvas larger");
  ExpectError(Riff("VP8Z", Vp8Data(1, 1)), "first chunk is not VP8, VP8L or VP8X");
  std::string past_riff = Riff("VP8L", Vp8lData(5, 5));
  past_riff[4] = 4;  // RIFF size too small for the chunk
  ExpectError(past_riff, "extends past the RIFF size");
  std::string short_file = Riff("VP8L", Vp8lData(5, 5));
  short_file[4] += 2;  // RIFF claims two bytes more than there are
  ExpectError(short_file, "webp: truncated before the end the RIFF size declares");
}

TEST(ImageProbeTest, UnknownAndEmptyInput) {
  ExpectError("", "image: empty input");
  ExpectError("GIF89a\x01\0\x01\0", "unknown image format");
  ExpectError(std::string("RIFF\x04\0\0\0AVI LIST", 16), "unknown image format");
  ExpectError("\x89PNX", "unknown image format");
  ExpectError("\x89PN", "png: truncated in the signature");
  ExpectError("\xff", "jpeg: truncated in the signature");
  ExpectError("RIFF\1\2", "webp: truncated in the RIFF header");
  ExpectError(std::string("RIFF\1\2\3\4WE", 10), "webp: truncated in the RIFF header");
}

// Every strict prefix of a valid header set is refused as truncated, never read past its end.
TEST(ImageProbeTest, EveryPrefixOfTheHeadersIsTruncated) {
  const std::vector<std::string> images = {
      Png(7, 9).substr(0, 33),
      kSoi + Jfif() + Segment(0xe1, kSoi + Sof(0xc0, 1, 1)) + Sof(0xc2, 7, 9),
      Riff("VP8 ", Vp8Data(7, 9)),
      Riff("VP8L", Vp8lData(7, 9)),
      Riff("VP8X", Vp8xData(7, 9)),
  };
  for (const std::string& image : images) {
    Result<ImageSize> whole = ProbeImageSize(image);
    ASSERT_TRUE(whole.ok()) << whole.status();
    EXPECT_EQ(whole->width, 7u);
    EXPECT_EQ(whole->height, 9u);
    for (size_t n = 1; n < image.size(); ++n) {
      const std::string prefix = image.substr(0, n);
      Result<ImageSize> r = ProbeImageSize(prefix);
      ASSERT_FALSE(r.ok()) << "prefix " << n << " of " << ImageFormatName(whole->format);
      EXPECT_NE(r.status().message().find("truncated"), std::string_view::npos)
          << n << ": " << r.status();
    }
  }
}

// Every single-byte change of every header byte gives an answer, never a crash or a zero size.
TEST(ImageProbeTest, SingleByteMutationsNeverCrash) {
  const std::vector<std::string> images = {Png(7, 9), Jpeg(0xc2, 7, 9),
                                           Riff("VP8 ", Vp8Data(7, 9)),
                                           Riff("VP8L", Vp8lData(7, 9)),
                                           Riff("VP8X", Vp8xData(7, 9))};
  for (const std::string& image : images) {
    for (size_t i = 0; i < image.size(); ++i) {
      for (int v : {0x00, 0x01, 0x7f, 0x80, 0xd8, 0xda, 0xff}) {
        std::string m = image;
        m[i] = static_cast<char>(v);
        Result<ImageSize> r = ProbeImageSize(m);
        if (r.ok()) {
          EXPECT_GT(r->width, 0u);
          EXPECT_GT(r->height, 0u);
        } else {
          EXPECT_FALSE(r.status().message().empty());
        }
      }
    }
  }
}

}  // namespace
}  // namespace tokenaudit::comfy
