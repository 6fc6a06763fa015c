// gateway_bench: the latency the ComfyUI gateway adds against going straight to the same
// upstream (issue 5: p50/p99 at 1,000 req/s; target p99 <= 1 ms added), with the fake ComfyUI
// of test/comfy and the gateway library in this process.
//
//   gateway_bench [--rate 1000] [--seconds 10] [--rounds 3] [--users 4] [--images 6]
//                 [--connections 32] [--warmup-seconds 2]
//
// POST /prompt: an open-loop load generator of ours (one Asio thread, a pool of keep-alive
// connections; a request whose connection is busy waits in a backlog) sends `rate` DDColor
// workflows per second — LoadImage → DDColor_Colorize → SaveImage on uploads of several sizes,
// with the editor's UI workflow in extra_data.extra_pnginfo as the ComfyUI frontend sends it —
// from `users` users (each with its own tokenaudit key through the gateway, its own client_id
// direct) round-robin. Every latency counts from the request's scheduled send time, so a stall
// shows in every request scheduled during it (no coordinated omission). The two paths run in
// alternating rounds (direct, gateway, then gateway, direct, ...) against the same fake.
//
// Per WebSocket event: every user has a socket on the fake (direct) and one on the gateway. The
// fake stamps each frame as its write starts (FakeComfyUiOptions::on_ws_write); a client stamps
// it on receipt. Frames are matched by content (per-prompt events carry their prompt_id, and the
// gateway relays them byte for byte), so each event's latency is receipt minus the fake's send;
// the added latency is the gateway path's percentile minus the direct path's.
//
// The fake must not be the bottleneck: each round prints the CPU time and run-queue wait of the
// fake's I/O and worker threads, the gateway's I/O thread and the load generator
// (/proc/self/task/*/schedstat), and the fake's largest queue depth.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/gateway/gateway_bench_support.h"
#include "bench/latency.h"
#include "bench/machine.h"
#include "src/auth/key_store.h"
#include "src/auth/pseudonymizer.h"
#include "src/gateway/gateway.h"
#include "test/comfy/fake_comfyui.h"
#include "test/support/comfy_uploads.h"
#include "test/support/http_client.h"

namespace tokenaudit::bench {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using ::tokenaudit::testing::Multipart;
using ::tokenaudit::testing::Png;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// --- WebSocket stamps ----------------------------------------------------------------------------

// (content hash, steady nanos) of frames, appended from one thread, read after a round.
class StampLog {
 public:
  void Add(std::string_view frame, int64_t t) {
    std::lock_guard<std::mutex> l(mu_);
    stamps_.emplace_back(std::hash<std::string_view>{}(frame), t);
  }
  size_t size() {
    std::lock_guard<std::mutex> l(mu_);
    return stamps_.size();
  }
  std::vector<std::pair<size_t, int64_t>> Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(stamps_, {});
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<size_t, int64_t>> stamps_;
};

bool IsPromptEvent(std::string_view frame) {
  return frame.find("\"prompt_id\"") != std::string_view::npos;
}

// Receipt minus send of each received frame whose content was sent exactly once.
std::vector<int64_t> MatchStamps(const std::vector<std::pair<size_t, int64_t>>& sent,
                                 const std::vector<std::pair<size_t, int64_t>>& received,
                                 uint64_t* unmatched) {
  std::unordered_map<size_t, int64_t> at;
  at.reserve(sent.size());
  for (auto [h, t] : sent) {
    auto [it, fresh] = at.emplace(h, t);
    if (!fresh) it->second = -1;  // the same bytes twice: ambiguous
  }
  std::vector<int64_t> out;
  out.reserve(received.size());
  for (auto [h, t] : received) {
    auto it = at.find(h);
    if (it == at.end() || it->second < 0) {
      ++*unmatched;
      continue;
    }
    out.push_back(t - it->second);
  }
  return out;
}

// The users' sockets, read on one Asio thread; prompt events stamped on receipt.
class WsReceivers {
 public:
  bool Add(uint16_t port, const std::string& path, StampLog* log) {
    auto s = std::make_shared<Socket>(ioc_, log);
    beast::error_code ec;
    s->ws.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return false;
    s->ws.next_layer().set_option(tcp::no_delay(true), ec);
    s->ws.handshake("127.0.0.1:" + std::to_string(port), path, ec);
    if (ec) return false;
    sockets_.push_back(s);
    return true;
  }
  void Start() {
    for (auto& s : sockets_) Read(s);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void Stop() {
    net::post(ioc_, [this] {
      for (auto& s : sockets_) {
        beast::error_code ec;
        s->ws.next_layer().close(ec);
      }
    });
    if (thread_.joinable()) thread_.join();
  }
  std::thread::native_handle_type handle() { return thread_.native_handle(); }

 private:
  struct Socket {
    Socket(net::io_context& ioc, StampLog* l) : ws(ioc), log(l) {}
    websocket::stream<tcp::socket> ws;
    beast::flat_buffer buffer;
    StampLog* log;
  };
  void Read(std::shared_ptr<Socket> s) {
    s->ws.async_read(s->buffer, [this, s](beast::error_code ec, size_t) {
      if (ec) return;
      const int64_t now = NowNanos();
      if (s->ws.got_text()) {
        const auto data = s->buffer.cdata();
        std::string_view frame(static_cast<const char*>(data.data()), data.size());
        if (IsPromptEvent(frame)) s->log->Add(frame, now);
      }
      s->buffer.consume(s->buffer.size());
      Read(s);
    });
  }

  net::io_context ioc_{1};
  std::vector<std::shared_ptr<Socket>> sockets_;
  std::thread thread_;
};

// --- the open-loop load generator ----------------------------------------------------------------

struct LoadResult {
  std::vector<int64_t> nanos;  // completion minus scheduled send, per request
  uint64_t errors = 0;
  uint64_t backlogged = 0;     // requests that found every connection busy
  std::vector<std::string> error_samples;  // the first few failures, as "status: body" or I/O
  size_t max_queue = 0;        // the fake's largest queue depth seen (sampled every 10 ms)
  double seconds = 0;          // first scheduled send to last completion
};

class OpenLoop {
 public:
  // Request i is requests[i % size]; `fake` is sampled for its queue depth.
  OpenLoop(uint16_t port, const std::vector<std::string>* requests, int connections,
           const comfy::testing::FakeComfyUi* fake)
      : port_(port), requests_(requests), fake_(fake), timer_(ioc_), sampler_(ioc_) {
    for (int c = 0; c < connections; ++c) {
      auto conn = std::make_unique<Conn>(ioc_);
      Connect(conn.get());
      idle_.push_back(conn.get());
      conns_.push_back(std::move(conn));
    }
  }

  LoadResult Run(int rate, double seconds) {
    result_ = {};
    n_ = static_cast<int64_t>(rate * seconds);
    next_ = 0;
    done_ = 0;
    interval_ = 1'000'000'000LL / rate;
    result_.nanos.reserve(static_cast<size_t>(n_));
    start_ = NowNanos() + 20'000'000;
    ioc_.restart();
    Arm();
    Sample();
    ioc_.run();
    result_.seconds = static_cast<double>(last_done_ - start_) / 1e9;
    return std::move(result_);
  }

 private:
  struct Conn {
    explicit Conn(net::io_context& ioc) : socket(ioc) {}
    tcp::socket socket;
    beast::flat_buffer buffer;
    std::optional<bhttp::response_parser<bhttp::string_body>> parser;
    int64_t due = 0;
  };

  void Connect(Conn* c) {
    beast::error_code ec;
    c->socket = tcp::socket(ioc_);
    c->buffer.clear();
    c->socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    if (!ec) c->socket.set_option(tcp::no_delay(true), ec);
    if (ec) std::fprintf(stderr, "load: connect: %s\n", ec.message().c_str());
  }

  int64_t Due(int64_t i) const { return start_ + i * interval_; }

  void Arm() {
    if (next_ >= n_) return;
    timer_.expires_at(Clock::time_point(std::chrono::nanoseconds(Due(next_))));
    timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      const int64_t now = NowNanos();
      while (next_ < n_ && Due(next_) <= now) {
        const int64_t i = next_++;
        if (idle_.empty()) {
          ++result_.backlogged;
          backlog_.push_back(i);
        } else {
          Conn* c = idle_.back();
          idle_.pop_back();
          Send(c, i);
        }
      }
      Arm();
    });
  }

  void Sample() {
    if (done_ >= n_) return;
    result_.max_queue = std::max(result_.max_queue, fake_->queue_remaining());
    sampler_.expires_after(std::chrono::milliseconds(10));
    sampler_.async_wait([this](beast::error_code ec) {
      if (!ec) Sample();
    });
  }

  // A pooled connection the server closed while it sat idle (the gateway's idle timeout,
  // doc/gateway.md "Connections") is replaced before use, as a keep-alive client pool must do.
  void ReviveIfClosed(Conn* c) {
    char ch;
    const ssize_t n = ::recv(c->socket.native_handle(), &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) Connect(c);
  }

  void Send(Conn* c, int64_t i) {
    ReviveIfClosed(c);
    c->due = Due(i);
    const std::string& req = (*requests_)[static_cast<size_t>(i) % requests_->size()];
    net::async_write(c->socket, net::buffer(req), [this, c](beast::error_code ec, size_t) {
      if (ec) return Complete(c, false, true, "write: " + ec.message());
      c->parser.emplace();
      c->parser->body_limit(1 << 20);
      bhttp::async_read(c->socket, c->buffer, *c->parser, [this, c](beast::error_code ec2, size_t) {
        if (ec2) return Complete(c, false, true, "read: " + ec2.message());
        const auto& res = c->parser->get();
        if (res.result_int() == 200) return Complete(c, true, false, {});
        Complete(c, false, false, std::to_string(res.result_int()) + ": " + res.body().substr(0, 300));
      });
    });
  }

  void Complete(Conn* c, bool ok, bool io_error, std::string what) {
    const int64_t now = NowNanos();
    result_.nanos.push_back(now - c->due);
    last_done_ = now;
    if (!ok) {
      ++result_.errors;
      if (result_.error_samples.size() < 3) result_.error_samples.push_back(std::move(what));
    }
    if (io_error) Connect(c);
    ++done_;
    if (!backlog_.empty()) {
      const int64_t i = backlog_.front();
      backlog_.pop_front();
      return Send(c, i);
    }
    idle_.push_back(c);
    if (done_ == n_) sampler_.cancel();
  }

  net::io_context ioc_{1};
  const uint16_t port_;
  const std::vector<std::string>* const requests_;
  const comfy::testing::FakeComfyUi* const fake_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> idle_;
  std::deque<int64_t> backlog_;
  net::steady_timer timer_, sampler_;
  int64_t n_ = 0, next_ = 0, done_ = 0, interval_ = 0, start_ = 0, last_done_ = 0;
  LoadResult result_;
};

// --- report --------------------------------------------------------------------------------------

struct PathFigures {
  std::vector<int64_t> prompt_nanos;
  std::vector<int64_t> event_nanos;
  uint64_t requests = 0, errors = 0, backlogged = 0, unmatched = 0;
  size_t max_queue = 0;
  double seconds = 0;
  SchedStat fake, gateway, load, receivers;
};

void Add(SchedStat* to, SchedStat a, SchedStat b) {
  to->run_ns += b.run_ns - a.run_ns;
  to->wait_ns += b.wait_ns - a.wait_ns;
}

std::string Ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

void PrintLine(const char* what, std::vector<int64_t> nanos) {
  LatencySummary s = Summarize(&nanos);
  std::printf("  %-28s n=%-8llu p50=%s  p99=%s  p99.9=%s  max=%s ms\n", what,
              static_cast<unsigned long long>(s.count), Ms(s.p50_ms).c_str(),
              Ms(s.p99_ms).c_str(), Ms(s.p999_ms).c_str(), Ms(s.max_ms).c_str());
}

void PrintCpu(const char* path, const PathFigures& f) {
  auto pct = [&](int64_t ns) { return f.seconds > 0 ? 100.0 * ns / (f.seconds * 1e9) : 0.0; };
  std::printf(
      "  %-8s CPU%% (run / waiting for a CPU): fake %.0f/%.0f  gateway %.0f/%.0f  load %.0f/%.0f  "
      "ws clients %.0f/%.0f; fake queue max %zu; backlogged %llu\n",
      path, pct(f.fake.run_ns), pct(f.fake.wait_ns), pct(f.gateway.run_ns), pct(f.gateway.wait_ns),
      pct(f.load.run_ns), pct(f.load.wait_ns), pct(f.receivers.run_ns), pct(f.receivers.wait_ns),
      f.max_queue, static_cast<unsigned long long>(f.backlogged));
}

void PrintAdded(const char* what, std::vector<int64_t> direct, std::vector<int64_t> via) {
  LatencySummary d = Summarize(&direct), v = Summarize(&via);
  std::printf("  %-28s p50=%+.3f  p99=%+.3f  p99.9=%+.3f ms\n", what, v.p50_ms - d.p50_ms,
              v.p99_ms - d.p99_ms, v.p999_ms - d.p999_ms);
}

int Run(int argc, char** argv) {
  int rate = 1000, seconds = 10, rounds = 3, users = 4, images = 6, connections = 32;
  double warmup = 2;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(
          "gateway_bench: the latency the gateway adds in front of a fake ComfyUI (bench/README.md)\n"
          "Alternates rounds sent directly to the fake and through the gateway, open loop.\n"
          "  --rate N             POST /prompt per second (default 1000)\n"
          "  --seconds N          length of each round (default 10)\n"
          "  --rounds N           rounds per path (default 3)\n"
          "  --users N            API keys, each with its own WebSocket (default 4)\n"
          "  --images N           distinct uploaded images per user (default 6)\n"
          "  --connections N      HTTP connections of the load generator (default 32)\n"
          "  --warmup-seconds X   unmeasured warm-up per path (default 2)\n");
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "flag %s needs a value (see --help)\n", flag.c_str());
      return 2;
    }
    char* end = nullptr;
    const double v = std::strtod(argv[i + 1], &end);
    if (end == argv[i + 1] || *end != '\0' || v < 0 || (v == 0 && flag != "--warmup-seconds")) {
      std::fprintf(stderr,
                   "flag %s: expected a positive number (--warmup-seconds: >= 0), got '%s'\n",
                   flag.c_str(), argv[i + 1]);
      return 2;
    }
    if (flag == "--rate") rate = static_cast<int>(v);
    else if (flag == "--seconds") seconds = static_cast<int>(v);
    else if (flag == "--rounds") rounds = static_cast<int>(v);
    else if (flag == "--users") users = static_cast<int>(v);
    else if (flag == "--images") images = static_cast<int>(v);
    else if (flag == "--connections") connections = static_cast<int>(v);
    else if (flag == "--warmup-seconds") warmup = v;
    else {
      std::fprintf(stderr, "unknown flag %s (see --help)\n", flag.c_str());
      return 2;
    }
  }
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += std::string(i ? " " : "") + argv[i];
  char tmpl[] = "/tmp/ta_gwbench_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  MachineInfo m = DescribeMachine(dir);
  std::printf("command: %s\nmachine: %s, %d CPUs, %s, load %s, %s\n", cmd.c_str(),
              m.cpu_model.c_str(), m.nproc, m.kernel.c_str(), m.loadavg.c_str(), UtcNow().c_str());

  // The fake, stamping the writes of prompt events.
  StampLog fake_sent;
  std::atomic<bool> stamping{false};
  comfy::testing::FakeComfyUiOptions fo;
  fo.ddcolor_ms = 0;
  fo.captures_dir = TOKENAUDIT_COMFY_CAPTURES;
  fo.on_ws_write = [&](std::string_view, bool binary, std::string_view frame) {
    if (!binary && stamping.load(std::memory_order_relaxed) && IsPromptEvent(frame)) {
      fake_sent.Add(frame, NowNanos());
    }
  };
  const std::set<int> tids0 = Tids();
  auto fake = comfy::testing::FakeComfyUi::Start(fo);
  if (!fake.ok()) {
    std::fprintf(stderr, "fake: %s\n", fake.status().ToString().c_str());
    return 1;
  }
  const std::set<int> tids1 = Tids();
  const std::set<int> fake_tids = Minus(tids1, tids0);

  auto keys = auth::KeyStore::Open(Env::Default(), dir);
  auto pseudo = auth::Pseudonymizer::Create(std::string(32, 'k'));
  if (!keys.ok() || !pseudo.ok()) {
    std::fprintf(stderr, "keys: %s %s\n", keys.status().ToString().c_str(),
                 pseudo.status().ToString().c_str());
    return 1;
  }
  std::vector<std::string> user_keys;
  for (int u = 0; u < users; ++u) {
    auto key = (*keys)->Create(auth::Role::kUser, "bench-user-" + std::to_string(u), "", pseudo->get());
    if (!key.ok()) {
      std::fprintf(stderr, "key: %s\n", key.status().ToString().c_str());
      return 1;
    }
    user_keys.push_back(*key);
  }
  // As `tokenaudit serve` configures it by default (duplicates flagged within 600 s), with a
  // resolution cap and a daily limit that are checked but never reached.
  gateway::GatewayOptions go;
  go.upstream = "http://127.0.0.1:" + std::to_string((*fake)->port());
  go.admission.duplicate_window_s = 600;
  go.admission.max_pixels = 24'000'000;
  go.admission.daily_token_limit = 1'000'000'000'000ull;
  std::atomic<uint64_t> records{0};
  auto gw = gateway::Gateway::Start(go, keys->get(), [&](UsageRecord) { ++records; });
  if (!gw.ok()) {
    std::fprintf(stderr, "gateway: %s\n", gw.status().ToString().c_str());
    return 1;
  }
  const std::set<int> tids2 = Tids();
  const std::set<int> gw_tids = Minus(tids2, tids1);
  const uint16_t fake_port = (*fake)->port(), gw_port = (*gw)->port();

  // Uploads through the gateway (they land on the fake too): sizes from a phone snapshot to a
  // 20 MP scan, distinct bytes per user.
  const std::pair<uint32_t, uint32_t> sizes[] = {{460, 680},   {1024, 768},  {2000, 1500},
                                                 {640, 480},   {3000, 2000}, {5472, 3648},
                                                 {1280, 1920}, {800, 600}};
  const int model_sizes[] = {512, 512, 256, 1024};
  const char* ckpts[] = {"ddcolor_paper_tiny.pth", "ddcolor_modelscope.pth",
                         "ddcolor_artistic.pth", "ddcolor_paper.pth"};
  const std::string ui = ReadFile(std::string(TOKENAUDIT_COMFY_CAPTURES) + "/protocol_4_2_ui.json");
  std::vector<std::string> direct_reqs, gw_reqs;
  std::vector<std::vector<std::string>> per_user_direct(users), per_user_gw(users);
  for (int u = 0; u < users; ++u) {
    for (int j = 0; j < images; ++j) {
      auto [w, h] = sizes[(u + j) % std::size(sizes)];
      const std::string name = "u" + std::to_string(u) + "_scan" + std::to_string(j) + ".png";
      testing::HttpResult r = testing::HttpClient(gw_port).Request(
          "POST", "/upload/image", Multipart(name, Png(w, h, name)),
          {{"Content-Type", "multipart/form-data; boundary=XyZ"},
           {"Authorization", "Bearer " + user_keys[u]}});
      if (r.status != 200) {
        std::fprintf(stderr, "upload %s: %d %s\n", name.c_str(), r.status, r.body.c_str());
        return 1;
      }
      const std::string client = "bench-u" + std::to_string(u);
      const std::string body = PromptBody(name, model_sizes[j % 4], ckpts[(u + j) % 4], client, ui);
      per_user_direct[u].push_back(HttpPost("/prompt", body, ""));
      per_user_gw[u].push_back(HttpPost("/prompt", body, user_keys[u]));
    }
  }
  // Request i: user i % users, that user's image (i / users) % images.
  for (int j = 0; j < images; ++j) {
    for (int u = 0; u < users; ++u) {
      direct_reqs.push_back(per_user_direct[u][j]);
      gw_reqs.push_back(per_user_gw[u][j]);
    }
  }
  std::printf("prompt body %zu bytes; %d users x %d images; rate %d req/s, %d s per round, %d "
              "rounds per path, %d connections\n",
              direct_reqs[0].size(), users, images, rate, seconds, rounds, connections);

  StampLog direct_recv, gw_recv;
  WsReceivers receivers;
  for (int u = 0; u < users; ++u) {
    const std::string client = "bench-u" + std::to_string(u);
    if (!receivers.Add(fake_port, "/ws?clientId=" + client, &direct_recv) ||
        !receivers.Add(gw_port, "/ws?clientId=" + client + "&token=" + user_keys[u], &gw_recv)) {
      std::fprintf(stderr, "websocket connect failed\n");
      return 1;
    }
  }
  receivers.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const std::set<int> recv_tids = Minus(Tids(), tids2);
  const std::set<int> load_tids = {static_cast<int>(gettid())};

  OpenLoop direct_load(fake_port, &direct_reqs, connections, fake->get());
  OpenLoop gw_load(gw_port, &gw_reqs, connections, fake->get());
  PathFigures direct, via;
  // Until the fake is idle and the sockets have had nothing new for 300 ms (at most 30 s).
  auto drain = [&] {
    (*fake)->WaitIdle(120'000);
    size_t seen = direct_recv.size() + gw_recv.size();
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      const size_t now = direct_recv.size() + gw_recv.size();
      if (now == seen) break;
      seen = now;
    }
  };
  auto round = [&](bool through_gateway, double secs, PathFigures* into) {
    stamping = into != nullptr;
    const SchedStat f0 = ReadSchedStat(fake_tids), g0 = ReadSchedStat(gw_tids),
                    l0 = ReadSchedStat(load_tids), r0 = ReadSchedStat(recv_tids);
    LoadResult r = (through_gateway ? gw_load : direct_load).Run(rate, secs);
    const SchedStat f1 = ReadSchedStat(fake_tids), g1 = ReadSchedStat(gw_tids),
                    l1 = ReadSchedStat(load_tids), r1 = ReadSchedStat(recv_tids);
    drain();
    stamping = false;
    auto sent = fake_sent.Take();
    auto got = (through_gateway ? gw_recv : direct_recv).Take();
    (through_gateway ? direct_recv : gw_recv).Take();  // nothing should be there
    if (into == nullptr) return;
    uint64_t unmatched = 0;
    std::vector<int64_t> events = MatchStamps(sent, got, &unmatched);
    PathFigures one;
    one.seconds = r.seconds;
    Add(&one.fake, f0, f1);
    Add(&one.gateway, g0, g1);
    Add(&one.load, l0, l1);
    Add(&one.receivers, r0, r1);
    one.max_queue = r.max_queue;
    one.backlogged = r.backlogged;
    const char* name = through_gateway ? "gateway" : "direct";
    std::printf("round %s: %llu requests in %.2f s, %llu errors, %zu of %zu events received "
                "(%llu unmatched), load %s\n",
                name, static_cast<unsigned long long>(r.nanos.size()), r.seconds,
                static_cast<unsigned long long>(r.errors), events.size(), sent.size(),
                static_cast<unsigned long long>(unmatched), LoadAverage().c_str());
    for (const std::string& e : r.error_samples) std::printf("  error: %s\n", e.c_str());
    PrintLine("POST /prompt", r.nanos);
    PrintLine("WS event", events);
    PrintCpu(name, one);
    into->prompt_nanos.insert(into->prompt_nanos.end(), r.nanos.begin(), r.nanos.end());
    into->event_nanos.insert(into->event_nanos.end(), events.begin(), events.end());
    into->requests += r.nanos.size();
    into->errors += r.errors;
    into->backlogged += r.backlogged;
    into->unmatched += unmatched;
    into->max_queue = std::max(into->max_queue, r.max_queue);
    into->seconds += r.seconds;
    Add(&into->fake, f0, f1);
    Add(&into->gateway, g0, g1);
    Add(&into->load, l0, l1);
    Add(&into->receivers, r0, r1);
  };

  // Warm-up (connections, pools, allocators, caches), not counted.
  round(false, warmup, nullptr);
  drain();
  round(true, warmup, nullptr);
  drain();
  for (int k = 0; k < rounds; ++k) {
    const bool gateway_first = k % 2 == 1;
    round(gateway_first, seconds, gateway_first ? &via : &direct);
    round(!gateway_first, seconds, gateway_first ? &direct : &via);
  }
  receivers.Stop();

  std::printf("\nall rounds (%d x %d s per path), load %s, %s\n", rounds, seconds,
              LoadAverage().c_str(), UtcNow().c_str());
  std::printf("POST /prompt (ms from scheduled send):\n");
  PrintLine("direct", direct.prompt_nanos);
  PrintLine("via gateway", via.prompt_nanos);
  PrintAdded("added by the gateway", direct.prompt_nanos, via.prompt_nanos);
  std::printf("WebSocket event (ms from the fake's write):\n");
  PrintLine("direct", direct.event_nanos);
  PrintLine("via gateway", via.event_nanos);
  PrintAdded("added by the gateway", direct.event_nanos, via.event_nanos);
  std::printf("errors: direct %llu, via %llu; unmatched events: direct %llu, via %llu\n",
              static_cast<unsigned long long>(direct.errors),
              static_cast<unsigned long long>(via.errors),
              static_cast<unsigned long long>(direct.unmatched),
              static_cast<unsigned long long>(via.unmatched));
  PrintCpu("direct", direct);
  PrintCpu("gateway", via);
  const gateway::GatewayStats gs = (*gw)->stats();
  std::printf("gateway: %llu prompts forwarded, %llu refused, %llu records; gateway CPU per "
              "prompt %.1f us\n",
              static_cast<unsigned long long>(gs.prompts_forwarded),
              static_cast<unsigned long long>(gs.prompts_refused),
              static_cast<unsigned long long>(records.load()),
              via.requests ? via.gateway.run_ns / 1e3 / static_cast<double>(via.requests) : 0.0);
  (*gw)->Shutdown();
  (*fake)->Stop();
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace tokenaudit::bench

int main(int argc, char** argv) { return tokenaudit::bench::Run(argc, argv); }
