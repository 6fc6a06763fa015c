// query_bench: the five queries of issue 4, timed on tokenaudit (GET /v1/usage, /v1/top over
// HTTP with an admin key), ClickHouse (HTTP interface) and SQLite (libsqlite3 in this process, so
// no process start-up is timed), with every answer checked against SQLite's.
//
//   query_bench --meta META --ta URL --ta-key KEY --ch URL --sqlite FILE [--runs R]
//               [--queries q1,q2,...] [--systems tokenaudit,clickhouse,...] [--repeat Q:SECONDS]
//               [--answers FILE]
//   query_bench --meta META --check FILE,FILE,...
//
// For each query, each system runs it R times back to back: the first run is reported on its
// own, the others as median and minimum ("warm"). HTTP times are wall-clock from sending the
// request to having read the whole answer (libcurl, one kept-alive connection per server).
// Systems: tokenaudit, clickhouse (default settings: max_threads = nproc),
// clickhouse_1thread (max_threads=1, diagnostic: tokenaudit answers one query on one thread),
// clickhouse_exact (Q5 with quantileExact, for the answer check), sqlite.
//
// Output: one block per query, lines `RESULT {json}` per (query, system), `CHECK` lines.
// `--repeat q4:15` only runs that query on tokenaudit, back to back for 15 s (for profiling).
//
// The systems can be timed in separate runs (run_query_bench.sh's phases: one engine's data on
// disk at a time): `--answers FILE` writes each (query, system)'s last answer to FILE, and
// `--check` reads such files (no server needed) and prints the same CHECK lines against SQLite's
// answers, plus a `ROWS` line per system comparing Q1's totals (count, tokens, GFLOPs, cost over
// all models) with the generator's sums in META.

#include <curl/curl.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "src/record/rfc3339.h"

namespace tokenaudit::bench {
namespace {

using Clock = std::chrono::steady_clock;
using Table = std::vector<std::vector<std::string>>;

struct Options {
  std::string meta, ta, ta_key, ch, sqlite;
  int runs = 5;
  int user_rank = 20;
  std::vector<std::string> queries = {"q1", "q2", "q3", "q4", "q5"};
  std::vector<std::string> systems = {"tokenaudit", "clickhouse", "clickhouse_1thread",
                                      "clickhouse_exact", "sqlite"};
  std::string repeat_query;
  int repeat_n = 0;
  std::string answers_out;
  std::vector<std::string> check_files;
};

[[noreturn]] void Usage(const char* why) {
  if (why) std::fprintf(stderr, "query_bench: %s\n", why);
  std::fprintf(stderr,
               "usage: query_bench --meta FILE --ta URL --ta-key KEY --ch URL --sqlite FILE\n"
               "         [--runs R] [--user-rank N] [--queries q1,...] [--systems a,b,...]\n"
               "         [--repeat qN:SECONDS] [--answers FILE]\n"
               "       query_bench --meta FILE --check ANSWERS,ANSWERS,...\n");
  std::exit(2);
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? p : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Usage("missing value");
      return argv[++i];
    };
    if (a == "--meta") o.meta = next();
    else if (a == "--ta") o.ta = next();
    else if (a == "--ta-key") o.ta_key = next();
    else if (a == "--ch") o.ch = next();
    else if (a == "--sqlite") o.sqlite = next();
    else if (a == "--runs") o.runs = std::atoi(next().c_str());
    else if (a == "--user-rank") o.user_rank = std::atoi(next().c_str());
    else if (a == "--queries") o.queries = Split(next(), ',');
    else if (a == "--systems") o.systems = Split(next(), ',');
    else if (a == "--repeat") {
      auto parts = Split(next(), ':');
      if (parts.size() != 2) Usage("--repeat qN:SECONDS");
      o.repeat_query = parts[0];
      o.repeat_n = std::atoi(parts[1].c_str());
    } else if (a == "--answers") o.answers_out = next();
    else if (a == "--check") o.check_files = Split(next(), ',');
    else Usage("unknown option");
  }
  if (o.meta.empty() || o.runs < 1) Usage("--meta is required, --runs >= 1");
  return o;
}

std::map<std::string, std::string> ReadMeta(const std::string& path) {
  std::map<std::string, std::string> m;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// ---- HTTP (libcurl, one handle and connection per server) ---------------------------------------

class HttpClient {
 public:
  HttpClient() : curl_(curl_easy_init()) {}
  ~HttpClient() {
    if (headers_) curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  void SetBearer(const std::string& key) {
    headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + key).c_str());
  }
  // GET url, or POST `body` when non-empty. Returns the HTTP status (0: transport error).
  long Fetch(const std::string& url, const std::string& body, std::string* out) {
    out->clear();
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &HttpClient::Write);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT, 3600L);
    if (body.empty()) {
      curl_easy_setopt(curl_, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    if (curl_easy_perform(curl_) != CURLE_OK) return 0;
    long code = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
    return code;
  }
  std::string Escape(const std::string& s) {
    char* e = curl_easy_escape(curl_, s.c_str(), static_cast<int>(s.size()));
    std::string out(e);
    curl_free(e);
    return out;
  }

 private:
  static size_t Write(char* p, size_t size, size_t n, void* ud) {
    static_cast<std::string*>(ud)->append(p, size * n);
    return size * n;
  }
  CURL* curl_;
  curl_slist* headers_ = nullptr;
};

Table ParseDelimited(const std::string& text, char sep, bool skip_header) {
  Table t;
  std::istringstream in(text);
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first && skip_header) {
      first = false;
      continue;
    }
    first = false;
    if (line.empty()) continue;
    t.push_back(Split(line, sep));
  }
  return t;
}

// ---- SQLite ---------------------------------------------------------------------------------

// Exact nearest-rank percentile as an aggregate, p95(x): what SQLite's ext/misc/percentile.c
// offers as an extension; SQLite has no built-in percentile.
void P95Step(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto** v = static_cast<std::vector<int64_t>**>(sqlite3_aggregate_context(ctx, sizeof(void*)));
  if (!*v) *v = new std::vector<int64_t>();
  if (sqlite3_value_type(argv[0]) != SQLITE_NULL) (*v)->push_back(sqlite3_value_int64(argv[0]));
}
void P95Final(sqlite3_context* ctx) {
  auto** v = static_cast<std::vector<int64_t>**>(sqlite3_aggregate_context(ctx, 0));
  if (!v || !*v || (*v)->empty()) {
    sqlite3_result_null(ctx);
  } else {
    auto& x = **v;
    const size_t rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(x.size())));
    const size_t at = std::clamp<size_t>(rank, 1, x.size()) - 1;
    std::nth_element(x.begin(), x.begin() + static_cast<ptrdiff_t>(at), x.end());
    sqlite3_result_int64(ctx, x[at]);
  }
  if (v) delete *v;
}

class SqliteDb {
 public:
  explicit SqliteDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      std::fprintf(stderr, "query_bench: sqlite open %s: %s\n", path.c_str(), sqlite3_errmsg(db_));
      std::exit(1);
    }
    sqlite3_create_function(db_, "p95", 1, SQLITE_UTF8, nullptr, nullptr, &P95Step, &P95Final);
  }
  ~SqliteDb() { sqlite3_close(db_); }
  bool Run(const std::string& sql, Table* out, std::string* err) {
    out->clear();
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      *err = sqlite3_errmsg(db_);
      return false;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const unsigned char* t = sqlite3_column_text(st, c);
        row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      out->push_back(std::move(row));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
      *err = sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

 private:
  sqlite3* db_ = nullptr;
};

// ---- the queries ------------------------------------------------------------------------------

enum class Kind { kKey, kTime, kInt, kMilli, kResolution, kAvg, kQuantile };

struct Query {
  std::string id, title;
  std::string ta_path;               // path and query string, format=csv
  std::string ch_sql, ch_exact_sql;  // ch_exact_sql: empty = same as ch_sql
  std::string sqlite_sql;
  std::vector<Kind> kinds;           // per answer column
  bool ordered = false;              // top-K: the order is part of the answer
};

std::vector<Query> MakeQueries(const std::map<std::string, std::string>& meta, int user_rank,
                               HttpClient* http) {
  const int64_t from = std::atoll(meta.at("from_unix").c_str());
  const int64_t to = std::atoll(meta.at("to_unix").c_str());
  const std::string user = meta.at("user_rank_" + std::to_string(user_rank));
  auto rfc = [](int64_t unix) {
    std::string t = record::FormatRfc3339Micros(unix * 1'000'000);
    return t.substr(0, 19) + "Z";
  };
  const int64_t week_from = from + 7 * 86400, week_to = from + 14 * 86400;
  auto us = [](int64_t unix) { return std::to_string(unix * 1'000'000); };
  std::vector<Query> q;
  q.push_back({"q1", "group by model (count, tokens, GFLOPs, cost, avg duration)",
               "/v1/usage?group_by=model&measures=count,tokens,gflops,cost,duration_avg&format=csv",
               "SELECT model, count(), sum(tokens_milli), sum(gflops_milli), sum(cost_micros), "
               "avg(duration_ms) FROM usage_records GROUP BY model ORDER BY model",
               "",
               "SELECT model, count(*), sum(tokens_milli), sum(gflops_milli), sum(cost_micros), "
               "avg(duration_ms) FROM usage_records GROUP BY model ORDER BY model",
               {Kind::kKey, Kind::kInt, Kind::kMilli, Kind::kMilli, Kind::kInt, Kind::kAvg}});
  q.push_back({"q2", "top-10 users by tokens",
               "/v1/top?by=user&measure=tokens&k=10&measures=count,tokens&format=csv",
               "SELECT user_id, count() AS n, sum(tokens_milli) AS t FROM usage_records "
               "GROUP BY user_id ORDER BY t DESC, user_id LIMIT 10",
               "",
               "SELECT user_id, count(*) AS n, sum(tokens_milli) AS t FROM usage_records "
               "GROUP BY user_id ORDER BY t DESC, user_id LIMIT 10",
               {Kind::kKey, Kind::kInt, Kind::kMilli},
               true});
  q.push_back({"q3", "hourly trend over 30 days (count, tokens, cost)",
               "/v1/usage?group_by=time&window=hour&from=" + rfc(from) + "&to=" + rfc(to) +
                   "&measures=count,tokens,cost&format=csv",
               "SELECT toUnixTimestamp(toStartOfHour(timestamp)) AS h, count(), sum(tokens_milli), "
               "sum(cost_micros) FROM usage_records WHERE timestamp >= toDateTime(" +
                   std::to_string(from) + ") AND timestamp < toDateTime(" + std::to_string(to) +
                   ") GROUP BY h ORDER BY h",
               "",
               "SELECT timestamp / 3600000000 * 3600 AS h, count(*), sum(tokens_milli), "
               "sum(cost_micros) FROM usage_records WHERE timestamp >= " + us(from) +
                   " AND timestamp < " + us(to) + " GROUP BY h ORDER BY h",
               {Kind::kTime, Kind::kInt, Kind::kMilli, Kind::kInt}});
  q.push_back({"q4", "one user's week, by day (user of Zipf rank " + std::to_string(user_rank) +
                         ")",
               "/v1/usage?user=" + http->Escape(user) + "&group_by=time&window=day&from=" +
                   rfc(week_from) + "&to=" + rfc(week_to) +
                   "&measures=count,tokens,cost,duration_avg&format=csv",
               "SELECT toUnixTimestamp(toStartOfDay(timestamp)) AS d, count(), sum(tokens_milli), "
               "sum(cost_micros), avg(duration_ms) FROM usage_records WHERE user_id = '" + user +
                   "' AND timestamp >= toDateTime(" + std::to_string(week_from) +
                   ") AND timestamp < toDateTime(" + std::to_string(week_to) +
                   ") GROUP BY d ORDER BY d",
               "",
               "SELECT timestamp / 86400000000 * 86400 AS d, count(*), sum(tokens_milli), "
               "sum(cost_micros), avg(duration_ms) FROM usage_records WHERE user_id = '" + user +
                   "' AND timestamp >= " + us(week_from) + " AND timestamp < " + us(week_to) +
                   " GROUP BY d ORDER BY d",
               {Kind::kTime, Kind::kInt, Kind::kMilli, Kind::kInt, Kind::kAvg}});
  q.push_back({"q5", "p95 duration by resolution bucket (1 MP)",
               "/v1/usage?group_by=resolution&resolution_step=1&measures=count,duration_p95"
               "&format=csv",
               "SELECT intDiv(width * height, 1000000) AS mp, count(), quantile(0.95)(duration_ms) "
               "FROM usage_records GROUP BY mp ORDER BY mp",
               "SELECT intDiv(width * height, 1000000) AS mp, count(), "
               "quantileExact(0.95)(duration_ms) FROM usage_records GROUP BY mp ORDER BY mp",
               "SELECT width * height / 1000000 AS mp, count(*), p95(duration_ms) "
               "FROM usage_records GROUP BY mp ORDER BY mp",
               {Kind::kResolution, Kind::kInt, Kind::kQuantile}});
  return q;
}

// tokenaudit prints "123.456" for milli-quantities and RFC 3339 for windows; the peers print
// integers. Everything becomes the peers' spelling.
std::string NormalizeTa(Kind k, const std::string& v) {
  switch (k) {
    case Kind::kTime: {
      int64_t us = 0;
      if (record::ParseRfc3339Micros(v, &us) != record::TimeParse::kOk) return "bad:" + v;
      return std::to_string(us / 1'000'000);
    }
    case Kind::kMilli:
    case Kind::kResolution: {
      std::string digits;
      for (char c : v) {
        if (c != '.') digits += c;
      }
      const long long milli = std::atoll(digits.c_str());
      return std::to_string(k == Kind::kMilli ? milli : milli / 1000);
    }
    default:
      return v;
  }
}

// Compares `got` with the reference; returns "" or what differs first.
std::string Compare(const Query& q, Table got, Table want, double* max_quantile_err) {
  if (!q.ordered) {
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
  }
  if (got.size() != want.size()) {
    return std::to_string(got.size()) + " rows, reference " + std::to_string(want.size());
  }
  std::string first_diff;
  for (size_t r = 0; r < got.size(); ++r) {
    if (got[r].size() != q.kinds.size() || want[r].size() != q.kinds.size()) {
      return "row " + std::to_string(r) + ": wrong number of columns";
    }
    for (size_t c = 0; c < q.kinds.size(); ++c) {
      const std::string& a = got[r][c];
      const std::string& b = want[r][c];
      const Kind k = q.kinds[c];
      bool ok;
      if (k == Kind::kAvg) {
        ok = std::fabs(std::atof(a.c_str()) - std::atof(b.c_str())) <=
             0.001 + 1e-9 * std::fabs(std::atof(b.c_str()));
      } else if (k == Kind::kQuantile) {
        const double x = std::atof(a.c_str()), y = std::atof(b.c_str());
        const double err = y > 0 ? std::fabs(x - y) / y : std::fabs(x - y);
        *max_quantile_err = std::max(*max_quantile_err, err);
        ok = std::fabs(x - y) <= 0.01 * y + 0.5;  // sketch bound, then rounding to 1 ms
      } else {
        ok = a == b;
      }
      if (!ok && first_diff.empty()) {  // keep going: the quantile deviation covers all rows
        first_diff = "row " + std::to_string(r) + " column " + std::to_string(c) + ": '" + a +
                     "' vs reference '" + b + "'";
      }
    }
  }
  return first_diff;
}

struct Timing {
  double first_ms = 0, median_ms = 0, min_ms = 0;
  int runs = 0;
  bool ok = true;
  std::string error;
  Table answer;
};

// (query id -> system -> timing and answer)
using Answers = std::map<std::string, std::map<std::string, Timing>>;

// Prints the CHECK lines of one query (every system against SQLite's answer); returns the
// number of mismatches (an approximate ClickHouse quantile off by more than the bound is not one).
// `later`: the answers are saved for a --check run, so a missing reference is not worth a line.
int CheckQuery(const Query& q, const std::map<std::string, Timing>& results, bool later) {
  auto ref = results.find("sqlite");
  if (ref == results.end() || !ref->second.ok) {
    if (!later) std::printf("CHECK %s: no SQLite reference in this run\n", q.id.c_str());
    return 0;
  }
  int mismatches = 0;
  for (const auto& [sys, t] : results) {
    if (sys == "sqlite") continue;
    if (!t.ok) {
      std::printf("CHECK %s %s: ERROR (no answer)\n", q.id.c_str(), sys.c_str());
      ++mismatches;
      continue;
    }
    double qerr = 0;
    const std::string diff = Compare(q, t.answer, ref->second.answer, &qerr);
    const bool approximate = sys == "clickhouse" || sys == "clickhouse_1thread";
    const bool has_quantile =
        std::find(q.kinds.begin(), q.kinds.end(), Kind::kQuantile) != q.kinds.end();
    std::string verdict = diff.empty() ? "MATCH" : "MISMATCH (" + diff + ")";
    if (has_quantile && approximate && !diff.empty()) {
      verdict = "approximate quantile() differs from exact (" + diff + ")";
    } else if (!diff.empty()) {
      ++mismatches;
    }
    std::printf("CHECK %s %s vs sqlite: %s; %zu rows", q.id.c_str(), sys.c_str(), verdict.c_str(),
                t.answer.size());
    if (has_quantile) std::printf("; max relative p95 deviation %.4f%%", 100 * qerr);
    std::printf("\n");
  }
  return mismatches;
}

// Answers file: per (query, system) a line `answer QUERY SYSTEM ok|error ROWS`, then ROWS lines
// of tab-separated cells (no cell holds a tab or a newline: keys, numbers, times).
void WriteAnswers(const std::string& path, const Answers& answers) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "query_bench: cannot create %s\n", path.c_str());
    std::exit(1);
  }
  for (const auto& [query, by_system] : answers) {
    for (const auto& [sys, t] : by_system) {
      std::fprintf(f, "answer %s %s %s %zu\n", query.c_str(), sys.c_str(), t.ok ? "ok" : "error",
                   t.answer.size());
      for (const auto& row : t.answer) {
        for (size_t c = 0; c < row.size(); ++c) {
          std::fprintf(f, "%s%s", c ? "\t" : "", row[c].c_str());
        }
        std::fputc('\n', f);
      }
    }
  }
  if (std::fclose(f) != 0) {
    std::fprintf(stderr, "query_bench: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

bool ReadAnswers(const std::string& path, Answers* answers) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream head(line);
    std::string word, query, sys, status;
    size_t rows = 0;
    if (!(head >> word >> query >> sys >> status >> rows) || word != "answer") return false;
    Timing& t = (*answers)[query][sys];
    t.ok = status == "ok";
    t.answer.clear();
    for (size_t r = 0; r < rows; ++r) {
      if (!std::getline(in, line)) return false;
      t.answer.push_back(Split(line, '\t'));
    }
  }
  return true;
}

// Q1's totals over all models (count, tokens, GFLOPs, cost) against the generator's sums: every
// system holds the records the generator made, not just answers that agree with each other.
int CheckRows(const std::map<std::string, std::string>& meta, const Answers& answers) {
  auto q1 = answers.find("q1");
  if (q1 == answers.end()) return 0;
  if (!meta.count("sum_tokens_milli")) {
    std::printf("ROWS: META has no sums (written by an older query_datagen): not checked\n");
    return 0;
  }
  const int64_t want[4] = {std::atoll(meta.at("records").c_str()),
                           std::atoll(meta.at("sum_tokens_milli").c_str()),
                           std::atoll(meta.at("sum_gflops_milli").c_str()),
                           std::atoll(meta.at("sum_cost_micros").c_str())};
  int bad = 0;
  for (const auto& [sys, t] : q1->second) {
    if (!t.ok) continue;
    int64_t got[4] = {0, 0, 0, 0};
    for (const auto& row : t.answer) {
      for (size_t c = 0; c < 4 && c + 1 < row.size(); ++c) got[c] += std::atoll(row[c + 1].c_str());
    }
    const bool same = std::equal(got, got + 4, want);
    bad += same ? 0 : 1;
    std::printf("ROWS %s: Q1 totals count %lld, tokens_milli %lld, gflops_milli %lld, "
                "cost_micros %lld: %s\n",
                sys.c_str(), static_cast<long long>(got[0]), static_cast<long long>(got[1]),
                static_cast<long long>(got[2]), static_cast<long long>(got[3]),
                same ? "MATCH the generator's" : "MISMATCH with the generator's");
  }
  return bad;
}

int Check(const Options& o, const std::map<std::string, std::string>& meta,
          const std::vector<Query>& queries) {
  Answers answers;
  for (const std::string& f : o.check_files) {
    if (!ReadAnswers(f, &answers)) {
      std::fprintf(stderr, "query_bench: cannot read answers from %s\n", f.c_str());
      return 2;
    }
  }
  int mismatches = 0;
  for (const Query& q : queries) {
    auto it = answers.find(q.id);
    if (it != answers.end()) mismatches += CheckQuery(q, it->second, false);
  }
  mismatches += CheckRows(meta, answers);
  std::printf("\nanswers: %s\n",
              mismatches ? "MISMATCHES (see CHECK and ROWS lines)" : "all checked answers match");
  return mismatches ? 3 : 0;
}

int Run(const Options& o) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const auto meta = ReadMeta(o.meta);
  HttpClient ta_http, ch_http;
  ta_http.SetBearer(o.ta_key);
  std::unique_ptr<SqliteDb> sqlite;
  const std::vector<Query> queries = MakeQueries(meta, o.user_rank, &ta_http);
  if (!o.check_files.empty()) return Check(o, meta, queries);

  if (!o.repeat_query.empty()) {
    for (const Query& q : queries) {
      if (q.id != o.repeat_query) continue;
      std::string body;
      const auto t0 = Clock::now();
      const auto end = t0 + std::chrono::seconds(o.repeat_n);
      int n = 0;
      for (; Clock::now() < end; ++n) {
        if (ta_http.Fetch(o.ta + q.ta_path, "", &body) != 200) {
          std::fprintf(stderr, "query_bench: %s\n", body.c_str());
          return 1;
        }
      }
      std::printf("repeat %s on tokenaudit: %d times in %d s, %.1f ms each\n", q.id.c_str(), n,
                  o.repeat_n,
                  std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / n);
    }
    return 0;
  }

  auto wanted = [&](const std::vector<std::string>& list, const std::string& x) {
    return std::find(list.begin(), list.end(), x) != list.end();
  };
  int mismatches = 0;
  Answers all;
  for (const Query& q : queries) {
    if (!wanted(o.queries, q.id)) continue;
    std::printf("\n== %s: %s   (load %s)\n", q.id.c_str(), q.title.c_str(), LoadAvg().c_str());
    std::printf("   tokenaudit: GET %s\n   ClickHouse: %s\n   SQLite:     %s\n", q.ta_path.c_str(),
                q.ch_sql.c_str(), q.sqlite_sql.c_str());
    if (!q.ch_exact_sql.empty()) std::printf("   ClickHouse (exact): %s\n", q.ch_exact_sql.c_str());
    std::map<std::string, Timing> results;
    for (const std::string& sys : o.systems) {
      if (sys == "clickhouse_exact" && q.ch_exact_sql.empty()) continue;
      Timing t;
      std::vector<double> ms;
      const std::string load_before = LoadAvg();
      for (int run = 0; run < o.runs && t.ok; ++run) {
        std::string body, err;
        Table table;
        const auto t0 = Clock::now();
        if (sys == "tokenaudit") {
          const long code = ta_http.Fetch(o.ta + q.ta_path, "", &body);
          ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (code != 200) t.ok = false, t.error = "HTTP " + std::to_string(code) + " " + body;
          table = ParseDelimited(body, ',', true);
          for (auto& row : table) {
            for (size_t c = 0; c < row.size() && c < q.kinds.size(); ++c) {
              row[c] = NormalizeTa(q.kinds[c], row[c]);
            }
          }
        } else if (sys.rfind("clickhouse", 0) == 0) {
          const std::string sql =
              (sys == "clickhouse_exact" ? q.ch_exact_sql : q.ch_sql) + " FORMAT TabSeparated";
          const std::string url =
              o.ch + (sys == "clickhouse_1thread" ? "?max_threads=1" : "");
          const long code = ch_http.Fetch(url, sql, &body);
          ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (code != 200) t.ok = false, t.error = "HTTP " + std::to_string(code) + " " + body;
          table = ParseDelimited(body, '\t', false);
        } else if (sys == "sqlite") {
          if (!sqlite) sqlite = std::make_unique<SqliteDb>(o.sqlite);
          const bool ok = sqlite->Run(q.sqlite_sql, &table, &err);
          ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (!ok) t.ok = false, t.error = err;
        } else {
          std::fprintf(stderr, "query_bench: unknown system %s\n", sys.c_str());
          return 2;
        }
        t.answer = std::move(table);
      }
      t.runs = static_cast<int>(ms.size());
      t.first_ms = ms.empty() ? 0 : ms[0];
      std::vector<double> warm(ms.begin() + (ms.size() > 1 ? 1 : 0), ms.end());
      std::sort(warm.begin(), warm.end());
      if (!warm.empty()) {
        t.median_ms = warm.size() % 2 ? warm[warm.size() / 2]
                                      : (warm[warm.size() / 2 - 1] + warm[warm.size() / 2]) / 2;
        t.min_ms = warm[0];
      }
      std::printf("   %-20s first %10.1f ms   warm median %10.1f ms   min %10.1f ms   (%d runs, "
                  "%zu rows; load before %s)%s%s\n",
                  sys.c_str(), t.first_ms, t.median_ms, t.min_ms, t.runs, t.answer.size(),
                  load_before.c_str(), t.ok ? "" : "  ERROR: ", t.error.substr(0, 300).c_str());
      std::printf("RESULT {\"query\":\"%s\",\"system\":\"%s\",\"first_ms\":%.3f,"
                  "\"warm_median_ms\":%.3f,\"warm_min_ms\":%.3f,\"runs\":%d,\"rows\":%zu,"
                  "\"ok\":%s,\"load\":\"%s\"}\n",
                  q.id.c_str(), sys.c_str(), t.first_ms, t.median_ms, t.min_ms, t.runs,
                  t.answer.size(), t.ok ? "true" : "false", load_before.c_str());
      std::fflush(stdout);
      results[sys] = std::move(t);
    }
    // Answers: SQLite (exact) is the reference.
    mismatches += CheckQuery(q, results, !o.answers_out.empty());
    all[q.id] = std::move(results);
  }
  if (!o.answers_out.empty()) WriteAnswers(o.answers_out, all);
  std::printf("\nanswers: %s\n", mismatches ? "MISMATCHES (see CHECK lines)" : "all checked answers match");
  return mismatches ? 3 : 0;
}

}  // namespace
}  // namespace tokenaudit::bench

int main(int argc, char** argv) {
  return tokenaudit::bench::Run(tokenaudit::bench::ParseOptions(argc, argv));
}
