#include "src/ingest/enricher.h"

#include <charconv>
#include <cstring>

#include "src/auth/personal_data.h"
#include "src/util/hex.h"
#include "src/util/sha256.h"

namespace tokenaudit::ingest {

namespace {

// PythonFloatRepr into `buf` (at least 64 bytes); returns the end.
char* WritePythonFloatRepr(int64_t micros, char* buf) {
  const double seconds = static_cast<double>(micros) / 1e6;
  char* end = std::to_chars(buf, buf + 62, seconds).ptr;
  if (std::string_view(buf, static_cast<size_t>(end - buf)).find_first_of(".eEn") ==
      std::string_view::npos) {
    *end++ = '.';  // repr(1.0) == "1.0"
    *end++ = '0';
  }
  return end;
}

}  // namespace

std::string PythonFloatRepr(int64_t micros) {
  char buf[64];
  return std::string(buf, WritePythonFloatRepr(micros, buf));
}

namespace {

constexpr size_t kRequestIdChars = 16;

// The request_id of DESIGN §2 into `out` (kRequestIdChars bytes).
void RequestIdInto(std::string_view raw_user, std::string_view input_hash, int64_t start_time_us,
                   char* out) {
  constexpr std::string_view kPrefix = "sha256:";
  if (input_hash.substr(0, kPrefix.size()) == kPrefix) input_hash.remove_prefix(kPrefix.size());
  // One buffer and one SHA-256 call for the usual sizes (five Updates cost more than the hash).
  char time_buf[64];
  const std::string_view time(
      time_buf, static_cast<size_t>(WritePythonFloatRepr(start_time_us, time_buf) - time_buf));
  Sha256Digest d;
  char buf[512];
  const size_t n = raw_user.size() + 1 + input_hash.size() + 1 + time.size();
  if (n <= sizeof(buf)) {
    char* p = buf;
    for (std::string_view part :
         {raw_user, std::string_view("_"), input_hash, std::string_view("_"), time}) {
      std::memcpy(p, part.data(), part.size());
      p += part.size();
    }
    d = Sha256Of(std::string_view(buf, n));
  } else {
    Sha256 h;
    h.Update(raw_user);
    h.Update("_");
    h.Update(input_hash);
    h.Update("_");
    h.Update(time);
    d = h.Finish();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < kRequestIdChars / 2; ++i) {
    out[2 * i] = kHex[d[i] >> 4];
    out[2 * i + 1] = kHex[d[i] & 0xf];
  }
}

// LooksPersonal (auth/personal_data.h) can only match a value holding an e-mail address ('@')
// or a path ('/' or '\\'); most values hold none of them, and this test is one memchr-like scan.
bool MayLookPersonal(std::string_view value) {
  bool found = false;
  for (const char c : value) found |= c == '@' || c == '/' || c == '\\';
  return found;
}

}  // namespace

std::string ComputeRequestId(std::string_view raw_user, std::string_view input_hash,
                             int64_t start_time_us) {
  std::string id(kRequestIdChars, '\0');
  RequestIdInto(raw_user, input_hash, start_time_us, id.data());
  return id;
}

void Enricher::PseudonymizeUser(std::string* user) const {
  const std::string_view raw = *user;
  CacheShard& shard = cache_[std::hash<std::string_view>{}(raw) % kCacheShards];
  {
    MutexLock l(&shard.mu);
    auto it = shard.map.find(raw);
    if (it != shard.map.end()) {
      user->assign(it->second);  // reuses the buffer; `raw` is not used after this
      return;
    }
  }
  std::string p = pseudonymizer_->UserPseudonym(raw);
  {
    MutexLock l(&shard.mu);
    if (shard.map.size() >= kCacheEntriesPerShard) shard.map.clear();  // bounded, simply
    shard.map.emplace(std::string(raw), p);
  }
  *user = std::move(p);
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
    char expected[kRequestIdChars];
    RequestIdInto(r->user, r->input_hash, *r->start_time_us, expected);
    if (r->request_id.empty()) {
      r->request_id.assign(expected, kRequestIdChars);
    } else if (r->request_id != std::string_view(expected, kRequestIdChars)) {
      *error = {"request_id_mismatch", "request_id",
                "request_id differs from sha256(user_input.hash_start_time)[:16]"};
      return false;
    }
  }
  // A user already in pseudonym form (the gateway forwards the key's pseudonym) is kept: hashing
  // it again would file the records under a user nobody can query.
  if (!r->user.empty() && !auth::IsUserPseudonym(r->user)) PseudonymizeUser(&r->user);
  for (std::string* field : {&r->id, &r->source, &r->workflow, &r->node_id, &r->node_type,
                             &r->model_variant, &r->device, &r->error_type, &r->operation_name,
                             &r->model, &r->workflow_hash}) {
    if (MayLookPersonal(*field) && auth::LooksPersonal(*field)) {
      *field = pseudonymizer_->Redact(*field);
    }
  }
  if (r->capture.empty()) r->capture = "api";
  if (!r->estimated_tokens_milli) r->estimated_tokens_milli = EstimateTokensMilli(*r);
  // Producer-measured GFLOPs are kept; the table fills what is missing and, for a model it knows,
  // always sets cost and price version (Apply changes nothing for an unknown model).
  const std::optional<int64_t> measured_gflops = r->gflops_milli;
  pricing_->Apply(r);
  if (measured_gflops) r->gflops_milli = measured_gflops;
  return true;
}

}  // namespace tokenaudit::ingest
