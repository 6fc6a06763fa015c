// The columns the query engine keeps for every usage record, and the dimensions a query can
// group and filter by (doc/query_api.md). A record becomes one row of int64 cells: numbers as
// they are, strings as codes of a per-dimension Dictionary (0 = absent), absent numbers as 0.

#ifndef TOKENAUDIT_QUERY_USAGE_COLUMNS_H_
#define TOKENAUDIT_QUERY_USAGE_COLUMNS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tokenaudit::query {

enum Col : uint8_t {
  // Dictionary-coded strings first, in Dim order.
  kTenant,
  kUser,
  kModel,
  kWorkflow,
  kTaskType,
  kStatus,
  kNodeType,
  kDevice,
  // Numbers.
  kSeq,
  kTime,          // end time, unix microseconds
  kDuration,      // milliseconds; -1 when absent
  kTokensMilli,   // usage.estimated_tokens_milli
  kGflopsMilli,   // usage.gflops in thousandths
  kCostMicros,    // cost_micros
  kWidth,         // input.width
  kHeight,        // input.height
  kBatch,         // input.batch
  kModelInputSize,
  kInputHash,     // first 8 bytes of input.hash's digest, 0 when absent
  kParamHash,     // fingerprint of the run's parameters (duplicate detection)
  kNumCols
};
inline constexpr int kNumStringCols = kDevice + 1;

// What a query can group or filter by.
enum class Dim : uint8_t {
  kTenant,
  kUser,
  kModel,
  kWorkflow,
  kTaskType,
  kStatus,
  kNodeType,
  kDevice,
  kResolution,      // megapixel bucket of width*height (step chosen per query)
  kModelInputSize,  // input.model_input_size
  kTime,            // time window (granularity and time zone chosen per query)
};
inline constexpr int kNumDims = static_cast<int>(Dim::kTime) + 1;

// "user", "model", ..., as the HTTP API names them.
std::string_view DimName(Dim d);
std::optional<Dim> ParseDim(std::string_view name);
// The string column of a dictionary-coded dimension.
inline bool IsStringDim(Dim d) { return static_cast<int>(d) < kNumStringCols; }
inline Col StringCol(Dim d) { return static_cast<Col>(d); }

// A row being built (the tail keeps these column by column).
using Row = std::array<int64_t, kNumCols>;

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_USAGE_COLUMNS_H_
