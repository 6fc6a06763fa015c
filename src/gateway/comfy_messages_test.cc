#include "src/gateway/comfy_messages.h"

#include <gtest/gtest.h>

namespace tokenaudit::gateway {
namespace {

TEST(ComfyMessagesTest, ParsesExecutionEvents) {
  auto e = ParseUpstreamEvent(
      R"({"type":"executing","data":{"node":"2","display_node":"2","prompt_id":"p1"}})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->type, "executing");
  EXPECT_EQ(e->prompt_id, "p1");
  EXPECT_TRUE(e->has_node);
  EXPECT_EQ(e->node, "2");
  auto done = ParseUpstreamEvent(R"({"type":"executing","data":{"node":null,"prompt_id":"p1"}})");
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->has_node);
  EXPECT_FALSE(done->node.has_value());
  auto err = ParseUpstreamEvent(
      R"({"type":"execution_error","data":{"prompt_id":"p","node_id":"12","node_type":"X","executed":["11","10"],"exception_type":"ValueError","timestamp":1796031396154}})");
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->node_id, "12");
  EXPECT_EQ(err->exception_type, "ValueError");
  EXPECT_EQ(err->executed, (std::vector<std::string>{"11", "10"}));
  EXPECT_EQ(err->timestamp_ms, 1796031396154);
  auto ex = ParseUpstreamEvent(
      R"({"type":"executed","data":{"node":"4","output":{"images":[{"filename":"a.png","subfolder":"","type":"output"}]},"prompt_id":"p"}})");
  ASSERT_TRUE(ex.ok());
  ASSERT_EQ(ex->output_files.size(), 1u);
  EXPECT_EQ(ex->output_files[0], (ComfyFile{"a.png", "", "output"}));
  EXPECT_FALSE(ParseUpstreamEvent("{").ok());
  EXPECT_FALSE(ParseUpstreamEvent("{\"data\":{}}").ok());
}

TEST(ComfyMessagesTest, PreviewWithMetadataConvertsToLegacy) {
  const std::string meta = R"({"node_id":"12","prompt_id":"p9","image_type":"image/png"})";
  std::string frame("\0\0\0\4", 4);
  frame += std::string("\0\0\0", 3) + static_cast<char>(meta.size());
  frame += meta + "IMG";
  EXPECT_EQ(BinaryEventType(frame), kPreviewImageWithMetadata);
  EXPECT_EQ(PreviewPromptId(frame), "p9");
  EXPECT_EQ(*PreviewToLegacy(frame), std::string("\0\0\0\1\0\0\0\2IMG", 11));
  EXPECT_FALSE(PreviewToLegacy(frame.substr(0, 9)).has_value());
  EXPECT_EQ(PreviewPromptId("\0\0\0\4\xff\xff\xff\xff"), "");
  EXPECT_FALSE(BinaryEventType("abc").has_value());
}

TEST(ComfyMessagesTest, HistoryEntryOutcome) {
  auto h = ParseHistoryEntry(
      R"({"p":{"prompt":[0,"p",{},{},[]],"outputs":{"4":{"images":[{"filename":"o.png","subfolder":"","type":"output"}]}},"status":{"status_str":"error","completed":false,"messages":[["execution_start",{"prompt_id":"p","timestamp":10}],["execution_cached",{"nodes":["1"],"prompt_id":"p","timestamp":10}],["execution_interrupted",{"prompt_id":"p","node_id":"12","node_type":"X","executed":["11"],"timestamp":30}]]}}})",
      "p");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->found);
  EXPECT_TRUE(h->finished);
  EXPECT_EQ(h->status, "interrupted");
  EXPECT_EQ(h->cached, std::vector<std::string>{"1"});
  EXPECT_EQ(h->node_id, "12");
  EXPECT_EQ(h->executed, std::vector<std::string>{"11"});
  EXPECT_EQ(h->start_ms, 10);
  EXPECT_EQ(h->end_ms, 30);
  ASSERT_EQ(h->output_files.size(), 1u);
  auto missing = ParseHistoryEntry("{}", "p");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->found);
}

TEST(ComfyMessagesTest, HistoryIsFilteredThenPaged) {
  const std::string body = R"({"a":{"outputs":{}},"b":{"outputs":{}},"c":{"outputs":{}},"d":{}})";
  auto mine = [](std::string_view id) { return id != "b"; };
  EXPECT_EQ(*FilterHistory(body, mine, std::nullopt, std::nullopt, nullptr),
            R"({"a":{"outputs":{}},"c":{"outputs":{}},"d":{}})");
  EXPECT_EQ(*FilterHistory(body, mine, 2, std::nullopt, nullptr),
            R"({"c":{"outputs":{}},"d":{}})");
  EXPECT_EQ(*FilterHistory(body, mine, 1, 0, nullptr), R"({"a":{"outputs":{}}})");
  EXPECT_EQ(*FilterHistory(body, [](std::string_view) { return false; }, std::nullopt,
                           std::nullopt, nullptr),
            "{}");
}

TEST(ComfyMessagesTest, QueueIsFilteredAndSorted) {
  const std::string body =
      R"({"queue_running":[[0,"a",{},{"api_key_comfy_org":"k"},[]]],"queue_pending":[[5,"c",{},{},[]],[2,"b",{},{},[]],[3,"x",{},{},[]]]})";
  auto mine = [](std::string_view id) { return id != "x" && id != "a"; };
  EXPECT_EQ(*FilterQueue(body, mine),
            R"({"queue_running":[],"queue_pending":[[2,"b",{},{},[]],[5,"c",{},{},[]]]})");
  EXPECT_EQ(*QueuePromptIds(body), (std::vector<std::string>{"a", "c", "b", "x"}));
}

TEST(ComfyMessagesTest, HistoryAndQueueShowTheUsersClientId) {
  auto client_of = [](std::string_view id) { return id == "a" ? std::string("ca") : std::string(); };
  auto all = [](std::string_view) { return true; };
  const std::string history =
      R"({"a":{"prompt":[1,"a",{"1":{}},{"x":1,"client_id":"tokenaudit-gw-1"},["1"]],"outputs":{}},)"
      R"("b":{"prompt":[2,"b",{},{"client_id":"tokenaudit-gw-1"},[]],"status":{}}})";
  EXPECT_EQ(*FilterHistory(history, all, std::nullopt, std::nullopt, nullptr, client_of),
            R"({"a":{"prompt":[1,"a",{"1":{}},{"x":1,"client_id":"ca"},["1"]],"outputs":{}},)"
            R"("b":{"prompt":[2,"b",{},{},[]],"status":{}}})");
  const std::string queue =
      R"({"queue_running":[[0,"a",{},{"client_id":"tokenaudit-gw-1"},[]]],)"
      R"("queue_pending":[[5,"b",{},{"client_id":"tokenaudit-gw-1","y":[]},[]]]})";
  EXPECT_EQ(*FilterQueue(queue, all, client_of),
            R"({"queue_running":[[0,"a",{},{"client_id":"ca"},[]]],)"
            R"("queue_pending":[[5,"b",{},{"y":[]},[]]]})");
}

TEST(ComfyMessagesTest, ExtraDataLosesClientIdAndCredentials) {
  EXPECT_EQ(SanitizeExtraData(
                R"({"client_id":"u","api_key_comfy_org":"k","auth_token_comfy_org":"t","extra_pnginfo":{"workflow":{"a":1}}})",
                ""),
            R"({"extra_pnginfo":{"workflow":{"a":1}}})");
  EXPECT_EQ(SanitizeExtraData("", ""), "{}");
  EXPECT_EQ(SanitizeExtraData("[1]", ""), "{}");
}

TEST(ComfyMessagesTest, ExtraDataNamesTheCallersUserOnly) {
  // A caller's own tokenaudit_user is replaced by the key's pseudonym, never forwarded.
  EXPECT_EQ(SanitizeExtraData(R"({"tokenaudit_user":"someone-else","x":1})",
                              "u_AAAAAAAAAAAAAAAAAAAAAA"),
            R"({"x":1,"tokenaudit_user":"u_AAAAAAAAAAAAAAAAAAAAAA"})");
  EXPECT_EQ(SanitizeExtraData("", "u_B"), R"({"tokenaudit_user":"u_B"})");
  EXPECT_EQ(SanitizeExtraData("[1]", "u_B"), R"({"tokenaudit_user":"u_B"})");
}

TEST(ComfyMessagesTest, ErrorJsonIsComfyShaped) {
  EXPECT_EQ(ComfyErrorJson("daily_token_limit", "m \"q\"", ""),
            R"({"error":{"type":"daily_token_limit","message":"m \"q\"","details":"","extra_info":{}},"node_errors":{}})");
}

TEST(ComfyMessagesTest, QueueEditAndUploadReply) {
  QueueEdit q = ParseQueueEdit(R"({"delete":["a","b"],"clear":true,"prompt_id":"p"})");
  EXPECT_EQ(q.delete_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(q.clear);
  EXPECT_EQ(q.prompt_id, "p");
  EXPECT_FALSE(ParseQueueEdit("not json").prompt_id.has_value());
  auto f = ParseUploadReply(R"({"name":"probe (1).png","subfolder":"gw","type":"input"})");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, (ComfyFile{"probe (1).png", "gw", "input"}));
  EXPECT_FALSE(ParseUploadReply("{}").ok());
}

TEST(ComfyMessagesTest, ObjectInfoShowsOnlyTheCallersUploads) {
  const std::string body =
      R"({"LoadImage": {"input": {"required": {"image": [["a.png", "sub/b.png", "c.png", 7],)"
      R"( {"image_upload": true}]}}, "output": ["IMAGE", "MASK"], "name": "LoadImage"},)"
      R"( "V3Loader": {"input": {"required": {"image": ["COMBO", {"options": ["a.png", "c.png"],)"
      R"( "image_upload": true}], "other": [["c.png"]]}, "optional": {}}},)"
      R"( "DDColor_Colorize": {"input": {"required": {"image": ["IMAGE"]}}}})";
  auto upload_input = [](std::string_view cls) {
    return cls == "LoadImage" || cls == "V3Loader" ? std::string_view("image") : std::string_view();
  };
  auto mine = [](std::string_view name) { return name == "a.png" || name == "sub/b.png"; };
  auto out = FilterObjectInfo(body, upload_input, mine);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out,
            R"({"LoadImage":{"input":{"required":{"image":[["a.png","sub/b.png"],)"
            R"({"image_upload":true}]}},"output":["IMAGE","MASK"],"name":"LoadImage"},)"
            R"("V3Loader":{"input":{"required":{"image":["COMBO",{"options":["a.png"],)"
            R"("image_upload":true}],"other":[["c.png"]]},"optional":{}}},)"
            R"("DDColor_Colorize":{"input":{"required":{"image":["IMAGE"]}}}})");
  // Nothing to filter: the body as it came.
  const std::string one = R"({"DDColor_Colorize": {"input": {}}})";
  EXPECT_EQ(*FilterObjectInfo(one, upload_input, mine), one);
  EXPECT_EQ(*FilterObjectInfo("{}", upload_input, mine), "{}");
  EXPECT_FALSE(FilterObjectInfo("[1]", upload_input, mine).ok());
  EXPECT_FALSE(FilterObjectInfo("{\"LoadImage\":", upload_input, mine).ok());
}

}  // namespace
}  // namespace tokenaudit::gateway
