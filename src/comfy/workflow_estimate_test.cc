#include "src/comfy/workflow_estimate.h"

#include <gtest/gtest.h>

#include <string>

#include "test/support/comfy_captures.h"

namespace tokenaudit::comfy {
namespace {

const std::string kHashA(64, 'a');
const std::string kHashB(64, 'b');

Workflow Api(std::string_view json) {
  Result<Workflow> w = ParseWorkflow(json, NodeCatalog::Default());
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? *w : Workflow{};
}

WorkflowEstimate Estimate(const Workflow& w, const UploadIndex& uploads,
                          const NodeCatalog& catalog = NodeCatalog::Default()) {
  return EstimateWorkflow(w, catalog, uploads, ingest::CostTable::Default());
}

std::string DdcolorOn(std::string_view image_value, std::string_view checkpoint,
                      std::string_view size_json) {
  return R"({"1": {"class_type": "LoadImage", "inputs": {"image": ")" + std::string(image_value) +
         R"("}}, "2": {"class_type": "DDColor_Colorize", "inputs": {"image": ["1", 0],
         "model_input_size": )" + std::string(size_json) + R"(, "checkpoint": ")" +
         std::string(checkpoint) + R"("}}, "3": {"class_type": "SaveImage", "inputs":
         {"images": ["2", 0], "filename_prefix": "x"}}})";
}

TEST(WorkflowEstimateTest, CapturedDdcolorRunIsEstimatedLikeTheEnricher) {
  const testing::CapturedPrompt captured = testing::CapturedPromptFromHistory("ddcolor_legacy");
  Result<PromptRequest> body = ParsePromptBody(captured.body, NodeCatalog::Default());
  ASSERT_TRUE(body.ok()) << body.status();
  const WorkflowEstimate e = Estimate(body->workflow, {{"gw/probe (1).png", {1024, 768, kHashA}}});
  ASSERT_EQ(e.model_nodes.size(), 1u);
  const ModelNodeEstimate& dd = e.model_nodes[0];
  EXPECT_EQ(dd.node_id, "11");
  EXPECT_EQ(dd.class_type, "DDColor_Colorize");
  EXPECT_EQ(dd.task_type, "image_colorization");
  EXPECT_EQ(dd.checkpoint, "ddcolor_paper_tiny.pth");
  EXPECT_EQ(dd.model, "ddcolor_paper_tiny");
  EXPECT_EQ(dd.model_input_size, 512);
  EXPECT_EQ(dd.width, 1024);
  EXPECT_EQ(dd.height, 768);
  EXPECT_EQ(dd.batch, 1);
  EXPECT_EQ(dd.input_hash, "sha256:" + kHashA);
  EXPECT_EQ(dd.tokens_milli, 1024 * 768);  // 786.432 tokens
  EXPECT_EQ(dd.gflops_milli, 193'100);     // protocol.md §6.2: tiny @512 = 193.1 GFLOPs
  EXPECT_EQ(dd.cost_micros, 9'655);        // 0.1931 TFLOP × 50,000 micros per TFLOP
  EXPECT_EQ(dd.price_version, "builtin-2026-11");
  EXPECT_TRUE(dd.unknowns.empty());
  EXPECT_TRUE(e.complete);
  EXPECT_EQ(e.tokens_milli, 786'432);
  EXPECT_EQ(e.gflops_milli, 193'100);
  EXPECT_EQ(e.cost_micros, 9'655);
  EXPECT_EQ(e.input_hashes, std::vector<std::string>{"sha256:" + kHashA});
  // The test node of the captures is not in the catalog: reported, not guessed.
  EXPECT_EQ(e.unknown_nodes, (std::vector<UnknownNode>{{"12", "AuditProbeSlow"}}));
}

TEST(WorkflowEstimateTest, LargeCheckpointAtHalfSizeFollowsTheCostTable) {
  const WorkflowEstimate e = Estimate(Api(DdcolorOn("p.png [input]", "ddcolor_modelscope.pth", "256")),
                                      {{"p.png", {460, 680, kHashA}}});
  ASSERT_EQ(e.model_nodes.size(), 1u);
  EXPECT_EQ(e.model_nodes[0].tokens_milli, 460 * 680);
  EXPECT_EQ(e.model_nodes[0].gflops_milli, 133'232);  // §6.2 measured 133.2 @256
  EXPECT_EQ(e.model_nodes[0].cost_micros, 6'661);
  EXPECT_TRUE(e.unknown_nodes.empty());
}

TEST(WorkflowEstimateTest, ModelInputSizeIsReadAsComfyUiCoercesInts) {
  for (const char* size : {"512", "512.0", "512.9", "\"512\""}) {
    const WorkflowEstimate e = Estimate(Api(DdcolorOn("p.png", "ddcolor_paper_tiny.pth", size)),
                                        {{"p.png", {10, 10, kHashA}}});
    EXPECT_EQ(e.model_nodes[0].model_input_size, 512) << size;
    EXPECT_EQ(e.model_nodes[0].gflops_milli, 193'100) << size;
  }
  for (const char* size : {"0", "-32", "\"x\"", "null", "true"}) {
    const WorkflowEstimate e = Estimate(Api(DdcolorOn("p.png", "ddcolor_paper_tiny.pth", size)),
                                        {{"p.png", {10, 10, kHashA}}});
    EXPECT_FALSE(e.model_nodes[0].model_input_size.has_value()) << size;
    EXPECT_FALSE(e.model_nodes[0].gflops_milli.has_value()) << size;
    EXPECT_EQ(e.model_nodes[0].tokens_milli, 100) << size;  // the image is still known
    EXPECT_FALSE(e.complete);
    EXPECT_EQ(e.model_nodes[0].unknowns,
              std::vector<std::string>{"model_input_size: missing or not a positive integer"});
  }
}

TEST(WorkflowEstimateTest, NothingIsGuessed) {
  // An upload the gateway has not seen: no tokens, no hash; GFLOPs and cost do not need it.
  WorkflowEstimate e = Estimate(Api(DdcolorOn("other.png", "ddcolor_paper_tiny.pth", "512")),
                                {{"p.png", {10, 10, kHashA}}});
  EXPECT_FALSE(e.model_nodes[0].tokens_milli.has_value());
  EXPECT_TRUE(e.model_nodes[0].input_hash.empty());
  EXPECT_EQ(e.model_nodes[0].gflops_milli, 193'100);
  EXPECT_FALSE(e.complete);
  EXPECT_EQ(e.model_nodes[0].unknowns,
            std::vector<std::string>{"node 1 (LoadImage): the upload it loads is not registered"});
  // Other annotations are other directories: never an upload.
  e = Estimate(Api(DdcolorOn("p.png [output]", "ddcolor_paper_tiny.pth", "512")),
               {{"p.png", {10, 10, kHashA}}});
  EXPECT_FALSE(e.model_nodes[0].tokens_milli.has_value());
  // A checkpoint the cost table does not know.
  e = Estimate(Api(DdcolorOn("p.png", "my_finetune.safetensors", "512")), {{"p.png", {10, 10, kHashA}}});
  EXPECT_EQ(e.model_nodes[0].model, "my_finetune");
  EXPECT_FALSE(e.model_nodes[0].gflops_milli.has_value());
  EXPECT_FALSE(e.model_nodes[0].cost_micros.has_value());
  EXPECT_EQ(e.model_nodes[0].unknowns,
            std::vector<std::string>{"model my_finetune is not in the cost table"});
  // No checkpoint at all (ComfyUI would refuse it: required_input_missing).
  e = Estimate(Api(R"({"1": {"class_type": "LoadImage", "inputs": {"image": "p.png"}},
      "2": {"class_type": "DDColor_Colorize", "inputs": {"image": ["1", 0], "model_input_size": 512}}})"),
               {{"p.png", {10, 10, kHashA}}});
  EXPECT_EQ(e.model_nodes[0].unknowns,
            std::vector<std::string>{"checkpoint: no literal string in checkpoint"});
  // The image passes a node the catalog does not describe.
  e = Estimate(Api(R"({"1": {"class_type": "LoadImage", "inputs": {"image": "p.png"}},
      "5": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 3}},
      "2": {"class_type": "DDColor_Colorize", "inputs": {"image": ["5", 0], "model_input_size": 512,
            "checkpoint": "ddcolor_paper_tiny.pth"}}})"),
               {{"p.png", {10, 10, kHashA}}});
  EXPECT_FALSE(e.model_nodes[0].width.has_value());
  EXPECT_EQ(e.model_nodes[0].unknowns,
            std::vector<std::string>{
                "image comes from node 5 (ImageBlur), which the node catalog does not describe"});
  EXPECT_EQ(e.unknown_nodes, (std::vector<UnknownNode>{{"5", "ImageBlur"}}));
}

TEST(WorkflowEstimateTest, ImagePathThroughPassthroughResizeAndAnotherModel) {
  // LoadImage 1024×768 → ImageScale(width 0 keeps the aspect, height 300) → ImageInvert →
  // DDColor(2) → DDColor(3): both model nodes see 400×300.
  const Workflow w = Api(R"({
      "1": {"class_type": "LoadImage", "inputs": {"image": "gw/p.png"}},
      "4": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "area",
            "width": 0, "height": 300, "crop": "disabled"}},
      "5": {"class_type": "ImageInvert", "inputs": {"image": ["4", 0]}},
      "2": {"class_type": "DDColor_Colorize", "inputs": {"image": ["5", 0], "model_input_size": 512,
            "checkpoint": "ddcolor_paper_tiny.pth"}},
      "3": {"class_type": "DDColor_Colorize", "inputs": {"image": ["2", 0], "model_input_size": 512,
            "checkpoint": "ddcolor_artistic.pth"}}})");
  const WorkflowEstimate e = Estimate(w, {{"gw/p.png", {1024, 768, kHashA}}});
  ASSERT_EQ(e.model_nodes.size(), 2u);
  for (const ModelNodeEstimate& m : e.model_nodes) {
    EXPECT_EQ(m.width, 400) << m.node_id;
    EXPECT_EQ(m.height, 300) << m.node_id;
    EXPECT_EQ(m.input_hash, "sha256:" + kHashA);
  }
  EXPECT_EQ(e.tokens_milli, 2 * 400 * 300);
  EXPECT_EQ(e.gflops_milli, 193'100 + 524'500);
  EXPECT_EQ(e.cost_micros, 9'655 + 26'225);
  EXPECT_EQ(e.input_hashes.size(), 1u);
  EXPECT_TRUE(e.complete);
}

TEST(WorkflowEstimateTest, TwoUploadsGiveTwoInputHashes) {
  const Workflow w = Api(R"({
      "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
      "2": {"class_type": "LoadImage", "inputs": {"image": "b.png"}},
      "3": {"class_type": "DDColor_Colorize", "inputs": {"image": ["1", 0], "model_input_size": 256,
            "checkpoint": "ddcolor_paper_tiny.pth"}},
      "4": {"class_type": "DDColor_Colorize", "inputs": {"image": ["2", 0], "model_input_size": 256,
            "checkpoint": "ddcolor_paper_tiny.pth"}}})");
  const WorkflowEstimate e =
      Estimate(w, {{"a.png", {100, 100, kHashA}}, {"b.png", {200, 50, kHashB}}});
  EXPECT_EQ(e.input_hashes, (std::vector<std::string>{"sha256:" + kHashA, "sha256:" + kHashB}));
  EXPECT_EQ(e.tokens_milli, 10'000 + 10'000);
}

TEST(WorkflowEstimateTest, CatalogFromTomlReadsAnotherParameterName) {
  Result<NodeCatalog> catalog = NodeCatalog::FromToml(R"(
[[node]]
class_type = "DDColor_Colorize"
role = "model"
model_inputs = ["model_name", "checkpoint"]
model_input_size_input = "model_input_size"
image_input = "image"
task_type = "image_colorization"
)",
                                                      "c.toml", NodeCatalog::Default());
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const Workflow w = Api(R"({"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
      "2": {"class_type": "DDColor_Colorize", "inputs": {"image": ["1", 0], "model_input_size": 512,
            "model_name": "ddcolor_paper_tiny.pth"}}})");
  const WorkflowEstimate e = Estimate(w, {{"a.png", {10, 10, kHashA}}}, *catalog);
  EXPECT_EQ(e.model_nodes[0].model, "ddcolor_paper_tiny");
  EXPECT_TRUE(e.complete);
  // The default catalog reads only `checkpoint` (protocol.md §6.1): this node has no model.
  EXPECT_FALSE(Estimate(w, {{"a.png", {10, 10, kHashA}}}).complete);
}

TEST(WorkflowEstimateTest, UploadKeyDropsOnlyTheInputAnnotation) {
  EXPECT_EQ(UploadKey("gw/probe (1).png [input]"), "gw/probe (1).png");
  EXPECT_EQ(UploadKey("probe.png"), "probe.png");
  EXPECT_EQ(UploadKey("probe.png [output]"), "probe.png [output]");
}

}  // namespace
}  // namespace tokenaudit::comfy
