// Behaviour tests run identically over the POSIX Env (in a temporary directory) and the memory
// Env, plus the POSIX-only behaviours (errno names, locks across processes).

#include "tokenaudit/env.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/env/path.h"

namespace tokenaudit {
namespace {

enum class EnvKind { kPosix, kMem };

std::string MakeTempDir() {
  std::string tmpl = ::testing::TempDir() + "tokenaudit_env_test.XXXXXX";
  char* dir = ::mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

class EnvTest : public ::testing::TestWithParam<EnvKind> {
 protected:
  void SetUp() override {
    if (GetParam() == EnvKind::kPosix) {
      env_ = Env::Default();
      root_ = MakeTempDir();
    } else {
      mem_env_ = NewMemEnv();
      env_ = mem_env_.get();
      root_ = "/mem/root";
      ASSERT_TRUE(env_->CreateDir(root_).ok());
    }
  }
  void TearDown() override {
    if (GetParam() == EnvKind::kPosix) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }

  std::string Path(const std::string& name) const { return JoinPath(root_, name); }

  void WriteFile(const std::string& name, const std::string& data) {
    Result<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(Path(name));
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append(data).ok());
    ASSERT_TRUE((*file)->Close().ok());
  }

  std::string ReadFile(const std::string& name) {
    Result<std::string> data = ReadFileToString(env_, Path(name));
    EXPECT_TRUE(data.ok()) << data.status();
    return data.ok() ? *data : "<error>";
  }

  std::vector<std::string> Children(const std::string& dir) {
    Result<std::vector<std::string>> names = env_->GetChildren(dir);
    EXPECT_TRUE(names.ok()) << names.status();
    if (!names.ok()) return {};
    std::sort(names->begin(), names->end());
    return *names;
  }

  Env* env_ = nullptr;
  std::unique_ptr<Env> mem_env_;
  std::string root_;
};

TEST_P(EnvTest, AppendedDataReadsBackSequentiallyAndAtOffsets) {
  Result<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(Path("f"));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("hello ").ok());
  ASSERT_TRUE((*file)->Append("world").ok());
  EXPECT_EQ((*file)->Size(), 11u);
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());

  EXPECT_EQ(ReadFile("f"), "hello world");
  Result<uint64_t> size = env_->GetFileSize(Path("f"));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 11u);

  Result<std::unique_ptr<RandomAccessFile>> random = env_->NewRandomAccessFile(Path("f"));
  ASSERT_TRUE(random.ok()) << random.status();
  char buf[16];
  Result<size_t> n = (*random)->Read(6, 5, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "world");
  n = (*random)->Read(8, 10, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "rld");  // short at end of file
  n = (*random)->Read(100, 10, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

TEST_P(EnvTest, WriteAtOverwritesInPlaceAndRefusesPastTheEnd) {
  Result<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(Path("f"));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("....-body").ok());
  ASSERT_TRUE((*file)->WriteAt(0, "HEAD").ok());
  ASSERT_TRUE((*file)->WriteAt(9, "").ok());  // at the end, nothing: allowed
  EXPECT_EQ((*file)->Size(), 9u);
  Status past = (*file)->WriteAt(7, "dy!");
  EXPECT_EQ(past.code(), StatusCode::kInvalidArgument) << past;
  EXPECT_EQ((*file)->WriteAt(10, "x").code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*file)->Append("+tail").ok());  // appends go on at the end, not after the write
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(ReadFile("f"), "HEAD-body+tail");
}

TEST_P(EnvTest, WriteAtOnAnAppendableFileIsRefused) {
  WriteFile("f", "old");
  Result<std::unique_ptr<WritableFile>> file = env_->NewAppendableFile(Path("f"));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("+new").ok());
  EXPECT_EQ((*file)->WriteAt(0, "OLD").code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(ReadFile("f"), "old+new");
}

TEST_P(EnvTest, SequentialSkipMovesForward) {
  WriteFile("f", "0123456789");
  Result<std::unique_ptr<SequentialFile>> file = env_->NewSequentialFile(Path("f"));
  ASSERT_TRUE(file.ok());
  char buf[4];
  ASSERT_TRUE((*file)->Skip(3).ok());
  Result<size_t> n = (*file)->Read(4, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), "3456");
  ASSERT_TRUE((*file)->Skip(100).ok());
  n = (*file)->Read(4, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
}

TEST_P(EnvTest, NewWritableFileTruncatesExistingFile) {
  WriteFile("f", "old content");
  WriteFile("f", "new");
  EXPECT_EQ(ReadFile("f"), "new");
}

TEST_P(EnvTest, AppendableFileContinuesAtTheEnd) {
  WriteFile("f", "abc");
  Result<std::unique_ptr<WritableFile>> file = env_->NewAppendableFile(Path("f"));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Size(), 3u);
  ASSERT_TRUE((*file)->Append("def").ok());
  EXPECT_EQ((*file)->Size(), 6u);
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(ReadFile("f"), "abcdef");
}

TEST_P(EnvTest, MissingFilesAreNotFound) {
  EXPECT_TRUE(env_->NewAppendableFile(Path("missing")).status().IsNotFound());
  EXPECT_TRUE(env_->NewSequentialFile(Path("missing")).status().IsNotFound());
  EXPECT_TRUE(env_->NewRandomAccessFile(Path("missing")).status().IsNotFound());
  EXPECT_TRUE(env_->GetFileSize(Path("missing")).status().IsNotFound());
  EXPECT_TRUE(env_->RemoveFile(Path("missing")).IsNotFound());
  EXPECT_FALSE(env_->RenameFile(Path("missing"), Path("other")).ok());
  EXPECT_TRUE(env_->GetChildren(Path("no_dir")).status().IsNotFound());
  EXPECT_FALSE(env_->FileExists(Path("missing")));
  Status s = env_->NewAppendableFile(Path("missing")).status();
  EXPECT_NE(s.message().find("ENOENT: No such file or directory"), std::string::npos) << s;
}

TEST_P(EnvTest, RenameReplacesExistingFile) {
  WriteFile("a", "new");
  WriteFile("b", "old");
  ASSERT_TRUE(env_->RenameFile(Path("a"), Path("b")).ok());
  EXPECT_FALSE(env_->FileExists(Path("a")));
  EXPECT_EQ(ReadFile("b"), "new");
}

TEST_P(EnvTest, RenamedFileKeepsAcceptingAppendsThroughOpenHandle) {
  Result<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(Path("a"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("12").ok());
  ASSERT_TRUE(env_->RenameFile(Path("a"), Path("b")).ok());
  ASSERT_TRUE((*file)->Append("34").ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(ReadFile("b"), "1234");
}

TEST_P(EnvTest, GetChildrenListsFilesAndDirectoriesWithoutDots) {
  WriteFile("x", "1");
  WriteFile("y", "2");
  ASSERT_TRUE(env_->CreateDir(Path("sub")).ok());
  WriteFile("sub/z", "3");
  EXPECT_EQ(Children(root_), (std::vector<std::string>{"sub", "x", "y"}));
  EXPECT_EQ(Children(Path("sub")), (std::vector<std::string>{"z"}));
  EXPECT_EQ(Children(root_ + "/"), (std::vector<std::string>{"sub", "x", "y"}));
}

TEST_P(EnvTest, CreateDirCreatesParentsAndAcceptsExisting) {
  const std::string deep = Path("a/b/c");
  ASSERT_TRUE(env_->CreateDir(deep).ok());
  EXPECT_TRUE(env_->FileExists(deep));
  EXPECT_TRUE(env_->CreateDir(deep).ok());
  EXPECT_EQ(Children(Path("a")), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(Children(deep).empty());
  WriteFile("plain", "x");
  EXPECT_FALSE(env_->CreateDir(Path("plain")).ok());
}

TEST_P(EnvTest, RemoveFileDeletesIt) {
  WriteFile("f", "data");
  ASSERT_TRUE(env_->FileExists(Path("f")));
  ASSERT_TRUE(env_->RemoveFile(Path("f")).ok());
  EXPECT_FALSE(env_->FileExists(Path("f")));
  EXPECT_TRUE(Children(root_).empty());
}

TEST_P(EnvTest, TruncateFileShrinksAndExtendsWithZeros) {
  WriteFile("f", "0123456789");
  ASSERT_TRUE(env_->TruncateFile(Path("f"), 4).ok());
  EXPECT_EQ(ReadFile("f"), "0123");
  ASSERT_TRUE(env_->TruncateFile(Path("f"), 6).ok());
  EXPECT_EQ(ReadFile("f"), std::string("0123\0\0", 6));
  EXPECT_FALSE(env_->TruncateFile(Path("missing"), 0).ok());
}

TEST_P(EnvTest, SyncDirSucceedsOnDirectoryAndFailsOnMissingOne) {
  EXPECT_TRUE(env_->SyncDir(root_).ok());
  EXPECT_FALSE(env_->SyncDir(Path("missing")).ok());
}

TEST_P(EnvTest, SecondLockOnSamePathFailsUntilFirstIsReleased) {
  const std::string lock_path = Path("LOCK");
  Result<std::unique_ptr<FileLock>> first = env_->LockFile(lock_path);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(env_->FileExists(lock_path));
  Result<std::unique_ptr<FileLock>> second = env_->LockFile(lock_path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  first->reset();
  Result<std::unique_ptr<FileLock>> third = env_->LockFile(lock_path);
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST_P(EnvTest, WriteFileAtomicReplacesContentAndLeavesNoTemporaryFile) {
  ASSERT_TRUE(WriteFileAtomic(env_, Path("CURRENT"), "v1").ok());
  EXPECT_EQ(ReadFile("CURRENT"), "v1");
  ASSERT_TRUE(WriteFileAtomic(env_, Path("CURRENT"), "version two").ok());
  EXPECT_EQ(ReadFile("CURRENT"), "version two");
  EXPECT_EQ(Children(root_), (std::vector<std::string>{"CURRENT"}));
}

TEST_P(EnvTest, ReadFileToStringReadsLargeAndEmptyFiles) {
  std::string big(300 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  WriteFile("big", big);
  WriteFile("empty", "");
  EXPECT_EQ(ReadFile("big"), big);
  EXPECT_EQ(ReadFile("empty"), "");
}

TEST_P(EnvTest, ClocksAdvanceAndWallClockIsUnixTime) {
  const uint64_t t0 = env_->NowMicros();
  env_->SleepForMicros(2000);
  EXPECT_GE(env_->NowMicros() - t0, 2000u);
  // Later than 2020-01-01 and earlier than 2100-01-01.
  EXPECT_GT(env_->NowUnixMicros(), 1577836800ull * 1000000);
  EXPECT_LT(env_->NowUnixMicros(), 4102444800ull * 1000000);
}

TEST_P(EnvTest, ConcurrentWritersAndReadersOnDistinctFilesDoNotInterfere) {
  constexpr int kThreads = 4;
  constexpr int kRecords = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      const std::string path = Path("t" + std::to_string(t));
      Result<std::unique_ptr<WritableFile>> file = env_->NewWritableFile(path);
      ASSERT_TRUE(file.ok());
      for (int i = 0; i < kRecords; ++i) {
        ASSERT_TRUE((*file)->Append(std::string(10, static_cast<char>('a' + t))).ok());
        Result<std::vector<std::string>> children = env_->GetChildren(root_);
        ASSERT_TRUE(children.ok());
      }
      ASSERT_TRUE((*file)->Close().ok());
      Result<std::string> data = ReadFileToString(env_, path);
      ASSERT_TRUE(data.ok());
      EXPECT_EQ(*data, std::string(10 * kRecords, static_cast<char>('a' + t)));
    });
  }
  for (std::thread& thread : threads) thread.join();
}

INSTANTIATE_TEST_SUITE_P(AllEnvs, EnvTest, ::testing::Values(EnvKind::kPosix, EnvKind::kMem),
                         [](const ::testing::TestParamInfo<EnvKind>& info) {
                           return info.param == EnvKind::kPosix ? "Posix" : "Mem";
                         });

TEST(PosixEnvTest, DiskFullErrorNamesEnospc) {
  // /dev/full fails every write with ENOSPC.
  if (!Env::Default()->FileExists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  Result<std::unique_ptr<WritableFile>> file = Env::Default()->NewAppendableFile("/dev/full");
  ASSERT_TRUE(file.ok()) << file.status();
  Status s = (*file)->Append("x");
  EXPECT_TRUE(s.IsIOError());
  EXPECT_EQ(s.message(), "/dev/full: ENOSPC: No space left on device");
}

TEST(PosixEnvTest, LockHeldByAnotherProcessIsFailedPrecondition) {
  const std::string dir = MakeTempDir();
  const std::string lock_path = JoinPath(dir, "LOCK");
  int locked_pipe[2];
  int release_pipe[2];
  ASSERT_EQ(::pipe(locked_pipe), 0);
  ASSERT_EQ(::pipe(release_pipe), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: hold the lock until the parent has tried to take it.
    Result<std::unique_ptr<FileLock>> child_lock = Env::Default()->LockFile(lock_path);
    const char reply = child_lock.ok() ? 'y' : 'n';
    char ignored;
    const bool ok =
        ::write(locked_pipe[1], &reply, 1) == 1 && ::read(release_pipe[0], &ignored, 1) >= 0;
    ::_exit(ok ? 0 : 1);
  }
  char reply = 0;
  ASSERT_EQ(::read(locked_pipe[0], &reply, 1), 1);
  ASSERT_EQ(reply, 'y');
  Result<std::unique_ptr<FileLock>> lock = Env::Default()->LockFile(lock_path);
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(lock.status().message().find("data directory is in use by another process"),
            std::string::npos)
      << lock.status();
  ASSERT_EQ(::write(release_pipe[1], "x", 1), 1);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
  for (int fd : {locked_pipe[0], locked_pipe[1], release_pipe[0], release_pipe[1]}) ::close(fd);
  // Released by the child's exit: this process can take it now.
  {
    Result<std::unique_ptr<FileLock>> after = Env::Default()->LockFile(lock_path);
    EXPECT_TRUE(after.ok()) << after.status();
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(PathTest, JoinPathAndDirName) {
  EXPECT_EQ(JoinPath("a/b", "c"), "a/b/c");
  EXPECT_EQ(JoinPath("a/b/", "c"), "a/b/c");
  EXPECT_EQ(JoinPath("", "c"), "c");
  EXPECT_EQ(JoinPath("/", "c"), "/c");
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(DirName("/"), "/");
  EXPECT_EQ(DirName("a//b"), "a");
  EXPECT_EQ(DirName("a/b/"), "a");
}

// Pages of `path` in the page cache, and pages in all.
std::pair<size_t, size_t> ResidentPages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {0, 0};
  const off_t size = ::lseek(fd, 0, SEEK_END);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t pages = (static_cast<size_t>(size) + page - 1) / page;
  void* map = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return {0, pages};
  std::vector<unsigned char> in(pages);
  size_t resident = 0;
  if (::mincore(map, static_cast<size_t>(size), in.data()) == 0) {
    for (unsigned char c : in) resident += c & 1;
  }
  ::munmap(map, static_cast<size_t>(size));
  return {resident, pages};
}

TEST(PosixEnvTest, DropCacheLetsSyncedPagesGoAndKeepsTheData) {
  const std::string dir = MakeTempDir();
  const std::string path = JoinPath(dir, "log");
  Env* env = Env::Default();
  auto file = env->NewWritableFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  std::string data;
  for (int i = 0; i < (8 << 20); ++i) data += static_cast<char>('a' + i % 26);
  for (size_t at = 0; at < data.size(); at += 64 << 10) {  // 8 MiB in appends of 64 KiB
    ASSERT_TRUE((*file)->Append(std::string_view(data).substr(at, 64 << 10)).ok());
  }
  ASSERT_TRUE((*file)->Sync().ok());
  const auto [before, pages] = ResidentPages(path);
  EXPECT_EQ(pages, 2048u);
  (*file)->DropCache(6 << 20);  // a hint: the first 6 MiB may go
  const auto [after, unused] = ResidentPages(path);
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) == 0 && fs.f_type != TMPFS_MAGIC && before > 1024) {
    // The kernel drops whole folios inside the range: most of the 1,536 pages go (a large
    // folio across the 6 MiB mark may stay), and the last 2 MiB stay cached.
    EXPECT_LE(after, before - 1024) << before;
  }
  // Appends after it land behind, and everything reads back (from the disk where dropped).
  ASSERT_TRUE((*file)->Append("tail").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  (*file)->DropCache((*file)->Size());
  (*file)->DropCache(1);  // behind what was dropped: nothing to do
  ASSERT_TRUE((*file)->Close().ok());
  Result<std::string> back = ReadFileToString(env, path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data + "tail");
  std::filesystem::remove_all(dir);
}

TEST(PathTest, NormalizePathDropsEmptyAndDotComponents) {
  EXPECT_EQ(env::NormalizePath("a/b"), "a/b");
  EXPECT_EQ(env::NormalizePath("./a//b/./"), "a/b");
  EXPECT_EQ(env::NormalizePath("/a//b"), "/a/b");
  EXPECT_EQ(env::NormalizePath("/"), "/");
  EXPECT_EQ(env::NormalizePath(""), ".");
  EXPECT_EQ(env::NormalizePath("./"), ".");
  EXPECT_EQ(env::NormalizePath("../x"), "../x");
}

}  // namespace
}  // namespace tokenaudit
