#include "thrift.h"

#include <bit>
#include <charconv>
#include <cmath>

namespace twin::scrubber {
namespace {

// The types, whatever each protocol calls them.
enum class T : uint8_t {
  kBool,
  kI8,
  kI16,
  kI32,
  kI64,
  kDouble,
  kString,
  kStruct,
  kMap,
  kSet,
  kList,
  kUuid,
  kBad
};

T binary_type(uint8_t b) {
  switch (b) {
    case 2:
      return T::kBool;
    case 3:
      return T::kI8;
    case 4:
      return T::kDouble;
    case 6:
      return T::kI16;
    case 8:
      return T::kI32;
    case 10:
      return T::kI64;
    case 11:
      return T::kString;
    case 12:
      return T::kStruct;
    case 13:
      return T::kMap;
    case 14:
      return T::kSet;
    case 15:
      return T::kList;
    case 16:
      return T::kUuid;
    default:
      return T::kBad;
  }
}

// The compact protocol's element types (a field's bool is 1 or 2 in its header instead).
T compact_type(uint8_t b) {
  switch (b) {
    case 1:
    case 2:
      return T::kBool;
    case 3:
      return T::kI8;
    case 4:
      return T::kI16;
    case 5:
      return T::kI32;
    case 6:
      return T::kI64;
    case 7:
      return T::kDouble;
    case 8:
      return T::kString;
    case 9:
      return T::kList;
    case 10:
      return T::kSet;
    case 11:
      return T::kMap;
    case 12:
      return T::kStruct;
    case 13:
      return T::kUuid;
    default:
      return T::kBad;
  }
}

class Rewriter {
 public:
  Rewriter(std::string_view in, bool compact, ProtobufVisitor* v, std::string* out)
      : in_(in), compact_(compact), v_(v), out_(out) {}
  ThriftRewriteResult result;

  // The first reading that parses the whole input (a dry run: nothing is visited), of
  // `only` or of all.
  ThriftReading find_reading(ThriftReading only) {
    for (const ThriftReading r : {ThriftReading::kMessage, ThriftReading::kStruct,
                                  ThriftReading::kList, ThriftReading::kOldMessage}) {
      if (only != ThriftReading::kAny && r != only) continue;
      at_ = 0;
      path_.clear();
      result = {};
      if (read(r)) return r;
    }
    return ThriftReading::kAny;
  }

  bool read(ThriftReading r) {
    // (a compact list's header reads as a struct's field header as often as not: a bare list
    // is read in the binary protocol only, where Zipkin v1 sends one)
    if (r == ThriftReading::kList && compact_) return false;
    if (r == ThriftReading::kMessage && !message_header()) return false;
    if (r == ThriftReading::kOldMessage && (compact_ || !old_message_header())) return false;
    if (!value(r == ThriftReading::kList ? T::kList : T::kStruct, 0) || at_ != in_.size()) {
      return false;
    }
    if (out_) out_->append(in_.substr(copied_));
    result.valid = true;
    result.reading = r;
    return true;
  }

 private:
  bool peek(uint8_t& b) const {
    if (at_ >= in_.size()) return false;
    b = static_cast<uint8_t>(in_[at_]);
    return true;
  }
  bool byte(uint8_t& b) {
    if (!peek(b)) return false;
    ++at_;
    return true;
  }
  bool be(int n, uint64_t& v) {
    if (in_.size() - at_ < size_t(n)) return false;
    v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | static_cast<uint8_t>(in_[at_++]);
    return true;
  }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (!byte(b)) return false;
      if (shift == 63 && b > 1) return false;
      v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  static int64_t unzigzag(uint64_t z) {
    return static_cast<int64_t>(z >> 1) ^ -static_cast<int64_t>(z & 1);
  }
  static uint64_t zigzag(int64_t n) {
    return (static_cast<uint64_t>(n) << 1) ^ static_cast<uint64_t>(n >> 63);
  }
  static void put_varint(uint64_t v, std::string& out) {
    while (v >= 0x80) {
      out += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out += static_cast<char>(v);
  }
  static void put_be(uint64_t v, int n, std::string& out) {
    for (int i = n - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  bool length(uint64_t& n) {
    if (compact_) return varint(n) && n <= uint64_t(INT32_MAX);
    return be(4, n) && n <= uint64_t(INT32_MAX);
  }
  bool skip(uint64_t n) {
    if (in_.size() - at_ < n) return false;
    at_ += size_t(n);
    return true;
  }

  // Binary strict: 0x80 0x01, a zero byte, the type (1 to 4); the name; the sequence id.
  // Compact: 0x82, the type and version 1, the sequence id (varint), the name.
  bool message_header() {
    uint8_t b0 = 0, b1 = 0;
    if (in_.size() - at_ < 2) return false;
    b0 = static_cast<uint8_t>(in_[at_]);
    b1 = static_cast<uint8_t>(in_[at_ + 1]);
    uint64_t n = 0;
    if (compact_) {
      if (b0 != 0x82 || (b1 & 0x1f) != 1 || (b1 >> 5) < 1 || (b1 >> 5) > 4) return false;
      at_ += 2;
      return varint(n) && length(n) && skip(n);
    }
    if (b0 != 0x80 || b1 != 0x01) return false;
    uint64_t head = 0;
    if (!be(4, head) || ((head >> 8) & 0xff) != 0 || (head & 0xff) < 1 || (head & 0xff) > 4) {
      return false;
    }
    return length(n) && skip(n) && skip(4);
  }
  // The binary protocol's old form: the name, the type byte, the sequence id.
  bool old_message_header() {
    uint64_t n = 0;
    uint8_t type = 0;
    return length(n) && skip(n) && byte(type) && type >= 1 && type <= 4 && skip(4);
  }

  bool value(T t, int depth) {
    if (depth > kThriftMaxDepth) return false;
    ++result.fields;
    const size_t start = at_;
    uint64_t v = 0;
    switch (t) {
      case T::kBool:
      case T::kI8:
        return skip(1);
      case T::kI16:
        return compact_ ? varint(v) : skip(2);
      case T::kI32:
      case T::kI64: {
        const int width = t == T::kI32 ? 4 : 8;
        int64_t n = 0;
        if (compact_) {
          if (!varint(v)) return false;
          n = unzigzag(v);
        } else {
          if (!be(width, v)) return false;
          n = width == 4 ? int64_t{static_cast<int32_t>(static_cast<uint32_t>(v))}
                         : static_cast<int64_t>(v);
        }
        return integer(start, n, width);
      }
      case T::kDouble: {
        if (in_.size() - at_ < 8) return false;
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) {
          const auto b = static_cast<uint64_t>(static_cast<uint8_t>(in_[at_ + size_t(i)]));
          bits |= compact_ ? b << (8 * i) : b << (8 * (7 - i));  // compact: little-endian
        }
        at_ += 8;
        return floating(start, bits);
      }
      case T::kString: {
        uint64_t n = 0;
        if (!length(n) || in_.size() - at_ < n) return false;
        const std::string_view s = in_.substr(at_, size_t(n));
        at_ += size_t(n);
        return string(start, s);
      }
      case T::kUuid:
        return skip(16);
      case T::kStruct:
        return structure(depth);
      case T::kList:
      case T::kSet:
        return list(depth);
      case T::kMap:
        return map(depth);
      case T::kBad:
        return false;
    }
    return false;
  }

  bool structure(int depth) {
    int64_t last = 0;
    for (;;) {
      uint8_t b = 0;
      if (!byte(b)) return false;
      if (b == 0) return true;  // stop
      T t = T::kBad;
      int64_t id = 0;
      bool header_bool = false;
      if (compact_) {
        const uint8_t type = b & 0x0f;
        const uint8_t delta = b >> 4;
        if (type == 1 || type == 2) {
          header_bool = true;
          t = T::kBool;
        } else {
          t = compact_type(type);
        }
        if (delta == 0) {
          uint64_t z = 0;
          if (!varint(z)) return false;
          id = unzigzag(z);
          if (id < INT16_MIN || id > INT16_MAX) return false;
        } else {
          id = last + delta;
        }
      } else {
        t = binary_type(b);
        uint64_t raw = 0;
        if (!be(2, raw)) return false;
        id = static_cast<int16_t>(static_cast<uint16_t>(raw));
      }
      if (t == T::kBad) return false;
      last = id;
      const size_t mark = path_.size();
      if (!path_.empty()) path_ += '.';
      char digits[8];
      path_.append(digits, std::to_chars(digits, digits + sizeof(digits), id).ptr);
      const bool ok = header_bool ? (++result.fields, true) : value(t, depth + 1);
      path_.resize(mark);
      if (!ok) return false;
    }
  }

  bool list(int depth) {
    uint8_t b = 0;
    uint64_t n = 0;
    T t = T::kBad;
    if (compact_) {
      if (!byte(b)) return false;
      t = compact_type(b & 0x0f);
      n = b >> 4;
      if (n == 15 && (!varint(n) || n > uint64_t(INT32_MAX))) return false;
    } else {
      if (!byte(b) || !be(4, n) || n > uint64_t(INT32_MAX)) return false;
      t = binary_type(b);
    }
    if (t == T::kBad || n > in_.size() - at_) return false;  // (each element a byte at least)
    const size_t mark = path_.size();
    path_ += "[]";
    for (uint64_t i = 0; i < n; ++i) {
      if (!value(t, depth + 1)) return false;
    }
    path_.resize(mark);
    return true;
  }

  bool map(int depth) {
    uint64_t n = 0;
    T k = T::kBad, v = T::kBad;
    if (compact_) {
      if (!varint(n) || n > uint64_t(INT32_MAX)) return false;
      if (n == 0) return true;
      uint8_t b = 0;
      if (!byte(b)) return false;
      k = compact_type(b >> 4);
      v = compact_type(b & 0x0f);
    } else {
      uint8_t kb = 0, vb = 0;
      if (!byte(kb) || !byte(vb) || !be(4, n) || n > uint64_t(INT32_MAX)) return false;
      k = binary_type(kb);
      v = binary_type(vb);
    }
    if (k == T::kBad || v == T::kBad || n > (in_.size() - at_) / 2) return false;
    const size_t mark = path_.size();
    for (uint64_t i = 0; i < n; ++i) {
      path_ += "[].1";
      if (!value(k, depth + 1)) return false;
      path_.resize(mark);
      path_ += "[].2";
      if (!value(v, depth + 1)) return false;
      path_.resize(mark);
    }
    return true;
  }

  // Replaces in_[start, at_) with `encoded`.
  void replace(size_t start, std::string_view encoded) {
    out_->append(in_.substr(copied_, start - copied_));
    *out_ += encoded;
    copied_ = at_;
    ++result.replaced;
  }

  bool string(size_t start, std::string_view s) {
    if (v_ == nullptr) return true;
    replacement_.clear();
    if (is_field_text(s)) {
      if (!v_->text(path_, s, replacement_) || replacement_.size() > size_t(INT32_MAX)) {
        return true;
      }
    } else if (!v_->bytes(path_, s, replacement_) || replacement_.size() != s.size()) {
      return true;
    }
    encoded_.clear();
    if (compact_) {
      put_varint(replacement_.size(), encoded_);
    } else {
      put_be(replacement_.size(), 4, encoded_);
    }
    encoded_ += replacement_;
    replace(start, encoded_);
    return true;
  }

  bool integer(size_t start, int64_t n, int width) {
    if (v_ == nullptr) return true;
    char digits[24];
    const auto w = std::to_chars(digits, digits + sizeof(digits), n);
    replacement_.clear();
    uint64_t bits = 0;
    if (!v_->number(path_, std::string_view(digits, size_t(w.ptr - digits)), replacement_) ||
        !integer_replacement(replacement_, bits)) {
      return true;
    }
    // cut to the type's width, as the type's value
    const int64_t next = width == 4 ? int64_t{static_cast<int32_t>(static_cast<uint32_t>(bits))}
                                    : static_cast<int64_t>(bits);
    encoded_.clear();
    if (compact_) {
      put_varint(zigzag(next), encoded_);
    } else {
      put_be(static_cast<uint64_t>(next), width, encoded_);
    }
    replace(start, encoded_);
    return true;
  }

  bool floating(size_t start, uint64_t bits) {
    if (v_ == nullptr) return true;
    const double d = std::bit_cast<double>(bits);
    if (!std::isfinite(d)) return true;
    char digits[64];
    const auto w = std::to_chars(digits, digits + sizeof(digits), d);
    replacement_.clear();
    double next = 0;
    if (!v_->number(path_, std::string_view(digits, size_t(w.ptr - digits)), replacement_) ||
        !decimal_replacement(replacement_, next)) {
      return true;
    }
    const uint64_t out = std::bit_cast<uint64_t>(next);
    encoded_.clear();
    for (int i = 0; i < 8; ++i) {
      encoded_ += static_cast<char>((out >> (8 * (compact_ ? i : 7 - i))) & 0xff);
    }
    replace(start, encoded_);
    return true;
  }

  std::string_view in_;
  size_t at_ = 0;
  bool compact_;
  ProtobufVisitor* v_;  // nullptr: a dry run, which only reads
  std::string* out_;
  size_t copied_ = 0;
  std::string path_;
  std::string replacement_;
  std::string encoded_;
};

}  // namespace

ThriftRewriteResult rewrite_thrift(std::string_view in, ThriftProtocol protocol,
                                   ProtobufVisitor& visitor, std::string& out, ThriftReading only) {
  out.clear();
  const bool compact = protocol == ThriftProtocol::kCompact;
  // A dry run first finds which reading parses whole (a message, a struct, a list), so that
  // nothing is visited for a reading that fails further on; then the same reading visits.
  Rewriter dry(in, compact, nullptr, nullptr);
  const ThriftReading reading = dry.find_reading(only);
  if (reading == ThriftReading::kAny) return {};
  Rewriter real(in, compact, &visitor, &out);
  real.read(reading);
  return real.result;
}

}  // namespace twin::scrubber
