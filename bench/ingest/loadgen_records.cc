// The load generator's records; see loadgen_records.h.

#include "loadgen_records.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace tokenaudit::bench {
namespace {

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

}  // namespace

// Writes JSON pieces into a fixed buffer through a pointer (no capacity check per byte: a record
// is far below kMaxRecordBytes), which keeps the generator's CPU per record small next to the
// servers' it measures.
constexpr size_t kMaxRecordBytes = 2048;
class Writer {
 public:
  explicit Writer(char* p) : p_(p) {}
  char* end() const { return p_; }
  void Raw(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void Char(char c) { *p_++ = c; }
  void U64(uint64_t v) {
    char buf[24];
    int n = 0;
    do {
      buf[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v);
    while (n) *p_++ = buf[--n];
  }
  void Digits(uint64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) {
      p_[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    p_ += width;
  }
  void Hex(uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) *p_++ = kHex[(v >> (4 * i)) & 15];
  }

 private:
  char* p_;
};

namespace {

// "YYYY-MM-DDTHH:MM:SS" of a second since the epoch (19 characters).
void FormatSecond(int64_t secs, char* out) {
  int64_t days = secs / 86400, sod = secs % 86400;
  // civil_from_days (H. Hinnant)
  int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  Writer w(out);
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
}

}  // namespace

// RFC 3339 UTC with 6 fractional digits. Consecutive records fall in the same second, so the
// date and time of day are formatted once per second (per slot: start and end times).
void RecordGenerator::WriteTime(Writer& w, int slot, int64_t unix_us) const {
  const int64_t secs = unix_us / 1'000'000, us = unix_us % 1'000'000;
  TimeCache& c = time_cache_[slot];
  if (c.secs != secs) {
    FormatSecond(secs, c.text);
    c.secs = secs;
  }
  w.Char('"');
  w.Raw(std::string_view(c.text, sizeof(c.text)));
  w.Char('.');
  w.Digits(us, 6);
  w.Raw("Z\"");
}

RecordGenerator::RecordGenerator(uint64_t seed, std::string id_prefix, bool underscore_keys)
  : seed_(seed), id_prefix_(std::move(id_prefix)), underscore_(underscore_keys) {
  prefix_hash_ = SplitMix(seed_ ^ std::hash<std::string>{}(id_prefix_));
}

void RecordGenerator::Append(uint64_t i, std::string* out) const {
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

  char buf[kMaxRecordBytes];
  Writer w(buf);
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
  WriteTime(w, 0, start_us);
  w.Raw(",\"time\":");
  WriteTime(w, 1, end_us);
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
  out->append(buf, static_cast<size_t>(w.end() - buf));
}

void RecordGenerator::Body(uint64_t first, uint64_t n, bool array, std::string* out) const {
  out->clear();
  out->reserve(n * 640);
  if (array) out->push_back('[');
  for (uint64_t k = 0; k < n; ++k) {
    if (array && k) out->push_back(',');
    Append(first + k, out);
    if (!array) out->push_back('\n');
  }
  if (array) out->push_back(']');
}

void RecordGenerator::Key(Writer& w, std::string_view dotted) const {
  if (!underscore_) return w.Raw(dotted);
  for (char c : dotted) w.Char(c == '.' ? '_' : c);
}

}  // namespace tokenaudit::bench
