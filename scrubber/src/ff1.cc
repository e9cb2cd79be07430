#include "twin/scrubber/ff1.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "aes_ecb.h"

namespace twin::scrubber {
namespace {

constexpr int kRounds = 10;
constexpr size_t kBlock = AesEcb::kBlock;
constexpr uint64_t kMaxLength = 1ULL << 32;

// A non-negative integer as little-endian base-2^32 limbs, just the operations FF1 needs:
// multiply-add and divide by a word (NUM_radix and STR_radix go through these in chunks of as
// many numerals as fit in a word), and conversion to and from big-endian bytes. Lengths can be
// large (2^32 numerals), so no fixed width.
using Limbs = std::vector<uint32_t>;

void trim(Limbs& x) {
  while (!x.empty() && x.back() == 0) x.pop_back();
}

// x = x * mul + add.
void mul_add(Limbs& x, uint32_t mul, uint32_t add) {
  uint64_t carry = add;
  for (uint32_t& limb : x) {
    const uint64_t t = static_cast<uint64_t>(limb) * mul + carry;
    limb = static_cast<uint32_t>(t);
    carry = t >> 32;
  }
  if (carry != 0) x.push_back(static_cast<uint32_t>(carry));
}

// x = x / div, returns x % div. `div` > 0.
uint32_t div_small(Limbs& x, uint32_t div) {
  uint64_t rem = 0;
  for (size_t i = x.size(); i-- > 0;) {
    const uint64_t cur = (rem << 32) | x[i];
    x[i] = static_cast<uint32_t>(cur / div);
    rem = cur % div;
  }
  trim(x);
  return static_cast<uint32_t>(rem);
}

// [x]^len: x as `len` big-endian bytes; x must fit.
void to_bytes(const Limbs& x, uint8_t* out, size_t len) {
  std::memset(out, 0, len);
  for (size_t i = 0; i < len; ++i) {
    const size_t limb = i / 4;
    if (limb >= x.size()) break;
    out[len - 1 - i] = static_cast<uint8_t>(x[limb] >> (8 * (i % 4)));
  }
}

// NUM(bytes): big-endian bytes as an integer.
void from_bytes(const uint8_t* bytes, size_t len, Limbs& x) {
  x.assign((len + 3) / 4, 0);
  for (size_t i = 0; i < len; ++i) {
    x[i / 4] |= static_cast<uint32_t>(bytes[len - 1 - i]) << (8 * (i % 4));
  }
  trim(x);
}

size_t bit_length(const Limbs& x) {
  if (x.empty()) return 0;
  return 32 * (x.size() - 1) + (32 - static_cast<size_t>(__builtin_clz(x.back())));
}

}  // namespace

struct Ff1::Impl {
  AesEcb aes;
  uint32_t radix = 0;
  size_t min_length = 0;
  // Numerals per word-sized chunk, and radix^j for j in [0, chunk].
  size_t chunk = 0;
  std::array<uint32_t, 33> powers{};

  // NUM_radix(x).
  void num(std::span<const uint16_t> x, Limbs& out) const {
    out.clear();
    for (size_t i = 0; i < x.size(); i += chunk) {
      const size_t k = std::min(chunk, x.size() - i);
      uint32_t value = 0;
      for (size_t j = 0; j < k; ++j) value = value * radix + x[i + j];
      mul_add(out, powers[k], value);
    }
  }

  // The `m` low-order base-radix digits of y (destroyed), least significant first.
  void low_digits(Limbs& y, size_t m, std::vector<uint16_t>& digits) const {
    digits.assign(m, 0);
    for (size_t i = 0; i < m && !y.empty(); i += chunk) {
      const size_t k = std::min(chunk, m - i);
      uint32_t rem = div_small(y, powers[k]);
      for (size_t j = 0; j < k; ++j) {
        digits[i + j] = static_cast<uint16_t>(rem % radix);
        rem /= radix;
      }
    }
  }

  // b = ceil(ceil(v * log2(radix)) / 8), computed exactly as the byte length of radix^v - 1.
  size_t byte_count(size_t v) const {
    Limbs p{1};
    for (size_t i = 0; i < v; i += chunk) mul_add(p, powers[std::min(chunk, v - i)], 0);
    // p >= radix >= 2, so subtracting one borrows at most through zero limbs.
    for (uint32_t& limb : p) {
      if (limb-- != 0) break;
    }
    trim(p);
    return (bit_length(p) + 7) / 8;
  }

  Result<std::vector<uint16_t>> run(std::span<const uint16_t> x, std::span<const uint8_t> tweak,
                                    bool encrypt) const;
};

Result<Ff1> Ff1::create(std::span<const uint8_t> key, uint32_t radix) {
  if (radix < 2 || radix > 65536) {
    return fail("ff1: radix " + std::to_string(radix) + " is outside [2, 65536]");
  }
  auto aes = AesEcb::create(key);
  if (!aes) return fail("ff1: " + aes.error().message);
  auto impl = std::make_unique<Impl>(Impl{std::move(*aes), radix, 0, 0, {}});
  uint64_t domain = 1;
  size_t length = 0;
  while (length < 2 || domain < 1'000'000) {
    domain *= radix;
    ++length;
  }
  impl->min_length = length;
  uint64_t power = 1;
  impl->powers[0] = 1;
  while (power * radix <= 0xFFFFFFFFULL) {
    power *= radix;
    impl->powers[++impl->chunk] = static_cast<uint32_t>(power);
  }
  return Ff1(std::move(impl));
}

Ff1::Ff1(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ff1::Ff1(Ff1&&) noexcept = default;
Ff1& Ff1::operator=(Ff1&&) noexcept = default;
Ff1::~Ff1() = default;

uint32_t Ff1::radix() const { return impl_->radix; }
size_t Ff1::min_length() const { return impl_->min_length; }

Result<std::vector<uint16_t>> Ff1::encrypt(std::span<const uint16_t> numerals,
                                           std::span<const uint8_t> tweak) const {
  return impl_->run(numerals, tweak, true);
}

Result<std::vector<uint16_t>> Ff1::decrypt(std::span<const uint16_t> numerals,
                                           std::span<const uint8_t> tweak) const {
  return impl_->run(numerals, tweak, false);
}

// NIST SP 800-38G Rev. 1, Algorithms 7 (FF1.Encrypt) and 8 (FF1.Decrypt); step numbers in the
// comments are the spec's.
Result<std::vector<uint16_t>> Ff1::Impl::run(std::span<const uint16_t> x,
                                             std::span<const uint8_t> tweak, bool encrypt) const {
  const size_t n = x.size();
  if (n < min_length) {
    return fail("ff1: " + std::to_string(n) + " numerals are fewer than the minimum " +
                std::to_string(min_length) + " for radix " + std::to_string(radix));
  }
  if (n > kMaxLength) return fail("ff1: more than 2^32 numerals");
  if (tweak.size() >= kMaxLength) return fail("ff1: tweak of 2^32 bytes or more");
  for (size_t i = 0; i < n; ++i) {
    if (x[i] >= radix) {
      return fail("ff1: numeral at position " + std::to_string(i) + " is not below radix " +
                  std::to_string(radix));
    }
  }

  // Steps 1-4.
  const size_t u = n / 2;
  const size_t v = n - u;
  const size_t t = tweak.size();
  const size_t b = byte_count(v);
  const size_t d = 4 * ((b + 3) / 4) + 4;

  // Step 5: P = [1]^1 || [2]^1 || [1]^1 || [radix]^3 || [10]^1 || [u mod 256]^1 || [n]^4 || [t]^4.
  std::array<uint8_t, kBlock> p = {1,
                                   2,
                                   1,
                                   static_cast<uint8_t>(radix >> 16),
                                   static_cast<uint8_t>(radix >> 8),
                                   static_cast<uint8_t>(radix),
                                   10,
                                   static_cast<uint8_t>(u),
                                   static_cast<uint8_t>(n >> 24),
                                   static_cast<uint8_t>(n >> 16),
                                   static_cast<uint8_t>(n >> 8),
                                   static_cast<uint8_t>(n),
                                   static_cast<uint8_t>(t >> 24),
                                   static_cast<uint8_t>(t >> 16),
                                   static_cast<uint8_t>(t >> 8),
                                   static_cast<uint8_t>(t)};

  // Q = T || [0]^((-t-b-1) mod 16) || [i]^1 || [NUM_radix(B)]^b. Everything before [i] is the
  // same in every round, so it is laid out once.
  const size_t pad = (16 - (t + b + 1) % 16) % 16;
  const size_t q_len = t + pad + 1 + b;
  std::vector<uint8_t> q(q_len, 0);
  std::copy(tweak.begin(), tweak.end(), q.begin());
  uint8_t* const q_round = q.data() + t + pad;
  uint8_t* const q_num = q_round + 1;

  // The CBC-MAC state after P alone is the same in every round.
  std::array<uint8_t, kBlock> mac_p{};
  if (!aes.encrypt(p.data(), mac_p.data(), 1)) return fail("ff1: AES failed");

  const size_t s_blocks = (d + kBlock - 1) / kBlock;
  std::vector<uint8_t> s(s_blocks * kBlock);
  std::vector<uint16_t> a(x.begin(), x.begin() + static_cast<ptrdiff_t>(u));
  std::vector<uint16_t> bb(x.begin() + static_cast<ptrdiff_t>(u), x.end());
  std::vector<uint16_t> digits;
  std::vector<uint16_t> c;
  Limbs num_value;
  Limbs y;

  for (int round = 0; round < kRounds; ++round) {
    const int i = encrypt ? round : kRounds - 1 - round;
    // Step 6.i: the numeral string fed to the PRF (B when encrypting, A when decrypting).
    *q_round = static_cast<uint8_t>(i);
    num(encrypt ? bb : a, num_value);
    to_bytes(num_value, q_num, b);

    // Step 6.ii: R = PRF(P || Q), CBC-MAC under AES with a zero IV.
    std::array<uint8_t, kBlock> r = mac_p;
    for (size_t off = 0; off < q_len; off += kBlock) {
      for (size_t j = 0; j < kBlock; ++j) r[j] ^= q[off + j];
      if (!aes.encrypt(r.data(), r.data(), 1)) return fail("ff1: AES failed");
    }

    // Step 6.iii: S = R || CIPH(R xor [1]^16) || CIPH(R xor [2]^16) ..., first d bytes.
    std::copy(r.begin(), r.end(), s.begin());
    for (size_t j = 1; j < s_blocks; ++j) {
      uint8_t* block = s.data() + j * kBlock;
      std::copy(r.begin(), r.end(), block);
      for (size_t k = 0; k < 8; ++k) block[kBlock - 1 - k] ^= static_cast<uint8_t>(j >> (8 * k));
    }
    if (!aes.encrypt(s.data() + kBlock, s.data() + kBlock, s_blocks - 1)) {
      return fail("ff1: AES failed");
    }

    // Steps 6.iv-vii: y = NUM(S); c = (NUM_radix(A) ± y) mod radix^m; C = STR^m_radix(c). Only y
    // mod radix^m matters, so y is cut to its m low base-radix digits and added to (subtracted
    // from) the numeral string digit by digit.
    const size_t m = (i % 2 == 0) ? u : v;
    from_bytes(s.data(), d, y);
    low_digits(y, m, digits);
    const std::vector<uint16_t>& src = encrypt ? a : bb;
    c.resize(m);
    int64_t carry = 0;
    for (size_t j = 0; j < m; ++j) {
      const size_t pos = m - 1 - j;
      int64_t value = static_cast<int64_t>(src[pos]) + (encrypt ? 1 : -1) * digits[j] + carry;
      carry = 0;
      if (value >= static_cast<int64_t>(radix)) {
        value -= radix;
        carry = 1;
      } else if (value < 0) {
        value += radix;
        carry = -1;
      }
      c[pos] = static_cast<uint16_t>(value);
    }

    // Steps 6.viii-ix.
    if (encrypt) {
      a.swap(bb);  // A = B
      bb.swap(c);  // B = C
    } else {
      bb.swap(a);  // B = A
      a.swap(c);   // A = C
    }
  }

  // Step 7: A || B.
  a.insert(a.end(), bb.begin(), bb.end());
  return a;
}

}  // namespace twin::scrubber
