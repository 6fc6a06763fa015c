// What a workflow will cost before it runs: for every model node the catalog knows, the image it
// consumes (traced back through the graph to a LoadImage upload), the estimated tokens, GFLOPs and
// cost, and the input hash — the same figures and conventions as the ingest enricher
// (src/ingest/enricher.cc): tokens = width × height × batch / 1000 as integer milli-tokens
// (ingest::EstimateTokensMilli), GFLOPs and cost_micros from ingest::CostTable::Apply,
// input hash "sha256:<hex>" of the uploaded bytes.
//
// Nothing is guessed: a figure that cannot be known (an unregistered upload, an image path
// through a node the catalog does not describe, a missing checkpoint, a model not in the cost
// table) stays unset and `unknowns` says why; the workflow totals then add up only what is known
// and `complete` is false. Class_types not in the catalog are listed in `unknown_nodes`.
//
// Pure functions; thread-safe.

#ifndef TOKENAUDIT_COMFY_WORKFLOW_ESTIMATE_H_
#define TOKENAUDIT_COMFY_WORKFLOW_ESTIMATE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/comfy/node_catalog.h"
#include "src/comfy/workflow.h"
#include "src/ingest/cost_table.h"

namespace tokenaudit::comfy {

// An upload the gateway has seen (src/comfy/image_probe.h).
struct UploadInfo {
  int64_t width = 0;
  int64_t height = 0;
  std::string sha256_hex;  // 64 hex digits
};

// Keyed by the name LoadImage uses: "name" or "subfolder/name" (protocol.md §1.5).
using UploadIndex = std::map<std::string, UploadInfo, std::less<>>;

// The upload key a LoadImage `image` value refers to: the value with a trailing " [input]"
// annotation removed. Other annotations (" [output]", " [temp]") name files that were not
// uploaded and are kept, so they never match an upload.
std::string_view UploadKey(std::string_view image_value);

struct ModelNodeEstimate {
  std::string node_id;
  std::string class_type;
  std::string task_type;
  std::string model;       // the checkpoint without extension, as gen_ai.request.model
  std::string checkpoint;  // as written in the workflow
  std::optional<int64_t> model_input_size;
  std::optional<int64_t> width;   // of the image reaching the node
  std::optional<int64_t> height;
  int64_t batch = 1;
  std::string input_hash;  // "sha256:<hex>" of the upload, empty when unknown
  std::optional<int64_t> tokens_milli;
  std::optional<int64_t> gflops_milli;
  std::optional<int64_t> cost_micros;
  std::string price_version;
  std::vector<std::string> unknowns;  // why a figure is unset; no input values in here

  bool complete() const { return tokens_milli && gflops_milli && cost_micros; }
};

struct UnknownNode {
  std::string node_id;
  std::string class_type;

  bool operator==(const UnknownNode&) const = default;
};

struct WorkflowEstimate {
  std::vector<ModelNodeEstimate> model_nodes;  // workflow order
  std::vector<UnknownNode> unknown_nodes;      // workflow order
  int64_t tokens_milli = 0;                    // sums over model_nodes, saturating
  int64_t gflops_milli = 0;
  int64_t cost_micros = 0;
  std::string price_version;
  std::vector<std::string> input_hashes;  // distinct, first-seen order
  bool complete = true;                   // every model node has all three figures
};

WorkflowEstimate EstimateWorkflow(const Workflow& workflow, const NodeCatalog& catalog,
                                  const UploadIndex& uploads, const ingest::CostTable& costs);

}  // namespace tokenaudit::comfy

#endif  // TOKENAUDIT_COMFY_WORKFLOW_ESTIMATE_H_
