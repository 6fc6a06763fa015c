// ledger_bench scenarios: the filesystem peers, the cost of one checkpoint, and verify. See
// ledger_bench_scenarios.h.

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

}  // namespace

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

}  // namespace tokenaudit::bench
