// tokenaudit: the command-line entry point. See `tokenaudit --help`.

#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>

#include "tools/tokenaudit/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "tokenaudit: every AI inference call as a tamper-evident audit record.\n"
      "A Merkle-logged, group-committed, crash-safe ledger of usage records."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tokenaudit 0.1.0");
  std::function<int()> run;
  tokenaudit::cli::RegisterServe(&app, &run);
  tokenaudit::cli::RegisterVerify(&app, &run);
  tokenaudit::cli::RegisterKeys(&app, &run);
  tokenaudit::cli::RegisterQuery(&app, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports usage errors by exception; this is the one boundary where we catch them.
    int code = app.exit(e);
    return code == 0 ? 0 : tokenaudit::cli::kExitUsage;
  }
  return run ? run() : tokenaudit::cli::kExitUsage;
}
