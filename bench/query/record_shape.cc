#include "bench/query/record_shape.h"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace tokenaudit::bench {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

double Unit(uint64_t r) { return static_cast<double>(r >> 11) * 0x1.0p-53; }

struct Model {
  const char* name;
  const char* task_type;
  const char* node_type;
  double weight;
  double base_ms;     // fixed cost of a run at model_input_size 512
  double ms_per_mp;   // pre/post-processing per megapixel of input
  double gflops_512;  // per image at model_input_size 512
};
constexpr Model kModels[] = {
    {"ddcolor_paper_tiny", "image_colorization", "DDColor", 0.38, 90, 35, 27.0},
    {"ddcolor_modelscope", "image_colorization", "DDColor", 0.22, 160, 70, 110.0},
    {"ddcolor_artistic", "image_colorization", "DDColor", 0.14, 170, 75, 110.0},
    {"ddcolor_paper", "image_colorization", "DDColor", 0.14, 160, 70, 110.0},
    {"realesrgan_x4plus", "image_upscaling", "ImageUpscaleWithModel", 0.12, 300, 900, 290.0},
};
constexpr const char* kWorkflows[] = {"DDColor人物黑白修复",   "portrait_restore_v2",
                                      "building_restore",       "archive_batch_colorize",
                                      "newspaper_scans_1950s",  "family_album",
                                      "film_frames_4k",         "upscale_then_colorize"};
constexpr double kWorkflowWeights[] = {0.30, 0.18, 0.14, 0.12, 0.09, 0.08, 0.05, 0.04};
constexpr const char* kSources[] = {"comfyui-gateway/eu1", "comfyui-gateway/eu2",
                                    "comfyui-gateway/us1"};
constexpr const char* kTenants[] = {"city-archive", "city-archive", "film-museum", "press-lab"};
constexpr const char* kErrors[] = {"torch.cuda.OutOfMemoryError", "ValueError", "TimeoutError"};
constexpr double kAspects[] = {1.0, 4.0 / 3, 3.0 / 2, 16.0 / 9, 3.0 / 4, 2.0 / 3, 4.0 / 5};
constexpr char kHex[] = "0123456789abcdef";
constexpr char kBase64Url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

template <size_t N>
size_t Pick(const double (&weights)[N], double u) {
  for (size_t k = 0; k < N; ++k) {
    if (u < weights[k]) return k;
    u -= weights[k];
  }
  return N - 1;
}

size_t PickModel(double u) {
  for (size_t k = 0; k < std::size(kModels); ++k) {
    if (u < kModels[k].weight) return k;
    u -= kModels[k].weight;
  }
  return std::size(kModels) - 1;
}

void AppendHex(std::string* out, uint64_t v, int digits) {
  for (int k = digits - 1; k >= 0; --k) out->push_back(kHex[(v >> (4 * k)) & 15]);
}

}  // namespace

RecordShape::RecordShape(uint64_t seed, uint64_t total_records)
    : seed_(seed), total_(std::max<uint64_t>(total_records, 1)) {
  zipf_cdf_.resize(kUsers);
  double sum = 0;
  for (int k = 0; k < kUsers; ++k) sum += 1.0 / std::pow(k + 1, kZipfExponent);
  double acc = 0;
  for (int k = 0; k < kUsers; ++k) {
    acc += 1.0 / std::pow(k + 1, kZipfExponent) / sum;
    zipf_cdf_[k] = acc;
  }
}

std::string RecordShape::UserPseudonym(int rank) const {
  std::string s = "u_";
  uint64_t a = SplitMix(seed_ ^ (0x5eed0000ull + static_cast<uint64_t>(rank)));
  uint64_t b = SplitMix(a);
  for (int k = 0; k < 11; ++k) s.push_back(kBase64Url[(a >> (6 * k)) & 63]);
  for (int k = 0; k < 11; ++k) s.push_back(kBase64Url[(b >> (6 * k)) & 63]);
  return s;
}

void RecordShape::Make(uint64_t i, UsageRecord* r) const {
  const uint64_t r0 = SplitMix(seed_ * 0x100000001b3ull + i);
  const uint64_t r1 = SplitMix(r0), r2 = SplitMix(r1), r3 = SplitMix(r2), r4 = SplitMix(r3);
  const uint64_t r5 = SplitMix(r4), r6 = SplitMix(r5), r7 = SplitMix(r6);

  const int rank = static_cast<int>(
      std::lower_bound(zipf_cdf_.begin(), zipf_cdf_.end(), Unit(r0)) - zipf_cdf_.begin()) + 1;
  const Model& model = kModels[PickModel(Unit(r1))];
  const char* workflow = kWorkflows[Pick(kWorkflowWeights, Unit(r2))];

  // Megapixels: log-scaled from 0.1 to 24 MP, most inputs small (median ~0.6 MP).
  const double mp_target = 0.1 * std::pow(240.0, std::pow(Unit(r3), 1.6));
  const double aspect = kAspects[(r3 >> 5) % std::size(kAspects)];
  int64_t w = std::max<int64_t>(1, std::llround(std::sqrt(mp_target * 1e6 * aspect)));
  int64_t h = std::max<int64_t>(1, std::llround(mp_target * 1e6 / static_cast<double>(w)));
  while (w * h > 24'000'000) --h;
  while (w * h < 100'000) ++h;
  const double mp = static_cast<double>(w * h) / 1e6;

  const uint64_t mis_roll = (r4 >> 3) % 10;
  const int64_t mis = mis_roll < 6 ? 512 : mis_roll < 8 ? 256 : 1024;
  const int64_t batch = (r4 >> 12) % 25 == 0 ? 2 + static_cast<int64_t>((r4 >> 20) % 3) : 1;
  const uint64_t dev_roll = (r4 >> 28) % 100;
  const char* device = dev_roll < 62 ? "cuda" : dev_roll < 90 ? "cuda:1" : dev_roll < 94 ? "mps"
                                                                                        : "cpu";
  const double dev_factor = dev_roll < 62 ? 1.0 : dev_roll < 90 ? 1.15 : dev_roll < 94 ? 3.0 : 9.0;
  const double mis_factor = mis == 256 ? 0.55 : mis == 512 ? 1.0 : 2.8;

  const uint64_t st = (r5 >> 7) % 1000;
  const char* status = st < 950   ? "success"
                       : st < 970 ? "error"
                       : st < 990 ? "cached"
                       : st < 997 ? "interrupted"
                                  : "rejected";
  // Durations grow with megapixels; log-normal noise (sigma 0.2) from Box-Muller.
  const double z =
      std::sqrt(-2.0 * std::log(1.0 - Unit(r6))) * std::cos(2 * 3.141592653589793 * Unit(r7));
  double dur = (model.base_ms * mis_factor + model.ms_per_mp * mp) * static_cast<double>(batch) *
               dev_factor * std::exp(0.2 * z);
  if (st >= 950 && st < 970) dur *= 0.3 + 0.7 * Unit(r5 >> 1);  // failed part-way
  if (st >= 970 && st < 990) dur = 2 + static_cast<double>((r5 >> 20) % 28);  // cache hit
  if (st >= 990 && st < 997) dur *= Unit(r7 >> 3);                           // interrupted
  if (st >= 997) dur = static_cast<double>((r5 >> 20) % 5);                  // refused early
  const int64_t duration_ms = std::llround(dur);

  const int64_t span_us = int64_t{kSpanDays} * 86400 * 1'000'000;
  const int64_t step_us = std::max<int64_t>(1, span_us / static_cast<int64_t>(total_));
  const int64_t time_us = kBaseUnixSeconds * 1'000'000 +
                          static_cast<int64_t>(i) * step_us +
                          static_cast<int64_t>((r6 >> 8) % static_cast<uint64_t>(step_us));

  *r = UsageRecord{};
  r->id = "q";
  AppendHex(&r->id, seed_, 4);
  r->id.push_back('-');
  AppendHex(&r->id, i, 12);
  r->source = kSources[(r5 >> 30) % std::size(kSources)];
  r->tenant = kTenants[SplitMix(static_cast<uint64_t>(rank)) % std::size(kTenants)];
  r->user = UserPseudonym(rank);
  r->time_us = time_us;
  r->start_time_us = time_us - duration_ms * 1000;
  r->duration_ms = duration_ms;
  r->task_type = model.task_type;
  r->workflow = workflow;
  r->workflow_hash = "wf_";
  AppendHex(&r->workflow_hash, SplitMix(std::hash<std::string_view>{}(workflow)), 16);
  r->node_id = std::to_string(2 + (r2 >> 40) % 12);
  r->node_type = model.node_type;
  r->model = model.name;
  r->device = device;
  r->input_width = w;
  r->input_height = h;
  r->input_batch = batch;
  r->input_model_input_size = mis;
  // 3% are resubmissions: the same user's same input within a few hundred records.
  const uint64_t input_key = (r5 >> 40) % 100 < 3
                                 ? SplitMix(0xd00d ^ static_cast<uint64_t>(rank) << 20 ^ i / 4096)
                                 : r7;
  r->input_hash = "sha256:";
  uint64_t x = input_key;
  for (int k = 0; k < 4; ++k) {
    x = SplitMix(x);
    AppendHex(&r->input_hash, x, 16);
  }
  r->estimated_tokens_milli = w * h * batch;
  const double gflops = model.gflops_512 * (static_cast<double>(mis) / 512) *
                        (static_cast<double>(mis) / 512) * static_cast<double>(batch);
  r->gflops_milli = std::llround(gflops * 1000);
  r->cost_micros = 20 + *r->gflops_milli / 50;
  r->price_version = "2026-11-01";
  r->status = status;
  if (st >= 950 && st < 970) r->error_type = kErrors[(r6 >> 50) % std::size(kErrors)];
  r->capture = "gateway";
}

}  // namespace tokenaudit::bench
