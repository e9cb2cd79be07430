#pragma once
// Private to the detectors (detect.cc) and their tests: byte classes and the small validators the
// detectors confirm candidates with (Luhn, IBAN mod-97 and lengths, card prefixes, Shannon
// entropy, base64 decoding, escape-aware boundaries). Pure functions over byte views; nothing
// here allocates except base64_decode, which appends to the caller's buffer.

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace twin::scrubber::detect_detail {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
constexpr bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
constexpr bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
constexpr bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline char to_lower(char c) { return is_upper(c) ? static_cast<char>(c + 32) : c; }
// A byte of the high-entropy secret alphabet: base64 and base64url without the padding.
inline bool is_secret_char(char c) {
  return is_alnum(c) || c == '+' || c == '/' || c == '_' || c == '-';
}
inline bool is_b64url_char(char c) { return is_alnum(c) || c == '_' || c == '-'; }

/// The length (2 to 4) of a well-formed UTF-8 sequence at t[i] whose code point can be part of a
/// word — of a name or of an internationalized e-mail address (RFC 6531) — in any script; 0 when
/// there is none (ASCII, a malformed or overlong sequence, a surrogate) or it is punctuation, a
/// space or a symbol: Latin-1's signs and spaces (U+0080-U+00BF, × and ÷), U+2000-U+2BFF
/// (punctuation, currency, arrows, maths, shapes), U+2E00-U+2E7F, CJK punctuation
/// (U+3000-U+303F), the compatibility and small forms (U+FE10-U+FE6F), the fullwidth ASCII
/// punctuation, specials (U+FFF0-U+FFFF, the byte order mark) and emoji and symbols
/// (U+1F000-U+1FAFF). A deny-list, so letters of every script pass.
inline size_t utf8_word_char(std::string_view t, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(t[k]); };
  const unsigned c0 = b(i);
  size_t len;
  uint32_t cp;
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    len = 2;
    cp = c0 & 0x1F;
  } else if (c0 >= 0xE0 && c0 <= 0xEF) {
    len = 3;
    cp = c0 & 0x0F;
  } else if (c0 >= 0xF0 && c0 <= 0xF4) {
    len = 4;
    cp = c0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > t.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
  const auto in = [cp](uint32_t lo, uint32_t hi) { return cp >= lo && cp <= hi; };
  if (in(0x80, 0xBF) || cp == 0xD7 || cp == 0xF7 || in(0x2000, 0x2BFF) || in(0x2E00, 0x2E7F) ||
      in(0x3000, 0x303F) || in(0xFE10, 0xFE6F) || cp == 0xFEFF || in(0xFF00, 0xFF0F) ||
      in(0xFF1A, 0xFF20) || in(0xFF3B, 0xFF40) || in(0xFF5B, 0xFF65) || in(0xFFF0, 0xFFFF) ||
      in(0x1F000, 0x1FAFF)) {
    return 0;
  }
  return len;
}

/// utf8_word_char() of the sequence that ends right before `end`: its length, or 0.
inline size_t utf8_word_char_before(std::string_view t, size_t end) {
  for (size_t len = 2; len <= 4 && len <= end; ++len) {
    const unsigned c = static_cast<unsigned char>(t[end - len]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: the start is further back
    return utf8_word_char(t, end - len) == len ? len : 0;
  }
  return 0;
}

/// True when the bytes just before `pos` end an escape sequence — JSON's `\n` `\t` `\r` `\b`
/// `\f` `\uXXXX` or a URL `%XX` — so that a value starting at `pos` is not glued to a word.
inline bool after_escape(std::string_view t, size_t pos) {
  if (pos >= 2 && t[pos - 2] == '\\') {
    const char c = t[pos - 1];
    if (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f') return true;
  }
  if (pos >= 3 && t[pos - 3] == '%' && is_hex(t[pos - 2]) && is_hex(t[pos - 1])) return true;
  if (pos >= 6 && t[pos - 6] == '\\' && t[pos - 5] == 'u' && is_hex(t[pos - 4]) &&
      is_hex(t[pos - 3]) && is_hex(t[pos - 2]) && is_hex(t[pos - 1])) {
    return true;
  }
  return false;
}

/// When a run of word bytes starting at `pos` begins inside an escape sequence (the `n` of `\n`,
/// the `u0022` of `\u0022`, the `2F` of `%2F`), the number of bytes to skip; else 0.
inline size_t escape_tail(std::string_view t, size_t pos) {
  if (pos == 0 || pos >= t.size()) return 0;
  const char prev = t[pos - 1];
  if (prev == '\\') {
    const char c = t[pos];
    if (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f') return 1;
    if (c == 'u' && pos + 5 <= t.size() && is_hex(t[pos + 1]) && is_hex(t[pos + 2]) &&
        is_hex(t[pos + 3]) && is_hex(t[pos + 4])) {
      return 5;
    }
  }
  if (prev == '%' && pos + 2 <= t.size() && is_hex(t[pos]) && is_hex(t[pos + 1])) return 2;
  return 0;
}

/// Luhn checksum over `digits` (ASCII digits only).
inline bool luhn_ok(std::string_view digits) {
  int sum = 0;
  bool dbl = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return !digits.empty() && sum % 10 == 0;
}

/// Whether a card number of these digits has a known issuer prefix for its length: Visa 4
/// (13, 16, 19), Mastercard 51–55 and 2221–2720 (16), Mir 2200–2204 (16), Amex 34/37 (15), Diners
/// 30/36/38/39 (14–19), JCB 3528–3589 (16–19), Discover 60/64/65 and UnionPay 62 (16–19; RuPay
/// 60 16), Maestro 50/56–59/63/67 (12–19). Other prefixes are ids, not cards.
inline bool card_prefix_ok(std::string_view d) {
  const size_t n = d.size();
  if (n < 12 || n > 19) return false;
  const int p1 = d[0] - '0';
  const int p2 = p1 * 10 + (d[1] - '0');
  const int p4 = p2 * 100 + (d[2] - '0') * 10 + (d[3] - '0');
  switch (p1) {
    case 2:
      if (p4 >= 2221 && p4 <= 2720) return n == 16;
      if (p4 >= 2200 && p4 <= 2204) return n == 16;
      return false;
    case 3:
      if (p2 == 34 || p2 == 37) return n == 15;
      if (p2 == 30 || p2 == 36 || p2 == 38 || p2 == 39) return n >= 14;
      if (p4 >= 3528 && p4 <= 3589) return n >= 16;
      return false;
    case 4:
      return n == 13 || n == 16 || n == 19;
    case 5:
      if (p2 >= 51 && p2 <= 55) return n == 16;
      return p2 == 50 || p2 >= 56;  // Maestro
    case 6:
      if (p4 == 6011) return n >= 16;                        // Discover
      if (p2 == 60) return n == 16;                          // RuPay
      if (p2 == 62 || p2 == 64 || p2 == 65) return n >= 16;  // UnionPay, Discover
      return p2 == 63 || p2 == 67;                           // Maestro, InstaPayment: 12–19
    default:
      return false;
  }
}

/// A plausible card number: 12–19 digits with a known prefix for its length, Luhn-valid, not one
/// digit repeated and not mostly zeros.
inline bool card_digits_ok(std::string_view d) {
  if (!card_prefix_ok(d) || !luhn_ok(d)) return false;
  size_t zeros = 0;
  bool same = true;
  for (char c : d) {
    zeros += c == '0';
    same = same && c == d[0];
  }
  return !same && zeros * 10 <= d.size() * 6;
}

/// The length of an IBAN of the country `a b` (registry of SWIFT), 0 when the country has none.
inline size_t iban_length(char a, char b) {
  struct Entry {
    char c[2];
    uint8_t len;
  };
  static constexpr Entry kTable[] = {
      {{'A', 'D'}, 24}, {{'A', 'E'}, 23}, {{'A', 'L'}, 28}, {{'A', 'T'}, 20}, {{'A', 'Z'}, 28},
      {{'B', 'A'}, 20}, {{'B', 'E'}, 16}, {{'B', 'G'}, 22}, {{'B', 'H'}, 22}, {{'B', 'R'}, 29},
      {{'B', 'Y'}, 28}, {{'C', 'H'}, 21}, {{'C', 'R'}, 22}, {{'C', 'Y'}, 28}, {{'C', 'Z'}, 24},
      {{'D', 'E'}, 22}, {{'D', 'K'}, 18}, {{'D', 'O'}, 28}, {{'E', 'E'}, 20}, {{'E', 'G'}, 29},
      {{'E', 'S'}, 24}, {{'F', 'I'}, 18}, {{'F', 'O'}, 18}, {{'F', 'R'}, 27}, {{'G', 'B'}, 22},
      {{'G', 'E'}, 22}, {{'G', 'I'}, 23}, {{'G', 'L'}, 18}, {{'G', 'R'}, 27}, {{'G', 'T'}, 28},
      {{'H', 'R'}, 21}, {{'H', 'U'}, 28}, {{'I', 'E'}, 22}, {{'I', 'L'}, 23}, {{'I', 'Q'}, 23},
      {{'I', 'S'}, 26}, {{'I', 'T'}, 27}, {{'J', 'O'}, 30}, {{'K', 'W'}, 30}, {{'K', 'Z'}, 20},
      {{'L', 'B'}, 28}, {{'L', 'C'}, 32}, {{'L', 'I'}, 21}, {{'L', 'T'}, 20}, {{'L', 'U'}, 20},
      {{'L', 'V'}, 21}, {{'M', 'C'}, 27}, {{'M', 'D'}, 24}, {{'M', 'E'}, 22}, {{'M', 'K'}, 19},
      {{'M', 'R'}, 27}, {{'M', 'T'}, 31}, {{'M', 'U'}, 30}, {{'N', 'L'}, 18}, {{'N', 'O'}, 15},
      {{'P', 'K'}, 24}, {{'P', 'L'}, 28}, {{'P', 'S'}, 29}, {{'P', 'T'}, 25}, {{'Q', 'A'}, 29},
      {{'R', 'O'}, 24}, {{'R', 'S'}, 22}, {{'S', 'A'}, 24}, {{'S', 'C'}, 31}, {{'S', 'E'}, 24},
      {{'S', 'I'}, 19}, {{'S', 'K'}, 24}, {{'S', 'M'}, 27}, {{'S', 'T'}, 25}, {{'S', 'V'}, 28},
      {{'T', 'L'}, 23}, {{'T', 'N'}, 24}, {{'T', 'R'}, 26}, {{'U', 'A'}, 29}, {{'V', 'A'}, 22},
      {{'V', 'G'}, 24}, {{'X', 'K'}, 20},
  };
  for (const Entry& e : kTable) {
    if (e.c[0] == a && e.c[1] == b) return e.len;
  }
  return 0;
}

/// ISO 13616 mod-97 over a compact IBAN (uppercase letters and digits, no spaces).
inline bool iban_mod97_ok(std::string_view iban) {
  if (iban.size() < 5) return false;
  uint32_t rem = 0;
  auto feed = [&rem](char c) {
    if (is_digit(c)) {
      rem = (rem * 10 + static_cast<uint32_t>(c - '0')) % 97;
    } else if (is_upper(c)) {
      rem = (rem * 100 + static_cast<uint32_t>(c - 'A' + 10)) % 97;
    }
  };
  for (size_t i = 4; i < iban.size(); ++i) feed(iban[i]);
  for (size_t i = 0; i < 4; ++i) feed(iban[i]);
  return rem == 1;
}

/// Shannon entropy of the bytes of `s`, in bits per byte.
inline double shannon_entropy(std::string_view s) {
  if (s.empty()) return 0;
  std::array<uint32_t, 256> counts{};
  for (char c : s) ++counts[static_cast<unsigned char>(c)];
  double h = 0;
  const double n = static_cast<double>(s.size());
  for (uint32_t k : counts) {
    if (k == 0) continue;
    const double p = k / n;
    h -= p * std::log2(p);
  }
  return h;
}

/// Decodes base64 (standard or URL alphabet, padding optional) into `out`, at most `max_out`
/// bytes. False on a byte outside the alphabet or an impossible length.
inline bool base64_decode(std::string_view in, std::string& out, size_t max_out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (is_upper(c)) {
      v = c - 'A';
    } else if (is_lower(c)) {
      v = c - 'a' + 26;
    } else if (is_digit(c)) {
      v = c - '0' + 52;
    } else if (c == '+' || c == '-') {
      v = 62;
    } else if (c == '/' || c == '_') {
      v = 63;
    } else {
      return false;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out.size() >= max_out) return true;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The byte pairs every match of a built-in Hyperscan pattern holds (detect.cc, kBuiltins): "@"
// then a letter, a digit or a byte past ASCII, "%4" (%40), "::", "yJ" (eyJ), the last letter of
// bearer/basic/token/ api-key (r, c, n, y, any case) then ' ', '%' or '+', "IA" (AKIA, ASIA), one
// of p o u s r b k then '_' (gh?_, github_pat_, sk_/pk_/rk_), "xo" (xox?-), "Iz" (AIza). Keep in
// step with kBuiltins.

// The pairs as a table of 65,536 bits: the definition, which builtin_pair_in() is tested against.
struct BuiltinPairs {
  std::array<uint64_t, 1024> bits{};  // bit (a << 8 | b): the pair "ab"
  constexpr void set(unsigned char a, unsigned char b) {
    const unsigned i = (unsigned{a} << 8) | b;
    bits[i >> 6] |= uint64_t{1} << (i & 63);
  }
  constexpr BuiltinPairs() {
    for (int c = 0; c < 256; ++c) {
      const bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
      if (alnum || c >= 0x80) set('@', static_cast<unsigned char>(c));
    }
    set('%', '4');
    set(':', ':');
    set('y', 'J');
    for (unsigned char l : {'r', 'R', 'c', 'C', 'n', 'N', 'y', 'Y'}) {
      for (unsigned char sep : {' ', '%', '+'}) set(l, sep);
    }
    set('I', 'A');
    for (unsigned char l : {'p', 'o', 'u', 's', 'r', 'b', 'k'}) set(l, '_');
    set('x', 'o');
    set('I', 'z');
  }
  bool has(unsigned char a, unsigned char b) const {
    const unsigned k = (unsigned{a} << 8) | b;
    return (bits[k >> 6] >> (k & 63)) & 1;
  }
  bool any(std::string_view t) const {
    for (size_t i = 0; i + 1 < t.size(); ++i) {
      if (has(static_cast<unsigned char>(t[i]), static_cast<unsigned char>(t[i + 1]))) return true;
    }
    return false;
  }
};
inline constexpr BuiltinPairs kBuiltinPairs;

#if defined(__SSE2__)
// The pairs starting in the 16 bytes at `p` (p[0..17) readable), as a movemask.
inline unsigned builtin_pairs16(const char* p) {
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
  auto eq = [](__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); };
  auto at_most = [](__m128i v, char lo, char n) {  // v - lo in [0, n], unsigned
    const __m128i d = _mm_sub_epi8(v, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(n)), d);
  };
  const __m128i a_folded = _mm_or_si128(a, _mm_set1_epi8(0x20));  // 'R' and 'r' alike
  const __m128i b_alnum =
      _mm_or_si128(at_most(b, '0', 9), at_most(_mm_or_si128(b, _mm_set1_epi8(0x20)), 'a', 25));
  const __m128i b_high = _mm_cmplt_epi8(b, _mm_setzero_si128());  // a byte past ASCII
  __m128i hit = _mm_and_si128(eq(a, '@'), _mm_or_si128(b_alnum, b_high));
  hit = _mm_or_si128(hit, _mm_and_si128(eq(a, '%'), eq(b, '4')));
  hit = _mm_or_si128(hit, _mm_and_si128(eq(a, ':'), eq(b, ':')));
  hit = _mm_or_si128(hit, _mm_and_si128(eq(a, 'y'), eq(b, 'J')));
  const __m128i scheme_end = _mm_or_si128(_mm_or_si128(eq(a_folded, 'r'), eq(a_folded, 'c')),
                                          _mm_or_si128(eq(a_folded, 'n'), eq(a_folded, 'y')));
  const __m128i scheme_sep = _mm_or_si128(_mm_or_si128(eq(b, ' '), eq(b, '%')), eq(b, '+'));
  hit = _mm_or_si128(hit, _mm_and_si128(scheme_end, scheme_sep));
  hit = _mm_or_si128(hit, _mm_and_si128(eq(a, 'I'), _mm_or_si128(eq(b, 'A'), eq(b, 'z'))));
  const __m128i before_underscore = _mm_or_si128(
      _mm_or_si128(_mm_or_si128(eq(a, 'p'), eq(a, 'o')), _mm_or_si128(eq(a, 'u'), eq(a, 's'))),
      _mm_or_si128(_mm_or_si128(eq(a, 'r'), eq(a, 'b')), eq(a, 'k')));
  hit = _mm_or_si128(hit, _mm_and_si128(before_underscore, eq(b, '_')));
  hit = _mm_or_si128(hit, _mm_and_si128(eq(a, 'x'), eq(b, 'o')));
  return static_cast<unsigned>(_mm_movemask_epi8(hit));
}
#endif

/// Whether `t` holds one of the pairs (kBuiltinPairs.any(t), 16 positions at a time).
inline bool builtin_pair_in(std::string_view t) {
#if defined(__SSE2__)
  const size_t n = t.size();
  if (n < 2) return false;
  size_t i = 0;
  for (; i + 17 <= n; i += 16) {
    if (builtin_pairs16(t.data() + i) != 0) return true;
  }
  if (i + 1 >= n) return false;
  // The last pairs from a copy padded with zero bytes, which begin and end no pair.
  char tail[32] = {};
  std::memcpy(tail, t.data() + i, n - i);
  return builtin_pairs16(tail) != 0;
#else
  return kBuiltinPairs.any(t);
#endif
}

}  // namespace twin::scrubber::detect_detail
