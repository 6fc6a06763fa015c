// The fake ComfyUI's prompt worker (main.py prompt_worker + PromptExecutor.execute): one prompt
// at a time, node by node, emitting events in the order of captures/runs.json, then the history
// entry and the classic cache. Validation and queueing are in fake_comfyui_validate.cc.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

#include "src/util/json_string.h"
#include "test/comfy/fake_comfyui_state.h"

namespace tokenaudit::comfy::testing {
namespace {

std::string Q(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

// A tiny JFIF header standing in for a preview JPEG (the captures show only its magic).
const std::string kPreviewJpeg("\xff\xd8\xff\xe0\x00\x10\x4a\x46\x49\x46\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9", 22);
// A valid 1×1 PNG, the image written by SaveImage/PreviewImage when no upload is upstream.
const std::string kOnePixelPng(
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00"
    "\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\x0b\x49\x44\x41\x54\x78\x9c\x63"
    "\x60\x00\x02\x00\x00\x05\x00\x01\x7a\x5e\xab\x3f\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42"
    "\x60\x82",
    68);

std::string BigEndian32(uint32_t v) {
  std::string s;
  for (int shift : {24, 16, 8, 0}) s.push_back(static_cast<char>((v >> shift) & 0xff));
  return s;
}

}  // namespace

void FakeState::StartWorker() {
  worker_ = std::thread([this] { WorkerLoop(); });
}

void FakeState::StopWorker() {
  {
    MutexLock l(&mu_);
    stop_ = true;
    interrupt_ = true;
    cv_.SignalAll();
  }
  if (worker_.joinable()) worker_.join();
}

void FakeState::WorkerLoop() {
  for (;;) {
    QueueItem item;
    {
      MutexLock l(&mu_);
      while (pending_.empty() && !stop_) cv_.Wait(&mu_);
      if (stop_) return;
      std::pop_heap(pending_.begin(), pending_.end(),
                    [](const QueueItem& a, const QueueItem& b) { return b < a; });
      item = std::move(pending_.back());
      pending_.pop_back();
      running_ = item;
      interrupt_ = false;  // the flag is reset when the next prompt starts
      BroadcastStatusLocked();  // PromptQueue.get → queue_updated
    }
    RunPrompt(item);
    {
      MutexLock l(&mu_);
      running_.reset();
      running_node_.clear();
      BroadcastStatusLocked();  // task_done
      cv_.SignalAll();
    }
    const std::string done = "{\"type\":\"executing\",\"data\":{\"node\":null,\"prompt_id\":" +
                             Q(item.prompt_id) + "}}";
    if (!item.client_id.empty()) sink_->Deliver({Event::Kind::kText, done, "", false, item.client_id});
  }
}

namespace {

// The per-prompt progress registry: every non-pending node of the prompt, in start order.
class ProgressState {
 public:
  explicit ProgressState(std::string prompt_id) : prompt_id_(std::move(prompt_id)) {}
  void Set(const std::string& node, std::string value, std::string max, bool finished) {
    for (Entry& e : entries_) {
      if (e.node == node) {
        e = {node, std::move(value), std::move(max), finished};
        return;
      }
    }
    entries_.push_back({node, std::move(value), std::move(max), finished});
  }
  // The data object of a progress_state message.
  std::string Data() const {
    std::string s = "{\"prompt_id\":" + Q(prompt_id_) + ",\"nodes\":{";
    for (size_t i = 0; i < entries_.size(); ++i) {
      const Entry& e = entries_[i];
      s += (i ? "," : "") + Q(e.node) + ":{\"value\":" + e.value + ",\"max\":" + e.max +
           ",\"state\":\"" + (e.finished ? "finished" : "running") + "\",\"node_id\":" + Q(e.node) +
           ",\"prompt_id\":" + Q(prompt_id_) + ",\"display_node_id\":" + Q(e.node) +
           ",\"parent_node_id\":null,\"real_node_id\":" + Q(e.node) + "}";
    }
    return s + "}}";
  }

 private:
  struct Entry {
    std::string node, value, max;
    bool finished;
  };
  std::string prompt_id_;
  std::vector<Entry> entries_;
};

std::string IdList(const std::vector<std::string>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + Q(ids[i]);
  return s + "]";
}

}  // namespace

void FakeState::RunPrompt(const QueueItem& item) {
  const std::string& pid = item.prompt_id;
  const bool has_client = !item.client_id.empty();
  // Guarded events need a client_id; unguarded ones are broadcast without one (§0.2).
  auto send = [&](const std::string& type, const std::string& data, bool guarded) {
    std::string frame = "{\"type\":" + Q(type) + ",\"data\":" + data + "}";
    if (has_client) {
      sink_->Deliver({Event::Kind::kText, std::move(frame), "", false, item.client_id});
    } else if (!guarded) {
      sink_->Deliver({Event::Kind::kText, std::move(frame), "", true, ""});
    }
  };
  std::map<std::string, const FakeNode*> by_id;
  for (const FakeNode& n : item.nodes) by_id[n.id] = &n;

  // Execution order: each output's ancestors depth first, inputs in order.
  std::vector<std::string> exec_order;
  std::set<std::string> seen;
  std::function<void(const std::string&)> visit = [&](const std::string& id) {
    if (!seen.insert(id).second || by_id.count(id) == 0) return;
    for (const FakeInput& in : by_id[id]->inputs) {
      if (in.is_link) visit(in.link_node);
    }
    exec_order.push_back(id);
  };
  for (const std::string& o : item.outputs) visit(o);

  // Classic cache: a node's signature is its class and inputs, links by their origin's
  // signature; LoadImage adds the file's bytes (IS_CHANGED), AuditProbeSlow its id (UNIQUE_ID).
  std::map<std::string, std::string> sigs;
  std::function<std::string(const std::string&)> sig = [&](const std::string& id) -> std::string {
    if (auto it = sigs.find(id); it != sigs.end()) return it->second;
    sigs[id] = "cycle";
    const FakeNode& n = *by_id[id];
    std::string s = n.class_type + "(";
    std::vector<const FakeInput*> inputs;
    for (const FakeInput& in : n.inputs) inputs.push_back(&in);
    std::sort(inputs.begin(), inputs.end(), [](auto* a, auto* b) { return a->name < b->name; });
    for (const FakeInput* in : inputs) {
      s += in->name + "=" +
           (in->is_link && by_id.count(in->link_node) ? "@" + sig(in->link_node) + "#" +
                                                            std::to_string(in->link_slot)
                                                      : in->raw) +
           ";";
    }
    if (n.class_type == "LoadImage" && n.Input("image") && n.Input("image")->string_value) {
      MutexLock l(&mu_);
      std::string file = *n.Input("image")->string_value;
      if (file.ends_with(" [input]")) file.resize(file.size() - 8);
      const size_t slash = file.rfind('/');
      auto it = files_.find("input/" + (slash == std::string::npos
                                            ? "/" + file
                                            : file.substr(0, slash) + "/" + file.substr(slash + 1)));
      s += "bytes=" + std::to_string(std::hash<std::string>{}(it == files_.end() ? "" : it->second));
    }
    if (n.class_type == "AuditProbeSlow") s += "uid=" + id;
    return sigs[id] = s + ")";
  };
  std::vector<std::string> cached;
  std::map<std::string, std::string> cached_outputs;
  {
    for (const std::string& id : exec_order) sig(id);
    MutexLock l(&mu_);
    for (const std::string& id : exec_order) {
      auto it = cache_.find(sigs[id]);
      if (it == cache_.end()) continue;
      cached.push_back(id);
      cached_outputs[id] = it->second;
    }
  }

  const int64_t start_ts = NowMs();
  const std::string start = "{\"prompt_id\":" + Q(pid) + ",\"timestamp\":" + std::to_string(start_ts) + "}";
  send("execution_start", start, true);
  const std::string cached_msg = "{\"nodes\":" + IdList(cached) + ",\"prompt_id\":" + Q(pid) +
                                 ",\"timestamp\":" + std::to_string(NowMs()) + "}";
  send("execution_cached", cached_msg, true);

  ProgressState progress(pid);
  std::map<std::string, std::string> outputs;  // node → UI output JSON
  std::vector<std::string> executed;            // run (not cached) and finished
  std::string terminal_type, terminal_data;
  auto executed_event = [&](const std::string& id, const std::string& output) {
    send("executed", "{\"node\":" + Q(id) + ",\"display_node\":" + Q(id) + ",\"output\":" + output +
                         ",\"prompt_id\":" + Q(pid) + "}",
         true);
  };
  auto send_progress_state = [&] { send("progress_state", progress.Data(), false); };
  // Output nodes served from the cache re-send `executed`.
  for (const std::string& id : exec_order) {
    auto c = cached_outputs.find(id);
    if (c == cached_outputs.end() || c->second.empty()) continue;
    outputs[id] = c->second;
    executed_event(id, c->second);
    progress.Set(id, "1", "1", true);
    send_progress_state();
  }
  auto sleep_ms = [](int ms) {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  };
  auto interrupted = [&] {
    MutexLock l(&mu_);
    return interrupt_;
  };
  auto fail = [&](const FakeNode& n, const std::string& type, const std::string& message) {
    std::string inputs = "{";
    for (const FakeInput& in : n.inputs) {
      if (inputs.size() > 1) inputs += ",";
      inputs += Q(in.name) + ":[" + (in.is_link ? Q("tensor([[[[0.3347, 0.3347]]]])") : in.raw) + "]";
    }
    if (n.class_type == "AuditProbeSlow") inputs += ",\"unique_id\":[" + Q(n.id) + "]";
    inputs += "}";
    terminal_type = "execution_error";
    terminal_data =
        "{\"prompt_id\":" + Q(pid) + ",\"node_id\":" + Q(n.id) + ",\"node_type\":" + Q(n.class_type) +
        ",\"executed\":" + IdList(executed) + ",\"exception_message\":" + Q(message) +
        ",\"exception_type\":" + Q(type) +
        ",\"traceback\":[\"  File \\\"COMFYUI_ROOT/execution.py\\\", line 496, in execute\\n\"]"
        ",\"current_inputs\":" + inputs + ",\"current_outputs\":" + IdList(exec_order) +
        ",\"timestamp\":" + std::to_string(NowMs()) + "}";
  };
  auto interrupt_at = [&](const FakeNode& n) {
    terminal_type = "execution_interrupted";
    terminal_data = "{\"prompt_id\":" + Q(pid) + ",\"node_id\":" + Q(n.id) + ",\"node_type\":" +
                    Q(n.class_type) + ",\"executed\":" + IdList(executed) + ",\"timestamp\":" +
                    std::to_string(NowMs()) + "}";
  };
  auto preview = [&](const FakeNode& n, bool with_metadata_slot) {
    // Type 4 goes (before `progress`) to a client that negotiated metadata; type 1 (after
    // `progress`) to one that did not, or to every socket when the prompt has no client_id.
    Event e;
    e.kind = Event::Kind::kPreview;
    e.broadcast = !has_client;
    e.sid = item.client_id;
    e.data = BigEndian32(1) + BigEndian32(1) + kPreviewJpeg;
    const std::string meta = "{\"node_id\":" + Q(n.id) + ",\"prompt_id\":" + Q(pid) +
                             ",\"display_node_id\":" + Q(n.id) +
                             ",\"parent_node_id\":null,\"real_node_id\":" + Q(n.id) +
                             ",\"image_type\":\"image/jpeg\"}";
    e.preview_with_metadata = BigEndian32(4) + BigEndian32(static_cast<uint32_t>(meta.size())) + meta + kPreviewJpeg;
    e.data = with_metadata_slot ? "" : e.data;
    e.preview_with_metadata = with_metadata_slot ? e.preview_with_metadata : "";
    sink_->Deliver(std::move(e));
  };

  for (const std::string& id : exec_order) {
    if (cached_outputs.count(id)) continue;
    const FakeNode& n = *by_id[id];
    progress.Set(id, "0.0", "1.0", false);
    send_progress_state();
    send("executing", "{\"node\":" + Q(id) + ",\"display_node\":" + Q(id) + ",\"prompt_id\":" + Q(pid) + "}", true);
    {
      MutexLock l(&mu_);
      running_node_ = id;
    }
    if (interrupted()) {
      interrupt_at(n);
      break;
    }
    std::optional<Failure> scripted;
    {
      MutexLock l(&mu_);
      if (auto f = fail_next_.find(n.class_type); f != fail_next_.end()) {
        scripted = f->second;
        fail_next_.erase(f);
      }
    }
    bool reported = false;  // the node reported progress: its final values are ints
    std::string last_value, last_max;
    auto step = [&](int64_t value, int64_t max, bool with_preview) -> bool {
      if (interrupted()) return false;
      last_value = std::to_string(value);
      last_max = std::to_string(max);
      reported = true;
      progress.Set(id, last_value, last_max, false);
      send_progress_state();
      if (with_preview) preview(n, true);
      send("progress", "{\"value\":" + last_value + ",\"max\":" + last_max + ",\"prompt_id\":" + Q(pid) +
                           ",\"node\":" + Q(id) + "}",
           false);
      if (with_preview) preview(n, false);
      return true;
    };
    bool ok = true;
    if (n.class_type == "DDColor_Colorize") {
      sleep_ms(options_.ddcolor_ms);
      if (scripted) {
        fail(n, scripted->exception_type, scripted->exception_message);
        break;
      }
      ok = step(1, 1, false);  // the recorded stand-in reports 1/1 once
    } else if (n.class_type == "AuditProbeSlow") {
      const int64_t steps = n.Input("steps") && n.Input("steps")->int_value ? *n.Input("steps")->int_value : 10;
      const int64_t delay = n.Input("delay_ms") && n.Input("delay_ms")->int_value ? *n.Input("delay_ms")->int_value : 50;
      const bool previews = n.Input("send_preview") && n.Input("send_preview")->bool_value.value_or(false);
      const bool forced = n.Input("fail") && n.Input("fail")->bool_value.value_or(false);
      const int64_t fail_at = std::max<int64_t>(1, steps / 2);
      for (int64_t k = 1; k <= steps && ok; ++k) {
        sleep_ms(static_cast<int>(delay));
        ok = step(k, steps, previews);
        if (ok && (forced || scripted) && k == fail_at) {
          fail(n, scripted ? scripted->exception_type : "ValueError",
               scripted ? scripted->exception_message
                        : "audit_probe: forced failure at step " + std::to_string(k) + " of " +
                              std::to_string(steps) + "\n");
          break;
        }
      }
      if (!terminal_type.empty()) break;
    } else {
      sleep_ms(options_.node_ms);
      if (scripted) {
        fail(n, scripted->exception_type, scripted->exception_message);
        break;
      }
    }
    if (!ok) {
      interrupt_at(n);
      break;
    }
    if (n.class_type == "SaveImage" || n.class_type == "PreviewImage") {
      // The image written: the bytes of the first upload upstream, else a 1×1 PNG.
      std::string bytes = kOnePixelPng, prefix = "ComfyUI_temp_mqkld", type = "temp";
      if (n.class_type == "SaveImage") {
        prefix = n.Input("filename_prefix") && n.Input("filename_prefix")->string_value
                     ? *n.Input("filename_prefix")->string_value
                     : "ComfyUI";
        type = "output";
      }
      std::string filename;
      {
        MutexLock l(&mu_);
        for (const std::string& up : exec_order) {
          const FakeNode& u = *by_id[up];
          if (u.class_type != "LoadImage" || !u.Input("image") || !u.Input("image")->string_value) continue;
          std::string file = *u.Input("image")->string_value;
          const size_t slash = file.rfind('/');
          auto it = files_.find("input/" + (slash == std::string::npos ? "/" + file
                                                                       : file.substr(0, slash) + "/" + file.substr(slash + 1)));
          if (it != files_.end()) bytes = it->second;
          break;
        }
        char buf[16];
        std::snprintf(buf, sizeof(buf), "_%05d_", ++output_counters_[type + "/" + prefix]);
        filename = prefix + buf + ".png";
        files_[type + "//" + filename] = bytes;
      }
      outputs[id] = "{\"images\":[{\"filename\":" + Q(filename) + ",\"subfolder\":\"\",\"type\":" + Q(type) + "}]}";
      executed_event(id, outputs[id]);
    }
    progress.Set(id, reported ? last_value : "1.0", reported ? last_max : "1.0", true);
    send_progress_state();
    executed.push_back(id);
  }
  if (terminal_type.empty()) {
    terminal_type = "execution_success";
    terminal_data = "{\"prompt_id\":" + Q(pid) + ",\"timestamp\":" + std::to_string(NowMs()) + "}";
  }
  // execution_interrupted is unguarded: broadcast when the prompt has no client_id.
  send(terminal_type, terminal_data, terminal_type != "execution_interrupted");

  // History, then the cache keeps this prompt's finished nodes only (classic cache).
  const bool success = terminal_type == "execution_success";
  std::string outs = "{", meta = "{";
  for (const std::string& id : exec_order) {
    auto o = outputs.find(id);
    if (o == outputs.end() || (!success && std::find(executed.begin(), executed.end(), id) == executed.end())) continue;
    if (outs.size() > 1) outs += ",", meta += ",";
    outs += Q(id) + ":" + o->second;
    meta += Q(id) + ":{\"node_id\":" + Q(id) + ",\"display_node\":" + Q(id) +
            ",\"parent_node\":null,\"real_node_id\":" + Q(id) + "}";
  }
  outs += "}";
  meta += "}";
  std::string entry = "{\"prompt\":[" + item.number_json + "," + Q(pid) + "," + item.prompt_json + "," +
                      item.extra_data_json + "," + IdList(item.outputs) + "],\"outputs\":" + outs +
                      ",\"status\":{\"status_str\":" + (success ? "\"success\"" : "\"error\"") +
                      ",\"completed\":" + (success ? "true" : "false") + ",\"messages\":[[\"execution_start\"," +
                      start + "],[\"execution_cached\"," + cached_msg + "],[" + Q(terminal_type) + "," +
                      terminal_data + "]]},\"meta\":" + meta + "}";
  MutexLock l(&mu_);
  std::map<std::string, std::string> next_cache;
  for (const std::string& id : cached) next_cache[sigs[id]] = cached_outputs[id];
  for (const std::string& id : executed) next_cache[sigs[id]] = outputs.count(id) ? outputs[id] : "";
  cache_ = std::move(next_cache);
  if (history_.count(pid) == 0) history_order_.push_back(pid);
  history_[pid] = std::move(entry);
}

}  // namespace tokenaudit::comfy::testing
