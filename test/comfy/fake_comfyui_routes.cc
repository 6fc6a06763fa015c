// The fake ComfyUI's HTTP routes (protocol.md §1) over FakeState.

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>

#include "src/util/json_string.h"
#include "test/comfy/fake_comfyui_state.h"

namespace tokenaudit::comfy::testing {
namespace {

// An absent optional JSON field keeps the default it was initialised with.
void IgnoreAbsent(simdjson::error_code) {}

namespace dom = simdjson::dom;

// Not captured (the recording has these five classes); written as ComfyUI 0.3.64 serves them.
constexpr std::string_view kImageInvertInfo =
    R"({"input":{"required":{"image":["IMAGE"]}},"input_order":{"required":["image"]},)"
    R"("output":["IMAGE"],"output_is_list":[false],"output_name":["IMAGE"],"name":"ImageInvert",)"
    R"("display_name":"Invert Image","description":"","python_module":"nodes","category":"image",)"
    R"("output_node":false})";
constexpr std::string_view kPreviewImageInfo =
    R"({"input":{"required":{"images":["IMAGE",{"tooltip":"The images to preview."}]},)"
    R"("hidden":{"prompt":"PROMPT","extra_pnginfo":"EXTRA_PNGINFO"}},"input_order":)"
    R"({"required":["images"],"hidden":["prompt","extra_pnginfo"]},"output":[],)"
    R"("output_is_list":[],"output_name":[],"name":"PreviewImage","display_name":"Preview Image",)"
    R"("description":"Saves the input images to your ComfyUI output directory.","python_module":)"
    R"("nodes","category":"image","output_node":true})";

HttpReply Json(std::string body) { return {200, kJsonType, std::move(body)}; }
HttpReply Empty(int status) { return {status, "application/octet-stream", ""}; }

bool ParseJson(dom::parser* p, const std::string& text, dom::element* out) {
  return p->parse(simdjson::padded_string(text)).get(*out) == simdjson::SUCCESS;
}

}  // namespace

std::string QueryValue(std::string_view target, std::string_view name) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view rest = target.substr(q + 1);
  for (;;) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name && eq != std::string_view::npos) {
      return PercentDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) return "";
    rest.remove_prefix(amp + 1);
  }
}

namespace {

// One part of a multipart/form-data body.
struct Part {
  std::string name;
  std::optional<std::string> filename;
  std::string data;
};

std::vector<Part> ParseMultipart(std::string_view content_type, std::string_view body) {
  std::vector<Part> parts;
  const size_t b = content_type.find("boundary=");
  if (b == std::string_view::npos) return parts;
  std::string boundary = "--" + std::string(content_type.substr(b + 9));
  if (boundary.size() > 2 && boundary[2] == '"') boundary = "--" + boundary.substr(3, boundary.size() - 4);
  size_t pos = body.find(boundary);
  while (pos != std::string_view::npos) {
    pos += boundary.size();
    if (body.substr(pos, 2) == "--") break;
    const size_t head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) break;
    const std::string_view head = body.substr(pos, head_end - pos);
    const size_t next = body.find("\r\n" + boundary, head_end + 4);
    if (next == std::string_view::npos) break;
    Part part;
    part.data = std::string(body.substr(head_end + 4, next - head_end - 4));
    auto attr = [&](std::string_view key) -> std::optional<std::string> {
      const size_t k = head.find(std::string(key) + "=\"");
      if (k == std::string_view::npos) return std::nullopt;
      const size_t start = k + key.size() + 2;
      return std::string(head.substr(start, head.find('"', start) - start));
    };
    part.name = attr("; name").value_or("");
    part.filename = attr("filename");
    parts.push_back(std::move(part));
    pos = next + 2;
  }
  return parts;
}

std::string ContentTypeOf(std::string_view name) {
  if (name.ends_with(".png")) return "image/png";
  if (name.ends_with(".webp")) return "image/webp";
  if (name.ends_with(".jpg") || name.ends_with(".jpeg")) return "image/jpeg";
  return "application/octet-stream";
}

}  // namespace

std::string StatusFrame(size_t queue_remaining, std::string_view sid) {
  std::string s = "{\"type\":\"status\",\"data\":{\"status\":{\"exec_info\":{\"queue_remaining\":" +
                  std::to_string(queue_remaining) + "}}";
  if (!sid.empty()) {
    s += ",\"sid\":";
    AppendJsonString(&s, sid);
  }
  return s + "}}";
}

std::string RandomHex(size_t digits) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < digits; ++i) s.push_back(kHex[rng() & 15]);
  return s;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

FakeState::FakeState(FakeComfyUiOptions options, EventSink* sink)
    : options_(std::move(options)), sink_(sink) {
  object_info_["ImageInvert"] = std::string(kImageInvertInfo);
  object_info_["PreviewImage"] = std::string(kPreviewImageInfo);
}

int64_t FakeState::NowMs() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status FakeState::LoadCaptures() {
  std::ifstream in(options_.captures_dir + "/http.json", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  dom::parser p;
  dom::element root;
  if (text.empty() || !ParseJson(&p, text, &root)) {
    return Status::InvalidArgument("fake comfyui: cannot read " + options_.captures_dir +
                                   "/http.json");
  }
  dom::object captures;
  if (root.get_object().get(captures) != simdjson::SUCCESS) {
    return Status::InvalidArgument("fake comfyui: http.json is not an object");
  }
  for (auto [key, value] : captures) {
    if (key == "GET /system_stats") system_stats_json_ = simdjson::minify(value["body"]);
    if (!key.starts_with("GET /object_info/")) continue;
    dom::object body;
    if (value["body"].get_object().get(body) != simdjson::SUCCESS) continue;
    for (auto [cls, info] : body) object_info_[std::string(cls)] = simdjson::minify(info);
  }
  if (system_stats_json_.empty() || object_info_.count("DDColor_Colorize") == 0) {
    return Status::InvalidArgument("fake comfyui: http.json lacks system_stats or object_info");
  }
  return Status::OK();
}

size_t FakeState::QueueRemaining() const {
  MutexLock l(&mu_);
  return pending_.size() + (running_ ? 1 : 0);
}

bool FakeState::WaitIdle(int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  MutexLock l(&mu_);
  while (!pending_.empty() || running_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    cv_.WaitFor(&mu_, 10'000);
  }
  return true;
}

std::optional<std::string> FakeState::RunningNodeOf(const std::string& sid) const {
  MutexLock l(&mu_);
  if (!running_ || running_->client_id != sid || running_node_.empty()) return std::nullopt;
  return running_node_;
}

// LoadImage's combo lists the files at the top of the input directory (captured: ["probe.png"]).
std::string FakeState::ObjectInfoOf(const std::string& class_type) const {
  auto it = object_info_.find(class_type);
  if (it == object_info_.end()) return "";
  if (class_type != "LoadImage") return it->second;
  std::string files = "[";
  {
    MutexLock l(&mu_);
    // os.listdir of the input directory: top-level files only, no subfolders. (A range of the
    // map: outputs accumulate without bound in long runs.)
    for (auto f = files_.lower_bound("input//");
         f != files_.end() && f->first.starts_with("input//"); ++f) {
      const std::string name = f->first.substr(7);
      if (files.size() > 1) files += ",";
      AppendJsonString(&files, name);
    }
  }
  files += "]";
  std::string info = it->second;
  const std::string from = "[[\"probe.png\"]";
  const size_t at = info.find(from);
  if (at != std::string::npos) info.replace(at, from.size(), "[" + files);
  return info;
}

HttpReply FakeState::Handle(const HttpRequestView& req) {
  const std::string& p = req.path;
  const bool get = req.method == "GET", post = req.method == "POST";
  if (p == "/prompt" && post) return PostPrompt(req.body);
  if (p == "/prompt" && get) {
    return Json("{\"exec_info\":{\"queue_remaining\":" + std::to_string(QueueRemaining()) + "}}");
  }
  if ((p == "/history" || p.starts_with("/history/")) && get) return GetHistory(req);
  if (p == "/history" && post) return PostHistory(req.body);
  if (p == "/queue" && get) return GetQueue();
  if (p == "/queue" && post) return PostQueue(req.body);
  if (p == "/interrupt" && post) return PostInterrupt(req.body);
  if ((p == "/upload/image") && post) return PostUpload(req);
  if (p == "/view" && get) return GetView(req);
  if ((p == "/object_info" || p.starts_with("/object_info/")) && get) return GetObjectInfo(p);
  if (p == "/features" && get) {
    return Json(R"({"supports_preview_metadata":true,"max_upload_size":104857600})");
  }
  if (p == "/__fake/fail_next" && post) return PostFailNext(req.body);
  if (p == "/__fake/text" && post) return PostText(req.body);
  return {404, "text/plain; charset=utf-8", "404: Not Found"};
}

HttpReply FakeState::GetHistory(const HttpRequestView& req) {
  MutexLock l(&mu_);
  if (req.path.starts_with("/history/")) {
    const std::string id = PercentDecode(req.path.substr(9));
    auto it = history_.find(id);
    if (it == history_.end()) return Json("{}");  // unknown id: {} with 200, never 404
    std::string out = "{";
    AppendJsonString(&out, id);
    return Json(out + ":" + it->second + "}");
  }
  // get_history: with only max_items, the last N; offset counts from the oldest.
  const std::string max_s = QueryValue(req.target, "max_items");
  const std::string off_s = QueryValue(req.target, "offset");
  std::optional<int64_t> max_items;
  if (!max_s.empty()) max_items = std::atoll(max_s.c_str());
  int64_t offset = off_s.empty() ? -1 : std::atoll(off_s.c_str());
  if (offset < 0 && max_items) offset = static_cast<int64_t>(history_order_.size()) - *max_items;
  std::string out = "{";
  int64_t i = 0, n = 0;
  for (const std::string& id : history_order_) {
    if (i++ < offset) continue;
    if (max_items && n >= *max_items) break;
    if (n++ > 0) out += ",";
    AppendJsonString(&out, id);
    out += ":" + history_.at(id);
  }
  return Json(out + "}");
}

HttpReply FakeState::PostHistory(const std::string& body) {
  dom::parser p;
  dom::element root;
  if (!ParseJson(&p, body, &root)) return Empty(200);
  MutexLock l(&mu_);
  bool clear = false;
  if (root["clear"].get_bool().get(clear) == simdjson::SUCCESS && clear) {
    history_.clear();
    history_order_.clear();
  }
  dom::array del;
  if (root["delete"].get_array().get(del) == simdjson::SUCCESS) {
    for (dom::element e : del) {
      std::string_view id;
      if (e.get_string().get(id) != simdjson::SUCCESS) continue;
      history_.erase(std::string(id));
      std::erase(history_order_, std::string(id));
    }
  }
  return Empty(200);
}

namespace {
std::string QueueTuple(const QueueItem& q) {
  std::string s = "[" + q.number_json + ",";
  AppendJsonString(&s, q.prompt_id);
  s += "," + q.prompt_json + "," + q.extra_data_json + ",[";
  for (size_t i = 0; i < q.outputs.size(); ++i) {
    if (i > 0) s += ",";
    AppendJsonString(&s, q.outputs[i]);
  }
  return s + "]]";
}
}  // namespace

HttpReply FakeState::GetQueue() {
  MutexLock l(&mu_);
  std::string out = "{\"queue_running\":[";
  if (running_) out += QueueTuple(*running_);
  out += "],\"queue_pending\":[";
  for (size_t i = 0; i < pending_.size(); ++i) {  // heap order, like ComfyUI's copy of the heap
    if (i > 0) out += ",";
    out += QueueTuple(pending_[i]);
  }
  return Json(out + "]}");
}

HttpReply FakeState::PostQueue(const std::string& body) {
  dom::parser p;
  dom::element root;
  if (!ParseJson(&p, body, &root)) return Empty(200);
  {
    MutexLock l(&mu_);
    bool changed = false;
    bool clear = false;
    if (root["clear"].get_bool().get(clear) == simdjson::SUCCESS && clear) {
      changed = !pending_.empty();
      pending_.clear();
    }
    dom::array del;
    if (root["delete"].get_array().get(del) == simdjson::SUCCESS) {
      for (dom::element e : del) {
        std::string_view id;
        if (e.get_string().get(id) != simdjson::SUCCESS) continue;
        changed |= std::erase_if(pending_, [&](const QueueItem& q) { return q.prompt_id == id; }) > 0;
      }
      std::make_heap(pending_.begin(), pending_.end(),
                     [](const QueueItem& a, const QueueItem& b) { return b < a; });
    }
    if (changed) BroadcastStatusLocked();
    cv_.SignalAll();
  }
  return Empty(200);
}

HttpReply FakeState::PostInterrupt(const std::string& body) {
  dom::parser p;
  dom::element root;
  std::string_view id;
  const bool scoped = !body.empty() && ParseJson(&p, body, &root) &&
                      root["prompt_id"].get_string().get(id) == simdjson::SUCCESS;
  MutexLock l(&mu_);
  // With a prompt_id: only if that prompt is the running one; otherwise a global interrupt.
  if (!scoped || (running_ && running_->prompt_id == id)) interrupt_ = true;
  return Empty(200);
}

HttpReply FakeState::PostUpload(const HttpRequestView& req) {
  const std::vector<Part> parts = ParseMultipart(req.content_type, req.body);
  const Part* image = nullptr;
  std::string type = "input", subfolder;
  bool overwrite = false;
  for (const Part& part : parts) {
    if (part.name == "image") image = &part;
    if (part.name == "type") type = part.data;
    if (part.name == "subfolder") subfolder = part.data;
    if (part.name == "overwrite") overwrite = part.data == "true" || part.data == "1";
  }
  if (image == nullptr || !image->filename || image->filename->empty()) return Empty(400);
  if (type != "input" && type != "temp" && type != "output") return Empty(400);
  if (subfolder.find("..") != std::string::npos || subfolder.starts_with("/")) return Empty(400);
  std::string name = *image->filename;
  if (name.find('/') != std::string::npos || name.find("..") != std::string::npos) return Empty(400);
  MutexLock l(&mu_);
  auto key = [&](const std::string& n) { return type + "/" + subfolder + "/" + n; };
  if (!overwrite) {
    // Same name and same bytes: reuse; same name, other bytes: "name (1).ext", "name (2).ext"...
    const size_t dot = name.rfind('.');
    const std::string stem = name.substr(0, dot), ext = dot == std::string::npos ? "" : name.substr(dot);
    for (int i = 1; files_.count(key(name)) > 0 && files_.at(key(name)) != image->data; ++i) {
      name = stem + " (" + std::to_string(i) + ")" + ext;
    }
  }
  files_[key(name)] = image->data;
  std::string out = "{\"name\":";
  AppendJsonString(&out, name);
  out += ",\"subfolder\":";
  AppendJsonString(&out, subfolder);
  out += ",\"type\":";
  AppendJsonString(&out, type);
  return Json(out + "}");
}

HttpReply FakeState::GetView(const HttpRequestView& req) {
  std::string filename = QueryValue(req.target, "filename");
  std::string type = QueryValue(req.target, "type");
  const std::string subfolder = QueryValue(req.target, "subfolder");
  if (type.empty()) type = "output";
  for (const char* t : {"output", "input", "temp"}) {
    const std::string annotation = std::string(" [") + t + "]";
    if (filename.ends_with(annotation)) {
      filename.resize(filename.size() - annotation.size());
      type = t;
    }
  }
  if (filename.empty() || filename.starts_with("/") || filename.find("..") != std::string::npos) {
    return Empty(400);
  }
  if (subfolder.find("..") != std::string::npos || subfolder.starts_with("/")) return Empty(403);
  MutexLock l(&mu_);
  auto it = files_.find(type + "/" + subfolder + "/" + filename);
  if (it == files_.end()) return Empty(404);
  HttpReply r{200, ContentTypeOf(filename), it->second};
  r.headers.push_back({"Content-Disposition", "filename=\"" + filename + "\""});
  return r;
}

HttpReply FakeState::GetObjectInfo(const std::string& path) {
  if (path.starts_with("/object_info/")) {
    const std::string cls = PercentDecode(path.substr(13));
    const std::string info = ObjectInfoOf(cls);
    if (info.empty()) return Json("{}");  // unknown class: {} with 200
    std::string out = "{";
    AppendJsonString(&out, cls);
    return Json(out + ":" + info + "}");
  }
  std::string out = "{";
  for (const auto& [cls, unused] : object_info_) {
    if (out.size() > 1) out += ",";
    AppendJsonString(&out, cls);
    out += ":" + ObjectInfoOf(cls);
  }
  return Json(out + "}");
}

HttpReply FakeState::PostFailNext(const std::string& body) {
  dom::parser p;
  dom::element root;
  std::string_view cls, type = "ValueError", message = "fake_comfyui: scripted failure";
  if (!ParseJson(&p, body, &root) || root["class_type"].get_string().get(cls) != simdjson::SUCCESS) {
    return Empty(400);
  }
  IgnoreAbsent(root["exception_type"].get_string().get(type));
  IgnoreAbsent(root["exception_message"].get_string().get(message));
  MutexLock l(&mu_);
  fail_next_[std::string(cls)] = {std::string(type), std::string(message)};
  return Empty(200);
}

HttpReply FakeState::PostText(const std::string& body) {
  dom::parser p;
  dom::element root;
  std::string_view node, text;
  if (!ParseJson(&p, body, &root) || root["node_id"].get_string().get(node) != simdjson::SUCCESS ||
      root["text"].get_string().get(text) != simdjson::SUCCESS) {
    return Empty(400);
  }
  // protocol.md §2.4 type 3: uint32 len(node_id), node_id, text; send_progress_text: sid=None.
  std::string frame("\0\0\0\3", 4);
  const uint32_t n = static_cast<uint32_t>(node.size());
  for (int shift : {24, 16, 8, 0}) frame.push_back(static_cast<char>((n >> shift) & 0xff));
  frame += std::string(node) + std::string(text);
  sink_->Deliver({Event::Kind::kBinary, std::move(frame), "", true, ""});
  return Empty(200);
}

}  // namespace tokenaudit::comfy::testing
