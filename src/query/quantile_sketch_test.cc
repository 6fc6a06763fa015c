#include "src/query/quantile_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace tokenaudit::query {
namespace {

const double kQuantiles[] = {0, 0.01, 0.5, 0.95, 0.99, 1};

// The exact nearest-rank quantile of `sorted`, with the rank the sketch uses.
uint64_t ExactQuantile(const std::vector<uint64_t>& sorted, double q) {
  return sorted[QuantileSketch::NearestRank(q, sorted.size()) - 1];
}

// Checks the documented guarantee |Quantile(q) - x| <= a * x for every q in kQuantiles plus a
// sweep of 200 more.
void ExpectWithinBound(const QuantileSketch& s, std::vector<uint64_t> values,
                       const std::string& label) {
  std::sort(values.begin(), values.end());
  ASSERT_EQ(s.count(), values.size()) << label;
  std::vector<double> qs(std::begin(kQuantiles), std::end(kQuantiles));
  for (int i = 1; i < 200; ++i) qs.push_back(i / 200.0);
  const double a = s.relative_accuracy();
  for (double q : qs) {
    const double x = static_cast<double>(ExactQuantile(values, q));
    const double got = s.Quantile(q);
    ASSERT_LE(std::fabs(got - x), a * x) << label << " q=" << q << " exact=" << x << " got=" << got;
  }
  EXPECT_EQ(s.Quantile(0), static_cast<double>(values.front())) << label;
  EXPECT_EQ(s.Quantile(1), static_cast<double>(values.back())) << label;
  EXPECT_EQ(s.min(), values.front()) << label;
  EXPECT_EQ(s.max(), values.back()) << label;
}

QuantileSketch SketchOf(const std::vector<uint64_t>& values, uint32_t ppm) {
  QuantileSketch s = *QuantileSketch::WithAccuracy(ppm);
  for (uint64_t v : values) s.Add(v);
  return s;
}

// Named distributions of durations, deterministic per seed.
std::vector<uint64_t> Distribution(const std::string& name, size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> v;
  v.reserve(n);
  if (name == "uniform") {
    std::uniform_int_distribution<uint64_t> d(0, uint64_t{1} << 40);
    for (size_t i = 0; i < n; ++i) v.push_back(d(rng));
  } else if (name == "uniform_small") {
    std::uniform_int_distribution<uint64_t> d(0, 300);
    for (size_t i = 0; i < n; ++i) v.push_back(d(rng));
  } else if (name == "lognormal") {
    std::lognormal_distribution<double> d(7.5, 1.5);  // ~1.8 s median, long tail
    for (size_t i = 0; i < n; ++i) v.push_back(static_cast<uint64_t>(d(rng)));
  } else if (name == "zipf") {
    // Zipf-ish: value k * 37 with probability proportional to 1 / k^1.2 over k = 1..10^5.
    std::vector<double> w(100000);
    for (size_t k = 0; k < w.size(); ++k) w[k] = 1.0 / std::pow(static_cast<double>(k + 1), 1.2);
    std::discrete_distribution<size_t> d(w.begin(), w.end());
    for (size_t i = 0; i < n; ++i) v.push_back((d(rng) + 1) * 37);
  } else if (name == "constant") {
    v.assign(n, 2480);
  } else if (name == "with_zeros") {
    std::lognormal_distribution<double> d(5, 2);
    std::bernoulli_distribution zero(0.3);
    for (size_t i = 0; i < n; ++i) v.push_back(zero(rng) ? 0 : static_cast<uint64_t>(d(rng)));
  } else if (name == "powers_of_two") {  // bucket edges: 2^k - 1, 2^k, 2^k + 1 up to 2^63
    std::uniform_int_distribution<int> e(0, 63), off(-1, 1);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t p = uint64_t{1} << e(rng);
      v.push_back(p == 1 && off(rng) < 0 ? 0 : p + off(rng));
    }
  } else if (name == "huge") {
    std::uniform_int_distribution<uint64_t> d(UINT64_MAX - (uint64_t{1} << 20), UINT64_MAX);
    for (size_t i = 0; i < n; ++i) v.push_back(d(rng));
  }
  return v;
}

const char* const kDistributions[] = {"uniform", "uniform_small", "lognormal", "zipf",
                                      "constant", "with_zeros", "powers_of_two", "huge"};

TEST(QuantileSketchTest, EmptySketchHasNoQuantile) {
  QuantileSketch s;
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(std::isnan(s.Quantile(0.5)));
  EXPECT_TRUE(std::isnan(s.Mean()));
  EXPECT_EQ(s.min(), 0u);
  EXPECT_EQ(s.max(), 0u);
  EXPECT_EQ(s.accuracy_ppm(), QuantileSketch::kDefaultAccuracyPpm);
}

TEST(QuantileSketchTest, NearestRankFollowsTheDefinition) {
  EXPECT_EQ(QuantileSketch::NearestRank(0, 10), 1u);
  EXPECT_EQ(QuantileSketch::NearestRank(0.1, 10), 1u);
  EXPECT_EQ(QuantileSketch::NearestRank(0.11, 10), 2u);
  EXPECT_EQ(QuantileSketch::NearestRank(0.5, 10), 5u);
  EXPECT_EQ(QuantileSketch::NearestRank(0.95, 100), 95u);
  EXPECT_EQ(QuantileSketch::NearestRank(0.99, 100), 99u);
  EXPECT_EQ(QuantileSketch::NearestRank(0.999, 100), 100u);
  EXPECT_EQ(QuantileSketch::NearestRank(1, 7), 7u);
  EXPECT_EQ(QuantileSketch::NearestRank(-1, 7), 1u);
  EXPECT_EQ(QuantileSketch::NearestRank(2, 7), 7u);
  EXPECT_EQ(QuantileSketch::NearestRank(std::nan(""), 7), 1u);
  EXPECT_EQ(QuantileSketch::NearestRank(0.5, UINT64_MAX), uint64_t{1} << 63);
}

TEST(QuantileSketchTest, SmallValuesAreExact) {
  // Below 1/(2a) = 50 every bucket holds one integer.
  QuantileSketch s;
  for (uint64_t v = 1; v <= 49; ++v) s.Add(v);
  for (uint64_t r = 1; r <= 49; ++r) {
    EXPECT_EQ(s.Quantile((r - 0.5) / 49), static_cast<double>(r)) << r;
  }
}

TEST(QuantileSketchTest, ExactSmallCases) {
  QuantileSketch s;
  for (uint64_t v : {0, 0, 7, 1000, 2480, 2480, 2480, 90000}) s.Add(v);
  EXPECT_EQ(s.count(), 8u);
  EXPECT_EQ(s.sum(), 7 + 1000 + 3 * 2480 + 90000u);
  EXPECT_DOUBLE_EQ(s.Mean(), (7 + 1000 + 3 * 2480 + 90000) / 8.0);
  EXPECT_EQ(s.Quantile(0), 0);
  EXPECT_EQ(s.Quantile(0.25), 0);      // rank 2
  EXPECT_EQ(s.Quantile(0.3), 7);       // rank 3: small values are exact
  EXPECT_NEAR(s.Quantile(0.5), 1000, 10);  // rank 4
  EXPECT_NEAR(s.Quantile(0.75), 2480, 24.8);
  EXPECT_EQ(s.Quantile(1), 90000);     // max is exact
  EXPECT_EQ(s.Quantile(0.99), 90000);  // rank 8 = n
}

TEST(QuantileSketchTest, SingleValueIsExactAtEveryQuantile) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{123456789}, UINT64_MAX}) {
    QuantileSketch s;
    s.Add(v);
    for (double q : kQuantiles) EXPECT_EQ(s.Quantile(q), static_cast<double>(v)) << v;
  }
}

TEST(QuantileSketchTest, BoundHoldsOnRandomDistributions) {
  for (uint32_t ppm : QuantileSketch::kSupportedAccuracyPpm) {
    for (const char* name : kDistributions) {
      for (uint32_t seed : {1u, 2u}) {
        for (size_t n : {size_t{1}, size_t{2}, size_t{3}, size_t{17}, size_t{5000}}) {
          const std::vector<uint64_t> values = Distribution(name, n, seed * 1000 + ppm);
          ExpectWithinBound(SketchOf(values, ppm), values,
                            std::string(name) + " ppm=" + std::to_string(ppm) +
                                " n=" + std::to_string(n));
        }
      }
    }
  }
}

TEST(QuantileSketchTest, BoundHoldsForEveryValueNearBucketEdges) {
  // Each value alone between a zero and a maximum, so it is neither min nor max: the reported
  // value is its bucket's representative.
  for (uint32_t ppm : {1000u, 10000u, 50000u}) {
    const double a = ppm / 1e6;
    for (uint64_t v = 1; v < 200000; v += (v < 5000 ? 1 : 97)) {
      QuantileSketch s = *QuantileSketch::WithAccuracy(ppm);
      s.Add(0);
      s.Add(v);
      s.Add(UINT64_MAX);
      const double got = s.Quantile(0.5);
      ASSERT_LE(std::fabs(got - static_cast<double>(v)), a * static_cast<double>(v))
          << "v=" << v << " ppm=" << ppm;
    }
  }
}

TEST(QuantileSketchTest, AddWithCountEqualsRepeatedAdd) {
  QuantileSketch a, b;
  for (int i = 0; i < 5; ++i) a.Add(300);
  a.Add(0);
  ASSERT_TRUE(b.Add(300, 5).ok());
  ASSERT_TRUE(b.Add(0, 1).ok());
  ASSERT_TRUE(b.Add(17, 0).ok());  // n == 0 is a no-op
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.Encode(), b.Encode());
}

TEST(QuantileSketchTest, CountOverflowIsRefusedAndLeavesTheSketchUnchanged) {
  QuantileSketch s;
  ASSERT_TRUE(s.Add(5, UINT64_MAX - 1).ok());
  const std::string before = s.Encode();
  EXPECT_EQ(s.Add(5, 2).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.Encode(), before);
  QuantileSketch t;
  t.Add(1);
  t.Add(1);
  EXPECT_EQ(s.Merge(t).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.Encode(), before);
  s.Add(9);  // reaches 2^64 - 1 exactly
  EXPECT_EQ(s.count(), UINT64_MAX);
  s.Add(9);  // dropped, as documented
  EXPECT_EQ(s.count(), UINT64_MAX);
}

TEST(QuantileSketchTest, SumSaturates) {
  QuantileSketch s;
  s.Add(UINT64_MAX - 1);
  EXPECT_FALSE(s.sum_saturated());
  s.Add(5);
  EXPECT_TRUE(s.sum_saturated());
  EXPECT_EQ(s.sum(), UINT64_MAX);
}

TEST(QuantileSketchTest, UnsupportedAccuracyIsRefused) {
  EXPECT_EQ(QuantileSketch::WithAccuracy(0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QuantileSketch::WithAccuracy(12345).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(QuantileSketch::WithAccuracy(1000).ok());
}

TEST(QuantileSketchTest, MergeOfShardsEqualsSketchOfTheUnion) {
  for (const char* name : kDistributions) {
    const std::vector<uint64_t> values = Distribution(name, 20000, 7);
    const QuantileSketch whole = SketchOf(values, QuantileSketch::kDefaultAccuracyPpm);
    std::mt19937 rng(11);
    for (size_t shards : {size_t{2}, size_t{7}, size_t{300}}) {
      std::vector<QuantileSketch> parts(shards);
      std::uniform_int_distribution<size_t> pick(0, shards - 1);
      for (uint64_t v : values) parts[pick(rng)].Add(v);
      std::shuffle(parts.begin(), parts.end(), rng);
      // Merge as a tree (pairs, then pairs of pairs) to exercise associativity too.
      while (parts.size() > 1) {
        std::vector<QuantileSketch> next;
        for (size_t i = 0; i + 1 < parts.size(); i += 2) {
          ASSERT_TRUE(parts[i].Merge(parts[i + 1]).ok());
          next.push_back(std::move(parts[i]));
        }
        if (parts.size() % 2 == 1) next.push_back(std::move(parts.back()));
        parts = std::move(next);
      }
      const QuantileSketch& merged = parts[0];
      EXPECT_EQ(merged, whole) << name << " shards=" << shards;
      EXPECT_EQ(merged.Encode(), whole.Encode()) << name;
      for (int i = 0; i <= 1000; ++i) {
        const double q = i / 1000.0;
        const double a = merged.Quantile(q), b = whole.Quantile(q);
        ASSERT_EQ(std::memcmp(&a, &b, sizeof a), 0) << name << " q=" << q;  // bit-identical
      }
    }
  }
}

TEST(QuantileSketchTest, MergeIntoEmptyAndSelfMerge) {
  QuantileSketch a, empty;
  for (uint64_t v : {3, 40, 5000, 5000}) a.Add(v);
  QuantileSketch b = empty;
  ASSERT_TRUE(b.Merge(a).ok());
  EXPECT_EQ(b, a);
  ASSERT_TRUE(b.Merge(empty).ok());
  EXPECT_EQ(b, a);
  QuantileSketch twice = a;
  ASSERT_TRUE(twice.Merge(a).ok());
  QuantileSketch self = a;
  ASSERT_TRUE(self.Merge(self).ok());
  EXPECT_EQ(self, twice);
}

TEST(QuantileSketchTest, MergeOfDifferentAccuraciesIsRefused) {
  QuantileSketch a;
  QuantileSketch b = *QuantileSketch::WithAccuracy(2000);
  b.Add(5);
  EXPECT_EQ(a.Merge(b).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(a.empty());
}

TEST(QuantileSketchTest, FewValuesStaySmall) {
  // Many groups with a few values each: a value spread of six orders of magnitude must not cost
  // a dense array over the range.
  QuantileSketch s;
  for (uint64_t v : {1u, 1000u, 1000000u}) s.Add(v);
  EXPECT_LE(s.ApproximateMemoryUsage(), sizeof(QuantileSketch) + 3 * 16 + 16);
  // And a sketch full of values stays bounded by the bucket count (about 2,100 at a = 0.01).
  QuantileSketch full;
  for (const uint64_t v : Distribution("uniform", 100000, 3)) full.Add(v);
  EXPECT_LE(full.ApproximateMemoryUsage(), sizeof(QuantileSketch) + 8 * 2200);
}

TEST(QuantileSketchTest, EncodeDecodeRoundTrip) {
  std::vector<QuantileSketch> cases;
  cases.emplace_back();  // empty
  for (const char* name : kDistributions) {
    for (size_t n : {size_t{1}, size_t{5}, size_t{3000}}) {
      cases.push_back(SketchOf(Distribution(name, n, 5), QuantileSketch::kDefaultAccuracyPpm));
    }
  }
  cases.push_back(SketchOf(Distribution("lognormal", 100, 5), 1000));
  QuantileSketch zeros;
  ASSERT_TRUE(zeros.Add(0, 1000).ok());
  cases.push_back(zeros);
  for (const QuantileSketch& s : cases) {
    const std::string bytes = s.Encode();
    Result<QuantileSketch> back = QuantileSketch::Decode(bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, s);
    EXPECT_EQ(back->Encode(), bytes);
    for (double q : kQuantiles) {
      if (!s.empty()) {
        EXPECT_EQ(back->Quantile(q), s.Quantile(q));
      }
    }
  }
}

TEST(QuantileSketchTest, EncodingIsCompact) {
  QuantileSketch s;
  s.Add(2480);
  EXPECT_LE(s.Encode().size(), 16u);
  QuantileSketch t;
  for (const uint64_t v : Distribution("lognormal", 10000, 9)) t.Add(v);
  // About 2 bytes of index delta + count per occupied bucket.
  EXPECT_LT(t.Encode().size(), 4 * 700u);
}

TEST(QuantileSketchTest, EveryTruncationIsRejected) {
  QuantileSketch s;
  for (const uint64_t v : Distribution("with_zeros", 500, 4)) s.Add(v);
  s.Add(uint64_t{1} << 40);
  const std::string bytes = s.Encode();
  for (size_t len = 0; len < bytes.size(); ++len) {
    Result<QuantileSketch> r = QuantileSketch::Decode(std::string_view(bytes).substr(0, len));
    ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes accepted";
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << len << ": " << r.status();
  }
  const std::string empty = QuantileSketch().Encode();
  for (size_t len = 0; len < empty.size(); ++len) {
    EXPECT_FALSE(QuantileSketch::Decode(empty.substr(0, len)).ok());
  }
}

TEST(QuantileSketchTest, MalformedEncodingsAreRejected) {
  QuantileSketch s;
  for (uint64_t v : {0, 10, 1000, 1000, 70000}) s.Add(v);
  const std::string good = s.Encode();
  ASSERT_TRUE(QuantileSketch::Decode(good).ok());
  // Layout: version, ppm (2 bytes), count, zeros, min, span (3 bytes), sum (3 bytes), buckets...
  auto expect_code = [](std::string bytes, StatusCode code, const char* what) {
    Result<QuantileSketch> r = QuantileSketch::Decode(bytes);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), code) << what << ": " << r.status();
  };
  expect_code(good + '\0', StatusCode::kCorruption, "trailing byte");
  std::string v = good;
  v[0] = 2;
  expect_code(v, StatusCode::kInvalidArgument, "unknown version");
  expect_code(std::string("\x01\x01\x00", 3), StatusCode::kInvalidArgument, "unsupported ppm");
  expect_code(std::string("\x01\x90\x4e\x00\x00", 5), StatusCode::kCorruption, "trailing after empty");
  expect_code(std::string("\x01\x90\xce\x00\x00", 5), StatusCode::kCorruption, "overlong ppm varint");
  // count = 1 value of 5 in bucket 4 (values 1..49 have their own bucket): valid, then broken.
  const std::string one("\x01\x90\x4e\x01\x00\x05\x00\x05\x01\x04\x01", 11);
  ASSERT_TRUE(QuantileSketch::Decode(one).ok()) << QuantileSketch::Decode(one).status();
  std::string bad = one;
  bad[3] = 2;  // count 2, buckets hold 1
  expect_code(bad, StatusCode::kCorruption, "counts do not add up");
  bad = one;
  bad[5] = 6;  // min 6 is not in bucket of 5
  expect_code(bad, StatusCode::kCorruption, "min outside bucket");
  bad = one;
  bad[7] = 9;  // sum 9 for one value in [5, 5]
  expect_code(bad, StatusCode::kCorruption, "sum out of range");
  bad = one;
  bad[10] = 0;  // empty bucket
  expect_code(bad, StatusCode::kCorruption, "empty bucket");
  bad = one;
  bad[9] = 0x7f;  // index 127 holds larger values than 5
  expect_code(bad, StatusCode::kCorruption, "min/max outside bucket");
  bad = one;
  bad[6] = 1;  // one value with min != max
  expect_code(bad, StatusCode::kCorruption, "single value span");
  expect_code(std::string("\x01\x90\x4e\x01\x00\x05\x00\x05\x01\xff\xff\xff\xff\x0f\x01", 15),
              StatusCode::kCorruption, "bucket index beyond the table");
}

}  // namespace
}  // namespace tokenaudit::query
