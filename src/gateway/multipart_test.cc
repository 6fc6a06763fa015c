#include "src/gateway/multipart.h"

#include <gtest/gtest.h>

namespace tokenaudit::gateway {
namespace {

const char kBody[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"image\"; filename=\"probe (1).png\"\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "\x89PNG\r\n--not-a-delimiter\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"subfolder\"\r\n"
    "\r\n"
    "gw\r\n"
    "--XyZ--\r\n";

TEST(MultipartTest, BoundaryFromContentType) {
  EXPECT_EQ(*MultipartBoundary("multipart/form-data; boundary=XyZ"), "XyZ");
  EXPECT_EQ(*MultipartBoundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\""), "a b");
  EXPECT_FALSE(MultipartBoundary("application/json").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data").ok());
  EXPECT_FALSE(MultipartBoundary("multipart/form-data; boundary=" + std::string(71, 'a')).ok());
}

TEST(MultipartTest, SplitsPartsAndKeepsBinaryContent) {
  auto parts = ParseMultipart(std::string_view(kBody, sizeof(kBody) - 1), "XyZ");
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "image");
  EXPECT_EQ((*parts)[0].filename, "probe (1).png");
  EXPECT_TRUE((*parts)[0].has_filename);
  EXPECT_EQ((*parts)[0].content_type, "image/png");
  EXPECT_EQ((*parts)[0].data, "\x89PNG\r\n--not-a-delimiter");
  EXPECT_EQ((*parts)[1].name, "subfolder");
  EXPECT_FALSE((*parts)[1].has_filename);
  EXPECT_EQ((*parts)[1].data, "gw");
}

TEST(MultipartTest, PreambleIsSkipped) {
  auto parts = ParseMultipart(
      "preamble\r\n--b\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n--b--", "b");
  ASSERT_TRUE(parts.ok());
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "x");
  EXPECT_EQ((*parts)[0].data, "v");
}

TEST(MultipartTest, MalformedBodiesAreRefused) {
  EXPECT_FALSE(ParseMultipart("", "b").ok());
  EXPECT_FALSE(ParseMultipart("--b\r\nContent-Disposition: form-data; name=x\r\n\r\nv", "b").ok());
  EXPECT_FALSE(ParseMultipart("--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--", "b").ok());
  EXPECT_FALSE(ParseMultipart("--b\r\nContent-Disposition: attachment\r\n\r\nv\r\n--b--", "b").ok());
  EXPECT_FALSE(ParseMultipart("--b\r\nno colon\r\n\r\nv\r\n--b--", "b").ok());
  EXPECT_FALSE(
      ParseMultipart("--b\r\nContent-Disposition: form-data; name=\"x\r\n\r\nv\r\n--b--", "b").ok());
  EXPECT_FALSE(ParseMultipart("--bX", "b").ok());
}

TEST(MultipartTest, LimitsAreEnforced) {
  std::string body;
  for (int i = 0; i < 3; ++i) body += "--b\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n";
  body += "--b--";
  MultipartLimits limits;
  limits.max_parts = 2;
  auto r = ParseMultipart(body, "b", limits);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  limits.max_parts = 3;
  limits.max_header_bytes = 10;
  EXPECT_EQ(ParseMultipart(body, "b", limits).status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace tokenaudit::gateway
