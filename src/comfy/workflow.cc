// Order of checks for a body: size, nesting depth and raw control bytes (ScanJsonText, linear,
// constant stack), then the simdjson DOM parser (grammar, UTF-8, numbers), then the shape.

#include "src/comfy/workflow.h"

#include <simdjson.h>

#include <set>
#include <string>
#include <utility>

#include "src/comfy/workflow_json.h"
#include "src/record/json_scan.h"

namespace tokenaudit::comfy {

namespace internal {

namespace dom = simdjson::dom;

Status Invalid(std::string_view path, std::string_view rule) {
  std::string m(path.empty() ? "body" : path);
  m += ": ";
  m += rule;
  return Status::InvalidArgument(m);
}

std::string PathKey(std::string_view key) { return std::string(key.substr(0, 64)); }

Status CheckKey(std::set<std::string_view>* seen, std::string_view key, std::string_view path,
                const ParseContext& ctx) {
  const std::string where = std::string(path) + (path.empty() ? "" : ".") + PathKey(key);
  if (key.size() > ctx.limits.max_string_bytes) {
    return Status::ResourceExhausted(where + ": key longer than the string limit");
  }
  if (!seen->insert(key).second) return Invalid(where, "duplicate key");
  return Status::OK();
}

Result<std::string> StringField(dom::element e, std::string_view path, const ParseContext& ctx) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return Invalid(path, "must be a string");
  if (s.size() > ctx.limits.max_string_bytes) {
    return Status::ResourceExhausted(std::string(path) + ": string longer than the limit");
  }
  return std::string(s);
}

Result<InputValue> Literal(dom::element e, std::string_view path, const ParseContext& ctx,
                           bool wrap_arrays) {
  InputValue v;
  switch (e.type()) {
    case dom::element_type::NULL_VALUE:
      v.kind = InputValue::Kind::kNull;
      break;
    case dom::element_type::BOOL:
      v.kind = InputValue::Kind::kBool;
      v.bool_value = e.get_bool().value_unsafe();
      break;
    case dom::element_type::INT64:
      v.kind = InputValue::Kind::kInt;
      v.int_value = e.get_int64().value_unsafe();
      break;
    case dom::element_type::DOUBLE:
      v.kind = InputValue::Kind::kDouble;
      v.double_value = e.get_double().value_unsafe();
      break;
    case dom::element_type::STRING: {
      ASSIGN_OR_RETURN(v.text, StringField(e, path, ctx));
      v.kind = InputValue::Kind::kString;
      break;
    }
    case dom::element_type::UINT64:
    case dom::element_type::OBJECT:
      v.kind = InputValue::Kind::kJson;
      v.text = simdjson::minify(e);
      break;
    case dom::element_type::ARRAY:
      v.kind = InputValue::Kind::kJson;
      v.text = wrap_arrays ? "{\"__value__\":" + simdjson::minify(e) + "}" : simdjson::minify(e);
      break;
  }
  if (v.kind == InputValue::Kind::kJson && v.text.size() > ctx.limits.max_string_bytes) {
    return Status::ResourceExhausted(std::string(path) + ": value longer than the string limit");
  }
  return v;
}

Status CheckLinks(const Workflow& w, std::string_view path) {
  for (const WorkflowNode& n : w.nodes) {
    for (const WorkflowInput& in : n.inputs) {
      if (in.value.is_link() && w.Node(in.value.link.node_id) == nullptr) {
        return Invalid(std::string(path) + (path.empty() ? "" : ".") + PathKey(n.id) +
                           ".inputs." + PathKey(in.name),
                       "links to a node that is not in the workflow");
      }
    }
  }
  return Status::OK();
}

}  // namespace internal

namespace {

namespace dom = simdjson::dom;
using internal::CheckKey;
using internal::Invalid;
using internal::ParseContext;
using internal::PathKey;

// An API-format link: exactly [node_id (string), output_index (int >= 0)] (ComfyUI's is_link);
// any other list is refused, as ComfyUI refuses it (bad_linked_input).
Result<InputValue> ApiInput(dom::element e, const std::string& path, const ParseContext& ctx) {
  if (e.type() != dom::element_type::ARRAY) return internal::Literal(e, path, ctx, false);
  dom::array a = e.get_array().value_unsafe();
  std::string_view node_id;
  int64_t index = 0;
  if (a.size() != 2 || a.at(0).get_string().get(node_id) != simdjson::SUCCESS ||
      a.at(1).get_int64().get(index) != simdjson::SUCCESS || index < 0) {
    return Invalid(path,
                   "a list must be a link [node_id, output_index]; wrap literal lists as "
                   "{\"__value__\": [...]}");
  }
  InputValue v;
  v.kind = InputValue::Kind::kLink;
  v.link = {std::string(node_id), index};
  return v;
}

Result<WorkflowNode> ApiNode(std::string_view id, dom::element e, const std::string& path,
                             const ParseContext& ctx) {
  dom::object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) return Invalid(path, "must be an object");
  WorkflowNode node;
  node.id = std::string(id);
  bool has_class = false;
  std::set<std::string_view> seen;
  for (dom::key_value_pair field : obj) {
    RETURN_IF_ERROR(CheckKey(&seen, field.key, path, ctx));
    if (field.key == "class_type") {
      ASSIGN_OR_RETURN(node.class_type, internal::StringField(field.value, path + ".class_type", ctx));
      has_class = true;
    } else if (field.key == "inputs") {
      dom::object inputs;
      if (field.value.get_object().get(inputs) != simdjson::SUCCESS) {
        return Invalid(path + ".inputs", "must be an object");
      }
      if (inputs.size() > ctx.limits.max_inputs_per_node) {
        return Status::ResourceExhausted(path + ".inputs: more inputs than the limit");
      }
      std::set<std::string_view> seen_inputs;
      for (dom::key_value_pair in : inputs) {
        RETURN_IF_ERROR(CheckKey(&seen_inputs, in.key, path + ".inputs", ctx));
        ASSIGN_OR_RETURN(InputValue value, ApiInput(in.value, path + ".inputs." + PathKey(in.key), ctx));
        node.inputs.push_back({std::string(in.key), std::move(value)});
      }
    } else if (field.key == "_meta") {
      dom::element title;
      if (field.value.at_key("title").get(title) == simdjson::SUCCESS && title.is_string()) {
        ASSIGN_OR_RETURN(node.title, internal::StringField(title, path + "._meta.title", ctx));
      }
    }
  }
  // ComfyUI: "Cannot execute because a node is missing the class_type property."
  if (!has_class) return Invalid(path + ".class_type", "missing");
  return node;
}

Result<Workflow> ApiWorkflow(dom::object prompt, const std::string& path, const ParseContext& ctx) {
  if (prompt.size() > ctx.limits.max_nodes) {
    return Status::ResourceExhausted(path + ": more nodes than the limit");
  }
  Workflow w;
  w.format = WorkflowFormat::kApi;
  std::set<std::string_view> seen;
  for (dom::key_value_pair field : prompt) {
    RETURN_IF_ERROR(CheckKey(&seen, field.key, path, ctx));
    ASSIGN_OR_RETURN(WorkflowNode node,
                     ApiNode(field.key, field.value, path + (path.empty() ? "" : ".") +
                                                         PathKey(field.key), ctx));
    w.nodes.push_back(std::move(node));
  }
  RETURN_IF_ERROR(internal::CheckLinks(w, path));
  return w;
}

// A UI workflow is an object whose `nodes` is an array; an API prompt maps ids to node objects,
// so a node id "nodes" holds an object, never an array.
bool IsUiWorkflow(dom::object o) {
  dom::element nodes;
  return o.at_key("nodes").get(nodes) == simdjson::SUCCESS && nodes.is_array();
}

Result<Workflow> AnyWorkflow(dom::element e, const std::string& path, const ParseContext& ctx) {
  dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return Invalid(path, "must be an object");
  if (IsUiWorkflow(o)) return internal::ConvertUiWorkflow(o, path, ctx);
  return ApiWorkflow(o, path, ctx);
}

// Size, depth and syntax; the parser must outlive the returned element.
Result<dom::element> ParseJson(std::string_view text, const WorkflowLimits& limits,
                               dom::parser* parser) {
  if (text.size() > limits.max_body_bytes) {
    return Status::ResourceExhausted("body: " + std::to_string(text.size()) +
                                     " bytes, over the limit of " +
                                     std::to_string(limits.max_body_bytes));
  }
  switch (record::ScanJsonText(text, limits.max_depth)) {
    case record::TextScan::kTooDeep:
      return Invalid("", "JSON nested deeper than " + std::to_string(limits.max_depth));
    case record::TextScan::kInvalid:
      return Invalid("", "malformed JSON");
    case record::TextScan::kOk:
      break;
  }
  dom::element root;
  const simdjson::padded_string padded(text);
  if (auto err = parser->parse(padded).get(root); err != simdjson::SUCCESS) {
    return Invalid("", std::string("malformed JSON (") + simdjson::error_message(err) + ")");
  }
  return root;
}

Status ReadPromptField(std::string_view key, dom::element v, const ParseContext& ctx,
                       PromptRequest* out) {
  const std::string path(key);
  if (key == "client_id") {
    ASSIGN_OR_RETURN(out->client_id, internal::StringField(v, path, ctx));
  } else if (key == "prompt_id") {
    ASSIGN_OR_RETURN(out->prompt_id, internal::StringField(v, path, ctx));
  } else if (key == "number") {
    double n = 0;
    if (!v.is_number() || v.get_double().get(n) != simdjson::SUCCESS) {
      return Invalid(path, "must be a number");
    }
    out->number = n;
  } else if (key == "front") {
    if (v.get_bool().get(out->front) != simdjson::SUCCESS) return Invalid(path, "must be a boolean");
  } else if (key == "partial_execution_targets") {
    dom::array a;
    if (v.get_array().get(a) != simdjson::SUCCESS) return Invalid(path, "must be an array");
    if (a.size() > ctx.limits.max_nodes) {
      return Status::ResourceExhausted(path + ": more entries than the node limit");
    }
    size_t i = 0;
    for (dom::element t : a) {
      ASSIGN_OR_RETURN(std::string id,
                       internal::StringField(t, path + "[" + std::to_string(i++) + "]", ctx));
      out->partial_execution_targets.push_back(std::move(id));
    }
  } else if (key == "extra_data") {
    if (!v.is_object()) return Invalid(path, "must be an object");
    out->extra_data_json = simdjson::minify(v);
  }
  return Status::OK();
}

}  // namespace

const InputValue* WorkflowNode::Input(std::string_view name) const {
  for (const WorkflowInput& in : inputs) {
    if (in.name == name) return &in.value;
  }
  return nullptr;
}

const WorkflowNode* Workflow::Node(std::string_view id) const {
  for (const WorkflowNode& n : nodes) {
    if (n.id == id) return &n;
  }
  return nullptr;
}

Result<PromptRequest> ParsePromptBody(std::string_view body, const NodeCatalog& catalog,
                                      const WorkflowLimits& limits) {
  const ParseContext ctx{catalog, limits};
  dom::parser parser;
  ASSIGN_OR_RETURN(dom::element root, ParseJson(body, limits, &parser));
  dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return Invalid("", "must be a JSON object");
  PromptRequest out;
  std::set<std::string_view> seen;
  std::optional<dom::element> prompt;
  for (dom::key_value_pair field : obj) {
    RETURN_IF_ERROR(CheckKey(&seen, field.key, "", ctx));
    if (field.key == "prompt") {
      prompt = field.value;
    } else {
      RETURN_IF_ERROR(ReadPromptField(field.key, field.value, ctx, &out));
    }
  }
  if (prompt) {
    ASSIGN_OR_RETURN(out.workflow, AnyWorkflow(*prompt, "prompt", ctx));
  } else if (IsUiWorkflow(obj)) {
    ASSIGN_OR_RETURN(out.workflow, internal::ConvertUiWorkflow(obj, "", ctx));
  } else {
    return Invalid("prompt", "missing");  // ComfyUI: 400 no_prompt
  }
  return out;
}

Result<Workflow> ParseWorkflow(std::string_view json, const NodeCatalog& catalog,
                               const WorkflowLimits& limits) {
  const ParseContext ctx{catalog, limits};
  dom::parser parser;
  ASSIGN_OR_RETURN(dom::element root, ParseJson(json, limits, &parser));
  return AnyWorkflow(root, "", ctx);
}

}  // namespace tokenaudit::comfy
