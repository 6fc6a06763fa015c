// Canonical API-format JSON of a Workflow, and the workflow hash built on it.

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "src/comfy/workflow.h"
#include "src/util/hex.h"
#include "src/util/json_string.h"
#include "src/util/sha256.h"

namespace tokenaudit::comfy {
namespace {

// Shortest round-trip decimal, with ".0" added to integral values so a float stays a float
// (Python's json writes 512.0, and ComfyUI tells INT from FLOAT widgets apart).
void AppendDouble(std::string* out, double d) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view s(buf, ec == std::errc() ? static_cast<size_t>(end - buf) : 0);
  out->append(s);
  if (s.find_first_of(".eEn") == std::string_view::npos) out->append(".0");
}

void AppendValue(std::string* out, const InputValue& v) {
  switch (v.kind) {
    case InputValue::Kind::kLink:
      out->push_back('[');
      AppendJsonString(out, v.link.node_id);
      out->push_back(',');
      out->append(std::to_string(v.link.output_index));
      out->push_back(']');
      break;
    case InputValue::Kind::kNull: out->append("null"); break;
    case InputValue::Kind::kBool: out->append(v.bool_value ? "true" : "false"); break;
    case InputValue::Kind::kInt: out->append(std::to_string(v.int_value)); break;
    case InputValue::Kind::kDouble: AppendDouble(out, v.double_value); break;
    case InputValue::Kind::kString: AppendJsonString(out, v.text); break;
    case InputValue::Kind::kJson: out->append(v.text); break;
  }
}

}  // namespace

Result<std::string> EncodeApiPrompt(const Workflow& workflow) {
  std::vector<const WorkflowNode*> nodes;
  for (const WorkflowNode& n : workflow.nodes) {
    if (!n.unnamed_widgets.empty()) {
      return Status::FailedPrecondition("node " + n.id.substr(0, 64) + " (" +
                                        n.class_type.substr(0, 64) +
                                        ") has widget values the node catalog cannot name");
    }
    nodes.push_back(&n);
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const WorkflowNode* a, const WorkflowNode* b) { return a->id < b->id; });
  std::string out = "{";
  for (const WorkflowNode* n : nodes) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(&out, n->id);
    out.append(":{\"class_type\":");
    AppendJsonString(&out, n->class_type);
    out.append(",\"inputs\":{");
    std::vector<const WorkflowInput*> inputs;
    for (const WorkflowInput& in : n->inputs) inputs.push_back(&in);
    std::sort(inputs.begin(), inputs.end(),
              [](const WorkflowInput* a, const WorkflowInput* b) { return a->name < b->name; });
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendJsonString(&out, inputs[i]->name);
      out.push_back(':');
      AppendValue(&out, inputs[i]->value);
    }
    out.append("}}");
  }
  out.push_back('}');
  return out;
}

Result<std::string> WorkflowHash(const Workflow& workflow) {
  ASSIGN_OR_RETURN(std::string json, EncodeApiPrompt(workflow));
  const Sha256Digest d = Sha256Of(json);
  return "sha256:" + HexEncode(d.data(), d.size());
}

}  // namespace tokenaudit::comfy
