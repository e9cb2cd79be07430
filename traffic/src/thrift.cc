#include "twin/traffic/thrift.h"

#include <optional>

namespace twin::traffic {
namespace {

using T = ThriftType;

std::optional<T> binary_type(uint8_t b) {
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
      return std::nullopt;
  }
}

// The compact protocol's element types (a field's bool is 1 or 2 in its header instead).
std::optional<T> compact_type(uint8_t b) {
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
      return std::nullopt;
  }
}

class Walker {
 public:
  Walker(std::string_view in, bool compact, ThriftHandler* h) : in_(in), compact_(compact), h_(h) {}
  size_t values = 0;

  bool read(ThriftReading r) {
    at_ = 0;
    values = 0;
    if (r == ThriftReading::kList && compact_) return false;
    if (r == ThriftReading::kMessage && !message_header()) return false;
    if (r == ThriftReading::kOldMessage && (compact_ || !old_message_header())) return false;
    return value(r == ThriftReading::kList ? T::kList : T::kStruct, 0) && at_ == in_.size();
  }

 private:
  bool byte(uint8_t& b) {
    if (at_ >= in_.size()) return false;
    b = static_cast<uint8_t>(in_[at_++]);
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
    if (in_.size() - at_ < 2) return false;
    const auto b0 = static_cast<uint8_t>(in_[at_]);
    const auto b1 = static_cast<uint8_t>(in_[at_ + 1]);
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
    ++values;
    const size_t start = at_;
    uint64_t v = 0;
    switch (t) {
      case T::kBool: {
        uint8_t b = 0;
        if (!byte(b)) return false;
        // (as libthrift reads them: binary, any byte but 0 is true; compact, only 1)
        if (h_) h_->boolean(compact_ ? b == 1 : b != 0);
        return true;
      }
      case T::kI8:
      case T::kI16:
      case T::kI32:
      case T::kI64: {
        static constexpr int kWidth[] = {0, 1, 2, 4, 8};
        const int width = kWidth[static_cast<int>(t)];
        int64_t n = 0;
        if (compact_ && t != T::kI8) {
          if (!varint(v)) return false;
          n = unzigzag(v);
        } else {
          if (!be(width, v)) return false;
          switch (width) {
            case 1:
              n = static_cast<int8_t>(static_cast<uint8_t>(v));
              break;
            case 2:
              n = static_cast<int16_t>(static_cast<uint16_t>(v));
              break;
            case 4:
              n = static_cast<int32_t>(static_cast<uint32_t>(v));
              break;
            default:
              n = static_cast<int64_t>(v);
          }
        }
        if (h_) h_->integer(t, n, start, at_);
        return true;
      }
      case T::kDouble: {
        if (in_.size() - at_ < 8) return false;
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) {
          const auto b = static_cast<uint64_t>(static_cast<uint8_t>(in_[at_ + size_t(i)]));
          bits |= compact_ ? b << (8 * i) : b << (8 * (7 - i));  // compact: little-endian
        }
        at_ += 8;
        if (h_) h_->floating(bits, start, at_);
        return true;
      }
      case T::kString: {
        uint64_t n = 0;
        if (!length(n) || in_.size() - at_ < n) return false;
        const std::string_view s = in_.substr(at_, size_t(n));
        at_ += size_t(n);
        if (h_) h_->string(s, start, at_);
        return true;
      }
      case T::kUuid:
        if (!skip(16)) return false;
        if (h_) h_->uuid(in_.substr(start, 16));
        return true;
      case T::kStruct:
        return structure(depth);
      case T::kList:
      case T::kSet:
        return list(depth, t == T::kSet);
      case T::kMap:
        return map(depth);
    }
    return false;
  }

  bool structure(int depth) {
    if (h_) h_->begin_struct();
    int64_t last = 0;
    for (;;) {
      uint8_t b = 0;
      if (!byte(b)) return false;
      if (b == 0) break;  // stop
      std::optional<T> t;
      int64_t id = 0;
      bool header_bool = false;
      if (compact_) {
        const uint8_t type = b & 0x0f;
        const uint8_t delta = b >> 4;
        header_bool = type == 1 || type == 2;
        t = compact_type(type);
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
      if (!t) return false;
      last = id;
      if (h_) h_->field(static_cast<int16_t>(id));
      if (header_bool) {
        ++values;
        if (h_) h_->boolean(type_true(b));
      } else if (!value(*t, depth + 1)) {
        return false;
      }
      if (h_) h_->end_field();
    }
    if (h_) h_->end_struct();
    return true;
  }
  // A compact field header's bool: type 1 is true, 2 false.
  static bool type_true(uint8_t header) { return (header & 0x0f) == 1; }

  bool list(int depth, bool set) {
    uint8_t b = 0;
    uint64_t n = 0;
    std::optional<T> t;
    if (compact_) {
      if (!byte(b)) return false;
      t = compact_type(b & 0x0f);
      n = b >> 4;
      if (n == 15 && (!varint(n) || n > uint64_t(INT32_MAX))) return false;
    } else {
      if (!byte(b) || !be(4, n) || n > uint64_t(INT32_MAX)) return false;
      t = binary_type(b);
    }
    if (!t || n > in_.size() - at_) return false;  // (each element a byte at least)
    if (h_) h_->begin_list(*t, static_cast<uint32_t>(n), set);
    for (uint64_t i = 0; i < n; ++i) {
      if (!value(*t, depth + 1)) return false;
    }
    if (h_) h_->end_list();
    return true;
  }

  bool map(int depth) {
    uint64_t n = 0;
    std::optional<T> k, v;
    if (compact_) {
      if (!varint(n) || n > uint64_t(INT32_MAX)) return false;
      if (n != 0) {
        uint8_t b = 0;
        if (!byte(b)) return false;
        k = compact_type(b >> 4);
        v = compact_type(b & 0x0f);
      } else {
        k = v = T::kBool;  // (an empty map names no types)
      }
    } else {
      uint8_t kb = 0, vb = 0;
      if (!byte(kb) || !byte(vb) || !be(4, n) || n > uint64_t(INT32_MAX)) return false;
      k = binary_type(kb);
      v = binary_type(vb);
    }
    if (!k || !v || n > (in_.size() - at_) / 2) return false;
    if (h_) h_->begin_map(*k, *v, static_cast<uint32_t>(n));
    for (uint64_t i = 0; i < n; ++i) {
      if (h_) h_->map_entry(true);
      if (!value(*k, depth + 1)) return false;
      if (h_) h_->map_entry(false);
      if (!value(*v, depth + 1)) return false;
    }
    if (h_) h_->end_map();
    return true;
  }

  std::string_view in_;
  size_t at_ = 0;
  bool compact_;
  ThriftHandler* h_;  // nullptr: a dry walk
};

}  // namespace

ThriftWalk walk_thrift(std::string_view in, ThriftProtocol protocol, ThriftHandler& handler,
                       ThriftReading only) {
  const bool compact = protocol == ThriftProtocol::kCompact;
  Walker dry(in, compact, nullptr);
  for (const ThriftReading r : {ThriftReading::kMessage, ThriftReading::kStruct,
                                ThriftReading::kList, ThriftReading::kOldMessage}) {
    if (only != ThriftReading::kAny && r != only) continue;
    if (!dry.read(r)) continue;
    Walker real(in, compact, &handler);
    real.read(r);
    return {r, real.values};
  }
  return {};
}

}  // namespace twin::traffic
