// The JSON body of GET /v1/usage and GET /v1/top, and the table/CSV forms of `tokenaudit query`
// (doc/query_api.md).

#ifndef TOKENAUDIT_QUERY_USAGE_JSON_H_
#define TOKENAUDIT_QUERY_USAGE_JSON_H_

#include <string>
#include <vector>

#include "src/query/usage_findings.h"
#include "src/query/usage_query.h"

namespace tokenaudit::query {

enum class OutputFormat { kJson, kCsv, kTable };

// The answer in `format`, and its HTTP content type.
std::string EncodeUsage(OutputFormat format, const UsageQuery& q, const UsageAnswer& a);
std::string_view ContentType(OutputFormat format);

// The measures the answer shows: q.measures, or all of them.
std::vector<Measure> ShownMeasures(const UsageQuery& q);

// {"groups":[{<dim>:<key>,...,<measure>:<value>,...}],"rows_scanned":N}. Keys: strings for
// string dimensions (null when absent), "resolution_mp" as the bucket's lower bound in MP,
// "model_input_size" as a number (null when absent), "time" as the window start in RFC 3339 UTC.
// Sums are exact decimals: tokens and gflops with three decimals, cost_micros an integer.
std::string EncodeUsageJson(const UsageQuery& q, const UsageAnswer& a);

// One line per group, header first: CSV (RFC 4180 quoting) or an aligned text table.
std::string EncodeUsageCsv(const UsageQuery& q, const UsageAnswer& a);
std::string EncodeUsageTable(const UsageQuery& q, const UsageAnswer& a);

// GET /v1/duplicates: {"clusters":[{"user","model","input_hash_prefix","runs","first_time",
// "last_time","repeat_tokens","repeat_cost_micros","seqs":[...]}]}.
std::string EncodeDuplicatesJson(const std::vector<DuplicateCluster>& clusters);
// GET /v1/anomalies: {"users":[{"user","records","extreme","most_extreme":{"seq","model",
// "feature","value","z_user","z_all"}}]}.
std::string EncodeAnomaliesJson(const std::vector<Anomaly>& anomalies);

}  // namespace tokenaudit::query

#endif  // TOKENAUDIT_QUERY_USAGE_JSON_H_
