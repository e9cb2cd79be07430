// Apache Thrift onto the tape (Doc::parse_thrift, tape.h): the walk of twin/traffic/thrift.h,
// each value a node as it comes, containers closed by their end. Iterative: nesting (at most
// traffic::kThriftMaxDepth) costs the walker's stack, bounded, and this builder's heap.

#include <bit>
#include <charconv>
#include <climits>

#include "tape.h"

namespace twin::compare::tape {

using traffic::ThriftType;

class ThriftBuilder : public traffic::ThriftHandler {
 public:
  explicit ThriftBuilder(Doc& doc) : d_(doc) {}
  bool ok = true;

  void field(int16_t id) override {
    char digits[8];
    const size_t at = d_.arena_.size();
    d_.arena_.append(digits,
                     static_cast<size_t>(std::to_chars(digits, digits + 8, id).ptr - digits));
    ok = ok && d_.push_arena(Kind::kString, kFieldKey, at);
    ++d_.nodes_[open_.back().node].a;
  }
  void begin_struct() override { open(Kind::kObject, 0, 0, Frame::kStruct); }
  void end_struct() override { close(); }
  void begin_list(ThriftType, uint32_t count, bool set) override {
    open(Kind::kArray, set ? kAnyOrder : uint8_t{0}, count, Frame::kList);
  }
  void end_list() override { close(); }
  void begin_map(ThriftType key, ThriftType, uint32_t count) override {
    const bool by_key = key == ThriftType::kString || key == ThriftType::kBool ||
                        key == ThriftType::kI8 || key == ThriftType::kI16 ||
                        key == ThriftType::kI32 || key == ThriftType::kI64 ||
                        key == ThriftType::kDouble;
    if (by_key) {
      open(Kind::kObject, 0, count, Frame::kMapObject);
    } else {
      open(Kind::kArray, kAnyOrder, count, Frame::kMapPairs);
    }
  }
  void map_entry(bool key) override {
    Frame& f = open_.back();
    if (f.kind == Frame::kMapObject) {
      f.key_next = key;
    } else if (key) {  // a [key, value] pair
      if (f.kind == Frame::kPair) close();
      open(Kind::kArray, 0, 2, Frame::kPair);
    }
  }
  void end_map() override {
    if (open_.back().kind == Frame::kPair) close();
    close();
  }
  void boolean(bool value) override {
    if (key_next()) return key(value ? "true" : "false");
    d_.nodes_.push_back({value ? Kind::kTrue : Kind::kFalse, 0, 0, 0});
  }
  void integer(ThriftType, int64_t n, size_t, size_t) override {
    if (key_next()) {
      char digits[24];
      return key(std::string_view(
          digits, static_cast<size_t>(std::to_chars(digits, digits + 24, n).ptr - digits)));
    }
    const bool negative = n < 0;
    const auto magnitude = negative ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
    ok = ok && d_.push_integer(negative, magnitude);
  }
  void floating(uint64_t bits, size_t, size_t) override {
    ok = ok && d_.push_float(std::bit_cast<double>(bits));
    if (key_next()) {  // the float's text, pushed as a number: a key instead
      Node& n = d_.nodes_.back();
      n.kind = Kind::kString;
      n.flags = kInArena;
      open_.back().key_next = false;
    }
  }
  void string(std::string_view bytes, size_t, size_t) override {
    const auto at = static_cast<uint32_t>(bytes.data() - d_.src_.data());
    if (key_next()) open_.back().key_next = false;
    d_.nodes_.push_back({Kind::kString, 0, at, static_cast<uint32_t>(bytes.size())});
  }
  void uuid(std::string_view bytes) override {
    d_.nodes_.push_back(
        {Kind::kString, kBytes, static_cast<uint32_t>(bytes.data() - d_.src_.data()), 16});
  }

 private:
  struct Frame {
    enum Kind : uint8_t { kStruct, kList, kMapObject, kMapPairs, kPair } kind;
    uint32_t node;
    bool key_next = false;  // kMapObject: the next scalar is an entry's key
  };
  void open(Kind kind, uint8_t flags, uint32_t count, Frame::Kind frame) {
    open_.push_back({frame, static_cast<uint32_t>(d_.nodes_.size())});
    d_.nodes_.push_back({kind, flags, count, 0});
  }
  void close() {
    d_.nodes_[open_.back().node].b = static_cast<uint32_t>(d_.nodes_.size());
    open_.pop_back();
  }
  bool key_next() const { return !open_.empty() && open_.back().key_next; }
  // An entry's key of a map read as an object: its text, a key node (data, not a field id).
  void key(std::string_view text) {
    const size_t at = d_.arena_.size();
    d_.arena_ += text;
    ok = ok && d_.push_arena(Kind::kString, 0, at);
    open_.back().key_next = false;
  }

  Doc& d_;
  std::vector<Frame> open_;
};

bool Doc::parse_thrift(std::string_view s, traffic::ThriftProtocol protocol) {
  reset(s);
  if (s.size() >= UINT32_MAX / 2) return false;  // (a node for every byte, two for a bool field)
  ThriftBuilder builder(*this);
  const traffic::ThriftWalk walk = traffic::walk_thrift(s, protocol, builder);
  if (walk.reading == traffic::ThriftReading::kAny || !builder.ok) return false;
  root_ = 0;
  return true;
}

}  // namespace twin::compare::tape
