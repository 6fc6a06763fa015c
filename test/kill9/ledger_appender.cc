// ledger_appender: the process the kill -9 test kills.
//
//   ledger_appender append --data-dir D --threads N [--batch B] [--record-bytes 300]
//                          [--durability sync|interval] [--run-id R] [--segment-bytes S]
//                          [--checkpoint-interval-ms M] [--records-per-thread K]
//     Opens the ledger in D and starts N threads. Each appends records (kill9_record.h) until it
//     has appended K of them (0, the default: forever), choosing per request between Append of
//     one record and AppendBatch of 2..B. After each acknowledgement it writes
//     "ACK <seq> <thread> <counter>\n" to fd 1 (one line per record of a batch), with write(2)
//     and never before the ledger returned, so every line a reader sees is an acknowledged
//     record. A non-OK status is written to stderr as "ERR thread=<t> <status>" and stops that
//     thread. Exits 0 once every thread appended K records and Close() succeeded, 1 otherwise.
//
//   ledger_appender dump --data-dir D
//     Opens the ledger as a restarted service would (running recovery), prints
//     "OPEN size=<n> records=<r> segments=<s> truncated_bytes=<t>", closes it, then prints
//     "REC <seq> <type> <payload>" for every record in the log (payload bytes outside printable
//     ASCII, and '\', as \xNN) and finally "END records=<count>". Exits 0 on success; on any
//     error prints "ERR <status>" to stderr and exits 1.

#include <limits.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "src/log/log_reader.h"
#include "test/kill9/kill9_record.h"
#include "tokenaudit/env.h"
#include "tokenaudit/ledger.h"
#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

namespace tokenaudit::kill9 {
namespace {

struct AppendFlags {
  std::string data_dir;
  uint32_t threads = 4;
  uint32_t batch = 8;
  size_t record_bytes = 300;
  Durability durability = Durability::kSync;
  uint64_t run_id = 0;
  uint64_t segment_bytes = 0;           // 0: the ledger's default
  uint32_t checkpoint_interval_ms = 0;  // 0: the ledger's default
  uint64_t records_per_thread = 0;      // 0: forever
};

void Usage() {
  std::fprintf(stderr,
               "usage: ledger_appender append --data-dir D --threads N [--batch B]\n"
               "           [--record-bytes 300] [--durability sync|interval] [--run-id R]\n"
               "           [--segment-bytes S] [--checkpoint-interval-ms M]\n"
               "           [--records-per-thread K]\n"
               "       ledger_appender dump --data-dir D\n");
}

// Writes all of `data` to `fd`, retrying short writes and EINTR.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Serialises ACK output of all threads. Each write(2) holds whole lines and at most PIPE_BUF
// bytes, so a pipe never holds a torn line except if the process dies between two writes of one
// batch, and then only whole lines of acknowledged records precede the cut.
class AckWriter {
 public:
  void Write(std::string_view lines) {
    std::lock_guard<std::mutex> lock(mu_);
    while (!lines.empty()) {
      size_t take = lines.size();
      if (take > PIPE_BUF) {
        take = lines.rfind('\n', PIPE_BUF - 1) + 1;  // lines are far shorter than PIPE_BUF
      }
      if (!WriteAll(STDOUT_FILENO, lines.substr(0, take))) std::_Exit(3);  // reader gone
      lines.remove_prefix(take);
    }
  }

 private:
  std::mutex mu_;
};

void WriteErr(std::string_view line) {
  std::string s(line);
  s.push_back('\n');
  WriteAll(STDERR_FILENO, s);
}

// One appender thread. Returns true if it appended all its records without error.
bool AppendLoop(Ledger* ledger, const AppendFlags& flags, uint32_t thread, AckWriter* acks) {
  std::mt19937_64 rng(flags.run_id * 1000003 + thread);
  const RecordType type = RecordTypeForThread(thread);
  uint64_t counter = 0;
  std::vector<std::string> payloads;
  std::vector<std::string_view> views;
  std::string lines;
  while (flags.records_per_thread == 0 || counter < flags.records_per_thread) {
    uint64_t n =
        flags.batch <= 1 ? 1 : std::uniform_int_distribution<uint64_t>(1, flags.batch)(rng);
    if (flags.records_per_thread != 0) n = std::min(n, flags.records_per_thread - counter);
    payloads.clear();
    views.clear();
    for (uint64_t i = 0; i < n; ++i) {
      payloads.push_back(
          MakeRecordPayload({flags.run_id, thread, counter + i}, flags.record_bytes));
    }
    for (const std::string& p : payloads) views.push_back(p);

    Result<uint64_t> first_seq =
        n == 1 ? ledger->Append(views[0], type) : ledger->AppendBatch(views, type);
    if (!first_seq.ok()) {
      WriteErr("ERR thread=" + std::to_string(thread) + " " + first_seq.status().ToString());
      return false;
    }
    lines.clear();
    for (uint64_t i = 0; i < n; ++i) {
      char line[96];
      int len = std::snprintf(line, sizeof(line), "ACK %" PRIu64 " %u %" PRIu64 "\n",
                              *first_seq + i, thread, counter + i);
      lines.append(line, static_cast<size_t>(len));
    }
    acks->Write(lines);
    counter += n;
  }
  return true;
}

int RunAppend(const AppendFlags& flags) {
  LedgerOptions options;
  options.data_dir = flags.data_dir;
  options.durability = flags.durability;
  if (flags.segment_bytes != 0) options.segment_bytes = flags.segment_bytes;
  if (flags.checkpoint_interval_ms != 0) {
    options.checkpoint_interval_ms = flags.checkpoint_interval_ms;
  }
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options);
  if (!ledger.ok()) {
    WriteErr("ERR open: " + ledger.status().ToString());
    return 1;
  }

  AckWriter acks;
  std::vector<std::thread> threads;
  std::vector<char> succeeded(flags.threads, 0);
  for (uint32_t t = 0; t < flags.threads; ++t) {
    threads.emplace_back([&, t] { succeeded[t] = AppendLoop(ledger->get(), flags, t, &acks); });
  }
  for (std::thread& th : threads) th.join();

  bool ok = true;
  for (char s : succeeded) ok = ok && s;
  Status closed = (*ledger)->Close();
  if (!closed.ok()) {
    WriteErr("ERR close: " + closed.ToString());
    ok = false;
  }
  return ok ? 0 : 1;
}

void AppendEscaped(std::string_view payload, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : payload) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out->push_back(c);
    } else {
      out->append("\\x");
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xf]);
    }
  }
}

int RunDump(const std::string& data_dir) {
  // Opened exactly as a restarted service would open it (create_if_missing included): a kill can
  // land while the very first Open is still creating the directory, and the next Open must then
  // finish the job rather than refuse.
  LedgerOptions options;
  options.data_dir = data_dir;
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options);
  if (!ledger.ok()) {
    WriteErr("ERR open: " + ledger.status().ToString());
    return 1;
  }
  const RecoveryReport& report = (*ledger)->recovery_report();
  std::string out;
  char line[256];
  int len =
      std::snprintf(line, sizeof(line),
                    "OPEN size=%" PRIu64 " records=%" PRIu64 " segments=%" PRIu64
                    " truncated_bytes=%" PRIu64 "\n",
                    (*ledger)->Size(), report.records, report.segments, report.truncated_bytes);
  out.append(line, static_cast<size_t>(len));
  Status closed = (*ledger)->Close();
  ledger->reset();
  if (!closed.ok()) {
    WriteErr("ERR close: " + closed.ToString());
    return 1;
  }

  uint64_t count = 0;
  auto print = [&](uint64_t seq, RecordType type, std::string_view payload) -> Status {
    int n = std::snprintf(line, sizeof(line), "REC %" PRIu64 " %d ", seq, static_cast<int>(type));
    out.append(line, static_cast<size_t>(n));
    AppendEscaped(payload, &out);
    out.push_back('\n');
    ++count;
    if (out.size() >= (1u << 20)) {
      if (!WriteAll(STDOUT_FILENO, out)) return Status::IOError("writing stdout");
      out.clear();
    }
    return Status::OK();
  };
  Status read = log::ReadAllRecords(Env::Default(), data_dir, print);
  if (!read.ok()) {
    WriteAll(STDOUT_FILENO, out);
    WriteErr("ERR read: " + read.ToString());
    return 1;
  }
  len = std::snprintf(line, sizeof(line), "END records=%" PRIu64 "\n", count);
  out.append(line, static_cast<size_t>(len));
  return WriteAll(STDOUT_FILENO, out) ? 0 : 1;
}

bool ParseU64(const char* s, uint64_t* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || s[0] == '-') return false;
  *out = v;
  return true;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return 2;
  }
  std::string mode = argv[1];
  AppendFlags flags;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      std::fprintf(stderr, "flag %s needs a value\n", arg.c_str());
      return 2;
    }
    uint64_t v = 0;
    bool is_number = ParseU64(value.c_str(), &v);
    if (arg == "--data-dir") {
      flags.data_dir = value;
    } else if (arg == "--durability") {
      if (value == "sync") {
        flags.durability = Durability::kSync;
      } else if (value == "interval") {
        flags.durability = Durability::kInterval;
      } else {
        std::fprintf(stderr, "--durability must be sync or interval\n");
        return 2;
      }
    } else if (!is_number) {
      std::fprintf(stderr, "unknown flag or bad number: %s %s\n", arg.c_str(), value.c_str());
      Usage();
      return 2;
    } else if (arg == "--threads" && v >= 1 && v <= 1024) {
      flags.threads = static_cast<uint32_t>(v);
    } else if (arg == "--batch" && v >= 1 && v <= 4096) {
      flags.batch = static_cast<uint32_t>(v);
    } else if (arg == "--record-bytes" && v <= (1u << 20)) {
      flags.record_bytes = v;
    } else if (arg == "--run-id") {
      flags.run_id = v;
    } else if (arg == "--segment-bytes") {
      flags.segment_bytes = v;
    } else if (arg == "--checkpoint-interval-ms" && v <= UINT32_MAX) {
      flags.checkpoint_interval_ms = static_cast<uint32_t>(v);
    } else if (arg == "--records-per-thread") {
      flags.records_per_thread = v;
    } else {
      std::fprintf(stderr, "unknown flag or value out of range: %s %s\n", arg.c_str(),
                   value.c_str());
      Usage();
      return 2;
    }
  }
  if (flags.data_dir.empty()) {
    Usage();
    return 2;
  }
  if (mode == "append") return RunAppend(flags);
  if (mode == "dump") return RunDump(flags.data_dir);
  Usage();
  return 2;
}

}  // namespace
}  // namespace tokenaudit::kill9

int main(int argc, char** argv) { return tokenaudit::kill9::Main(argc, argv); }
