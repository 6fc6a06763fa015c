// Whole ingest bodies: arrays, CloudEvents, NDJSON, and body-level limits.

#include <gtest/gtest.h>

#include <string>

#include "src/record/record_json.h"
#include "src/record/record_test_util.h"

namespace tokenaudit::record {
namespace {

using testing::ExampleRecord;

constexpr std::string_view kRecordA =
    R"({"id":"a","source":"s","time":"2026-11-30T10:00:02Z","status":"success"})";
constexpr std::string_view kRecordB =
    R"({"id":"b","source":"s","time":"2026-11-30T10:00:03Z","status":"error"})";

std::string CloudEvent(std::string_view id, std::string_view data) {
  return R"({"specversion":"1.0","type":"ai.usage.v1","id":")" + std::string(id) +
         R"(","source":"comfyui-gateway/eu1","time":"2026-11-30T10:00:02.48Z",)"
         R"("tenant":"city-archive","datacontenttype":"application/json","data":)" +
         std::string(data) + "}";
}

TEST(BodyTest, SingleObjectIsOneItemNotABatch) {
  const ParsedBody body = ParseBody(kRecordA, BodyFormat::kJson);
  ASSERT_TRUE(body.ok);
  EXPECT_FALSE(body.batch);
  ASSERT_EQ(body.items.size(), 1u);
  EXPECT_TRUE(body.items[0].ok);
  EXPECT_EQ(body.items[0].record.id, "a");
  EXPECT_EQ(body.items[0].line, 0u);
}

TEST(BodyTest, ArrayItemsAreIndependent) {
  const std::string text = "[" + std::string(kRecordA) + R"(,{"id":"x","input.width":"w"},5,)" +
                           std::string(kRecordB) + "]";
  const ParsedBody body = ParseBody(text, BodyFormat::kJson);
  ASSERT_TRUE(body.ok) << body.error.message;
  EXPECT_TRUE(body.batch);
  ASSERT_EQ(body.items.size(), 4u);
  EXPECT_TRUE(body.items[0].ok);
  EXPECT_FALSE(body.items[1].ok);
  EXPECT_EQ(body.items[1].error.code, kInvalidType);
  EXPECT_EQ(body.items[1].error.field, "input.width");
  EXPECT_FALSE(body.items[2].ok);
  EXPECT_EQ(body.items[2].error.code, kInvalidType);
  EXPECT_TRUE(body.items[3].ok);
  EXPECT_EQ(body.items[3].record.id, "b");
}

TEST(BodyTest, EmptyArrayIsAnEmptyBatch) {
  const ParsedBody body = ParseBody(" [ ] ", BodyFormat::kJson);
  ASSERT_TRUE(body.ok);
  EXPECT_TRUE(body.batch);
  EXPECT_TRUE(body.items.empty());
}

TEST(BodyTest, BrokenJsonInOneElementRefusesTheWholeBody) {
  const std::string text = "[" + std::string(kRecordA) + R"(,{"id":"x","colour":[1,,2]}])";
  const ParsedBody body = ParseBody(text, BodyFormat::kJson);
  EXPECT_FALSE(body.ok);
  EXPECT_EQ(body.error.code, kInvalidJson);
  EXPECT_TRUE(body.items.empty());
}

TEST(BodyTest, TooManyItemsRefusesTheBody) {
  ParseLimits limits;
  limits.max_items = 2;
  std::string text = "[" + std::string(kRecordA) + "," + std::string(kRecordB) + "]";
  EXPECT_TRUE(ParseBody(text, BodyFormat::kJson, limits).ok);
  text = "[" + std::string(kRecordA) + "," + std::string(kRecordB) + ",{}]";
  ParsedBody body = ParseBody(text, BodyFormat::kJson, limits);
  EXPECT_FALSE(body.ok);
  EXPECT_EQ(body.error.code, kTooManyItems);
  body = ParseBody("{}\n{}\n\n{}\n", BodyFormat::kNdjson, limits);
  EXPECT_EQ(body.error.code, kTooManyItems);
  EXPECT_TRUE(ParseBody("{}\n\n\n{}\n", BodyFormat::kNdjson, limits).ok);
  const std::string events =
      "[" + CloudEvent("1", "{}") + "," + CloudEvent("2", "{}") + "," + CloudEvent("3", "{}") + "]";
  EXPECT_EQ(ParseBody(events, BodyFormat::kCloudEventBatch, limits).error.code, kTooManyItems);
}

TEST(BodyTest, BodyOverTheLimitIsTooLarge) {
  ParseLimits limits;
  limits.max_body_bytes = kRecordA.size() - 1;
  const ParsedBody body = ParseBody(kRecordA, BodyFormat::kJson, limits);
  EXPECT_FALSE(body.ok);
  EXPECT_EQ(body.error.code, kBodyTooLarge);
  EXPECT_EQ(body.error.field, "body");
}

TEST(BodyTest, BodyShapeMustMatchTheFormat) {
  EXPECT_EQ(ParseBody("\"x\"", BodyFormat::kJson).error.code, kInvalidType);
  EXPECT_EQ(ParseBody("[]", BodyFormat::kCloudEvent).error.code, kInvalidType);
  EXPECT_EQ(ParseBody(CloudEvent("1", "{}"), BodyFormat::kCloudEventBatch).error.code,
            kInvalidType);
}

TEST(BodyTest, CloudEventMapsEnvelopeAndData) {
  const std::string data = R"({"user":"alice","duration_ms":2480,"status":"success",)"
                           R"("input.width":460,"usage.gflops":193.1})";
  const ParsedBody body = ParseBody(CloudEvent("7f3c9a7e-1", data), BodyFormat::kCloudEvent);
  ASSERT_TRUE(body.ok) << body.error.message;
  EXPECT_FALSE(body.batch);
  ASSERT_EQ(body.items.size(), 1u);
  ASSERT_TRUE(body.items[0].ok) << body.items[0].error.message;
  UsageRecord want;
  want.id = "7f3c9a7e-1";
  want.source = "comfyui-gateway/eu1";
  want.time_us = 1'796'032'802'480'000;
  want.tenant = "city-archive";
  want.user = "alice";
  want.duration_ms = 2480;
  want.status = "success";
  want.input_width = 460;
  want.gflops_milli = 193'100;
  EXPECT_EQ(body.items[0].record, want);
}

TEST(BodyTest, CloudEventOfTheDesignExampleEqualsThePlainRecord) {
  UsageRecord r = ExampleRecord();
  const std::string plain = EncodeCanonical(r);
  UsageRecord data_only = r;
  data_only.id.clear();
  data_only.source.clear();
  data_only.tenant.clear();
  data_only.time_us.reset();
  const std::string event =
      R"({"specversion":"1.0","type":"ai.usage.v1","id":"7f3c9a7e-1",)"
      R"("source":"comfyui-gateway/eu1","time":"2026-11-30T10:00:02.480000Z",)"
      R"("tenant":"city-archive","data":)" +
      EncodeCanonical(data_only) + "}";
  const ParsedBody body = ParseBody(event, BodyFormat::kCloudEvent);
  ASSERT_TRUE(body.ok);
  ASSERT_TRUE(body.items[0].ok) << body.items[0].error.message;
  EXPECT_EQ(EncodeCanonical(body.items[0].record), plain);
}

TEST(BodyTest, CloudEventEnvelopeRules) {
  auto item_error = [](const std::string& text) {
    const ParsedBody body = ParseBody(text, BodyFormat::kCloudEvent);
    EXPECT_TRUE(body.ok) << text << " -> " << body.error.message;
    if (!body.ok || body.items.size() != 1) return FieldError{};
    EXPECT_FALSE(body.items[0].ok) << text;
    return body.items[0].error;
  };
  auto expect = [&](const std::string& text, std::string_view code, std::string_view field) {
    const FieldError e = item_error(text);
    EXPECT_EQ(e.code, code) << text << " -> " << e.message;
    EXPECT_EQ(e.field, field) << text;
  };
  expect(R"({"type":"ai.usage.v1","id":"1","source":"s"})", kMissingField, "specversion");
  expect(R"({"specversion":"1.0","id":"1","source":"s"})", kMissingField, "type");
  expect(R"({"specversion":null,"type":"ai.usage.v1"})", kMissingField, "specversion");
  expect(R"({"specversion":"0.3","type":"ai.usage.v1"})", kInvalidFormat, "specversion");
  expect(R"({"specversion":1.0,"type":"ai.usage.v1"})", kInvalidType, "specversion");
  expect(R"({"specversion":"1.0","type":"com.example"})", kInvalidFormat, "type");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","datacontenttype":"text/xml"})",
         kInvalidFormat, "datacontenttype");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","data":[]})", kInvalidType, "data");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","data":"x"})", kInvalidType, "data");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","data_base64":"eA=="})", kUnknownField,
         "data_base64");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","subject":"x"})", kUnknownField, "subject");
  expect(R"({"specversion":"1.0","specversion":"1.0","type":"ai.usage.v1"})", kInvalidJson,
         "specversion");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","id":"1","id":"1"})", kInvalidJson, "id");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","data":{},"data":{}})", kInvalidJson, "data");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","data":null,"data":{}})", kInvalidJson,
         "data");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","id":null,"id":"1"})", kInvalidJson, "id");
  // Envelope attributes are never taken from data, whether or not the envelope has them.
  expect(CloudEvent("1", R"({"id":"1"})"), kInvalidJson, "id");
  expect(CloudEvent("1", R"({"time":"2026-11-30T10:00:02Z"})"), kInvalidJson, "time");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","data":{"source":"s"}})", kInvalidJson,
         "source");
  expect(CloudEvent("1", R"({"tenant":"t"})"), kInvalidJson, "tenant");
  expect(CloudEvent("1", R"({"specversion":"1.0"})"), kUnknownField, "specversion");
  expect(CloudEvent("1", R"({"input.width":"w"})"), kInvalidType, "input.width");
  expect(R"({"specversion":"1.0","type":"ai.usage.v1","time":"noon"})", kInvalidFormat, "time");

  const ParsedBody ok = ParseBody(
      R"({"specversion":"1.0","type":"ai.usage.v1","datacontenttype":"Application/JSON; charset=utf-8","data":null,"id":"x"})",
      BodyFormat::kCloudEvent);
  ASSERT_TRUE(ok.ok);
  EXPECT_TRUE(ok.items[0].ok) << ok.items[0].error.message;
  EXPECT_EQ(ok.items[0].record.id, "x");
}

// The examples of doc/usage_record.md §7.2 and §7.3.
TEST(BodyTest, DocExamples) {
  const std::string event = R"({"specversion": "1.0", "type": "ai.usage.v1", "id": "7f3c9a7e-1",
 "source": "comfyui-gateway/eu1", "time": "2026-11-30T11:00:02.48+01:00",
 "tenant": "city-archive", "datacontenttype": "application/json",
 "data": {"user": "alice", "start_time": "2026-11-30T10:00:00Z", "duration_ms": 2480,
          "task_type": "image_colorization", "workflow": "DDColor人物黑白修复", "node_id": "2",
          "node_type": "DDColor_Colorize", "gen_ai.request.model": "ddcolor_paper_tiny",
          "device": "cuda", "input.width": 460, "input.height": 680, "input.batch": 1,
          "input.model_input_size": 512,
          "input.hash": "sha256:9b1c6f0e8d2a4b3c5e7f9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f",
          "status": "success"}})";
  const ParsedBody ce = ParseBody(event, BodyFormat::kCloudEvent);
  ASSERT_TRUE(ce.ok);
  ASSERT_TRUE(ce.items[0].ok) << ce.items[0].error.message;
  EXPECT_EQ(ce.items[0].record, ExampleRecord());

  const std::string ndjson =
      R"({"id":"a","source":"s","time":"2026-11-30T10:00:02Z","status":"success"})"
      "\n"
      "\n"
      R"({"id":"b","input.width":"460"})"
      "\n"
      R"({"id":"c","source":"s","time":"2026-11-30T10:00:03Z","status":"cached"})"
      "\n";
  const ParsedBody nd = ParseBody(ndjson, BodyFormat::kNdjson);
  ASSERT_TRUE(nd.ok);
  ASSERT_EQ(nd.items.size(), 3u);
  EXPECT_TRUE(nd.items[0].ok);
  EXPECT_EQ(nd.items[1].line, 3u);
  EXPECT_EQ(nd.items[1].error, MakeFieldError(kInvalidType, "input.width", "must be an integer"));
  EXPECT_EQ(nd.items[1].error.message, "input.width: must be an integer");
  EXPECT_TRUE(nd.items[2].ok);
}

TEST(BodyTest, CloudEventBatch) {
  const std::string text = "[" + CloudEvent("1", R"({"status":"success"})") + "," +
                           CloudEvent("2", R"({"status":"success","colour":1})") + "," +
                           R"({"id":"3"},)" + CloudEvent("4", "{}") + "]";
  const ParsedBody body = ParseBody(text, BodyFormat::kCloudEventBatch);
  ASSERT_TRUE(body.ok) << body.error.message;
  EXPECT_TRUE(body.batch);
  ASSERT_EQ(body.items.size(), 4u);
  EXPECT_TRUE(body.items[0].ok);
  EXPECT_EQ(body.items[0].record.id, "1");
  EXPECT_EQ(body.items[1].error.code, kUnknownField);
  EXPECT_EQ(body.items[1].error.field, "colour");
  EXPECT_EQ(body.items[2].error.code, kMissingField);
  EXPECT_TRUE(body.items[3].ok);
  EXPECT_EQ(body.items[3].record.id, "4");
}

TEST(BodyTest, NdjsonBadLineInTheMiddleIsABadItem) {
  const std::string text = std::string(kRecordA) + "\n" +           // line 1
                           "\r\n" +                                 // line 2: blank (CRLF)
                           R"({"id":"x", "input.width": )" +        // line 3: truncated JSON
                           "\n" + std::string(kRecordB) + "\r\n" +  // line 4, CRLF
                           "   \t\n" +                              // line 5: blank
                           "[1]\n" +                                // line 6: not an object
                           std::string(40, '[') + "\n" +            // line 7: too deep
                           "\"a\n" +                                // line 8: broken string
                           R"({"id":"y"})";                         // line 9, no final LF
  const ParsedBody body = ParseBody(text, BodyFormat::kNdjson);
  ASSERT_TRUE(body.ok) << body.error.message;
  EXPECT_TRUE(body.batch);
  ASSERT_EQ(body.items.size(), 7u);
  const size_t lines[] = {1, 3, 4, 6, 7, 8, 9};
  const bool oks[] = {true, false, true, false, false, false, true};
  const std::string_view codes[] = {"", kInvalidJson, "", kInvalidType, kTooDeep, kInvalidJson, ""};
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(body.items[i].line, lines[i]) << i;
    EXPECT_EQ(body.items[i].ok, oks[i]) << i;
    if (!oks[i]) {
      EXPECT_EQ(body.items[i].error.code, codes[i]) << i;
    }
  }
  EXPECT_EQ(body.items[0].record.id, "a");
  EXPECT_EQ(body.items[2].record.id, "b");
  EXPECT_EQ(body.items[6].record.id, "y");
}

TEST(BodyTest, NdjsonInvalidUtf8RefusesTheBody) {
  const std::string text = std::string(kRecordA) + "\n{\"id\":\"\xff\"}\n";
  const ParsedBody body = ParseBody(text, BodyFormat::kNdjson);
  EXPECT_FALSE(body.ok);
  EXPECT_EQ(body.error.code, kInvalidUtf8);
}

TEST(BodyTest, NdjsonLineReadsNothingPastItsEnd) {
  // Line 1 ends right where the next line would complete it; each must fail on its own.
  const ParsedBody body = ParseBody("{\"id\":\"a\",\"input.width\":1\n}\n", BodyFormat::kNdjson);
  ASSERT_TRUE(body.ok);
  ASSERT_EQ(body.items.size(), 2u);
  EXPECT_FALSE(body.items[0].ok);
  EXPECT_FALSE(body.items[1].ok);
}

TEST(BodyTest, EmptyNdjsonBodyHasNoItems) {
  const ParsedBody body = ParseBody("\n\n", BodyFormat::kNdjson);
  ASSERT_TRUE(body.ok);
  EXPECT_TRUE(body.items.empty());
  EXPECT_TRUE(ParseBody("", BodyFormat::kNdjson).ok);
  EXPECT_EQ(ParseBody("", BodyFormat::kJson).error.code, kInvalidJson);
}

// ParseBodyEach hands over the same items as ParseBody, one reused object at a time; a record's
// fields do not leak into the next item.
TEST(BodyTest, StreamedItemsEqualCollectedItems) {
  const std::string body = std::string(R"({"id":"a","source":"s","time":"2026-11-30T10:00:00Z",)") +
                           R"("status":"success","workflow":"wf","input.width":4})" + "\n\n" +
                           R"({"id":"b","source":"s","time":"2026-11-30T10:00:00Z","status":"error"})" +
                           "\n" + R"({"id":1})" + "\n";
  const ParsedBody collected = ParseBody(body, BodyFormat::kNdjson);
  ASSERT_TRUE(collected.ok);
  std::vector<ParsedItem> streamed;
  const ParsedBody verdict =
      ParseBodyEach(body, BodyFormat::kNdjson, {}, [&](ParsedItem& item) { streamed.push_back(item); });
  ASSERT_TRUE(verdict.ok);
  EXPECT_TRUE(verdict.batch);
  EXPECT_TRUE(verdict.items.empty());
  ASSERT_EQ(streamed.size(), collected.items.size());
  for (size_t i = 0; i < streamed.size(); ++i) {
    EXPECT_EQ(streamed[i].ok, collected.items[i].ok) << i;
    EXPECT_EQ(streamed[i].record, collected.items[i].record) << i;
    EXPECT_EQ(streamed[i].error, collected.items[i].error) << i;
    EXPECT_EQ(streamed[i].line, collected.items[i].line) << i;
  }
  EXPECT_TRUE(streamed[1].record.workflow.empty());
  EXPECT_FALSE(streamed[1].record.input_width.has_value());
}

TEST(BodyTest, StreamedArrayWithALateSyntaxErrorIsRefused) {
  size_t seen = 0;
  const ParsedBody verdict = ParseBodyEach(R"([{"id":"a"},{"id":"b"},{"id":])",
                                           BodyFormat::kJson, {}, [&](ParsedItem&) { ++seen; });
  EXPECT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.error.code, kInvalidJson);
}

// A body of `n` lines: records, blank and whitespace lines, broken lines and wrong types, with
// or without a final newline.
std::string MixedNdjson(size_t n, bool final_newline) {
  std::string body;
  for (size_t i = 0; i < n; ++i) {
    switch (i % 11) {
      case 3: body += ""; break;
      case 5: body += "  \t"; break;
      case 7: body += R"({"id":"x)" + std::to_string(i); break;  // truncated
      case 9: body += R"({"id":)" + std::to_string(i) + "}"; break;  // wrong type
      default:
        body += R"({"id":"r)" + std::to_string(i) +
                R"(","source":"s","time":"2026-11-30T10:00:00Z","status":"success","input.width":)" +
                std::to_string(i) + "}";
    }
    if (i + 1 < n || final_newline) body += "\n";
  }
  return body;
}

void ExpectSameItems(const std::vector<ParsedItem>& got, const std::vector<ParsedItem>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].ok, want[i].ok) << i;
    EXPECT_EQ(got[i].record, want[i].record) << i;
    EXPECT_EQ(got[i].error, want[i].error) << i;
    EXPECT_EQ(got[i].line, want[i].line) << i;
  }
}

TEST(BodyTest, CountNdjsonLinesIsNewlinesPlusOne) {
  EXPECT_EQ(CountNdjsonLines(""), 1u);
  EXPECT_EQ(CountNdjsonLines("{}"), 1u);
  EXPECT_EQ(CountNdjsonLines("{}\n"), 2u);
  EXPECT_EQ(CountNdjsonLines("{}\r\n{}\n\n{}"), 4u);
  EXPECT_EQ(CountNdjsonLines(MixedNdjson(1000, false)), 1000u);
}

TEST(BodyTest, NdjsonPiecesGiveTheItemsOfTheWholeBody) {
  for (bool final_newline : {true, false}) {
    for (size_t lines : {256u, 257u, 1000u, 3001u}) {
      const std::string body = MixedNdjson(lines, final_newline);
      const ParsedBody whole = ParseBody(body, BodyFormat::kNdjson);
      ASSERT_TRUE(whole.ok);
      for (size_t max_pieces : {2u, 3u, 8u}) {
        const std::vector<NdjsonPiece> pieces = SplitNdjson(body, {}, max_pieces, 128);
        ASSERT_GE(pieces.size(), 2u) << lines;
        ASSERT_LE(pieces.size(), max_pieces);
        // The pieces are the body, cut after newlines.
        std::string joined;
        for (size_t k = 0; k < pieces.size(); ++k) {
          joined += pieces[k].text;
          if (k + 1 < pieces.size()) {
            EXPECT_EQ(pieces[k].text.back(), '\n');
          }
        }
        EXPECT_EQ(joined, body);
        std::vector<ParsedItem> items;
        for (const NdjsonPiece& piece : pieces) {
          ParseNdjsonPiece(piece, {}, [&](ParsedItem& item) { items.push_back(item); });
        }
        SCOPED_TRACE(::testing::Message() << lines << " lines, " << max_pieces << " pieces");
        ExpectSameItems(items, whole.items);
      }
    }
  }
}

TEST(BodyTest, NdjsonIsNotSplitWhenTheWholeBodyMightBeRefused) {
  const std::string body = MixedNdjson(1000, true);
  ParseLimits limits;
  EXPECT_FALSE(SplitNdjson(body, limits, 4, 128).empty());
  // Too short to cut into two pieces of 128 lines.
  EXPECT_TRUE(SplitNdjson(MixedNdjson(200, true), limits, 4, 128).empty());
  EXPECT_TRUE(SplitNdjson(body, limits, 1, 128).empty());
  // More lines than max_items: maybe too many items; ParseBodyEach tells.
  ParseLimits few = limits;
  few.max_items = 900;
  EXPECT_TRUE(SplitNdjson(body, few, 4, 128).empty());
  // Too large.
  ParseLimits small = limits;
  small.max_body_bytes = body.size() - 1;
  EXPECT_TRUE(SplitNdjson(body, small, 4, 128).empty());
  // Not UTF-8 (a lone continuation byte in the last line).
  EXPECT_TRUE(SplitNdjson(body + "{\"id\":\"\x80\"}", limits, 4, 128).empty());
}

TEST(BodyTest, NdjsonWhoseLinesAllFallInOnePieceIsNotSplit) {
  // 300 short lines, then one line longer than all of them together: every newline lies before
  // the first cut's byte target, so a cut would leave one piece, the whole body. That is no
  // split (ParseBodyEach parses it as well, without the pieces' cost).
  std::string body;
  for (int i = 0; i < 300; ++i) body += "{}\n";
  body += "{\"id\":\"" + std::string(5000, 'a') + "\"}";
  EXPECT_TRUE(SplitNdjson(body, {}, 4, 128).empty());
  EXPECT_TRUE(SplitNdjson(body + "\n", {}, 4, 128).empty());
}

}  // namespace
}  // namespace tokenaudit::record
