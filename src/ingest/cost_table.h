// The versioned price and cost-model table: how many GFLOPs a model call costs and what it is
// charged, in integer micro-units of the tenant currency. Loaded from the config's [pricing]
// section (doc/config.md); the defaults cover the DDColor checkpoints.
//
// Image models: gflops = gflops_at_512 × (model_input_size / 512)^exponent × batch, the fit of
// ../shared/reference/comfyui/protocol.md §6.2 (measured at 256 and 512). Text models: per 1,000
// input and output tokens. Every model may also charge per call.

#ifndef TOKENAUDIT_INGEST_COST_TABLE_H_
#define TOKENAUDIT_INGEST_COST_TABLE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "tokenaudit/usage_record.h"

namespace tokenaudit::ingest {

struct ModelCost {
  std::string name;                      // as in gen_ai.request.model, without ".pth"
  int64_t gflops_at_512_milli = 0;       // 0: not an image model
  int64_t exponent_milli = 2000;         // 2.0 = quadratic in the input side
  int64_t default_input_size = 512;      // when the record has no model_input_size
  int64_t micros_per_tflop = 0;          // price of compute
  int64_t micros_per_1k_input_tokens = 0;
  int64_t micros_per_1k_output_tokens = 0;
  int64_t micros_per_call = 0;
};

class CostTable {
 public:
  // The built-in table (version "builtin-2026-11"): DDColor tiny and large checkpoints.
  static CostTable Default();

  void set_version(std::string v) { version_ = std::move(v); }
  const std::string& version() const { return version_; }
  void Add(ModelCost m);
  // The entry for `model` (a trailing ".pth" / ".safetensors" is ignored), or nullptr.
  const ModelCost* Find(std::string_view model) const;
  size_t size() const { return models_.size(); }

  // Fills record->gflops_milli (image models), cost_micros and price_version from the table when
  // the model is known; leaves them unset otherwise. Never overflows: results saturate.
  void Apply(UsageRecord* record) const;

 private:
  std::string version_ = "builtin-2026-11";
  std::map<std::string, ModelCost, std::less<>> models_;
};

// The seed estimator: width × height / 1000 tokens per image, × batch, as integer milli-tokens
// (= width × height × batch). Unset when width or height is missing.
std::optional<int64_t> EstimateTokensMilli(const UsageRecord& record);

}  // namespace tokenaudit::ingest

#endif  // TOKENAUDIT_INGEST_COST_TABLE_H_
