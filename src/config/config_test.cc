#include "src/config/config.h"

#include <gtest/gtest.h>

#include <map>

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

}  // namespace
}  // namespace tokenaudit::config
