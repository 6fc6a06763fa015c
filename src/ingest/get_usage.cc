// GET /v1/usage, /v1/top, /v1/duplicates and /v1/anomalies: answers from the query engine
// (doc/http_api.md). A user key sees only its own usage; reads by admins and auditors are
// recorded in the log first, like GET /v1/events.

#include "src/ingest/service.h"
#include "src/query/time_zone_database.h"
#include "src/query/usage_json.h"
#include "src/query/usage_params.h"

namespace tokenaudit::ingest {

using http::ErrorResponse;
using http::HttpResponse;

void Service::GetUsage(const auth::Principal& who, const http::HttpRequest& req,
                       query::Endpoint endpoint, http::Responder respond) {
  query::ParamContext ctx;
  ctx.zone = [](std::string_view name) {
    return query::TimeZoneDatabase::Default()->Get(name);
  };
  ctx.user_pseudonym = [this](std::string_view raw) {
    return pseudonymizer_->UserPseudonym(raw);
  };
  ctx.is_pseudonym = auth::IsUserPseudonym;
  query::ParsedParams parsed;
  query::ParamError err;
  if (!query::ParseUsageParams(req.query, endpoint, ctx, &parsed, &err)) {
    respond(ErrorResponse(400, "invalid_format", err.message, err.field));
    return;
  }
  query::UsageQuery& q = parsed.query;
  // Scope: a user key is pinned to its own pseudonym, a tenant-bound key to its tenant.
  auto pin = [&](query::Dim dim, const std::string& value, std::string_view why) {
    for (const query::Filter& f : q.filters) {
      if (f.dim != dim) continue;
      for (const std::string& v : f.values) {
        if (v != value) {
          respond(ErrorResponse(403, "forbidden", why, query::DimName(dim)));
          return false;
        }
      }
    }
    std::erase_if(q.filters, [dim](const query::Filter& f) { return f.dim == dim; });
    q.filters.push_back({dim, {value}});
    return true;
  };
  if (who.role == auth::Role::kUser &&
      !pin(query::Dim::kUser, who.user_pseudonym, "user keys read only their own usage")) {
    return;
  }
  if (!who.tenant.empty() &&
      !pin(query::Dim::kTenant, who.tenant, "this key reads only its own tenant")) {
    return;
  }

  HttpResponse resp;
  uint64_t result_count = 0;
  if (endpoint == query::Endpoint::kDuplicates || endpoint == query::Endpoint::kAnomalies) {
    const query::FindingScope scope{q.filters, q.from_us, q.to_us};
    const size_t limit = q.limit > 0 ? q.limit : 100;
    if (endpoint == query::Endpoint::kDuplicates) {
      auto found = query::FindDuplicates(usage_, scope, parsed.within_us, limit);
      if (!found.ok()) return respond(ErrorResponse(500, "internal", found.status().ToString()));
      resp.body = query::EncodeDuplicatesJson(*found);
      result_count = found->size();
    } else {
      auto found =
          query::FindAnomalies(usage_, scope, parsed.threshold, parsed.min_history, limit);
      if (!found.ok()) return respond(ErrorResponse(500, "internal", found.status().ToString()));
      resp.body = query::EncodeAnomaliesJson(*found);
      result_count = found->size();
    }
  } else {
    Result<query::UsageAnswer> answer = query::RunUsageQuery(usage_, q);
    if (!answer.ok()) {
      respond(ErrorResponse(500, "internal", answer.status().ToString()));
      return;
    }
    result_count = answer->groups.size();
    resp.body = query::EncodeUsage(parsed.format, q, *answer);
    resp.content_type = query::ContentType(parsed.format);
  }
  if (who.role == auth::Role::kUser) {
    respond(std::move(resp));
    return;
  }
  // Aggregates over other people's records are reads of them: recorded first. The target holds
  // only what the caller sent (raw user names are pseudonymised in the filters, not here), so
  // record the parsed filters instead.
  std::string what = "GET " + std::string(req.path) + "?";
  for (const query::Filter& f : q.filters) {
    for (const std::string& v : f.values) what += std::string(query::DimName(f.dim)) + "=" + v + "&";
  }
  for (query::Dim d : q.group_by) what += "group_by=" + std::string(query::DimName(d)) + "&";
  if (q.from_us) what += "from=" + std::to_string(*q.from_us) + "&";
  if (q.to_us) what += "to=" + std::to_string(*q.to_us) + "&";
  what.pop_back();
  auto shared = std::make_shared<HttpResponse>(std::move(resp));
  AuditRead(who, what, result_count, respond,
            [respond, shared] { respond(std::move(*shared)); });
}

}  // namespace tokenaudit::ingest
