#include "protobuf.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <tuple>

namespace twin::scrubber {
namespace {

using traffic::next_field;
using traffic::put_varint;
using traffic::read_varint;
using Field = traffic::WireField;

struct Probe {
  bool valid = false;
  bool length_delimited = false;  // has a length-delimited field of its own
};

Probe probe(std::string_view in) {
  Probe p;
  size_t at = 0;
  Field f;
  while (at < in.size()) {
    if (!next_field(in, at, f)) return p;
    p.length_delimited |= f.wire == 2;
  }
  p.valid = true;
  return p;
}

class Rewriter {
 public:
  Rewriter(ProtobufVisitor& v, const ProtobufSchema* schema) : v_(v), schema_(schema) {}
  size_t fields = 0;
  size_t replaced = 0;

  // Appends the rewrite of the message `in` (which parses) to `out`; true when a field of it
  // (at any depth) was replaced. `type`: what the schema says it is, or nullptr.
  bool message(std::string_view in, int depth, std::string& out,
               const ProtobufSchema::MessageType* type) {
    size_t at = 0;
    size_t copied = 0;  // `in` is copied up to here
    bool changed = false;
    Field f;
    std::string replacement;
    while (at < in.size() && next_field(in, at, f)) {
      ++fields;
      if (f.wire != 2) {
        const ProtobufSchema::FieldType* named = type ? type->field(f.number) : nullptr;
        if (named && integer(in, f, *named, replacement)) {
          out.append(in.substr(copied, f.length_at - copied));  // up to and with the tag
          out += replacement;
          copied = f.end;
          changed = true;
        }
        continue;
      }
      if (f.value_at == f.end) continue;
      const ProtobufSchema::FieldType* named = type ? type->field(f.number) : nullptr;
      if (named && named->type != ProtobufSchema::kString &&
          named->type != ProtobufSchema::kMessage && named->type != ProtobufSchema::kBytes) {
        // packed numbers: integers one by one, the rest (bool, enum, floating point) as they are
        replacement.clear();
        if (packed(in.substr(f.value_at, f.end - f.value_at), *named, replacement)) {
          out.append(in.substr(copied, f.length_at - copied));
          put_varint(replacement.size(), out);
          out += replacement;
          copied = f.end;
          changed = true;
        }
        continue;
      }
      const std::string_view content = in.substr(f.value_at, f.end - f.value_at);
      const size_t mark = path_.size();
      if (!path_.empty()) path_ += '.';
      if (named) {
        path_ += named->name;
        if (named->repeated) path_ += "[]";
      } else {
        char digits[16];
        const auto r = std::to_chars(digits, digits + sizeof(digits), f.number);
        path_.append(digits, r.ptr);
      }
      replacement.clear();
      const bool replace = field(content, depth, named, replacement);
      path_.resize(mark);
      if (!replace) continue;
      out.append(in.substr(copied, f.length_at - copied));  // up to and with the tag
      put_varint(replacement.size(), out);
      out += replacement;
      copied = f.end;
      changed = true;
    }
    out.append(in.substr(copied));
    return changed;
  }

 private:
  // One length-delimited field's bytes, by what the schema says of it or by what they are.
  bool field(std::string_view content, int depth, const ProtobufSchema::FieldType* named,
             std::string& replacement) {
    const bool deeper = depth + 1 < kProtobufMaxDepth;
    if (named && named->type == ProtobufSchema::kMessage) {
      if (deeper && probe(content).valid) {
        return message(
            content, depth + 1, replacement,
            named->message >= 0 ? &schema_->messages()[size_t(named->message)] : nullptr);
      }
      return bytes(content, replacement);
    }
    const bool text = traffic::is_printable_utf8(content);
    if (named && named->type == ProtobufSchema::kString) {
      return text ? this->text(content, replacement) : bytes(content, replacement);
    }
    const Probe nested = deeper ? probe(content) : Probe{};
    if (nested.valid && (nested.length_delimited || !text)) {
      return message(content, depth + 1, replacement, nullptr);
    }
    return text ? this->text(content, replacement) : bytes(content, replacement);
  }
  // How an integer type is written: as a varint, in 8 fixed bytes or in 4; kNone for the
  // other types.
  enum class Encoding : uint8_t { kNone, kVarint, kFixed64, kFixed32 };
  static Encoding encoding_of(uint8_t t) {
    using S = ProtobufSchema;
    if (t == S::kInt64 || t == S::kUint64 || t == S::kInt32 || t == S::kUint32 || t == S::kSint32 ||
        t == S::kSint64) {
      return Encoding::kVarint;
    }
    if (t == S::kFixed64 || t == S::kSfixed64 || t == S::kDouble) return Encoding::kFixed64;
    if (t == S::kFixed32 || t == S::kSfixed32 || t == S::kFloat) return Encoding::kFixed32;
    return Encoding::kNone;
  }
  static uint64_t little_endian(std::string_view bytes) {
    uint64_t raw = 0;
    for (size_t i = bytes.size(); i-- > 0;) raw = raw << 8 | static_cast<uint8_t>(bytes[i]);
    return raw;
  }

  // A number field the schema types: its value to number(), what replaces it encoded as the
  // type is into `encoded`. False when the field is not one (or its wire type is not its
  // type's), or nothing replaces it.
  bool integer(std::string_view in, const Field& f, const ProtobufSchema::FieldType& named,
               std::string& encoded) {
    const Encoding e = encoding_of(named.type);
    if (!((e == Encoding::kVarint && f.wire == 0) || (e == Encoding::kFixed64 && f.wire == 1) ||
          (e == Encoding::kFixed32 && f.wire == 5))) {
      return false;
    }
    uint64_t raw = 0;
    if (e == Encoding::kVarint) {
      size_t v = f.length_at;
      read_varint(in, v, raw);
    } else {
      raw = little_endian(in.substr(f.length_at, f.end - f.length_at));
    }
    encoded.clear();
    return number(raw, named, encoded);
  }

  // A packed repeated number field's bytes (proto3's repeated scalars are packed unless told
  // not to be): each element to number(), the elements written again into `out`. False when
  // the field's type is no number, the bytes are not whole elements of it, or nothing in them
  // was replaced.
  bool packed(std::string_view content, const ProtobufSchema::FieldType& named, std::string& out) {
    const Encoding e = encoding_of(named.type);
    if (e == Encoding::kNone || !named.repeated) return false;
    const size_t width = e == Encoding::kFixed64 ? 8 : 4;
    if (e != Encoding::kVarint && content.size() % width != 0) return false;
    if (e == Encoding::kVarint) {  // whole varints only, before anything is visited
      size_t at = 0;
      uint64_t ignored = 0;
      while (at < content.size()) {
        if (!read_varint(content, at, ignored)) return false;
      }
    }
    bool changed = false;
    size_t at = 0;
    std::string element;
    while (at < content.size()) {
      const size_t start = at;
      uint64_t raw = 0;
      if (e == Encoding::kVarint) {
        read_varint(content, at, raw);
      } else {
        raw = little_endian(content.substr(at, width));
        at += width;
      }
      element.clear();
      if (number(raw, named, element)) {
        out += element;
        changed = true;
      } else {
        out.append(content.substr(start, at - start));
      }
    }
    return changed;
  }

  // One integer of the field `named`, `raw` its bits as the wire holds them (a varint's value,
  // or the fixed bytes read little-endian): its value as a decimal to the visitor, and what
  // replaces it appended to `encoded` as the type is written. False when nothing replaces it.
  bool number(uint64_t raw, const ProtobufSchema::FieldType& named, std::string& encoded) {
    using S = ProtobufSchema;
    const uint8_t t = named.type;
    if (t == S::kDouble || t == S::kFloat) return floating(raw, named, encoded);
    const Encoding e = encoding_of(t);
    const bool is_signed = t == S::kInt64 || t == S::kInt32 || t == S::kSint32 || t == S::kSint64 ||
                           t == S::kSfixed64 || t == S::kSfixed32;
    const int bits =
        e == Encoding::kFixed32 || t == S::kInt32 || t == S::kUint32 || t == S::kSint32 ? 32 : 64;
    int64_t value = 0;
    if (t == S::kSint32 || t == S::kSint64) {
      value = static_cast<int64_t>(raw >> 1) ^ -static_cast<int64_t>(raw & 1);  // zigzag
    } else if (bits == 32 && is_signed) {
      value = static_cast<int32_t>(static_cast<uint32_t>(raw));
    } else {
      value = static_cast<int64_t>(raw);
    }
    if (bits == 32 && !is_signed) raw &= 0xffffffffu;
    char digits[24];
    const auto w = is_signed ? std::to_chars(digits, digits + sizeof(digits), value)
                             : std::to_chars(digits, digits + sizeof(digits), raw);
    const std::string_view decimal(digits, size_t(w.ptr - digits));
    std::string replacement;
    if (!ask(named, decimal, replacement)) return false;
    // The replacement as the type's bits: parsed as a decimal (negative as two's complement),
    // then cut to the type's width, so a value that does not fit still is not the input's.
    // (digits read modulo 2^64: the arithmetic wraps)
    uint64_t next = 0;
    if (!integer_replacement(replacement, next)) return false;
    if (bits == 32) next &= 0xffffffffu;
    ++replaced;
    if (t == S::kSint32 || t == S::kSint64) {
      int64_t n = static_cast<int64_t>(next);
      if (bits == 32) n = static_cast<int32_t>(static_cast<uint32_t>(next));
      put_varint((static_cast<uint64_t>(n) << 1) ^ static_cast<uint64_t>(n >> 63), encoded);
    } else if (e == Encoding::kVarint) {
      // int32 is written sign-extended to 64 bits, as protobuf writes a negative one
      if (t == S::kInt32) next = static_cast<uint64_t>(int64_t{static_cast<int32_t>(next)});
      put_varint(next, encoded);
    } else {
      for (int i = 0; i < bits / 8; ++i) encoded += static_cast<char>((next >> (8 * i)) & 0xff);
    }
    return true;
  }

  // A double or float, `raw` its bits: as number() does for an integer. The decimal is the
  // shortest that reads back as the value (std::to_chars), the replacement read as the type
  // (std::from_chars, rounded to nearest).
  bool floating(uint64_t raw, const ProtobufSchema::FieldType& named, std::string& encoded) {
    const bool single = named.type == ProtobufSchema::kFloat;
    char digits[64];
    std::to_chars_result w;
    if (single) {
      const float f = std::bit_cast<float>(static_cast<uint32_t>(raw));
      if (!std::isfinite(f)) return false;
      w = std::to_chars(digits, digits + sizeof(digits), f);
    } else {
      const double d = std::bit_cast<double>(raw);
      if (!std::isfinite(d)) return false;
      w = std::to_chars(digits, digits + sizeof(digits), d);
    }
    if (w.ec != std::errc{}) return false;
    std::string replacement;
    if (!ask(named, std::string_view(digits, size_t(w.ptr - digits)), replacement)) {
      return false;
    }
    double d = 0;
    if (!decimal_replacement(replacement, d)) return false;
    uint64_t bits = std::bit_cast<uint64_t>(d);
    if (single) bits = float_bits_of(d);
    ++replaced;
    for (int i = 0; i < (single ? 4 : 8); ++i)
      encoded += static_cast<char>((bits >> (8 * i)) & 0xff);
    return true;
  }

  // Asks the visitor for a replacement of the number `decimal` of the field `named`.
  bool ask(const ProtobufSchema::FieldType& named, std::string_view decimal,
           std::string& replacement) {
    const size_t mark = path_.size();
    if (!path_.empty()) path_ += '.';
    path_ += named.name;
    if (named.repeated) path_ += "[]";
    const bool asked = v_.number(path_, decimal, replacement);
    path_.resize(mark);
    return asked;
  }

  bool text(std::string_view content, std::string& replacement) {
    const bool r = v_.text(path_, content, replacement);
    replaced += r;
    return r;
  }
  bool bytes(std::string_view content, std::string& replacement) {
    const bool r = v_.bytes(path_, content, replacement) && replacement.size() == content.size();
    replaced += r;
    return r;
  }

  ProtobufVisitor& v_;
  const ProtobufSchema* schema_;
  std::string path_;
};

using traffic::each_field;

}  // namespace

ProtobufRewriteResult rewrite_protobuf(std::string_view in, ProtobufVisitor& visitor,
                                       std::string& out, const ProtobufSchema* schema,
                                       const ProtobufSchema::MessageType* type) {
  out.clear();
  ProtobufRewriteResult result;
  if (!probe(in).valid) return result;
  Rewriter w(visitor, schema);
  w.message(in, 0, out, schema ? type : nullptr);
  result.valid = true;
  result.fields = w.fields;
  result.replaced = w.replaced;
  return result;
}

bool is_protobuf_message(std::string_view in) { return probe(in).valid; }

bool integer_replacement(std::string_view replacement, uint64_t& bits) {
  const bool negative = !replacement.empty() && replacement[0] == '-';
  const std::string_view digits = replacement.substr(negative ? 1 : 0);
  if (digits.empty()) return false;
  uint64_t v = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');  // (wraps: modulo 2^64)
  }
  bits = negative ? ~v + 1 : v;
  return true;
}

bool decimal_replacement(std::string_view replacement, double& value) {
  const char* first = replacement.data();
  const char* last = first + replacement.size();
  if (first == last || *first == '+') return false;  // (from_chars takes no sign but '-')
  const auto r = std::from_chars(first, last, value);
  return r.ptr == last && r.ec == std::errc{};
}

uint32_t float_bits_of(double d) {
  // (a double past a float's range does not convert: it is an infinity of its sign)
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const float f = std::fabs(d) > double{std::numeric_limits<float>::max()} ? (d > 0 ? kInf : -kInf)
                                                                           : static_cast<float>(d);
  return std::bit_cast<uint32_t>(f);
}

DelimitedMessages split_delimited(std::string_view body) {
  DelimitedMessages d;
  size_t at = 0;
  while (at < body.size()) {
    size_t next = at;
    uint64_t length = 0;
    if (!read_varint(body, next, length) || length > body.size() - next) break;
    d.items.push_back(body.substr(next, static_cast<size_t>(length)));
    at = next + static_cast<size_t>(length);
  }
  d.rest = body.substr(at);
  return d;
}

void append_delimited(std::string_view message, std::string& out) {
  put_varint(message.size(), out);
  out += message;
}

bool decode_binary_header(std::string_view value, std::string& out, bool& padded) {
  padded = !value.empty() && value.back() == '=';
  if (value.size() % 4 == 1) return false;
  const size_t pad = value.find('=');  // one piece: '=' only at its end
  if (pad != std::string_view::npos &&
      value.find_first_not_of('=', pad) != std::string_view::npos) {
    return false;
  }
  std::string whole(value);
  if (!padded) whole.append((4 - value.size() % 4) % 4, '=');
  return decode_grpc_web_text(whole, out);
}

}  // namespace twin::scrubber
