#include "bench/machine.h"

#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace tokenaudit::bench {
namespace {

std::string FsTypeName(uint64_t magic) {
  switch (magic) {
    case 0xEF53:
      return "ext4";  // ext2/3/4 share the magic
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794C7630:
      return "overlayfs";
    case 0x2FC12FC1:
      return "zfs";
    case 0x6969:
      return "nfs";
    case 0x65735546:
      return "fuse";
    default: {
      std::ostringstream os;
      os << "unknown(0x" << std::hex << magic << ")";
      return os.str();
    }
  }
}

// /proc/self/mountinfo fields: id parent major:minor root mountpoint options ... - fstype source
// superoptions. The mount point that is the longest prefix of `path` is the one it lives on.
void FindMount(const std::string& path, MachineInfo* info) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  size_t best = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> f;
    for (std::string w; ls >> w;) f.push_back(w);
    if (f.size() < 10) continue;
    const std::string& mnt = f[4];
    bool prefix = path.compare(0, mnt.size(), mnt) == 0 &&
                  (mnt == "/" || path.size() == mnt.size() || path[mnt.size()] == '/');
    if (!prefix || mnt.size() < best) continue;
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 2 >= f.size()) continue;
    best = mnt.size();
    info->fs_mount = mnt;
    info->fs_options = f[5];
    info->fs_device = f[dash + 2];
  }
}

}  // namespace

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  if (!(in >> a >> b >> c)) return "?";
  return a + " " + b + " " + c;
}

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

MachineInfo DescribeMachine(const std::string& data_dir) {
  MachineInfo m;
  m.nproc = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("model name", 0) == 0) {
        size_t colon = line.find(':');
        if (colon != std::string::npos) m.cpu_model = line.substr(colon + 2);
        break;
      }
    }
  }
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t kb = 0;
    if (in >> key >> kb && key == "MemTotal:") m.mem_total_mib = kb / 1024;
  }
  struct utsname u {};
  if (uname(&u) == 0) {
    m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;
    m.hostname = u.nodename;
  }
  struct statfs sf {};
  if (statfs(data_dir.c_str(), &sf) == 0) m.fs_type = FsTypeName(static_cast<uint64_t>(sf.f_type));
  char real[PATH_MAX];
  FindMount(realpath(data_dir.c_str(), real) != nullptr ? std::string(real) : data_dir, &m);
  m.loadavg = LoadAverage();
  return m;
}

}  // namespace tokenaudit::bench
