// GET /v1/usage and GET /v1/top on the real binary: answers match what was ingested, roles hold
// (a user key sees only its own usage), admin reads are audited, the columns are rebuilt from the
// log on restart, and an acknowledged record is in the very next query even under continuous
// ingest.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test/serve/serve_test_util.h"

namespace tokenaudit::testing {
namespace {

class UsageE2eTest : public ServeTest {
 protected:
  // "model":"X" ... in the JSON group of model X: the value of `measure` as text.
  static std::string Field(const std::string& body, const std::string& group_key,
                           const std::string& measure) {
    size_t at = body.find(group_key);
    if (at == std::string::npos) return "<no group " + group_key + ">";
    size_t m = body.find("\"" + measure + "\":", at);
    if (m == std::string::npos) return "<no " + measure + ">";
    m += measure.size() + 3;
    return body.substr(m, body.find_first_of(",}", m) - m);
  }
  std::string RecordFor(int i, const std::string& user, const std::string& model, int w, int h) {
    std::string r = Record("usage-" + std::to_string(i), user, w, h);
    const std::string from = "\"ddcolor_paper_tiny\"";
    r.replace(r.find(from), from.size(), "\"" + model + "\"");
    return r;
  }
};

TEST_F(UsageE2eTest, AggregatesRolesAuditAndRebuild) {
  StartServer();
  // alice: 3 records of model A (460x680 = 312.8 tokens each); bob: 2 of model B (1000x1000).
  std::string ndjson;
  for (int i = 0; i < 3; ++i) ndjson += RecordFor(i, "alice", "model-a", 460, 680) + "\n";
  for (int i = 3; i < 5; ++i) ndjson += RecordFor(i, "bob", "model-b", 1000, 1000) + "\n";
  HttpResult post = Post(ingest_, ndjson, "application/x-ndjson");
  ASSERT_EQ(post.status, 200) << post.body;

  auto check_admin_view = [&] {
    HttpResult all = Get(admin_, "/v1/usage?group_by=model&measures=count,tokens,distinct_users");
    ASSERT_EQ(all.status, 200) << all.body;
    EXPECT_EQ(Field(all.body, "\"model-a\"", "count"), "3") << all.body;
    EXPECT_EQ(Field(all.body, "\"model-a\"", "tokens"), "938.400") << all.body;
    EXPECT_EQ(Field(all.body, "\"model-b\"", "count"), "2") << all.body;
    EXPECT_EQ(Field(all.body, "\"model-b\"", "tokens"), "2000.000") << all.body;
    EXPECT_EQ(Field(all.body, "\"model-b\"", "distinct_users"), "1") << all.body;
  };
  check_admin_view();

  // A user key: its own usage only, whatever it asks for.
  HttpResult mine = Get(alice_, "/v1/usage?group_by=model&measures=count");
  ASSERT_EQ(mine.status, 200) << mine.body;
  EXPECT_EQ(Count(mine.body, "model-b"), 0u) << mine.body;
  EXPECT_EQ(Field(mine.body, "\"model-a\"", "count"), "3") << mine.body;
  EXPECT_EQ(Get(alice_, "/v1/usage?user=bob").status, 403);
  EXPECT_EQ(Get(alice_, "/v1/top?by=user&user=bob").status, 403);
  HttpResult top_alice = Get(alice_, "/v1/top?by=user&measure=count");
  ASSERT_EQ(top_alice.status, 200) << top_alice.body;
  EXPECT_EQ(Count(top_alice.body, "\"user\":"), 1u) << top_alice.body;
  EXPECT_EQ(Get(ingest_, "/v1/usage").status, 403);
  EXPECT_EQ(Get("", "/v1/usage").status, 401);

  // Top users by tokens: bob first.
  HttpResult top = Get(auditor_, "/v1/top?by=user&measure=tokens&k=1");
  ASSERT_EQ(top.status, 200) << top.body;
  EXPECT_EQ(Count(top.body, "\"user\":"), 1u) << top.body;
  EXPECT_EQ(Field(top.body, "\"user\"", "tokens"), "2000.000") << top.body;

  // Bad parameters are 400 naming the parameter.
  HttpResult bad = Get(admin_, "/v1/usage?group_by=colour");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("\"field\":\"group_by\""), std::string::npos) << bad.body;
  HttpResult bad_tz = Get(admin_, "/v1/usage?window=day&tz=Nowhere/Land");
  EXPECT_EQ(bad_tz.status, 400);
  EXPECT_NE(bad_tz.body.find("\"field\":\"tz\""), std::string::npos) << bad_tz.body;

  // The five records share one input hash: alice's three runs (same parameters, same minute)
  // are one duplicate cluster; bob's two are another.
  HttpResult dups = Get(admin_, "/v1/duplicates?within=600");
  ASSERT_EQ(dups.status, 200) << dups.body;
  EXPECT_EQ(Count(dups.body, "\"runs\":3"), 1u) << dups.body;
  EXPECT_EQ(Count(dups.body, "\"runs\":2"), 1u) << dups.body;
  HttpResult my_dups = Get(alice_, "/v1/duplicates");
  ASSERT_EQ(my_dups.status, 200) << my_dups.body;
  EXPECT_EQ(Count(my_dups.body, "\"runs\":"), 1u) << my_dups.body;
  EXPECT_EQ(Get(alice_, "/v1/anomalies").status, 403);
  HttpResult anomalies = Get(auditor_, "/v1/anomalies?threshold=2.5&min_history=1");
  ASSERT_EQ(anomalies.status, 200) << anomalies.body;
  EXPECT_EQ(Get(admin_, "/v1/duplicates?within=0").status, 400);

  // CSV.
  HttpResult csv = Get(admin_, "/v1/usage?group_by=model&measures=count&format=csv");
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.body, "model,count\r\nmodel-a,3\r\nmodel-b,2\r\n");

  // Admin and auditor reads were recorded in the log.
  HttpResult m = Get(admin_, "/metrics");
  size_t at = m.body.find("\ntokenaudit_access_records_total ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GE(std::stoi(m.body.substr(at + 33)), 3);

  // The columns are derived: after a restart they are rebuilt from the log, same answers.
  server_->Stop();
  StartServer();
  check_admin_view();

  // The offline CLI reads the same log and agrees.
  server_->Stop();
  CommandResult cli = RunCommand({TOKENAUDIT_BIN, "query", "--data-dir", data_, "--group-by",
                                  "model", "--measures", "count,tokens", "--format", "csv"},
                                 {kPseudonymKeyEnv}, dir_);
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.out, "model,count,tokens\r\nmodel-a,3,938.400\r\nmodel-b,2,2000.000\r\n");
  CommandResult cli_user = RunCommand({TOKENAUDIT_BIN, "query", "--data-dir", data_, "--filter",
                                       "user=alice", "--measures", "count", "--format", "csv"},
                                      {kPseudonymKeyEnv}, dir_);
  ASSERT_EQ(cli_user.exit_code, 0) << cli_user.err;
  EXPECT_EQ(cli_user.out, "count\r\n3\r\n");
  CommandResult cli_bad =
      RunCommand({TOKENAUDIT_BIN, "query", "--data-dir", data_, "--window", "year"}, {}, dir_);
  EXPECT_EQ(cli_bad.exit_code, 2);
  EXPECT_NE(cli_bad.err.find("window"), std::string::npos) << cli_bad.err;
}

TEST_F(UsageE2eTest, AUserAlreadyInPseudonymFormIsKeptAsItIs) {
  // The ComfyUI gateway knows a user only by the key's pseudonym and forwards that.
  StartServer();
  HttpResult who = Get(alice_, "/v1/whoami");
  ASSERT_EQ(who.status, 200) << who.body;
  const size_t at = who.body.find("\"user\":\"u_");
  ASSERT_NE(at, std::string::npos) << who.body;
  const std::string pseudonym = who.body.substr(at + 8, 24);
  HttpResult post = Post(ingest_, RecordFor(1, pseudonym, "model-p", 100, 100));
  ASSERT_EQ(post.status, 200) << post.body;
  EXPECT_NE(post.body.find("\"user\":\"" + pseudonym + "\""), std::string::npos) << post.body;
  HttpResult mine = Get(alice_, "/v1/usage?measures=count");
  ASSERT_EQ(mine.status, 200);
  EXPECT_NE(mine.body.find("\"count\":1"), std::string::npos) << mine.body;
  // Something merely starting with u_ is a name like any other: pseudonymised.
  HttpResult odd = Post(ingest_, RecordFor(2, "u_not-a-pseudonym", "model-p", 100, 100));
  ASSERT_EQ(odd.status, 200) << odd.body;
  EXPECT_EQ(odd.body.find("u_not-a-pseudonym"), std::string::npos) << odd.body;
}

TEST_F(UsageE2eTest, ColumnChunksPersistAndAreRebuiltWhenDeletedOrDamaged) {
  StartServer();
  // 70,000 records: one sealed chunk of 65,536 rows on disk, the rest in the tail.
  for (int b = 0; b < 70; ++b) {
    std::string ndjson;
    for (int i = 0; i < 1000; ++i) {
      const int n = b * 1000 + i;
      ndjson += RecordFor(n, "user" + std::to_string(n % 13), "m" + std::to_string(n % 3),
                          100 + n % 900, 100 + n % 700) +
                "\n";
    }
    HttpResult post = Post(ingest_, ndjson, "application/x-ndjson");
    ASSERT_EQ(post.status, 200) << post.body;
  }
  const std::string query = "/v1/usage?group_by=model,user&measures=count,tokens,duration_p95";
  HttpResult before = Get(admin_, query);
  ASSERT_EQ(before.status, 200);
  const std::string columns = data_ + "/columns";
  auto chunk_files = [&] {
    std::vector<std::string> names;
    if (!std::filesystem::exists(columns)) return names;
    for (const auto& e : std::filesystem::directory_iterator(columns)) {
      if (e.path().extension() == ".tac") names.push_back(e.path().string());
    }
    return names;
  };
  for (int i = 0; i < 600 && chunk_files().empty(); ++i) {  // up to 30 s (sanitized builds)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(chunk_files().size(), 1u);

  // Restart: the chunk is loaded, the tail comes from the log; same answer.
  server_->Stop();
  StartServer();
  EXPECT_EQ(Get(admin_, query).body, before.body);
  EXPECT_NE(server_->AllOutput().find("1 chunks loaded"), std::string::npos)
      << server_->AllOutput();

  // Deleted: rebuilt from the log, same answer, and the chunk is written again.
  server_->Stop();
  std::filesystem::remove_all(columns);
  StartServer();
  EXPECT_EQ(Get(admin_, query).body, before.body);
  for (int i = 0; i < 600 && chunk_files().empty(); ++i) {  // up to 30 s (sanitized builds)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(chunk_files().size(), 1u);

  // Damaged: discarded, rebuilt, same answer.
  server_->Stop();
  {
    std::fstream f(chunk_files()[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x7f');
  }
  StartServer();
  EXPECT_EQ(Get(admin_, query).body, before.body);
  EXPECT_NE(server_->AllOutput().find("1 damaged ones discarded"), std::string::npos)
      << server_->AllOutput();
}

TEST_F(UsageE2eTest, AnAcknowledgedRecordIsInTheNextQueryUnderContinuousIngest) {
  StartServer();
  std::atomic<bool> stop{false};
  std::atomic<int> background_batches{0};
  std::thread load([&] {
    HttpClient c(server_->port());
    for (int b = 0; !stop; ++b) {
      std::string ndjson;
      for (int i = 0; i < 200; ++i) {
        ndjson += RecordFor(1'000'000 + b * 200 + i, "carol", "load-model", 640, 480) + "\n";
      }
      HttpResult r = c.Request("POST", "/v1/events", ndjson,
                               {{"Content-Type", "application/x-ndjson"},
                                {"Authorization", "Bearer " + ingest_}});
      if (r.status != 200) break;
      background_batches.fetch_add(1);
    }
  });
  // Each probe record has a model of its own; the first query after its acknowledgement must
  // count it. The lag (ack -> visible) is then the time of that one query.
  std::vector<double> lag_ms;
  for (int i = 0; i < 100; ++i) {
    const std::string model = "probe-" + std::to_string(i);
    HttpResult post = Post(ingest_, RecordFor(i, "dave", model, 100, 100));
    ASSERT_EQ(post.status, 200) << post.body;
    const auto acked = std::chrono::steady_clock::now();
    HttpResult q = Get(admin_, "/v1/usage?measures=count&model=" + model);
    lag_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - acked)
            .count());
    ASSERT_EQ(q.status, 200) << q.body;
    EXPECT_NE(q.body.find("\"count\":1"), std::string::npos) << model << ": " << q.body;
  }
  stop = true;
  load.join();
  EXPECT_GT(background_batches.load(), 0);
  std::sort(lag_ms.begin(), lag_ms.end());
  // Reported, not asserted (timing belongs in bench/): what the first query after an ack took.
  std::printf("ack -> visible: p50 %.2f ms, p99 %.2f ms, max %.2f ms over %zu probes "
              "(%d background batches of 200)\n",
              lag_ms[lag_ms.size() / 2], lag_ms[lag_ms.size() * 99 / 100], lag_ms.back(),
              lag_ms.size(), background_batches.load());
}

}  // namespace
}  // namespace tokenaudit::testing
