// What the gateway learns from an uploaded image without decoding it: the SHA-256 of the bytes
// and the pixel size read from the container headers of PNG (IHDR), JPEG (the first SOFn frame
// header, baseline or progressive, after skipping APPn and every other length-prefixed segment)
// and WebP (the VP8, VP8L or VP8X chunk). doc/comfyui_capture.md lists the exact rules.
//
// Input comes straight from HTTP clients: every read is bounds-checked, the scan is linear in the
// input and uses constant stack, and bad input gives an InvalidArgument whose message starts with
// the format and says what is wrong ("truncated ...", "corrupt ...", "unknown image format ...").
// Messages never contain bytes of the input. All functions are pure and thread-safe.

#ifndef TOKENAUDIT_COMFY_IMAGE_PROBE_H_
#define TOKENAUDIT_COMFY_IMAGE_PROBE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "tokenaudit/result.h"

namespace tokenaudit::comfy {

enum class ImageFormat { kPng, kJpeg, kWebp };

// "png", "jpeg", "webp".
std::string_view ImageFormatName(ImageFormat format);

struct ImageSize {
  ImageFormat format = ImageFormat::kPng;
  uint32_t width = 0;   // > 0 on success
  uint32_t height = 0;  // > 0 on success
  bool progressive = false;  // JPEG: the frame is progressive (SOF2, SOF6, SOF10, SOF14)

  bool operator==(const ImageSize&) const = default;
};

struct ImageProbe {
  ImageSize size;
  std::string sha256_hex;  // 64 lower-case hex digits of SHA-256(bytes)

  bool operator==(const ImageProbe&) const = default;
};

// Reads the format and pixel size from the headers. InvalidArgument when the bytes are empty, of
// no supported format ("unknown image format"), end before the size is known ("truncated"), or
// break the container's rules ("corrupt": bad PNG IHDR CRC, JPEG scan before frame header, WebP
// chunk larger than the RIFF, zero width or height, ...).
Result<ImageSize> ProbeImageSize(std::string_view bytes);

// ProbeImageSize plus the SHA-256 of all the bytes (hashed only when the headers are good).
Result<ImageProbe> ProbeImage(std::string_view bytes);

}  // namespace tokenaudit::comfy

#endif  // TOKENAUDIT_COMFY_IMAGE_PROBE_H_
