// The node catalog: which ComfyUI class_types tokenaudit understands and how to read them —
// which are model nodes (metered), where their checkpoint and model_input_size come from, which
// node supplies an uploaded image, which only pass an image through, and the order of each node's
// widget values in the UI workflow format (protocol.md §4.3). A class_type not in the catalog is
// unknown: workflows keep it and estimates report it, nothing about it is guessed.
//
// The built-in catalog covers the nodes of protocol.md §4.2/§6.1 and the captures. Deployments
// override or extend it from TOML (doc/comfyui_capture.md, "Node catalog"). A NodeCatalog is a
// value: copy it freely; const access is thread-safe.

#ifndef TOKENAUDIT_COMFY_NODE_CATALOG_H_
#define TOKENAUDIT_COMFY_NODE_CATALOG_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/result.h"

namespace tokenaudit::comfy {

enum class NodeRole {
  kModel,        // a metered model invocation (DDColor_Colorize)
  kImageSource,  // loads an uploaded image by name (LoadImage)
  kPassthrough,  // outputs an image of its input's size and batch (ImageInvert)
  kResize,       // outputs an image of the size in its width/height inputs (ImageScale)
  kOther,        // known, not metered, not on an image path the estimator follows (SaveImage)
};

// "model", "image_source", "passthrough", "resize", "other".
std::string_view NodeRoleName(NodeRole role);

// One slot of a UI node's `widgets_values`, in order.
struct WidgetSlot {
  std::string name;
  bool serialize = true;  // false: a UI-only widget (LoadImage's "upload"), never an API input

  bool operator==(const WidgetSlot&) const = default;
};

struct NodeSpec {
  std::string class_type;
  NodeRole role = NodeRole::kOther;
  std::vector<WidgetSlot> widgets;  // UI format: widgets_values slots in order
  std::string image_input;          // kModel, kPassthrough, kResize: the IMAGE link followed

  // kModel
  std::vector<std::string> model_inputs;  // the first present literal names the checkpoint
  std::string model_input_size_input;     // the square side the model runs at
  std::string task_type;                  // "image_colorization"

  // kImageSource
  std::string upload_input;  // the input holding "[subfolder/]name[ [input]]"

  // kResize
  std::string width_input;
  std::string height_input;

  bool operator==(const NodeSpec&) const = default;
};

class NodeCatalog {
 public:
  // DDColor_Colorize (model: checkpoint, model_input_size; widgets [model_input_size,
  // checkpoint]), LoadImage (image source; widgets [image, upload(UI only)]), ImageInvert
  // (passthrough), ImageScale (resize), SaveImage and PreviewImage (other).
  static NodeCatalog Default();

  // Parses a catalog file (doc/comfyui_capture.md). Entries replace `base`'s entry of the same
  // class_type; `replace_builtin = true` at the top starts from an empty catalog instead of
  // `base`. InvalidArgument naming "<origin>:<line>" and the key for syntax errors, unknown keys,
  // wrong types and missing required keys of a role.
  static Result<NodeCatalog> FromToml(std::string_view text, std::string_view origin,
                                      const NodeCatalog& base);

  // Adds or replaces the entry for spec.class_type.
  void Add(NodeSpec spec);
  // The entry for `class_type`, or nullptr when unknown.
  const NodeSpec* Find(std::string_view class_type) const;
  size_t size() const { return specs_.size(); }

 private:
  std::map<std::string, NodeSpec, std::less<>> specs_;
};

}  // namespace tokenaudit::comfy

#endif  // TOKENAUDIT_COMFY_NODE_CATALOG_H_
