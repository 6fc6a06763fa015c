// The fake ComfyUI against the recordings: the capture session of runs.json replayed in order
// (same uploads, prompts, prompt ids and clients) must give the recorded WebSocket sequences
// frame by frame, the recorded history entries and HTTP answers; plus the routing quirks of
// protocol.md §0.2 that the captures describe but do not record.

#include "test/comfy/fake_comfyui.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdio>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "test/support/comfy_captures.h"
#include "test/support/comfy_ws_client.h"
#include "test/support/http_client.h"

namespace tokenaudit::comfy::testing {
namespace {

namespace dom = simdjson::dom;
using ::tokenaudit::testing::CapturedPromptFromHistory;
using ::tokenaudit::testing::ComfyWsClient;
using ::tokenaudit::testing::HttpClient;
using ::tokenaudit::testing::HttpResult;
using ::tokenaudit::testing::ReadCaptureFile;
using ::tokenaudit::testing::WsFrame;

const char* kLegacy = "gw-legacy-ef55ac";
const char* kFlags = "gw-flags-44b3e9";

// JSON in one canonical text for comparisons: key order kept, ints and floats told apart, event
// timestamps zeroed, output counters and the fields that carry tensors or tracebacks dropped, and
// keys in `skip` left out.
void Canon(dom::element e, std::string* out, const std::set<std::string>& skip, bool zero) {
  switch (e.type()) {
    case dom::element_type::OBJECT: {
      out->push_back('{');
      bool first = true;
      const dom::object obj = e.get_object().value_unsafe();
      for (auto [k, v] : obj) {
        if (skip.count(std::string(k))) continue;
        if (!first) out->push_back(',');
        first = false;
        *out += "\"" + std::string(k) + "\":";
        Canon(v, out, skip, k == "timestamp");
      }
      out->push_back('}');
      break;
    }
    case dom::element_type::ARRAY: {
      out->push_back('[');
      bool first = true;
      const dom::array arr = e.get_array().value_unsafe();
      for (dom::element v : arr) {
        if (!first) out->push_back(',');
        first = false;
        Canon(v, out, skip, false);
      }
      out->push_back(']');
      break;
    }
    case dom::element_type::DOUBLE: {
      char buf[40];
      std::snprintf(buf, sizeof(buf), "%.17g", e.get_double().value_unsafe());
      *out += std::string(buf) + "d";
      break;
    }
    case dom::element_type::STRING:
      *out += "\"" + std::regex_replace(std::string(e.get_string().value_unsafe()),
                                        std::regex("_[0-9]{5}_\\.png"), "_N_.png") + "\"";
      break;
    default:
      *out += zero ? "0" : simdjson::minify(e);
  }
}

const std::set<std::string> kVolatile = {"traceback", "current_inputs", "current_outputs",
                                         "audit_probe"};

std::string CanonJson(std::string_view json) {
  dom::parser p;
  dom::element e;
  if (p.parse(simdjson::padded_string(json)).get(e) != simdjson::SUCCESS) {
    return "<not json> " + std::string(json);
  }
  std::string out;
  Canon(e, &out, kVolatile, false);
  return out;
}

uint32_t Be32(std::string_view s, size_t i) {
  return (uint32_t(uint8_t(s[i])) << 24) | (uint32_t(uint8_t(s[i + 1])) << 16) |
         (uint32_t(uint8_t(s[i + 2])) << 8) | uint8_t(s[i + 3]);
}

std::string Hex(std::string_view s) {
  std::string out;
  char buf[3];
  for (char c : s) {
    std::snprintf(buf, sizeof(buf), "%02x", static_cast<uint8_t>(c));
    out += buf;
  }
  return out;
}

// A received frame, described as the capture describes frames.
std::string Describe(const WsFrame& f) {
  if (!f.binary) return "T " + CanonJson(f.data);
  const uint32_t type = Be32(f.data, 0);
  if (type == 1) return "B1 fmt=" + std::to_string(Be32(f.data, 4)) + " " + Hex(f.data.substr(8, 4));
  if (type == 4) {
    const uint32_t n = Be32(f.data, 4);
    return "B4 " + CanonJson(f.data.substr(8, n)) + " " + Hex(f.data.substr(8 + n, 4));
  }
  return "B" + std::to_string(type) + " " + Hex(f.data.substr(4));
}

// A recorded frame of runs.json, described the same way.
std::string DescribeCaptured(dom::element f) {
  dom::element text;
  if (f["text"].get(text) == simdjson::SUCCESS) {
    std::string out = "T ";
    Canon(text, &out, kVolatile, false);
    return out;
  }
  const int64_t type = f["binary_event"].get_int64().value_unsafe();
  const std::string magic(f["image_magic"].get_string().value_unsafe());
  if (type == 1) {
    return "B1 fmt=" + std::to_string(f["image_type"].get_int64().value_unsafe()) + " " + magic;
  }
  std::string out = "B4 ";
  Canon(f["metadata"].value_unsafe(), &out, kVolatile, false);
  return out + " " + magic;
}

// The recorded frames of run `key` from the two status frames before execution_start to the
// final executing{node:null}.
std::vector<std::string> CapturedWindow(std::string_view key) {
  static const simdjson::padded_string runs(ReadCaptureFile("runs.json"));
  static dom::parser parser;
  static const dom::element root = parser.parse(runs).value_unsafe();
  std::vector<std::string> all;
  const dom::array frames = root[key]["ws"].get_array().value_unsafe();
  for (dom::element f : frames) all.push_back(DescribeCaptured(f));
  size_t start = 0, end = all.size();
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].starts_with("T {\"type\":\"execution_start\"")) start = i - 2;
    if (start > 0 && all[i].starts_with("T {\"type\":\"executing\",\"data\":{\"node\":null")) {
      end = i + 1;
      break;
    }
  }
  return {all.begin() + start, all.begin() + end};
}

std::vector<std::string> Received(ComfyWsClient* ws) {
  std::vector<std::string> out;
  for (const WsFrame& f : ws->Until("\"node\":null")) out.push_back(Describe(f));
  return out;
}

// Reads whatever the socket has queued and expects only status frames in it.
void DrainStatusFrames(ComfyWsClient* ws) {
  while (std::optional<WsFrame> f = ws->Next(300)) {
    EXPECT_NE(f->data.find("{\"type\":\"status\""), std::string::npos) << f->data;
  }
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += x + "\n";
  return s;
}

std::string PromptBody(std::string_view key, std::string_view client_id,
                       std::string_view extra = "") {
  const ::tokenaudit::testing::CapturedPrompt c = CapturedPromptFromHistory(key);
  std::string body = "{\"prompt\":" + c.prompt_json + ",\"prompt_id\":\"" + c.prompt_id + "\"";
  if (!client_id.empty()) body += ",\"client_id\":\"" + std::string(client_id) + "\"";
  if (!extra.empty()) body += ",\"extra_data\":" + std::string(extra);
  return body + "}";
}

std::string Multipart(std::string_view filename, std::string_view bytes, std::string_view subfolder,
                      bool overwrite) {
  std::string b = "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" +
                  std::string(filename) + "\"\r\nContent-Type: image/png\r\n\r\n" + std::string(bytes) + "\r\n";
  if (!subfolder.empty()) {
    b += "--XyZ\r\nContent-Disposition: form-data; name=\"subfolder\"\r\n\r\n" + std::string(subfolder) + "\r\n";
  }
  if (overwrite) b += "--XyZ\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue\r\n";
  return b + "--XyZ--\r\n";
}

class FakeComfyUiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeComfyUiOptions o;
    o.captures_dir = TOKENAUDIT_COMFY_CAPTURES;
    o.ddcolor_ms = 5;
    auto started = FakeComfyUi::Start(o);
    ASSERT_TRUE(started.ok()) << started.status();
    fake_ = std::move(*started);
    http_ = std::make_unique<HttpClient>(fake_->port());
  }
  void TearDown() override {
    if (fake_) fake_->Stop();
  }

  HttpResult Post(std::string_view target, std::string_view body,
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
    return http_->Request("POST", target, body, std::move(headers));
  }
  HttpResult Get(std::string_view target) { return http_->Request("GET", target); }
  HttpResult Upload(std::string_view name, std::string_view bytes, std::string_view subfolder,
                    bool overwrite = false) {
    return Post("/upload/image", Multipart(name, bytes, subfolder, overwrite),
                {{"Content-Type", "multipart/form-data; boundary=XyZ"}});
  }
  // The uploads of captures/http.json, in the recorded order and with the recorded answers.
  void UploadLikeTheCapture() {
    const std::string http = ReadCaptureFile("http.json");
    dom::parser p;
    dom::element cap = p.parse(simdjson::padded_string(http)).value_unsafe();
    auto expect = [&](const HttpResult& r, const char* key) {
      EXPECT_EQ(r.status, cap[key]["status"].get_int64().value_unsafe()) << key;
      EXPECT_EQ(CanonJson(r.body), CanonJson(simdjson::minify(cap[key]["body"]))) << key;
    };
    expect(Upload("probe.png", "bytes-a", "", true), "upload overwrite");
    expect(Upload("probe.png", "bytes-a", ""), "upload duplicate same bytes");
    expect(Upload("probe.png", "bytes-b", "gw"), "upload same name new bytes");
    expect(Upload("probe.png", "bytes-c", "gw"), "upload same name new bytes 2");
    HttpResult none = Post("/upload/image", "--XyZ--\r\n",
                           {{"Content-Type", "multipart/form-data; boundary=XyZ"}});
    EXPECT_EQ(none.status, 400);
  }
  void ExpectHistoryAsCaptured(std::string_view key) {
    const ::tokenaudit::testing::CapturedPrompt c = CapturedPromptFromHistory(key);
    HttpResult r = Get("/history/" + c.prompt_id);
    ASSERT_EQ(r.status, 200);
    const std::string history = ReadCaptureFile("history.json");
    dom::parser p;
    dom::element cap = p.parse(simdjson::padded_string(history)).value_unsafe();
    EXPECT_EQ(CanonJson(r.body), CanonJson(simdjson::minify(cap[key]["body"]))) << key;
  }

  std::unique_ptr<FakeComfyUi> fake_;
  std::unique_ptr<HttpClient> http_;
};

TEST_F(FakeComfyUiTest, HttpAnswersMatchTheCaptures) {
  const std::string http = ReadCaptureFile("http.json");
  dom::parser p;
  dom::element cap = p.parse(simdjson::padded_string(http)).value_unsafe();
  for (const char* key : {"GET /system_stats", "GET /api/system_stats", "GET /queue", "GET /prompt",
                          "GET /features", "GET /object_info/ImageScale", "GET /object_info/SaveImage",
                          "GET /object_info/DDColor_Colorize", "GET /object_info/AuditProbeSlow"}) {
    HttpResult r = Get(std::string(cap[key]["path"].get_string().value_unsafe()));
    EXPECT_EQ(r.status, 200) << key;
    EXPECT_EQ(CanonJson(r.body), CanonJson(simdjson::minify(cap[key]["body"]))) << key;
  }
  EXPECT_EQ(Get("/object_info/NoSuchNode").body, "{}");
  EXPECT_EQ(Get("/history/nope").body, "{}");  // history.json "unknown": 200 {}
  EXPECT_EQ(Get("/api/history/nope").status, 200);
  EXPECT_EQ(Get("/internal/logs").status, 404);
  UploadLikeTheCapture();
  // LoadImage's combo lists the files at the top of the input directory, as captured.
  const char* load_image = "GET /object_info/LoadImage";
  EXPECT_EQ(CanonJson(Get("/object_info/LoadImage").body),
            CanonJson(simdjson::minify(cap[load_image]["body"])));
  EXPECT_EQ(Post("/prompt", "{not json").status, 500);  // the real server crashes on it
}

TEST_F(FakeComfyUiTest, ValidationErrorsMatchTheCaptures) {
  UploadLikeTheCapture();
  const std::string chain = R"("1": {"class_type": "LoadImage", "inputs": {"image": "probe.png"}},)";
  const std::pair<const char*, std::string> cases[] = {
      {"value_below_min", "{" + chain + R"("2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0],
        "upscale_method": "bilinear", "width": -5, "height": 24, "crop": "disabled"}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}})"},
      {"not_in_list", "{" + chain + R"("2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0],
        "upscale_method": "bogus", "width": 32, "height": 24, "crop": "disabled"}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}}})"},
      {"missing_file", R"({"1": {"class_type": "LoadImage", "inputs": {"image": "does_not_exist.png"}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}})"},
      {"unknown_class", R"({"1": {"class_type": "NoSuchNode", "inputs": {}}})"},
      {"no_outputs", "{" + chain + R"("2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}})"},
      {"missing_input", "{" + chain + R"("4": {"class_type": "SaveImage", "inputs": {"filename_prefix": "x"}}})"},
      {"bad_link", "{" + chain + R"("2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0, 1]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}}})"},
      {"type_mismatch", "{" + chain + R"("3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 1]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}}})"},
  };
  const std::string captured = ReadCaptureFile("validation_errors.json");
  dom::parser p;
  dom::element cap = p.parse(simdjson::padded_string(captured)).value_unsafe();
  for (const auto& [key, prompt] : cases) {
    HttpResult r = Post("/prompt", "{\"prompt\": " + prompt + ", \"client_id\": \"c\"}");
    EXPECT_EQ(r.status, 400) << key;
    EXPECT_EQ(CanonJson(r.body), CanonJson(simdjson::minify(cap[key]["body"]))) << key;
  }
  HttpResult r = Post("/prompt", R"({"client_id": "c"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(CanonJson(r.body), CanonJson(simdjson::minify(cap["no_prompt_key"]["body"])));
  EXPECT_EQ(fake_->queue_remaining(), 0u);
}

// The whole recorded session: two clients (legacy previews, and one that negotiated
// supports_preview_metadata), the same uploads and prompts in the same order.
TEST_F(FakeComfyUiTest, RecordedSessionReplaysFrameByFrame) {
  ComfyWsClient legacy, flags;
  ASSERT_TRUE(legacy.Connect(fake_->port(), std::string("/ws?clientId=") + kLegacy));
  ASSERT_TRUE(flags.Connect(fake_->port(), std::string("/api/ws?clientId=") + kFlags, true));
  EXPECT_EQ(Describe(*legacy.Next()),
            "T " + CanonJson(R"({"type":"status","data":{"status":{"exec_info":{"queue_remaining":0}},"sid":"gw-legacy-ef55ac"}})"));
  EXPECT_EQ(Describe(*flags.Next()),
            "T " + CanonJson(R"({"type":"status","data":{"status":{"exec_info":{"queue_remaining":0}},"sid":"gw-flags-44b3e9"}})"));
  EXPECT_EQ(Describe(*flags.Next()),
            "T " + CanonJson(R"({"type":"feature_flags","data":{"supports_preview_metadata":true,"max_upload_size":104857600}})"));
  UploadLikeTheCapture();

  auto run = [&](const char* key, ComfyWsClient* ws, const char* client, const char* extra = "") {
    HttpResult r = Post("/prompt", PromptBody(key, client, extra));
    ASSERT_EQ(r.status, 200) << key << ": " << r.body;
    const std::vector<std::string> got = Received(ws);
    EXPECT_EQ(Join(got), Join(CapturedWindow(key))) << key;
    ASSERT_TRUE(fake_->WaitIdle(5000));
    ExpectHistoryAsCaptured(key);
  };
  run("builtin", &legacy, kLegacy, R"({"extra_pnginfo":{"workflow":{"note":"ui json would go here"}}})");
  run("builtin_cached", &legacy, kLegacy);
  run("ddcolor_legacy", &legacy, kLegacy);
  // The flags client saw only the status frames of the legacy client's runs; its own run has
  // type-4 previews between progress_state and progress.
  DrainStatusFrames(&flags);
  run("ddcolor_flags", &flags, kFlags);
  DrainStatusFrames(&legacy);
  run("runtime_error", &legacy, kLegacy);

  // The interrupt run: a long prompt, two more queued while it runs (one at the front), the
  // pending one deleted, then a global interrupt.
  const ::tokenaudit::testing::CapturedPrompt long_run = CapturedPromptFromHistory("interrupt");
  ASSERT_EQ(Post("/prompt", PromptBody("interrupt", kLegacy)).status, 200);
  std::vector<std::string> got;
  for (const WsFrame& f : legacy.Until("\"executing\",\"data\":{\"node\":\"12\"")) got.push_back(Describe(f));
  const std::string front = PromptBody("front", kLegacy);
  std::string pending = std::regex_replace(front, std::regex("\"front\""), "\"pending\"");
  pending = std::regex_replace(pending, std::regex("83ef16fc-087c-4003-9d08-deedc62405ac"),
                               "446a2630-8e86-4a95-8e73-7a15a50eab08");
  EXPECT_EQ(Post("/prompt", pending).body,
            R"({"prompt_id":"446a2630-8e86-4a95-8e73-7a15a50eab08","number":6,"node_errors":{}})");
  std::string front_body = front.substr(0, front.size() - 1) + ",\"front\":true}";
  EXPECT_EQ(Post("/prompt", front_body).body,
            R"({"prompt_id":"83ef16fc-087c-4003-9d08-deedc62405ac","number":-7,"node_errors":{}})");
  for (const WsFrame& f : legacy.Until("\"value\":3,")) got.push_back(Describe(f));
  HttpResult queue = Get("/queue");
  EXPECT_NE(queue.body.find("\"queue_running\":[[5,\"a7cd0d02"), std::string::npos) << queue.body;
  EXPECT_EQ(Get("/prompt").body, R"({"exec_info":{"queue_remaining":3}})");
  EXPECT_EQ(Post("/queue", R"({"delete": ["446a2630-8e86-4a95-8e73-7a15a50eab08"]})").status, 200);
  EXPECT_EQ(Post("/interrupt", "").status, 200);
  for (const std::string& f : Received(&legacy)) got.push_back(f);
  // Progress frames depend on when the interrupt lands: compare everything else.
  auto without_progress = [](std::vector<std::string> v) {
    std::erase_if(v, [](const std::string& f) {
      return f.find("\"type\":\"progress") != std::string::npos;
    });
    return Join(v);
  };
  EXPECT_EQ(without_progress(got), without_progress(CapturedWindow("interrupt")));
  ASSERT_TRUE(fake_->WaitIdle(5000));
  ExpectHistoryAsCaptured("interrupt");
  ExpectHistoryAsCaptured("front");  // ran next: execution_cached ["1"]
  EXPECT_EQ(Get("/history/446a2630-8e86-4a95-8e73-7a15a50eab08").body, "{}");  // deleted pending
  HttpResult last2 = Get("/history?max_items=2");
  const std::string captured_history = ReadCaptureFile("history.json");
  dom::parser p;
  dom::element cap = p.parse(simdjson::padded_string(captured_history)).value_unsafe();
  EXPECT_EQ(CanonJson(last2.body), CanonJson(simdjson::minify(cap["list_max2"]["body"])));
  // The saved output is served by /view.
  HttpResult view = Get("/view?filename=front_00001_.png&type=output");
  EXPECT_EQ(view.status, 200);
  EXPECT_EQ(view.body, "bytes-a");
  EXPECT_EQ(Get("/view?filename=../x.png").status, 400);
  EXPECT_EQ(Get("/view?filename=missing.png").status, 404);
}

// protocol.md §0.2: a prompt with a client_id is seen only by that socket; one without sends no
// guarded events and broadcasts progress, previews and execution_interrupted; status and TEXT
// frames reach every socket.
TEST_F(FakeComfyUiTest, ClientIdRoutingAndBroadcastQuirks) {
  UploadLikeTheCapture();
  ComfyWsClient a, b;
  ASSERT_TRUE(a.Connect(fake_->port(), "/ws?clientId=a"));
  ASSERT_TRUE(b.Connect(fake_->port(), "/ws?clientId=b"));
  (void)a.Next();
  (void)b.Next();
  const std::string probe = R"({"1": {"class_type": "LoadImage", "inputs": {"image": "probe.png"}},
      "2": {"class_type": "AuditProbeSlow", "inputs": {"image": ["1", 0], "steps": 2, "delay_ms": 1,
            "send_preview": true, "fail": false}},
      "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}})";
  ASSERT_EQ(Post("/prompt", "{\"prompt\": " + probe + ", \"client_id\": \"a\", \"prompt_id\": \"p1\"}").status, 200);
  const std::deque<WsFrame> seen_by_a = a.Until("\"node\":null");
  ASSERT_TRUE(fake_->WaitIdle(5000));
  EXPECT_TRUE(seen_by_a.back().data.find("\"prompt_id\":\"p1\"") != std::string::npos);
  std::deque<WsFrame> seen_by_b;
  while (auto f = b.Next(200)) seen_by_b.push_back(*f);
  for (const WsFrame& f : seen_by_b) {
    EXPECT_FALSE(f.binary);
    EXPECT_NE(f.data.find("\"type\":\"status\""), std::string::npos) << f.data;
  }
  EXPECT_EQ(seen_by_b.size(), 3u);  // put, get, task_done

  // Without client_id: no guarded events; progress and type-1 previews to everyone.
  ASSERT_EQ(Post("/prompt", "{\"prompt\": " + std::regex_replace(probe, std::regex("\"steps\": 2"), "\"steps\": 3") +
                                ", \"prompt_id\": \"p2\"}").status, 200);
  ASSERT_TRUE(fake_->WaitIdle(5000));
  for (ComfyWsClient* ws : {&a, &b}) {
    std::vector<std::string> types;
    while (auto f = ws->Next(200)) {
      if (f->binary) {
        types.push_back("binary" + std::to_string(Be32(f->data, 0)));
        continue;
      }
      dom::parser p;
      types.emplace_back(p.parse(simdjson::padded_string(f->data))["type"].get_string().value_unsafe());
    }
    const std::string joined = Join(types);
    EXPECT_EQ(joined.find("executing"), std::string::npos) << joined;
    EXPECT_EQ(joined.find("execution_"), std::string::npos) << joined;
    EXPECT_EQ(joined.find("executed"), std::string::npos) << joined;
    EXPECT_EQ(std::count(types.begin(), types.end(), "progress"), 3) << joined;
    EXPECT_EQ(std::count(types.begin(), types.end(), "binary1"), 3) << joined;
    EXPECT_EQ(std::count(types.begin(), types.end(), "status"), 3) << joined;
  }
  HttpResult history = Get("/history/p2");
  EXPECT_NE(history.body.find("\"status_str\":\"success\""), std::string::npos);

  // An interrupted prompt without client_id: execution_interrupted is broadcast.
  const std::string slow = std::regex_replace(probe, std::regex("\"steps\": 2, \"delay_ms\": 1"),
                                              "\"steps\": 500, \"delay_ms\": 5");
  ASSERT_EQ(Post("/prompt", "{\"prompt\": " + slow + ", \"prompt_id\": \"p3\"}").status, 200);
  (void)a.Until("\"value\":2,");
  // Scoped to another prompt: a no-op.
  EXPECT_EQ(Post("/interrupt", R"({"prompt_id": "p1"})").status, 200);
  EXPECT_EQ(fake_->queue_remaining(), 1u);
  EXPECT_EQ(Post("/interrupt", R"({"prompt_id": "p3"})").status, 200);
  for (ComfyWsClient* ws : {&a, &b}) {
    const std::deque<WsFrame> frames = ws->Until("execution_interrupted");
    ASSERT_FALSE(frames.empty());
    EXPECT_NE(frames.back().data.find("\"node_id\":\"2\""), std::string::npos) << frames.back().data;
  }
  ASSERT_TRUE(fake_->WaitIdle(5000));

  // send_progress_text frames go to every socket.
  ASSERT_EQ(Post("/__fake/text", R"({"node_id": "7", "text": "64"})").status, 200);
  for (ComfyWsClient* ws : {&a, &b}) {
    std::optional<WsFrame> f;
    do {
      f = ws->Next(2000);
    } while (f && !f->binary);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->data, std::string("\0\0\0\3\0\0\0\1" "764", 11));
  }
}

TEST_F(FakeComfyUiTest, ScriptedDdcolorFailureAndReconnectMidRun) {
  UploadLikeTheCapture();
  ASSERT_EQ(Post("/__fake/fail_next", R"({"class_type": "DDColor_Colorize",
      "exception_type": "FileNotFoundError", "exception_message": "Checkpoint load failed."})").status, 200);
  ComfyWsClient ws;
  ASSERT_TRUE(ws.Connect(fake_->port(), "/ws?clientId=u1"));
  const std::string dd = R"({"1": {"class_type": "LoadImage", "inputs": {"image": "probe.png"}},
      "2": {"class_type": "DDColor_Colorize", "inputs": {"image": ["1", 0], "model_input_size": 512,
            "checkpoint": "ddcolor_modelscope.pth"}},
      "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "c"}}})";
  ASSERT_EQ(Post("/prompt", "{\"prompt\": " + dd + ", \"client_id\": \"u1\", \"prompt_id\": \"f1\"}").status, 200);
  const std::deque<WsFrame> frames = ws.Until("\"node\":null");
  ASSERT_GE(frames.size(), 3u);
  const std::string& error = frames[frames.size() - 3].data;
  EXPECT_NE(error.find("\"type\":\"execution_error\""), std::string::npos) << error;
  EXPECT_NE(error.find("\"node_id\":\"2\",\"node_type\":\"DDColor_Colorize\",\"executed\":[\"1\"]"),
            std::string::npos) << error;
  EXPECT_NE(error.find("\"exception_message\":\"Checkpoint load failed.\",\"exception_type\":\"FileNotFoundError\""),
            std::string::npos) << error;
  ASSERT_TRUE(fake_->WaitIdle(5000));
  EXPECT_NE(Get("/history/f1").body.find("\"status_str\":\"error\",\"completed\":false"), std::string::npos);

  // A socket reconnecting with the id that owns the running prompt is told the current node.
  const std::string slow = R"({"1": {"class_type": "LoadImage", "inputs": {"image": "probe.png"}},
      "2": {"class_type": "AuditProbeSlow", "inputs": {"image": ["1", 0], "steps": 400, "delay_ms": 5,
            "send_preview": false, "fail": false}},
      "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}})";
  ASSERT_EQ(Post("/prompt", "{\"prompt\": " + slow + ", \"client_id\": \"u1\", \"prompt_id\": \"s1\"}").status, 200);
  (void)ws.Until("\"value\":1,");
  ws.Close();
  ComfyWsClient again;
  ASSERT_TRUE(again.Connect(fake_->port(), "/ws?clientId=u1"));
  EXPECT_NE(again.Next()->data.find("\"sid\":\"u1\""), std::string::npos);
  EXPECT_EQ(again.Next()->data, R"({"type":"executing","data":{"node":"2"}})");
  EXPECT_EQ(Post("/interrupt", R"({"prompt_id": "s1"})").status, 200);
  const std::deque<WsFrame> rest = again.Until("\"node\":null");
  ASSERT_GE(rest.size(), 3u);
  EXPECT_NE(rest[rest.size() - 3].data.find("execution_interrupted"), std::string::npos);
}

}  // namespace
}  // namespace tokenaudit::comfy::testing
