#include "src/ingest/dedup_index.h"

#include <cstring>
#include <string>

#include "src/util/sha256.h"

namespace tokenaudit::ingest {

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

DedupIndex::Claim DedupIndex::TryClaim(const Key& key, uint64_t* seq,
                                       std::function<void(bool, uint64_t)> on_done) {
  MutexLock l(&mu_);
  auto it = done_.find(key);
  if (it != done_.end()) {
    *seq = it->second;
    return Claim::kDuplicate;
  }
  auto p = pending_.find(key);
  if (p != pending_.end()) {
    p->second.push_back(std::move(on_done));
    return Claim::kPending;
  }
  pending_.emplace(key, std::vector<std::function<void(bool, uint64_t)>>());
  return Claim::kNew;
}

void DedupIndex::Finish(const Key& key, bool ok, uint64_t seq) {
  std::vector<std::function<void(bool, uint64_t)>> waiters;
  {
    MutexLock l(&mu_);
    auto p = pending_.find(key);
    if (p != pending_.end()) {
      waiters = std::move(p->second);
      pending_.erase(p);
    }
    if (ok) done_.emplace(key, seq);
  }
  for (auto& w : waiters) w(ok, seq);
}

void DedupIndex::Commit(const Key& key, uint64_t seq) { Finish(key, true, seq); }

void DedupIndex::CommitBatch(const std::vector<Key>& keys, uint64_t first_seq) {
  std::vector<std::pair<std::function<void(bool, uint64_t)>, uint64_t>> fire;
  {
    MutexLock l(&mu_);
    for (size_t i = 0; i < keys.size(); ++i) {
      auto p = pending_.find(keys[i]);
      if (p != pending_.end()) {
        for (auto& w : p->second) fire.emplace_back(std::move(w), first_seq + i);
        pending_.erase(p);
      }
      done_.emplace(keys[i], first_seq + i);
    }
  }
  for (auto& [w, seq] : fire) w(true, seq);
}

void DedupIndex::AbortBatch(const std::vector<Key>& keys) {
  for (const auto& k : keys) Finish(k, false, 0);  // the rare path: no batching needed
}
void DedupIndex::Abort(const Key& key) { Finish(key, false, 0); }

void DedupIndex::Insert(const Key& key, uint64_t seq) {
  MutexLock l(&mu_);
  done_.emplace(key, seq);
}

size_t DedupIndex::size() const {
  MutexLock l(&mu_);
  return done_.size();
}

}  // namespace tokenaudit::ingest
