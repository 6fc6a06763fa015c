// Memory and speed of the idempotency index (src/ingest/dedup_index.h) at N records.
//
//   dedup_index_bench [--records N] [--batch B]
//
// Phase 1 (the startup rebuild): Insert N keys; prints the process RSS before and after, the
// index's own byte count, bytes per record and ns per Insert. Phase 2 (the ingest path): N/10
// further keys in batches of B through ClaimBatch + CommitBatch, as POST /v1/events does; ns per
// key. Then a retry of one batch (every key a duplicate, each confirmed by one log read). Keys
// are MakeKey("bench", "src", <seq>), so the stand-in for the log recomputes the key of any seq
// instead of storing it (that would be 16 bytes per record of RSS that the service does not
// have). Keys are hashed before the timed loops; times are this thread's CPU time.

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "src/ingest/dedup_index.h"

namespace tokenaudit::bench {
namespace {

using ingest::DedupIndex;

double RssMiB() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  std::fclose(f);
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

// The C heap: bytes obtained from the OS, in use, free inside it (free-but-resident memory is
// what fragmentation costs).
void PrintHeap(const char* when) {
  const struct mallinfo2 mi = mallinfo2();
  std::printf("  heap %s: %.1f MiB from the OS (%.1f mmapped), %.1f MiB in use, %.1f MiB free\n",
              when, static_cast<double>(mi.arena + mi.hblkhd) / 1048576.0,
              static_cast<double>(mi.hblkhd) / 1048576.0,
              static_cast<double>(mi.uordblks + mi.hblkhd) / 1048576.0,
              static_cast<double>(mi.fordblks) / 1048576.0);
}

// Per-thread CPU time: the machine may be shared, and the index work is all on this thread.
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

DedupIndex::Key KeyOf(uint64_t seq) {
  return DedupIndex::MakeKey("bench", "src", std::to_string(seq));
}

int Main(int argc, char** argv) {
  uint64_t records = 10'000'000, batch = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--records") == 0) records = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--batch") == 0) batch = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::printf("dedup_index_bench --records %llu --batch %llu\n",
              static_cast<unsigned long long>(records), static_cast<unsigned long long>(batch));

  const uint64_t extra = records / 10;
  // Hashed up front in chunks, so the timings are the index's alone.
  constexpr uint64_t kChunk = 1 << 20;
  std::vector<DedupIndex::Key> keys;
  keys.reserve(kChunk);

  const double rss0 = RssMiB();
  DedupIndex idx([](uint64_t seq) -> Result<DedupIndex::Key> { return KeyOf(seq); });
  const double rss_empty = RssMiB();
  double insert_s = 0;
  for (uint64_t base = 0; base < records; base += kChunk) {
    const uint64_t n = std::min(kChunk, records - base);
    keys.clear();
    for (uint64_t i = 0; i < n; ++i) keys.push_back(KeyOf(base + i));
    const double t0 = ThreadCpuSeconds();
    for (uint64_t i = 0; i < n; ++i) {
      if (!idx.Insert(keys[i], base + i).ok()) return 1;
    }
    insert_s += ThreadCpuSeconds() - t0;
  }
  std::vector<DedupIndex::Key>().swap(keys);  // the hashing buffer is not the index's
  const double rss1 = RssMiB();
  auto st = idx.GetStats();
  std::printf(
      "rebuild: %llu Insert, %.1f ns each; RSS %.1f MiB before (%.1f with the empty index),"
      " %.1f MiB after: %.2f bytes/record of RSS; index heap %.1f MiB = %.2f bytes/record;"
      " %llu tag matches read back\n",
      static_cast<unsigned long long>(records), insert_s * 1e9 / records, rss0, rss_empty, rss1,
      (rss1 - rss0) * 1048576.0 / static_cast<double>(records),
      static_cast<double>(st.bytes) / 1048576.0,
      static_cast<double>(st.bytes) / static_cast<double>(records),
      static_cast<unsigned long long>(st.confirm_reads));

  PrintHeap("after the rebuild");

  // The ingest path: claim a batch, "append" it, commit it.
  std::vector<DedupIndex::Key> bkeys(batch);
  std::vector<DedupIndex::Claim> claims(batch);
  std::vector<uint64_t> seqs(batch);
  uint64_t news = 0;
  double claim_s = 0;
  const double cpu0 = CpuSeconds();
  for (uint64_t base = records; base < records + extra; base += batch) {
    const uint64_t n = std::min(batch, records + extra - base);
    for (uint64_t i = 0; i < n; ++i) bkeys[i] = KeyOf(base + i);
    const double t0 = ThreadCpuSeconds();
    const std::span<const DedupIndex::Key> ks(bkeys.data(), n);
    idx.ClaimBatch(ks, std::span(claims.data(), n), std::span(seqs.data(), n),
                   [](size_t) { return DedupIndex::Waiter(); });
    idx.CommitBatch(ks, base);
    claim_s += ThreadCpuSeconds() - t0;
    for (uint64_t i = 0; i < n; ++i) news += claims[i] == DedupIndex::Claim::kNew;
  }
  const double cpu1 = CpuSeconds();
  const double rss2 = RssMiB();
  st = idx.GetStats();
  std::printf(
      "ingest: %llu keys in batches of %llu (%llu new), ClaimBatch+CommitBatch %.1f ns "
      "per key; RSS %.1f MiB at %llu records: %.2f bytes/record of RSS; index heap "
      "%.2f bytes/record; %llu tag matches read back in all (process CPU %.2f s)\n",
      static_cast<unsigned long long>(extra), static_cast<unsigned long long>(batch),
      static_cast<unsigned long long>(news), claim_s * 1e9 / static_cast<double>(extra), rss2,
      static_cast<unsigned long long>(records + extra),
      (rss2 - rss0) * 1048576.0 / static_cast<double>(records + extra),
      static_cast<double>(st.bytes) / static_cast<double>(records + extra),
      static_cast<unsigned long long>(st.confirm_reads), cpu1 - cpu0);

  // A retried batch: every key a duplicate, confirmed by reading its record back.
  const uint64_t reads0 = st.confirm_reads;
  for (uint64_t i = 0; i < batch; ++i) bkeys[i] = KeyOf(i * 7);
  const double t0 = ThreadCpuSeconds();
  idx.ClaimBatch(bkeys, claims, seqs, [](size_t) { return DedupIndex::Waiter(); });
  const double retry_s = ThreadCpuSeconds() - t0;
  uint64_t dups = 0, right = 0;
  for (uint64_t i = 0; i < batch; ++i) {
    dups += claims[i] == DedupIndex::Claim::kDuplicate;
    right += seqs[i] == i * 7;
  }
  std::printf(
      "retry: %llu of %llu duplicates at their original seq (%llu), %.0f ns per key "
      "including one read-back each (%llu reads)\n",
      static_cast<unsigned long long>(dups), static_cast<unsigned long long>(batch),
      static_cast<unsigned long long>(right), retry_s * 1e9 / static_cast<double>(batch),
      static_cast<unsigned long long>(idx.GetStats().confirm_reads - reads0));
  return dups == batch && right == batch ? 0 : 1;
}

}  // namespace
}  // namespace tokenaudit::bench

int main(int argc, char** argv) { return tokenaudit::bench::Main(argc, argv); }
