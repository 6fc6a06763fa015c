// ingest_loadgen: our own HTTP load generator for the ingest benchmark (bench/ingest/README.md).
//
// It posts realistic DDColor-shaped usage records over keep-alive HTTP/1.1 connections (raw
// sockets, one blocking thread per connection) and reports throughput and latency:
//
//   --mode batch   closed loop: C connections, each POSTing batches of B records back to back,
//                  for --seconds or --records; records/s, requests/s, p50/p99/max per request.
//   --mode open    open loop: single-record POSTs at a fixed --rate spread over C connections,
//                  each request scheduled at an absolute time; latency is measured from the
//                  *scheduled* send time (no coordinated omission).
//   --mode big     one POST carrying --records records (the ClickHouse 1M-row reference).
//
// --target tokenaudit posts NDJSON (or a JSON array, --format array) to /v1/events and checks that
// every answer is 200 with accepted == items. --target clickhouse posts the same records as
// JSONEachRow (one object per line, dotted keys spelled with '_' because the ClickHouse table's
// columns are) to a URL whose query string holds the INSERT, and checks for 200.
//
// Record i is a pure function of (--seed, --id-prefix, i), so the two targets receive the same
// records. Ids are UUID-shaped: the first 12 hex digits come from a hash of (seed, id-prefix), the
// last 12 are i, so they are unique within a run and, with a fresh --id-prefix, across runs.
// The records are the DESIGN §2 DDColor record (all its fields), ~560 bytes of compact JSON.
//
// Output: a readable block and one machine-readable line `RESULT {...}`.
//
// Files: this one (options, the three modes, statistics, output), loadgen_records.{h,cc} (the
// records), loadgen_http.h (the HTTP/1.1 client).

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "loadgen_http.h"
#include "loadgen_records.h"

namespace tokenaudit::bench {
namespace {

// ---------------------------------------------------------------------------------------------
// Options

enum class Target { kTokenaudit, kClickhouse };
enum class Mode { kBatch, kOpen, kBig };

struct Options {
  std::string url;
  std::string auth;  // full Authorization header value, e.g. "Bearer ta_..."
  Target target = Target::kTokenaudit;
  Mode mode = Mode::kBatch;
  bool json_array = false;  // tokenaudit only: JSON array instead of NDJSON
  int connections = 4;
  int batch = 1000;
  double seconds = 10;
  uint64_t records = 0;  // 0: no limit (batch); required for big
  double rate = 5000;
  uint64_t first = 0;    // index of the first record
  uint64_t seed = 1;
  std::string id_prefix = "run";
  std::string label;
  bool verbose = false;
  uint64_t print = 0;  // --print N: write records [first, first + N) to stdout and exit
};

[[noreturn]] void Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "ingest_loadgen: %s\n", msg);
  std::fprintf(stderr,
               "usage: ingest_loadgen --url http://HOST:PORT/PATH[?QUERY] [--auth 'Bearer KEY']\n"
               "         [--target tokenaudit|clickhouse] [--mode batch|open|big]\n"
               "         [--format ndjson|array] [--connections C] [--batch B] [--seconds D]\n"
               "         [--records N] [--rate R] [--first I] [--seed S] [--id-prefix P]\n"
               "         [--label L] [--print N]\n");
  std::exit(2);
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--url") o.url = next();
    else if (a == "--auth") o.auth = next();
    else if (a == "--target") {
      std::string t = next();
      if (t == "tokenaudit") o.target = Target::kTokenaudit;
      else if (t == "clickhouse") o.target = Target::kClickhouse;
      else Usage("--target must be tokenaudit or clickhouse");
    } else if (a == "--mode") {
      std::string m = next();
      if (m == "batch") o.mode = Mode::kBatch;
      else if (m == "open") o.mode = Mode::kOpen;
      else if (m == "big") o.mode = Mode::kBig;
      else Usage("--mode must be batch, open or big");
    } else if (a == "--format") {
      std::string f = next();
      if (f == "ndjson") o.json_array = false;
      else if (f == "array") o.json_array = true;
      else Usage("--format must be ndjson or array");
    } else if (a == "--connections") o.connections = std::atoi(next().c_str());
    else if (a == "--batch") o.batch = std::atoi(next().c_str());
    else if (a == "--seconds") o.seconds = std::atof(next().c_str());
    else if (a == "--records") o.records = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--rate") o.rate = std::atof(next().c_str());
    else if (a == "--first") o.first = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--seed") o.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--id-prefix") o.id_prefix = next();
    else if (a == "--label") o.label = next();
    else if (a == "--print") o.print = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "-v" || a == "--verbose") o.verbose = true;
    else if (a == "-h" || a == "--help") Usage(nullptr);
    else Usage(("unknown argument " + a).c_str());
  }
  if (o.url.empty() && o.print == 0) Usage("--url is required");
  if (o.connections < 1 || o.batch < 1 || o.rate <= 0) Usage("bad --connections/--batch/--rate");
  if (o.mode == Mode::kBig && o.records == 0) Usage("--mode big needs --records");
  if (o.target == Target::kClickhouse && o.mode == Mode::kOpen)
    Usage("--mode open is for tokenaudit (single-record JSON)");
  return o;
}

Url ParseUrl(const std::string& s) {
  Url u;
  std::string_view v = s;
  if (v.rfind("http://", 0) != 0) Usage("only http:// URLs");
  v.remove_prefix(7);
  size_t slash = v.find('/');
  std::string_view hostport = v.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(v.substr(slash));
  size_t colon = hostport.rfind(':');
  if (colon == std::string_view::npos) {
    u.host = std::string(hostport);
  } else {
    u.host = std::string(hostport.substr(0, colon));
    u.port = static_cast<uint16_t>(std::atoi(std::string(hostport.substr(colon + 1)).c_str()));
  }
  return u;
}

// ---------------------------------------------------------------------------------------------
// Clock

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

void SleepUntilNs(int64_t t) {
  timespec ts{static_cast<time_t>(t / 1'000'000'000LL), static_cast<long>(t % 1'000'000'000LL)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics

struct Summary {
  uint64_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;  // milliseconds
};

Summary Summarize(std::vector<int64_t>* ns) {
  Summary s;
  if (ns->empty()) return s;
  std::sort(ns->begin(), ns->end());
  s.count = ns->size();
  auto rank = [&](double q) {
    size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(ns->size())));
    k = std::clamp<size_t>(k, 1, ns->size());
    return (*ns)[k - 1] / 1e6;
  };
  s.p50 = rank(0.50);
  s.p90 = rank(0.90);
  s.p99 = rank(0.99);
  s.p999 = rank(0.999);
  s.max = ns->back() / 1e6;
  double sum = 0;
  for (int64_t v : *ns) sum += static_cast<double>(v);
  s.mean = sum / static_cast<double>(ns->size()) / 1e6;
  return s;
}

double CpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Pulls `"name":<integer>` out of a JSON answer; -1 if absent.
int64_t JsonInt(std::string_view body, std::string_view name) {
  std::string key = "\"" + std::string(name) + "\":";
  size_t p = body.find(key);
  if (p == std::string_view::npos) return -1;
  return std::atoll(std::string(body.substr(p + key.size(), 24)).c_str());
}

struct Shared {
  std::mutex mu;
  std::vector<int64_t> latencies;
  uint64_t records_ok = 0, requests_ok = 0, errors = 0, body_bytes = 0;
  std::string first_error;
  int64_t max_send_lag_ns = 0;
  int64_t last_done_ns = 0;
};

void Merge(Shared* sh, std::vector<int64_t>& lat, uint64_t records, uint64_t requests,
           uint64_t errors, uint64_t bytes, const std::string& first_error, int64_t lag,
           int64_t last_done) {
  std::lock_guard<std::mutex> l(sh->mu);
  sh->latencies.insert(sh->latencies.end(), lat.begin(), lat.end());
  sh->records_ok += records;
  sh->requests_ok += requests;
  sh->errors += errors;
  sh->body_bytes += bytes;
  if (sh->first_error.empty()) sh->first_error = first_error;
  sh->max_send_lag_ns = std::max(sh->max_send_lag_ns, lag);
  sh->last_done_ns = std::max(sh->last_done_ns, last_done);
}

std::string RequestHead(const Options& o, const Url& url, size_t body_len, bool single) {
  std::string h = "POST " + url.target + " HTTP/1.1\r\nHost: " + url.host + ":" +
                  std::to_string(url.port) + "\r\n";
  if (!o.auth.empty()) h += "Authorization: " + o.auth + "\r\n";
  const char* type = o.target == Target::kClickhouse ? "application/x-ndjson"
                     : single || o.json_array        ? "application/json"
                                                     : "application/x-ndjson";
  h += std::string("Content-Type: ") + type + "\r\n";
  h += "Content-Length: " + std::to_string(body_len) + "\r\n\r\n";
  return h;
}

// Checks one answer; returns an error description or "".
std::string CheckReply(const Options& o, const HttpReply& r, uint64_t items, bool single) {
  if (r.status != 200) {
    return "HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300);
  }
  if (o.target == Target::kClickhouse) return "";
  if (single) {
    if (r.body.find("\"duplicate\":false") == std::string::npos || JsonInt(r.body, "seq") < 0)
      return "single answer without seq/duplicate:false: " + r.body.substr(0, 200);
    return "";
  }
  int64_t accepted = JsonInt(r.body, "accepted");
  if (accepted != static_cast<int64_t>(items) || JsonInt(r.body, "rejected") != 0 ||
      JsonInt(r.body, "duplicates") != 0)
    return "batch answer: accepted " + std::to_string(accepted) + " of " + std::to_string(items) +
           ": " + r.body.substr(0, 200);
  return "";
}

// ---------------------------------------------------------------------------------------------
// Modes

struct RunResult {
  double seconds = 0;
  double client_cpu = 0;
  Shared sh;
};

void RunBatch(const Options& o, const Url& url, RunResult* out) {
  std::atomic<uint64_t> next_batch{0};
  std::atomic<bool> start_flag{false};
  std::vector<std::thread> threads;
  int64_t t0 = 0, deadline = 0;
  std::atomic<int> ready{0};
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      RecordGenerator gen(o.seed, o.id_prefix, o.target == Target::kClickhouse);
      HttpConnection conn(url);
      std::string err, first_error, body;
      if (!conn.Connect(&err)) first_error = err;
      std::vector<int64_t> lat;
      uint64_t records = 0, requests = 0, errors = 0, bytes = 0;
      int64_t last_done = 0;
      ready.fetch_add(1);
      while (!start_flag.load()) std::this_thread::yield();
      for (;;) {
        uint64_t b = next_batch.fetch_add(1);
        uint64_t first = b * static_cast<uint64_t>(o.batch);
        if (o.records && first >= o.records) break;
        if (NowNs() >= deadline) break;
        uint64_t n = o.batch;
        if (o.records) n = std::min<uint64_t>(n, o.records - first);
        gen.Body(o.first + first, n, o.json_array && o.target == Target::kTokenaudit, &body);
        std::string head = RequestHead(o, url, body.size(), false);
        if (!conn.connected() && !conn.Connect(&err)) {
          ++errors;
          if (first_error.empty()) first_error = err;
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        HttpReply reply;
        int64_t s = NowNs();
        bool ok = conn.RoundTrip(head, body, &reply, &err);
        int64_t e = NowNs();
        std::string bad = ok ? CheckReply(o, reply, n, false) : err;
        if (!bad.empty()) {
          ++errors;
          if (first_error.empty()) first_error = bad;
          if (o.verbose) std::fprintf(stderr, "error: %s\n", bad.c_str());
          continue;
        }
        lat.push_back(e - s);
        records += n;
        ++requests;
        bytes += body.size();
        last_done = e;
      }
      Merge(&out->sh, lat, records, requests, errors, bytes, first_error, 0, last_done);
    });
  }
  while (ready.load() < o.connections) std::this_thread::yield();
  double cpu0 = CpuSeconds();
  t0 = NowNs();
  deadline = t0 + static_cast<int64_t>(o.seconds * 1e9);
  start_flag.store(true);
  for (auto& t : threads) t.join();
  int64_t t1 = NowNs();
  out->seconds = (t1 - t0) / 1e9;
  out->client_cpu = CpuSeconds() - cpu0;
}

void RunOpen(const Options& o, const Url& url, RunResult* out) {
  uint64_t total = o.records ? o.records : static_cast<uint64_t>(o.rate * o.seconds);
  double interval_ns = 1e9 / o.rate;
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  std::atomic<bool> start_flag{false};
  int64_t t0 = 0;
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&, c] {
      RecordGenerator gen(o.seed, o.id_prefix, false);
      HttpConnection conn(url);
      std::string err, first_error, body;
      if (!conn.Connect(&err)) first_error = err;
      std::vector<int64_t> lat;
      lat.reserve(total / o.connections + 1);
      uint64_t records = 0, errors = 0, bytes = 0;
      int64_t max_lag = 0, last_done = 0;
      ready.fetch_add(1);
      while (!start_flag.load()) std::this_thread::yield();
      for (uint64_t i = c; i < total; i += o.connections) {
        body.clear();
        gen.Append(o.first + i, &body);
        std::string head = RequestHead(o, url, body.size(), true);
        int64_t sched = t0 + static_cast<int64_t>(static_cast<double>(i) * interval_ns);
        if (NowNs() < sched) SleepUntilNs(sched);
        int64_t sent = NowNs();
        max_lag = std::max(max_lag, sent - sched);
        if (!conn.connected() && !conn.Connect(&err)) {
          ++errors;
          if (first_error.empty()) first_error = err;
          continue;
        }
        HttpReply reply;
        bool ok = conn.RoundTrip(head, body, &reply, &err);
        int64_t e = NowNs();
        std::string bad = ok ? CheckReply(o, reply, 1, true) : err;
        if (!bad.empty()) {
          ++errors;
          if (first_error.empty()) first_error = bad;
          continue;
        }
        lat.push_back(e - sched);  // from the scheduled time: no coordinated omission
        ++records;
        bytes += body.size();
        last_done = e;
      }
      Merge(&out->sh, lat, records, records, errors, bytes, first_error, max_lag, last_done);
    });
  }
  while (ready.load() < o.connections) std::this_thread::yield();
  double cpu0 = CpuSeconds();
  t0 = NowNs() + 5'000'000;  // 5 ms for every thread to reach its first sleep
  start_flag.store(true);
  for (auto& t : threads) t.join();
  out->seconds = (out->sh.last_done_ns - t0) / 1e9;
  out->client_cpu = CpuSeconds() - cpu0;
}

void RunBig(const Options& o, const Url& url, RunResult* out, double* gen_seconds) {
  RecordGenerator gen(o.seed, o.id_prefix, o.target == Target::kClickhouse);
  std::string body;
  body.reserve(o.records * 520);
  int64_t g0 = NowNs();
  gen.Body(o.first, o.records, o.json_array && o.target == Target::kTokenaudit, &body);
  *gen_seconds = (NowNs() - g0) / 1e9;
  HttpConnection conn(url);
  std::string err;
  std::vector<int64_t> lat;
  uint64_t errors = 0, records = 0, requests = 0;
  std::string first_error;
  double cpu0 = CpuSeconds();
  int64_t t0 = NowNs();
  HttpReply reply;
  if (!conn.Connect(&err) || !conn.RoundTrip(RequestHead(o, url, body.size(), false), body,
                                             &reply, &err)) {
    ++errors;
    first_error = err;
  } else if (std::string bad = CheckReply(o, reply, o.records, false); !bad.empty()) {
    ++errors;
    first_error = bad;
  } else {
    records = o.records;
    requests = 1;
  }
  int64_t t1 = NowNs();
  lat.push_back(t1 - t0);
  out->seconds = (t1 - t0) / 1e9;
  out->client_cpu = CpuSeconds() - cpu0;
  Merge(&out->sh, lat, records, requests, errors, records ? body.size() : 0, first_error, 0, t1);
}

std::string Thousands(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f", v);
  std::string s = buf, out;
  int n = 0;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    out.insert(out.begin(), s[i]);
    if (++n % 3 == 0 && i > 0 && s[i - 1] != '-') out.insert(out.begin(), ',');
  }
  return out;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) out += ' ';
    else out += c;
  }
  return out;
}

int Main(int argc, char** argv) {
  Options o = ParseOptions(argc, argv);
  if (o.print) {
    std::string body;
    RecordGenerator(o.seed, o.id_prefix, o.target == Target::kClickhouse)
        .Body(o.first, o.print, o.json_array, &body);
    std::fwrite(body.data(), 1, body.size(), stdout);
    return 0;
  }
  Url url = ParseUrl(o.url);
  std::string cmd;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i > 0 && a.rfind("Bearer ", 0) == 0) {
      a = "'Bearer <key>'";  // keys stay out of logs
    } else if (a.find_first_of(" &?*'\"$;|<>()") != std::string::npos) {
      std::string q = "'";
      for (char c : a) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      a = q + "'";
    }
    cmd += (i ? " " : "") + a;
  }
  std::printf("+ %s\n", cmd.c_str());
  const char* target = o.target == Target::kClickhouse ? "clickhouse" : "tokenaudit";
  const char* mode = o.mode == Mode::kBatch ? "batch" : o.mode == Mode::kOpen ? "open" : "big";
  const char* format = o.target == Target::kClickhouse ? "JSONEachRow"
                       : o.mode == Mode::kOpen         ? "json-single"
                       : o.json_array                  ? "json-array"
                                                       : "ndjson";
  RunResult r;
  double gen_seconds = 0;
  switch (o.mode) {
    case Mode::kBatch: RunBatch(o, url, &r); break;
    case Mode::kOpen: RunOpen(o, url, &r); break;
    case Mode::kBig: RunBig(o, url, &r, &gen_seconds); break;
  }
  Shared& sh = r.sh;
  Summary s = Summarize(&sh.latencies);
  double rps = sh.records_ok / r.seconds, qps = sh.requests_ok / r.seconds;
  double bpr = sh.records_ok ? static_cast<double>(sh.body_bytes) / sh.records_ok : 0;
  std::printf("%s %s%s%s: %s, %d connection(s)", target, mode, o.label.empty() ? "" : " ",
              o.label.c_str(), format, o.connections);
  if (o.mode == Mode::kBatch) std::printf(", %d records per request", o.batch);
  if (o.mode == Mode::kOpen) std::printf(", target rate %s req/s", Thousands(o.rate).c_str());
  std::printf("\n  %s records acknowledged in %s requests over %.2f s: %s records/s, %s req/s, "
              "%.1f MB/s of body (%.0f bytes/record)\n",
              Thousands(sh.records_ok).c_str(), Thousands(sh.requests_ok).c_str(), r.seconds,
              Thousands(rps).c_str(), Thousands(qps).c_str(), sh.body_bytes / r.seconds / 1e6, bpr);
  std::printf("  latency per request%s: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p999 %.3f ms, "
              "max %.3f ms (mean %.3f ms, n=%" PRIu64 ")\n",
              o.mode == Mode::kOpen ? " (from the scheduled send time)" : "", s.p50, s.p90, s.p99,
              s.p999, s.max, s.mean, s.count);
  if (o.mode == Mode::kOpen)
    std::printf("  achieved %s req/s of %s; largest send lag behind schedule %.3f ms\n",
                Thousands(rps).c_str(), Thousands(o.rate).c_str(), sh.max_send_lag_ns / 1e6);
  if (o.mode == Mode::kBig) std::printf("  (body generated in %.2f s before the POST)\n", gen_seconds);
  std::printf("  errors: %" PRIu64 "%s%s\n", sh.errors, sh.errors ? "; first: " : "",
              sh.first_error.c_str());
  std::printf("  load generator CPU: %.2f s (%.0f%% of one core)\n", r.client_cpu,
              100 * r.client_cpu / r.seconds);
  std::printf(
      "RESULT {\"target\":\"%s\",\"mode\":\"%s\",\"label\":\"%s\",\"format\":\"%s\","
      "\"connections\":%d,\"batch\":%d,\"rate\":%.0f,\"records\":%" PRIu64 ",\"requests\":%" PRIu64
      ",\"seconds\":%.3f,\"records_per_s\":%.0f,\"requests_per_s\":%.1f,\"bytes_per_record\":%.1f,"
      "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
      "\"mean_ms\":%.3f,\"max_send_lag_ms\":%.3f,\"errors\":%" PRIu64
      ",\"client_cpu_s\":%.3f,\"first_error\":\"%s\"}\n",
      target, mode, JsonEscape(o.label).c_str(), format, o.connections,
      o.mode == Mode::kOpen ? 1 : (o.mode == Mode::kBig ? static_cast<int>(o.records) : o.batch),
      o.mode == Mode::kOpen ? o.rate : 0.0, sh.records_ok, sh.requests_ok, r.seconds, rps, qps,
      bpr, s.p50, s.p90, s.p99, s.p999, s.max, s.mean, sh.max_send_lag_ns / 1e6, sh.errors,
      r.client_cpu, JsonEscape(sh.first_error.substr(0, 200)).c_str());
  std::fflush(stdout);
  return sh.errors ? 1 : 0;
}

}  // namespace
}  // namespace tokenaudit::bench

int main(int argc, char** argv) { return tokenaudit::bench::Main(argc, argv); }
