// What the log's writes cost the kernel, with and without dropping the synced pages from the page
// cache (LedgerOptions::page_cache_keep_bytes, WritableFile::DropCache). Appends GiB of data in
// group-commit-sized writes, fdatasync after each, to a new file, and reports the process's
// system CPU time per GB, for each mode in turn (alternating, `--rounds` times).
//
//   build/bench/ingest/page_cache_bench [--dir /tmp] [--gib 6] [--write-kib 810] [--rounds 2]
//
// In a VM whose host reclaims guest memory the kernel no longer uses, every page newly filled by
// the page cache is a fault on the host; dropping what is synced lets the next writes reuse pages
// the guest has just freed.

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double SysSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
}

// Writes `bytes` in writes of `chunk` bytes, fdatasync after each; with `drop`, then advises the
// kernel to drop every whole page before the last one (as the ledger does, keeping nothing).
bool Run(const std::string& path, uint64_t bytes, size_t chunk, bool drop, double* sys,
         double* wall) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    return false;
  }
  std::vector<char> buf(chunk);
  for (size_t i = 0; i < chunk; ++i) buf[i] = static_cast<char>('a' + i % 26);
  const long page = ::sysconf(_SC_PAGESIZE);
  const double s0 = SysSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t written = 0, dropped = 0;
  while (written < bytes) {
    if (::write(fd, buf.data(), chunk) != static_cast<ssize_t>(chunk) || ::fdatasync(fd) != 0) {
      std::perror("write/fdatasync");
      ::close(fd);
      return false;
    }
    written += chunk;
    const uint64_t end = written / static_cast<uint64_t>(page) * static_cast<uint64_t>(page);
    if (drop && end > dropped) {
      ::posix_fadvise(fd, static_cast<off_t>(dropped), static_cast<off_t>(end - dropped),
                      POSIX_FADV_DONTNEED);
      dropped = end;
    }
  }
  *wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  *sys = SysSeconds() - s0;
  ::close(fd);
  ::unlink(path.c_str());
  return true;
}

void Usage() {
  std::fprintf(stderr,
               "usage: page_cache_bench [--dir DIR] [--gib N] [--write-kib N] [--rounds N]\n"
               "  --dir        where the scratch file goes (default /tmp)\n"
               "  --gib        GiB written per run (default 6)\n"
               "  --write-kib  bytes per write + fdatasync, in KiB (default 810: one group commit\n"
               "               of ~1,100 records of the ingest benchmark)\n"
               "  --rounds     times each mode runs, alternating (default 2)\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  double gib = 6;
  long kib = 810, rounds = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "page_cache_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    char* end = nullptr;
    if (a == "--help" || a == "-h") {
      Usage();
      return 0;
    } else if (a == "--dir") {
      dir = next();
    } else if (a == "--gib") {
      gib = std::strtod(next(), &end);
    } else if (a == "--write-kib") {
      kib = std::strtol(next(), &end, 10);
    } else if (a == "--rounds") {
      rounds = std::strtol(next(), &end, 10);
    } else {
      std::fprintf(stderr, "page_cache_bench: unknown flag %s\n", a.c_str());
      Usage();
      return 2;
    }
    if (end != nullptr && (*end != '\0' || gib <= 0 || kib <= 0 || rounds <= 0)) {
      std::fprintf(stderr, "page_cache_bench: bad value for %s\n", a.c_str());
      return 2;
    }
  }
  const std::string path = dir + "/page_cache_bench." + std::to_string(::getpid());
  const auto bytes = static_cast<uint64_t>(gib * (1ull << 30));
  const size_t chunk = static_cast<size_t>(kib) * 1024;
  std::printf("%.1f GiB per run in writes of %ld KiB, fdatasync after each, in %s\n", gib, kib,
              dir.c_str());
  for (long r = 0; r < rounds; ++r) {
    for (bool drop : {false, true}) {
      double sys = 0, wall = 0;
      if (!Run(path, bytes, chunk, drop, &sys, &wall)) return 1;
      std::printf("%-22s system CPU %6.2f s = %5.2f s per GB, wall %6.2f s\n",
                  drop ? "drop synced pages" : "keep in page cache", sys,
                  sys / (static_cast<double>(bytes) / 1e9), wall);
      std::fflush(stdout);
    }
  }
  return 0;
}
