#include "src/ingest/dedup_index.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "src/util/sha256.h"

namespace tokenaudit::ingest {
namespace {

bool IsEmpty(const DedupIndex::Key& k) { return (k.hi | k.lo) == 0; }

}  // namespace

DedupIndex::Key DedupIndex::MakeKey(std::string_view tenant, std::string_view source,
                                    std::string_view id) {
  Sha256 h;
  // Length-prefixed, so ("a","bc") and ("ab","c") differ.
  for (std::string_view part : {tenant, source, id}) {
    uint64_t n = part.size();
    h.Update(&n, sizeof(n));
    h.Update(part);
  }
  Sha256Digest d = h.Finish();
  Key k;
  std::memcpy(&k.hi, d.data(), 8);
  std::memcpy(&k.lo, d.data() + 8, 8);
  return k;
}

DedupIndex::Slot* DedupIndex::Shard::Find(const Key& key) {
  if (slots.empty()) return nullptr;
  const size_t mask = slots.size() - 1;
  for (size_t i = key.lo & mask;; i = (i + 1) & mask) {
    Slot& s = slots[i];
    if (s.key == key || IsEmpty(s.key)) return &s;
  }
}

void DedupIndex::Shard::Reserve() {
  if (slots.empty()) {
    slots.assign(kInitialSlots, Slot{});
    table.store(slots.data(), std::memory_order_relaxed);
    mask.store(slots.size() - 1, std::memory_order_relaxed);
    return;
  }
  if ((used + 1) * 4 <= slots.size() * 3) return;  // load factor stays below 3/4
  std::vector<Slot> old(slots.size() * 2, Slot{});
  old.swap(slots);
  const size_t mask = slots.size() - 1;
  for (const Slot& s : old) {
    if (IsEmpty(s.key)) continue;
    size_t i = s.key.lo & mask;
    while (!IsEmpty(slots[i].key)) i = (i + 1) & mask;
    slots[i] = s;
  }
  table.store(slots.data(), std::memory_order_relaxed);
  this->mask.store(mask, std::memory_order_relaxed);
}

void DedupIndex::PrefetchAhead(std::span<const Key> keys, size_t i) {
  constexpr size_t kAhead = 8;
  if (i == 0) {
    for (size_t j = 0; j < std::min(kAhead, keys.size()); ++j) Prefetch(keys[j]);
  }
  if (i + kAhead < keys.size()) Prefetch(keys[i + kAhead]);
}

void DedupIndex::Prefetch(const Key& raw_key) {
  const Key key = Normalize(raw_key);
  const Shard& shard = ShardOf(key);
  const Slot* table = shard.table.load(std::memory_order_relaxed);
  if (table != nullptr) {
    __builtin_prefetch(table + (key.lo & shard.mask.load(std::memory_order_relaxed)));
  }
}

void DedupIndex::Shard::Erase(Slot* slot) {
  const size_t mask = slots.size() - 1;
  size_t hole = static_cast<size_t>(slot - slots.data());
  for (size_t j = (hole + 1) & mask; !IsEmpty(slots[j].key); j = (j + 1) & mask) {
    // slots[j] may fill the hole unless its home lies cyclically in (hole, j].
    const size_t home = slots[j].key.lo & mask;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!stays) {
      slots[hole] = slots[j];
      hole = j;
    }
  }
  slots[hole] = Slot{};
  --used;
}

DedupIndex::Claim DedupIndex::ClaimLocked(Shard& shard, const Key& key, uint64_t* seq) {
  Slot* s = shard.Find(key);
  if (s != nullptr && s->key == key) {
    if (s->seq == kClaimed) return Claim::kPending;
    *seq = s->seq;
    return Claim::kDuplicate;
  }
  shard.Reserve();
  s = shard.Find(key);
  s->key = key;
  s->seq = kClaimed;
  ++shard.used;
  return Claim::kNew;
}

DedupIndex::Claim DedupIndex::TryClaim(const Key& raw_key, uint64_t* seq, Waiter on_done) {
  const Key key = Normalize(raw_key);
  Shard& shard = ShardOf(key);
  MutexLock l(&shard.mu);
  const Claim c = ClaimLocked(shard, key, seq);
  if (c == Claim::kPending) shard.waiters[key].push_back(std::move(on_done));
  return c;
}

void DedupIndex::ClaimBatch(std::span<const Key> keys, std::span<Claim> claims,
                            std::span<uint64_t> seqs,
                            const std::function<Waiter(size_t)>& make_waiter) {
  for (size_t i = 0; i < keys.size(); ++i) {
    PrefetchAhead(keys, i);
    const Key key = Normalize(keys[i]);
    Shard& shard = ShardOf(key);
    MutexLock l(&shard.mu);
    claims[i] = ClaimLocked(shard, key, &seqs[i]);
    if (claims[i] == Claim::kPending) shard.waiters[key].push_back(make_waiter(i));
  }
}

void DedupIndex::FinishLocked(Shard& shard, const Key& key, bool ok, uint64_t seq,
                              std::vector<std::pair<Waiter, uint64_t>>* fire) {
  Slot* s = shard.Find(key);
  if (s != nullptr && s->key == key) {
    if (s->seq == kClaimed) {
      if (ok) {
        s->seq = seq;
        ++shard.committed;
      } else {
        shard.Erase(s);
      }
    }  // else already in the log: the first seq wins
  } else if (ok) {  // committed without a claim
    shard.Reserve();
    s = shard.Find(key);
    *s = Slot{key, seq};
    ++shard.used;
    ++shard.committed;
  }
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
    PrefetchAhead(keys, i);
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

void DedupIndex::Insert(const Key& raw_key, uint64_t seq) {
  const Key key = Normalize(raw_key);
  Shard& shard = ShardOf(key);
  MutexLock l(&shard.mu);
  Slot* s = shard.Find(key);
  if (s != nullptr && s->key == key) return;  // the first seq for a key wins
  shard.Reserve();
  s = shard.Find(key);
  *s = Slot{key, seq};
  ++shard.used;
  ++shard.committed;
}

size_t DedupIndex::size() const {
  size_t n = 0;
  for (const Shard& shard : shards_) {
    MutexLock l(&shard.mu);
    n += shard.committed;
  }
  return n;
}

}  // namespace tokenaudit::ingest
