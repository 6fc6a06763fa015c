// What a benchmark ran on: the house rule is that every benchmark prints the machine next to its
// figures (CPU, cores, kernel, the filesystem under the data directory, and how busy the machine
// was), because a number without its machine cannot be compared with anything.

#ifndef TOKENAUDIT_BENCH_MACHINE_H_
#define TOKENAUDIT_BENCH_MACHINE_H_

#include <cstdint>
#include <string>

namespace tokenaudit::bench {

struct MachineInfo {
  int nproc = 0;                // online CPUs (sysconf)
  std::string cpu_model = "?";  // /proc/cpuinfo "model name"
  std::string kernel = "?";     // uname -srm
  std::string hostname = "?";
  uint64_t mem_total_mib = 0;
  std::string fs_type = "?";     // statfs(2) of the data directory, e.g. "ext4"
  std::string fs_device = "?";   // mount source of the data directory, from /proc/self/mountinfo
  std::string fs_mount = "?";    // mount point
  std::string fs_options = "?";  // mount options
  std::string loadavg = "?";     // /proc/loadavg at the time of the call
};

// Describes this machine; `data_dir` must exist. Fields that cannot be read stay "?".
MachineInfo DescribeMachine(const std::string& data_dir);

// The first three fields of /proc/loadavg ("1.00 0.50 0.20"), or "?".
std::string LoadAverage();

// Current UTC time as "2024-01-31T12:34:56Z".
std::string UtcNow();

}  // namespace tokenaudit::bench

#endif  // TOKENAUDIT_BENCH_MACHINE_H_
