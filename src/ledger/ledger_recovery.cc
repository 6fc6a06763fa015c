// Opening a ledger: the LEDGER file, the signing key, and replay of the log with every check of
// doc/log_format.md ("Recovery and verification"), then the torn-tail cut and its note.

#include "src/ledger/ledger_file.h"
#include "src/ledger/ledger_impl.h"
#include "src/ledger/log_replayer.h"
#include "src/log/frame.h"
#include "src/log/log_format.h"
#include "src/log/log_scanner.h"
#include "src/log/segment_file.h"
#include "src/util/hex.h"
#include "src/util/random.h"

namespace tokenaudit::ledger {

Status LedgerImpl::LoadCheckpointFiles(const std::string& dir, std::vector<Checkpoint>* out) {
  if (!env_->FileExists(dir)) return Status::OK();
  ASSIGN_OR_RETURN(auto children, env_->GetChildren(dir));
  for (const auto& name : children) {
    uint64_t size = 0;
    if (!ParseCheckpointFileName(name, &size)) continue;
    const std::string path = JoinPath(dir, name);
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(env_, path));
    auto cp = DecodeCheckpointFile(text);
    if (!cp.ok()) return cp.status().WithContext(path);
    if (cp->tree_size != size) return Status::Corruption(path + ": size differs from file name");
    if (cp->log_id != log_id_hex_) {
      return Status::Corruption(path + ": checkpoint of another log (" + cp->log_id + ")");
    }
    out->push_back(std::move(*cp));
  }
  return Status::OK();
}

Status LedgerImpl::Recover() {
  const std::string& dir = options_.data_dir;
  const std::string ledger_file = JoinPath(dir, kLedgerFileName);
  if (!env_->FileExists(dir)) {
    if (!options_.create_if_missing) return Status::NotFound(dir + ": no such data directory");
    RETURN_IF_ERROR(env_->CreateDir(dir));
  }
  ASSIGN_OR_RETURN(lock_, env_->LockFile(JoinPath(dir, "LOCK")));

  if (env_->FileExists(ledger_file)) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(env_, ledger_file));
    auto id = DecodeLedgerFile(text);
    if (!id.ok()) return id.status().WithContext(ledger_file);
    log_id_hex_ = *id;
    auto raw = HexDecode(log_id_hex_);
    if (!raw.ok()) return Status::Corruption(ledger_file + ": bad log id");
    log_id_raw_ = *raw;
  } else {
    if (env_->FileExists(log_dir_)) {
      ASSIGN_OR_RETURN(auto segs, log::ListSegments(env_, log_dir_));
      if (!segs.empty()) {
        return Status::Corruption(ledger_file + " is missing but " + log_dir_ + " has segments");
      }
    }
    if (!options_.create_if_missing) return Status::NotFound(dir + ": not a ledger");
    log_id_raw_.resize(log::kLogIdSize);
    RETURN_IF_ERROR(SecureRandomBytes(log_id_raw_.data(), log_id_raw_.size()));
    log_id_hex_ = HexEncode(log_id_raw_);
    RETURN_IF_ERROR(WriteFileAtomic(env_, ledger_file, EncodeLedgerFile(log_id_hex_)));
  }
  RETURN_IF_ERROR(env_->CreateDir(log_dir_));
  RETURN_IF_ERROR(env_->CreateDir(checkpoint_dir_));
  RETURN_IF_ERROR(log::RemoveStaleTempFiles(env_, log_dir_));
  RETURN_IF_ERROR(log::RemoveStaleTempFiles(env_, checkpoint_dir_));
  if (!options_.checkpoint_mirror_dir.empty()) {
    RETURN_IF_ERROR(env_->CreateDir(options_.checkpoint_mirror_dir));
  }
  const std::string key_path = options_.signing_key_path.empty()
                                   ? JoinPath(JoinPath(dir, "keys"), "checkpoint_ed25519.pem")
                                   : options_.signing_key_path;
  ASSIGN_OR_RETURN(signer_, CheckpointSigner::LoadOrCreate(env_, key_path));

  // Replay the log: rebuild the tree and check every checkpoint, in the log and in files.
  std::vector<Checkpoint> file_cps;
  RETURN_IF_ERROR(LoadCheckpointFiles(checkpoint_dir_, &file_cps));
  size_t own_files = file_cps.size();
  if (!options_.checkpoint_mirror_dir.empty()) {
    RETURN_IF_ERROR(LoadCheckpointFiles(options_.checkpoint_mirror_dir, &file_cps));
  }
  LogReplayer replayer([this](const merkle::Hash& leaf) TA_NO_THREAD_SAFETY_ANALYSIS {
    tree_.Append(leaf);  // under index_lock, below
  }, log_id_hex_);
  for (size_t i = 0; i < file_cps.size(); ++i) {
    replayer.ExpectCheckpoint(
        file_cps[i], JoinPath(i < own_files ? checkpoint_dir_ : options_.checkpoint_mirror_dir,
                              CheckpointFileName(file_cps[i].tree_size)));
  }
  bool last_is_checkpoint = false;
  log::ScanOptions scan_options;
  scan_options.expected_log_id = log_id_raw_;
  // As verify does: the next segment is read while this one is checked, and leaf hashes are
  // computed on a second core. Same frames, same errors, in the same order.
  scan_options.read_ahead = true;
  LogReplayer::HashLeavesInScan(&scan_options);
  log::ScanSummary summary;
  {
    WriterLock index_lock(&tree_mu_);  // uncontended: the writer thread does not exist yet
    RETURN_IF_ERROR(log::ScanLog(
        env_, log_dir_, scan_options,
        [&](const log::ScannedFrame& f) TA_NO_THREAD_SAFETY_ANALYSIS {  // under index_lock
          last_is_checkpoint = f.type == static_cast<uint8_t>(RecordType::kCheckpoint);
          if (segments_.empty() || segments_.back().first_seq != f.segment_first_seq) {
            segments_.push_back({f.segment_first_seq, f.segment_salt, std::string(f.segment)});
          }
          offsets_.push_back(static_cast<uint32_t>(f.offset));
          return replayer.Visit(f);
        },
        &summary));
    RETURN_IF_ERROR(replayer.Finish());
    if (summary.segments > 0 &&
        (segments_.empty() || segments_.back().name != summary.last_segment)) {
      uint64_t first = 0;
      log::ParseSegmentFileName(summary.last_segment, &first);
      segments_.push_back({first, summary.last_salt, summary.last_segment});
    }
  }
  next_seq_ = synced_seq_ = summary.next_seq;
  recovery_.records = summary.next_seq;
  recovery_.segments = summary.segments;
  recovery_.checkpoints_checked = replayer.checkpoints_checked();

  // The newest checkpoint, from the log or a file, and what has been appended since.
  Checkpoint latest = replayer.last_logged_checkpoint();
  for (const auto& cp : file_cps) {
    if (cp.tree_size > latest.tree_size) latest = cp;
  }
  {
    MutexLock l(&mu_);
    latest_checkpoint_ = latest;
  }
  records_since_checkpoint_ = next_seq_ - latest.tree_size;
  if (last_is_checkpoint && records_since_checkpoint_ > 0) --records_since_checkpoint_;

  if (summary.torn_bytes > 0) {
    const std::string path = JoinPath(log_dir_, summary.last_segment);
    RETURN_IF_ERROR(env_->TruncateFile(path, summary.torn_offset));
    recovery_.truncated_bytes = summary.torn_bytes;
    recovery_.truncated_segment = summary.last_segment;
    recovery_.truncated_offset = summary.torn_offset;
    pending_system_.push_back(
        {RecordType::kRecovery, EncodeRecoveryRecord(summary.last_segment, summary.torn_offset,
                                                     summary.torn_bytes, env_->NowUnixMicros())});
  }

  if (summary.segments == 0) {
    RETURN_IF_ERROR(RollSegment(0));
  } else {
    const std::string path = JoinPath(log_dir_, summary.last_segment);
    ASSIGN_OR_RETURN(segment_, env_->NewAppendableFile(path));
    segment_size_ = segment_->Size();
    salt_crc_ = log::SaltCrc(summary.last_salt);
  }
  last_sync_micros_ = last_checkpoint_micros_ = env_->NowMicros();
  if (!pending_system_.empty()) {
    // The recovery note is durable before Open returns.
    Status s = WriteBatch({});
    if (s.ok() && options_.durability == Durability::kInterval) s = SyncSegment();
    if (!s.ok()) return s.WithContext("writing the recovery record");
    synced_seq_ = next_seq_;
  }
  return Status::OK();
}

}  // namespace tokenaudit::ledger
