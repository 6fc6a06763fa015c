// End-to-end: the authorization matrix (every role × every endpoint) and the privacy canary.

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
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
  struct Case {
    std::string method, target;
    std::map<std::string, int> expect;  // by principal name
  };
  const std::string rec = Record("m-" + std::to_string(std::random_device{}()), "carol");
  std::vector<Case> cases = {
      {"POST", "/v1/events",
       {{"anonymous", 401}, {"bad-key", 401}, {"alice", 403}, {"bob", 403}, {"ingest", 200},
        {"auditor", 403}, {"admin", 200}}},
      {"GET", "/v1/events",
       {{"anonymous", 401}, {"bad-key", 401}, {"alice", 200}, {"bob", 200}, {"ingest", 403},
        {"auditor", 200}, {"admin", 200}}},
      {"GET", "/v1/events?user=bob",
       {{"anonymous", 401}, {"alice", 403}, {"bob", 200}, {"ingest", 403}, {"auditor", 200},
        {"admin", 200}}},
      {"GET", "/v1/checkpoint",
       {{"anonymous", 401}, {"bad-key", 401}, {"alice", 200}, {"bob", 200}, {"ingest", 200},
        {"auditor", 200}, {"admin", 200}}},
      {"GET", "/v1/proof/inclusion?seq=" + bob_seq,
       {{"anonymous", 401}, {"alice", 404}, {"bob", 200}, {"ingest", 403}, {"auditor", 200},
        {"admin", 200}}},
      {"GET", "/v1/proof/consistency?first=1&second=2",
       {{"anonymous", 401}, {"alice", 200}, {"bob", 200}, {"ingest", 403}, {"auditor", 200},
        {"admin", 200}}},
      {"GET", "/metrics",
       {{"anonymous", 401}, {"bad-key", 401}, {"alice", 403}, {"bob", 403}, {"ingest", 403},
        {"auditor", 200}, {"admin", 200}}},
      {"GET", "/healthz",
       {{"anonymous", 200}, {"alice", 200}, {"ingest", 200}, {"admin", 200}}},
      {"GET", "/readyz", {{"anonymous", 200}, {"admin", 200}}},
      {"DELETE", "/v1/events", {{"anonymous", 401}, {"admin", 405}}},
      {"GET", "/v1/nothing", {{"anonymous", 404}, {"admin", 404}}},
  };
  // Wait for a checkpoint so the proof endpoints have a signed root.
  for (int i = 0; i < 100 && Get(admin_, "/v1/checkpoint").status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& c : cases) {
    for (const auto& w : who) {
      auto it = c.expect.find(w.name);
      if (it == c.expect.end()) continue;
      std::vector<std::pair<std::string, std::string>> h = {{"Content-Type", "application/json"}};
      if (!w.key.empty()) h.emplace_back("Authorization", "Bearer " + w.key);
      HttpClient cl(server_->port());
      HttpResult r = cl.Request(c.method, c.target, c.method == "POST" ? rec : "", h);
      EXPECT_EQ(r.status, it->second) << c.method << " " << c.target << " as " << w.name << ": "
                                      << r.body;
      if (r.status == 401) {
        EXPECT_NE(r.headers.find("WWW-Authenticate"), std::string::npos);
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
