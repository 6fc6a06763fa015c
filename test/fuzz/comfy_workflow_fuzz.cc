// Fuzzes the ComfyUI workflow parser (src/comfy/workflow.h), whose input is any POST /prompt body
// a gateway client sends, in API or UI format. The bytes are parsed as a body and as a bare
// workflow, with the default limits and tiny ones. Invariants, trapped when broken:
//   - a refusal is InvalidArgument or ResourceExhausted with a message;
//   - in an accepted workflow node ids are unique and every link names a node of the workflow;
//   - canonical API JSON, when it exists, parses back and encodes to the same bytes;
//   - the estimator runs on every accepted workflow and its totals are non-negative.
// Corpus: test/fuzz/corpus/comfy_workflow (the captured prompts, protocol.md §4.2 in both formats,
// UI bypass/reroute/primitive cases).

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "src/comfy/workflow.h"
#include "src/comfy/workflow_estimate.h"

namespace {

using namespace tokenaudit::comfy;

void CheckWorkflow(const Workflow& w, const NodeCatalog& catalog) {
  std::set<std::string> ids;
  for (const WorkflowNode& n : w.nodes) {
    if (!ids.insert(n.id).second) __builtin_trap();
  }
  for (const WorkflowNode& n : w.nodes) {
    for (const WorkflowInput& in : n.inputs) {
      if (in.value.is_link() && w.Node(in.value.link.node_id) == nullptr) __builtin_trap();
    }
  }
  tokenaudit::Result<std::string> api = EncodeApiPrompt(w);
  if (api.ok()) {
    tokenaudit::Result<Workflow> back = ParseWorkflow(*api, catalog);
    if (!back.ok()) __builtin_trap();
    tokenaudit::Result<std::string> again = EncodeApiPrompt(*back);
    if (!again.ok() || *again != *api) __builtin_trap();
  }
  const UploadIndex uploads = {{"a.png", {640, 480, std::string(64, 'a')}},
                               {"old_photo.png", {1, 1, std::string(64, 'b')}}};
  const WorkflowEstimate e =
      EstimateWorkflow(w, catalog, uploads, tokenaudit::ingest::CostTable::Default());
  if (e.tokens_milli < 0 || e.gflops_milli < 0 || e.cost_micros < 0) __builtin_trap();
}

void CheckStatus(const tokenaudit::Status& s) {
  if (s.code() != tokenaudit::StatusCode::kInvalidArgument &&
      s.code() != tokenaudit::StatusCode::kResourceExhausted) {
    __builtin_trap();
  }
  if (s.message().empty()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static const NodeCatalog catalog = NodeCatalog::Default();
  WorkflowLimits tiny;
  tiny.max_depth = 6;
  tiny.max_nodes = 4;
  tiny.max_inputs_per_node = 4;
  tiny.max_string_bytes = 24;
  for (const WorkflowLimits& limits : {WorkflowLimits{}, tiny}) {
    tokenaudit::Result<PromptRequest> body = ParsePromptBody(input, catalog, limits);
    if (body.ok()) {
      CheckWorkflow(body->workflow, catalog);
    } else {
      CheckStatus(body.status());
    }
    tokenaudit::Result<Workflow> bare = ParseWorkflow(input, catalog, limits);
    if (bare.ok()) {
      CheckWorkflow(*bare, catalog);
    } else {
      CheckStatus(bare.status());
    }
  }
  return 0;
}
