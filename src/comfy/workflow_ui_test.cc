// UI-format (LiteGraph) workflows: conversion as the frontend's graphToPrompt does it
// (protocol.md §4.3).

#include <gtest/gtest.h>

#include <string>

#include "src/comfy/workflow.h"

namespace tokenaudit::comfy {
namespace {

Result<Workflow> Ui(std::string_view json, const NodeCatalog& catalog = NodeCatalog::Default()) {
  return ParseWorkflow(json, catalog);
}

std::string Api(std::string_view ui_json) {
  Result<Workflow> w = Ui(ui_json);
  if (!w.ok()) return w.status().ToString();
  Result<std::string> api = EncodeApiPrompt(*w);
  return api.ok() ? *api : api.status().ToString();
}

// LoadImage(1) -> X(2, variable) -> DDColor(3) -> SaveImage(4); node 2's class and mode vary.
std::string Chain(std::string_view middle_type, int middle_mode) {
  return R"({"nodes": [
    {"id": 1, "type": "LoadImage", "mode": 0, "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
     "widgets_values": ["a.png", "image"]},
    {"id": 2, "type": ")" + std::string(middle_type) + R"(", "mode": )" +
         std::to_string(middle_mode) + R"(,
     "inputs": [{"name": "image", "type": "IMAGE", "link": 1}],
     "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}]},
    {"id": 3, "type": "DDColor_Colorize",
     "inputs": [{"name": "image", "type": "IMAGE", "link": 2},
                {"name": "model_input_size", "type": "INT", "widget": {"name": "model_input_size"}, "link": null}],
     "widgets_values": [256, "ddcolor_paper.pth"]},
    {"id": 4, "type": "SaveImage", "inputs": [{"name": "images", "type": "IMAGE", "link": 3}],
     "widgets_values": ["out"]}],
   "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 3, 0, 4, 0, "IMAGE"]],
   "version": 0.4})";
}

TEST(WorkflowUiTest, PlainChainConvertsWithUploadWidgetDropped) {
  EXPECT_EQ(Api(Chain("ImageInvert", 0)),
            R"({"1":{"class_type":"LoadImage","inputs":{"image":"a.png"}},)"
            R"("2":{"class_type":"ImageInvert","inputs":{"image":["1",0]}},)"
            R"("3":{"class_type":"DDColor_Colorize","inputs":{"checkpoint":"ddcolor_paper.pth",)"
            R"("image":["2",0],"model_input_size":256}},)"
            R"("4":{"class_type":"SaveImage","inputs":{"filename_prefix":"out","images":["3",0]}}})");
}

TEST(WorkflowUiTest, BypassedNodeIsLookedThroughByLinkType) {
  const std::string api = Api(Chain("ImageInvert", 4));
  EXPECT_EQ(api.find("\"2\":"), std::string::npos) << api;
  EXPECT_NE(api.find(R"("image":["1",0],"model_input_size")"), std::string::npos) << api;
}

TEST(WorkflowUiTest, RerouteIsLookedThrough) {
  const std::string api = Api(Chain("Reroute", 0));
  EXPECT_EQ(api.find("\"2\":"), std::string::npos) << api;
  EXPECT_NE(api.find(R"("image":["1",0])"), std::string::npos) << api;
}

TEST(WorkflowUiTest, MutedNodeAndItsLinksDisappear) {
  Result<Workflow> w = Ui(Chain("ImageInvert", 2));
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->Node("2"), nullptr);
  EXPECT_EQ(w->Node("3")->Input("image"), nullptr);  // the frontend deletes the dangling link
}

TEST(WorkflowUiTest, LinkedWidgetSocketWinsAndPrimitiveBecomesLiteral) {
  // model_input_size fed by a PrimitiveNode (its value is the consumer's widget value), and
  // checkpoint converted to a socket fed by a real node (the link wins).
  const char* json = R"({"nodes": [
    {"id": 1, "type": "LoadImage", "widgets_values": ["a.png", "image"]},
    {"id": 5, "type": "PrimitiveNode", "outputs": [{"links": [7]}], "widgets_values": [384, "fixed"]},
    {"id": 6, "type": "CheckpointPicker", "widgets_values": ["x"]},
    {"id": 3, "type": "DDColor_Colorize",
     "inputs": [{"name": "image", "type": "IMAGE", "link": 1},
                {"name": "model_input_size", "type": "INT", "widget": {"name": "model_input_size"}, "link": 7},
                {"name": "checkpoint", "type": "COMBO", "widget": {"name": "checkpoint"}, "link": 8}],
     "widgets_values": [384, "ddcolor_artistic.pth"]},
    {"id": 9, "type": "Note", "widgets_values": ["a note"]}],
   "links": [{"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": 3, "target_slot": 0, "type": "IMAGE"},
             {"id": 7, "origin_id": 5, "origin_slot": 0, "target_id": 3, "target_slot": 1, "type": "INT"},
             {"id": 8, "origin_id": 6, "origin_slot": 0, "target_id": 3, "target_slot": 2, "type": "COMBO"}]})";
  Result<Workflow> w = Ui(json);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->nodes.size(), 3u);  // PrimitiveNode and Note are virtual
  const WorkflowNode* dd = w->Node("3");
  ASSERT_NE(dd, nullptr);
  EXPECT_EQ(dd->Input("model_input_size")->int_value, 384);
  ASSERT_TRUE(dd->Input("checkpoint")->is_link());
  EXPECT_EQ(dd->Input("checkpoint")->link, (OutputRef{"6", 0}));
  // CheckpointPicker is not in the catalog: its widgets stay unnamed and block API encoding.
  EXPECT_EQ(w->Node("6")->unnamed_widgets.size(), 1u);
  Result<std::string> api = EncodeApiPrompt(*w);
  ASSERT_FALSE(api.ok());
  EXPECT_EQ(api.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(api.status().message(),
            "node 6 (CheckpointPicker) has widget values the node catalog cannot name");
}

TEST(WorkflowUiTest, WidgetValuesAsObjectAndArraysWrapped) {
  NodeCatalog catalog = NodeCatalog::Default();
  NodeSpec lister;
  lister.class_type = "ListNode";
  lister.widgets = {{"items"}};
  catalog.Add(lister);
  Result<Workflow> w = Ui(R"({"nodes": [
      {"id": 1, "type": "DDColor_Colorize", "widgets_values": {"checkpoint": "c.pth", "model_input_size": 512}},
      {"id": 2, "type": "ListNode", "widgets_values": [[1, 2]]}], "links": []})",
                          catalog);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->Node("1")->Input("checkpoint")->text, "c.pth");
  EXPECT_EQ(w->Node("1")->Input("model_input_size")->int_value, 512);
  EXPECT_EQ(w->Node("2")->Input("items")->text, R"({"__value__":[1,2]})");
}

TEST(WorkflowUiTest, CycleOfReroutesEndsAndDropsTheInput) {
  Result<Workflow> w = Ui(R"({"nodes": [
      {"id": 1, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 2}]},
      {"id": 2, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 1}]},
      {"id": 3, "type": "ImageInvert", "inputs": [{"name": "image", "type": "IMAGE", "link": 1}]}],
     "links": [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 1, 0, "*"], [3, 1, 0, 3, 0, "IMAGE"]]})");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->nodes.size(), 1u);
  EXPECT_TRUE(w->nodes[0].inputs.empty());
}

TEST(WorkflowUiTest, ErrorsNameTheField) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"({"nodes": [{"id": 1, "type": "DDColor_Colorize", "widgets_values": [512]}]})",
       "nodes[0].widgets_values: 1 values where the catalog lists 2 widgets for DDColor_Colorize"},
      {R"({"nodes": [{"id": 1, "type": "DDColor_Colorize", "widgets_values": {"checkpoint": "c"}}]})",
       "nodes[0].widgets_values.model_input_size: missing"},
      {R"({"nodes": [{"id": 1, "type": "A"}, {"id": 1, "type": "B"}]})",
       "nodes[1].id: duplicate node id"},
      {R"({"nodes": [{"id": 1}]})", "nodes[0].type: missing"},
      {R"({"nodes": [{"type": "A"}]})", "nodes[0].id: missing"},
      {R"({"nodes": [{"id": 1.5, "type": "A"}]})", "nodes[0].id: must be an integer or a short string"},
      {R"({"nodes": [{"id": 1, "type": "A", "mode": "x"}]})", "nodes[0].mode: must be an integer"},
      {R"({"nodes": [{"id": 1, "type": "A", "inputs": [{"link": 1}]}]})",
       "nodes[0].inputs[0].name: missing"},
      {R"({"nodes": [{"id": 1, "type": "A", "inputs": [{"name": "i", "link": "1"}]}]})",
       "nodes[0].inputs[0].link: must be an integer or null"},
      {R"({"nodes": [{"id": 1, "type": "A", "widgets_values": 3}]})",
       "nodes[0].widgets_values: must be an array or an object"},
      {R"({"nodes": [], "links": [[1, 2]]})", "links[0]: a link array needs at least 5 entries"},
      {R"({"nodes": [], "links": [[1, 2, 0, 3, 0], [1, 2, 0, 3, 0]]})", "links[1].id: duplicate link id"},
      {R"({"nodes": [], "links": [{"id": 1}]})",
       "links[0]: a link object needs id, origin_id and origin_slot"},
      {R"({"nodes": [], "links": [[1, 2, -1, 3, 0]]})",
       "links[0].origin_slot: must be a non-negative integer"},
      {R"({"nodes": [], "links": {}})", "links: must be an array"},
  };
  for (const Case& c : cases) {
    Result<Workflow> r = Ui(c.json);
    ASSERT_FALSE(r.ok()) << c.json;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), c.message) << c.json;
  }
  // In a POST /prompt body the paths start at "prompt".
  Result<PromptRequest> p = ParsePromptBody(R"({"prompt": {"nodes": [{"id": 1}]}})",
                                            NodeCatalog::Default());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(), "prompt.nodes[0].type: missing");
}

}  // namespace
}  // namespace tokenaudit::comfy
