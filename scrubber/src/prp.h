#pragma once
// Keyed pseudo-random permutations of [0, M) for any M up to 2^64 - 1. Being permutations, they
// never map two inputs to one output, which is what lets a token keep cardinality exactly.
//
// Token scheme 1 (prp_permute): a balanced Feistel network over the smallest even number of
// bits that covers M, with SipHash-2-4 as its round function, and cycle walking to stay inside
// [0, M): one to four passes of ten rounds (about 1.5 on the values of bench/scrub.sh).
//
// Token scheme 2 (prp2_permute), the default since 2026-12-06: a Feistel network over the two
// halves of the value's own mixed radix, as FF1 (NIST SP 800-38G) splits a numeral string into
// A and B, so that every pass stays inside [0, M): one pass of ten rounds, no cycle walking;
// the round function is SipHash-1-3 of the other half and the round number, brought to a half's
// range by a multiply (Lemire's reduction; bias below half / 2^64). A token costs a quarter
// fewer instructions than under scheme 1 (bench/README.md); tests/scrubber/transform_test.cc
// checks the permutation for every pair of half sizes up to 40 and the mixing.

#include <cstdint>

#include "siphash.h"

namespace twin::scrubber {

/// Feistel rounds. Ten, as in FF1; the domains here can be as small as a few bits, where more
/// rounds matter more than on wide blocks.
inline constexpr int kPrpRounds = 10;

/// Bits of the Feistel block for a domain of `m` values: bit length of m - 1, rounded up to even,
/// at least 2.
inline int prp_bits(uint64_t m) {
  const uint64_t top = m - 1;
  int bits = top == 0 ? 1 : 64 - __builtin_clzll(top);
  bits += bits & 1;
  return bits < 2 ? 2 : bits;
}

/// One pass of the Feistel network over `bits` bits (even, at most 64). The round index sits
/// above the half (at most 32 bits), so every round has its own function.
inline uint64_t prp_feistel(const SipKey& key, int bits, uint64_t x) {
  const int half = bits / 2;
  const uint64_t mask = (uint64_t{1} << half) - 1;
  uint64_t left = x >> half;
  uint64_t right = x & mask;
  for (int round = 0; round < kPrpRounds; ++round) {
    const uint64_t f = siphash_u64(key, (static_cast<uint64_t>(round) << 32) | right) & mask;
    const uint64_t next = left ^ f;
    left = right;
    right = next;
  }
  return (left << half) | right;
}

/// The image of `x` (< m) under the permutation of [0, m) that `key` selects. Cycle walking:
/// re-encrypt until the value falls inside the domain, which it does because the walk follows a
/// cycle of the block permutation that contains x itself. The block is at most 4m, so the walk
/// takes at most four steps on average.
inline uint64_t prp_permute(const SipKey& key, uint64_t m, uint64_t x) {
  if (m <= 1) return 0;
  const int bits = prp_bits(m);
  do {
    x = prp_feistel(key, bits, x);
  } while (x >= m);
  return x;
}

/// Scheme 2: the image of x = a * db + b (a < da, b < db), where the value's classed positions
/// are split into a first half (a, in the mixed radix of its classes, of da values) and a
/// second (b, db values), da and db at least 2, da * db the shape's domain. Round r adds
/// F_r(other half) to one half modulo its size, A in even rounds and B in odd ones: each round
/// is invertible given the other half, so the whole is a permutation of [0, da * db).
/// Returns the image as a' * db + b'.
inline uint64_t prp2_permute(const SipKey& key, uint64_t da, uint64_t db, uint64_t a, uint64_t b) {
  // da * db < 2^64 with both >= 2: each is below 2^63, so a + f cannot overflow.
  auto reduce = [](uint64_t f, uint64_t size) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(f) * size) >> 64);
  };
  for (int round = 0; round < kPrpRounds; round += 2) {
    a += reduce(siphash13_u64_byte(key, b, static_cast<uint8_t>(round)), da);
    if (a >= da) a -= da;
    b += reduce(siphash13_u64_byte(key, a, static_cast<uint8_t>(round + 1)), db);
    if (b >= db) b -= db;
  }
  return a * db + b;
}

}  // namespace twin::scrubber
