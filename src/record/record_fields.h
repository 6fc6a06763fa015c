// The usage record schema as data: every UsageRecord field with its JSON name and kind, in
// canonical (byte-sorted) order. Parsing, canonical encoding and validation all walk this one
// table, so a field added to UsageRecord is added here once. Internal to src/record/.

#ifndef TOKENAUDIT_RECORD_RECORD_FIELDS_H_
#define TOKENAUDIT_RECORD_RECORD_FIELDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tokenaudit/usage_record.h"

namespace tokenaudit::record {

enum class FieldKind {
  kString,   // JSON string
  kInteger,  // JSON integer (no fraction, no exponent), non-negative, fits int64
  kTime,     // JSON string, RFC 3339; stored as UTC microseconds
  kMilli,    // JSON decimal with at most 3 fractional digits; stored as value * 1000
};

struct FieldSpec {
  std::string_view name;
  FieldKind kind;
  std::string UsageRecord::*str;             // set iff kind == kString
  std::optional<int64_t> UsageRecord::*num;  // set iff kind != kString
};

namespace field_internal {
constexpr FieldSpec S(std::string_view n, std::string UsageRecord::*m) {
  return {n, FieldKind::kString, m, nullptr};
}
constexpr FieldSpec N(std::string_view n, FieldKind k, std::optional<int64_t> UsageRecord::*m) {
  return {n, k, nullptr, m};
}
}  // namespace field_internal

// Sorted by name, compared as bytes; `seq` (not a stored field) would sort between
// "request_id" and "source".
inline constexpr FieldSpec kRecordFields[] = {
    field_internal::S("capture", &UsageRecord::capture),
    field_internal::N("cost_micros", FieldKind::kInteger, &UsageRecord::cost_micros),
    field_internal::S("device", &UsageRecord::device),
    field_internal::S("duplicate_of", &UsageRecord::duplicate_of),
    field_internal::N("duration_ms", FieldKind::kInteger, &UsageRecord::duration_ms),
    field_internal::S("error.type", &UsageRecord::error_type),
    field_internal::S("gen_ai.operation.name", &UsageRecord::operation_name),
    field_internal::S("gen_ai.request.model", &UsageRecord::model),
    field_internal::N("gen_ai.usage.input_tokens", FieldKind::kInteger, &UsageRecord::input_tokens),
    field_internal::N("gen_ai.usage.output_tokens", FieldKind::kInteger,
                      &UsageRecord::output_tokens),
    field_internal::S("id", &UsageRecord::id),
    field_internal::N("input.batch", FieldKind::kInteger, &UsageRecord::input_batch),
    field_internal::S("input.hash", &UsageRecord::input_hash),
    field_internal::N("input.height", FieldKind::kInteger, &UsageRecord::input_height),
    field_internal::N("input.model_input_size", FieldKind::kInteger,
                      &UsageRecord::input_model_input_size),
    field_internal::N("input.width", FieldKind::kInteger, &UsageRecord::input_width),
    field_internal::S("model_variant", &UsageRecord::model_variant),
    field_internal::S("node_id", &UsageRecord::node_id),
    field_internal::S("node_type", &UsageRecord::node_type),
    field_internal::S("price_version", &UsageRecord::price_version),
    field_internal::S("request_id", &UsageRecord::request_id),
    field_internal::S("source", &UsageRecord::source),
    field_internal::N("start_time", FieldKind::kTime, &UsageRecord::start_time_us),
    field_internal::S("status", &UsageRecord::status),
    field_internal::S("task_type", &UsageRecord::task_type),
    field_internal::S("tenant", &UsageRecord::tenant),
    field_internal::N("time", FieldKind::kTime, &UsageRecord::time_us),
    field_internal::N("usage.estimated_tokens_milli", FieldKind::kInteger,
                      &UsageRecord::estimated_tokens_milli),
    field_internal::N("usage.gflops", FieldKind::kMilli, &UsageRecord::gflops_milli),
    field_internal::N("usage.gpu_ms", FieldKind::kInteger, &UsageRecord::gpu_ms),
    field_internal::S("user", &UsageRecord::user),
    field_internal::S("workflow", &UsageRecord::workflow),
    field_internal::S("workflow_hash", &UsageRecord::workflow_hash),
};
inline constexpr size_t kNumRecordFields = sizeof(kRecordFields) / sizeof(kRecordFields[0]);

constexpr bool RecordFieldsAreSorted() {
  for (size_t i = 1; i < kNumRecordFields; ++i) {
    if (!(kRecordFields[i - 1].name < kRecordFields[i].name)) return false;
  }
  return true;
}
static_assert(RecordFieldsAreSorted(), "kRecordFields must be in canonical (byte) order");
static_assert(kNumRecordFields <= 64, "field sets are tracked in a uint64_t mask");

// Makes every field absent, keeping the strings' buffers for reuse.
inline void ClearRecord(UsageRecord* r) {
  for (const FieldSpec& spec : kRecordFields) {
    if (spec.kind == FieldKind::kString) {
      (r->*spec.str).clear();
    } else {
      (r->*spec.num).reset();
    }
  }
}

namespace field_internal {
inline constexpr size_t kMaxNameLength = 32;
inline constexpr size_t kMaxSameLength = 8;
// Field indices by name length (-1 ends a list): parsing looks every key up, and most lengths
// hold one to four names.
struct ByLength {
  int8_t index[kMaxNameLength + 1][kMaxSameLength];
};
constexpr ByLength MakeByLength() {
  ByLength t{};
  for (auto& list : t.index) {
    for (auto& i : list) i = -1;
  }
  for (size_t i = 0; i < kNumRecordFields; ++i) {
    auto& list = t.index[kRecordFields[i].name.size()];
    size_t n = 0;
    while (list[n] >= 0) ++n;
    list[n] = static_cast<int8_t>(i);
  }
  return t;
}
inline constexpr ByLength kByLength = MakeByLength();
constexpr bool NamesFitByLength() {
  size_t count[kMaxNameLength + 1] = {};
  for (const FieldSpec& f : kRecordFields) {
    if (f.name.size() > kMaxNameLength || ++count[f.name.size()] >= kMaxSameLength) return false;
  }
  return true;
}
static_assert(NamesFitByLength(), "grow kMaxNameLength or kMaxSameLength");
}  // namespace field_internal

// The index of `name` in kRecordFields, or -1.
constexpr int FindRecordField(std::string_view name) {
  if (name.empty() || name.size() > field_internal::kMaxNameLength) return -1;
  for (const int8_t i : field_internal::kByLength.index[name.size()]) {
    if (i < 0) break;
    const std::string_view candidate = kRecordFields[i].name;
    if (candidate.front() == name.front() && candidate.back() == name.back() &&
        candidate == name) {
      return i;
    }
  }
  return -1;
}

static_assert(FindRecordField("capture") == 0 && FindRecordField("workflow_hash") == 32 &&
              FindRecordField("input.hash") == 12 && FindRecordField("input.hasH") == -1 &&
              FindRecordField("") == -1);

}  // namespace tokenaudit::record

#endif  // TOKENAUDIT_RECORD_RECORD_FIELDS_H_
