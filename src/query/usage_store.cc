#include "src/query/usage_store.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <string_view>

#include "src/util/thread_name.h"

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
  // A table instead of branches: the digits of a hash are random, so a branch per digit on
  // digit-or-letter is mispredicted a third of the time.
  static constexpr std::array<uint8_t, 256> kDigit = [] {
    std::array<uint8_t, 256> t{};
    t.fill(0xff);
    for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<uint8_t>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<uint8_t>(c - 'a' + 10);
    return t;
  }();
  uint64_t v = 0;
  uint8_t bad = 0;
  for (size_t i = 0; i < 16; ++i) {
    const uint8_t d = kDigit[static_cast<unsigned char>(h[i])];
    bad |= d;
    v = v << 4 | (d & 0xf);
  }
  return bad & 0xf0 ? 0 : static_cast<int64_t>(v);
}

// The InternCache way of a user string (not empty): its first and last (up to) 8 bytes and its
// length, mixed by two multiplications; the top 8 bits (the low bits of a product depend only
// on the low bits of its factors). Strings that differ only in the middle share a way.
size_t UserWay(std::string_view s) {
  uint64_t head = 0, tail = 0;
  const size_t n = std::min<size_t>(s.size(), sizeof(tail));
  std::memcpy(&head, s.data(), n);
  std::memcpy(&tail, s.data() + s.size() - n, n);
  uint64_t h = head * 0x9E3779B97F4A7C15ull;
  h ^= tail ^ (uint64_t{s.size()} << 56);
  h *= 0xC2B2AE3D27D4EB4Full;
  return static_cast<size_t>(h >> 56);
}

// The partition of time t (width w > 0), rounded down: times before 1970 too.
int64_t PartitionOf(int64_t t, int64_t w) { return t >= 0 ? t / w : -((-(t + 1)) / w) - 1; }

}  // namespace

// Tails whose last reference is gone (after their seal, or when the last query that read one
// ends), kept for the next tail: their ~14 MB of columns are faulted in already, where a fresh
// tail was allocated and first touched under the store's lock on an HTTP thread. One is kept.
// Every tail's deleter brings it here under the pool's mutex, so the writer's first Set on a
// reused tail happens after the last reader's reads of it.
class TailPool : public std::enable_shared_from_this<TailPool> {
 public:
  std::shared_ptr<TailChunk> New() {
    std::unique_ptr<TailChunk> tail;
    {
      MutexLock l(&mu_);
      tail = std::move(spare_);
    }
    if (tail == nullptr) tail = std::make_unique<TailChunk>();
    return std::shared_ptr<TailChunk>(tail.release(),
                                      [pool = shared_from_this()](TailChunk* t) { pool->Put(t); });
  }

 private:
  void Put(TailChunk* t) {
    std::unique_ptr<TailChunk> tail(t);  // freed after the lock is released, unless kept
    MutexLock l(&mu_);
    if (spare_ == nullptr) spare_ = std::move(tail);
  }

  Mutex mu_;
  std::unique_ptr<TailChunk> spare_ GUARDED_BY(mu_);
};

UsageStore::UsageStore(MergePolicy merge)
    : tail_pool_(std::make_shared<TailPool>()), tail_(tail_pool_->New()), merge_(merge) {
  sealer_ = std::thread([this] { SealLoop(); });
  if (MergeOn()) {
    merger_ = std::thread([this] { MergeLoop(); });
  }
}

UsageStore::~UsageStore() {
  stopping_.store(true);
  {
    MutexLock l(&mu_);
    stop_ = true;
    seal_cv_.Signal();
    merge_cv_.Signal();
  }
  sealer_.join();
  if (merger_.joinable()) merger_.join();
}

Row UsageStore::MakeRow(const UsageRecord& r, uint64_t seq, InternCache* cache) {
  Row row{};
  const std::string* strings[kNumStringCols] = {&r.tenant,    &r.user,   &r.model,
                                               &r.workflow,  &r.task_type, &r.status,
                                               &r.node_type, &r.device};
  static_assert(InternCache::kUserWays == 256, "UserWay gives 8 bits");
  for (int c = 0; c < kNumStringCols; ++c) {
    const std::string_view s = *strings[c];
    if (cache == nullptr || s.empty()) {
      row[c] = dicts_[c].Intern(s);
      continue;
    }
    // Way: length and last byte, which tell apart most of the few values a column repeats;
    // for users, a hash of the last (up to) 8 bytes and the length.
    InternCache::Entry& e =
        c == kUser ? cache->user_entries_[UserWay(s)]
                   : cache->entries_[c][(s.size() * 31 + static_cast<unsigned char>(s.back())) %
                                        InternCache::kWays];
    if (e.code != 0 && e.s == s) {
      row[c] = e.code;
      continue;
    }
    e.code = dicts_[c].Intern(s);
    e.s = dicts_[c].String(e.code);
    row[c] = e.code;
  }
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
      tail_ = tail_pool_->New();
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
  Stats st;
  st.rows = rows_;
  st.sealed_chunks = sealed_.size();
  st.sealed_bytes = sealed_bytes_;
  st.persist_failures = persist_failures_;
  st.merges = merges_;
  st.merge_failures = merge_failures_;
  st.merged_rows = merged_rows_;
  st.covered_files = covered_files_;
  st.last_error = last_error_;
  st.merge_pending = MergePendingLocked();
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
  // Every intact file first (only its metadata is read, and the frames once for their CRC);
  // queries read the frames from the file when they need them.
  std::vector<std::shared_ptr<const SealedChunk>> parts;
  for (const std::string& name : names) {
    const std::string path = JoinPath(dir, name);
    if (name.size() < 4 || name.compare(name.size() - 4, 4, ".tac") != 0) {
      // Temporary files of a write or merge that did not finish.
      if (name.find(".tmp") != std::string::npos) env->RemoveFile(path).IgnoreError();
      continue;
    }
    Result<std::shared_ptr<const SealedChunk>> part =
        SealedChunk::OpenFile(env, path, &dicts_, /*verify_data=*/true);
    if (!part.ok()) {
      // Its rows come from the log. Only a damaged file goes: one that could not be read for
      // a reason of the environment (no descriptor left, EIO) may load at the next start.
      ++*discarded;
      if (part.status().IsCorruption()) env->RemoveFile(path).IgnoreError();
      continue;
    }
    parts.push_back(std::move(*part));
  }
  // Larger parts first: a merged part wins over the inputs a crash left beside it, and an
  // input wins over nothing if the merged part was damaged (it was removed above).
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) {
    if (a->rows() != b->rows()) return a->rows() > b->rows();
    if (a->min(kSeq) != b->min(kSeq)) return a->min(kSeq) < b->min(kSeq);
    // The same rows twice (a part compressed alone, its input left by a crash): the
    // compressed one.
    return !a->awaiting_compression() && b->awaiting_compression();
  });
  std::vector<std::shared_ptr<const SealedChunk>> kept;
  std::vector<int64_t> seqs(kGranuleRows);
  DecodeScratch scratch;
  for (const auto& part : parts) {
    // Seqs must be new: a part that overlaps one loaded already (a merge's input left by a
    // crash, a copy) is dropped whole; the log supplies any of its rows not covered.
    Status s;
    bool overlaps = false;
    for (size_t g = 0; s.ok() && !overlaps && g < part->granules(); ++g) {
      s = part->DecodeGranules(kSeq, g, g + 1, seqs.data(), &scratch);
      for (size_t i = 0; s.ok() && i < part->granule_rows(g); ++i) {
        if (seqs[i] < 0) {
          s = Status::Corruption("negative seq");
        } else if (static_cast<size_t>(seqs[i]) < loaded->size() && (*loaded)[seqs[i]]) {
          overlaps = true;
          break;
        }
      }
    }
    if (!s.ok() || overlaps) {
      if (s.ok()) {
        MutexLock l(&mu_);
        ++covered_files_;
      } else {
        ++*discarded;
      }
      if (s.ok() || s.IsCorruption()) env->RemoveFile(part->path()).IgnoreError();
      continue;
    }
    for (size_t g = 0; s.ok() && g < part->granules(); ++g) {
      s = part->DecodeGranules(kSeq, g, g + 1, seqs.data(), &scratch);
      for (size_t i = 0; s.ok() && i < part->granule_rows(g); ++i) {
        if (static_cast<size_t>(seqs[i]) >= loaded->size()) loaded->resize(seqs[i] + 1);
        (*loaded)[seqs[i]] = true;
      }
    }
    RETURN_IF_ERROR(s);  // it decoded a moment ago
    kept.push_back(part);
  }
  // In seq order, so that adjacent parts (the ones merged together) hold adjacent records.
  std::sort(kept.begin(), kept.end(),
            [](const auto& a, const auto& b) { return a->min(kSeq) < b->min(kSeq); });
  MutexLock l(&mu_);
  for (auto& part : kept) {
    sealed_bytes_ += part->encoded_bytes();
    rows_ += part->rows();
    sealed_.push_back(std::move(part));
  }
  env_ = env;
  dir_ = dir;
  merge_cv_.Signal();
  return Status::OK();
}

std::shared_ptr<const SealedChunk> UsageStore::Persist(std::shared_ptr<SealedChunk> chunk) {
  const std::string path = JoinPath(dir_, std::to_string(chunk->min(kSeq)) + "-" +
                                              std::to_string(chunk->max(kSeq)) + ".tac");
  Status s = chunk->WriteFile(env_, path, dicts_);
  if (s.ok()) {
    // From now on the chunk is read from its file: only its metadata stays in memory. The
    // strings are interned already, so the reopened chunk maps codes to themselves.
    std::array<Dictionary, kNumStringCols>* dicts = &dicts_;
    Result<std::shared_ptr<const SealedChunk>> reopened =
        SealedChunk::OpenFile(env_, path, dicts, /*verify_data=*/false);
    if (reopened.ok()) {
      chunk->ReturnFrames(&seal_scratch_);
      return *reopened;
    }
    s = reopened.status();
  }
  chunk->TrimFrames();  // kept in memory: its frames only (the next seal gets a fresh buffer)
  MutexLock l(&mu_);
  ++persist_failures_;
  last_error_ = "column chunk not written: " + s.ToString();
  return chunk;
}

void UsageStore::WaitSealed() {
  MutexLock l(&mu_);
  while (!frozen_.empty()) sealed_cv_.Wait(&mu_);
}

void UsageStore::WaitMerged() {
  MutexLock l(&mu_);
  while (!frozen_.empty() || MergePendingLocked()) sealed_cv_.Wait(&mu_);
}

void UsageStore::SealLoop() {
  SetCurrentThreadName("ta-seal");
  for (;;) {
    std::shared_ptr<TailChunk> chunk;
    {
      MutexLock l(&mu_);
      while (frozen_.empty() && !stop_) seal_cv_.Wait(&mu_);
      if (stop_) return;
      chunk = frozen_.front();
    }
    // Full chunks are immutable: sealing reads them without the lock.
    std::vector<std::shared_ptr<SealedChunk>> parts =
        SealByPartition(*chunk, kChunkRows, env_ != nullptr ? &seal_scratch_ : nullptr);
    std::vector<std::shared_ptr<const SealedChunk>> done;
    for (auto& part : parts) done.push_back(env_ != nullptr ? Persist(std::move(part)) : part);
    MutexLock l(&mu_);
    for (auto& part : done) {
      sealed_bytes_ += part->encoded_bytes();
      sealed_.push_back(std::move(part));
    }
    frozen_.pop_front();
    merge_blocked_ = false;
    merge_cv_.Signal();
    sealed_cv_.SignalAll();
  }
}

int UsageStore::Level(size_t rows) const {
  int level = 0;
  for (size_t cap = kChunkRows; rows > cap && level < merge_.max_level; cap *= merge_.fan_in) {
    ++level;
  }
  return level;
}

int64_t UsageStore::Partition(const SealedChunk& part) const {
  return merge_.partition_us > 0 ? PartitionOf(part.min(kTime), merge_.partition_us) : 0;
}

std::vector<std::shared_ptr<SealedChunk>> UsageStore::SealByPartition(const TailChunk& chunk,
                                                                      size_t rows,
                                                                      SealScratch* scratch) const {
  const int64_t w = merge_.partition_us;
  const int64_t* time = chunk.col(kTime);
  auto partition = [w](int64_t t) { return PartitionOf(t, w); };
  bool one = true;
  for (size_t i = 1; w > 0 && one && i < rows; ++i) {
    one = partition(time[i]) == partition(time[0]);
  }
  if (one) {
    std::vector<uint32_t> all(rows);
    std::iota(all.begin(), all.end(), 0u);
    return {SealedChunk::Seal(chunk, std::move(all), ChunkCompression(), scratch)};
  }
  // Usually two partitions (a chunk that spans midnight) or a few (late records): rows by
  // partition, each list in row order.
  std::map<int64_t, std::vector<uint32_t>> by_partition;
  for (size_t i = 0; i < rows; ++i) {
    by_partition[partition(time[i])].push_back(static_cast<uint32_t>(i));
  }
  std::vector<std::shared_ptr<SealedChunk>> parts;
  for (auto& [key, part_rows] : by_partition) {
    parts.push_back(SealedChunk::Seal(chunk, std::move(part_rows), ChunkCompression(), scratch));
  }
  return parts;
}

UsageStore::MergePick UsageStore::PickMerge() const {
  if (!MergeOn() || merge_blocked_) return {};
  const size_t n = merge_.fan_in;
  // The mergeable parts (on disk when the store keeps files: a part whose file could not be
  // written stays in memory and out of merges) of each partition, in seal order.
  std::map<int64_t, std::vector<size_t>> partitions;
  for (size_t i = 0; i < sealed_.size(); ++i) {
    if (sealed_[i]->on_disk() == (env_ != nullptr)) {
      partitions[Partition(*sealed_[i])].push_back(i);
    }
  }
  // (sealed_ passed in: the thread-safety analysis does not follow the lock into a lambda.)
  auto parts_at = [](const std::vector<std::shared_ptr<const SealedChunk>>& sealed,
                     const std::vector<size_t>& at) {
    std::vector<std::shared_ptr<const SealedChunk>> parts;
    for (size_t i : at) parts.push_back(sealed[i]);
    return parts;
  };
  // Levels: a run of n parts of one level below max_level. The output is stored awaiting
  // compression while it is below max_level itself and in the newest partition (with
  // partitions: an older one is closed, its parts compressed, right away).
  const int64_t newest = partitions.empty() ? 0 : partitions.rbegin()->first;
  for (const auto& [key, at] : partitions) {
    for (size_t i = 0; i + n <= at.size();) {
      const int level = Level(sealed_[at[i]]->rows());
      size_t j = i;
      while (j < at.size() && j - i < n && level < merge_.max_level &&
             Level(sealed_[at[j]]->rows()) == level) {
        ++j;
      }
      if (j - i == n) {
        MergePick pick{parts_at(sealed_, {at.begin() + i, at.begin() + j})};
        size_t rows = 0;
        for (const auto& part : pick.inputs) rows += part->rows();
        if (Level(rows) < merge_.max_level && key == newest && merge_.partition_us > 0) {
          pick.compression = ChunkCompression();
        }
        return pick;
      }
      i = std::max(j, i + 1);
    }
  }
  // A part of max_level or above that awaits compression (stored when max_level was higher):
  // compressed alone.
  for (const auto& [key, at] : partitions) {
    for (size_t i : at) {
      if (Level(sealed_[i]->rows()) >= merge_.max_level && sealed_[i]->awaiting_compression()) {
        return {parts_at(sealed_, {i})};
      }
    }
  }
  // Closing: every partition but the last (in time) holds one part below max_level, unless the
  // others together are smaller than the largest (see MergePolicy) and it is compressed already.
  if (partitions.size() < 2) return {};
  for (auto p = partitions.begin(); std::next(p) != partitions.end(); ++p) {
    std::vector<size_t> below;
    size_t total = 0, largest = 0;
    bool largest_awaits = false;
    for (size_t i : p->second) {
      const size_t rows = sealed_[i]->rows();
      if (Level(rows) >= merge_.max_level) continue;
      below.push_back(i);
      total += rows;
      if (rows > largest) largest_awaits = sealed_[i]->awaiting_compression();
      largest = std::max(largest, rows);
    }
    if (below.empty() || total > kMaxPartRows) continue;
    if ((below.size() >= 2 && (total - largest) * n >= largest) || largest_awaits) {
      return {parts_at(sealed_, below)};
    }
  }
  return {};
}

bool UsageStore::MergePendingLocked() const { return merging_ || !PickMerge().inputs.empty(); }

void UsageStore::MergeLoop() {
  // Merging only rewrites derived data: it runs behind ingest and queries (lowest priority),
  // one granule at a time.
  SetCurrentThreadName("ta-merge");
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 19);
  auto keep_going = [this] {
    std::this_thread::yield();
    return !stopping_.load(std::memory_order_relaxed);
  };
  for (;;) {
    MergePick pick;
    Env* env = nullptr;
    {
      MutexLock l(&mu_);
      while (!stop_ && (pick = PickMerge()).inputs.empty()) merge_cv_.Wait(&mu_);
      if (stop_) return;
      merging_ = true;
      env = env_;
    }
    std::vector<std::shared_ptr<const SealedChunk>>& inputs = pick.inputs;
    int64_t lo = inputs[0]->min(kSeq), hi = inputs[0]->max(kSeq);
    size_t rows = 0;
    for (const auto& in : inputs) {
      lo = std::min(lo, in->min(kSeq));
      hi = std::max(hi, in->max(kSeq));
      rows += in->rows();
    }
    // <smallest seq>-<largest seq>-<rows>.tac: unlike a chunk's name, and unique among the
    // files that can coexist (their seqs are disjoint, or one's are a subset of the other's),
    // with "-stored" before ".tac" for a part awaiting compression: the part a closing merge
    // makes of it alone holds the same rows.
    const std::string path =
        env == nullptr
            ? std::string()
            : JoinPath(dir_, std::to_string(lo) + "-" + std::to_string(hi) + "-" +
                                 std::to_string(rows) +
                                 (pick.compression == Compression::kNone ? "-stored" : "") +
                                 ".tac");
    Result<std::shared_ptr<const SealedChunk>> merged =
        SealedChunk::Merge(inputs, &dicts_, env, path, keep_going, pick.compression);
    {
      MutexLock l(&mu_);
      if (merged.ok()) {
        // The inputs are all still there, in this order (only this thread removes parts, the
        // sealer appends; with partitions they need not be adjacent): the part takes the place
        // of the first.
        const auto first = std::find(sealed_.begin(), sealed_.end(), inputs[0]) - sealed_.begin();
        std::erase_if(sealed_, [&](const auto& part) {
          return std::find(inputs.begin(), inputs.end(), part) != inputs.end();
        });
        sealed_.insert(sealed_.begin() + first, *merged);
        size_t in_bytes = 0;
        for (const auto& in : inputs) in_bytes += in->encoded_bytes();
        sealed_bytes_ = sealed_bytes_ - in_bytes + (*merged)->encoded_bytes();
        ++merges_;
        merged_rows_ += rows;
      } else if (!stop_) {
        ++merge_failures_;
        merge_blocked_ = true;
        last_error_ = "merge into " + path + " failed: " + merged.status().ToString();
      }
    }
    // The merged part is durable and in place: the inputs' files go, a few MiB at a time
    // (RemoveFileGradually) once no query holds them; a query that still holds one after a few
    // seconds reads it through its open file after the unlink.
    if (merged.ok() && env != nullptr) {
      auto hurry = [this] { return stopping_.load(std::memory_order_relaxed); };
      for (auto& in : inputs) {
        // Never the part just written (a name can only repeat if the policy that names parts
        // is broken; the rows would then be rebuilt from the log at the next start).
        if (in->path() == (*merged)->path()) continue;
        for (int i = 0; i < 500 && in.use_count() > 1 && !hurry(); ++i) {
          env->SleepForMicros(10'000);
        }
        const std::string path = in->path();
        if (in.use_count() > 1) {
          env->RemoveFile(path).IgnoreError();
        } else {
          RemoveFileGradually(env, path, hurry);
        }
        in.reset();  // closes the file
      }
    }
    MutexLock l(&mu_);
    merging_ = false;
    sealed_cv_.SignalAll();
  }
}

}  // namespace tokenaudit::query
