// Checkpoints: their two encodings (a text file for checkpoints/ and for export, canonical JSON
// for the log record) and Ed25519 signing. doc/checkpoint_format.md specifies both.

#ifndef TOKENAUDIT_LEDGER_CHECKPOINT_H_
#define TOKENAUDIT_LEDGER_CHECKPOINT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tokenaudit/env.h"
#include "tokenaudit/ledger.h"
#include "tokenaudit/result.h"

namespace tokenaudit::ledger {

// "<tree_size, 20 digits>.cp"; ParseCheckpointFileName is its inverse.
std::string CheckpointFileName(uint64_t tree_size);
bool ParseCheckpointFileName(std::string_view name, uint64_t* tree_size);

// Text form: SignedMessage(cp) followed by "key <hex>\n" and "sig <hex>\n".
std::string EncodeCheckpointFile(const Checkpoint& cp);
// Corruption on any deviation from the exact format. Does not check the signature.
Result<Checkpoint> DecodeCheckpointFile(std::string_view text);

// Canonical JSON with sorted keys and "ta.kind":"checkpoint", the payload of a kCheckpoint record.
std::string EncodeCheckpointRecord(const Checkpoint& cp);
Result<Checkpoint> DecodeCheckpointRecord(std::string_view json);

// Canonical JSON payload of a kRecovery record.
std::string EncodeRecoveryRecord(std::string_view segment, uint64_t offset, uint64_t bytes,
                                 uint64_t time_unix_micros);

// Holds the Ed25519 private key. Sign() is thread-safe.
class CheckpointSigner {
 public:
  // Loads the PKCS#8 PEM key at `path`, or creates one there (atomically, mode 0600 on POSIX)
  // if it does not exist.
  static Result<std::unique_ptr<CheckpointSigner>> LoadOrCreate(Env* env, const std::string& path);
  ~CheckpointSigner();
  CheckpointSigner(const CheckpointSigner&) = delete;
  CheckpointSigner& operator=(const CheckpointSigner&) = delete;

  // Sets cp->public_key_hex and cp->signature_hex over SignedMessage(*cp).
  Status Sign(Checkpoint* cp) const;
  const std::string& public_key_hex() const { return public_key_hex_; }

 private:
  CheckpointSigner(void* pkey, std::string public_key_hex);
  void* pkey_;  // EVP_PKEY*, owned
  std::string public_key_hex_;
};

}  // namespace tokenaudit::ledger

#endif  // TOKENAUDIT_LEDGER_CHECKPOINT_H_
