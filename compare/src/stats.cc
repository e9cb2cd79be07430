// Statistics of the comparator (stats.h): paired block series, the block bootstrap, Fisher's
// exact test and Benjamini-Hochberg.

#include "twin/compare/stats.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace twin::compare {
namespace {

using traffic::Histogram;

// A sparse entry packs the bucket index above a 48-bit count, so that entries sort by bucket as
// plain integers and take 8 bytes. 2^48 values in one bucket of one block is beyond any run.
constexpr int kCountBits = 48;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
static_assert(Histogram::kBuckets <= (size_t{1} << 16), "a bucket index must fit 16 bits");

uint64_t make_entry(size_t index, uint64_t count) {
  return (static_cast<uint64_t>(index) << kCountBits) | count;
}
size_t entry_index(uint64_t entry) { return static_cast<size_t>(entry >> kCountBits); }
uint64_t entry_count(uint64_t entry) { return entry & kCountMask; }

uint32_t pending_index(uint32_t pair, int side) { return side == 0 ? pair >> 16 : pair & 0xffff; }

// Pairs buffered per block before they are folded into its sparse histograms: appending is a
// store, and a fold costs a pass over the block's distinct buckets (about a thousand for a wide
// latency spread), so a large buffer amortises it to a nanosecond or two per pair. The newest
// block gets the large buffer; stragglers into older blocks (out-of-order input) a small one, so
// that a series never holds more than 16 KiB + 127 × 2 KiB of buffers.
constexpr size_t kPendingCap = 4096;
constexpr size_t kStragglerCap = 512;

// Folding counts into a dense array needs kBuckets words; one per thread rather than one per
// series, since a comparator holds thousands of series.
struct Scratch {
  std::vector<uint64_t> counts = std::vector<uint64_t>(Histogram::kBuckets, 0);
  std::vector<uint16_t> touched;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// entries += one side of `pending`. Counting in a dense array costs O(1) per value; the pass over
// `entries` costs O(distinct buckets), paid once per buffer of pending pairs.
void fold(std::vector<uint64_t>& entries, const std::vector<uint32_t>& pending, int side) {
  Scratch& s = scratch();
  for (uint32_t pair : pending) {
    uint32_t v = pending_index(pair, side);
    if (s.counts[v]++ == 0) s.touched.push_back(static_cast<uint16_t>(v));
  }
  // Buckets the block already has: add in place.
  for (uint64_t& e : entries) {
    uint64_t& c = s.counts[entry_index(e)];
    e += c;
    c = 0;
  }
  // New buckets: few once a block has seen a few hundred values; sorted, then merged in from the
  // back so that nothing moves twice.
  size_t fresh = 0;
  for (uint16_t v : s.touched) {
    if (s.counts[v] != 0) s.touched[fresh++] = v;
  }
  if (fresh > 0) {
    std::sort(s.touched.begin(), s.touched.begin() + static_cast<std::ptrdiff_t>(fresh));
    size_t old = entries.size();
    entries.resize(old + fresh);
    size_t i = old, j = fresh, out = old + fresh;
    while (j > 0) {
      uint16_t v = s.touched[j - 1];
      if (i > 0 && entry_index(entries[i - 1]) > v) {
        entries[--out] = entries[--i];
      } else {
        entries[--out] = make_entry(v, s.counts[v]);
        s.counts[v] = 0;
        --j;
      }
    }
  }
  s.touched.clear();
}

// dst += src, both sorted sparse histograms.
void merge_entries(std::vector<uint64_t>& dst, const std::vector<uint64_t>& src) {
  if (src.empty()) return;
  if (dst.empty()) {
    dst = src;
    return;
  }
  std::vector<uint64_t> out;
  out.reserve(dst.size() + src.size());
  size_t i = 0, j = 0;
  while (i < dst.size() && j < src.size()) {
    size_t a = entry_index(dst[i]), b = entry_index(src[j]);
    if (a < b) {
      out.push_back(dst[i++]);
    } else if (b < a) {
      out.push_back(src[j++]);
    } else {
      out.push_back(dst[i++] + entry_count(src[j++]));
    }
  }
  out.insert(out.end(), dst.begin() + static_cast<std::ptrdiff_t>(i), dst.end());
  out.insert(out.end(), src.begin() + static_cast<std::ptrdiff_t>(j), src.end());
  dst = std::move(out);
}

// A fixed generator (xoshiro256**, seeded by splitmix64) so that an interval is the same on every
// platform and standard library; std:: distributions are implementation-defined.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& word : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n) by multiply-shift; the bias (n / 2^32) is nil for block counts.
  size_t below(size_t n) { return static_cast<size_t>(((next() >> 32) * n) >> 32); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Σ w[k]·row[k]. Four accumulators break the dependency chain (a reduction over doubles is not
// vectorised without -ffast-math); the terms are integers below 2^53, so the order of the sum
// does not change it.
double dot(const double* w, const double* row, size_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t k = 0;
  for (; k + 4 <= n; k += 4) {
    a0 += w[k] * row[k];
    a1 += w[k + 1] * row[k + 1];
    a2 += w[k + 2] * row[k + 2];
    a3 += w[k + 3] * row[k + 3];
  }
  for (; k < n; ++k) a0 += w[k] * row[k];
  return (a0 + a1) + (a2 + a3);
}

// Histogram::quantile's rank: at least q of n values are at or below the answer.
double rank_of(double q, double n) { return std::max(1.0, std::ceil(q * n)); }

double ratio_of(uint64_t candidate, uint64_t baseline) {
  return static_cast<double>(std::max<uint64_t>(candidate, 1)) /
         static_cast<double>(std::max<uint64_t>(baseline, 1));
}

// Linear interpolation between order statistics (R's type 7) of sorted `v`.
double percentile(const std::vector<double>& v, double p) {
  double h = std::clamp(p, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  auto i = static_cast<size_t>(h);
  if (i + 1 >= v.size()) return v.back();
  return v[i] + (h - static_cast<double>(i)) * (v[i + 1] - v[i]);
}

// One side of a route, laid out for resampling: rows are buckets, and a row holds every block's
// count of values at or below that bucket, so that a resample's count is a dot product of the block
// weights with one row, and its quantile a binary search over rows.
//
// Only a window of rows is kept. Whatever the weights, the resampled quantile lies between the
// lowest and the highest of the blocks' own q-quantiles: at a bucket where every block has at least
// q of its values the weighted sum has at least q of the total, and at one where every block has
// fewer, so has the sum. For p99 that drops the body of the distribution, and the table (and the
// search) shrink to a few hundred rows or fewer.
class CumulativeTable {
 public:
  // `blocks[k]`: block k's sorted entries for this side; `pairs[k]`: its count.
  CumulativeTable(const std::vector<const std::vector<uint64_t>*>& blocks,
                  const std::vector<double>& pairs, double q, uint64_t min, uint64_t max)
      : blocks_(blocks.size()) {
    std::vector<int32_t> row_of(Histogram::kBuckets, -1);
    for (const auto* entries : blocks) {
      for (uint64_t e : *entries) row_of[entry_index(e)] = 0;
    }
    std::vector<size_t> bucket_of_row;
    for (size_t i = 0; i < row_of.size(); ++i) {
      if (row_of[i] < 0) continue;
      row_of[i] = static_cast<int32_t>(bucket_of_row.size());
      bucket_of_row.push_back(i);
    }
    // The bounds with a relative slack far above rounding (q·n is not exact in floating point);
    // the upper one needs at least one value (the rank is never below 1) and at most all of them.
    size_t lo = bucket_of_row.size() - 1, hi = 0;
    for (size_t k = 0; k < blocks_; ++k) {
      const double low_need = q * pairs[k] * (1 - 1e-12);
      const double high_need = std::min(std::max(q * pairs[k] * (1 + 1e-12), 1.0), pairs[k]);
      if (low_need <= 0) lo = 0;
      uint64_t cum = 0;
      for (uint64_t e : *blocks[k]) {
        cum += entry_count(e);
        auto row = static_cast<size_t>(row_of[entry_index(e)]);
        if (static_cast<double>(cum) >= low_need) lo = std::min(lo, row);
        if (static_cast<double>(cum) >= high_need) {
          hi = std::max(hi, row);
          break;
        }
      }
    }
    hi = std::max(hi, lo);
    const size_t rows = hi - lo + 1;
    value_.resize(rows);
    for (size_t r = 0; r < rows; ++r) {
      value_[r] = std::clamp(Histogram::upper(bucket_of_row[lo + r]), min, max);
    }
    cum_.assign(rows * blocks_, 0.0);
    for (size_t k = 0; k < blocks_; ++k) {
      const std::vector<uint64_t>& entries = *blocks[k];
      uint64_t cum = 0;
      size_t next = 0;
      for (size_t r = lo; r <= hi; ++r) {
        while (next < entries.size() &&
               static_cast<size_t>(row_of[entry_index(entries[next])]) <= r) {
          cum += entry_count(entries[next++]);
        }
        cum_[(r - lo) * blocks_ + k] = static_cast<double>(cum);
      }
    }
  }

  // The quantile answer of the first row whose weighted count reaches `rank`.
  uint64_t quantile(const double* w, double rank) const {
    size_t lo = 0, hi = value_.size() - 1;
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (dot(w, cum_.data() + mid * blocks_, blocks_) >= rank) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return value_[lo];
  }

 private:
  size_t blocks_;
  std::vector<uint64_t> value_;  // per row: the quantile's answer for that bucket
  std::vector<double> cum_;      // rows × blocks
};

}  // namespace

bool latency_regressed(const QuantileComparison& c, double q_value, double alpha,
                       double min_effect) {
  // A quantile is known only to its histogram bucket (answers are bucket upper edges, up to
  // 1/kSub above the value), so a ratio of two is uncertain by that much either way: an interval
  // that reaches the minimum effect within that resolution may hold it.
  constexpr double kResolution = 1.0 / static_cast<double>(Histogram::kSub);
  return q_value <= alpha && c.low > 1.0 && c.high >= (1.0 + min_effect) * (1.0 - kResolution);
}

PairedSeries::PairedSeries(size_t max_blocks) : max_blocks_(std::max<size_t>(max_blocks, 2)) {}

void PairedSeries::flush(Block& block) {
  if (block.pending.empty()) return;
  for (int side = 0; side < 2; ++side) fold(block.side[side], block.pending, side);
  block.pending.clear();
}

void PairedSeries::coarsen() {
  const size_t n = blocks_.size();
  const size_t half = (n + 1) / 2;
  // In place: block i is written only after blocks 2i and 2i + 1 (both >= i) were read.
  for (size_t i = 0; i < half; ++i) {
    Block merged = std::move(blocks_[2 * i]);
    flush(merged);
    if (2 * i + 1 < n) {
      Block& right = blocks_[2 * i + 1];
      flush(right);
      for (int side = 0; side < 2; ++side) merge_entries(merged.side[side], right.side[side]);
      merged.pairs += right.pairs;
    }
    merged.pending.shrink_to_fit();
    for (auto& side : merged.side) side.shrink_to_fit();
    blocks_[i] = std::move(merged);
  }
  blocks_.resize(half);
  ++level_;
  newest_ >>= 1;
}

void PairedSeries::fit(uint64_t fine_block) {
  while (coarse(fine_block) >= max_blocks_) coarsen();
}

void PairedSeries::add(uint64_t fine_block, uint64_t baseline_ns, uint64_t candidate_ns) {
  uint64_t b = coarse(fine_block);
  if (b >= max_blocks_) {
    fit(fine_block);
    b = coarse(fine_block);
  }
  if (b >= blocks_.size()) blocks_.resize(b + 1);
  if (b > newest_) {
    // Time moved on: the previous block will see only stragglers, so fold its buffer and give
    // the memory back; only the newest block keeps a full buffer on time-ordered input.
    if (newest_ < blocks_.size()) {
      Block& done = blocks_[newest_];
      flush(done);
      done.pending.shrink_to_fit();
      // Its histograms are final but for stragglers: give back the growth slack too, so that a
      // series holds its buckets, not up to twice as much.
      for (auto& side : done.side) side.shrink_to_fit();
    }
    newest_ = b;
  }
  Block& block = blocks_[b];
  // No reserve up front: a comparator holds thousands of provisional routes, most of them seen a
  // few times; the buffer grows to kPendingCap only where the pairs come.
  block.pending.push_back(static_cast<uint32_t>(Histogram::index(baseline_ns) << 16) |
                          static_cast<uint32_t>(Histogram::index(candidate_ns)));
  ++block.pairs;
  if (block.pending.size() >= (b == newest_ ? kPendingCap : kStragglerCap)) flush(block);
  ++count_;
  min_[0] = std::min(min_[0], baseline_ns);
  max_[0] = std::max(max_[0], baseline_ns);
  min_[1] = std::min(min_[1], candidate_ns);
  max_[1] = std::max(max_[1], candidate_ns);
}

void PairedSeries::merge(const PairedSeries& other) {
  if (&other == this) {
    PairedSeries copy = other;
    merge(copy);
    return;
  }
  if (other.count_ == 0) return;
  while (level_ < other.level_) coarsen();
  // Other's block j covers fine blocks [j << other.level_, (j + 1) << other.level_), which at our
  // (equal or coarser) level all fall in one block.
  size_t last = other.blocks_.size();
  while (last > 0 && other.blocks_[last - 1].pairs == 0) --last;
  if (last == 0) return;
  fit(static_cast<uint64_t>(last - 1) << other.level_);
  for (size_t j = 0; j < last; ++j) {
    const Block& src = other.blocks_[j];
    if (src.pairs == 0) continue;
    uint64_t b = coarse(static_cast<uint64_t>(j) << other.level_);
    if (b >= blocks_.size()) blocks_.resize(b + 1);
    Block& dst = blocks_[b];
    flush(dst);
    Block folded = src;
    flush(folded);
    for (int side = 0; side < 2; ++side) merge_entries(dst.side[side], folded.side[side]);
    dst.pairs += src.pairs;
  }
  count_ += other.count_;
  for (int side = 0; side < 2; ++side) {
    min_[side] = std::min(min_[side], other.min_[side]);
    max_[side] = std::max(max_[side], other.max_[side]);
  }
}

std::vector<uint64_t> PairedSeries::dense_counts(int side) const {
  std::vector<uint64_t> counts(Histogram::kBuckets, 0);
  for (const Block& block : blocks_) {
    for (uint64_t e : block.side[side]) counts[entry_index(e)] += entry_count(e);
    for (uint32_t pair : block.pending) ++counts[pending_index(pair, side)];
  }
  return counts;
}

traffic::Histogram PairedSeries::histogram(int side) const {
  side = side != 0 ? 1 : 0;
  Histogram h;
  if (count_ == 0) return h;
  std::vector<uint64_t> counts = dense_counts(side);
  // The exact extremes once each, so that min(), max() and the clamping in quantile() are those
  // of the values; everything else at its bucket's middle, kept inside [min, max].
  uint64_t lo = min_[side], hi = max_[side];
  h.record(lo);
  --counts[Histogram::index(lo)];
  if (count_ > 1) {
    h.record(hi);
    --counts[Histogram::index(hi)];
  }
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    uint64_t middle = Histogram::lower(i) + (Histogram::upper(i) - Histogram::lower(i)) / 2;
    h.record(std::clamp(middle, lo, hi), counts[i]);
  }
  return h;
}

uint64_t PairedSeries::quantile(int side, double q) const { return histogram(side).quantile(q); }

size_t PairedSeries::blocks() const {
  return static_cast<size_t>(
      std::count_if(blocks_.begin(), blocks_.end(), [](const Block& b) { return b.pairs > 0; }));
}

QuantileComparison PairedSeries::compare(double q, const BootstrapOptions& options) const {
  QuantileComparison result;
  result.q = q;
  if (count_ == 0) return result;
  q = std::clamp(q, 0.0, 1.0);

  std::vector<const Block*> used;
  for (const Block& block : blocks_) {
    if (block.pairs > 0) used.push_back(&block);
  }
  const size_t k_blocks = used.size();
  result.blocks = k_blocks;
  std::vector<double> pairs(k_blocks);
  for (size_t k = 0; k < k_blocks; ++k) pairs[k] = static_cast<double>(used[k]->pairs);

  // Blocks with pairs still pending are folded into copies; on time-ordered input that is the
  // newest block only.
  std::vector<std::vector<uint64_t>> folded;
  folded.reserve(2 * k_blocks);
  std::vector<const std::vector<uint64_t>*> entries[2];
  for (int side = 0; side < 2; ++side) {
    for (const Block* block : used) {
      if (block->pending.empty()) {
        entries[side].push_back(&block->side[side]);
      } else {
        folded.push_back(block->side[side]);
        fold(folded.back(), block->pending, side);
        entries[side].push_back(&folded.back());
      }
    }
  }
  const CumulativeTable table[2] = {CumulativeTable(entries[0], pairs, q, min_[0], max_[0]),
                                    CumulativeTable(entries[1], pairs, q, min_[1], max_[1])};

  // The point estimate: every block once, which is what quantile() answers.
  std::vector<double> w(k_blocks, 1.0);
  double rank = rank_of(q, static_cast<double>(count_));
  result.baseline = table[0].quantile(w.data(), rank);
  result.candidate = table[1].quantile(w.data(), rank);
  result.ratio = ratio_of(result.candidate, result.baseline);
  result.low = result.high = result.ratio;
  if (options.resamples < 1) return result;

  const auto resamples = static_cast<size_t>(options.resamples);
  std::vector<double> ratios(resamples);
  Rng rng(options.seed);
  for (size_t r = 0; r < resamples; ++r) {
    // The same block draws for both sides: that is the pairing.
    std::fill(w.begin(), w.end(), 0.0);
    for (size_t j = 0; j < k_blocks; ++j) w[rng.below(k_blocks)] += 1.0;
    double n = dot(w.data(), pairs.data(), k_blocks);
    double resample_rank = rank_of(q, n);
    ratios[r] = ratio_of(table[1].quantile(w.data(), resample_rank),
                         table[0].quantile(w.data(), resample_rank));
  }
  std::sort(ratios.begin(), ratios.end());
  double confidence = std::clamp(options.confidence, 0.0, 1.0);
  result.low = percentile(ratios, (1 - confidence) / 2);
  result.high = percentile(ratios, (1 + confidence) / 2);

  auto at_or_below_one =
      static_cast<size_t>(std::upper_bound(ratios.begin(), ratios.end(), 1.0) - ratios.begin());
  const double b = static_cast<double>(resamples);
  const double k = static_cast<double>(at_or_below_one);
  result.p_value = (k + 1) / (b + 1);
  if (at_or_below_one < 10) {
    // Too few resamples in the tail to tell 1e-3 from 1e-6: extrapolate it with a normal fit to
    // the log ratios (robust centre and spread), never below the share actually seen.
    double centre = std::log(percentile(ratios, 0.5));
    double spread = (std::log(percentile(ratios, 0.8413447460685429)) -
                     std::log(percentile(ratios, 0.15865525393145707))) /
                    2;
    if (spread > 0) {
      double normal_tail = 0.5 * std::erfc(centre / spread / std::sqrt(2.0));
      // Beyond 1e-16 the extrapolation means nothing, and no correction needs it.
      result.p_value = std::max({k / b, normal_tail, 1e-16});
    }
  }
  result.p_value = std::clamp(result.p_value, 0.0, 1.0);
  return result;
}

double fisher_greater(uint64_t k_b, uint64_t n_b, uint64_t k_c, uint64_t n_c) {
  k_b = std::min(k_b, n_b);
  k_c = std::min(k_c, n_c);
  if (k_c == 0) return 1.0;
  // The candidate's errors X given the margins: hypergeometric, drawing n = n_c of the
  // N = n_b + n_c requests, of which K = k_b + k_c failed:
  //   P(X = x) = C(K, x) · C(N − K, n − x) / C(N, n).
  const double big_n = static_cast<double>(n_b) + static_cast<double>(n_c);
  const double big_k = static_cast<double>(k_b) + static_cast<double>(k_c);
  const double n = static_cast<double>(n_c);
  const double x0 = static_cast<double>(k_c);
  const double lowest = std::max(0.0, n - (big_n - big_k));
  const double highest = std::min(big_k, n);
  if (x0 <= lowest) return 1.0;
  // lgamma_r, not lgamma: lgamma writes the global signgam, a data race when routes are tested on
  // several threads.
  auto log_factorial = [](double v) {
    int sign = 0;
    return lgamma_r(v + 1, &sign);
  };
  auto log_choose = [&](double a, double b) {
    return log_factorial(a) - log_factorial(b) - log_factorial(a - b);
  };
  auto log_pmf = [&](double x) {
    return log_choose(big_k, x) + log_choose(big_n - big_k, n - x) - log_choose(big_n, n);
  };
  const double mode = std::floor((n + 1) * (big_k + 1) / (big_n + 2));
  // Sum away from the mode, where terms only shrink, each from the previous by the pmf's ratio
  // (the pmf itself, by lgamma, only once; no overflow, the first term being the largest), and stop
  // once they no longer change the sum. From at or below the mode the upper tail holds at least the
  // mode's mass, so taking it as 1 − lower tail loses no precision that matters.
  constexpr double kNegligible = 1e-17;
  if (x0 > mode) {
    double term = 1, sum = 1;
    for (double x = x0; x < highest; ++x) {
      term *= (big_k - x) * (n - x) / ((x + 1) * (big_n - big_k - n + x + 1));
      sum += term;
      if (term < sum * kNegligible) break;
    }
    return std::clamp(std::exp(log_pmf(x0) + std::log(sum)), 0.0, 1.0);
  }
  double term = 1, sum = 1;
  for (double x = x0 - 1; x > lowest; --x) {
    term *= x * (big_n - big_k - n + x) / ((big_k - x + 1) * (n - x + 1));
    sum += term;
    if (term < sum * kNegligible) break;
  }
  double lower_tail = std::exp(log_pmf(x0 - 1) + std::log(sum));
  return std::clamp(1.0 - lower_tail, 0.0, 1.0);
}

std::vector<double> bh_adjust(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<double> q(m);
  if (m == 0) return q;
  auto value = [&](size_t i) { return std::isnan(p[i]) ? 1.0 : std::clamp(p[i], 0.0, 1.0); };
  std::vector<size_t> order(m);
  for (size_t i = 0; i < m; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return value(a) < value(b); });
  // Step-up: the i-th smallest gets p·m/i, then the running minimum from the largest down keeps
  // the q-values in the order of the p-values.
  double running = 1.0;
  for (size_t r = m; r > 0; --r) {
    size_t i = order[r - 1];
    running = std::min(running, value(i) * static_cast<double>(m) / static_cast<double>(r));
    q[i] = running;
  }
  return q;
}

}  // namespace twin::compare
