#include "src/gateway/run_recorder.h"

#include <algorithm>

#include "src/util/hex.h"
#include "src/util/sha256.h"

namespace tokenaudit::gateway {
namespace {

constexpr size_t kMaxFinished = 20'000;  // finished prompts remembered (ids emitted once)
constexpr char kInterrupted[] = "interrupted";

bool VisibleAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace

std::string NodeRecordId(const std::string& prompt_id, const std::string& node_id) {
  if (!VisibleAscii(node_id) || node_id.size() > 64) {
    Sha256Digest d = Sha256Of(node_id);
    return prompt_id + "/" + HexEncode(d.data(), d.size());
  }
  return prompt_id + "/" + node_id;
}

std::string PromptRecordId(const std::string& prompt_id) { return prompt_id + "/prompt"; }

RunRecorder::RunRecorder(std::string source, Sink sink)
    : source_(std::move(source)), sink_(std::move(sink)) {}

void RunRecorder::Submitted(PromptInfo info, bool gap) {
  Prompt& p = prompts_[info.prompt_id];
  if (p.finished || !p.info.prompt_id.empty()) return;  // ids are the gateway's own: never reused
  p.info = std::move(info);
  p.gap = gap;
}

UsageRecord RunRecorder::Base(const Prompt& p) const {
  UsageRecord r;
  r.source = source_;
  r.tenant = p.info.tenant;
  r.user = p.info.user;
  r.workflow = p.info.workflow_name;
  r.workflow_hash = p.info.workflow_hash;
  if (!p.info.duplicate_of.empty()) r.duplicate_of = PromptRecordId(p.info.duplicate_of);
  r.capture = "gateway";
  return r;
}

void RunRecorder::Rejected(const PromptInfo& info, const std::string& reason, int64_t now_us) {
  Prompt p;
  p.info = info;
  UsageRecord r = Base(p);
  r.id = PromptRecordId(info.prompt_id);
  r.operation_name = "comfyui.prompt";
  r.task_type = info.task_type;
  r.time_us = now_us;
  r.status = "rejected";
  r.error_type = reason;
  for (const RecordableNode& n : info.nodes) {
    if (n.model.empty()) continue;
    r.model = n.model;
    r.node_type = n.class_type;
    r.input_width = n.width;
    r.input_height = n.height;
    r.input_batch = n.batch;
    r.input_model_input_size = n.model_input_size;
    r.input_hash = n.input_hash;
    break;
  }
  sink_(std::move(r));
}

const RecordableNode* RunRecorder::FindNode(const Prompt& p, const std::string& node_id) const {
  for (const RecordableNode& n : p.info.nodes) {
    if (n.node_id == node_id) return &n;
  }
  return nullptr;
}

void RunRecorder::EmitNode(Prompt* p, const RecordableNode& node, const std::string& status,
                           std::optional<int64_t> start_us, int64_t end_us,
                           const std::string& error_type) {
  if (!p->recorded.insert(node.node_id).second) return;
  UsageRecord r = Base(*p);
  r.id = NodeRecordId(p->info.prompt_id, node.node_id);
  r.operation_name = "comfyui.node";
  r.node_id = node.node_id;
  r.node_type = node.class_type;
  r.task_type = node.task_type;
  r.model = node.model;
  r.input_width = node.width;
  r.input_height = node.height;
  r.input_batch = node.batch;
  r.input_model_input_size = node.model_input_size;
  r.input_hash = node.input_hash;
  r.time_us = end_us;
  if (start_us) {
    const int64_t start = std::min(*start_us, end_us);
    r.start_time_us = start;
    r.duration_ms = (end_us - start) / 1000;
  }
  r.status = status;
  r.error_type = error_type;
  sink_(std::move(r));
}

void RunRecorder::CloseOpen(Prompt* p, int64_t end_us, const std::string& status,
                            const std::string& error_type) {
  if (!p->open) return;
  if (const RecordableNode* n = FindNode(*p, p->open->node_id)) {
    EmitNode(p, *n, status, p->open->start_us, end_us, error_type);
  }
  p->open.reset();
}

void RunRecorder::Finish(Prompt* p, const std::string& status, const std::string& error_type,
                         const std::string& failed_node, const std::vector<std::string>& executed,
                         int64_t end_us) {
  if (p->finished) return;
  const bool open_failed = p->open && p->open->node_id == failed_node && status != "success";
  CloseOpen(p, end_us, open_failed ? status : "success", open_failed ? error_type : "");
  if (p->gap) {
    // Events were missed: what must have run, from the outcome. A success ran every node that
    // was not cached; an error or interrupt ran `executed` and stopped in `failed_node`.
    for (const RecordableNode& n : p->info.nodes) {
      if (p->recorded.count(n.node_id) || p->cached.count(n.node_id)) continue;
      if (status == "success" ||
          std::find(executed.begin(), executed.end(), n.node_id) != executed.end()) {
        EmitNode(p, n, "success", std::nullopt, end_us, "");
      } else if (n.node_id == failed_node) {
        EmitNode(p, n, status, std::nullopt, end_us, error_type);
      }
    }
  }
  UsageRecord r = Base(*p);
  r.id = PromptRecordId(p->info.prompt_id);
  r.operation_name = "comfyui.prompt";
  r.task_type = p->info.task_type;
  r.time_us = end_us;
  const int64_t start = std::min(p->start_us.value_or(p->info.submitted_us), end_us);
  r.start_time_us = start;
  r.duration_ms = (end_us - start) / 1000;
  r.status = status;
  r.error_type = error_type;
  sink_(std::move(r));
  p->finished = true;
  p->outcome = status;
  if (running_ == p->info.prompt_id) running_.clear();
  finished_order_.push_back(p->info.prompt_id);
  if (finished_order_.size() > kMaxFinished) {
    prompts_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
}

bool RunRecorder::OnEvent(const UpstreamEvent& e, int64_t now_us) {
  std::string id = e.prompt_id;
  if (id.empty() && e.type == "executing" && e.node) id = running_;
  auto it = prompts_.find(id);
  if (it == prompts_.end() || it->second.finished || it->second.info.prompt_id.empty()) {
    return false;
  }
  Prompt& p = it->second;
  if (e.type == "execution_start") {
    running_ = id;
    p.start_us = now_us;
  } else if (e.type == "execution_cached") {
    running_ = id;
    for (const std::string& n : e.nodes) {
      p.cached.insert(n);
      if (const RecordableNode* node = FindNode(p, n)) {
        EmitNode(&p, *node, "cached", std::nullopt, now_us, "");
      }
    }
  } else if (e.type == "executing") {
    if (!e.has_node) return false;
    if (!e.node) {
      // The terminal marker, and the prompt has no outcome yet: it was missed; history decides.
      p.gap = true;
      if (running_ == id) running_.clear();
      return true;
    }
    running_ = id;
    if (p.open && p.open->node_id == *e.node) return false;  // re-sent after a reconnect
    CloseOpen(&p, now_us, "success", "");
    p.open = Open{*e.node, now_us};
  } else if (e.type == "execution_success") {
    Finish(&p, "success", "", "", {}, now_us);
  } else if (e.type == "execution_error") {
    Finish(&p, "error", e.exception_type.empty() ? "execution_error" : e.exception_type, e.node_id,
           e.executed, now_us);
  } else if (e.type == "execution_interrupted") {
    Finish(&p, kInterrupted, kInterrupted, e.node_id, e.executed, now_us);
  }
  return false;
}

void RunRecorder::MarkGap() {
  for (auto& [id, p] : prompts_) {
    if (!p.finished) p.gap = true;
  }
}

void RunRecorder::MarkGap(const std::string& prompt_id) {
  auto it = prompts_.find(prompt_id);
  if (it != prompts_.end() && !it->second.finished) it->second.gap = true;
}

bool RunRecorder::Reconcile(const std::string& prompt_id, const HistoryOutcome& h,
                            int64_t now_us) {
  auto it = prompts_.find(prompt_id);
  if (it == prompts_.end()) return false;
  Prompt& p = it->second;
  if (p.finished) return true;
  if (!h.finished) return false;
  p.gap = true;
  const int64_t end_us = h.end_ms ? *h.end_ms * 1000 : now_us;
  if (!p.start_us && h.start_ms) p.start_us = *h.start_ms * 1000;
  for (const std::string& n : h.cached) {
    p.cached.insert(n);
    if (const RecordableNode* node = FindNode(p, n)) {
      EmitNode(&p, *node, "cached", std::nullopt, end_us, "");
    }
  }
  const std::string error_type = h.status == "error"
                                     ? (h.exception_type.empty() ? "execution_error"
                                                                 : h.exception_type)
                                 : h.status == kInterrupted ? kInterrupted
                                                            : "";
  Finish(&p, h.status, error_type, h.node_id, h.executed, end_us);
  return true;
}

void RunRecorder::Lost(const std::string& prompt_id, const std::string& status,
                       const std::string& error_type, int64_t now_us) {
  auto it = prompts_.find(prompt_id);
  if (it == prompts_.end() || it->second.finished) return;
  it->second.gap = false;  // nothing is known to have run
  Finish(&it->second, status, error_type, "", {}, now_us);
}

void RunRecorder::Forget(const std::string& prompt_id) {
  auto it = prompts_.find(prompt_id);
  if (it != prompts_.end() && !it->second.finished) prompts_.erase(it);
  if (running_ == prompt_id) running_.clear();
}

std::vector<std::string> RunRecorder::Active() const {
  std::vector<std::string> out;
  for (const auto& [id, p] : prompts_) {
    if (!p.finished && !p.info.prompt_id.empty()) out.push_back(id);
  }
  return out;
}

std::vector<std::string> RunRecorder::ActiveWithGap() const {
  std::vector<std::string> out;
  for (const auto& [id, p] : prompts_) {
    if (!p.finished && p.gap && !p.info.prompt_id.empty()) out.push_back(id);
  }
  return out;
}

std::string RunRecorder::Outcome(const std::string& prompt_id) const {
  auto it = prompts_.find(prompt_id);
  return it == prompts_.end() ? std::string() : it->second.outcome;
}

}  // namespace tokenaudit::gateway
