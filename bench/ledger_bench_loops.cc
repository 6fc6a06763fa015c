// ledger_bench scenarios: the closed loop (P producers x AppendBatch of B) and the open loop
// (one producer at a fixed rate). See ledger_bench_scenarios.h.

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

}  // namespace tokenaudit::bench
