#include "src/comfy/workflow_estimate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "src/util/parse_number.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::comfy {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

int64_t SatAdd(int64_t a, int64_t b) { return a > kMax - b ? kMax : a + b; }

// What ComfyUI's INT validation accepts (`int(value)`): an integer, a float truncated toward
// zero, or a decimal string. Anything else is no number.
std::optional<int64_t> IntLiteral(const InputValue* v) {
  if (v == nullptr) return std::nullopt;
  switch (v->kind) {
    case InputValue::Kind::kInt:
      return v->int_value;
    case InputValue::Kind::kDouble:
      if (std::isfinite(v->double_value) && std::fabs(v->double_value) < 9e18) {
        return static_cast<int64_t>(v->double_value);
      }
      return std::nullopt;
    case InputValue::Kind::kString: {
      uint64_t n = 0;
      if (ParseDecimalU64(v->text, &n) && n <= static_cast<uint64_t>(kMax)) {
        return static_cast<int64_t>(n);
      }
      return std::nullopt;
    }
    default:
      return std::nullopt;
  }
}

std::string ModelName(std::string_view checkpoint) {
  for (std::string_view ext : {".pth", ".safetensors", ".pt", ".ckpt"}) {
    if (checkpoint.size() > ext.size() && checkpoint.ends_with(ext)) {
      return std::string(checkpoint.substr(0, checkpoint.size() - ext.size()));
    }
  }
  return std::string(checkpoint);
}

std::string NodeLabel(const WorkflowNode& n) {
  return "node " + n.id.substr(0, 64) + " (" + n.class_type.substr(0, 64) + ")";
}

// The image reaching a node's IMAGE input, found by walking links upstream to an image source.
struct ImageTrace {
  std::optional<int64_t> width, height;
  int64_t batch = 1;  // LoadImage yields one image
  std::string hash;   // "sha256:<hex>"
  std::string unknown;
};

// ComfyUI ImageScale: a zero side keeps the aspect ratio, max(1, round(other × ratio)) with
// Python's round (ties to even, as nearbyint in the default rounding mode).
void ApplyResize(int64_t rw, int64_t rh, ImageTrace* t) {
  const double w = static_cast<double>(*t->width), h = static_cast<double>(*t->height);
  if (rw == 0 && rh == 0) return;
  if ((rw == 0 || rh == 0) && (w <= 0 || h <= 0)) return;
  if (rw == 0) rw = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(w * rh / h)));
  if (rh == 0) rh = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(h * rw / w)));
  t->width = rw;
  t->height = rh;
}

ImageTrace TraceImage(const Workflow& wf, const NodeCatalog& catalog, const UploadIndex& uploads,
                      const WorkflowNode& consumer, std::string_view image_input) {
  ImageTrace t;
  std::vector<std::pair<int64_t, int64_t>> resizes;  // nearest the consumer first
  const WorkflowNode* node = &consumer;
  std::string input(image_input);
  for (size_t steps = 0; steps <= wf.nodes.size(); ++steps) {
    const InputValue* v = node->Input(input);
    if (v == nullptr || !v->is_link()) {
      t.unknown = NodeLabel(*node) + ": image input is not linked";
      return t;
    }
    const WorkflowNode* up = wf.Node(v->link.node_id);
    const NodeSpec* spec = up == nullptr ? nullptr : catalog.Find(up->class_type);
    if (spec == nullptr) {
      t.unknown = "image comes from " + (up ? NodeLabel(*up) : "a missing node") +
                  ", which the node catalog does not describe";
      return t;
    }
    switch (spec->role) {
      case NodeRole::kImageSource: {
        const InputValue* name = up->Input(spec->upload_input);
        if (name == nullptr || name->kind != InputValue::Kind::kString) {
          t.unknown = NodeLabel(*up) + ": upload name missing or not a string";
          return t;
        }
        auto it = uploads.find(UploadKey(name->text));
        if (it == uploads.end()) {
          t.unknown = NodeLabel(*up) + ": the upload it loads is not registered";
          return t;
        }
        t.width = it->second.width;
        t.height = it->second.height;
        t.hash = "sha256:" + it->second.sha256_hex;
        for (auto r = resizes.rbegin(); r != resizes.rend(); ++r) ApplyResize(r->first, r->second, &t);
        return t;
      }
      case NodeRole::kResize: {
        auto w = IntLiteral(up->Input(spec->width_input));
        auto h = IntLiteral(up->Input(spec->height_input));
        if (!w || !h || *w < 0 || *h < 0) {
          t.unknown = NodeLabel(*up) + ": width/height missing or not non-negative integers";
          return t;
        }
        resizes.emplace_back(*w, *h);
        break;
      }
      case NodeRole::kPassthrough:
      case NodeRole::kModel:  // DDColor gives back an image of its input's size
        break;
      case NodeRole::kOther:
        t.unknown = "image comes from " + NodeLabel(*up) + ", which does not pass an image on";
        return t;
    }
    node = up;
    input = spec->image_input;
  }
  t.unknown = NodeLabel(consumer) + ": image links form a cycle";
  return t;
}

ModelNodeEstimate EstimateModelNode(const Workflow& wf, const NodeCatalog& catalog,
                                    const UploadIndex& uploads, const ingest::CostTable& costs,
                                    const WorkflowNode& node, const NodeSpec& spec) {
  ModelNodeEstimate e;
  e.node_id = node.id;
  e.class_type = node.class_type;
  e.task_type = spec.task_type;
  for (const std::string& name : spec.model_inputs) {
    const InputValue* v = node.Input(name);
    if (v != nullptr && v->kind == InputValue::Kind::kString && !v->text.empty()) {
      e.checkpoint = v->text;
      break;
    }
  }
  if (e.checkpoint.empty()) {
    e.unknowns.push_back("checkpoint: no literal string in " + spec.model_inputs.front() +
                         (spec.model_inputs.size() > 1 ? " or its alternatives" : ""));
  } else {
    e.model = ModelName(e.checkpoint);
  }
  e.model_input_size = IntLiteral(node.Input(spec.model_input_size_input));
  if (e.model_input_size && *e.model_input_size <= 0) e.model_input_size.reset();
  if (!e.model_input_size) {
    e.unknowns.push_back(spec.model_input_size_input + ": missing or not a positive integer");
  }
  ImageTrace image = TraceImage(wf, catalog, uploads, node, spec.image_input);
  if (!image.unknown.empty()) e.unknowns.push_back(std::move(image.unknown));
  e.width = image.width;
  e.height = image.height;
  e.batch = image.batch;
  e.input_hash = std::move(image.hash);

  // The record the gateway will write, priced by the same code the ingest enricher uses.
  UsageRecord r;
  r.model = e.model;
  r.input_width = e.width;
  r.input_height = e.height;
  r.input_batch = e.batch;
  r.input_model_input_size = e.model_input_size;
  e.tokens_milli = ingest::EstimateTokensMilli(r);
  if (!e.model.empty() && e.model_input_size) {
    if (costs.Find(e.model) == nullptr) {
      e.unknowns.push_back("model " + e.model.substr(0, 64) + " is not in the cost table");
    } else {
      costs.Apply(&r);
      e.gflops_milli = r.gflops_milli;
      e.cost_micros = r.cost_micros;
      e.price_version = r.price_version;
    }
  }
  return e;
}

}  // namespace

std::string_view UploadKey(std::string_view image_value) {
  constexpr std::string_view kInput = " [input]";
  if (image_value.ends_with(kInput)) image_value.remove_suffix(kInput.size());
  return image_value;
}

WorkflowEstimate EstimateWorkflow(const Workflow& workflow, const NodeCatalog& catalog,
                                  const UploadIndex& uploads, const ingest::CostTable& costs) {
  WorkflowEstimate out;
  for (const WorkflowNode& node : workflow.nodes) {
    const NodeSpec* spec = catalog.Find(node.class_type);
    if (spec == nullptr) {
      out.unknown_nodes.push_back({node.id, node.class_type});
      continue;
    }
    if (spec->role != NodeRole::kModel) continue;
    ModelNodeEstimate e = EstimateModelNode(workflow, catalog, uploads, costs, node, *spec);
    out.tokens_milli = SatAdd(out.tokens_milli, e.tokens_milli.value_or(0));
    out.gflops_milli = SatAdd(out.gflops_milli, e.gflops_milli.value_or(0));
    out.cost_micros = SatAdd(out.cost_micros, e.cost_micros.value_or(0));
    if (!e.price_version.empty()) out.price_version = e.price_version;
    if (!e.input_hash.empty() &&
        std::find(out.input_hashes.begin(), out.input_hashes.end(), e.input_hash) ==
            out.input_hashes.end()) {
      out.input_hashes.push_back(e.input_hash);
    }
    out.complete = out.complete && e.complete();
    out.model_nodes.push_back(std::move(e));
  }
  return out;
}

}  // namespace tokenaudit::comfy
