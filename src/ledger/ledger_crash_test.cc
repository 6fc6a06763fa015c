// Power-loss simulation: concurrent producers append while the FaultInjectionEnv "crashes" at a
// seeded point; then unsynced data is dropped (or the last write torn at 512 B / 4 KiB) and the
// ledger is reopened. Every acknowledged record must be there, at its seq; nothing corrupt may be
// returned; the recovered log must be a prefix of what was written before the crash.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "src/env/fault_injection_env.h"
#include "src/ledger/ledger_test_util.h"
#include "src/ledger/verifier.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::ledger {
namespace {

using testing::ReadLog;
using testing::StoredRecord;
using testing::TestRecord;
using env::FaultInjectionEnv;
using env::FaultKind;
using env::TearMode;

constexpr int kProducers = 4;
constexpr int kPerProducer = 24;

struct Outcome {
  bool reopened = false;
  std::string reopen_error;
  uint64_t acked = 0;
  uint64_t lost = 0;       // acknowledged but missing or different after recovery
  uint64_t not_prefix = 0; // recovered usage records that differ from the pre-crash log
  uint64_t foreign = 0;    // recovered usage records never submitted
};

LedgerOptions CrashOptions(Env* env, bool skip_sync) {
  LedgerOptions o;
  o.env = env;
  o.data_dir = "/data";
  o.segment_bytes = 8 << 10;          // rolls every ~25 records
  o.checkpoint_every_records = 40;    // checkpoints mid-run
  o.checkpoint_interval_ms = 3600 * 1000;
  o.unsafe_skip_sync_for_testing = skip_sync;
  return o;
}

// Appends from kProducers threads until each is done or refused; returns acked seq -> payload.
std::map<uint64_t, std::string> RunProducers(Ledger* ledger, uint64_t seed) {
  std::mutex mu;
  std::map<uint64_t, std::string> acked;
  std::vector<std::thread> threads;
  for (int t = 0; t < kProducers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + t);
      int n = 0;
      while (n < kPerProducer) {
        int batch = (rng() % 3 == 0) ? 3 : 1;
        std::vector<std::string> recs;
        for (int i = 0; i < batch && n < kPerProducer; ++i) recs.push_back(TestRecord(t, n++));
        std::vector<std::string_view> views(recs.begin(), recs.end());
        auto first = ledger->AppendBatch(views);
        if (!first.ok()) return;
        std::lock_guard<std::mutex> l(mu);
        for (size_t i = 0; i < recs.size(); ++i) acked[*first + i] = recs[i];
      }
    });
  }
  for (auto& th : threads) th.join();
  return acked;
}

uint64_t CountOps(bool skip_sync) {
  auto mem = NewMemEnv();
  FaultInjectionEnv env(mem.get());
  auto ledger = Ledger::Open(CrashOptions(&env, skip_sync));
  EXPECT_TRUE(ledger.ok());
  uint64_t before = env.mutating_ops();
  RunProducers(ledger->get(), 0);
  EXPECT_TRUE((*ledger)->Close().ok());
  return env.mutating_ops() - before;
}

Outcome RunCrashPoint(uint64_t seed, uint64_t total_ops, bool skip_sync) {
  Outcome out;
  std::mt19937_64 rng(seed);
  auto mem = NewMemEnv();
  FaultInjectionEnv env(mem.get());
  const LedgerOptions options = CrashOptions(&env, skip_sync);
  std::map<uint64_t, std::string> acked;
  std::set<std::string> submitted;
  for (int t = 0; t < kProducers; ++t) {
    for (int n = 0; n < kPerProducer; ++n) submitted.insert(TestRecord(t, n));
  }
  {
    auto ledger = Ledger::Open(options);
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    if (!ledger.ok()) return out;
    env.CrashAfterOps(rng() % (total_ops + 1));
    acked = RunProducers(ledger->get(), seed);
    (*ledger)->Close().IgnoreError();  // fails after the crash: expected
  }
  out.acked = acked.size();
  // What the process had written before it died, synced or not.
  std::map<uint64_t, StoredRecord> before;
  ReadLog(&env, "/data", &before).IgnoreError();  // may stop at a torn frame: that is fine

  static constexpr TearMode kModes[] = {TearMode::kDropUnsynced, TearMode::kTear512,
                                        TearMode::kTear4K};
  env.SimulatePowerLoss(kModes[seed % 3], seed);
  if (seed % 4 == 1) {
    // A second crash during recovery itself, then power loss again.
    env.CrashAfterOps(rng() % 12);
    auto again = Ledger::Open(options);
    if (again.ok()) (*again)->Close().IgnoreError();
    env.SimulatePowerLoss(kModes[(seed / 3) % 3], seed + 1);
  }
  auto ledger = Ledger::Open(options);
  if (!ledger.ok()) {
    out.reopen_error = ledger.status().ToString();
    out.lost = acked.size();
    return out;
  }
  out.reopened = true;
  EXPECT_TRUE((*ledger)->Close().ok());
  std::map<uint64_t, StoredRecord> after;
  Status s = ReadLog(&env, "/data", &after);
  EXPECT_TRUE(s.ok()) << s;
  VerifyReport report;
  Status v = VerifyDataDir(&env, "/data", VerifyOptions(), &report);
  EXPECT_TRUE(v.ok()) << "seed " << seed << ": " << v;

  for (const auto& [seq, payload] : acked) {
    auto it = after.find(seq);
    if (it == after.end() || it->second.payload != payload) ++out.lost;
  }
  for (const auto& [seq, rec] : after) {
    if (rec.type != RecordType::kUsage) continue;
    if (!submitted.count(rec.payload)) ++out.foreign;
    auto it = before.find(seq);
    if (it != before.end() && it->second.payload != rec.payload) ++out.not_prefix;
  }
  return out;
}

TEST(LedgerCrashTest, AcknowledgedRecordsSurvivePowerLossAtThousandCrashPoints) {
  const uint64_t total_ops = CountOps(false);
  ASSERT_GT(total_ops, 50u);
  constexpr uint64_t kPoints = 1200;
  uint64_t acked = 0, reopen_failures = 0, crashes_mid_run = 0;
  for (uint64_t seed = 1; seed <= kPoints; ++seed) {
    Outcome o = RunCrashPoint(seed, total_ops, false);
    acked += o.acked;
    crashes_mid_run += o.acked < kProducers * kPerProducer;
    if (!o.reopened) {
      ++reopen_failures;
      ADD_FAILURE() << "seed " << seed << ": reopen failed: " << o.reopen_error;
      continue;
    }
    EXPECT_EQ(o.lost, 0u) << "seed " << seed;
    EXPECT_EQ(o.foreign, 0u) << "seed " << seed;
    EXPECT_EQ(o.not_prefix, 0u) << "seed " << seed;
    if (HasFailure()) break;
  }
  EXPECT_EQ(reopen_failures, 0u);
  EXPECT_GT(crashes_mid_run, kPoints / 2) << "crash points should mostly land mid-run";
  std::printf("crash points: %llu, acknowledged records checked: %llu, ops per run: %llu\n",
              static_cast<unsigned long long>(kPoints), static_cast<unsigned long long>(acked),
              static_cast<unsigned long long>(total_ops));
}

TEST(LedgerCrashTest, NegativeControlWithoutFdatasyncDetectsLoss) {
  // The same harness with fdatasync skipped must notice: acknowledged records vanish, or the
  // checkpoints (whose files are synced) no longer match the recovered log.
  const uint64_t total_ops = CountOps(true);
  uint64_t detected = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Outcome o = RunCrashPoint(seed, total_ops, true);
    if (!o.reopened || o.lost > 0) ++detected;
  }
  EXPECT_GT(detected, 20u) << "the crash test cannot tell a ledger that never syncs";
  std::printf("negative control: loss detected at %llu of 200 crash points\n",
              static_cast<unsigned long long>(detected));
}

}  // namespace
}  // namespace tokenaudit::ledger
