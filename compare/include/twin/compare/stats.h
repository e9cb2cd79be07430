#pragma once
// The statistics of the comparator, kept apart from archives and routes so that they can be
// tested for calibration on simulated data.
//
// Latency: a replay is one long, autocorrelated run — a GC pause, a noisy neighbour or a cache
// warming up moves many consecutive requests together — so per-request tests (Mann-Whitney,
// a plain bootstrap) are far too confident. We keep each route's latencies per time *block*
// (both targets' latencies of one captured exchange fall in the same block, since a paired replay
// sends them at the same intended instant) and compare percentiles with a paired *block
// bootstrap*: resampling whole blocks keeps the dependence inside a block and the pairing across
// targets. Blocks widen (adjacent pairs merge) as the run grows, so memory stays bounded by
// max_blocks × distinct histogram buckets, whatever the count.
//
// Errors: a one-sided Fisher exact test per route and error class. Many routes: Benjamini-
// Hochberg adjusted p-values (q-values).
//
// The decision for one latency quantile is latency_regressed() below; tests/compare/stats_test.cc
// checks its calibration (A/A false positives, detection of +10 % p99) on simulated
// autocorrelated runs.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "twin/traffic/histogram.h"

namespace twin::compare {

/// Fewer non-empty blocks than this and the bootstrap interval says little (a few blocks resample
/// to a few distinct values): the comparator reports "too little data" instead of a verdict.
inline constexpr size_t kMinBootstrapBlocks = 8;

struct BootstrapOptions {
  /// Resamples B; below 1 no bootstrap is run (low = high = ratio, p_value = 1).
  int resamples = 1000;
  /// Two-sided confidence of the interval on the ratio, e.g. 0.95 → [2.5 %, 97.5 %].
  double confidence = 0.95;
  uint64_t seed = 1;  // deterministic: the same data and seed give the same interval
};

/// candidate / baseline for one quantile of one route.
struct QuantileComparison {
  double q = 0;
  uint64_t baseline = 0;   // the quantile of all baseline values (Histogram precision)
  uint64_t candidate = 0;  // the quantile of all candidate values
  /// candidate / baseline, values under 1 ns counted as 1 ns (so 1 when both are 0).
  double ratio = 1;
  double low = 1, high = 1;  // bootstrap percentile interval of the ratio
  /// One-sided bootstrap p-value for "the candidate is slower at q": the share k/B of resampled
  /// ratios <= 1, with the +1 correction ((k + 1) / (B + 1)). When fewer than 10 resamples fall
  /// there the share cannot resolve small p-values (and Benjamini-Hochberg over hundreds of
  /// route quantiles needs them), so the tail is extrapolated from a normal fit to the log ratios
  /// (median, and half the 15.9 %–84.1 % spread): max(k / B, Φ(−median / spread), 1e-16).
  /// 1 when not computed.
  double p_value = 1;
  size_t blocks = 0;  // non-empty blocks the bootstrap drew from
};

/// The comparator's verdict on one latency quantile: regressed iff the slowdown is significant
/// after correction across routes (`q_value` — this comparison's Benjamini-Hochberg adjusted
/// p_value — <= `alpha`), the interval lies above 1 (low > 1), and it reaches the minimum effect
/// that matters within the histograms' resolution (high >= (1 + `min_effect`)·(1 − 2^-7), e.g.
/// 0.10 for "p99 +10 %"): a slowdown that is real and may be as large as the gate cares about.
/// Calibrated (stats_test.cc) with the interval at confidence 1 − 2·alpha (0.98), so that
/// "low > 1" and "high below the minimum" are each one-sided tests at alpha. Checking `blocks`
/// against kMinBootstrapBlocks is the caller's part.
bool latency_regressed(const QuantileComparison& c, double q_value, double alpha = 0.01,
                       double min_effect = 0.10);

/// Latencies of one route under two targets (0 = baseline, 1 = candidate), per time block.
/// Not thread-safe; merge() copies built on other threads. Const members only read (they may
/// run concurrently with each other).
///
/// Memory: at most max_blocks × (distinct buckets per block) × 8 bytes per side, plus append
/// buffers of pairs not yet folded in: up to 16 KiB for the newest block, and 2 KiB for each
/// older block that out-of-order input still writes to.
class PairedSeries {
 public:
  /// `max_blocks` (at least 2): when a block index would reach it, adjacent blocks merge pairwise
  /// (the block width doubles) — for this series only.
  explicit PairedSeries(size_t max_blocks = 128);

  /// Records one pair. `fine_block` is the pair's instant in units of the finest block width,
  /// counted from the start of the run: (instant − t0) / fine_width (the caller clamps to >= 0).
  /// Amortised O(1); allocates only when a block is first used or sees a new bucket.
  void add(uint64_t fine_block, uint64_t baseline_ns, uint64_t candidate_ns);
  /// Adds every pair of `other` (which must use the same t0 and fine width).
  void merge(const PairedSeries& other);

  uint64_t count() const { return count_; }
  /// Quantile q of all values of one side, with Histogram's precision (≤ 0.78 % relative): the
  /// same answer as a Histogram that recorded the same values.
  uint64_t quantile(int side, double q) const;
  /// All values of one side in one histogram (for plots). Counts, min(), max() and quantiles are
  /// those of the values; mean() is approximate (values stand at their bucket's middle).
  traffic::Histogram histogram(int side) const;
  /// Current number of non-empty blocks.
  size_t blocks() const;

  /// Compares quantile q of candidate and baseline by a paired block bootstrap: each resample
  /// draws as many blocks as there are non-empty ones, with replacement, the same draws for both
  /// sides. Costs O(B × log(buckets) × blocks); about a millisecond for B = 1000.
  QuantileComparison compare(double q, const BootstrapOptions& options) const;

 private:
  struct Block {
    // Sparse histograms: bucket index << 48 | count, sorted by index (so by value).
    std::vector<uint64_t> side[2];
    // Pairs not yet in `side`: baseline bucket << 16 | candidate bucket.
    std::vector<uint32_t> pending;
    uint64_t pairs = 0;
  };
  static void flush(Block& block);  // moves `pending` into `side`
  void coarsen();                   // merges adjacent blocks pairwise, doubling the width
  void fit(uint64_t fine_block);    // coarsens until fine_block's block index < max_blocks_
  uint64_t coarse(uint64_t fine_block) const { return fine_block >> level_; }
  std::vector<uint64_t> dense_counts(int side) const;

  size_t max_blocks_;
  unsigned level_ = 0;         // block width = fine width << level_
  std::vector<Block> blocks_;  // by coarse index
  size_t newest_ = 0;          // highest block index added to; older blocks are flushed
  uint64_t count_ = 0;
  uint64_t min_[2] = {UINT64_MAX, UINT64_MAX};
  uint64_t max_[2] = {0, 0};
};

/// One-sided Fisher exact test: the probability, with both margins fixed, of the candidate
/// having `k_c` or more errors out of `n_c` when the baseline had `k_b` out of `n_b` — small
/// when the candidate fails more often. Exact for any counts (log-space hypergeometric tail,
/// relative error about 1e-7 at millions of requests); a k above its n counts as n. Thread-safe.
double fisher_greater(uint64_t k_b, uint64_t n_b, uint64_t k_c, uint64_t n_c);

/// Benjamini-Hochberg adjusted p-values (q-values), in the order of `p`. A finding is kept at
/// false-discovery rate alpha when its q-value is <= alpha. A NaN p-value counts as 1.
std::vector<double> bh_adjust(const std::vector<double>& p);

}  // namespace twin::compare
