#include "src/query/usage_store.h"

#include <algorithm>
#include <string_view>

namespace tokenaudit::query {
namespace {

// FNV-1a, 64 bits: a fingerprint of a run's parameters, not a security boundary.
class Fnv {
 public:
  void Add(std::string_view s) {
    for (unsigned char c : s) h_ = (h_ ^ c) * 0x100000001b3ull;
    h_ = (h_ ^ 0xff) * 0x100000001b3ull;  // separator: ("ab","c") != ("a","bc")
  }
  void Add(int64_t v) { Add(std::string_view(reinterpret_cast<const char*>(&v), sizeof(v))); }
  int64_t value() const { return static_cast<int64_t>(h_); }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

// The first 8 bytes of "sha256:<64 hex>" (any prefix before ':' ignored), 0 if it is not hex.
int64_t HashPrefix(std::string_view h) {
  if (size_t colon = h.find(':'); colon != std::string_view::npos) h.remove_prefix(colon + 1);
  if (h.size() < 16) return 0;
  uint64_t v = 0;
  for (size_t i = 0; i < 16; ++i) {
    const char c = h[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return 0;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return static_cast<int64_t>(v);
}

}  // namespace

UsageStore::UsageStore() : tail_(std::make_shared<TailChunk>()) {
  sealer_ = std::thread([this] { SealLoop(); });
}

UsageStore::~UsageStore() {
  {
    MutexLock l(&mu_);
    stop_ = true;
    seal_cv_.Signal();
  }
  sealer_.join();
}

Row UsageStore::MakeRow(const UsageRecord& r, uint64_t seq) {
  Row row{};
  const std::string* strings[kNumStringCols] = {&r.tenant,    &r.user,   &r.model,
                                               &r.workflow,  &r.task_type, &r.status,
                                               &r.node_type, &r.device};
  for (int c = 0; c < kNumStringCols; ++c) row[c] = dicts_[c].Intern(*strings[c]);
  row[kSeq] = static_cast<int64_t>(seq);
  row[kTime] = r.time_us.value_or(0);
  row[kDuration] = r.duration_ms.value_or(-1);
  row[kTokensMilli] = r.estimated_tokens_milli.value_or(0);
  row[kGflopsMilli] = r.gflops_milli.value_or(0);
  row[kCostMicros] = r.cost_micros.value_or(0);
  row[kWidth] = r.input_width.value_or(0);
  row[kHeight] = r.input_height.value_or(0);
  row[kBatch] = r.input_batch.value_or(0);
  row[kModelInputSize] = r.input_model_input_size.value_or(0);
  row[kInputHash] = HashPrefix(r.input_hash);
  Fnv params;
  params.Add(r.model);
  params.Add(r.model_variant);
  params.Add(r.node_type);
  params.Add(r.workflow_hash);
  params.Add(r.input_model_input_size.value_or(-1));
  params.Add(r.input_batch.value_or(-1));
  row[kParamHash] = params.value();
  return row;
}

void UsageStore::Add(std::span<const Row> rows) {
  MutexLock l(&mu_);
  for (const Row& row : rows) {
    if (tail_rows_ == kChunkRows) {
      frozen_.push_back(std::move(tail_));
      tail_ = std::make_shared<TailChunk>();
      tail_rows_ = 0;
      seal_cv_.Signal();
    }
    tail_->Set(tail_rows_++, row);
  }
  rows_ += rows.size();
}

UsageStore::Snapshot UsageStore::Snap() const {
  Snapshot s;
  MutexLock l(&mu_);
  s.sealed = sealed_;
  for (const auto& f : frozen_) s.raw.push_back({f, kChunkRows});
  if (tail_rows_ > 0) s.raw.push_back({tail_, tail_rows_});
  return s;
}

uint64_t UsageStore::rows() const {
  MutexLock l(&mu_);
  return rows_;
}

UsageStore::Stats UsageStore::GetStats() const {
  MutexLock l(&mu_);
  Stats st{rows_, sealed_.size(), sealed_bytes_, persist_failures_, 0, 0};
  for (const auto& c : sealed_) {
    st.sealed_memory_bytes += c->memory_bytes();
    st.sealed_on_disk += c->on_disk() ? 1 : 0;
  }
  return st;
}

Status UsageStore::Open(Env* env, const std::string& dir, std::vector<bool>* loaded,
                        size_t* discarded) {
  *discarded = 0;
  RETURN_IF_ERROR(env->CreateDir(dir));
  ASSIGN_OR_RETURN(std::vector<std::string> names, env->GetChildren(dir));
  std::sort(names.begin(), names.end());
  std::vector<int64_t> seqs(kChunkRows);
  DecodeScratch scratch;
  for (const std::string& name : names) {
    const std::string path = JoinPath(dir, name);
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".tac") != 0) {
      if (name.find(".tmp") != std::string::npos) env->RemoveFile(path).IgnoreError();
      continue;
    }
    // Only the metadata is read (and the seq column, to know which records the file holds);
    // queries read the other frames from the file when they need them.
    Result<std::shared_ptr<const SealedChunk>> chunk = SealedChunk::OpenFile(env, path, &dicts_, /*verify_data=*/true);
    Status s = chunk.ok() ? (*chunk)->Decode(kSeq, seqs.data(), &scratch) : chunk.status();
    // Seqs must be new: a chunk that overlaps another (a copy, a crash between write and
    // cleanup) is dropped whole, the log supplies its rows.
    for (size_t i = 0; s.ok() && i < (*chunk)->rows(); ++i) {
      if (seqs[i] < 0 || (static_cast<size_t>(seqs[i]) < loaded->size() && (*loaded)[seqs[i]])) {
        s = Status::Corruption("overlaps another chunk");
      }
    }
    if (!s.ok()) {
      ++*discarded;
      env->RemoveFile(path).IgnoreError();
      continue;
    }
    for (size_t i = 0; i < (*chunk)->rows(); ++i) {
      if (static_cast<size_t>(seqs[i]) >= loaded->size()) loaded->resize(seqs[i] + 1);
      (*loaded)[seqs[i]] = true;
    }
    MutexLock l(&mu_);
    sealed_.push_back(*chunk);
    sealed_bytes_ += (*chunk)->encoded_bytes();
    rows_ += (*chunk)->rows();
  }
  env_ = env;
  dir_ = dir;
  return Status::OK();
}

std::shared_ptr<const SealedChunk> UsageStore::Persist(std::shared_ptr<const SealedChunk> chunk) {
  const std::string path = JoinPath(dir_, std::to_string(chunk->min(kSeq)) + "-" +
                                              std::to_string(chunk->max(kSeq)) + ".tac");
  Status s = WriteFileAtomic(env_, path, chunk->EncodeFile(dicts_));
  if (s.ok()) {
    // From now on the chunk is read from its file: only its metadata stays in memory. The
    // strings are interned already, so the reopened chunk maps codes to themselves.
    std::array<Dictionary, kNumStringCols>* dicts = &dicts_;
    Result<std::shared_ptr<const SealedChunk>> reopened = SealedChunk::OpenFile(env_, path, dicts, /*verify_data=*/false);
    if (reopened.ok()) return *reopened;
    s = reopened.status();
  }
  MutexLock l(&mu_);
  ++persist_failures_;
  return chunk;
}

void UsageStore::WaitSealed() {
  MutexLock l(&mu_);
  while (!frozen_.empty()) sealed_cv_.Wait(&mu_);
}

void UsageStore::SealLoop() {
  for (;;) {
    std::shared_ptr<TailChunk> chunk;
    {
      MutexLock l(&mu_);
      while (frozen_.empty() && !stop_) seal_cv_.Wait(&mu_);
      if (stop_) return;
      chunk = frozen_.front();
    }
    // Full chunks are immutable: sealing reads them without the lock.
    std::shared_ptr<const SealedChunk> sealed = SealedChunk::Seal(*chunk, kChunkRows);
    if (env_ != nullptr) sealed = Persist(std::move(sealed));
    MutexLock l(&mu_);
    sealed_.push_back(std::move(sealed));
    sealed_bytes_ += sealed_.back()->encoded_bytes();
    frozen_.pop_front();
    sealed_cv_.SignalAll();
  }
}

}  // namespace tokenaudit::query
