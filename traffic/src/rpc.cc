// gRPC, gRPC-Web and Connect wire helpers (rpc.h).

#include "twin/traffic/rpc.h"

#include <array>
#include <cstdint>

namespace twin::traffic {
namespace {

constexpr std::array<int8_t, 256> kBase64Value = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 26; ++i) {
    t[static_cast<size_t>('A' + i)] = static_cast<int8_t>(i);
    t[static_cast<size_t>('a' + i)] = static_cast<int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t[static_cast<size_t>('0' + i)] = static_cast<int8_t>(52 + i);
  t['+'] = 62;
  t['/'] = 63;
  return t;
}();

}  // namespace

bool is_printable_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return false;
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<uint8_t>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3fu);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) {
      return false;
    }
    if (cp >= 0x80 && cp < 0xa0) return false;  // C1 controls
    i += n + 1;
  }
  return true;
}

Envelopes split_envelopes(std::string_view body) {
  Envelopes e;
  size_t at = 0;
  while (body.size() - at >= 5) {
    const auto* p = reinterpret_cast<const uint8_t*>(body.data() + at);
    const uint32_t length =
        uint32_t{p[1]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 8 | p[4];
    if (length > body.size() - at - 5) break;
    e.items.push_back({p[0], body.substr(at + 5, length)});
    at += 5 + size_t{length};
  }
  e.rest = body.substr(at);
  return e;
}

bool append_envelope(uint8_t flags, std::string_view payload, std::string& out) {
  if (payload.size() > UINT32_MAX) return false;
  const auto n = static_cast<uint32_t>(payload.size());
  out += static_cast<char>(flags);
  out += static_cast<char>(n >> 24);
  out += static_cast<char>((n >> 16) & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  out += static_cast<char>(n & 0xff);
  out += payload;
  return true;
}

bool decode_grpc_web_text(std::string_view body, std::string& out) {
  out.clear();
  if (body.size() % 4 != 0) return false;
  for (size_t i = 0; i < body.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = body[i + static_cast<size_t>(k)];
      if (c == '=') {
        if (k < 2) return false;
        ++pad;
        v[k] = 0;
        continue;
      }
      if (pad > 0) return false;  // a character after '=' in the quantum
      v[k] = kBase64Value[static_cast<uint8_t>(c)];
      if (v[k] < 0) return false;
    }
    const uint32_t bits =
        uint32_t(v[0]) << 18 | uint32_t(v[1]) << 12 | uint32_t(v[2]) << 6 | uint32_t(v[3]);
    out += static_cast<char>(bits >> 16);
    if (pad < 2) out += static_cast<char>((bits >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(bits & 0xff);
  }
  return true;
}

}  // namespace twin::traffic
