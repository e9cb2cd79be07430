#include "base64_text.h"

#include <array>
#include <cstdint>

#include "twin/traffic/text.h"

namespace twin::scrubber {
namespace {

// The value of a base64 character, 0–63 ('+' and '-' are both 62, '/' and '_' both 63: which
// were met says the alphabet), kBad for any other byte.
constexpr uint8_t kBad = 0xff;
constexpr std::array<uint8_t, 256> kValue = [] {
  std::array<uint8_t, 256> t{};
  t.fill(kBad);
  for (int c = 'A'; c <= 'Z'; ++c) t[size_t(c)] = uint8_t(c - 'A');
  for (int c = 'a'; c <= 'z'; ++c) t[size_t(c)] = uint8_t(c - 'a' + 26);
  for (int c = '0'; c <= '9'; ++c) t[size_t(c)] = uint8_t(c - '0' + 52);
  t['+'] = t['-'] = 62;
  t['/'] = t['_'] = 63;
  return t;
}();

constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

bool decode_base64_text(std::string_view in, std::string& out, Base64Style& style) {
  out.clear();
  size_t pad = 0;
  while (!in.empty() && in.back() == '=') {
    in.remove_suffix(1);
    ++pad;
  }
  const size_t tail = in.size() % 4;
  if (in.empty() || tail == 1 || pad > 2) return false;
  // padding, when there is any, completes the last quantum exactly
  if (pad != 0 && (tail == 0 || pad != 4 - tail)) return false;
  bool standard = false, url = false;
  uint32_t acc = 0;
  int bits = 0;
  out.reserve(in.size() / 4 * 3 + 2);
  for (char c : in) {
    const uint8_t v = kValue[static_cast<uint8_t>(c)];
    if (v == kBad) return false;
    standard |= c == '+' || c == '/';
    url |= c == '-' || c == '_';
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      const auto b = static_cast<uint8_t>((acc >> bits) & 0xff);
      // control characters: most random runs stop here within a few bytes
      if ((b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7f) return false;
      out.push_back(static_cast<char>(b));
    }
  }
  if (standard && url) return false;
  if ((acc & ((1u << bits) - 1)) != 0) return false;  // the last character's unused bits
  if (!traffic::is_valid_utf8(out)) return false;
  // Neither '+' '/' nor '-' '_' met: the padding is the better guess (URL-safe encoders leave
  // it out more often than not); a replacement that needs 62 or 63 is written in it.
  style.url = url || (!standard && pad == 0);
  style.padded = pad != 0;
  return true;
}

void encode_base64(std::string_view bytes, Base64Style style, std::string& out) {
  const char* alphabet = style.url ? kUrl : kStandard;
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                       uint8_t(bytes[i + 2]);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest == 0) return;
  uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
  if (rest == 2) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
  out += alphabet[v >> 18];
  out += alphabet[(v >> 12) & 63];
  if (rest == 2) out += alphabet[(v >> 6) & 63];
  if (style.padded) out.append(3 - rest, '=');
}

}  // namespace twin::scrubber
