// POST /v1/events: parse, validate, enrich, deduplicate, append (group commit), answer.

#include <algorithm>
#include <atomic>

#include "src/ingest/service.h"
#include "src/record/validate.h"

namespace tokenaudit::ingest {
namespace {

using http::ErrorResponse;
using http::HttpResponse;

struct ItemResult {
  int status = 0;  // 0 while pending
  uint64_t seq = 0;
  bool duplicate = false;
  record::FieldError error;
  std::string stored;  // canonical payload, for single-record answers
};

}  // namespace

// The state of one POST while its parts (one append, any waits on in-flight duplicates) finish.
struct Service::IngestCall {
  bool batch = false;
  std::vector<ItemResult> results;
  std::vector<UsageRecord> records;  // enriched, for indexing after the append
  std::atomic<int> outstanding{1};    // parts not yet finished, +1 held by PostEvents itself
  http::Responder respond;
};

void Service::PostEvents(const auth::Principal& who, http::HttpRequest req,
                         http::Responder respond) {
  auto content_type = req.Header("content-type");
  auto format = record::FormatFromContentType(content_type.value_or(""));
  if (!format.ok()) {
    Rejected("unsupported_media_type")->Add();
    respond(ErrorResponse(415, "unsupported_media_type",
                          "Content-Type must be application/json, application/cloudevents+json, "
                          "application/cloudevents-batch+json or application/x-ndjson"));
    return;
  }
  record::ParsedBody body = record::ParseBody(req.body, *format, options_.limits);
  if (!body.ok) {
    Rejected(body.error.code)->Add();
    int status = body.error.code == record::kBodyTooLarge ? 413 : 400;
    respond(ErrorResponse(status, body.error.code, body.error.message, body.error.field));
    return;
  }
  request_batch_->Observe(static_cast<double>(body.items.size()));

  auto call = std::make_shared<IngestCall>();
  call->batch = body.batch;
  call->respond = std::move(respond);
  call->results.resize(body.items.size());
  call->records.resize(body.items.size());
  std::vector<size_t> to_append;
  std::vector<std::string> payloads;
  std::vector<DedupIndex::Key> keys;
  for (size_t i = 0; i < body.items.size(); ++i) {
    record::ParsedItem& item = body.items[i];
    ItemResult& res = call->results[i];
    record::FieldError err = item.error;
    bool ok = item.ok && record::Validate(item.record, &err) &&
              enricher_.Enrich(who, &item.record, &err);
    std::string payload;
    if (ok) {
      payload = record::EncodeCanonical(item.record);
      if (payload.size() > options_.max_record_bytes) {
        err = {"too_long", "", "the stored record would exceed max_record_bytes"};
        ok = false;
      }
    }
    if (!ok) {
      res.status = err.code == "forbidden" ? 403 : 400;
      res.error = err;
      Rejected(err.code)->Add();
      continue;
    }
    auto key = DedupIndex::MakeKey(item.record.tenant, item.record.source, item.record.id);
    uint64_t seq = 0;
    call->outstanding.fetch_add(1);
    auto claim = dedup_.TryClaim(key, &seq, [this, call, i](bool ok, uint64_t s) {
      ItemResult& r = call->results[i];
      if (ok) {
        r.status = 200;
        r.seq = s;
        r.duplicate = true;
        duplicates_->Add();
      } else {
        r.status = 503;
        r.error = {"unavailable", "", "a concurrent request with the same id failed; retry"};
      }
      Finish(call);
    });
    if (claim == DedupIndex::Claim::kPending) continue;  // the callback finishes this part
    call->outstanding.fetch_sub(1);
    if (claim == DedupIndex::Claim::kDuplicate) {
      res.status = 200;
      res.seq = seq;
      res.duplicate = true;
      duplicates_->Add();
      continue;
    }
    res.stored = payload;
    call->records[i] = std::move(item.record);
    to_append.push_back(i);
    payloads.push_back(std::move(payload));
    keys.push_back(key);
  }
  if (!to_append.empty()) {
    call->outstanding.fetch_add(1);
    ledger_->AppendAsync(
        std::move(payloads), RecordType::kUsage,
        [this, call, to_append, keys](const Status& s, uint64_t first_seq) {
          for (size_t j = 0; j < to_append.size(); ++j) {
            ItemResult& r = call->results[to_append[j]];
            if (s.ok()) {
              r.status = 200;
              r.seq = first_seq + j;
              events_.Add(r.seq, call->records[to_append[j]]);
            } else {
              r.status = 503;
              r.error = {"unavailable", "", "the ledger did not accept the record: " +
                                                std::string(StatusCodeName(s.code()))};
            }
          }
          if (s.ok()) {
            dedup_.CommitBatch(keys, first_seq);
          } else {
            dedup_.AbortBatch(keys);
          }
          if (s.ok()) {
            ingested_->Add(to_append.size());
          } else {
            Rejected("unavailable")->Add(to_append.size());
          }
          Finish(call);
        });
  }
  Finish(call);  // drops PostEvents' own hold
}

void Service::Finish(std::shared_ptr<IngestCall> call) {
  if (call->outstanding.fetch_sub(1) != 1) return;
  auto& results = call->results;
  if (!call->batch && results.size() == 1) {
    ItemResult& r = results[0];
    if (r.status != 200) {
      HttpResponse resp = ErrorResponse(r.status, r.error.code, r.error.message, r.error.field);
      if (r.status == 503) resp.headers.emplace_back("Retry-After", "1");
      call->respond(std::move(resp));
      return;
    }
    std::string stored = r.stored;
    if (stored.empty()) {  // a duplicate: answer with the original record
      RecordType type;
      if (!ledger_->Read(r.seq, &stored, &type).ok()) stored.clear();
    }
    UsageRecord rec;
    std::string record_json =
        !stored.empty() && record::ParseRecordJson(stored, &rec)
            ? record::EncodeWithSeq(rec, r.seq)
            : std::string("null");
    HttpResponse resp;
    resp.body = "{\"duplicate\":" + std::string(r.duplicate ? "true" : "false") +
                ",\"record\":" + record_json + ",\"seq\":" + std::to_string(r.seq) + "}";
    call->respond(std::move(resp));
    return;
  }
  size_t accepted = 0, dups = 0, rejected = 0;
  bool any_unavailable = false;
  std::string items = "[";
  for (size_t i = 0; i < results.size(); ++i) {
    const ItemResult& r = results[i];
    if (i) items += ",";
    items += "{\"index\":" + std::to_string(i) + ",\"status\":" + std::to_string(r.status);
    if (r.status == 200) {
      (r.duplicate ? dups : accepted)++;
      items += std::string(",\"duplicate\":") + (r.duplicate ? "true" : "false") +
               ",\"seq\":" + std::to_string(r.seq) + "}";
    } else {
      ++rejected;
      any_unavailable |= r.status == 503;
      HttpResponse e = ErrorResponse(r.status, r.error.code, r.error.message, r.error.field);
      // ErrorResponse's body is {"error":{...}}; embed its inner object.
      items += ",\"error\":" + e.body.substr(9, e.body.size() - 10) + "}";
    }
  }
  items += "]";
  HttpResponse resp;
  resp.status = rejected == 0 ? 200 : 207;
  if (any_unavailable) resp.headers.emplace_back("Retry-After", "1");
  resp.body = "{\"accepted\":" + std::to_string(accepted) +
              ",\"duplicates\":" + std::to_string(dups) + ",\"rejected\":" +
              std::to_string(rejected) + ",\"results\":" + items + "}";
  call->respond(std::move(resp));
}

}  // namespace tokenaudit::ingest
