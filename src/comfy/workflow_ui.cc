// UI-format (LiteGraph) workflows to the typed graph, following the frontend's graphToPrompt
// (protocol.md §4.3). The server never sees this format; the frontend converts from live widget
// objects, so this conversion is exact only for nodes whose widget order the catalog states.

#include <simdjson.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "src/comfy/workflow_json.h"

namespace tokenaudit::comfy::internal {
namespace {

namespace dom = simdjson::dom;

constexpr int64_t kModeNever = 2;
constexpr int64_t kModeBypass = 4;

struct UiInput {
  std::string name;
  std::string type;
  std::optional<int64_t> link;
};

struct UiNode {
  std::string id;
  std::string type;
  std::string title;
  int64_t mode = 0;
  std::vector<UiInput> inputs;
  std::optional<dom::element> widgets;  // widgets_values
  std::string path;                     // "nodes[3]"
};

struct UiLink {
  std::string origin_id;
  int64_t origin_slot = 0;
  std::string type;
};

bool IsVirtual(std::string_view type) {
  return type == "Reroute" || type == "PrimitiveNode" || type == "Note" ||
         type == "MarkdownNote";
}

// A node id: LiteGraph writes numbers; schema 1 allows strings.
Result<std::string> NodeId(dom::element e, std::string_view path) {
  int64_t n = 0;
  if (e.get_int64().get(n) == simdjson::SUCCESS) return std::to_string(n);
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS && !s.empty() && s.size() <= 64) {
    return std::string(s);
  }
  return Invalid(path, "must be an integer or a short string");
}

Result<UiInput> ParseInput(dom::element e, const std::string& path, const ParseContext& ctx) {
  dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return Invalid(path, "must be an object");
  UiInput in;
  dom::element v;
  if (o.at_key("name").get(v) != simdjson::SUCCESS) return Invalid(path + ".name", "missing");
  ASSIGN_OR_RETURN(in.name, StringField(v, path + ".name", ctx));
  if (o.at_key("type").get(v) == simdjson::SUCCESS && v.is_string()) {
    ASSIGN_OR_RETURN(in.type, StringField(v, path + ".type", ctx));
  }
  if (o.at_key("link").get(v) == simdjson::SUCCESS && !v.is_null()) {
    int64_t link = 0;
    if (v.get_int64().get(link) != simdjson::SUCCESS) {
      return Invalid(path + ".link", "must be an integer or null");
    }
    in.link = link;
  }
  return in;
}

Result<UiNode> ParseNode(dom::element e, const std::string& path, const ParseContext& ctx) {
  dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return Invalid(path, "must be an object");
  UiNode n;
  n.path = path;
  dom::element v;
  if (o.at_key("id").get(v) != simdjson::SUCCESS) return Invalid(path + ".id", "missing");
  ASSIGN_OR_RETURN(n.id, NodeId(v, path + ".id"));
  if (o.at_key("type").get(v) != simdjson::SUCCESS) return Invalid(path + ".type", "missing");
  ASSIGN_OR_RETURN(n.type, StringField(v, path + ".type", ctx));
  if (o.at_key("mode").get(v) == simdjson::SUCCESS &&
      v.get_int64().get(n.mode) != simdjson::SUCCESS) {
    return Invalid(path + ".mode", "must be an integer");
  }
  if (o.at_key("title").get(v) == simdjson::SUCCESS && v.is_string()) {
    ASSIGN_OR_RETURN(n.title, StringField(v, path + ".title", ctx));
  }
  if (o.at_key("inputs").get(v) == simdjson::SUCCESS) {
    dom::array inputs;
    if (v.get_array().get(inputs) != simdjson::SUCCESS) {
      return Invalid(path + ".inputs", "must be an array");
    }
    if (inputs.size() > ctx.limits.max_inputs_per_node) {
      return Status::ResourceExhausted(path + ".inputs: more inputs than the limit");
    }
    size_t i = 0;
    for (dom::element in : inputs) {
      ASSIGN_OR_RETURN(UiInput parsed,
                       ParseInput(in, path + ".inputs[" + std::to_string(i++) + "]", ctx));
      n.inputs.push_back(std::move(parsed));
    }
  }
  if (o.at_key("widgets_values").get(v) == simdjson::SUCCESS && !v.is_null()) {
    if (!v.is_array() && !v.is_object()) {
      return Invalid(path + ".widgets_values", "must be an array or an object");
    }
    n.widgets = v;
  }
  return n;
}

// Schema 0.4: [id, origin_id, origin_slot, target_id, target_slot, type];
// schema 1: {id, origin_id, origin_slot, target_id, target_slot, type}.
Status ParseLink(dom::element e, const std::string& path, const ParseContext& ctx,
                 std::map<int64_t, UiLink>* links) {
  dom::element id, origin, slot, type;
  bool has_type = false;
  dom::array a;
  dom::object o;
  if (e.get_array().get(a) == simdjson::SUCCESS) {
    if (a.size() < 5) return Invalid(path, "a link array needs at least 5 entries");
    id = a.at(0).value_unsafe();
    origin = a.at(1).value_unsafe();
    slot = a.at(2).value_unsafe();
    if (a.size() > 5) {
      type = a.at(5).value_unsafe();
      has_type = true;
    }
  } else if (e.get_object().get(o) == simdjson::SUCCESS) {
    if (o.at_key("id").get(id) != simdjson::SUCCESS ||
        o.at_key("origin_id").get(origin) != simdjson::SUCCESS ||
        o.at_key("origin_slot").get(slot) != simdjson::SUCCESS) {
      return Invalid(path, "a link object needs id, origin_id and origin_slot");
    }
    has_type = o.at_key("type").get(type) == simdjson::SUCCESS;
  } else {
    return Invalid(path, "must be an array or an object");
  }
  int64_t link_id = 0;
  UiLink link;
  if (id.get_int64().get(link_id) != simdjson::SUCCESS) return Invalid(path + ".id", "must be an integer");
  ASSIGN_OR_RETURN(link.origin_id, NodeId(origin, path + ".origin_id"));
  if (slot.get_int64().get(link.origin_slot) != simdjson::SUCCESS || link.origin_slot < 0) {
    return Invalid(path + ".origin_slot", "must be a non-negative integer");
  }
  std::string_view t;
  if (has_type && type.get_string().get(t) == simdjson::SUCCESS) link.type = std::string(t);
  if (link.type.size() > ctx.limits.max_string_bytes) {
    return Status::ResourceExhausted(path + ".type: string longer than the limit");
  }
  if (!links->emplace(link_id, std::move(link)).second) return Invalid(path + ".id", "duplicate link id");
  return Status::OK();
}

// Where an input link really comes from once virtual and bypassed nodes are looked through.
struct Source {
  enum class Kind { kNone, kOutput, kPrimitive } kind = Kind::kNone;
  OutputRef output;
};

class UiConverter {
 public:
  UiConverter(const ParseContext& ctx, std::string_view path) : ctx_(ctx), path_(path) {}

  Result<Workflow> Convert(dom::object root) {
    RETURN_IF_ERROR(ReadNodes(root));
    RETURN_IF_ERROR(ReadLinks(root));
    Workflow w;
    w.format = WorkflowFormat::kUi;
    for (const UiNode& n : nodes_) {
      if (IsVirtual(n.type) || n.mode == kModeNever || n.mode == kModeBypass) continue;
      ASSIGN_OR_RETURN(WorkflowNode node, ConvertNode(n));
      w.nodes.push_back(std::move(node));
    }
    RETURN_IF_ERROR(CheckLinks(w, path_));
    return w;
  }

 private:
  std::string Field(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }

  Status ReadNodes(dom::object root) {
    dom::array nodes;
    if (root.at_key("nodes").get_array().get(nodes) != simdjson::SUCCESS) {
      return Invalid(Field("nodes"), "must be an array");
    }
    if (nodes.size() > ctx_.limits.max_nodes) {
      return Status::ResourceExhausted(Field("nodes") + ": more nodes than the limit");
    }
    size_t i = 0;
    for (dom::element e : nodes) {
      const std::string path = Field("nodes") + "[" + std::to_string(i++) + "]";
      ASSIGN_OR_RETURN(UiNode n, ParseNode(e, path, ctx_));
      if (!index_.emplace(n.id, nodes_.size()).second) return Invalid(path + ".id", "duplicate node id");
      nodes_.push_back(std::move(n));
    }
    return Status::OK();
  }

  Status ReadLinks(dom::object root) {
    dom::element v;
    if (root.at_key("links").get(v) != simdjson::SUCCESS || v.is_null()) return Status::OK();
    dom::array links;
    if (v.get_array().get(links) != simdjson::SUCCESS) return Invalid(Field("links"), "must be an array");
    size_t i = 0;
    for (dom::element e : links) {
      RETURN_IF_ERROR(ParseLink(e, Field("links") + "[" + std::to_string(i++) + "]", ctx_, &links_));
    }
    return Status::OK();
  }

  // Follows `link_id` through Reroutes and bypassed nodes (at most one step per node, so a
  // cycle ends). A missing link or origin, or a muted origin, gives kNone: the frontend deletes
  // links to nodes it does not submit.
  Source Resolve(int64_t link_id) const {
    for (size_t steps = 0; steps <= nodes_.size(); ++steps) {
      auto l = links_.find(link_id);
      if (l == links_.end()) return {};
      auto o = index_.find(l->second.origin_id);
      if (o == index_.end()) return {};
      const UiNode& origin = nodes_[o->second];
      if (origin.type == "PrimitiveNode") return {Source::Kind::kPrimitive, {}};
      const UiInput* next = nullptr;
      if (origin.type == "Reroute") {
        if (!origin.inputs.empty()) next = &origin.inputs[0];
      } else if (origin.mode == kModeBypass) {
        for (const UiInput& in : origin.inputs) {
          if (in.link && in.type == l->second.type) {
            next = &in;
            break;
          }
        }
      } else if (origin.mode == kModeNever || IsVirtual(origin.type)) {
        return {};
      } else {
        return {Source::Kind::kOutput, {origin.id, l->second.origin_slot}};
      }
      if (next == nullptr || !next->link) return {};
      link_id = *next->link;
    }
    return {};  // a cycle of Reroutes / bypassed nodes: nothing reaches this input
  }

  Result<WorkflowNode> ConvertNode(const UiNode& n) const {
    WorkflowNode node;
    node.id = n.id;
    node.class_type = n.type;
    node.title = n.title;
    std::set<std::string> linked;  // widget sockets whose link wins over the widget value
    for (const UiInput& in : n.inputs) {
      if (!in.link) continue;
      const Source s = Resolve(*in.link);
      if (s.kind != Source::Kind::kOutput) continue;
      InputValue v;
      v.kind = InputValue::Kind::kLink;
      v.link = s.output;
      node.inputs.push_back({in.name, std::move(v)});
      linked.insert(in.name);
    }
    if (!n.widgets) return node;
    const std::string wpath = n.path + ".widgets_values";
    const NodeSpec* spec = ctx_.catalog.Find(n.type);
    dom::array values;
    const bool is_array = n.widgets->get_array().get(values) == simdjson::SUCCESS;
    if (spec == nullptr) {
      if (!is_array) {
        ASSIGN_OR_RETURN(InputValue v, Literal(*n.widgets, wpath, ctx_, false));
        node.unnamed_widgets.push_back(std::move(v));
        return node;
      }
      size_t i = 0;
      for (dom::element e : values) {
        ASSIGN_OR_RETURN(InputValue v, Literal(e, wpath + "[" + std::to_string(i++) + "]", ctx_, true));
        node.unnamed_widgets.push_back(std::move(v));
      }
      return node;
    }
    if (is_array && values.size() != spec->widgets.size()) {
      return Invalid(wpath, std::to_string(values.size()) + " values where the catalog lists " +
                                std::to_string(spec->widgets.size()) + " widgets for " +
                                PathKey(n.type));
    }
    for (size_t i = 0; i < spec->widgets.size(); ++i) {
      const WidgetSlot& slot = spec->widgets[i];
      if (!slot.serialize || linked.count(slot.name) > 0) continue;
      dom::element e;
      std::string path;
      if (is_array) {
        e = values.at(i).value_unsafe();
        path = wpath + "[" + std::to_string(i) + "]";
      } else {
        path = wpath + "." + slot.name;
        if (n.widgets->at_key(slot.name).get(e) != simdjson::SUCCESS) return Invalid(path, "missing");
      }
      ASSIGN_OR_RETURN(InputValue v, Literal(e, path, ctx_, true));
      node.inputs.push_back({slot.name, std::move(v)});
    }
    return node;
  }

  const ParseContext& ctx_;
  const std::string path_;
  std::vector<UiNode> nodes_;
  std::map<std::string, size_t, std::less<>> index_;  // node id → nodes_ index
  std::map<int64_t, UiLink> links_;
};

}  // namespace

Result<Workflow> ConvertUiWorkflow(dom::object root, std::string_view path,
                                   const ParseContext& ctx) {
  return UiConverter(ctx, path).Convert(root);
}

}  // namespace tokenaudit::comfy::internal
