// Shared pieces of ledger_bench (bench/ledger_bench.cc): options, clocks, result lines, CPU
// accounting, opening a ledger, and the raw fdatasync peer every scenario probes the device with.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "bench/latency.h"
#include "tokenaudit/ledger.h"
#include "tokenaudit/status.h"

namespace tokenaudit::bench {

using Clock = std::chrono::steady_clock;

int64_t NowNanos();

void SleepUntilNanos(int64_t deadline);

[[noreturn]] void Die(const std::string& what);

void CheckOk(const Status& s, const std::string& what);

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

bool Wants(const BenchOptions& o, std::string_view s);

// Distinct JSON-ish usage records of exactly `bytes` bytes: content does not change the cost of
// CRC32C or SHA-256, but identical records would make a mistake in the bench harder to see.
std::vector<std::string> MakeRecords(size_t n, size_t bytes);

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

std::string Thousands(double v);

void PrintLatency(const char* label, const LatencySummary& l);

// ---- CPU accounting: the writer thread is found as the thread Ledger::Open started. ----

std::set<int> ThreadIds();

double ThreadCpuSeconds(int tid);

double ProcessCpuSeconds();

// "some avg10" of /proc/pressure/cpu: the share of the last 10 s in which some runnable task
// waited for a CPU. Near 100 means other work on the machine competes with the benchmark.
std::string CpuPressure();

std::string Busy();

struct OpenedLedger {
  std::unique_ptr<Ledger> ledger;
  int writer_tid = 0;
};

OpenedLedger OpenLedger(const BenchOptions& bo, const std::string& dir, Env* env,
                        Durability durability, bool skip_sync);

void RemoveDir(const BenchOptions& o, const std::string& dir);

// ---- peers: the filesystem without the ledger ----

struct SyncPeerResult {
  double per_s = 0;
  LatencySummary latency;
};

// One thread: write() `bytes` (appending, or in place at offset 0) then fdatasync, for `seconds`.
// bytes == 0: fdatasync with nothing dirty.
SyncPeerResult RunSyncLoop(const std::string& path, size_t bytes, bool in_place, double seconds);

// The device right before a scenario. The virtual disk this was written on alternates between a
// fast regime (fdatasync ~0.1 ms) and a throttled one (~4 ms, after sustained writing by anyone),
// so every scenario states which one it ran in.
struct DeviceProbe {
  double p50_ms = 0;
  double p99_ms = 0;
};

DeviceProbe ProbeDevice(const BenchOptions& o);

std::string Describe(const DeviceProbe& p);

}  // namespace tokenaudit::bench
