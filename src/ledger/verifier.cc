#include "src/ledger/verifier.h"

#include <algorithm>

#include "src/ledger/checkpoint.h"
#include "src/ledger/ledger_file.h"
#include "src/ledger/log_replayer.h"
#include "src/log/log_scanner.h"
#include "src/util/hex.h"

namespace tokenaudit::ledger {

Status VerifyDataDir(Env* env, const std::string& data_dir, const VerifyOptions& options,
                     VerifyReport* report) {
  *report = VerifyReport();
  const std::string ledger_file = JoinPath(data_dir, kLedgerFileName);
  if (!env->FileExists(ledger_file)) {
    return Status::NotFound(data_dir + ": not a tokenaudit data directory (no LEDGER file)");
  }
  ASSIGN_OR_RETURN(std::string meta, ReadFileToString(env, ledger_file));
  auto id = DecodeLedgerFile(meta);
  if (!id.ok()) return id.status().WithContext(ledger_file);
  const std::string log_id_hex = *id;
  ASSIGN_OR_RETURN(std::string log_id_raw, HexDecode(log_id_hex));

  LogReplayer replayer(nullptr, log_id_hex);
  if (!options.trusted_keys.empty()) replayer.PinKeys(options.trusted_keys);
  auto expect_file = [&](const std::string& path, uint64_t named_size, bool named) -> Status {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(env, path));
    auto cp = DecodeCheckpointFile(text);
    if (!cp.ok()) return cp.status().WithContext(path);
    if (cp->log_id != log_id_hex) {
      return Status::Corruption(path + ": checkpoint of log " + cp->log_id + ", this log is " +
                                log_id_hex);
    }
    if (named && cp->tree_size != named_size) {
      return Status::Corruption(path + ": file name says size " + std::to_string(named_size) +
                                ", the checkpoint says " + std::to_string(cp->tree_size));
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
      if (ParseCheckpointFileName(name, &size)) {
        RETURN_IF_ERROR(expect_file(JoinPath(cp_dir, name), size, true));
      }
    }
  }
  for (const auto& path : options.checkpoint_files) RETURN_IF_ERROR(expect_file(path, 0, false));

  const std::string log_dir = JoinPath(data_dir, "log");
  if (!env->FileExists(log_dir)) {
    // LEDGER is written before log/ exists only for an instant at creation; a data directory
    // without its log has lost it.
    return Status::Corruption(data_dir + ": the LEDGER file is there but the log/ directory is "
                              "missing");
  }
  log::ScanOptions scan_options;
  scan_options.expected_log_id = log_id_raw;
  scan_options.progress = options.progress;
  // Two cores instead of one: the next segment is read while this one is checked, and leaf
  // hashes are computed on a helper thread while this one checks frames and builds the tree.
  // Frames are still replayed in seq order here, so errors are exactly those of a serial scan.
  scan_options.read_ahead = true;
  LogReplayer::HashLeavesInScan(&scan_options);
  log::ScanSummary summary;
  // The replayer checks each checkpoint record's log id, key, position, signature and root.
  auto visit = [&replayer](const log::ScannedFrame& f) { return replayer.Visit(f); };
  Status s = log::ScanLog(env, log_dir, scan_options, visit, &summary);
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
  report->uncovered_records = report->records - replayer.newest_checkpoint_size();
  if (options.strict && summary.torn_bytes > 0) {
    return Status::Corruption("segment " + summary.last_segment + " offset " +
                              std::to_string(summary.torn_offset) + " (seq " +
                              std::to_string(report->records) + "): torn tail of " +
                              std::to_string(summary.torn_bytes) +
                              " bytes (--strict: a cleanly stopped ledger has none)");
  }
  return Status::OK();
}

}  // namespace tokenaudit::ledger
