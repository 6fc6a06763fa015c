// Shared fixture for end-to-end tests of `tokenaudit serve`: a temp data directory, keys of every
// role made with the real `tokenaudit keys` CLI, and the server as a child process.

#ifndef TOKENAUDIT_TEST_SERVE_SERVE_TEST_UTIL_H_
#define TOKENAUDIT_TEST_SERVE_SERVE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "test/support/http_client.h"
#include "test/support/process.h"

namespace tokenaudit::testing {

// 32 bytes, hex: the pseudonym key every test server uses.
inline constexpr char kPseudonymKeyEnv[] =
    "TOKENAUDIT_PSEUDONYM_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta_serve_XXXXXX";
    dir_ = mkdtemp(tmpl);
    data_ = dir_ + "/data";
    server_ = std::make_unique<ServerProcess>(TOKENAUDIT_BIN, dir_);
    admin_ = CreateKey("admin", "ops-admin");
    auditor_ = CreateKey("auditor", "audit-team");
    ingest_ = CreateKey("ingest", "comfy-gateway");
    alice_ = CreateKey("user", "alice");
    bob_ = CreateKey("user", "bob");
  }
  void TearDown() override {
    server_->Kill();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  std::string CreateKey(const std::string& role, const std::string& name) {
    CommandResult r = RunCommand({TOKENAUDIT_BIN, "keys", "create", "--data-dir", data_, "--role",
                                  role, "--name", name},
                                 {kPseudonymKeyEnv}, dir_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string key = r.out;
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    return key;
  }

  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--data-dir", data_, "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(server_->Start(args, {kPseudonymKeyEnv})) << server_->AllOutput();
    client_ = std::make_unique<HttpClient>(server_->port());
  }

  HttpResult Post(const std::string& key, const std::string& body,
                  const std::string& type = "application/json") {
    std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", type}};
    if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
    return client_->Request("POST", "/v1/events", body, h);
  }
  HttpResult Get(const std::string& key, const std::string& target) {
    std::vector<std::pair<std::string, std::string>> h;
    if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
    return client_->Request("GET", target, "", h);
  }

  // A DDColor-shaped record.
  static std::string Record(const std::string& id, const std::string& user, int w = 460,
                            int h = 680, const std::string& extra = "") {
    return "{\"id\":\"" + id + "\",\"source\":\"test/e2e\",\"tenant\":\"city-archive\",\"user\":\"" +
           user +
           "\",\"start_time\":\"2026-11-30T10:00:00.000000Z\",\"time\":\"2026-11-30T10:00:02."
           "480000Z\",\"duration_ms\":2480,\"task_type\":\"image_colorization\",\"workflow\":"
           "\"portrait\",\"node_id\":\"2\",\"node_type\":\"DDColor_Colorize\",\"gen_ai.request."
           "model\":\"ddcolor_paper_tiny\",\"device\":\"cuda\",\"input.width\":" +
           std::to_string(w) + ",\"input.height\":" + std::to_string(h) +
           ",\"input.batch\":1,\"input.model_input_size\":512,\"input.hash\":\"sha256:" +
           std::string(64, 'a') + "\",\"status\":\"success\"" + extra + "}";
  }

  std::string dir_, data_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<HttpClient> client_;
  std::string admin_, auditor_, ingest_, alice_, bob_;
};

// Occurrences of `needle` in `hay`.
inline size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace tokenaudit::testing

#endif  // TOKENAUDIT_TEST_SERVE_SERVE_TEST_UTIL_H_
