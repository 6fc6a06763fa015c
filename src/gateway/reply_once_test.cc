#include "src/gateway/reply_once.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tokenaudit::gateway {
namespace {

struct Seen {
  std::vector<std::string> replies;
  int dropped = 0;
  ReplyOnce<std::string> Make() {
    return ReplyOnce<std::string>([this](std::string r) { replies.push_back(std::move(r)); },
                                  [this] { ++dropped; });
  }
};

TEST(ReplyOnceTest, CalledOnceIsNotDropped) {
  Seen seen;
  {
    std::function<void(std::string)> f = seen.Make();
    f("200");
  }
  EXPECT_EQ(seen.replies, std::vector<std::string>{"200"});
  EXPECT_EQ(seen.dropped, 0);
}

TEST(ReplyOnceTest, DestroyedUncalledIsDroppedOnceWhenTheLastCopyGoes) {
  Seen seen;
  {
    std::function<void(std::string)> a = seen.Make();
    {
      std::function<void(std::string)> b = a;  // e.g. captured by an upstream call
      std::function<void(std::string)> c = std::move(b);
    }
    EXPECT_EQ(seen.dropped, 0);
  }
  EXPECT_EQ(seen.dropped, 1);
  EXPECT_TRUE(seen.replies.empty());
}

TEST(ReplyOnceTest, SecondCallIsIgnored) {
  Seen seen;
  {
    std::function<void(std::string)> f = seen.Make();
    std::function<void(std::string)> g = f;
    f("200");
    g("502");
  }
  EXPECT_EQ(seen.replies, std::vector<std::string>{"200"});
  EXPECT_EQ(seen.dropped, 0);
}

}  // namespace
}  // namespace tokenaudit::gateway
