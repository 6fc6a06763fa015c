#include "src/client/ingest_reply.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tokenaudit::client {
namespace {

// The exact shape `tokenaudit serve` answers (src/ingest/post_events.cc).
constexpr char kServerBatch[] =
    "{\"accepted\":1,\"duplicates\":1,\"rejected\":2,\"results\":["
    "{\"index\":0,\"status\":200,\"duplicate\":false,\"seq\":17},"
    "{\"index\":1,\"status\":400,\"error\":{\"code\":\"invalid_type\",\"message\":\"input.width: "
    "must be an integer\",\"field\":\"input.width\"}},"
    "{\"index\":2,\"status\":200,\"duplicate\":true,\"seq\":3},"
    "{\"index\":3,\"status\":503,\"error\":{\"code\":\"unavailable\",\"message\":\"retry\"}}]}";

TEST(IngestReplyTest, ParsesTheServersBatchAnswer) {
  std::vector<ItemResult> r;
  ASSERT_TRUE(ParseBatchReply(kServerBatch, &r));
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_FALSE(r[0].duplicate);
  EXPECT_EQ(r[0].seq, 17u);
  EXPECT_EQ(r[1].status, 400);
  EXPECT_EQ(r[1].error.code, "invalid_type");
  EXPECT_EQ(r[1].error.field, "input.width");
  EXPECT_EQ(r[1].error.message, "input.width: must be an integer");
  EXPECT_TRUE(r[2].duplicate);
  EXPECT_EQ(r[3].status, 503);
  EXPECT_EQ(r[3].error.code, "unavailable");
}

TEST(IngestReplyTest, PlacesResultsByIndex) {
  std::vector<ItemResult> r;
  ASSERT_TRUE(ParseBatchReply(
      " { \"results\" : [ {\"status\":400,\"index\":1} , {\"index\":0,\"status\":200} ] } ", &r));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[1].status, 400);
}

TEST(IngestReplyTest, UnescapesStrings) {
  std::vector<ItemResult> r;
  ASSERT_TRUE(ParseBatchReply(
      R"({"results":[{"index":0,"status":400,"error":{"code":"a\"b\\c\u00e9\ud83d\ude00","x":[1,{"y":null}]}}]})",
      &r));
  EXPECT_EQ(r[0].error.code, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(IngestReplyTest, RefusesMalformedAnswers) {
  std::vector<ItemResult> r;
  for (const char* bad : {
           "",
           "{}",
           "[]",
           "{\"results\":{}}",
           "{\"results\":[{\"index\":0}]}",
           "{\"results\":[{\"index\":1,\"status\":200}]}",
           "{\"results\":[{\"index\":0,\"status\":200},{\"index\":0,\"status\":200}]}",
           "{\"results\":[{\"index\":0,\"status\":200}]} x",
           "{\"results\":[{\"index\":0,\"status\":200}]",
           "{\"results\":[{\"index\":-1,\"status\":200}]}",
           "{\"results\":[{\"index\":0,\"status\":2000}]}",
           "{\"results\":[{\"index\":0,\"status\":200,}]}",
           "{\"results\":[{\"index\":0,\"status\":200,\"x\":01}]}",
           "{\"results\":[{\"index\":0,\"status\":200,\"x\":\"\\ud800\"}]}",
           "{\"results\":[{\"index\":0,\"status\":200,\"x\":\"\x01\"}]}",
       }) {
    EXPECT_FALSE(ParseBatchReply(bad, &r)) << bad;
  }
}

TEST(IngestReplyTest, ParsesErrorAnswers) {
  ApiError e;
  ASSERT_TRUE(
      ParseErrorReply("{\"error\":{\"code\":\"unauthenticated\",\"message\":\"no key\"}}", &e));
  EXPECT_EQ(e.code, "unauthenticated");
  EXPECT_EQ(e.message, "no key");
  EXPECT_FALSE(ParseErrorReply("{\"code\":\"x\"}", &e));
  EXPECT_FALSE(ParseErrorReply("<html>", &e));
}

TEST(IngestReplyTest, SurvivesMutatedInput) {
  std::mt19937 rng(12345);
  std::string base = kServerBatch;
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t p = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[p] = static_cast<char>(rng());
          break;
        case 1:
          s.erase(p, 1 + rng() % 8);
          break;
        case 2:
          s.insert(p, 1, "{}[],:\"\\0e-"[rng() % 11]);
          break;
      }
    }
    if (rng() % 4 == 0) s = std::string(rng() % 100, '[');
    std::vector<ItemResult> r;
    ApiError err;
    accepted += ParseBatchReply(s, &r);
    ParseErrorReply(s, &err);
  }
  EXPECT_LT(accepted, 20000);
}

}  // namespace
}  // namespace tokenaudit::client
