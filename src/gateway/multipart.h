// multipart/form-data bodies (RFC 7578) as ComfyUI's `POST /upload/image` receives them
// (protocol.md §1.5): the gateway reads the `image` part's bytes to probe them, and the `type`,
// `subfolder` and `overwrite` fields to know the name ComfyUI will store.
//
// Input is hostile: the boundary comes from the Content-Type header and the body from the
// client. Parsing is linear in the body, allocates only the parts' header values (bounded), and
// returns views into the body for the part contents. Errors are InvalidArgument with a message
// that names the rule, never input bytes. Pure functions; thread-safe.

#ifndef TOKENAUDIT_GATEWAY_MULTIPART_H_
#define TOKENAUDIT_GATEWAY_MULTIPART_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/result.h"

namespace tokenaudit::gateway {

struct MultipartPart {
  std::string name;          // Content-Disposition `name`
  std::string filename;      // Content-Disposition `filename`; empty when absent
  bool has_filename = false;
  std::string content_type;  // the part's Content-Type; empty when absent
  std::string_view data;     // the part's content: a view into the body passed to the parser
};

struct MultipartLimits {
  size_t max_parts = 64;
  size_t max_header_bytes = 8 << 10;  // one part's header block
};

// The `boundary` parameter of a `multipart/form-data` Content-Type (quoted or not).
// InvalidArgument for another media type, a missing, empty or over-long (> 70 bytes) boundary.
Result<std::string> MultipartBoundary(std::string_view content_type);

// Splits `body` into its parts. The result's `data` views point into `body`, which must outlive
// them. InvalidArgument when a delimiter is missing, a part has no Content-Disposition form-data
// header, headers are malformed, or the closing delimiter is absent; ResourceExhausted over the
// limits.
Result<std::vector<MultipartPart>> ParseMultipart(std::string_view body, std::string_view boundary,
                                                  const MultipartLimits& limits = {});

}  // namespace tokenaudit::gateway

#endif  // TOKENAUDIT_GATEWAY_MULTIPART_H_
