// Review of background merging (part_merge.cc, UsageStore::MergeLoop/Open): a crash or a failed
// write at every step of a merge leaves a store that, reopened and rebuilt from the log, counts
// every record exactly once; merges of parts loaded from files keep the sorted layout; paging
// events over a merged part. The stores of the tests use no time partitions (their records, one
// a second, cross midnight UTC inside a chunk; part_partition_test.cc covers partitions).

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>

#include "src/env/fault_injection_env.h"
#include "src/query/usage_findings.h"
#include "src/query/usage_query.h"
#include "src/query/store_test_util.h"
#include "src/query/usage_store.h"

namespace tokenaudit::query {
namespace {

constexpr int64_t kT0 = 1'796'083'200'000'000;

UsageRecord Rec(int i) {
  UsageRecord r;
  r.tenant = "t" + std::to_string(i % 3);
  r.user = "u_" + std::to_string((static_cast<int64_t>(i) * 7919) % 389);
  r.model = "model-" + std::to_string(i % 5);
  r.status = i % 11 == 0 ? "error" : "success";
  r.time_us = kT0 + static_cast<int64_t>(i) * 1'000'000;
  r.duration_ms = 100 + i % 1000;
  r.estimated_tokens_milli = 1000 + i % 977;
  r.cost_micros = i % 100;
  return r;
}

// Adds records [0, n) whose seq `loaded` does not mark (a rebuild from the log).
void AddRecords(UsageStore* store, int n, const std::vector<bool>& loaded) {
  std::vector<Row> rows;
  for (int i = 0; i < n; ++i) {
    if (static_cast<size_t>(i) < loaded.size() && loaded[i]) continue;
    rows.push_back(store->MakeRow(Rec(i), i));
  }
  store->Add(rows);
}

// Count and sums by model and status, and one user's count: as text.
std::string Answers(const UsageStore& store) {
  std::string out;
  UsageQuery q;
  q.group_by = {Dim::kModel, Dim::kStatus};
  q.measures = {Measure::kCount, Measure::kTokens, Measure::kCost};
  auto a = RunUsageQuery(store, q);
  EXPECT_TRUE(a.ok()) << a.status();
  if (!a.ok()) return "";
  for (const GroupRow& g : a->groups) {
    for (const std::string& k : g.keys) out += k + "/";
    out += std::to_string(g.count) + "," + std::to_string(g.tokens_milli) + "," +
           std::to_string(g.cost_micros) + ";";
  }
  UsageQuery u;
  u.filters = {{Dim::kUser, {"u_17"}}};
  u.measures = {Measure::kCount};
  auto b = RunUsageQuery(store, u);
  EXPECT_TRUE(b.ok()) << b.status();
  if (b.ok() && !b->groups.empty()) out += "|u_17:" + std::to_string(b->groups[0].count);
  return out;
}

std::vector<std::string> Files(Env* env, const std::string& dir) {
  auto names = env->GetChildren(dir);
  EXPECT_TRUE(names.ok());
  std::sort(names->begin(), names->end());
  return *names;
}

// Two chunk files of records [0, 131072) and a tail of 1,000, written without merging.
constexpr int kRecords = 2 * 65'536 + 1'000;
struct Fixture {
  std::map<std::string, std::string> files;
  std::string expected;
};
const Fixture& TwoChunks() {
  static const Fixture* f = [] {
    auto* out = new Fixture;
    auto env = NewMemEnv();
    UsageStore store(MergePolicy{.enabled = false, .partition_us = 0});
    std::vector<bool> loaded;
    size_t discarded = 0;
    EXPECT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
    AddRecords(&store, kRecords, {});
    store.WaitSealed();
    out->expected = Answers(store);
    for (const std::string& name : Files(env.get(), "/cols")) {
      auto data = ReadFileToString(env.get(), "/cols/" + name);
      EXPECT_TRUE(data.ok());
      out->files[name] = *data;
    }
    EXPECT_EQ(out->files.size(), 2u);
    return out;
  }();
  return *f;
}

std::unique_ptr<Env> EnvWithChunks() {
  auto base = NewMemEnv();
  EXPECT_TRUE(base->CreateDir("/cols").ok());
  for (const auto& [name, data] : TwoChunks().files) {
    EXPECT_TRUE(WriteFileAtomic(base.get(), "/cols/" + name, data).ok());
  }
  return base;
}

// Restart after whatever the merge left: every record counted once, answers unchanged.
void ExpectRebuildExact(Env* env, const std::string& what) {
  SCOPED_TRACE(what);
  UsageStore store(MergePolicy{.enabled = false, .partition_us = 0});
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env, "/cols", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 0u);
  AddRecords(&store, kRecords, loaded);
  EXPECT_EQ(store.rows(), static_cast<uint64_t>(kRecords));
  ExpectEachSeqOnce(store, kRecords);
  EXPECT_EQ(Answers(store), TwoChunks().expected);
  for (const std::string& name : Files(env, "/cols")) {
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
  }
}

TEST(MergeReviewTest, PowerLossAtEveryStepOfAMergeCountsEveryRecordOnce) {
  // Count the mutating operations of one whole merge first.
  uint64_t ops = 0;
  {
    auto base = EnvWithChunks();
    env::FaultInjectionEnv fenv(base.get());
    const uint64_t before = fenv.mutating_ops();
    {
      UsageStore store(
          MergePolicy{.enabled = true, .fan_in = 2, .max_level = 1, .partition_us = 0});
      std::vector<bool> loaded;
      size_t discarded = 0;
      ASSERT_TRUE(store.Open(&fenv, "/cols", &loaded, &discarded).ok());
      store.WaitMerged();
      ASSERT_EQ(store.GetStats().merges, 1u);
    }
    ops = fenv.mutating_ops() - before;
  }
  ASSERT_GT(ops, 5u);
  std::printf("one merge: %llu mutating operations\n", static_cast<unsigned long long>(ops));
  for (uint64_t n = 0; n <= ops; ++n) {
    for (env::TearMode mode : {env::TearMode::kDropUnsynced, env::TearMode::kTear4K}) {
      auto base = EnvWithChunks();
      env::FaultInjectionEnv fenv(base.get());
      fenv.CrashAfterOps(n);
      {
        UsageStore store(
            MergePolicy{.enabled = true, .fan_in = 2, .max_level = 1, .partition_us = 0});
        std::vector<bool> loaded;
        size_t discarded = 0;
        if (store.Open(&fenv, "/cols", &loaded, &discarded).ok()) {
          AddRecords(&store, kRecords, loaded);
          store.WaitMerged();
          // Before the power goes: the running store itself answers exactly.
          EXPECT_EQ(store.rows(), static_cast<uint64_t>(kRecords));
          EXPECT_EQ(Answers(store), TwoChunks().expected) << "crash after " << n;
        }
      }
      fenv.SimulatePowerLoss(mode, n);
      ExpectRebuildExact(&fenv, "power loss after op " + std::to_string(n) + " of " +
                                    std::to_string(ops));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(MergeReviewTest, FailedWriteOrSyncOfAMergeLeavesInputsAndIsCounted) {
  for (int kind = 0; kind < 2; ++kind) {
    uint64_t failures = 0;
    for (uint64_t n = 1;; ++n) {
      SCOPED_TRACE((kind == 0 ? "write " : "sync ") + std::to_string(n));
      auto base = EnvWithChunks();
      env::FaultInjectionEnv fenv(base.get());
      if (kind == 0) {
        fenv.FailNthWrite(n, env::FaultKind::kENOSPC);
      } else {
        fenv.FailNthSync(n, env::FaultKind::kENOSPC);
      }
      bool failed = false;
      {
        UsageStore store(
            MergePolicy{.enabled = true, .fan_in = 2, .max_level = 1, .partition_us = 0});
        std::vector<bool> loaded;
        size_t discarded = 0;
        ASSERT_TRUE(store.Open(&fenv, "/cols", &loaded, &discarded).ok());
        AddRecords(&store, kRecords, loaded);
        store.WaitMerged();
        const UsageStore::Stats st = store.GetStats();
        failed = st.merge_failures > 0;
        EXPECT_EQ(st.merges + st.merge_failures, 1u);
        // The error is there for the operator to see.
        EXPECT_EQ(failed, st.last_error.find("ENOSPC") != std::string::npos) << st.last_error;
        EXPECT_EQ(store.rows(), static_cast<uint64_t>(kRecords));
        ExpectEachSeqOnce(store, kRecords);
        EXPECT_EQ(Answers(store), TwoChunks().expected);
        if (failed) {
          // The inputs, and nothing else.
          std::vector<std::string> want;
          for (const auto& [name, data] : TwoChunks().files) want.push_back(name);
          EXPECT_EQ(Files(&fenv, "/cols"), want);
        }
      }
      ExpectRebuildExact(&fenv, "after the failed merge");
      if (HasFatalFailure() || !failed) break;
      ++failures;
    }
    // Every write (or sync) of the merge was failed once.
    EXPECT_GE(failures, kind == 0 ? 5u : 1u);
  }
}

// Forwards to `base`, except that opening `fail_path` for reading fails as when the process has
// no file descriptor left (EMFILE): an error of the environment, not damage to the file.
class NoDescriptorsEnv : public Env {
 public:
  NoDescriptorsEnv(Env* base, std::string fail_path) : base_(base), fail_(std::move(fail_path)) {}
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    return base_->NewWritableFile(p);
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& p) override {
    return base_->NewAppendableFile(p);
  }
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& p) override {
    return base_->NewSequentialFile(p);
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& p) override {
    if (p == fail_) return Status::IOError(p + ": EMFILE: Too many open files");
    return base_->NewRandomAccessFile(p);
  }
  bool FileExists(const std::string& p) override { return base_->FileExists(p); }
  Result<std::vector<std::string>> GetChildren(const std::string& d) override {
    return base_->GetChildren(d);
  }
  Result<uint64_t> GetFileSize(const std::string& p) override { return base_->GetFileSize(p); }
  Status RemoveFile(const std::string& p) override { return base_->RemoveFile(p); }
  Status CreateDir(const std::string& d) override { return base_->CreateDir(d); }
  Status RenameFile(const std::string& a, const std::string& b) override {
    return base_->RenameFile(a, b);
  }
  Status TruncateFile(const std::string& p, uint64_t n) override {
    return base_->TruncateFile(p, n);
  }
  Status SyncDir(const std::string& d) override { return base_->SyncDir(d); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& p) override {
    return base_->LockFile(p);
  }
  uint64_t NowMicros() override { return base_->NowMicros(); }
  uint64_t NowUnixMicros() override { return base_->NowUnixMicros(); }
  void SleepForMicros(uint64_t us) override { base_->SleepForMicros(us); }

 private:
  Env* base_;  // not owned; outlives this Env
  std::string fail_;
};

// A file that cannot be opened at startup for a reason other than damage (no descriptor left:
// every part now keeps its file open) is not deleted: its rows come from the log this time, and
// a later start loads it again. Only a damaged file is removed.
TEST(MergeReviewTest, FileThatCannotBeOpenedForLackOfDescriptorsIsKept) {
  auto base = EnvWithChunks();
  const std::string victim = "/cols/" + TwoChunks().files.begin()->first;
  {
    NoDescriptorsEnv env(base.get(), victim);
    UsageStore store(MergePolicy{.enabled = false, .partition_us = 0});
    std::vector<bool> loaded;
    size_t discarded = 0;
    ASSERT_TRUE(store.Open(&env, "/cols", &loaded, &discarded).ok());
    EXPECT_EQ(discarded, 1u);  // its rows come from the log
    EXPECT_TRUE(base->FileExists(victim)) << "a file that could not be opened was deleted";
    AddRecords(&store, kRecords, loaded);
    EXPECT_EQ(store.rows(), static_cast<uint64_t>(kRecords));
    ExpectEachSeqOnce(store, kRecords);
    EXPECT_EQ(Answers(store), TwoChunks().expected);
  }
  ExpectRebuildExact(base.get(), "after a start that could not open a file");
}

// Files of records with the given seqs (record i has seq i), merged with fan-in 2 into one part
// when `merge` (two chunks' worth of seqs).
std::map<std::string, std::string> FilesOf(const std::vector<int>& seqs, bool merge) {
  auto env = NewMemEnv();
  {
    UsageStore store(MergePolicy{.enabled = merge, .fan_in = 2, .max_level = 1, .partition_us = 0});
    std::vector<bool> loaded;
    size_t discarded = 0;
    EXPECT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
    std::vector<Row> rows;
    for (int i : seqs) rows.push_back(store.MakeRow(Rec(i), i));
    rows.push_back(store.MakeRow(Rec(seqs.back()), seqs.back()));  // seals the last chunk
    store.Add(rows);
    store.WaitMerged();
  }
  std::map<std::string, std::string> out;
  for (const std::string& name : Files(env.get(), "/cols")) {
    out[name] = *ReadFileToString(env.get(), "/cols/" + name);
  }
  return out;
}

std::vector<int> Range(int lo, int hi) {
  std::vector<int> v;
  for (int i = lo; i < hi; ++i) v.push_back(i);
  return v;
}

// Files that overlap in part (not one inside another), and a part whose seqs have a gap (its
// range covers a chunk's): at startup each seq is loaded once, and the log supplies the rest.
TEST(MergeReviewTest, PartlyOverlappingAndGappedPartsLoadEachRecordOnce) {
  constexpr int kC = 65'536, kN = 5 * kC;
  std::map<std::string, std::string> all;
  auto add = [&](const std::map<std::string, std::string>& files) {
    for (const auto& [name, data] : files) {
      all["x" + std::to_string(all.size()) + "-" + name] = data;
    }
  };
  add(FilesOf(Range(0, 2 * kC), true));                  // part of seqs [0, 2C)
  add(FilesOf(Range(kC, 3 * kC), true));                 // part of [C, 3C): overlaps half
  std::vector<int> gapped = Range(3 * kC / 2, 5 * kC / 2);
  for (int i : Range(4 * kC, 5 * kC)) gapped.push_back(i);
  gapped.erase(gapped.begin() + kC, gapped.begin() + kC);  // two chunks' worth
  gapped.resize(2 * kC);
  add(FilesOf(gapped, true));                            // [1.5C, 2.5C) + [4C, 5C)
  add(FilesOf(Range(3 * kC, 4 * kC), false));            // a chunk inside the gap
  auto env = NewMemEnv();
  ASSERT_TRUE(env->CreateDir("/cols").ok());
  for (const auto& [name, data] : all) {
    ASSERT_TRUE(WriteFileAtomic(env.get(), "/cols/" + name, data).ok());
  }
  UsageStore store(MergePolicy{.enabled = true, .fan_in = 2, .max_level = 2, .partition_us = 0});
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env.get(), "/cols", &loaded, &discarded).ok());
  EXPECT_EQ(discarded, 0u);
  AddRecords(&store, kN, loaded);
  store.WaitMerged();
  EXPECT_EQ(store.rows(), static_cast<uint64_t>(kN));
  ExpectEachSeqOnce(store, kN);
  UsageStore truth(MergePolicy{.enabled = false, .partition_us = 0});
  AddRecords(&truth, kN, {});
  EXPECT_EQ(Answers(store), Answers(truth));
}

// A merge's inputs are "sorted by (tenant, user, time, model) in this process's codes"
// (chunk.h). Chunks written by an earlier process are sorted in its codes; when this process
// interned their strings in another order (files are opened in directory order, each interning
// its code range), the merged part is not sorted and a user's rows spread over its granules.
TEST(MergeReviewTest, MergeOfPartsLoadedWithRemappedCodesFindsEveryUsersRows) {
  auto env = NewMemEnv();
  constexpr int kChunks = 4;
  constexpr int kN = kChunks * 65'536 + 1;  // the last row makes chunk 4 full
  // Users come and go: chunk k's users are u<k*100> .. u<k*100+199>, so each file's user code
  // range starts higher than the one before.
  auto rec = [](int i) {
    UsageRecord r;
    const int chunk = i / 65'536;
    r.tenant = "t";
    r.user = "u" + std::to_string(1000 + chunk * 100 + (i * 7919) % 200);
    r.model = "m";
    r.time_us = kT0 + static_cast<int64_t>(i) * 1'000'000;
    return r;
  };
  {
    UsageStore a(MergePolicy{.enabled = false, .partition_us = 0});
    std::vector<bool> loaded;
    size_t discarded = 0;
    ASSERT_TRUE(a.Open(env.get(), "/cols", &loaded, &discarded).ok());
    std::vector<Row> rows;
    for (int i = 0; i < kN; ++i) rows.push_back(a.MakeRow(rec(i), i));
    a.Add(rows);
    a.WaitSealed();
  }
  // Files are opened in directory order (on ext4, hash order: any order can happen). MemEnv
  // lists names sorted: name them so that chunk 2 (users u1200..u1399) is opened first, then
  // chunk 0 (u1000..u1199), then chunk 1 (u1100..u1299, both of the others' users).
  std::vector<std::string> names = Files(env.get(), "/cols");
  ASSERT_EQ(names.size(), static_cast<size_t>(kChunks));
  auto env2 = NewMemEnv();
  ASSERT_TRUE(env2->CreateDir("/cols").ok());
  const std::map<std::string, std::string> renamed = {{"0-65535.tac", "b.tac"},
                                                      {"65536-131071.tac", "c.tac"},
                                                      {"131072-196607.tac", "a.tac"},
                                                      {"196608-262143.tac", "d.tac"}};
  for (const std::string& name : names) {
    auto data = ReadFileToString(env.get(), "/cols/" + name);
    ASSERT_TRUE(data.ok());
    ASSERT_EQ(renamed.count(name), 1u) << name;
    ASSERT_TRUE(WriteFileAtomic(env2.get(), "/cols/" + renamed.at(name), *data).ok());
  }
  UsageStore b(MergePolicy{.enabled = true, .fan_in = kChunks, .max_level = 1, .partition_us = 0});
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(b.Open(env2.get(), "/cols", &loaded, &discarded).ok());
  b.WaitMerged();
  ASSERT_EQ(b.GetStats().merges, 1u);
  // Whatever the order, every user's rows are found (zone maps and Bloom filters hold).
  std::map<std::string, uint64_t> want;
  for (int i = 0; i < kChunks * 65'536; ++i) ++want[rec(i).user];
  for (const auto& [user, count] : want) {
    UsageQuery q;
    q.filters = {{Dim::kUser, {user}}};
    q.measures = {Measure::kCount};
    auto a = RunUsageQuery(b, q);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_EQ(a->groups.size(), 1u) << user;
    EXPECT_EQ(a->groups[0].count, count) << user;
  }
  // The same rows merged by the process that sealed them, for comparison.
  UsageStore c(MergePolicy{.enabled = true, .fan_in = kChunks, .max_level = 1, .partition_us = 0});
  {
    std::vector<Row> rows;
    for (int i = 0; i < kN; ++i) rows.push_back(c.MakeRow(rec(i), i));
    c.Add(rows);
    c.WaitMerged();
    ASSERT_EQ(c.GetStats().merges, 1u);
  }
  // User-order inversions in the merged part, and the granules that may hold a user (zone map
  // and Bloom filter) summed over every user.
  auto layout = [](const UsageStore& store, size_t* inversions, size_t* touched) {
    UsageStore::Snapshot snap = store.Snap();
    ASSERT_EQ(snap.sealed.size(), 1u);
    const SealedChunk& part = *snap.sealed[0];
    DecodeScratch scratch;
    std::vector<int64_t> users(part.rows());
    ASSERT_TRUE(part.Decode(kUser, users.data(), &scratch).ok());
    *inversions = 0;
    for (size_t i = 1; i < users.size(); ++i) *inversions += users[i] < users[i - 1];
    *touched = 0;
    for (uint32_t code = 1; code < store.dict(kUser).size(); ++code) {
      for (size_t g = 0; g < part.granules(); ++g) {
        *touched += part.min(kUser, g) <= code && code <= part.max(kUser, g) &&
                    part.MayHaveUser(g, code);
      }
    }
  };
  size_t inv_b = 0, touched_b = 0, inv_c = 0, touched_c = 0;
  layout(b, &inv_b, &touched_b);
  layout(c, &inv_c, &touched_c);
  std::printf("merged after a restart: %zu user-order inversions, %zu granule reads for one "
              "query per user; merged by the sealing process: %zu, %zu\n",
              inv_b, touched_b, inv_c, touched_c);
  EXPECT_EQ(inv_c, 0u);
  // Review finding (not fixed): inv_b > 0, the merged part is not sorted by this process's
  // codes, so the users whose codes were remapped out of order have their rows in more places.
  EXPECT_GE(touched_b, touched_c);
}

// Not a test of behaviour: what one page of GET /v1/events costs on merged parts.
TEST(MergeReviewTest, DISABLED_EventPagingCostOnMergedParts) {
  const char* n_env = std::getenv("TA_REVIEW_ROWS");
  const int n = n_env != nullptr ? std::atoi(n_env) : 8 * 8 * 65'536;
  const char* merge_env = std::getenv("TA_REVIEW_MERGE");
  const bool merge = merge_env == nullptr || std::string(merge_env) != "0";
  // TA_REVIEW_DAYS: the records spread evenly over that many days (default: record i at kT0 +
  // i s); TA_REVIEW_PARTITION=0: no time partitions (the default is a day).
  const char* days_env = std::getenv("TA_REVIEW_DAYS");
  const int64_t step_us =
      days_env != nullptr ? std::atoll(days_env) * 86'400'000'000 / n : int64_t{1'000'000};
  const char* partition_env = std::getenv("TA_REVIEW_PARTITION");
  const bool partitioned = partition_env == nullptr || std::string(partition_env) != "0";
  const std::string dir =
      std::string(merge ? "/tmp/ta-merge-review" : "/tmp/ta-merge-review-chunks") + "-" +
      std::to_string(n) + "-" + std::to_string(step_us) + (partitioned ? "-days" : "");
  Env* env = Env::Default();
  MergePolicy policy{.enabled = merge};
  if (!partitioned) policy.partition_us = 0;
  UsageStore store(policy);
  std::vector<bool> loaded;
  size_t discarded = 0;
  ASSERT_TRUE(store.Open(env, dir, &loaded, &discarded).ok());
  auto t0 = std::chrono::steady_clock::now();
  if (loaded.empty()) {
    std::vector<Row> rows;
    for (int b = 0; b < n; b += 65'536) {
      rows.clear();
      for (int i = b; i < std::min(n, b + 65'536); ++i) {
        rows.push_back(store.MakeRow(Rec(i), i));
        rows.back()[kTime] = kT0 + i * step_us;
      }
      store.Add(rows);
    }
  }
  store.WaitMerged();
  auto t1 = std::chrono::steady_clock::now();
  const auto st = store.GetStats();
  std::printf("%d rows, %zu parts, built in %.1f s\n", n, st.sealed_chunks,
              std::chrono::duration<double>(t1 - t0).count());
  // A short time range over all users (a dashboard's last hour / last day): a merged part is
  // sorted by user, so its granules' time zone maps span the part's whole time range.
  for (int64_t span_s : {int64_t{3600}, int64_t{86'400}}) {
    UsageQuery q;
    q.group_by = {Dim::kModel};
    q.measures = {Measure::kCount, Measure::kTokens};
    q.from_us = kT0 + static_cast<int64_t>(n / 2) * step_us;  // record i is at kT0 + i step
    q.to_us = *q.from_us + span_s * 1'000'000;
    constexpr int kRuns = 5;
    auto q0 = std::chrono::steady_clock::now();
    uint64_t rows_scanned = 0;
    for (int r = 0; r < kRuns; ++r) {
      auto a = RunUsageQuery(store, q);
      ASSERT_TRUE(a.ok());
      rows_scanned = a->rows_scanned;
    }
    auto q1 = std::chrono::steady_clock::now();
    std::printf("time range %lld s, all users, by model: %.2f ms, %llu rows scanned\n",
                static_cast<long long>(span_s),
                std::chrono::duration<double, std::milli>(q1 - q0).count() / kRuns,
                static_cast<unsigned long long>(rows_scanned));
  }
  {
    // One user's week by day and model (like bench Q4): a few granules of each day's part.
    UsageQuery q;
    q.group_by = {Dim::kTime, Dim::kModel};
    q.window = [](int64_t t) {
      const int64_t day = 86'400'000'000;
      return UsageQuery::Window{t / day * day, t / day * day + day};
    };
    q.measures = {Measure::kCount, Measure::kTokens};
    q.filters = {{Dim::kUser, {"u_17"}}};
    q.from_us = kT0 + static_cast<int64_t>(n / 2) * step_us;
    q.to_us = *q.from_us + 7 * 86'400'000'000;
    constexpr int kRuns = 20;
    auto q0 = std::chrono::steady_clock::now();
    uint64_t rows_scanned = 0, skipped = 0;
    for (int r = 0; r < kRuns; ++r) {
      auto a = RunUsageQuery(store, q);
      ASSERT_TRUE(a.ok());
      rows_scanned = a->rows_scanned;
      skipped = a->granules_skipped;
    }
    auto q1 = std::chrono::steady_clock::now();
    std::printf("one user's week by day and model: %.3f ms, %llu rows scanned, %llu granules "
                "skipped\n",
                std::chrono::duration<double, std::milli>(q1 - q0).count() / kRuns,
                static_cast<unsigned long long>(rows_scanned),
                static_cast<unsigned long long>(skipped));
  }
  for (const std::vector<Filter>& filters :
       {std::vector<Filter>{}, std::vector<Filter>{{Dim::kStatus, {"error"}}},
        std::vector<Filter>{{Dim::kTenant, {"t1"}}}, std::vector<Filter>{{Dim::kUser, {"u_17"}}}}) {
    FindingScope scope;
    scope.filters = filters;
    for (uint64_t after : {uint64_t{0}, static_cast<uint64_t>(n / 2),
                           static_cast<uint64_t>(n - 2000)}) {
      for (size_t limit : {size_t{100}, size_t{1000}}) {
        uint64_t next = 0;
        int pages = 0;
        auto p0 = std::chrono::steady_clock::now();
        for (uint64_t cursor = after; pages < 5; cursor = next) {
          auto page = FindEventSeqs(store, scope, cursor, limit, &next);
          ASSERT_TRUE(page.ok());
          ++pages;
          if (next == 0) break;
        }
        auto p1 = std::chrono::steady_clock::now();
        std::printf("filter %s after %llu limit %zu: %.2f ms a page (%d pages)\n",
                    filters.empty() ? "none" : filters[0].values[0].c_str(),
                    static_cast<unsigned long long>(after), limit,
                    std::chrono::duration<double, std::milli>(p1 - p0).count() / pages, pages);
      }
    }
  }
}

}  // namespace
}  // namespace tokenaudit::query
