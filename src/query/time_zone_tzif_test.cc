#include "src/query/time_zone_tzif.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace tokenaudit::query {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string ZoneFile(const std::string& name) {
  return ReadFile(std::string(TA_QUERY_TEST_ZONEINFO) + "/" + name);
}

// Writes TZif files field by field (RFC 8536 section 3), so tests can break one field at a time.
struct TzifBuilder {
  struct Type {
    int32_t utoff;
    uint8_t isdst;
    uint8_t desigidx;
  };
  char version = '2';
  std::vector<int64_t> times;
  std::vector<uint8_t> indices;
  std::vector<Type> types = {{3600, 0, 0}, {7200, 1, 4}};
  std::string chars = std::string("CET\0CEST\0", 9);
  std::vector<uint8_t> isstd, isut;
  uint32_t leapcnt = 0;
  std::string footer = "CET-1CEST,M3.5.0,M10.5.0/3";
  bool footer_newlines = true;
  char reserved = 0;

  static void Be32(std::string* out, uint32_t v) {
    for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
  }
  static void Be64(std::string* out, uint64_t v) {
    for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
  }

  void Header(std::string* out, char v) const {
    out->append("TZif");
    out->push_back(v);
    out->append(14, '\0');
    out->push_back(reserved);
    Be32(out, static_cast<uint32_t>(isut.size()));
    Be32(out, static_cast<uint32_t>(isstd.size()));
    Be32(out, leapcnt);
    Be32(out, static_cast<uint32_t>(times.size()));
    Be32(out, static_cast<uint32_t>(types.size()));
    Be32(out, static_cast<uint32_t>(chars.size()));
  }

  void Block(std::string* out, int time_size) const {
    for (int64_t t : times) {
      time_size == 4 ? Be32(out, static_cast<uint32_t>(t)) : Be64(out, static_cast<uint64_t>(t));
    }
    for (uint8_t i : indices) out->push_back(static_cast<char>(i));
    for (const Type& t : types) {
      Be32(out, static_cast<uint32_t>(t.utoff));
      out->push_back(static_cast<char>(t.isdst));
      out->push_back(static_cast<char>(t.desigidx));
    }
    out->append(chars);
    for (uint32_t i = 0; i < leapcnt; ++i) {
      time_size == 4 ? Be32(out, 0) : Be64(out, 0);
      Be32(out, 1);
    }
    for (uint8_t v : isstd) out->push_back(static_cast<char>(v));
    for (uint8_t v : isut) out->push_back(static_cast<char>(v));
  }

  std::string Build() const {
    std::string out;
    Header(&out, version);
    Block(&out, 4);
    if (version == 0) return out;
    Header(&out, version);
    Block(&out, 8);
    if (footer_newlines) out.push_back('\n');
    out.append(footer);
    if (footer_newlines) out.push_back('\n');
    return out;
  }
};

// A builder for Berlin-like data: CET until 2020-03-29 01:00Z, then CEST.
TzifBuilder Berlinish() {
  TzifBuilder b;
  b.times = {1585443600};
  b.indices = {1};
  return b;
}

TEST(TzifTest, ParsesEveryInstalledZone) {
  const std::filesystem::path root(TA_QUERY_TEST_ZONEINFO);
  int parsed = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = e.path().lexically_relative(root).string();
    const std::string data = ReadFile(e.path().string());
    if (data.compare(0, 4, "TZif") != 0) continue;  // tzdata.zi, zone.tab, leapseconds, ...
    Result<TzifData> tzif = ParseTzif(data);
    if (rel.rfind("right/", 0) == 0) {  // leap-second zones
      EXPECT_EQ(tzif.status().code(), StatusCode::kInvalidArgument) << rel;
      continue;
    }
    ASSERT_TRUE(tzif.ok()) << rel << ": " << tzif.status();
    ++parsed;
  }
  EXPECT_GT(parsed, 300);
}

TEST(TzifTest, BerlinContent) {
  Result<TzifData> tzif = ParseTzif(ZoneFile("Europe/Berlin"));
  ASSERT_TRUE(tzif.ok()) << tzif.status();
  EXPECT_GE(tzif->version, 2);
  ASSERT_TRUE(tzif->footer.has_value());
  EXPECT_EQ(tzif->footer->std_abbreviation, "CET");
  EXPECT_EQ(tzif->footer->dst_abbreviation, "CEST");
  EXPECT_EQ(tzif->types[0].abbreviation, "LMT");
  EXPECT_EQ(tzif->types[0].utc_offset, 53 * 60 + 28);
  EXPECT_EQ(tzif->transition_times[0], -2422054408);
}

TEST(TzifTest, KolkataFooterIsFixed) {
  Result<TzifData> tzif = ParseTzif(ZoneFile("Asia/Kolkata"));
  ASSERT_TRUE(tzif.ok()) << tzif.status();
  ASSERT_TRUE(tzif->footer.has_value());
  EXPECT_FALSE(tzif->footer->has_dst);
  EXPECT_EQ(tzif->footer->std_offset, 5 * 3600 + 1800);
}

TEST(TzifTest, EveryTruncationOfARealFileIsRejected) {
  for (const char* zone : {"Europe/Berlin", "Asia/Kolkata", "Australia/Lord_Howe"}) {
    const std::string data = ZoneFile(zone);
    ASSERT_TRUE(ParseTzif(data).ok()) << zone;
    for (size_t len = 0; len < data.size(); ++len) {
      Result<TzifData> r = ParseTzif(std::string_view(data).substr(0, len));
      ASSERT_FALSE(r.ok()) << zone << " prefix " << len;
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << zone << " " << len;
    }
  }
}

TEST(TzifTest, BuiltFilesParse) {
  Result<TzifData> v2 = ParseTzif(Berlinish().Build());
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version, 2);
  EXPECT_EQ(v2->transition_times, std::vector<int64_t>{1585443600});
  EXPECT_EQ(v2->types[1].abbreviation, "CEST");
  EXPECT_TRUE(v2->types[1].is_dst);

  TzifBuilder v1 = Berlinish();
  v1.version = 0;
  Result<TzifData> one = ParseTzif(v1.Build());
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->version, 1);
  EXPECT_FALSE(one->footer.has_value());

  TzifBuilder empty_footer = Berlinish();
  empty_footer.footer = "";
  Result<TzifData> ef = ParseTzif(empty_footer.Build());
  ASSERT_TRUE(ef.ok()) << ef.status();
  EXPECT_FALSE(ef->footer.has_value());

  TzifBuilder flags = Berlinish();
  flags.version = '4';
  flags.isstd = {1, 0};
  flags.isut = {1, 0};
  EXPECT_TRUE(ParseTzif(flags.Build()).ok());
}

TEST(TzifTest, MalformedFilesAreRejected) {
  struct Case {
    const char* what;
    void (*breaker)(TzifBuilder*);
  };
  const Case cases[] = {
      {"version", [](TzifBuilder* b) { b->version = '1'; }},
      {"reserved byte", [](TzifBuilder* b) { b->reserved = 1; }},
      {"no types", [](TzifBuilder* b) { b->types.clear(); b->indices = {}; b->times = {}; }},
      {"no chars", [](TzifBuilder* b) { b->chars.clear(); }},
      {"isstd count", [](TzifBuilder* b) { b->isstd = {0}; }},
      {"isut count", [](TzifBuilder* b) { b->isstd = {0, 0}; b->isut = {0}; }},
      {"times not ascending",
       [](TzifBuilder* b) { b->times = {1585443600, 1585443600}; b->indices = {1, 1}; }},
      {"time before -2^59", [](TzifBuilder* b) { b->times = {-(int64_t{1} << 60)}; }},
      {"type index", [](TzifBuilder* b) { b->indices = {2}; }},
      {"offset too large", [](TzifBuilder* b) { b->types[1].utoff = 93600; }},
      {"offset -2^31", [](TzifBuilder* b) { b->types[0].utoff = INT32_MIN; }},
      {"isdst 2", [](TzifBuilder* b) { b->types[1].isdst = 2; }},
      {"designation index", [](TzifBuilder* b) { b->types[1].desigidx = 9; }},
      {"designation unterminated", [](TzifBuilder* b) { b->chars = std::string("CET\0CEST", 8); }},
      {"isstd 2", [](TzifBuilder* b) { b->isstd = {2, 0}; }},
      {"isut without isstd", [](TzifBuilder* b) { b->isstd = {0, 0}; b->isut = {1, 0}; }},
      {"footer without newlines", [](TzifBuilder* b) { b->footer_newlines = false; }},
      {"footer with newline inside", [](TzifBuilder* b) { b->footer = "CET-1\nX"; }},
      {"footer garbage", [](TzifBuilder* b) { b->footer = "not a rule"; }},
      {"footer disagrees", [](TzifBuilder* b) { b->footer = "EST5EDT,M3.2.0,M11.1.0"; }},
  };
  for (const Case& c : cases) {
    TzifBuilder b = Berlinish();
    c.breaker(&b);
    Result<TzifData> r = ParseTzif(b.Build());
    EXPECT_FALSE(r.ok()) << c.what;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << c.what << r.status();
    }
  }
  const std::string good = Berlinish().Build();
  EXPECT_FALSE(ParseTzif("TZif").ok());
  EXPECT_FALSE(ParseTzif("XZif" + good.substr(4)).ok());
  EXPECT_FALSE(ParseTzif(good + "x").ok());
  TzifBuilder v1 = Berlinish();
  v1.version = 0;
  EXPECT_FALSE(ParseTzif(v1.Build() + '\0').ok());
  // Second header of another version.
  std::string mixed = good;
  mixed[44 + 26 + 4] = '3';  // v1 block: 4 + 1 + 2 * 6 + 9 bytes
  EXPECT_FALSE(ParseTzif(mixed).ok());
}

TEST(TzifTest, LeapSecondZonesAreRefused) {
  TzifBuilder b = Berlinish();
  b.leapcnt = 1;
  EXPECT_EQ(ParseTzif(b.Build()).status().code(), StatusCode::kInvalidArgument);
}

TEST(TzifTest, HugeCountsAreRejectedWithoutAllocating) {
  std::string data = Berlinish().Build();
  data[20 + 12] = '\x7f';  // timecnt of the v1 header: ~2^30 transitions
  Result<TzifData> r = ParseTzif(data);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace tokenaudit::query
