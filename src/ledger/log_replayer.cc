#include "src/ledger/log_replayer.h"

#include <algorithm>

#include "src/ledger/checkpoint.h"

namespace tokenaudit::ledger {

LogReplayer::LogReplayer(std::function<void(const merkle::Hash&)> leaf_sink,
                         std::string log_id_hex)
    : leaf_sink_(std::move(leaf_sink)), log_id_hex_(std::move(log_id_hex)) {}

Status LogReplayer::CheckIdentity(const Checkpoint& cp) const {
  if (!log_id_hex_.empty() && cp.log_id != log_id_hex_) {
    return Status::Corruption("checkpoint of log " + cp.log_id + ", this log is " + log_id_hex_);
  }
  if (!pinned_keys_.empty() &&
      std::find(pinned_keys_.begin(), pinned_keys_.end(), cp.public_key_hex) ==
          pinned_keys_.end()) {
    return Status::Corruption("checkpoint signed by key " + cp.public_key_hex +
                              ", which is not a trusted key");
  }
  return Status::OK();
}

void LogReplayer::ExpectCheckpoint(const Checkpoint& cp, std::string origin) {
  expected_.push_back({cp, std::move(origin)});
  sorted_ = false;
}

Status LogReplayer::CheckExpected() {
  if (!sorted_) {
    std::sort(expected_.begin() + static_cast<std::ptrdiff_t>(next_expected_), expected_.end(),
              [](const Expected& a, const Expected& b) { return a.cp.tree_size < b.cp.tree_size; });
    sorted_ = true;
  }
  bool have_root = false;
  merkle::Hash root_now{};
  while (next_expected_ < expected_.size() &&
         expected_[next_expected_].cp.tree_size <= range_.size()) {
    const Expected& e = expected_[next_expected_];
    RETURN_IF_ERROR(CheckIdentity(e.cp).WithContext(e.origin));
    if (e.cp.tree_size < range_.size()) {
      return Status::Internal(e.origin + ": checkpoint added after the log passed its size");
    }
    if (!have_root) {
      root_now = range_.Root();  // O(log n) hashes: only when a checkpoint is due
      have_root = true;
    }
    RETURN_IF_ERROR(VerifyCheckpointSignature(e.cp).WithContext(e.origin));
    if (e.cp.root != root_now) {
      return Status::Corruption(e.origin + ": the log's root at size " +
                                std::to_string(e.cp.tree_size) + " is " + merkle::ToHex(root_now) +
                                ", the checkpoint says " + merkle::ToHex(e.cp.root));
    }
    ++checkpoints_checked_;
    newest_checkpoint_size_ = std::max(newest_checkpoint_size_, e.cp.tree_size);
    ++next_expected_;
  }
  return Status::OK();
}

void LogReplayer::HashLeavesInScan(log::ScanOptions* options) {
  options->digest = [](std::string_view payload) { return merkle::HashLeaf(payload); };
}

Status LogReplayer::Visit(const log::ScannedFrame& frame) {
  // Expectations at the current size are checked before the frame's leaf is added.
  if (next_expected_ < expected_.size()) RETURN_IF_ERROR(CheckExpected());
  if (frame.type == static_cast<uint8_t>(RecordType::kCheckpoint)) {
    auto where = [&frame] {
      return "segment " + std::string(frame.segment) + " offset " + std::to_string(frame.offset) +
             " (seq " + std::to_string(frame.seq) + ")";
    };
    auto cp = DecodeCheckpointRecord(frame.payload);
    if (!cp.ok()) return cp.status().WithContext(where());
    if (cp->tree_size != frame.seq) {
      return Status::Corruption(where() + ": checkpoint record for size " +
                                std::to_string(cp->tree_size) + " is not at that seq");
    }
    RETURN_IF_ERROR(CheckIdentity(*cp).WithContext(where()));
    RETURN_IF_ERROR(VerifyCheckpointSignature(*cp).WithContext(where()));
    merkle::Hash root = range_.Root();
    if (cp->root != root) {
      return Status::Corruption(where() + ": checkpoint root " + merkle::ToHex(cp->root) +
                                " differs from the log's root " + merkle::ToHex(root));
    }
    ++checkpoints_checked_;
    newest_checkpoint_size_ = std::max(newest_checkpoint_size_, cp->tree_size);
    last_logged_ = *cp;
  }
  const merkle::Hash leaf =
      frame.digest != nullptr ? *frame.digest : merkle::HashLeaf(frame.payload);
  range_.Append(leaf);
  if (leaf_sink_) leaf_sink_(leaf);
  if (frame.type < 8) ++by_type_[frame.type];
  return Status::OK();
}

Status LogReplayer::Finish() {
  if (next_expected_ < expected_.size()) RETURN_IF_ERROR(CheckExpected());
  if (next_expected_ < expected_.size()) {
    const Expected& e = expected_[next_expected_];
    return Status::Corruption(e.origin + ": checkpoint covers " + std::to_string(e.cp.tree_size) +
                              " records but the log has only " + std::to_string(range_.size()) +
                              ": acknowledged records are missing");
  }
  return Status::OK();
}

}  // namespace tokenaudit::ledger
