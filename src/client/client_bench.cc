// client_record_bench: the cost of Client::Record() on the caller's thread.
//
// Times every Record() call (steady_clock around the call) while the client's background thread
// really works: sending to a real `tokenaudit serve` (started here from --tokenaudit, or an
// existing one from --url/--key), or spooling to disk because --url points at a closed port.
// Prints the command, the machine, the client settings, p50/p90/p99/p99.9/max of Record(), and
// the peer figure from the same run: record::EncodeCanonical alone on the same record, the part
// of Record() that is plain encoding.
//
//   client_record_bench --tokenaudit build/tools/tokenaudit/tokenaudit [--records N]
//       [--threads T] [--rate R] [--spool DIR | --no-spool] [--memory-mb M] [--flush-timeout-s S]
//   client_record_bench --url http://127.0.0.1:1 ...   (unreachable: everything is spooled)
//
// --rate is records per second per thread (0: as fast as possible); pacing sleeps every 256
// records, so calls within a burst are back to back.

#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "src/record/record_json.h"
#include "test/support/process.h"
#include "tokenaudit/client.h"

namespace {

using Clock = std::chrono::steady_clock;
using tokenaudit::Client;
using tokenaudit::ClientOptions;
using tokenaudit::ClientStats;
using tokenaudit::Status;
using tokenaudit::StatusCode;
using tokenaudit::UsageRecord;

constexpr char kPseudonymKeyEnv[] =
    "TOKENAUDIT_PSEUDONYM_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

struct Args {
  std::string tokenaudit, url, key, spool;
  uint64_t records = 1000000;
  int threads = 1;
  double rate = 0;
  uint64_t memory_mb = 16;
  int flush_timeout_s = 600;
  bool no_spool = false;
};

UsageRecord BenchRecord() {
  UsageRecord r;
  r.tenant = "city-archive";
  r.user = "alice";
  r.start_time_us = 1796032800000000;
  r.time_us = 1796032802480000;
  r.duration_ms = 2480;
  r.task_type = "image_colorization";
  r.workflow = "portrait";
  r.node_id = "2";
  r.node_type = "DDColor_Colorize";
  r.model = "ddcolor_paper_tiny";
  r.device = "cuda";
  r.input_width = 460;
  r.input_height = 680;
  r.input_batch = 1;
  r.input_model_input_size = 512;
  r.input_hash = "sha256:" + std::string(64, 'a');
  r.status = "success";
  return r;  // no id: Record() gives one, as most producers would let it
}

std::string Machine() {
  std::string cpu = "unknown cpu";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  uname(&u);
  return cpu + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, " + u.sysname +
         " " + u.release;
}

struct Summary {
  double p50, p90, p99, p999, max;
};

Summary Percentiles(std::vector<uint32_t>* ns) {
  if (ns->empty()) return {0, 0, 0, 0, 0};
  std::sort(ns->begin(), ns->end());
  auto at = [ns](double q) {
    size_t i = std::min(ns->size() - 1, static_cast<size_t>(q * static_cast<double>(ns->size())));
    return (*ns)[i] / 1000.0;
  };
  return {at(0.50), at(0.90), at(0.99), at(0.999), ns->back() / 1000.0};
}

void PrintRow(const char* what, size_t n, Summary s) {
  std::printf("  %-34s n=%-9zu p50 %6.2f  p90 %6.2f  p99 %6.2f  p99.9 %7.2f  max %9.1f  (us)\n",
              what, n, s.p50, s.p90, s.p99, s.p999, s.max);
}

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (f == "--tokenaudit")
      a->tokenaudit = next();
    else if (f == "--url")
      a->url = next();
    else if (f == "--key")
      a->key = next();
    else if (f == "--spool")
      a->spool = next();
    else if (f == "--records")
      a->records = std::stoull(next());
    else if (f == "--threads")
      a->threads = std::stoi(next());
    else if (f == "--rate")
      a->rate = std::stod(next());
    else if (f == "--memory-mb")
      a->memory_mb = std::stoull(next());
    else if (f == "--flush-timeout-s")
      a->flush_timeout_s = std::stoi(next());
    else if (f == "--no-spool")
      a->no_spool = true;
    else
      return false;
  }
  return !a->tokenaudit.empty() || !a->url.empty();
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: %s (--tokenaudit BIN | --url URL [--key KEY]) [--records N] "
                 "[--threads T] [--rate R] [--spool DIR | --no-spool] [--memory-mb M] "
                 "[--flush-timeout-s S]\n",
                 argv[0]);
    return 2;
  }
  std::string cmd;
  for (int i = 0; i < argc; ++i) cmd += (i ? " " : "") + std::string(argv[i]);
  std::printf("command: %s\nmachine: %s\n", cmd.c_str(), Machine().c_str());

  char tmpl[] = "/tmp/ta_client_bench_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::unique_ptr<tokenaudit::testing::ServerProcess> server;
  if (!args.tokenaudit.empty()) {
    const std::string data = dir + "/data";
    auto r = tokenaudit::testing::RunCommand({args.tokenaudit, "keys", "create", "--data-dir", data,
                                              "--role", "ingest", "--name", "bench"},
                                             {kPseudonymKeyEnv}, dir);
    if (r.exit_code != 0) {
      std::fprintf(stderr, "keys create failed: %s\n", r.err.c_str());
      return 1;
    }
    args.key = r.out.substr(0, r.out.find_first_of("\r\n"));
    server = std::make_unique<tokenaudit::testing::ServerProcess>(args.tokenaudit, dir);
    if (!server->Start({"--data-dir", data, "--listen", "127.0.0.1:0"}, {kPseudonymKeyEnv})) {
      std::fprintf(stderr, "server did not start: %s\n", server->AllOutput().c_str());
      return 1;
    }
    args.url = "http://127.0.0.1:" + std::to_string(server->port());
    std::printf("server: tokenaudit serve on %s (fresh data dir, kSync durability)\n",
                args.url.c_str());
  } else {
    std::printf("server: %s\n", args.url.c_str());
  }

  ClientOptions o;
  o.url = args.url;
  o.api_key = args.key;
  o.source = "bench/client";
  o.spool_dir = args.no_spool ? "" : args.spool.empty() ? dir + "/spool" : args.spool;
  o.max_memory_bytes = args.memory_mb << 20;
  o.max_spool_bytes = 8ull << 30;
  o.max_backoff_ms = 1000;
  std::printf("client: max_memory %llu MiB, max_batch_records %u, flush_interval %u ms, spool %s\n",
              static_cast<unsigned long long>(args.memory_mb), o.max_batch_records,
              o.flush_interval_ms, o.spool_dir.c_str());
  std::printf("load: %llu records, %d thread(s), rate %s\n",
              static_cast<unsigned long long>(args.records), args.threads,
              args.rate > 0
                  ? (std::to_string(static_cast<long long>(args.rate)) + "/s per thread").c_str()
                  : "unpaced (as fast as possible)");

  const UsageRecord tmpl_record = BenchRecord();

  // Peer figure: encoding alone, same record shape, same process.
  {
    std::vector<uint32_t> ns;
    const size_t n = std::min<uint64_t>(args.records, 1000000);
    ns.reserve(n);
    UsageRecord r = tmpl_record;
    r.id = "AAAAAAAAAAAAAAAAAAAAAA-1f3a5";
    r.source = o.source;
    size_t sink = 0;
    for (size_t i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      std::string s = tokenaudit::record::EncodeCanonical(r);
      auto t1 = Clock::now();
      sink += s.size();
      ns.push_back(static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    }
    std::printf("record: %zu bytes of canonical JSON\n", sink / n);
    std::printf("peer (same run):\n");
    PrintRow("EncodeCanonical alone", ns.size(), Percentiles(&ns));
  }

  auto created = Client::Create(o);
  if (!created.ok()) {
    std::fprintf(stderr, "Client::Create: %s\n", created.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<Client> client = std::move(*created);

  const uint64_t per_thread = args.records / static_cast<uint64_t>(args.threads);
  std::vector<std::vector<uint32_t>> ok_ns(args.threads), refused_ns(args.threads);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int t = 0; t < args.threads; ++t) {
    threads.emplace_back([&, t] {
      auto& ok = ok_ns[t];
      auto& refused = refused_ns[t];
      ok.reserve(per_thread);
      const auto t_start = Clock::now();
      for (uint64_t i = 0; i < per_thread; ++i) {
        if (args.rate > 0 && i % 256 == 0) {
          std::this_thread::sleep_until(
              t_start + std::chrono::nanoseconds(static_cast<int64_t>(i * 1e9 / args.rate)));
        }
        auto t0 = Clock::now();
        Status s = client->Record(tmpl_record);
        auto t1 = Clock::now();
        auto d = static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
        (s.ok() ? ok : refused).push_back(d);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double record_s = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<uint32_t> all_ok, all_refused, all;
  for (int t = 0; t < args.threads; ++t) {
    all_ok.insert(all_ok.end(), ok_ns[t].begin(), ok_ns[t].end());
    all_refused.insert(all_refused.end(), refused_ns[t].begin(), refused_ns[t].end());
  }
  all = all_ok;
  all.insert(all.end(), all_refused.begin(), all_refused.end());
  std::printf("Record() on the caller's thread, %.2f s of recording (%.0f calls/s):\n", record_s,
              static_cast<double>(all.size()) / record_s);
  PrintRow("all calls", all.size(), Percentiles(&all));
  PrintRow("accepted (OK)", all_ok.size(), Percentiles(&all_ok));
  if (!all_refused.empty())
    PrintRow("refused (ResourceExhausted)", all_refused.size(), Percentiles(&all_refused));

  ClientStats mid = client->stats();
  std::printf("at end of recording: spooled %llu, acknowledged %llu, queue %llu records\n",
              static_cast<unsigned long long>(mid.spooled),
              static_cast<unsigned long long>(mid.acknowledged),
              static_cast<unsigned long long>(mid.queue_records));
  const auto flush_start = Clock::now();
  Status f = client->Flush(std::chrono::seconds(args.flush_timeout_s));
  const double flush_s = std::chrono::duration<double>(Clock::now() - flush_start).count();
  ClientStats s = client->stats();
  std::printf(
      "flush: %s after %.2f s; delivered %llu records in %.2f s (%.0f records/s end to "
      "end)\n",
      f.ToString().c_str(), flush_s, static_cast<unsigned long long>(s.acknowledged),
      record_s + flush_s, static_cast<double>(s.acknowledged) / (record_s + flush_s));
  std::printf(
      "stats: recorded %llu refused %llu acknowledged %llu duplicates %llu rejected %llu "
      "spooled %llu replayed %llu requests %llu failed_requests %llu\n",
      static_cast<unsigned long long>(s.recorded), static_cast<unsigned long long>(s.refused),
      static_cast<unsigned long long>(s.acknowledged),
      static_cast<unsigned long long>(s.duplicates), static_cast<unsigned long long>(s.rejected),
      static_cast<unsigned long long>(s.spooled), static_cast<unsigned long long>(s.replayed),
      static_cast<unsigned long long>(s.requests),
      static_cast<unsigned long long>(s.failed_requests));
  if (!s.last_error.empty()) std::printf("last error: %s\n", s.last_error.c_str());
  Status c = client->Close(std::chrono::seconds(5));
  client.reset();
  if (server) server->Stop();
  std::filesystem::remove_all(dir);
  return c.ok() ? 0 : 1;
}
