// `tokenaudit keys` and `tokenaudit serve` resolve the same configuration: keys made with
// `--config` land in the server's data directory, and user keys carry the server's pseudonyms.

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

}  // namespace
}  // namespace tokenaudit::testing
