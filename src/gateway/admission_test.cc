#include "src/gateway/admission.h"

#include <gtest/gtest.h>

namespace tokenaudit::gateway {
namespace {

constexpr int64_t kDay = 86'400'000'000;

comfy::WorkflowEstimate Estimate(int64_t w, int64_t h, const std::string& hash = "sha256:aa") {
  comfy::WorkflowEstimate e;
  comfy::ModelNodeEstimate n;
  n.node_id = "2";
  n.class_type = "DDColor_Colorize";
  n.model = "ddcolor_paper_tiny";
  n.model_input_size = 512;
  n.width = w;
  n.height = h;
  n.input_hash = hash;
  n.tokens_milli = w * h;
  e.model_nodes.push_back(n);
  e.tokens_milli = w * h;
  return e;
}

AdmissionRequest Req(const comfy::WorkflowEstimate& e, int64_t now, const std::string& id = "p",
                     const std::string& key = "k1") {
  AdmissionRequest r;
  r.key_id = key;
  r.user = "t\x1fu_alice";
  r.prompt_id = id;
  r.estimate = &e;
  r.now_us = now;
  return r;
}

TEST(AdmissionTest, ResolutionCapIsPerKey) {
  AdmissionOptions o;
  o.max_pixels = 1'000'000;
  o.key_limits["big"].max_pixels = 20'000'000;
  Admission a(o);
  auto small = Estimate(800, 600);
  auto large = Estimate(4000, 3000);
  EXPECT_TRUE(a.Admit(Req(small, 1)).admitted);
  AdmissionDecision d = a.Admit(Req(large, 2));
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, "resolution_cap");
  EXPECT_NE(d.message.find("4000x3000"), std::string::npos);
  EXPECT_NE(d.message.find("1.00 MP"), std::string::npos);
  EXPECT_TRUE(a.Admit(Req(large, 3, "q", "big")).admitted);
}

TEST(AdmissionTest, DailyTokenLimitResetsAtUtcMidnightAndRefunds) {
  AdmissionOptions o;
  o.daily_token_limit = 1000;  // tokens = 1,000,000 milli
  Admission a(o);
  auto e = Estimate(1000, 600);  // 600 tokens
  const int64_t t0 = 20000 * kDay + 10;
  EXPECT_TRUE(a.Admit(Req(e, t0)).admitted);
  AdmissionDecision d = a.Admit(Req(e, t0 + 1));
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, "daily_token_limit");
  EXPECT_EQ(a.UsedToday("t\x1fu_alice", t0), 600'000);
  a.Refund("t\x1fu_alice", 600'000, t0 + 2);
  EXPECT_TRUE(a.Admit(Req(e, t0 + 3)).admitted);
  EXPECT_TRUE(a.Admit(Req(e, t0 + kDay)).admitted);  // the next UTC day
}

TEST(AdmissionTest, DuplicatesAreFlaggedOrRefusedWithinTheWindow) {
  AdmissionOptions o;
  o.duplicate_window_s = 60;
  Admission flag(o);
  auto e = Estimate(460, 680);
  EXPECT_EQ(flag.Admit(Req(e, 1'000'000, "p1")).duplicate_of, "");
  AdmissionDecision d = flag.Admit(Req(e, 30'000'000, "p2"));
  EXPECT_TRUE(d.admitted);
  EXPECT_EQ(d.duplicate_of, "p1");
  EXPECT_EQ(flag.Admit(Req(e, 200'000'000, "p3")).duplicate_of, "");  // outside the window
  auto other = Estimate(460, 680, "sha256:bb");
  EXPECT_EQ(flag.Admit(Req(other, 201'000'000, "p4")).duplicate_of, "");

  o.refuse_duplicates = true;
  Admission refuse(o);
  EXPECT_TRUE(refuse.Admit(Req(e, 1'000'000, "p1")).admitted);
  d = refuse.Admit(Req(e, 2'000'000, "p2"));
  EXPECT_FALSE(d.admitted);
  EXPECT_EQ(d.reason, "duplicate_submission");
  EXPECT_EQ(d.duplicate_of, "p1");
}

TEST(AdmissionTest, DuplicateKeyNeedsKnownInputs) {
  EXPECT_EQ(DuplicateKey(Estimate(1, 1, "")), "");
  EXPECT_EQ(DuplicateKey(comfy::WorkflowEstimate{}), "");
  EXPECT_EQ(DuplicateKey(Estimate(1, 1)), DuplicateKey(Estimate(2, 2)));  // size is not a parameter
}

}  // namespace
}  // namespace tokenaudit::gateway
