#include "src/record/validate.h"

#include <simdjson.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "src/record/record_fields.h"
#include "src/util/json_string.h"

namespace tokenaudit::record {
namespace {

constexpr int64_t kMsPer31Days = int64_t{31} * 86'400 * 1'000;

// What a string field must look like beyond the rules every string follows.
enum class StringRule {
  kFree,       // valid UTF-8, at most kMaxStringBytes, no control characters
  kId,         // 1..256 bytes of visible ASCII (0x21..0x7E)
  kTenant,     // [a-z0-9][a-z0-9._-]{0,63}
  kTaskType,   // [a-z0-9_]{1,64}
  kInputHash,  // "sha256:" + 64 lower-case hex digits
  kRequestId,  // 16 lower-case hex digits
  kStatus,     // success|error|cached|interrupted|rejected
  kCapture,    // gateway|extension|api
};

struct StringFieldRule {
  std::string_view name;
  StringRule rule;
};
constexpr StringFieldRule kStringRules[] = {
    {"capture", StringRule::kCapture},
    {"id", StringRule::kId},
    {"input.hash", StringRule::kInputHash},
    {"request_id", StringRule::kRequestId},
    {"source", StringRule::kId},
    {"status", StringRule::kStatus},
    {"task_type", StringRule::kTaskType},
    {"tenant", StringRule::kTenant},
};

struct RangeRule {
  std::string_view name;
  int64_t min;
  int64_t max;  // inclusive
  std::string_view text;
};
constexpr RangeRule kRangeRules[] = {
    {"cost_micros", 0, 1'000'000'000'000'000, "must be between 0 and 10^15"},
    {"duration_ms", 0, kMsPer31Days, "must be between 0 and 2678400000 (31 days)"},
    {"gen_ai.usage.input_tokens", 0, 1'000'000'000'000, "must be between 0 and 10^12"},
    {"gen_ai.usage.output_tokens", 0, 1'000'000'000'000, "must be between 0 and 10^12"},
    {"input.batch", 1, 10'000, "must be between 1 and 10000"},
    {"input.height", 1, 1'000'000, "must be between 1 and 1000000"},
    {"input.model_input_size", 1, 65'536, "must be between 1 and 65536"},
    {"input.width", 1, 1'000'000, "must be between 1 and 1000000"},
    {"start_time", kMinRecordTimeUs, kEndRecordTimeUs - 1,
     "must be in [2000-01-01T00:00:00Z, 2200-01-01T00:00:00Z)"},
    {"time", kMinRecordTimeUs, kEndRecordTimeUs - 1,
     "must be in [2000-01-01T00:00:00Z, 2200-01-01T00:00:00Z)"},
    {"usage.estimated_tokens_milli", 0, 1'000'000'000'000'000, "must be between 0 and 10^15"},
    {"usage.gflops", 0, 1'000'000'000'000'000, "must be between 0 and 10^12"},
    {"usage.gpu_ms", 0, kMsPer31Days, "must be between 0 and 2678400000 (31 days)"},
};

// kStringRules and kRangeRules by kRecordFields index, so a check costs no name comparisons.
struct FieldRules {
  StringRule string_rule[kNumRecordFields] = {};
  int range_rule[kNumRecordFields] = {};  // index into kRangeRules, -1 for none
};
constexpr FieldRules MakeFieldRules() {
  FieldRules rules;
  for (size_t i = 0; i < kNumRecordFields; ++i) {
    rules.string_rule[i] = StringRule::kFree;
    for (const StringFieldRule& r : kStringRules) {
      if (r.name == kRecordFields[i].name) rules.string_rule[i] = r.rule;
    }
    rules.range_rule[i] = -1;
    for (size_t j = 0; j < std::size(kRangeRules); ++j) {
      if (kRangeRules[j].name == kRecordFields[i].name) rules.range_rule[i] = static_cast<int>(j);
    }
  }
  return rules;
}
constexpr FieldRules kFieldRules = MakeFieldRules();

// True if a byte of `v` is below 0x20 or DEL. Exact: (x - 0x01..) & ~x & 0x80.. is non-zero iff
// a byte of x is zero, and with 0x20.. instead of 0x01.. iff a byte is below 0x20.
bool HasControlByte(uint64_t v) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  const uint64_t del = v ^ (kOnes * 0x7F);
  return ((((v - kOnes * 0x20) & ~v) | ((del - kOnes) & ~del)) & (kOnes * 0x80)) != 0;
}

// Branch-free range tests (unsigned wrap-around), vectorisable in AllOf.
bool InRange(char c, char lo, char hi) {
  return static_cast<unsigned char>(c - lo) <= static_cast<unsigned char>(hi - lo);
}
bool IsLowerHex(char c) { return InRange(c, '0', '9') | InRange(c, 'a', 'f'); }
bool IsLowerAlnum(char c) { return InRange(c, 'a', 'z') | InRange(c, '0', '9'); }

// No early exit, so that the compiler can vectorise the loop: the strings are short and almost
// always pass.
template <typename Pred>
bool AllOf(std::string_view s, Pred pred) {
  bool ok = true;
  for (const char c : s) ok &= pred(c);
  return ok;
}

class Checker {
 public:
  explicit Checker(FieldError* out) : out_(out) {}
  bool Fail(std::string_view code, std::string_view field, std::string_view rule) {
    if (out_ != nullptr) *out_ = MakeFieldError(code, field, rule);
    return false;
  }
  bool String(size_t field, std::string_view s);
  bool Number(size_t field, int64_t v);

 private:
  FieldError* out_;
};

bool Checker::String(size_t field, std::string_view s) {
  const std::string_view name = kRecordFields[field].name;
  // One pass, 8 bytes at a time, finds both non-ASCII bytes (only then is the UTF-8 validator
  // needed) and control characters; the failures are reported in the documented order.
  uint64_t high = 0;
  bool control = false;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    const uint64_t v = LoadWord(s.data() + i);
    high |= v;
    control |= HasControlByte(v);
  }
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    high |= c;
    control |= c < 0x20 || c == 0x7F;
  }
  if ((high & 0x8080808080808080ull) != 0 && !simdjson::validate_utf8(s.data(), s.size())) {
    return Fail(kInvalidUtf8, name, "must be valid UTF-8");
  }
  if (s.size() > kMaxStringBytes) return Fail(kTooLong, name, "must be at most 1024 bytes");
  if (control) return Fail(kInvalidFormat, name, "must not contain control characters");
  switch (kFieldRules.string_rule[field]) {
    case StringRule::kFree:
      return true;
    case StringRule::kId:
      if (s.size() > kMaxIdBytes) return Fail(kTooLong, name, "must be at most 256 bytes");
      if (!AllOf(s, [](char c) { return InRange(c, 0x21, 0x7E); })) {
        return Fail(kInvalidFormat, name, "must be visible ASCII characters (no spaces)");
      }
      return true;
    case StringRule::kTenant:
      if (s.size() > 64) return Fail(kTooLong, name, "must be at most 64 bytes");
      if (!IsLowerAlnum(s[0]) ||
          !AllOf(s, [](char c) { return IsLowerAlnum(c) || c == '.' || c == '_' || c == '-'; })) {
        return Fail(kInvalidFormat, name, "must match [a-z0-9][a-z0-9._-]{0,63}");
      }
      return true;
    case StringRule::kTaskType:
      if (s.size() > 64) return Fail(kTooLong, name, "must be at most 64 bytes");
      if (!AllOf(s, [](char c) { return IsLowerAlnum(c) || c == '_'; })) {
        return Fail(kInvalidFormat, name, "must match [a-z0-9_]{1,64}");
      }
      return true;
    case StringRule::kInputHash: {
      constexpr std::string_view kPrefix = "sha256:";
      if (s.size() != kPrefix.size() + 64 || s.substr(0, kPrefix.size()) != kPrefix ||
          !AllOf(s.substr(kPrefix.size()), [](char c) { return IsLowerHex(c); })) {
        return Fail(kInvalidFormat, name,
                    "must be \"sha256:\" followed by 64 lower-case hex digits");
      }
      return true;
    }
    case StringRule::kRequestId:
      if (s.size() != 16 || !AllOf(s, [](char c) { return IsLowerHex(c); })) {
        return Fail(kInvalidFormat, name, "must be 16 lower-case hex digits");
      }
      return true;
    case StringRule::kStatus:
      if (s != "success" && s != "error" && s != "cached" && s != "interrupted" &&
          s != "rejected") {
        return Fail(kInvalidFormat, name,
                    "must be one of success, error, cached, interrupted, rejected");
      }
      return true;
    case StringRule::kCapture:
      if (s != "gateway" && s != "extension" && s != "api") {
        return Fail(kInvalidFormat, name, "must be one of gateway, extension, api");
      }
      return true;
  }
  return true;
}

bool Checker::Number(size_t field, int64_t v) {
  const std::string_view name = kRecordFields[field].name;
  const int rule = kFieldRules.range_rule[field];
  // A numeric field without a rule would be a programming error; refuse rather than pass.
  if (rule < 0) return Fail(kOutOfRange, name, "has no range rule");
  const RangeRule& r = kRangeRules[rule];
  if (v < r.min || v > r.max) return Fail(kOutOfRange, name, r.text);
  return true;
}

}  // namespace

bool Validate(const UsageRecord& r, FieldError* error) {
  Checker check(error);
  if (r.id.empty()) return check.Fail(kMissingField, "id", "is required");
  if (r.source.empty()) return check.Fail(kMissingField, "source", "is required");
  if (!r.time_us.has_value()) return check.Fail(kMissingField, "time", "is required");
  if (r.status.empty()) return check.Fail(kMissingField, "status", "is required");
  for (size_t i = 0; i < kNumRecordFields; ++i) {
    const FieldSpec& spec = kRecordFields[i];
    if (spec.kind == FieldKind::kString) {
      const std::string& s = r.*spec.str;
      if (!s.empty() && !check.String(i, s)) return false;
    } else {
      const std::optional<int64_t>& n = r.*spec.num;
      if (n.has_value() && !check.Number(i, *n)) return false;
    }
  }
  if (r.start_time_us.has_value() && *r.start_time_us > *r.time_us) {
    return check.Fail(kOutOfRange, "start_time", "must not be after time");
  }
  return true;
}

}  // namespace tokenaudit::record
