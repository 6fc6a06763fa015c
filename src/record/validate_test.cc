#include "src/record/validate.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "src/record/record_test_util.h"

namespace tokenaudit::record {
namespace {

using testing::ExampleRecord;

FieldError Fails(const UsageRecord& r) {
  FieldError e;
  EXPECT_FALSE(Validate(r, &e));
  return e;
}

void ExpectError(const std::function<void(UsageRecord&)>& change, std::string_view code,
                 std::string_view field) {
  UsageRecord r = ExampleRecord();
  change(r);
  const FieldError e = Fails(r);
  EXPECT_EQ(e.code, code) << e.message;
  EXPECT_EQ(e.field, field) << e.message;
  EXPECT_EQ(e.message.rfind(std::string(field) + ": ", 0), 0u) << e.message;
}

void ExpectOk(const std::function<void(UsageRecord&)>& change) {
  UsageRecord r = ExampleRecord();
  change(r);
  FieldError e;
  EXPECT_TRUE(Validate(r, &e)) << e.code << " " << e.message;
}

TEST(ValidateTest, DesignExampleIsValid) {
  FieldError e;
  EXPECT_TRUE(Validate(ExampleRecord(), &e)) << e.message;
  EXPECT_TRUE(Validate(ExampleRecord(), nullptr));
}

TEST(ValidateTest, RequiredFields) {
  ExpectError([](UsageRecord& r) { r.id.clear(); }, kMissingField, "id");
  ExpectError([](UsageRecord& r) { r.source.clear(); }, kMissingField, "source");
  ExpectError([](UsageRecord& r) { r.time_us.reset(); }, kMissingField, "time");
  ExpectError([](UsageRecord& r) { r.status.clear(); }, kMissingField, "status");
  UsageRecord minimal;
  minimal.id = "1";
  minimal.source = "s";
  minimal.time_us = kMinRecordTimeUs;
  minimal.status = "rejected";
  EXPECT_TRUE(Validate(minimal, nullptr));
}

TEST(ValidateTest, StatusAndCaptureAreEnumerations) {
  for (const char* s : {"success", "error", "cached", "interrupted", "rejected"}) {
    ExpectOk([&](UsageRecord& r) { r.status = s; });
  }
  ExpectError([](UsageRecord& r) { r.status = "Success"; }, kInvalidFormat, "status");
  ExpectError([](UsageRecord& r) { r.status = "ok"; }, kInvalidFormat, "status");
  for (const char* s : {"gateway", "extension", "api"}) {
    ExpectOk([&](UsageRecord& r) { r.capture = s; });
  }
  ExpectError([](UsageRecord& r) { r.capture = "sdk"; }, kInvalidFormat, "capture");
}

TEST(ValidateTest, IdAndSourceAreShortVisibleAscii) {
  ExpectOk([](UsageRecord& r) { r.id = std::string(256, 'i'); });
  ExpectError([](UsageRecord& r) { r.id = std::string(257, 'i'); }, kTooLong, "id");
  ExpectError([](UsageRecord& r) { r.id = "a b"; }, kInvalidFormat, "id");
  ExpectError([](UsageRecord& r) { r.id = "é"; }, kInvalidFormat, "id");
  ExpectError([](UsageRecord& r) { r.source = "a\tb"; }, kInvalidFormat, "source");
  ExpectError([](UsageRecord& r) { r.source = std::string(300, 's'); }, kTooLong, "source");
  ExpectOk([](UsageRecord& r) { r.source = "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"; });
}

TEST(ValidateTest, TenantPattern) {
  for (const char* t : {"a", "0", "city-archive", "a.b_c-d", "z9"}) {
    ExpectOk([&](UsageRecord& r) { r.tenant = t; });
  }
  ExpectOk([](UsageRecord& r) { r.tenant = std::string(64, 't'); });
  ExpectError([](UsageRecord& r) { r.tenant = std::string(65, 't'); }, kTooLong, "tenant");
  for (const char* t : {"-a", ".a", "_a", "A", "city archive", "ci/ty", "é"}) {
    ExpectError([&](UsageRecord& r) { r.tenant = t; }, kInvalidFormat, "tenant");
  }
}

TEST(ValidateTest, TaskTypePattern) {
  ExpectOk([](UsageRecord& r) { r.task_type = "text_generation"; });
  ExpectOk([](UsageRecord& r) { r.task_type = std::string(64, 'x'); });
  ExpectError([](UsageRecord& r) { r.task_type = std::string(65, 'x'); }, kTooLong, "task_type");
  ExpectError([](UsageRecord& r) { r.task_type = "Text"; }, kInvalidFormat, "task_type");
  ExpectError([](UsageRecord& r) { r.task_type = "text-gen"; }, kInvalidFormat, "task_type");
}

TEST(ValidateTest, HashesAndRequestId) {
  ExpectError([](UsageRecord& r) { r.input_hash = "sha256:9b1c"; }, kInvalidFormat, "input.hash");
  ExpectError([](UsageRecord& r) { r.input_hash = "SHA256:" + std::string(64, 'a'); },
              kInvalidFormat, "input.hash");
  ExpectError([](UsageRecord& r) { r.input_hash = "sha256:" + std::string(64, 'A'); },
              kInvalidFormat, "input.hash");
  ExpectError([](UsageRecord& r) { r.input_hash = "sha256:" + std::string(65, 'a'); },
              kInvalidFormat, "input.hash");
  ExpectOk([](UsageRecord& r) { r.request_id = "0123456789abcdef"; });
  ExpectError([](UsageRecord& r) { r.request_id = "0123456789ABCDEF"; }, kInvalidFormat,
              "request_id");
  ExpectError([](UsageRecord& r) { r.request_id = "0123456789abcde"; }, kInvalidFormat,
              "request_id");
  ExpectError([](UsageRecord& r) { r.request_id = "0123456789abcdef0"; }, kInvalidFormat,
              "request_id");
}

TEST(ValidateTest, IntegerRanges) {
  struct Case {
    std::optional<int64_t> UsageRecord::*member;
    std::string_view field;
    int64_t min, max;
  };
  const int64_t k31Days = int64_t{31} * 86'400'000;
  const Case cases[] = {
      {&UsageRecord::input_width, "input.width", 1, 1'000'000},
      {&UsageRecord::input_height, "input.height", 1, 1'000'000},
      {&UsageRecord::input_batch, "input.batch", 1, 10'000},
      {&UsageRecord::input_model_input_size, "input.model_input_size", 1, 65'536},
      {&UsageRecord::duration_ms, "duration_ms", 0, k31Days},
      {&UsageRecord::gpu_ms, "usage.gpu_ms", 0, k31Days},
      {&UsageRecord::input_tokens, "gen_ai.usage.input_tokens", 0, 1'000'000'000'000},
      {&UsageRecord::output_tokens, "gen_ai.usage.output_tokens", 0, 1'000'000'000'000},
      {&UsageRecord::estimated_tokens_milli, "usage.estimated_tokens_milli", 0,
       1'000'000'000'000'000},
      {&UsageRecord::gflops_milli, "usage.gflops", 0, 1'000'000'000'000'000},
      {&UsageRecord::cost_micros, "cost_micros", 0, 1'000'000'000'000'000},
  };
  for (const Case& c : cases) {
    ExpectOk([&](UsageRecord& r) { r.*c.member = c.min; });
    ExpectOk([&](UsageRecord& r) { r.*c.member = c.max; });
    ExpectError([&](UsageRecord& r) { r.*c.member = c.min - 1; }, kOutOfRange, c.field);
    ExpectError([&](UsageRecord& r) { r.*c.member = c.max + 1; }, kOutOfRange, c.field);
    ExpectError([&](UsageRecord& r) { r.*c.member = INT64_MIN; }, kOutOfRange, c.field);
  }
}

TEST(ValidateTest, TimesWithinTheRecordEra) {
  ExpectOk([](UsageRecord& r) {
    r.start_time_us = kMinRecordTimeUs;
    r.time_us = kEndRecordTimeUs - 1;
  });
  ExpectError([](UsageRecord& r) { r.time_us = kEndRecordTimeUs; }, kOutOfRange, "time");
  ExpectError([](UsageRecord& r) { r.time_us = kMinRecordTimeUs - 1; }, kOutOfRange, "time");
  ExpectError([](UsageRecord& r) { r.start_time_us = kMinRecordTimeUs - 1; }, kOutOfRange,
              "start_time");
  ExpectOk([](UsageRecord& r) { r.start_time_us = r.time_us; });
  ExpectError([](UsageRecord& r) { r.start_time_us = *r.time_us + 1; }, kOutOfRange, "start_time");
}

TEST(ValidateTest, EveryStringIsBoundedUtf8WithoutControlCharacters) {
  ExpectOk([](UsageRecord& r) { r.workflow = std::string(1024, 'w'); });
  ExpectError([](UsageRecord& r) { r.workflow = std::string(1025, 'w'); }, kTooLong, "workflow");
  ExpectError([](UsageRecord& r) { r.user = "al\xffice"; }, kInvalidUtf8, "user");
  ExpectError([](UsageRecord& r) { r.id = "\xc0\xaf"; }, kInvalidUtf8, "id");
  ExpectError([](UsageRecord& r) { r.model = "a\nb"; }, kInvalidFormat, "gen_ai.request.model");
  ExpectError([](UsageRecord& r) { r.error_type = std::string("a\0b", 3); }, kInvalidFormat,
              "error.type");
  ExpectError([](UsageRecord& r) { r.device = "cuda\x7f"; }, kInvalidFormat, "device");
  ExpectOk([](UsageRecord& r) { r.workflow = "DDColor人物黑白修复 😀 \"quoted\" \\ /"; });
}

TEST(ValidateTest, FirstFailureInCanonicalOrderIsReported) {
  UsageRecord r = ExampleRecord();
  r.workflow = std::string(2000, 'w');
  r.device = "a\nb";
  r.input_width = 0;
  EXPECT_EQ(Fails(r).field, "device");
}

TEST(ValidateTest, MessagesNeverEchoTheValue) {
  const std::string canary = "CANARY_31c8_bob@example.com";
  const std::function<void(UsageRecord&)> changes[] = {
      [&](UsageRecord& r) { r.status = canary; },
      [&](UsageRecord& r) { r.capture = canary; },
      [&](UsageRecord& r) { r.tenant = canary; },
      [&](UsageRecord& r) { r.task_type = canary; },
      [&](UsageRecord& r) { r.input_hash = canary; },
      [&](UsageRecord& r) { r.request_id = canary; },
      [&](UsageRecord& r) { r.id = canary + " x"; },
      [&](UsageRecord& r) { r.user = canary + std::string(1100, 'x'); },
      [&](UsageRecord& r) { r.user = canary + "\n"; },
      [&](UsageRecord& r) { r.user = canary + "\xff"; },
      [&](UsageRecord& r) { r.cost_micros = 918'273'645'546'372'819; },
  };
  for (const auto& change : changes) {
    UsageRecord r = ExampleRecord();
    change(r);
    const FieldError e = Fails(r);
    EXPECT_EQ(e.message.find("CANARY"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find("918273645"), std::string::npos) << e.message;
    EXPECT_EQ(e.field.find("CANARY"), std::string::npos) << e.field;
  }
}

}  // namespace
}  // namespace tokenaudit::record
