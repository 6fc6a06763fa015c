#include "src/record/body_format.h"

#include <gtest/gtest.h>

namespace tokenaudit::record {
namespace {

BodyFormat FormatOf(std::string_view content_type) {
  auto f = FormatFromContentType(content_type);
  EXPECT_TRUE(f.ok()) << content_type << ": " << f.status();
  return f.ok() ? *f : BodyFormat::kJson;
}

TEST(BodyFormatTest, MapsTheFourMediaTypes) {
  EXPECT_EQ(FormatOf("application/json"), BodyFormat::kJson);
  EXPECT_EQ(FormatOf("application/cloudevents+json"), BodyFormat::kCloudEvent);
  EXPECT_EQ(FormatOf("application/cloudevents-batch+json"), BodyFormat::kCloudEventBatch);
  EXPECT_EQ(FormatOf("application/x-ndjson"), BodyFormat::kNdjson);
  EXPECT_EQ(FormatOf("application/ndjson"), BodyFormat::kNdjson);
}

TEST(BodyFormatTest, TypeIsCaseInsensitiveAndParametersAreAllowed) {
  EXPECT_EQ(FormatOf("Application/JSON"), BodyFormat::kJson);
  EXPECT_EQ(FormatOf(" application/json ; charset=utf-8"), BodyFormat::kJson);
  EXPECT_EQ(FormatOf("application/json;charset=\"UTF-8\""), BodyFormat::kJson);
  EXPECT_EQ(FormatOf("application/cloudevents+json; charset=UTF-8; foo=bar"),
            BodyFormat::kCloudEvent);
  EXPECT_EQ(FormatOf("application/x-ndjson;"), BodyFormat::kNdjson);
}

TEST(BodyFormatTest, RefusesUnknownTypesOtherCharsetsAndMalformedParameters) {
  for (const char* bad :
       {"", "text/plain", "application/xml", "application/json+x", "application/jsonx",
        "application/json; charset=latin1", "application/json; charset", "application/json; =utf-8",
        "multipart/form-data; boundary=x", "application/*"}) {
    auto f = FormatFromContentType(bad);
    EXPECT_FALSE(f.ok()) << bad;
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace tokenaudit::record
