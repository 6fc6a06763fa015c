// See ledger_bench_util.h.

#include "bench/ledger_bench_util.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/counting_env.h"
#include "bench/latency.h"
#include "bench/machine.h"
#include "src/ledger/verifier.h"
#include "src/log/log_format.h"
#include "tokenaudit/ledger.h"
#include "tokenaudit/merkle.h"

namespace tokenaudit::bench {

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

void SleepUntilNanos(int64_t deadline) {
  // steady_clock is CLOCK_MONOTONIC on Linux; an absolute sleep does not drift.
  timespec ts{static_cast<time_t>(deadline / 1000000000), static_cast<long>(deadline % 1000000000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "ledger_bench: %s\n", what.c_str());
  std::exit(1);
}

void CheckOk(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

bool Wants(const BenchOptions& o, std::string_view s) {
  return std::find(o.scenarios.begin(), o.scenarios.end(), s) != o.scenarios.end();
}

std::vector<std::string> MakeRecords(size_t n, size_t bytes) {
  std::vector<std::string> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    char head[160];
    int len = std::snprintf(head, sizeof(head),
                            "{\"ts\":%" PRIu64
                            ",\"tenant\":\"t-%04zu\",\"model\":\"m-large\","
                            "\"prompt_tokens\":%zu,\"completion_tokens\":%zu,\"pad\":\"",
                            static_cast<uint64_t>(1700000000000000ull + i * 977), i % 1000,
                            (i * 37) % 8000, (i * 11) % 2000);
    std::string r(head, static_cast<size_t>(len));
    while (r.size() + 2 < bytes) r.push_back(static_cast<char>('a' + (r.size() * 7 + i) % 26));
    r += "\"}";
    r.resize(bytes, ' ');
    out.push_back(std::move(r));
  }
  return out;
}

std::string Thousands(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f", v);
  std::string s(buf), out;
  size_t start = (s[0] == '-') ? 1 : 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > start && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

void PrintLatency(const char* label, const LatencySummary& l) {
  std::printf("  %-18s n=%" PRIu64
              "  p50 %.3f ms  p99 %.3f ms  p999 %.3f ms  max %.3f ms"
              "  (mean %.3f)\n",
              label, l.count, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, l.mean_ms);
}

std::set<int> ThreadIds() {
  std::set<int> ids;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    ids.insert(std::atoi(e.path().filename().c_str()));
  }
  return ids;
}

double ThreadCpuSeconds(int tid) {
  if (tid <= 0) return 0;
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(in, line);
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(line.substr(paren + 2));
  std::vector<std::string> f;
  for (std::string w; rest >> w;) f.push_back(w);
  // After "pid (comm) ": state is field 3, utime 14, stime 15 -> indexes 11, 12 here.
  if (f.size() < 13) return 0;
  double ticks = std::atof(f[11].c_str()) + std::atof(f[12].c_str());
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

std::string CpuPressure() {
  std::ifstream in("/proc/pressure/cpu");
  std::string some, avg10;
  if (!(in >> some >> avg10) || avg10.rfind("avg10=", 0) != 0) return "?";
  return avg10.substr(6) + "%";
}

std::string Busy() { return "load " + LoadAverage() + ", cpu pressure " + CpuPressure(); }

OpenedLedger OpenLedger(const BenchOptions& bo, const std::string& dir, Env* env,
                        Durability durability, bool skip_sync) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  LedgerOptions o;
  o.env = env;
  o.data_dir = dir;
  o.durability = durability;
  o.unsafe_skip_sync_for_testing = skip_sync;
  o.checkpoint_interval_ms = bo.checkpoint_interval_ms;
  o.checkpoint_every_records = bo.checkpoint_every_records;
  std::set<int> before = ThreadIds();
  auto r = Ledger::Open(o);
  if (!r.ok()) Die("Ledger::Open(" + dir + "): " + r.status().ToString());
  OpenedLedger out;
  out.ledger = std::move(*r);
  for (int t : ThreadIds()) {
    if (before.count(t) == 0) out.writer_tid = t;
  }
  return out;
}

void RemoveDir(const BenchOptions& o, const std::string& dir) {
  if (o.keep) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

SyncPeerResult RunSyncLoop(const std::string& path, size_t bytes, bool in_place, double seconds) {
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) Die("open " + path + ": " + std::strerror(errno));
  std::string rec = MakeRecords(1, std::max<size_t>(bytes, 1))[0];
  if (in_place || bytes == 0) {
    std::string block(4096, 'x');
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()) ||
        ::fsync(fd) != 0) {
      Die("preparing " + path + ": " + std::strerror(errno));
    }
  }
  std::vector<int64_t> lat;
  const int64_t start = NowNanos();
  const int64_t stop = start + static_cast<int64_t>(seconds * 1e9);
  int64_t now = start;
  while (now < stop) {
    ssize_t w = static_cast<ssize_t>(bytes);
    if (bytes > 0) {
      w = in_place ? ::pwrite(fd, rec.data(), bytes, 0) : ::write(fd, rec.data(), bytes);
    }
    if (w != static_cast<ssize_t>(bytes) || ::fdatasync(fd) != 0) {
      Die("write/fdatasync " + path + ": " + std::strerror(errno));
    }
    int64_t t = NowNanos();
    lat.push_back(t - now);
    now = t;
  }
  ::close(fd);
  ::unlink(path.c_str());
  SyncPeerResult r;
  r.per_s = static_cast<double>(lat.size()) / (static_cast<double>(now - start) / 1e9);
  r.latency = Summarize(&lat);
  return r;
}

DeviceProbe ProbeDevice(const BenchOptions& o) {
  if (o.probe_seconds <= 0) return {};
  SyncPeerResult r = RunSyncLoop(o.dir + "/probe.dat", o.record_bytes, true, o.probe_seconds);
  return {r.latency.p50_ms, r.latency.p99_ms};
}

std::string Describe(const DeviceProbe& p) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "device probe: fdatasync p50 %.3f ms, p99 %.3f ms", p.p50_ms,
                p.p99_ms);
  return buf;
}

}  // namespace tokenaudit::bench
