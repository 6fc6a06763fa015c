#include "src/query/usage_columns.h"

namespace tokenaudit::query {
namespace {

constexpr std::string_view kDimNames[kNumDims] = {
    "tenant", "user",   "model",      "workflow",         "task_type", "status",
    "node_type", "device", "resolution", "model_input_size", "time"};

}  // namespace

std::string_view DimName(Dim d) { return kDimNames[static_cast<int>(d)]; }

std::optional<Dim> ParseDim(std::string_view name) {
  for (int i = 0; i < kNumDims; ++i) {
    if (kDimNames[i] == name) return static_cast<Dim>(i);
  }
  return std::nullopt;
}

}  // namespace tokenaudit::query
