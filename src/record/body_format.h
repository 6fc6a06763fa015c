// Ingest body formats and their Content-Type names (doc/http_api.md, POST /v1/events).
// Pure functions; thread-safe.

#ifndef TOKENAUDIT_RECORD_BODY_FORMAT_H_
#define TOKENAUDIT_RECORD_BODY_FORMAT_H_

#include <string_view>

#include "tokenaudit/result.h"

namespace tokenaudit::record {

enum class BodyFormat {
  kJson,             // application/json: one record object, or an array of them
  kCloudEvent,       // application/cloudevents+json: one CloudEvent
  kCloudEventBatch,  // application/cloudevents-batch+json: an array of CloudEvents
  kNdjson,           // application/x-ndjson, application/ndjson: one record object per line
};

// Maps a Content-Type header value to a body format. The media type is case-insensitive and
// may be surrounded by spaces or tabs; parameters (`; name=value`) are allowed and ignored,
// except that a `charset` other than utf-8 is refused. InvalidArgument for an unknown media type,
// a malformed parameter or another charset (the server answers 415 unsupported_media_type). The
// message never repeats the header value.
Result<BodyFormat> FormatFromContentType(std::string_view content_type);

}  // namespace tokenaudit::record

#endif  // TOKENAUDIT_RECORD_BODY_FORMAT_H_
