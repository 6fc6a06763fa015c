// Fuzzes what the read API makes of a request target, all of it from HTTP clients: the path's and
// the query's percent-decoding, the query parameters of /v1/usage, /v1/top, /v1/duplicates and
// /v1/anomalies (time zones by name included), and an API key's syntax and checksum. Input: the
// target as received ("/v1/usage?group_by=user&tz=Europe/Berlin"). Invariants, trapped when
// broken:
//   - a refused parameter list comes with a message;
//   - an accepted /v1/top query groups by its `by` dimension, then by time only when a window
//     was asked for;
//   - a key ParseKey accepts has the fixed length and its checksum re-computes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/auth/api_key.h"
#include "src/auth/pseudonymizer.h"
#include "src/http/http_message.h"
#include "src/query/time_zone_database.h"
#include "src/query/usage_params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tokenaudit;
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  const size_t q = target.find('?');
  const std::string path = http::PercentDecode(target.substr(0, q), false);
  const auto params =
      http::ParseQuery(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
  (void)path;

  query::ParamContext ctx;
  ctx.zone = [](std::string_view name) { return query::TimeZoneDatabase::Default()->Get(name); };
  ctx.user_pseudonym = [](std::string_view raw) { return "u_" + std::to_string(raw.size()); };
  ctx.is_pseudonym = auth::IsUserPseudonym;
  for (query::Endpoint e : {query::Endpoint::kUsage, query::Endpoint::kTop,
                            query::Endpoint::kDuplicates, query::Endpoint::kAnomalies}) {
    query::ParsedParams parsed;
    query::ParamError err;
    if (!query::ParseUsageParams(params, e, ctx, &parsed, &err)) {
      if (err.message.empty()) __builtin_trap();
    } else if (e == query::Endpoint::kTop) {
      const auto& g = parsed.query.group_by;
      if (g.empty() || g.size() > 2 || g[0] == query::Dim::kTime) __builtin_trap();
      if (g.size() == 2 && g[1] != query::Dim::kTime) __builtin_trap();
    }
  }

  for (const auto& [k, v] : params) {
    auto key = auth::ParseKey(v);
    if (!key.ok()) continue;
    if (v.size() != auth::kKeyLength) __builtin_trap();
    if (auth::KeyChecksum("ta_" + key->random_part) != key->checksum) {
      __builtin_trap();
    }
  }
  return 0;
}
