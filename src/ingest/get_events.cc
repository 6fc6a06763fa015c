// GET /v1/events: filtered, cursor-paginated reads; reads by admins and auditors are audited.

#include <charconv>

#include "src/ingest/service.h"
#include "src/query/usage_findings.h"
#include "src/record/rfc3339.h"
#include "src/util/json_string.h"
#include "src/util/parse_number.h"

namespace tokenaudit::ingest {
namespace {

using http::ErrorResponse;
using http::HttpResponse;

// The parameters of GET /v1/events.
struct EventFilter {
  std::optional<std::string> tenant, user, model, workflow, status;
  std::optional<int64_t> from_us;  // time >= from
  std::optional<int64_t> to_us;    // time < to
  uint64_t after_seq = 0;          // cursor: only seqs >= after_seq
  size_t limit = 100;
};


}  // namespace

void Service::AuditRead(const auth::Principal& who, std::string_view what, uint64_t count,
                        http::Responder respond, std::function<void()> then) {
  std::string rec = "{\"actor.key_id\":";
  AppendJsonString(&rec, who.key_id);
  rec += ",\"actor.role\":";
  AppendJsonString(&rec, auth::RoleName(who.role));
  rec += ",\"query\":";
  AppendJsonString(&rec, what);
  rec += ",\"result_count\":" + std::to_string(count) + ",\"ta.kind\":\"access\",\"time\":";
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  AppendJsonString(&rec, record::FormatRfc3339Micros(now));
  rec += "}";
  ledger_->AppendAsync({std::move(rec)}, RecordType::kAccess,
                       [this, respond = std::move(respond), then = std::move(then)](
                           const Status& s, uint64_t) {
                         if (!s.ok()) {
                           HttpResponse r = ErrorResponse(
                               503, "unavailable", "the read could not be audited; retry later");
                           r.headers.emplace_back("Retry-After", "1");
                           respond(std::move(r));
                           return;
                         }
                         access_records_->Add();
                         then();
                       });
}

void Service::GetEvents(const auth::Principal& who, const http::HttpRequest& req,
                        http::Responder respond) {
  EventFilter f;
  std::string audit_query;  // the filter as recorded in the access record: pseudonyms only
  auto bad = [&respond](std::string_view field, std::string_view why) {
    respond(ErrorResponse(400, "invalid_format", why, field));
  };
  for (const auto& [k, v] : req.query) {
    if (k == "user") {
      // A raw name is pseudonymised here, so it is neither matched raw nor recorded raw.
      f.user = auth::IsUserPseudonym(v) ? v : pseudonymizer_->UserPseudonym(v);
    } else if (k == "model") {
      f.model = v;
    } else if (k == "workflow") {
      f.workflow = v;
    } else if (k == "status") {
      f.status = v;
    } else if (k == "tenant") {
      f.tenant = v;
    } else if (k == "from" || k == "to") {
      int64_t t = 0;
      if (record::ParseRfc3339Micros(v, &t) != record::TimeParse::kOk) {
        return bad(k, k + " must be an RFC 3339 time");
      }
      (k == "from" ? f.from_us : f.to_us) = t;
    } else if (k == "limit") {
      uint64_t n = 0;
      if (!ParseDecimalU64(v, &n) || n == 0 || n > 1000) return bad("limit", "limit must be 1..1000");
      f.limit = n;
    } else if (k == "cursor") {
      if (!ParseDecimalU64(v, &f.after_seq)) return bad("cursor", "cursor must come from next_cursor");
    } else {
      respond(ErrorResponse(400, "unknown_field", "unknown query parameter", k));
      return;
    }
  }
  if (who.role == auth::Role::kUser) {
    if (f.user && *f.user != who.user_pseudonym) {
      respond(ErrorResponse(403, "forbidden", "user keys read only their own records", "user"));
      return;
    }
    f.user = who.user_pseudonym;
  }
  if (!who.tenant.empty()) {
    if (f.tenant && *f.tenant != who.tenant) {
      respond(ErrorResponse(403, "forbidden", "this key reads only its own tenant", "tenant"));
      return;
    }
    f.tenant = who.tenant;
  }
  // The listing comes from the query engine's columns, which hold every acknowledged record.
  query::FindingScope scope;
  scope.from_us = f.from_us;
  scope.to_us = f.to_us;
  for (const auto& [dim, value] :
       std::vector<std::pair<query::Dim, std::optional<std::string>>>{
           {query::Dim::kTenant, f.tenant}, {query::Dim::kUser, f.user},
           {query::Dim::kModel, f.model}, {query::Dim::kWorkflow, f.workflow},
           {query::Dim::kStatus, f.status}}) {
    if (value) scope.filters.push_back({dim, {*value}});
  }
  uint64_t next = 0;
  Result<std::vector<uint64_t>> found =
      query::FindEventSeqs(usage_, scope, f.after_seq, f.limit, &next);
  if (!found.ok()) {
    respond(ErrorResponse(500, "internal", found.status().ToString()));
    return;
  }
  const std::vector<uint64_t>& seqs = *found;
  std::string body = "{\"events\":[";
  for (size_t i = 0; i < seqs.size(); ++i) {
    std::string payload;
    RecordType type;
    UsageRecord r;
    if (!ledger_->Read(seqs[i], &payload, &type).ok() ||
        !record::ParseRecordJson(payload, &r)) {
      respond(ErrorResponse(500, "internal", "a stored record could not be read back"));
      return;
    }
    if (i) body += ",";
    body += record::EncodeWithSeq(r, seqs[i]);
  }
  body += "],\"next_cursor\":";
  body += next ? "\"" + std::to_string(next) + "\"" : std::string("null");
  body += "}";
  HttpResponse resp;
  resp.body = std::move(body);
  if (who.role == auth::Role::kUser) {
    respond(std::move(resp));
    return;
  }
  // Admins and auditors read other people's records: that read is itself recorded first.
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::optional<std::string>>>{
           {"user", f.user}, {"model", f.model}, {"workflow", f.workflow},
           {"status", f.status}, {"tenant", f.tenant}}) {
    if (v) audit_query += (audit_query.empty() ? "" : "&") + k + "=" + *v;
  }
  if (f.from_us) audit_query += "&from=" + std::to_string(*f.from_us);
  if (f.to_us) audit_query += "&to=" + std::to_string(*f.to_us);
  audit_query = "GET /v1/events?" + audit_query + "&cursor=" + std::to_string(f.after_seq);
  auto shared = std::make_shared<HttpResponse>(std::move(resp));
  AuditRead(who, audit_query, seqs.size(), respond,
            [respond, shared] { respond(std::move(*shared)); });
}

}  // namespace tokenaudit::ingest
