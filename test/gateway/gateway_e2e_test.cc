// End-to-end tests of the ComfyUI gateway: the real `tokenaudit serve` binary with the gateway
// on, in front of the fake ComfyUI (test/comfy/fake_comfyui.h) reached through a TCP relay that
// can cut the gateway's upstream WebSocket. Every prompt's records, read back as admin with
// GET /v1/events, are checked against the fake's own /history: none missing, none doubled.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/comfy/fake_comfyui.h"
#include "test/gateway/tcp_relay.h"
#include "test/serve/serve_test_util.h"
#include "test/support/comfy_captures.h"
#include "test/support/comfy_uploads.h"
#include "test/support/comfy_ws_client.h"

namespace tokenaudit::testing {
namespace {

namespace dom = simdjson::dom;
using comfy::testing::FakeComfyUi;
using comfy::testing::FakeComfyUiOptions;

using ::tokenaudit::testing::Multipart;
using ::tokenaudit::testing::Png;

std::string Ddcolor(const std::string& image) {
  return R"({"1": {"class_type": "LoadImage", "inputs": {"image": ")" + image + R"("}},
    "2": {"class_type": "DDColor_Colorize", "inputs": {"image": ["1", 0], "model_input_size": 512,
          "checkpoint": "ddcolor_paper_tiny.pth"}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "gw"}}})";
}

std::string Slow(const std::string& image, int steps, int delay_ms, bool preview = false) {
  return R"({"1": {"class_type": "LoadImage", "inputs": {"image": ")" + image + R"("}},
    "2": {"class_type": "AuditProbeSlow", "inputs": {"image": ["1", 0], "steps": )" +
         std::to_string(steps) + R"(, "delay_ms": )" + std::to_string(delay_ms) +
         R"(, "send_preview": )" + (preview ? "true" : "false") + R"(, "fail": false}},
    "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}})";
}

std::string Field(const std::string& json, const std::string& key) {
  dom::parser p;
  dom::element e;
  if (p.parse(simdjson::padded_string(json)).get(e) != simdjson::SUCCESS) return "";
  std::string_view v;
  if (e[key].get_string().get(v) != simdjson::SUCCESS) return "";
  return std::string(v);
}

// The id of the `rejected` record a refusal names in error.extra_info.
std::string RejectedRecordId(const std::string& body) {
  dom::parser p;
  dom::element e;
  std::string_view v;
  if (p.parse(simdjson::padded_string(body)).get(e) != simdjson::SUCCESS ||
      e["error"]["extra_info"]["tokenaudit_record_id"].get_string().get(v) != simdjson::SUCCESS) {
    ADD_FAILURE() << "no record id in " << body;
    return "";
  }
  return std::string(v);
}

struct StoredRecord {
  std::string id, status, error_type, node_id, duplicate_of;
  bool has_duration = false;
};

class GatewayE2eTest : public ServeTest {
 protected:
  void SetUp() override {
    ServeTest::SetUp();
    FakeComfyUiOptions o;
    o.captures_dir = TOKENAUDIT_COMFY_CAPTURES;
    o.ddcolor_ms = 150;
    auto fake = FakeComfyUi::Start(o);
    ASSERT_TRUE(fake.ok()) << fake.status();
    fake_ = std::move(*fake);
    ASSERT_TRUE(relay_.Start(fake_->port()));
    key_file_ = dir_ + "/gateway.key";
    std::ofstream(key_file_) << ingest_ << "\n";
    fake_http_ = std::make_unique<HttpClient>(fake_->port());
  }
  void TearDown() override {
    server_->Stop();
    relay_.Stop();
    if (fake_) fake_->Stop();
    ServeTest::TearDown();
  }

  void StartGateway(std::vector<std::string> env = {}) {
    env.push_back(kPseudonymKeyEnv);
    env.push_back("TOKENAUDIT_GATEWAY_INGEST_KEY_FILE=" + key_file_);
    std::vector<std::string> args = {"--data-dir", data_, "--listen", "127.0.0.1:0",
                                     "--gateway-listen", "127.0.0.1:0", "--comfyui-upstream",
                                     "http://127.0.0.1:" + std::to_string(relay_.port())};
    ASSERT_TRUE(server_->Start(args, env)) << server_->AllOutput();
    client_ = std::make_unique<HttpClient>(server_->port());
    const std::string marker = "gateway listening on http://";
    std::string out;
    for (int i = 0; i < 200; ++i) {
      out = server_->AllOutput();
      if (out.find(marker) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    size_t p = out.find(marker);
    ASSERT_NE(p, std::string::npos) << out;
    std::string addr = out.substr(p + marker.size());
    addr = addr.substr(0, addr.find(' '));
    gw_port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
    // The gateway's upstream socket is up once the fake counts a second socket... simply wait
    // for a request to succeed.
    ASSERT_EQ(Gw(alice_, "GET", "/system_stats").status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  HttpResult Gw(const std::string& key, const std::string& method, const std::string& target,
                const std::string& body = "", const std::string& type = "application/json") {
    HttpClient c(gw_port_);
    std::vector<std::pair<std::string, std::string>> h;
    if (!key.empty()) h.emplace_back("Authorization", "Bearer " + key);
    if (!body.empty()) h.emplace_back("Content-Type", type);
    return c.Request(method, target, body, h);
  }
  std::string Upload(const std::string& key, const std::string& name, const std::string& bytes) {
    HttpResult r = Gw(key, "POST", "/upload/image", Multipart(name, bytes),
                      "multipart/form-data; boundary=XyZ");
    EXPECT_EQ(r.status, 200) << r.body;
    return Field(r.body, "name");
  }
  // Submits and returns the prompt_id (empty on refusal; `result` gets the answer).
  std::string Submit(const std::string& key, const std::string& prompt,
                     const std::string& client_id, HttpResult* result = nullptr) {
    HttpResult r = Gw(key, "POST", "/prompt",
                      "{\"prompt\": " + prompt + ", \"client_id\": \"" + client_id + "\"}");
    if (result) *result = r;
    if (r.status != 200) return "";
    submitted_.push_back(Field(r.body, "prompt_id"));
    return submitted_.back();
  }
  std::unique_ptr<ComfyWsClient> Socket(const std::string& key, const std::string& client_id) {
    auto ws = std::make_unique<ComfyWsClient>();
    EXPECT_TRUE(ws->Connect(gw_port_, "/ws?clientId=" + client_id + "&token=" + key));
    auto first = ws->Next();
    EXPECT_TRUE(first.has_value());
    if (first) EXPECT_NE(first->data.find("\"sid\":\"" + client_id + "\""), std::string::npos);
    return ws;
  }

  // Every record the gateway stored, by prompt id, read as admin.
  std::map<std::string, std::vector<StoredRecord>> GatewayRecords() {
    std::map<std::string, std::vector<StoredRecord>> out;
    std::string cursor;
    for (;;) {
      HttpResult r = Get(admin_, "/v1/events?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
      EXPECT_EQ(r.status, 200) << r.body;
      dom::parser p;
      dom::element root;
      dom::array events;
      if (p.parse(simdjson::padded_string(r.body)).get(root) != simdjson::SUCCESS ||
          root["events"].get_array().get(events) != simdjson::SUCCESS) {
        ADD_FAILURE() << r.body;
        return out;
      }
      for (dom::element e : events) {
        std::string_view source;
        if (e["source"].get_string().get(source) != simdjson::SUCCESS || source != "comfyui-gateway") {
          continue;
        }
        StoredRecord s;
        s.id = std::string(e["id"].get_string().value());
        s.status = std::string(e["status"].get_string().value());
        std::string_view v;
        if (e["error.type"].get_string().get(v) == simdjson::SUCCESS) s.error_type = v;
        if (e["node_id"].get_string().get(v) == simdjson::SUCCESS) s.node_id = v;
        if (e["duplicate_of"].get_string().get(v) == simdjson::SUCCESS) s.duplicate_of = v;
        uint64_t d;
        s.has_duration = e["duration_ms"].get_uint64().get(d) == simdjson::SUCCESS;
        out[s.id.substr(0, s.id.find('/'))].push_back(s);
      }
      std::string_view next;
      if (root["next_cursor"].get_string().get(next) != simdjson::SUCCESS) break;
      cursor = std::string(next);
    }
    return out;
  }

  // The records a prompt must have, from the fake's history: one per recordable node that ran
  // (success, or cached, or the failing node's status) and one summary.
  std::map<std::string, std::string> ExpectedFromHistory(const std::string& prompt_id) {
    HttpResult h = fake_http_->Request("GET", "/history/" + prompt_id);
    EXPECT_EQ(h.status, 200);
    dom::parser p;
    std::map<std::string, std::string> expected;
    dom::element root, entry;
    if (p.parse(simdjson::padded_string(h.body)).get(root) != simdjson::SUCCESS ||
        root[prompt_id].get(entry) != simdjson::SUCCESS) {
      ADD_FAILURE() << "no history for " << prompt_id << ": " << h.body;
      return expected;
    }
    std::set<std::string> cached, executed;
    std::string outcome = "success", failed;
    // Arrays are held in locals: a range-for over simdjson_result::value() of a temporary
    // dangles.
    dom::array messages = entry["status"]["messages"].get_array().value();
    for (dom::element m : messages) {
      std::string_view name = m.at(0).get_string().value();
      dom::element data = m.at(1).value();
      if (name == "execution_cached") {
        dom::array nodes = data["nodes"].get_array().value();
        for (dom::element n : nodes) cached.insert(std::string(n.get_string().value()));
      } else if (name == "execution_error" || name == "execution_interrupted") {
        outcome = name == "execution_error" ? "error" : "interrupted";
        failed = std::string(data["node_id"].get_string().value());
        dom::array ran = data["executed"].get_array().value();
        for (dom::element n : ran) executed.insert(std::string(n.get_string().value()));
      }
    }
    const std::set<std::string> plain = {"LoadImage", "SaveImage", "PreviewImage", "ImageInvert",
                                         "ImageScale"};
    dom::object nodes = entry["prompt"].at(2).get_object().value();
    for (auto [id, node] : nodes) {
      const std::string cls(node["class_type"].get_string().value());
      if (plain.count(cls)) continue;
      const std::string nid(id);
      if (cached.count(nid)) {
        expected[prompt_id + "/" + nid] = "cached";
      } else if (outcome == "success" || executed.count(nid)) {
        expected[prompt_id + "/" + nid] = "success";
      } else if (nid == failed) {
        expected[prompt_id + "/" + nid] = outcome;
      }
    }
    expected[prompt_id + "/prompt"] = outcome;
    return expected;
  }

  // Waits until the stored records of `prompts` (and `rejected`) are exactly what the fake's
  // history says, each id once; fails with the difference otherwise.
  void ExpectRecordsReconcile(const std::vector<std::string>& rejected = {}) {
    ASSERT_TRUE(fake_->WaitIdle(20000));
    std::map<std::string, std::string> expected;
    for (const std::string& id : submitted_) {
      for (auto& [k, v] : ExpectedFromHistory(id)) expected[k] = v;
    }
    for (const std::string& rid : rejected) expected[rid] = "rejected";
    std::map<std::string, std::string> got;
    std::map<std::string, int> count;
    for (int attempt = 0; attempt < 100; ++attempt) {
      got.clear();
      count.clear();
      for (auto& [prompt, records] : GatewayRecords()) {
        for (const StoredRecord& r : records) {
          got[r.id] = r.status;
          ++count[r.id];
        }
      }
      if (got == expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(got, expected);
    for (auto& [id, n] : count) EXPECT_EQ(n, 1) << id << " stored " << n << " times";
  }

  std::unique_ptr<FakeComfyUi> fake_;
  std::unique_ptr<HttpClient> fake_http_;
  TcpRelay relay_;
  std::string key_file_;
  uint16_t gw_port_ = 0;
  std::vector<std::string> submitted_;
};

TEST_F(GatewayE2eTest, ServeRefusesTheGatewayWithoutAnIngestKey) {
  CommandResult r = RunCommand({TOKENAUDIT_BIN, "serve", "--data-dir", data_, "--listen",
                                "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0",
                                "--comfyui-upstream", "http://127.0.0.1:1"},
                               {kPseudonymKeyEnv}, dir_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("gateway.ingest_key_file"), std::string::npos) << r.err;
}

TEST_F(GatewayE2eTest, AuthenticationAndBlockedRoutes) {
  StartGateway();
  EXPECT_EQ(Gw("", "GET", "/queue").status, 401);
  EXPECT_EQ(Gw("ta_bogus", "GET", "/queue").status, 401);
  HttpResult ingest = Gw(ingest_, "GET", "/queue");
  EXPECT_EQ(ingest.status, 403);
  ComfyWsClient anonymous;
  EXPECT_FALSE(anonymous.Connect(gw_port_, "/ws?clientId=x"));
  for (auto [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/internal/logs"}, {"GET", "/api/internal/folder_paths"}, {"GET", "/userdata"},
           {"GET", "/v2/userdata"}, {"GET", "/users"}, {"POST", "/free"}, {"POST", "/history"},
           {"POST", "/api/history"}, {"POST", "/upload/mask"}, {"GET", "/view_metadata/x"},
           {"GET", "/audit_probe/ping"}}) {
    HttpResult r = Gw(alice_, method, target, method == "POST" ? "{\"clear\": true}" : "");
    EXPECT_EQ(r.status, 403) << method << " " << target;
    EXPECT_NE(r.body.find("\"error\":{\"type\":\"forbidden\""), std::string::npos) << r.body;
  }
  EXPECT_EQ(Gw(alice_, "GET", "/api/object_info/DDColor_Colorize").status, 200);
  EXPECT_NE(Gw(alice_, "GET", "/object_info/DDColor_Colorize").body.find("model_input_size"),
            std::string::npos);
  HttpResult no_prompt = Gw(alice_, "POST", "/prompt", "{\"client_id\": \"x\"}");
  EXPECT_EQ(no_prompt.status, 400);
  EXPECT_NE(no_prompt.body.find("\"type\":\"no_prompt\""), std::string::npos) << no_prompt.body;
}

TEST_F(GatewayE2eTest, TwoUsersSeeOnlyTheirOwnEventsHistoryQueueAndFiles) {
  StartGateway();
  const std::string a_img = Upload(alice_, "alice.png", Png(460, 680, "a"));
  const std::string b_img = Upload(bob_, "bob.png", Png(640, 480, "b"));
  auto wa = Socket(alice_, "ca");
  auto wb = Socket(bob_, "cb");
  // Bob's prompt runs long, with previews; Alice's is queued behind it.
  const std::string pb = Submit(bob_, Slow(b_img, 30, 100, true), "cb");
  const std::string pa = Submit(alice_, Ddcolor(a_img), "ca");
  ASSERT_FALSE(pa.empty());
  ASSERT_FALSE(pb.empty());
  (void)wb->Until("\"type\":\"progress\"");
  // A TEXT frame (broadcast by ComfyUI to every socket) belongs to the running prompt: Bob's.
  ASSERT_EQ(fake_http_->Request("POST", "/__fake/text", R"({"node_id": "2", "text": "hello"})").status, 200);
  HttpResult qa = Gw(alice_, "GET", "/queue");
  HttpResult qb = Gw(bob_, "GET", "/queue");
  EXPECT_EQ(qa.body.find(pb), std::string::npos) << qa.body;
  EXPECT_NE(qa.body.find(pa), std::string::npos) << qa.body;
  EXPECT_NE(qb.body.find(pb), std::string::npos) << qb.body;
  EXPECT_EQ(qb.body.find(pa), std::string::npos) << qb.body;
  // Entries show the client_id the user submitted with, never the gateway's own.
  EXPECT_NE(qa.body.find("\"client_id\":\"ca\""), std::string::npos) << qa.body;
  EXPECT_EQ(qa.body.find("tokenaudit-gw-"), std::string::npos) << qa.body;
  // Alice cannot stop Bob: neither by id nor with a bare (global) interrupt.
  EXPECT_EQ(Gw(alice_, "POST", "/interrupt", "{\"prompt_id\": \"" + pb + "\"}").status, 200);
  EXPECT_EQ(Gw(alice_, "POST", "/interrupt").status, 200);
  // Nor delete his queue entries.
  EXPECT_EQ(Gw(alice_, "POST", "/queue", "{\"delete\": [\"" + pb + "\"]}").status, 200);

  const auto fa = wa->Until("\"node\":null,\"prompt_id\":\"" + pa + "\"", 20000);
  const auto fb = wb->Until("\"node\":null,\"prompt_id\":\"" + pb + "\"", 20000);
  bool bob_text = false, bob_preview = false;
  for (const WsFrame& f : fb) {
    if (!f.binary) {
      EXPECT_EQ(f.data.find(pa), std::string::npos) << f.data;
    } else if (f.data.size() > 4 && f.data[3] == 3) {
      bob_text = true;
    } else if (f.data.size() > 4 && f.data[3] == 1) {
      bob_preview = true;  // type 4 upstream, converted for a client without feature flags
    }
  }
  EXPECT_TRUE(bob_text);
  EXPECT_TRUE(bob_preview);
  for (const WsFrame& f : fa) {
    EXPECT_FALSE(f.binary) << "Alice received a binary frame (Bob's preview or text)";
    EXPECT_EQ(f.data.find(pb), std::string::npos) << f.data;
  }
  EXPECT_NE(fb.back().data.find(pb), std::string::npos);
  bool interrupted = false;
  for (const WsFrame& f : fb) interrupted |= f.data.find("execution_interrupted") != std::string::npos;
  EXPECT_FALSE(interrupted);

  HttpResult ha = Gw(alice_, "GET", "/history");
  EXPECT_NE(ha.body.find(pa), std::string::npos);
  EXPECT_EQ(ha.body.find(pb), std::string::npos);
  EXPECT_NE(ha.body.find("\"client_id\":\"ca\""), std::string::npos) << ha.body;
  EXPECT_EQ(ha.body.find("tokenaudit-gw-"), std::string::npos) << ha.body;
  const std::string hb = Gw(bob_, "GET", "/history/" + pb).body;
  EXPECT_NE(hb.find("\"client_id\":\"cb\""), std::string::npos) << hb;
  EXPECT_EQ(hb.find("tokenaudit-gw-"), std::string::npos) << hb;
  EXPECT_EQ(Gw(alice_, "GET", "/history/" + pb).body, "{}");
  EXPECT_NE(Gw(bob_, "GET", "/api/history/" + pb).body.find("\"status_str\":\"success\""),
            std::string::npos);
  // Files: Alice sees her output, not Bob's upload.
  EXPECT_EQ(Gw(alice_, "GET", "/view?filename=" + b_img + "&type=input").status, 404);
  EXPECT_EQ(Gw(bob_, "GET", "/view?filename=" + b_img + "&type=input").status, 200);
  // Bob may not run Alice's upload.
  HttpResult foreign;
  EXPECT_EQ(Submit(bob_, Ddcolor(a_img), "cb", &foreign), "");
  EXPECT_EQ(foreign.status, 403);
  EXPECT_NE(foreign.body.find("\"type\":\"image_not_uploaded\""), std::string::npos);
  ExpectRecordsReconcile({RejectedRecordId(foreign.body)});
}

TEST_F(GatewayE2eTest, CachedRerunNodeErrorInterruptAndUiWorkflow) {
  StartGateway();
  const std::string img = Upload(alice_, "old_photo.png", Png(460, 680, "c"));
  auto ws = Socket(alice_, "ca");
  const std::string first = Submit(alice_, Ddcolor(img), "ca");
  (void)ws->Until("\"node\":null,\"prompt_id\":\"" + first + "\"");
  const std::string cached = Submit(alice_, Ddcolor(img), "ca");
  auto frames = ws->Until("\"node\":null,\"prompt_id\":\"" + cached + "\"");
  bool saw_cached = false;
  for (const WsFrame& f : frames) {
    saw_cached |= f.data.find("\"nodes\":[\"1\",\"2\",\"3\"]") != std::string::npos;
  }
  EXPECT_TRUE(saw_cached);

  ASSERT_EQ(fake_http_->Request("POST", "/__fake/fail_next", R"({"class_type": "DDColor_Colorize",
      "exception_type": "FileNotFoundError", "exception_message": "Checkpoint load failed."})").status, 200);
  const std::string other = Upload(alice_, "other.png", Png(300, 200, "d"));
  const std::string failed = Submit(alice_, Ddcolor(other), "ca");
  frames = ws->Until("\"node\":null,\"prompt_id\":\"" + failed + "\"");
  ASSERT_GE(frames.size(), 3u);
  EXPECT_NE(frames[frames.size() - 3].data.find("execution_error"), std::string::npos);

  const std::string slow = Submit(alice_, Slow(img, 400, 5), "ca");
  (void)ws->Until("\"type\":\"progress\"");
  // Bob cannot interrupt Alice, by id or globally.
  EXPECT_EQ(Gw(bob_, "POST", "/interrupt", "{\"prompt_id\": \"" + slow + "\"}").status, 200);
  EXPECT_EQ(Gw(bob_, "POST", "/api/interrupt").status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(fake_->queue_remaining(), 1u);
  // Alice's bare interrupt is scoped to her running prompt.
  EXPECT_EQ(Gw(alice_, "POST", "/interrupt").status, 200);
  frames = ws->Until("\"node\":null,\"prompt_id\":\"" + slow + "\"");
  ASSERT_GE(frames.size(), 3u);
  EXPECT_NE(frames[frames.size() - 3].data.find("execution_interrupted"), std::string::npos);

  // The editor's UI format (protocol.md §4.2), pointing at Alice's upload.
  std::string ui = ReadCaptureFile("protocol_4_2_ui.json");
  ui.replace(ui.find("old_photo.png"), std::string("old_photo.png").size(), img);
  const std::string from_ui = Submit(alice_, ui, "ca");
  ASSERT_FALSE(from_ui.empty());
  (void)ws->Until("\"node\":null,\"prompt_id\":\"" + from_ui + "\"");
  ExpectRecordsReconcile();
  auto records = GatewayRecords();
  // The re-run repeats the first prompt's user, input and parameters: flagged on every record.
  ASSERT_EQ(records[cached].size(), 2u);
  for (const StoredRecord& r : records[cached]) {
    EXPECT_EQ(r.duplicate_of, first + "/prompt") << r.id;
    if (r.node_id == "2") {
      EXPECT_EQ(r.status, "cached");
      EXPECT_FALSE(r.has_duration);
    }
  }
  for (const StoredRecord& r : records[failed]) {
    if (r.node_id == "2") EXPECT_EQ(r.error_type, "FileNotFoundError");
  }
  for (const StoredRecord& r : records[first]) {
    EXPECT_EQ(r.duplicate_of, "") << r.id;
    if (r.node_id == "2") EXPECT_TRUE(r.has_duration);
  }
}

TEST_F(GatewayE2eTest, WebSocketDropMidRunIsReconciledFromHistory) {
  StartGateway();
  const std::string img = Upload(alice_, "drop.png", Png(460, 680, "e"));
  auto ws = Socket(alice_, "ca");
  const std::string p1 = Submit(alice_, Slow(img, 40, 20), "ca");
  (void)ws->Until("\"type\":\"progress\"");
  // Cut the gateway's upstream socket and keep it down until the prompt has finished.
  relay_.BlockWebSockets(true);
  relay_.DropWebSockets();
  ASSERT_TRUE(fake_->WaitIdle(20000));
  relay_.BlockWebSockets(false);
  // After reconnecting, the gateway finishes the prompt from /history and tells Alice.
  auto frames = ws->Until("\"node\":null,\"prompt_id\":\"" + p1 + "\"", 20000);
  ASSERT_FALSE(frames.empty());
  EXPECT_NE(frames.back().data.find(p1), std::string::npos);

  // A drop that heals while the next prompt is still running: live events finish it.
  const std::string p2 = Submit(alice_, Slow(img, 60, 20), "ca");
  (void)ws->Until("\"type\":\"progress\"");
  relay_.DropWebSockets();
  frames = ws->Until("\"node\":null,\"prompt_id\":\"" + p2 + "\"", 20000);
  ASSERT_FALSE(frames.empty());
  ExpectRecordsReconcile();
}

TEST_F(GatewayE2eTest, ObjectInfoListsOnlyTheCallersUploads) {
  StartGateway();
  const std::string a_img = Upload(alice_, "alice_only.png", Png(460, 680, "oa"));
  const std::string b_img = Upload(bob_, "bob_only.png", Png(640, 480, "ob"));
  // ComfyUI itself lists every file of its input directory.
  HttpResult upstream = fake_http_->Request("GET", "/object_info/LoadImage");
  ASSERT_EQ(upstream.status, 200);
  EXPECT_NE(upstream.body.find(a_img), std::string::npos) << upstream.body;
  EXPECT_NE(upstream.body.find(b_img), std::string::npos) << upstream.body;
  for (const std::string target : {"/object_info/LoadImage", "/api/object_info"}) {
    HttpResult a = Gw(alice_, "GET", target);
    ASSERT_EQ(a.status, 200) << target;
    EXPECT_NE(a.body.find("\"" + a_img + "\""), std::string::npos) << a.body;
    EXPECT_EQ(a.body.find(b_img), std::string::npos) << a.body;
    HttpResult b = Gw(bob_, "GET", target);
    ASSERT_EQ(b.status, 200) << target;
    EXPECT_NE(b.body.find("\"" + b_img + "\""), std::string::npos) << b.body;
    EXPECT_EQ(b.body.find(a_img), std::string::npos) << b.body;
  }
  // The rest of object_info is untouched.
  EXPECT_NE(Gw(bob_, "GET", "/api/object_info").body.find("model_input_size"), std::string::npos);
}

TEST_F(GatewayE2eTest, RecordsLandUnderTheKeysOwnUserNotAPseudonymOfIt) {
  // The gateway knows a user only by the key's pseudonym (u_ + 22 base64url) and sends that; the
  // ingest API keeps it as it is, so the user's own key reads the records back.
  StartGateway();
  HttpResult who = Get(alice_, "/v1/whoami");
  ASSERT_EQ(who.status, 200) << who.body;
  const size_t at = who.body.find("\"user\":\"u_");
  ASSERT_NE(at, std::string::npos) << who.body;
  const std::string pseudonym = who.body.substr(at + 8, 24);
  const std::string img = Upload(alice_, "mine.png", Png(460, 680, "p"));
  auto ws = Socket(alice_, "ca");
  const std::string pid = Submit(alice_, Ddcolor(img), "ca");
  ASSERT_FALSE(pid.empty());
  (void)ws->Until("\"node\":null,\"prompt_id\":\"" + pid + "\"");
  ExpectRecordsReconcile();
  // ComfyUI itself is told the same user (extra_data.tokenaudit_user), for the in-engine
  // extension's copies of gateway prompts.
  HttpResult upstream = fake_http_->Request("GET", "/history/" + pid);
  ASSERT_EQ(upstream.status, 200) << upstream.body;
  EXPECT_NE(upstream.body.find("\"tokenaudit_user\":\"" + pseudonym + "\""), std::string::npos)
      << upstream.body;
  HttpResult mine = Get(alice_, "/v1/events?limit=100");
  ASSERT_EQ(mine.status, 200) << mine.body;
  dom::parser p;
  dom::element root;
  dom::array events;
  ASSERT_EQ(p.parse(simdjson::padded_string(mine.body)).get(root), simdjson::SUCCESS);
  ASSERT_EQ(root["events"].get_array().get(events), simdjson::SUCCESS);
  std::set<std::string> ids;
  for (dom::element e : events) {
    ids.insert(std::string(e["id"].get_string().value()));
    EXPECT_EQ(std::string(e["user"].get_string().value()), pseudonym);
  }
  EXPECT_EQ(ids, (std::set<std::string>{pid + "/2", pid + "/prompt"}));
  HttpResult usage = Get(alice_, "/v1/usage?measures=count");
  ASSERT_EQ(usage.status, 200) << usage.body;
  EXPECT_NE(usage.body.find("\"count\":2"), std::string::npos) << usage.body;
  HttpResult theirs = Get(bob_, "/v1/events?limit=100");
  ASSERT_EQ(theirs.status, 200) << theirs.body;
  EXPECT_EQ(theirs.body.find(pid), std::string::npos) << theirs.body;
}

TEST_F(GatewayE2eTest, OverLimitPromptsAreRefusedAndRecordedAsRejected) {
  StartGateway({"TOKENAUDIT_GATEWAY_MAX_PIXELS=1000000", "TOKENAUDIT_GATEWAY_DAILY_TOKEN_LIMIT=700",
                "TOKENAUDIT_GATEWAY_DUPLICATE_ACTION=refuse"});
  std::vector<std::string> rejected;
  auto refused = [&](const std::string& prompt, int status, const std::string& type) {
    HttpResult r;
    EXPECT_EQ(Submit(alice_, prompt, "ca", &r), "");
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_NE(r.body.find("{\"error\":{\"type\":\"" + type + "\",\"message\":"), std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("\"node_errors\":{}"), std::string::npos);
    rejected.push_back(RejectedRecordId(r.body));
    return r.body;
  };
  auto ws = Socket(alice_, "ca");
  const std::string big = Upload(alice_, "big.png", Png(2000, 1500, "f"));
  const std::string msg = refused(Ddcolor(big), 403, "resolution_cap");
  EXPECT_NE(msg.find("2000x1500"), std::string::npos) << msg;
  const std::string a = Upload(alice_, "a.png", Png(460, 680, "g"));  // 312.8 tokens
  const std::string ok1 = Submit(alice_, Ddcolor(a), "ca");
  ASSERT_FALSE(ok1.empty());
  refused(Ddcolor(a), 403, "duplicate_submission");
  const std::string c = Upload(alice_, "c.png", Png(500, 600, "h"));  // 300 tokens
  ASSERT_FALSE(Submit(alice_, Ddcolor(c), "ca").empty());
  const std::string d = Upload(alice_, "d.png", Png(400, 300, "i"));  // 120 more: over 700
  refused(Ddcolor(d), 429, "daily_token_limit");
  // Bob has his own day.
  const std::string bd = Upload(bob_, "d.png", Png(400, 300, "i"));
  ASSERT_FALSE(Submit(bob_, Ddcolor(bd), "cb").empty());
  ExpectRecordsReconcile(rejected);
}

}  // namespace
}  // namespace tokenaudit::testing
