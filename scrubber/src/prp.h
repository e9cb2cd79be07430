#pragma once
// A keyed pseudo-random permutation of [0, M) for any M up to 2^64 - 1: a balanced Feistel network
// over the smallest even number of bits that covers M, with SipHash-2-4 as its round function,
// and cycle walking to stay inside [0, M). Being a permutation, it never maps two inputs to one
// output, which is what lets a token keep cardinality exactly.

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

}  // namespace twin::scrubber
