#pragma once
// A log-linear histogram of non-negative 64-bit values (nanoseconds, bytes), for latency
// percentiles in replay and compare.
//
// Written here rather than taken from a library because Debian 12 packages no HdrHistogram for
// C++, and what twin needs is small: record in O(1) without allocating, merge per-thread copies
// after the run, and answer quantiles with a known, bounded relative error. The layout is
// HdrHistogram's: values below 2^kSubBits are exact; above, each power of two is cut into
// 2^kSubBits equal buckets, so a bucket is at most 1/2^kSubBits (0.78 %) of its values wide.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace twin::traffic {

class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSub;

  Histogram() : counts_(kBuckets, 0) {}

  /// Records `value` once (`n` times). Never allocates.
  void record(uint64_t value, uint64_t n = 1) {
    counts_[index(value)] += n;
    count_ += n;
    sum_ += static_cast<double>(value) * static_cast<double>(n);
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  /// Adds every value recorded in `other`.
  void merge(const Histogram& other);
  void clear();

  uint64_t count() const { return count_; }
  /// Exact minimum and maximum; 0 when empty.
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }
  /// The value at quantile q in [0, 1]: the smallest v such that at least q of the values are
  /// <= v, up to the bucket's width (it answers the bucket's upper edge, clamped to max()).
  /// 0 when empty.
  uint64_t quantile(double q) const;
  /// The count of each bucket (see index(), lower(), upper()), for plots and exports.
  const std::vector<uint64_t>& counts() const { return counts_; }

  /// The bucket of a value, and the range of values that bucket holds: [lower, upper].
  static size_t index(uint64_t value) {
    if (value < kSub) return static_cast<size_t>(value);
    int top = 63 - __builtin_clzll(value);  // >= kSubBits
    int shift = top - kSubBits;
    return static_cast<size_t>((static_cast<uint64_t>(shift + 1) << kSubBits) +
                               ((value >> shift) - kSub));
  }
  static uint64_t lower(size_t index);
  static uint64_t upper(size_t index);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  double sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace twin::traffic
