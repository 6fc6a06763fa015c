// Canonical encoding: golden strings and the round-trip properties the ledger relies on.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "src/record/record_fields.h"
#include "src/record/record_json.h"
#include "src/record/record_test_util.h"
#include "src/record/rfc3339.h"
#include "src/record/validate.h"
#include "src/util/json_string.h"

namespace tokenaudit::record {
namespace {

using testing::ExampleRecord;

TEST(CanonicalTest, DesignExampleGolden) {
  EXPECT_EQ(EncodeCanonical(ExampleRecord()),
            R"({"device":"cuda","duration_ms":2480,"gen_ai.request.model":"ddcolor_paper_tiny",)"
            R"("id":"7f3c9a7e-1","input.batch":1,"input.hash":")" +
                std::string(testing::kExampleHash) +
                R"(","input.height":680,"input.model_input_size":512,"input.width":460,)"
                R"("node_id":"2","node_type":"DDColor_Colorize","source":"comfyui-gateway/eu1",)"
                R"("start_time":"2026-11-30T10:00:00.000000Z","status":"success",)"
                R"("task_type":"image_colorization","tenant":"city-archive",)"
                R"("time":"2026-11-30T10:00:02.480000Z","user":"alice",)"
                R"("workflow":"DDColor人物黑白修复"})");
}

TEST(CanonicalTest, EveryFieldGoldenPinsTheKeyOrder) {
  UsageRecord r;
  for (const FieldSpec& spec : kRecordFields) {
    if (spec.kind == FieldKind::kString) {
      r.*spec.str = "s";
    } else {
      r.*spec.num = spec.kind == FieldKind::kTime ? 0 : 1;
    }
  }
  const std::string t = R"("1970-01-01T00:00:00.000000Z")";
  EXPECT_EQ(EncodeCanonical(r),
            R"({"capture":"s","cost_micros":1,"device":"s","duplicate_of":"s","duration_ms":1,)"
            R"("error.type":"s",)"
            R"("gen_ai.operation.name":"s","gen_ai.request.model":"s",)"
            R"("gen_ai.usage.input_tokens":1,"gen_ai.usage.output_tokens":1,"id":"s",)"
            R"("input.batch":1,"input.hash":"s","input.height":1,"input.model_input_size":1,)"
            R"("input.width":1,"model_variant":"s","node_id":"s","node_type":"s",)"
            R"("price_version":"s","request_id":"s","source":"s","start_time":)" +
                t + R"(,"status":"s","task_type":"s","tenant":"s","time":)" + t +
                R"(,"usage.estimated_tokens_milli":1,"usage.gflops":0.001,"usage.gpu_ms":1,)"
                R"("user":"s","workflow":"s","workflow_hash":"s"})");
}

TEST(CanonicalTest, EmptyRecordIsEmptyObject) {
  EXPECT_EQ(EncodeCanonical(UsageRecord{}), "{}");
  EXPECT_EQ(EncodeWithSeq(UsageRecord{}, 0), R"({"seq":0})");
}

TEST(CanonicalTest, SeqIsInsertedInSortedPosition) {
  UsageRecord r;
  r.id = "a";
  r.request_id = "0123456789abcdef";
  r.source = "s";
  EXPECT_EQ(
      EncodeWithSeq(r, 18446744073709551615u),
      R"({"id":"a","request_id":"0123456789abcdef","seq":18446744073709551615,"source":"s"})");
  r.source.clear();
  EXPECT_EQ(EncodeWithSeq(r, 7), R"({"id":"a","request_id":"0123456789abcdef","seq":7})");
  r.request_id.clear();
  r.status = "success";
  EXPECT_EQ(EncodeWithSeq(r, 7), R"({"id":"a","seq":7,"status":"success"})");
}

TEST(CanonicalTest, StringsAreEscapedMinimally) {
  static constexpr char kRaw[] = "q\"b\\s/d\x01\x1f\x7f\n\t\0é人😀</";
  UsageRecord r;
  r.workflow = std::string(kRaw, sizeof(kRaw) - 1);
  EXPECT_EQ(EncodeCanonical(r),
            "{\"workflow\":\"q\\\"b\\\\s/d\\u0001\\u001f\x7f\\u000a\\u0009"
            "\\u0000é人😀</\"}");
}

// The escaper skips 8 plain bytes at a time; every byte value at every offset of a word (and in
// the byte-by-byte tail) must still be escaped exactly as the one-byte-at-a-time rule says.
TEST(CanonicalTest, EscaperMatchesTheByteRuleAtEveryOffset) {
  auto reference = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        static constexpr char kHex[] = "0123456789abcdef";
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      } else {
        out += static_cast<char>(c);
      }
    }
    return out + "\"";
  };
  for (int c = 0; c < 256; ++c) {
    for (size_t len : {1u, 7u, 8u, 9u, 17u, 24u}) {
      for (size_t pos = 0; pos < len; ++pos) {
        std::string s(len, 'a');
        s[pos] = static_cast<char>(c);
        std::string out;
        AppendJsonString(&out, s);
        ASSERT_EQ(out, reference(s)) << "byte " << c << " at " << pos << " of " << len;
      }
    }
    std::string bytes(8, 'x');
    bytes[3] = static_cast<char>(c);
    EXPECT_EQ(HasJsonSpecialByte(LoadWord(bytes.data())), c < 0x20 || c == '"' || c == '\\') << c;
  }
  // Several special bytes per word, in any mix, at random.
  std::mt19937 rng(7);
  const std::string alphabet = std::string("ab\"\\\x01\x1f \x7f\xc3\xa9", 10) + '\0';
  for (int round = 0; round < 5000; ++round) {
    std::string s(rng() % 40, 'a');
    for (char& ch : s) ch = alphabet[rng() % alphabet.size()];
    std::string out;
    AppendJsonString(&out, s);
    ASSERT_EQ(out, reference(s));
    ASSERT_EQ(JsonStringSize(s), out.size());
  }
}

TEST(CanonicalTest, GflopsIsATrimmedDecimal) {
  const std::pair<int64_t, std::string_view> cases[] = {
      {193'100, "193.1"}, {5000, "5"},    {1, "0.001"},
      {10, "0.01"},       {120, "0.12"},  {0, "0"},
      {1'001, "1.001"},   {999, "0.999"}, {INT64_MAX, "9223372036854775.807"},
  };
  for (const auto& [milli, text] : cases) {
    UsageRecord r;
    r.gflops_milli = milli;
    EXPECT_EQ(EncodeCanonical(r), "{\"usage.gflops\":" + std::string(text) + "}");
  }
}

TEST(CanonicalTest, ValidRecordsRoundTrip) {
  std::mt19937_64 rng(20261130);
  for (int i = 0; i < 5000; ++i) {
    const UsageRecord r = testing::RandomValidRecord(rng);
    FieldError e;
    ASSERT_TRUE(Validate(r, &e)) << i << ": " << e.message;
    const std::string encoded = EncodeCanonical(r);
    UsageRecord back;
    ASSERT_TRUE(ParseRecordJson(encoded, &back, &e)) << encoded << " -> " << e.message;
    ASSERT_EQ(back, r) << encoded;
    ASSERT_EQ(EncodeCanonical(back), encoded);
  }
}

TEST(CanonicalTest, AnyParsableRecordRoundTrips) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    const UsageRecord r = testing::RandomParsableRecord(rng);
    const std::string encoded = EncodeCanonical(r);
    UsageRecord back;
    FieldError e;
    ASSERT_TRUE(ParseRecordJson(encoded, &back, &e)) << encoded << " -> " << e.message;
    ASSERT_EQ(back, r) << encoded;
  }
}

TEST(CanonicalTest, EncodingInPlaceWithinTheBoundEqualsEncodeCanonical) {
  std::mt19937_64 rng(11);
  std::vector<UsageRecord> records = {UsageRecord(), testing::ExampleRecord()};
  UsageRecord escapes = testing::ExampleRecord();
  escapes.workflow = std::string("\x01\x1f\"\\", 4) + "plain" + std::string(1, '\0');
  records.push_back(escapes);
  for (int i = 0; i < 5000; ++i) records.push_back(testing::RandomParsableRecord(rng));
  for (const UsageRecord& r : records) {
    const size_t bound = CanonicalSizeBound(r);
    std::string buf(bound + 16, '#');
    char* end = EncodeCanonicalTo(r, buf.data());
    ASSERT_LE(static_cast<size_t>(end - buf.data()), bound);
    EXPECT_EQ(std::string_view(buf.data(), static_cast<size_t>(end - buf.data())),
              EncodeCanonical(r));
    EXPECT_EQ(buf.substr(bound), std::string(16, '#'));  // nothing written past the bound
  }
}

// A random non-canonical spelling of `r`: shuffled keys, whitespace, escapes, time offsets and
// sub-microsecond digits, gflops with trailing zeros.
std::string Respell(const UsageRecord& r, std::mt19937_64& rng) {
  auto ws = [&] { return std::string(rng() % 3, rng() % 2 ? ' ' : '\n'); };
  auto spell_string = [&](std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (u < 0x20 || (u < 0x80 && rng() % 4 == 0)) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), rng() % 2 ? "\\u%04x" : "\\u%04X", u);
        out += buf;
      } else if (c == '/' && rng() % 2) {
        out += "\\/";
      } else {
        out += c;
      }
    }
    return out + "\"";
  };
  std::vector<std::string> members;
  for (const FieldSpec& spec : kRecordFields) {
    std::string value;
    if (spec.kind == FieldKind::kString) {
      if ((r.*spec.str).empty()) continue;
      value = spell_string(r.*spec.str);
    } else {
      if (!(r.*spec.num).has_value()) continue;
      const int64_t n = *(r.*spec.num);
      if (spec.kind == FieldKind::kInteger) {
        value = std::to_string(n);
      } else if (spec.kind == FieldKind::kMilli) {
        char frac[24];
        std::snprintf(frac, sizeof(frac), "%03lld", static_cast<long long>(n % 1000));
        value = std::to_string(n / 1000) + "." + frac;
      } else {
        const int64_t offset_min = static_cast<int64_t>(rng() % (2 * 1439 + 1)) - 1439;
        std::string local = FormatRfc3339Micros(n + offset_min * 60 * kMicrosPerSecond);
        local.pop_back();  // 'Z'
        local += std::string(rng() % 4, '7');
        char offset[24];
        std::snprintf(offset, sizeof(offset), "%c%02lld:%02lld", offset_min < 0 ? '-' : '+',
                      static_cast<long long>(std::abs(offset_min) / 60),
                      static_cast<long long>(std::abs(offset_min) % 60));
        value = "\"" + local + offset + "\"";
      }
    }
    members.push_back(ws() + spell_string(spec.name) + ws() + ":" + ws() + value + ws());
  }
  std::shuffle(members.begin(), members.end(), rng);
  std::string out = ws() + "{";
  for (size_t i = 0; i < members.size(); ++i) out += (i ? "," : "") + members[i];
  return out + "}" + ws();
}

TEST(CanonicalTest, EncodingAParsedSpellingIsIdempotent) {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 3000; ++i) {
    const UsageRecord r = testing::RandomValidRecord(rng);
    const std::string spelling = Respell(r, rng);
    UsageRecord parsed;
    FieldError e;
    ASSERT_TRUE(ParseRecordJson(spelling, &parsed, &e)) << spelling << " -> " << e.message;
    ASSERT_EQ(parsed, r) << spelling;
    const std::string once = EncodeCanonical(parsed);
    UsageRecord again;
    ASSERT_TRUE(ParseRecordJson(once, &again, &e));
    ASSERT_EQ(EncodeCanonical(again), once);
  }
}

}  // namespace
}  // namespace tokenaudit::record
