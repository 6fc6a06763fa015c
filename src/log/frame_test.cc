#include "src/log/frame.h"

#include <gtest/gtest.h>

#include <random>

namespace tokenaudit::log {
namespace {

TEST(FrameTest, RoundTripsAndReportsSize) {
  const uint32_t salt_crc = SaltCrc(0x1234);
  std::string buf;
  EncodeFrame(salt_crc, 42, 1, "hello", &buf);
  EncodeFrame(salt_crc, 43, 2, "", &buf);
  Frame f;
  ASSERT_EQ(DecodeFrame(buf, salt_crc, &f), FrameStatus::kOk);
  EXPECT_EQ(f.seq, 42u);
  EXPECT_EQ(f.type, 1);
  EXPECT_EQ(f.payload, "hello");
  EXPECT_EQ(f.encoded_size, kFrameHeaderSize + 5);
  ASSERT_EQ(DecodeFrame(std::string_view(buf).substr(f.encoded_size), salt_crc, &f),
            FrameStatus::kOk);
  EXPECT_EQ(f.seq, 43u);
  EXPECT_EQ(f.payload, "");
}

TEST(FrameTest, EveryBitFlipIsDetected) {
  const uint32_t salt_crc = SaltCrc(99);
  std::string buf;
  EncodeFrame(salt_crc, 7, 1, "a usage record payload", &buf);
  for (size_t bit = 0; bit < buf.size() * 8; ++bit) {
    std::string bad = buf;
    bad[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    Frame f;
    EXPECT_NE(DecodeFrame(bad, salt_crc, &f), FrameStatus::kOk) << "bit " << bit;
  }
}

TEST(FrameTest, OtherSegmentsSaltIsRejected) {
  std::string buf;
  EncodeFrame(SaltCrc(1), 7, 1, "x", &buf);
  Frame f;
  EXPECT_EQ(DecodeFrame(buf, SaltCrc(2), &f), FrameStatus::kBadHeaderCrc);
}

TEST(FrameTest, TruncationAndHugeLengthsAreNotTrusted) {
  const uint32_t salt_crc = SaltCrc(5);
  std::string buf;
  EncodeFrame(salt_crc, 1, 1, std::string(100, 'z'), &buf);
  Frame f;
  for (size_t n = 0; n < buf.size(); ++n) {
    EXPECT_EQ(DecodeFrame(std::string_view(buf).substr(0, n), salt_crc, &f),
              n < kFrameHeaderSize ? FrameStatus::kTruncated : FrameStatus::kTruncated)
        << n;
  }
}

TEST(SegmentHeaderTest, RoundTripsAndRejectsDamage) {
  SegmentHeader h;
  h.first_seq = 1000;
  h.salt = 0xdeadbeef;
  h.log_id = std::string(kLogIdSize, '\x07');
  h.created_unix_micros = 123;
  std::string buf;
  EncodeSegmentHeader(h, &buf);
  ASSERT_EQ(buf.size(), kSegmentHeaderSize);
  auto d = DecodeSegmentHeader(buf);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->first_seq, 1000u);
  EXPECT_EQ(d->salt, 0xdeadbeefu);
  EXPECT_EQ(d->log_id, h.log_id);
  for (size_t i = 0; i < buf.size(); ++i) {
    std::string bad = buf;
    bad[i] ^= 0x10;
    EXPECT_FALSE(DecodeSegmentHeader(bad).ok()) << i;
  }
  EXPECT_FALSE(DecodeSegmentHeader(buf.substr(0, 63)).ok());
}

TEST(SegmentFileNameTest, RoundTrips) {
  uint64_t seq = 0;
  EXPECT_TRUE(ParseSegmentFileName(SegmentFileName(18446744073709551615ull), &seq));
  EXPECT_EQ(seq, 18446744073709551615ull);
  EXPECT_FALSE(ParseSegmentFileName("99999999999999999999.seg", &seq));  // overflows
  EXPECT_FALSE(ParseSegmentFileName("0000000000000000001.seg", &seq));
  EXPECT_FALSE(ParseSegmentFileName("00000000000000000001.seg.tmp", &seq));
}

}  // namespace
}  // namespace tokenaudit::log
