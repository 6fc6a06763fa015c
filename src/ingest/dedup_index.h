// The idempotency index: (tenant, source, id) → seq of the record first accepted with that key.
// Rebuilt from the log at startup, so a retry is recognised across restarts. Keys are 128-bit
// fingerprints (SHA-256 truncated) of the three fields. Thread-safe.
//
// A key being appended right now is "claimed": a second request for it waits for the first
// one's outcome instead of appending a second copy.
//
// Memory: 8 bytes per logged key plus about 6% slack (under 10 bytes per record of RSS at 10M
// records, against 24-byte slots at a load of 3/8..3/4 before). The index keeps only 41 bits of
// each key's hash:
//   - 6 bits pick one of 64 shards (a mutex each),
//   - 11 more pick one of the shard's 2,048 buckets, a sorted array of 64-bit entries,
//   - 24 more are the entry's tag, stored with the 40-bit seq.
// Buckets start where the tag predicts (tags are uniform, so the entry sits within a few slots of
// tag * size / 2^24) and grow by 1/8 at a time, so there is no load factor to pay for and no
// rehash: an insert moves half a bucket (~300 bytes at 10M records) with memmove.
//
// Exactness: equal tags do not mean equal keys. A key whose tag matches a stored entry is
// confirmed by reading that entry's record back from the log (the KeyReader) and comparing its
// key in full, outside the shard lock. Claimed keys (in flight) are kept in full in a small
// per-shard set and join the buckets when committed. With 41 hash bits a key absent from an
// index of N keys matches a stored tag with probability N / 2^41 (5e-6 at 10M), so new records
// almost never read the log; a retry of a logged record always does (one Ledger::Read).

#ifndef TOKENAUDIT_INGEST_DEDUP_INDEX_H_
#define TOKENAUDIT_INGEST_DEDUP_INDEX_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/util/mutex.h"
#include "tokenaudit/result.h"

namespace tokenaudit::ingest {

class DedupIndex {
 public:
  struct Key {
    uint64_t hi = 0, lo = 0;
    bool operator==(const Key&) const = default;
  };
  static Key MakeKey(std::string_view tenant, std::string_view source, std::string_view id);

  // The key of the record stored at `seq` (one the index was told of by Commit or Insert). Called
  // without locks held, from any thread that calls the index; an error fails the call that needed
  // it (kUnavailable, or Insert's Status).
  using KeyReader = std::function<Result<Key>(uint64_t seq)>;

  explicit DedupIndex(KeyReader key_at);
  DedupIndex(const DedupIndex&) = delete;
  DedupIndex& operator=(const DedupIndex&) = delete;
  ~DedupIndex();

  enum class Claim {
    kNew,          // the caller owns the key: append, then Commit or Abort
    kDuplicate,    // already in the log at *seq
    kPending,      // another request is appending it; `on_done` fires with its outcome
    kUnavailable,  // the log could not be read to confirm a tag match; nothing was claimed
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
  // The claimed key's record is durable at `seq`. `key` must have been claimed (kNew) and not
  // finished yet; otherwise the call does nothing.
  void Commit(const Key& key, uint64_t seq);
  // The claimed key's append failed; waiters are told so.
  void Abort(const Key& key);
  // Commit keys[i] at first_seq + i; then fires their waiters, without locks held.
  void CommitBatch(std::span<const Key> keys, uint64_t first_seq);
  void AbortBatch(std::span<const Key> keys);
  // Records a key found in the log (startup rebuild). The first seq for a key wins. Must not run
  // alongside claims of the same key (the service takes no requests until its rebuild is done):
  // a key in flight fails with FailedPrecondition instead of being stored twice. Otherwise fails
  // only if the KeyReader fails.
  [[nodiscard]] Status Insert(const Key& key, uint64_t seq);
  // Keys in the log (claimed keys not counted).
  size_t size() const;

  struct Stats {
    uint64_t confirm_reads = 0;  // KeyReader calls: tag matches confirmed against the log
    uint64_t bytes = 0;          // heap bytes held by the index (entries, buckets, in-flight set)
  };
  Stats GetStats() const;

  // Hash bits the index keeps per key; keys equal in these bits share a tag (for tests).
  static constexpr int kShardBits = 6, kBucketBits = 11, kTagBits = 24;

 private:
  static constexpr int kValueBits = 40;
  static constexpr uint64_t kValueMask = (uint64_t{1} << kValueBits) - 1;
  // Seqs from kValueMask on do not fit an entry (2^40 records): such an entry holds kValueMask
  // and its seq lives in Shard::large_seqs.
  static constexpr uint64_t kLargeSeqValue = kValueMask;

  // One bucket: `size` entries (tag << 40 | seq), sorted, in an array of `capacity`. The data
  // pointer and size are atomics only so that Prefetch may read them without the lock (a stale
  // pair makes a prefetch useless, never wrong); every other access holds the shard's mutex.
  struct Bucket {
    std::atomic<uint64_t*> data{nullptr};  // owned (new[]), freed by ~Shard or on growth
    std::atomic<uint32_t> size{0};
    uint32_t capacity = 0;

    // Index of the first entry >= `from` (binary search would cost more cache misses than a
    // walk from the predicted slot).
    size_t LowerBound(uint64_t from) const;
    // Inserts `entry` at `pos` (which keeps the order), growing the array if full.
    void InsertAt(size_t pos, uint64_t entry);
  };

  // The keys claimed and not yet committed or aborted, in full: a small open-addressing set
  // (linear probing, backward-shift deletion). Bounded by the records in flight.
  class InFlightSet {
   public:
    bool Contains(const Key& key) const;
    void Add(const Key& key);
    // Returns whether the key was there.
    bool Remove(const Key& key);
    size_t bytes() const { return slots_.capacity() * sizeof(Key); }

   private:
    size_t Home(const Key& key) const { return key.lo & (slots_.size() - 1); }
    std::vector<Key> slots_;  // {0, 0}: empty (Normalize keeps real keys away from it)
    size_t used_ = 0;
  };

  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.lo); }
  };

  struct alignas(64) Shard {
    Shard() = default;
    ~Shard();
    mutable Mutex mu;
    std::unique_ptr<Bucket[]> buckets;     // 1 << kBucketBits; its entries GUARDED_BY(mu)
    InFlightSet in_flight GUARDED_BY(mu);  // claimed keys
    size_t committed GUARDED_BY(mu) = 0;
    std::unordered_map<Key, std::vector<Waiter>, KeyHash> waiters GUARDED_BY(mu);
    std::unordered_map<Key, uint64_t, KeyHash> large_seqs GUARDED_BY(mu);  // see kLargeSeqValue
  };

  // What the entries with a key's tag say about it, under the shard lock.
  struct Lookup {
    bool pending = false;    // the key is claimed
    uint64_t found = ~0ull;  // the key is stored at this seq (known without reading the log)
    std::vector<uint64_t> unconfirmed;  // seqs whose record must be read to compare keys
  };

  static Key Normalize(const Key& k) { return (k.hi | k.lo) == 0 ? Key{0, 1} : k; }
  static uint64_t TagOf(const Key& k) {
    return (k.hi >> (64 - kShardBits - kBucketBits - kTagBits)) & ((1u << kTagBits) - 1);
  }
  Shard& ShardOf(const Key& k) { return shards_[k.hi >> (64 - kShardBits)]; }
  static Bucket& BucketOf(Shard& shard, const Key& k) {
    return shard.buckets[(k.hi >> (64 - kShardBits - kBucketBits)) & ((1u << kBucketBits) - 1)];
  }
  static uint64_t ValueOf(uint64_t seq) { return seq < kLargeSeqValue ? seq : kLargeSeqValue; }

  // Starts loading the cache lines of `key`'s bucket header (stage 0), of its predicted entry
  // (stage 1), or of that entry and the ones an insert there moves (stage 2): batches probe a
  // table far larger than the caches.
  void Prefetch(const Key& key, int stage);
  // For loops over a batch: prefetches keys a few steps ahead of keys[i], for a lookup or for
  // an insert.
  void PrefetchAhead(std::span<const Key> keys, size_t i, bool insert);
  // Looks at the entries sharing `key`'s tag; seqs in `not_key` are known to hold other keys.
  void LookupLocked(Shard& shard, const Key& key, std::span<const uint64_t> not_key, Lookup* out)
      TA_REQUIRES(shard.mu);
  // Reads the records at `seqs`: returns the seq holding `key` (or ~0 if none), appending those
  // that hold other keys to `not_key`.
  Result<uint64_t> Confirm(const Key& key, std::span<const uint64_t> seqs,
                           std::vector<uint64_t>* not_key);
  // Claims one (normalized) key; for kPending adds make_waiter() under the lock.
  template <typename MakeWaiter>
  Claim ClaimOne(const Key& key, uint64_t* seq, const MakeWaiter& make_waiter);
  // Ends a claim under `shard.mu`, moving its waiters (if any) to `fire`.
  void FinishLocked(Shard& shard, const Key& key, bool ok, uint64_t seq,
                    std::vector<std::pair<Waiter, uint64_t>>* fire) TA_REQUIRES(shard.mu);
  // Stores `key` as logged at `seq`.
  void AddCommittedLocked(Shard& shard, const Key& key, uint64_t seq) TA_REQUIRES(shard.mu);

  const KeyReader key_at_;
  std::atomic<uint64_t> confirm_reads_{0};
  std::array<Shard, size_t{1} << kShardBits> shards_;
};

}  // namespace tokenaudit::ingest

#endif  // TOKENAUDIT_INGEST_DEDUP_INDEX_H_
