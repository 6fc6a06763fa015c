#include "src/ledger/verifier.h"

#include <algorithm>

#include "src/ledger/checkpoint.h"
#include "src/ledger/log_replayer.h"
#include "src/log/log_scanner.h"
#include "src/util/hex.h"

namespace tokenaudit::ledger {

Status VerifyDataDir(Env* env, const std::string& data_dir, const VerifyOptions& options,
                     VerifyReport* report) {
  *report = VerifyReport();
  const std::string ledger_file = JoinPath(data_dir, "LEDGER");
  if (!env->FileExists(ledger_file)) {
    return Status::NotFound(data_dir + ": not a tokenaudit data directory (no LEDGER file)");
  }
  ASSIGN_OR_RETURN(std::string meta, ReadFileToString(env, ledger_file));
  const std::string prefix = "tokenaudit-ledger/v1\nlog_id ";
  if (meta.size() != prefix.size() + 33 || meta.compare(0, prefix.size(), prefix) != 0) {
    return Status::Corruption(ledger_file + ": not a tokenaudit ledger file");
  }
  const std::string log_id_hex = meta.substr(prefix.size(), 32);
  ASSIGN_OR_RETURN(std::string log_id_raw, HexDecode(log_id_hex));

  LogReplayer replayer;
  auto expect_file = [&](const std::string& path) -> Status {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(env, path));
    auto cp = DecodeCheckpointFile(text);
    if (!cp.ok()) return cp.status().WithContext(path);
    if (cp->log_id != log_id_hex) {
      return Status::Corruption(path + ": checkpoint of log " + cp->log_id + ", this log is " +
                                log_id_hex);
    }
    replayer.ExpectCheckpoint(*cp, path);
    return Status::OK();
  };
  const std::string cp_dir = JoinPath(data_dir, "checkpoints");
  if (env->FileExists(cp_dir)) {
    ASSIGN_OR_RETURN(auto children, env->GetChildren(cp_dir));
    std::sort(children.begin(), children.end());
    for (const auto& name : children) {
      uint64_t size = 0;
      if (ParseCheckpointFileName(name, &size)) RETURN_IF_ERROR(expect_file(JoinPath(cp_dir, name)));
    }
  }
  for (const auto& path : options.checkpoint_files) RETURN_IF_ERROR(expect_file(path));

  log::ScanOptions scan_options;
  scan_options.expected_log_id = log_id_raw;
  scan_options.progress = options.progress;
  log::ScanSummary summary;
  Status s = log::ScanLog(env, JoinPath(data_dir, "log"), scan_options,
                          [&replayer](const log::ScannedFrame& f) { return replayer.Visit(f); },
                          &summary);
  report->records = replayer.size();
  report->segments = summary.segments;
  report->bytes = summary.total_bytes;
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(replayer.Finish());
  report->checkpoints_checked = replayer.checkpoints_checked();
  report->usage_records = replayer.records_by_type(RecordType::kUsage);
  report->access_records = replayer.records_by_type(RecordType::kAccess);
  report->recovery_records = replayer.records_by_type(RecordType::kRecovery);
  report->root = replayer.root();
  report->torn_bytes = summary.torn_bytes;
  report->torn_offset = summary.torn_offset;
  report->torn_segment = summary.torn_bytes > 0 ? summary.last_segment : "";
  return Status::OK();
}

}  // namespace tokenaudit::ledger
