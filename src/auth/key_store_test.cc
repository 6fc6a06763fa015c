#include "src/auth/key_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/auth/api_key.h"
#include "src/auth/key_file_format.h"
#include "src/env/fault_injection_env.h"

namespace tokenaudit::auth {
namespace {

constexpr char kDataDir[] = "/data";
constexpr char kKeyFile[] = "/data/keys/api_keys.json";

std::unique_ptr<Pseudonymizer> TestPseudonymizer() {
  return std::move(Pseudonymizer::Create(std::string(32, 's'))).value();
}

KeyStoreOptions NoAutoReload() {
  KeyStoreOptions o;
  o.auto_reload = false;
  return o;
}

class KeyStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<KeyStore> OpenStore(const KeyStoreOptions& options = {}) {
    Result<std::unique_ptr<KeyStore>> store = KeyStore::Open(env_.get(), kDataDir, options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(*store) : nullptr;
  }
  std::string MustCreate(KeyStore* store, Role role, std::string_view name,
                         std::string_view tenant = "") {
    Result<std::string> key = store->Create(role, name, tenant, pseudonymizer_.get());
    EXPECT_TRUE(key.ok()) << key.status();
    return key.ok() ? *key : std::string();
  }
  std::string KeyFile() {
    Result<std::string> contents = ReadFileToString(env_.get(), kKeyFile);
    return contents.ok() ? *contents : std::string();
  }

  std::unique_ptr<Env> env_ = NewMemEnv();
  std::unique_ptr<Pseudonymizer> pseudonymizer_ = TestPseudonymizer();
};

TEST_F(KeyStoreTest, OpenOnAFreshDataDirCreatesNothing) {
  auto store = OpenStore();
  EXPECT_TRUE(store->List().empty());
  EXPECT_FALSE(env_->FileExists(kDataDir));
}

TEST_F(KeyStoreTest, CreatedKeysAuthenticateAsTheirPrincipal) {
  auto store = OpenStore();
  const std::string admin = MustCreate(store.get(), Role::kAdmin, "ops-admin");
  const std::string ingest = MustCreate(store.get(), Role::kIngest, "gateway-eu1", "city-archive");
  const std::string user = MustCreate(store.get(), Role::kUser, "alice", "city-archive");
  EXPECT_TRUE(env_->FileExists(kKeyFile));

  Result<Principal> p = store->Authenticate(admin);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (Principal{KeyIdOf(admin), Role::kAdmin, "", "", "ops-admin"}));
  p = store->Authenticate(ingest);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (Principal{KeyIdOf(ingest), Role::kIngest, "", "city-archive", "gateway-eu1"}));
  p = store->Authenticate(user);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, (Principal{KeyIdOf(user), Role::kUser, pseudonymizer_->UserPseudonym("alice"),
                           "city-archive", ""}));

  std::vector<ApiKeyInfo> keys = store->List();
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].key_id, KeyIdOf(admin));
  EXPECT_EQ(keys[2].DisplayName(), pseudonymizer_->UserPseudonym("alice"));
  EXPECT_GT(keys[0].created_unix_micros, 0u);
}

TEST_F(KeyStoreTest, UnknownMalformedAndMistypedKeysAreUnauthenticated) {
  auto store = OpenStore();
  const std::string key = MustCreate(store.get(), Role::kAdmin, "ops");
  const std::string other = std::move(GenerateKey()).value();  // valid checksum, never stored
  std::string typo = key;
  typo[10] = typo[10] == 'a' ? 'b' : 'a';
  for (const std::string& bad : {other, typo, std::string(), std::string("ta_x"), key + " "}) {
    Result<Principal> p = store->Authenticate(bad);
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.status().code(), StatusCode::kUnauthenticated);
    if (bad.size() >= kKeyLength) {
      EXPECT_EQ(p.status().message().find(bad.substr(3, 20)), std::string_view::npos);
    }
  }
}

TEST_F(KeyStoreTest, AKeyWithTheSameIdButAnotherDigestIsRefused) {
  auto store = OpenStore();
  // A stored entry whose id is the key's but whose digest differs after the id: the lookup by id
  // succeeds and the constant-time comparison of the whole digest must refuse.
  const std::string key = std::move(GenerateKey()).value();
  const std::string digest = KeyDigestHex(key);
  StoredKey forged;
  forged.digest_hex = digest.substr(0, 8) + std::string(56, '0');
  forged.info.key_id = digest.substr(0, 8);
  forged.info.name = "forged";
  forged.info.role = Role::kAdmin;
  forged.info.created_unix_micros = 1;
  ASSERT_TRUE(WriteFileAtomic(env_.get(), kKeyFile, EncodeKeyFile({forged})).ok());
  ASSERT_TRUE(store->ReloadIfChanged().ok());
  Result<Principal> p = store->Authenticate(key);
  EXPECT_EQ(p.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(KeyStoreTest, RevokedKeysAreRefusedAndRevokeIsIdempotent) {
  auto store = OpenStore();
  const std::string a = MustCreate(store.get(), Role::kIngest, "a");
  const std::string b = MustCreate(store.get(), Role::kIngest, "b");
  ASSERT_TRUE(store->Revoke(KeyIdOf(a)).ok());
  Result<Principal> p = store->Authenticate(a);
  EXPECT_EQ(p.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(p.status().message().find("revoked"), std::string_view::npos);
  EXPECT_TRUE(store->Authenticate(b).ok());

  const uint64_t revoked_at = store->List()[0].revoked_unix_micros;
  EXPECT_GT(revoked_at, 0u);
  EXPECT_TRUE(store->List()[0].revoked);
  const std::string before = KeyFile();
  ASSERT_TRUE(store->Revoke(KeyIdOf(a)).ok());
  EXPECT_EQ(store->List()[0].revoked_unix_micros, revoked_at);
  EXPECT_EQ(KeyFile(), before);

  EXPECT_TRUE(store->Revoke("00000000").IsNotFound());
  EXPECT_TRUE(store->Revoke("").IsNotFound());
}

TEST_F(KeyStoreTest, RevokeOnAFreshDataDirIsNotFoundAndCreatesNothing) {
  auto store = OpenStore();
  EXPECT_TRUE(store->Revoke("3f9a0c1e").IsNotFound());
  EXPECT_FALSE(env_->FileExists(kDataDir));
}

TEST_F(KeyStoreTest, TheFileHoldsDigestsNeverKeys) {
  auto store = OpenStore();
  const std::string key = MustCreate(store.get(), Role::kAdmin, "ops");
  const std::string file = KeyFile();
  EXPECT_EQ(file.find(key), std::string::npos);
  EXPECT_EQ(file.find(key.substr(3, 43)), std::string::npos);
  EXPECT_NE(file.find(KeyDigestHex(key)), std::string::npos);
}

TEST_F(KeyStoreTest, TheRawUserNameNeverReachesTheFile) {
  auto store = OpenStore();
  const std::string canary = "Zelda Canary-7731 <zelda.canary@example.org>";
  const std::string key = MustCreate(store.get(), Role::kUser, canary);
  EXPECT_EQ(KeyFile().find("Zelda"), std::string::npos);
  EXPECT_EQ(KeyFile().find("7731"), std::string::npos);
  for (const ApiKeyInfo& k : store->List()) {
    EXPECT_EQ(k.name.find("Zelda"), std::string::npos);
    EXPECT_EQ(k.DisplayName(), pseudonymizer_->UserPseudonym(canary));
  }
  Result<Principal> p = store->Authenticate(key);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->user_pseudonym, pseudonymizer_->UserPseudonym(canary));
  EXPECT_TRUE(p->name.empty());
}

TEST_F(KeyStoreTest, CreateValidatesItsArguments) {
  auto store = OpenStore();
  EXPECT_EQ(store->Create(Role::kAdmin, "", "", nullptr).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Create(Role::kAdmin, "a\nb", "", nullptr).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Create(Role::kAdmin, "alice@example.com", "", nullptr).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Create(Role::kIngest, "/home/alice/key.txt", "", nullptr).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Create(Role::kUser, "alice", "", nullptr).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Create(Role::kIngest, "x", std::string(200, 't'), nullptr).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(env_->FileExists(kKeyFile));
  // An e-mail address is a fine user name: it is only ever stored as its pseudonym.
  EXPECT_TRUE(store->Create(Role::kUser, "alice@example.com", "", pseudonymizer_.get()).ok());
}

TEST_F(KeyStoreTest, ASecondStoreSeesChangesOnReload) {
  auto writer = OpenStore();
  auto reader = OpenStore(NoAutoReload());
  const std::string key = MustCreate(writer.get(), Role::kAuditor, "audit");
  EXPECT_EQ(reader->Authenticate(key).status().code(), StatusCode::kUnauthenticated);
  Result<bool> changed = reader->ReloadIfChanged();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_TRUE(reader->Authenticate(key).ok());
  changed = reader->ReloadIfChanged();
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);

  ASSERT_TRUE(writer->Revoke(KeyIdOf(key)).ok());
  EXPECT_TRUE(reader->Authenticate(key).ok());  // not reloaded yet
  ASSERT_TRUE(reader->ReloadIfChanged().ok());
  EXPECT_FALSE(reader->Authenticate(key).ok());
}

TEST_F(KeyStoreTest, AuthenticateReloadsByItselfAfterTheInterval) {
  auto writer = OpenStore();
  KeyStoreOptions every_call;
  every_call.reload_interval_micros = 0;
  auto reader = OpenStore(every_call);
  KeyStoreOptions hourly;
  hourly.reload_interval_micros = 3'600'000'000;
  auto slow_reader = OpenStore(hourly);

  const std::string key = MustCreate(writer.get(), Role::kIngest, "gw");
  EXPECT_TRUE(reader->Authenticate(key).ok());
  EXPECT_FALSE(slow_reader->Authenticate(key).ok());
  ASSERT_TRUE(writer->Revoke(KeyIdOf(key)).ok());
  EXPECT_FALSE(reader->Authenticate(key).ok());
}

TEST_F(KeyStoreTest, ReopenKeepsEverything) {
  std::string key;
  std::vector<ApiKeyInfo> before;
  {
    auto store = OpenStore();
    key = MustCreate(store.get(), Role::kUser, "bob", "t1");
    MustCreate(store.get(), Role::kAdmin, "ops");
    ASSERT_TRUE(store->Revoke(store->List()[1].key_id).ok());
    before = store->List();
  }
  auto store = OpenStore();
  EXPECT_EQ(store->List(), before);
  EXPECT_TRUE(store->Authenticate(key).ok());
}

TEST_F(KeyStoreTest, ADamagedFileIsReportedAndNeverOverwritten) {
  auto store = OpenStore(NoAutoReload());
  const std::string key = MustCreate(store.get(), Role::kAdmin, "ops");
  std::string damaged = KeyFile();
  damaged[damaged.size() - 3] = 'X';
  ASSERT_TRUE(WriteFileAtomic(env_.get(), kKeyFile, damaged).ok());

  EXPECT_TRUE(store->ReloadIfChanged().status().IsCorruption());
  EXPECT_TRUE(store->Authenticate(key).ok());  // the last good keys stay in force
  EXPECT_TRUE(store->Create(Role::kAdmin, "ops2", "", nullptr).status().IsCorruption());
  EXPECT_TRUE(store->Revoke(KeyIdOf(key)).IsCorruption());
  EXPECT_EQ(KeyFile(), damaged);
  Result<std::unique_ptr<KeyStore>> reopened = KeyStore::Open(env_.get(), kDataDir);
  EXPECT_TRUE(reopened.status().IsCorruption());
  EXPECT_NE(reopened.status().message().find("api_keys.json"), std::string_view::npos);
}

TEST_F(KeyStoreTest, ConcurrentCreatesFromThreadsLoseNothing) {
  auto store = OpenStore();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::vector<std::vector<std::string>> created(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Result<std::string> key = store->Create(
            Role::kIngest, "t" + std::to_string(t) + "-" + std::to_string(i), "", nullptr);
        if (!key.ok()) continue;
        created[t].push_back(*key);
        EXPECT_TRUE(store->Authenticate(*key).ok());  // concurrently with the writers
      }
    });
  }
  for (auto& t : threads) t.join();
  auto reopened = OpenStore();
  EXPECT_EQ(reopened->List().size(), static_cast<size_t>(kThreads * kPerThread));
  for (const auto& keys : created) {
    ASSERT_EQ(keys.size(), static_cast<size_t>(kPerThread));
    for (const std::string& key : keys) EXPECT_TRUE(reopened->Authenticate(key).ok());
  }
}

// Separate stores on one directory behave like separate processes: each change must wait for
// the others' file lock and start from their result. Runs on the real file system.
TEST(KeyStoreProcessesTest, ConcurrentCreatesFromSeparateStoresLoseNothing) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() /
      ("key_store_test_" + std::to_string(::getpid()) + "_" +
       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  constexpr int kStores = 4;
  constexpr int kPerStore = 15;
  std::vector<std::unique_ptr<KeyStore>> stores;
  for (int s = 0; s < kStores; ++s) {
    stores.push_back(std::move(KeyStore::Open(Env::Default(), dir.string())).value());
  }
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int s = 0; s < kStores; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < kPerStore; ++i) {
        if (!stores[s]->Create(Role::kIngest, "s" + std::to_string(s), "", nullptr).ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto reopened = std::move(KeyStore::Open(Env::Default(), dir.string())).value();
  EXPECT_EQ(reopened->List().size(), static_cast<size_t>(kStores * kPerStore));
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST_F(KeyStoreTest, AHeldLockMakesCreateUnavailableAfterTheTimeout) {
  KeyStoreOptions options;
  options.lock_timeout_micros = 20'000;
  auto store = OpenStore(options);
  ASSERT_TRUE(env_->CreateDir("/data/keys").ok());
  auto lock = std::move(env_->LockFile("/data/keys/LOCK")).value();
  EXPECT_EQ(store->Create(Role::kAdmin, "ops", "", nullptr).status().code(),
            StatusCode::kUnavailable);
  lock.reset();
  EXPECT_TRUE(store->Create(Role::kAdmin, "ops", "", nullptr).ok());
}

TEST(KeyStoreFaultTest, ACrashAtAnyPointLeavesTheOldOrTheNewFile) {
  std::unique_ptr<Env> base = NewMemEnv();
  env::FaultInjectionEnv fenv(base.get());
  std::string first;
  {
    auto store = std::move(KeyStore::Open(&fenv, kDataDir)).value();
    first = std::move(store->Create(Role::kAdmin, "ops", "", nullptr)).value();
  }
  for (uint64_t n = 0; n < 12; ++n) {
    SCOPED_TRACE("crash after " + std::to_string(n) + " operations");
    auto store = std::move(KeyStore::Open(&fenv, kDataDir)).value();
    const size_t before = store->List().size();
    fenv.CrashAfterOps(n);
    Result<std::string> key = store->Create(Role::kIngest, "gw", "", nullptr);
    fenv.SimulatePowerLoss(env::TearMode::kTear512, n);
    Result<std::unique_ptr<KeyStore>> reopened = KeyStore::Open(&fenv, kDataDir);
    ASSERT_TRUE(reopened.ok()) << reopened.status();
    const size_t after = (*reopened)->List().size();
    EXPECT_TRUE(after == before || after == before + 1) << before << " -> " << after;
    if (key.ok()) {
      EXPECT_EQ(after, before + 1);
      EXPECT_TRUE((*reopened)->Authenticate(*key).ok());
    }
    EXPECT_TRUE((*reopened)->Authenticate(first).ok());
  }
}

TEST(KeyStoreFaultTest, AFailedSyncLeavesTheFileUnchanged) {
  std::unique_ptr<Env> base = NewMemEnv();
  env::FaultInjectionEnv fenv(base.get());
  auto store = std::move(KeyStore::Open(&fenv, kDataDir)).value();
  const std::string first = std::move(store->Create(Role::kAdmin, "ops", "", nullptr)).value();
  const std::string before = std::move(ReadFileToString(&fenv, kKeyFile)).value();
  fenv.FailNthSync(1, env::FaultKind::kENOSPC);
  Result<std::string> key = store->Create(Role::kIngest, "gw", "", nullptr);
  EXPECT_TRUE(key.status().IsIOError()) << key.status();
  EXPECT_EQ(std::move(ReadFileToString(&fenv, kKeyFile)).value(), before);
  EXPECT_EQ(store->List().size(), 1u);
  EXPECT_TRUE(store->Authenticate(first).ok());
}

}  // namespace
}  // namespace tokenaudit::auth
