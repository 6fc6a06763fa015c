// ledger_bench: what the Ledger sustains on a real directory with the POSIX Env in kSync mode.
//
//   open        one producer at a fixed rate (5,000 records/s), scheduled by absolute deadlines;
//               latency is measured from the scheduled time, so a stalled ledger is charged for
//               every record it delayed (no coordinated omission). Two producers are measured:
//               one that calls the blocking Append() and one that calls AppendAsync() and is
//               answered by the callback.
//   checkpoint  how long one checkpoint holds the writer thread.
//   closed      P producers (1, 4, 16) each calling AppendBatch of B records (1, 256) back to
//               back for D seconds: acknowledged records/s, group commits/s, fdatasync/s, bytes/s
//               and the latency of each AppendBatch call.
//   nosync      diagnostic only, NOT durable: the closed loop with unsafe_skip_sync_for_testing,
//               the CPU ceiling of the ledger's own code path on this machine.
//   verify      fills a data directory with N records, then times ledger::VerifyDataDir on it
//               with the page cache warm and cold.
//   peers       from the same run, on the same filesystem: one thread that write()s and
//               fdatasync()s each 300-byte record (the limit without group commit); raw fdatasync
//               calls/s; the device's synced sequential bandwidth; and for verify, reading the
//               same bytes and SHA-256ing them (the floor), plus reading them and building only
//               the Merkle tree.
//
// Every scenario prints a human-readable block and one machine-readable line:
//   RESULT {"scenario":"closed",...}
// bench/README.md explains the options; bench/RESULTS.md holds the figures.

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
namespace {

using Clock = std::chrono::steady_clock;

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

struct BenchOptions {
  std::string dir;
  double seconds = 5;
  double diag_seconds = 3;
  double peer_seconds = 3;
  double probe_seconds = 0.3;
  double settle_seconds = 0;
  std::vector<int> producers{1, 4, 16};
  std::vector<int> batches{1, 256};
  size_t record_bytes = 300;
  int rate = 5000;
  uint64_t verify_records = 5000000;
  int verify_reps = 3;
  // LedgerOptions defaults; changed only to show what checkpoints cost.
  uint32_t checkpoint_interval_ms = LedgerOptions().checkpoint_interval_ms;
  uint64_t checkpoint_every_records = LedgerOptions().checkpoint_every_records;
  std::vector<std::string> scenarios{"peers", "open", "checkpoint", "closed", "nosync", "verify"};
  bool keep = false;
};

bool Wants(const BenchOptions& o, std::string_view s) {
  return std::find(o.scenarios.begin(), o.scenarios.end(), s) != o.scenarios.end();
}

// Distinct JSON-ish usage records of exactly `bytes` bytes: content does not change the cost of
// CRC32C or SHA-256, but identical records would make a mistake in the bench harder to see.
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

// One machine-readable line: RESULT {"k":v,...}.
class ResultLine {
 public:
  explicit ResultLine(std::string_view scenario) { Add("scenario", scenario); }
  ResultLine& Add(std::string_view key, std::string_view v) {
    Key(key);
    body_ += '"';
    for (char c : v) {
      if (c == '"' || c == '\\') body_ += '\\';
      body_ += c;
    }
    body_ += '"';
    return *this;
  }
  ResultLine& Add(std::string_view key, const char* v) { return Add(key, std::string_view(v)); }
  ResultLine& Add(std::string_view key, double v) {
    Key(key);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6g", v);
    body_ += buf;
    return *this;
  }
  ResultLine& Add(std::string_view key, uint64_t v) {
    Key(key);
    body_ += std::to_string(v);
    return *this;
  }
  ResultLine& Add(std::string_view key, int v) { return Add(key, static_cast<uint64_t>(v)); }
  ResultLine& Add(std::string_view key, bool v) {
    Key(key);
    body_ += v ? "true" : "false";
    return *this;
  }
  ResultLine& AddLatency(std::string_view prefix, const LatencySummary& l) {
    std::string p(prefix);
    return Add(p + "_count", l.count)
        .Add(p + "_p50_ms", l.p50_ms)
        .Add(p + "_p99_ms", l.p99_ms)
        .Add(p + "_p999_ms", l.p999_ms)
        .Add(p + "_max_ms", l.max_ms)
        .Add(p + "_mean_ms", l.mean_ms);
  }
  void Print() {
    std::printf("RESULT {%s}\n", body_.c_str());
    std::fflush(stdout);
  }

 private:
  void Key(std::string_view k) {
    if (!body_.empty()) body_ += ',';
    body_ += '"';
    body_ += k;
    body_ += "\":";
  }
  std::string body_;
};

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

// ---- CPU accounting: the writer thread is found as the thread Ledger::Open started. ----

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

// "some avg10" of /proc/pressure/cpu: the share of the last 10 s in which some runnable task
// waited for a CPU. Near 100 means other work on the machine competes with the benchmark.
std::string CpuPressure() {
  std::ifstream in("/proc/pressure/cpu");
  std::string some, avg10;
  if (!(in >> some >> avg10) || avg10.rfind("avg10=", 0) != 0) return "?";
  return avg10.substr(6) + "%";
}

std::string Busy() { return "load " + LoadAverage() + ", cpu pressure " + CpuPressure(); }

struct OpenedLedger {
  std::unique_ptr<Ledger> ledger;
  int writer_tid = 0;
};

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

// ---- peers: the filesystem without the ledger ----

struct SyncPeerResult {
  double per_s = 0;
  LatencySummary latency;
};

// One thread: write() `bytes` (appending, or in place at offset 0) then fdatasync, for `seconds`.
// bytes == 0: fdatasync with nothing dirty.
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

// The device right before a scenario. The virtual disk this was written on alternates between a
// fast regime (fdatasync ~0.1 ms) and a throttled one (~4 ms, after sustained writing by anyone),
// so every scenario states which one it ran in.
struct DeviceProbe {
  double p50_ms = 0;
  double p99_ms = 0;
};

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

// ---- closed loop ----

struct ClosedLoopResult {
  int producers = 0;
  int batch = 0;
  bool skip_sync = false;
  double seconds = 0;
  uint64_t acked = 0;
  double records_per_s = 0;
  double commits_per_s = 0;       // LedgerStats::batches
  double ledger_syncs_per_s = 0;  // LedgerStats::syncs (segment fdatasync)
  double device_syncs_per_s = 0;  // every Sync + SyncDir the ledger issued (CountingEnv)
  double records_per_commit = 0;
  double mb_per_s = 0;
  double writer_cpu_pct = 0;
  double writer_in_sync_pct = 0;
  double writer_in_write_pct = 0;
  double mean_sync_ms = 0;
  double process_cpu_pct = 0;
  double cpu_us_per_record = 0;         // whole process: producers + writer
  double writer_cpu_us_per_record = 0;  // the writer thread alone
  LatencySummary latency;
};

ClosedLoopResult RunClosedLoop(const BenchOptions& o, int producers, int batch, bool skip_sync,
                               double seconds) {
  const std::string dir = o.dir + "/closed-p" + std::to_string(producers) + "-b" +
                          std::to_string(batch) + (skip_sync ? "-nosync" : "");
  const DeviceProbe probe = ProbeDevice(o);
  CountingEnv env(Env::Default());
  OpenedLedger opened = OpenLedger(o, dir, &env, Durability::kSync, skip_sync);
  Ledger* ledger = opened.ledger.get();
  const std::vector<std::string> records = MakeRecords(4096, o.record_bytes);

  std::atomic<bool> go{false}, stop{false};
  std::atomic<int> ready{0};
  std::vector<std::vector<int64_t>> lat(static_cast<size_t>(producers));
  std::vector<uint64_t> acked(static_cast<size_t>(producers), 0);
  std::mutex err_mu;
  std::string err;
  std::vector<std::thread> threads;
  for (int t = 0; t < producers; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::string_view> views(static_cast<size_t>(batch));
      auto& my_lat = lat[static_cast<size_t>(t)];
      my_lat.reserve(1 << 16);
      size_t k = static_cast<size_t>(t) * 997;
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      while (!stop.load(std::memory_order_relaxed)) {
        for (auto& v : views) v = records[k++ % records.size()];
        int64_t t0 = NowNanos();
        auto r = ledger->AppendBatch(views);
        int64_t t1 = NowNanos();
        if (!r.ok()) {
          std::lock_guard<std::mutex> l(err_mu);
          err = r.status().ToString();
          return;
        }
        my_lat.push_back(t1 - t0);
        acked[static_cast<size_t>(t)] += static_cast<uint64_t>(batch);
      }
    });
  }
  while (ready.load() < producers) std::this_thread::yield();

  const LedgerStats st0 = ledger->GetStats();
  const IoCounters io0 = env.Snapshot();
  const double wcpu0 = ThreadCpuSeconds(opened.writer_tid);
  const double pcpu0 = ProcessCpuSeconds();
  const int64_t start = NowNanos();
  go.store(true, std::memory_order_release);
  SleepUntilNanos(start + static_cast<int64_t>(seconds * 1e9));
  stop.store(true);
  for (auto& th : threads) th.join();
  const int64_t end = NowNanos();
  const LedgerStats st1 = ledger->GetStats();
  const IoCounters io = env.Snapshot() - io0;
  const double wcpu = ThreadCpuSeconds(opened.writer_tid) - wcpu0;
  const double pcpu = ProcessCpuSeconds() - pcpu0;
  if (!err.empty()) Die("AppendBatch failed: " + err);
  CheckOk(ledger->Close(), "Close");
  opened.ledger.reset();
  RemoveDir(o, dir);

  ClosedLoopResult r;
  r.producers = producers;
  r.batch = batch;
  r.skip_sync = skip_sync;
  r.seconds = static_cast<double>(end - start) / 1e9;
  for (uint64_t a : acked) r.acked += a;
  r.records_per_s = static_cast<double>(r.acked) / r.seconds;
  const uint64_t commits = st1.batches - st0.batches;
  r.commits_per_s = static_cast<double>(commits) / r.seconds;
  r.ledger_syncs_per_s = static_cast<double>(st1.syncs - st0.syncs) / r.seconds;
  r.device_syncs_per_s = static_cast<double>(io.file_syncs + io.dir_syncs) / r.seconds;
  r.records_per_commit =
      commits ? static_cast<double>(st1.records_appended - st0.records_appended) / commits : 0;
  r.mb_per_s = static_cast<double>(st1.bytes_written - st0.bytes_written) / r.seconds / 1e6;
  const double wall_ns = static_cast<double>(end - start);
  r.writer_cpu_pct = 100.0 * wcpu / r.seconds;
  r.writer_in_sync_pct =
      100.0 * static_cast<double>(io.file_sync_nanos + io.dir_sync_nanos) / wall_ns;
  r.writer_in_write_pct = 100.0 * static_cast<double>(io.append_nanos) / wall_ns;
  r.mean_sync_ms = io.file_syncs + io.dir_syncs
                       ? static_cast<double>(io.file_sync_nanos + io.dir_sync_nanos) /
                             static_cast<double>(io.file_syncs + io.dir_syncs) / 1e6
                       : 0;
  r.process_cpu_pct = 100.0 * pcpu / r.seconds;
  if (r.acked > 0) {
    r.cpu_us_per_record = pcpu * 1e6 / static_cast<double>(r.acked);
    r.writer_cpu_us_per_record = wcpu * 1e6 / static_cast<double>(r.acked);
  }
  std::vector<int64_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  r.latency = Summarize(&all);

  std::printf("\n[%s] P=%d B=%d, %.2f s%s\n  (%s; %s)\n", skip_sync ? "nosync" : "closed",
              producers, batch, r.seconds,
              skip_sync ? "  DIAGNOSTIC: unsafe_skip_sync_for_testing, NOT durable" : "",
              Describe(probe).c_str(), Busy().c_str());
  std::printf("  acknowledged       %s records/s  (%s records), %.1f MB/s written\n",
              Thousands(r.records_per_s).c_str(), Thousands(static_cast<double>(r.acked)).c_str(),
              r.mb_per_s);
  std::printf("  group commits      %s /s, %.1f records per commit\n",
              Thousands(r.commits_per_s).c_str(), r.records_per_commit);
  std::printf(
      "  fdatasync          %s /s (LedgerStats::syncs); all syncs incl. checkpoint files"
      " and dirs %s /s, mean %.3f ms each\n",
      Thousands(r.ledger_syncs_per_s).c_str(), Thousands(r.device_syncs_per_s).c_str(),
      r.mean_sync_ms);
  PrintLatency("ack latency/call", r.latency);
  std::printf(
      "  writer thread      CPU %.0f%%, in fdatasync/fsync %.0f%%, in write() %.0f%% of "
      "wall time; process CPU %.0f%% (of %d00%%)\n",
      r.writer_cpu_pct, r.writer_in_sync_pct, r.writer_in_write_pct, r.process_cpu_pct,
      static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
  std::printf(
      "  CPU cost           %.3f us per record (process), %.3f us per record (writer) "
      "=> CPU ceiling ~%s records/s on %ld idle cores\n",
      r.cpu_us_per_record, r.writer_cpu_us_per_record,
      r.cpu_us_per_record > 0
          ? Thousands(
                std::min(sysconf(_SC_NPROCESSORS_ONLN) * 1e6 / r.cpu_us_per_record,
                         r.writer_cpu_us_per_record > 0 ? 1e6 / r.writer_cpu_us_per_record : 1e18))
                .c_str()
          : "?",
      sysconf(_SC_NPROCESSORS_ONLN));
  ResultLine(skip_sync ? "nosync" : "closed")
      .Add("producers", producers)
      .Add("batch", batch)
      .Add("record_bytes", static_cast<uint64_t>(o.record_bytes))
      .Add("seconds", r.seconds)
      .Add("acked_records", r.acked)
      .Add("records_per_s", r.records_per_s)
      .Add("group_commits_per_s", r.commits_per_s)
      .Add("records_per_commit", r.records_per_commit)
      .Add("ledger_syncs_per_s", r.ledger_syncs_per_s)
      .Add("all_syncs_per_s", r.device_syncs_per_s)
      .Add("mean_sync_ms", r.mean_sync_ms)
      .Add("mb_per_s", r.mb_per_s)
      .AddLatency("ack", r.latency)
      .Add("writer_cpu_pct", r.writer_cpu_pct)
      .Add("writer_in_sync_pct", r.writer_in_sync_pct)
      .Add("writer_in_write_pct", r.writer_in_write_pct)
      .Add("process_cpu_pct", r.process_cpu_pct)
      .Add("cpu_us_per_record", r.cpu_us_per_record)
      .Add("writer_cpu_us_per_record", r.writer_cpu_us_per_record)
      .Add("probe_fdatasync_p50_ms", probe.p50_ms)
      .Add("probe_fdatasync_p99_ms", probe.p99_ms)
      .Add("loadavg", LoadAverage())
      .Add("cpu_pressure", CpuPressure())
      .Print();
  return r;
}

// ---- open loop ----

struct OpenLoopResult {
  std::string mode;
  int rate = 0;
  uint64_t scheduled = 0;
  uint64_t issued = 0;
  double achieved_per_s = 0;
  double syncs_per_s = 0;
  double records_per_commit = 0;
  LatencySummary latency;
};

OpenLoopResult RunOpenLoop(const BenchOptions& o, bool async) {
  const std::string mode = async ? "AppendAsync" : "Append";
  const std::string dir = o.dir + "/open-" + mode;
  const DeviceProbe probe = ProbeDevice(o);
  CountingEnv env(Env::Default());
  OpenedLedger opened = OpenLedger(o, dir, &env, Durability::kSync, false);
  Ledger* ledger = opened.ledger.get();
  const std::vector<std::string> records = MakeRecords(4096, o.record_bytes);
  const int64_t interval = 1000000000LL / o.rate;
  const uint64_t n = static_cast<uint64_t>(o.seconds * o.rate);
  std::vector<int64_t> sched(n), done(n, 0);
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> failures{0};
  prctl(PR_SET_TIMERSLACK, 1UL);

  const LedgerStats st0 = ledger->GetStats();
  const int64_t start = NowNanos() + 10000000;  // first deadline 10 ms out
  const int64_t stop = start + static_cast<int64_t>(o.seconds * 1e9);
  uint64_t issued = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const int64_t s = start + static_cast<int64_t>(i) * interval;
    // A blocking producer that fell behind stops at the end of the window; what it never issued
    // is reported as the shortfall of the achieved rate.
    if (!async && NowNanos() >= stop) break;
    sched[i] = s;
    SleepUntilNanos(s);
    const std::string_view rec = records[i % records.size()];
    ++issued;
    if (async) {
      ledger->AppendAsync({std::string(rec)}, RecordType::kUsage,
                          [&done, &completed, &failures, i](const Status& st, uint64_t) {
                            done[i] = NowNanos();
                            if (!st.ok()) failures.fetch_add(1);
                            completed.fetch_add(1, std::memory_order_release);
                          });
    } else {
      auto r = ledger->Append(rec);
      done[i] = NowNanos();
      if (!r.ok()) failures.fetch_add(1);
      completed.fetch_add(1, std::memory_order_release);
    }
  }
  const int64_t give_up = NowNanos() + 30000000000LL;
  while (completed.load(std::memory_order_acquire) < issued && NowNanos() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (completed.load(std::memory_order_acquire) < issued) Die("open loop: appends never completed");
  if (failures.load() > 0) Die("open loop: appends failed");
  const int64_t end = NowNanos();
  const LedgerStats st1 = ledger->GetStats();
  CheckOk(ledger->Close(), "Close");
  opened.ledger.reset();
  RemoveDir(o, dir);

  OpenLoopResult r;
  r.mode = mode;
  r.rate = o.rate;
  r.scheduled = n;
  r.issued = issued;
  const double secs = static_cast<double>(end - start) / 1e9;
  r.achieved_per_s = static_cast<double>(issued) / secs;
  r.syncs_per_s = static_cast<double>(st1.syncs - st0.syncs) / secs;
  r.records_per_commit = st1.batches > st0.batches
                             ? static_cast<double>(st1.records_appended - st0.records_appended) /
                                   static_cast<double>(st1.batches - st0.batches)
                             : 0;
  std::vector<int64_t> lat;
  lat.reserve(issued);
  for (uint64_t i = 0; i < issued; ++i) lat.push_back(done[i] - sched[i]);
  r.latency = Summarize(&lat);

  std::printf("\n[open] one producer, %s, target %d records/s for %.1f s\n  (%s; %s)\n",
              mode.c_str(), o.rate, o.seconds, Describe(probe).c_str(), Busy().c_str());
  std::printf("  issued             %" PRIu64 " of %" PRIu64 " scheduled; achieved %s records/s\n",
              issued, n, Thousands(r.achieved_per_s).c_str());
  std::printf("  fdatasync          %s /s, %.1f records per commit\n",
              Thousands(r.syncs_per_s).c_str(), r.records_per_commit);
  PrintLatency("latency from sched", r.latency);
  ResultLine("open")
      .Add("mode", mode)
      .Add("target_rate", o.rate)
      .Add("scheduled", n)
      .Add("issued", issued)
      .Add("achieved_per_s", r.achieved_per_s)
      .Add("syncs_per_s", r.syncs_per_s)
      .Add("records_per_commit", r.records_per_commit)
      .AddLatency("lat", r.latency)
      .Add("probe_fdatasync_p50_ms", probe.p50_ms)
      .Add("probe_fdatasync_p99_ms", probe.p99_ms)
      .Add("loadavg", LoadAverage())
      .Add("cpu_pressure", CpuPressure())
      .Print();
  return r;
}

struct PeerResults {
  SyncPeerResult naive;
  SyncPeerResult inplace;
  SyncPeerResult idle;
  double seq_mb_per_s = 0;
  double seq_frames_per_s = 0;
};

PeerResults RunSyncPeers(const BenchOptions& o) {
  PeerResults p;
  const std::string path = o.dir + "/peer.dat";
  std::printf("\n[peers] fdatasync on the same filesystem without the ledger   (%s)\n",
              Busy().c_str());

  p.naive = RunSyncLoop(path, o.record_bytes, false, o.peer_seconds);
  std::printf("  naive: write(%zu B) + fdatasync per record, 1 thread: %s records/s\n",
              o.record_bytes, Thousands(p.naive.per_s).c_str());
  PrintLatency("  per record", p.naive.latency);
  ResultLine("peer_naive_sync_per_record")
      .Add("record_bytes", static_cast<uint64_t>(o.record_bytes))
      .Add("records_per_s", p.naive.per_s)
      .AddLatency("lat", p.naive.latency)
      .Print();

  p.inplace = RunSyncLoop(path, o.record_bytes, true, o.peer_seconds / 2);
  std::printf("  raw fdatasync after a %zu B in-place overwrite (no size change): %s calls/s\n",
              o.record_bytes, Thousands(p.inplace.per_s).c_str());
  PrintLatency("  per call", p.inplace.latency);
  ResultLine("peer_raw_fdatasync_inplace")
      .Add("calls_per_s", p.inplace.per_s)
      .AddLatency("lat", p.inplace.latency)
      .Print();

  p.idle = RunSyncLoop(path, 0, true, o.peer_seconds / 2);
  std::printf("  raw fdatasync with nothing dirty: %s calls/s\n", Thousands(p.idle.per_s).c_str());
  PrintLatency("  per call", p.idle.latency);
  ResultLine("peer_raw_fdatasync_idle")
      .Add("calls_per_s", p.idle.per_s)
      .AddLatency("lat", p.idle.latency)
      .Print();

  return p;
}

// The heavy peer: gigabytes written, which throttles this virtual disk for a while afterwards.
void RunBandwidthPeers(const BenchOptions& o, PeerResults* p) {
  const std::string path = o.dir + "/peer.dat";
  std::printf("\n[peers] synced sequential bandwidth of the same filesystem   (%s)\n",
              Busy().c_str());
  // The device's synced sequential bandwidth, by bytes per fdatasync: the ceiling for any
  // writer that must fdatasync what it acknowledges. 1 MiB is about the largest group the
  // closed loop with 16 x 256 records builds; 8 MiB is the ledger's largest group
  // (kMaxBatchBytes). The data is random so that no layer can compress it.
  for (size_t chunk_bytes : {size_t{1} << 20, size_t{8} << 20}) {
    std::string chunk(chunk_bytes, '\0');
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (auto& ch : chunk) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      ch = static_cast<char>(x);
    }
    int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) Die("open " + path + ": " + std::strerror(errno));
    std::vector<int64_t> lat;
    const int64_t start = NowNanos();
    const int64_t stop = start + static_cast<int64_t>(o.peer_seconds / 2 * 1e9);
    uint64_t bytes = 0;
    int64_t now = start;
    while (now < stop) {
      if (::write(fd, chunk.data(), chunk_bytes) != static_cast<ssize_t>(chunk_bytes) ||
          ::fdatasync(fd) != 0) {
        Die("write/fdatasync " + path + ": " + std::strerror(errno));
      }
      bytes += chunk_bytes;
      int64_t t = NowNanos();
      lat.push_back(t - now);
      now = t;
    }
    ::close(fd);
    ::unlink(path.c_str());
    const double secs = static_cast<double>(now - start) / 1e9;
    const double mbps = static_cast<double>(bytes) / secs / 1e6;
    const double frames = static_cast<double>(bytes) / secs /
                          static_cast<double>(o.record_bytes + log::kFrameHeaderSize);
    const LatencySummary l = Summarize(&lat);
    if (mbps > p->seq_mb_per_s) {
      p->seq_mb_per_s = mbps;
      p->seq_frames_per_s = frames;
    }
    std::printf(
        "  synced sequential bandwidth, %zu MiB write + fdatasync: %.1f MB/s = %s "
        "%zu-byte frames/s; %.3f ms p50 per write+sync\n",
        chunk_bytes >> 20, mbps, Thousands(frames).c_str(), o.record_bytes + log::kFrameHeaderSize,
        l.p50_ms);
    ResultLine("peer_synced_seq_bandwidth")
        .Add("chunk_bytes", static_cast<uint64_t>(chunk_bytes))
        .Add("mb_per_s", mbps)
        .Add("frames_per_s_equiv", frames)
        .AddLatency("lat", l)
        .Print();
  }
}

// ---- checkpoint cost ----

// How long one checkpoint holds the writer: CreateCheckpoint() does on the writer thread what the
// periodic checkpoint does (sign, write the file, fsync it, rename, fsync the directory, prune
// old files), and nothing is appended meanwhile. Every record that arrives during that time waits
// for it, so at R records/s a stall of S ms per checkpoint delays about R*S/1000 records per
// checkpoint: with the default one checkpoint a second at 5,000 records/s, S >= ~2 ms already
// reaches the p99.
struct CheckpointCostResult {
  LatencySummary checkpoint;
  LatencySummary append;
  double syncs_per_checkpoint = 0;
  double sync_ms_per_checkpoint = 0;
};

CheckpointCostResult RunCheckpointCost(const BenchOptions& o) {
  const std::string dir = o.dir + "/checkpoint-cost";
  const DeviceProbe probe = ProbeDevice(o);
  CountingEnv env(Env::Default());
  OpenedLedger opened = OpenLedger(o, dir, &env, Durability::kSync, false);
  Ledger* ledger = opened.ledger.get();
  const std::vector<std::string> records = MakeRecords(64, o.record_bytes);
  constexpr int kRounds = 50;
  std::vector<int64_t> cp_lat, append_lat;
  IoCounters cp_io;
  for (int i = 0; i < kRounds; ++i) {
    // The append also writes the previous checkpoint's log record (queued by the ledger).
    int64_t t0 = NowNanos();
    auto r = ledger->Append(records[static_cast<size_t>(i) % records.size()]);
    int64_t t1 = NowNanos();
    if (!r.ok()) Die("Append: " + r.status().ToString());
    append_lat.push_back(t1 - t0);
    const IoCounters io0 = env.Snapshot();
    auto cp = ledger->CreateCheckpoint();
    int64_t t2 = NowNanos();
    if (!cp.ok()) Die("CreateCheckpoint: " + cp.status().ToString());
    cp_lat.push_back(t2 - t1);
    const IoCounters d = env.Snapshot() - io0;
    cp_io.file_syncs += d.file_syncs + d.dir_syncs;
    cp_io.file_sync_nanos += d.file_sync_nanos + d.dir_sync_nanos;
  }
  CheckOk(ledger->Close(), "Close");
  opened.ledger.reset();
  RemoveDir(o, dir);

  CheckpointCostResult r;
  r.checkpoint = Summarize(&cp_lat);
  r.append = Summarize(&append_lat);
  r.syncs_per_checkpoint = static_cast<double>(cp_io.file_syncs) / kRounds;
  r.sync_ms_per_checkpoint = static_cast<double>(cp_io.file_sync_nanos) / kRounds / 1e6;
  std::printf(
      "\n[checkpoint] writer stall per checkpoint, %d rounds of Append + "
      "CreateCheckpoint\n  (%s; %s)\n",
      kRounds, Describe(probe).c_str(), Busy().c_str());
  PrintLatency("CreateCheckpoint", r.checkpoint);
  PrintLatency("Append (for scale)", r.append);
  std::printf("  syncs per checkpoint %.1f (file + directory), %.3f ms in them\n",
              r.syncs_per_checkpoint, r.sync_ms_per_checkpoint);
  ResultLine("checkpoint_cost")
      .AddLatency("checkpoint", r.checkpoint)
      .AddLatency("append", r.append)
      .Add("syncs_per_checkpoint", r.syncs_per_checkpoint)
      .Add("sync_ms_per_checkpoint", r.sync_ms_per_checkpoint)
      .Add("probe_fdatasync_p50_ms", probe.p50_ms)
      .Add("probe_fdatasync_p99_ms", probe.p99_ms)
      .Add("loadavg", LoadAverage())
      .Print();
  return r;
}

// ---- verify ----

std::vector<std::string> SegmentPaths(const std::string& data_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/log", ec)) {
    if (e.path().extension() == log::kSegmentSuffix) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Evicts the segments from the page cache (clean pages only, hence the fdatasync first), so the
// next read comes from the device. Per file: other users of the machine are not disturbed.
void EvictFromPageCache(const std::vector<std::string>& paths) {
  for (const auto& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Die("open " + p + ": " + std::strerror(errno));
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// Wall and CPU time of one timed section. CPU time (getrusage, whole process) is the figure that
// survives a busy machine: wall time there includes waiting for a core.
struct Timing {
  double wall_s = 0;
  double cpu_s = 0;
};

template <typename Fn>
Timing Measure(Fn&& fn) {
  const double cpu0 = ProcessCpuSeconds();
  const int64_t start = NowNanos();
  fn();
  Timing t;
  t.wall_s = static_cast<double>(NowNanos() - start) / 1e9;
  t.cpu_s = ProcessCpuSeconds() - cpu0;
  return t;
}

// Repeats `fn` and keeps the timings in run order.
template <typename Fn>
std::vector<Timing> Repeat(int reps, Fn&& fn) {
  std::vector<Timing> out;
  for (int i = 0; i < reps; ++i) out.push_back(Measure(fn));
  return out;
}

// The median and the best of repeated timings (wall and CPU taken separately).
struct Timings {
  Timing median, best;
};

Timings Reduce(std::vector<Timing> t) {
  Timings r;
  auto pick = [&](auto field) {
    std::vector<double> v;
    for (const auto& x : t) v.push_back(x.*field);
    std::sort(v.begin(), v.end());
    return std::make_pair(v[v.size() / 2], v.front());
  };
  std::tie(r.median.wall_s, r.best.wall_s) = pick(&Timing::wall_s);
  std::tie(r.median.cpu_s, r.best.cpu_s) = pick(&Timing::cpu_s);
  return r;
}

// The floor: read every byte of the segments and SHA-256 them as one stream.
void ReadAndSha256(const std::vector<std::string>& paths, uint64_t* bytes) {
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> buf(kChunk);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  *bytes = 0;
  for (const auto& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Die("open " + p + ": " + std::strerror(errno));
    for (;;) {
      ssize_t n = ::read(fd, buf.data(), kChunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Die("read " + p + ": " + std::strerror(errno));
      if (n == 0) break;
      EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n));
      *bytes += static_cast<uint64_t>(n);
    }
    ::close(fd);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
}

// The Merkle floor: read the segments (into one reused buffer) and do only the hashing the tree
// needs (one leaf hash per frame, amortised one node hash per leaf), trusting the framing: no
// CRCs, no checks, no checkpoints.
void ReadAndMerkle(const std::vector<std::string>& paths, uint64_t* leaves, merkle::Hash* root) {
  merkle::CompactRange range;
  std::vector<char> data;
  for (const auto& p : paths) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Die("open " + p + ": " + std::strerror(errno));
    size_t size = 0;
    for (;;) {
      if (data.size() < size + (1 << 20)) data.resize(size + (1 << 20));
      ssize_t n = ::read(fd, data.data() + size, data.size() - size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) Die("read " + p + ": " + std::strerror(errno));
      if (n == 0) break;
      size += static_cast<size_t>(n);
    }
    ::close(fd);
    size_t off = log::kSegmentHeaderSize;
    while (off + log::kFrameHeaderSize <= size) {
      uint32_t len;
      std::memcpy(&len, data.data() + off + 4, 4);  // little-endian, as on disk
      if (off + log::kFrameHeaderSize + len > size) break;
      range.Append(
          merkle::HashLeaf(std::string_view(data.data() + off + log::kFrameHeaderSize, len)));
      off += log::kFrameHeaderSize + len;
    }
  }
  *root = range.Root();
  *leaves = range.size();
}

void PrintVerifyLine(const char* label, const Timings& t, double recs, double mb) {
  std::printf(
      "  %-44s median %.3f s = %s records/s, %.0f MB/s (best %s records/s); "
      "CPU %.3f s = %s records per CPU-second\n",
      label, t.median.wall_s, Thousands(recs / t.median.wall_s).c_str(), mb / t.median.wall_s,
      Thousands(recs / t.best.wall_s).c_str(), t.median.cpu_s,
      t.median.cpu_s > 0 ? Thousands(recs / t.median.cpu_s).c_str() : "?");
}

struct VerifyResult {
  uint64_t records = 0;
  uint64_t bytes = 0;
  Timings warm, cold, floor_sha_warm, floor_sha_cold, floor_merkle_warm;
  bool merkle_root_matches = false;
};

VerifyResult RunVerify(const BenchOptions& o) {
  const std::string dir = o.dir + "/verify";
  // The fill is not measured; kInterval lets it run at the speed of the page cache.
  {
    OpenedLedger opened = OpenLedger(o, dir, Env::Default(), Durability::kInterval, false);
    Ledger* ledger = opened.ledger.get();
    const std::vector<std::string> records = MakeRecords(4096, o.record_bytes);
    const int fillers = std::max(1, static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)));
    constexpr uint64_t kBatch = 1024;
    std::atomic<uint64_t> next{0};
    const int64_t start = NowNanos();
    std::vector<std::thread> threads;
    for (int t = 0; t < fillers; ++t) {
      threads.emplace_back([&] {
        std::vector<std::string_view> views;
        for (;;) {
          uint64_t first = next.fetch_add(kBatch);
          if (first >= o.verify_records) return;
          uint64_t n = std::min(kBatch, o.verify_records - first);
          views.clear();
          for (uint64_t i = 0; i < n; ++i) views.push_back(records[(first + i) % records.size()]);
          auto r = ledger->AppendBatch(views);
          if (!r.ok()) Die("fill: " + r.status().ToString());
        }
      });
    }
    for (auto& th : threads) th.join();
    CheckOk(ledger->Close(), "Close after fill");
    std::printf("\n[verify] filled %s records (%d threads, batches of %" PRIu64
                ", kInterval) in %.1f s; each timing below is the median of %d runs\n",
                Thousands(static_cast<double>(o.verify_records)).c_str(), fillers, kBatch,
                static_cast<double>(NowNanos() - start) / 1e9, o.verify_reps);
  }
  const std::vector<std::string> segs = SegmentPaths(dir);
  VerifyResult r;
  ledger::VerifyReport report;
  // Warm: the fill left the segments in the page cache; the first run keeps them there.
  r.warm = Reduce(Repeat(o.verify_reps, [&] {
    CheckOk(ledger::VerifyDataDir(Env::Default(), dir, ledger::VerifyOptions(), &report),
            "VerifyDataDir");
  }));
  r.records = report.records;
  r.bytes = report.bytes;
  uint64_t floor_bytes = 0, leaves = 0;
  merkle::Hash root{};
  r.floor_sha_warm = Reduce(Repeat(o.verify_reps, [&] { ReadAndSha256(segs, &floor_bytes); }));
  r.floor_merkle_warm = Reduce(Repeat(o.verify_reps, [&] { ReadAndMerkle(segs, &leaves, &root); }));
  r.merkle_root_matches = leaves == report.records && root == report.root;
  // Cold: evicted before every run.
  std::vector<Timing> cold, sha_cold;
  for (int i = 0; i < o.verify_reps; ++i) {
    EvictFromPageCache(segs);
    ledger::VerifyReport cold_report;
    cold.push_back(Measure([&] {
      CheckOk(ledger::VerifyDataDir(Env::Default(), dir, ledger::VerifyOptions(), &cold_report),
              "VerifyDataDir (cold)");
    }));
    EvictFromPageCache(segs);
    sha_cold.push_back(Measure([&] { ReadAndSha256(segs, &floor_bytes); }));
  }
  r.cold = Reduce(cold);
  r.floor_sha_cold = Reduce(sha_cold);
  RemoveDir(o, dir);

  const double recs = static_cast<double>(r.records), mb = static_cast<double>(r.bytes) / 1e6;
  std::printf("  data: %s records (%" PRIu64
              " checkpoints checked), %zu segments, %.1f MB   "
              "(%s)\n",
              Thousands(recs).c_str(), report.checkpoints_checked, segs.size(), mb, Busy().c_str());
  PrintVerifyLine("VerifyDataDir, page cache warm:", r.warm, recs, mb);
  PrintVerifyLine("VerifyDataDir, page cache cold:", r.cold, recs, mb);
  PrintVerifyLine("floor read+SHA-256 one stream, warm:", r.floor_sha_warm, recs, mb);
  PrintVerifyLine("floor read+SHA-256 one stream, cold:", r.floor_sha_cold, recs, mb);
  PrintVerifyLine("floor read+Merkle only (no CRC/checks), warm:", r.floor_merkle_warm, recs, mb);
  std::printf("  the Merkle floor's root %s the verifier's\n",
              r.merkle_root_matches ? "equals" : "DIFFERS FROM");
  auto add = [&](ResultLine& l, const std::string& p, const Timings& t) {
    l.Add(p + "_s", t.median.wall_s)
        .Add(p + "_records_per_s", recs / t.median.wall_s)
        .Add(p + "_best_records_per_s", recs / t.best.wall_s)
        .Add(p + "_mb_per_s", mb / t.median.wall_s)
        .Add(p + "_cpu_s", t.median.cpu_s)
        .Add(p + "_records_per_cpu_s", t.median.cpu_s > 0 ? recs / t.median.cpu_s : 0.0);
  };
  ResultLine v("verify");
  v.Add("records", r.records)
      .Add("bytes", r.bytes)
      .Add("segments", static_cast<uint64_t>(segs.size()));
  v.Add("reps", o.verify_reps);
  add(v, "warm", r.warm);
  add(v, "cold", r.cold);
  v.Add("loadavg", LoadAverage()).Add("cpu_pressure", CpuPressure()).Print();
  ResultLine f("peer_verify_floor");
  add(f, "read_sha256_warm", r.floor_sha_warm);
  add(f, "read_sha256_cold", r.floor_sha_cold);
  add(f, "read_merkle_warm", r.floor_merkle_warm);
  f.Add("merkle_root_matches", r.merkle_root_matches).Print();
  return r;
}

std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_./=,:+") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int Run(const BenchOptions& o, const std::string& command) {
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) Die("cannot create " + o.dir + ": " + ec.message());
  const MachineInfo m = DescribeMachine(o.dir);
  std::printf("ledger_bench  %s\n", UtcNow().c_str());
  std::printf("command   %s\n", command.c_str());
  std::printf("machine   %s, nproc %d, %" PRIu64 " MiB RAM, %s (%s)\n", m.cpu_model.c_str(),
              m.nproc, m.mem_total_mib, m.kernel.c_str(), m.hostname.c_str());
  std::printf("data dir  %s on %s (%s mounted at %s, %s)\n", o.dir.c_str(), m.fs_type.c_str(),
              m.fs_device.c_str(), m.fs_mount.c_str(), m.fs_options.c_str());
  std::printf("load      %s at start\n", Busy().c_str());
  std::printf(
      "ledger    POSIX Env, Durability::kSync, %zu-byte records (%zu-byte frames), "
      "checkpoint every %u ms / %" PRIu64
      " records%s, otherwise default LedgerOptions "
      "(64 MiB segments)\n",
      o.record_bytes, o.record_bytes + log::kFrameHeaderSize, o.checkpoint_interval_ms,
      o.checkpoint_every_records,
      o.checkpoint_interval_ms == LedgerOptions().checkpoint_interval_ms &&
              o.checkpoint_every_records == LedgerOptions().checkpoint_every_records
          ? " (the defaults)"
          : " (NOT the defaults)");
  ResultLine("machine")
      .Add("date", UtcNow())
      .Add("command", command)
      .Add("cpu", m.cpu_model)
      .Add("nproc", m.nproc)
      .Add("kernel", m.kernel)
      .Add("fs_type", m.fs_type)
      .Add("fs_device", m.fs_device)
      .Add("data_dir", o.dir)
      .Add("loadavg", m.loadavg)
      .Add("cpu_pressure", CpuPressure())
      .Add("checkpoint_interval_ms", static_cast<uint64_t>(o.checkpoint_interval_ms))
      .Add("checkpoint_every_records", o.checkpoint_every_records)
      .Print();

  if (o.settle_seconds > 0) {
    // The device recovers from throttling after some idle time; start from a defined state and
    // say whether it was reached.
    const int64_t give_up = NowNanos() + static_cast<int64_t>(o.settle_seconds * 1e9);
    BenchOptions quick = o;
    quick.probe_seconds = 0.2;
    DeviceProbe p = ProbeDevice(quick);
    auto fast = [](const DeviceProbe& d) { return d.p50_ms < 0.5 && d.p99_ms < 1.0; };
    while (!fast(p) && NowNanos() < give_up) {
      std::this_thread::sleep_for(std::chrono::seconds(5));
      p = ProbeDevice(quick);
    }
    std::printf("settle    %s after waiting up to %.0f s: %s\n",
                fast(p) ? "fast regime" : "STILL THROTTLED", o.settle_seconds, Describe(p).c_str());
  }

  // Light I/O first: the per-record fdatasync peers and the open loop (1.6 MB/s). The bandwidth
  // peer and the closed loop write gigabytes and leave a throttled device behind them (see
  // DeviceProbe).
  PeerResults peers;
  if (Wants(o, "peers")) peers = RunSyncPeers(o);
  std::vector<OpenLoopResult> open;
  if (Wants(o, "open")) {
    open.push_back(RunOpenLoop(o, /*async=*/false));
    open.push_back(RunOpenLoop(o, /*async=*/true));
  }
  CheckpointCostResult checkpoint_cost;
  const bool did_checkpoint = Wants(o, "checkpoint");
  if (did_checkpoint) checkpoint_cost = RunCheckpointCost(o);
  if (Wants(o, "peers")) RunBandwidthPeers(o, &peers);
  std::vector<ClosedLoopResult> closed;
  if (Wants(o, "closed")) {
    for (int b : o.batches) {
      for (int p : o.producers) closed.push_back(RunClosedLoop(o, p, b, false, o.seconds));
    }
  }
  std::vector<ClosedLoopResult> nosync;
  if (Wants(o, "nosync")) {
    const int p = *std::max_element(o.producers.begin(), o.producers.end());
    for (int b : o.batches) nosync.push_back(RunClosedLoop(o, p, b, true, o.diag_seconds));
  }
  VerifyResult verify;
  const bool did_verify = Wants(o, "verify");
  if (did_verify) verify = RunVerify(o);

  // ---- summary ----
  std::printf("\n==== summary (%s; %s at end) ====\n", UtcNow().c_str(), Busy().c_str());
  if (!closed.empty() || !nosync.empty()) {
    std::printf("%-7s %3s %4s %12s %9s %8s %9s %8s %9s %9s %9s %6s %6s\n", "mode", "P", "B",
                "records/s", "commits/s", "syncs/s", "rec/commit", "MB/s", "p50 ms", "p99 ms",
                "p999 ms", "wCPU%", "wSync%");
    auto row = [](const ClosedLoopResult& r) {
      std::printf("%-7s %3d %4d %12s %9.0f %8.0f %9.1f %8.1f %9.3f %9.3f %9.3f %6.0f %6.0f\n",
                  r.skip_sync ? "nosync" : "sync", r.producers, r.batch,
                  Thousands(r.records_per_s).c_str(), r.commits_per_s, r.ledger_syncs_per_s,
                  r.records_per_commit, r.mb_per_s, r.latency.p50_ms, r.latency.p99_ms,
                  r.latency.p999_ms, r.writer_cpu_pct, r.writer_in_sync_pct);
    };
    for (const auto& r : closed) row(r);
    for (const auto& r : nosync) row(r);
  }
  for (const auto& r : open) {
    std::printf(
        "open loop %-11s @%d/s: achieved %s/s, p50 %.3f ms, p99 %.3f ms, p999 %.3f ms, "
        "max %.3f ms\n",
        r.mode.c_str(), r.rate, Thousands(r.achieved_per_s).c_str(), r.latency.p50_ms,
        r.latency.p99_ms, r.latency.p999_ms, r.latency.max_ms);
  }
  if (did_checkpoint) {
    std::printf(
        "checkpoint: writer stalled p50 %.3f ms, p99 %.3f ms per checkpoint (Append "
        "p50 %.3f ms)\n",
        checkpoint_cost.checkpoint.p50_ms, checkpoint_cost.checkpoint.p99_ms,
        checkpoint_cost.append.p50_ms);
  }
  if (Wants(o, "peers")) {
    std::printf(
        "peers: naive write+fdatasync %s records/s (p99 %.3f ms); raw fdatasync %s/s "
        "in place, %s/s idle; synced seq (best chunk) %.1f MB/s = %s frames/s\n",
        Thousands(peers.naive.per_s).c_str(), peers.naive.latency.p99_ms,
        Thousands(peers.inplace.per_s).c_str(), Thousands(peers.idle.per_s).c_str(),
        peers.seq_mb_per_s, Thousands(peers.seq_frames_per_s).c_str());
  }
  if (did_verify) {
    const double recs = static_cast<double>(verify.records);
    std::printf(
        "verify (median of %d): %s records/s warm, %s records/s cold; floors, warm: "
        "read+SHA-256 %s records/s, read+Merkle only %s records/s\n",
        o.verify_reps, Thousands(recs / verify.warm.median.wall_s).c_str(),
        Thousands(recs / verify.cold.median.wall_s).c_str(),
        Thousands(recs / verify.floor_sha_warm.median.wall_s).c_str(),
        Thousands(recs / verify.floor_merkle_warm.median.wall_s).c_str());
  }
  std::printf("\n==== targets ====\n");
  double best16 = 0;
  int best16_batch = 0;
  for (const auto& r : closed) {
    if (r.producers == 16 && r.records_per_s > best16) {
      best16 = r.records_per_s;
      best16_batch = r.batch;
    }
  }
  if (best16 > 0) {
    std::printf("%-6s >= 1,000,000 acknowledged records/s with 16 producers: best %s/s (B=%d)\n",
                best16 >= 1e6 ? "MET" : "MISSED", Thousands(best16).c_str(), best16_batch);
  }
  for (const auto& r : open) {
    std::printf(
        "%-6s p99 <= 2 ms at %d records/s from one producer (%s): p99 %.3f ms, "
        "achieved %s/s\n",
        r.latency.p99_ms <= 2.0 && r.achieved_per_s >= 0.99 * r.rate ? "MET" : "MISSED", r.rate,
        r.mode.c_str(), r.latency.p99_ms, Thousands(r.achieved_per_s).c_str());
  }
  if (did_verify) {
    const double warm = static_cast<double>(verify.records) / verify.warm.median.wall_s;
    const double cold = static_cast<double>(verify.records) / verify.cold.median.wall_s;
    std::printf("%-6s verify >= 2,000,000 records/s: %s/s warm, %s/s cold\n",
                warm >= 2e6 ? "MET" : "MISSED", Thousands(warm).c_str(), Thousands(cold).c_str());
  }
  std::fflush(stdout);
  if (!o.keep) std::filesystem::remove(o.dir, ec);  // only if empty: never someone else's files
  return 0;
}

}  // namespace
}  // namespace tokenaudit::bench

int main(int argc, char** argv) {
  tokenaudit::bench::BenchOptions o;
  o.dir = "/tmp/ledger_bench." + std::to_string(getpid());
  CLI::App app{"ledger_bench: Ledger throughput, latency and verify speed (see bench/README.md)"};
  app.add_option("--dir", o.dir, "Directory for the data (created; subdirectories removed)");
  app.add_option("--seconds", o.seconds, "Duration of each closed- and open-loop run");
  app.add_option("--diag-seconds", o.diag_seconds, "Duration of each nosync diagnostic run");
  app.add_option("--peer-seconds", o.peer_seconds, "Duration of the peer measurements");
  app.add_option("--probe-seconds", o.probe_seconds,
                 "fdatasync probe before each scenario (0: none)");
  app.add_option("--settle-seconds", o.settle_seconds,
                 "Before starting, wait up to this long (idle) for fdatasync p50 < 0.5 ms and "
                 "p99 < 1 ms");
  app.add_option("--producers", o.producers, "Producer thread counts (closed loop)")
      ->delimiter(',');
  app.add_option("--batches", o.batches, "Records per AppendBatch (closed loop)")->delimiter(',');
  app.add_option("--record-bytes", o.record_bytes, "Bytes per record");
  app.add_option("--rate", o.rate, "Open-loop rate, records/s");
  app.add_option("--verify-records", o.verify_records, "Records written for the verify run");
  app.add_option("--verify-reps", o.verify_reps, "Timed repetitions of each verify measurement");
  app.add_option("--scenarios", o.scenarios, "Any of peers,open,checkpoint,closed,nosync,verify")
      ->delimiter(',');
  app.add_option("--checkpoint-interval-ms", o.checkpoint_interval_ms,
                 "LedgerOptions::checkpoint_interval_ms (diagnostic; default as the ledger's)");
  app.add_option("--checkpoint-every-records", o.checkpoint_every_records,
                 "LedgerOptions::checkpoint_every_records (diagnostic; default as the ledger's)");
  app.add_flag("--keep", o.keep, "Keep the data directories");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports usage errors by exception; this is the one boundary where we catch them.
    return app.exit(e);
  }
  if (o.rate <= 0 || o.seconds <= 0 || o.verify_reps <= 0 || o.record_bytes == 0 ||
      o.producers.empty() || o.batches.empty()) {
    std::fprintf(stderr,
                 "ledger_bench: --rate, --seconds, --record-bytes, --producers and "
                 "--batches must be positive\n");
    return 2;
  }
  std::string command;
  for (int i = 0; i < argc; ++i) {
    if (i > 0) command += ' ';
    command += tokenaudit::bench::ShellQuote(argv[i]);
  }
  return tokenaudit::bench::Run(o, command);
}
