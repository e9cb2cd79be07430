#include "thrift.h"

#include <bit>
#include <charconv>
#include <cmath>

namespace twin::scrubber {
namespace {

using traffic::ThriftType;

// Hands each value of a body's walk (traffic/thrift.h) to the visitor under its path, and
// writes the body again with what replaced them.
class Rewriter : public traffic::ThriftHandler {
 public:
  Rewriter(std::string_view in, bool compact, ProtobufVisitor& v, std::string& out)
      : in_(in), compact_(compact), v_(&v), out_(&out) {}
  size_t replaced = 0;

  void finish() { out_->append(in_.substr(copied_)); }

  void field(int16_t id) override {
    marks_.push_back(path_.size());
    if (!path_.empty()) path_ += '.';
    char digits[8];
    path_.append(digits, std::to_chars(digits, digits + sizeof(digits), id).ptr);
  }
  void end_field() override { pop(); }
  void begin_list(ThriftType, uint32_t, bool) override {
    marks_.push_back(path_.size());
    path_ += "[]";
  }
  void end_list() override { pop(); }
  // A map's keys under "[].1", its values under "[].2" (as protobuf writes map entries).
  void begin_map(ThriftType, ThriftType, uint32_t) override { marks_.push_back(path_.size()); }
  void map_entry(bool key) override {
    path_.resize(marks_.back());
    path_ += key ? "[].1" : "[].2";
  }
  void end_map() override { pop(); }
  void string(std::string_view s, size_t begin, size_t end) override;
  void integer(ThriftType t, int64_t n, size_t begin, size_t end) override;
  void floating(uint64_t bits, size_t begin, size_t end) override;

 private:
  void pop() {
    path_.resize(marks_.back());
    marks_.pop_back();
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

  // Replaces in_[start, end) with `encoded`.
  void replace(size_t start, size_t end, std::string_view encoded) {
    out_->append(in_.substr(copied_, start - copied_));
    *out_ += encoded;
    copied_ = end;
    ++replaced;
  }

  std::string_view in_;
  bool compact_;
  ProtobufVisitor* v_;
  std::string* out_;
  size_t copied_ = 0;
  std::string path_;
  std::vector<size_t> marks_;  // path_'s size before each open field, list or map
  std::string replacement_;
  std::string encoded_;
};

void Rewriter::string(std::string_view s, size_t start, size_t end) {
  replacement_.clear();
  if (is_field_text(s)) {
    if (!v_->text(path_, s, replacement_) || replacement_.size() > size_t(INT32_MAX)) {
      return;
    }
  } else if (!v_->bytes(path_, s, replacement_) || replacement_.size() != s.size()) {
    return;
  }
  encoded_.clear();
  if (compact_) {
    put_varint(replacement_.size(), encoded_);
  } else {
    put_be(replacement_.size(), 4, encoded_);
  }
  encoded_ += replacement_;
  replace(start, end, encoded_);
}

// i32 and i64 values as numbers; i8 and i16 are not read.
void Rewriter::integer(ThriftType t, int64_t n, size_t start, size_t end) {
  if (t != ThriftType::kI32 && t != ThriftType::kI64) return;
  const int width = t == ThriftType::kI32 ? 4 : 8;
  char digits[24];
  const auto w = std::to_chars(digits, digits + sizeof(digits), n);
  replacement_.clear();
  uint64_t bits = 0;
  if (!v_->number(path_, std::string_view(digits, size_t(w.ptr - digits)), replacement_) ||
      !integer_replacement(replacement_, bits)) {
    return;
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
  replace(start, end, encoded_);
}

void Rewriter::floating(uint64_t bits, size_t start, size_t end) {
  const double d = std::bit_cast<double>(bits);
  if (!std::isfinite(d)) return;
  char digits[64];
  const auto w = std::to_chars(digits, digits + sizeof(digits), d);
  replacement_.clear();
  double next = 0;
  if (!v_->number(path_, std::string_view(digits, size_t(w.ptr - digits)), replacement_) ||
      !decimal_replacement(replacement_, next)) {
    return;
  }
  const uint64_t out = std::bit_cast<uint64_t>(next);
  encoded_.clear();
  for (int i = 0; i < 8; ++i) {
    encoded_ += static_cast<char>((out >> (8 * (compact_ ? i : 7 - i))) & 0xff);
  }
  replace(start, end, encoded_);
}

}  // namespace

ThriftRewriteResult rewrite_thrift(std::string_view in, ThriftProtocol protocol,
                                   ProtobufVisitor& visitor, std::string& out, ThriftReading only) {
  out.clear();
  Rewriter r(in, protocol == ThriftProtocol::kCompact, visitor, out);
  const traffic::ThriftWalk walk = traffic::walk_thrift(in, protocol, r, only);
  if (walk.reading == ThriftReading::kAny) return {};
  r.finish();
  return {true, walk.reading, walk.values, r.replaced};
}

}  // namespace twin::scrubber
