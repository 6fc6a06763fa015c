#include "src/comfy/node_catalog.h"

#include <utility>

namespace tokenaudit::comfy {

std::string_view NodeRoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kModel: return "model";
    case NodeRole::kImageSource: return "image_source";
    case NodeRole::kPassthrough: return "passthrough";
    case NodeRole::kResize: return "resize";
    case NodeRole::kOther: return "other";
  }
  return "other";
}

NodeCatalog NodeCatalog::Default() {
  NodeCatalog c;
  // protocol.md §6.1: kijai/ComfyUI-DDColor, input_order [image, model_input_size, checkpoint];
  // `image` is a link, so the UI stores [model_input_size, checkpoint].
  NodeSpec ddcolor;
  ddcolor.class_type = "DDColor_Colorize";
  ddcolor.role = NodeRole::kModel;
  ddcolor.widgets = {{"model_input_size"}, {"checkpoint"}};
  ddcolor.image_input = "image";
  ddcolor.model_inputs = {"checkpoint"};
  ddcolor.model_input_size_input = "model_input_size";
  ddcolor.task_type = "image_colorization";
  c.Add(std::move(ddcolor));

  // protocol.md §4.3: an image_upload combo gets a UI-only "upload" widget stored as "image".
  NodeSpec load_image;
  load_image.class_type = "LoadImage";
  load_image.role = NodeRole::kImageSource;
  load_image.widgets = {{"image"}, {"upload", false}};
  load_image.upload_input = "image";
  c.Add(std::move(load_image));

  NodeSpec invert;
  invert.class_type = "ImageInvert";
  invert.role = NodeRole::kPassthrough;
  invert.image_input = "image";
  c.Add(std::move(invert));

  // captures/http.json GET /object_info/ImageScale: [image, upscale_method, width, height, crop].
  NodeSpec scale;
  scale.class_type = "ImageScale";
  scale.role = NodeRole::kResize;
  scale.widgets = {{"upscale_method"}, {"width"}, {"height"}, {"crop"}};
  scale.image_input = "image";
  scale.width_input = "width";
  scale.height_input = "height";
  c.Add(std::move(scale));

  NodeSpec save;
  save.class_type = "SaveImage";
  save.widgets = {{"filename_prefix"}};
  c.Add(std::move(save));

  NodeSpec preview;
  preview.class_type = "PreviewImage";
  c.Add(std::move(preview));
  return c;
}

void NodeCatalog::Add(NodeSpec spec) {
  std::string key = spec.class_type;
  specs_[std::move(key)] = std::move(spec);
}

const NodeSpec* NodeCatalog::Find(std::string_view class_type) const {
  auto it = specs_.find(class_type);
  return it == specs_.end() ? nullptr : &it->second;
}

}  // namespace tokenaudit::comfy
