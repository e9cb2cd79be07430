#pragma once
// SipHash-2-4 (Aumasson and Bernstein), 64- and 128-bit outputs: the keyed PRF behind tokens,
// noise and date shifts. Written here rather than taken from OpenSSL because the token path calls
// it tens of times per value and an EVP_MAC round trip costs more than the hash itself.
// Checked against the reference vectors in tests/scrubber/transform_test.cc.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace twin::scrubber {

/// A 128-bit SipHash key as two little-endian words.
struct SipKey {
  uint64_t k0 = 0;
  uint64_t k1 = 0;

  static SipKey from_bytes(const uint8_t* bytes) {
    SipKey key;
    std::memcpy(&key.k0, bytes, 8);
    std::memcpy(&key.k1, bytes + 8, 8);
    if constexpr (std::endian::native == std::endian::big) {
      key.k0 = __builtin_bswap64(key.k0);
      key.k1 = __builtin_bswap64(key.k1);
    }
    return key;
  }
};

/// One SipRound of the state (v0, v1, v2, v3).
inline void sip_round(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
  v0 += v1;
  v1 = std::rotl(v1, 13);
  v1 ^= v0;
  v0 = std::rotl(v0, 32);
  v2 += v3;
  v3 = std::rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = std::rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = std::rotl(v1, 17);
  v1 ^= v2;
  v2 = std::rotl(v2, 32);
}

/// Incremental SipHash-2-4. Feed bytes with update(), then call finish64() or finish128() once
/// (the mode is chosen at construction: the 128-bit variant starts from a different state).
class SipHasher {
 public:
  explicit SipHasher(const SipKey& key, bool wide = false)
      : v0_(key.k0 ^ 0x736f6d6570736575ULL),
        v1_(key.k1 ^ 0x646f72616e646f6dULL ^ (wide ? 0xeeULL : 0)),
        v2_(key.k0 ^ 0x6c7967656e657261ULL),
        v3_(key.k1 ^ 0x7465646279746573ULL) {}

  void update(uint8_t byte) {
    tail_ |= static_cast<uint64_t>(byte) << (8 * (length_ & 7));
    ++length_;
    if ((length_ & 7) == 0) {
      compress(tail_);
      tail_ = 0;
    }
  }
  void update(std::string_view bytes) {
    update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  void update(std::span<const uint8_t> bytes) { update(bytes.data(), bytes.size()); }
  /// Bytes in bulk: whole words go to compress() directly once the tail is aligned (the same
  /// result as byte by byte, without the per-byte shifts).
  void update(const uint8_t* p, size_t n) {
    while (n > 0 && (length_ & 7) != 0) {
      update(*p++);
      --n;
    }
    for (; n >= 8; n -= 8, p += 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
      compress(w);
      length_ += 8;
    }
    while (n-- > 0) update(*p++);
  }
  /// Eight bytes, little-endian.
  void update_u64(uint64_t word) {
    if ((length_ & 7) == 0) {
      compress(word);
      length_ += 8;
      return;
    }
    // Completes the tail with the word's low bytes; its high bytes start the next tail.
    const unsigned shift = 8 * (length_ & 7);
    compress(tail_ | (word << shift));
    tail_ = word >> (64 - shift);
    length_ += 8;
  }

  uint64_t finish64() {
    finish_blocks();
    v2_ ^= 0xff;
    rounds(4);
    return v0_ ^ v1_ ^ v2_ ^ v3_;
  }
  /// The 128-bit variant; only meaningful when constructed with wide = true.
  void finish128(uint64_t* lo, uint64_t* hi) {
    finish_blocks();
    v2_ ^= 0xee;
    rounds(4);
    *lo = v0_ ^ v1_ ^ v2_ ^ v3_;
    v1_ ^= 0xdd;
    rounds(4);
    *hi = v0_ ^ v1_ ^ v2_ ^ v3_;
  }

 private:
  void rounds(int n) {
    for (int i = 0; i < n; ++i) sip_round(v0_, v1_, v2_, v3_);
  }
  void compress(uint64_t m) {
    v3_ ^= m;
    rounds(2);
    v0_ ^= m;
  }
  void finish_blocks() { compress(tail_ | (static_cast<uint64_t>(length_ & 0xff) << 56)); }

  uint64_t v0_, v1_, v2_, v3_;
  uint64_t tail_ = 0;
  uint64_t length_ = 0;
};

/// SipHash-c-d of a message of one 64-bit word `m` and a last block `last` (the message's
/// remaining bytes with its length in the top byte), unrolled: the Feistel round functions run
/// ten times per token.
template <int C, int D>
inline uint64_t siphash_word_and_last(const SipKey& key, uint64_t m, uint64_t last) {
  uint64_t v0 = key.k0 ^ 0x736f6d6570736575ULL;
  uint64_t v1 = key.k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = key.k0 ^ 0x6c7967656e657261ULL;
  uint64_t v3 = key.k1 ^ 0x7465646279746573ULL;
  for (uint64_t block : {m, last}) {
    v3 ^= block;
    for (int i = 0; i < C; ++i) sip_round(v0, v1, v2, v3);
    v0 ^= block;
  }
  v2 ^= 0xff;
  for (int i = 0; i < D; ++i) sip_round(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

/// SipHash-2-4 of exactly one 64-bit word (8 bytes, little-endian): token scheme 1's Feistel
/// round function.
inline uint64_t siphash_u64(const SipKey& key, uint64_t m) {
  return siphash_word_and_last<2, 4>(key, m, 8ULL << 56);
}

/// SipHash-1-3 (one compression round, three finalization rounds) of nine bytes: the 64-bit
/// word `m` little-endian, then the byte `b`. Token scheme 2's Feistel round function (prp.h):
/// `b` is the round number. SipHash-1-3 is the reduced variant that Rust's and Python's hash
/// tables use as their keyed PRF; a Feistel network of ten rounds needs a PRF, not SipHash-2-4's
/// margin. Checked against a plain SipHash-c-d in tests/scrubber/transform_test.cc, whose
/// SipHash-2-4 gives the reference vectors.
inline uint64_t siphash13_u64_byte(const SipKey& key, uint64_t m, uint8_t b) {
  return siphash_word_and_last<1, 3>(key, m, (9ULL << 56) | b);
}

}  // namespace twin::scrubber
