// See gateway_bench_support.h.

#include "bench/gateway/gateway_bench_support.h"

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string_view>

namespace tokenaudit::bench {

// --- inputs ------------------------------------------------------------------------------------

namespace {

uint32_t Crc32(std::string_view s) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

void Be32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace

// A PNG whose IHDR says w×h (the gateway reads only the header); `salt` makes distinct bytes.
std::string Png(uint32_t w, uint32_t h, const std::string& salt) {
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr = "IHDR";
  Be32(&ihdr, w);
  Be32(&ihdr, h);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);
  Be32(&png, 13);
  png += ihdr;
  Be32(&png, Crc32(ihdr));
  std::string text = "tEXt" + std::string("salt\0", 5) + salt;
  Be32(&png, static_cast<uint32_t>(text.size() - 4));
  png += text;
  Be32(&png, Crc32(text));
  Be32(&png, 0);
  png += "IEND";
  Be32(&png, Crc32("IEND"));
  return png;
}

std::string Multipart(const std::string& name, const std::string& bytes) {
  return "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" + name +
         "\"\r\nContent-Type: image/png\r\n\r\n" + bytes +
         "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\ninput\r\n--XyZ--\r\n";
}

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
