// Client: the C++ producer library for tokenaudit's ingest API (DESIGN §4, doc/client.md).
//
//   ClientOptions o;
//   o.url = "http://127.0.0.1:8080";
//   o.api_key = "ta_...";                       // an `ingest` key
//   o.spool_dir = "/var/lib/myapp/tokenaudit";  // survive server outages and restarts
//   ASSIGN_OR_RETURN(std::unique_ptr<Client> client, Client::Create(o));
//   Status s = client->Record(std::move(record));  // never waits for the network or the disk
//
// Record() encodes the record on the caller's thread and appends it to a bounded in-memory
// queue; it never performs I/O. One background thread per Client sends the queue in batches
// (POST /v1/events, NDJSON) over one keep-alive connection, reads the per-item results, and
// retries what the server could not take, always with the same bytes, so the same `id`: the
// server's idempotency key (tenant, source, id) turns a resent record into a duplicate answer,
// never into a second stored record.
//
// While the server is unreachable (connection refused or reset, timeouts, 5xx, 429), the
// background thread moves queued records to the spool: append-only, CRC-framed files in
// `spool_dir`, fsync'd before the records leave memory. When the server answers again, the
// spool is sent first, oldest record first, and a spool file is deleted only once every record
// in it has been answered. A Client created on a spool directory that holds files (from a
// Client that was closed while the server was down, or from a process that crashed) sends
// them before anything recorded since.
//
// Delivery guarantee: every record Record() accepted is, eventually, either acknowledged by
// the server (stored, or reported as already stored) or permanently rejected by it (a 4xx for
// that item: counted in stats().rejected and passed to on_rejected), and never stored twice.
// "Eventually" holds across server restarts; across restarts of the producing process it
// holds for records that reached the spool (see doc/client.md for the exact windows).
//
// Thread-safety: every method may be called from any number of threads at once (a Record()
// racing with Close() is either queued and handled by the Close, or refused). The destructor
// must not race with other calls on the same Client.

#ifndef TOKENAUDIT_CLIENT_H_
#define TOKENAUDIT_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tokenaudit/env.h"
#include "tokenaudit/result.h"
#include "tokenaudit/status.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit {

// A record the server refused for good (a 4xx answer for that item, or for a request holding
// only that record). It is not retried.
struct RejectedRecord {
  std::string id;
  int http_status = 0;      // 400, 403, 413, ...
  std::string code;         // the API's error.code, e.g. "invalid_type"; may be empty
  std::string field;        // the JSON name at fault; may be empty
  std::string message;      // never contains record values (doc/usage_record.md §2)
  std::string record_json;  // the bytes sent (canonical JSON)
};

struct ClientOptions {
  // Base URL of `tokenaudit serve`: "http://host:port" (or "https://..."), optionally with a
  // path prefix; records go to <url>/v1/events. Required.
  std::string url;
  // Sent as "Authorization: Bearer <api_key>" when not empty. A key of role `ingest` suffices.
  std::string api_key;
  // `source` given to records that have none. Part of the idempotency key, so keep it stable
  // for one producer.
  std::string source = "tokenaudit-cpp-client";

  // Directory for the disk spool (created if missing, locked while the Client lives). Empty:
  // memory only, so records still queued when the process exits or crashes are lost, and a
  // full queue makes Record() return ResourceExhausted.
  std::string spool_dir;

  // Bytes of encoded records held in memory (queued, in flight, awaiting a retry), counted as
  // the JSON size plus a fixed per-record overhead. At half of it, with a spool, the background
  // thread moves the queue to disk; at the limit Record() returns ResourceExhausted.
  uint64_t max_memory_bytes = 16ull << 20;
  // The spool's size limit on disk; beyond it records stay in memory (and memory fills up).
  uint64_t max_spool_bytes = 1ull << 30;
  // A spool file is closed and a new one started once it holds this many bytes.
  uint64_t spool_file_bytes = 4ull << 20;

  // One request carries at most this many records (1..10000, the server's max_items) ...
  uint32_t max_batch_records = 1000;
  // ... and at most this many body bytes (at least one record; at most 8 MiB minus headroom).
  uint32_t max_batch_bytes = 4u << 20;
  // A record waits at most this long in the queue before a (possibly partial) batch is sent.
  uint32_t flush_interval_ms = 100;

  uint32_t connect_timeout_ms = 2000;
  // Whole request, connect to last byte of the answer.
  uint32_t request_timeout_ms = 10000;
  // Retry delay after the n-th consecutive failure: min(max, initial * 2^(n-1)), with "equal
  // jitter" (uniform in [d/2, d]); a Retry-After from the server raises it, up to the max.
  uint32_t initial_backoff_ms = 100;
  uint32_t max_backoff_ms = 5000;
  // How long the destructor lets Close() try to deliver before it persists the rest.
  uint32_t close_timeout_ms = 5000;

  // Set `time` (the end of the invocation) to the current wall-clock time when a record has
  // none. `time` is required by the server; turn this off to have such records rejected.
  bool fill_missing_time = true;

  // Called on the background thread for every record the server refused for good. Must be
  // cheap and must not call back into the Client (Flush or Close would deadlock).
  std::function<void(const RejectedRecord&)> on_rejected;

  // File system and clocks. Not owned; must outlive the Client. nullptr: Env::Default().
  Env* env = nullptr;
};

// Counters since Create(). Records are counted once each unless noted.
struct ClientStats {
  uint64_t recorded = 0;             // Record() calls that returned OK
  uint64_t refused = 0;              // Record() calls that returned an error (queue full, closed)
  uint64_t acknowledged = 0;         // records the server confirmed stored, duplicates included
  uint64_t duplicates = 0;           // of those, records the server already had (a resend)
  uint64_t rejected = 0;             // records refused for good (see RejectedRecord)
  uint64_t spooled = 0;              // records written to the spool
  uint64_t replayed = 0;             // records read back from the spool to be sent
  uint64_t sent = 0;                 // records put in requests, every attempt counted
  uint64_t retries = 0;              // records sent again after an attempt that did not settle them
  uint64_t requests = 0;             // POST requests made
  uint64_t failed_requests = 0;      // requests that failed as a whole (network, 5xx, 429, ...)
  uint64_t queue_records = 0;        // records in memory now
  uint64_t queue_bytes = 0;          // their accounted bytes (see max_memory_bytes)
  uint64_t spool_files = 0;          // spool files on disk now
  uint64_t spool_bytes = 0;          // their total size
  uint64_t spool_skipped_bytes = 0;  // unreadable spool bytes skipped (torn tails, bad frames)
  bool spool_failed = false;         // a spool write or fsync failed; the spool takes no more
  std::string last_error;            // the most recent failure, for operators; "" if none
};

class Client {
 public:
  Client() = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Close(close_timeout_ms), ignoring its status.
  virtual ~Client() = default;

  // Validates the options, opens and locks the spool (FailedPrecondition if another Client
  // holds it), and starts the background thread, which first sends whatever the spool holds.
  // InvalidArgument for bad options; IOError if the spool directory cannot be used.
  static Result<std::unique_ptr<Client>> Create(const ClientOptions& options);

  // Queues one record; never blocks on the network or the disk (it takes one short internal
  // lock). Gives the record an `id` when it has none (unique: a random 128-bit per-Client prefix
  // plus a counter), `source` from the options when it has none, and `time` (see
  // fill_missing_time). The record is not validated here: the server's per-item answer decides,
  // and a refusal is reported through stats().rejected and on_rejected.
  // Returns ResourceExhausted when max_memory_bytes is reached (the record is not kept: the
  // caller decides whether to retry, wait or drop it), FailedPrecondition after Close().
  virtual Status Record(const UsageRecord& record) = 0;
  virtual Status Record(UsageRecord&& record) = 0;

  // Sends queued records now and waits until every record Record() accepted before this call
  // is settled: acknowledged by the server or permanently rejected. OK then. Unavailable when
  // `timeout` passes first; the message says how many records are still unsettled and whether
  // the spool holds them (they are then safe from a crash of this process).
  virtual Status Flush(std::chrono::milliseconds timeout) = 0;

  // Refuses further records, delivers for up to `timeout` (as Flush), then writes whatever is
  // still unsettled to the spool, stops the background thread and releases the spool
  // directory. OK when nothing is lost: everything was settled or is in the spool, where the
  // next Client on the same spool_dir finds it. Unavailable, with the count, if records had to
  // be dropped (no spool, spool full or failed). Later calls return the first call's answer.
  // After Close, Flush returns FailedPrecondition and stats() stays readable.
  virtual Status Close(std::chrono::milliseconds timeout) = 0;

  virtual ClientStats stats() const = 0;
};

}  // namespace tokenaudit

#endif  // TOKENAUDIT_CLIENT_H_
