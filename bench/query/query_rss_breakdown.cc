// query_rss_breakdown: where `tokenaudit serve`'s resident memory goes after its start-up rebuild.
// Builds, one after the other and in one process, what the server holds for a data directory --
// the opened Ledger (recovery: Merkle tree, offsets), the dedup index and
// the query engine's UsageStore -- with the same calls the service makes (Service::IndexStored),
// and prints the resident-memory growth and the time of each step.
//
//   query_rss_breakdown --data-dir DIR      (the server must not be running on DIR)
//
// Opening the ledger for writing appends its usual checkpoint on close. The UsageStore writes its
// sealed chunks to DIR/columns.breakdown (removed at the end) and then reads them from there,
// as the server does with DIR/columns.

#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "src/ingest/dedup_index.h"
#include "src/query/usage_store.h"
#include "src/record/record_json.h"
#include "tokenaudit/env.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::bench {
namespace {

// VmRSS and RssAnon of this process, in KiB.
std::pair<long, long> Rss() {
  std::ifstream in("/proc/self/status");
  std::string line;
  long rss = 0, anon = 0;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::atol(line.c_str() + 6);
    if (line.rfind("RssAnon:", 0) == 0) anon = std::atol(line.c_str() + 8);
  }
  return {rss, anon};
}

class Step {
 public:
  explicit Step(uint64_t records) : records_(records), t_(std::chrono::steady_clock::now()) {
    last_ = Rss();
  }
  void Report(const char* what) {
    const auto now = std::chrono::steady_clock::now();
    const auto rss = Rss();
    const long d = rss.second - last_.second;
    std::printf("%-58s %8.1f s   RssAnon %+9.1f MiB (%6.1f bytes/record)   total VmRSS %8.1f MiB\n",
                what, std::chrono::duration<double>(now - t_).count(), d / 1024.0,
                records_ ? d * 1024.0 / static_cast<double>(records_) : 0.0, rss.first / 1024.0);
    std::fflush(stdout);
    last_ = rss;
    t_ = now;
  }
  void set_records(uint64_t n) { records_ = n; }

 private:
  uint64_t records_;
  std::pair<long, long> last_;
  std::chrono::steady_clock::time_point t_;
};

int Run(const std::string& dir) {
  Step step(0);
  LedgerOptions lo;
  lo.data_dir = dir;
  lo.create_if_missing = false;
  auto ledger = Ledger::Open(lo);
  if (!ledger.ok()) {
    std::fprintf(stderr, "Ledger::Open: %s\n", ledger.status().ToString().c_str());
    return 1;
  }
  const uint64_t n = (*ledger)->Size();
  step.set_records(n);
  step.Report("Ledger::Open (recovery: Merkle tree, segment offsets)");

  // Parse once into a compact list of keys, then build each index on its own so its growth is
  // measured alone. Parsing itself is timed by a first pass that keeps nothing.
  uint64_t usage = 0;
  Status s = (*ledger)->Scan(0, [&](uint64_t, RecordType type, std::string_view payload) {
    if (type != RecordType::kUsage) return Status::OK();
    UsageRecord r;
    if (!record::ParseRecordJson(payload, &r)) return Status::Corruption("does not parse");
    ++usage;
    return Status::OK();
  });
  if (!s.ok()) return std::fprintf(stderr, "scan: %s\n", s.ToString().c_str()), 1;
  step.Report("Scan + ParseRecordJson of every record (kept nothing)");

  // Tag matches are confirmed against the log, as in the service.
  ingest::DedupIndex dedup([&](uint64_t seq) -> Result<ingest::DedupIndex::Key> {
    std::string payload;
    RecordType type;
    RETURN_IF_ERROR((*ledger)->Read(seq, &payload, &type));
    UsageRecord r;
    if (!record::ParseRecordJson(payload, &r)) return Status::Corruption("does not parse");
    return ingest::DedupIndex::MakeKey(r.tenant, r.source, r.id);
  });
  query::UsageStore store;
  const std::string cols_dir = dir + "/columns.breakdown";
  {
    std::vector<std::string> old;
    if (auto names = Env::Default()->GetChildren(cols_dir); names.ok()) old = *names;
    for (const auto& f : old) Env::Default()->RemoveFile(cols_dir + "/" + f).IgnoreError();
    std::vector<bool> loaded;
    size_t discarded = 0;
    Status os = store.Open(Env::Default(), cols_dir, &loaded, &discarded);
    if (!os.ok()) return std::fprintf(stderr, "UsageStore::Open: %s\n", os.ToString().c_str()), 1;
  }
  auto build = [&](const char* what, auto&& add) {
    Status st = (*ledger)->Scan(0, [&](uint64_t seq, RecordType type, std::string_view payload) {
      if (type != RecordType::kUsage) return Status::OK();
      UsageRecord r;
      if (!record::ParseRecordJson(payload, &r)) return Status::Corruption("does not parse");
      add(seq, r);
      return Status::OK();
    });
    if (!st.ok()) std::fprintf(stderr, "scan: %s\n", st.ToString().c_str());
    step.Report(what);
  };
  build("+ dedup index (DedupIndex::Insert)", [&](uint64_t seq, const UsageRecord& r) {
    const Status ds = dedup.Insert(ingest::DedupIndex::MakeKey(r.tenant, r.source, r.id), seq);
    if (!ds.ok()) std::fprintf(stderr, "dedup: %s\n", ds.ToString().c_str());
  });
  build("+ query engine (UsageStore::MakeRow + Add)", [&](uint64_t seq, const UsageRecord& r) {
    const query::Row row = store.MakeRow(r, seq);
    store.Add({&row, 1});
  });
  store.WaitSealed();
  step.Report("  ... after the sealer caught up (WaitSealed)");
  malloc_trim(0);
  step.Report("  ... after malloc_trim(0)");
  const auto st = store.GetStats();
  std::printf("usage records %llu of %llu log records; UsageStore: %zu sealed chunks (%zu read "
              "from their files), %zu bytes of compressed columns on disk (%.1f bytes/record), "
              "%zu bytes of chunk metadata in memory (%.2f bytes/record); dedup entries %zu\n",
              static_cast<unsigned long long>(usage), static_cast<unsigned long long>(n),
              st.sealed_chunks, st.sealed_on_disk, st.sealed_bytes,
              usage ? static_cast<double>(st.sealed_bytes) / static_cast<double>(usage) : 0.0,
              st.sealed_memory_bytes,
              usage ? static_cast<double>(st.sealed_memory_bytes) / static_cast<double>(usage) : 0.0,
              dedup.size());
  if (auto names = Env::Default()->GetChildren(cols_dir); names.ok()) {
    for (const auto& f : *names) Env::Default()->RemoveFile(cols_dir + "/" + f).IgnoreError();
  }
  rmdir(cols_dir.c_str());
  return (*ledger)->Close().ok() ? 0 : 1;
}

}  // namespace
}  // namespace tokenaudit::bench

int main(int argc, char** argv) {
  if (argc != 3 || std::strcmp(argv[1], "--data-dir") != 0) {
    std::fprintf(stderr, "usage: query_rss_breakdown --data-dir DIR\n");
    return 2;
  }
  return tokenaudit::bench::Run(argv[2]);
}
