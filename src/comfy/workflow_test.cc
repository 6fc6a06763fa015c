#include "src/comfy/workflow.h"

#include <gtest/gtest.h>

#include <string>

#include "test/support/comfy_captures.h"

namespace tokenaudit::comfy {
namespace {

using testing::CapturedPromptFromHistory;
using testing::ReadCaptureFile;

InputValue Link(std::string id, int64_t slot) {
  InputValue v;
  v.kind = InputValue::Kind::kLink;
  v.link = {std::move(id), slot};
  return v;
}
InputValue Int(int64_t i) {
  InputValue v;
  v.kind = InputValue::Kind::kInt;
  v.int_value = i;
  return v;
}
InputValue Str(std::string s) {
  InputValue v;
  v.kind = InputValue::Kind::kString;
  v.text = std::move(s);
  return v;
}

Result<PromptRequest> Parse(std::string_view body, const WorkflowLimits& limits = {}) {
  return ParsePromptBody(body, NodeCatalog::Default(), limits);
}

void ExpectError(std::string_view body, StatusCode code, std::string_view message,
                 const WorkflowLimits& limits = {}) {
  Result<PromptRequest> r = Parse(body, limits);
  ASSERT_FALSE(r.ok()) << body;
  EXPECT_EQ(r.status().code(), code) << r.status();
  EXPECT_TRUE(r.status().message().starts_with(message)) << r.status() << " for " << body;
}

TEST(WorkflowTest, CapturedDdcolorPromptBecomesATypedGraph) {
  const testing::CapturedPrompt captured = CapturedPromptFromHistory("ddcolor_legacy");
  Result<PromptRequest> r = Parse(captured.body);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->client_id, "gw-legacy-ef55ac");
  const Workflow& w = r->workflow;
  EXPECT_EQ(w.format, WorkflowFormat::kApi);
  ASSERT_EQ(w.nodes.size(), 4u);
  EXPECT_EQ(w.nodes[0].id, "10");
  EXPECT_EQ(w.nodes[0].class_type, "LoadImage");
  EXPECT_EQ(w.nodes[0].title, "Load Image");
  EXPECT_EQ(*w.nodes[0].Input("image"), Str("gw/probe (1).png"));
  const WorkflowNode* dd = w.Node("11");
  ASSERT_NE(dd, nullptr);
  EXPECT_EQ(dd->class_type, "DDColor_Colorize");
  EXPECT_EQ(dd->inputs, (std::vector<WorkflowInput>{{"image", Link("10", 0)},
                                                     {"model_input_size", Int(512)},
                                                     {"checkpoint", Str("ddcolor_paper_tiny.pth")}}));
  const WorkflowNode* probe = w.Node("12");
  ASSERT_NE(probe, nullptr);
  EXPECT_EQ(probe->Input("send_preview")->kind, InputValue::Kind::kBool);
  EXPECT_TRUE(probe->Input("send_preview")->bool_value);
  EXPECT_EQ(*w.Node("13")->Input("images"), Link("12", 0));
  EXPECT_EQ(w.Node("99"), nullptr);
}

TEST(WorkflowTest, EveryCapturedPromptParses) {
  for (const char* key : {"builtin", "builtin_cached", "ddcolor_legacy", "ddcolor_flags",
                          "runtime_error", "interrupt", "front"}) {
    const testing::CapturedPrompt captured = CapturedPromptFromHistory(key);
    Result<PromptRequest> r = Parse(captured.body);
    ASSERT_TRUE(r.ok()) << key << ": " << r.status();
    EXPECT_EQ(r->workflow.nodes.size(), 4u) << key;
    // Canonical API JSON of the captured prompt parses back to the same bytes.
    Result<std::string> encoded = EncodeApiPrompt(r->workflow);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    Result<Workflow> again = ParseWorkflow(*encoded, NodeCatalog::Default());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*EncodeApiPrompt(*again), *encoded) << key;
  }
}

TEST(WorkflowTest, BodyFieldsOfPostPrompt) {
  Result<PromptRequest> r = Parse(
      R"({"prompt": {"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}}},
          "client_id": "c1", "prompt_id": "gw-0001", "number": 7.5, "front": true,
          "partial_execution_targets": ["1"], "unknown_key": [1, 2],
          "extra_data": {"extra_pnginfo": {"workflow": {"note": "ui"}}, "api_key_comfy_org": "k"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->client_id, "c1");
  EXPECT_EQ(r->prompt_id, "gw-0001");
  EXPECT_EQ(r->number, 7.5);
  EXPECT_TRUE(r->front);
  EXPECT_EQ(r->partial_execution_targets, std::vector<std::string>{"1"});
  EXPECT_EQ(r->extra_data_json,
            R"({"extra_pnginfo":{"workflow":{"note":"ui"}},"api_key_comfy_org":"k"})");
  Result<PromptRequest> bare = Parse(R"({"prompt": {}})");
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->client_id.empty());
  EXPECT_FALSE(bare->number.has_value());
  EXPECT_TRUE(bare->workflow.nodes.empty());
}

TEST(WorkflowTest, LiteralKinds) {
  Result<Workflow> w = ParseWorkflow(
      R"({"1": {"class_type": "X", "inputs": {"i": -3, "f": 1.5, "b": false, "n": null,
          "s": "t\u00e9", "l": {"__value__": [1, 2]}, "big": 18446744073709551615,
          "o": {"a": 1}}, "_meta": {"title": 5}}})",
      NodeCatalog::Default());
  ASSERT_TRUE(w.ok()) << w.status();
  const WorkflowNode& n = w->nodes[0];
  EXPECT_EQ(n.title, "");  // a non-string title is ignored, as ComfyUI ignores _meta
  EXPECT_EQ(n.Input("i")->int_value, -3);
  EXPECT_EQ(n.Input("f")->kind, InputValue::Kind::kDouble);
  EXPECT_EQ(n.Input("f")->double_value, 1.5);
  EXPECT_EQ(n.Input("b")->kind, InputValue::Kind::kBool);
  EXPECT_EQ(n.Input("n")->kind, InputValue::Kind::kNull);
  EXPECT_EQ(n.Input("s")->text, "t\xc3\xa9");
  EXPECT_EQ(n.Input("l")->kind, InputValue::Kind::kJson);
  EXPECT_EQ(n.Input("l")->text, R"({"__value__":[1,2]})");
  EXPECT_EQ(n.Input("big")->text, "18446744073709551615");
  EXPECT_EQ(n.Input("o")->text, R"({"a":1})");
}

TEST(WorkflowTest, ErrorsNameTheField) {
  const StatusCode kBad = StatusCode::kInvalidArgument;
  ExpectError(R"({"client_id": "x"})", kBad, "prompt: missing");
  ExpectError(R"([1])", kBad, "body: must be a JSON object");
  ExpectError(R"({"prompt": []})", kBad, "prompt: must be an object");
  ExpectError(R"({"prompt": {"1": 3}})", kBad, "prompt.1: must be an object");
  ExpectError(R"({"prompt": {"1": {"inputs": {}}}})", kBad, "prompt.1.class_type: missing");
  ExpectError(R"({"prompt": {"1": {"class_type": 7}}})", kBad,
              "prompt.1.class_type: must be a string");
  ExpectError(R"({"prompt": {"1": {"class_type": "A", "inputs": []}}})", kBad,
              "prompt.1.inputs: must be an object");
  // validation_errors.json "bad_link": ComfyUI answers bad_linked_input for ["2", 0, 1].
  const std::string bad_link =
      R"({"prompt": {"2": {"class_type": "A"}, "3": {"class_type": "ImageInvert",
          "inputs": {"image": ["2", 0, 1]}}}})";
  ExpectError(bad_link, kBad,
              "prompt.3.inputs.image: a list must be a link [node_id, output_index]; wrap literal "
              "lists as {\"__value__\": [...]}");
  ExpectError(R"({"prompt": {"3": {"class_type": "A", "inputs": {"image": [2, 0]}}}})", kBad,
              "prompt.3.inputs.image: a list must be a link [node_id, output_index]; wrap literal "
              "lists as {\"__value__\": [...]}");
  ExpectError(R"({"prompt": {"3": {"class_type": "A", "inputs": {"image": ["9", 0]}}}})", kBad,
              "prompt.3.inputs.image: links to a node that is not in the workflow");
  ExpectError(R"({"prompt": {"1": {"class_type": "A"}, "1": {"class_type": "B"}}})", kBad,
              "prompt.1: duplicate key");
  ExpectError(R"({"prompt": {"1": {"class_type": "A", "inputs": {"x": 1, "x": 2}}}})", kBad,
              "prompt.1.inputs.x: duplicate key");
  ExpectError(R"({"prompt": {}, "prompt": {}})", kBad, "prompt: duplicate key");
  ExpectError(R"({"prompt": {}, "client_id": 5})", kBad, "client_id: must be a string");
  ExpectError(R"({"prompt": {}, "number": "1"})", kBad, "number: must be a number");
  ExpectError(R"({"prompt": {}, "front": 1})", kBad, "front: must be a boolean");
  ExpectError(R"({"prompt": {}, "partial_execution_targets": [1]})", kBad,
              "partial_execution_targets[0]: must be a string");
  ExpectError(R"({"prompt": {}, "extra_data": []})", kBad, "extra_data: must be an object");
  ExpectError(R"({"prompt": {)", kBad, "body: malformed JSON (");
  ExpectError("{\"prompt\": {\"1\": {\"class_type\": \"a\x01\"}}}", kBad, "body: malformed JSON");
  ExpectError(R"({"prompt": {}} x)", kBad, "body: malformed JSON");
}

TEST(WorkflowTest, LimitsAreCheckedBeforeAndWhileParsing) {
  WorkflowLimits tiny;
  tiny.max_body_bytes = 64;
  tiny.max_depth = 4;
  tiny.max_nodes = 2;
  tiny.max_inputs_per_node = 1;
  tiny.max_string_bytes = 10;
  ExpectError(std::string(65, ' '), StatusCode::kResourceExhausted,
              "body: 65 bytes, over the limit of 64", tiny);
  ExpectError(R"({"prompt": {"1": {"inputs": {"a": [[1]]}}}})", StatusCode::kInvalidArgument,
              "body: JSON nested deeper than 4", tiny);
  ExpectError(R"({"prompt": {"1": {}, "2": {}, "3": {}}})", StatusCode::kResourceExhausted,
              "prompt: more nodes than the limit", tiny);
  ExpectError(R"({"prompt": {"1": {"inputs": {"a": 1, "b": 2}}}})",
              StatusCode::kResourceExhausted, "prompt.1.inputs: more inputs than the limit", tiny);
  ExpectError(R"({"prompt": {"1": {"class_type": "12345678901"}}})",
              StatusCode::kResourceExhausted, "prompt.1.class_type: string longer than the limit",
              tiny);
  // The default depth limit also protects the parser from a deep body.
  ExpectError("{\"prompt\": " + std::string(100, '[') + std::string(100, ']') + "}",
              StatusCode::kInvalidArgument, "body: JSON nested deeper than 64");
}

TEST(WorkflowTest, CanonicalApiJsonIsSortedWithoutMetaAndKeepsFloats) {
  Result<Workflow> w = ParseWorkflow(
      R"({"b": {"class_type": "Y", "inputs": {"z": 1.0, "a": ["a", 1], "m": 0.1}},
          "a": {"class_type": "X", "inputs": {"s": "q\"\n"}, "_meta": {"title": "T"}}})",
      NodeCatalog::Default());
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*EncodeApiPrompt(*w),
            R"({"a":{"class_type":"X","inputs":{"s":"q\"\u000a"}},)"
            R"("b":{"class_type":"Y","inputs":{"a":["a",1],"m":0.1,"z":1.0}}})");
  Result<std::string> hash = WorkflowHash(*w);
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->size(), 7u + 64u);
  EXPECT_EQ(hash->substr(0, 7), "sha256:");
}

TEST(WorkflowTest, ProtocolExampleInBothFormatsHasOneWorkflowHash) {
  Result<Workflow> api = ParseWorkflow(ReadCaptureFile("protocol_4_2_api.json"),
                                       NodeCatalog::Default());
  Result<Workflow> ui = ParseWorkflow(ReadCaptureFile("protocol_4_2_ui.json"),
                                      NodeCatalog::Default());
  ASSERT_TRUE(api.ok()) << api.status();
  ASSERT_TRUE(ui.ok()) << ui.status();
  EXPECT_EQ(api->format, WorkflowFormat::kApi);
  EXPECT_EQ(ui->format, WorkflowFormat::kUi);
  EXPECT_EQ(*EncodeApiPrompt(*ui), *EncodeApiPrompt(*api));
  EXPECT_EQ(*WorkflowHash(*ui), *WorkflowHash(*api));
  // The same UI workflow as a POST /prompt "prompt", and as a bare body (the saved file).
  Result<PromptRequest> wrapped = Parse("{\"prompt\": " + ReadCaptureFile("protocol_4_2_ui.json") +
                                        ", \"client_id\": \"u\"}");
  ASSERT_TRUE(wrapped.ok()) << wrapped.status();
  EXPECT_EQ(wrapped->workflow, *ui);
  Result<PromptRequest> bare = Parse(ReadCaptureFile("protocol_4_2_ui.json"));
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ(bare->workflow, *ui);
}

}  // namespace
}  // namespace tokenaudit::comfy
