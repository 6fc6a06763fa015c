#include "src/log/log_reader.h"

#include "src/log/log_scanner.h"

namespace tokenaudit::log {

std::string LogDir(const std::string& data_dir) { return JoinPath(data_dir, "log"); }

Status ReadAllRecords(
    Env* env, const std::string& data_dir,
    const std::function<Status(uint64_t seq, RecordType type, std::string_view payload)>& fn) {
  ScanSummary summary;
  return ScanLog(env, LogDir(data_dir), ScanOptions(),
                 [&](const ScannedFrame& f) {
                   return fn(f.seq, static_cast<RecordType>(f.type), f.payload);
                 },
                 &summary);
}

}  // namespace tokenaudit::log
