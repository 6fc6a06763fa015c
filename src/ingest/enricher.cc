#include "src/ingest/enricher.h"

#include <charconv>

#include "src/auth/personal_data.h"
#include "src/util/hex.h"
#include "src/util/sha256.h"

namespace tokenaudit::ingest {

std::string PythonFloatRepr(int64_t micros) {
  double seconds = static_cast<double>(micros) / 1e6;
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), seconds);
  std::string s(buf, end);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // repr(1.0) == "1.0"
  return s;
}

std::string ComputeRequestId(std::string_view raw_user, std::string_view input_hash,
                             int64_t start_time_us) {
  constexpr std::string_view kPrefix = "sha256:";
  if (input_hash.substr(0, kPrefix.size()) == kPrefix) input_hash.remove_prefix(kPrefix.size());
  std::string msg(raw_user);
  msg += '_';
  msg += input_hash;
  msg += '_';
  msg += PythonFloatRepr(start_time_us);
  Sha256Digest d = Sha256Of(msg);
  return HexEncode(d.data(), 8);
}

std::string Enricher::Pseudonym(std::string_view raw) const {
  CacheShard& shard = cache_[std::hash<std::string_view>{}(raw) % kCacheShards];
  std::string key(raw);
  {
    MutexLock l(&shard.mu);
    auto it = shard.map.find(key);
    if (it != shard.map.end()) return it->second;
  }
  std::string p = pseudonymizer_->UserPseudonym(raw);
  MutexLock l(&shard.mu);
  if (shard.map.size() >= kCacheEntriesPerShard) shard.map.clear();  // bounded, simply
  shard.map.emplace(std::move(key), p);
  return p;
}

bool Enricher::Enrich(const auth::Principal& who, UsageRecord* r,
                      record::FieldError* error) const {
  if (r->tenant.empty()) r->tenant = who.tenant.empty() ? default_tenant_ : who.tenant;
  if (!who.tenant.empty() && r->tenant != who.tenant) {
    *error = {"forbidden", "tenant", "this key may only write records of its own tenant"};
    return false;
  }
  // request_id uses the raw user, so it is settled before the user is pseudonymised.
  if (!r->user.empty() && !r->input_hash.empty() && r->start_time_us) {
    std::string expected = ComputeRequestId(r->user, r->input_hash, *r->start_time_us);
    if (r->request_id.empty()) {
      r->request_id = expected;
    } else if (r->request_id != expected) {
      *error = {"request_id_mismatch", "request_id",
                "request_id differs from sha256(user_input.hash_start_time)[:16]"};
      return false;
    }
  }
  if (!r->user.empty()) r->user = Pseudonym(r->user);
  for (std::string* field : {&r->id, &r->source, &r->workflow, &r->node_id, &r->node_type,
                             &r->model_variant, &r->device, &r->error_type, &r->operation_name,
                             &r->model, &r->workflow_hash}) {
    if (!field->empty() && auth::LooksPersonal(*field)) *field = pseudonymizer_->Redact(*field);
  }
  if (r->capture.empty()) r->capture = "api";
  if (!r->estimated_tokens_milli) r->estimated_tokens_milli = EstimateTokensMilli(*r);
  UsageRecord priced = *r;
  pricing_->Apply(&priced);
  // Producer-measured GFLOPs are kept; the table fills what is missing and always sets the price.
  if (!r->gflops_milli) r->gflops_milli = priced.gflops_milli;
  if (priced.cost_micros) {
    r->cost_micros = priced.cost_micros;
    r->price_version = priced.price_version;
  }
  return true;
}

}  // namespace tokenaudit::ingest
