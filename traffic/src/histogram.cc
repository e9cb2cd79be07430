// Histogram (histogram.h).

#include "twin/traffic/histogram.h"

#include <algorithm>
#include <cmath>

namespace twin::traffic {

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

uint64_t Histogram::lower(size_t index) {
  if (index < kSub) return index;
  uint64_t shift = (index >> kSubBits) - 1;
  uint64_t sub = (index & (kSub - 1)) + kSub;
  return sub << shift;
}

uint64_t Histogram::upper(size_t index) {
  if (index < kSub) return index;
  uint64_t shift = (index >> kSubBits) - 1;
  uint64_t lo = lower(index);
  uint64_t width = uint64_t{1} << shift;
  return lo + (width - 1);
}

uint64_t Histogram::quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the wanted value, from 1: at least q of the values are at or below it.
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(upper(i), min(), max_);
  }
  return max_;
}

}  // namespace twin::traffic
