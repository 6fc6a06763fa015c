// `tokenaudit keys` and `tokenaudit serve` resolve the same configuration: keys made with
// `--config` land in the server's data directory, and user keys carry the server's pseudonyms.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "test/serve/serve_test_util.h"

namespace tokenaudit::testing {
namespace {

class ConfigE2eTest : public ServeTest {};

TEST_F(ConfigE2eTest, KeysCreatedWithTheServersConfigWorkAgainstThatServer) {
  const std::string cfg_data = dir_ + "/configured-data";
  const std::string key_file = dir_ + "/pseudonym.key";
  const std::string cfg = dir_ + "/tokenaudit.toml";
  std::ofstream(key_file) << std::string(64, 'c') << "\n";
  std::ofstream(cfg) << "data_dir = \"" << cfg_data << "\"\n"
                     << "listen = \"127.0.0.1:0\"\n"
                     << "[ingest]\npseudonym_key_file = \"" << key_file << "\"\n";

  // No --data-dir and no pseudonym key in the environment: both come from the file.
  auto create = [&](const std::string& role, const std::string& name) {
    CommandResult r = RunCommand(
        {TOKENAUDIT_BIN, "keys", "create", "--config", cfg, "--role", role, "--name", name}, {},
        dir_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string key = r.out;
    while (!key.empty() && key.back() == '\n') key.pop_back();
    return key;
  };
  const std::string ingest = create("ingest", "cfg-ingest");
  const std::string carol = create("user", "carol");
  EXPECT_TRUE(std::filesystem::exists(cfg_data + "/keys/api_keys.json"));
  CommandResult other = RunCommand({TOKENAUDIT_BIN, "keys", "list", "--data-dir", data_}, {}, dir_);
  EXPECT_EQ(Count(other.out, "cfg-ingest"), 0u) << other.out;

  CommandResult list = RunCommand({TOKENAUDIT_BIN, "keys", "list", "--config", cfg}, {}, dir_);
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(Count(list.out, "cfg-ingest"), 1u) << list.out;

  ASSERT_TRUE(server_->Start({"--config", cfg}, {})) << server_->AllOutput();
  client_ = std::make_unique<HttpClient>(server_->port());
  HttpResult post = Post(ingest, Record("cfg-1", "carol"));
  ASSERT_EQ(post.status, 200) << post.body;
  // carol's key was bound with the pseudonym the server computes: she sees her record.
  HttpResult mine = Get(carol, "/v1/events");
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(Count(mine.body, "\"seq\""), 1u) << mine.body;

  // A config that does not parse is a usage error naming the file.
  std::ofstream(dir_ + "/bad.toml") << "data_dir = 7\n";
  CommandResult bad = RunCommand(
      {TOKENAUDIT_BIN, "keys", "list", "--config", dir_ + "/bad.toml"}, {}, dir_);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad.toml"), std::string::npos) << bad.err;
}

// True when nothing listens on 127.0.0.1:`port` (a bind there succeeds).
bool LoopbackPortFree(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;  // a connection of an earlier run in TIME_WAIT does not hold the port
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  close(fd);
  return ok;
}

TEST_F(ConfigE2eTest, ServeWithNoArgumentsRunsOnTheDefaultsAndSaysWhereItListens) {
  if (!LoopbackPortFree(8080)) GTEST_SKIP() << "127.0.0.1:8080 is taken on this machine";
  const std::string cwd = dir_ + "/fresh", home = dir_ + "/home";
  std::filesystem::create_directories(cwd);
  std::filesystem::create_directories(home);
  server_->set_working_dir(cwd);
  server_->set_scrub_environment(true);
  // No flag, no file, no TOKENAUDIT_* variable: only a home for the pseudonym key.
  if (!server_->Start({}, {"HOME=" + home, "XDG_CONFIG_HOME=" + home + "/.config"})) {
    // Another process took the port between the check and the bind.
    if (server_->AllOutput().find("in use") != std::string::npos) {
      GTEST_SKIP() << server_->AllOutput();
    }
    FAIL() << server_->AllOutput();
  }
  EXPECT_EQ(server_->port(), 8080);
  EXPECT_NE(server_->AllOutput().find("tokenaudit listening on http://127.0.0.1:8080\n"),
            std::string::npos)
      << server_->AllOutput();
  EXPECT_TRUE(std::filesystem::is_directory(cwd + "/tokenaudit-data"));
  // The pseudonym key was made outside the data directory, readable by its owner only.
  const std::string key = home + "/.config/tokenaudit/pseudonym.key";
  ASSERT_TRUE(std::filesystem::exists(key));
  EXPECT_EQ(std::filesystem::status(key).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  for (const auto& e : std::filesystem::recursive_directory_iterator(cwd + "/tokenaudit-data")) {
    EXPECT_EQ(e.path().filename().string().find("pseudonym"), std::string::npos) << e.path();
  }
  HttpClient c(8080);
  EXPECT_EQ(c.Request("GET", "/healthz").status, 200);
  EXPECT_EQ(server_->Stop(), 0) << server_->AllOutput();
}

TEST_F(ConfigE2eTest, FlagsBeatTheEnvironmentWhichBeatsTheFile) {
  const std::string cfg = dir_ + "/layers.toml";
  std::ofstream(cfg) << "data_dir = \"" << dir_ << "/from-file\"\n"
                     << "listen = \"127.0.0.1:0\"\n"
                     << "[ingest]\ndefault_tenant = \"file-tenant\"\nmax_batch_items = 7\n";
  ASSERT_TRUE(server_->Start({"--config", cfg, "--data-dir", data_},
                             {kPseudonymKeyEnv, "TOKENAUDIT_DATA_DIR=" + dir_ + "/from-env",
                              "TOKENAUDIT_INGEST_DEFAULT_TENANT=env-tenant"}))
      << server_->AllOutput();
  client_ = std::make_unique<HttpClient>(server_->port());
  // data_dir: the flag (this fixture's keys live there); the others were never made.
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/from-file"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/from-env"));
  std::string rec = Record("layers-1", "carol");
  rec.replace(rec.find("\"tenant\":\"city-archive\","), 24, "");
  HttpResult r = Post(ingest_, rec);
  ASSERT_EQ(r.status, 200) << r.body;
  // default_tenant: the environment over the file.
  EXPECT_NE(r.body.find("\"tenant\":\"env-tenant\""), std::string::npos) << r.body;
  // max_batch_items: the file (no variable, no flag).
  std::string eight;
  for (int i = 0; i < 8; ++i) eight += Record("layers-b" + std::to_string(i), "carol") + "\n";
  r = Post(ingest_, eight, "application/x-ndjson");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("too_many_items"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace tokenaudit::testing
