#pragma once
// A small deterministic random generator. The standard distributions are implementation-defined,
// so the shop's data would differ between standard libraries; these helpers do not.

#include <cstdint>
#include <string_view>

namespace twin::shop {

/// SplitMix64 step: a good 64-bit mixer, also used to derive independent streams from a seed.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// FNV-1a, to fold strings (route names, field names) into seeds.
constexpr uint64_t hash_string(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

/// SplitMix64 generator. Not thread-safe; cheap to copy.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ull;
    uint64_t x = state_;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  }
  /// Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  /// Uniform in [lo, hi].
  int64_t range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
  }
  /// Uniform in [0, 1).
  double real() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return real() < p; }
  template <typename Container>
  const auto& pick(const Container& c) {
    return c[below(std::size(c))];
  }

 private:
  uint64_t state_;
};

/// A uniform [0, 1) value that depends only on its inputs (for per-request fault decisions that
/// do not depend on thread scheduling).
inline double unit_hash(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t x = mix64(a ^ mix64(b ^ mix64(c)));
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

}  // namespace twin::shop
