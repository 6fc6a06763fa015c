// The canonical encoding of a UsageRecord (declared in record_json.h). The bytes produced here
// are what the ledger hashes into a Merkle leaf, so every choice is fixed and documented in
// doc/usage_record.md: changing any of them changes every leaf hash.
//
// A sizing pass over the fields, then one writing pass through a pointer into the output. The
// std::string encoders size strings exactly (a scan each); EncodeCanonicalTo, which writes into a
// reused RecordBatch buffer, takes a bound instead and scans each string only once.

#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "src/record/record_fields.h"
#include "src/record/record_json.h"
#include "src/record/rfc3339.h"
#include "src/util/json_string.h"

namespace tokenaudit::record {
namespace {

// The longest non-string value: a quoted time (29); any int64 (20) and milli value (21) fit.
constexpr size_t kMaxNumberChars = 2 + kRfc3339MicrosSize;

// `"name":` for every field, escaped once instead of once per record.
struct QuotedKeys {
  QuotedKeys() {
    for (size_t i = 0; i < kNumRecordFields; ++i) {
      AppendJsonString(&key[i], kRecordFields[i].name);
      key[i].push_back(':');
    }
  }
  std::string key[kNumRecordFields];
};

const QuotedKeys& Keys() {
  static const QuotedKeys keys;
  return keys;
}

char* WriteUnsigned(char* out, uint64_t v) {
  return std::to_chars(out, out + 20, v).ptr;
}

// Signed, for records built in code that Validate would refuse; parsed records are >= 0.
char* WriteInteger(char* out, int64_t v) {
  if (v < 0) *out++ = '-';
  return WriteUnsigned(out, v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v));
}

// Thousandths as the shortest decimal: 193100 -> 193.1, 5000 -> 5, 1 -> 0.001.
char* WriteMilli(char* out, int64_t v) {
  if (v < 0) *out++ = '-';
  const uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  out = WriteUnsigned(out, magnitude / 1000);
  uint64_t frac = magnitude % 1000;
  if (frac == 0) return out;
  const char digits[3] = {static_cast<char>('0' + frac / 100),
                          static_cast<char>('0' + frac / 10 % 10),
                          static_cast<char>('0' + frac % 10)};
  size_t n = 3;
  while (digits[n - 1] == '0') --n;
  *out++ = '.';
  std::memcpy(out, digits, n);
  return out + n;
}

char* WriteKey(char* out, const std::string& key, bool* first) {
  if (!*first) *out++ = ',';
  *first = false;
  std::memcpy(out, key.data(), key.size());
  return out + key.size();
}

constexpr std::string_view kSeqKey = "\"seq\":";

// The output size for `r`: exact for strings if `exact_strings` (a scan of each), else an upper
// bound (6 bytes per string byte, the \u00xx escape); generous for numbers either way.
size_t SizeBound(const UsageRecord& r, const uint64_t* seq, bool exact_strings) {
  const QuotedKeys& keys = Keys();
  size_t size = 2 + (seq != nullptr ? 1 + kSeqKey.size() + kMaxNumberChars : 0);
  for (size_t i = 0; i < kNumRecordFields; ++i) {
    const FieldSpec& spec = kRecordFields[i];
    if (spec.kind == FieldKind::kString) {
      const std::string& s = r.*spec.str;
      if (!s.empty()) {
        size += 1 + keys.key[i].size() + (exact_strings ? JsonStringSize(s) : 2 + 6 * s.size());
      }
    } else if ((r.*spec.num).has_value()) {
      size += 1 + keys.key[i].size() + kMaxNumberChars;
    }
  }
  return size;
}

// Writes the record at `p` (room for SizeBound bytes); returns the end.
char* EncodeTo(const UsageRecord& r, const uint64_t* seq, char* p) {
  const QuotedKeys& keys = Keys();
  *p++ = '{';
  bool first = true;
  auto write_seq = [&] {
    if (!first) *p++ = ',';
    first = false;
    std::memcpy(p, kSeqKey.data(), kSeqKey.size());
    p = WriteUnsigned(p + kSeqKey.size(), *seq);
    seq = nullptr;
  };
  for (size_t i = 0; i < kNumRecordFields; ++i) {
    const FieldSpec& spec = kRecordFields[i];
    if (seq != nullptr && std::string_view("seq") < spec.name) write_seq();
    if (spec.kind == FieldKind::kString) {
      const std::string& s = r.*spec.str;
      if (s.empty()) continue;
      p = WriteKey(p, keys.key[i], &first);
      p = WriteJsonString(p, s);
      continue;
    }
    const std::optional<int64_t>& n = r.*spec.num;
    if (!n.has_value()) continue;
    p = WriteKey(p, keys.key[i], &first);
    switch (spec.kind) {
      case FieldKind::kInteger:
        p = WriteInteger(p, *n);
        break;
      case FieldKind::kMilli:
        p = WriteMilli(p, *n);
        break;
      case FieldKind::kTime:
        *p++ = '"';
        p = WriteRfc3339Micros(p, *n);
        *p++ = '"';
        break;
      case FieldKind::kString:
        break;
    }
  }
  if (seq != nullptr) write_seq();  // only if every field name sorted before "seq"
  *p++ = '}';
  return p;
}

std::string Encode(const UsageRecord& r, const uint64_t* seq) {
  std::string out(SizeBound(r, seq, /*exact_strings=*/true), '\0');
  char* end = EncodeTo(r, seq, out.data());
  out.resize(static_cast<size_t>(end - out.data()));
  return out;
}

}  // namespace

std::string EncodeCanonical(const UsageRecord& record) { return Encode(record, nullptr); }

size_t CanonicalSizeBound(const UsageRecord& record) {
  return SizeBound(record, nullptr, /*exact_strings=*/false);
}

char* EncodeCanonicalTo(const UsageRecord& record, char* out) {
  return EncodeTo(record, nullptr, out);
}

std::string EncodeWithSeq(const UsageRecord& record, uint64_t seq) { return Encode(record, &seq); }

}  // namespace tokenaudit::record
