// The kill -9 durability test: a built ledger_appender appends from 4 threads and is SIGKILLed at
// random points; after every kill `ledger_appender dump` recovers the directory and every record
// the appender acknowledged must be there, at the seq it was acknowledged with, byte for byte.
//
// Knobs (environment):
//   KILL9_ROUNDS          rounds to run (default 50; test/scripts/kill9_soak.sh uses 1000)
//   KILL9_SEED            seed of the round parameters (default: random, printed)
//   KILL9_APPENDER        path of ledger_appender (default: the one built beside this test)
//   KILL9_PROGRESS_EVERY  print a progress line every N rounds (default 10)
//   KILL9_KEEP            if set, keep the data directories even when the test passes
//
// Per round the harness picks: whether to continue the previous data directory (most rounds, so
// recovery of an already recovered log is exercised) or start a fresh one; durability (sync or
// interval: a process kill must not lose an acknowledged record in either); batch size; record
// size; checkpoint interval; per directory, the segment size (small ones force rotation); and the
// kill point: 5-150 ms after the first ACK (mid-flight) or, in one round in five, after spawn
// (which may land inside Open and recovery). One round in four is not followed by a dump, so the
// next appender's own Open has to recover the killed log (and may be killed while doing so); the
// next dump then checks the acknowledgements of both rounds. Each dump must also reproduce the
// previous dump of the directory as a prefix: what recovery once returned never changes.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "test/kill9/kill9_record.h"

#ifndef KILL9_APPENDER_PATH
#define KILL9_APPENDER_PATH "ledger_appender"
#endif

namespace tokenaudit::kill9 {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kThreads = 4;
constexpr auto kFirstAckTimeout = std::chrono::seconds(30);
constexpr auto kDrainTimeout = std::chrono::seconds(10);
constexpr auto kDumpTimeout = std::chrono::seconds(120);

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

int64_t MillisBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// A child process with stdout and stderr piped to us.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    CloseFd(&out_fd_);
    CloseFd(&err_fd_);
  }

  // fork/exec of argv[0] with `argv`; returns an error message or "".
  std::string Spawn(const std::vector<std::string>& argv) {
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
      ::close(out_pipe[0]);
      ::close(out_pipe[1]);
      return std::string("pipe: ") + std::strerror(errno);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return std::string("fork: ") + std::strerror(errno);
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      ::dup2(out_pipe[1], STDOUT_FILENO);
      ::dup2(err_pipe[1], STDERR_FILENO);
      ::execv(args[0], args.data());
      static const char kMsg[] = "exec failed\n";
      ssize_t ignored = ::write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
      (void)ignored;
      ::_exit(127);
    }
    pid_ = pid;
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    return "";
  }

  // Waits up to `timeout_ms` for output and reads what is there. Returns false once both pipes
  // are at EOF.
  bool Pump(int timeout_ms) {
    pollfd fds[2];
    nfds_t n = 0;
    if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
    if (n == 0) return false;
    int r = ::poll(fds, n, timeout_ms < 0 ? 0 : timeout_ms);
    if (r <= 0) return true;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      bool is_out = fds[i].fd == out_fd_;
      ReadSome(is_out ? &out_fd_ : &err_fd_, is_out ? &out_ : &err_);
    }
    return out_fd_ >= 0 || err_fd_ >= 0;
  }

  void Kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

  // Reaps the child; returns its wait status.
  int Wait() {
    int status = 0;
    while (pid_ > 0 && ::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

  // Unconsumed stdout; the caller erases what it parsed.
  std::string& out() { return out_; }
  const std::string& err() const { return err_; }

 private:
  static void CloseFd(int* fd) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
  }

  static void ReadSome(int* fd, std::string* buf) {
    char chunk[1 << 16];
    ssize_t n = ::read(*fd, chunk, sizeof(chunk));
    if (n > 0) {
      buf->append(chunk, static_cast<size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      CloseFd(fd);
    }
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
};

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exited with " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

struct Ack {
  uint64_t seq;
  RecordKey key;
};

// What one run of the appender wrote, so a dump can be checked against it.
struct RunParams {
  uint64_t run_id = 0;
  uint32_t batch = 1;
  size_t record_bytes = 300;
};

// One data directory and what is known about it across the rounds that used it.
struct DataDir {
  std::string path;
  uint64_t segment_bytes = 0;
  int rounds = 0;
  std::map<RecordKey, uint64_t> acked;        // every acknowledged record -> its seq
  std::map<uint64_t, RunParams> runs;         // run id -> parameters
  std::vector<uint64_t> dumped_fingerprints;  // the previous dump, one per seq
};

struct Totals {
  uint64_t rounds = 0;
  uint64_t acked = 0;
  uint64_t lost = 0;
  uint64_t mid_flight = 0;
  uint64_t killed_before_first_ack = 0;
  uint64_t fresh_dirs = 0;
  uint64_t undumped_rounds = 0;  // not dumped; recovered by the next appender
  uint64_t truncating_recoveries = 0;
  uint64_t max_log_records = 0;
};

// Parses the complete lines at the front of `buf` as ACK lines and erases them.
// Returns an error message for a line that is not a well-formed ACK, else "".
std::string TakeAckLines(std::string* buf, uint64_t run_id, std::vector<Ack>* acks) {
  size_t start = 0;
  std::string error;
  for (size_t nl; (nl = buf->find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = buf->substr(start, nl - start);
    Ack ack{};
    ack.key.run = run_id;
    int consumed = 0;
    if (std::sscanf(line.c_str(), "ACK %" SCNu64 " %u %" SCNu64 "%n", &ack.seq, &ack.key.thread,
                    &ack.key.counter, &consumed) != 3 ||
        static_cast<size_t>(consumed) != line.size() || ack.key.thread >= kThreads) {
      if (error.empty()) error = "unexpected appender output line: '" + line + "'";
      continue;
    }
    acks->push_back(ack);
  }
  buf->erase(0, start);
  return error;
}

uint64_t Fingerprint(int type, std::string_view payload) {
  const uint64_t h = std::hash<std::string_view>()(payload);
  return h * 31 + static_cast<uint64_t>(type);
}

class Kill9Test : public ::testing::Test {
 protected:
  void SetUp() override {
    appender_ = KILL9_APPENDER_PATH;
    if (const char* p = std::getenv("KILL9_APPENDER"); p != nullptr && *p != '\0') appender_ = p;
    ASSERT_EQ(::access(appender_.c_str(), X_OK), 0) << "ledger_appender not found at " << appender_;
    std::string base = "/tmp";
    for (const char* var : {"TEST_TMPDIR", "TMPDIR"}) {
      if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {
        base = v;
        break;
      }
    }
    std::string templ = base + "/tokenaudit-kill9-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr)
        << "mkdtemp " << templ << ": " << std::strerror(errno);
    root_ = templ;
  }

  void TearDown() override {
    if (HasFailure() || std::getenv("KILL9_KEEP") != nullptr) {
      std::printf("kill9: data kept in %s\n", root_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  // Runs one append-and-kill round in `dir`. Returns false (after recording failures) if the
  // round found loss or any other misbehaviour.
  // If `check` is false the round ends after the kill: the next round's appender recovers.
  bool RunRound(uint64_t round, DataDir* dir, std::mt19937_64* rng, bool check, Totals* totals);

  // Runs dump on `dir` and checks it against everything acknowledged there.
  bool DumpAndCheck(DataDir* dir, uint64_t round, Totals* totals);

  std::string appender_;
  std::string root_;
};

template <typename T>
T Pick(std::mt19937_64* rng, std::initializer_list<T> choices) {
  auto i = std::uniform_int_distribution<size_t>(0, choices.size() - 1)(*rng);
  return *(choices.begin() + i);
}

bool Kill9Test::RunRound(uint64_t round, DataDir* dir, std::mt19937_64* rng, bool check,
                         Totals* totals) {
  RunParams params;
  params.run_id = round;
  params.batch = Pick<uint32_t>(rng, {1, 4, 8, 16, 64});
  params.record_bytes = Pick<size_t>(rng, {300, 300, 300, 40, 1200, 9000});
  bool interval = (*rng)() % 4 == 0;
  uint32_t checkpoint_ms = Pick<uint32_t>(rng, {1000, 50, 10});
  bool timer_from_spawn = (*rng)() % 5 == 0;
  int delay_ms = std::uniform_int_distribution<int>(5, 150)(*rng);
  dir->runs[params.run_id] = params;

  std::vector<std::string> argv = {appender_,
                                   "append",
                                   "--data-dir",
                                   dir->path,
                                   "--threads",
                                   std::to_string(kThreads),
                                   "--batch",
                                   std::to_string(params.batch),
                                   "--record-bytes",
                                   std::to_string(params.record_bytes),
                                   "--durability",
                                   interval ? "interval" : "sync",
                                   "--run-id",
                                   std::to_string(params.run_id),
                                   "--checkpoint-interval-ms",
                                   std::to_string(checkpoint_ms)};
  if (dir->segment_bytes != 0) {
    argv.push_back("--segment-bytes");
    argv.push_back(std::to_string(dir->segment_bytes));
  }
  std::string what = "round " + std::to_string(round) + " (" + dir->path + ", batch " +
                     std::to_string(params.batch) + ", " + std::to_string(params.record_bytes) +
                     " B, " + (interval ? "interval" : "sync") + ", checkpoint " +
                     std::to_string(checkpoint_ms) + " ms, segment " +
                     std::to_string(dir->segment_bytes) + " B, kill " + std::to_string(delay_ms) +
                     " ms after " + (timer_from_spawn ? "spawn" : "first ACK") + ", round " +
                     std::to_string(dir->rounds) + " in this directory" +
                     (check ? "" : ", not dumped") + ")";

  Child child;
  std::string spawn_error = child.Spawn(argv);
  if (!spawn_error.empty()) {
    ADD_FAILURE() << what << ": " << spawn_error;
    return false;
  }
  const Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> kill_at;
  if (timer_from_spawn) kill_at = start + std::chrono::milliseconds(delay_ms);
  std::optional<Clock::time_point> last_ack_at;
  std::vector<Ack> acks;
  std::string output_error;
  bool exited_early = false;
  while (true) {
    Clock::time_point now = Clock::now();
    if (kill_at && now >= *kill_at) break;
    if (!kill_at && now - start >= kFirstAckTimeout) {
      ADD_FAILURE() << what << ": no ACK within 30 s; appender stderr:\n" << child.err();
      return false;
    }
    int wait_ms = kill_at ? static_cast<int>(MillisBetween(now, *kill_at)) + 1 : 50;
    bool open = child.Pump(wait_ms);
    size_t before = acks.size();
    std::string err = TakeAckLines(&child.out(), params.run_id, &acks);
    if (output_error.empty()) output_error = err;
    if (acks.size() > before) {
      last_ack_at = Clock::now();
      if (!kill_at) kill_at = *last_ack_at + std::chrono::milliseconds(delay_ms);
    }
    if (!open) {
      exited_early = true;
      break;
    }
  }
  child.Kill();
  const Clock::time_point killed_at = Clock::now();
  const size_t acks_before_kill = acks.size();
  // Whatever is still in the pipe was written, hence acknowledged, before the process died.
  while (child.Pump(100)) {
    if (Clock::now() - killed_at > kDrainTimeout) {
      ADD_FAILURE() << what << ": pipes still open 10 s after SIGKILL";
      return false;
    }
  }
  std::string err = TakeAckLines(&child.out(), params.run_id, &acks);
  if (output_error.empty()) output_error = err;
  const int status = child.Wait();

  bool ok = true;
  if (exited_early || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
    ADD_FAILURE() << what << ": appender was not killed by our SIGKILL but "
                  << DescribeWaitStatus(status) << "; stderr:\n"
                  << child.err();
    ok = false;
  }
  // "ERR" lines are statuses the ledger returned before the kill; nothing may fail mid-run.
  // Other stderr output (diagnostics the library may log) is not a failure by itself.
  if (child.err().starts_with("ERR") || child.err().find("\nERR") != std::string::npos) {
    ADD_FAILURE() << what << ": the ledger returned an error before the kill:\n" << child.err();
    ok = false;
  }
  if (!output_error.empty()) {
    ADD_FAILURE() << what << ": " << output_error;
    ok = false;
  }

  std::set<uint64_t> seqs;
  for (const Ack& ack : acks) {
    if (!dir->acked.emplace(ack.key, ack.seq).second) {
      ADD_FAILURE() << what << ": record thread " << ack.key.thread << " counter "
                    << ack.key.counter << " acknowledged twice";
      ok = false;
    }
    if (!seqs.insert(ack.seq).second) {
      ADD_FAILURE() << what << ": seq " << ack.seq << " acknowledged for two records";
      ok = false;
    }
  }
  totals->acked += acks.size();
  if (acks.empty()) {
    ++totals->killed_before_first_ack;
  } else if (acks.size() > acks_before_kill ||
             (last_ack_at && killed_at - *last_ack_at <= std::chrono::milliseconds(20))) {
    ++totals->mid_flight;  // ACKs were streaming when the signal was sent
  }
  if (!ok) return false;
  if (!check) {
    ++totals->undumped_rounds;
    return true;
  }
  if (!DumpAndCheck(dir, round, totals)) {
    std::printf("kill9: failed %s\n", what.c_str());
    return false;
  }
  return true;
}

bool Kill9Test::DumpAndCheck(DataDir* dir, uint64_t round, Totals* totals) {
  const std::string what = "round " + std::to_string(round) + " dump of " + dir->path;
  Child child;
  std::string spawn_error = child.Spawn({appender_, "dump", "--data-dir", dir->path});
  if (!spawn_error.empty()) {
    ADD_FAILURE() << what << ": " << spawn_error;
    return false;
  }
  const Clock::time_point start = Clock::now();
  while (child.Pump(1000)) {
    if (Clock::now() - start > kDumpTimeout) {
      child.Kill();
      ADD_FAILURE() << what << ": dump did not finish within 120 s";
      return false;
    }
  }
  const int status = child.Wait();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << what << ": recovery or reading failed, dump " << DescribeWaitStatus(status)
                  << "; stderr:\n"
                  << child.err();
    return false;
  }

  std::vector<std::string> errors;
  auto fail = [&errors](std::string msg) {
    if (errors.size() < 20) errors.push_back(std::move(msg));
  };
  std::string_view out = child.out();
  std::map<RecordKey, uint64_t> present;  // key -> seq
  std::vector<uint64_t> fingerprints;
  bool saw_open = false;
  std::optional<uint64_t> end_count;
  uint64_t truncated_bytes = 0;
  while (!out.empty()) {
    size_t nl = out.find('\n');
    if (nl == std::string_view::npos) {
      fail("dump output ends without a newline");
      break;
    }
    std::string_view line = out.substr(0, nl);
    out.remove_prefix(nl + 1);
    if (line.starts_with("OPEN ")) {
      saw_open = true;
      std::string s(line);
      if (const char* t = std::strstr(s.c_str(), "truncated_bytes=")) {
        truncated_bytes = std::strtoull(t + std::strlen("truncated_bytes="), nullptr, 10);
      }
      continue;
    }
    if (line.starts_with("END records=")) {
      end_count = std::strtoull(std::string(line.substr(12)).c_str(), nullptr, 10);
      continue;
    }
    if (!line.starts_with("REC ") || end_count) {
      fail("unexpected dump line: " + std::string(line.substr(0, 120)));
      continue;
    }
    // REC <seq> <type> <payload>
    std::string_view rest = line.substr(4);
    size_t sp1 = rest.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : rest.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) {
      fail("malformed dump line: " + std::string(line.substr(0, 120)));
      continue;
    }
    uint64_t seq = std::strtoull(std::string(rest.substr(0, sp1)).c_str(), nullptr, 10);
    int type = std::atoi(std::string(rest.substr(sp1 + 1, sp2 - sp1 - 1)).c_str());
    std::string_view payload = rest.substr(sp2 + 1);
    if (seq != fingerprints.size()) {
      fail("seqs are not contiguous: expected " + std::to_string(fingerprints.size()) + ", got " +
           std::to_string(seq));
    }
    fingerprints.push_back(Fingerprint(type, payload));
    if (type < 1 || type > 4)
      fail("seq " + std::to_string(seq) + ": unknown type " + std::to_string(type));
    if (type != static_cast<int>(RecordType::kUsage) &&
        type != static_cast<int>(RecordType::kAccess)) {
      continue;  // checkpoint and recovery records are the ledger's own
    }
    std::optional<RecordKey> key = ParseRecordKey(payload);
    if (!key) {
      fail("seq " + std::to_string(seq) +
           ": not a test record: " + std::string(payload.substr(0, 80)));
      continue;
    }
    auto run = dir->runs.find(key->run);
    if (run == dir->runs.end() || key->thread >= kThreads) {
      fail("seq " + std::to_string(seq) + ": record of an unknown run or thread");
      continue;
    }
    if (payload != MakeRecordPayload(*key, run->second.record_bytes)) {
      fail("seq " + std::to_string(seq) +
           ": payload damaged: " + std::string(payload.substr(0, 80)));
    }
    if (type != static_cast<int>(RecordTypeForThread(key->thread))) {
      fail("seq " + std::to_string(seq) + ": wrong type " + std::to_string(type));
    }
    if (auto [it, inserted] = present.emplace(*key, seq); !inserted) {
      fail("run " + std::to_string(key->run) + " thread " + std::to_string(key->thread) +
           " counter " + std::to_string(key->counter) + " appears twice, at seq " +
           std::to_string(it->second) + " and " + std::to_string(seq));
    }
  }
  if (!saw_open) fail("dump printed no OPEN line");
  if (!end_count || *end_count != fingerprints.size()) fail("dump did not end with END records=N");

  // The previous dump (after whose Close everything it showed was durable) must be a prefix.
  const std::vector<uint64_t>& before = dir->dumped_fingerprints;
  if (fingerprints.size() < before.size()) {
    fail("the log shrank from " + std::to_string(before.size()) + " to " +
         std::to_string(fingerprints.size()) + " records since the previous dump");
  }
  for (size_t i = 0; i < before.size() && i < fingerprints.size(); ++i) {
    if (before[i] != fingerprints[i]) {
      fail("seq " + std::to_string(i) + " changed since the previous dump");
      break;
    }
  }

  // Zero acknowledged records lost: each is present at exactly the seq it was acknowledged with.
  uint64_t lost = 0;
  for (const auto& [key, seq] : dir->acked) {
    auto it = present.find(key);
    if (it == present.end() || it->second != seq) {
      ++lost;
      fail("LOST: run " + std::to_string(key.run) + " thread " + std::to_string(key.thread) +
           " counter " + std::to_string(key.counter) + " acknowledged at seq " +
           std::to_string(seq) +
           (it == present.end() ? " is missing" : " is at seq " + std::to_string(it->second)));
    }
  }
  totals->lost += lost;

  // Per (run, thread) the records present are counters 0..k-1 in increasing seq order (a thread
  // appends its next record only after the previous one was acknowledged), and at most one
  // unacknowledged request of at most `batch` records beyond the last acknowledged one.
  std::map<std::pair<uint64_t, uint32_t>, uint64_t> max_acked;  // -> max counter + 1
  for (const auto& [key, seq] : dir->acked) {
    uint64_t& m = max_acked[{key.run, key.thread}];
    m = std::max(m, key.counter + 1);
  }
  std::pair<uint64_t, uint32_t> current{UINT64_MAX, 0};
  uint64_t next_counter = 0;
  uint64_t last_seq = 0;
  auto check_extent = [&](std::pair<uint64_t, uint32_t> stream, uint64_t count) {
    if (stream.first == UINT64_MAX) return;
    uint64_t acked = max_acked[stream];
    uint64_t batch = dir->runs[stream.first].batch;
    if (count > acked + batch) {
      fail("run " + std::to_string(stream.first) + " thread " + std::to_string(stream.second) +
           ": " + std::to_string(count) + " records present but only " + std::to_string(acked) +
           " acknowledged with batch " + std::to_string(batch));
    }
  };
  for (const auto& [key, seq] : present) {  // ordered by (run, thread, counter)
    std::pair<uint64_t, uint32_t> stream{key.run, key.thread};
    if (stream != current) {
      check_extent(current, next_counter);
      current = stream;
      next_counter = 0;
    } else if (seq <= last_seq) {
      fail("run " + std::to_string(key.run) + " thread " + std::to_string(key.thread) +
           ": counter " + std::to_string(key.counter) + " at seq " + std::to_string(seq) +
           " precedes the previous counter's seq " + std::to_string(last_seq));
    }
    if (key.counter != next_counter) {
      fail("run " + std::to_string(key.run) + " thread " + std::to_string(key.thread) +
           ": counter " + std::to_string(next_counter) + " missing before " +
           std::to_string(key.counter));
    }
    next_counter = key.counter + 1;
    last_seq = seq;
  }
  check_extent(current, next_counter);

  if (truncated_bytes > 0) ++totals->truncating_recoveries;
  totals->max_log_records = std::max<uint64_t>(totals->max_log_records, fingerprints.size());
  dir->dumped_fingerprints = std::move(fingerprints);

  if (!errors.empty()) {
    std::string all;
    for (const std::string& e : errors) all += "  " + e + "\n";
    ADD_FAILURE() << what << ": " << errors.size() << (errors.size() == 20 ? "+" : "")
                  << " problems (" << lost << " acknowledged records lost):\n"
                  << all;
    return false;
  }
  return true;
}

TEST_F(Kill9Test, NoAcknowledgedRecordIsLostWhenKilledAtRandomPoints) {
  const uint64_t rounds = EnvU64("KILL9_ROUNDS", 50);
  const uint64_t seed =
      EnvU64("KILL9_SEED", std::random_device{}() ^ (static_cast<uint64_t>(::getpid()) << 32));
  const uint64_t progress_every = EnvU64("KILL9_PROGRESS_EVERY", 10);
  std::printf("kill9: seed=%" PRIu64 " rounds=%" PRIu64 " appender=%s dir=%s\n", seed, rounds,
              appender_.c_str(), root_.c_str());
  std::printf("kill9: reproduce the round parameters with KILL9_SEED=%" PRIu64
              " KILL9_ROUNDS=%" PRIu64 "\n",
              seed, rounds);
  std::fflush(stdout);
  RecordProperty("kill9_seed", std::to_string(seed));

  std::mt19937_64 rng(seed);
  Totals totals;
  const Clock::time_point start = Clock::now();
  std::optional<DataDir> dir;
  uint64_t dir_count = 0;
  bool ok = true;
  bool leave_dir = true;
  for (uint64_t round = 0; round < rounds && ok; ++round) {
    if (leave_dir) {
      if (dir && std::getenv("KILL9_KEEP") == nullptr) {
        std::error_code ec;
        std::filesystem::remove_all(dir->path, ec);
      }
      dir.emplace();
      dir->path = root_ + "/data" + std::to_string(dir_count++);
      dir->segment_bytes = Pick<uint64_t>(&rng, {0, 0, 1u << 20, 128u << 10, 32u << 10});
      ++totals.fresh_dirs;
    }
    ++dir->rounds;
    leave_dir = dir->rounds >= 12 || rng() % 8 == 0;
    // One round in four is not followed by a dump (never the last round in a directory), so the
    // next appender's own Open recovers the killed log, and may itself be killed mid-recovery.
    const bool check = round + 1 == rounds || leave_dir || rng() % 4 != 0;
    ok = RunRound(round, &*dir, &rng, check, &totals);
    ++totals.rounds;
    if (progress_every != 0 && (round + 1) % progress_every == 0) {
      std::printf("kill9: progress rounds=%" PRIu64 " acked=%" PRIu64 " lost=%" PRIu64
                  " mid_flight=%" PRIu64 " elapsed_s=%.1f\n",
                  totals.rounds, totals.acked, totals.lost, totals.mid_flight,
                  std::chrono::duration<double>(Clock::now() - start).count());
      std::fflush(stdout);
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("kill9: summary rounds=%" PRIu64 " acked=%" PRIu64 " lost=%" PRIu64
              " mid_flight=%" PRIu64 " killed_before_first_ack=%" PRIu64 " fresh_dirs=%" PRIu64
              " undumped_rounds=%" PRIu64 " truncating_recoveries=%" PRIu64
              " max_log_records=%" PRIu64 " seed=%" PRIu64 " elapsed_s=%.1f result=%s\n",
              totals.rounds, totals.acked, totals.lost, totals.mid_flight,
              totals.killed_before_first_ack, totals.fresh_dirs, totals.undumped_rounds,
              totals.truncating_recoveries, totals.max_log_records, seed, elapsed,
              ok ? "ok" : "FAILED");
  std::fflush(stdout);

  ASSERT_TRUE(ok) << "stopped at the first failing round; seed " << seed;
  EXPECT_EQ(totals.lost, 0u);
  EXPECT_GT(totals.acked, 0u) << "no record was ever acknowledged";
  // Most rounds start the kill timer at the first ACK, so most kills land while ACKs stream.
  if (rounds >= 10) {
    EXPECT_GE(totals.mid_flight, rounds / 4)
        << "too few rounds killed the appender while it was acknowledging records";
  }
}

}  // namespace
}  // namespace tokenaudit::kill9
