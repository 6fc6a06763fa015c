#include "src/client/client_impl.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "src/record/record_json.h"
#include "src/util/random.h"

namespace tokenaudit {

Result<std::unique_ptr<Client>> Client::Create(const ClientOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<client::ClientImpl> impl, client::ClientImpl::Create(options));
  return std::unique_ptr<Client>(std::move(impl));
}

namespace client {
namespace {

// Memory accounted per queued record beyond its JSON: the Item, the deque slot, malloc headers.
constexpr uint64_t kItemOverhead = 64;
// The server refuses bodies over 8 MiB (doc/usage_record.md, max_body_bytes).
constexpr uint32_t kMaxBodyBytes = 8u << 20;

bool VisibleAscii(std::string_view s) {
  if (s.empty() || s.size() > 256) return false;
  for (char c : s) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

std::string Base64Url(const unsigned char* p, size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc = (acc << 8) | p[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

// Per-item and per-request statuses worth sending again: no answer, timeouts, throttling and
// server-side failures. Every other 4xx is the record's (or the request's) own fault.
bool IsRetryable(int status) {
  return status == 0 || status == 408 || status == 425 || status == 429 || status >= 500 ||
         status < 400;
}

// The `id` of a record in canonical JSON (keys sorted, so "id" is a top-level key preceded by
// '{' or ','; inside string values every '"' is escaped, so the pattern cannot match there).
// Works on records the server could not parse too (invalid UTF-8 elsewhere, say).
std::string IdOf(std::string_view json) {
  for (std::string_view key : {std::string_view("{\"id\":\""), std::string_view(",\"id\":\"")}) {
    const size_t p = json.find(key);
    if (p == std::string_view::npos) continue;
    const size_t start = p + key.size();
    const size_t end = json.find('"', start);
    if (end != std::string_view::npos) return std::string(json.substr(start, end - start));
  }
  return "";
}

std::string Plural(uint64_t n, std::string_view what) {
  return std::to_string(n) + " " + std::string(what) + (n == 1 ? "" : "s");
}

}  // namespace

Result<std::unique_ptr<ClientImpl>> ClientImpl::Create(const ClientOptions& options) {
  if (options.url.empty()) return Status::InvalidArgument("ClientOptions.url is required");
  if (!VisibleAscii(options.source)) {
    return Status::InvalidArgument("ClientOptions.source must be 1..256 visible ASCII bytes");
  }
  if (options.max_batch_records < 1 || options.max_batch_records > 10000) {
    return Status::InvalidArgument("ClientOptions.max_batch_records must be 1..10000");
  }
  if (options.max_batch_bytes < 1 || options.max_batch_bytes > kMaxBodyBytes) {
    return Status::InvalidArgument("ClientOptions.max_batch_bytes must be 1..8 MiB");
  }
  if (options.max_memory_bytes == 0 || options.flush_interval_ms == 0 ||
      options.initial_backoff_ms == 0 || options.max_backoff_ms < options.initial_backoff_ms) {
    return Status::InvalidArgument(
        "ClientOptions: max_memory_bytes, flush_interval_ms and initial_backoff_ms must be "
        "positive and max_backoff_ms at least initial_backoff_ms");
  }
  Env* env = options.env != nullptr ? options.env : Env::Default();

  std::string url = options.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  TransportOptions t;
  t.url = url + "/v1/events";
  t.content_type = "application/x-ndjson";
  t.bearer_token = options.api_key;
  t.connect_timeout_ms = options.connect_timeout_ms;
  t.request_timeout_ms = options.request_timeout_ms;
  ASSIGN_OR_RETURN(std::unique_ptr<HttpTransport> transport, HttpTransport::Create(t));

  std::unique_ptr<Spool> spool;
  if (!options.spool_dir.empty()) {
    SpoolOptions so;
    so.max_bytes = options.max_spool_bytes;
    so.file_bytes = options.spool_file_bytes;
    auto s = Spool::Open(env, options.spool_dir, so);
    if (!s.ok()) return s.status().WithContext("client spool " + options.spool_dir);
    spool = std::move(*s);
  }

  unsigned char prefix[16];
  RETURN_IF_ERROR(SecureRandomBytes(prefix, sizeof(prefix)));
  std::unique_ptr<ClientImpl> c(new ClientImpl(options, env, std::move(transport), std::move(spool),
                                               Base64Url(prefix, sizeof(prefix)) + "-"));
  c->thread_ = std::thread([p = c.get()] { p->Run(); });
  return c;
}

ClientImpl::ClientImpl(const ClientOptions& options, Env* env,
                       std::unique_ptr<HttpTransport> transport, std::unique_ptr<Spool> spool,
                       std::string id_prefix)
    : options_(options),
      env_(env),
      id_prefix_(std::move(id_prefix)),
      high_water_bytes_(options.max_memory_bytes / 2),
      interval_us_(uint64_t{options.flush_interval_ms} * 1000),
      transport_(std::move(transport)),
      spool_(std::move(spool)),
      rng_state_(SecureRandomU64() | 1) {
  // Until the background thread publishes, a Flush must also wait for an earlier spool.
  if (spool_ && !spool_->empty()) first_unsettled_ = 0;
  // Both buffers start with room for a good burst, so callers rarely see one grow.
  const size_t bytes = static_cast<size_t>(std::min<uint64_t>(options.max_memory_bytes, 1 << 20));
  const size_t records = 2 * size_t{options.max_batch_records};
  pending_bytes_.reserve(bytes);
  pending_ends_.reserve(records);
  spare_bytes_.reserve(bytes);
  spare_ends_.reserve(records);
}

ClientImpl::~ClientImpl() {
  Close(std::chrono::milliseconds(options_.close_timeout_ms)).IgnoreError();  // see header
}

// ---------------------------------------------------------------------------------------------
// Caller side.

bool ClientImpl::NeedsPrepare(const UsageRecord& r) const {
  return r.id.empty() || r.source.empty() || (options_.fill_missing_time && !r.time_us);
}

void ClientImpl::Prepare(UsageRecord* r) {
  if (r->id.empty()) {
    const uint64_t n = next_id_.fetch_add(1, std::memory_order_relaxed);
    char buf[17];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), n, 16);
    r->id.reserve(id_prefix_.size() + static_cast<size_t>(end - buf));
    r->id.assign(id_prefix_);
    r->id.append(buf, end);
  }
  if (r->source.empty()) r->source = options_.source;
  if (options_.fill_missing_time && !r->time_us) {
    r->time_us = static_cast<int64_t>(env_->NowUnixMicros());
  }
}

Status ClientImpl::Record(const UsageRecord& record) {
  if (QueueSurelyFull()) return Refuse();
  if (!NeedsPrepare(record)) return Enqueue(record::EncodeCanonical(record));
  UsageRecord copy = record;
  Prepare(&copy);
  return Enqueue(record::EncodeCanonical(copy));
}

Status ClientImpl::Record(UsageRecord&& record) {
  if (QueueSurelyFull()) return Refuse();
  Prepare(&record);
  return Enqueue(record::EncodeCanonical(record));
}

bool ClientImpl::QueueSurelyFull() const {
  // Records of one producer are about the same size: when the last one would not fit, this one
  // will not either, so refuse before spending a microsecond encoding it. Hints may be stale;
  // that only moves the refusal to (or past) the exact check in Enqueue.
  return queue_bytes_hint_.load(std::memory_order_relaxed) +
             last_cost_hint_.load(std::memory_order_relaxed) >
         options_.max_memory_bytes;
}

Status ClientImpl::Refuse() {
  MutexLock l(&mu_);
  ++refused_;
  return closed_ ? Closed() : QueueFull();
}

// Built once: copying a Status shares its message, so refusing allocates nothing.
Status ClientImpl::QueueFull() {
  static const Status s =
      Status::ResourceExhausted("tokenaudit client queue full (max_memory_bytes)");
  return s;
}

Status ClientImpl::Closed() {
  static const Status s = Status::FailedPrecondition("tokenaudit client is closed");
  return s;
}

Status ClientImpl::Enqueue(std::string json) {
  const uint64_t cost = json.size() + kItemOverhead;
  bool wake = false;
  {
    MutexLock l(&mu_);
    last_cost_hint_.store(cost, std::memory_order_relaxed);
    if (closed_) {
      ++refused_;
      return Closed();
    }
    if (queue_bytes_ + cost > options_.max_memory_bytes) {
      ++refused_;
      return QueueFull();
    }
    // Wake the background thread only on edges: a full batch, or the spill mark crossed.
    wake = pending_ends_.size() + 1 == options_.max_batch_records ||
           (queue_bytes_ < high_water_bytes_ && queue_bytes_ + cost >= high_water_bytes_);
    queue_bytes_ += cost;
    queue_bytes_hint_.store(queue_bytes_, std::memory_order_relaxed);
    ++queue_records_;
    ++recorded_;
    ++next_ord_;
    pending_bytes_.append(json);
    pending_ends_.push_back(pending_bytes_.size());
  }
  if (wake) work_cv_.Signal();
  return Status::OK();
}

Status ClientImpl::Flush(std::chrono::milliseconds timeout) {
  const uint64_t deadline =
      env_->NowMicros() + static_cast<uint64_t>(std::max<int64_t>(0, timeout.count())) * 1000;
  MutexLock l(&mu_);
  if (stop_) return Closed();
  const uint64_t target = next_ord_;
  ++flush_waiters_;
  work_cv_.Signal();
  while (first_unsettled_ <= target) {
    const uint64_t now = env_->NowMicros();
    if (now >= deadline) break;
    done_cv_.WaitFor(&mu_, deadline - now);
  }
  --flush_waiters_;
  if (first_unsettled_ > target) return Status::OK();
  std::string msg = "flush timed out: records are not all acknowledged yet; ";
  msg += queue_records_ == 0 ? std::string("all unsettled records are in the spool")
                             : Plural(queue_records_, "record") + " only in memory";
  std::string err;
  {
    MutexLock e(&error_mu_);
    err = last_error_;
  }
  if (!err.empty()) msg += "; last error: " + err;
  return Status::Unavailable(msg);
}

Status ClientImpl::Close(std::chrono::milliseconds timeout) {
  MutexLock c(&close_mu_);
  if (close_done_) return close_status_;
  {
    MutexLock l(&mu_);
    closed_ = true;
  }
  Status flushed = Flush(timeout);
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  work_cv_.Signal();
  // A request still in flight after the deadline is abandoned; its records go to the spool
  // (if the server did store them, the next send is answered as a duplicate).
  transport_->Abort();
  if (thread_.joinable()) thread_.join();
  spool_.reset();  // releases the spool's lock: another Client may take the directory over
  uint64_t lost;
  {
    MutexLock l(&mu_);
    lost = lost_;
  }
  close_done_ = true;
  if (lost > 0) {
    close_status_ = Status::Unavailable(
        Plural(lost, "record") + " could not be delivered or spooled and were dropped" +
        (flushed.ok() ? std::string() : " (" + std::string(flushed.message()) + ")"));
  }
  return close_status_;
}

ClientStats ClientImpl::stats() const {
  ClientStats s;
  {
    MutexLock l(&mu_);
    s.recorded = recorded_;
    s.refused = refused_;
    s.queue_records = queue_records_;
    s.queue_bytes = queue_bytes_;
  }
  auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  s.acknowledged = get(acknowledged_);
  s.duplicates = get(duplicates_);
  s.rejected = get(rejected_);
  s.spooled = get(spooled_);
  s.replayed = get(replayed_);
  s.sent = get(sent_);
  s.retries = get(retries_);
  s.requests = get(requests_);
  s.failed_requests = get(failed_requests_);
  s.spool_files = get(spool_files_);
  s.spool_bytes = get(spool_bytes_);
  s.spool_skipped_bytes = get(spool_skipped_);
  s.spool_failed = spool_failed_.load(std::memory_order_relaxed);
  MutexLock e(&error_mu_);
  s.last_error = last_error_;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Background thread.

void ClientImpl::Run() {
  PublishProgress();
  for (;;) {
    const Wake w = WaitForWork();
    if (w.stop) break;
    const uint64_t now = env_->NowMicros();
    const Plan p = Decide(now, w);
    if (p.what == Plan::kSpill) {
      Spill();
    } else if (p.what == Plan::kSend) {
      Batch b = NextBatch(now);
      if (!b.items.empty()) Send(std::move(b));
    }
    PublishProgress();
  }
  Shutdown();
  PublishProgress();
}

ClientImpl::Wake ClientImpl::WaitForWork() {
  for (;;) {
    Wake w;
    uint64_t first_ord;
    {
      MutexLock l(&mu_);
      // O(1): callers are never held up by the copying Absorb does.
      spare_bytes_.swap(pending_bytes_);
      spare_ends_.swap(pending_ends_);
      first_ord = next_ord_ + 1 - spare_ends_.size();
      w.stop = stop_;
      w.flush = flush_waiters_ > 0 || closed_;
      w.queue_bytes = queue_bytes_;
    }
    Absorb(first_ord);
    if (w.stop) return w;
    const Plan p = Decide(env_->NowMicros(), w);
    if (p.what != Plan::kWait) return w;
    MutexLock l(&mu_);
    // Re-check what Record(), Flush() and Close() signal, so a signal sent since the snapshot
    // above is not lost. The wait is bounded anyway, so a missed spill mark costs one interval.
    if (stop_ != w.stop || (flush_waiters_ > 0 || closed_) != w.flush ||
        pending_ends_.size() >= options_.max_batch_records) {
      continue;
    }
    work_cv_.WaitFor(&mu_, std::clamp<uint64_t>(p.wait_us, 1, interval_us_));
  }
}

void ClientImpl::Absorb(uint64_t first_ord) {
  size_t start = 0;
  for (size_t i = 0; i < spare_ends_.size(); ++i) {
    const size_t end = spare_ends_[i];
    staged_.push_back(Item{spare_bytes_.substr(start, end - start), first_ord + i, false});
    staged_bytes_ += end - start;
    start = end;
  }
  spare_bytes_.clear();  // keeps the capacity: this buffer goes back to the callers next
  spare_ends_.clear();
}

bool ClientImpl::RetryHoldsMemoryItems() const {
  for (const Batch& b : retry_) {
    for (const Item& it : b.items) {
      if (!it.from_spool) return true;
    }
  }
  return false;
}

ClientImpl::Plan ClientImpl::Decide(uint64_t now, const Wake& w) {
  const bool memory_items = !staged_.empty() || RetryHoldsMemoryItems();
  const bool can_spill = spool_ && spool_->writable() && now >= spill_blocked_until_us_;
  if (can_spill && memory_items && w.queue_bytes >= high_water_bytes_) return {Plan::kSpill, 0};
  if (now < next_attempt_us_) {
    // Backing off: the server is unreachable or overloaded. Move memory to disk every interval
    // (or at once for a Flush), so a crash of this process loses nothing recorded before.
    uint64_t wait = next_attempt_us_ - now;
    if (can_spill && memory_items) {
      if (w.flush || now >= last_spill_us_ + interval_us_) return {Plan::kSpill, 0};
      wait = std::min(wait, last_spill_us_ + interval_us_ - now);
    }
    return {Plan::kWait, wait};
  }
  if (!retry_.empty() || (spool_ && !spool_->empty())) return {Plan::kSend, 0};
  if (!staged_.empty()) {
    if (staged_.size() >= options_.max_batch_records || staged_bytes_ >= options_.max_batch_bytes ||
        w.flush || now >= next_tick_us_) {
      return {Plan::kSend, 0};
    }
    return {Plan::kWait, next_tick_us_ - now};
  }
  // Idle: a record arriving from now on waits at most one interval.
  next_tick_us_ = now + interval_us_;
  return {Plan::kWait, interval_us_};
}

ClientImpl::Batch ClientImpl::NextBatch(uint64_t now) {
  Batch b;
  if (!retry_.empty()) {
    b = std::move(retry_.front());
    retry_.pop_front();
    b.resend = true;
    return b;
  }
  if (spool_ && spool_->HasUnread()) {
    std::vector<SpoolRecord> recs;
    auto n = spool_->ReadNext(options_.max_batch_records, options_.max_batch_bytes, &recs);
    if (!n.ok()) {
      Backoff(0, "reading the spool: " + n.status().ToString());
      return b;
    }
    b.items.reserve(recs.size());
    for (SpoolRecord& r : recs) {
      last_spool_read_ord_ = std::max(last_spool_read_ord_, r.ord);
      b.items.push_back(Item{std::move(r.json), r.ord, true});
    }
    replayed_.fetch_add(recs.size(), std::memory_order_relaxed);
    if (spool_->skipped_bytes() != spool_skipped_seen_) {
      spool_skipped_seen_ = spool_->skipped_bytes();
      SetError("spool: " + spool_->last_skip());
    }
    if (recs.empty()) AcknowledgeSpoolIfSettled();  // only unreadable bytes were left
    return b;
  }
  if (spool_ && !spool_->empty()) {
    AcknowledgeSpoolIfSettled();
    if (!spool_->empty()) {
      // Nothing to read, nothing awaiting an answer, yet files remain: should not happen.
      // Back off rather than spin, and say so.
      Backoff(0, "spool holds " + Plural(spool_->files(), "file") + " with nothing to read");
      return b;
    }
  }
  // Memory: records are sent from here only while the spool is empty, so order is kept.
  size_t bytes = 0;
  while (!staged_.empty() && b.items.size() < options_.max_batch_records) {
    const size_t size = staged_.front().json.size() + 1;
    if (!b.items.empty() && bytes + size > options_.max_batch_bytes) break;
    bytes += size;
    staged_bytes_ -= staged_.front().json.size();
    b.items.push_back(std::move(staged_.front()));
    staged_.pop_front();
  }
  next_tick_us_ = now + interval_us_;
  return b;
}

void ClientImpl::Send(Batch batch) {
  const size_t n = batch.items.size();
  std::string body;
  size_t total = 0;
  for (const Item& it : batch.items) total += it.json.size() + 1;
  body.reserve(total);
  for (const Item& it : batch.items) {
    body.append(it.json);
    body.push_back('\n');
  }
  requests_.fetch_add(1, std::memory_order_relaxed);
  sent_.fetch_add(n, std::memory_order_relaxed);
  if (batch.resend) retries_.fetch_add(n, std::memory_order_relaxed);

  HttpReply reply = transport_->Post(body);
  body.clear();

  if (reply.status == 200 || reply.status == 207) {
    std::vector<ItemResult> results;
    if (ParseBatchReply(reply.body, &results) && results.size() == n) {
      Batch again;
      uint64_t ok = 0, dups = 0;
      for (size_t i = 0; i < n; ++i) {
        Item& it = batch.items[i];
        const ItemResult& r = results[i];
        if (r.status == 200) {
          ++ok;
          dups += r.duplicate ? 1 : 0;
          Settle(it);
        } else if (IsRetryable(r.status)) {
          again.items.push_back(std::move(it));
        } else {
          Reject(it, r.status, r.error);
          Settle(it);
        }
      }
      acknowledged_.fetch_add(ok, std::memory_order_relaxed);
      duplicates_.fetch_add(dups, std::memory_order_relaxed);
      if (!again.items.empty()) {
        const size_t retry_count = again.items.size();
        retry_.push_front(std::move(again));
        Backoff(reply.retry_after_ms, "server could not take " + Plural(retry_count, "record") +
                                          " of a batch (HTTP " + std::to_string(reply.status) +
                                          " with retryable items)");
      } else {
        failures_ = 0;
      }
      AcknowledgeSpoolIfSettled();
      return;
    }
    reply.status = 0;
    reply.error = "unparseable batch answer";
  }
  if ((reply.status == 400 || reply.status == 413) && n > 1) {
    // The body as a whole was refused (invalid UTF-8 somewhere, too large): one record is at
    // fault, or the batch is too big. Halve until each record gets its own answer.
    Batch first, second;
    first.resend = second.resend = true;
    for (size_t i = 0; i < n; ++i) {
      (i < n / 2 ? first : second).items.push_back(std::move(batch.items[i]));
    }
    retry_.push_front(std::move(second));
    retry_.push_front(std::move(first));
    return;
  }
  if (reply.status == 400 || reply.status == 413) {
    ApiError e;
    if (!ParseErrorReply(reply.body, &e)) e.message = "request refused";
    Reject(batch.items[0], reply.status, e);
    Settle(batch.items[0]);
    failures_ = 0;
    AcknowledgeSpoolIfSettled();
    return;
  }
  // No answer, 5xx, 429, or a refusal of the request itself (401, 403, 404, 415, ...): the
  // records are fine; wait and send the same bytes again. A key or URL problem shows in
  // last_error and in Flush timing out, never in records being dropped.
  failed_requests_.fetch_add(1, std::memory_order_relaxed);
  std::string why;
  if (reply.status == 0) {
    why = "no answer from " + options_.url + ": " + reply.error;
  } else {
    ApiError e;
    why = "HTTP " + std::to_string(reply.status);
    if (ParseErrorReply(reply.body, &e)) why += " " + e.code + ": " + e.message;
  }
  retry_.push_front(std::move(batch));
  Backoff(reply.retry_after_ms, why);
}

void ClientImpl::Settle(const Item& item) {
  if (item.from_spool) return;
  released_bytes_ += item.json.size() + kItemOverhead;
  ++released_records_;
}

void ClientImpl::Reject(const Item& item, int http_status, const ApiError& error) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  if (!options_.on_rejected) return;
  RejectedRecord r;
  r.id = IdOf(item.json);
  r.http_status = http_status;
  r.code = error.code;
  r.field = error.field;
  r.message = error.message;
  r.record_json = item.json;
  options_.on_rejected(r);
}

uint64_t ClientImpl::NextRandom() {
  // xorshift64*: jitter only, no need for more.
  rng_state_ ^= rng_state_ >> 12;
  rng_state_ ^= rng_state_ << 25;
  rng_state_ ^= rng_state_ >> 27;
  return rng_state_ * 2685821657736338717ull;
}

void ClientImpl::Backoff(uint64_t retry_after_ms, const std::string& why) {
  ++failures_;
  const uint32_t shift = std::min<uint32_t>(failures_ - 1, 20);
  uint64_t d =
      std::min<uint64_t>(options_.max_backoff_ms, uint64_t{options_.initial_backoff_ms} << shift);
  d = d / 2 + NextRandom() % (d / 2 + 1);  // equal jitter: [d/2, d]
  d = std::max<uint64_t>(d, std::min<uint64_t>(retry_after_ms, options_.max_backoff_ms));
  next_attempt_us_ = env_->NowMicros() + d * 1000;
  SetError(why);
}

void ClientImpl::AcknowledgeSpoolIfSettled() {
  if (!spool_) return;
  for (const Batch& b : retry_) {
    for (const Item& it : b.items) {
      if (it.from_spool) return;  // an earlier spooled record still waits for its answer
    }
  }
  Status s = spool_->AcknowledgeRead();
  if (!s.ok()) SetError("deleting a spool file: " + s.ToString());
}

void ClientImpl::Spill() {
  const uint64_t now = env_->NowMicros();
  last_spill_us_ = now;
  // Oldest first: memory records awaiting a retry are older than everything staged.
  std::vector<SpoolEntry> entries;
  for (const Batch& b : retry_) {
    for (const Item& it : b.items) {
      if (!it.from_spool) entries.push_back(SpoolEntry{it.json, it.ord});
    }
  }
  for (const Item& it : staged_) entries.push_back(SpoolEntry{it.json, it.ord});
  if (entries.empty()) return;
  const bool was_empty = spool_->empty();
  Status s = spool_->Append(entries);
  if (!s.ok()) {
    spill_blocked_until_us_ = now + interval_us_;
    spool_failed_.store(!spool_->writable(), std::memory_order_relaxed);
    SetError("spooling " + Plural(entries.size(), "record") + ": " + s.ToString());
    return;
  }
  // Everything older than the first record just spooled has been read (or settled) already.
  if (was_empty) last_spool_read_ord_ = std::max(last_spool_read_ord_, entries.front().ord - 1);
  for (Batch& b : retry_) {
    std::erase_if(b.items, [this](const Item& it) {
      if (it.from_spool) return false;
      Settle(it);
      return true;
    });
  }
  std::erase_if(retry_, [](const Batch& b) { return b.items.empty(); });
  for (const Item& it : staged_) Settle(it);
  staged_.clear();
  staged_bytes_ = 0;
  spooled_.fetch_add(entries.size(), std::memory_order_relaxed);
}

void ClientImpl::Shutdown() {
  uint64_t first_ord;
  {
    MutexLock l(&mu_);
    spare_bytes_.swap(pending_bytes_);
    spare_ends_.swap(pending_ends_);
    first_ord = next_ord_ + 1 - spare_ends_.size();
  }
  Absorb(first_ord);
  if (spool_ && spool_->writable()) Spill();
  uint64_t lost = staged_.size();
  for (const Batch& b : retry_) {
    for (const Item& it : b.items) lost += it.from_spool ? 0 : 1;
  }
  if (lost > 0) {
    SetError(Plural(lost, "record") + " dropped at close: not delivered and not spooled");
  }
  MutexLock l(&mu_);
  lost_ = lost;
}

void ClientImpl::PublishProgress() {
  uint64_t low = UINT64_MAX;
  for (const Batch& b : retry_) {
    for (const Item& it : b.items) low = std::min(low, it.ord);
  }
  if (!staged_.empty()) low = std::min(low, staged_.front().ord);
  if (spool_ && !spool_->empty()) {
    // An earlier Client's records (ord 0) come before everything this one recorded.
    low = std::min(low, spool_->HoldsForeignFiles() ? 0 : last_spool_read_ord_ + 1);
  }
  if (spool_) {
    spool_files_.store(spool_->files(), std::memory_order_relaxed);
    spool_bytes_.store(spool_->bytes(), std::memory_order_relaxed);
    spool_skipped_.store(spool_->skipped_bytes(), std::memory_order_relaxed);
  }
  MutexLock l(&mu_);
  queue_bytes_ -= released_bytes_;
  queue_bytes_hint_.store(queue_bytes_, std::memory_order_relaxed);
  queue_records_ -= released_records_;
  released_bytes_ = released_records_ = 0;
  if (!pending_ends_.empty()) low = std::min(low, next_ord_ + 1 - pending_ends_.size());
  if (low == UINT64_MAX) low = next_ord_ + 1;
  if (low != first_unsettled_) {
    first_unsettled_ = low;
    done_cv_.SignalAll();
  }
}

void ClientImpl::SetError(const std::string& error) {
  MutexLock l(&error_mu_);
  last_error_ = error;
}

}  // namespace client
}  // namespace tokenaudit
