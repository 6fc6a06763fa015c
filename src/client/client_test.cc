#include "tokenaudit/client.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/client/fake_ingest_server.h"

namespace tokenaudit::client {
namespace {

using std::chrono::milliseconds;
using testing::FakeIngestServer;

UsageRecord MakeRecord(const std::string& id, const std::string& user = "alice") {
  UsageRecord r;
  r.id = id;
  r.user = user;
  r.time_us = 1796032802480000;  // 2026-11-30T10:00:02.48Z
  r.task_type = "image_colorization";
  r.model = "ddcolor_paper_tiny";
  r.input_width = 460;
  r.input_height = 680;
  r.status = "success";
  return r;
}

std::string Id(int i) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "r-%06d", i);
  return buf;
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// Polls `pred` for up to `ms`.
template <typename Pred>
bool WaitFor(Pred pred, int ms = 10000) {
  auto end = std::chrono::steady_clock::now() + milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return pred();
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta_client_XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_TRUE(server_.Start());
  }
  void TearDown() override {
    server_.Stop();
    std::filesystem::remove_all(dir_);
  }

  ClientOptions Options(bool spool = false) {
    ClientOptions o;
    o.url = server_.url();
    o.api_key = "ta_test";
    o.source = "test/client";
    if (spool) o.spool_dir = dir_ + "/spool";
    o.flush_interval_ms = 5;
    o.initial_backoff_ms = 2;
    o.max_backoff_ms = 20;
    o.connect_timeout_ms = 1000;
    o.request_timeout_ms = 5000;
    o.close_timeout_ms = 2000;
    return o;
  }

  std::unique_ptr<Client> NewClient(const ClientOptions& o) {
    auto c = Client::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  size_t SpoolFiles() {
    size_t n = 0;
    if (!std::filesystem::exists(dir_ + "/spool")) return 0;
    for (auto& e : std::filesystem::directory_iterator(dir_ + "/spool")) {
      n += e.path().extension() == ".spool";
    }
    return n;
  }

  std::string dir_;
  FakeIngestServer server_;
};

TEST_F(ClientTest, BatchesRecordsIntoFewRequests) {
  ClientOptions o = Options();
  o.max_batch_records = 100;
  o.flush_interval_ms = 50;
  auto c = NewClient(o);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  EXPECT_EQ(server_.stored().size(), 1000u);
  auto reqs = server_.requests();
  EXPECT_LE(reqs.size(), 30u);
  for (const auto& r : reqs) {
    EXPECT_LE(r.ids.size(), 100u);
    EXPECT_NE(r.head.find("Content-Type: application/x-ndjson"), std::string::npos);
    EXPECT_NE(r.head.find("Authorization: Bearer ta_test"), std::string::npos);
  }
  ClientStats s = c->stats();
  EXPECT_EQ(s.recorded, 1000u);
  EXPECT_EQ(s.acknowledged, 1000u);
  EXPECT_EQ(s.duplicates, 0u);
  EXPECT_EQ(s.queue_records, 0u);
  EXPECT_EQ(s.queue_bytes, 0u);
  EXPECT_TRUE(c->Close(milliseconds(1000)).ok());
}

TEST_F(ClientTest, RecordsArriveInRecordOrder) {
  auto c = NewClient(Options());
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  auto stored = server_.stored();
  ASSERT_EQ(stored.size(), 3000u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(stored[i], Id(i));
}

TEST_F(ClientTest, GivesIdSourceAndTimeOnlyWhenMissing) {
  auto c = NewClient(Options());
  UsageRecord given = MakeRecord("mine-1");
  given.source = "app/given";
  ASSERT_TRUE(c->Record(given).ok());
  UsageRecord bare;
  bare.status = "success";
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c->Record(UsageRecord(bare)).ok());
  ASSERT_TRUE(c->Flush(milliseconds(5000)).ok());
  auto reqs = server_.requests();
  std::set<std::string> ids;
  std::string all;
  for (const auto& r : reqs) {
    for (const auto& id : r.ids) ids.insert(id);
    all += r.body;
  }
  EXPECT_EQ(ids.size(), 101u);
  EXPECT_TRUE(ids.count("mine-1"));
  EXPECT_NE(all.find("\"source\":\"app/given\""), std::string::npos);
  EXPECT_EQ(Count(all, "\"source\":\"test/client\""), 100u);
  EXPECT_EQ(Count(all, "\"time\":\""), 101u);
  std::string prefix;
  for (const auto& id : ids) {
    if (id == "mine-1") continue;
    ASSERT_GT(id.size(), 23u) << id;  // "<22 base64url>-<hex counter>"
    EXPECT_EQ(id[22], '-') << id;
    if (prefix.empty()) prefix = id.substr(0, 22);
    EXPECT_EQ(id.substr(0, 22), prefix);
  }
}

TEST_F(ClientTest, RetriesAfter503WithTheSameIds) {
  server_.FailNext(3, 503, 0);
  auto c = NewClient(Options());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  auto reqs = server_.requests();
  ASSERT_GE(reqs.size(), 4u);
  // The records were cut into batches before the first failure; each failed batch is resent
  // with exactly the same ids.
  EXPECT_EQ(reqs[1].ids, reqs[0].ids);
  EXPECT_EQ(reqs[2].ids, reqs[0].ids);
  EXPECT_EQ(reqs[3].ids, reqs[0].ids);
  EXPECT_EQ(server_.stored().size(), 50u);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(server_.TimesSeen(Id(i)), i < int(reqs[0].ids.size()) ? 4 : 1);
  ClientStats s = c->stats();
  EXPECT_EQ(s.failed_requests, 3u);
  EXPECT_EQ(s.retries, 3 * reqs[0].ids.size());
  EXPECT_EQ(s.acknowledged, 50u);
  EXPECT_NE(s.last_error.find("503"), std::string::npos) << s.last_error;
}

TEST_F(ClientTest, RetriesOnlyTheItemsAnswered503) {
  server_.SetItemPolicy([](const UsageRecord& r, int seen) {
    return (r.id == Id(3) || r.id == Id(7)) && seen == 1 ? 503 : 0;
  });
  auto c = NewClient(Options());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  // However the records were cut into batches, only the two refused items were sent again.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(server_.TimesSeen(Id(i)), i == 3 || i == 7 ? 2 : 1);
  EXPECT_EQ(server_.stored().size(), 10u);
  EXPECT_EQ(c->stats().retries, 2u);
}

TEST_F(ClientTest, PermanentlyRejectedItemsAreReportedNotRetried) {
  server_.SetItemPolicy([](const UsageRecord& r, int) { return r.user == "mallory" ? 400 : 0; });
  ClientOptions o = Options();
  std::mutex mu;
  std::vector<RejectedRecord> rejected;
  o.on_rejected = [&](const RejectedRecord& r) {
    std::lock_guard<std::mutex> l(mu);
    rejected.push_back(r);
  };
  auto c = NewClient(o);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(c->Record(MakeRecord(Id(i), i % 3 == 0 ? "mallory" : "alice")).ok());
  }
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  EXPECT_EQ(server_.stored().size(), 6u);
  ClientStats s = c->stats();
  EXPECT_EQ(s.rejected, 4u);
  EXPECT_EQ(s.acknowledged, 6u);
  EXPECT_EQ(s.retries, 0u);
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(rejected.size(), 4u);
  for (const auto& r : rejected) {
    EXPECT_EQ(r.http_status, 400);
    EXPECT_EQ(r.code, "invalid_type");
    EXPECT_EQ(r.field, "f");
    EXPECT_EQ(server_.TimesSeen(r.id), 1) << r.id;
    EXPECT_NE(r.record_json.find("\"user\":\"mallory\""), std::string::npos);
  }
}

TEST_F(ClientTest, RefusedBodyIsSplitUntilTheBadRecordIsAlone) {
  // The whole body is refused while it holds the poisoned record (as for invalid UTF-8).
  server_.SetBodyPolicy(
      [](const std::string& body) { return body.find("poison") != std::string::npos ? 400 : 0; });
  ClientOptions o = Options();
  std::vector<std::string> rejected;
  o.on_rejected = [&](const RejectedRecord& r) { rejected.push_back(r.id); };
  auto c = NewClient(o);
  for (int i = 0; i < 16; ++i) {
    UsageRecord r = MakeRecord(Id(i));
    if (i == 11) r.workflow = "poison";
    ASSERT_TRUE(c->Record(r).ok());
  }
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  EXPECT_EQ(server_.stored().size(), 15u);
  EXPECT_EQ(rejected, std::vector<std::string>{Id(11)});
  EXPECT_EQ(c->stats().rejected, 1u);
}

TEST_F(ClientTest, RefusedKeyIsRetriedNotDropped) {
  server_.FailNext(3, 401);
  auto c = NewClient(Options());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  EXPECT_EQ(server_.stored().size(), 20u);
  EXPECT_EQ(c->stats().rejected, 0u);
  EXPECT_NE(c->stats().last_error.find("401"), std::string::npos);
}

TEST_F(ClientTest, SpoolsWhileUnreachableThenReplaysInOrder) {
  server_.Stop();
  auto c = NewClient(Options(/*spool=*/true));
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  // (spooled is counted before the queue is: wait for both.)
  ASSERT_TRUE(WaitFor([&] {
    const auto st = c->stats();
    return st.spooled == 300 && st.queue_records == 0;
  })) << c->stats().last_error;
  EXPECT_GE(SpoolFiles(), 1u);
  EXPECT_EQ(c->stats().queue_records, 0u);
  Status f = c->Flush(milliseconds(50));
  EXPECT_EQ(f.code(), StatusCode::kUnavailable);
  EXPECT_NE(f.message().find("in the spool"), std::string::npos) << f;

  ASSERT_TRUE(server_.Start());
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok()) << c->stats().last_error;
  auto stored = server_.stored();
  ASSERT_EQ(stored.size(), 300u);
  for (int i = 0; i < 300; ++i) ASSERT_EQ(stored[i], Id(i));
  EXPECT_EQ(SpoolFiles(), 0u);
  ClientStats s = c->stats();
  EXPECT_EQ(s.replayed, 300u);
  EXPECT_EQ(s.acknowledged, 300u);
  EXPECT_EQ(s.spool_files, 0u);
}

TEST_F(ClientTest, RecordsDuringReplayComeAfterTheSpool) {
  server_.Stop();
  auto c = NewClient(Options(/*spool=*/true));
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  ASSERT_TRUE(WaitFor([&] { return c->stats().spooled == 200; }));
  ASSERT_TRUE(server_.Start());
  for (int i = 200; i < 400; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  auto stored = server_.stored();
  ASSERT_EQ(stored.size(), 400u);
  for (int i = 0; i < 400; ++i) ASSERT_EQ(stored[i], Id(i));
}

TEST_F(ClientTest, SpoolSurvivesClientRestart) {
  server_.Stop();
  {
    auto a = NewClient(Options(/*spool=*/true));
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(a->Record(MakeRecord(Id(i))).ok());
    EXPECT_TRUE(a->Close(milliseconds(100)).ok());  // nothing lost: all of it in the spool
    EXPECT_EQ(a->stats().spooled, 200u);
  }
  EXPECT_GE(SpoolFiles(), 1u);
  ASSERT_TRUE(server_.Start());
  auto b = NewClient(Options(/*spool=*/true));
  ASSERT_TRUE(b->Flush(milliseconds(10000)).ok());  // waits for the earlier Client's records
  auto stored = server_.stored();
  ASSERT_EQ(stored.size(), 200u);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(stored[i], Id(i));
  EXPECT_EQ(b->stats().replayed, 200u);
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(ClientTest, SpoolOfAKilledProducerIsReplayed) {
  server_.Stop();
  const pid_t pid = fork();
  if (pid == 0) {
    // The producer: records while the server is down, then dies without closing anything.
    auto c = Client::Create(Options(/*spool=*/true));
    if (!c.ok()) _exit(2);
    for (int i = 0; i < 500; ++i) {
      if (!(*c)->Record(MakeRecord(Id(i))).ok()) _exit(3);
    }
    for (int waited = 0; (*c)->stats().spooled < 500; ++waited) {
      if (waited > 10000) _exit(4);
      usleep(1000);
    }
    kill(getpid(), SIGKILL);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "producer exited with " << WEXITSTATUS(status);
  ASSERT_TRUE(server_.Start());
  auto c = NewClient(Options(/*spool=*/true));
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  auto stored = server_.stored();
  ASSERT_EQ(stored.size(), 500u);
  for (int i = 0; i < 500; ++i) ASSERT_EQ(stored[i], Id(i));
}

TEST_F(ClientTest, SecondClientOnTheSameSpoolIsRefused) {
  auto a = NewClient(Options(/*spool=*/true));
  auto b = Client::Create(Options(/*spool=*/true));
  EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition) << b.status();
}

TEST_F(ClientTest, TornSpoolTailIsSkippedOnReplay) {
  server_.Stop();
  {
    ClientOptions o = Options(/*spool=*/true);
    auto a = NewClient(o);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(a->Record(MakeRecord(Id(i))).ok());
    ASSERT_TRUE(a->Close(milliseconds(50)).ok());
  }
  // Tear the last record of the newest file, as a crash in the middle of a write would.
  std::filesystem::path last;
  for (auto& e : std::filesystem::directory_iterator(dir_ + "/spool")) {
    if (e.path().extension() == ".spool" && e.path() > last) last = e.path();
  }
  ASSERT_FALSE(last.empty());
  std::filesystem::resize_file(last, std::filesystem::file_size(last) - 7);
  ASSERT_TRUE(server_.Start());
  auto b = NewClient(Options(/*spool=*/true));
  ASSERT_TRUE(b->Flush(milliseconds(10000)).ok());
  EXPECT_EQ(server_.stored().size(), 99u);
  EXPECT_GT(b->stats().spool_skipped_bytes, 0u);
  EXPECT_NE(b->stats().last_error.find("torn or damaged tail"), std::string::npos)
      << b->stats().last_error;
  EXPECT_EQ(SpoolFiles(), 0u);
}

TEST_F(ClientTest, FullMemoryWithoutSpoolRefusesRecords) {
  server_.Stop();
  ClientOptions o = Options();
  o.max_memory_bytes = 64 << 10;
  auto c = NewClient(o);
  int ok = 0;
  Status s;
  for (int i = 0; i < 10000; ++i) {
    s = c->Record(MakeRecord(Id(i)));
    if (!s.ok()) break;
    ++ok;
  }
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s;
  EXPECT_GT(ok, 50);
  ClientStats st = c->stats();
  EXPECT_LE(st.queue_bytes, o.max_memory_bytes);
  EXPECT_EQ(st.refused, 1u);
  EXPECT_EQ(st.queue_records, static_cast<uint64_t>(ok));
  ASSERT_TRUE(server_.Start());
  ASSERT_TRUE(c->Flush(milliseconds(10000)).ok());
  EXPECT_EQ(server_.stored().size(), static_cast<size_t>(ok));
  EXPECT_TRUE(c->Record(MakeRecord("after")).ok());  // room again
}

TEST_F(ClientTest, MemoryPressureSpillsToTheSpool) {
  server_.SetDelayMs(50);
  ClientOptions o = Options(/*spool=*/true);
  o.max_memory_bytes = 64 << 10;
  o.max_batch_records = 50;
  auto c = NewClient(o);
  int refused = 0;
  for (int i = 0; i < 3000; ++i) {
    Status s;
    while (!(s = c->Record(MakeRecord(Id(i)))).ok()) {
      ASSERT_EQ(s.code(), StatusCode::kResourceExhausted);
      ++refused;
      std::this_thread::sleep_for(milliseconds(1));
    }
    ASSERT_LE(c->stats().queue_bytes, o.max_memory_bytes);
  }
  server_.SetDelayMs(0);
  ASSERT_TRUE(c->Flush(milliseconds(30000)).ok()) << c->stats().last_error;
  ClientStats s = c->stats();
  EXPECT_GT(s.spooled, 0u);
  EXPECT_EQ(s.acknowledged, 3000u);
  auto stored = server_.stored();
  ASSERT_EQ(stored.size(), 3000u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(stored[i], Id(i));
}

TEST_F(ClientTest, FlushTimesOutAndCloseReportsLossWithoutSpool) {
  server_.Stop();
  auto c = NewClient(Options());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  Status f = c->Flush(milliseconds(50));
  EXPECT_EQ(f.code(), StatusCode::kUnavailable);
  EXPECT_NE(f.message().find("10 records only in memory"), std::string::npos) << f;
  Status closed = c->Close(milliseconds(50));
  EXPECT_EQ(closed.code(), StatusCode::kUnavailable);
  EXPECT_NE(closed.message().find("10 records"), std::string::npos) << closed;
  EXPECT_EQ(c->Record(MakeRecord("late")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(c->Close(milliseconds(50)).code(), StatusCode::kUnavailable);  // same answer again
}

TEST_F(ClientTest, CloseAbandonsAStalledRequestAndSpoolsItsRecords) {
  server_.SetDelayMs(60000);
  ClientOptions o = Options(/*spool=*/true);
  auto c = NewClient(o);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c->Record(MakeRecord(Id(i))).ok());
  ASSERT_TRUE(WaitFor([&] { return c->stats().requests == 1; }));
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c->Close(milliseconds(100)).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_EQ(c->stats().spooled, 20u);
  server_.Stop();
  server_.SetDelayMs(0);
  ASSERT_TRUE(server_.Start());
  auto b = NewClient(o);
  ASSERT_TRUE(b->Flush(milliseconds(10000)).ok());
  EXPECT_EQ(server_.stored().size(), 20u);
}

TEST_F(ClientTest, ManyThreadsRecordEachRecordOnce) {
  ClientOptions o = Options(/*spool=*/true);
  auto c = NewClient(o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 2500; ++i) {
        UsageRecord r = MakeRecord("");
        while (c->Record(r).code() == StatusCode::kResourceExhausted) {
          std::this_thread::sleep_for(milliseconds(1));
        }
        (void)t;
      }
    });
  }
  // Take the server away and back while the threads record.
  std::this_thread::sleep_for(milliseconds(20));
  server_.Stop();
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(server_.Start());
  for (auto& t : threads) t.join();
  ASSERT_TRUE(c->Flush(milliseconds(20000)).ok()) << c->stats().last_error;
  auto stored = server_.stored();
  EXPECT_EQ(stored.size(), 10000u);
  EXPECT_EQ(std::set<std::string>(stored.begin(), stored.end()).size(), 10000u);
  ClientStats s = c->stats();
  EXPECT_EQ(s.recorded, 10000u);
  EXPECT_EQ(s.acknowledged + s.rejected, 10000u);
}

TEST_F(ClientTest, RecordRacingWithCloseIsEitherDeliveredOrRefused) {
  auto c = NewClient(Options());
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        Status s = c->Record(MakeRecord(""));
        if (s.code() == StatusCode::kFailedPrecondition) return;
        if (s.ok()) accepted.fetch_add(1);
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(30));
  std::thread other_close([&] { EXPECT_TRUE(c->Close(milliseconds(10000)).ok()); });
  EXPECT_TRUE(c->Close(milliseconds(10000)).ok());
  other_close.join();
  for (auto& t : threads) t.join();
  EXPECT_GT(accepted.load(), 0);
  EXPECT_EQ(server_.stored().size(), static_cast<size_t>(accepted.load()));
  EXPECT_EQ(c->Flush(milliseconds(10)).code(), StatusCode::kFailedPrecondition);
}

TEST_F(ClientTest, CreateRefusesBadOptions) {
  ClientOptions o = Options();
  o.url = "ftp://x";
  EXPECT_EQ(Client::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.max_batch_records = 0;
  EXPECT_EQ(Client::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.source = "has space";
  EXPECT_EQ(Client::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.url.clear();
  EXPECT_EQ(Client::Create(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tokenaudit::client
