// GET /v1/usage and GET /v1/top parameters (doc/query_api.md) -> UsageQuery, with errors that
// name the offending parameter.

#ifndef TOKENAUDIT_QUERY_USAGE_PARAMS_H_
#define TOKENAUDIT_QUERY_USAGE_PARAMS_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/query/time_zone.h"
#include "src/query/usage_json.h"
#include "src/query/usage_query.h"
#include "tokenaudit/result.h"

namespace tokenaudit::query {

enum class Endpoint { kUsage, kTop, kDuplicates, kAnomalies };

struct ParamError {
  std::string field;
  std::string message;
};

struct ParsedParams {
  UsageQuery query;
  OutputFormat format = OutputFormat::kJson;
  std::shared_ptr<const TimeZone> zone;  // set when grouping by time
  Granularity window = Granularity::kDay;
  // kDuplicates: runs closer than this are repeats (`within`, seconds; default 1 h).
  int64_t within_us = 3'600'000'000;
  // kAnomalies: |z| at or above this is extreme (`threshold`, default 3); users with fewer
  // records than `min_history` (default 20) are judged against everyone only.
  double threshold = 3.0;
  uint64_t min_history = 20;
};

struct ParamContext {
  // A time zone by name ("UTC", "+02:00", "Europe/Berlin").
  std::function<Result<std::shared_ptr<const TimeZone>>(std::string_view)> zone;
  // The stored form of a `user` filter value: a raw name becomes its pseudonym; values for which
  // `is_pseudonym` holds are taken as they are.
  std::function<std::string(std::string_view)> user_pseudonym;
  std::function<bool(std::string_view)> is_pseudonym;
};

// False and *error set on the first bad parameter.
bool ParseUsageParams(const std::vector<std::pair<std::string, std::string>>& params,
                      Endpoint endpoint, const ParamContext& ctx, ParsedParams* out,
                      ParamError* error);

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_USAGE_PARAMS_H_
