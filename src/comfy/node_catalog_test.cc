#include "src/comfy/node_catalog.h"

#include <gtest/gtest.h>

namespace tokenaudit::comfy {
namespace {

TEST(NodeCatalogTest, DefaultDescribesDdcolorAndLoadImageAsProtocolMdSays) {
  const NodeCatalog c = NodeCatalog::Default();
  const NodeSpec* dd = c.Find("DDColor_Colorize");
  ASSERT_NE(dd, nullptr);
  EXPECT_EQ(dd->role, NodeRole::kModel);
  EXPECT_EQ(dd->model_inputs, std::vector<std::string>{"checkpoint"});
  EXPECT_EQ(dd->model_input_size_input, "model_input_size");
  EXPECT_EQ(dd->image_input, "image");
  EXPECT_EQ(dd->widgets, (std::vector<WidgetSlot>{{"model_input_size"}, {"checkpoint"}}));
  const NodeSpec* load = c.Find("LoadImage");
  ASSERT_NE(load, nullptr);
  EXPECT_EQ(load->role, NodeRole::kImageSource);
  EXPECT_EQ(load->upload_input, "image");
  EXPECT_EQ(load->widgets, (std::vector<WidgetSlot>{{"image", true}, {"upload", false}}));
  EXPECT_EQ(c.Find("AuditProbeSlow"), nullptr);  // unknown: never guessed
  EXPECT_EQ(c.Find("ddcolor_colorize"), nullptr);  // class_types are case-sensitive
}

TEST(NodeCatalogTest, TomlAddsAndReplacesEntries) {
  const char* text = R"(
[[node]]
class_type = "DDColor_Colorize"
role = "model"
widgets = ["model_input_size", "model_name"]
model_inputs = ["model_name", "checkpoint"]
model_input_size_input = "model_input_size"
image_input = "image"
task_type = "image_colorization"

[[node]]
class_type = "LoadImageFromUrlOrPath"
role = "image_source"
widgets = ["image", "upload"]
ui_only_widgets = ["upload"]
upload_input = "image"
)";
  Result<NodeCatalog> c = NodeCatalog::FromToml(text, "catalog.toml", NodeCatalog::Default());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->size(), NodeCatalog::Default().size() + 1);
  EXPECT_EQ(c->Find("DDColor_Colorize")->model_inputs,
            (std::vector<std::string>{"model_name", "checkpoint"}));
  EXPECT_FALSE(c->Find("LoadImageFromUrlOrPath")->widgets[1].serialize);
  EXPECT_NE(c->Find("SaveImage"), nullptr);  // the built-in entries stay

  Result<NodeCatalog> only = NodeCatalog::FromToml(
      "replace_builtin = true\n[[node]]\nclass_type = \"X\"\nrole = \"other\"\n", "c.toml",
      NodeCatalog::Default());
  ASSERT_TRUE(only.ok()) << only.status();
  EXPECT_EQ(only->size(), 1u);
  EXPECT_EQ(only->Find("DDColor_Colorize"), nullptr);
}

TEST(NodeCatalogTest, TomlErrorsNameTheLineAndTheKey) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"[[node]]\nclass_type = \"A\"\nrole = \"model\"\ncolour = 1\n",
       "c.toml:4: node.colour is not a known key"},
      {"[[node]]\nclass_type = \"A\"\n", "c.toml:1: node A without role"},
      {"[[node]]\nrole = \"other\"\n", "node entry without class_type"},
      {"[[node]]\nclass_type = \"A\"\nrole = \"sampler\"\n", "c.toml:3: node.role must be one of"},
      {"[[node]]\nclass_type = \"A\"\nrole = \"model\"\nimage_input = \"image\"\n",
       "node A (role model) needs model_inputs"},
      {"[[node]]\nclass_type = \"A\"\nrole = \"image_source\"\n", "needs upload_input"},
      {"[[node]]\nclass_type = \"A\"\nrole = \"resize\"\nimage_input = \"i\"\nwidth_input = \"w\"\n",
       "needs width_input and height_input"},
      {"[[node]]\nclass_type = \"A\"\nrole = \"other\"\nwidgets = [\"a\"]\n"
       "ui_only_widgets = [\"b\"]\n",
       "ui_only_widgets entry b is not in widgets"},
      {"[[node]]\nclass_type = \"A\"\nrole = \"other\"\nwidgets = [1]\n",
       "c.toml:4: node.widgets must be a non-empty string"},
      {"[[node]]\nclass_type = 5\nrole = \"other\"\n", "node.class_type must be a non-empty string"},
      {"node = 3\n", "node must be an array of tables"},
      {"nodes = []\n", "c.toml:1: unknown key nodes"},
      {"replace_builtin = \"yes\"\n", "replace_builtin must be true or false"},
      {"[[node]\n", "c.toml:1: "},
  };
  for (const Case& c : cases) {
    Result<NodeCatalog> r = NodeCatalog::FromToml(c.text, "c.toml", NodeCatalog::Default());
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.message), std::string_view::npos)
        << r.status() << " for\n" << c.text;
  }
}

}  // namespace
}  // namespace tokenaudit::comfy
