#include "src/env/fault_injection_env.h"

#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tokenaudit/env.h"

namespace tokenaudit::env {
namespace {

constexpr char kDir[] = "/db";

bool Contains(const Status& s, std::string_view text) {
  return s.message().find(text) != std::string_view::npos;
}

class FaultInjectionEnvTest : public ::testing::Test {
 protected:
  FaultInjectionEnvTest() : base_(NewMemEnv()), env_(base_.get()) {}

  void SetUp() override { ASSERT_TRUE(env_.CreateDir(kDir).ok()); }

  static std::string P(const std::string& name) { return JoinPath(kDir, name); }

  std::unique_ptr<WritableFile> Create(const std::string& name) {
    Result<std::unique_ptr<WritableFile>> file = env_.NewWritableFile(P(name));
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? std::move(*file) : nullptr;
  }

  // A file whose content and directory entry are both durable.
  void CreateDurable(const std::string& name, const std::string& content) {
    std::unique_ptr<WritableFile> file = Create(name);
    ASSERT_NE(file, nullptr);
    ASSERT_TRUE(file->Append(content).ok());
    ASSERT_TRUE(file->Sync().ok());
    ASSERT_TRUE(file->Close().ok());
    ASSERT_TRUE(env_.SyncDir(kDir).ok());
  }

  std::string Read(const std::string& name) {
    Result<std::string> data = ReadFileToString(&env_, P(name));
    return data.ok() ? *data : "<" + data.status().ToString() + ">";
  }

  std::unique_ptr<Env> base_;
  FaultInjectionEnv env_;
};

TEST_F(FaultInjectionEnvTest, NthWriteFailsWithEioAndWritesNothing) {
  std::unique_ptr<WritableFile> file = Create("f");
  env_.FailNthWrite(2, FaultKind::kEIO);
  ASSERT_TRUE(file->Append("one ").ok());
  Status s = file->Append("two ");
  EXPECT_TRUE(s.IsIOError());
  EXPECT_TRUE(Contains(s, "EIO: Input/output error")) << s;
  ASSERT_TRUE(file->Append("three").ok());
  EXPECT_EQ(file->Size(), 9u);
  EXPECT_EQ(Read("f"), "one three");
}

TEST_F(FaultInjectionEnvTest, NthWriteFailsWithEnospc) {
  std::unique_ptr<WritableFile> file = Create("f");
  env_.FailNthWrite(1, FaultKind::kENOSPC);
  Status s = file->Append("data");
  EXPECT_TRUE(s.IsIOError());
  EXPECT_TRUE(Contains(s, "ENOSPC: No space left on device")) << s;
  EXPECT_EQ(Read("f"), "");
}

TEST_F(FaultInjectionEnvTest, NthWriteCountsAppendsAcrossFiles) {
  std::unique_ptr<WritableFile> a = Create("a");
  std::unique_ptr<WritableFile> b = Create("b");
  env_.FailNthWrite(3, FaultKind::kEIO);
  EXPECT_TRUE(a->Append("1").ok());
  EXPECT_TRUE(b->Append("2").ok());
  EXPECT_FALSE(a->Append("3").ok());
  EXPECT_TRUE(b->Append("4").ok());
}

TEST_F(FaultInjectionEnvTest, FailNthWriteWithZeroCancelsThePlan) {
  std::unique_ptr<WritableFile> file = Create("f");
  env_.FailNthWrite(1, FaultKind::kEIO);
  env_.FailNthWrite(0, FaultKind::kEIO);
  EXPECT_TRUE(file->Append("x").ok());
}

TEST_F(FaultInjectionEnvTest, NthSyncFailsAndItsDataIsLostOnPowerLoss) {
  CreateDurable("f", "durable ");
  Result<std::unique_ptr<WritableFile>> file = env_.NewAppendableFile(P("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("lost").ok());
  env_.FailNthSync(1, FaultKind::kEIO);
  Status s = (*file)->Sync();
  EXPECT_TRUE(s.IsIOError());
  EXPECT_TRUE(Contains(s, "EIO: Input/output error")) << s;
  EXPECT_EQ(Read("f"), "durable lost");  // still in the page cache
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_EQ(Read("f"), "durable ");
}

TEST_F(FaultInjectionEnvTest, SyncRetriedAfterFailedSyncDoesNotMakeDroppedBytesDurable) {
  CreateDurable("f", "");
  Result<std::unique_ptr<WritableFile>> file = env_.NewAppendableFile(P("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("record").ok());
  env_.FailNthSync(1, FaultKind::kENOSPC);
  Status s = (*file)->Sync();
  EXPECT_TRUE(Contains(s, "ENOSPC: No space left on device")) << s;
  EXPECT_TRUE((*file)->Sync().ok());  // the kernel reports the error only once
  env_.SimulatePowerLoss(TearMode::kTear512, 1);
  EXPECT_EQ(Read("f"), "");
}

TEST_F(FaultInjectionEnvTest, CrashAfterOpsRunsThatManyOpsThenRefusesMutations) {
  env_.CrashAfterOps(2);
  std::unique_ptr<WritableFile> file = Create("f");  // op 1
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(env_.crashed());
  ASSERT_TRUE(file->Append("abc").ok());  // op 2
  EXPECT_TRUE(env_.crashed());
  const uint64_t ops = env_.mutating_ops();

  Status s = file->Append("def");
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(s.message(), "simulated crash");
  EXPECT_FALSE(file->Sync().ok());
  EXPECT_FALSE(env_.RemoveFile(P("f")).ok());
  EXPECT_FALSE(env_.RenameFile(P("f"), P("g")).ok());
  EXPECT_FALSE(env_.CreateDir(P("sub")).ok());
  EXPECT_FALSE(env_.NewWritableFile(P("h")).ok());
  EXPECT_FALSE(env_.TruncateFile(P("f"), 0).ok());
  EXPECT_FALSE(env_.SyncDir(kDir).ok());
  EXPECT_EQ(env_.mutating_ops(), ops);

  // Nothing changed, and reads keep working.
  EXPECT_EQ(Read("f"), "abc");
  Result<std::vector<std::string>> children = env_.GetChildren(kDir);
  ASSERT_TRUE(children.ok());
  EXPECT_EQ(*children, std::vector<std::string>{"f"});
}

TEST_F(FaultInjectionEnvTest, CrashAfterZeroOpsCrashesAtOnce) {
  env_.CrashAfterOps(0);
  EXPECT_TRUE(env_.crashed());
  EXPECT_FALSE(env_.NewWritableFile(P("f")).ok());
  EXPECT_FALSE(env_.FileExists(P("f")));
}

TEST_F(FaultInjectionEnvTest, MutatingOpsCountsEachMutation) {
  const uint64_t before = env_.mutating_ops();
  ASSERT_TRUE(WriteFileAtomic(&env_, P("CURRENT"), "x").ok());
  // NewWritableFile, Append, Sync, Close, RenameFile, SyncDir.
  EXPECT_EQ(env_.mutating_ops() - before, 6u);
  ASSERT_TRUE(ReadFileToString(&env_, P("CURRENT")).ok());
  EXPECT_EQ(env_.mutating_ops() - before, 6u);
}

TEST_F(FaultInjectionEnvTest, PowerLossClearsCrashAndFaultPlans) {
  env_.FailNthWrite(1, FaultKind::kEIO);
  env_.FailNthSync(1, FaultKind::kEIO);
  env_.CrashAfterOps(0);
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_FALSE(env_.crashed());
  std::unique_ptr<WritableFile> file = Create("f");
  ASSERT_NE(file, nullptr);
  EXPECT_TRUE(file->Append("x").ok());
  EXPECT_TRUE(file->Sync().ok());
}

TEST_F(FaultInjectionEnvTest, PowerLossDropsUnsyncedBytes) {
  CreateDurable("f", "synced");
  Result<std::unique_ptr<WritableFile>> file = env_.NewAppendableFile(P("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append(" unsynced").ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 7);
  EXPECT_EQ(Read("f"), "synced");
}

TEST_F(FaultInjectionEnvTest, WriteAtIsAWriteForFaultsAndDurableOnceSynced) {
  std::unique_ptr<WritableFile> file = Create("f");
  ASSERT_TRUE(env_.SyncDir(kDir).ok());
  ASSERT_TRUE(file->Append("....body").ok());
  env_.FailNthWrite(1, FaultKind::kENOSPC);
  EXPECT_TRUE(file->WriteAt(0, "HEAD").IsIOError());
  EXPECT_EQ(Read("f"), "....body");  // the failed write wrote nothing
  ASSERT_TRUE(file->WriteAt(0, "HEAD").ok());
  ASSERT_TRUE(file->Sync().ok());
  ASSERT_TRUE(file->Close().ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 7);
  EXPECT_EQ(Read("f"), "HEADbody");
}

TEST_F(FaultInjectionEnvTest, UnsyncedWriteAtOfANeverSyncedFileIsLostOnPowerLoss) {
  std::unique_ptr<WritableFile> file = Create("f");
  ASSERT_TRUE(env_.SyncDir(kDir).ok());
  ASSERT_TRUE(file->Append("....body").ok());
  ASSERT_TRUE(file->WriteAt(0, "HEAD").ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 7);
  EXPECT_EQ(Read("f"), "");
}

TEST_F(FaultInjectionEnvTest, NeverSyncedFileKeepsZeroBytes) {
  std::unique_ptr<WritableFile> file = Create("f");
  ASSERT_TRUE(env_.SyncDir(kDir).ok());
  ASSERT_TRUE(file->Append(std::string(10000, 'x')).ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 7);
  EXPECT_TRUE(env_.FileExists(P("f")));
  EXPECT_EQ(Read("f"), "");
}

TEST_F(FaultInjectionEnvTest, FilesNotWrittenThroughTheEnvAreDurable) {
  {
    Result<std::unique_ptr<WritableFile>> raw = base_->NewWritableFile(P("old"));
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE((*raw)->Append("from before").ok());
  }
  Result<std::unique_ptr<WritableFile>> file = env_.NewAppendableFile(P("old"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append(" and after").ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 7);
  EXPECT_EQ(Read("old"), "from before");
}

TEST_F(FaultInjectionEnvTest, TruncateFileIsDurableAtOnce) {
  CreateDurable("f", "0123456789");
  ASSERT_TRUE(env_.TruncateFile(P("f"), 4).ok());
  Result<std::unique_ptr<WritableFile>> file = env_.NewAppendableFile(P("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("xy").ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 7);
  EXPECT_EQ(Read("f"), "0123");
}

// Runs one torn power loss over a file with `synced` durable bytes followed by `unsynced` more;
// returns the surviving size.
uint64_t SurvivingSizeAfterTear(TearMode mode, uint64_t seed, size_t synced, size_t unsynced) {
  std::unique_ptr<Env> base = NewMemEnv();
  FaultInjectionEnv env(base.get());
  Result<std::unique_ptr<WritableFile>> file = env.NewWritableFile("/f");
  EXPECT_TRUE(file.ok());
  EXPECT_TRUE((*file)->Append(std::string(synced, 's')).ok());
  EXPECT_TRUE((*file)->Sync().ok());
  EXPECT_TRUE(env.SyncDir("/").ok());
  EXPECT_TRUE((*file)->Append(std::string(unsynced, 'u')).ok());
  env.SimulatePowerLoss(mode, seed);
  Result<std::string> data = ReadFileToString(&env, "/f");
  EXPECT_TRUE(data.ok());
  // Whatever survives is a prefix of what was written.
  EXPECT_EQ(*data, (std::string(synced, 's') + std::string(unsynced, 'u')).substr(0, data->size()));
  return data->size();
}

TEST(FaultInjectionEnvTearTest, TearKeepsSectorAlignedPrefixNoShorterThanSyncedSize) {
  constexpr size_t kSynced = 1000;
  constexpr size_t kUnsynced = 20000;
  for (TearMode mode : {TearMode::kTear512, TearMode::kTear4K}) {
    const uint64_t align = mode == TearMode::kTear512 ? 512 : 4096;
    std::set<uint64_t> sizes;
    for (uint64_t seed = 0; seed < 40; ++seed) {
      const uint64_t size = SurvivingSizeAfterTear(mode, seed, kSynced, kUnsynced);
      EXPECT_GE(size, kSynced);
      EXPECT_LE(size, kSynced + kUnsynced);
      EXPECT_TRUE(size == kSynced || size % align == 0) << size;
      sizes.insert(size);
    }
    EXPECT_GT(sizes.size(), 2u) << "tear point should vary with the seed";
  }
}

TEST(FaultInjectionEnvTearTest, SameSeedTearsAtTheSameOffset) {
  for (uint64_t seed = 0; seed < 5; ++seed) {
    EXPECT_EQ(SurvivingSizeAfterTear(TearMode::kTear512, seed, 100, 9000),
              SurvivingSizeAfterTear(TearMode::kTear512, seed, 100, 9000));
  }
}

TEST(FaultInjectionEnvTearTest, TailShorterThanOneSectorBoundaryIsDropped) {
  for (uint64_t seed = 0; seed < 10; ++seed) {
    EXPECT_EQ(SurvivingSizeAfterTear(TearMode::kTear4K, seed, 100, 3000), 100u);
  }
}

TEST_F(FaultInjectionEnvTest, UnsyncedCreateIsRevertedOnPowerLoss) {
  std::unique_ptr<WritableFile> file = Create("f");
  ASSERT_TRUE(file->Append("data").ok());
  ASSERT_TRUE(file->Sync().ok());  // data synced, directory entry not
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_FALSE(env_.FileExists(P("f")));
}

TEST_F(FaultInjectionEnvTest, SyncedCreateSurvivesPowerLoss) {
  CreateDurable("f", "data");
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_EQ(Read("f"), "data");
}

TEST_F(FaultInjectionEnvTest, UnsyncedRenameIsRevertedOnPowerLoss) {
  CreateDurable("a", "new");
  CreateDurable("b", "old");
  ASSERT_TRUE(env_.RenameFile(P("a"), P("b")).ok());
  EXPECT_EQ(Read("b"), "new");
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_EQ(Read("a"), "new");
  EXPECT_EQ(Read("b"), "old");
}

TEST_F(FaultInjectionEnvTest, UnsyncedRenameToFreshNameIsRevertedOnPowerLoss) {
  CreateDurable("a", "content");
  ASSERT_TRUE(env_.RenameFile(P("a"), P("c")).ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_EQ(Read("a"), "content");
  EXPECT_FALSE(env_.FileExists(P("c")));
}

TEST_F(FaultInjectionEnvTest, SyncedRenameSurvivesPowerLoss) {
  CreateDurable("a", "new");
  CreateDurable("b", "old");
  ASSERT_TRUE(env_.RenameFile(P("a"), P("b")).ok());
  ASSERT_TRUE(env_.SyncDir(kDir).ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_FALSE(env_.FileExists(P("a")));
  EXPECT_EQ(Read("b"), "new");
}

TEST_F(FaultInjectionEnvTest, RenameAcrossDirectoriesIsDurableOnlyPerSyncedSide) {
  ASSERT_TRUE(env_.CreateDir("/other").ok());
  CreateDurable("a", "content");
  ASSERT_TRUE(env_.RenameFile(P("a"), "/other/a").ok());
  ASSERT_TRUE(
      env_.SyncDir("/other").ok());  // the new name is durable, the removal of the old is not
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_EQ(Read("a"), "content");
  Result<std::string> moved = ReadFileToString(&env_, "/other/a");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, "content");
}

TEST_F(FaultInjectionEnvTest, UnsyncedRemoveIsRevertedOnPowerLoss) {
  CreateDurable("f", "content");
  ASSERT_TRUE(env_.RemoveFile(P("f")).ok());
  EXPECT_FALSE(env_.FileExists(P("f")));
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_EQ(Read("f"), "content");
}

TEST_F(FaultInjectionEnvTest, RemovedFileComesBackWithOnlyItsDurableBytes) {
  CreateDurable("f", "durable");
  Result<std::unique_ptr<WritableFile>> file = env_.NewAppendableFile(P("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append(" unsynced").ok());
  ASSERT_TRUE(env_.RemoveFile(P("f")).ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_EQ(Read("f"), "durable");
}

TEST_F(FaultInjectionEnvTest, SyncedRemoveSurvivesPowerLoss) {
  CreateDurable("f", "content");
  ASSERT_TRUE(env_.RemoveFile(P("f")).ok());
  ASSERT_TRUE(env_.SyncDir(kDir).ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_FALSE(env_.FileExists(P("f")));
}

TEST_F(FaultInjectionEnvTest, FileObjectsFromBeforePowerLossFailAfterIt) {
  CreateDurable("f", "kept");
  Result<std::unique_ptr<WritableFile>> stale = env_.NewAppendableFile(P("f"));
  ASSERT_TRUE(stale.ok());
  env_.SimulatePowerLoss(TearMode::kDropUnsynced, 1);
  EXPECT_TRUE((*stale)->Append("corrupt").IsIOError());
  EXPECT_TRUE((*stale)->Sync().IsIOError());
  EXPECT_TRUE((*stale)->Close().IsIOError());
  EXPECT_EQ(Read("f"), "kept");
  Result<std::unique_ptr<WritableFile>> fresh = env_.NewAppendableFile(P("f"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE((*fresh)->Append("!").ok());
  EXPECT_EQ(Read("f"), "kept!");
}

TEST(FaultInjectionEnvCrashTest, WriteFileAtomicLeavesOldOrNewContentAfterCrashAtAnyPoint) {
  const std::string path = "/db/CURRENT";
  auto setup = [&](FaultInjectionEnv* env) {
    ASSERT_TRUE(env->CreateDir("/db").ok());
    ASSERT_TRUE(WriteFileAtomic(env, path, "old content").ok());
  };
  uint64_t workload_ops;
  {
    std::unique_ptr<Env> base = NewMemEnv();
    FaultInjectionEnv env(base.get());
    setup(&env);
    const uint64_t before = env.mutating_ops();
    ASSERT_TRUE(WriteFileAtomic(&env, path, std::string(5000, 'n')).ok());
    workload_ops = env.mutating_ops() - before;
  }
  for (TearMode mode : {TearMode::kDropUnsynced, TearMode::kTear512, TearMode::kTear4K}) {
    for (uint64_t n = 0; n <= workload_ops; ++n) {
      std::unique_ptr<Env> base = NewMemEnv();
      FaultInjectionEnv env(base.get());
      setup(&env);
      env.CrashAfterOps(n);
      Status s = WriteFileAtomic(&env, path, std::string(5000, 'n'));
      EXPECT_EQ(s.ok(), n == workload_ops) << "crash after " << n << " ops: " << s;
      env.SimulatePowerLoss(mode, n);
      Result<std::string> data = ReadFileToString(&env, path);
      ASSERT_TRUE(data.ok()) << "crash after " << n << " ops: " << data.status();
      if (n == workload_ops) {
        EXPECT_EQ(*data, std::string(5000, 'n'));
      } else {
        EXPECT_TRUE(*data == "old content" || *data == std::string(5000, 'n')) << n;
      }
    }
  }
}

TEST(FaultInjectionEnvThreadTest, AppendsRaceSafelyWithFaultControlsAndPowerLoss) {
  constexpr size_t kRecord = 16;
  std::unique_ptr<Env> base = NewMemEnv();
  FaultInjectionEnv env(base.get());
  ASSERT_TRUE(env.CreateDir("/db").ok());
  {
    Result<std::unique_ptr<WritableFile>> file = env.NewWritableFile("/db/log");
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Sync().ok());
    ASSERT_TRUE(env.SyncDir("/db").ok());
  }
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::unique_ptr<WritableFile> file;
    while (!stop.load()) {
      if (file == nullptr) {
        Result<std::unique_ptr<WritableFile>> reopened = env.NewAppendableFile("/db/log");
        if (!reopened.ok()) continue;
        file = std::move(*reopened);
      }
      // Drop the file object after any error (stale after a power loss, or injected).
      if (!file->Append(std::string(kRecord, 'r')).ok() || !file->Sync().ok()) file.reset();
    }
  });
  for (uint64_t i = 0; i < 200; ++i) {
    env.FailNthWrite(3, FaultKind::kEIO);
    env.FailNthSync(5, FaultKind::kENOSPC);
    EXPECT_GE(env.mutating_ops(), 0u);
    if (i % 20 == 19) env.SimulatePowerLoss(TearMode::kDropUnsynced, i);
    std::this_thread::yield();
  }
  stop.store(true);
  writer.join();
  env.SimulatePowerLoss(TearMode::kDropUnsynced, 0);
  Result<uint64_t> size = env.GetFileSize("/db/log");
  ASSERT_TRUE(size.ok());
  // Appends either land whole or not at all, and only synced records survive.
  EXPECT_EQ(*size % kRecord, 0u);
}

TEST(FaultInjectionEnvPosixTest, PowerLossRevertsUnsyncedChangesOnDisk) {
  std::string root = ::testing::TempDir() + "tokenaudit_fault_env.XXXXXX";
  ASSERT_NE(::mkdtemp(root.data()), nullptr);
  {
    FaultInjectionEnv env(Env::Default());
    const std::string a = JoinPath(root, "a");
    const std::string b = JoinPath(root, "b");
    ASSERT_TRUE(WriteFileAtomic(&env, a, "durable a").ok());
    Result<std::unique_ptr<WritableFile>> log = env.NewAppendableFile(a);
    ASSERT_TRUE(log.ok());
    ASSERT_TRUE((*log)->Append(std::string(9000, 't')).ok());
    Result<std::unique_ptr<WritableFile>> fresh = env.NewWritableFile(b);
    ASSERT_TRUE(fresh.ok());
    ASSERT_TRUE((*fresh)->Append("never durable").ok());
    ASSERT_TRUE((*fresh)->Sync().ok());

    env.SimulatePowerLoss(TearMode::kTear4K, 3);
    Result<std::string> data = ReadFileToString(&env, a);
    ASSERT_TRUE(data.ok());
    EXPECT_EQ(data->substr(0, 9), "durable a");
    EXPECT_TRUE(data->size() == 9 || data->size() % 4096 == 0) << data->size();
    EXPECT_FALSE(env.FileExists(b));
    EXPECT_TRUE((*log)->Append("late").IsIOError());
    ASSERT_TRUE(env.RemoveFile(a).ok());
    ASSERT_TRUE(env.SyncDir(root).ok());
  }
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
}

}  // namespace
}  // namespace tokenaudit::env
