#include "src/ingest/dedup_index.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "src/util/sha256.h"

namespace tokenaudit::ingest {
namespace {

constexpr uint64_t kNone = ~uint64_t{0};

bool IsEmpty(const DedupIndex::Key& k) { return (k.hi | k.lo) == 0; }

}  // namespace

DedupIndex::Key DedupIndex::MakeKey(std::string_view tenant, std::string_view source,
                                    std::string_view id) {
  // Length-prefixed, so ("a","bc") and ("ab","c") differ. The usual sizes are hashed from one
  // buffer with one call (six Updates cost about as much as the hash itself); same bytes either way.
  Sha256Digest d;
  char buf[512];
  const size_t total = 3 * sizeof(uint64_t) + tenant.size() + source.size() + id.size();
  if (total <= sizeof(buf)) {
    char* p = buf;
    for (std::string_view part : {tenant, source, id}) {
      const uint64_t n = part.size();
      std::memcpy(p, &n, sizeof(n));
      std::memcpy(p + sizeof(n), part.data(), part.size());
      p += sizeof(n) + part.size();
    }
    d = Sha256Of(std::string_view(buf, total));
  } else {
    Sha256 h;
    for (std::string_view part : {tenant, source, id}) {
      uint64_t n = part.size();
      h.Update(&n, sizeof(n));
      h.Update(part);
    }
    d = h.Finish();
  }
  Key k;
  std::memcpy(&k.hi, d.data(), 8);
  std::memcpy(&k.lo, d.data() + 8, 8);
  return k;
}

DedupIndex::DedupIndex(KeyReader key_at) : key_at_(std::move(key_at)) {
  for (Shard& shard : shards_) {
    shard.buckets = std::make_unique<Bucket[]>(size_t{1} << kBucketBits);
  }
}

DedupIndex::~DedupIndex() = default;

DedupIndex::Shard::~Shard() {
  if (!buckets) return;
  for (size_t i = 0; i < (size_t{1} << kBucketBits); ++i) {
    delete[] buckets[i].data.load(std::memory_order_relaxed);
  }
}

// ---- Bucket ------------------------------------------------------------------------------------

size_t DedupIndex::Bucket::LowerBound(uint64_t from) const {
  const uint64_t* d = data.load(std::memory_order_relaxed);
  const size_t n = size.load(std::memory_order_relaxed);
  // Tags are uniform: the entry sits near tag / 2^kTagBits of the way through the bucket.
  size_t i = static_cast<size_t>(((from >> kValueBits) * n) >> kTagBits);
  while (i > 0 && d[i - 1] >= from) --i;
  while (i < n && d[i] < from) ++i;
  return i;
}

void DedupIndex::Bucket::InsertAt(size_t pos, uint64_t entry) {
  uint64_t* d = data.load(std::memory_order_relaxed);
  const uint32_t n = size.load(std::memory_order_relaxed);
  if (n == capacity) {
    // Grow by an eighth: the slack averages 1/16 of the entries. The copy costs 8 entries per
    // insert, amortized, against a memmove of half the bucket per insert anyway.
    const uint32_t grown = capacity + std::max<uint32_t>(4, capacity / 8);
    uint64_t* g = new uint64_t[grown];
    if (pos > 0) std::memcpy(g, d, pos * sizeof(uint64_t));
    g[pos] = entry;
    if (pos < n) std::memcpy(g + pos + 1, d + pos, (n - pos) * sizeof(uint64_t));
    data.store(g, std::memory_order_relaxed);
    capacity = grown;
    delete[] d;
  } else {
    std::memmove(d + pos + 1, d + pos, (n - pos) * sizeof(uint64_t));
    d[pos] = entry;
  }
  size.store(n + 1, std::memory_order_relaxed);
}

// ---- InFlightSet -------------------------------------------------------------------------------

bool DedupIndex::InFlightSet::Contains(const Key& key) const {
  if (slots_.empty()) return false;
  const size_t mask = slots_.size() - 1;
  for (size_t i = Home(key);; i = (i + 1) & mask) {
    if (slots_[i] == key) return true;
    if (IsEmpty(slots_[i])) return false;
  }
}

void DedupIndex::InFlightSet::Add(const Key& key) {
  if ((used_ + 1) * 2 > slots_.size()) {
    std::vector<Key> old(std::max<size_t>(16, slots_.size() * 2));
    old.swap(slots_);
    used_ = 0;
    for (const Key& k : old) {
      if (!IsEmpty(k)) Add(k);
    }
  }
  const size_t mask = slots_.size() - 1;
  size_t i = Home(key);
  while (!IsEmpty(slots_[i])) i = (i + 1) & mask;
  slots_[i] = key;
  ++used_;
}

bool DedupIndex::InFlightSet::Remove(const Key& key) {
  if (slots_.empty()) return false;
  const size_t mask = slots_.size() - 1;
  size_t hole = Home(key);
  for (;; hole = (hole + 1) & mask) {
    if (IsEmpty(slots_[hole])) return false;
    if (slots_[hole] == key) break;
  }
  // Backward-shift deletion: no tombstones.
  for (size_t j = (hole + 1) & mask; !IsEmpty(slots_[j]); j = (j + 1) & mask) {
    // slots_[j] may fill the hole unless its home lies cyclically in (hole, j].
    const size_t home = Home(slots_[j]);
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!stays) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = Key{};
  --used_;
  return true;
}

// ---- DedupIndex --------------------------------------------------------------------------------

void DedupIndex::Prefetch(const Key& raw_key, int stage) {
  const Key key = Normalize(raw_key);
  Bucket& b = BucketOf(ShardOf(key), key);
  if (stage == 0) {
    __builtin_prefetch(&b);
    return;
  }
  const uint64_t* d = b.data.load(std::memory_order_relaxed);
  const uint64_t n = b.size.load(std::memory_order_relaxed);
  if (d == nullptr) return;
  const uint64_t* at = d + ((TagOf(key) * n) >> kTagBits);
  __builtin_prefetch(at);
  if (stage == 2) {
    // An insert will memmove the rest of the bucket one slot up: load those lines too.
    constexpr size_t kLine = 64 / sizeof(uint64_t);
    const uint64_t* end = std::min(d + n, at + 6 * kLine);
    for (const uint64_t* p = at + kLine; p < end + 1; p += kLine) __builtin_prefetch(p);
  }
}

void DedupIndex::PrefetchAhead(std::span<const Key> keys, size_t i, bool insert) {
  // Two stages: the bucket header (one table of 2 MiB), then the entries it points at.
  constexpr size_t kAhead = 8;
  const int stage = insert ? 2 : 1;
  if (i == 0) {
    for (size_t j = 0; j < std::min(2 * kAhead, keys.size()); ++j) Prefetch(keys[j], 0);
    for (size_t j = 0; j < std::min(kAhead, keys.size()); ++j) Prefetch(keys[j], stage);
  }
  if (i + 2 * kAhead < keys.size()) Prefetch(keys[i + 2 * kAhead], 0);
  if (i + kAhead < keys.size()) Prefetch(keys[i + kAhead], stage);
}

void DedupIndex::LookupLocked(Shard& shard, const Key& key, std::span<const uint64_t> not_key,
                              Lookup* out) {
  if (shard.in_flight.Contains(key)) {
    out->pending = true;
    return;
  }
  const Bucket& b = BucketOf(shard, key);
  const uint64_t tag = TagOf(key);
  const uint64_t* d = b.data.load(std::memory_order_relaxed);
  const size_t n = b.size.load(std::memory_order_relaxed);
  for (size_t i = b.LowerBound(tag << kValueBits); i < n && (d[i] >> kValueBits) == tag; ++i) {
    const uint64_t value = d[i] & kValueMask;
    if (value == kLargeSeqValue) {
      auto it = shard.large_seqs.find(key);
      if (it != shard.large_seqs.end()) out->found = it->second;
    } else if (std::find(not_key.begin(), not_key.end(), value) == not_key.end()) {
      out->unconfirmed.push_back(value);
    }
  }
}

Result<uint64_t> DedupIndex::Confirm(const Key& key, std::span<const uint64_t> seqs,
                                     std::vector<uint64_t>* not_key) {
  for (uint64_t seq : seqs) {
    confirm_reads_.fetch_add(1, std::memory_order_relaxed);
    ASSIGN_OR_RETURN(const Key stored, key_at_(seq));
    if (Normalize(stored) == key) return seq;
    not_key->push_back(seq);
  }
  return kNone;
}

void DedupIndex::AddCommittedLocked(Shard& shard, const Key& key, uint64_t seq) {
  Bucket& b = BucketOf(shard, key);
  const uint64_t entry = TagOf(key) << kValueBits | ValueOf(seq);
  b.InsertAt(b.LowerBound(entry), entry);
  if (ValueOf(seq) == kLargeSeqValue) shard.large_seqs.emplace(key, seq);
  ++shard.committed;
}

template <typename MakeWaiter>
DedupIndex::Claim DedupIndex::ClaimOne(const Key& key, uint64_t* seq,
                                       const MakeWaiter& make_waiter) {
  Shard& shard = ShardOf(key);
  std::vector<uint64_t> not_key;  // seqs whose records were read and hold other keys
  Lookup look;
  for (;;) {
    {
      MutexLock l(&shard.mu);
      look.unconfirmed.clear();
      LookupLocked(shard, key, not_key, &look);
      if (look.pending) {
        shard.waiters[key].push_back(make_waiter());
        return Claim::kPending;
      }
      if (look.found != kNone) {
        *seq = look.found;
        return Claim::kDuplicate;
      }
      if (look.unconfirmed.empty()) {
        shard.in_flight.Add(key);
        return Claim::kNew;
      }
    }
    // A tag match: read the records outside the lock. A stored entry never changes its seq, so
    // what is learnt stays true; the lookup is redone in case the key was claimed meanwhile.
    Result<uint64_t> at = Confirm(key, look.unconfirmed, &not_key);
    if (!at.ok()) return Claim::kUnavailable;
    if (*at != kNone) {
      *seq = *at;
      return Claim::kDuplicate;
    }
  }
}

DedupIndex::Claim DedupIndex::TryClaim(const Key& raw_key, uint64_t* seq, Waiter on_done) {
  return ClaimOne(Normalize(raw_key), seq, [&on_done] { return std::move(on_done); });
}

void DedupIndex::ClaimBatch(std::span<const Key> keys, std::span<Claim> claims,
                            std::span<uint64_t> seqs,
                            const std::function<Waiter(size_t)>& make_waiter) {
  for (size_t i = 0; i < keys.size(); ++i) {
    PrefetchAhead(keys, i, /*insert=*/false);
    claims[i] =
        ClaimOne(Normalize(keys[i]), &seqs[i], [&make_waiter, i] { return make_waiter(i); });
  }
}

void DedupIndex::FinishLocked(Shard& shard, const Key& key, bool ok, uint64_t seq,
                              std::vector<std::pair<Waiter, uint64_t>>* fire) {
  // A claimed key was checked against the buckets when it was claimed, and nobody could add it
  // since: it joins them without another look.
  if (shard.in_flight.Remove(key) && ok) AddCommittedLocked(shard, key, seq);
  if (shard.waiters.empty()) return;
  auto w = shard.waiters.find(key);
  if (w == shard.waiters.end()) return;
  for (Waiter& waiter : w->second) fire->emplace_back(std::move(waiter), ok ? seq : 0);
  shard.waiters.erase(w);
}

void DedupIndex::Commit(const Key& key, uint64_t seq) { CommitBatch({&key, 1}, seq); }
void DedupIndex::Abort(const Key& key) { AbortBatch({&key, 1}); }

void DedupIndex::CommitBatch(std::span<const Key> keys, uint64_t first_seq) {
  std::vector<std::pair<Waiter, uint64_t>> fire;
  for (size_t i = 0; i < keys.size(); ++i) {
    PrefetchAhead(keys, i, /*insert=*/true);
    const Key key = Normalize(keys[i]);
    Shard& shard = ShardOf(key);
    MutexLock l(&shard.mu);
    FinishLocked(shard, key, true, first_seq + i, &fire);
  }
  for (auto& [w, seq] : fire) w(true, seq);
}

void DedupIndex::AbortBatch(std::span<const Key> keys) {
  std::vector<std::pair<Waiter, uint64_t>> fire;
  for (const Key& raw : keys) {
    const Key key = Normalize(raw);
    Shard& shard = ShardOf(key);
    MutexLock l(&shard.mu);
    FinishLocked(shard, key, false, 0, &fire);
  }
  for (auto& [w, seq] : fire) w(false, 0);
}

Status DedupIndex::Insert(const Key& raw_key, uint64_t seq) {
  const Key key = Normalize(raw_key);
  Shard& shard = ShardOf(key);
  std::vector<uint64_t> not_key;
  Lookup look;
  for (;;) {
    {
      MutexLock l(&shard.mu);
      look.unconfirmed.clear();
      LookupLocked(shard, key, not_key, &look);
      if (look.pending) {
        return Status::FailedPrecondition("idempotency index: Insert of a key being claimed");
      }
      if (look.found != kNone) return Status::OK();  // the first seq for a key wins
      if (look.unconfirmed.empty()) {
        AddCommittedLocked(shard, key, seq);
        return Status::OK();
      }
    }
    ASSIGN_OR_RETURN(const uint64_t at, Confirm(key, look.unconfirmed, &not_key));
    if (at != kNone) return Status::OK();
  }
}

size_t DedupIndex::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    MutexLock l(&shard.mu);
    n += shard.committed;
  }
  return n;
}

DedupIndex::Stats DedupIndex::GetStats() const {
  Stats st;
  st.confirm_reads = confirm_reads_.load(std::memory_order_relaxed);
  st.bytes = sizeof(*this);
  for (const Shard& shard : shards_) {
    MutexLock l(&shard.mu);
    st.bytes += (size_t{1} << kBucketBits) * sizeof(Bucket) + shard.in_flight.bytes();
    for (size_t i = 0; i < (size_t{1} << kBucketBits); ++i) {
      st.bytes += size_t{shard.buckets[i].capacity} * sizeof(uint64_t);
    }
  }
  return st;
}

}  // namespace tokenaudit::ingest
