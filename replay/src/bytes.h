#pragma once
// Internal: the byte checks that every request and response of a replay goes through (which
// bytes may go into a request line or a header), eight bytes at a time. Byte by byte they were
// a tenth of a worker's instructions per request in a closed loop.
//
// The word tests are the classic ones: (x - 0x01..01) & ~x & 0x80..80 is non-zero exactly when
// some byte of x is zero, and (x - n·0x01..01) & ~x & 0x80..80 exactly when some byte is below
// n (n <= 0x80). The flagged bit positions may be wrong above the first hit (borrows), but
// whether there is a hit never is, and only that is used here.

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace twin::replay::bytes {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;

constexpr uint64_t zero_byte(uint64_t x) { return (x - kOnes) & ~x & kHigh; }
constexpr uint64_t byte_is(uint64_t x, uint8_t c) { return zero_byte(x ^ (c * kOnes)); }
constexpr uint64_t byte_below(uint64_t x, uint8_t n) { return (x - n * kOnes) & ~x & kHigh; }

// CR, LF or NUL: would end a header line or be cut by the peer.
constexpr uint64_t crlf_nul(uint64_t x) {
  return zero_byte(x) | byte_is(x, '\r') | byte_is(x, '\n');
}
// A control byte, SP or DEL: would end a request line's part.
constexpr uint64_t ctl_space_del(uint64_t x) { return byte_below(x, 0x21) | byte_is(x, 0x7F); }
// Also ':': the bytes no header name may hold.
constexpr uint64_t bad_name(uint64_t x) { return ctl_space_del(x) | byte_is(x, ':'); }
// A control byte (HTAB included) or DEL.
constexpr uint64_t ctl_del(uint64_t x) { return byte_below(x, 0x20) | byte_is(x, 0x7F); }

// Whether `test` flags any byte of `s`. The last partial word is padded with 'a', which no test
// flags.
template <uint64_t (*test)(uint64_t)>
inline bool any(std::string_view s) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t hits = 0;
  while (n >= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    hits |= test(x);
    p += 8;
    n -= 8;
  }
  if (n != 0) {
    uint64_t x = 0x6161616161616161ULL;
    std::memcpy(&x, p, n);
    hits |= test(x);
  }
  return hits != 0;
}

inline bool has_crlf_nul(std::string_view s) { return any<crlf_nul>(s); }
inline bool has_ctl_space_del(std::string_view s) { return any<ctl_space_del>(s); }
inline bool has_bad_name_byte(std::string_view s) { return any<bad_name>(s); }

// HTTP/2 fields as nghttp2 1.52 checks them (nghttp2_check_header_name and _value), without a
// call per field: a name's bytes are lower-case tchar, a value's HTAB, SP to '~' or obs-text.
// `kH2NameLower[c]` is c lower-cased when that is a name byte, else 0.
inline constexpr std::array<char, 256> kH2NameLower = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const bool tchar =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (tchar) t[c] = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  return t;
}();
inline bool h2_value_ok(std::string_view v) {
  if (!any<ctl_del>(v)) return true;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7F) return false;
  }
  return true;
}

}  // namespace twin::replay::bytes
