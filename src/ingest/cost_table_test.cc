#include "src/ingest/cost_table.h"

#include <gtest/gtest.h>

namespace tokenaudit::ingest {
namespace {

TEST(CostTableTest, SeedEstimatorIsWidthTimesHeightOverThousand) {
  UsageRecord r;
  EXPECT_FALSE(EstimateTokensMilli(r).has_value());
  r.input_width = 460;
  r.input_height = 680;
  EXPECT_EQ(*EstimateTokensMilli(r), 312'800);  // 312.8 tokens
  r.input_batch = 2;
  EXPECT_EQ(*EstimateTokensMilli(r), 625'600);
}

TEST(CostTableTest, DdcolorGflopsFollowTheMeasuredFit) {
  CostTable t = CostTable::Default();
  UsageRecord r;
  r.model = "ddcolor_paper_tiny.pth";
  r.input_model_input_size = 512;
  t.Apply(&r);
  EXPECT_EQ(*r.gflops_milli, 193'100);
  EXPECT_EQ(r.price_version, t.version());
  // At 256 the fit gives ≈ 50.3 GFLOPs (measured 50.3).
  r.input_model_input_size = 256;
  t.Apply(&r);
  EXPECT_NEAR(static_cast<double>(*r.gflops_milli), 50'300, 300);
  // Large checkpoints: 524.5 @512, ≈ 133.2 @256; batch multiplies.
  r.model = "ddcolor_modelscope";
  r.input_batch = 2;
  t.Apply(&r);
  EXPECT_NEAR(static_cast<double>(*r.gflops_milli), 2 * 133'200, 600);
  // Cost: micros_per_tflop × TFLOPs, integer micro-units.
  r.input_model_input_size = 512;
  r.input_batch = 1;
  t.Apply(&r);
  EXPECT_EQ(*r.cost_micros, int64_t{524'500} * 50'000 / 1'000'000);
}

TEST(CostTableTest, TextModelsAreChargedPerThousandTokensAndUnknownModelsNotAtAll) {
  CostTable t;
  t.set_version("v1");
  t.Add(ModelCost{"llm", 0, 2000, 512, 0, 150, 600, 10});
  UsageRecord r;
  r.model = "llm";
  r.input_tokens = 2000;
  r.output_tokens = 500;
  t.Apply(&r);
  EXPECT_FALSE(r.gflops_milli.has_value());
  EXPECT_EQ(*r.cost_micros, 10 + 300 + 300);
  UsageRecord u;
  u.model = "unknown";
  t.Apply(&u);
  EXPECT_FALSE(u.cost_micros.has_value());
  EXPECT_TRUE(u.price_version.empty());
}

TEST(CostTableTest, HugeValuesSaturateInsteadOfOverflowing) {
  CostTable t = CostTable::Default();
  UsageRecord r;
  r.model = "ddcolor_paper";
  r.input_model_input_size = 65536;
  r.input_batch = 10000;
  t.Apply(&r);
  EXPECT_GT(*r.gflops_milli, 0);
  EXPECT_GT(*r.cost_micros, 0);
}

}  // namespace
}  // namespace tokenaudit::ingest
