// The idempotency index: (tenant, source, id) → seq of the record first accepted with that key.
// Rebuilt from the log at startup, so a retry is recognised across restarts. Keys are 128-bit
// fingerprints (SHA-256 truncated) of the three fields. Thread-safe.
//
// A key being appended right now is "claimed": a second request for it waits for the first
// one's outcome instead of appending a second copy.
//
// Layout: the keys are uniformly random, so the index is 64 shards picked by the key's top bits,
// each an open-addressing (linear probing) table of {key, seq} slots with its own mutex. A claimed
// key sits in its slot with seq kClaimed; the callbacks of requests waiting for it live in a small
// per-shard side map that is only touched when a duplicate is actually in flight. Probes touch one
// or two cache lines and never allocate; a shard grows (rehashes) on its own, so a resize stalls
// only 1/64 of the keys.

#ifndef TOKENAUDIT_INGEST_DEDUP_INDEX_H_
#define TOKENAUDIT_INGEST_DEDUP_INDEX_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/util/mutex.h"

namespace tokenaudit::ingest {

class DedupIndex {
 public:
  struct Key {
    uint64_t hi = 0, lo = 0;
    bool operator==(const Key&) const = default;
  };
  static Key MakeKey(std::string_view tenant, std::string_view source, std::string_view id);

  enum class Claim {
    kNew,        // the caller owns the key: append, then Commit or Abort
    kDuplicate,  // already in the log at *seq
    kPending,    // another request is appending it; `on_done` fires with its outcome
  };
  // Told the outcome of a key another request was appending: (true, seq) or (false, 0).
  using Waiter = std::function<void(bool ok, uint64_t seq)>;

  // `on_done(ok, seq)` is called (once, possibly on another thread, without locks held) only
  // when the result is kPending.
  Claim TryClaim(const Key& key, uint64_t* seq, Waiter on_done);
  // TryClaim for keys[0], keys[1], ... in that order (a later key equal to an earlier one is
  // kPending on it). claims[i] and seqs[i] receive each result. For a kPending key,
  // make_waiter(i) is called under a shard lock to build its waiter: it must be cheap and must not
  // call into the index. claims and seqs must be as long as keys.
  void ClaimBatch(std::span<const Key> keys, std::span<Claim> claims, std::span<uint64_t> seqs,
                  const std::function<Waiter(size_t)>& make_waiter);
  // The claimed key's record is durable at `seq`.
  void Commit(const Key& key, uint64_t seq);
  // The claimed key's append failed; waiters are told so.
  void Abort(const Key& key);
  // Commit keys[i] at first_seq + i; then fires their waiters, without locks held.
  void CommitBatch(std::span<const Key> keys, uint64_t first_seq);
  void AbortBatch(std::span<const Key> keys);
  // Records a key found in the log (startup rebuild). The first seq for a key wins.
  void Insert(const Key& key, uint64_t seq);
  // Keys in the log (claimed keys not counted).
  size_t size() const;

 private:
  static constexpr uint64_t kClaimed = ~uint64_t{0};
  static constexpr size_t kShardBits = 6;
  static constexpr size_t kInitialSlots = 1024;  // per shard; a power of two

  struct Slot {
    Key key;  // {0, 0}: empty (Normalize keeps real keys away from it)
    uint64_t seq;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.lo); }
  };
  struct alignas(64) Shard {
    mutable Mutex mu;
    std::vector<Slot> slots GUARDED_BY(mu);  // size is a power of two
    size_t used GUARDED_BY(mu) = 0;          // occupied slots, claimed ones included
    size_t committed GUARDED_BY(mu) = 0;
    std::unordered_map<Key, std::vector<Waiter>, KeyHash> waiters GUARDED_BY(mu);
    // slots.data() and its mask, published for Prefetch, which reads them without the lock: a
    // stale pair only makes a prefetch useless (prefetching never faults).
    std::atomic<const Slot*> table{nullptr};
    std::atomic<size_t> mask{0};

    // The slot holding `key`, or the empty slot where it would go.
    Slot* Find(const Key& key) TA_REQUIRES(mu);
    // Makes room for one more key (may rehash, invalidating Slot pointers).
    void Reserve() TA_REQUIRES(mu);
    // Empties `slot` (linear-probing backward-shift deletion: no tombstones).
    void Erase(Slot* slot) TA_REQUIRES(mu);
  };

  static Key Normalize(const Key& k) { return (k.hi | k.lo) == 0 ? Key{0, 1} : k; }
  Shard& ShardOf(const Key& k) { return shards_[k.hi >> (64 - kShardBits)]; }
  // Starts loading the cache line of `key`'s home slot: batches probe a table far larger than the
  // caches, so each key would otherwise cost a miss while its shard is locked.
  void Prefetch(const Key& key);
  // For loops over a batch: prefetches the key a few steps ahead of keys[i] (the first few too
  // when i == 0).
  void PrefetchAhead(std::span<const Key> keys, size_t i);
  // Claims `key` (normalized); on kPending the caller adds a waiter under the same lock.
  Claim ClaimLocked(Shard& shard, const Key& key, uint64_t* seq) TA_REQUIRES(shard.mu);
  // Ends a claim under `shard.mu`, moving its waiters (if any) to `fire`.
  void FinishLocked(Shard& shard, const Key& key, bool ok, uint64_t seq,
                    std::vector<std::pair<Waiter, uint64_t>>* fire) TA_REQUIRES(shard.mu);

  std::array<Shard, size_t{1} << kShardBits> shards_;
};

}  // namespace tokenaudit::ingest

#endif  // TOKENAUDIT_INGEST_DEDUP_INDEX_H_
