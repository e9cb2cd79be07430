#include "msgpack_cbor.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

#include "protobuf.h"

namespace twin::scrubber {
namespace {

constexpr int kMaxDepth = 512;

// A number replacement, read: an integer (sign and magnitude, the magnitude modulo 2^64), or
// a decimal that is not one.
struct Number {
  enum Kind { kBad, kInteger, kDecimal } kind = kBad;
  bool negative = false;
  uint64_t magnitude = 0;
  double decimal = 0;
};

// Whether `s` is a JSON number (RFC 8259's grammar).
bool is_json_number(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size()) return false;
  if (s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

Number read_number(std::string_view s) {
  Number n;
  if (!is_json_number(s)) return n;
  const bool negative = s[0] == '-';
  const std::string_view magnitude = s.substr(negative ? 1 : 0);
  if (magnitude.find_first_not_of("0123456789") == std::string_view::npos) {
    n.kind = Number::kInteger;
    n.negative = negative;
    for (const char c : magnitude) n.magnitude = n.magnitude * 10 + uint64_t(c - '0');  // (wraps)
    return n;
  }
  double d = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
  if (r.ptr != s.data() + s.size() || r.ec != std::errc{} || !std::isfinite(d)) return n;
  n.kind = Number::kDecimal;
  n.decimal = d;
  return n;
}

// An integer replacement as sign and magnitude; a decimal one rounded toward zero (and held to
// 64 bits), so that a number never stays what it was for being spelled another way.
bool as_integer(const Number& n, bool& negative, uint64_t& magnitude) {
  if (n.kind == Number::kInteger) {
    negative = n.negative && n.magnitude != 0;
    magnitude = n.magnitude;
    return true;
  }
  if (n.kind != Number::kDecimal) return false;
  const double t = std::trunc(n.decimal);
  negative = t < 0;
  const double m = std::fabs(t);
  magnitude = m >= 18446744073709551615.0 ? UINT64_MAX : static_cast<uint64_t>(m);
  if (magnitude == 0) negative = false;
  return true;
}

// A replacement as a double (an integer one too); false when it is not a number.
bool as_double(const Number& n, double& d) {
  if (n.kind == Number::kDecimal) {
    d = n.decimal;
  } else if (n.kind == Number::kInteger) {
    d = static_cast<double>(n.magnitude);
    if (n.negative) d = -d;
  } else {
    return false;
  }
  return true;
}

// The shortest decimal that reads back as `d` (finite).
std::string_view decimal_of(double d, bool single, char (&buf)[64]) {
  const auto w = single ? std::to_chars(buf, buf + sizeof(buf), static_cast<float>(d))
                        : std::to_chars(buf, buf + sizeof(buf), d);
  return {buf, size_t(w.ptr - buf)};
}

void put_be(uint64_t v, int bytes, std::string& out) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_be(std::string_view s) {
  uint64_t v = 0;
  for (const char c : s) v = v << 8 | static_cast<uint8_t>(c);
  return v;
}

// The last key of a path ("user" of "a.user[]"): the parent of what is in the map under it.
std::string_view last_segment(std::string_view p) {
  while (p.ends_with("[]")) p.remove_suffix(2);
  const size_t dot = p.rfind('.');
  return dot == std::string_view::npos ? p : p.substr(dot + 1);
}

// What both rewriters share: the input, the output written lazily (unchanged bytes are copied
// when a replacement comes, or at the end), the path, and the visits.
// (Format: the derived class, whose item() reads one item at at_.)
template <typename Format>
class Walker {
 public:
  Walker(std::string_view in, JsonVisitor& v, std::string& out) : in_(in), v_(v), out_(out) {
    out_.clear();
  }

  JsonRewriteResult result;

  // The items of the input one after another, to its end or the first that does not parse.
  // Each top-level item must be a map or an array (a CBOR one may be tagged): text sent under
  // such a media type would otherwise read as one small integer (or short string) a character
  // and hide what it holds from the detectors; read as bytes, it does not. (No ASCII byte
  // starts a map or an array in either format.)
  void run() {
    while (at_ < in_.size()) {
      Format& f = *static_cast<Format*>(this);
      if (!f.container_at(at_) || !f.item(0, {}, nullptr)) return finish(false);
    }
    finish(true);
  }

 protected:
  // Replaces in[start, at_) with `encoded`.
  void replace(size_t start, std::string_view encoded) {
    out_.append(in_.substr(copied_, start - copied_));
    out_ += encoded;
    copied_ = at_;
  }
  void finish(bool valid) {
    result.valid = valid;
    if (!valid) result.error_offset = copied_;
    out_.append(in_.substr(copied_));
  }

  // Visits a string value (or a key): true and `replacement_` filled when it is replaced.
  bool visit_string(JsonToken token, std::string_view value, bool bytes, std::string_view parent) {
    if (token == JsonToken::kKey) {
      if (!v_.wants_key(value, true)) return false;
    }
    ++result.visited;
    replacement_.clear();
    v_.bytes = bytes;
    const bool replaced = v_.visit(token, path_, parent, value, replacement_);
    v_.bytes = false;
    if (replaced) ++result.replaced;
    return replaced;
  }
  // Visits a number spelled `decimal`: true and `number` read from the replacement when it is
  // replaced by a JSON number (one that is not is counted and not used).
  bool visit_number(std::string_view decimal, std::string_view parent, Number& number) {
    ++result.visited;
    replacement_.clear();
    if (!v_.visit(JsonToken::kNumber, path_, parent, decimal, replacement_)) return false;
    number = read_number(replacement_);
    if (number.kind == Number::kBad) {
      ++result.bad_numbers;
      return false;
    }
    ++result.replaced;
    return true;
  }

  // An integer spelled `decimal`: a map key's path segment (an integer key is not visited),
  // or a number visited; true, with the replacement's sign and magnitude, when it is replaced.
  bool integer_replaced(std::string_view decimal, std::string_view parent, std::string* key,
                        bool& negative, uint64_t& magnitude) {
    if (key) {
      key->assign(decimal);
      return false;
    }
    Number n;
    return visit_number(decimal, parent, n) && as_integer(n, negative, magnitude);
  }

  // A float 32 (`single`) or 64 of the bits `bits`, after the type byte `type` at `start`:
  // visited as the shortest decimal that reads back as it (not NaN or an infinity), and
  // written again in its own width.
  void floating(size_t start, char type, bool single, uint64_t bits, std::string_view parent) {
    const double d = single ? double{std::bit_cast<float>(static_cast<uint32_t>(bits))}
                            : std::bit_cast<double>(bits);
    if (!std::isfinite(d)) return;
    char buf[64];
    Number n;
    if (!visit_number(decimal_of(d, single, buf), parent, n)) return;
    double next = 0;
    if (!as_double(n, next)) return;
    encoded_.clear();
    encoded_ += type;
    if (single) {
      put_be(float_bits_of(next), 4, encoded_);
    } else {
      put_be(std::bit_cast<uint64_t>(next), 8, encoded_);
    }
    replace(start, encoded_);
  }

  // A map member's path: the map's path, '.', the key with '.', '[' and '\' escaped by '\'.
  void push_key(std::string_view key) {
    if (!path_.empty()) path_ += '.';
    for (const char c : key) {
      if (c == '.' || c == '[' || c == '\\') path_ += '\\';
      path_ += c;
    }
  }

  std::string_view in_;
  size_t at_ = 0;
  JsonVisitor& v_;
  std::string& out_;
  size_t copied_ = 0;  // in_ is in out_ up to here
  std::string path_;
  std::string replacement_;
  std::string encoded_;
};

// ---- MessagePack ----

class Msgpack : public Walker<Msgpack> {
 public:
  using Walker::Walker;
  friend class Walker<Msgpack>;

 private:
  // fixmap, fixarray, array 16/32, map 16/32
  bool container_at(size_t i) const {
    const auto b = static_cast<uint8_t>(in_[i]);
    return (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf);
  }

  bool take(size_t n, std::string_view& bytes) {
    if (in_.size() - at_ < n) return false;
    bytes = in_.substr(at_, n);
    at_ += n;
    return true;
  }
  bool take_be(size_t n, uint64_t& v) {
    std::string_view b;
    if (!take(n, b)) return false;
    v = get_be(b);
    return true;
  }

  // One object at at_. `key`: when it is a map key, where its path segment goes (it is then
  // visited as a key, not a value).
  bool item(int depth, std::string_view parent, std::string* key) {
    if (depth > kMaxDepth || at_ >= in_.size()) return false;
    const size_t start = at_;
    const auto b = static_cast<uint8_t>(in_[at_++]);
    uint64_t n = 0;
    if (b <= 0x7f) return integer(start, false, b, 0, parent, key);
    if (b >= 0xe0) return integer(start, true, uint64_t(0x100 - b), 0, parent, key);
    if (b <= 0x8f) return map(b & 0x0f, depth, key);
    if (b <= 0x9f) return array(b & 0x0f, depth, parent, key);
    if (b <= 0xbf) return string(start, b & 0x1f, 0, false, parent, key);
    switch (b) {
      case 0xc0:  // nil
      case 0xc2:  // false
      case 0xc3:  // true
        if (key) *key = "?";
        return true;
      case 0xc4:
      case 0xc5:
      case 0xc6: {
        const int width = 1 << (b - 0xc4);
        return take_be(size_t(width), n) && string(start, n, width, true, parent, key);
      }
      case 0xc7:
      case 0xc8:
      case 0xc9: {  // ext 8/16/32: length, type, data
        std::string_view skip;
        if (key) *key = "?";
        return take_be(size_t(1) << (b - 0xc7), n) && n < in_.size() && take(n + 1, skip);
      }
      case 0xca:
      case 0xcb: {
        if (!take_be(b == 0xca ? 4 : 8, n)) return false;
        if (key) {
          *key = "?";
        } else {
          floating(start, static_cast<char>(b), b == 0xca, n, parent);
        }
        return true;
      }
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf: {
        const int width = 1 << (b - 0xcc);
        return take_be(size_t(width), n) && integer(start, false, n, width, parent, key);
      }
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3: {
        const int width = 1 << (b - 0xd0);
        if (!take_be(size_t(width), n)) return false;
        // sign-extend, then sign and magnitude
        const int shift = 64 - 8 * width;
        const int64_t v = static_cast<int64_t>(n << shift) >> shift;
        const uint64_t magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
        return integer(start, v < 0, magnitude, -width, parent, key);
      }
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8: {  // fixext 1/2/4/8/16: type, data
        std::string_view skip;
        if (key) *key = "?";
        return take((size_t(1) << (b - 0xd4)) + 1, skip);
      }
      case 0xd9:
      case 0xda:
      case 0xdb: {
        const int width = 1 << (b - 0xd9);
        return take_be(size_t(width), n) && string(start, n, width, false, parent, key);
      }
      case 0xdc:
      case 0xdd:
        return take_be(b == 0xdc ? 2 : 4, n) && array(n, depth, parent, key);
      case 0xde:
      case 0xdf:
        return take_be(b == 0xde ? 2 : 4, n) && map(n, depth, key);
      default:  // 0xc1: never used
        return false;
    }
  }

  bool array(uint64_t n, int depth, std::string_view parent, std::string* key) {
    if (key) *key = "?";
    if (n > in_.size() - at_) return false;  // each item takes a byte at least
    const size_t mark = path_.size();
    path_ += "[]";
    for (uint64_t i = 0; i < n; ++i) {
      if (!item(depth + 1, parent, nullptr)) return false;
    }
    path_.resize(mark);
    return true;
  }

  // The members' keys and values have the key the map is under as their parent (as in JSON:
  // "x" of {"user":{"name":"x"}} has the path user.name and the parent user).
  bool map(uint64_t n, int depth, std::string* as_key) {
    if (as_key) *as_key = "?";
    if (n > (in_.size() - at_) / 2) return false;
    const size_t mark = path_.size();
    const std::string outer(last_segment(path_));
    std::string key;
    for (uint64_t i = 0; i < n; ++i) {
      key.clear();
      if (!item(depth + 1, outer, &key)) return false;
      push_key(key);
      if (!item(depth + 1, outer, nullptr)) return false;
      path_.resize(mark);
    }
    return true;
  }

  // A string of `length` bytes after a header of `width` bytes of length (0: fixstr).
  bool string(size_t start, uint64_t length, int width, bool bin, std::string_view parent,
              std::string* key) {
    std::string_view value;
    if (!take(length, value)) return false;
    const bool is_key = key != nullptr && !bin;
    if (key) key->assign(bin ? std::string_view("?") : value);
    if (!visit_string(is_key ? JsonToken::kKey : JsonToken::kString, value, bin, parent)) {
      return true;
    }
    encoded_.clear();
    const uint64_t m = replacement_.size();
    if (bin) {
      int w = std::max(width, m <= 0xff ? 1 : m <= 0xffff ? 2 : 4);
      if (m > 0xffffffffu) return true;  // (cannot be written: kept)
      encoded_ += static_cast<char>(w == 1 ? 0xc4 : w == 2 ? 0xc5 : 0xc6);
      put_be(m, w, encoded_);
    } else {
      // fixstr stays fixstr when it fits; else str8 (when the original was no wider), 16, 32
      if (width == 0 && m <= 31) {
        encoded_ += static_cast<char>(0xa0 | m);
      } else {
        const int w = std::max(width, m <= 0xff ? 1 : m <= 0xffff ? 2 : 4);
        if (m > 0xffffffffu) return true;
        encoded_ += static_cast<char>(w == 1 ? 0xd9 : w == 2 ? 0xda : 0xdb);
        put_be(m, w, encoded_);
      }
    }
    encoded_ += replacement_;
    replace(start, encoded_);
    return true;
  }

  // An integer: sign and magnitude, its format's width in bytes (0: a fixint; negative: a
  // signed intN of that many bytes; positive: a uintN).
  bool integer(size_t start, bool negative, uint64_t magnitude, int width, std::string_view parent,
               std::string* key) {
    char digits[24];
    char* p = digits;
    if (negative) *p++ = '-';
    p = std::to_chars(p, digits + sizeof(digits), magnitude).ptr;
    bool neg = false;
    uint64_t m = 0;
    if (!integer_replaced(std::string_view(digits, size_t(p - digits)), parent, key, neg, m)) {
      return true;
    }
    encoded_.clear();
    encode_integer(neg, m, width, encoded_);
    replace(start, encoded_);
    return true;
  }

  // In the original format when the value fits it, else the smallest of its kind that holds
  // it (a negative one signed; a magnitude past int64's taken modulo 2^64).
  static void encode_integer(bool negative, uint64_t m, int width, std::string& out) {
    if (!negative) {
      if (width == 0 && m <= 0x7f) return void(out += static_cast<char>(m));
      if (width < 0 && m <= uint64_t(INT64_MAX)) {  // a signed format stays signed
        int w = -width;
        while (w < 8 && m > (uint64_t{1} << (8 * w - 1)) - 1) w *= 2;
        out += static_cast<char>(0xd0 + std::countr_zero(unsigned(w)));
        put_be(m, w, out);
        return;
      }
      int w = width > 0 ? width : 1;
      while (w < 8 && m > (uint64_t{1} << (8 * w)) - 1) w *= 2;
      out += static_cast<char>(0xcc + std::countr_zero(unsigned(w)));
      put_be(m, w, out);
      return;
    }
    if (width == 0 && m <= 32) return void(out += static_cast<char>((0 - m) & 0xff));
    int w = width < 0 ? -width : width > 0 ? width : 1;
    while (w < 8 && m > (uint64_t{1} << (8 * w - 1))) w *= 2;
    out += static_cast<char>(0xd0 + std::countr_zero(unsigned(w)));
    put_be(0 - m, w, out);
  }
};

// ---- CBOR ----

class Cbor : public Walker<Cbor> {
 public:
  using Walker::Walker;
  friend class Walker<Cbor>;

 private:
  // major type 4 or 5, after any tags
  bool container_at(size_t i) const {
    while (i < in_.size()) {
      const auto b = static_cast<uint8_t>(in_[i]);
      const uint8_t major = b >> 5, info = b & 31;
      if (major == 4 || major == 5) return true;
      if (major != 6 || info > 27) return false;
      i += 1 + (info < 24 ? 0 : size_t{1} << (info - 24));
    }
    return false;
  }

  static constexpr uint8_t kBreak = 0xff;

  // The head at at_: major type, additional information, argument, and the argument's width
  // in bytes (0: in the initial byte; -1: indefinite length).
  struct Head {
    uint8_t major = 0;
    uint8_t info = 0;
    uint64_t value = 0;
    int width = 0;
  };
  bool head(Head& h) {
    if (at_ >= in_.size()) return false;
    const auto b = static_cast<uint8_t>(in_[at_++]);
    h.major = b >> 5;
    h.info = b & 31;
    if (h.info < 24) {
      h.value = h.info;
      h.width = 0;
      return true;
    }
    if (h.info == 31) {
      h.width = -1;
      return h.major >= 2 && h.major != 6;  // strings, arrays, maps; 7: the break
    }
    if (h.info > 27) return false;
    h.width = 1 << (h.info - 24);
    if (in_.size() - at_ < size_t(h.width)) return false;
    h.value = get_be(in_.substr(at_, size_t(h.width)));
    at_ += size_t(h.width);
    return true;
  }

  // The head of `major` with `value`, at least `width` bytes wide (0: the initial byte).
  static void put_head(uint8_t major, uint64_t value, int width, std::string& out) {
    int w = width < 0 ? 0 : width;
    if (w == 0 && value >= 24) w = 1;
    while (w > 0 && w < 8 && value >= (uint64_t{1} << (8 * w))) w *= 2;
    if (w == 0) {
      out += static_cast<char>(major << 5 | value);
      return;
    }
    out += static_cast<char>(major << 5 | (24 + std::countr_zero(unsigned(w))));
    put_be(value, w, out);
  }

  bool at_break() const { return at_ < in_.size() && static_cast<uint8_t>(in_[at_]) == kBreak; }

  bool item(int depth, std::string_view parent, std::string* key) {
    if (depth > kMaxDepth) return false;
    const size_t start = at_;
    Head h;
    if (!head(h)) return false;
    switch (h.major) {
      case 0:
      case 1:
        return integer(start, h, parent, key);
      case 2:
      case 3: {
        if (h.width >= 0) return string(start, h, parent, key);
        // indefinite: definite chunks of the same major type until the break, each visited
        // on its own (as a key's part when the string is a map key: its path segment is the
        // chunks joined)
        if (key) key->clear();
        std::string part;
        while (!at_break()) {
          const size_t chunk = at_;
          Head c;
          if (!head(c) || c.major != h.major || c.width < 0) return false;
          if (!string(chunk, c, parent, key ? &part : nullptr)) return false;
          if (key) *key += part;
        }
        if (key && h.major == 2) *key = "?";
        ++at_;
        return true;
      }
      case 4: {
        if (key) *key = "?";
        const size_t mark = path_.size();
        path_ += "[]";
        if (h.width >= 0) {
          if (h.value > in_.size() - at_) return false;
          for (uint64_t i = 0; i < h.value; ++i) {
            if (!item(depth + 1, parent, nullptr)) return false;
          }
        } else {
          while (!at_break()) {
            if (!item(depth + 1, parent, nullptr)) return false;
          }
          ++at_;
        }
        path_.resize(mark);
        return true;
      }
      case 5: {
        if (key) *key = "?";
        if (h.width >= 0 && h.value > (in_.size() - at_) / 2) return false;
        const size_t mark = path_.size();
        const std::string outer(last_segment(path_));
        std::string k;
        for (uint64_t i = 0; h.width >= 0 ? i < h.value : !at_break(); ++i) {
          k.clear();
          if (!item(depth + 1, outer, &k)) return false;
          push_key(k);
          if (!item(depth + 1, outer, nullptr)) return false;
          path_.resize(mark);
        }
        if (h.width < 0) ++at_;
        return true;
      }
      case 6:  // a tag: the item it tags, under the same path
        return item(depth + 1, parent, key);
      default:                          // 7: simple values and floats
        if (h.width < 0) return false;  // a break where no item ends
        if (key) {
          *key = "?";
          return true;
        }
        if (h.info == 26 || h.info == 27) {
          floating(start, static_cast<char>(0xe0 | h.info), h.info == 26, h.value, parent);
        }
        return true;  // false, true, null, undefined, other simple values, half floats
    }
  }

  bool string(size_t start, const Head& h, std::string_view parent, std::string* key) {
    if (h.value > in_.size() - at_) return false;
    const std::string_view value = in_.substr(at_, size_t(h.value));
    at_ += size_t(h.value);
    const bool bytes = h.major == 2;
    const bool is_key = key != nullptr && !bytes;
    if (key) key->assign(bytes ? std::string_view("?") : value);
    if (!visit_string(is_key ? JsonToken::kKey : JsonToken::kString, value, bytes, parent)) {
      return true;
    }
    encoded_.clear();
    put_head(h.major, replacement_.size(), h.width, encoded_);
    encoded_ += replacement_;
    replace(start, encoded_);
    return true;
  }

  bool integer(size_t start, const Head& h, std::string_view parent, std::string* key) {
    // major 1 holds -1 - value: its magnitude is value + 1, which may need 65 bits
    char digits[32];
    char* p = digits;
    if (h.major == 1) {
      *p++ = '-';
      const unsigned __int128 magnitude = static_cast<unsigned __int128>(h.value) + 1;
      if (magnitude > UINT64_MAX) {
        constexpr std::string_view kTwoTo64 = "18446744073709551616";
        p = std::copy(kTwoTo64.begin(), kTwoTo64.end(), p);
      } else {
        p = std::to_chars(p, digits + sizeof(digits), static_cast<uint64_t>(magnitude)).ptr;
      }
    } else {
      p = std::to_chars(p, digits + sizeof(digits), h.value).ptr;
    }
    bool negative = false;
    uint64_t m = 0;
    if (!integer_replaced(std::string_view(digits, size_t(p - digits)), parent, key, negative, m)) {
      return true;
    }
    encoded_.clear();
    if (negative) {
      put_head(1, m - 1, h.width, encoded_);
    } else {
      put_head(0, m, h.width, encoded_);
    }
    replace(start, encoded_);
    return true;
  }
};

}  // namespace

JsonRewriteResult rewrite_msgpack(std::string_view in, JsonVisitor& visitor, std::string& out) {
  Msgpack m(in, visitor, out);
  m.run();
  return m.result;
}

JsonRewriteResult rewrite_cbor(std::string_view in, JsonVisitor& visitor, std::string& out) {
  Cbor c(in, visitor, out);
  c.run();
  return c.result;
}

}  // namespace twin::scrubber
