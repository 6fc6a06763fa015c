// Fuzzes the segment reader: the input is a whole segment file (header + frames), as an attacker
// or a broken disk could leave it. Decoding must never crash, read out of bounds or loop.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/log/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit::log;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto header = DecodeSegmentHeader(in);
  // Decode frames under the header's salt if it parsed, else under a fixed one, so frame decoding
  // is exercised even when the header is garbage.
  uint32_t salt_crc = SaltCrc(header.ok() ? header->salt : 0);
  size_t offset = in.size() >= kSegmentHeaderSize ? kSegmentHeaderSize : 0;
  while (offset < in.size()) {
    Frame f;
    if (DecodeFrame(in.substr(offset), salt_crc, &f) != FrameStatus::kOk) {
      ++offset;  // the torn-tail scan probes every later offset the same way
      continue;
    }
    if (f.encoded_size == 0 || f.payload.size() > kMaxRecordBytes) __builtin_trap();
    offset += f.encoded_size;
  }
  return 0;
}
