// Ledger: the append-only, group-committed, crash-safe record log at the heart of tokenaudit.
//
// Every record appended becomes a leaf of an RFC 6962 Merkle tree; its `seq` is the leaf index.
// Many threads append; one writer thread batches whatever is queued, writes it with one write(2),
// calls fdatasync once, and then completes every producer of the batch (leveldb DBImpl::Write,
// with a dedicated writer). Signed checkpoints (tree_size, root, time) are emitted at least every
// `checkpoint_interval_ms` while the tree grows and every `checkpoint_every_records` records.
//
// Durability: with Durability::kSync (the default) Append returns only after the fdatasync that
// covers the record returned. With Durability::kInterval, Append returns once the record is
// written to the OS, and the writer syncs every `sync_interval_ms`; a crash (power loss, not a
// process kill) may lose up to that window of acknowledged records.
//
// Failure: a failed write or sync latches the ledger FAILED. Nothing is acknowledged after the
// failure; every later Append returns Unavailable. Only reopening (which recovers from disk)
// clears it. fsync is never retried on the same descriptor.
//
// Thread-safety: all methods are thread-safe. The Ledger must outlive calls in flight; Close()
// (or destruction) waits for them.

#ifndef TOKENAUDIT_LEDGER_H_
#define TOKENAUDIT_LEDGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenaudit/env.h"
#include "tokenaudit/merkle.h"
#include "tokenaudit/record_batch.h"
#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

namespace tokenaudit {

// What a log record is. Every type is a Merkle leaf; only kUsage and kAccess come from callers.
enum class RecordType : uint8_t {
  kUsage = 1,       // a usage record (canonical JSON)
  kCheckpoint = 2,  // a signed checkpoint of the tree before it (written by the ledger)
  kRecovery = 3,    // a note that recovery truncated a torn tail (written by the ledger)
  kAccess = 4,      // an audited read by an admin or auditor
};

enum class Durability { kSync, kInterval };

struct LedgerOptions {
  // Not owned; must outlive the Ledger. nullptr means Env::Default().
  Env* env = nullptr;
  std::string data_dir = "./tokenaudit-data";
  bool create_if_missing = true;

  Durability durability = Durability::kSync;
  // kInterval only: how often the writer syncs; the window of loss on power failure.
  uint32_t sync_interval_ms = 50;

  // A segment is sealed and a new one started once it holds this many bytes.
  uint64_t segment_bytes = 64ull << 20;
  // The log is written once and read rarely (rebuilds, proofs' records, paging by seq): of what
  // is synced, only the last this many bytes of the open segment are left in the OS page cache,
  // and a sealed segment leaves none (WritableFile::DropCache). Without it the page cache grows
  // by every byte logged, which costs the writer page allocations and, in a VM, the host's
  // faults on memory it has reclaimed: measured at half the writer's CPU (bench/RESULTS.md,
  // session 5). UINT64_MAX keeps everything cached.
  uint64_t page_cache_keep_bytes = 8ull << 20;
  // Appends larger than this are refused with InvalidArgument. At most kMaxRecordBytes (16 MiB).
  uint32_t max_record_bytes = 1u << 20;
  // Bytes queued for the writer beyond which Append returns ResourceExhausted at once.
  uint64_t max_queue_bytes = 256ull << 20;

  // Checkpoints: at least this often while records arrive, and after this many records.
  uint32_t checkpoint_interval_ms = 1000;
  uint64_t checkpoint_every_records = 100000;
  // Checkpoint files kept in <data_dir>/checkpoints (older ones stay in the log itself).
  uint32_t checkpoint_files_kept = 64;
  // If set, every checkpoint is also written (atomically) to this directory.
  std::string checkpoint_mirror_dir;
  // Ed25519 signing key (PEM, PKCS#8). Empty: <data_dir>/keys/checkpoint_ed25519.pem, created
  // with mode 0600 on first open.
  std::string signing_key_path;

  // Observers for metrics, called on the writer thread; must be cheap and must not block.
  std::function<void(uint64_t sync_micros)> on_sync;         // after every data fdatasync
  std::function<void(uint64_t batch_records)> on_batch;      // after every group commit

  // Test only: skip fdatasync entirely, so power-loss tests can prove they detect loss.
  bool unsafe_skip_sync_for_testing = false;
};

// A signed statement of the tree: `root` is the Merkle root of leaves [0, tree_size).
struct Checkpoint {
  std::string log_id;  // 32 hex digits, fixed at data-directory creation
  uint64_t tree_size = 0;
  merkle::Hash root{};
  uint64_t time_unix_micros = 0;
  std::string public_key_hex;  // raw Ed25519 public key, 64 hex digits
  std::string signature_hex;   // Ed25519 over SignedMessage(), 128 hex digits
};

struct LedgerStats {
  uint64_t records_appended = 0;  // acknowledged, including ledger-written records
  uint64_t batches = 0;
  uint64_t syncs = 0;
  uint64_t bytes_written = 0;
  uint64_t queue_depth = 0;      // records waiting for the writer
  uint64_t queue_bytes = 0;
  uint64_t last_sync_micros = 0;  // duration of the last fdatasync
  uint64_t tree_size = 0;         // durable leaves
  bool failed = false;
  std::string failure;            // the Status that latched FAILED, if any
};

// What recovery found when the ledger was opened.
struct RecoveryReport {
  uint64_t records = 0;
  uint64_t segments = 0;
  uint64_t truncated_bytes = 0;  // torn tail cut from the last segment (0 if none)
  std::string truncated_segment;
  uint64_t truncated_offset = 0;
  uint64_t checkpoints_checked = 0;
};

class Ledger {
 public:
  using AppendCallback = std::function<void(const Status&, uint64_t first_seq)>;

  Ledger() = default;
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;
  // Equivalent to Close(), ignoring its status.
  virtual ~Ledger() = default;

  // Opens (recovering) or creates the ledger in options.data_dir. Refuses with Corruption, naming
  // the segment and offset, if any frame other than a torn tail of the last segment is bad, or if
  // the recovered tree does not reproduce the latest checkpoint's root at its size.
  static Result<std::unique_ptr<Ledger>> Open(const LedgerOptions& options);

  // Appends one record and waits until it is durable (see Durability). Returns its seq.
  // InvalidArgument if too large; ResourceExhausted if the queue is full; Unavailable once FAILED
  // or closed.
  virtual Result<uint64_t> Append(std::string_view record,
                                  RecordType type = RecordType::kUsage) = 0;
  // Appends records as consecutive seqs, all or nothing, and waits; returns the first seq.
  virtual Result<uint64_t> AppendBatch(std::span<const std::string_view> records,
                                       RecordType type = RecordType::kUsage) = 0;
  // Queues records (consecutive seqs) and returns at once; `done` runs on the writer thread after
  // the batch is durable or has failed. It must not block or call back into the Ledger's
  // blocking methods. If the records are refused up front, `done` runs before AppendAsync returns.
  virtual void AppendAsync(std::vector<std::string> records, RecordType type,
                           AppendCallback done) = 0;
  // The same for records packed in a RecordBatch, which the writer completes and writes in place
  // (no per-record allocation or copy). The batch is owned by the ledger until `done` has run.
  virtual void AppendAsync(RecordBatch records, RecordType type, AppendCallback done) = 0;

  // Reads the record at `seq` back from the log, re-checking its frame. NotFound if seq >= Size();
  // Corruption if the frame no longer verifies; IOError if it cannot be read.
  virtual Status Read(uint64_t seq, std::string* payload, RecordType* type) const = 0;
  using ScanVisitor = std::function<Status(uint64_t seq, RecordType type, std::string_view payload)>;
  // Visits records [from_seq, Size() at the time of the call) in seq order; stops at the first
  // error `fn` returns and returns it. Reads segments sequentially: for rebuilding derived state.
  virtual Status Scan(uint64_t from_seq, const ScanVisitor& fn) const = 0;

  // The newest checkpoint written (tree_size 0 before the first one).
  virtual Checkpoint LatestCheckpoint() const = 0;
  // Forces a checkpoint of everything durable now and returns it.
  virtual Result<Checkpoint> CreateCheckpoint() = 0;

  // Number of durable leaves and the root over them.
  virtual uint64_t Size() const = 0;
  virtual Result<merkle::Hash> RootAt(uint64_t tree_size) const = 0;
  virtual Result<std::vector<merkle::Hash>> InclusionProof(uint64_t seq,
                                                           uint64_t tree_size) const = 0;
  virtual Result<std::vector<merkle::Hash>> ConsistencyProof(uint64_t size1,
                                                             uint64_t size2) const = 0;

  virtual LedgerStats GetStats() const = 0;
  virtual const RecoveryReport& recovery_report() const = 0;

  // Stops accepting, completes everything queued, syncs, writes a final checkpoint and stops the
  // writer. Returns the first error seen (or the latched failure). Idempotent.
  virtual Status Close() = 0;
};

// The byte string a checkpoint's signature covers:
// "tokenaudit-checkpoint/v1\n<log_id>\n<tree_size>\n<root hex>\n<time_unix_micros>\n".
std::string SignedMessage(const Checkpoint& cp);
// Checks the signature against the checkpoint's own public key. Corruption if it does not verify.
Status VerifyCheckpointSignature(const Checkpoint& cp);

}  // namespace tokenaudit

#endif  // TOKENAUDIT_LEDGER_H_
