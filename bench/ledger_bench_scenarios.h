// The scenarios of ledger_bench (bench/ledger_bench.cc): what each measures is described at the
// top of that file.

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
#include "bench/ledger_bench_util.h"

namespace tokenaudit::bench {

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

struct PeerResults {
  SyncPeerResult naive;
  SyncPeerResult inplace;
  SyncPeerResult idle;
  double seq_mb_per_s = 0;
  double seq_frames_per_s = 0;
};

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

// Wall and CPU time of one timed section. CPU time (getrusage, whole process) is the figure that
// survives a busy machine: wall time there includes waiting for a core.
struct Timing {
  double wall_s = 0;
  double cpu_s = 0;
};

// The median and the best of repeated timings (wall and CPU taken separately).
struct Timings {
  Timing median, best;
};

struct VerifyResult {
  uint64_t records = 0;
  uint64_t bytes = 0;
  Timings warm, cold, floor_sha_warm, floor_sha_cold, floor_merkle_warm;
  bool merkle_root_matches = false;
};

ClosedLoopResult RunClosedLoop(const BenchOptions& o, int producers, int batch, bool skip_sync,
                               double seconds);

OpenLoopResult RunOpenLoop(const BenchOptions& o, bool async);

PeerResults RunSyncPeers(const BenchOptions& o);

// The heavy peer: gigabytes written, which throttles this virtual disk for a while afterwards.
void RunBandwidthPeers(const BenchOptions& o, PeerResults* p);

CheckpointCostResult RunCheckpointCost(const BenchOptions& o);

VerifyResult RunVerify(const BenchOptions& o);

}  // namespace tokenaudit::bench
