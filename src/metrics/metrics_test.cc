#include "src/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tokenaudit::metrics {
namespace {

TEST(MetricsTest, RendersPrometheusTextFormat) {
  Registry r;
  Counter* a = r.AddCounter("ta_rejected_total", "Rejected records.", "reason=\"invalid_json\"");
  Counter* b = r.AddCounter("ta_rejected_total", "Rejected records.", "reason=\"too_deep\"");
  Histogram* h = r.AddHistogram("ta_fsync_seconds", "fsync latency.", {0.001, 0.01});
  r.AddGauge("ta_queue_depth", "Records queued.", [] { return 7.0; });
  a->Add(3);
  b->Add();
  h->Observe(0.0005);
  h->Observe(0.005);
  h->Observe(1.0);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE ta_rejected_total counter\n"), std::string::npos);
  EXPECT_EQ(text.find("# TYPE ta_rejected_total counter\n"),
            text.rfind("# TYPE ta_rejected_total counter\n"));  // described once
  EXPECT_NE(text.find("ta_rejected_total{reason=\"invalid_json\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("ta_rejected_total{reason=\"too_deep\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("ta_fsync_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ta_fsync_seconds_bucket{le=\"0.01\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("ta_fsync_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("ta_fsync_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(text.find("ta_queue_depth 7\n"), std::string::npos);
}

TEST(MetricsTest, NumbersAreWrittenAsShortAsTheyReadBack) {
  Registry r;
  Histogram* h = r.AddHistogram("ta_sync_seconds", "Sync latency.", {0.0001, 0.00025, 0.25});
  h->Observe(0.0002);
  r.AddGauge("ta_age_seconds", "Age.", [] { return 12.3456; });
  r.AddGauge("ta_unknown", "Not known yet.", [] { return std::nan(""); });
  const std::string text = r.Render();
  EXPECT_NE(text.find("ta_sync_seconds_bucket{le=\"0.0001\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ta_sync_seconds_bucket{le=\"0.00025\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ta_sync_seconds_bucket{le=\"0.25\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ta_sync_seconds_sum 0.0002\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ta_age_seconds 12.3456\n"), std::string::npos) << text;
  EXPECT_NE(text.find("ta_unknown NaN\n"), std::string::npos) << text;
}

TEST(MetricsTest, CounterReadAtRenderTime) {
  Registry r;
  uint64_t merges = 2;
  r.AddCounterFn("ta_merges_total", "Merges.", [&merges] { return merges; });
  EXPECT_NE(r.Render().find("# TYPE ta_merges_total counter\nta_merges_total 2\n"),
            std::string::npos)
      << r.Render();
  merges = 5;
  EXPECT_NE(r.Render().find("ta_merges_total 5\n"), std::string::npos);
}

}  // namespace
}  // namespace tokenaudit::metrics
