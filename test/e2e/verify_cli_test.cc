// End-to-end tests of `tokenaudit verify DATA_DIR [--checkpoint FILE]`: the ledger writes a real
// data directory (POSIX Env, temporary directory), the test damages it the way a bad disk or an
// attacker would, and the built binary must say so with its exit status and on stderr.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "src/ledger/checkpoint.h"
#include "src/log/frame.h"
#include "src/log/log_format.h"
#include "src/log/log_scanner.h"
#include "tokenaudit/env.h"
#include "tokenaudit/ledger.h"

#ifndef TOKENAUDIT_BIN
#error "TOKENAUDIT_BIN must name the tokenaudit binary under test"
#endif

namespace tokenaudit {
namespace {

namespace fs = std::filesystem;

// Stops the process (SIGSTOP) for `length` once it has read `after_bytes` bytes, as a slow disk
// or a loaded machine would. Needs Linux /proc/<pid>/io; elsewhere the run is not paused.
struct Pause {
  uint64_t after_bytes = 0;
  std::chrono::milliseconds length{0};
};

struct RunResult {
  int exit_code = -1;  // 128 + signal number if the process was killed
  std::string out;
  std::string err;
  bool paused = false;
  uint64_t paused_at_bytes = 0;  // bytes the process had read when it was stopped
};

// Bytes read so far by process `pid` (rchar of /proc/<pid>/io); nullopt if unavailable.
std::optional<uint64_t> BytesRead(pid_t pid) {
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return std::nullopt;
}

// Runs the binary with `args`; stdin is /dev/null and stdout/stderr are files in `scratch_dir`,
// so neither is a terminal.
RunResult RunTokenaudit(const std::vector<std::string>& args, const std::string& scratch_dir,
                        const Pause& pause = Pause()) {
  const std::string out_path = scratch_dir + "/stdout";
  const std::string err_path = scratch_dir + "/stderr";
  std::vector<std::string> storage = {TOKENAUDIT_BIN};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  RunResult result;
  pid_t pid = fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return result;
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    int in = open("/dev/null", O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
      _exit(127);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  bool reaped = false;
  while (pause.length.count() > 0 && !reaped) {
    // The process cannot be reaped (so its pid cannot be reused) before waitpid says so.
    if (waitpid(pid, &status, WNOHANG) == pid) {
      reaped = true;
      break;
    }
    std::optional<uint64_t> read = BytesRead(pid);
    if (!read.has_value()) break;
    if (*read >= pause.after_bytes) {
      kill(pid, SIGSTOP);
      result.paused = true;
      result.paused_at_bytes = BytesRead(pid).value_or(*read);
      std::this_thread::sleep_for(pause.length);
      kill(pid, SIGCONT);
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  while (!reaped && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto out = ReadFileToString(Env::Default(), out_path);
  auto err = ReadFileToString(Env::Default(), err_path);
  if (out.ok()) result.out = *out;
  if (err.ok()) result.err = *err;
  return result;
}

std::ostream& operator<<(std::ostream& os, const RunResult& r) {
  return os << "exit " << r.exit_code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// A usage-record-shaped payload, unique for n.
std::string UsageRecord(uint64_t n, std::string_view model = "gpt-test") {
  return "{\"model\":\"" + std::string(model) + "\",\"n\":" + std::to_string(n) +
         ",\"tokens\":" + std::to_string(n % 977) + "}";
}

struct FrameInfo {
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t seq = 0;
};

class VerifyCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tokenaudit_verify_cli_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    root_ = tmpl;
    data_ = root_ + "/data";
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  LedgerOptions Options(const std::string& dir) const {
    LedgerOptions o;
    o.env = Env::Default();
    o.data_dir = dir;
    o.segment_bytes = 16 << 10;
    o.checkpoint_every_records = 100;
    o.checkpoint_interval_ms = 3600 * 1000;
    // What is under test is the verifier, not durability; skipping fdatasync keeps the tests fast.
    o.unsafe_skip_sync_for_testing = true;
    return o;
  }

  // Appends record(0), ..., record(count - 1) to the ledger in options.data_dir, creating it if
  // needed, and closes it cleanly.
  void WriteRecords(const LedgerOptions& options, uint64_t count,
                    const std::function<std::string(uint64_t)>& record = UsageRecordOf) {
    auto ledger = Ledger::Open(options);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    std::vector<std::string> owned;
    std::vector<std::string_view> views;
    for (uint64_t n = 0; n < count;) {
      owned.clear();
      views.clear();
      for (; n < count && owned.size() < 1000; ++n) owned.push_back(record(n));
      for (const auto& r : owned) views.push_back(r);
      auto seq = (*ledger)->AppendBatch(views);
      ASSERT_TRUE(seq.ok()) << seq.status();
    }
    ASSERT_TRUE((*ledger)->Close().ok());
  }
  static std::string UsageRecordOf(uint64_t n) { return UsageRecord(n); }

  std::vector<std::string> Segments() {
    auto segs = log::ListSegments(Env::Default(), data_ + "/log");
    EXPECT_TRUE(segs.ok()) << segs.status();
    return segs.ok() ? *segs : std::vector<std::string>();
  }

  // The frames of one segment file, parsed independently of the verifier.
  std::vector<FrameInfo> Frames(const std::string& segment) {
    std::vector<FrameInfo> frames;
    auto data = ReadFileToString(Env::Default(), data_ + "/log/" + segment);
    EXPECT_TRUE(data.ok()) << data.status();
    if (!data.ok()) return frames;
    auto header = log::DecodeSegmentHeader(*data);
    EXPECT_TRUE(header.ok()) << header.status();
    if (!header.ok()) return frames;
    const uint32_t salt_crc = log::SaltCrc(header->salt);
    uint64_t offset = log::kSegmentHeaderSize;
    while (offset < data->size()) {
      log::Frame f;
      if (log::DecodeFrame(std::string_view(*data).substr(offset), salt_crc, &f) !=
          log::FrameStatus::kOk) {
        ADD_FAILURE() << segment << ": bad frame at " << offset;
        break;
      }
      frames.push_back({offset, f.encoded_size, f.seq});
      offset += f.encoded_size;
    }
    return frames;
  }

  // The tree size of the newest checkpoint file in `data_dir`.
  static uint64_t NewestCheckpointSize(const std::string& data_dir) {
    uint64_t newest = 0;
    for (const auto& entry : fs::directory_iterator(data_dir + "/checkpoints")) {
      uint64_t size = 0;
      if (ledger::ParseCheckpointFileName(entry.path().filename().string(), &size)) {
        newest = std::max(newest, size);
      }
    }
    return newest;
  }

  RunResult Verify(std::vector<std::string> args, const Pause& pause = Pause()) {
    return RunTokenaudit(args, root_, pause);
  }

  std::string root_;
  std::string data_;
};

TEST_F(VerifyCliTest, CleanDataDirectoryExitsZeroAndPrintsOk) {
  WriteRecords(Options(data_), 1000);
  auto ledger = Ledger::Open(Options(data_));
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  const uint64_t size = (*ledger)->Size();
  auto root = (*ledger)->RootAt(size);
  ASSERT_TRUE(root.ok());
  ASSERT_TRUE((*ledger)->Close().ok());
  ledger->reset();

  RunResult r = Verify({"verify", data_});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(
      r.out.rfind("OK: " + std::to_string(size) + " records (1000 usage, 0 access, 0 recovery)", 0),
      0u)
      << r;
  EXPECT_TRUE(Contains(r.out, "root at size " + std::to_string(size) + ": " + merkle::ToHex(*root)))
      << r;
  EXPECT_FALSE(Contains(r.out, "WARNING")) << r;
  EXPECT_FALSE(Contains(r.err, "FAILED")) << r;
  EXPECT_FALSE(Contains(r.err, "\r")) << "stderr is not a terminal: " << r;
}

TEST_F(VerifyCliTest, BitFlipInASealedSegmentExitsOneNamingSegmentOffsetAndSeq) {
  WriteRecords(Options(data_), 2000);
  std::vector<std::string> segs = Segments();
  ASSERT_GE(segs.size(), 4u);
  const std::string& name = segs[segs.size() / 2];
  std::vector<FrameInfo> frames = Frames(name);
  ASSERT_GE(frames.size(), 3u);
  const FrameInfo& f = frames[frames.size() / 2];
  const std::string path = data_ + "/log/" + name;
  auto data = ReadFileToString(Env::Default(), path);
  ASSERT_TRUE(data.ok());
  (*data)[f.offset + log::kFrameHeaderSize + 7] ^= 0x04;
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, *data).ok());

  RunResult r = Verify({"verify", data_});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(Contains(r.err, "verify FAILED: Corruption: segment " + name + " offset " +
                                  std::to_string(f.offset) + " (seq " + std::to_string(f.seq) +
                                  "): frame payload CRC mismatch"))
      << r;
  EXPECT_TRUE(Contains(r.err, std::to_string(f.seq) + " records verified before the failure")) << r;
  EXPECT_TRUE(r.out.empty()) << r;
}

TEST_F(VerifyCliTest, TornTailExitsZeroWithAWarning) {
  WriteRecords(Options(data_), 300);
  const std::string name = Segments().back();
  const std::string path = data_ + "/log/" + name;
  auto data = ReadFileToString(Env::Default(), path);
  ASSERT_TRUE(data.ok());
  const uint64_t good = data->size();
  // Half a frame, as a crash in the middle of write(2) leaves it.
  std::string torn = *data + std::string("\x11\x22\x33\x44\x00\x10\x00\x00garbage", 15);
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), path, torn).ok());

  RunResult r = Verify({"verify", data_});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(Contains(r.out, "WARNING: torn tail of 15 bytes at offset " + std::to_string(good) +
                                  " of segment " + name))
      << r;
}

// An attacker with write access to the data directory (key included) replaces the log with a
// forged one: same log id, one record altered, everything re-hashed and re-signed with a new key.
// Only a checkpoint exported before the forgery can tell.
TEST_F(VerifyCliTest, RewrittenLogExitsOneAgainstAnOlderExportedCheckpoint) {
  WriteRecords(Options(data_), 1000);
  const uint64_t exported_size = NewestCheckpointSize(data_);
  ASSERT_GE(exported_size, 1000u);
  const std::string exported = root_ + "/old.cp";
  fs::copy_file(data_ + "/checkpoints/" + ledger::CheckpointFileName(exported_size), exported);
  RunResult before = Verify({"verify", data_, "--checkpoint", exported});
  ASSERT_EQ(before.exit_code, 0) << before;

  // The forger starts a ledger that reuses the victim's LEDGER file (hence its log id) and
  // replays the usage records with record 500 changed, under its own signing key.
  const std::string forged = root_ + "/forged";
  fs::create_directories(forged);
  fs::copy_file(data_ + "/LEDGER", forged + "/LEDGER");
  WriteRecords(Options(forged), 1000,
               [](uint64_t n) { return n == 500 ? UsageRecord(n, "gpt-cheap") : UsageRecord(n); });
  for (const char* sub : {"log", "checkpoints", "keys"}) {
    fs::remove_all(data_ + "/" + sub);
    fs::rename(forged + "/" + sub, data_ + "/" + sub);
  }

  RunResult alone = Verify({"verify", data_});
  EXPECT_EQ(alone.exit_code, 0) << "nothing inside the directory can tell: " << alone;

  RunResult r = Verify({"verify", data_, "--checkpoint", exported});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(Contains(r.err, "verify FAILED: Corruption: " + exported +
                                  ": the log's root at size " + std::to_string(exported_size)))
      << r;
}

TEST_F(VerifyCliTest, CheckpointOfAnotherLedgerExitsOne) {
  WriteRecords(Options(data_), 200);
  const std::string other = root_ + "/other";
  WriteRecords(Options(other), 200);
  const uint64_t size = NewestCheckpointSize(other);
  const std::string cp = other + "/checkpoints/" + ledger::CheckpointFileName(size);
  RunResult r = Verify({"verify", data_, "--checkpoint", cp});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(Contains(r.err, cp + ": checkpoint of log ")) << r;
  EXPECT_TRUE(Contains(r.err, ", this log is ")) << r;
}

TEST_F(VerifyCliTest, MissingDirectoryOrCheckpointFileExitsTwo) {
  RunResult r = Verify({"verify", root_ + "/nonexistent"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(Contains(r.err, root_ + "/nonexistent")) << r;

  WriteRecords(Options(data_), 10);
  r = Verify({"verify", data_, "--checkpoint", root_ + "/no-such.cp"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(Contains(r.err, root_ + "/no-such.cp")) << r;

  r = Verify({"verify"});
  EXPECT_EQ(r.exit_code, 2) << r;
}

TEST_F(VerifyCliTest, HelpExplainsTheExitCodes) {
  RunResult r = Verify({"verify", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(Contains(r.out, "--checkpoint")) << r;
  EXPECT_TRUE(Contains(r.out, "Exit status: 0 all verified; 1 corruption")) << r;
  EXPECT_TRUE(Contains(r.out, "2 usage or I/O error")) << r;
}

// Progress goes to stderr, one line at a time when stderr is not a terminal, at most once a
// second and never within the first second. This machine may verify the whole log in well under a
// second, so one run is paused for a while in the middle of the scan: a line is then due.
TEST_F(VerifyCliTest, ProgressOnALargeLogIsAtMostOncePerSecond) {
  LedgerOptions options = Options(data_);
  options.segment_bytes = 1 << 20;
  options.checkpoint_every_records = 100000;
  constexpr uint64_t kRecords = 300000;
  WriteRecords(options, kRecords);
  uint64_t log_bytes = 0;
  for (const auto& name : Segments()) log_bytes += fs::file_size(data_ + "/log/" + name);
  ASSERT_GE(log_bytes, 8u << 20);

  const std::regex progress(R"(verify: [0-9]+\.[0-9] of [0-9]+\.[0-9] MiB \([0-9]+%\))");
  const std::regex elapsed(R"(\n +([0-9]+\.[0-9]+) s, )");
  const Pause mid_scan{2u << 20, std::chrono::milliseconds(1300)};
  for (const Pause& pause : {Pause(), mid_scan}) {
    SCOPED_TRACE("paused for " + std::to_string(pause.length.count()) + " ms");
    RunResult r = Verify({"verify", data_}, pause);
    ASSERT_EQ(r.exit_code, 0) << r;
    ASSERT_TRUE(Contains(r.out, "(" + std::to_string(kRecords) + " usage,")) << r;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, elapsed)) << r;
    const double secs = std::stod(m[1].str());

    EXPECT_FALSE(Contains(r.err, "\r")) << "stderr is not a terminal: " << r;
    std::istringstream lines(r.err);
    std::string line;
    int progress_lines = 0;
    while (std::getline(lines, line)) {
      EXPECT_TRUE(std::regex_match(line, progress)) << "unexpected stderr line: " << line;
      ++progress_lines;
    }
    // Line k is printed at least k seconds after verification started.
    EXPECT_LE(progress_lines, static_cast<int>(std::floor(secs))) << secs << " s\n" << r;
    // Paused with at least a segment still to scan, so a progress callback follows the pause.
    if (r.paused && r.paused_at_bytes + (2u << 20) <= log_bytes) {
      EXPECT_GE(progress_lines, 1) << secs << " s\n" << r;
    } else if (pause.length.count() > 0) {
      std::cerr << "could not pause in mid-scan (read " << r.paused_at_bytes << " of " << log_bytes
                << " bytes); not checking that progress appears\n";
    }
  }

  RunResult quiet = Verify({"verify", "-q", data_}, mid_scan);
  EXPECT_EQ(quiet.exit_code, 0) << quiet;
  EXPECT_TRUE(quiet.err.empty()) << quiet;
}

}  // namespace
}  // namespace tokenaudit
