#include "src/config/config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace tokenaudit::config {
namespace {

TEST(ConfigTest, DefaultsAreValid) {
  ServeConfig c;
  EXPECT_TRUE(Validate(c).ok());
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.data_dir, "./tokenaudit-data");
  EXPECT_NE(c.pricing.Find("ddcolor_paper_tiny.pth"), nullptr);
}

TEST(ConfigTest, FileSetsSectionsAndPricing) {
  ServeConfig c;
  Status s = LoadString(R"(
data_dir = "/srv/ta"
listen = "0.0.0.0:9000"
[ledger]
durability = "interval"
sync_interval_ms = 20
[http]
max_body_bytes = 1048576
[pricing]
version = "2026-12"
[[pricing.models]]
name = "llama-3-8b"
micros_per_1k_input_tokens = 150
micros_per_1k_output_tokens = 600
[[pricing.models]]
name = "ddcolor_paper_tiny"
gflops_at_512 = 193.1
exponent = 1.94
micros_per_tflop = 80000
)",
                        "test.toml", &c);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(c.data_dir, "/srv/ta");
  EXPECT_EQ(c.durability, "interval");
  EXPECT_EQ(c.sync_interval_ms, 20u);
  EXPECT_EQ(c.max_body_bytes, 1048576u);
  EXPECT_EQ(c.pricing.version(), "2026-12");
  ASSERT_NE(c.pricing.Find("llama-3-8b"), nullptr);
  EXPECT_EQ(c.pricing.Find("llama-3-8b")->micros_per_1k_output_tokens, 600);
  EXPECT_EQ(c.pricing.Find("ddcolor_paper_tiny")->micros_per_tflop, 80000);
  EXPECT_EQ(c.pricing.Find("ddcolor_paper_tiny")->exponent_milli, 1940);
  EXPECT_TRUE(Validate(c).ok());
}

TEST(ConfigTest, GatewaySectionAndKeyLimits) {
  ServeConfig c;
  Status s = LoadString(R"(
[gateway]
listen = "127.0.0.1:8188"
comfyui_upstream = "http://127.0.0.1:8189"
ingest_key_file = "/etc/tokenaudit/gateway.key"
max_pixels = 4000000
daily_token_limit = 50000
duplicate_window_s = 60
duplicate_action = "refuse"
[[gateway.key_limits]]
key_id = "0a1b2c3d"
max_pixels = 16000000
)",
                        "gw.toml", &c);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(c.gateway_ingest_key_file, "/etc/tokenaudit/gateway.key");
  EXPECT_EQ(c.gateway_max_pixels, 4000000u);
  EXPECT_EQ(c.gateway_daily_token_limit, 50000u);
  EXPECT_EQ(c.gateway_duplicate_window_s, 60u);
  EXPECT_EQ(c.gateway_duplicate_action, "refuse");
  ASSERT_EQ(c.gateway_key_limits.size(), 1u);
  EXPECT_EQ(c.gateway_key_limits[0].key_id, "0a1b2c3d");
  EXPECT_EQ(c.gateway_key_limits[0].max_pixels, 16000000u);
  EXPECT_EQ(c.gateway_key_limits[0].daily_token_limit, 0u);
  EXPECT_TRUE(Validate(c).ok());
  c.gateway_duplicate_action = "warn";
  EXPECT_FALSE(Validate(c).ok());
  c.gateway_duplicate_action = "flag";
  c.comfyui_upstream.clear();
  EXPECT_FALSE(Validate(c).ok());

  ServeConfig bad;
  s = LoadString("[[gateway.key_limits]]\nmax_pixels = 5\n", "k.toml", &bad);
  EXPECT_NE(s.message().find("without key_id"), std::string_view::npos) << s;
  s = LoadString("[[gateway.key_limits]]\nkey_id = \"a\"\nmax_pixel = 5\n", "k.toml", &bad);
  EXPECT_NE(s.message().find("gateway.key_limits.max_pixel"), std::string_view::npos) << s;
}

TEST(ConfigTest, ErrorsNameTheKeyAndLine) {
  ServeConfig c;
  Status s = LoadString("[ledger]\ndurabilty = \"sync\"\n", "a.toml", &c);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("a.toml:2"), std::string_view::npos) << s;
  EXPECT_NE(s.message().find("ledger.durabilty"), std::string_view::npos) << s;
  s = LoadString("[http]\nmax_body_bytes = \"big\"\n", "b.toml", &c);
  EXPECT_NE(s.message().find("http.max_body_bytes must be a non-negative integer"),
            std::string_view::npos)
      << s;
  s = LoadString("listen = \n", "c.toml", &c);
  EXPECT_NE(s.message().find("c.toml:1"), std::string_view::npos) << s;
  s = LoadString("[pricing]\n[[pricing.models]]\nname=\"x\"\nprice=3\n", "d.toml", &c);
  EXPECT_NE(s.message().find("pricing.models.price"), std::string_view::npos) << s;
}

TEST(ConfigTest, EnvironmentOverridesFile) {
  ServeConfig c;
  ASSERT_TRUE(LoadString("listen = \"127.0.0.1:1\"\n", "x", &c).ok());
  std::map<std::string, std::string> env = {{"TOKENAUDIT_LISTEN", "127.0.0.1:2"},
                                            {"TOKENAUDIT_LEDGER_CHECKPOINT_EVERY_RECORDS", "7"}};
  auto getenv = [&env](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  ASSERT_TRUE(ApplyEnvironment(getenv, &c).ok());
  EXPECT_EQ(c.listen, "127.0.0.1:2");
  EXPECT_EQ(c.checkpoint_every_records, 7u);
  env["TOKENAUDIT_HTTP_THREADS"] = "two";
  Status s = ApplyEnvironment(getenv, &c);
  EXPECT_NE(s.message().find("TOKENAUDIT_HTTP_THREADS"), std::string_view::npos) << s;
}

TEST(ConfigTest, ValidateChecksValues) {
  ServeConfig c;
  c.durability = "sometimes";
  EXPECT_FALSE(Validate(c).ok());
  c = ServeConfig();
  c.listen = "localhost";
  EXPECT_FALSE(Validate(c).ok());
  std::string host;
  uint16_t port = 1;
  ASSERT_TRUE(SplitHostPort("[::1]:0", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(SplitHostPort("h:70000", &host, &port).ok());
}

TEST(ConfigTest, EverySettingHasAnEnvironmentVariable) {
  for (const auto& s : ListSettings()) {
    EXPECT_EQ(s.env_var.rfind("TOKENAUDIT_", 0), 0u);
    EXPECT_FALSE(s.help.empty());
  }
}

// The rows of a Markdown settings table in `path` ("| `key` | type | default | meaning |"): key ->
// {type, default}, the default without its backticks.
std::map<std::string, std::pair<std::string, std::string>> DocRows(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::map<std::string, std::pair<std::string, std::string>> rows;
  auto trim = [](std::string v) {
    v.erase(0, v.find_first_not_of(' '));
    v.erase(v.find_last_not_of(' ') + 1);
    if (v.size() >= 2 && v.front() == '`' && v.back() == '`') v = v.substr(1, v.size() - 2);
    return v;
  };
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line.substr(1));
    for (std::string cell; cells.size() < 3 && std::getline(ss, cell, '|');) {
      cells.push_back(trim(cell));
    }
    if (cells.size() == 3) rows[cells[0]] = {cells[1], cells[2]};
  }
  return rows;
}

// A documented default matches the code's; where the code has none (computed at startup, or
// off), the docs say what happens instead, in words.
void ExpectDocumentedDefault(const SettingInfo& s, const std::string& doc_type,
                             const std::string& doc_default, const std::string& where) {
  EXPECT_EQ(doc_type, s.type) << s.toml_key << " in " << where;
  if (s.default_value.empty()) {
    EXPECT_FALSE(doc_default.empty()) << s.toml_key << " in " << where;
  } else {
    EXPECT_EQ(doc_default, s.default_value) << s.toml_key << " in " << where;
  }
}

TEST(ConfigTest, ReferenceListsEverySettingWithItsDefault) {
  const std::string path = std::string(TOKENAUDIT_SOURCE_DIR) + "/doc/config.md";
  const auto rows = DocRows(path);
  for (const auto& s : ListSettings()) {
    auto it = rows.find(s.toml_key);
    if (it == rows.end()) {
      ADD_FAILURE() << s.toml_key << " is missing from " << path;
      continue;
    }
    ExpectDocumentedDefault(s, it->second.first, it->second.second, path);
  }
  EXPECT_EQ(rows.size(), ListSettings().size()) << "a row in " << path << " names no setting";
}

TEST(ConfigTest, ReadmeTableNamesRealSettingsWithTheirDefaults) {
  const std::string path = std::string(TOKENAUDIT_SOURCE_DIR) + "/README.md";
  const auto rows = DocRows(path);
  EXPECT_GE(rows.size(), 10u) << path << " has lost its configuration table";
  std::map<std::string, SettingInfo> settings;
  for (const auto& s : ListSettings()) settings[s.toml_key] = s;
  for (const auto& [key, row] : rows) {
    auto it = settings.find(key);
    if (it == settings.end()) {
      ADD_FAILURE() << key << " in " << path << " is not a setting";
      continue;
    }
    ExpectDocumentedDefault(it->second, row.first, row.second, path);
  }
  // The README's example file loads.
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const size_t from = readme.find("```toml\n");
  ASSERT_NE(from, std::string::npos) << path << " has lost its example file";
  const size_t to = readme.find("```", from + 8);
  ASSERT_NE(to, std::string::npos);
  ServeConfig c;
  Status st = LoadString(readme.substr(from + 8, to - from - 8), "README.md", &c);
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(c.default_tenant, "city-archive");
  EXPECT_TRUE(Validate(c).ok());
}

}  // namespace
}  // namespace tokenaudit::config
