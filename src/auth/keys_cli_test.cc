// End-to-end tests of `tokenaudit keys create|list|revoke`: the built binary on a temporary data
// directory, with the pseudonym secret passed as an operator would (TOKENAUDIT_PSEUDONYM_KEY, a
// key file, or the default file under XDG_CONFIG_HOME).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "src/auth/api_key.h"
#include "src/auth/key_store.h"
#include "src/auth/pseudonymizer.h"
#include "src/util/hex.h"
#include "tokenaudit/env.h"

#ifndef TOKENAUDIT_BIN
#error "TOKENAUDIT_BIN must name the tokenaudit binary under test"
#endif

extern char** environ;

namespace tokenaudit::auth {
namespace {

namespace fs = std::filesystem;

const std::string kSecretHex(64, 'a');  // 32 bytes of 0xaa

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const RunResult& r) {
  return os << "exit " << r.exit_code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

class KeysCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("keys_cli_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(root_ / "home");
    data_dir_ = (root_ / "data").string();
    env_["HOME"] = (root_ / "home").string();
    env_["TOKENAUDIT_PSEUDONYM_KEY"] = kSecretHex;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Starts the binary in `root_` with `args`, the parent's environment minus the variables this
  // test controls, plus env_ (an empty value unsets); stdout and stderr go to files named after
  // `tag`. Returns the pid, or -1.
  pid_t Start(const std::vector<std::string>& args, const std::string& tag) {
    const std::string out_path = (root_ / (tag + ".stdout")).string();
    const std::string err_path = (root_ / (tag + ".stderr")).string();
    std::vector<std::string> argv_storage = {TOKENAUDIT_BIN};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_storage;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string var(*e);
      const std::string name = var.substr(0, var.find('='));
      if (name == "HOME" || name == "XDG_CONFIG_HOME" || name == "TOKENAUDIT_PSEUDONYM_KEY") {
        continue;
      }
      env_storage.push_back(var);
    }
    for (const auto& [name, value] : env_) {
      if (!value.empty()) env_storage.push_back(name + "=" + value);
    }
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string cwd = root_.string();

    const pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork: " << std::strerror(errno);
      return -1;
    }
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      const int in = open("/dev/null", O_RDONLY);
      const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0 ||
          chdir(cwd.c_str()) != 0) {
        _exit(127);
      }
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    return pid;
  }

  RunResult Wait(pid_t pid, const std::string& tag) {
    RunResult result;
    if (pid < 0) return result;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    result.out = ReadFileToString(Env::Default(), (root_ / (tag + ".stdout")).string()).value();
    result.err = ReadFileToString(Env::Default(), (root_ / (tag + ".stderr")).string()).value();
    return result;
  }

  RunResult Run(const std::vector<std::string>& args) { return Wait(Start(args, "run"), "run"); }

  std::string KeyFile() {
    Result<std::string> s = ReadFileToString(Env::Default(), data_dir_ + "/keys/api_keys.json");
    return s.ok() ? *s : std::string();
  }

  std::string Pseudonym(const std::string& name) {
    const std::string secret = HexDecode(kSecretHex).value();
    return Pseudonymizer::Create(secret).value()->UserPseudonym(name);
  }

  fs::path root_;
  std::string data_dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(KeysCliTest, FirstAdminKeyOnAFreshDataDirIsPrintedOnceOnStdout) {
  ASSERT_FALSE(fs::exists(data_dir_));
  RunResult r =
      Run({"keys", "create", "--data-dir", data_dir_, "--role", "admin", "--name", "ops-admin"});
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_EQ(r.out.size(), kKeyLength + 1) << r;  // the key and a newline, nothing else
  const std::string key = r.out.substr(0, kKeyLength);
  EXPECT_EQ(r.out.back(), '\n');
  ASSERT_TRUE(ParseKey(key).ok()) << r;
  EXPECT_TRUE(Contains(r.err, "created key " + KeyIdOf(key))) << r;
  EXPECT_TRUE(Contains(r.err, "cannot be shown again")) << r;
  EXPECT_FALSE(Contains(r.err, key.substr(3, 43))) << r;
  EXPECT_FALSE(Contains(KeyFile(), key.substr(3, 43)));

  auto store = KeyStore::Open(Env::Default(), data_dir_).value();
  Result<Principal> p = store->Authenticate(key);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->role, Role::kAdmin);
  EXPECT_EQ(p->name, "ops-admin");
  // No pseudonym key was needed (or created) for an admin key.
  EXPECT_FALSE(fs::exists(root_ / "home/.config/tokenaudit/pseudonym.key"));
}

TEST_F(KeysCliTest, DataDirDefaultsToTokenauditDataInTheWorkingDirectory) {
  RunResult r = Run({"keys", "create", "--role", "ingest", "--name", "gw"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(fs::exists(root_ / "tokenaudit-data/keys/api_keys.json"));
  r = Run({"keys", "list"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(Contains(r.out, "gw")) << r;
}

TEST_F(KeysCliTest, ListShowsThePseudonymNeverTheUserName) {
  const std::string canary = "Zelda Canary-7731";
  RunResult r = Run({"keys", "create", "--data-dir", data_dir_, "--role", "user", "--name", canary,
                     "--tenant", "city-archive"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string key = r.out.substr(0, kKeyLength);
  EXPECT_TRUE(Contains(r.err, Pseudonym(canary))) << r;
  EXPECT_FALSE(Contains(r.err, "Zelda")) << r;
  ASSERT_EQ(
      Run({"keys", "create", "--data-dir", data_dir_, "--role", "auditor", "--name", "audit-2026"})
          .exit_code,
      0);
  EXPECT_FALSE(Contains(KeyFile(), "Zelda"));
  EXPECT_FALSE(Contains(KeyFile(), "7731"));

  r = Run({"keys", "list", "--data-dir", data_dir_});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_FALSE(Contains(r.out, "Zelda")) << r;
  EXPECT_TRUE(Contains(r.out, Pseudonym(canary))) << r;
  EXPECT_TRUE(Contains(r.out, "audit-2026")) << r;
  EXPECT_TRUE(Contains(r.out, "city-archive")) << r;
  EXPECT_TRUE(Contains(r.out, KeyIdOf(key))) << r;
  EXPECT_FALSE(Contains(r.out, KeyDigestHex(key))) << r;

  r = Run({"keys", "list", "--data-dir", data_dir_, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_FALSE(Contains(r.out, "Zelda")) << r;
  EXPECT_FALSE(Contains(r.out, KeyDigestHex(key))) << r;
  EXPECT_TRUE(Contains(r.out, "\"user_pseudonym\":\"" + Pseudonym(canary) + "\"")) << r;
  EXPECT_TRUE(Contains(r.out, "\"role\":\"auditor\",\"name\":\"audit-2026\"")) << r;
  EXPECT_EQ(r.out.front(), '[');

  auto store = KeyStore::Open(Env::Default(), data_dir_).value();
  Result<Principal> p = store->Authenticate(key);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->user_pseudonym, Pseudonym(canary));
  EXPECT_EQ(p->tenant, "city-archive");
}

TEST_F(KeysCliTest, RevokeRefusesTheKeyAndUnknownIdsExitOne) {
  RunResult r =
      Run({"keys", "create", "--data-dir", data_dir_, "--role", "ingest", "--name", "gw"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string key = r.out.substr(0, kKeyLength);
  auto store = KeyStore::Open(Env::Default(), data_dir_).value();
  ASSERT_TRUE(store->Authenticate(key).ok());

  r = Run({"keys", "revoke", "--data-dir", data_dir_, KeyIdOf(key)});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(r.out.empty()) << r;
  ASSERT_TRUE(store->ReloadIfChanged().ok());
  EXPECT_EQ(store->Authenticate(key).status().code(), StatusCode::kUnauthenticated);

  r = Run({"keys", "list", "--data-dir", data_dir_, "--json"});
  EXPECT_TRUE(Contains(r.out, "\"revoked\":true")) << r;
  r = Run({"keys", "revoke", "--data-dir", data_dir_, KeyIdOf(key)});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(Contains(r.err, "already revoked")) << r;
  r = Run({"keys", "revoke", "--data-dir", data_dir_, "00000000"});
  EXPECT_EQ(r.exit_code, 1) << r;
  r = Run({"keys", "revoke", "--data-dir", (root_ / "nowhere").string(), "00000000"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_FALSE(fs::exists(root_ / "nowhere"));
}

TEST_F(KeysCliTest, ConcurrentCreatesFromSeveralProcessesLoseNothing) {
  constexpr int kProcesses = 8;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcesses; ++i) {
    pids.push_back(Start({"keys", "create", "--data-dir", data_dir_, "--role",
                          i % 2 ? "user" : "ingest", "--name", "p" + std::to_string(i)},
                         "p" + std::to_string(i)));
  }
  std::vector<std::string> keys;
  for (int i = 0; i < kProcesses; ++i) {
    RunResult r = Wait(pids[i], "p" + std::to_string(i));
    ASSERT_EQ(r.exit_code, 0) << r;
    keys.push_back(r.out.substr(0, kKeyLength));
  }
  auto store = KeyStore::Open(Env::Default(), data_dir_).value();
  EXPECT_EQ(store->List().size(), static_cast<size_t>(kProcesses));
  for (const std::string& key : keys) EXPECT_TRUE(store->Authenticate(key).ok()) << key;
}

TEST_F(KeysCliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Run({"keys"}).exit_code, 2);
  EXPECT_EQ(
      Run({"keys", "create", "--data-dir", data_dir_, "--role", "root", "--name", "x"}).exit_code,
      2);
  EXPECT_EQ(Run({"keys", "create", "--data-dir", data_dir_, "--role", "admin"}).exit_code, 2);
  EXPECT_EQ(Run({"keys", "create", "--data-dir", data_dir_, "--role", "admin", "--name",
                 "alice@example.com"})
                .exit_code,
            2);
  EXPECT_EQ(Run({"keys", "list", "--data-dir", (root_ / "nowhere").string()}).exit_code, 2);
  EXPECT_EQ(Run({"keys", "revoke", "--data-dir", data_dir_}).exit_code, 2);
  EXPECT_FALSE(fs::exists(data_dir_ + "/keys/api_keys.json"));
}

TEST_F(KeysCliTest, UserKeysWithoutAnEnvironmentSecretUseTheDefaultFile) {
  env_.erase("TOKENAUDIT_PSEUDONYM_KEY");
  env_["XDG_CONFIG_HOME"] = (root_ / "cfg").string();
  RunResult r = Run({"keys", "create", "--data-dir", data_dir_, "--role", "user", "--name", "bob"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const fs::path key_file = root_ / "cfg/tokenaudit/pseudonym.key";
  EXPECT_TRUE(Contains(r.err, "created a new pseudonym key at " + key_file.string())) << r;
  struct stat st;
  ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The same file is used next time, so bob gets the same pseudonym.
  r = Run({"keys", "create", "--data-dir", data_dir_, "--role", "user", "--name", "bob"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_FALSE(Contains(r.err, "created a new pseudonym key")) << r;
  auto keys = KeyStore::Open(Env::Default(), data_dir_).value()->List();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].user_pseudonym, keys[1].user_pseudonym);
}

TEST_F(KeysCliTest, APseudonymKeyFileInsideTheDataDirIsRefused) {
  env_.erase("TOKENAUDIT_PSEUDONYM_KEY");
  fs::create_directories(data_dir_);
  const std::string inside = data_dir_ + "/pseudonym.key";
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), inside, kSecretHex).ok());
  RunResult r = Run({"keys", "create", "--data-dir", data_dir_, "--role", "user", "--name", "bob",
                     "--pseudonym-key-file", inside});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(Contains(r.err, "inside the data directory")) << r;
  EXPECT_TRUE(r.out.empty()) << r;

  const std::string outside = (root_ / "pseudonym.key").string();
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), outside, kSecretHex).ok());
  r = Run({"keys", "create", "--data-dir", data_dir_, "--role", "user", "--name", "bob",
           "--pseudonym-key-file", outside});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(Contains(r.err, Pseudonym("bob"))) << r;
}

}  // namespace
}  // namespace tokenaudit::auth
