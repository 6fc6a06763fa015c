// ClientImpl: the Client of include/tokenaudit/client.h. Callers encode and enqueue under one
// short lock; one background thread owns everything else (batching, the HTTP transport, the
// spool, retries) and publishes progress back under the same lock. doc/client.md describes the
// state machine.

#ifndef TOKENAUDIT_CLIENT_CLIENT_IMPL_H_
#define TOKENAUDIT_CLIENT_CLIENT_IMPL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "src/client/http_transport.h"
#include "src/client/ingest_reply.h"
#include "src/client/spool.h"
#include "src/util/mutex.h"
#include "tokenaudit/client.h"

namespace tokenaudit::client {

// Memory accounted per queued record beyond its JSON: the Item, the deque slot, malloc headers.
inline constexpr uint64_t kItemOverhead = 64;

// "1 record", "3 records".
inline std::string Plural(uint64_t n, std::string_view what) {
  return std::to_string(n) + " " + std::string(what) + (n == 1 ? "" : "s");
}

class ClientImpl final : public Client {
 public:
  static Result<std::unique_ptr<ClientImpl>> Create(const ClientOptions& options);
  ~ClientImpl() override;

  Status Record(const UsageRecord& record) override;
  Status Record(UsageRecord&& record) override;
  Status Flush(std::chrono::milliseconds timeout) override;
  Status Close(std::chrono::milliseconds timeout) override;
  ClientStats stats() const override;

 private:
  // One encoded record in memory.
  struct Item {
    std::string json;
    // Position in Record() order, from 1; 0 for records of an earlier Client's spool.
    uint64_t ord = 0;
    bool from_spool = false;  // a copy of a spooled record: memory is not accounted for it
  };
  struct Batch {
    std::vector<Item> items;
    bool resend = false;
  };
  // What Record() wakes the background thread with, and what it finds.
  struct Wake {
    bool stop = false;
    bool flush = false;  // a Flush or Close is waiting: send partial batches at once
    uint64_t queue_bytes = 0;
  };
  struct Plan {
    enum What { kWait, kSpill, kSend } what = kWait;
    uint64_t wait_us = 0;
  };

  ClientImpl(const ClientOptions& options, Env* env, std::unique_ptr<HttpTransport> transport,
             std::unique_ptr<Spool> spool, std::string id_prefix);

  void Prepare(UsageRecord* r);
  bool NeedsPrepare(const UsageRecord& r) const;
  // Copies `json` into the pending buffer (it may point into the caller's scratch).
  Status Enqueue(std::string_view json);
  bool QueueSurelyFull() const;
  Status Refuse();
  static Status QueueFull();
  static Status Closed();

  // Background thread.
  void Run();
  Wake WaitForWork();
  Plan Decide(uint64_t now, const Wake& w);
  Batch NextBatch(uint64_t now);
  void Send(Batch batch);
  void Spill();
  void Shutdown();
  void Settle(const Item& item);
  void Reject(const Item& item, int http_status, const ApiError& error);
  void Backoff(uint64_t retry_after_ms, const std::string& why);
  void AcknowledgeSpoolIfSettled();
  bool RetryHoldsMemoryItems() const;
  void PublishProgress();
  // Moves records taken from the callers (spare_bytes_/spare_ends_, the first with ord
  // `first_ord`) into staged_.
  void Absorb(uint64_t first_ord);
  void SetError(const std::string& error);
  uint64_t NextRandom();

  const ClientOptions options_;
  Env* const env_;               // not owned (ClientOptions::env, or the default Env)
  const std::string id_prefix_;  // "<22 chars of base64url>-"
  const uint64_t high_water_bytes_;
  const uint64_t interval_us_;
  std::atomic<uint64_t> next_id_{0};

  // Shared with callers.
  mutable Mutex mu_;
  CondVar work_cv_;  // the background thread waits on it
  CondVar done_cv_;  // Flush waits on it
  // Records queued by Record(), back to back, and where each ends. Bytes, not one string per
  // record: a caller's allocations are then freed by the caller (thread-local malloc caches
  // stay warm) and the two buffers, swapped with the background thread's, keep their pages.
  std::string pending_bytes_ GUARDED_BY(mu_);
  std::vector<size_t> pending_ends_ GUARDED_BY(mu_);
  uint64_t next_ord_ GUARDED_BY(mu_) = 0;  // the last ord given out; pending records end with it
  uint64_t queue_bytes_ GUARDED_BY(mu_) = 0;
  // queue_bytes_ as last written, for Record() to refuse without encoding when the queue is
  // already full.
  std::atomic<uint64_t> queue_bytes_hint_{0};
  std::atomic<uint64_t> last_cost_hint_{0};  // accounted size of the last record offered
  uint64_t queue_records_ GUARDED_BY(mu_) = 0;
  uint64_t recorded_ GUARDED_BY(mu_) = 0;
  uint64_t refused_ GUARDED_BY(mu_) = 0;
  // Smallest ord not settled yet, as last published by the background thread.
  uint64_t first_unsettled_ GUARDED_BY(mu_) = 1;
  int flush_waiters_ GUARDED_BY(mu_) = 0;
  bool closed_ GUARDED_BY(mu_) = false;  // Record() refuses
  bool stop_ GUARDED_BY(mu_) = false;    // the background thread persists what is left and exits
  uint64_t lost_ GUARDED_BY(mu_) = 0;    // records dropped at shutdown

  // Serializes Close() calls; the first does the work, later ones return its answer.
  Mutex close_mu_;
  bool close_done_ GUARDED_BY(close_mu_) = false;
  Status close_status_ GUARDED_BY(close_mu_);

  // Background thread only.
  std::unique_ptr<HttpTransport> transport_;
  std::unique_ptr<Spool> spool_;  // null without spool_dir
  std::string spare_bytes_;       // swapped with pending_bytes_
  std::vector<size_t> spare_ends_;
  std::deque<Item> staged_;  // taken from pending_, oldest first
  uint64_t staged_bytes_ = 0;
  std::deque<Batch> retry_;       // sent before anything else, front first
  uint64_t next_attempt_us_ = 0;  // no request before this (backoff)
  uint32_t failures_ = 0;         // consecutive failed attempts
  uint64_t next_tick_us_ = 0;     // a partial batch is sent at this time
  uint64_t last_spill_us_ = 0;
  uint64_t spill_blocked_until_us_ = 0;
  uint64_t last_spool_read_ord_ = 0;  // every spooled record with a smaller ord has been read
  uint64_t spool_skipped_seen_ = 0;   // skipped bytes already reported in last_error
  uint64_t released_bytes_ = 0;       // accounted bytes settled or spilled, not yet published
  uint64_t released_records_ = 0;
  uint64_t rng_state_;

  // Counters the background thread writes and stats() reads.
  std::atomic<uint64_t> acknowledged_{0}, duplicates_{0}, rejected_{0}, spooled_{0}, replayed_{0},
      sent_{0}, retries_{0}, requests_{0}, failed_requests_{0}, spool_files_{0}, spool_bytes_{0},
      spool_skipped_{0};
  std::atomic<bool> spool_failed_{false};
  mutable Mutex error_mu_;
  std::string last_error_ GUARDED_BY(error_mu_);

  std::thread thread_;
};

}  // namespace tokenaudit::client

#endif  // TOKENAUDIT_CLIENT_CLIENT_IMPL_H_
