// See gateway_bench_support.h.

#include "bench/gateway/gateway_bench_support.h"

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string_view>

namespace tokenaudit::bench {

// --- inputs ------------------------------------------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A DDColor restoration as the ComfyUI frontend submits it.
std::string PromptBody(const std::string& image, int model_input_size, const std::string& ckpt,
                       const std::string& client_id, const std::string& ui_workflow) {
  return R"({"client_id": ")" + client_id + R"(", "prompt": {"1": {"class_type": "LoadImage", "inputs": {"image": ")" +
         image + R"(", "upload": "image"}}, "2": {"class_type": "DDColor_Colorize", "inputs": {"image": ["1", 0], "model_input_size": )" +
         std::to_string(model_input_size) + R"(, "checkpoint": ")" + ckpt +
         R"("}}, "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "ddcolor"}}}, "extra_data": {"extra_pnginfo": {"workflow": )" +
         ui_workflow + "}}}";
}

std::string HttpPost(const std::string& target, const std::string& body, const std::string& key) {
  std::string r = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
  if (!key.empty()) r += "Authorization: Bearer " + key + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return r;
}

// --- threads' CPU ------------------------------------------------------------------------------

std::set<int> Tids() {
  std::set<int> out;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') out.insert(std::atoi(e->d_name));
    }
    closedir(d);
  }
  return out;
}

SchedStat ReadSchedStat(const std::set<int>& tids) {
  SchedStat s;
  for (int tid : tids) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/schedstat");
    int64_t run = 0, wait = 0;
    if (in >> run >> wait) {
      s.run_ns += run;
      s.wait_ns += wait;
    }
  }
  return s;
}

std::set<int> Minus(const std::set<int>& a, const std::set<int>& b) {
  std::set<int> out;
  for (int t : a) {
    if (!b.count(t)) out.insert(t);
  }
  return out;
}

}  // namespace tokenaudit::bench
