// POST /v1/events: parse, validate, enrich, deduplicate, append (group commit), answer.
//
// Threads. Everything up to the append runs on the HTTP I/O thread that received the request,
// one item at a time in a reused record, so that what stays alive until the append completes is
// small: per appended record its canonical bytes, its dedup key and its query-engine row. A large
// NDJSON body that arrives while another I/O thread is not parsing a body of its own is cut into
// pieces of whole lines that both threads parse (ShareWork), then joined in body order. The
// ledger calls back on its writer thread; that callback only posts the rest back to the I/O
// threads, so the writer goes straight on to its next group commit. There, the rows join the
// query engine (queryable before the answer leaves), the dedup claims are committed (waking
// requests that wait on the same ids), and the answer is built and sent. Every answer still
// waits for the fdatasync covering its records.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstring>

#include "src/ingest/service.h"
#include "src/record/validate.h"
#include "src/util/share_work.h"

namespace tokenaudit::ingest {
namespace {

using http::ErrorResponse;
using http::HttpResponse;

// Why an item got 503.
enum class Unavailable : uint8_t {
  kNone,
  kConcurrent,  // a request appending the same id failed
  kLedger,      // the append failed
  kDedup,       // the log could not be read to tell the id from a stored one
};

struct ItemResult {
  uint16_t status = 0;  // 0 while pending
  bool duplicate = false;
  Unavailable unavailable = Unavailable::kNone;
  uint32_t error = 0;  // status 400/403: index into IngestCall::errors
  uint64_t seq = 0;
};

void AppendUnsigned(std::string* out, uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// Fewest lines in a piece of an NDJSON body parsed on several threads: below this, handing a
// piece to another thread costs more than it saves.
constexpr size_t kMinPieceLines = 128;

}  // namespace

// Counts a POST in flight for its lifetime.
class InFlight {
 public:
  explicit InFlight(std::atomic<int>* count)
      : count_(count), only_(count->fetch_add(1, std::memory_order_relaxed) == 0) {}
  ~InFlight() { count_->fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;
  // No other POST was in flight when this one arrived.
  bool only() const { return only_ && count_->load(std::memory_order_relaxed) == 1; }

 private:
  std::atomic<int>* const count_;
  const bool only_;
};

// The state of one POST while its parts (one append, any waits on in-flight duplicates) finish.
struct Service::IngestCall {
  explicit IngestCall(std::atomic<int>* posts_in_flight) : in_flight(posts_in_flight) {}
  InFlight in_flight;  // until the answer is sent (the call is freed then)
  bool batch = false;
  std::vector<ItemResult> results;
  std::vector<record::FieldError> errors;  // of refused items; written before any part starts
  std::string stored;  // the canonical record of a single-record request that was appended
  // The appended part: item to_append[j] is stored at first_seq + j once append_status is OK.
  std::vector<uint32_t> to_append;
  std::vector<DedupIndex::Key> keys;
  std::vector<query::Row> usage_rows;  // seq filled in when the append completes
  Status append_status;
  uint64_t first_seq = 0;
  std::atomic<int> outstanding{1};  // parts not yet finished, +1 held by PostEvents itself
  http::Responder respond;
  http::Poster post;  // back to the I/O threads; empty: run inline
};

// What parsing a body, or one piece of it, produced. Items in body order: their results (and
// the errors of refused ones); for those that passed every check, their index in `results`,
// dedup key, query-engine row and canonical record.
struct Service::ParsedPart {
  std::vector<ItemResult> results;
  std::vector<record::FieldError> errors;
  std::vector<uint32_t> candidates;
  std::vector<DedupIndex::Key> keys;
  std::vector<query::Row> usage_rows;
  // The canonical records, encoded straight into the buffer the ledger's writer will write.
  RecordBatch payloads;
  query::UsageStore::InternCache intern_cache;  // the strings the items repeat

  // Room for `lines` items from `bytes` of body.
  void Reserve(size_t lines, size_t bytes) {
    results.reserve(lines);
    candidates.reserve(lines);
    keys.reserve(lines);
    usage_rows.reserve(lines);
    // Canonical records run up to a third longer than the lines they came from (the server adds
    // request_id, the pseudonym, tokens and cost: 755 against 578 bytes in the benchmark); the
    // slack covers that and the last record's encoding bound (RecordBatch::Begin), so the buffer
    // is not regrown (copied) at the end; capacity never written is mostly never paged in.
    payloads.Reserve(lines, bytes + bytes / 2 + 64 * 1024);
  }

  // Moves the items of `pieces` (consecutive pieces of a body, in order) into this empty part.
  void Join(std::vector<ParsedPart>& pieces) {
    size_t items = 0, accepted = 0, bytes = 0;
    for (const ParsedPart& p : pieces) {
      items += p.results.size();
      accepted += p.payloads.size();
      bytes += p.payloads.frame_bytes();
    }
    results.reserve(items);
    candidates.reserve(accepted);
    keys.reserve(accepted);
    usage_rows.reserve(accepted);
    // One buffer, each piece's frames copied once.
    payloads.Reserve(accepted, bytes - accepted * RecordBatch::kFrameHeaderBytes);
    for (ParsedPart& next : pieces) {
      const auto at = static_cast<uint32_t>(results.size());
      const auto errors_at = static_cast<uint32_t>(errors.size());
      for (ItemResult& r : next.results) {
        if (r.status != 0) r.error += errors_at;  // refused: its error moves along
        results.push_back(r);
      }
      for (record::FieldError& e : next.errors) errors.push_back(std::move(e));
      for (uint32_t c : next.candidates) candidates.push_back(at + c);
      keys.insert(keys.end(), next.keys.begin(), next.keys.end());
      usage_rows.insert(usage_rows.end(), next.usage_rows.begin(), next.usage_rows.end());
      payloads.Append(std::move(next.payloads));
    }
  }
};

void Service::AddItem(const auth::Principal& who, ParsedPart* part, record::ParsedItem& item) {
  const auto index = static_cast<uint32_t>(part->results.size());
  ItemResult& res = part->results.emplace_back();
  record::FieldError& err = item.error;
  bool ok = item.ok && record::Validate(item.record, &err) &&
            enricher_.Enrich(who, &item.record, &err);
  size_t payload_size = 0;
  if (ok) {
    char* p = part->payloads.Begin(record::CanonicalSizeBound(item.record));
    payload_size = static_cast<size_t>(record::EncodeCanonicalTo(item.record, p) - p);
    if (payload_size > options_.max_record_bytes) {
      err = {"too_long", "", "the stored record would exceed max_record_bytes"};
      ok = false;
    }
  }
  if (!ok) {
    res.status = err.code == "forbidden" ? 403 : 400;
    res.error = static_cast<uint32_t>(part->errors.size());
    part->errors.push_back(std::move(err));
    return;
  }
  part->candidates.push_back(index);
  part->keys.push_back(DedupIndex::MakeKey(item.record.tenant, item.record.source, item.record.id));
  part->usage_rows.push_back(usage_.MakeRow(item.record, 0, &part->intern_cache));
  part->payloads.Commit(payload_size);
}

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
  auto call = std::make_shared<IngestCall>(&posts_in_flight_);
  call->respond = std::move(respond);
  call->post = std::move(req.post);

  // A large NDJSON body is parsed in pieces by this thread and any idle I/O thread: a client
  // with one connection gets more than one core, and a thread waiting for its connections'
  // group commits helps another. The pieces' items are joined in body order, so what follows
  // sees the same items as from one pass (record::SplitNdjson).
  // Splitting costs CPU (the pieces' buffers, joining them, a second core's cache misses): it
  // pays only when the other threads have nothing else to do, so only for the one POST in
  // flight. With several clients each thread parses whole bodies of its own.
  std::vector<record::NdjsonPiece> pieces;
  if (*format == record::BodyFormat::kNdjson && req.post_any && req.io_threads > 1 &&
      call->in_flight.only()) {
    pieces = record::SplitNdjson(req.body, options_.limits,
                                 /*max_pieces=*/2 * static_cast<size_t>(req.io_threads),
                                 /*min_lines=*/kMinPieceLines);
  }
  ParsedPart whole;  // every item, in body order
  record::ParsedBody body;
  if (!pieces.empty()) {
    std::vector<ParsedPart> parts(pieces.size());
    ShareWork(pieces.size(), req.io_threads - 1, req.post_any, [&](size_t k) {
      const record::NdjsonPiece& piece = pieces[k];
      parts[k].Reserve(record::CountNdjsonLines(piece.text), piece.text.size());
      record::ParseNdjsonPiece(piece, options_.limits,
                               [&](record::ParsedItem& item) { AddItem(who, &parts[k], item); });
    });
    whole.Join(parts);
    split_posts_->Add();
    body.ok = true;
    body.batch = true;
  } else {
    if (*format == record::BodyFormat::kNdjson) {
      whole.Reserve(
          std::min<size_t>(options_.limits.max_items, record::CountNdjsonLines(req.body)),
          req.body.size());
    }
    body = record::ParseBodyEach(req.body, *format, options_.limits,
                                 [&](record::ParsedItem& item) { AddItem(who, &whole, item); });
  }
  if (!body.ok) {
    Rejected(body.error.code)->Add();
    int status = body.error.code == record::kBodyTooLarge ? 413 : 400;
    call->respond(ErrorResponse(status, body.error.code, body.error.message, body.error.field));
    return;
  }
  call->batch = body.batch;
  call->results = std::move(whole.results);
  call->errors = std::move(whole.errors);
  std::vector<uint32_t>& candidates = whole.candidates;
  std::vector<DedupIndex::Key>& keys = whole.keys;
  std::vector<query::Row>& usage_rows = whole.usage_rows;
  RecordBatch& payloads = whole.payloads;
  request_batch_->Observe(static_cast<double>(call->results.size()));
  for (const record::FieldError& err : call->errors) Rejected(err.code)->Add();

  std::vector<DedupIndex::Claim> claims(keys.size());
  std::vector<uint64_t> seqs(keys.size());
  dedup_.ClaimBatch(keys, claims, seqs, [this, &call, &candidates](size_t j) {
    call->outstanding.fetch_add(1);
    return [this, call, i = candidates[j]](bool ok, uint64_t seq) {
      ItemResult& r = call->results[i];
      if (ok) {
        r.status = 200;
        r.seq = seq;
        r.duplicate = true;
        duplicates_->Add();
      } else {
        r.status = 503;
        r.unavailable = Unavailable::kConcurrent;
      }
      Finish(call);
    };
  });
  // Keep the claimed items' key, row and payload, compacted in place.
  std::vector<uint32_t> kept_payloads;  // indices into payloads
  kept_payloads.reserve(claims.size());
  size_t kept = 0;
  for (size_t j = 0; j < claims.size(); ++j) {
    if (claims[j] == DedupIndex::Claim::kDuplicate) {
      ItemResult& res = call->results[candidates[j]];
      res.status = 200;
      res.seq = seqs[j];
      res.duplicate = true;
      duplicates_->Add();
    }
    if (claims[j] == DedupIndex::Claim::kUnavailable) {
      ItemResult& res = call->results[candidates[j]];
      res.status = 503;
      res.unavailable = Unavailable::kDedup;
      Rejected("unavailable")->Add();
    }
    if (claims[j] != DedupIndex::Claim::kNew) continue;
    call->to_append.push_back(candidates[j]);
    keys[kept] = keys[j];
    usage_rows[kept] = usage_rows[j];
    kept_payloads.push_back(static_cast<uint32_t>(j));
    ++kept;
  }
  if (kept > 0) {
    keys.resize(kept);
    usage_rows.resize(kept);
    if (kept != payloads.size()) payloads.Retain(kept_payloads);
    if (!call->batch) call->stored = std::string(payloads.record(0));
    call->keys = std::move(keys);
    call->usage_rows = std::move(usage_rows);
    call->outstanding.fetch_add(1);
    ledger_->AppendAsync(std::move(payloads), RecordType::kUsage,
                         [this, call](const Status& s, uint64_t first_seq) mutable {
                           // The writer thread: nothing but the hand-off happens here.
                           call->append_status = s;
                           call->first_seq = first_seq;
                           std::shared_ptr<IngestCall> c = std::move(call);  // freed off-writer
                           if (!c->post) return CompleteAppend(std::move(c));
                           // A copy: the task may finish (and free the call) while post runs.
                           const http::Poster post = c->post;
                           post([this, c = std::move(c)]() mutable {
                             CompleteAppend(std::move(c));
                           });
                         });
  }
  Finish(std::move(call));  // drops PostEvents' own hold
}

void Service::CompleteAppend(std::shared_ptr<IngestCall> call) {
  const bool ok = call->append_status.ok();
  if (ok) {
    // Queryable before anyone hears of the records.
    for (size_t j = 0; j < call->usage_rows.size(); ++j) {
      call->usage_rows[j][query::kSeq] = static_cast<int64_t>(call->first_seq + j);
    }
    usage_.Add(call->usage_rows);
  }
  for (size_t j = 0; j < call->to_append.size(); ++j) {
    ItemResult& r = call->results[call->to_append[j]];
    if (ok) {
      r.status = 200;
      r.seq = call->first_seq + j;
    } else {
      r.status = 503;
      r.unavailable = Unavailable::kLedger;
    }
  }
  if (ok) {
    dedup_.CommitBatch(call->keys, call->first_seq);
    ingested_->Add(call->to_append.size());
  } else {
    dedup_.AbortBatch(call->keys);
    Rejected("unavailable")->Add(call->to_append.size());
  }
  Finish(std::move(call));
}

namespace {

// The error an item that is not 200 is answered with.
record::FieldError ItemError(const std::vector<record::FieldError>& errors,
                             const Status& append_status, const ItemResult& r) {
  switch (r.unavailable) {
    case Unavailable::kConcurrent:
      return {"unavailable", "", "a concurrent request with the same id failed; retry"};
    case Unavailable::kLedger:
      return {"unavailable", "", "the ledger did not accept the record: " +
                                     std::string(StatusCodeName(append_status.code()))};
    case Unavailable::kDedup:
      return {"unavailable", "", "the log could not be read to check the id for a duplicate"};
    case Unavailable::kNone:
      break;
  }
  return errors[r.error];
}

}  // namespace

void Service::Finish(std::shared_ptr<IngestCall> call) {
  if (call->outstanding.fetch_sub(1) != 1) return;
  const auto& results = call->results;
  if (!call->batch && results.size() == 1) {
    const ItemResult& r = results[0];
    if (r.status != 200) {
      const record::FieldError e = ItemError(call->errors, call->append_status, r);
      HttpResponse resp = ErrorResponse(r.status, e.code, e.message, e.field);
      if (r.status == 503) resp.headers.emplace_back("Retry-After", "1");
      call->respond(std::move(resp));
      return;
    }
    std::string stored = r.duplicate ? std::string() : std::move(call->stored);
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
  // The counts lead the body: counted first, so the items are written once, in place.
  size_t accepted = 0, dups = 0, rejected = 0;
  bool any_unavailable = false;
  for (const ItemResult& r : results) {
    if (r.status == 200) {
      (r.duplicate ? dups : accepted)++;
    } else {
      ++rejected;
      any_unavailable |= r.status == 503;
    }
  }
  HttpResponse resp;
  resp.status = rejected == 0 ? 200 : 207;
  if (any_unavailable) resp.headers.emplace_back("Retry-After", "1");
  std::string& body = resp.body;
  body.reserve(results.size() * 56 + 96);
  body.append("{\"accepted\":");
  AppendUnsigned(&body, accepted);
  body.append(",\"duplicates\":");
  AppendUnsigned(&body, dups);
  body.append(",\"rejected\":");
  AppendUnsigned(&body, rejected);
  body.append(",\"results\":[");
  for (size_t i = 0; i < results.size(); ++i) {
    const ItemResult& r = results[i];
    if (i) body.push_back(',');
    body.append("{\"index\":");
    AppendUnsigned(&body, i);
    body.append(",\"status\":");
    AppendUnsigned(&body, r.status);
    if (r.status == 200) {
      body.append(r.duplicate ? ",\"duplicate\":true,\"seq\":" : ",\"duplicate\":false,\"seq\":");
      AppendUnsigned(&body, r.seq);
      body.push_back('}');
    } else {
      const record::FieldError e = ItemError(call->errors, call->append_status, r);
      HttpResponse err = ErrorResponse(r.status, e.code, e.message, e.field);
      // ErrorResponse's body is {"error":{...}}; embed its inner object.
      body.append(",\"error\":");
      body.append(std::string_view(err.body).substr(9, err.body.size() - 10));
      body.push_back('}');
    }
  }
  body.append("]}");
  call->respond(std::move(resp));
}

}  // namespace tokenaudit::ingest
