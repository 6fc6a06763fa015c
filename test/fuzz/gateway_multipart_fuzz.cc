// Fuzzes the gateway's multipart/form-data parser (src/gateway/multipart.h), whose input is any
// `POST /upload/image` a ComfyUI user sends. Input: the Content-Type header, a newline, the body.
// Invariants, trapped when broken:
//   - errors are InvalidArgument or ResourceExhausted with a message;
//   - every part's content is a view inside the body and contains no delimiter;
//   - at most max_parts parts; parsing is a pure function (a second call agrees).
// Corpus: test/fuzz/corpus/gateway_multipart (an upload as ComfyUI's frontend sends it, a
// preamble, quoted parameters, a truncated body).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/gateway/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit::gateway;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string_view content_type = input.substr(0, nl);
  const std::string_view body = nl == std::string_view::npos ? "" : input.substr(nl + 1);
  tokenaudit::Result<std::string> boundary = MultipartBoundary(content_type);
  if (!boundary.ok()) {
    if (boundary.status().code() != tokenaudit::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  if (boundary->empty() || boundary->size() > 70) __builtin_trap();
  MultipartLimits limits;
  limits.max_parts = 8;
  auto parts = ParseMultipart(body, *boundary, limits);
  auto again = ParseMultipart(body, *boundary, limits);
  if (parts.ok() != again.ok()) __builtin_trap();
  if (!parts.ok()) {
    const auto code = parts.status().code();
    if ((code != tokenaudit::StatusCode::kInvalidArgument &&
         code != tokenaudit::StatusCode::kResourceExhausted) ||
        parts.status().message().empty()) {
      __builtin_trap();
    }
    return 0;
  }
  if (parts->size() > limits.max_parts || parts->size() != again->size()) __builtin_trap();
  const std::string delimiter = "\r\n--" + *boundary;
  for (size_t i = 0; i < parts->size(); ++i) {
    const std::string_view d = (*parts)[i].data;
    if (d.data() < body.data() || d.data() + d.size() > body.data() + body.size()) __builtin_trap();
    if (d.find(delimiter) != std::string_view::npos) __builtin_trap();
    if (d != (*again)[i].data || (*parts)[i].name != (*again)[i].name) __builtin_trap();
  }
  return 0;
}
