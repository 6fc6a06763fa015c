// ComfyUI workflows as a typed graph, parsed from a `POST /prompt` body (protocol.md §1.1) or a
// bare workflow, in either format of protocol.md §4.1:
//   * API format — `{"<id>": {"class_type", "inputs": {name: literal | [node_id, output]}}}`;
//   * UI format  — LiteGraph `{"nodes": [...], "links": [...]}` (schema 0.4 link arrays or schema 1
//     link objects), converted as the frontend's graphToPrompt does (§4.3) for the nodes the
//     NodeCatalog describes: muted (mode 2) and bypassed (mode 4) nodes are dropped, links through
//     a bypassed node or a Reroute are re-pointed to the upstream output, PrimitiveNode links
//     become the consumer's widget value, Notes vanish. Unknown class_types keep their links and
//     their raw widget values, unnamed.
//
// Input is hostile: size and nesting depth are checked before the JSON parser runs, node and
// input counts and string lengths are bounded, duplicate keys are refused (Python keeps the last
// one; refusing means the gateway and ComfyUI can never read two different graphs from one body).
// Errors: InvalidArgument with a message "<field path>: <rule>", the path naming the offending
// field (`prompt.2.inputs.image`, `nodes[3].widgets_values`); ResourceExhausted for a body, node
// count or string over the limits. Messages never contain input values.
//
// Pure functions; thread-safe. simdjson is used behind this interface.

#ifndef TOKENAUDIT_COMFY_WORKFLOW_H_
#define TOKENAUDIT_COMFY_WORKFLOW_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/comfy/node_catalog.h"
#include "tokenaudit/result.h"

namespace tokenaudit::comfy {

enum class WorkflowFormat { kApi, kUi };

// Output `output_index` of node `node_id`.
struct OutputRef {
  std::string node_id;
  int64_t output_index = 0;

  bool operator==(const OutputRef&) const = default;
};

// One input: a link to another node's output, or a literal.
struct InputValue {
  enum class Kind { kLink, kNull, kBool, kInt, kDouble, kString, kJson };

  Kind kind = Kind::kNull;
  bool bool_value = false;
  int64_t int_value = 0;
  double double_value = 0;
  // kString: the string. kJson: the value as minified JSON — objects (`{"__value__": [...]}`),
  // arrays (UI widget values only) and integers beyond int64.
  std::string text;
  OutputRef link;  // kLink

  bool is_link() const { return kind == Kind::kLink; }
  bool operator==(const InputValue&) const = default;
};

struct WorkflowInput {
  std::string name;
  InputValue value;

  bool operator==(const WorkflowInput&) const = default;
};

struct WorkflowNode {
  std::string id;          // API key; UI node id in decimal
  std::string class_type;  // UI: the node's `type`
  std::string title;       // API `_meta.title` / UI `title`; empty when absent
  // API: in body order. UI: linked inputs in slot order, then serialized widgets in catalog
  // order (a widget whose socket is linked is skipped: the link wins).
  std::vector<WorkflowInput> inputs;
  // UI only, for class_types the catalog does not describe: `widgets_values` as found (an object
  // is one kJson value), since nothing says which input each slot belongs to.
  std::vector<InputValue> unnamed_widgets;

  // The input called `name`, or nullptr.
  const InputValue* Input(std::string_view name) const;
  bool operator==(const WorkflowNode&) const = default;
};

struct Workflow {
  WorkflowFormat format = WorkflowFormat::kApi;
  std::vector<WorkflowNode> nodes;  // body order; ids are unique; every link resolves

  // The node with id `id`, or nullptr.
  const WorkflowNode* Node(std::string_view id) const;
  bool operator==(const Workflow&) const = default;
};

// The fields of a `POST /prompt` body the gateway acts on (protocol.md §1.1). Other keys are
// ignored, as ComfyUI ignores them; `extra_data` is kept verbatim, never interpreted.
struct PromptRequest {
  Workflow workflow;
  std::string client_id;                   // empty when absent
  std::string prompt_id;                   // client-chosen id, empty when absent
  std::optional<double> number;            // explicit queue priority
  bool front = false;
  std::vector<std::string> partial_execution_targets;
  std::string extra_data_json;             // minified; empty when absent
};

struct WorkflowLimits {
  size_t max_body_bytes = size_t{16} << 20;  // ResourceExhausted above
  size_t max_depth = 64;                     // nesting of [ and {, checked before parsing
  size_t max_nodes = 10'000;                 // ResourceExhausted above
  size_t max_inputs_per_node = 1'000;        // ResourceExhausted above
  size_t max_string_bytes = size_t{1} << 20; // any string value; ResourceExhausted above
};

// Parses a `POST /prompt` body. `prompt` holds the workflow: an API-format object, or a UI-format
// workflow (recognised by its `nodes` array). A body without `prompt` that is itself a UI
// workflow is accepted too (the editor's saved file). A body with neither: InvalidArgument
// "prompt: missing" (ComfyUI's `no_prompt`).
Result<PromptRequest> ParsePromptBody(std::string_view body, const NodeCatalog& catalog,
                                      const WorkflowLimits& limits = {});

// Parses a bare workflow: an API-format prompt object or a UI-format workflow.
Result<Workflow> ParseWorkflow(std::string_view json, const NodeCatalog& catalog,
                               const WorkflowLimits& limits = {});

// The workflow as canonical API-format JSON: keys sorted bytewise, no whitespace, `_meta`
// omitted (ComfyUI ignores it), numbers as shortest round-trip decimals — so equal graphs give
// equal bytes, whichever format they came in, and sha256 of this is DESIGN §2's workflow_hash.
// FailedPrecondition when a node has unnamed widget values (a UI node the catalog does not
// describe): its API inputs cannot be known.
Result<std::string> EncodeApiPrompt(const Workflow& workflow);

// "sha256:<64 hex>" of EncodeApiPrompt(workflow); its errors as they are.
Result<std::string> WorkflowHash(const Workflow& workflow);

}  // namespace tokenaudit::comfy

#endif  // TOKENAUDIT_COMFY_WORKFLOW_H_
