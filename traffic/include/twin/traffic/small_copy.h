#pragma once
// Copying and comparing a few bytes without a call to memcpy or memcmp: most fields of a record
// (methods, header names and values) and most JSON keys and path segments are under 16 bytes,
// and a call per field was a fifth of encoding a record (traffic/src/codec.cc) and a tenth of
// the JSON rewriter's own work on keys (scrubber/src/json_rewrite.cc).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace twin::traffic {

/// Copies n bytes from s to d (not overlapping): up to 16 with two overlapping loads and
/// stores inside the n bytes, more with memcpy.
inline void copy_small(char* d, const char* s, size_t n) {
  if (n >= 8) {
    if (n > 16) {
      std::memcpy(d, s, n);
      return;
    }
    uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n > 0) {
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  }
}

/// x == y: up to 64 bytes by 8-byte words (the last one overlapping), fewer than 8 byte by
/// byte, more with memcmp.
inline bool equal_small(std::string_view x, std::string_view y) {
  const size_t n = x.size();
  if (n != y.size()) return false;
  if (n < 8) {
    for (size_t i = 0; i < n; ++i)
      if (x[i] != y[i]) return false;
    return true;
  }
  if (n > 64) return std::memcmp(x.data(), y.data(), n) == 0;
  auto word = [](const char* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  };
  uint64_t diff = word(x.data() + n - 8) ^ word(y.data() + n - 8);
  for (size_t i = 0; i + 8 < n; i += 8) diff |= word(x.data() + i) ^ word(y.data() + i);
  return diff == 0;
}

}  // namespace twin::traffic
