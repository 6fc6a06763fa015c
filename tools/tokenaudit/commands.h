// Subcommands of the `tokenaudit` binary. Each registers its options on the CLI11 app and
// returns the process exit code when run: 0 success, 1 verification or data failure, 2 usage or
// environment error.

#ifndef TOKENAUDIT_TOOLS_TOKENAUDIT_COMMANDS_H_
#define TOKENAUDIT_TOOLS_TOKENAUDIT_COMMANDS_H_

#include <functional>

namespace CLI {
class App;
}

namespace tokenaudit::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

// Adds `verify` to `app`; sets *run to the function that executes it.
void RegisterVerify(CLI::App* app, std::function<int()>* run);

// Adds `serve`.
void RegisterServe(CLI::App* app, std::function<int()>* run);
// Adds `keys create|list|revoke` to `app`; sets *run to the function that executes it.
void RegisterKeys(CLI::App* app, std::function<int()>* run);
// Adds `query`.
void RegisterQuery(CLI::App* app, std::function<int()>* run);

}  // namespace tokenaudit::cli

#endif  // TOKENAUDIT_TOOLS_TOKENAUDIT_COMMANDS_H_
