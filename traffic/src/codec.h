#pragma once
// Byte-level encoding of the .twin format (docs/FORMAT.md): little-endian fixed-width integers,
// LEB128 varints, zigzag for signed values, and the record encoding of one exchange.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "twin/traffic/exchange.h"

namespace twin::traffic::codec {

inline constexpr char kFileMagic[8] = {'\x89', 'T', 'W', 'N', '\r', '\n', '\x1a', '\n'};
inline constexpr char kBlockMagic[4] = {'T', 'W', 'B', '1'};
inline constexpr char kFooterMagic[8] = {'T', 'W', 'N', 'E', 'N', 'D', '\r', '\n'};
inline constexpr size_t kFileHeaderFixed = 16;  // magic, major, minor, metadata length
inline constexpr size_t kBlockHeaderSize = 48;
inline constexpr size_t kFooterSize = 32;
inline constexpr size_t kIndexEntrySize = 40;
inline constexpr uint32_t kMaxMetadataSize = 16u << 20;

enum BlockKind : uint8_t { kRecords = 1, kMetadata = 2, kIndex = 3 };
enum Codec : uint8_t { kStored = 0, kZstd = 1 };

inline void put_u16(std::string& out, uint16_t v) {
  char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  out.append(b, 2);
}
inline void put_u32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 4);
}
inline void put_u64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}
inline uint16_t get_u16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | (static_cast<uint8_t>(p[1]) << 8));
}
inline uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
inline uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

inline void put_varint(std::string& out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}
inline uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t unzigzag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}
inline void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

/// Cursor over an encoded record. Every get fails (returns false) rather than read past the end.
class Input {
 public:
  Input(const char* p, size_t n) : p_(p), end_(p + n) {}
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      auto b = static_cast<uint8_t>(*p_++);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) return shift < 63 || b <= 1;
    }
    return false;
  }
  template <typename T>
  bool small(T& v, uint64_t max) {
    uint64_t x;
    if (!varint(x) || x > max) return false;
    v = static_cast<T>(x);
    return true;
  }
  bool byte(uint8_t& v) {
    if (p_ == end_) return false;
    v = static_cast<uint8_t>(*p_++);
    return true;
  }
  bool bytes(std::string& out) {
    uint64_t n;
    if (!varint(n) || n > static_cast<uint64_t>(end_ - p_)) return false;
    overwrite(out, std::string_view(p_, n));  // decoders reuse their strings
    p_ += n;
    return true;
  }
  bool raw(void* out, size_t n) {
    if (n > static_cast<size_t>(end_ - p_)) return false;
    std::memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  size_t left() const { return static_cast<size_t>(end_ - p_); }

 private:
  const char* p_;
  const char* end_;
};

/// The common header names that records code as one byte, in code order (docs/FORMAT.md).
std::vector<std::string_view> header_name_table();

/// Appends the record body of `e` (without its length prefix). `prev_start` is the previous
/// record's request_start in the same block (0 for the first) and is updated.
void encode_record(const Exchange& e, int64_t& prev_start, std::string& out);
/// The same into `to`, which has room for record_bound(e) bytes; returns the end.
char* encode_record(const Exchange& e, int64_t& prev_start, char* to);
/// At least the size of the record body of `e` (every varint at its longest).
size_t record_bound(const Exchange& e);
/// Decodes a record body into `out`, reusing its capacity. False when the bytes are not a valid
/// record; `out` is then unspecified.
/// `request_only` stops after the request: a record with a response gets an empty one.
bool decode_record(const char* data, size_t size, int64_t& prev_start, Exchange& out,
                   bool request_only = false);

}  // namespace twin::traffic::codec
