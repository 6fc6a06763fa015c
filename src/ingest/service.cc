#include "src/ingest/service.h"

#include <charconv>

#include "src/dashboard/dashboard.h"
#include "src/ingest/whoami.h"
#include "src/ledger/checkpoint.h"
#include "src/util/hex.h"
#include "src/util/json_string.h"
#include "src/util/parse_number.h"

namespace tokenaudit::ingest {
namespace {

using http::ErrorResponse;
using http::HttpRequest;
using http::HttpResponse;
using http::Responder;

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}


std::string HashList(const std::vector<merkle::Hash>& hashes) {
  std::string out = "[";
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (i) out += ",";
    out += "\"" + merkle::ToHex(hashes[i]) + "\"";
  }
  return out + "]";
}

}  // namespace

Service::Service(Ledger* ledger, auth::KeyStore* keys, const auth::Pseudonymizer* pseudonymizer,
                 const CostTable* pricing, metrics::Registry* metrics, ServiceOptions options)
    : ledger_(ledger),
      keys_(keys),
      pseudonymizer_(pseudonymizer),
      enricher_(pseudonymizer, pricing, options.default_tenant),
      options_(std::move(options)),
      dedup_([this](uint64_t seq) { return StoredKey(seq); }),
      metrics_(metrics) {
  ingested_ = metrics_->AddCounter("tokenaudit_ingested_records_total",
                                   "Usage records accepted and durable.");
  duplicates_ = metrics_->AddCounter("tokenaudit_duplicate_records_total",
                                     "Records resent with a known (tenant, source, id).");
  split_posts_ = metrics_->AddCounter(
      "tokenaudit_split_requests_total",
      "POST bodies parsed in pieces by several I/O threads (a large NDJSON body, alone in flight).");
  access_records_ = metrics_->AddCounter("tokenaudit_access_records_total",
                                         "Audited reads by admins and auditors.");
  request_batch_ = metrics_->AddHistogram("tokenaudit_request_records",
                                          "Records per ingest request.",
                                          {1, 10, 100, 1000, 10000});
  metrics_->AddGauge("tokenaudit_ledger_queue_depth", "Records waiting for the log writer.",
                     [this] { return static_cast<double>(ledger_->GetStats().queue_depth); });
  metrics_->AddGauge("tokenaudit_ledger_size", "Records in the log (Merkle tree size).",
                     [this] { return static_cast<double>(ledger_->Size()); });
  metrics_->AddGauge("tokenaudit_ledger_failed", "1 once the log latched FAILED.",
                     [this] { return ledger_->GetStats().failed ? 1.0 : 0.0; });
  // The query engine's columns: derived data, so a failure here loses no record (the log
  // rebuilds them), but an operator should see that files are not written or merged.
  metrics_->AddGauge("tokenaudit_column_parts", "Sealed column chunks and merged parts.",
                     [this] { return static_cast<double>(usage_.GetStats().sealed_chunks); });
  metrics_->AddCounterFn("tokenaudit_column_merges_total", "Merged column parts made.",
                         [this] { return usage_.GetStats().merges; });
  metrics_->AddCounterFn("tokenaudit_column_merged_rows_total",
                         "Rows rewritten by merges (their write amplification).",
                         [this] { return usage_.GetStats().merged_rows; });
  metrics_->AddCounterFn("tokenaudit_column_failures_total",
                         "Column files not written or merges failed (rows stay queryable).",
                         [this] {
                           auto st = usage_.GetStats();
                           return st.persist_failures + st.merge_failures;
                         });
  metrics_->AddGauge(
      "tokenaudit_checkpoint_age_seconds", "Age of the newest checkpoint.", [this] {
        uint64_t t = ledger_->LatestCheckpoint().time_unix_micros;
        if (t == 0) return -1.0;
        auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        return static_cast<double>(now - static_cast<int64_t>(t)) / 1e6;
      });
}

void Service::RegisterLedgerMetrics(metrics::Registry* r, LedgerOptions* options) {
  auto* fsync = r->AddHistogram("tokenaudit_fsync_seconds", "Duration of each log fdatasync.",
                                {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25});
  auto* batch = r->AddHistogram("tokenaudit_commit_batch_records",
                                "Records per group commit.", {1, 4, 16, 64, 256, 1024, 4096});
  options->on_sync = [fsync](uint64_t micros) { fsync->Observe(static_cast<double>(micros) / 1e6); };
  options->on_batch = [batch](uint64_t n) { batch->Observe(static_cast<double>(n)); };
}

metrics::Counter* Service::Rejected(std::string_view reason) {
  MutexLock l(&rejected_mu_);
  auto it = rejected_.find(reason);
  if (it != rejected_.end()) return it->second;
  metrics::Counter* c = metrics_->AddCounter("tokenaudit_rejected_records_total",
                                             "Records refused, by reason.",
                                             "reason=\"" + std::string(reason) + "\"");
  rejected_.emplace(std::string(reason), c);
  return c;
}

Status Service::Rebuild(const std::function<void(uint64_t, uint64_t)>& progress) {
  if (!options_.columns_dir.empty()) {
    // Column chunks already on disk are loaded; the log supplies every other record. A damaged
    // chunk is only derived data: dropped and rebuilt.
    size_t discarded = 0;
    RETURN_IF_ERROR(
        usage_.Open(Env::Default(), options_.columns_dir, &usage_loaded_, &discarded));
    rebuild_report_.column_chunks = usage_.GetStats().sealed_chunks;
    rebuild_report_.column_chunks_discarded = discarded;
  }
  const uint64_t total = ledger_->Size();
  uint64_t done = 0;
  Status s = ledger_->Scan(0, [&](uint64_t seq, RecordType type, std::string_view payload) {
    if (progress && (++done & 0xffff) == 0) progress(done, total);
    if (type != RecordType::kUsage) return Status::OK();
    UsageRecord r;
    record::FieldError err;
    record::ParseLimits limits;
    limits.max_string_bytes = options_.max_record_bytes;
    if (!record::ParseRecordJson(payload, &r, &err, limits)) {
      return Status::Corruption("stored record seq " + std::to_string(seq) +
                                " does not parse: " + err.message);
    }
    return IndexStored(seq, r);
  });
  if (!s.ok()) return s;
  if (progress) progress(total, total);
  ready_ = true;
  return Status::OK();
}

Status Service::IndexStored(uint64_t seq, const UsageRecord& r) {
  RETURN_IF_ERROR(dedup_.Insert(DedupIndex::MakeKey(r.tenant, r.source, r.id), seq));
  if (seq < usage_loaded_.size() && usage_loaded_[seq]) return Status::OK();  // in a loaded chunk
  const query::Row row = usage_.MakeRow(r, seq);
  usage_.Add({&row, 1});
  return Status::OK();
}

Result<DedupIndex::Key> Service::StoredKey(uint64_t seq) const {
  std::string payload;
  RecordType type;
  RETURN_IF_ERROR(ledger_->Read(seq, &payload, &type));
  UsageRecord r;
  record::FieldError err;
  record::ParseLimits limits;
  limits.max_string_bytes = options_.max_record_bytes;
  if (type != RecordType::kUsage || !record::ParseRecordJson(payload, &r, &err, limits)) {
    return Status::Corruption("seq " + std::to_string(seq) +
                              " is not a usage record the idempotency index can key");
  }
  return DedupIndex::MakeKey(r.tenant, r.source, r.id);
}

bool Service::Authenticate(const HttpRequest& req, const Responder& respond,
                           auth::Principal* who) {
  auto header = req.Header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (!header || header->substr(0, kBearer.size()) != kBearer) {
    HttpResponse r = ErrorResponse(401, "unauthenticated", "missing Authorization: Bearer <key>");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    respond(std::move(r));
    return false;
  }
  auto p = keys_->Authenticate(header->substr(kBearer.size()));
  if (!p.ok()) {
    HttpResponse r = ErrorResponse(401, "unauthenticated", "unknown, revoked or malformed key");
    r.headers.emplace_back("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    respond(std::move(r));
    return false;
  }
  *who = *p;
  return true;
}

void Service::Handle(HttpRequest req, Responder respond) {
  const std::string& path = req.path;
  const std::string& method = req.method;
  if (path == "/healthz") {
    respond(Json(200, "{\"status\":\"ok\"}"));
    return;
  }
  if (path == "/readyz") {
    LedgerStats st = ledger_->GetStats();
    if (!ready_) {
      respond(ErrorResponse(503, "unavailable", "rebuilding indexes from the log"));
    } else if (st.failed) {
      respond(ErrorResponse(503, "unavailable", "the log is FAILED: " + st.failure));
    } else {
      respond(Json(200, "{\"status\":\"ready\"}"));
    }
    return;
  }
  if (dashboard::IsDashboardPath(path)) return respond(dashboard::ServeDashboard(req));
  struct Known {
    const char* path;
    const char* method;
  };
  static const Known kRoutes[] = {{"/v1/events", "GET"},
                                  {"/v1/events", "POST"},
                                  {"/v1/checkpoint", "GET"},
                                  {"/v1/proof/inclusion", "GET"},
                                  {"/v1/proof/consistency", "GET"},
                                  {"/v1/usage", "GET"},
                                  {"/v1/top", "GET"},
                                  {"/v1/duplicates", "GET"},
                                  {"/v1/anomalies", "GET"},
                                  {"/v1/whoami", "GET"},
                                  {"/metrics", "GET"}};
  bool path_known = false, route_known = false;
  for (const auto& k : kRoutes) {
    if (path == k.path) {
      path_known = true;
      if (method == k.method) route_known = true;
    }
  }
  if (!path_known) {
    respond(ErrorResponse(404, "not_found", "no such endpoint"));
    return;
  }
  auth::Principal who;
  if (!Authenticate(req, respond, &who)) return;
  if (!route_known) {
    respond(ErrorResponse(405, "method_not_allowed", method + " is not allowed on " + path));
    return;
  }
  using auth::Role;
  auto forbid = [&respond](std::string_view why) {
    respond(ErrorResponse(403, "forbidden", why));
  };
  if (path == "/v1/whoami") return respond(WhoamiResponse(who));
  if (!ready_ && path != "/metrics") {
    HttpResponse r = ErrorResponse(503, "unavailable", "rebuilding indexes from the log");
    r.headers.emplace_back("Retry-After", "1");
    respond(std::move(r));
    return;
  }
  if (path == "/v1/events" && method == "POST") {
    if (who.role != Role::kIngest && who.role != Role::kAdmin) {
      return forbid("this key's role may not ingest records");
    }
    return PostEvents(who, std::move(req), std::move(respond));
  }
  if (path == "/v1/events") {
    if (who.role == Role::kIngest) return forbid("ingest keys may not read records");
    return GetEvents(who, req, std::move(respond));
  }
  if (path == "/v1/checkpoint") return GetCheckpoint(req, std::move(respond));
  if (path == "/v1/proof/inclusion") {
    if (who.role == Role::kIngest) return forbid("ingest keys may not read proofs");
    return GetInclusionProof(who, req, std::move(respond));
  }
  if (path == "/v1/proof/consistency") {
    if (who.role == Role::kIngest) return forbid("ingest keys may not read proofs");
    return GetConsistencyProof(req, std::move(respond));
  }
  if (path == "/v1/usage" || path == "/v1/top" || path == "/v1/duplicates" ||
      path == "/v1/anomalies") {
    if (who.role == Role::kIngest) return forbid("ingest keys may not read usage");
    if (path == "/v1/anomalies" && who.role == Role::kUser) {
      return forbid("anomalies compare users with each other: admin and auditor keys only");
    }
    const query::Endpoint e = path == "/v1/usage"        ? query::Endpoint::kUsage
                              : path == "/v1/top"        ? query::Endpoint::kTop
                              : path == "/v1/duplicates" ? query::Endpoint::kDuplicates
                                                         : query::Endpoint::kAnomalies;
    return GetUsage(who, req, e, std::move(respond));
  }
  if (path == "/metrics") {
    if (who.role != Role::kAdmin && who.role != Role::kAuditor) {
      return forbid("metrics are for admin and auditor keys");
    }
    return GetMetrics(std::move(respond));
  }
}

void Service::GetCheckpoint(const HttpRequest& req, Responder respond) {
  Checkpoint cp = ledger_->LatestCheckpoint();
  if (cp.signature_hex.empty()) {
    respond(ErrorResponse(404, "not_found", "no checkpoint has been written yet"));
    return;
  }
  std::string body = "{\"log_id\":\"" + cp.log_id + "\",\"public_key\":\"" + cp.public_key_hex +
                     "\",\"root\":\"" + merkle::ToHex(cp.root) + "\",\"signature\":\"" +
                     cp.signature_hex +
                     "\",\"time_unix_micros\":" + std::to_string(cp.time_unix_micros) +
                     ",\"tree_size\":" + std::to_string(cp.tree_size) + ",\"text\":";
  AppendJsonString(&body, ledger::EncodeCheckpointFile(cp));
  body += "}";
  respond(Json(200, std::move(body)));
}

void Service::GetInclusionProof(const auth::Principal& who, const HttpRequest& req,
                                Responder respond) {
  uint64_t seq = 0, size = 0;
  auto seq_s = req.Query("seq");
  if (!seq_s || !ParseDecimalU64(*seq_s, &seq)) {
    respond(ErrorResponse(400, "invalid_format", "seq must be a non-negative integer", "seq"));
    return;
  }
  auto size_s = req.Query("tree_size");
  if (size_s) {
    if (!ParseDecimalU64(*size_s, &size)) {
      respond(ErrorResponse(400, "invalid_format", "tree_size must be an integer", "tree_size"));
      return;
    }
  } else {
    // Against the newest signed root when it covers the record, else the current tree.
    size = ledger_->LatestCheckpoint().tree_size;
    if (seq >= size) size = ledger_->Size();
  }
  std::string payload;
  RecordType type;
  Status rs = ledger_->Read(seq, &payload, &type);
  if (!rs.ok()) {
    respond(ErrorResponse(http::HttpStatusFor(rs), rs.IsNotFound() ? "not_found" : "unavailable",
                          rs.IsNotFound() ? "no record with that seq" : "cannot read the log",
                          "seq"));
    return;
  }
  if (who.role == auth::Role::kUser) {
    UsageRecord r;
    if (type != RecordType::kUsage || !record::ParseRecordJson(payload, &r) ||
        r.user != who.user_pseudonym) {
      respond(ErrorResponse(404, "not_found", "no record with that seq", "seq"));
      return;
    }
  }
  auto proof = ledger_->InclusionProof(seq, size);
  if (!proof.ok()) {
    respond(ErrorResponse(400, "out_of_range", std::string(proof.status().message()),
                          "tree_size"));
    return;
  }
  auto root = ledger_->RootAt(size);
  std::string body = "{\"leaf_hash\":\"" + merkle::ToHex(merkle::HashLeaf(payload)) +
                     "\",\"proof\":" + HashList(*proof) + ",\"root\":\"" +
                     (root.ok() ? merkle::ToHex(*root) : "") + "\",\"seq\":" +
                     std::to_string(seq) + ",\"tree_size\":" + std::to_string(size) + "}";
  respond(Json(200, std::move(body)));
}

void Service::GetConsistencyProof(const HttpRequest& req, Responder respond) {
  uint64_t first = 0, second = 0;
  auto a = req.Query("first");
  auto b = req.Query("second");
  if (!a || !ParseDecimalU64(*a, &first)) {
    respond(ErrorResponse(400, "invalid_format", "first must be an integer", "first"));
    return;
  }
  if (!b || !ParseDecimalU64(*b, &second)) {
    respond(ErrorResponse(400, "invalid_format", "second must be an integer", "second"));
    return;
  }
  auto proof = ledger_->ConsistencyProof(first, second);
  if (!proof.ok()) {
    respond(ErrorResponse(400, "out_of_range", std::string(proof.status().message()), "second"));
    return;
  }
  auto r1 = ledger_->RootAt(first);
  auto r2 = ledger_->RootAt(second);
  std::string body = "{\"first\":" + std::to_string(first) + ",\"first_root\":\"" +
                     (r1.ok() ? merkle::ToHex(*r1) : "") + "\",\"proof\":" + HashList(*proof) +
                     ",\"second\":" + std::to_string(second) + ",\"second_root\":\"" +
                     (r2.ok() ? merkle::ToHex(*r2) : "") + "\"}";
  respond(Json(200, std::move(body)));
}

void Service::GetMetrics(Responder respond) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_->Render();
  respond(std::move(r));
}

}  // namespace tokenaudit::ingest
