#include "src/ledger/ledger_impl.h"

#include <algorithm>
#include <utility>

#include "src/log/frame.h"
#include "src/log/log_format.h"
#include "src/log/segment_file.h"
#include "src/util/random.h"
#include "src/util/thread_name.h"

namespace tokenaudit {

Result<std::unique_ptr<Ledger>> Ledger::Open(const LedgerOptions& options) {
  return ledger::LedgerImpl::Open(options);
}

namespace ledger {
namespace {

constexpr uint64_t kMaxBatchBytes = 8ull << 20;

}  // namespace

LedgerImpl::LedgerImpl(const LedgerOptions& options)
    : options_(options),
      env_(options.env != nullptr ? options.env : Env::Default()),
      log_dir_(JoinPath(options.data_dir, "log")),
      checkpoint_dir_(JoinPath(options.data_dir, "checkpoints")),
      tree_(kTreeStoredLevel,
            [this](uint64_t begin, uint64_t end, std::vector<merkle::Hash>* out) {
              tree_mu_.AssertReaderHeld();  // the tree calls its source under tree_mu_
              return ReadLeafHashes(begin, end, out);
            }) {}

LedgerImpl::~LedgerImpl() { Close().IgnoreError(); }  // errors were reported to producers

Result<std::unique_ptr<Ledger>> LedgerImpl::Open(const LedgerOptions& options) {
  if (options.max_record_bytes == 0 || options.max_record_bytes > log::kMaxRecordBytes) {
    return Status::InvalidArgument("max_record_bytes must be in 1.." +
                                   std::to_string(log::kMaxRecordBytes));
  }
  if (options.segment_bytes < log::kSegmentHeaderSize + log::kFrameHeaderSize ||
      options.segment_bytes > (1ull << 31)) {
    return Status::InvalidArgument("segment_bytes must be between 88 bytes and 2 GiB");
  }
  std::unique_ptr<LedgerImpl> impl(new LedgerImpl(options));
  RETURN_IF_ERROR(impl->Recover());
  impl->writer_ = std::thread([p = impl.get()] {
    SetCurrentThreadName("ta-log-writer");
    p->WriterLoop();
  });
  impl->checkpoint_writer_ = std::thread([p = impl.get()] {
    SetCurrentThreadName("ta-checkpoints");
    p->CheckpointFileLoop();
  });
  return std::unique_ptr<Ledger>(std::move(impl));
}

Status LedgerImpl::RollSegment(uint64_t first_seq) {
  log::SegmentHeader h;
  h.first_seq = first_seq;
  h.salt = SecureRandomU64();
  h.log_id = log_id_raw_;
  h.created_unix_micros = env_->NowUnixMicros();
  if (segment_ != nullptr) {
    if (options_.page_cache_keep_bytes != UINT64_MAX) {
      segment_->DropCache(segment_->Size());  // sealed: synced by the caller
    }
    Status s = segment_->Close();
    segment_.reset();
    RETURN_IF_ERROR(s);
  }
  ASSIGN_OR_RETURN(segment_, log::CreateSegment(env_, log_dir_, h));
  segment_size_ = segment_->Size();
  salt_crc_ = log::SaltCrc(h.salt);
  WriterLock l(&tree_mu_);
  segments_.push_back({first_seq, h.salt, log::SegmentFileName(first_seq)});
  return Status::OK();
}

Status LedgerImpl::SyncSegment() {
  if (options_.unsafe_skip_sync_for_testing) return Status::OK();
  uint64_t start = env_->NowMicros();
  Status s = segment_->Sync();
  uint64_t took = env_->NowMicros() - start;
  if (s.ok() && segment_->Size() > options_.page_cache_keep_bytes) {
    segment_->DropCache(segment_->Size() - options_.page_cache_keep_bytes);
  }
  stat_syncs_.fetch_add(1, std::memory_order_relaxed);
  stat_last_sync_micros_.store(took, std::memory_order_relaxed);
  if (options_.on_sync) options_.on_sync(took);
  return s;
}

Status LedgerImpl::ValidateRequest(const Request& r) const {
  if (r.type != RecordType::kUsage && r.type != RecordType::kAccess) {
    return Status::InvalidArgument("only usage and access records can be appended");
  }
  if (r.count() == 0) return Status::InvalidArgument("empty batch");
  for (size_t i = 0; i < r.count(); ++i) {
    if (r.record(i).size() > options_.max_record_bytes) {
      return Status::InvalidArgument("record of " + std::to_string(r.record(i).size()) +
                                     " bytes exceeds max_record_bytes " +
                                     std::to_string(options_.max_record_bytes));
    }
  }
  return Status::OK();
}

Status LedgerImpl::Enqueue(Request* r) {
  // mu_ is held by the caller.
  if (!failed_.ok()) {
    return Status::Unavailable("ledger FAILED and refuses appends until restarted: " +
                               failed_.ToString());
  }
  if (closing_) return Status::Unavailable("ledger is closing");
  if (queue_bytes_ > 0 && queue_bytes_ + r->bytes > options_.max_queue_bytes) {
    return Status::ResourceExhausted("ledger queue is full (" + std::to_string(queue_bytes_) +
                                     " bytes waiting); retry later");
  }
  queue_.push_back(r);
  queue_bytes_ += r->bytes;
  queue_records_ += r->count();
  writer_cv_.Signal();
  return Status::OK();
}

Result<uint64_t> LedgerImpl::Append(std::string_view record, RecordType type) {
  return AppendBatch(std::span<const std::string_view>(&record, 1), type);
}

Result<uint64_t> LedgerImpl::AppendBatch(std::span<const std::string_view> records,
                                         RecordType type) {
  Request r;
  r.type = type;
  r.views = records;
  RETURN_IF_ERROR(ValidateRequest(r));
  r.leaves.reserve(records.size());
  for (auto rec : records) {
    r.leaves.push_back(merkle::HashLeaf(rec));
    r.bytes += rec.size() + log::kFrameHeaderSize;
  }
  CondVar cv;
  r.waiter = &cv;
  // Leader path: with nothing queued and no commit running, this thread writes and syncs its own
  // records, saving the two thread hand-offs of the writer path (about a third of a lone
  // producer's latency). Not for AppendAsync, whose callers must never block on the disk.
  if (options_.durability == Durability::kSync && TryCommitInline(&r)) {
    if (!r.status.ok()) return r.status;
    return r.first_seq;
  }
  MutexLock l(&mu_);
  RETURN_IF_ERROR(Enqueue(&r));
  while (!r.completed) cv.Wait(&mu_);
  if (!r.status.ok()) return r.status;
  return r.first_seq;
}

void LedgerImpl::AppendAsync(std::vector<std::string> records, RecordType type,
                             AppendCallback done) {
  auto r = std::make_unique<Request>();
  r->type = type;
  r->owned = std::move(records);
  r->done = std::move(done);
  Status s = ValidateRequest(*r);
  if (s.ok()) {
    r->leaves.reserve(r->owned.size());
    for (const auto& rec : r->owned) {
      r->leaves.push_back(merkle::HashLeaf(rec));
      r->bytes += rec.size() + log::kFrameHeaderSize;
    }
    MutexLock l(&mu_);
    s = Enqueue(r.get());
  }
  if (!s.ok()) {
    r->done(s, 0);
    return;
  }
  r.release();  // owned by the queue; the writer deletes it after `done`
}

void LedgerImpl::AppendAsync(RecordBatch records, RecordType type, AppendCallback done) {
  auto r = std::make_unique<Request>();
  r->type = type;
  r->framed = std::move(records);
  r->done = std::move(done);
  Status s = ValidateRequest(*r);
  if (s.ok()) {
    r->leaves = std::move(r->framed.leaves());  // hashed by RecordBatch, frames completed
    r->bytes = r->framed.frame_bytes();
    MutexLock l(&mu_);
    s = Enqueue(r.get());
  }
  if (!s.ok()) {
    r->done(s, 0);
    return;
  }
  r.release();  // owned by the queue; the writer deletes it after `done`
}

uint64_t LedgerImpl::MicrosUntilNextTimer() const {
  // Writer thread, with the commit role free: when a checkpoint or an interval sync falls due.
  uint64_t now = env_->NowMicros();
  uint64_t wait = 3600ull * 1000 * 1000;
  if (records_since_checkpoint_ > 0 && synced_seq_ == next_seq_) {
    uint64_t due = last_checkpoint_micros_ + options_.checkpoint_interval_ms * 1000ull;
    wait = std::min(wait, due > now ? due - now : 0);
  }
  if (options_.durability == Durability::kInterval && synced_seq_ < next_seq_) {
    uint64_t due = last_sync_micros_ + options_.sync_interval_ms * 1000ull;
    wait = std::min(wait, due > now ? due - now : 0);
  }
  return wait;
}

void LedgerImpl::WriterLoop() {
  std::vector<Request*> batch;
  for (;;) {
    bool closing;
    {
      MutexLock l(&mu_);
      // The commit state may only be read while no producer holds the commit role.
      while (committing_ ||
             (queue_.empty() && !closing_ && (writer_failed_ || pending_system_.empty()))) {
        if (committing_ || writer_failed_) {
          // A producer is committing (it signals when done), or FAILED: no timers remain.
          writer_waiting_ = true;
          writer_cv_.Wait(&mu_);
          writer_waiting_ = false;
          continue;
        }
        uint64_t wait = MicrosUntilNextTimer();
        if (wait == 0) break;
        writer_deadline_micros_ = env_->NowMicros() + wait;
        writer_cv_.WaitFor(&mu_, wait);
        writer_deadline_micros_ = 0;
      }
      // Group commit: producers answered by the last commit are resubmitting right now. Waiting
      // a fraction of a sync for them halves the number of syncs under concurrency; a lone
      // producer (last batch of one request) never waits here.
      if (options_.durability == Durability::kSync && !closing_ && !queue_.empty() &&
          queue_.size() < last_batch_requests_) {
        const uint64_t start = env_->NowMicros();
        const uint64_t window =
            std::min<uint64_t>(1000, stat_last_sync_micros_.load(std::memory_order_relaxed) / 4);
        for (uint64_t now = start; queue_.size() < last_batch_requests_ && !closing_ &&
                                   now - start < window;
             now = env_->NowMicros()) {
          writer_cv_.WaitFor(&mu_, window - (now - start));
        }
      }
      uint64_t bytes = 0;
      while (!queue_.empty() &&
             (batch.empty() || bytes + queue_.front()->bytes <= kMaxBatchBytes)) {
        Request* r = queue_.front();
        queue_.pop_front();
        bytes += r->bytes;
        queue_bytes_ -= r->bytes;
        queue_records_ -= r->count();
        batch.push_back(r);
      }
      closing = closing_ && queue_.empty();
      if (!batch.empty()) last_batch_requests_ = batch.size();
      committing_ = true;
    }
    Commit(&batch, closing);
    {
      MutexLock l(&mu_);
      committing_ = false;
    }
    if (closing) break;
  }
}

bool LedgerImpl::TryCommitInline(Request* r) {
  {
    MutexLock l(&mu_);
    if (committing_ || !queue_.empty() || closing_ || !failed_.ok()) return false;
    committing_ = true;
    last_batch_requests_ = 1;
  }
  std::vector<Request*> batch{r};
  Commit(&batch, /*closing=*/false);
  const uint64_t due = env_->NowMicros() + MicrosUntilNextTimer();  // still holding the role
  MutexLock l(&mu_);
  committing_ = false;
  // Hand the role back to the writer if producers queued meanwhile, if it waits for the role to
  // re-arm its timers (which it may not read while the role is held), or if this commit made a
  // checkpoint or sync due before the writer's timer would wake it.
  if (!queue_.empty() || closing_ || writer_waiting_ ||
      (writer_deadline_micros_ != 0 && due < writer_deadline_micros_)) {
    writer_cv_.Signal();
  }
  return true;
}

void LedgerImpl::Commit(std::vector<Request*>* batch, bool closing) {
  Status s;
  if (writer_failed_) {
    MutexLock l(&mu_);
    s = Status::Unavailable("ledger FAILED: " + failed_.ToString());
  } else {
    bool has_records =
        std::any_of(batch->begin(), batch->end(), [](const Request* r) { return r->count() > 0; });
    if (has_records || !pending_system_.empty()) s = WriteBatch(*batch);
    if (s.ok() && options_.durability == Durability::kInterval && synced_seq_ < next_seq_ &&
        (closing ||
         env_->NowMicros() - last_sync_micros_ >= options_.sync_interval_ms * 1000ull)) {
      s = SyncSegment();
      if (s.ok()) {
        synced_seq_ = next_seq_;
        last_sync_micros_ = env_->NowMicros();
      } else {
        Latch(s);
      }
    }
    bool force = closing || std::any_of(batch->begin(), batch->end(),
                                        [](const Request* r) { return r->force_checkpoint; });
    if (s.ok()) {
      Status cs = MaybeCheckpoint(force);
      if (!cs.ok()) Latch(cs);
      if (force && cs.ok()) {
        MutexLock l(&mu_);
        for (Request* r : *batch) {
          if (r->force_checkpoint) r->checkpoint = latest_checkpoint_;
        }
      }
      if (!cs.ok()) s = cs;
    }
    if (closing && s.ok() && !pending_system_.empty()) {
      s = WriteBatch({});  // the final checkpoint's record
      if (s.ok() && options_.durability == Durability::kInterval) s = SyncSegment();
      if (!s.ok()) Latch(s);
    }
  }
  Complete(batch, s);
}

Status LedgerImpl::WriteBatch(const std::vector<Request*>& batch) {
  buf_.clear();
  batch_leaves_.clear();
  batch_offsets_.clear();
  const uint64_t start_seq = next_seq_;
  uint64_t seq = next_seq_;
  const uint64_t limit = options_.segment_bytes;
  // Bytes of this batch appended to the current segment so far (segment_size_ excludes them).
  uint64_t written = 0;
  // Frames of a RecordBatch request completed in place and not yet appended: they follow buf_.
  const char* slice = nullptr;
  size_t slice_size = 0;
  auto append = [&](std::string_view data) -> Status {
    RETURN_IF_ERROR(segment_->Append(data));
    written += data.size();
    stat_bytes_.fetch_add(data.size(), std::memory_order_relaxed);
    return Status::OK();
  };
  // Appends what is pending, buf_ first.
  auto flush = [&]() -> Status {
    if (!buf_.empty()) {
      RETURN_IF_ERROR(append(buf_));
      buf_.clear();
    }
    if (slice_size > 0) {
      RETURN_IF_ERROR(append(std::string_view(slice, slice_size)));
      slice += slice_size;
      slice_size = 0;
    }
    return Status::OK();
  };
  // Makes room for a frame of `frame` bytes, first sealing the segment and starting a new one if
  // it is full; records where the frame starts.
  auto room = [&](uint64_t frame) -> Status {
    const uint64_t at = segment_size_ + written + buf_.size() + slice_size;
    if (at + frame > limit && at > log::kSegmentHeaderSize) {
      RETURN_IF_ERROR(flush());
      RETURN_IF_ERROR(SyncSegment());  // seal: durable before the next segment exists
      RETURN_IF_ERROR(RollSegment(seq));
      written = 0;
    }
    batch_offsets_.push_back(
        static_cast<uint32_t>(segment_size_ + written + buf_.size() + slice_size));
    return Status::OK();
  };
  auto add = [&](RecordType type, std::string_view payload) -> Status {
    if (slice_size > 0) RETURN_IF_ERROR(flush());  // buf_ must not pass a pending slice
    RETURN_IF_ERROR(room(log::kFrameHeaderSize + payload.size()));
    log::EncodeFrame(salt_crc_, seq, static_cast<uint8_t>(type), payload, &buf_);
    ++seq;
    return Status::OK();
  };
  // A RecordBatch: each frame's header is completed in place and the frames are appended as
  // they are in the producer's buffer.
  auto add_framed = [&](Request* r) -> Status {
    RecordBatch& b = r->framed;
    slice = b.data();
    for (size_t i = 0; i < b.size(); ++i) {
      const size_t frame = b.frame_size(i);
      RETURN_IF_ERROR(room(frame));
      if (slice_size == 0) slice = b.data() + b.frame_offset(i);  // after a roll
      log::CompleteFrameHeader(salt_crc_, seq, static_cast<uint8_t>(r->type), b.mutable_frame(i));
      slice_size += frame;
      ++seq;
    }
    return flush();
  };
  Status s;
  for (const auto& sys : pending_system_) {
    if (!(s = add(sys.type, sys.payload)).ok()) break;
    batch_leaves_.push_back(merkle::HashLeaf(sys.payload));
  }
  for (Request* r : batch) {
    if (!s.ok()) break;
    r->first_seq = seq;
    if (!r->framed.empty()) {
      s = add_framed(r);
    } else {
      for (size_t i = 0; i < r->count() && s.ok(); ++i) s = add(r->type, r->record(i));
    }
    batch_leaves_.insert(batch_leaves_.end(), r->leaves.begin(), r->leaves.end());
  }
  if (s.ok()) s = flush();
  if (s.ok() && options_.durability == Durability::kSync) s = SyncSegment();
  if (!s.ok()) {
    Latch(s);
    return s;
  }
  // Durable (kSync) or written (kInterval): the leaves join the tree and producers are answered.
  segment_size_ = segment_->Size();
  next_seq_ = seq;
  if (options_.durability == Durability::kSync) {
    synced_seq_ = seq;
    last_sync_micros_ = env_->NowMicros();
  }
  {
    WriterLock l(&tree_mu_);
    for (const auto& leaf : batch_leaves_) tree_.Append(leaf);
    for (uint32_t off : batch_offsets_) offsets_.push_back(off);
  }
  uint64_t user_records = seq - start_seq;
  for (const auto& sys : pending_system_) {
    if (sys.type == RecordType::kCheckpoint) --user_records;
  }
  records_since_checkpoint_ += user_records;
  pending_system_.clear();
  stat_records_.fetch_add(seq - start_seq, std::memory_order_relaxed);
  stat_batches_.fetch_add(1, std::memory_order_relaxed);
  if (options_.on_batch) options_.on_batch(seq - start_seq);
  return Status::OK();
}

Status LedgerImpl::MaybeCheckpoint(bool force) {
  const uint64_t now = env_->NowMicros();
  if (records_since_checkpoint_ == 0) {
    // Nothing new. A forced checkpoint of a log that never had one still states the root.
    MutexLock l(&mu_);
    if (!force || latest_checkpoint_.signature_hex.size() > 0) return Status::OK();
  } else if (!force && now - last_checkpoint_micros_ < options_.checkpoint_interval_ms * 1000ull &&
             records_since_checkpoint_ < options_.checkpoint_every_records) {
    return Status::OK();
  }
  if (synced_seq_ != next_seq_) return Status::OK();  // kInterval: wait for the next sync
  Checkpoint cp;
  cp.log_id = log_id_hex_;
  cp.tree_size = next_seq_;
  {
    ReaderLock l(&tree_mu_);
    cp.root = tree_.Root();
  }
  cp.time_unix_micros = env_->NowUnixMicros();
  RETURN_IF_ERROR(signer_->Sign(&cp));
  if (force) {
    // CreateCheckpoint() and Close() return only when the files are there.
    RETURN_IF_ERROR(WriteCheckpointFiles(cp));
  } else {
    // Periodic checkpoints are written by the checkpoint thread, so the writer does not stall on
    // their two fsyncs; the signed record in the log is the authoritative copy either way.
    MutexLock l(&cp_mu_);
    cp_queue_.push_back(cp);
    cp_cv_.Signal();
  }
  pending_system_.push_back({RecordType::kCheckpoint, EncodeCheckpointRecord(cp)});
  records_since_checkpoint_ = 0;
  last_checkpoint_micros_ = now;
  {
    MutexLock l(&mu_);
    latest_checkpoint_ = cp;
  }
  return Status::OK();
}

Status LedgerImpl::WriteCheckpointFiles(const Checkpoint& cp) {
  MutexLock l(&cp_files_mu_);  // the writer (forced) and the checkpoint thread may both be here
  const std::string text = EncodeCheckpointFile(cp);
  const std::string name = CheckpointFileName(cp.tree_size);
  RETURN_IF_ERROR(WriteFileAtomic(env_, JoinPath(checkpoint_dir_, name), text));
  if (!options_.checkpoint_mirror_dir.empty()) {
    RETURN_IF_ERROR(WriteFileAtomic(env_, JoinPath(options_.checkpoint_mirror_dir, name), text));
  }
  // Keep the newest files; every checkpoint also lives on in the log. A file that cannot be
  // removed costs only disk space, so removal errors are not failures of the ledger.
  auto children = env_->GetChildren(checkpoint_dir_);
  if (children.ok()) {
    std::vector<uint64_t> sizes;
    for (const auto& n : *children) {
      uint64_t size = 0;
      if (ParseCheckpointFileName(n, &size)) sizes.push_back(size);
    }
    std::sort(sizes.begin(), sizes.end());
    size_t keep = std::max<uint32_t>(options_.checkpoint_files_kept, 1);
    for (size_t i = 0; i + keep < sizes.size(); ++i) {
      env_->RemoveFile(JoinPath(checkpoint_dir_, CheckpointFileName(sizes[i]))).IgnoreError();
    }
  }
  return Status::OK();
}

void LedgerImpl::CheckpointFileLoop() {
  for (;;) {
    Checkpoint cp;
    {
      MutexLock l(&cp_mu_);
      while (cp_queue_.empty() && !cp_stop_) cp_cv_.Wait(&cp_mu_);
      if (cp_queue_.empty()) return;  // stopping, and everything queued is written
      cp = std::move(cp_queue_.front());
      cp_queue_.pop_front();
    }
    if (writer_failed_.load()) continue;  // FAILED: write nothing more
    Status s = WriteCheckpointFiles(cp);
    if (!s.ok()) Latch(s.WithContext("writing checkpoint file"));
  }
}

void LedgerImpl::Latch(const Status& s) {
  writer_failed_ = true;
  MutexLock l(&mu_);
  if (failed_.ok()) failed_ = s;
}

void LedgerImpl::Complete(std::vector<Request*>* batch, const Status& s) {
  std::vector<Request*> async;
  {
    MutexLock l(&mu_);
    for (Request* r : *batch) {
      r->status = s;
      if (r->waiter != nullptr) {
        r->completed = true;
        r->waiter->Signal();
      } else {
        async.push_back(r);
      }
    }
  }
  for (Request* r : async) {
    r->done(s, s.ok() ? r->first_seq : 0);
    delete r;
  }
  batch->clear();
}

Checkpoint LedgerImpl::LatestCheckpoint() const {
  MutexLock l(&mu_);
  return latest_checkpoint_;
}

Result<Checkpoint> LedgerImpl::CreateCheckpoint() {
  Request r;
  r.force_checkpoint = true;
  CondVar cv;
  r.waiter = &cv;
  MutexLock l(&mu_);
  RETURN_IF_ERROR(Enqueue(&r));
  while (!r.completed) cv.Wait(&mu_);
  if (!r.status.ok()) return r.status;
  return r.checkpoint;
}

uint64_t LedgerImpl::Size() const {
  ReaderLock l(&tree_mu_);
  return tree_.size();
}

Result<merkle::Hash> LedgerImpl::RootAt(uint64_t tree_size) const {
  ReaderLock l(&tree_mu_);
  return tree_.RootAt(tree_size);
}

Result<std::vector<merkle::Hash>> LedgerImpl::InclusionProof(uint64_t seq,
                                                             uint64_t tree_size) const {
  ReaderLock l(&tree_mu_);
  return tree_.InclusionProof(seq, tree_size);
}

Result<std::vector<merkle::Hash>> LedgerImpl::ConsistencyProof(uint64_t size1,
                                                               uint64_t size2) const {
  ReaderLock l(&tree_mu_);
  return tree_.ConsistencyProof(size1, size2);
}

LedgerStats LedgerImpl::GetStats() const {
  LedgerStats st;
  st.records_appended = stat_records_.load(std::memory_order_relaxed);
  st.batches = stat_batches_.load(std::memory_order_relaxed);
  st.syncs = stat_syncs_.load(std::memory_order_relaxed);
  st.bytes_written = stat_bytes_.load(std::memory_order_relaxed);
  st.last_sync_micros = stat_last_sync_micros_.load(std::memory_order_relaxed);
  st.tree_size = Size();
  MutexLock l(&mu_);
  st.queue_depth = queue_records_;
  st.queue_bytes = queue_bytes_;
  st.failed = !failed_.ok();
  st.failure = failed_.ok() ? "" : failed_.ToString();
  return st;
}

Status LedgerImpl::Close() {
  MutexLock close_lock(&close_mu_);  // one Close at a time; later ones return its result
  {
    MutexLock l(&mu_);
    if (closed_) return close_status_;
    closing_ = true;
    writer_cv_.Signal();
  }
  if (writer_.joinable()) writer_.join();
  {
    MutexLock l(&cp_mu_);
    cp_stop_ = true;
    cp_cv_.Signal();
  }
  if (checkpoint_writer_.joinable()) checkpoint_writer_.join();
  Status s;
  if (segment_ != nullptr) {
    s = segment_->Close();
    segment_.reset();
  }
  lock_.reset();  // another process (or a reopen) may take the directory now
  MutexLock l(&mu_);
  closed_ = true;
  close_status_ = failed_.ok() ? s : failed_;
  return close_status_;
}

}  // namespace ledger
}  // namespace tokenaudit
