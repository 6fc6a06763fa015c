#include "src/ingest/cost_table.h"

#include <cmath>
#include <limits>

namespace tokenaudit::ingest {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 4;

int64_t SatMul(int64_t a, int64_t b) {
  if (a == 0 || b == 0) return 0;
  if (a > kMax / b) return kMax;
  return a * b;
}

std::string_view StripExtension(std::string_view model) {
  for (std::string_view ext : {".pth", ".safetensors", ".pt", ".ckpt"}) {
    if (model.size() > ext.size() && model.substr(model.size() - ext.size()) == ext) {
      return model.substr(0, model.size() - ext.size());
    }
  }
  return model;
}

}  // namespace

CostTable CostTable::Default() {
  CostTable t;
  // protocol.md §6.2: GFLOPs @256 / @512 measured per variant; exponent = log2(g512 / g256).
  ModelCost tiny{"ddcolor_paper_tiny", 193'100, 1'941, 512, 50'000, 0, 0, 0};
  t.Add(tiny);
  for (const char* large : {"ddcolor_paper", "ddcolor_modelscope", "ddcolor_artistic"}) {
    t.Add(ModelCost{large, 524'500, 1'977, 512, 50'000, 0, 0, 0});
  }
  return t;
}

void CostTable::Add(ModelCost m) {
  std::string key(StripExtension(m.name));
  m.name = key;
  models_[key] = std::move(m);
}

const ModelCost* CostTable::Find(std::string_view model) const {
  auto it = models_.find(StripExtension(model));
  return it == models_.end() ? nullptr : &it->second;
}

void CostTable::Apply(UsageRecord* r) const {
  const ModelCost* m = Find(r->model);
  if (m == nullptr) return;
  int64_t batch = r->input_batch.value_or(1);
  int64_t cost = SatMul(m->micros_per_call, batch);
  if (m->gflops_at_512_milli > 0) {
    double side = static_cast<double>(r->input_model_input_size.value_or(m->default_input_size));
    double scale = std::pow(side / 512.0, static_cast<double>(m->exponent_milli) / 1000.0);
    double gflops_milli = static_cast<double>(m->gflops_at_512_milli) * scale *
                          static_cast<double>(batch);
    int64_t g = gflops_milli >= static_cast<double>(kMax) ? kMax
                                                           : std::llround(gflops_milli);
    r->gflops_milli = g;
    // price per TFLOP: g milli-GFLOPs = g / 1e6 TFLOPs.
    cost += SatMul(g, m->micros_per_tflop) / 1'000'000;
  }
  if (r->input_tokens) cost += SatMul(*r->input_tokens, m->micros_per_1k_input_tokens) / 1000;
  if (r->output_tokens) cost += SatMul(*r->output_tokens, m->micros_per_1k_output_tokens) / 1000;
  r->cost_micros = std::min(cost, kMax);
  r->price_version = version_;
}

std::optional<int64_t> EstimateTokensMilli(const UsageRecord& r) {
  if (!r.input_width || !r.input_height) return std::nullopt;
  return SatMul(SatMul(*r.input_width, *r.input_height), r.input_batch.value_or(1));
}

}  // namespace tokenaudit::ingest
