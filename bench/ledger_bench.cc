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

#include "bench/ledger_bench_scenarios.h"

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
