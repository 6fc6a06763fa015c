#include "src/auth/pseudonym_secret.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/util/hex.h"

namespace tokenaudit::auth {
namespace {

namespace fs = std::filesystem;

const std::string kHexSecret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

std::string Bytes0To31() {
  std::string s;
  for (int i = 0; i < 32; ++i) s.push_back(static_cast<char>(i));
  return s;
}

TEST(PseudonymSecretTest, DecodesHexAndBothBase64Alphabets) {
  const std::string expected = Bytes0To31();
  const std::string texts[] = {
      kHexSecret,
      "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
      "  " + kHexSecret + "\n",
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
  };
  for (const std::string& text : texts) {
    Result<std::string> secret = DecodePseudonymSecret(text);
    ASSERT_TRUE(secret.ok()) << text << ": " << secret.status();
    EXPECT_EQ(*secret, expected) << text;
  }
  // 33 bytes 0xfb... in both alphabets.
  Result<std::string> std_b64 = DecodePseudonymSecret(std::string(44, '+'));
  Result<std::string> url_b64 = DecodePseudonymSecret(std::string(44, '-'));
  ASSERT_TRUE(std_b64.ok());
  ASSERT_TRUE(url_b64.ok());
  EXPECT_EQ(*std_b64, *url_b64);
}

TEST(PseudonymSecretTest, RefusesShortOrGarbledSecrets) {
  for (std::string_view text :
       {std::string_view(""), std::string_view("   "),
        std::string_view(kHexSecret).substr(0, 62),  // 31 bytes
        std::string_view("not a secret at all, not even close!!!!!!!!!"),
        std::string_view("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9="), std::string_view("A")}) {
    Result<std::string> secret = DecodePseudonymSecret(text);
    EXPECT_EQ(secret.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

TEST(PseudonymSecretTest, DefaultPathFollowsXdg) {
  EXPECT_EQ(*DefaultPseudonymKeyPath("/x/cfg", "/home/a"), "/x/cfg/tokenaudit/pseudonym.key");
  EXPECT_EQ(*DefaultPseudonymKeyPath("relative", "/home/a"),
            "/home/a/.config/tokenaudit/pseudonym.key");
  EXPECT_EQ(*DefaultPseudonymKeyPath(nullptr, "/home/a"),
            "/home/a/.config/tokenaudit/pseudonym.key");
  EXPECT_EQ(*DefaultPseudonymKeyPath("", "/home/a"), "/home/a/.config/tokenaudit/pseudonym.key");
  EXPECT_EQ(DefaultPseudonymKeyPath(nullptr, nullptr).status().code(),
            StatusCode::kFailedPrecondition);
}

class PseudonymSecretLoadTest : public ::testing::Test {
 protected:
  Result<LoadedPseudonymSecret> Load(const char* env_value, const std::string& configured,
                                     const std::string& default_path = "/cfg/tokenaudit/k") {
    PseudonymSecretSources sources;
    sources.env_value = env_value;
    sources.configured_path = configured;
    sources.default_path = default_path;
    return LoadPseudonymSecret(env_.get(), sources, "/srv/data");
  }
  std::unique_ptr<Env> env_ = NewMemEnv();
};

TEST_F(PseudonymSecretLoadTest, EnvironmentBeatsConfiguredFileBeatsDefaultFile) {
  const std::string file_secret(40, 'f');
  ASSERT_TRUE(env_->CreateDir("/etc/ta").ok());
  ASSERT_TRUE(WriteFileAtomic(env_.get(), "/etc/ta/key", HexEncode(file_secret) + "\n").ok());

  Result<LoadedPseudonymSecret> s = Load(kHexSecret.c_str(), "/etc/ta/key");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->secret, Bytes0To31());
  EXPECT_EQ(s->origin, "environment variable TOKENAUDIT_PSEUDONYM_KEY");

  s = Load(nullptr, "/etc/ta/key");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->secret, file_secret);
  EXPECT_EQ(s->origin, "/etc/ta/key");
  EXPECT_FALSE(env_->FileExists("/cfg/tokenaudit/k"));

  s = Load(nullptr, "");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->created);
  EXPECT_EQ(s->secret.size(), 32u);
  EXPECT_NE(s->secret, file_secret);
}

TEST_F(PseudonymSecretLoadTest, AnEmptyOrBadEnvironmentValueIsAnErrorNotAFallback) {
  Result<LoadedPseudonymSecret> s = Load("", "");
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("TOKENAUDIT_PSEUDONYM_KEY"), std::string_view::npos);
  EXPECT_EQ(Load("abcd", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(env_->FileExists("/cfg/tokenaudit/k"));
}

TEST_F(PseudonymSecretLoadTest, AMissingConfiguredFileIsNotReplaced) {
  Result<LoadedPseudonymSecret> s = Load(nullptr, "/etc/ta/missing");
  EXPECT_TRUE(s.status().IsNotFound()) << s.status();
  EXPECT_FALSE(env_->FileExists("/etc/ta/missing"));
  EXPECT_FALSE(env_->FileExists("/cfg/tokenaudit/k"));
}

TEST_F(PseudonymSecretLoadTest, TheDefaultFileIsCreatedOnceAndThenReused) {
  Result<LoadedPseudonymSecret> first = Load(nullptr, "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->origin, "/cfg/tokenaudit/k");
  Result<std::string> text = ReadFileToString(env_.get(), "/cfg/tokenaudit/k");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, HexEncode(first->secret) + "\n");
  Result<LoadedPseudonymSecret> second = Load(nullptr, "");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->secret, first->secret);
  EXPECT_FALSE(env_->FileExists("/cfg/tokenaudit/k.tmp"));
}

TEST_F(PseudonymSecretLoadTest, ConcurrentFirstUsesAgreeOnOneSecret) {
  std::vector<std::string> secrets(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < secrets.size(); ++i) {
    threads.emplace_back([&, i] {
      Result<LoadedPseudonymSecret> s = Load(nullptr, "");
      if (s.ok()) secrets[i] = s->secret;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::set<std::string>(secrets.begin(), secrets.end()).size(), 1u);
  EXPECT_EQ(secrets[0].size(), 32u);
}

TEST_F(PseudonymSecretLoadTest, AKeyFileInsideTheDataDirIsRefused) {
  ASSERT_TRUE(env_->CreateDir("/srv/data/keys").ok());
  ASSERT_TRUE(WriteFileAtomic(env_.get(), "/srv/data/keys/p.key", kHexSecret).ok());
  for (const std::string& inside :
       {std::string("/srv/data/keys/p.key"), std::string("/srv/data/../data/keys/p.key"),
        std::string("/srv//data/./keys/p.key"), std::string("/srv/other/../data/p.key")}) {
    Result<LoadedPseudonymSecret> s = Load(nullptr, inside);
    EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << inside;
  }
  // The default file too, and it is not created there.
  Result<LoadedPseudonymSecret> s = Load(nullptr, "", "/srv/data/pseudonym.key");
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(env_->FileExists("/srv/data/pseudonym.key"));
  // A sibling whose name merely starts with the data dir's is fine.
  ASSERT_TRUE(env_->CreateDir("/srv/data2").ok());
  ASSERT_TRUE(WriteFileAtomic(env_.get(), "/srv/data2/p.key", kHexSecret).ok());
  EXPECT_TRUE(Load(nullptr, "/srv/data2/p.key").ok());
}

TEST(PathIsInsideTest, LexicalRules) {
  std::unique_ptr<Env> env = NewMemEnv();
  EXPECT_TRUE(PathIsInside(env.get(), "/a/b", "/a/b"));
  EXPECT_TRUE(PathIsInside(env.get(), "/a/b/c", "/a/b/"));
  EXPECT_TRUE(PathIsInside(env.get(), "/a/x/../b/c", "/a/b"));
  EXPECT_TRUE(PathIsInside(env.get(), "/anything", "/"));
  EXPECT_FALSE(PathIsInside(env.get(), "/a/bc", "/a/b"));
  EXPECT_FALSE(PathIsInside(env.get(), "/a", "/a/b"));
  EXPECT_FALSE(PathIsInside(env.get(), "/a/b/../c", "/a/b"));
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_TRUE(PathIsInside(env.get(), "data/k", std::string(cwd) + "/data"));
  EXPECT_TRUE(PathIsInside(env.get(), std::string(cwd) + "/data/k", "./data"));
}

// On the real file system: the created default file is 0600, and symlinks do not hide a path
// inside the data directory.
class PseudonymSecretPosixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("pseudonym_secret_test_" + std::to_string(::getpid()) + "_" +
             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(root_ / "data");
    fs::create_directories(root_ / "cfg");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path root_;
};

TEST_F(PseudonymSecretPosixTest, TheDefaultFileIsOwnerOnly) {
  PseudonymSecretSources sources;
  sources.default_path = (root_ / "cfg/tokenaudit/pseudonym.key").string();
  Result<LoadedPseudonymSecret> s =
      LoadPseudonymSecret(Env::Default(), sources, (root_ / "data").string());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->created);
  struct stat st;
  ASSERT_EQ(::stat(sources.default_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(PseudonymSecretPosixTest, ASymlinkIntoTheDataDirIsRefused) {
  const fs::path real = root_ / "data/p.key";
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), real.string(), kHexSecret).ok());
  fs::create_directory_symlink(root_ / "data", root_ / "cfg/link-to-data");
  fs::create_symlink(real, root_ / "cfg/p.key");  // a file symlink: its directory is outside
  PseudonymSecretSources sources;
  sources.configured_path = (root_ / "cfg/link-to-data/p.key").string();
  Result<LoadedPseudonymSecret> s =
      LoadPseudonymSecret(Env::Default(), sources, (root_ / "data").string());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status();
  sources.configured_path = (root_ / "cfg/p.key").string();
  s = LoadPseudonymSecret(Env::Default(), sources, (root_ / "data").string());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status();
  // And a data dir reached through a symlink.
  sources.configured_path = real.string();
  s = LoadPseudonymSecret(Env::Default(), sources, (root_ / "cfg/link-to-data").string());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status();
}

}  // namespace
}  // namespace tokenaudit::auth
