// Test helpers for src/record: the DESIGN §2 example record and seeded random records.

#ifndef TOKENAUDIT_RECORD_RECORD_TEST_UTIL_H_
#define TOKENAUDIT_RECORD_RECORD_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "src/record/record_fields.h"
#include "src/record/rfc3339.h"
#include "src/record/validate.h"
#include "tokenaudit/usage_record.h"

namespace tokenaudit::record::testing {

inline constexpr std::string_view kExampleHash =
    "sha256:9b1c6f0e8d2a4b3c5e7f9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";

// The record of DESIGN §2 (with a full-length input.hash).
inline UsageRecord ExampleRecord() {
  UsageRecord r;
  r.id = "7f3c9a7e-1";
  r.source = "comfyui-gateway/eu1";
  r.tenant = "city-archive";
  r.user = "alice";
  r.start_time_us = 1'796'032'800'000'000;  // 2026-11-30T10:00:00Z
  r.time_us = 1'796'032'802'480'000;
  r.duration_ms = 2480;
  r.task_type = "image_colorization";
  r.workflow = "DDColor人物黑白修复";
  r.node_id = "2";
  r.node_type = "DDColor_Colorize";
  r.model = "ddcolor_paper_tiny";
  r.device = "cuda";
  r.input_width = 460;
  r.input_height = 680;
  r.input_batch = 1;
  r.input_model_input_size = 512;
  r.input_hash = std::string(kExampleHash);
  r.status = "success";
  return r;
}

// A random string of up to `max_len` bytes. With `hostile`, it mixes quotes, backslashes,
// control characters, '/', and multi-byte UTF-8 (always valid UTF-8); otherwise printable ASCII
// and some non-ASCII letters.
inline std::string RandomText(std::mt19937_64& rng, size_t max_len, bool hostile) {
  static constexpr std::string_view kPieces[] = {
      "a",    "Z",    "0",       "-",        "_",  ".",  "/",  " ",
      "é",    "人",   "😀",       "\"",       "\\", "\n", "\t", std::string_view("\0", 1),
      "\x1f", "\x7f", "\\u0000", "</script>"};
  const size_t len = std::uniform_int_distribution<size_t>(1, max_len)(rng);
  std::string s;
  while (s.size() < len) {
    const size_t limit = hostile ? std::size(kPieces) : 11;
    const std::string_view piece =
        kPieces[std::uniform_int_distribution<size_t>(0, limit - 1)(rng)];
    if (s.size() + piece.size() > max_len) break;
    s.append(piece);
  }
  return s.empty() ? "x" : s;
}

inline std::string RandomFrom(std::mt19937_64& rng, std::string_view alphabet, size_t len) {
  std::string s;
  for (size_t i = 0; i < len; ++i) {
    s.push_back(alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(rng)]);
  }
  return s;
}

inline int64_t RandomIn(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

// A record that Validate accepts; each optional field present with probability 1/2.
inline UsageRecord RandomValidRecord(std::mt19937_64& rng) {
  auto coin = [&] { return (rng() & 1) != 0; };
  constexpr std::string_view kHex = "0123456789abcdef";
  constexpr std::string_view kVisible =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@!~*'()";
  UsageRecord r;
  r.id = RandomFrom(rng, kVisible, RandomIn(rng, 1, 40));
  r.source = RandomFrom(rng, kVisible, RandomIn(rng, 1, 40));
  r.time_us = RandomIn(rng, kMinRecordTimeUs, kEndRecordTimeUs - 1);
  static constexpr std::string_view kStatus[] = {"success", "error", "cached", "interrupted",
                                                 "rejected"};
  r.status = std::string(kStatus[rng() % 5]);
  if (coin()) r.tenant = RandomFrom(rng, "abc019", 1) + RandomFrom(rng, "abz09._-", rng() % 20);
  if (coin()) r.user = RandomText(rng, 30, false);
  if (coin()) r.start_time_us = RandomIn(rng, kMinRecordTimeUs, *r.time_us);
  if (coin()) r.duration_ms = RandomIn(rng, 0, int64_t{31} * 86'400'000);
  if (coin()) r.request_id = RandomFrom(rng, kHex, 16);
  if (coin()) r.task_type = RandomFrom(rng, "abcxyz019_", RandomIn(rng, 1, 64));
  std::string UsageRecord::*free_text[] = {
      &UsageRecord::workflow,      &UsageRecord::workflow_hash,  &UsageRecord::node_id,
      &UsageRecord::node_type,     &UsageRecord::operation_name, &UsageRecord::model,
      &UsageRecord::model_variant, &UsageRecord::device,         &UsageRecord::price_version,
      &UsageRecord::error_type,    &UsageRecord::duplicate_of};
  for (auto member : free_text) {
    if (coin()) r.*member = RandomText(rng, 60, false);
  }
  if (coin()) r.input_width = RandomIn(rng, 1, 1'000'000);
  if (coin()) r.input_height = RandomIn(rng, 1, 1'000'000);
  if (coin()) r.input_batch = RandomIn(rng, 1, 10'000);
  if (coin()) r.input_model_input_size = RandomIn(rng, 1, 65'536);
  if (coin()) r.input_hash = "sha256:" + RandomFrom(rng, kHex, 64);
  if (coin()) r.estimated_tokens_milli = RandomIn(rng, 0, 1'000'000'000'000'000);
  if (coin())
    r.gflops_milli = coin() ? RandomIn(rng, 0, 1'000'000'000'000'000) : RandomIn(rng, 0, 9999);
  if (coin()) r.gpu_ms = RandomIn(rng, 0, int64_t{31} * 86'400'000);
  if (coin()) r.input_tokens = RandomIn(rng, 0, 1'000'000'000'000);
  if (coin()) r.output_tokens = RandomIn(rng, 0, 1'000'000'000'000);
  if (coin()) r.cost_micros = RandomIn(rng, 0, 1'000'000'000'000'000);
  if (coin()) r.capture = coin() ? "gateway" : "api";
  return r;
}

// A record that parses but need not validate: every field may be present, strings are any
// valid UTF-8 (control characters included), integers any non-negative int64, times anywhere in
// years 0000..9999.
inline UsageRecord RandomParsableRecord(std::mt19937_64& rng) {
  UsageRecord r;
  for (const FieldSpec& spec : kRecordFields) {
    if (rng() % 3 == 0) continue;
    switch (spec.kind) {
      case FieldKind::kString:
        r.*spec.str = RandomText(rng, 80, true);
        break;
      case FieldKind::kInteger:
      case FieldKind::kMilli:
        r.*spec.num = rng() % 4 == 0 ? RandomIn(rng, 0, INT64_MAX) : RandomIn(rng, 0, 100'000);
        break;
      case FieldKind::kTime:
        r.*spec.num = RandomIn(rng, kMinRfc3339Micros, kMaxRfc3339Micros);
        break;
    }
  }
  return r;
}

}  // namespace tokenaudit::record::testing

#endif  // TOKENAUDIT_RECORD_RECORD_TEST_UTIL_H_
