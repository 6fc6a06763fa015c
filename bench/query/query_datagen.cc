// query_datagen: the records of the query benchmark (issue 4), written three ways:
//
//   --ledger-dir DIR   a tokenaudit data directory, through the real Ledger API (Ledger::Open +
//                      AppendBatch of record::EncodeCanonical), Durability::kInterval (the writer
//                      syncs every 50 ms instead of before every acknowledgement: generation
//                      speed; the bytes on disk are the same);
//   --ch-tsv FILE      TabSeparated rows for ClickHouse (timestamp as 'YYYY-MM-DD hh:mm:ss' UTC);
//   --sqlite-tsv FILE  the same rows for SQLite's `.import` (timestamp as unix microseconds).
//                      FILE `-` is standard output: the benchmark streams the rows into the
//                      peer's loader (`--ch-tsv - | curl ... INSERT`) instead of keeping files.
//   --meta FILE        key=value facts the query runner needs (time range, users by Zipf rank)
//                      and the records' count and column sums (sum_tokens_milli, ...), which
//                      run_query_bench.sh compares with each peer's loaded table.
//   --end-unix S       shift every record's time so that the span ends at unix second S instead
//                      of 2026-12-01T00:00:00Z (e.g. now: a dashboard's "last N days" holds them);
//   --user-pseudonym RANK=PSEUDONYM
//                      the Zipf rank-RANK user's records carry PSEUDONYM (e.g. a `user` key's,
//                      the server's HMAC of the key's name) instead of the shape's fixed one.
//
// Record i is a pure function of (--seed, i, --records) (bench/query/record_shape.h). Progress on
// stderr every million records.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/query/record_shape.h"
#include "src/record/record_json.h"
#include "src/record/rfc3339.h"
#include "src/record/validate.h"
#include "tokenaudit/ledger.h"

namespace tokenaudit::bench {
namespace {

struct Options {
  uint64_t records = 10'000'000;
  uint64_t seed = 4;
  size_t batch = 8192;
  std::string ledger_dir, ch_tsv, sqlite_tsv, meta;
  int64_t shift_us = 0;  // added to every record's times (--end-unix)
  int renamed_rank = 0;  // --user-pseudonym: 0 = none
  std::string renamed_to;
};

[[noreturn]] void Usage(const char* why) {
  if (why) std::fprintf(stderr, "query_datagen: %s\n", why);
  std::fprintf(stderr,
               "usage: query_datagen --records N [--seed S] [--batch B] [--ledger-dir DIR]\n"
               "         [--ch-tsv FILE] [--sqlite-tsv FILE] [--meta FILE] [--end-unix S]\n"
               "         [--user-pseudonym RANK=PSEUDONYM]\n");
  std::exit(2);
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Usage("missing value");
      return argv[++i];
    };
    if (a == "--records") o.records = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--seed") o.seed = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--batch") o.batch = std::strtoull(next().c_str(), nullptr, 10);
    else if (a == "--ledger-dir") o.ledger_dir = next();
    else if (a == "--ch-tsv") o.ch_tsv = next();
    else if (a == "--sqlite-tsv") o.sqlite_tsv = next();
    else if (a == "--meta") o.meta = next();
    else if (a == "--end-unix") {
      o.shift_us = (std::strtoll(next().c_str(), nullptr, 10) - kBaseUnixSeconds -
                    int64_t{kSpanDays} * 86400) * 1'000'000;
    } else if (a == "--user-pseudonym") {
      const std::string v = next();
      const size_t eq = v.find('=');
      if (eq == std::string::npos) Usage("--user-pseudonym takes RANK=PSEUDONYM");
      o.renamed_rank = std::atoi(v.substr(0, eq).c_str());
      o.renamed_to = v.substr(eq + 1);
      if (o.renamed_rank < 1 || o.renamed_rank > kUsers) Usage("--user-pseudonym: bad rank");
    }
    else if (a == "--help" || a == "-h") Usage(nullptr);
    else Usage("unknown option");
  }
  if (o.records == 0 || o.batch == 0) Usage("--records and --batch must be positive");
  return o;
}

// A buffered output file (`-`: standard output); aborts the run on a write error (a benchmark,
// not a service).
class TsvFile {
 public:
  explicit TsvFile(const std::string& path) : path_(path) {
    if (path.empty()) return;
    f_ = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
    if (!f_) Die("cannot create");
    buf_.reserve(kFlush + 4096);
  }
  ~TsvFile() { Close(); }
  bool enabled() const { return f_ != nullptr; }
  std::string& buf() { return buf_; }
  void MaybeFlush() {
    if (buf_.size() >= kFlush) Flush();
  }
  void Close() {
    if (!f_) return;
    Flush();
    if (std::fclose(f_) != 0) Die("cannot close");
    f_ = nullptr;
  }

 private:
  static constexpr size_t kFlush = 4 << 20;
  void Flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size()) {
      Die("write failed");
    }
    buf_.clear();
  }
  [[noreturn]] void Die(const char* what) {
    std::fprintf(stderr, "query_datagen: %s: %s: %s\n", path_.c_str(), what, std::strerror(errno));
    std::exit(1);
  }
  std::string path_;
  std::FILE* f_ = nullptr;
  std::string buf_;
};

void AppendInt(std::string* out, int64_t v) {
  char buf[24];
  int n = std::snprintf(buf, sizeof(buf), "%lld", static_cast<long long>(v));
  out->append(buf, static_cast<size_t>(n));
}

// Columns, in the order of the CREATE TABLEs in run_query_bench.sh.
void AppendRow(const UsageRecord& r, bool text_time, std::string* out) {
  auto s = [&](const std::string& v) {
    out->append(v);
    out->push_back('\t');
  };
  auto n = [&](int64_t v) {
    AppendInt(out, v);
    out->push_back('\t');
  };
  s(r.tenant);
  s(r.user);
  if (text_time) {
    std::string t = record::FormatRfc3339Micros(*r.time_us);  // YYYY-MM-DDTHH:MM:SS.ffffffZ
    t[10] = ' ';
    out->append(t, 0, 19);
    out->push_back('\t');
  } else {
    n(*r.time_us);
  }
  s(r.model);
  s(r.workflow);
  s(r.task_type);
  s(r.status);
  s(r.node_type);
  s(r.device);
  n(*r.duration_ms);
  n(*r.estimated_tokens_milli);
  n(*r.gflops_milli);
  n(*r.cost_micros);
  n(*r.input_width);
  n(*r.input_height);
  n(*r.input_batch);
  n(*r.input_model_input_size);
  s(r.input_hash);
  s(r.id);
  s(r.source);
  out->append(r.error_type);
  out->push_back('\n');
}

int Run(const Options& o) {
  const RecordShape shape(o.seed, o.records);
  const std::string renamed_from = o.renamed_rank ? shape.UserPseudonym(o.renamed_rank) : "";
  std::unique_ptr<Ledger> ledger;
  if (!o.ledger_dir.empty()) {
    LedgerOptions lo;
    lo.data_dir = o.ledger_dir;
    lo.durability = Durability::kInterval;
    auto opened = Ledger::Open(lo);
    if (!opened.ok()) {
      std::fprintf(stderr, "query_datagen: Ledger::Open: %s\n",
                   opened.status().ToString().c_str());
      return 1;
    }
    ledger = std::move(*opened);
    if (ledger->Size() != 0) {
      std::fprintf(stderr, "query_datagen: %s already holds %llu records\n", o.ledger_dir.c_str(),
                   static_cast<unsigned long long>(ledger->Size()));
      return 1;
    }
  }
  if (o.ch_tsv == "-" && o.sqlite_tsv == "-") Usage("only one of the TSV outputs can be `-`");
  TsvFile ch(o.ch_tsv), sq(o.sqlite_tsv);

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> encoded;
  std::vector<std::string_view> views;
  UsageRecord r;
  uint64_t bytes = 0;
  // Column sums of every record generated: the peers' loaded tables must give the same.
  int64_t sum_tokens = 0, sum_gflops = 0, sum_cost = 0, sum_duration = 0, sum_pixels = 0;
  for (uint64_t first = 0; first < o.records; first += o.batch) {
    const uint64_t n = std::min<uint64_t>(o.batch, o.records - first);
    encoded.resize(n);
    for (uint64_t k = 0; k < n; ++k) {
      shape.Make(first + k, &r);
      if (o.shift_us != 0) {
        *r.time_us += o.shift_us;
        *r.start_time_us += o.shift_us;
      }
      if (o.renamed_rank && r.user == renamed_from) r.user = o.renamed_to;
      sum_tokens += *r.estimated_tokens_milli;
      sum_gflops += *r.gflops_milli;
      sum_cost += *r.cost_micros;
      sum_duration += *r.duration_ms;
      sum_pixels += *r.input_width * *r.input_height;
      if (first + k < 1000) {  // the shape must be what ingest would accept
        record::FieldError err;
        if (!record::Validate(r, &err)) {
          std::fprintf(stderr, "query_datagen: record %llu invalid: %s\n",
                       static_cast<unsigned long long>(first + k), err.message.c_str());
          return 1;
        }
      }
      if (ledger) {
        encoded[k] = record::EncodeCanonical(r);
        bytes += encoded[k].size();
      }
      if (ch.enabled()) AppendRow(r, true, &ch.buf());
      if (sq.enabled()) AppendRow(r, false, &sq.buf());
    }
    ch.MaybeFlush();
    sq.MaybeFlush();
    if (ledger) {
      views.assign(encoded.begin(), encoded.end());
      auto seq = ledger->AppendBatch(views);
      if (!seq.ok()) {
        std::fprintf(stderr, "query_datagen: AppendBatch: %s\n", seq.status().ToString().c_str());
        return 1;
      }
    }
    const uint64_t done = first + n;
    if (done % 1'000'000 < o.batch || done == o.records) {
      const double s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "query_datagen: %llu / %llu records, %.1f s (%.0f records/s)\n",
                   static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(o.records), s, static_cast<double>(done) / s);
    }
  }
  ch.Close();
  sq.Close();
  if (ledger) {
    Status s = ledger->Close();
    if (!s.ok()) {
      std::fprintf(stderr, "query_datagen: Ledger::Close: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr, "query_datagen: done, %llu records in %.1f s; canonical JSON %.1f bytes/record\n",
               static_cast<unsigned long long>(o.records), secs,
               o.records ? static_cast<double>(bytes) / static_cast<double>(o.records) : 0.0);

  if (!o.meta.empty()) {
    TsvFile meta(o.meta);
    std::string& m = meta.buf();
    m += "records=" + std::to_string(o.records) + "\n";
    m += "seed=" + std::to_string(o.seed) + "\n";
    m += "sum_tokens_milli=" + std::to_string(sum_tokens) + "\n";
    m += "sum_gflops_milli=" + std::to_string(sum_gflops) + "\n";
    m += "sum_cost_micros=" + std::to_string(sum_cost) + "\n";
    m += "sum_duration_ms=" + std::to_string(sum_duration) + "\n";
    m += "sum_pixels=" + std::to_string(sum_pixels) + "\n";
    const int64_t shift_s = o.shift_us / 1'000'000;
    m += "from_unix=" + std::to_string(kBaseUnixSeconds + shift_s) + "\n";
    m += "to_unix=" + std::to_string(kBaseUnixSeconds + int64_t{kSpanDays} * 86400 + shift_s) +
         "\n";
    for (int rank = 1; rank <= 100; ++rank) {
      m += "user_rank_" + std::to_string(rank) + "=" +
           (rank == o.renamed_rank ? o.renamed_to : shape.UserPseudonym(rank)) + "\n";
    }
    meta.Close();
  }
  return 0;
}

}  // namespace
}  // namespace tokenaudit::bench

int main(int argc, char** argv) {
  return tokenaudit::bench::Run(tokenaudit::bench::ParseOptions(argc, argv));
}
