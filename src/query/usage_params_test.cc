#include "src/query/usage_params.h"

#include <gtest/gtest.h>

#include "src/query/time_zone_database.h"
#include "src/query/usage_json.h"

namespace tokenaudit::query {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

ParamContext Context() {
  ParamContext ctx;
  ctx.zone = [](std::string_view name) { return TimeZoneDatabase::Default()->Get(name); };
  ctx.user_pseudonym = [](std::string_view raw) { return "u_pseudo_" + std::string(raw); };
  ctx.is_pseudonym = [](std::string_view v) { return v.rfind("u_pseudo_", 0) == 0; };
  return ctx;
}

ParamError Error(const Params& p, Endpoint e = Endpoint::kUsage) {
  ParsedParams out;
  ParamError err;
  EXPECT_FALSE(ParseUsageParams(p, e, Context(), &out, &err));
  return err;
}

TEST(UsageParamsTest, FullUsageQuery) {
  ParsedParams out;
  ParamError err;
  ASSERT_TRUE(ParseUsageParams({{"group_by", "model,user"},
                                {"window", "week"},
                                {"tz", "Europe/Berlin"},
                                {"from", "2026-11-01T00:00:00Z"},
                                {"to", "2026-12-01T00:00:00Z"},
                                {"measures", "count,tokens,duration_p95"},
                                {"model", "a"},
                                {"model", "b"},
                                {"user", "alice"},
                                {"resolution_step", "0.25"},
                                {"format", "csv"}},
                               Endpoint::kUsage, Context(), &out, &err))
      << err.field << ": " << err.message;
  const UsageQuery& q = out.query;
  EXPECT_EQ(q.group_by, (std::vector<Dim>{Dim::kModel, Dim::kUser, Dim::kTime}));
  EXPECT_EQ(q.measures.size(), 3u);
  ASSERT_EQ(q.filters.size(), 2u);
  EXPECT_EQ(q.filters[0].values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(q.filters[1].values, (std::vector<std::string>{"u_pseudo_alice"}));  // never raw
  EXPECT_EQ(q.resolution_step_milli_mp, 250);
  EXPECT_EQ(out.format, OutputFormat::kCsv);
  EXPECT_EQ(out.zone->name(), "Europe/Berlin");
  // Weeks start on Monday 00:00 Berlin time: Monday 2026-11-30 is 2026-11-29T23:00:00Z.
  // (`TZ=Europe/Berlin date -d '2026-11-30 00:00' +%s` = 1795993200.)
  const int64_t t = 1'796'083'200'000'000;  // 2026-12-01T00:00:00Z, a Tuesday
  EXPECT_EQ(q.window(t).start, 1'795'993'200'000'000);
  EXPECT_EQ(q.window(t).end, 1'795'993'200'000'000 + 7 * 86'400'000'000);
}

TEST(UsageParamsTest, TopQuery) {
  ParsedParams out;
  ParamError err;
  ASSERT_TRUE(ParseUsageParams({{"by", "user"}, {"measure", "cost"}, {"k", "5"}}, Endpoint::kTop,
                               Context(), &out, &err));
  EXPECT_EQ(out.query.group_by, (std::vector<Dim>{Dim::kUser}));
  EXPECT_EQ(out.query.order_by, Measure::kCost);
  EXPECT_EQ(out.query.limit, 5u);
  EXPECT_TRUE(out.query.descending);
}

TEST(UsageParamsTest, ErrorsNameTheParameter) {
  EXPECT_EQ(Error({{"group_by", "model,colour"}}).field, "group_by");
  EXPECT_EQ(Error({{"group_by", "model,model"}}).field, "group_by");
  EXPECT_EQ(Error({{"window", "fortnight"}}).field, "window");
  EXPECT_EQ(Error({{"window", "day"}, {"tz", "Mars/Olympus"}}).field, "tz");
  EXPECT_EQ(Error({{"window", "day"}, {"tz", "../../etc/passwd"}}).field, "tz");
  EXPECT_EQ(Error({{"from", "yesterday"}}).field, "from");
  EXPECT_EQ(Error({{"from", "2026-11-02T00:00:00Z"}, {"to", "2026-11-01T00:00:00Z"}}).field,
            "to");
  EXPECT_EQ(Error({{"measures", "count,vibes"}}).field, "measures");
  EXPECT_EQ(Error({{"resolution_step", "0"}}).field, "resolution_step");
  EXPECT_EQ(Error({{"resolution_step", "0.0001"}}).field, "resolution_step");
  EXPECT_EQ(Error({{"resolution", "big"}}).field, "resolution");
  EXPECT_EQ(Error({{"model_input_size", "-1"}}).field, "model_input_size");
  EXPECT_EQ(Error({{"limit", "0"}}).field, "limit");
  EXPECT_EQ(Error({{"format", "xml"}}).field, "format");
  EXPECT_EQ(Error({{"colour", "red"}}).field, "colour");
  EXPECT_EQ(Error({{"time", "2026"}}).field, "time");
  EXPECT_EQ(Error({}, Endpoint::kTop).field, "by");
  EXPECT_EQ(Error({{"by", "time"}}, Endpoint::kTop).field, "by");
  EXPECT_EQ(Error({{"by", "user"}, {"k", "100000"}}, Endpoint::kTop).field, "k");
  EXPECT_EQ(Error({{"by", "user"}, {"group_by", "model"}}, Endpoint::kTop).field, "group_by");
}

TEST(UsageJsonTest, KeysAndMeasuresAreEncodedExactly) {
  UsageQuery q;
  q.group_by = {Dim::kModel, Dim::kResolution, Dim::kTime};
  q.measures = {Measure::kCount, Measure::kTokens, Measure::kCost, Measure::kDurationP95};
  UsageAnswer a;
  GroupRow g;
  g.keys = {"ddcolor \"tiny\"", "1250", "1796083200000000"};
  g.key_numbers = {3, 1250, 1'796'083'200'000'000};
  g.count = 2;
  g.tokens_milli = 1'234'567;
  g.cost_micros = 42;
  g.duration_count = 0;
  a.groups.push_back(g);
  GroupRow absent = g;
  absent.keys = {"", "-1", "0"};
  absent.key_numbers = {0, -1, 0};
  absent.duration_count = 1;
  absent.duration_p95 = 7;
  a.groups.push_back(absent);
  a.rows_scanned = 9;
  EXPECT_EQ(EncodeUsageJson(q, a),
            "{\"groups\":[{\"model\":\"ddcolor \\\"tiny\\\"\",\"resolution_mp\":1.250,"
            "\"time\":\"2026-12-01T00:00:00Z\",\"count\":2,\"tokens\":1234.567,\"cost_micros\":42,"
            "\"duration_p95\":null},{\"model\":null,\"resolution_mp\":null,"
            "\"time\":\"1970-01-01T00:00:00Z\",\"count\":2,\"tokens\":1234.567,"
            "\"cost_micros\":42,\"duration_p95\":7}],\"rows_scanned\":9}");
  EXPECT_EQ(EncodeUsageCsv(q, a),
            "model,resolution_mp,time,count,tokens,cost_micros,duration_p95\r\n"
            "\"ddcolor \"\"tiny\"\"\",1.250,2026-12-01T00:00:00Z,2,1234.567,42,\r\n"
            ",,1970-01-01T00:00:00Z,2,1234.567,42,7\r\n");
  const std::string table = EncodeUsageTable(q, a);
  EXPECT_EQ(table.substr(0, table.find('\n')),
            "model           resolution_mp  time                  count    tokens  cost_micros"
            "  duration_p95")
      << table;
}

}  // namespace
}  // namespace tokenaudit::query
