#include "src/query/usage_json.h"

#include <algorithm>
#include <cstdio>

#include "src/record/rfc3339.h"
#include "src/util/json_string.h"

namespace tokenaudit::query {
namespace {

// 1234567 -> "1234.567"; exact.
std::string Milli(int64_t v) {
  std::string sign = v < 0 ? "-" : "";
  const uint64_t a = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  char frac[8];
  std::snprintf(frac, sizeof(frac), "%03u", static_cast<unsigned>(a % 1000));
  return sign + std::to_string(a / 1000) + "." + frac;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string KeyName(Dim d) {
  return d == Dim::kResolution ? "resolution_mp" : std::string(DimName(d));
}

// The key of group_by[i] as JSON (null when absent), or as text when `json` is false.
std::string KeyValue(Dim d, const GroupRow& g, size_t i, bool json) {
  const int64_t n = g.key_numbers[i];
  switch (d) {
    case Dim::kResolution:
      return n < 0 ? (json ? "null" : "") : Milli(n);
    case Dim::kModelInputSize:
      return n == 0 ? (json ? "null" : "") : std::to_string(n);
    case Dim::kTime: {
      std::string t = record::FormatRfc3339Micros(n);
      // Whole seconds: windows start on a second.
      if (t.size() == 27) t = t.substr(0, 19) + "Z";
      return json ? "\"" + t + "\"" : t;
    }
    default:
      if (!json) return g.keys[i];
      if (g.keys[i].empty()) return "null";
      std::string out;
      AppendJsonString(&out, g.keys[i]);
      return out;
  }
}

std::string MeasureValue(Measure m, const GroupRow& g) {
  switch (m) {
    case Measure::kCount: return std::to_string(g.count);
    case Measure::kTokens: return Milli(g.tokens_milli);
    case Measure::kGflops: return Milli(g.gflops_milli);
    case Measure::kCost: return std::to_string(g.cost_micros);
    case Measure::kDurationAvg: return Fixed(g.duration_avg(), 3);
    case Measure::kDurationMin: return std::to_string(g.duration_min);
    case Measure::kDurationMax: return std::to_string(g.duration_max);
    case Measure::kDurationP50: return std::to_string(g.duration_p50);
    case Measure::kDurationP95: return std::to_string(g.duration_p95);
    case Measure::kDurationP99: return std::to_string(g.duration_p99);
    case Measure::kDistinctUsers: return std::to_string(g.distinct_users);
    case Measure::kTokensAvg: return Fixed(g.tokens_avg(), 3);
    case Measure::kMegapixelsAvg: return Fixed(g.megapixels_avg(), 6);
    case Measure::kMsPerMegapixel: return Fixed(g.ms_per_megapixel(), 3);
    case Measure::kMsAtZeroMegapixels: return Fixed(g.ms_at_zero_megapixels(), 3);
    case Measure::kFitR2: return Fixed(g.fit_r2(), 6);
  }
  return "0";
}

// "cost" is reported in micro-units, and named so.
std::string MeasureColumn(Measure m) {
  return m == Measure::kCost ? "cost_micros" : std::string(MeasureName(m));
}

// Whether a statistic exists for the group (null, not 0, otherwise): duration statistics need a
// duration, the fit two points with a resolution and a duration.
bool Defined(Measure m, const GroupRow& g) {
  if (m >= Measure::kDurationAvg && m <= Measure::kDurationP99) return g.duration_count > 0;
  if (m == Measure::kMegapixelsAvg) return g.fit_n > 0;
  if (m == Measure::kMsPerMegapixel || m == Measure::kMsAtZeroMegapixels ||
      m == Measure::kFitR2) {
    return g.fit_n >= 2;
  }
  return true;
}

std::vector<std::vector<std::string>> Cells(const UsageQuery& q, const UsageAnswer& a,
                                            bool csv) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
  for (Dim d : q.group_by) header.push_back(KeyName(d));
  for (Measure m : ShownMeasures(q)) header.push_back(MeasureColumn(m));
  rows.push_back(header);
  for (const GroupRow& g : a.groups) {
    std::vector<std::string> row;
    for (size_t i = 0; i < q.group_by.size(); ++i) {
      std::string v = KeyValue(q.group_by[i], g, i, false);
      if (csv && v.find_first_of(",\"\r\n") != std::string::npos) {
        std::string quoted = "\"";
        for (char c : v) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        v = quoted + "\"";
      }
      row.push_back(v);
    }
    for (Measure m : ShownMeasures(q)) {
      row.push_back(Defined(m, g) ? MeasureValue(m, g) : "");
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

std::vector<Measure> ShownMeasures(const UsageQuery& q) {
  if (!q.measures.empty()) return q.measures;
  std::vector<Measure> all;
  for (int i = 0; i < kNumMeasures; ++i) all.push_back(static_cast<Measure>(i));
  return all;
}

std::string EncodeUsageJson(const UsageQuery& q, const UsageAnswer& a) {
  std::string out = "{\"groups\":[";
  for (size_t gi = 0; gi < a.groups.size(); ++gi) {
    const GroupRow& g = a.groups[gi];
    if (gi > 0) out += ',';
    out += '{';
    bool first = true;
    auto field = [&](const std::string& name, const std::string& value) {
      if (!first) out += ',';
      first = false;
      out += '"' + name + "\":" + value;
    };
    for (size_t i = 0; i < q.group_by.size(); ++i) {
      field(KeyName(q.group_by[i]), KeyValue(q.group_by[i], g, i, true));
    }
    for (Measure m : ShownMeasures(q)) {
      // Duration statistics of a group without durations are null, not 0.
      field(MeasureColumn(m),
            Defined(m, g) ? MeasureValue(m, g) : "null");
    }
    out += '}';
  }
  out += "],\"rows_scanned\":" + std::to_string(a.rows_scanned) + "}";
  return out;
}

std::string EncodeUsageCsv(const UsageQuery& q, const UsageAnswer& a) {
  std::string out;
  for (const auto& row : Cells(q, a, true)) {
    for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + row[i];
    out += "\r\n";
  }
  return out;
}

std::string EncodeUsageTable(const UsageQuery& q, const UsageAnswer& a) {
  auto rows = Cells(q, a, false);
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t i = 0; i < rows[r].size(); ++i) {
      if (i > 0) out += "  ";
      const std::string& v = rows[r][i];
      // Keys left-aligned, numbers right-aligned.
      const bool left = i < q.group_by.size();
      std::string pad(width[i] - v.size(), ' ');
      out += left ? v + (i + 1 < rows[r].size() ? pad : "") : pad + v;
    }
    out += "\n";
    if (r == 0) {
      for (size_t i = 0; i < width.size(); ++i) out += (i ? "  " : "") + std::string(width[i], '-');
      out += "\n";
    }
  }
  return out;
}

std::string EncodeUsage(OutputFormat format, const UsageQuery& q, const UsageAnswer& a) {
  switch (format) {
    case OutputFormat::kCsv: return EncodeUsageCsv(q, a);
    case OutputFormat::kTable: return EncodeUsageTable(q, a);
    case OutputFormat::kJson: break;
  }
  return EncodeUsageJson(q, a);
}

std::string_view ContentType(OutputFormat format) {
  switch (format) {
    case OutputFormat::kCsv: return "text/csv; charset=utf-8";
    case OutputFormat::kTable: return "text/plain; charset=utf-8";
    case OutputFormat::kJson: break;
  }
  return "application/json";
}

std::string EncodeDuplicatesJson(const std::vector<DuplicateCluster>& clusters) {
  std::string out = "{\"clusters\":[";
  for (size_t i = 0; i < clusters.size(); ++i) {
    const DuplicateCluster& c = clusters[i];
    char hash[24];
    std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(c.input_hash_prefix));
    if (i) out += ',';
    out += "{\"user\":";
    AppendJsonString(&out, c.user);
    out += ",\"model\":";
    if (c.model.empty()) {
      out += "null";
    } else {
      AppendJsonString(&out, c.model);
    }
    out += ",\"input_hash_prefix\":\"sha256:" + std::string(hash) + "\",\"runs\":" +
           std::to_string(c.runs) + ",\"first_time\":\"" +
           record::FormatRfc3339Micros(c.first_time_us) + "\",\"last_time\":\"" +
           record::FormatRfc3339Micros(c.last_time_us) + "\",\"repeat_tokens\":" +
           Milli(c.tokens_milli) + ",\"repeat_cost_micros\":" + std::to_string(c.cost_micros) +
           ",\"seqs\":[";
    for (size_t k = 0; k < c.seqs.size(); ++k) out += (k ? "," : "") + std::to_string(c.seqs[k]);
    out += "]}";
  }
  return out + "]}";
}

std::string EncodeAnomaliesJson(const std::vector<Anomaly>& anomalies) {
  std::string out = "{\"users\":[";
  for (size_t i = 0; i < anomalies.size(); ++i) {
    const Anomaly& a = anomalies[i];
    if (i) out += ',';
    out += "{\"user\":";
    AppendJsonString(&out, a.user);
    out += ",\"records\":" + std::to_string(a.records) + ",\"extreme\":" +
           std::to_string(a.extreme) + ",\"most_extreme\":{\"seq\":" + std::to_string(a.seq) +
           ",\"model\":";
    AppendJsonString(&out, a.model);
    out += ",\"feature\":\"" + a.feature + "\",\"value\":" + Fixed(a.value, 3) +
           ",\"z_user\":" + Fixed(a.z_user, 3) + ",\"z_all\":" + Fixed(a.z_all, 3) + "}}";
  }
  return out + "]}";
}

}  // namespace tokenaudit::query
