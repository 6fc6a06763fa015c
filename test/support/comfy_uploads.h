// What a ComfyUI client uploads, for tests and benchmarks of the gateway: a PNG whose header
// gives its size, and the multipart body of `POST /upload/image`.

#ifndef TOKENAUDIT_TEST_SUPPORT_COMFY_UPLOADS_H_
#define TOKENAUDIT_TEST_SUPPORT_COMFY_UPLOADS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace tokenaudit::testing {

namespace uploads_internal {

inline uint32_t Crc32(std::string_view s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

inline void Be32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace uploads_internal

// A PNG whose IHDR says w×h (the gateway reads only the header); `salt` makes distinct bytes.
inline std::string Png(uint32_t w, uint32_t h, const std::string& salt = "") {
  using uploads_internal::Be32;
  using uploads_internal::Crc32;
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr = "IHDR";
  Be32(&ihdr, w);
  Be32(&ihdr, h);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);
  Be32(&png, 13);
  png += ihdr;
  Be32(&png, Crc32(ihdr));
  std::string text = "tEXt" + std::string("salt\0", 5) + salt;
  Be32(&png, static_cast<uint32_t>(text.size() - 4));
  png += text;
  Be32(&png, Crc32(text));
  Be32(&png, 0);
  png += "IEND";
  Be32(&png, Crc32("IEND"));
  return png;
}

// The body of `POST /upload/image` (boundary "XyZ") as the ComfyUI frontend sends it.
inline std::string Multipart(const std::string& name, const std::string& bytes) {
  return "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" + name +
         "\"\r\nContent-Type: image/png\r\n\r\n" + bytes +
         "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\ninput\r\n--XyZ--\r\n";
}

}  // namespace tokenaudit::testing

#endif  // TOKENAUDIT_TEST_SUPPORT_COMFY_UPLOADS_H_
