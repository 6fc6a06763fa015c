// Convenience reader over a data directory's log: every valid record in seq order, stopping
// silently at a torn tail (recovery will cut it). For tools and tests; the ledger itself uses
// ScanLog directly.

#ifndef TOKENAUDIT_LOG_LOG_READER_H_
#define TOKENAUDIT_LOG_LOG_READER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tokenaudit/env.h"
#include "tokenaudit/ledger.h"
#include "tokenaudit/status.h"

namespace tokenaudit::log {

// The log directory inside a data directory.
std::string LogDir(const std::string& data_dir);

Status ReadAllRecords(
    Env* env, const std::string& data_dir,
    const std::function<Status(uint64_t seq, RecordType type, std::string_view payload)>& fn);

}  // namespace tokenaudit::log

#endif  // TOKENAUDIT_LOG_LOG_READER_H_
