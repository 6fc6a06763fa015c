#include "src/gateway/run_recorder.h"

#include <gtest/gtest.h>

namespace tokenaudit::gateway {
namespace {

UpstreamEvent Ev(const std::string& json) {
  auto e = ParseUpstreamEvent(json);
  EXPECT_TRUE(e.ok()) << json;
  return *e;
}

std::string Executing(const std::string& p, const std::string& node) {
  return R"({"type":"executing","data":{"node":")" + node + R"(","prompt_id":")" + p + R"("}})";
}

class RunRecorderTest : public ::testing::Test {
 protected:
  RunRecorderTest() : rec_("comfyui-gateway/test", [this](UsageRecord r) { out_.push_back(r); }) {}

  PromptInfo Info(const std::string& id) {
    PromptInfo p;
    p.prompt_id = id;
    p.tenant = "city-archive";
    p.user = "u_alice";
    p.workflow_hash = "sha256:00";
    p.task_type = "image_colorization";
    RecordableNode dd;
    dd.node_id = "2";
    dd.class_type = "DDColor_Colorize";
    dd.model = "ddcolor_paper_tiny";
    dd.width = 460;
    dd.height = 680;
    dd.batch = 1;
    dd.input_hash = "sha256:ab";
    RecordableNode probe;
    probe.node_id = "5";
    probe.class_type = "AuditProbeSlow";
    p.nodes = {dd, probe};
    p.submitted_us = 1'000;
    return p;
  }

  const UsageRecord* Find(const std::string& id) {
    for (const UsageRecord& r : out_) {
      if (r.id == id) return &r;
    }
    return nullptr;
  }

  std::vector<UsageRecord> out_;
  RunRecorder rec_;
};

TEST_F(RunRecorderTest, NodesAreTimedBetweenExecutingEvents) {
  rec_.Submitted(Info("p"), false);
  rec_.OnEvent(Ev(R"({"type":"execution_start","data":{"prompt_id":"p","timestamp":1}})"), 10'000);
  rec_.OnEvent(Ev(R"({"type":"execution_cached","data":{"nodes":[],"prompt_id":"p"}})"), 10'000);
  rec_.OnEvent(Ev(Executing("p", "1")), 11'000);
  rec_.OnEvent(Ev(Executing("p", "2")), 12'000);
  EXPECT_EQ(rec_.running(), "p");
  rec_.OnEvent(Ev(Executing("p", "3")), 2'512'000);
  rec_.OnEvent(Ev(Executing("p", "5")), 2'600'000);
  rec_.OnEvent(Ev(R"({"type":"execution_success","data":{"prompt_id":"p","timestamp":9}})"),
               3'600'000);
  EXPECT_FALSE(rec_.OnEvent(Ev(R"({"type":"executing","data":{"node":null,"prompt_id":"p"}})"),
                            3'600'001));
  ASSERT_EQ(out_.size(), 3u);
  const UsageRecord* dd = Find("p/2");
  ASSERT_NE(dd, nullptr);
  EXPECT_EQ(dd->status, "success");
  EXPECT_EQ(dd->start_time_us, 12'000);
  EXPECT_EQ(dd->time_us, 2'512'000);
  EXPECT_EQ(dd->duration_ms, 2500);
  EXPECT_EQ(dd->model, "ddcolor_paper_tiny");
  EXPECT_EQ(dd->input_width, 460);
  EXPECT_EQ(dd->capture, "gateway");
  EXPECT_EQ(dd->user, "u_alice");
  EXPECT_EQ(dd->source, "comfyui-gateway/test");
  EXPECT_EQ(Find("p/5")->duration_ms, 1000);
  const UsageRecord* sum = Find("p/prompt");
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(sum->status, "success");
  EXPECT_EQ(sum->node_id, "");
  EXPECT_EQ(sum->operation_name, "comfyui.prompt");
  EXPECT_EQ(sum->duration_ms, 3590);
  EXPECT_EQ(rec_.Outcome("p"), "success");
  EXPECT_TRUE(rec_.Active().empty());
  EXPECT_EQ(rec_.running(), "");
}

TEST_F(RunRecorderTest, CachedErrorAndInterrupt) {
  rec_.Submitted(Info("c"), false);
  rec_.OnEvent(Ev(R"({"type":"execution_cached","data":{"nodes":["1","2","5"],"prompt_id":"c"}})"), 5);
  rec_.OnEvent(Ev(R"({"type":"execution_success","data":{"prompt_id":"c"}})"), 6);
  EXPECT_EQ(Find("c/2")->status, "cached");
  EXPECT_EQ(Find("c/5")->status, "cached");
  EXPECT_FALSE(Find("c/2")->duration_ms.has_value());

  rec_.Submitted(Info("e"), false);
  rec_.OnEvent(Ev(Executing("e", "2")), 100);
  rec_.OnEvent(Ev(Executing("e", "5")), 200);
  rec_.OnEvent(Ev(R"({"type":"execution_error","data":{"prompt_id":"e","node_id":"5","exception_type":"ValueError","executed":["2"]}})"), 300);
  EXPECT_EQ(Find("e/2")->status, "success");
  EXPECT_EQ(Find("e/5")->status, "error");
  EXPECT_EQ(Find("e/5")->error_type, "ValueError");
  EXPECT_EQ(Find("e/prompt")->status, "error");

  rec_.Submitted(Info("i"), false);
  rec_.OnEvent(Ev(Executing("i", "5")), 100);
  rec_.OnEvent(Ev(R"({"type":"execution_interrupted","data":{"prompt_id":"i","node_id":"5","executed":[]}})"), 300);
  EXPECT_EQ(Find("i/5")->status, "interrupted");
  EXPECT_EQ(Find("i/5")->error_type, "interrupted");
  EXPECT_EQ(Find("i/prompt")->status, "interrupted");
  EXPECT_EQ(Find("i/2"), nullptr);  // never ran
}

TEST_F(RunRecorderTest, GapIsReconciledFromHistoryWithoutDoubles) {
  rec_.Submitted(Info("g"), false);
  rec_.OnEvent(Ev(Executing("g", "2")), 1'000'000);
  rec_.MarkGap();
  EXPECT_EQ(rec_.ActiveWithGap(), std::vector<std::string>{"g"});
  HistoryOutcome h;
  h.found = true;
  h.finished = false;
  EXPECT_FALSE(rec_.Reconcile("g", h, 2'000'000));
  h.finished = true;
  h.status = "success";
  h.start_ms = 900;
  h.end_ms = 4'000;
  EXPECT_TRUE(rec_.Reconcile("g", h, 5'000'000));
  EXPECT_TRUE(rec_.Reconcile("g", h, 5'000'000));  // again: nothing new
  rec_.OnEvent(Ev(R"({"type":"execution_success","data":{"prompt_id":"g"}})"), 6'000'000);
  ASSERT_EQ(out_.size(), 3u);
  EXPECT_EQ(Find("g/2")->duration_ms, 3000);          // open node closed at history's end
  EXPECT_FALSE(Find("g/5")->duration_ms.has_value());  // never seen: untimed
  EXPECT_EQ(Find("g/5")->status, "success");
  EXPECT_EQ(Find("g/prompt")->time_us, 4'000'000);
}

TEST_F(RunRecorderTest, TerminalWithoutOutcomeAsksForHistory) {
  rec_.Submitted(Info("t"), false);
  EXPECT_TRUE(rec_.OnEvent(Ev(R"({"type":"executing","data":{"node":null,"prompt_id":"t"}})"), 1));
  EXPECT_TRUE(out_.empty());
  rec_.Lost("t", "error", "upstream_lost", 2);
  EXPECT_EQ(Find("t/prompt")->error_type, "upstream_lost");
  EXPECT_EQ(out_.size(), 1u);
}

TEST_F(RunRecorderTest, RejectedPromptHasOneRecordWithItsInput) {
  rec_.Rejected(Info("r"), "resolution_cap", 77);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].id, "r/prompt");
  EXPECT_EQ(out_[0].status, "rejected");
  EXPECT_EQ(out_[0].error_type, "resolution_cap");
  EXPECT_EQ(out_[0].input_width, 460);
  EXPECT_EQ(out_[0].model, "ddcolor_paper_tiny");
}

TEST_F(RunRecorderTest, FlaggedDuplicateNamesTheEarlierPromptOnEveryRecord) {
  PromptInfo info = Info("d");
  info.duplicate_of = "first";
  rec_.Submitted(info, false);
  rec_.OnEvent(Ev(R"({"type":"execution_cached","data":{"nodes":["1","2","5"],"prompt_id":"d"}})"), 5);
  rec_.OnEvent(Ev(R"({"type":"execution_success","data":{"prompt_id":"d"}})"), 6);
  ASSERT_EQ(out_.size(), 3u);
  for (const UsageRecord& r : out_) EXPECT_EQ(r.duplicate_of, "first/prompt") << r.id;
}

TEST_F(RunRecorderTest, EventsOfUnknownPromptsAndOddNodeIdsAreSafe) {
  rec_.OnEvent(Ev(Executing("nobody", "2")), 1);
  EXPECT_TRUE(out_.empty());
  EXPECT_EQ(NodeRecordId("p", "5:3"), "p/5:3");
  EXPECT_EQ(NodeRecordId("p", "a b").size(), 2u + 64u);
}

}  // namespace
}  // namespace tokenaudit::gateway
