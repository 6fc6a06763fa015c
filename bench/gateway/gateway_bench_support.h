// Pieces of gateway_bench (bench/gateway/gateway_bench.cc) that do not touch the network: the
// inputs it sends (PNG uploads, DDColor prompts as the ComfyUI frontend submits them, raw HTTP
// requests) and the per-thread CPU accounting read from /proc.

#pragma once

#include <cstdint>
#include <set>
#include <string>

namespace tokenaudit::bench {

// --- inputs (PNG uploads and their multipart bodies: test/support/comfy_uploads.h) -------------

std::string ReadFile(const std::string& path);

// A DDColor restoration as the ComfyUI frontend submits it.
std::string PromptBody(const std::string& image, int model_input_size, const std::string& ckpt,
                       const std::string& client_id, const std::string& ui_workflow);

std::string HttpPost(const std::string& target, const std::string& body, const std::string& key);

// --- threads' CPU ------------------------------------------------------------------------------

std::set<int> Tids();

struct SchedStat {
  int64_t run_ns = 0;   // on a CPU
  int64_t wait_ns = 0;  // runnable, waiting for a CPU
};

SchedStat ReadSchedStat(const std::set<int>& tids);

std::set<int> Minus(const std::set<int>& a, const std::set<int>& b);

}  // namespace tokenaudit::bench
