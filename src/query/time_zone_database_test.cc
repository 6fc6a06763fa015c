#include "src/query/time_zone_database.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "tokenaudit/env.h"

namespace tokenaudit::query {
namespace {

std::string ReadRealZone(const std::string& name) {
  std::ifstream in(std::string(TA_QUERY_TEST_ZONEINFO) + "/" + name, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(ValidateZoneNameTest, AcceptsIanaNames) {
  for (const char* name : {"Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5",
                           "Etc/GMT-14", "EST5EDT", "UTC", "America/Port-au-Prince"}) {
    EXPECT_TRUE(ValidateZoneName(name).ok()) << name;
  }
}

TEST(ValidateZoneNameTest, RefusesAnythingThatCouldLeaveTheDirectory) {
  for (const char* name :
       {"", "/etc/passwd", "../etc/passwd", "Europe/../../etc/passwd", "..", "Europe/..",
        "Europe//Berlin", "Europe/", "Europe/Berlin.bak", "Europe/Berlin ", "Europe\\Berlin",
        "-rf", "Europe/-x", "a%2e%2e", "Europe/Berlin\n", "~root"}) {
    EXPECT_EQ(ValidateZoneName(name).code(), StatusCode::kInvalidArgument) << name;
  }
  EXPECT_FALSE(ValidateZoneName(std::string_view("Europe\0/x", 9)).ok());
  EXPECT_FALSE(ValidateZoneName(std::string(256, 'a')).ok());
  EXPECT_TRUE(ValidateZoneName(std::string(255, 'a')).ok());
}

TEST(ParseUtcOffsetTest, AcceptsSignedHoursAndMinutes) {
  EXPECT_EQ(*ParseUtcOffset("+02:00"), 7200);
  EXPECT_EQ(*ParseUtcOffset("-05:30"), -19800);
  EXPECT_EQ(*ParseUtcOffset("+00:00"), 0);
  EXPECT_EQ(*ParseUtcOffset("+18:00"), 18 * 3600);
  EXPECT_EQ(*ParseUtcOffset("-18:00"), -18 * 3600);
  for (const char* bad : {"+2:00", "+02", "+0200", "02:00", "+18:01", "+24:00", "+02:60",
                          "+0a:00", "+02:00 ", "++2:00", "-"}) {
    EXPECT_EQ(ParseUtcOffset(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

class TimeZoneDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_->CreateDir("/zi").ok());
    ASSERT_TRUE(env_->CreateDir("/zi/Test").ok());
    ASSERT_TRUE(WriteFileAtomic(env_.get(), "/zi/Test/Berlin", ReadRealZone("Europe/Berlin")).ok());
    ASSERT_TRUE(WriteFileAtomic(env_.get(), "/zi/Garbage", "not a zone file").ok());
    ASSERT_TRUE(WriteFileAtomic(env_.get(), "/secret", ReadRealZone("Europe/Berlin")).ok());
  }

  std::unique_ptr<Env> env_ = NewMemEnv();
  TimeZoneDatabase db_{env_.get(), "/zi"};
};

TEST_F(TimeZoneDatabaseTest, LoadsFromTheConfiguredDirectory) {
  Result<std::shared_ptr<const TimeZone>> tz = db_.Get("Test/Berlin");
  ASSERT_TRUE(tz.ok()) << tz.status();
  EXPECT_EQ((*tz)->name(), "Test/Berlin");
  EXPECT_EQ((*tz)->UtcOffsetAt(int64_t{1750000000} * 1000000), 7200);
  EXPECT_EQ(db_.Get("Europe/Berlin").status().code(), StatusCode::kNotFound);
}

TEST_F(TimeZoneDatabaseTest, UtcAndFixedOffsetsNeedNoFiles) {
  Result<std::shared_ptr<const TimeZone>> utc = db_.Get("UTC");
  ASSERT_TRUE(utc.ok());
  EXPECT_EQ((*utc)->name(), "UTC");
  Result<std::shared_ptr<const TimeZone>> fixed = db_.Get("-05:30");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ((*fixed)->UtcOffsetAt(0), -19800);
  EXPECT_EQ(db_.Get("+25:00").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(TimeZoneDatabaseTest, ErrorsSayWhatWentWrong) {
  EXPECT_EQ(db_.Get("Test/Nowhere").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(db_.Get("Test").status().code(), StatusCode::kNotFound);  // a directory
  const Status garbage = db_.Get("Garbage").status();
  EXPECT_EQ(garbage.code(), StatusCode::kCorruption);
  EXPECT_EQ(garbage.message().find("not a zone file"), std::string_view::npos);  // no content
  EXPECT_EQ(db_.Get("../secret").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(db_.Get("/secret").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(TimeZoneDatabaseTest, OversizedFilesAreNotRead) {
  ASSERT_TRUE(WriteFileAtomic(env_.get(), "/zi/Big", std::string(300 * 1024, 'x')).ok());
  EXPECT_EQ(db_.Get("Big").status().code(), StatusCode::kCorruption);
}

TEST_F(TimeZoneDatabaseTest, ZonesAreCachedAndSharedAcrossThreads) {
  Result<std::shared_ptr<const TimeZone>> first = db_.Get("Test/Berlin");
  ASSERT_TRUE(first.ok());
  // Later changes to the file are not seen: the zone is cached.
  ASSERT_TRUE(env_->RemoveFile("/zi/Test/Berlin").ok());
  std::vector<std::thread> threads;
  std::vector<const TimeZone*> seen(8, nullptr);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < 200; ++j) {
        Result<std::shared_ptr<const TimeZone>> tz = db_.Get("Test/Berlin");
        if (tz.ok()) seen[i] = tz->get();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const TimeZone* p : seen) EXPECT_EQ(p, first->get());
}

TEST(TimeZoneDatabaseDefaultTest, ReadsDebianTzdata) {
  Result<std::shared_ptr<const TimeZone>> tz = TimeZoneDatabase::Default()->Get("America/New_York");
  ASSERT_TRUE(tz.ok()) << tz.status();
  EXPECT_EQ((*tz)->UtcOffsetAt(int64_t{1750000000} * 1000000), -4 * 3600);
  EXPECT_EQ(TimeZoneDatabase::Default()->Get("leapseconds").status().code(),
            StatusCode::kCorruption);
}

}  // namespace
}  // namespace tokenaudit::query
