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

struct Url {
  std::string host;
  uint16_t port = 80;
  std::string target;  // path + query
};

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
// Records: a DDColor colourisation call as a ComfyUI gateway would report it.

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr int kUsers = 2000;
constexpr double kZipfS = 1.1;

// Cumulative Zipf(s) weights over kUsers ranks, built once.
const std::vector<double>& ZipfCdf() {
  static const std::vector<double> cdf = [] {
    std::vector<double> c(kUsers);
    double sum = 0;
    for (int k = 0; k < kUsers; ++k) c[k] = (sum += 1.0 / std::pow(k + 1, kZipfS));
    for (double& x : c) x /= sum;
    return c;
  }();
  return cdf;
}

struct Resolution {
  int w, h;
};
constexpr Resolution kResolutions[] = {
    {460, 680},  {512, 512},   {640, 480},   {800, 600},   {768, 1024}, {1024, 768},
    {1024, 1024}, {1280, 720}, {1920, 1080}, {1080, 1350}, {2048, 1536}, {3000, 2000},
    {350, 500},  {1200, 1600}, {2400, 3200}, {600, 900}};
constexpr const char* kModels[] = {"ddcolor_paper_tiny", "ddcolor_paper_tiny", "ddcolor_paper_tiny",
                                   "ddcolor_modelscope", "ddcolor_artistic", "ddcolor_paper"};
constexpr const char* kWorkflows[] = {"DDColor人物黑白修复", "portrait_restore_v2",
                                      "archive_batch_colorize", "newspaper_scans_1950s",
                                      "family_album"};
constexpr const char* kSources[] = {"comfyui-gateway/eu1", "comfyui-gateway/eu2",
                                    "comfyui-gateway/us1"};
constexpr const char* kTenants[] = {"city-archive", "city-archive", "film-museum", "press-lab"};
constexpr const char* kErrors[] = {"torch.cuda.OutOfMemoryError", "ValueError", "TimeoutError"};
constexpr const char kHex[] = "0123456789abcdef";

// Base time 2026-11-30T10:00:00Z, seconds since the epoch.
constexpr int64_t kBaseUnix = 1796032800;

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void Raw(std::string_view s) { out_->append(s); }
  void Char(char c) { out_->push_back(c); }
  void U64(uint64_t v) {
    char buf[24];
    int n = 0;
    do {
      buf[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n) out_->push_back(buf[--n]);
  }
  void Digits(uint64_t v, int width) {
    char buf[24];
    for (int i = width - 1; i >= 0; --i) {
      buf[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    out_->append(buf, width);
  }
  void Hex(uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) out_->push_back(kHex[(v >> (4 * i)) & 15]);
  }

 private:
  std::string* out_;
};

// RFC 3339 UTC with 6 fractional digits.
void WriteTime(Writer& w, int64_t unix_us) {
  int64_t secs = unix_us / 1'000'000, us = unix_us % 1'000'000;
  int64_t days = secs / 86400, sod = secs % 86400;
  // civil_from_days (H. Hinnant)
  int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  w.Char('"');
  w.Digits(y, 4);
  w.Char('-');
  w.Digits(m, 2);
  w.Char('-');
  w.Digits(d, 2);
  w.Char('T');
  w.Digits(sod / 3600, 2);
  w.Char(':');
  w.Digits(sod / 60 % 60, 2);
  w.Char(':');
  w.Digits(sod % 60, 2);
  w.Char('.');
  w.Digits(us, 6);
  w.Raw("Z\"");
}

class RecordGenerator {
 public:
  RecordGenerator(uint64_t seed, std::string id_prefix, bool underscore_keys)
      : seed_(seed), id_prefix_(std::move(id_prefix)), underscore_(underscore_keys) {
    prefix_hash_ = SplitMix(seed_ ^ std::hash<std::string>{}(id_prefix_));
  }

  // Appends record `i` as one JSON object (no newline).
  void Append(uint64_t i, std::string* out) const {
    const auto& cdf = ZipfCdf();
    uint64_t r0 = SplitMix(seed_ * 0x100000001b3ULL + i);
    uint64_t r1 = SplitMix(r0), r2 = SplitMix(r1), r3 = SplitMix(r2), r4 = SplitMix(r3);
    uint64_t r5 = SplitMix(r4), r6 = SplitMix(r5);
    double u = static_cast<double>(r0 >> 11) * 0x1.0p-53;
    int user = static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    if (user >= kUsers) user = kUsers - 1;
    const Resolution& res = kResolutions[r1 % std::size(kResolutions)];
    const char* model = kModels[(r1 >> 8) % std::size(kModels)];
    int batch = (r1 >> 16) % 20 == 0 ? 2 + static_cast<int>((r1 >> 24) % 3) : 1;
    int mis = (r1 >> 32) % 10 == 0 ? 1024 : ((r1 >> 32) % 10 == 1 ? 256 : 512);
    uint64_t duration_ms = 300 + (r2 % 4700) + static_cast<uint64_t>(res.w) * res.h / 2000;
    // Records arrive ~100 per second of wall time in the story; time grows with i.
    int64_t end_us = (kBaseUnix + static_cast<int64_t>(i / 100)) * 1'000'000 +
                     static_cast<int64_t>((i % 100) * 10'000 + (r2 >> 40) % 10'000);
    int64_t start_us = end_us - static_cast<int64_t>(duration_ms) * 1000;
    uint64_t status_roll = r3 % 100;
    const char* status = status_roll < 96 ? "success" : status_roll < 98 ? "error" : "cached";

    Writer w(out);
    w.Raw("{\"id\":\"");
    w.Hex(prefix_hash_ >> 32, 8);
    w.Char('-');
    w.Hex(prefix_hash_ >> 16, 4);
    w.Raw("-4");
    w.Hex(r4, 3);
    w.Char('-');
    w.Hex(8 | (r4 >> 12 & 3), 1);
    w.Hex(r4 >> 16, 3);
    w.Char('-');
    w.Hex(i, 12);
    w.Raw("\",\"source\":\"");
    w.Raw(kSources[(r3 >> 8) % std::size(kSources)]);
    w.Raw("\",\"tenant\":\"");
    w.Raw(kTenants[(r3 >> 16) % std::size(kTenants)]);
    w.Raw("\",\"user\":\"user");
    w.Digits(user, 4);
    w.Raw("\",\"start_time\":");
    WriteTime(w, start_us);
    w.Raw(",\"time\":");
    WriteTime(w, end_us);
    w.Raw(",\"duration_ms\":");
    w.U64(duration_ms);
    w.Raw(",\"task_type\":\"image_colorization\",\"workflow\":\"");
    w.Raw(kWorkflows[(r3 >> 24) % std::size(kWorkflows)]);
    w.Raw("\",\"node_id\":\"");
    w.U64(2 + (r3 >> 32) % 12);
    w.Raw("\",\"node_type\":\"DDColor_Colorize\",\"");
    Key(w, "gen_ai.request.model");
    w.Raw("\":\"");
    w.Raw(model);
    w.Raw("\",\"device\":\"cuda\",\"");
    Key(w, "input.width");
    w.Raw("\":");
    w.U64(res.w);
    w.Raw(",\"");
    Key(w, "input.height");
    w.Raw("\":");
    w.U64(res.h);
    w.Raw(",\"");
    Key(w, "input.batch");
    w.Raw("\":");
    w.U64(batch);
    w.Raw(",\"");
    Key(w, "input.model_input_size");
    w.Raw("\":");
    w.U64(mis);
    w.Raw(",\"");
    Key(w, "input.hash");
    w.Raw("\":\"sha256:");
    w.Hex(r4, 16);
    w.Hex(r5, 16);
    w.Hex(r6, 16);
    w.Hex(SplitMix(r6), 16);
    w.Raw("\",\"status\":\"");
    w.Raw(status);
    w.Char('"');
    if (status_roll >= 96 && status_roll < 98) {
      w.Raw(",\"");
      Key(w, "error.type");
      w.Raw("\":\"");
      w.Raw(kErrors[(r3 >> 40) % std::size(kErrors)]);
      w.Char('"');
    }
    w.Char('}');
  }

  // A body of records [first, first + n): NDJSON (JSONEachRow) or a JSON array.
  void Body(uint64_t first, uint64_t n, bool array, std::string* out) const {
    out->clear();
    if (array) out->push_back('[');
    for (uint64_t k = 0; k < n; ++k) {
      if (array && k) out->push_back(',');
      Append(first + k, out);
      if (!array) out->push_back('\n');
    }
    if (array) out->push_back(']');
  }

 private:
  // A dotted field name as tokenaudit spells it, or with '_' for the ClickHouse columns.
  void Key(Writer& w, std::string_view dotted) const {
    if (!underscore_) return w.Raw(dotted);
    for (char c : dotted) w.Char(c == '.' ? '_' : c);
  }

  uint64_t seed_;
  std::string id_prefix_;
  bool underscore_;
  uint64_t prefix_hash_;
};

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over one keep-alive TCP connection.

struct HttpReply {
  int status = 0;
  std::string body;
  bool close = false;
};

class HttpConnection {
 public:
  explicit HttpConnection(const Url& url) : url_(url) {}
  ~HttpConnection() { Close(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool Connect(std::string* err) {
    Close();
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(url_.host.c_str(), std::to_string(url_.port).c_str(), &hints, &res);
    if (rc != 0) {
      *err = std::string("getaddrinfo: ") + gai_strerror(rc);
      return false;
    }
    for (addrinfo* a = res; a; a = a->ai_next) {
      fd_ = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
      if (fd_ < 0) continue;
      if (connect(fd_, a->ai_addr, a->ai_addrlen) == 0) break;
      ::close(fd_);
      fd_ = -1;
    }
    freeaddrinfo(res);
    if (fd_ < 0) {
      *err = std::string("connect: ") + std::strerror(errno);
      return false;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    in_.clear();
    return true;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool connected() const { return fd_ >= 0; }

  // Sends `head` (request line and headers, ending in an empty line) and `body`, then reads one
  // response. False on an I/O or protocol error (the connection is closed; Connect again).
  bool RoundTrip(std::string_view head, std::string_view body, HttpReply* reply,
                 std::string* err) {
    if (!SendAll(head, body, err) || !ReadReply(reply, err)) {
      Close();
      return false;
    }
    if (reply->close) Close();
    return true;
  }

 private:
  bool SendAll(std::string_view head, std::string_view body, std::string* err) {
    size_t off = 0, total = head.size() + body.size();
    while (off < total) {
      iovec iov[2];
      int n = 0;
      if (off < head.size()) {
        iov[n++] = {const_cast<char*>(head.data() + off), head.size() - off};
        if (!body.empty()) iov[n++] = {const_cast<char*>(body.data()), body.size()};
      } else {
        size_t b = off - head.size();
        iov[n++] = {const_cast<char*>(body.data() + b), body.size() - b};
      }
      ssize_t w = writev(fd_, iov, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        *err = std::string("write: ") + std::strerror(errno);
        return false;
      }
      off += static_cast<size_t>(w);
    }
    return true;
  }

  // Reads more bytes into in_; false on EOF or error.
  bool Fill(std::string* err) {
    char buf[65536];
    for (;;) {
      ssize_t r = read(fd_, buf, sizeof(buf));
      if (r > 0) {
        in_.append(buf, static_cast<size_t>(r));
        return true;
      }
      if (r == 0) {
        *err = "connection closed by peer";
        return false;
      }
      if (errno == EINTR) continue;
      *err = std::string("read: ") + std::strerror(errno);
      return false;
    }
  }

  static bool IEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  }

  bool ReadReply(HttpReply* reply, std::string* err) {
    size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (in_.size() > (1 << 20)) {
        *err = "response header too large";
        return false;
      }
      if (!Fill(err)) return false;
    }
    std::string_view head(in_.data(), end);
    if (head.size() < 12 || head.rfind("HTTP/1.", 0) != 0) {
      *err = "bad status line";
      return false;
    }
    reply->status = std::atoi(std::string(head.substr(9, 3)).c_str());
    reply->close = head.substr(0, 8) == "HTTP/1.0";
    bool chunked = false;
    int64_t length = -1;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      size_t line_end = head.find("\r\n", pos + 2);
      std::string_view line =
          head.substr(pos + 2, (line_end == std::string_view::npos ? head.size() : line_end) -
                                   pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (IEquals(name, "content-length")) length = std::atoll(std::string(value).c_str());
        else if (IEquals(name, "transfer-encoding")) chunked = value.find("chunked") != value.npos;
        else if (IEquals(name, "connection")) {
          if (IEquals(value, "close")) reply->close = true;
          else if (IEquals(value, "keep-alive")) reply->close = false;
        }
      }
      pos = line_end;
    }
    in_.erase(0, end + 4);
    reply->body.clear();
    if (chunked) {
      for (;;) {
        size_t eol;
        while ((eol = in_.find("\r\n")) == std::string::npos)
          if (!Fill(err)) return false;
        uint64_t size = std::strtoull(in_.c_str(), nullptr, 16);
        in_.erase(0, eol + 2);
        while (in_.size() < size + 2)
          if (!Fill(err)) return false;
        reply->body.append(in_, 0, size);
        in_.erase(0, size + 2);
        if (size == 0) break;  // (no trailers expected)
      }
    } else if (length >= 0) {
      while (in_.size() < static_cast<uint64_t>(length))
        if (!Fill(err)) return false;
      reply->body.assign(in_, 0, length);
      in_.erase(0, length);
    } else if (reply->status != 204 && reply->status != 304) {
      std::string ignored;
      while (Fill(&ignored)) {
      }
      reply->body.swap(in_);
      in_.clear();
      reply->close = true;
    }
    return true;
  }

  Url url_;
  int fd_ = -1;
  std::string in_;
};

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
