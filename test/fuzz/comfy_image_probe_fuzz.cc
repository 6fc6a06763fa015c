// Fuzzes the upload probe (src/comfy/image_probe.h), whose input is any file a ComfyUI user
// uploads through the gateway. Invariants, trapped when broken:
//   - an accepted image has a known format and a non-zero width and height;
//   - a refused one has InvalidArgument and a message naming the format or "image";
//   - ProbeImage agrees with ProbeImageSize and gives 64 lower-case hex digits;
//   - the probe is a pure function: a second call gives the same answer.
// Corpus: test/fuzz/corpus/comfy_image_probe (minimal PNG, JPEG with EXIF thumbnail, progressive JPEG,
// the three WebP kinds, and the 76-byte WebP of captures/view.json).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/comfy/image_probe.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit::comfy;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const tokenaudit::Result<ImageSize> size_result = ProbeImageSize(input);
  const tokenaudit::Result<ImageProbe> probe = ProbeImage(input);
  if (size_result.ok() != probe.ok()) __builtin_trap();
  if (!size_result.ok()) {
    const tokenaudit::Status& s = size_result.status();
    if (s.code() != tokenaudit::StatusCode::kInvalidArgument || s.message().empty()) {
      __builtin_trap();
    }
    if (s.message() != probe.status().message()) __builtin_trap();
    return 0;
  }
  if (size_result->width == 0 || size_result->height == 0) __builtin_trap();
  if (ImageFormatName(size_result->format) == "unknown") __builtin_trap();
  if (!(probe->size == *size_result)) __builtin_trap();
  if (probe->sha256_hex.size() != 64) __builtin_trap();
  for (char c : probe->sha256_hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) __builtin_trap();
  }
  return 0;
}
