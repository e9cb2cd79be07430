#pragma once
// FF1 format-preserving encryption (NIST SP 800-38G, Rev. 1), AES through OpenSSL. Written here
// because neither OpenSSL nor any Debian 12 package provides FF1. Verified against NIST's
// published FF1 sample vectors (tests/scrubber/ff1_test.cc).

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "twin/traffic/result.h"

namespace twin::scrubber {

/// One FF1 key (AES-128, -192 or -256) with its expanded OpenSSL context. Not thread-safe: one
/// per thread. Movable, not copyable.
class Ff1 {
 public:
  /// `key` must be 16, 24 or 32 bytes. `radix` in [2, 65536].
  static Result<Ff1> create(std::span<const uint8_t> key, uint32_t radix);
  Ff1(Ff1&&) noexcept;
  Ff1& operator=(Ff1&&) noexcept;
  ~Ff1();

  uint32_t radix() const;
  /// The smallest length allowed for this radix: radix^minlen >= 1,000,000 (Rev. 1).
  size_t min_length() const;

  /// Encrypts / decrypts a numeral string (each element < radix) with `tweak`. Fails when the
  /// length is below min_length() or above 2^32, or a numeral is out of range.
  Result<std::vector<uint16_t>> encrypt(std::span<const uint16_t> numerals,
                                        std::span<const uint8_t> tweak) const;
  Result<std::vector<uint16_t>> decrypt(std::span<const uint16_t> numerals,
                                        std::span<const uint8_t> tweak) const;

 private:
  struct Impl;
  explicit Ff1(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace twin::scrubber
