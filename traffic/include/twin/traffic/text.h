#pragma once
// Small text helpers shared by the JSONL and HAR forms: UTF-8 validation, base64 and
// RFC 3339 instants. Written here rather than pulled from OpenSSL or Boost because they are a
// few dozen lines each and the traffic library should not depend on a crypto library for them.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace twin::traffic {

/// tchar (RFC 9110 5.6.2): the bytes of an HTTP token, such as a field name or a method.
inline constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();
inline bool is_tchar(char c) { return kTchar[static_cast<unsigned char>(c)]; }

/// ASCII case-insensitive equality (HTTP header names, HTTP versions).
bool ascii_iequals(std::string_view a, std::string_view b);

/// True when `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool is_valid_utf8(std::string_view s);
/// Appends code point `cp` (at most U+10FFFF) as UTF-8 (JSON and XML escapes, reports).
void append_utf8(std::string& out, uint32_t cp);
/// `s` with each maximal ill-formed subsequence replaced by U+FFFD (as WHATWG decoders do);
/// for showing bytes that are not UTF-8 where only text fits (HAR fields, reports). Lossy.
std::string to_valid_utf8(std::string_view s);

/// Standard base64 (RFC 4648 §4) with padding.
std::string base64_encode(std::string_view bytes);
/// Decodes standard base64; tolerates missing padding and ASCII whitespace; nullopt when
/// anything else is wrong.
std::optional<std::string> base64_decode(std::string_view text);

/// Nanoseconds since the epoch as RFC 3339 UTC with nanoseconds: "2026-11-23T10:38:00.123456789Z".
/// `digits` (0, 3, 6 or 9) picks the fraction's precision.
std::string format_rfc3339(int64_t unix_nanos, int digits = 9);
/// Parses RFC 3339 / ISO 8601 date-times as browsers write them in HAR files
/// ("2024-01-02T03:04:05.123Z", "...+01:00", "...-0500", any fraction length).
std::optional<int64_t> parse_rfc3339(std::string_view text);

}  // namespace twin::traffic
