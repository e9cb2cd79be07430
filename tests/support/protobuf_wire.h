#pragma once
// A Protocol Buffers wire-format writer and reader for tests, written from the format's
// description (protobuf.dev/programming-guides/encoding) apart from scrubber/src/protobuf.cc,
// so that a test does not check that code against itself.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace twin::test::pb {

inline std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
inline std::string tag(uint32_t number, unsigned wire) {
  return varint(uint64_t{number} << 3 | wire);
}
// A length-delimited field (string, bytes, message).
inline std::string ld(uint32_t number, std::string_view bytes) {
  return tag(number, 2) + varint(bytes.size()) + std::string(bytes);
}
// A varint field.
inline std::string vi(uint32_t number, uint64_t v) { return tag(number, 0) + varint(v); }
inline std::string fixed64(uint32_t number) {
  return tag(number, 1) + std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
}
inline std::string fixed32(uint32_t number) { return tag(number, 5) + std::string("abcd"); }

// A gRPC envelope: flags, 4-byte big-endian length, the message.
inline std::string envelope(uint8_t flags, std::string_view message) {
  std::string out(1, static_cast<char>(flags));
  const auto n = static_cast<uint32_t>(message.size());
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  out += message;
  return out;
}

struct Field {
  uint32_t number = 0;
  unsigned wire = 0;
  uint64_t value = 0;      // a varint's
  std::string_view bytes;  // a length-delimited field's, or a fixed field's
};

// The top-level fields of `m`; false when it does not parse whole.
inline bool fields(std::string_view m, std::vector<Field>& out) {
  out.clear();
  size_t at = 0;
  auto rd = [&](uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && at < m.size(); shift += 7) {
      const auto b = static_cast<uint8_t>(m[at++]);
      v |= uint64_t{b & 0x7fu} << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  };
  while (at < m.size()) {
    uint64_t t = 0;
    if (!rd(t) || (t >> 3) == 0) return false;
    Field f;
    f.number = static_cast<uint32_t>(t >> 3);
    f.wire = static_cast<unsigned>(t & 7);
    size_t n = 0;
    switch (f.wire) {
      case 0:
        if (!rd(f.value)) return false;
        break;
      case 1:
        n = 8;
        break;
      case 5:
        n = 4;
        break;
      case 2: {
        uint64_t len = 0;
        if (!rd(len) || len > m.size() - at) return false;
        n = static_cast<size_t>(len);
        break;
      }
      default:
        return false;
    }
    if (n > m.size() - at) return false;
    f.bytes = m.substr(at, n);
    at += n;
    out.push_back(f);
  }
  return true;
}

// Whether protoc (scripts/setup.sh: protobuf-compiler), the independent writer and reader of
// messages and descriptor sets, is there.
inline bool has_protoc() { return std::system("command -v protoc >/dev/null 2>&1") == 0; }
inline constexpr const char* kNoProtoc =
    "protoc is not installed (scripts/setup.sh installs protobuf-compiler)";

// The (number, wire type) of each top-level field, in order; {{0, 9}} when `m` does not parse.
inline std::vector<std::pair<uint32_t, unsigned>> shape(std::string_view m) {
  std::vector<Field> f;
  if (!fields(m, f)) return {{0, 9}};
  std::vector<std::pair<uint32_t, unsigned>> out;
  for (const auto& x : f) out.emplace_back(x.number, x.wire);
  return out;
}

}  // namespace twin::test::pb
