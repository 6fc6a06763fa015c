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

// The server refuses bodies over 8 MiB (doc/usage_record.md, max_body_bytes).
constexpr uint32_t kMaxBodyBytes = 8u << 20;

// A producer thread's reusable buffers: once they have grown to a record's size, Record()
// allocates nothing (a copy-assigned UsageRecord keeps its strings' capacity).
struct ProducerScratch {
  UsageRecord record;
  std::string json;
};

ProducerScratch& ThisThreadScratch() {
  thread_local ProducerScratch scratch;
  return scratch;
}

// The canonical JSON of `r`, written into `buf` (grown as needed).
std::string_view EncodeInto(const UsageRecord& r, std::string* buf) {
  const size_t bound = record::CanonicalSizeBound(r);
  if (buf->size() < bound) buf->resize(bound);
  const char* end = record::EncodeCanonicalTo(r, buf->data());
  return std::string_view(buf->data(), static_cast<size_t>(end - buf->data()));
}

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
  ProducerScratch& scratch = ThisThreadScratch();
  if (!NeedsPrepare(record)) return Enqueue(EncodeInto(record, &scratch.json));
  scratch.record = record;
  Prepare(&scratch.record);
  return Enqueue(EncodeInto(scratch.record, &scratch.json));
}

Status ClientImpl::Record(UsageRecord&& record) {
  if (QueueSurelyFull()) return Refuse();
  Prepare(&record);
  return Enqueue(EncodeInto(record, &ThisThreadScratch().json));
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

Status ClientImpl::Enqueue(std::string_view json) {
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

}  // namespace client
}  // namespace tokenaudit
