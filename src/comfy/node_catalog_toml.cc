// NodeCatalog::FromToml. toml++ is confined to this file; it reports syntax errors by exception,
// caught at the one parse call below.

#include <toml++/toml.h>

#include <sstream>
#include <string>
#include <utility>

#include "src/comfy/node_catalog.h"

namespace tokenaudit::comfy {
namespace {

std::string Where(std::string_view origin, const toml::source_region& src) {
  return std::string(origin) + ":" + std::to_string(src.begin.line);
}

Status KeyError(std::string_view origin, const toml::node& v, std::string_view key,
                std::string_view rule) {
  return Status::InvalidArgument(Where(origin, v.source()) + ": node." + std::string(key) + " " +
                                 std::string(rule));
}

Status ReadString(std::string_view origin, const toml::node& v, std::string_view key,
                  std::string* out) {
  auto s = v.value_exact<std::string>();
  if (!s || s->empty()) return KeyError(origin, v, key, "must be a non-empty string");
  *out = std::move(*s);
  return Status::OK();
}

Status ReadStrings(std::string_view origin, const toml::node& v, std::string_view key,
                   std::vector<std::string>* out) {
  const toml::array* a = v.as_array();
  if (a == nullptr) return KeyError(origin, v, key, "must be an array of strings");
  out->clear();
  for (const toml::node& e : *a) {
    std::string s;
    RETURN_IF_ERROR(ReadString(origin, e, key, &s));
    out->push_back(std::move(s));
  }
  return Status::OK();
}

Result<NodeRole> ParseRole(std::string_view origin, const toml::node& v) {
  std::string s;
  RETURN_IF_ERROR(ReadString(origin, v, "role", &s));
  for (NodeRole r : {NodeRole::kModel, NodeRole::kImageSource, NodeRole::kPassthrough,
                     NodeRole::kResize, NodeRole::kOther}) {
    if (s == NodeRoleName(r)) return r;
  }
  return KeyError(origin, v, "role",
                  "must be one of model, image_source, passthrough, resize, other");
}

// The keys each role needs, so a half-configured entry is refused at load time rather than
// silently estimating nothing.
Status CheckRequired(std::string_view origin, const toml::table& t, const NodeSpec& s) {
  auto missing = [&](std::string_view key) {
    return Status::InvalidArgument(Where(origin, t.source()) + ": node " + s.class_type +
                                   " (role " + std::string(NodeRoleName(s.role)) + ") needs " +
                                   std::string(key));
  };
  switch (s.role) {
    case NodeRole::kModel:
      if (s.model_inputs.empty()) return missing("model_inputs");
      if (s.model_input_size_input.empty()) return missing("model_input_size_input");
      if (s.image_input.empty()) return missing("image_input");
      break;
    case NodeRole::kImageSource:
      if (s.upload_input.empty()) return missing("upload_input");
      break;
    case NodeRole::kPassthrough:
      if (s.image_input.empty()) return missing("image_input");
      break;
    case NodeRole::kResize:
      if (s.image_input.empty()) return missing("image_input");
      if (s.width_input.empty() || s.height_input.empty()) {
        return missing("width_input and height_input");
      }
      break;
    case NodeRole::kOther:
      break;
  }
  return Status::OK();
}

Result<NodeSpec> ParseNode(std::string_view origin, const toml::table& t) {
  NodeSpec s;
  bool has_role = false;
  std::vector<std::string> widgets, ui_only;
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    if (key == "class_type") {
      RETURN_IF_ERROR(ReadString(origin, v, key, &s.class_type));
    } else if (key == "role") {
      ASSIGN_OR_RETURN(s.role, ParseRole(origin, v));
      has_role = true;
    } else if (key == "widgets") {
      RETURN_IF_ERROR(ReadStrings(origin, v, key, &widgets));
    } else if (key == "ui_only_widgets") {
      RETURN_IF_ERROR(ReadStrings(origin, v, key, &ui_only));
    } else if (key == "image_input") {
      RETURN_IF_ERROR(ReadString(origin, v, key, &s.image_input));
    } else if (key == "model_inputs") {
      RETURN_IF_ERROR(ReadStrings(origin, v, key, &s.model_inputs));
    } else if (key == "model_input_size_input") {
      RETURN_IF_ERROR(ReadString(origin, v, key, &s.model_input_size_input));
    } else if (key == "task_type") {
      RETURN_IF_ERROR(ReadString(origin, v, key, &s.task_type));
    } else if (key == "upload_input") {
      RETURN_IF_ERROR(ReadString(origin, v, key, &s.upload_input));
    } else if (key == "width_input") {
      RETURN_IF_ERROR(ReadString(origin, v, key, &s.width_input));
    } else if (key == "height_input") {
      RETURN_IF_ERROR(ReadString(origin, v, key, &s.height_input));
    } else {
      return KeyError(origin, v, key, "is not a known key");
    }
  }
  if (s.class_type.empty()) {
    return Status::InvalidArgument(Where(origin, t.source()) + ": node entry without class_type");
  }
  if (!has_role) {
    return Status::InvalidArgument(Where(origin, t.source()) + ": node " + s.class_type +
                                   " without role");
  }
  for (const std::string& u : ui_only) {
    bool listed = false;
    for (const std::string& w : widgets) listed = listed || w == u;
    if (!listed) {
      return Status::InvalidArgument(Where(origin, t.source()) + ": node " + s.class_type +
                                     ": ui_only_widgets entry " + u + " is not in widgets");
    }
  }
  for (std::string& w : widgets) {
    bool serialize = true;
    for (const std::string& u : ui_only) serialize = serialize && w != u;
    s.widgets.push_back({std::move(w), serialize});
  }
  RETURN_IF_ERROR(CheckRequired(origin, t, s));
  return s;
}

}  // namespace

Result<NodeCatalog> NodeCatalog::FromToml(std::string_view text, std::string_view origin,
                                          const NodeCatalog& base) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ": " << e.description();
    return Status::InvalidArgument(msg.str());
  }
  NodeCatalog catalog = base;
  if (const toml::node* replace = root.get("replace_builtin")) {
    auto b = replace->value_exact<bool>();
    if (!b) {
      return Status::InvalidArgument(Where(origin, replace->source()) +
                                     ": replace_builtin must be true or false");
    }
    if (*b) catalog = NodeCatalog();
  }
  for (const auto& [k, v] : root) {
    const std::string key(k.str());
    if (key == "replace_builtin") continue;
    if (key != "node") {
      return Status::InvalidArgument(Where(origin, v.source()) + ": unknown key " + key);
    }
    const toml::array* nodes = v.as_array();
    if (nodes == nullptr) {
      return Status::InvalidArgument(Where(origin, v.source()) +
                                     ": node must be an array of tables ([[node]])");
    }
    for (const toml::node& n : *nodes) {
      const toml::table* t = n.as_table();
      if (t == nullptr) {
        return Status::InvalidArgument(Where(origin, n.source()) +
                                       ": node entries must be tables");
      }
      ASSIGN_OR_RETURN(NodeSpec spec, ParseNode(origin, *t));
      catalog.Add(std::move(spec));
    }
  }
  return catalog;
}

}  // namespace tokenaudit::comfy
