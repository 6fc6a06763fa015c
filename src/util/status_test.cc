#include "tokenaudit/result.h"
#include "tokenaudit/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace tokenaudit {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = Status::Corruption("bad frame at 17");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.message(), "bad frame at 17");
  EXPECT_EQ(s.ToString(), "Corruption: bad frame at 17");
  EXPECT_EQ(s.WithContext("segment 3").ToString(), "Corruption: segment 3: bad frame at 17");
}

Status FailsWhen(bool fail) { return fail ? Status::IOError("disk") : Status::OK(); }
Status Propagates(bool fail) {
  RETURN_IF_ERROR(FailsWhen(fail));
  return Status::NotFound("reached end");
}

TEST(StatusTest, ReturnIfErrorPropagates) {
  EXPECT_EQ(Propagates(true).code(), StatusCode::kIOError);
  EXPECT_EQ(Propagates(false).code(), StatusCode::kNotFound);
}

Result<std::unique_ptr<int>> MakeInt(bool fail) {
  if (fail) return Status::InvalidArgument("no");
  return std::make_unique<int>(7);
}
Result<int> UsesAssignOrReturn(bool fail) {
  ASSIGN_OR_RETURN(auto p, MakeInt(fail));
  return *p + 1;
}

TEST(ResultTest, HoldsMoveOnlyValueOrError) {
  auto ok = UsesAssignOrReturn(false);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 8);
  auto bad = UsesAssignOrReturn(true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(ResultTest, OkStatusBecomesInternalError) {
  Result<int> r = Status::OK();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace tokenaudit
