#include "src/dashboard/dashboard.h"

#include <gtest/gtest.h>

#include <string>

namespace tokenaudit::dashboard {
namespace {

http::HttpRequest Get(const std::string& path) {
  http::HttpRequest r;
  r.method = "GET";
  r.target = path;
  r.path = path;
  return r;
}

std::string HeaderOf(const http::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

TEST(DashboardTest, RootServesThePageAsHtml) {
  http::HttpResponse r = ServeDashboard(Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<!doctype html>"), std::string::npos);
  EXPECT_NE(r.body.find("src=\"/assets/app.js\""), std::string::npos);
}

TEST(DashboardTest, EveryAssetTheAppUsesIsEmbeddedWithItsContentType) {
  struct Want {
    const char* path;
    const char* type;
  };
  for (const Want& w : {Want{"/assets/app.js", "text/javascript; charset=utf-8"},
                        Want{"/assets/api.js", "text/javascript; charset=utf-8"},
                        Want{"/assets/charts.js", "text/javascript; charset=utf-8"},
                        Want{"/assets/format.js", "text/javascript; charset=utf-8"},
                        Want{"/assets/style.css", "text/css; charset=utf-8"},
                        Want{"/assets/favicon.svg", "image/svg+xml"}}) {
    http::HttpResponse r = ServeDashboard(Get(w.path));
    EXPECT_EQ(r.status, 200) << w.path;
    EXPECT_EQ(r.content_type, w.type) << w.path;
    EXPECT_FALSE(r.body.empty()) << w.path;
    const Asset* a = FindAsset(w.path);
    ASSERT_NE(a, nullptr) << w.path;
    EXPECT_EQ(r.body, a->body);
  }
}

TEST(DashboardTest, EmbeddedBytesAreTheFileBytes) {
  // Byte-exact: the page's first bytes, and no stray terminator counted in the size.
  const Asset* page = FindAsset("/");
  ASSERT_NE(page, nullptr);
  EXPECT_TRUE(page->body.starts_with("<!doctype html>"));
  EXPECT_NE(page->body.back(), '\0');
}

TEST(DashboardTest, UnknownAssetIs404WithAJsonError) {
  for (const char* path : {"/assets/nope.js", "/assets/", "/assets/../index.html",
                           "/assets/app.js/x", "/assets/APP.JS"}) {
    http::HttpResponse r = ServeDashboard(Get(path));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.content_type, "application/json") << path;
    EXPECT_NE(r.body.find("\"not_found\""), std::string::npos) << path;
    EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-cache") << path;
  }
}

TEST(DashboardTest, OnlyTheRootAndAssetsAreDashboardPaths) {
  EXPECT_TRUE(IsDashboardPath("/"));
  EXPECT_TRUE(IsDashboardPath("/assets/app.js"));
  EXPECT_TRUE(IsDashboardPath("/assets/anything"));
  EXPECT_FALSE(IsDashboardPath("/v1/usage"));
  EXPECT_FALSE(IsDashboardPath("/metrics"));
  EXPECT_FALSE(IsDashboardPath("/index.html"));
  EXPECT_FALSE(IsDashboardPath("/assetsx"));
  EXPECT_FALSE(IsDashboardPath(""));
}

TEST(DashboardTest, CacheHeadersRevalidateWithTheEtag) {
  http::HttpResponse r = ServeDashboard(Get("/assets/app.js"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(HeaderOf(r, "Cache-Control"), "no-cache");
  const std::string etag = HeaderOf(r, "ETag");
  ASSERT_EQ(etag.size(), 18u) << etag;  // "<16 hex>"
  EXPECT_EQ(etag.front(), '"');
  EXPECT_EQ(etag, std::string(FindAsset("/assets/app.js")->etag));

  http::HttpRequest again = Get("/assets/app.js");
  again.headers.emplace_back("if-none-match", "\"0000000000000000\", " + etag);
  http::HttpResponse not_modified = ServeDashboard(again);
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_TRUE(not_modified.body.empty());
  EXPECT_EQ(HeaderOf(not_modified, "ETag"), etag);

  http::HttpRequest weak = Get("/assets/app.js");
  weak.headers.emplace_back("if-none-match", "W/" + etag);
  EXPECT_EQ(ServeDashboard(weak).status, 304);

  http::HttpRequest stale = Get("/assets/app.js");
  stale.headers.emplace_back("if-none-match", "\"0000000000000000\"");
  EXPECT_EQ(ServeDashboard(stale).status, 200);
}

TEST(DashboardTest, DistinctFilesHaveDistinctEtags) {
  EXPECT_NE(FindAsset("/")->etag, FindAsset("/assets/app.js")->etag);
}

TEST(DashboardTest, PageMayOnlyTalkToItsOwnOrigin) {
  http::HttpResponse r = ServeDashboard(Get("/"));
  const std::string csp = HeaderOf(r, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos);
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos);
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
  EXPECT_EQ(HeaderOf(r, "X-Content-Type-Options"), "nosniff");
  // Nothing from elsewhere: no absolute URLs in the page or its assets but XML namespace names.
  for (const Asset& a : EmbeddedAssets()) {
    for (std::string_view scheme : {"http://", "https://"}) {
      for (size_t p = a.body.find(scheme); p != std::string_view::npos;
           p = a.body.find(scheme, p + 1)) {
        EXPECT_TRUE(a.body.substr(p).starts_with("http://www.w3.org/"))
            << a.path << ": " << a.body.substr(p, 40);
      }
    }
  }
}

TEST(DashboardTest, OnlyGetIsAllowed) {
  http::HttpRequest post = Get("/");
  post.method = "POST";
  http::HttpResponse r = ServeDashboard(post);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(HeaderOf(r, "Allow"), "GET");
}

}  // namespace
}  // namespace tokenaudit::dashboard
