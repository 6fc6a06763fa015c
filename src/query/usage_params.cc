#include "src/query/usage_params.h"

#include <algorithm>

#include "src/record/rfc3339.h"
#include "src/util/parse_number.h"

namespace tokenaudit::query {
namespace {

constexpr size_t kMaxLimit = 100'000;

std::vector<std::string_view> SplitComma(std::string_view s) {
  std::vector<std::string_view> parts;
  while (true) {
    size_t comma = s.find(',');
    parts.push_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return parts;
}

// "0.25" -> 250 (thousandths); false unless 0 < value <= 1000 (0 <= value with `allow_zero`)
// with at most three decimals.
bool ParseMilli(std::string_view s, int64_t* out, bool allow_zero = false) {
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : s.substr(dot + 1);
  if (whole.empty() || frac.size() > 3 || (dot != std::string_view::npos && frac.empty())) {
    return false;
  }
  uint64_t w = 0, f = 0;
  if (!ParseDecimalU64(whole, &w) || w > 1000) return false;
  if (!frac.empty()) {
    if (!ParseDecimalU64(frac, &f)) return false;
    for (size_t i = frac.size(); i < 3; ++i) f *= 10;
  }
  *out = static_cast<int64_t>(w * 1000 + f);
  return (*out > 0 || allow_zero) && *out <= 1'000'000;
}

bool IsAggregate(Endpoint e) { return e == Endpoint::kUsage || e == Endpoint::kTop; }

}  // namespace

bool ParseUsageParams(const std::vector<std::pair<std::string, std::string>>& params,
                      Endpoint endpoint, const ParamContext& ctx, ParsedParams* out,
                      ParamError* error) {
  auto fail = [error](std::string field, std::string message) {
    *error = {std::move(field), std::move(message)};
    return false;
  };
  UsageQuery& q = out->query;
  std::string tz_name = "UTC";
  std::optional<Granularity> window;
  std::optional<Dim> top_by;
  Measure top_measure = Measure::kTokens;
  size_t top_k = 10;
  bool seen_limit = false;

  for (const auto& [k, v] : params) {
    if (k == "group_by" && endpoint == Endpoint::kUsage) {
      for (std::string_view name : SplitComma(v)) {
        std::optional<Dim> d = ParseDim(name);
        if (!d) return fail(k, "unknown dimension '" + std::string(name) + "'");
        if (std::find(q.group_by.begin(), q.group_by.end(), *d) != q.group_by.end()) {
          return fail(k, "dimension '" + std::string(name) + "' given twice");
        }
        q.group_by.push_back(*d);
      }
    } else if (k == "by" && endpoint == Endpoint::kTop) {
      top_by = ParseDim(v);
      if (!top_by || *top_by == Dim::kTime) {
        return fail(k, "by must be a dimension other than time (user, model, workflow, ...)");
      }
    } else if (k == "measure" && endpoint == Endpoint::kTop) {
      std::optional<Measure> m = ParseMeasure(v);
      if (!m) return fail(k, "unknown measure '" + v + "'");
      top_measure = *m;
    } else if (k == "k" && endpoint == Endpoint::kTop) {
      uint64_t n = 0;
      if (!ParseDecimalU64(v, &n) || n == 0 || n > 1000) return fail(k, "k must be 1..1000");
      top_k = n;
    } else if (k == "measures" && IsAggregate(endpoint)) {
      for (std::string_view name : SplitComma(v)) {
        std::optional<Measure> m = ParseMeasure(name);
        if (!m) return fail(k, "unknown measure '" + std::string(name) + "'");
        if (std::find(q.measures.begin(), q.measures.end(), *m) == q.measures.end()) {
          q.measures.push_back(*m);
        }
      }
    } else if (k == "window" && IsAggregate(endpoint)) {
      Result<Granularity> g = ParseGranularity(v);
      if (!g.ok()) return fail(k, "window must be minute, hour, day, week or month");
      window = *g;
    } else if (k == "tz" && IsAggregate(endpoint)) {
      tz_name = v;
    } else if (k == "from" || k == "to") {
      int64_t t = 0;
      if (record::ParseRfc3339Micros(v, &t) != record::TimeParse::kOk) {
        return fail(k, k + " must be an RFC 3339 time, e.g. 2026-11-30T00:00:00Z");
      }
      (k == "from" ? q.from_us : q.to_us) = t;
    } else if (k == "resolution_step" && IsAggregate(endpoint)) {
      if (!ParseMilli(v, &q.resolution_step_milli_mp)) {
        return fail(k, "resolution_step must be megapixels in (0, 1000], at most 3 decimals");
      }
    } else if (k == "order_by" && endpoint == Endpoint::kUsage) {
      q.order_by = ParseMeasure(v);
      if (!q.order_by) return fail(k, "unknown measure '" + v + "'");
    } else if (k == "order" && IsAggregate(endpoint)) {
      if (v != "asc" && v != "desc") return fail(k, "order must be asc or desc");
      q.descending = v == "desc";
    } else if (k == "limit" && endpoint != Endpoint::kTop) {
      uint64_t n = 0;
      if (!ParseDecimalU64(v, &n) || n == 0 || n > kMaxLimit) {
        return fail(k, "limit must be 1.." + std::to_string(kMaxLimit));
      }
      q.limit = n;
      seen_limit = true;
    } else if (k == "within" && endpoint == Endpoint::kDuplicates) {
      uint64_t n = 0;
      if (!ParseDecimalU64(v, &n) || n == 0 || n > 366ull * 86400) {
        return fail(k, "within must be seconds in 1..31622400");
      }
      out->within_us = static_cast<int64_t>(n) * 1'000'000;
    } else if (k == "threshold" && endpoint == Endpoint::kAnomalies) {
      int64_t milli = 0;
      if (!ParseMilli(v, &milli) || milli > 100'000) {
        return fail(k, "threshold must be a z-score in (0, 100], at most 3 decimals");
      }
      out->threshold = static_cast<double>(milli) / 1000;
    } else if (k == "min_history" && endpoint == Endpoint::kAnomalies) {
      if (!ParseDecimalU64(v, &out->min_history) || out->min_history > 1'000'000'000) {
        return fail(k, "min_history must be a count of records");
      }
    } else if (k == "format" && IsAggregate(endpoint)) {
      if (v == "json") {
        out->format = OutputFormat::kJson;
      } else if (v == "csv") {
        out->format = OutputFormat::kCsv;
      } else if (v == "table") {
        out->format = OutputFormat::kTable;
      } else {
        return fail(k, "format must be json, csv or table");
      }
    } else if (std::optional<Dim> d = ParseDim(k); d && *d != Dim::kTime) {
      // A filter: repeated parameters are alternatives.
      std::string value = v;
      if (*d == Dim::kUser && !value.empty() && !ctx.is_pseudonym(value)) {
        value = ctx.user_pseudonym(value);  // never matched or kept raw
      }
      if (*d == Dim::kResolution || *d == Dim::kModelInputSize) {
        int64_t milli = 0;
        if (*d == Dim::kResolution) {
          if (!ParseMilli(v, &milli, /*allow_zero=*/true)) {
            return fail(k, "resolution is a bucket's lower bound in MP, e.g. 0, 1.5");
          }
          value = std::to_string(milli);
        } else if (uint64_t n = 0; !ParseDecimalU64(v, &n)) {
          return fail(k, "model_input_size must be a whole number");
        }
      }
      auto it = std::find_if(q.filters.begin(), q.filters.end(),
                             [&](const Filter& f) { return f.dim == *d; });
      if (it == q.filters.end()) {
        q.filters.push_back({*d, {value}});
      } else {
        it->values.push_back(value);
      }
    } else {
      return fail(k, "unknown query parameter");
    }
  }

  if (endpoint == Endpoint::kTop) {
    if (!top_by) return fail("by", "by is required (user, model, workflow, ...)");
    q.group_by = {*top_by};
    q.order_by = top_measure;
    q.limit = top_k;
  } else if (q.order_by && !seen_limit) {
    q.limit = 0;
  }
  if (q.from_us && q.to_us && *q.from_us >= *q.to_us) return fail("to", "to must be after from");

  const bool by_time =
      std::find(q.group_by.begin(), q.group_by.end(), Dim::kTime) != q.group_by.end();
  if (window && !by_time) q.group_by.push_back(Dim::kTime);
  if (by_time || window) {
    Result<std::shared_ptr<const TimeZone>> zone = ctx.zone(tz_name);
    if (!zone.ok()) return fail("tz", std::string(zone.status().message()));
    out->zone = *zone;
    out->window = window.value_or(Granularity::kDay);
    q.window = [z = out->zone, g = out->window](int64_t t) {
      return UsageQuery::Window{z->Truncate(t, g), z->Next(t, g)};
    };
  }
  return true;
}

}  // namespace tokenaudit::query
