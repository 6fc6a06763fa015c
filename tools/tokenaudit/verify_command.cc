// `tokenaudit verify DATA_DIR [--checkpoint FILE]...`

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "src/ledger/verifier.h"
#include "tools/tokenaudit/commands.h"

namespace tokenaudit::cli {
namespace {

struct VerifyArgs {
  std::string data_dir;
  std::vector<std::string> checkpoints;
  std::vector<std::string> keys;
  bool strict = false;
  bool quiet = false;
};

double Mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

int RunVerify(const VerifyArgs& args) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_print = start;
  ledger::VerifyOptions options;
  options.checkpoint_files = args.checkpoints;
  options.trusted_keys = args.keys;
  options.strict = args.strict;
  const bool tty = isatty(STDERR_FILENO) != 0;
  if (!args.quiet) {
    options.progress = [&](uint64_t done, uint64_t total) {
      auto now = Clock::now();
      if (now - last_print < std::chrono::seconds(1)) return;
      last_print = now;
      std::fprintf(stderr, "%sverify: %.1f of %.1f MiB (%.0f%%)%s", tty ? "\r" : "", Mib(done),
                   Mib(total), total ? 100.0 * static_cast<double>(done) / total : 100.0,
                   tty ? "" : "\n");
      std::fflush(stderr);
    };
  }
  ledger::VerifyReport report;
  Status s = ledger::VerifyDataDir(Env::Default(), args.data_dir, options, &report);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (!args.quiet && tty) std::fprintf(stderr, "\r\033[K");
  if (!s.ok()) {
    std::fprintf(stderr, "verify FAILED: %s\n", s.ToString().c_str());
    std::fprintf(stderr, "  %llu records verified before the failure\n",
                 static_cast<unsigned long long>(report.records));
    return s.IsCorruption() ? kExitFailed : kExitUsage;
  }
  std::printf(
      "OK: %llu records (%llu usage, %llu access, %llu recovery) in %llu segments, %.1f MiB\n"
      "    %llu checkpoints hold; root at size %llu: %s\n"
      "    %.2f s, %.0f records/s\n",
      static_cast<unsigned long long>(report.records),
      static_cast<unsigned long long>(report.usage_records),
      static_cast<unsigned long long>(report.access_records),
      static_cast<unsigned long long>(report.recovery_records),
      static_cast<unsigned long long>(report.segments), Mib(report.bytes),
      static_cast<unsigned long long>(report.checkpoints_checked),
      static_cast<unsigned long long>(report.records), merkle::ToHex(report.root).c_str(), secs,
      secs > 0 ? static_cast<double>(report.records) / secs : 0.0);
  if (report.records == 0) {
    std::printf("WARNING: the log is empty.\n");
  } else if (report.uncovered_records > 0) {
    std::printf("NOTE: the last %llu records are not yet covered by a signed checkpoint.\n",
                static_cast<unsigned long long>(report.uncovered_records));
  }
  if (report.torn_bytes > 0) {
    std::printf(
        "WARNING: torn tail of %llu bytes at offset %llu of segment %s (an unclean stop);\n"
        "         the next `tokenaudit serve` truncates it and records that it did.\n",
        static_cast<unsigned long long>(report.torn_bytes),
        static_cast<unsigned long long>(report.torn_offset), report.torn_segment.c_str());
  }
  return kExitOk;
}

}  // namespace

void RegisterVerify(CLI::App* app, std::function<int()>* run) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* cmd = app->add_subcommand(
      "verify",
      "Recompute every CRC and the Merkle tree of DATA_DIR's log and check every checkpoint.\n"
      "Exit status: 0 all verified; 1 corruption or a checkpoint that does not hold (the\n"
      "message names the segment, offset and seq); 2 usage or I/O error.");
  cmd->add_option("data_dir", args->data_dir, "the data directory (as given to serve)")
      ->required();
  cmd->add_option("--checkpoint", args->checkpoints,
                  "a checkpoint file that must hold, e.g. one exported to another machine "
                  "(repeatable)");
  cmd->add_option("--key", args->keys,
                  "trusted Ed25519 public key (64 hex digits): every checkpoint must be signed "
                  "by one of the keys given (repeatable)");
  cmd->add_flag("--strict", args->strict,
                "treat a torn tail as corruption (exit 1), for a ledger that was stopped cleanly");
  cmd->add_flag("-q,--quiet", args->quiet, "no progress output");
  cmd->callback([run, args] { *run = [args] { return RunVerify(*args); }; });
}

}  // namespace tokenaudit::cli
