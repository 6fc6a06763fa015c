#include "src/auth/key_store.h"

#include <utility>

#include "src/auth/api_key.h"
#include "src/auth/key_file_format.h"
#include "src/auth/personal_data.h"
#include "src/auth/wait_for_lock.h"
#include "src/util/hex.h"

namespace tokenaudit::auth {
namespace {

// Key ids are 32 bits; at a few thousand keys a collision is rare but possible, and a new key
// simply gets new randomness.
constexpr int kMaxKeyIdAttempts = 16;

}  // namespace

KeyStore::KeyStore(Env* env, std::string data_dir, const KeyStoreOptions& options)
    : env_(env),
      data_dir_(std::move(data_dir)),
      keys_dir_(JoinPath(data_dir_, kKeysDirName)),
      file_path_(JoinPath(keys_dir_, kKeyFileName)),
      lock_path_(JoinPath(keys_dir_, kKeyLockFileName)),
      options_(options) {}

KeyStore::~KeyStore() = default;

Result<std::unique_ptr<KeyStore>> KeyStore::Open(Env* env, const std::string& data_dir,
                                                 const KeyStoreOptions& options) {
  std::unique_ptr<KeyStore> store(new KeyStore(env, data_dir, options));
  ASSIGN_OR_RETURN(std::optional<std::string> contents, store->ReadKeyFile());
  ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> snapshot, MakeSnapshot(contents));
  store->Install(std::move(snapshot));
  store->last_check_micros_.store(env->NowMicros(), std::memory_order_relaxed);
  return store;
}

Result<std::optional<std::string>> KeyStore::ReadKeyFile() const {
  Result<std::string> contents = ReadFileToString(env_, file_path_);
  if (contents.ok()) return std::optional<std::string>(std::move(*contents));
  if (contents.status().IsNotFound()) return std::optional<std::string>();
  return contents.status();
}

Result<std::shared_ptr<const KeyStore::Snapshot>> KeyStore::MakeSnapshot(
    const std::optional<std::string>& contents) {
  auto snapshot = std::make_shared<Snapshot>();
  if (!contents.has_value()) return std::shared_ptr<const Snapshot>(std::move(snapshot));
  Result<std::vector<StoredKey>> keys = DecodeKeyFile(*contents);
  if (!keys.ok()) return keys.status().WithContext(std::string(kKeyFileName));
  snapshot->keys = std::move(*keys);
  snapshot->file_exists = true;
  snapshot->file_hash = Sha256Of(*contents);
  snapshot->digests.reserve(snapshot->keys.size());
  for (size_t i = 0; i < snapshot->keys.size(); ++i) {
    // DecodeKeyFile checked that every digest is 64 hex digits and every key_id unique.
    Result<std::string> digest = HexDecode(snapshot->keys[i].digest_hex);
    Sha256Digest d{};
    if (digest.ok()) std::copy(digest->begin(), digest->end(), d.begin());
    snapshot->digests.push_back(d);
    snapshot->by_key_id.emplace(snapshot->keys[i].info.key_id, i);
  }
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

std::shared_ptr<const KeyStore::Snapshot> KeyStore::Current() const {
  MutexLock l(&mu_);
  return snapshot_;
}

void KeyStore::Install(std::shared_ptr<const Snapshot> snapshot) {
  MutexLock l(&mu_);
  snapshot_ = std::move(snapshot);
}

template <typename Change>
Status KeyStore::Update(Change change) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileLock> lock,
                   WaitForLock(env_, lock_path_, options_.lock_timeout_micros));
  // Read again under the lock: another process may have changed the file since we loaded it.
  ASSIGN_OR_RETURN(std::optional<std::string> old_contents, ReadKeyFile());
  ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> current, MakeSnapshot(old_contents));
  std::vector<StoredKey> keys = current->keys;
  RETURN_IF_ERROR(change(&keys));
  std::optional<std::string> contents = EncodeKeyFile(keys);
  if (contents != old_contents) {
    RETURN_IF_ERROR(WriteFileAtomic(env_, file_path_, *contents));
    ASSIGN_OR_RETURN(current, MakeSnapshot(contents));
  }
  Install(std::move(current));
  return Status::OK();
}

Result<std::string> KeyStore::Create(Role role, std::string_view name, std::string_view tenant,
                                     const Pseudonymizer* pseudonymizer) {
  if (name.empty()) return Status::InvalidArgument("a key needs a name");
  RETURN_IF_ERROR(CheckKeyText("name", name, kMaxKeyNameBytes));
  RETURN_IF_ERROR(CheckKeyText("tenant", tenant, kMaxTenantBytes));
  if (LooksPersonal(tenant)) {
    return Status::InvalidArgument("tenant looks like an e-mail address or a file path");
  }
  StoredKey key;
  key.info.role = role;
  key.info.tenant = std::string(tenant);
  if (role == Role::kUser) {
    if (pseudonymizer == nullptr) {
      return Status::InvalidArgument("a user key needs the pseudonym secret");
    }
    key.info.user_pseudonym = pseudonymizer->UserPseudonym(name);
  } else {
    if (LooksPersonal(name)) {
      return Status::InvalidArgument(
          "name looks like an e-mail address or a file path; label keys by purpose "
          "(\"ci-ingest\"), people get role user");
    }
    key.info.name = std::string(name);
  }

  std::string plaintext;
  MutexLock l(&update_mu_);
  RETURN_IF_ERROR(env_->CreateDir(keys_dir_));
  RETURN_IF_ERROR(Update([&](std::vector<StoredKey>* keys) -> Status {
    for (int attempt = 0; attempt < kMaxKeyIdAttempts; ++attempt) {
      ASSIGN_OR_RETURN(plaintext, GenerateKey());
      key.digest_hex = KeyDigestHex(plaintext);
      key.info.key_id = KeyIdFromDigestHex(key.digest_hex);
      bool taken = false;
      for (const StoredKey& k : *keys) taken = taken || k.info.key_id == key.info.key_id;
      if (taken) continue;
      key.info.created_unix_micros = env_->NowUnixMicros();
      keys->push_back(key);
      return Status::OK();
    }
    return Status::Internal("no unused key id after " + std::to_string(kMaxKeyIdAttempts) +
                            " attempts");
  }));
  return plaintext;
}

std::vector<ApiKeyInfo> KeyStore::List() const {
  std::shared_ptr<const Snapshot> snapshot = Current();
  std::vector<ApiKeyInfo> out;
  out.reserve(snapshot->keys.size());
  for (const StoredKey& key : snapshot->keys) out.push_back(key.info);
  return out;
}

Status KeyStore::Revoke(std::string_view key_id) {
  const Status not_found = Status::NotFound("no API key with id " + std::string(key_id));
  MutexLock l(&update_mu_);
  // No file means no keys; do not create the directory just to find that out.
  if (!env_->FileExists(file_path_)) return not_found;
  return Update([&](std::vector<StoredKey>* keys) -> Status {
    for (StoredKey& k : *keys) {
      if (k.info.key_id != key_id) continue;
      if (!k.info.revoked) {
        k.info.revoked = true;
        k.info.revoked_unix_micros = env_->NowUnixMicros();
      }
      return Status::OK();
    }
    return not_found;
  });
}

Result<Principal> KeyStore::Authenticate(std::string_view bearer_key) {
  Result<ParsedKey> parsed = ParseKey(bearer_key);
  if (!parsed.ok()) return Status::Unauthenticated(parsed.status().message());
  MaybeAutoReload();
  const Sha256Digest digest = KeyDigest(bearer_key);
  const std::string key_id = HexEncode(digest.data(), kKeyIdLength / 2);
  std::shared_ptr<const Snapshot> snapshot = Current();
  // The lookup by key_id compares public bytes; the secret-dependent comparison of the whole
  // digest is constant-time.
  auto it = snapshot->by_key_id.find(key_id);
  if (it == snapshot->by_key_id.end() || !DigestsEqual(snapshot->digests[it->second], digest)) {
    return Status::Unauthenticated("unknown API key");
  }
  const ApiKeyInfo& info = snapshot->keys[it->second].info;
  if (info.revoked) return Status::Unauthenticated("API key " + key_id + " has been revoked");
  return Principal{info.key_id, info.role, info.user_pseudonym, info.tenant, info.name};
}

Result<bool> KeyStore::ReloadIfChanged() {
  MutexLock l(&update_mu_);
  ASSIGN_OR_RETURN(std::optional<std::string> contents, ReadKeyFile());
  std::shared_ptr<const Snapshot> current = Current();
  if (contents.has_value() == current->file_exists &&
      (!contents.has_value() || Sha256Of(*contents) == current->file_hash)) {
    return false;
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> snapshot, MakeSnapshot(contents));
  Install(std::move(snapshot));
  return true;
}

void KeyStore::MaybeAutoReload() {
  if (!options_.auto_reload) return;
  const uint64_t now = env_->NowMicros();
  uint64_t last = last_check_micros_.load(std::memory_order_relaxed);
  if (now >= last && now - last < options_.reload_interval_micros) return;
  // One caller reloads; the others go on with the keys they have.
  if (!last_check_micros_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  // A failed reload (a file damaged by hand) keeps the last good keys rather than locking every
  // client out; `tokenaudit keys list` and ReloadIfChanged report the damage.
  ReloadIfChanged().status().IgnoreError();
}

}  // namespace tokenaudit::auth
