// End-to-end: the authorization matrix (every role × every endpoint) and the privacy canary.

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <random>

#include "test/serve/serve_test_util.h"

namespace tokenaudit::testing {
namespace {

class AccessE2eTest : public ServeTest {};

std::string SeqOf(const std::string& body) {
  size_t p = body.rfind("\"seq\":");
  return body.substr(p + 6, body.find_first_of(",}", p) - p - 6);
}

TEST_F(AccessE2eTest, AuthorizationMatrixHoldsForEveryRoleAndEndpoint) {
  StartServer();
  HttpResult a = Post(ingest_, Record("a1", "alice"));
  HttpResult b = Post(ingest_, Record("b1", "bob"));
  ASSERT_EQ(a.status, 200);
  ASSERT_EQ(b.status, 200);
  ASSERT_EQ(Post(admin_, Record("a2", "alice")).status, 200);
  const std::string bob_seq = SeqOf(b.body);
  ASSERT_EQ(Get(admin_, "/v1/events").status, 200);  // lets the ledger grow past a checkpoint

  const std::string garbage = "ta_thisisnotakey";
  struct Who {
    std::string name, key;
  };
  std::vector<Who> who = {{"anonymous", ""},   {"bad-key", garbage}, {"alice", alice_},
                          {"bob", bob_},       {"ingest", ingest_},  {"auditor", auditor_},
                          {"admin", admin_}};
  // Every endpoint, every principal: the status each gets, in the order of `who`. A checkpoint
  // holds no record (a signed tree size and root): every key may read it. The dashboard's page
  // and assets hold no data either; every call it makes for data needs a key.
  struct Case {
    std::string method, target;
    std::array<int, 7> expect;  // anonymous, bad-key, alice, bob, ingest, auditor, admin
  };
  const std::string rec = Record("m-" + std::to_string(std::random_device{}()), "carol");
  const std::vector<Case> cases = {
      {"POST", "/v1/events", {401, 401, 403, 403, 200, 403, 200}},
      {"GET", "/v1/events", {401, 401, 200, 200, 403, 200, 200}},
      {"GET", "/v1/events?user=bob", {401, 401, 403, 200, 403, 200, 200}},
      {"GET", "/v1/checkpoint", {401, 401, 200, 200, 200, 200, 200}},
      {"GET", "/v1/proof/inclusion?seq=" + bob_seq, {401, 401, 404, 200, 403, 200, 200}},
      {"GET", "/v1/proof/consistency?first=1&second=2", {401, 401, 200, 200, 403, 200, 200}},
      {"GET", "/v1/usage?group_by=user", {401, 401, 200, 200, 403, 200, 200}},
      {"GET", "/v1/usage?user=bob", {401, 401, 403, 200, 403, 200, 200}},
      {"GET", "/v1/top?by=user", {401, 401, 200, 200, 403, 200, 200}},
      {"GET", "/v1/top?by=model&user=alice", {401, 401, 200, 403, 403, 200, 200}},
      {"GET", "/v1/duplicates", {401, 401, 200, 200, 403, 200, 200}},
      {"GET", "/v1/duplicates?user=bob", {401, 401, 403, 200, 403, 200, 200}},
      {"GET", "/v1/anomalies", {401, 401, 403, 403, 403, 200, 200}},
      {"GET", "/v1/whoami", {401, 401, 200, 200, 200, 200, 200}},
      {"GET", "/metrics", {401, 401, 403, 403, 403, 200, 200}},
      {"GET", "/healthz", {200, 200, 200, 200, 200, 200, 200}},
      {"GET", "/readyz", {200, 200, 200, 200, 200, 200, 200}},
      {"GET", "/", {200, 200, 200, 200, 200, 200, 200}},
      {"POST", "/v1/usage", {401, 401, 405, 405, 405, 405, 405}},
      {"DELETE", "/v1/events", {401, 401, 405, 405, 405, 405, 405}},
      {"GET", "/v1/nothing", {404, 404, 404, 404, 404, 404, 404}},
  };
  ASSERT_EQ(who.size(), 7u);
  // Wait for a checkpoint so the proof endpoints have a signed root.
  for (int i = 0; i < 100 && Get(admin_, "/v1/checkpoint").status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& c : cases) {
    for (size_t i = 0; i < who.size(); ++i) {
      const Who& w = who[i];
      std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"}};
      if (!w.key.empty()) h.emplace_back("Authorization", "Bearer " + w.key);
      HttpClient cl(server_->port());
      HttpResult r = cl.Request(c.method, c.target, c.method == "POST" ? rec : "", h);
      EXPECT_EQ(r.status, c.expect[i])
          << c.method << " " << c.target << " as " << w.name << ": " << r.body;
      if (r.status == 401) {
        EXPECT_NE(r.headers.find("WWW-Authenticate"), std::string::npos);
      }
      if (r.status >= 400) {
        EXPECT_NE(r.body.find("{\"error\":{\"code\":"), std::string::npos)
            << c.method << " " << c.target << " as " << w.name << ": " << r.body;
      }
    }
  }

  // Zero cross-user reads: each user sees exactly their own records.
  std::string alice_events = Get(alice_, "/v1/events?limit=1000").body;
  std::string bob_events = Get(bob_, "/v1/events?limit=1000").body;
  std::string all = Get(admin_, "/v1/events?limit=1000").body;
  size_t p = a.body.find("\"user\":\"");
  std::string alice_pseudo = a.body.substr(p + 8, 24);
  p = b.body.find("\"user\":\"");
  std::string bob_pseudo = b.body.substr(p + 8, 24);
  EXPECT_EQ(Count(alice_events, "\"seq\":"), 2u) << alice_events;
  EXPECT_EQ(Count(alice_events, alice_pseudo), 2u);
  EXPECT_EQ(Count(alice_events, bob_pseudo), 0u);
  EXPECT_EQ(Count(bob_events, "\"seq\":"), 1u);
  EXPECT_EQ(Count(bob_events, alice_pseudo), 0u);
  // ... and only their own usage, whatever they group or rank by.
  for (const char* target : {"/v1/usage?group_by=user", "/v1/top?by=user&k=100",
                             "/v1/usage?group_by=model", "/v1/duplicates?within=86400"}) {
    const std::string mine = Get(alice_, target).body;
    EXPECT_EQ(Count(mine, bob_pseudo), 0u) << target << ": " << mine;
    const std::string theirs = Get(bob_, target).body;
    EXPECT_EQ(Count(theirs, alice_pseudo), 0u) << target << ": " << theirs;
  }
  const std::string alice_by_user = Get(alice_, "/v1/usage?group_by=user").body;
  EXPECT_EQ(Count(alice_by_user, alice_pseudo), 1u) << alice_by_user;
  EXPECT_NE(alice_by_user.find("\"count\":2"), std::string::npos) << alice_by_user;
  const std::string admin_by_user = Get(admin_, "/v1/usage?group_by=user").body;
  EXPECT_EQ(Count(admin_by_user, bob_pseudo), 1u) << admin_by_user;
  // a1, b1, a2 and the matrix's record (its second POST, by admin, was a duplicate).
  EXPECT_EQ(Count(all, "\"seq\":"), 4u) << all;

  // Reads by admins and auditors were themselves recorded.
  HttpResult m = Get(admin_, "/metrics");
  size_t at = m.body.find("\ntokenaudit_access_records_total ");
  ASSERT_NE(at, std::string::npos) << m.body;
  EXPECT_GE(std::stoi(m.body.substr(at + 33)), 5);
}

TEST_F(AccessE2eTest, RawNamesEmailsAndPathsNeverReachDiskLogsOrResponses) {
  StartServer();
  const std::string marker = "cnry" + std::to_string(std::random_device{}() % 100000);
  std::vector<std::string> responses;
  for (int batch = 0; batch < 10; ++batch) {
    std::string body;
    for (int i = 0; i < 100; ++i) {
      int n = batch * 100 + i;
      std::string user, extra;
      switch (n % 3) {
        case 0: user = "Person " + marker + " Number" + std::to_string(n); break;
        case 1: user = marker + "." + std::to_string(n) + "@example.org"; break;
        default: user = "user" + marker + std::to_string(n); break;
      }
      std::string path = "/home/" + marker + "/photos/img_" + std::to_string(n) + ".png";
      std::string rec = Record("cn-" + std::to_string(n), user);
      // Paths and e-mails in free-text fields are redacted, not stored.
      rec.replace(rec.find("\"workflow\":\"portrait\""), 21, "\"workflow\":\"" + path + "\"");
      rec.replace(rec.find("\"node_id\":\"2\""), 13,
                  "\"node_id\":\"" + marker + "@" + std::to_string(n) + ".example.com\"");
      body += rec + "\n";
    }
    HttpResult r = Post(ingest_, body, "application/x-ndjson");
    ASSERT_EQ(r.status, 200) << r.body;
    responses.push_back(r.headers + r.body);
  }
  for (const std::string& key : {admin_, auditor_, alice_, bob_}) {
    HttpResult r = Get(key, "/v1/events?limit=1000");
    ASSERT_EQ(r.status, 200);
    responses.push_back(r.headers + r.body);
  }
  // A filter by a raw name is pseudonymised, not echoed or recorded.
  HttpResult f = Get(admin_, "/v1/events?user=user" + marker + "2");
  responses.push_back(f.headers + f.body);
  responses.push_back(Get(admin_, "/metrics").body);
  // Every other read: aggregates by user and workflow, rankings, repeats, anomalies, proofs.
  for (const std::string& key : {admin_, auditor_, alice_}) {
    for (const std::string& target : std::vector<std::string>{
             "/v1/usage?group_by=user,workflow,node_type", "/v1/top?by=user&k=1000",
             "/v1/top?by=workflow&k=1000", "/v1/duplicates?within=86400&limit=1000",
             "/v1/anomalies?threshold=0.001&min_history=1", "/v1/usage?user=user" + marker + "2",
             "/v1/checkpoint", "/v1/proof/inclusion?seq=5",
             "/v1/proof/consistency?first=1&second=9", "/v1/whoami"}) {
      HttpResult r = Get(key, target);
      EXPECT_LT(r.status, 500) << target << ": " << r.body;
      responses.push_back(r.headers + r.body);
    }
  }
  // A rejected record with personal data in it: the error names the field, not the value.
  HttpResult bad = Post(ingest_, Record("bad", marker + "@x.org", 0, 10));
  EXPECT_EQ(bad.status, 400);
  responses.push_back(bad.headers + bad.body);
  ASSERT_EQ(server_->Stop(), 0);

  for (const auto& r : responses) EXPECT_EQ(r.find(marker), std::string::npos) << r;
  EXPECT_EQ(server_->AllOutput().find(marker), std::string::npos) << server_->AllOutput();
  size_t files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(data_)) {
    if (!e.is_regular_file()) continue;
    ++files;
    std::string content = ReadWholeFile(e.path());
    EXPECT_EQ(content.find(marker), std::string::npos) << e.path();
  }
  EXPECT_GT(files, 3u);
}

}  // namespace
}  // namespace tokenaudit::testing
