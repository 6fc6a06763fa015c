// Service readiness: /readyz and the data endpoints answer 503 until the indexes are rebuilt from
// the log; once the log latched FAILED (a failed fdatasync), /readyz answers 503 and writes are
// refused, while /healthz keeps answering. Hermetic: the ledger and the key store run on a
// FaultInjectionEnv over memory.

#include "src/ingest/service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "src/auth/key_store.h"
#include "src/auth/pseudonymizer.h"
#include "src/env/fault_injection_env.h"
#include "src/ingest/cost_table.h"
#include "src/metrics/metrics.h"
#include "tokenaudit/env.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::ingest {
namespace {

constexpr char kRecord[] =
    R"({"id":"svc-1","source":"test/service","user":"alice","time":"2026-11-30T10:00:02Z",)"
    R"("status":"success","gen_ai.request.model":"ddcolor_paper_tiny","input.width":460,)"
    R"("input.height":680})";

class ServiceReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem_ = NewMemEnv();
    env_ = std::make_unique<env::FaultInjectionEnv>(mem_.get());
    LedgerOptions lo;
    lo.env = env_.get();
    lo.data_dir = "/data";
    lo.durability = Durability::kSync;
    lo.checkpoint_interval_ms = 3'600'000;  // no checkpoint sync between the test's own
    lo.checkpoint_every_records = 1'000'000;
    Service::RegisterLedgerMetrics(&registry_, &lo);
    auto ledger = Ledger::Open(lo);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = std::move(*ledger);
    auto keys = auth::KeyStore::Open(env_.get(), "/data");
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_ = std::move(*keys);
    auto pseudonymizer = auth::Pseudonymizer::Create(std::string(32, 'k'));
    ASSERT_TRUE(pseudonymizer.ok()) << pseudonymizer.status();
    pseudonymizer_ = std::move(*pseudonymizer);
    auto admin = keys_->Create(auth::Role::kAdmin, "ops-admin", "", nullptr);
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *admin;
    auto ingest = keys_->Create(auth::Role::kIngest, "ci-ingest", "", nullptr);
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ingest_ = *ingest;
    service_ = std::make_unique<Service>(ledger_.get(), keys_.get(), pseudonymizer_.get(),
                                         &pricing_, &registry_, ServiceOptions{});
  }

  // Runs one request through the service and waits for its answer (which may come from the
  // ledger's thread).
  http::HttpResponse Call(const std::string& method, const std::string& path,
                          const std::string& key = "", const std::string& body = "") {
    http::HttpRequest req;
    req.method = method;
    req.path = path;
    req.target = path;
    req.body = body;
    if (!key.empty()) req.headers.emplace_back("authorization", "Bearer " + key);
    if (!body.empty()) req.headers.emplace_back("content-type", "application/json");
    auto done = std::make_shared<std::promise<http::HttpResponse>>();
    std::future<http::HttpResponse> answer = done->get_future();
    service_->Handle(std::move(req),
                     [done](http::HttpResponse r) { done->set_value(std::move(r)); });
    if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      ADD_FAILURE() << method << " " << path << ": no answer within 10 s";
      http::HttpResponse none;
      none.status = 0;
      return none;
    }
    return answer.get();
  }

  std::unique_ptr<Env> mem_;
  std::unique_ptr<env::FaultInjectionEnv> env_;
  metrics::Registry registry_;
  CostTable pricing_ = CostTable::Default();
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<auth::KeyStore> keys_;
  std::unique_ptr<auth::Pseudonymizer> pseudonymizer_;
  std::unique_ptr<Service> service_;
  std::string admin_, ingest_;
};

TEST_F(ServiceReadinessTest, NotReadyUntilRebuiltThenNotReadyOnceTheLogFailed) {
  // Before Rebuild: alive, not ready; data endpoints ask the client to retry.
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  http::HttpResponse r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("rebuilding"), std::string::npos) << r.body;
  r = Call("POST", "/v1/events", ingest_, kRecord);
  EXPECT_EQ(r.status, 503) << r.body;
  bool retry_after = false;
  for (const auto& [name, value] : r.headers) retry_after |= name == "Retry-After";
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(Call("GET", "/v1/events", admin_).status, 503);
  EXPECT_EQ(ledger_->Size(), 0u);  // nothing was appended while not ready

  ASSERT_TRUE(service_->Rebuild(nullptr).ok());
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  r = Call("POST", "/v1/events", ingest_, kRecord);
  ASSERT_EQ(r.status, 200) << r.body;

  // The next fdatasync fails: that record is not acknowledged, and the log latches FAILED.
  env_->FailNthSync(1, env::FaultKind::kEIO);
  std::string second = kRecord;
  second.replace(second.find("svc-1"), 5, "svc-2");
  r = Call("POST", "/v1/events", ingest_, second);
  EXPECT_EQ(r.status, 503) << r.body;
  r = Call("GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("FAILED"), std::string::npos) << r.body;
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  r = Call("GET", "/metrics", admin_);
  EXPECT_NE(r.body.find("\ntokenaudit_ledger_failed 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\ntokenaudit_ingested_records_total 1\n"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace tokenaudit::ingest
