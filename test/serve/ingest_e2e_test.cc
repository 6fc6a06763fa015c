// End-to-end: the real `tokenaudit serve` binary, ingest in every format, read back, restart.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "test/serve/serve_test_util.h"

namespace tokenaudit::testing {
namespace {

class IngestE2eTest : public ServeTest {};

TEST_F(IngestE2eTest, EveryFormatIsStoredReadBackAndSurvivesRestart) {
  StartServer();
  // Single JSON record: the answer is the stored, enriched record.
  HttpResult r = Post(ingest_, Record("r1", "alice"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"duplicate\":false"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"user\":\"u_"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("alice"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"usage.estimated_tokens_milli\":312800"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"usage.gflops\":193.1"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"request_id\":\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"capture\":\"api\""), std::string::npos) << r.body;

  // A JSON array batch.
  std::string batch = "[" + Record("b1", "alice") + "," + Record("b2", "bob") + "," +
                      Record("b3", "carol") + "]";
  r = Post(ingest_, batch);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"accepted\":3"), std::string::npos) << r.body;

  // NDJSON.
  r = Post(ingest_, Record("n1", "alice") + "\n\n" + Record("n2", "bob") + "\n",
           "application/x-ndjson");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"accepted\":2"), std::string::npos) << r.body;

  // CloudEvents, single and batch: id/source/time in the envelope, the rest in data.
  auto cloud_event = [](const std::string& id, const std::string& user) {
    return "{\"specversion\":\"1.0\",\"type\":\"ai.usage.v1\",\"id\":\"" + id +
           "\",\"source\":\"test/ce\",\"tenant\":\"city-archive\",\"time\":\"2026-11-30T11:00:00Z\","
           "\"data\":{\"user\":\"" +
           user +
           "\",\"gen_ai.request.model\":\"ddcolor_paper\","
           "\"input.width\":1024,\"input.height\":768,\"status\":\"success\"}}";
  };
  r = Post(ingest_, cloud_event("c1", "alice"), "application/cloudevents+json");
  ASSERT_EQ(r.status, 200) << r.body;
  r = Post(ingest_, "[" + cloud_event("c2", "bob") + "," + cloud_event("c3", "alice") + "]",
           "application/cloudevents-batch+json");
  ASSERT_EQ(r.status, 200) << r.body;

  HttpResult all = Get(admin_, "/v1/events?limit=1000");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(Count(all.body, "\"seq\":"), 9u) << all.body;
  HttpResult mine = Get(alice_, "/v1/events");
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(Count(mine.body, "\"seq\":"), 5u) << mine.body;

  // Restart: the same records, and a retried batch adds nothing.
  ASSERT_EQ(server_->Stop(), 0) << server_->AllOutput();
  StartServer();
  HttpResult again = Get(admin_, "/v1/events?limit=1000");
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(Count(again.body, "\"seq\":"), 9u);
  EXPECT_EQ(again.body, all.body);
  r = Post(ingest_, batch);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"accepted\":0,\"duplicates\":3"), std::string::npos) << r.body;
  r = Post(ingest_, Record("r1", "alice"));
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"duplicate\":true"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"seq\":0"), std::string::npos) << r.body;
  EXPECT_EQ(Count(Get(admin_, "/v1/events?limit=1000").body, "\"seq\":"), 9u);

  // Filters and cursor pagination.
  HttpResult page = Get(admin_, "/v1/events?limit=2&model=ddcolor_paper_tiny");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(Count(page.body, "\"seq\":"), 2u);
  size_t c = page.body.find("\"next_cursor\":\"");
  ASSERT_NE(c, std::string::npos) << page.body;
  std::string cursor = page.body.substr(c + 15, page.body.find('"', c + 15) - c - 15);
  HttpResult next = Get(admin_, "/v1/events?limit=100&model=ddcolor_paper_tiny&cursor=" + cursor);
  EXPECT_EQ(Count(next.body, "\"seq\":"), 4u) << next.body;
  EXPECT_NE(next.body.find("\"next_cursor\":null"), std::string::npos);

  ASSERT_EQ(server_->Stop(), 0);
  CommandResult v = RunCommand({TOKENAUDIT_BIN, "verify", "-q", data_}, {}, dir_);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// The idempotency index keeps only 40 hash bits per key and confirms every match by reading the
// stored record back: a retried batch after a restart finds every record at its original seq,
// and the new records mixed into it are added once.
TEST_F(IngestE2eTest, LargeBatchRetriedAfterRestartFindsEveryOriginalSeq) {
  StartServer();
  auto ndjson = [](int from, int to) {
    std::string body;
    for (int i = from; i < to; ++i) body += Record("big-" + std::to_string(i), "alice") + "\n";
    return body;
  };
  HttpResult r = Post(ingest_, ndjson(0, 3000), "application/x-ndjson");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  ASSERT_NE(r.body.find("\"accepted\":3000,\"duplicates\":0"), std::string::npos);
  const std::string first = r.body;
  ASSERT_EQ(server_->Stop(), 0) << server_->AllOutput();
  StartServer();
  r = Post(ingest_, ndjson(0, 4000), "application/x-ndjson");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_NE(r.body.find("\"accepted\":1000,\"duplicates\":3000"), std::string::npos)
      << r.body.substr(0, 300);
  // Each retried record is answered with the seq it got the first time.
  for (int i : {0, 1, 1234, 2999}) {
    const std::string want = "{\"index\":" + std::to_string(i) + ",\"status\":200,";
    const size_t a = first.find(want), b = r.body.find(want);
    ASSERT_NE(a, std::string::npos);
    ASSERT_NE(b, std::string::npos);
    auto seq_at = [](const std::string& body, size_t item) {
      const size_t from = body.find("\"seq\":", item);
      return body.substr(from, body.find('}', from) - from);
    };
    const std::string seq_a = seq_at(first, a), seq_b = seq_at(r.body, b);
    EXPECT_EQ(seq_a, seq_b) << i;
    EXPECT_EQ(r.body.compare(b + want.size(), 16, "\"duplicate\":true"), 0) << i;
  }
  r = Post(ingest_, ndjson(0, 4000), "application/x-ndjson");
  EXPECT_NE(r.body.find("\"accepted\":0,\"duplicates\":4000"), std::string::npos)
      << r.body.substr(0, 300);
  // This process added the 1,000 new records only.
  const std::string metrics = Get(admin_, "/metrics").body;
  EXPECT_NE(metrics.find("tokenaudit_ingested_records_total 1000\n"), std::string::npos)
      << metrics.substr(0, 2000);
  // The query engine's columns are visible to an operator, and none failed.
  EXPECT_NE(metrics.find("# TYPE tokenaudit_column_merges_total counter\n"), std::string::npos);
  EXPECT_NE(metrics.find("\ntokenaudit_column_parts "), std::string::npos);
  EXPECT_NE(metrics.find("\ntokenaudit_column_failures_total 0\n"), std::string::npos);
}

TEST_F(IngestE2eTest, ConcurrentRetriesOfOneRecordStoreItOnce) {
  StartServer();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      HttpClient c(server_->port());
      for (int i = 0; i < 20; ++i) {
        HttpResult r = c.Request("POST", "/v1/events", Record("same-" + std::to_string(i), "alice"),
                                 {{"Content-Type", "application/json"},
                                  {"Authorization", "Bearer " + ingest_}});
        if (r.status == 200) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 120);
  EXPECT_EQ(Count(Get(admin_, "/v1/events?limit=1000").body, "\"seq\":"), 20u);
}

// A metric's value in Prometheus text ("name{labels} value"); -1 when absent.
double MetricValue(const std::string& text, const std::string& series) {
  const std::string line_start = "\n" + series + " ";
  const size_t at = text.find(line_start);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + line_start.size(), nullptr);
}

TEST_F(IngestE2eTest, MetricsCountRecordsDuplicatesRejectionsBatchesSyncsAndQueue) {
  // No timed checkpoint: its commit could land between the readings below.
  const std::string cfg = dir_ + "/no-timed-checkpoints.toml";
  std::ofstream(cfg) << "[ledger]\ncheckpoint_interval_ms = 3600000\n";
  StartServer({"--config", cfg});
  const std::string before = Get(admin_, "/metrics").body;
  for (const char* type : {"# TYPE tokenaudit_ingested_records_total counter",
                           "# TYPE tokenaudit_duplicate_records_total counter",
                           "# TYPE tokenaudit_request_records histogram",
                           "# TYPE tokenaudit_commit_batch_records histogram",
                           "# TYPE tokenaudit_fsync_seconds histogram",
                           "# TYPE tokenaudit_ledger_queue_depth gauge"}) {
    EXPECT_NE(before.find(type), std::string::npos) << type << "\n" << before;
  }
  // Two requests: a batch of three good records and one of the wrong type, then a retry of one.
  std::string wrong_type = Record("mt-bad", "alice");
  wrong_type.replace(wrong_type.find("\"input.width\":460"), 17, "\"input.width\":\"460\"");
  HttpResult r = Post(ingest_,
                      Record("mt-1", "alice") + "\n" + Record("mt-2", "bob") + "\n" + wrong_type +
                          "\n" + Record("mt-3", "carol") + "\n",
                      "application/x-ndjson");
  ASSERT_EQ(r.status, 207) << r.body;
  r = Post(ingest_, Record("mt-2", "bob"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_NE(r.body.find("\"duplicate\":true"), std::string::npos) << r.body;

  const std::string after = Get(admin_, "/metrics").body;
  auto delta = [&](const std::string& series) {
    return MetricValue(after, series) - std::max(0.0, MetricValue(before, series));
  };
  EXPECT_EQ(delta("tokenaudit_ingested_records_total"), 3) << after;
  EXPECT_EQ(delta("tokenaudit_duplicate_records_total"), 1) << after;
  EXPECT_EQ(MetricValue(after, "tokenaudit_rejected_records_total{reason=\"invalid_type\"}"), 1)
      << after;
  // Records per ingest request: one of 4 items, one of 1.
  EXPECT_EQ(delta("tokenaudit_request_records_count"), 2) << after;
  EXPECT_EQ(delta("tokenaudit_request_records_sum"), 5) << after;
  EXPECT_EQ(delta("tokenaudit_request_records_bucket{le=\"1\"}"), 1) << after;
  EXPECT_EQ(delta("tokenaudit_request_records_bucket{le=\"10\"}"), 2) << after;
  // The three new records went through group commits, each followed by an fdatasync.
  EXPECT_GE(delta("tokenaudit_commit_batch_records_sum"), 3) << after;
  EXPECT_GE(delta("tokenaudit_commit_batch_records_count"), 1) << after;
  const double syncs = MetricValue(after, "tokenaudit_fsync_seconds_count");
  EXPECT_GE(syncs, MetricValue(after, "tokenaudit_commit_batch_records_count")) << after;
  EXPECT_EQ(MetricValue(after, "tokenaudit_fsync_seconds_bucket{le=\"+Inf\"}"), syncs) << after;
  EXPECT_GE(MetricValue(after, "tokenaudit_fsync_seconds_sum"), 0) << after;  // 0 on tmpfs
  double previous = 0;
  for (const char* le : {"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.05",
                         "0.25", "+Inf"}) {
    const double v =
        MetricValue(after, "tokenaudit_fsync_seconds_bucket{le=\"" + std::string(le) + "\"}");
    EXPECT_GE(v, previous) << le << "\n" << after;  // cumulative buckets
    previous = v;
  }
  // Nothing waits for the log writer once every request was answered.
  EXPECT_EQ(MetricValue(after, "tokenaudit_ledger_queue_depth"), 0) << after;
}

TEST_F(IngestE2eTest, RequestIdIsComputedWhenAbsentAndCheckedWhenPresent) {
  StartServer();
  HttpResult r = Post(ingest_, Record("rid-1", "alice"));
  ASSERT_EQ(r.status, 200) << r.body;
  const size_t at = r.body.find("\"request_id\":\"");
  ASSERT_NE(at, std::string::npos) << r.body;
  const std::string computed = r.body.substr(at + 14, 16);
  ASSERT_EQ(computed.find_first_not_of("0123456789abcdef"), std::string::npos) << computed;
  // The same user, input and start time: the same request_id is accepted as given.
  r = Post(ingest_, Record("rid-2", "alice", 460, 680, ",\"request_id\":\"" + computed + "\""));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"request_id\":\"" + computed + "\""), std::string::npos) << r.body;
  // Another user with that request_id: refused, naming the field; nothing stored.
  r = Post(ingest_, Record("rid-3", "bob", 460, 680, ",\"request_id\":\"" + computed + "\""));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("\"code\":\"request_id_mismatch\",\"field\":\"request_id\""),
            std::string::npos)
      << r.body;
  EXPECT_EQ(Count(Get(admin_, "/v1/events?limit=1000").body, "\"seq\":"), 2u);
}

TEST_F(IngestE2eTest, EventsAreFilteredByEveryDimensionAndTimeRange) {
  StartServer();
  // 12 records: workflows portrait/landscape, statuses success/error, times an hour apart.
  std::string body;
  auto replace = [](std::string* rec, const std::string& from, const std::string& to) {
    const size_t at = rec->find(from);
    ASSERT_NE(at, std::string::npos) << from;
    rec->replace(at, from.size(), to);
  };
  for (int i = 0; i < 12; ++i) {
    std::string rec = Record("f-" + std::to_string(i), i % 2 ? "alice" : "bob");
    if (i % 3 == 0) replace(&rec, "\"workflow\":\"portrait\"", "\"workflow\":\"landscape\"");
    if (i % 4 == 0) {
      replace(&rec, "\"status\":\"success\"",
              "\"status\":\"error\",\"error.type\":\"OutOfMemory\"");
    }
    const std::string hour = (i < 10 ? "0" : "") + std::to_string(i);
    replace(&rec, "\"time\":\"2026-11-30T10:00:02.480000Z\"",
            "\"time\":\"2026-11-30T" + hour + ":30:00.000000Z\"");
    replace(&rec, "\"start_time\":\"2026-11-30T10:00:00.000000Z\"",
            "\"start_time\":\"2026-11-30T" + hour + ":29:57.520000Z\"");
    body += rec + "\n";
  }
  HttpResult r = Post(ingest_, body, "application/x-ndjson");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 400);
  auto count = [&](const std::string& query) {
    HttpResult g = Get(admin_, "/v1/events?limit=1000" + query);
    EXPECT_EQ(g.status, 200) << query << ": " << g.body;
    return Count(g.body, "\"seq\":");
  };
  EXPECT_EQ(count(""), 12u);
  EXPECT_EQ(count("&workflow=landscape"), 4u);               // 0, 3, 6, 9
  EXPECT_EQ(count("&status=error"), 3u);                     // 0, 4, 8
  EXPECT_EQ(count("&workflow=landscape&status=error"), 1u);  // 0
  EXPECT_EQ(count("&user=alice"), 6u);
  EXPECT_EQ(count("&model=ddcolor_paper_tiny"), 12u);
  EXPECT_EQ(count("&model=ddcolor_modelscope"), 0u);
  // [from, to): 02:00 up to 05:00 holds the records of hours 2, 3 and 4.
  EXPECT_EQ(count("&from=2026-11-30T02:00:00Z&to=2026-11-30T05:00:00Z"), 3u);
  EXPECT_EQ(count("&from=2026-11-30T11:30:00Z"), 1u);
  EXPECT_EQ(count("&to=2026-11-30T00:30:00Z"), 0u);
  EXPECT_EQ(count("&user=alice&from=2026-11-30T02:00:00Z&to=2026-11-30T05:00:00Z"), 1u);  // 3
  HttpResult bad = Get(admin_, "/v1/events?from=yesterday");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("\"field\":\"from\""), std::string::npos) << bad.body;
}

TEST_F(IngestE2eTest, BadInputGetsPreciseErrorsAndNothingIsHalfWritten) {
  StartServer({"--config", "/dev/null"});
  std::string good = Record("ok1", "alice");
  // Truncated JSON at several points.
  for (size_t cut : {size_t{1}, good.size() / 2, good.size() - 1}) {
    HttpResult r = Post(ingest_, good.substr(0, cut));
    EXPECT_EQ(r.status, 400) << cut << " " << r.body;
    EXPECT_NE(r.body.find("\"code\":\"invalid_json\""), std::string::npos) << r.body;
  }
  // Wrong type, named field.
  std::string wrong_type = Record("t1", "alice");
  wrong_type.replace(wrong_type.find("\"input.width\":460"), 17, "\"input.width\":\"460\"");
  HttpResult r = Post(ingest_, wrong_type);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("\"field\":\"input.width\""), std::string::npos) << r.body;
  // Out of range.
  r = Post(ingest_, Record("t2", "alice", 0, 680));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("\"code\":\"out_of_range\""), std::string::npos) << r.body;
  r = Post(ingest_, Record("t3", "alice", 460, 680, ",\"duration_ms\":99999999999999999999"));
  EXPECT_EQ(r.status, 400) << r.body;
  // Nesting 100,000 deep: refused before parsing, the server lives on.
  r = Post(ingest_, std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("too_deep"), std::string::npos) << r.body;
  // Invalid UTF-8.
  r = Post(ingest_, Record("u1", "al\xff\xfeice"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid_utf8"), std::string::npos) << r.body;
  // Unknown content type.
  r = Post(ingest_, good, "text/plain");
  EXPECT_EQ(r.status, 415) << r.body;
  // A 10 MB body: refused from the header alone (the server does not wait for the bytes).
  HttpClient big(server_->port());
  HttpResult too_big = big.PartialBody("/v1/events", "Bearer " + ingest_, 10'000'000, 1000, 5000);
  EXPECT_EQ(too_big.status, 413) << too_big.body;
  EXPECT_NE(too_big.body.find("\"code\":\"body_too_large\",\"field\":\"body\""), std::string::npos)
      << too_big.body;
  // A batch with one bad record: 207, the good ones stored, the bad one explained.
  r = Post(ingest_, "[" + Record("m1", "alice") + ",{\"id\":\"m2\"}," + Record("m3", "bob") + "]");
  EXPECT_EQ(r.status, 207) << r.body;
  EXPECT_NE(r.body.find("\"accepted\":2"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"index\":1,\"status\":400"), std::string::npos) << r.body;
  // The server is alive and stored exactly the two good records.
  HttpResult all = Get(admin_, "/v1/events?limit=1000");
  EXPECT_EQ(Count(all.body, "\"seq\":"), 2u) << all.body;
  HttpResult metrics = Get(admin_, "/metrics");
  EXPECT_NE(metrics.body.find("tokenaudit_rejected_records_total{reason=\"too_deep\"} 1"),
            std::string::npos)
      << metrics.body;
}

// One item's answer in a batch response, read from the text that follows its "{\"index\":".
struct ItemAnswer {
  int status = 0;
  std::string seq;  // digits, when 200
  bool duplicate = false;
  std::string code, field;  // when refused
};

std::vector<ItemAnswer> ItemAnswers(const std::string& body) {
  auto value = [](std::string_view item, std::string_view key) -> std::string {
    const size_t at = item.find(key);
    if (at == std::string_view::npos) return "";
    size_t from = at + key.size();
    const bool quoted = item[from] == '"';
    if (quoted) ++from;
    const size_t to = item.find_first_of(quoted ? "\"" : ",}", from);
    return std::string(item.substr(from, to - from));
  };
  std::vector<ItemAnswer> out;
  const std::string start = "{\"index\":";
  for (size_t at = body.find(start); at != std::string::npos;) {
    const size_t next = body.find(start, at + 1);
    const std::string_view item(body.data() + at, (next == std::string::npos ? body.size() : next) - at);
    if (std::to_string(out.size()) != value(item, start)) break;  // answers come in index order
    ItemAnswer a;
    a.status = std::atoi(value(item, "\"status\":").c_str());
    a.seq = value(item, "\"seq\":");
    a.duplicate = value(item, "\"duplicate\":") == "true";
    a.code = value(item, "\"code\":");
    a.field = value(item, "\"field\":");
    out.push_back(a);
    at = next;
  }
  return out;
}

TEST_F(IngestE2eTest, LargeNdjsonBodyGetsEveryItemsOwnAnswerInBodyOrder) {
  // A body large enough to be parsed in pieces on both I/O threads (the only POST in flight):
  // broken lines, wrong types, blank lines, and repeats of earlier ids (in the same body, so
  // across pieces) among good records. Each item must get the answer it would get alone.
  StartServer();
  std::string body;
  struct Want {
    int status;
    std::string code, field;
    int duplicate_of = -1;  // item index of the original
  };
  std::vector<Want> want;
  std::vector<std::string> ids;  // of accepted items, by item index ("" otherwise)
  for (int line = 0; line < 2600; ++line) {
    const int item = static_cast<int>(want.size());
    if (line % 97 == 50) {
      body += "  \n";  // blank: no item
      continue;
    }
    if (line % 7 == 3) {
      body += "{\"id\":\"x" + std::to_string(line) + "\n";
      want.push_back({400, "invalid_json", ""});
    } else if (line % 11 == 4) {
      std::string r = Record("t" + std::to_string(line), "alice");
      r.replace(r.find("\"input.width\":460"), 17, "\"input.width\":\"460\"");
      body += r + "\n";
      want.push_back({400, "invalid_type", "input.width"});
    } else if (line % 13 == 6 && item > 900) {
      int j = item - 800;  // an accepted original, 800 items (several pieces) back
      while (ids[j].empty()) --j;
      body += Record(ids[j], "alice") + "\n";
      want.push_back({200, "", "", want[j].duplicate_of >= 0 ? want[j].duplicate_of : j});
    } else {
      body += Record("p" + std::to_string(line), line % 2 ? "alice" : "bob") + "\n";
      want.push_back({200, "", ""});
    }
    ids.push_back(want.back().status == 200 && want.back().duplicate_of < 0
                      ? "p" + std::to_string(line)
                      : "");
  }
  HttpResult r = Post(ingest_, body, "application/x-ndjson");
  ASSERT_EQ(r.status, 207) << r.body.substr(0, 400);
  const std::vector<ItemAnswer> got = ItemAnswers(r.body);
  ASSERT_EQ(got.size(), want.size()) << r.body.substr(0, 400);
  size_t accepted = 0, duplicates = 0, rejected = 0;
  long long last_seq = -1;
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "item " << i);
    ASSERT_EQ(got[i].status, want[i].status) << got[i].code;
    if (want[i].status != 200) {
      ++rejected;
      EXPECT_EQ(got[i].code, want[i].code);
      EXPECT_EQ(got[i].field, want[i].field);
      continue;
    }
    if (want[i].duplicate_of >= 0) {
      ++duplicates;
      EXPECT_TRUE(got[i].duplicate);
      EXPECT_EQ(got[i].seq, got[static_cast<size_t>(want[i].duplicate_of)].seq);
      continue;
    }
    ++accepted;
    EXPECT_FALSE(got[i].duplicate);
    const long long seq = std::atoll(got[i].seq.c_str());
    EXPECT_GT(seq, last_seq);  // stored in body order
    last_seq = seq;
  }
  EXPECT_NE(r.body.find("{\"accepted\":" + std::to_string(accepted) + ",\"duplicates\":" +
                        std::to_string(duplicates) + ",\"rejected\":" + std::to_string(rejected)),
            std::string::npos)
      << r.body.substr(0, 200);
  EXPECT_GT(duplicates, 50u);
  EXPECT_GT(rejected, 500u);
  // Stored once each: the ledger holds exactly the accepted records.
  const std::string metrics = Get(admin_, "/metrics").body;
  EXPECT_NE(metrics.find("tokenaudit_ingested_records_total " + std::to_string(accepted) + "\n"),
            std::string::npos);
  // It was parsed in pieces (so this test is about the split path).
  EXPECT_NE(metrics.find("\ntokenaudit_split_requests_total 1\n"), std::string::npos);
}

}  // namespace
}  // namespace tokenaudit::testing
