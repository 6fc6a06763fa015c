// Child processes for end-to-end tests: run a command to completion, or start `tokenaudit serve`
// and find the address it prints. POSIX only; test code, aborts the test on misuse.

#ifndef TOKENAUDIT_TEST_SUPPORT_PROCESS_H_
#define TOKENAUDIT_TEST_SUPPORT_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "test/support/http_client.h"

namespace tokenaudit::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv with `env` added to the environment ("NAME=value"); waits for it.
inline CommandResult RunCommand(const std::vector<std::string>& argv,
                                const std::vector<std::string>& env = {},
                                const std::string& scratch_dir = "/tmp") {
  static int counter = 0;
  std::string base = scratch_dir + "/cmd." + std::to_string(getpid()) + "." +
                     std::to_string(counter++);
  pid_t pid = fork();
  if (pid == 0) {
    int out = open((base + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open((base + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadWholeFile(base + ".out");
  r.err = ReadWholeFile(base + ".err");
  unlink((base + ".out").c_str());
  unlink((base + ".err").c_str());
  return r;
}

// A running `tokenaudit serve`. Its stdout and stderr go to files in `log_dir`, so a test can
// inspect everything the server printed.
class ServerProcess {
 public:
  ServerProcess(std::string binary, std::string log_dir)
      : binary_(std::move(binary)), log_dir_(std::move(log_dir)) {}
  ~ServerProcess() { Kill(); }

  // Starts `binary serve args...` and waits until it prints its address and /readyz is 200.
  bool Start(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
             int timeout_ms = 20000) {
    ++starts_;
    out_path_ = log_dir_ + "/serve." + std::to_string(starts_) + ".out";
    err_path_ = log_dir_ + "/serve." + std::to_string(starts_) + ".err";
    pid_ = fork();
    if (pid_ == 0) {
      int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      dup2(err, 2);
      if (scrub_env_) {
        std::vector<std::string> ours;
        for (char** e = environ; *e != nullptr; ++e) {
          if (std::string_view(*e).starts_with("TOKENAUDIT_")) {
            ours.emplace_back(*e, std::string_view(*e).find('='));
          }
        }
        for (const auto& name : ours) unsetenv(name.c_str());
      }
      for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
      if (!cwd_.empty() && chdir(cwd_.c_str()) != 0) _exit(126);
      std::vector<std::string> all = {binary_, "serve"};
      all.insert(all.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : all) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out = ReadWholeFile(out_path_);
      size_t p = out.find("listening on http://");
      if (p != std::string::npos && out.find('\n', p) != std::string::npos) {
        std::string addr = out.substr(p + 20, out.find('\n', p) - p - 20);
        port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
        HttpClient c(port_);
        if (c.Request("GET", "/readyz").status == 200) return true;
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // SIGTERM and wait; returns the exit code (-1 if it did not exit normally).
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // The working directory of the next Start (default: the test's own).
  void set_working_dir(std::string dir) { cwd_ = std::move(dir); }
  // Whether the next Start removes every TOKENAUDIT_* variable it inherits (before adding `env`).
  void set_scrub_environment(bool scrub) { scrub_env_ = scrub; }
  uint16_t port() const { return port_; }
  // Everything every run of this object printed, stdout and stderr.
  std::string AllOutput() const {
    std::string all;
    for (int i = 1; i <= starts_; ++i) {
      all += ReadWholeFile(log_dir_ + "/serve." + std::to_string(i) + ".out");
      all += ReadWholeFile(log_dir_ + "/serve." + std::to_string(i) + ".err");
    }
    return all;
  }

 private:
  std::string binary_, log_dir_, out_path_, err_path_, cwd_;
  pid_t pid_ = -1;
  bool scrub_env_ = false;
  uint16_t port_ = 0;
  int starts_ = 0;
};

}  // namespace tokenaudit::testing

#endif  // TOKENAUDIT_TEST_SUPPORT_PROCESS_H_
