// The comparator's tape readers: JSON, MessagePack and CBOR (tape.h).

#include "tape.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>

#include "twin/traffic/rpc.h"
#include "twin/traffic/text.h"

namespace twin::compare::tape {
namespace {

using traffic::append_utf8;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at s[p..p+4), or -1.
int read_hex4(std::string_view s, size_t p) {
  if (p + 4 > s.size()) return -1;
  int v = 0;
  for (size_t i = 0; i < 4; ++i) {
    const int h = hex_value(s[p + i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// Bytes that end a run of plain characters inside a JSON string: the quote, the backslash and
// the control characters (which are invalid there).
constexpr auto kStringStop = [] {
  std::array<bool, 256> stop{};
  for (int c = 0; c < 0x20; ++c) stop[c] = true;
  stop['"'] = stop['\\'] = true;
  return stop;
}();

}  // namespace

// Decodes the JSON escape at s[p] == '\\' onto `out` and moves `p` past it. Lone surrogates are
// rejected, as a strict parser (nlohmann's included) rejects them.
bool unescape_at(std::string_view s, size_t& p, std::string& out) {
  if (p + 1 >= s.size()) return false;
  const char e = s[p + 1];
  switch (e) {
    case '"':
    case '\\':
    case '/':
      out += e;
      p += 2;
      return true;
    case 'b':
      out += '\b';
      p += 2;
      return true;
    case 'f':
      out += '\f';
      p += 2;
      return true;
    case 'n':
      out += '\n';
      p += 2;
      return true;
    case 'r':
      out += '\r';
      p += 2;
      return true;
    case 't':
      out += '\t';
      p += 2;
      return true;
    case 'u':
      break;
    default:
      return false;
  }
  const int hi = read_hex4(s, p + 2);
  if (hi < 0) return false;
  if (hi >= 0xDC00 && hi <= 0xDFFF) return false;
  if (hi >= 0xD800 && hi <= 0xDBFF) {
    if (p + 7 >= s.size() || s[p + 6] != '\\' || s[p + 7] != 'u') return false;
    const int lo = read_hex4(s, p + 8);
    if (lo < 0xDC00 || lo > 0xDFFF) return false;
    append_utf8(out, 0x10000 + ((static_cast<uint32_t>(hi) - 0xD800) << 10) +
                         (static_cast<uint32_t>(lo) - 0xDC00));
    p += 12;
    return true;
  }
  append_utf8(out, static_cast<uint32_t>(hi));
  p += 6;
  return true;
}

std::span<const uint64_t> Doc::tags(uint32_t i) const {
  const auto lo = std::lower_bound(tag_nodes_.begin(), tag_nodes_.end(), i);
  const auto hi = std::upper_bound(lo, tag_nodes_.end(), i);
  return std::span<const uint64_t>(tag_values_)
      .subspan(static_cast<size_t>(lo - tag_nodes_.begin()), static_cast<size_t>(hi - lo));
}

void Doc::reset(std::string_view s) {
  src_ = s;
  nodes_.clear();
  arena_.clear();
  open_.clear();
  open_binary_.clear();
  tag_nodes_.clear();
  tag_values_.clear();
  pending_tags_.clear();
  root_ = 0;
}

// ---- JSON

bool Doc::parse_string(size_t& p) {
  const std::string_view s = src_;
  const size_t start = ++p;
  while (p < s.size()) {
    // One table load per byte for the run of plain characters, the bulk of a body.
    while (p < s.size() && !kStringStop[static_cast<unsigned char>(s[p])]) ++p;
    if (p >= s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[p]);
    if (c == '"') {
      nodes_.push_back(
          {Kind::kString, 0, static_cast<uint32_t>(start), static_cast<uint32_t>(p - start)});
      ++p;
      return true;
    }
    if (c == '\\') break;
    if (c < 0x20) return false;
    ++p;
  }
  if (p >= s.size()) return false;
  // Escapes: decode the whole string into the arena so that "\u0061" equals "a".
  const size_t at = arena_.size();
  arena_.append(s.substr(start, p - start));
  while (p < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[p]);
    if (c == '"') {
      nodes_.push_back({Kind::kString, kInArena, static_cast<uint32_t>(at),
                        static_cast<uint32_t>(arena_.size() - at)});
      ++p;
      return true;
    }
    if (c == '\\') {
      if (!unescape_at(s, p, arena_)) return false;
    } else if (c < 0x20) {
      return false;
    } else {
      arena_ += static_cast<char>(c);
      ++p;
    }
  }
  return false;
}

bool Doc::parse_number(size_t& p) {
  const std::string_view s = src_;
  const size_t start = p;
  uint8_t flags = kInteger;
  if (p < s.size() && s[p] == '-') ++p;
  if (p >= s.size()) return false;
  if (s[p] == '0') {
    ++p;
  } else if (s[p] >= '1' && s[p] <= '9') {
    while (p < s.size() && is_digit(s[p])) ++p;
  } else {
    return false;
  }
  if (p < s.size() && s[p] == '.') {
    flags = 0;
    ++p;
    if (p >= s.size() || !is_digit(s[p])) return false;
    while (p < s.size() && is_digit(s[p])) ++p;
  }
  if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
    flags = 0;
    ++p;
    if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
    if (p >= s.size() || !is_digit(s[p])) return false;
    while (p < s.size() && is_digit(s[p])) ++p;
  }
  nodes_.push_back(
      {Kind::kNumber, flags, static_cast<uint32_t>(start), static_cast<uint32_t>(p - start)});
  return true;
}

// A member's key and its colon; whitespace before the key is already skipped.
bool Doc::parse_key(size_t& p) {
  const std::string_view s = src_;
  if (p >= s.size() || s[p] != '"' || !parse_string(p)) return false;
  while (p < s.size() && is_json_ws(s[p])) ++p;
  if (p >= s.size() || s[p] != ':') return false;
  ++p;
  return true;
}

// Iterative, so that nesting depth costs heap (bounded by the body) rather than stack.
bool Doc::parse(std::string_view s) {
  reset(s);
  if (s.size() >= UINT32_MAX) return false;
  size_t p = 0;
  if (!parse_value(p)) return false;
  while (p < s.size() && is_json_ws(s[p])) ++p;
  return p == s.size();
}

bool Doc::parse_json_lines(std::string_view s, bool sequence) {
  reset(s);
  if (s.size() >= UINT32_MAX) return false;
  nodes_.push_back({Kind::kArray, 0, 0, 0});
  size_t p = 0;
  while (p < s.size()) {
    // A record: a line of JSON Lines, or what follows a run of RS up to the next RS (RFC 7464:
    // every record begins with one; several in a row make no empty record).
    size_t end;
    if (sequence) {
      if (s[p] != '\x1e') return false;
      while (p < s.size() && s[p] == '\x1e') ++p;
      end = std::min(s.find('\x1e', p), s.size());
    } else {
      end = std::min(s.find('\n', p), s.size());
    }
    size_t q = p;
    while (q < end && is_json_ws(s[q])) ++q;
    if (q < end) {  // (a blank line is no record)
      // The record's value may not run past its end: src_ stops there meanwhile.
      src_ = s.substr(0, end);
      ++nodes_[0].a;
      if (!parse_value(q)) return false;
      while (q < end && is_json_ws(s[q])) ++q;
      if (q != end) return false;
      src_ = s;
    }
    p = sequence ? end : end + 1;
  }
  nodes_[0].b = static_cast<uint32_t>(nodes_.size());
  return true;
}

// One JSON value at p (white space before it skipped) appended to the tape, and p past it.
bool Doc::parse_value(size_t& p) {
  const std::string_view s = src_;
  const auto skip_ws = [&] {
    while (p < s.size() && is_json_ws(s[p])) ++p;
  };
  for (;;) {
    // A value starts here.
    skip_ws();
    if (p >= s.size()) return false;
    if (!open_.empty()) ++nodes_[open_.back()].a;
    const auto idx = static_cast<uint32_t>(nodes_.size());
    bool complete = true;
    switch (s[p]) {
      case '{':
      case '[': {
        const bool object = s[p] == '{';
        nodes_.push_back({object ? Kind::kObject : Kind::kArray, 0, 0, 0});
        ++p;
        skip_ws();
        if (p < s.size() && s[p] == (object ? '}' : ']')) {
          ++p;
          nodes_[idx].b = idx + 1;
          break;
        }
        open_.push_back(idx);
        if (object && !parse_key(p)) return false;
        complete = false;
        break;
      }
      case '"':
        if (!parse_string(p)) return false;
        break;
      case 't':
        if (s.compare(p, 4, "true") != 0) return false;
        nodes_.push_back({Kind::kTrue, 0, 0, 0});
        p += 4;
        break;
      case 'f':
        if (s.compare(p, 5, "false") != 0) return false;
        nodes_.push_back({Kind::kFalse, 0, 0, 0});
        p += 5;
        break;
      case 'n':
        if (s.compare(p, 4, "null") != 0) return false;
        nodes_.push_back({Kind::kNull, 0, 0, 0});
        p += 4;
        break;
      default:
        if (!parse_number(p)) return false;
    }
    if (!complete) continue;
    // The value is complete: close the containers that end here, or move to the next member.
    for (;;) {
      if (open_.empty()) return true;
      skip_ws();
      if (p >= s.size()) return false;
      const uint32_t top = open_.back();
      const bool object = nodes_[top].kind == Kind::kObject;
      if (s[p] == ',') {
        ++p;
        if (object) {
          skip_ws();
          if (!parse_key(p)) return false;
        }
        break;
      }
      if (s[p] != (object ? '}' : ']')) return false;
      ++p;
      nodes_[top].b = static_cast<uint32_t>(nodes_.size());
      open_.pop_back();
    }
  }
}

// ---- MessagePack and CBOR

namespace {

uint64_t load_be(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// IEEE 754 binary16 (CBOR's half float), exactly.
double half_to_double(uint16_t h) {
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  double v;
  if (exponent == 0) {
    v = std::ldexp(mantissa, -24);
  } else if (exponent != 31) {
    v = std::ldexp(mantissa + 1024, exponent - 25);
  } else {
    v = mantissa == 0 ? std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::quiet_NaN();
  }
  return (h & 0x8000) ? -v : v;
}

}  // namespace

bool Doc::push_arena(Kind kind, uint8_t flags, size_t at) {
  if (arena_.size() >= UINT32_MAX) return false;
  nodes_.push_back({kind, static_cast<uint8_t>(flags | kInArena), static_cast<uint32_t>(at),
                    static_cast<uint32_t>(arena_.size() - at)});
  return true;
}

// `length` bytes of the body at p, as a string node that points into it.
bool Doc::push_text(size_t& p, uint64_t length, uint8_t flags) {
  if (length > src_.size() - p) return false;
  nodes_.push_back({Kind::kString, flags, static_cast<uint32_t>(p), static_cast<uint32_t>(length)});
  p += length;
  return true;
}

// An integer's decimal text. CBOR's negative integers reach -2^64, one past int64 and uint64.
bool Doc::push_integer(bool negative, unsigned __int128 magnitude) {
  char digits[40];
  char* end = digits + sizeof digits;
  char* q = end;
  do {
    *--q = static_cast<char>('0' + static_cast<int>(magnitude % 10));
    magnitude /= 10;
  } while (magnitude != 0);
  if (negative) *--q = '-';
  const size_t at = arena_.size();
  arena_.append(q, static_cast<size_t>(end - q));
  return push_arena(Kind::kNumber, kInteger | kTyped, at);
}

// A float's shortest text that reads back as the same double ("inf" and "-0" included): a
// float32 is widened first, so that 0.1f and the double 0.1 stay different values. Every NaN is
// "nan", whatever its sign and payload: encoders write NaN each their own way (nlohmann::json
// writes any NaN as the half 0x7e00), and NaN against NaN is no difference.
bool Doc::push_float(double value) {
  char buf[64];
  const auto r = std::isnan(value) ? std::to_chars(buf, buf + sizeof buf, std::nan(""))
                                   : std::to_chars(buf, buf + sizeof buf, value);
  const size_t at = arena_.size();
  arena_.append(buf, static_cast<size_t>(r.ptr - buf));
  return push_arena(Kind::kNumber, kTyped, at);
}

bool Doc::msgpack_head(size_t& p, Item& item) {
  const std::string_view s = src_;
  if (p >= s.size()) return false;
  const auto c = static_cast<unsigned char>(s[p++]);
  item = Item{};
  // A big-endian argument of n bytes at p.
  const auto arg = [&](size_t n, uint64_t& v) {
    if (s.size() - p < n) return false;
    v = load_be(s.data() + p, n);
    p += n;
    return true;
  };
  uint64_t v = 0;
  if (c <= 0x7f) return push_integer(false, c);
  if (c >= 0xe0) return push_integer(true, 0x100 - c);
  if (c <= 0x8f || (c >= 0x90 && c <= 0x9f)) {
    item.head = c <= 0x8f ? Head::kMap : Head::kArray;
    item.count = c & 0x0f;
    return true;
  }
  if (c <= 0xbf) return push_text(p, c & 0x1f, 0);
  switch (c) {
    case 0xc0:
      nodes_.push_back({Kind::kNull, 0, 0, 0});
      return true;
    case 0xc2:
    case 0xc3:
      nodes_.push_back({c == 0xc3 ? Kind::kTrue : Kind::kFalse, 0, 0, 0});
      return true;
    case 0xc4:
    case 0xc5:
    case 0xc6:  // bin 8/16/32
      return arg(size_t{1} << (c - 0xc4), v) && push_text(p, v, kBytes);
    case 0xc7:
    case 0xc8:
    case 0xc9:  // ext 8/16/32: length, type, data
      if (!arg(size_t{1} << (c - 0xc7), v)) return false;
      [[fallthrough]];
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: {  // fixext 1/2/4/8/16: type, data
      if (c >= 0xd4) v = uint64_t{1} << (c - 0xd4);
      if (p >= s.size() || v > s.size() - p - 1) return false;
      const size_t at = arena_.size();
      arena_.append(s.substr(p, v + 1));
      p += v + 1;
      return push_arena(Kind::kString, kExt, at);
    }
    case 0xca: {
      if (!arg(4, v)) return false;
      float f;
      const auto bits = static_cast<uint32_t>(v);
      std::memcpy(&f, &bits, 4);
      return push_float(f);
    }
    case 0xcb: {
      if (!arg(8, v)) return false;
      double d;
      std::memcpy(&d, &v, 8);
      return push_float(d);
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:  // uint 8/16/32/64
      return arg(size_t{1} << (c - 0xcc), v) && push_integer(false, v);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {  // int 8/16/32/64
      const size_t n = size_t{1} << (c - 0xd0);
      if (!arg(n, v)) return false;
      const unsigned shift = 64 - 8 * static_cast<unsigned>(n);
      const auto i = static_cast<int64_t>(v << shift) >> shift;  // sign-extended
      return i < 0 ? push_integer(true, static_cast<unsigned __int128>(-(i + 1)) + 1)
                   : push_integer(false, static_cast<uint64_t>(i));
    }
    case 0xd9:
    case 0xda:
    case 0xdb:  // str 8/16/32
      return arg(size_t{1} << (c - 0xd9), v) && push_text(p, v, 0);
    case 0xdc:
    case 0xdd:  // array 16/32
    case 0xde:
    case 0xdf:  // map 16/32
      if (!arg(c & 1 ? 4 : 2, v)) return false;
      item.head = c >= 0xde ? Head::kMap : Head::kArray;
      item.count = v;
      return true;
    default:  // 0xc1, never used
      return false;
  }
}

bool Doc::cbor_head(size_t& p, Item& item) {
  const std::string_view s = src_;
  if (p >= s.size()) return false;
  const auto c = static_cast<unsigned char>(s[p++]);
  item = Item{};
  const int major = c >> 5;
  const int info = c & 0x1f;
  uint64_t v = info;
  bool indefinite = false;
  if (info >= 24 && info <= 27) {
    const size_t n = size_t{1} << (info - 24);
    if (s.size() - p < n) return false;
    v = load_be(s.data() + p, n);
    p += n;
  } else if (info == 31) {
    indefinite = true;
  } else if (info > 27) {
    return false;  // 28-30 are reserved
  }
  switch (major) {
    case 0:
    case 1:
      if (indefinite) return false;
      return major == 0 ? push_integer(false, v)
                        : push_integer(true, static_cast<unsigned __int128>(v) + 1);
    case 2:
    case 3: {
      const uint8_t flags = major == 2 ? kBytes : 0;
      if (!indefinite) return push_text(p, v, flags);
      // Chunks, each a definite string of the same major type, up to a break: joined.
      const size_t at = arena_.size();
      for (;;) {
        if (p >= s.size()) return false;
        const auto h = static_cast<unsigned char>(s[p++]);
        if (h == 0xff) break;
        if ((h >> 5) != major) return false;
        const int chunk_info = h & 0x1f;
        uint64_t length = static_cast<uint64_t>(chunk_info);
        if (chunk_info >= 24 && chunk_info <= 27) {
          const size_t n = size_t{1} << (chunk_info - 24);
          if (s.size() - p < n) return false;
          length = load_be(s.data() + p, n);
          p += n;
        } else if (chunk_info > 27) {
          return false;  // reserved, or an indefinite chunk (not well-formed)
        }
        if (length > s.size() - p) return false;
        arena_.append(s.substr(p, length));
        p += length;
      }
      return push_arena(Kind::kString, flags, at);
    }
    case 4:
    case 5:
      item.head = major == 5 ? Head::kMap : Head::kArray;
      item.indefinite = indefinite;
      item.count = v;
      return true;
    case 6:
      if (indefinite) return false;
      item.head = Head::kTag;
      item.count = v;
      return true;
    default:  // 7: simple values and floats
      break;
  }
  switch (info) {
    case 20:
    case 21:
      nodes_.push_back({info == 21 ? Kind::kTrue : Kind::kFalse, 0, 0, 0});
      return true;
    case 22:
    case 23:
      nodes_.push_back({Kind::kNull, static_cast<uint8_t>(info == 23 ? kUndefined : 0), 0, 0});
      return true;
    case 25:
      return push_float(half_to_double(static_cast<uint16_t>(v)));
    case 26: {
      float f;
      const auto bits = static_cast<uint32_t>(v);
      std::memcpy(&f, &bits, 4);
      return push_float(f);
    }
    case 27: {
      double d;
      std::memcpy(&d, &v, 8);
      return push_float(d);
    }
    case 31:
      item.head = Head::kBreak;
      return true;
    default: {
      // 0-19 and one byte (24) of 32-255: a simple value (24 with a value below 32 is not
      // well-formed).
      if (info == 24 && v < 32) return false;
      const size_t at = arena_.size();
      arena_ += std::to_string(v);
      return push_arena(Kind::kNumber, kSimple, at);
    }
  }
}

// Items up to the end of the body, iteratively: a container's head opens it, its count (or a
// CBOR break) closes it. Top-level items are the elements of an array at node 0; the root is
// that array, or its one element.
template <bool kCbor>
bool Doc::parse_items(std::string_view s) {
  reset(s);
  if (s.size() >= UINT32_MAX) return false;
  nodes_.push_back({Kind::kArray, 0, 0, 0});
  size_t p = 0;
  Item item;
  for (;;) {
    // Close the containers whose count is complete.
    while (!open_binary_.empty()) {
      const Open& top = open_binary_.back();
      if (top.indefinite || top.left != 0 || !top.key_next) break;
      nodes_[top.node].b = static_cast<uint32_t>(nodes_.size());
      open_binary_.pop_back();
    }
    if (open_binary_.empty()) {
      if (p == s.size()) break;
      ++nodes_[0].a;
    }
    const bool key =
        !open_binary_.empty() && open_binary_.back().map && open_binary_.back().key_next;
    for (;;) {
      if (!(kCbor ? cbor_head(p, item) : msgpack_head(p, item))) return false;
      if (item.head != Head::kTag) break;
      pending_tags_.push_back(item.count);
    }
    if (item.head == Head::kBreak) {
      if (!pending_tags_.empty() || open_binary_.empty()) return false;
      const Open& top = open_binary_.back();
      if (!top.indefinite || !top.key_next) return false;
      nodes_[top.node].b = static_cast<uint32_t>(nodes_.size());
      open_binary_.pop_back();
      continue;
    }
    if (!open_binary_.empty()) {
      Open& top = open_binary_.back();
      if (!top.map) {
        ++nodes_[top.node].a;
        if (!top.indefinite) --top.left;
      } else if (!key) {
        ++nodes_[top.node].a;
        if (!top.indefinite) --top.left;
      }
      if (top.map) top.key_next = !top.key_next;
    }
    const bool container = item.head == Head::kArray || item.head == Head::kMap;
    if (key) {
      // A key is compared by its text: a string, or a number's digits.
      if (container || !pending_tags_.empty()) return false;
      Node& n = nodes_.back();
      if (n.kind != Kind::kString && (n.kind != Kind::kNumber || (n.flags & kSimple))) {
        return false;
      }
      n.kind = Kind::kString;
      n.flags &= kInArena;
      continue;
    }
    auto idx = static_cast<uint32_t>(nodes_.size());
    if (container) {
      nodes_.push_back({item.head == Head::kMap ? Kind::kObject : Kind::kArray, 0, 0, 0});
      if (!item.indefinite && item.count == 0) {
        nodes_[idx].b = idx + 1;
      } else {
        open_binary_.push_back({idx, item.head == Head::kMap, true, item.indefinite, item.count});
      }
    } else {
      idx = static_cast<uint32_t>(nodes_.size() - 1);
    }
    if (!pending_tags_.empty()) {
      nodes_[idx].flags |= kTagged;
      for (const uint64_t tag : pending_tags_) {
        tag_nodes_.push_back(idx);
        tag_values_.push_back(tag);
      }
      pending_tags_.clear();
    }
  }
  if (nodes_[0].a == 0) return false;
  nodes_[0].b = static_cast<uint32_t>(nodes_.size());
  root_ = nodes_[0].a == 1 ? 1 : 0;
  return true;
}

bool Doc::parse_msgpack(std::string_view s) { return parse_items<false>(s); }
bool Doc::parse_cbor(std::string_view s) { return parse_items<true>(s); }

// ---- Protocol Buffers

namespace {

// A varint at p, before `end`: at most ten bytes, the tenth holding one bit.
bool read_varint(std::string_view s, size_t& p, size_t end, uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p >= end) return false;
    const auto b = static_cast<uint8_t>(s[p++]);
    if (shift == 63 && b > 1) return false;
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

bool Doc::parse_protobuf(std::string_view s, std::span<const size_t> lengths,
                         const traffic::ProtobufSchema* schema, const MessageType* type) {
  reset(s);
  fields_.clear();
  schema_ = type ? schema : nullptr;
  if (!schema_) type = nullptr;
  if (s.size() >= UINT32_MAX) return false;
  const bool one = lengths.size() == 1;
  if (!one) nodes_.push_back({Kind::kArray, 0, 0, 0});
  size_t at = 0;
  for (const size_t n : lengths) {
    if (n > s.size() - at) return false;
    if (!push_message(at, at + n, 0, type)) return false;
    if (!one) ++nodes_[0].a;
    at += n;
  }
  if (at != s.size()) return false;
  if (!one) nodes_[0].b = static_cast<uint32_t>(nodes_.size());
  return true;
}

// The message in [begin, end) onto the tape; false, with the tape as it was, when the bytes are
// not one.
bool Doc::push_message(size_t begin, size_t end, int depth, const MessageType* type) {
  const std::string_view s = src_;
  const size_t base = fields_.size();
  const size_t nodes_at = nodes_.size(), arena_at = arena_.size();
  const auto fail = [&] {
    fields_.resize(base);
    nodes_.resize(nodes_at);
    arena_.resize(arena_at);
    return false;
  };
  for (size_t p = begin; p < end;) {
    uint64_t tag = 0;
    if (!read_varint(s, p, end, tag)) return fail();
    const uint64_t number = tag >> 3;
    Field f{static_cast<uint32_t>(number), static_cast<uint8_t>(tag & 7), 0, 0, 0};
    if (number == 0 || number > 0x1fffffff) return fail();
    switch (f.wire) {
      case 0:
        if (!read_varint(s, p, end, f.value)) return fail();
        break;
      case 1:
      case 5: {
        const size_t n = f.wire == 1 ? 8 : 4;
        if (end - p < n) return fail();
        for (size_t k = n; k-- > 0;) f.value = (f.value << 8) | static_cast<uint8_t>(s[p + k]);
        p += n;
        break;
      }
      case 2: {
        uint64_t length = 0;
        if (!read_varint(s, p, end, length) || length > end - p) return fail();
        f.begin = p;
        f.end = p + length;
        p = f.end;
        break;
      }
      default:  // groups (3, 4), and 6 and 7, which no encoder writes
        return fail();
    }
    fields_.push_back(f);
  }
  std::stable_sort(fields_.begin() + static_cast<ptrdiff_t>(base), fields_.end(),
                   [](const Field& x, const Field& y) { return x.number < y.number; });
  const size_t top = fields_.size();
  const auto object = static_cast<uint32_t>(nodes_.size());
  nodes_.push_back({Kind::kObject, 0, 0, 0});
  for (size_t i = base; i < top;) {
    size_t j = i + 1;
    while (j < top && fields_[j].number == fields_[i].number) ++j;
    const FieldType* named = type ? type->field(fields_[i].number) : nullptr;
    const size_t key_at = arena_.size();
    if (named) {
      arena_ += named->name;
    } else {
      arena_ += std::to_string(fields_[i].number);
    }
    if (!push_arena(Kind::kString, kFieldKey, key_at)) return fail();
    ++nodes_[object].a;
    if (j - i == 1 && !(named && named->repeated)) {
      const Field f = fields_[i];  // (a copy: reading it as a message grows fields_)
      if (!push_field_value(f, depth, named)) return fail();
    } else {
      const auto array = static_cast<uint32_t>(nodes_.size());
      const bool map = named && named->message >= 0 &&
                       schema_->messages()[static_cast<size_t>(named->message)].map_entry;
      nodes_.push_back({Kind::kArray, map ? kAnyOrder : uint8_t{0}, 0, 0});
      for (size_t k = i; k < j; ++k) {
        const Field f = fields_[k];
        uint32_t packed = 0;
        if (named && f.wire == 2 && push_packed(f, *named, packed)) {
          if (packed == UINT32_MAX) return fail();
          nodes_[array].a += packed;
          continue;
        }
        if (!push_field_value(f, depth, named)) return fail();
        ++nodes_[array].a;
      }
      nodes_[array].b = static_cast<uint32_t>(nodes_.size());
    }
    i = j;
  }
  nodes_[object].b = static_cast<uint32_t>(nodes_.size());
  fields_.resize(base);
  return true;
}

bool Doc::push_field_value(const Field& f, int depth, const FieldType* named) {
  using S = traffic::ProtobufSchema;
  if (f.wire != 2) return named ? push_typed_number(f, *named) : push_integer(false, f.value);
  const auto at = static_cast<uint32_t>(f.begin);
  const auto length = static_cast<uint32_t>(f.end - f.begin);
  if (named && named->type == S::kString) {
    nodes_.push_back({Kind::kString, 0, at, length});
    return true;
  }
  if (named && named->type != S::kMessage) {  // bytes, or a number type's packed bytes that
    nodes_.push_back({Kind::kString, kBytes, at, length});  // did not read as numbers
    return true;
  }
  const MessageType* nested = named && named->message >= 0
                                  ? &schema_->messages()[static_cast<size_t>(named->message)]
                                  : nullptr;
  if (!named && traffic::is_printable_utf8(src_.substr(f.begin, length))) {
    nodes_.push_back({Kind::kString, 0, at, length});
    return true;
  }
  if (depth + 1 < kMaxMessageDepth && push_message(f.begin, f.end, depth + 1, nested)) {
    return true;
  }
  nodes_.push_back({Kind::kString, kBytes, at, length});
  return true;
}

// A varint or fixed-width field as the schema's type says; a type the wire does not fit (a
// varint for a double) is read as the unsigned integer it holds, as without the schema.
bool Doc::push_typed_number(const Field& f, const FieldType& named) {
  using S = traffic::ProtobufSchema;
  const uint64_t v = f.value;
  const auto signed_of = [&](uint64_t bits) {
    const auto x = static_cast<int64_t>(bits);
    return x < 0 ? push_integer(true, static_cast<unsigned __int128>(-(x + 1)) + 1)
                 : push_integer(false, static_cast<uint64_t>(x));
  };
  if (f.wire == 0) {
    // 32-bit types read their low 32 bits, as protobuf's parsers do (an int32 -1 is written
    // sign-extended to ten bytes, or by some encoders in five).
    const auto low32 = [](uint64_t x) {
      return static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(x)));
    };
    const uint64_t zigzag = (v >> 1) ^ (~(v & 1) + 1);
    switch (named.type) {
      case S::kInt32:
      case 14:  // enum
        return signed_of(low32(v));
      case S::kInt64:
        return signed_of(v);
      case S::kSint32:
        return signed_of(low32(zigzag));
      case S::kSint64:
        return signed_of(zigzag);
      case S::kUint32:
        return push_integer(false, static_cast<uint32_t>(v));
      case 8:  // bool
        nodes_.push_back({v ? Kind::kTrue : Kind::kFalse, kTyped, 0, 0});
        return true;
      default:
        return push_integer(false, v);
    }
  }
  if (f.wire == 1) {
    if (named.type == S::kDouble) return push_float(std::bit_cast<double>(v));
    if (named.type == S::kSfixed64) return signed_of(v);
    return push_integer(false, v);
  }
  const auto w = static_cast<uint32_t>(v);
  if (named.type == S::kFloat) return push_float(static_cast<double>(std::bit_cast<float>(w)));
  if (named.type == S::kSfixed32) return signed_of(static_cast<uint64_t>(static_cast<int32_t>(w)));
  return push_integer(false, w);
}

// A packed repeated number field's elements, each a value of the array being written; false
// (nothing pushed) when the type is not a number's or the bytes do not split into its elements.
// `count` is UINT32_MAX when the tape could not take them.
bool Doc::push_packed(const Field& f, const FieldType& named, uint32_t& count) {
  using S = traffic::ProtobufSchema;
  uint8_t wire = 0;
  switch (named.type) {
    case S::kDouble:
    case S::kFixed64:
    case S::kSfixed64:
      wire = 1;
      break;
    case S::kFloat:
    case S::kFixed32:
    case S::kSfixed32:
      wire = 5;
      break;
    case S::kInt32:
    case S::kInt64:
    case S::kUint32:
    case S::kUint64:
    case S::kSint32:
    case S::kSint64:
    case 8:   // bool
    case 14:  // enum
      wire = 0;
      break;
    default:
      return false;
  }
  const std::string_view s = src_;
  const size_t width = wire == 1 ? 8 : 4;
  if (wire != 0 && (f.end - f.begin) % width != 0) return false;
  std::vector<uint64_t> values;
  for (size_t p = f.begin; p < f.end;) {
    uint64_t v = 0;
    if (wire == 0) {
      if (!read_varint(s, p, f.end, v)) return false;
    } else {
      for (size_t k = width; k-- > 0;) v = (v << 8) | static_cast<uint8_t>(s[p + k]);
      p += width;
    }
    values.push_back(v);
  }
  count = static_cast<uint32_t>(values.size());
  for (const uint64_t v : values) {
    if (!push_typed_number(Field{f.number, wire, 0, 0, v}, named)) count = UINT32_MAX;
  }
  return true;
}

}  // namespace twin::compare::tape
