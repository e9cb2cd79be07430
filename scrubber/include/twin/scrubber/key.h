#pragma once
// Secret key material for the scrubber. Keys come from a file or the environment and are never
// logged or printed: this type has no way to show its bytes except bytes(), which only the
// transforms call.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "twin/traffic/result.h"

namespace twin::scrubber {

/// A 256-bit key. A plain value; copying it copies the secret, so pass it by reference.
class Key {
 public:
  static constexpr size_t kSize = 32;

  /// Reads a key file. Its content, with trailing whitespace trimmed, must hold at least 32 bytes
  /// (a line of 64 hex digits as written by `openssl rand -hex 32` is fine); the key is
  /// SHA-256 of that content, so any longer secret works too. Errors name the file and say what
  /// is wrong (missing, unreadable, too short), never any of its content.
  static Result<Key> from_file(const std::string& path);
  /// The same rules for the value of environment variable `name`; fails when it is unset.
  static Result<Key> from_env(const std::string& name);
  /// A random key for one run (OpenSSL RAND_bytes): tokens differ from run to run.
  static Key ephemeral();
  /// SHA-256 of `material`, without the length check (tests and derived keys).
  static Key from_material(std::string_view material);

  /// A subkey for one purpose: HMAC-SHA256(this key, purpose). Subkeys for different purposes
  /// are independent, so the token, FF1 and date-shift keys never share bytes.
  Key derive(std::string_view purpose) const;

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }

  /// 8 hex digits of HMAC-SHA256(key, "twin key fingerprint"): safe to print, so that a user can
  /// check two runs used the same key without seeing it.
  std::string fingerprint() const;

  bool operator==(const Key&) const = default;

 private:
  std::array<uint8_t, kSize> bytes_{};
};

}  // namespace twin::scrubber
