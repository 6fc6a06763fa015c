// The dashboard's routes on the real binary: the page and its assets are served without a key
// (they hold no data), every data call the page makes still needs one, and GET /v1/whoami tells
// the page which role a key has.

#include <string>

#include "test/serve/serve_test_util.h"

namespace tokenaudit::testing {
namespace {

class DashboardE2eTest : public ServeTest {
 protected:
  // Value of response header `name` (case-insensitive), or "".
  static std::string Header(const HttpResult& r, const std::string& name) {
    std::string lower_headers = r.headers;
    std::string lower_name = name;
    for (char& c : lower_headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : lower_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t at = lower_headers.find(lower_name + ":");
    if (at == std::string::npos) return "";
    at += name.size() + 1;
    while (at < r.headers.size() && r.headers[at] == ' ') ++at;
    return r.headers.substr(at, r.headers.find("\r\n", at) - at);
  }
};

TEST_F(DashboardE2eTest, StaticShellIsServedWithoutAKey) {
  StartServer();
  HttpResult page = Get("", "/");
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(Header(page, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(Header(page, "Cache-Control"), "no-cache");
  EXPECT_FALSE(Header(page, "ETag").empty());
  EXPECT_NE(Header(page, "Content-Security-Policy").find("connect-src 'self'"), std::string::npos);
  EXPECT_NE(page.body.find("/assets/app.js"), std::string::npos);

  HttpResult js = Get("", "/assets/app.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(Header(js, "Content-Type"), "text/javascript; charset=utf-8");
  HttpResult css = Get("", "/assets/style.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(Header(css, "Content-Type"), "text/css; charset=utf-8");

  HttpResult missing = Get("", "/assets/missing.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("\"not_found\""), std::string::npos);
  // A key changes nothing for the shell, and the API's 404 stays the API's.
  EXPECT_EQ(Get(admin_, "/").status, 200);
  EXPECT_EQ(Get(admin_, "/nope").status, 404);
}

TEST_F(DashboardE2eTest, EveryDataCallNeedsAKey) {
  StartServer();
  for (const char* target :
       {"/v1/whoami", "/v1/usage", "/v1/top?by=user", "/v1/duplicates", "/v1/anomalies",
        "/v1/events", "/v1/checkpoint", "/metrics"}) {
    HttpResult r = Get("", target);
    EXPECT_EQ(r.status, 401) << target << ": " << r.body;
    EXPECT_EQ(Get("ta_not_a_real_key", target).status, 401) << target;
  }
}

TEST_F(DashboardE2eTest, WhoamiNamesTheRoleUserAndTenant) {
  const std::string tenant_admin = [&] {
    CommandResult r = RunCommand({TOKENAUDIT_BIN, "keys", "create", "--data-dir", data_, "--role",
                                  "auditor", "--name", "archive-audit", "--tenant",
                                  "city-archive"},
                                 {kPseudonymKeyEnv}, dir_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string key = r.out;
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    return key;
  }();
  StartServer();

  HttpResult a = Get(admin_, "/v1/whoami");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find("\"role\":\"admin\""), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("\"name\":\"ops-admin\""), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("\"user\":null"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("\"tenant\":null"), std::string::npos) << a.body;
  EXPECT_EQ(Header(a, "Cache-Control"), "no-store");

  HttpResult alice = Get(alice_, "/v1/whoami");
  ASSERT_EQ(alice.status, 200) << alice.body;
  EXPECT_NE(alice.body.find("\"role\":\"user\""), std::string::npos) << alice.body;
  EXPECT_NE(alice.body.find("\"user\":\"u_"), std::string::npos) << alice.body;
  EXPECT_EQ(alice.body.find("alice"), std::string::npos) << "raw name leaked: " << alice.body;
  EXPECT_NE(alice.body.find("\"name\":null"), std::string::npos) << alice.body;
  // The pseudonym is the one the user's records carry.
  ASSERT_EQ(Post(ingest_, Record("who-1", "alice")).status, 200);
  HttpResult own = Get(alice_, "/v1/events");
  const size_t at = alice.body.find("\"user\":\"") + 8;
  const std::string pseudonym = alice.body.substr(at, alice.body.find('"', at) - at);
  EXPECT_NE(own.body.find("\"user\":\"" + pseudonym + "\""), std::string::npos) << own.body;
  EXPECT_NE(Get(bob_, "/v1/whoami").body, alice.body);

  HttpResult ingest = Get(ingest_, "/v1/whoami");
  EXPECT_EQ(ingest.status, 200);
  EXPECT_NE(ingest.body.find("\"role\":\"ingest\""), std::string::npos) << ingest.body;

  HttpResult bound = Get(tenant_admin, "/v1/whoami");
  EXPECT_NE(bound.body.find("\"role\":\"auditor\""), std::string::npos) << bound.body;
  EXPECT_NE(bound.body.find("\"tenant\":\"city-archive\""), std::string::npos) << bound.body;

  HttpResult post = client_->Request("POST", "/v1/whoami", "{}",
                                     {{"Authorization", "Bearer " + admin_}});
  EXPECT_EQ(post.status, 405);
}

}  // namespace
}  // namespace tokenaudit::testing
