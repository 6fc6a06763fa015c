// The Ledger implementation: one writer thread group-commits what producers queue; a blocking
// producer that finds the ledger idle commits its own records instead (the commit role).
//
// Data directory layout (doc/data_dir_format.md):
//   LEDGER                     format version and log id, written once at creation
//   LOCK                       advisory lock: one process per data directory
//   log/<first seq>.seg        segments (doc/log_format.md)
//   checkpoints/<size>.cp      the newest checkpoints (doc/checkpoint_format.md)
//   keys/checkpoint_ed25519.pem  the signing key unless LedgerOptions::signing_key_path is set

#ifndef TOKENAUDIT_LEDGER_LEDGER_IMPL_H_
#define TOKENAUDIT_LEDGER_LEDGER_IMPL_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "src/ledger/checkpoint.h"
#include "src/merkle/hash_tree.h"
#include "src/util/chunked_vector.h"
#include "src/util/mutex.h"
#include "src/util/thread_annotations.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::ledger {

class LedgerImpl final : public Ledger {
 public:
  static Result<std::unique_ptr<Ledger>> Open(const LedgerOptions& options);
  ~LedgerImpl() override;

  Result<uint64_t> Append(std::string_view record, RecordType type) override;
  Result<uint64_t> AppendBatch(std::span<const std::string_view> records,
                               RecordType type) override;
  void AppendAsync(std::vector<std::string> records, RecordType type,
                   AppendCallback done) override;
  void AppendAsync(RecordBatch records, RecordType type, AppendCallback done) override;

  Status Read(uint64_t seq, std::string* payload, RecordType* type) const override;
  Status Scan(uint64_t from_seq, const ScanVisitor& fn) const override;
  Checkpoint LatestCheckpoint() const override;
  Result<Checkpoint> CreateCheckpoint() override;
  uint64_t Size() const override;
  Result<merkle::Hash> RootAt(uint64_t tree_size) const override;
  Result<std::vector<merkle::Hash>> InclusionProof(uint64_t seq,
                                                   uint64_t tree_size) const override;
  Result<std::vector<merkle::Hash>> ConsistencyProof(uint64_t size1,
                                                     uint64_t size2) const override;
  LedgerStats GetStats() const override;
  const RecoveryReport& recovery_report() const override { return recovery_; }
  Status Close() override;

 private:
  // One producer's submission, queued for the writer.
  struct Request {
    RecordType type = RecordType::kUsage;
    std::vector<std::string> owned;            // AppendAsync: the records
    RecordBatch framed;                        // AppendAsync(RecordBatch): written in place
    std::span<const std::string_view> views;   // AppendBatch: borrowed while the caller waits
    std::vector<merkle::Hash> leaves;          // computed on the producer's thread
    uint64_t bytes = 0;
    bool force_checkpoint = false;             // CreateCheckpoint()
    AppendCallback done;                       // AppendAsync
    CondVar* waiter = nullptr;                 // AppendBatch / CreateCheckpoint, under mu_
    bool completed = false;                    // under mu_
    Status status;
    uint64_t first_seq = 0;
    Checkpoint checkpoint;                     // force_checkpoint result

    size_t count() const {
      return !framed.empty() ? framed.size() : owned.empty() ? views.size() : owned.size();
    }
    std::string_view record(size_t i) const {
      return !framed.empty() ? framed.record(i) : owned.empty() ? views[i] : owned[i];
    }
  };
  // Where the frames of one segment are; the index of Read().
  struct SegmentInfo {
    uint64_t first_seq;
    uint64_t salt;
    std::string name;
  };
  struct SystemRecord {
    RecordType type;
    std::string payload;
  };

  explicit LedgerImpl(const LedgerOptions& options);

  Status Recover();
  Status LoadCheckpointFiles(const std::string& dir, std::vector<Checkpoint>* out);
  Status ValidateRequest(const Request& r) const;
  // Queues `r`; the refusal (closed, failed, full) is returned without queueing.
  Status Enqueue(Request* r) TA_REQUIRES(mu_);
  void WriterLoop();
  // Takes the commit role if it is free and nothing is queued, commits `r` on the calling thread
  // and returns true; returns false (nothing done) otherwise.
  bool TryCommitInline(Request* r) TA_EXCLUDES(mu_);
  // Writes `batch`, syncs, checkpoints if due and completes every request. Only the holder of
  // the commit role (committing_) may call it.
  void Commit(std::vector<Request*>* batch, bool closing) TA_EXCLUDES(mu_);
  // Writes pending system records and the records of `batch` as one write, then syncs (kSync).
  // Assigns seqs; on success appends the leaves to the tree. Commit role only.
  Status WriteBatch(const std::vector<Request*>& batch);
  Status RollSegment(uint64_t first_seq);
  // The segment holding `seq` (which must be < offsets_.size()).
  const SegmentInfo& SegmentOf(uint64_t seq) const TA_REQUIRES_SHARED(tree_mu_);
  // Reads and checks the frame of `seq` at `offset` of `seg`.
  Status ReadFrameAt(const SegmentInfo& seg, uint64_t offset, uint64_t seq, std::string* payload,
                     RecordType* type) const;
  // The tree's leaf source: leaf hashes of seqs [begin, end), read back from the log.
  Status ReadLeafHashes(uint64_t begin, uint64_t end, std::vector<merkle::Hash>* out) const
      TA_REQUIRES_SHARED(tree_mu_);
  Result<std::shared_ptr<RandomAccessFile>> SegmentFile(const std::string& name) const;
  Status SyncSegment();
  // Creates, signs and persists a checkpoint of everything durable if one is due (or `force`),
  // queuing its log record to be written next. Commit role only.
  Status MaybeCheckpoint(bool force);
  // Writes a checkpoint's files (checkpoints/, mirror) atomically and prunes old ones.
  Status WriteCheckpointFiles(const Checkpoint& cp);
  // The checkpoint thread: writes the files of periodic checkpoints.
  void CheckpointFileLoop();
  // Latches FAILED; callable from the writer and the checkpoint thread.
  void Latch(const Status& s) TA_EXCLUDES(mu_);
  void Complete(std::vector<Request*>* batch, const Status& s) TA_EXCLUDES(mu_);
  uint64_t MicrosUntilNextTimer() const;

  const LedgerOptions options_;
  Env* const env_;  // not owned
  const std::string log_dir_;
  const std::string checkpoint_dir_;
  std::string log_id_hex_;
  std::string log_id_raw_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<CheckpointSigner> signer_;
  RecoveryReport recovery_;

  // Producer/writer hand-off.
  Mutex close_mu_;  // serialises Close()
  mutable Mutex mu_;
  CondVar writer_cv_;
  std::deque<Request*> queue_ GUARDED_BY(mu_);
  uint64_t queue_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t queue_records_ GUARDED_BY(mu_) = 0;
  bool closing_ GUARDED_BY(mu_) = false;
  Status failed_ GUARDED_BY(mu_);  // non-OK once latched
  Checkpoint latest_checkpoint_ GUARDED_BY(mu_);
  bool closed_ GUARDED_BY(mu_) = false;
  Status close_status_ GUARDED_BY(mu_);
  // The commit role: whoever sets it (the writer thread, or a blocking producer that found the
  // ledger idle) owns the commit state below until it clears it again under mu_.
  bool committing_ GUARDED_BY(mu_) = false;
  bool writer_waiting_ GUARDED_BY(mu_) = false;  // the writer waits for the role to be freed
  uint64_t writer_deadline_micros_ GUARDED_BY(mu_) = 0;  // its timer, while in a timed wait

  // Commit state, owned by the holder of the commit role (also touched by Open before the
  // writer starts).
  std::unique_ptr<WritableFile> segment_;
  uint64_t segment_size_ = 0;
  uint32_t salt_crc_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t synced_seq_ = 0;      // every seq below is durable
  uint64_t last_sync_micros_ = 0;  // monotonic time of the last data sync
  uint64_t last_checkpoint_micros_ = 0;
  uint64_t records_since_checkpoint_ = 0;  // non-checkpoint leaves since the last checkpoint
  size_t last_batch_requests_ = 0;  // requests in the last group commit
  std::atomic<bool> writer_failed_{false};  // set by Latch from either thread
  std::vector<SystemRecord> pending_system_;
  std::string buf_;
  std::vector<merkle::Hash> batch_leaves_;
  std::vector<uint32_t> batch_offsets_;

  // The Merkle tree over acknowledged leaves and the location of each record; written by the
  // writer, read by proofs and Read(). The tree keeps nodes from level kTreeStoredLevel up
  // (perfect subtrees of 256 leaves: 0.25 bytes per record instead of 64) and reads the leaves
  // of older blocks back from the log when a proof needs them.
  static constexpr int kTreeStoredLevel = 8;
  mutable SharedMutex tree_mu_;
  merkle::HashTree tree_ GUARDED_BY(tree_mu_);
  std::vector<SegmentInfo> segments_ GUARDED_BY(tree_mu_);  // by first_seq
  ChunkedVector<uint32_t> offsets_ GUARDED_BY(tree_mu_);    // frame offset of each seq

  mutable Mutex files_mu_;
  mutable std::map<std::string, std::shared_ptr<RandomAccessFile>> files_ GUARDED_BY(files_mu_);

  std::atomic<uint64_t> stat_records_{0}, stat_batches_{0}, stat_syncs_{0}, stat_bytes_{0},
      stat_last_sync_micros_{0};

  std::thread writer_;

  // Periodic checkpoint files, written off the writer thread.
  Mutex cp_mu_;
  CondVar cp_cv_;
  std::deque<Checkpoint> cp_queue_ GUARDED_BY(cp_mu_);
  bool cp_stop_ GUARDED_BY(cp_mu_) = false;
  Mutex cp_files_mu_;  // serialises WriteCheckpointFiles
  std::thread checkpoint_writer_;
};

}  // namespace tokenaudit::ledger

#endif  // TOKENAUDIT_LEDGER_LEDGER_IMPL_H_
