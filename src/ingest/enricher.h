// Server-side enrichment of a validated record before it is stored (DESIGN §2): tenant from the
// key or the default, request_id computed or checked, the user pseudonymised, personal data in
// free-text fields redacted, the seed token estimate, GFLOPs, cost and price version.
//
// After Enrich the record contains no raw user name, e-mail address or file path.

#ifndef TOKENAUDIT_INGEST_ENRICHER_H_
#define TOKENAUDIT_INGEST_ENRICHER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "src/auth/principal.h"
#include "src/auth/pseudonymizer.h"
#include "src/ingest/cost_table.h"
#include "src/record/record_json.h"
#include "src/util/mutex.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::ingest {

// request_id per DESIGN §2: hex(sha256(user + "_" + input_hash + "_" + start_time))[:16], with
// the raw user as sent, input_hash the hex digest without its "sha256:" prefix, and start_time
// the epoch seconds as Python's repr(float) prints them ("1764496800.0", "1764496800.48").
std::string ComputeRequestId(std::string_view raw_user, std::string_view input_hash,
                             int64_t start_time_us);
// Python's repr() of start_time_us / 1e6 (shortest round-trip decimal, ".0" for whole numbers).
std::string PythonFloatRepr(int64_t micros);

class Enricher {
 public:
  // Borrowed pointers: all must outlive the Enricher.
  Enricher(const auth::Pseudonymizer* pseudonymizer, const CostTable* pricing,
           std::string default_tenant)
      : pseudonymizer_(pseudonymizer), pricing_(pricing), default_tenant_(std::move(default_tenant)) {}

  // Enriches `r` in place for a record sent by `who`. Returns false and sets *error for a record
  // the key may not write (field "tenant", code "forbidden") or a request_id that does not match
  // (code "request_id_mismatch"). Thread-safe.
  bool Enrich(const auth::Principal& who, UsageRecord* r, record::FieldError* error) const;

 private:
  // Replaces the raw user name in *user by its pseudonym, from a bounded in-memory cache: users
  // repeat, and an HMAC costs ~0.5 µs. Raw names stay in process memory only, like the requests
  // they came in.
  void PseudonymizeUser(std::string* user) const;

  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct CacheShard {
    Mutex mu;
    std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> map GUARDED_BY(mu);
  };
  static constexpr size_t kCacheShards = 16;
  static constexpr size_t kCacheEntriesPerShard = 1 << 14;
  mutable std::array<CacheShard, kCacheShards> cache_;

  const auth::Pseudonymizer* pseudonymizer_;
  const CostTable* pricing_;
  std::string default_tenant_;
};

}  // namespace tokenaudit::ingest

#endif  // TOKENAUDIT_INGEST_ENRICHER_H_
