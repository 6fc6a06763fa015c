// Creation of a new segment: write "<name>.tmp" with its header, fdatasync, rename into place,
// fsync the directory, then reopen for appending. After a crash either the complete, durable
// header is there under the final name, or nothing is (a stale .tmp is removed on open).

#ifndef TOKENAUDIT_LOG_SEGMENT_FILE_H_
#define TOKENAUDIT_LOG_SEGMENT_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "src/log/frame.h"
#include "tokenaudit/env.h"
#include "tokenaudit/result.h"

namespace tokenaudit::log {

// Returns the new segment opened for append, positioned after its header.
Result<std::unique_ptr<WritableFile>> CreateSegment(Env* env, const std::string& log_dir,
                                                    const SegmentHeader& header);

// Removes "*.tmp" files left in `dir` by a crash.
Status RemoveStaleTempFiles(Env* env, const std::string& dir);

}  // namespace tokenaudit::log

#endif  // TOKENAUDIT_LOG_SEGMENT_FILE_H_
