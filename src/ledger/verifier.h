// Offline verification of a data directory, behind `tokenaudit verify`: recomputes every CRC and
// the whole Merkle tree from the log, and checks every checkpoint stored in the log and in
// checkpoints/, plus any given from elsewhere (which may come from another machine). Takes no
// lock, writes nothing: it can run beside a live server.

#ifndef TOKENAUDIT_LEDGER_VERIFIER_H_
#define TOKENAUDIT_LEDGER_VERIFIER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tokenaudit/env.h"
#include "tokenaudit/merkle.h"
#include "tokenaudit/status.h"

namespace tokenaudit::ledger {

struct VerifyOptions {
  // Checkpoint files (text format) that must hold, e.g. exported earlier to another machine.
  std::vector<std::string> checkpoint_files;
  // If not empty: every checkpoint must be signed by one of these Ed25519 public keys (hex).
  std::vector<std::string> trusted_keys;
  // A torn tail is Corruption instead of a warning: for auditing a cleanly stopped ledger.
  bool strict = false;
  // Called now and then with (bytes verified, total bytes).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct VerifyReport {
  uint64_t records = 0;
  uint64_t segments = 0;
  uint64_t bytes = 0;
  uint64_t checkpoints_checked = 0;
  uint64_t usage_records = 0;
  uint64_t access_records = 0;
  uint64_t recovery_records = 0;
  merkle::Hash root{};
  // A torn tail (a crash not yet recovered): not tampering, reported separately.
  uint64_t torn_bytes = 0;
  uint64_t torn_offset = 0;
  std::string torn_segment;
  // Records after the newest checkpoint that held: not yet covered by any signed root.
  uint64_t uncovered_records = 0;
};

// OK if everything verifies; otherwise the first failure: Corruption naming the segment, offset
// and seq, or the checkpoint that does not hold. IOError/NotFound if files cannot be read.
Status VerifyDataDir(Env* env, const std::string& data_dir, const VerifyOptions& options,
                     VerifyReport* report);

}  // namespace tokenaudit::ledger

#endif  // TOKENAUDIT_LEDGER_VERIFIER_H_
