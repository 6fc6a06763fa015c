// KeyStore: the API keys of one data directory, kept as SHA-256 digests in
// DATA_DIR/keys/api_keys.json (doc/keys_format.md).
//
// Several processes share the file: a running server authenticates requests while
// `tokenaudit keys create` adds keys. Every change is a read-modify-write of the whole file under
// the lock DATA_DIR/keys/LOCK (Env::LockFile, waited for up to `lock_timeout_micros`), written
// with WriteFileAtomic, so no change is lost and a reader sees the old or the new file, never a
// mix. A store notices other processes' changes on ReloadIfChanged(), which Authenticate also
// calls by itself at most once per `reload_interval_micros` (so a key created or revoked by the
// CLI takes effect in a running server within about a second).
//
// Thread-safe. Authenticate works on an immutable snapshot and takes a mutex only to copy a
// shared_ptr; Create, Revoke and reloads are serialised among themselves.

#ifndef TOKENAUDIT_SRC_AUTH_KEY_STORE_H_
#define TOKENAUDIT_SRC_AUTH_KEY_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/auth/api_key_info.h"
#include "src/auth/key_file.h"
#include "src/auth/principal.h"
#include "src/auth/pseudonymizer.h"
#include "src/auth/role.h"
#include "src/util/mutex.h"
#include "src/util/sha256.h"
#include "tokenaudit/env.h"
#include "tokenaudit/result.h"

namespace tokenaudit::auth {

struct KeyStoreOptions {
  // Authenticate re-reads the file when this much time (Env::NowMicros) has passed since the
  // last check; 0 checks on every call. With auto_reload off only ReloadIfChanged() does.
  bool auto_reload = true;
  uint64_t reload_interval_micros = 1'000'000;
  // How long Create and Revoke wait for another process's lock before Unavailable.
  uint64_t lock_timeout_micros = 10'000'000;
};

class KeyStore {
 public:
  // Reads DATA_DIR/keys/api_keys.json; a missing file (or data directory) is an empty store and
  // nothing is created until the first Create. Corruption if the file is damaged. `env` must
  // outlive the store.
  static Result<std::unique_ptr<KeyStore>> Open(Env* env, const std::string& data_dir,
                                                const KeyStoreOptions& options = {});

  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;
  ~KeyStore();

  // Makes a new key and returns it; this is the only time the key exists outside its holder.
  // `name` is a label for admin, auditor and ingest keys (it must not look like an e-mail
  // address or a file path: use "ci-ingest", not a person's address) and the user's name for
  // role user, which is stored only as pseudonymizer->UserPseudonym(name). `pseudonymizer` may
  // be null except for role user. `tenant` empty means every tenant. Creates DATA_DIR/keys if
  // needed. InvalidArgument for bad arguments, Unavailable if the lock is not released in time,
  // IOError from the Env; on any error the file is unchanged.
  Result<std::string> Create(Role role, std::string_view name, std::string_view tenant,
                             const Pseudonymizer* pseudonymizer);

  // Every key, revoked ones included, in creation order. Reflects the last load or change made
  // through this store (call ReloadIfChanged first to see other processes' changes).
  std::vector<ApiKeyInfo> List() const;

  // Marks the key revoked, from then on Authenticate refuses it. Revoking a revoked key changes
  // nothing and is OK. NotFound if no key has this id.
  Status Revoke(std::string_view key_id);

  // The principal a bearer key acts as. Unauthenticated if it is malformed, has a bad checksum,
  // is unknown or revoked; the message never contains the key. May first reload the file (see
  // KeyStoreOptions); a failed reload is ignored here and the keys already loaded are used.
  Result<Principal> Authenticate(std::string_view bearer_key);

  // Re-reads the file and, if its content changed, replaces the keys in memory. Returns whether
  // they changed. On error (e.g. Corruption after a hand edit) the keys in memory stay as they
  // were.
  Result<bool> ReloadIfChanged();

 private:
  // An immutable set of keys, shared by readers.
  struct Snapshot {
    std::vector<StoredKey> keys;
    std::vector<Sha256Digest> digests;                  // parallel to keys
    std::unordered_map<std::string, size_t> by_key_id;  // key_id -> index in keys
    bool file_exists = false;
    Sha256Digest file_hash{};  // SHA-256 of the file's bytes when it exists
  };

  KeyStore(Env* env, std::string data_dir, const KeyStoreOptions& options);

  // Decodes `contents` (nullopt: no file) into a snapshot.
  static Result<std::shared_ptr<const Snapshot>> MakeSnapshot(
      const std::optional<std::string>& contents);
  // The file's bytes; nullopt if it does not exist.
  Result<std::optional<std::string>> ReadKeyFile() const;
  std::shared_ptr<const Snapshot> Current() const TA_EXCLUDES(mu_);
  void Install(std::shared_ptr<const Snapshot> snapshot) TA_EXCLUDES(mu_);
  // Applies `change` to a fresh copy of the file's keys under the file lock, writes the result
  // and installs it.
  template <typename Change>
  Status Update(Change change) TA_REQUIRES(update_mu_);
  void MaybeAutoReload();

  Env* const env_;  // not owned; outlives the store
  const std::string data_dir_;
  const std::string keys_dir_;
  const std::string file_path_;
  const std::string lock_path_;
  const KeyStoreOptions options_;

  // Serialises writers and reloads (this process); the file lock serialises processes.
  // Acquired before mu_.
  mutable Mutex update_mu_;
  mutable Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ GUARDED_BY(mu_);
  std::atomic<uint64_t> last_check_micros_{0};  // Env::NowMicros of the last auto reload
};

}  // namespace tokenaudit::auth

#endif  // TOKENAUDIT_SRC_AUTH_KEY_STORE_H_
