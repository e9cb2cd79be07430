// Histogram: buckets hold what they say, quantiles are within the stated relative error of the
// exact ones, and merging equals recording everything in one.

#include "twin/traffic/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace twin::traffic {
namespace {

TEST(Histogram, BucketsTileTheRange) {
  // Every bucket starts right after the previous one ends, and index() maps both edges back.
  uint64_t expect = 0;
  for (size_t i = 0; i < Histogram::kBuckets; ++i) {
    ASSERT_EQ(Histogram::lower(i), expect) << i;
    ASSERT_GE(Histogram::upper(i), Histogram::lower(i));
    ASSERT_EQ(Histogram::index(Histogram::lower(i)), i);
    ASSERT_EQ(Histogram::index(Histogram::upper(i)), i);
    if (i + 1 < Histogram::kBuckets) expect = Histogram::upper(i) + 1;
  }
  EXPECT_EQ(Histogram::upper(Histogram::kBuckets - 1), UINT64_MAX);
}

TEST(Histogram, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 100; ++v) h.record(v);
  EXPECT_EQ(h.quantile(0.5), 49u);  // 50 of the 100 values are <= 49
  EXPECT_EQ(h.quantile(0.0), 0u);
  EXPECT_EQ(h.quantile(1.0), 99u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 99u);
  EXPECT_DOUBLE_EQ(h.mean(), 49.5);
}

TEST(Histogram, QuantilesWithinRelativeError) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(std::log(2e6), 1.2);  // ~2 ms latencies in ns
  for (int run = 0; run < 20; ++run) {
    Histogram h;
    std::vector<uint64_t> values(20000 + run * 100);
    for (auto& v : values) {
      v = static_cast<uint64_t>(dist(rng));
      h.record(v);
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.5, 0.9, 0.99, 0.999}) {
      auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
      uint64_t exact = values[rank - 1];
      uint64_t got = h.quantile(q);
      EXPECT_GE(got, exact) << q;  // the bucket's upper edge: never below the exact value
      EXPECT_LE(static_cast<double>(got - exact), static_cast<double>(exact) / 128.0 + 1) << q;
    }
    EXPECT_EQ(h.max(), values.back());
    EXPECT_EQ(h.quantile(1.0), values.back());
  }
}

TEST(Histogram, MergeEqualsOneHistogram) {
  Histogram all, a, b;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5000; ++i) {
    uint64_t v = rng() >> (rng() % 60);
    all.record(v);
    (i % 3 ? a : b).record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.9999}) EXPECT_EQ(a.quantile(q), all.quantile(q));
  a.clear();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.quantile(0.5), 0u);
}

}  // namespace
}  // namespace twin::traffic
