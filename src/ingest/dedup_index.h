// The idempotency index: (tenant, source, id) → seq of the record first accepted with that key.
// Rebuilt from the log at startup, so a retry is recognised across restarts. Keys are 128-bit
// fingerprints (SHA-256 truncated) of the three fields. Thread-safe.
//
// A key being appended right now is "claimed": a second request for it waits for the first
// one's outcome instead of appending a second copy.

#ifndef TOKENAUDIT_INGEST_DEDUP_INDEX_H_
#define TOKENAUDIT_INGEST_DEDUP_INDEX_H_

#include <cstdint>
#include <functional>
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
  // `on_done(ok, seq)` is called (once, possibly on another thread, without locks held) only
  // when the result is kPending.
  Claim TryClaim(const Key& key, uint64_t* seq, std::function<void(bool, uint64_t)> on_done);
  // The claimed key's record is durable at `seq`.
  void Commit(const Key& key, uint64_t seq);
  // The claimed key's append failed; waiters are told so.
  void Abort(const Key& key);
  // Commit keys[i] at first_seq + i, under one lock: the log writer's completion path.
  void CommitBatch(const std::vector<Key>& keys, uint64_t first_seq);
  void AbortBatch(const std::vector<Key>& keys);
  // Records a key found in the log (startup rebuild). The first seq for a key wins.
  void Insert(const Key& key, uint64_t seq);
  size_t size() const;

 private:
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.lo ^ (k.hi * 31)); }
  };
  void Finish(const Key& key, bool ok, uint64_t seq);

  mutable Mutex mu_;
  std::unordered_map<Key, uint64_t, KeyHash> done_ GUARDED_BY(mu_);
  std::unordered_map<Key, std::vector<std::function<void(bool, uint64_t)>>, KeyHash> pending_
      GUARDED_BY(mu_);
};

}  // namespace tokenaudit::ingest

#endif  // TOKENAUDIT_INGEST_DEDUP_INDEX_H_
