// gateway_bench: the latency the ComfyUI gateway adds, against going straight to the same
// upstream (the fake ComfyUI of test/comfy, in this process).
//
//   gateway_bench [--rate 1000] [--seconds 10] [--connections 8]
//
// Phase 1, POST /prompt: an open-loop load of `rate` requests/s over `connections` keep-alive
// connections, first straight to the fake, then through the gateway (same prompt, same fake).
// Latency counts from each request's scheduled send time (no coordinated omission).
// Phase 2, per WebSocket event: while the gateway phase runs, one socket on the fake and one on
// the gateway (same user as the prompts) receive the same `status` frames (ComfyUI broadcasts
// them, the gateway relays them rewritten per user); the k-th frame's arrival on the gateway
// socket minus its arrival on the direct one is the relay's added latency for that event.
// Prints the command, the machine, and p50/p99 of both paths and of the differences.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "bench/latency.h"
#include "bench/machine.h"
#include "src/auth/key_store.h"
#include "src/auth/pseudonymizer.h"
#include "src/gateway/gateway.h"
#include "test/comfy/fake_comfyui.h"
#include "test/support/comfy_ws_client.h"
#include "test/support/http_client.h"

namespace tokenaudit::bench {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string Multipart(const std::string& name, const std::string& bytes) {
  return "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" + name +
         "\"\r\n\r\n" + bytes + "\r\n--XyZ--\r\n";
}

// A prompt the fake runs instantly (LoadImage → ImageInvert → PreviewImage).
std::string Prompt(const std::string& image) {
  return R"({"prompt": {"1": {"class_type": "LoadImage", "inputs": {"image": ")" + image +
         R"("}}, "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
         "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}, "client_id": "bench"})";
}

struct LoadResult {
  std::vector<int64_t> nanos;
  uint64_t errors = 0;
};

LoadResult OpenLoop(uint16_t port, const std::string& auth, const std::string& body, int rate,
                    int seconds, int connections) {
  std::vector<LoadResult> per(static_cast<size_t>(connections));
  std::vector<std::thread> threads;
  const int64_t start = NowNanos() + 50'000'000;
  const int64_t interval = 1'000'000'000LL * connections / rate;
  const int64_t total_per_conn = static_cast<int64_t>(rate) * seconds / connections;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      testing::HttpClient client(port);
      std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"}};
      if (!auth.empty()) h.emplace_back("Authorization", "Bearer " + auth);
      LoadResult& out = per[static_cast<size_t>(c)];
      for (int64_t i = 0; i < total_per_conn; ++i) {
        const int64_t due = start + i * interval + c * (interval / connections);
        const int64_t now = NowNanos();
        if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
        testing::HttpResult r = client.Request("POST", "/prompt", body, h);
        if (r.status != 200) ++out.errors;
        out.nanos.push_back(NowNanos() - due);
      }
    });
  }
  for (auto& t : threads) t.join();
  LoadResult all;
  for (auto& p : per) {
    all.nanos.insert(all.nanos.end(), p.nanos.begin(), p.nanos.end());
    all.errors += p.errors;
  }
  return all;
}

// Arrival times of every `status` text frame on a socket.
class StatusTimes {
 public:
  bool Connect(uint16_t port, const std::string& path) {
    if (!ws_.Connect(port, path)) return false;
    reader_ = std::thread([this] {
      for (;;) {
        auto f = ws_.Next(3000);
        if (!f) {
          if (stop_) return;
          continue;
        }
        if (!f->binary && f->data.find("\"type\":\"status\"") != std::string::npos &&
            f->data.find("\"sid\"") == std::string::npos) {
          times_.push_back(NowNanos());
        }
      }
    });
    return true;
  }
  std::vector<int64_t> Stop() {
    stop_ = true;
    ws_.Close();
    if (reader_.joinable()) reader_.join();
    return times_;
  }

 private:
  testing::ComfyWsClient ws_;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::vector<int64_t> times_;
};

void Print(const char* what, std::vector<int64_t>* nanos, uint64_t errors) {
  LatencySummary s = Summarize(nanos);
  std::printf("%-34s n=%-7llu errors=%-4llu p50=%.3f ms  p99=%.3f ms  p999=%.3f ms  max=%.3f ms\n",
              what, static_cast<unsigned long long>(s.count),
              static_cast<unsigned long long>(errors), s.p50_ms, s.p99_ms, s.p999_ms, s.max_ms);
}

int Run(int argc, char** argv) {
  int rate = 1000, seconds = 10, connections = 8;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (flag == "--rate") rate = v;
    else if (flag == "--seconds") seconds = v;
    else if (flag == "--connections") connections = v;
  }
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += std::string(i ? " " : "") + argv[i];
  char tmpl[] = "/tmp/ta_gwbench_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  MachineInfo m = DescribeMachine(dir);
  std::printf("command: %s\nmachine: %s, %d CPUs, %s, load %s, %s\n", cmd.c_str(),
              m.cpu_model.c_str(), m.nproc, m.kernel.c_str(), m.loadavg.c_str(), UtcNow().c_str());

  comfy::testing::FakeComfyUiOptions fo;
  fo.ddcolor_ms = 0;
  fo.captures_dir = TOKENAUDIT_COMFY_CAPTURES;
  auto fake = comfy::testing::FakeComfyUi::Start(fo);
  if (!fake.ok()) {
    std::fprintf(stderr, "fake: %s\n", fake.status().ToString().c_str());
    return 1;
  }
  auto keys = auth::KeyStore::Open(Env::Default(), dir);
  auto pseudo = auth::Pseudonymizer::Create(std::string(32, 'k'));
  if (!keys.ok() || !pseudo.ok()) {
    std::fprintf(stderr, "keys: %s %s\n", keys.status().ToString().c_str(),
                 pseudo.status().ToString().c_str());
    return 1;
  }
  auto key = (*keys)->Create(auth::Role::kUser, "bench-user", "", pseudo->get());
  if (!key.ok()) {
    std::fprintf(stderr, "key: %s\n", key.status().ToString().c_str());
    return 1;
  }
  gateway::GatewayOptions go;
  go.upstream = "http://127.0.0.1:" + std::to_string((*fake)->port());
  go.admission.duplicate_window_s = 0;
  std::atomic<uint64_t> records{0};
  auto gw = gateway::Gateway::Start(go, keys->get(), [&](UsageRecord) { ++records; });
  if (!gw.ok()) {
    std::fprintf(stderr, "gateway: %s\n", gw.status().ToString().c_str());
    return 1;
  }
  const uint16_t fake_port = (*fake)->port(), gw_port = (*gw)->port();
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + "bench";
  testing::HttpClient(fake_port).Request("POST", "/upload/image", Multipart("bench.png", png),
                                         {{"Content-Type", "multipart/form-data; boundary=XyZ"}});
  testing::HttpClient(gw_port).Request(
      "POST", "/upload/image", Multipart("bench.png", png),
      {{"Content-Type", "multipart/form-data; boundary=XyZ"}, {"Authorization", "Bearer " + *key}});
  const std::string body = Prompt("bench.png");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // upstream socket up

  LoadResult direct = OpenLoop(fake_port, "", body, rate, seconds, connections);
  (*fake)->WaitIdle(60'000);
  StatusTimes on_fake, on_gw;
  on_fake.Connect(fake_port, "/ws?clientId=bench-direct");
  on_gw.Connect(gw_port, "/ws?clientId=bench&token=" + *key);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  LoadResult via = OpenLoop(gw_port, *key, body, rate, seconds, connections);
  (*fake)->WaitIdle(60'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::vector<int64_t> tf = on_fake.Stop(), tg = on_gw.Stop();
  std::vector<int64_t> added;
  for (size_t i = 0; i < std::min(tf.size(), tg.size()); ++i) added.push_back(tg[i] - tf[i]);

  std::printf("rate %d req/s for %d s over %d connections\n", rate, seconds, connections);
  Print("POST /prompt direct", &direct.nanos, direct.errors);
  Print("POST /prompt via gateway", &via.nanos, via.errors);
  std::printf("WS status frames: %zu direct, %zu via gateway\n", tf.size(), tg.size());
  Print("WS event added by gateway", &added, 0);
  std::printf("records produced: %llu\n", static_cast<unsigned long long>(records.load()));
  (*gw)->Shutdown();
  (*fake)->Stop();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace tokenaudit::bench

int main(int argc, char** argv) { return tokenaudit::bench::Run(argc, argv); }
