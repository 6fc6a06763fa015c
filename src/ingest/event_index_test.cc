#include "src/ingest/event_index.h"

#include <gtest/gtest.h>

namespace tokenaudit::ingest {
namespace {

UsageRecord Rec(const std::string& user, const std::string& model, int64_t t) {
  UsageRecord r;
  r.tenant = "t";
  r.user = user;
  r.model = model;
  r.status = "success";
  r.time_us = t;
  return r;
}

TEST(EventIndexTest, FiltersAndPaginatesWithACursor) {
  EventIndex idx;
  for (uint64_t s = 0; s < 50; ++s) {
    idx.Add(s, Rec(s % 2 ? "u_a" : "u_b", s % 5 ? "m1" : "m2", 1000 + static_cast<int64_t>(s)));
  }
  EventFilter f;
  f.user = "u_a";
  f.limit = 10;
  uint64_t next = 0;
  auto page1 = idx.Find(f, &next);
  ASSERT_EQ(page1.size(), 10u);
  EXPECT_EQ(page1.front(), 1u);
  EXPECT_EQ(page1.back(), 19u);
  EXPECT_EQ(next, 21u);
  f.after_seq = next;
  auto page2 = idx.Find(f, &next);
  EXPECT_EQ(page2.front(), 21u);
  f.after_seq = 0;
  f.limit = 100;
  f.model = "m2";
  f.from_us = 1010;
  f.to_us = 1040;
  auto m2 = idx.Find(f, &next);
  EXPECT_EQ(m2, (std::vector<uint64_t>{15, 25, 35}));
  EXPECT_EQ(next, 0u);
  f = EventFilter();
  f.user = "never-seen";
  EXPECT_TRUE(idx.Find(f, &next).empty());
}

TEST(EventIndexTest, OutOfOrderAddsStaySorted) {
  EventIndex idx;
  idx.Add(5, Rec("u", "m", 1));
  idx.Add(2, Rec("u", "m", 1));
  idx.Add(9, Rec("u", "m", 1));
  idx.Add(2, Rec("u", "m", 1));
  uint64_t next;
  EXPECT_EQ(idx.Find(EventFilter(), &next), (std::vector<uint64_t>{2, 5, 9}));
}

TEST(EventIndexTest, PreparedRowsAddedLaterMatchLikeAddedRecords) {
  EventIndex idx;
  idx.Add(0, Rec("u_a", "m1", 10));
  std::vector<EventIndex::Row> rows = {idx.MakeRow(Rec("u_b", "m1", 11)),
                                       idx.MakeRow(Rec("u_a", "m2", 12))};
  EventIndex::Row never_added = idx.MakeRow(Rec("u_c", "m3", 13));
  (void)never_added;
  idx.AddRows(5, rows);
  std::vector<EventIndex::Row> late = {idx.MakeRow(Rec("u_a", "m1", 9))};
  idx.AddRows(2, late);  // older seqs are sorted in
  EXPECT_EQ(idx.size(), 4u);
  EventFilter f;
  f.user = "u_a";
  uint64_t next = 0;
  EXPECT_EQ(idx.Find(f, &next), (std::vector<uint64_t>{0, 2, 6}));
  f.user = "u_c";  // interned, never stored: matches nothing
  EXPECT_TRUE(idx.Find(f, &next).empty());
  f = EventFilter();
  f.model = "m1";
  EXPECT_EQ(idx.Find(f, &next), (std::vector<uint64_t>{0, 2, 5}));
}

}  // namespace
}  // namespace tokenaudit::ingest
