// Rebuilds the Merkle tree from scanned log frames and checks every checkpoint against it: the
// checkpoints recorded in the log itself (each kCheckpoint record at seq S states the root of
// leaves [0, S)) and any given from outside (checkpoint files, another machine's export).
// Shared by recovery and `tokenaudit verify`. Not thread-safe.

#ifndef TOKENAUDIT_LEDGER_LOG_REPLAYER_H_
#define TOKENAUDIT_LEDGER_LOG_REPLAYER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "src/log/log_scanner.h"
#include "tokenaudit/ledger.h"
#include "tokenaudit/merkle.h"

namespace tokenaudit::ledger {

class LogReplayer {
 public:
  // `leaf_sink`, if set, receives every leaf hash in order (the ledger feeds its HashTree).
  // `log_id_hex`, if set, is the only log id a checkpoint (in the log or given) may name.
  explicit LogReplayer(std::function<void(const merkle::Hash&)> leaf_sink = nullptr,
                       std::string log_id_hex = "");

  // If called, every checkpoint (in the log and given) must be signed by one of these Ed25519
  // public keys (64 hex digits each).
  void PinKeys(std::vector<std::string> public_keys_hex) { pinned_keys_ = std::move(public_keys_hex); }

  // A checkpoint that must hold: its signature must verify and the replayed root at its size must
  // equal its root. `origin` names it in errors (a file path, "--checkpoint").
  void ExpectCheckpoint(const Checkpoint& cp, std::string origin);

  // Makes a scan hash the Merkle leaves (merkle::HashLeaf of each payload) ahead of Visit, on a
  // helper thread where there is a second core: sets options->digest, which Visit then takes as
  // the frame's leaf hash.
  static void HashLeavesInScan(log::ScanOptions* options);

  // Feeds the next frame (in seq order, as ScanLog delivers them). frame.digest, if set, must be
  // the leaf hash of frame.payload (see HashLeavesInScan); otherwise Visit computes it.
  Status Visit(const log::ScannedFrame& frame);
  // Checks the expectations the scan did not reach: a checkpoint beyond the end of the log means
  // records are missing.
  Status Finish();

  uint64_t size() const { return range_.size(); }
  merkle::Hash root() const { return range_.Root(); }
  uint64_t checkpoints_checked() const { return checkpoints_checked_; }
  // The largest tree size of any checkpoint checked so far (0 if none).
  uint64_t newest_checkpoint_size() const { return newest_checkpoint_size_; }
  uint64_t records_by_type(RecordType t) const { return by_type_[static_cast<int>(t)]; }
  // The last checkpoint record found in the log (tree_size 0 if none).
  const Checkpoint& last_logged_checkpoint() const { return last_logged_; }

 private:
  Status CheckExpected();
  // Log id and pinned key checks shared by both kinds of checkpoint.
  Status CheckIdentity(const Checkpoint& cp) const;

  std::function<void(const merkle::Hash&)> leaf_sink_;
  std::string log_id_hex_;
  std::vector<std::string> pinned_keys_;
  merkle::CompactRange range_;
  struct Expected {
    Checkpoint cp;
    std::string origin;
  };
  std::vector<Expected> expected_;  // sorted by tree_size once the first frame arrives
  size_t next_expected_ = 0;
  bool sorted_ = false;
  uint64_t checkpoints_checked_ = 0;
  uint64_t newest_checkpoint_size_ = 0;
  uint64_t by_type_[8] = {};
  Checkpoint last_logged_;
};

}  // namespace tokenaudit::ledger

#endif  // TOKENAUDIT_LEDGER_LOG_REPLAYER_H_
