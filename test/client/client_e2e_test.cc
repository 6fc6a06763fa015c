// End-to-end: the C++ client library against the real `tokenaudit serve`, which is killed with
// SIGKILL and restarted several times while several threads record. Every record must be stored
// exactly once: none lost, none duplicated.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test/serve/serve_test_util.h"
#include "tokenaudit/client.h"

namespace tokenaudit::testing {
namespace {

using std::chrono::milliseconds;

// A port that was free a moment ago, so the server can come back on the same address.
uint16_t PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Every value of string member `key` in `json` (canonical records: flat objects, keys sorted,
// every '"' inside a value escaped, so `"key":"` only matches a real member).
std::vector<std::string> Values(const std::string& json, const std::string& key) {
  std::vector<std::string> out;
  const std::string pat = "\"" + key + "\":\"";
  for (size_t p = json.find(pat); p != std::string::npos; p = json.find(pat, p + 1)) {
    const char before = p > 0 ? json[p - 1] : ' ';
    if (before != ',' && before != '{') continue;
    const size_t start = p + pat.size();
    out.push_back(json.substr(start, json.find('"', start) - start));
  }
  return out;
}

class ClientE2eTest : public ServeTest {
 protected:
  void StartOn(uint16_t port) {
    ASSERT_TRUE(server_->Start(
        {"--data-dir", data_, "--listen", "127.0.0.1:" + std::to_string(port)}, {kPseudonymKeyEnv}))
        << server_->AllOutput();
    ASSERT_EQ(server_->port(), port);
    client_ = std::make_unique<HttpClient>(port);
  }
};

TEST_F(ClientE2eTest, ServerKilledAndRestartedWhileRecordingLosesAndDuplicatesNothing) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25000;
  constexpr int kTotal = kThreads * kPerThread;
  constexpr int kKills = 4;
  // Recording is paced over this long, so the kills land in the middle of it.
  constexpr auto kRecordFor = std::chrono::seconds(8);

  const uint16_t port = PickFreePort();
  StartOn(port);

  ClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port);
  o.api_key = ingest_;
  o.source = "e2e/client";
  o.spool_dir = dir_ + "/spool";
  o.flush_interval_ms = 50;
  o.initial_backoff_ms = 20;
  o.max_backoff_ms = 250;
  o.connect_timeout_ms = 1000;
  o.request_timeout_ms = 5000;
  std::mutex rejected_mu;
  std::vector<std::string> rejected;
  o.on_rejected = [&](const RejectedRecord& r) {
    std::lock_guard<std::mutex> l(rejected_mu);
    rejected.push_back(r.code + " " + r.field + ": " + r.message);
  };
  auto created = Client::Create(o);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<Client> client = std::move(*created);

  const unsigned seed = std::random_device{}();
  std::cout << "kill schedule seed " << seed << std::endl;
  std::atomic<uint64_t> full{0};
  std::vector<std::thread> producers;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 64 == 0) {
          std::this_thread::sleep_until(start +
                                        std::chrono::microseconds(kRecordFor) * i / kPerThread);
        }
        UsageRecord r;  // no id: the client gives one
        r.user = "user-" + std::to_string(i % 7);
        r.node_id = "t" + std::to_string(t) + "-" + std::to_string(i);  // what the test tracks
        r.task_type = "image_colorization";
        r.model = "ddcolor_paper_tiny";
        r.input_width = 460;
        r.input_height = 680;
        r.status = "success";
        Status s;
        while ((s = client->Record(r)).code() == StatusCode::kResourceExhausted) {
          full.fetch_add(1);
          std::this_thread::sleep_for(milliseconds(1));
        }
        ASSERT_TRUE(s.ok()) << s;
      }
    });
  }

  // SIGKILL the server at random moments while the producers record, and bring it back on the
  // same port after a random outage.
  std::mt19937 rng(seed);
  std::vector<std::string> schedule;
  for (int k = 0; k < kKills; ++k) {
    std::this_thread::sleep_for(milliseconds(600 + rng() % 1200));
    const auto at =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start);
    const uint64_t acked = client->stats().acknowledged;
    server_->Kill();
    const int down_ms = 50 + static_cast<int>(rng() % 700);
    std::this_thread::sleep_for(milliseconds(down_ms));
    StartOn(port);
    schedule.push_back("kill at " + std::to_string(at.count()) + " ms (" + std::to_string(acked) +
                       " acknowledged), down " + std::to_string(down_ms) + " ms");
  }
  for (auto& p : producers) p.join();
  for (const auto& s : schedule) std::cout << s << std::endl;

  Status flushed = client->Flush(std::chrono::seconds(60));
  ClientStats st = client->stats();
  ASSERT_TRUE(flushed.ok()) << flushed << "; last error: " << st.last_error;
  std::cout << "client: recorded " << st.recorded << ", acknowledged " << st.acknowledged
            << " (duplicates " << st.duplicates << "), rejected " << st.rejected << ", spooled "
            << st.spooled << ", replayed " << st.replayed << ", requests " << st.requests
            << " (failed " << st.failed_requests << "), records resent " << st.retries
            << ", Record() found the queue full " << full.load() << " times" << std::endl;
  {
    std::lock_guard<std::mutex> l(rejected_mu);
    EXPECT_TRUE(rejected.empty()) << rejected.size() << " rejected, first: " << rejected[0];
  }
  EXPECT_EQ(st.recorded, static_cast<uint64_t>(kTotal));
  EXPECT_EQ(st.acknowledged, static_cast<uint64_t>(kTotal));
  EXPECT_EQ(st.rejected, 0u);
  EXPECT_EQ(st.queue_records, 0u);
  EXPECT_EQ(st.queue_bytes, 0u);
  EXPECT_EQ(st.spool_files, 0u);
  EXPECT_GT(st.failed_requests + st.spooled, 0u);  // the kills were noticed
  ASSERT_TRUE(client->Close(milliseconds(5000)).ok());

  // Read everything back as the admin, page by page.
  std::map<std::string, int> by_node;
  std::set<std::string> ids;
  size_t events = 0;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    HttpResult r =
        Get(admin_, "/v1/events?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    const std::vector<std::string> nodes = Values(r.body, "node_id");
    const std::vector<std::string> page_ids = Values(r.body, "id");
    ASSERT_EQ(nodes.size(), page_ids.size());
    events += nodes.size();
    for (const auto& n : nodes) ++by_node[n];
    ids.insert(page_ids.begin(), page_ids.end());
    const size_t c = r.body.find("\"next_cursor\":\"");
    if (c == std::string::npos) {
      ASSERT_NE(r.body.find("\"next_cursor\":null"), std::string::npos) << r.body.substr(0, 200);
      break;
    }
    cursor = r.body.substr(c + 15, r.body.find('"', c + 15) - c - 15);
  }
  EXPECT_EQ(events, static_cast<size_t>(kTotal)) << "records stored";
  EXPECT_EQ(ids.size(), static_cast<size_t>(kTotal)) << "distinct ids";
  int missing = 0, doubled = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      auto it = by_node.find("t" + std::to_string(t) + "-" + std::to_string(i));
      if (it == by_node.end()) {
        ++missing;
      } else if (it->second != 1) {
        ++doubled;
      }
    }
  }
  EXPECT_EQ(missing, 0) << "records lost";
  EXPECT_EQ(doubled, 0) << "records stored twice";
  EXPECT_EQ(by_node.size(), static_cast<size_t>(kTotal));

  // The ledger the kills left behind verifies.
  ASSERT_EQ(server_->Stop(), 0);
  CommandResult v = RunCommand({TOKENAUDIT_BIN, "verify", "-q", data_}, {}, dir_);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// A producer that crashed after its records were acknowledged but before it deleted its spool
// files sends them again: the server answers every one as a duplicate and stores nothing new.
TEST_F(ClientE2eTest, ReplayingAnAcknowledgedSpoolStoresNothingTwice) {
  constexpr int kRecords = 5000;
  const uint16_t port = PickFreePort();
  ClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(port);
  o.api_key = ingest_;
  o.source = "e2e/client";
  o.spool_dir = dir_ + "/spool";
  o.flush_interval_ms = 20;
  o.initial_backoff_ms = 20;
  o.max_backoff_ms = 100;
  auto first = Client::Create(o);
  ASSERT_TRUE(first.ok()) << first.status();
  // No server yet: everything goes to the spool.
  for (int i = 0; i < kRecords; ++i) {
    UsageRecord r;
    r.node_id = "n-" + std::to_string(i);
    r.status = "success";
    ASSERT_TRUE((*first)->Record(std::move(r)).ok());
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((*first)->stats().spooled < kRecords && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ((*first)->stats().spooled, static_cast<uint64_t>(kRecords));
  // What a crash right after the acknowledgement would leave behind.
  std::filesystem::copy(dir_ + "/spool", dir_ + "/spool-copy");
  std::filesystem::remove(dir_ + "/spool-copy/LOCK");

  StartOn(port);
  ASSERT_TRUE((*first)->Flush(std::chrono::seconds(30)).ok()) << (*first)->stats().last_error;
  EXPECT_EQ((*first)->stats().acknowledged, static_cast<uint64_t>(kRecords));
  EXPECT_EQ((*first)->stats().duplicates, 0u);
  ASSERT_TRUE((*first)->Close(milliseconds(1000)).ok());

  o.spool_dir = dir_ + "/spool-copy";
  auto second = Client::Create(o);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_TRUE((*second)->Flush(std::chrono::seconds(30)).ok()) << (*second)->stats().last_error;
  ClientStats st = (*second)->stats();
  EXPECT_EQ(st.replayed, static_cast<uint64_t>(kRecords));
  EXPECT_EQ(st.acknowledged, static_cast<uint64_t>(kRecords));
  EXPECT_EQ(st.duplicates, static_cast<uint64_t>(kRecords));

  size_t events = 0;
  std::string cursor;
  for (int page = 0; page < 100; ++page) {
    HttpResult r =
        Get(admin_, "/v1/events?limit=1000" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    events += Values(r.body, "node_id").size();
    const size_t c = r.body.find("\"next_cursor\":\"");
    if (c == std::string::npos) break;
    cursor = r.body.substr(c + 15, r.body.find('"', c + 15) - c - 15);
  }
  EXPECT_EQ(events, static_cast<size_t>(kRecords));
}

}  // namespace
}  // namespace tokenaudit::testing
