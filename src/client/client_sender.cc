// The client's background thread: batching, sending, retries with backoff, the spool.

#include "src/client/client_impl.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "src/record/record_json.h"
#include "src/util/random.h"

namespace tokenaudit::client {
namespace {

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

}  // namespace

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

}  // namespace tokenaudit::client
