// The canonical encoding of a UsageRecord (declared in record_json.h). The bytes produced here
// are what the ledger hashes into a Merkle leaf, so every choice is fixed and documented in
// doc/usage_record.md: changing any of them changes every leaf hash.

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "src/record/record_fields.h"
#include "src/util/json_string.h"
#include "src/record/record_json.h"
#include "src/record/rfc3339.h"

namespace tokenaudit::record {
namespace {

void AppendEscaped(std::string* out, std::string_view s) { AppendJsonString(out, s); }

// `"name":` for every field, escaped once instead of once per record.
struct QuotedKeys {
  QuotedKeys() {
    for (size_t i = 0; i < kNumRecordFields; ++i) {
      AppendEscaped(&key[i], kRecordFields[i].name);
      key[i].push_back(':');
    }
  }
  std::string key[kNumRecordFields];
};

const QuotedKeys& Keys() {
  static const QuotedKeys keys;
  return keys;
}

void AppendUnsigned(std::string* out, uint64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// Signed, for records built in code that Validate would refuse; parsed records are >= 0.
void AppendInteger(std::string* out, int64_t v) {
  if (v < 0) out->push_back('-');
  AppendUnsigned(out, v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v));
}

// Thousandths as the shortest decimal: 193100 -> 193.1, 5000 -> 5, 1 -> 0.001.
void AppendMilli(std::string* out, int64_t v) {
  if (v < 0) out->push_back('-');
  const uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  AppendUnsigned(out, magnitude / 1000);
  uint64_t frac = magnitude % 1000;
  if (frac == 0) return;
  char digits[3] = {static_cast<char>('0' + frac / 100), static_cast<char>('0' + frac / 10 % 10),
                    static_cast<char>('0' + frac % 10)};
  size_t n = 3;
  while (digits[n - 1] == '0') --n;
  out->push_back('.');
  out->append(digits, n);
}

void AppendField(std::string* out, const std::string& key, const FieldSpec& spec,
                 const UsageRecord& r) {
  if (spec.kind == FieldKind::kString) {
    const std::string& s = r.*spec.str;
    if (s.empty()) return;
    if (out->size() > 1) out->push_back(',');
    out->append(key);
    AppendEscaped(out, s);
    return;
  }
  const std::optional<int64_t>& n = r.*spec.num;
  if (!n.has_value()) return;
  if (out->size() > 1) out->push_back(',');
  out->append(key);
  switch (spec.kind) {
    case FieldKind::kInteger:
      AppendInteger(out, *n);
      break;
    case FieldKind::kMilli:
      AppendMilli(out, *n);
      break;
    case FieldKind::kTime:
      out->push_back('"');
      AppendRfc3339Micros(out, *n);
      out->push_back('"');
      break;
    case FieldKind::kString:
      break;
  }
}

std::string Encode(const UsageRecord& r, const uint64_t* seq) {
  const QuotedKeys& keys = Keys();
  // One allocation: room for the present fields, string values as they are (escapes are rare).
  size_t estimate = 2 + (seq != nullptr ? 27 : 0);
  for (size_t i = 0; i < kNumRecordFields; ++i) {
    const FieldSpec& spec = kRecordFields[i];
    if (spec.kind == FieldKind::kString) {
      const size_t n = (r.*spec.str).size();
      if (n > 0) estimate += keys.key[i].size() + n + 3;
    } else if ((r.*spec.num).has_value()) {
      estimate += keys.key[i].size() + 30;
    }
  }
  std::string out;
  out.reserve(estimate);
  out.push_back('{');
  auto append_seq = [&] {
    if (out.size() > 1) out.push_back(',');
    out.append("\"seq\":");
    AppendUnsigned(&out, *seq);
    seq = nullptr;
  };
  for (size_t i = 0; i < kNumRecordFields; ++i) {
    const FieldSpec& spec = kRecordFields[i];
    if (seq != nullptr && std::string_view("seq") < spec.name) append_seq();
    AppendField(&out, keys.key[i], spec, r);
  }
  if (seq != nullptr) append_seq();  // only if every field name sorted before "seq"
  out.push_back('}');
  return out;
}

}  // namespace

std::string EncodeCanonical(const UsageRecord& record) { return Encode(record, nullptr); }

std::string EncodeWithSeq(const UsageRecord& record, uint64_t seq) { return Encode(record, &seq); }

}  // namespace tokenaudit::record
