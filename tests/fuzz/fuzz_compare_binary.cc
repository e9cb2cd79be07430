// Fuzz target for the comparator's reading of MessagePack and CBOR bodies (compare/src/tape.cc,
// through ResponseDiffer in compare/src/diff.cc): bytes a target sent back, untrusted. The input
// is
//   byte 0     options: bit 0 CBOR (else MessagePack), bit 1 the second body unlabelled (it is
//              read in the first one's format), bit 2 a tiny max_depth, bit 3 a tiny max_paths,
//              bit 4 the first body labelled by a structured suffix (application/x+msgpack,
//              application/cbor-seq), bit 5 Protocol Buffers instead (bit 0 ignored)
//   bytes 1-2  the length of the first body (little-endian, clamped to what is there)
//   rest       the first body, then the second
// Properties:
//   - a response never differs from itself; the paths are sorted, distinct and start with '$';
//     one way's paths are empty only when the other way's are;
//   - where nlohmann::json reads both bodies (strictly: one item each, CBOR without tags) and the
//     tape reads them too, the paths are those of the plain recursive reference of
//     compare_ref.h (diff.h's contract) over the values nlohmann's SAX reader gives, integer and
//     float, bytes, ext types and all;
//   - a body read as one item compares equal to the same value written again by nlohmann (its
//     own widths, keys in its order), when nlohmann reads it and it holds no duplicate keys;
//   - Protocol Buffers (bit 5): the paths of two bare messages are those of the same messages
//     in gRPC frames, and of the first one's frame compressed (gzip, grpc-encoding); read by a
//     schema of every kind of field (the type named by the media type), the basic properties
//     hold.
// nlohmann reads CBOR's negative 64-bit integers (head 0x3b) past int64 wrongly: inputs with that
// byte skip the reference. Its reader recurses, so it runs on bodies of at most 2 KB.
//
// Run with -DTWIN_FUZZ=ON (clang); new inputs go to the first directory:
//   build-fuzz/bin/fuzz_compare_binary -max_len=4096 /tmp/cb-corpus
//       tests/fuzz/corpus/compare_binary
// then merge into the checked-in corpus (-merge=1), which ctest replays.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "compare_ref.h"
#include "tape.h"
#include "twin/compare/diff.h"
#include "twin/traffic/content_coding.h"
#include "twin/traffic/rpc.h"

namespace {

using compare_ref::basic;
using compare_ref::Ref;
using compare_ref::response;
using nlohmann::json;

// Builds the reference DOM from nlohmann's SAX events, keys in order, duplicates kept.
class RefSax {
 public:
  explicit RefSax(Ref& root) : root_(root) {}

  bool null() { return put(Ref{}); }
  bool boolean(bool v) {
    Ref r;
    r.kind = v ? Ref::kTrue : Ref::kFalse;
    return put(std::move(r));
  }
  bool number_integer(json::number_integer_t v) { return integer(std::to_string(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return integer(std::to_string(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) {
    char buf[64];
    const auto end = std::to_chars(buf, buf + sizeof buf, std::isnan(v) ? std::nan("") : v).ptr;
    Ref r;
    r.kind = Ref::kNumber;
    r.typed = true;
    r.text.assign(buf, end);
    return put(std::move(r));
  }
  bool string(json::string_t& v) {
    Ref r;
    r.kind = Ref::kString;
    r.text = v;
    return put(std::move(r));
  }
  bool binary(json::binary_t& v) {
    Ref r;
    r.kind = Ref::kString;
    r.flavour = v.has_subtype() ? Ref::kExt : Ref::kBytes;
    if (v.has_subtype()) r.text += static_cast<char>(v.subtype());
    r.text.append(v.begin(), v.end());
    return put(std::move(r));
  }
  bool start_object(std::size_t) { return open(Ref::kObject); }
  bool key(json::string_t& k) {
    stack_.back()->keys.push_back(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(Ref::kArray); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  bool integer(std::string text) {
    Ref r;
    r.kind = Ref::kNumber;
    r.integer = true;
    r.typed = true;
    r.text = std::move(text);
    return put(std::move(r));
  }
  Ref* place() {
    if (stack_.empty()) return &root_;
    stack_.back()->items.emplace_back();
    return &stack_.back()->items.back();
  }
  bool put(Ref r) {
    *place() = std::move(r);
    return true;
  }
  bool open(Ref::Kind kind) {
    Ref* r = place();
    r->kind = kind;
    stack_.push_back(r);
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  Ref& root_;
  std::vector<Ref*> stack_;  // (items are only appended to the innermost container)
};

bool read_ref(const std::string& body, bool cbor, Ref& out) {
  if (body.size() > 2048) return false;
  if (cbor && body.find('\x3b') != std::string::npos) return false;
  RefSax sax(out);
  return json::sax_parse(body.begin(), body.end(), &sax,
                         cbor ? json::input_format_t::cbor : json::input_format_t::msgpack, true);
}

// The properties every pair has: paths sorted and distinct, empty one way only when empty the
// other, none between a response and itself. Returns a's paths against b and whether they are
// whole.
// A gRPC length-prefixed frame.
std::string frame(const std::string& message, uint8_t flags) {
  std::string out;
  if (!twin::traffic::append_envelope(flags, message, out)) std::abort();
  return out;
}

// Protocol Buffers wire bytes for the schema below.
std::string pb_varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  return out + static_cast<char>(v);
}
std::string pb_ld(uint32_t field, const std::string& bytes) {
  return pb_varint(uint64_t{field} << 3 | 2) + pb_varint(bytes.size()) + bytes;
}
std::string pb_vi(uint32_t field, uint64_t v) {
  return pb_varint(uint64_t{field} << 3) + pb_varint(v);
}

// A schema of every kind of field, written as protoc would (a FileDescriptorSet): package f;
// message T { int32 a = 1; sint64 b = 2; double c = 3; float d = 4; string e = 5; bytes g = 6;
// repeated T h = 7; map<string, int32> m = 8; repeated sint32 p = 9; bool q = 10;
// fixed32 r = 11; sfixed64 s = 12; repeated string t = 13; int64 u = 14; }
const twin::traffic::ProtobufSchema& fuzz_schema() {
  static const twin::traffic::ProtobufSchema schema = [] {
    const auto fieldd = [](const char* name, uint32_t number, bool repeated, uint8_t type,
                           const char* type_name = nullptr) {
      std::string f =
          pb_ld(1, name) + pb_vi(3, number) + pb_vi(4, repeated ? 3 : 1) + pb_vi(5, type);
      if (type_name) f += pb_ld(6, type_name);
      return pb_ld(2, f);
    };
    const std::string entry = pb_ld(1, "MEntry") + fieldd("key", 1, false, 9) +
                              fieldd("value", 2, false, 5) + pb_ld(7, pb_vi(7, 1));
    const std::string t =
        pb_ld(1, "T") + fieldd("a", 1, false, 5) + fieldd("b", 2, false, 18) +
        fieldd("c", 3, false, 1) + fieldd("d", 4, false, 2) + fieldd("e", 5, false, 9) +
        fieldd("g", 6, false, 12) + fieldd("h", 7, true, 11, ".f.T") +
        fieldd("m", 8, true, 11, ".f.T.MEntry") + fieldd("p", 9, true, 17) +
        fieldd("q", 10, false, 8) + fieldd("r", 11, false, 7) + fieldd("s", 12, false, 16) +
        fieldd("t", 13, true, 9) + fieldd("u", 14, false, 3) + pb_ld(3, entry);
    twin::traffic::ProtobufSchema s;
    std::string error;
    if (!s.add(pb_ld(1, pb_ld(1, "f.proto") + pb_ld(2, "f") + pb_ld(4, t)), error)) std::abort();
    const auto* m = s.message("f.T");
    if (!m || !m->field(8) || !s.messages()[static_cast<size_t>(m->field(8)->message)].map_entry) {
      std::abort();
    }
    return s;
  }();
  return schema;
}

// Protocol Buffers: the basic properties, and framing and compression change no path.
void check_protobuf(const std::string& first, const std::string& second, uint8_t opt,
                    const twin::compare::DiffOptions& options) {
  twin::compare::ResponseDiffer differ(options);
  const auto a = response(first, "application/x-protobuf", 1);
  const auto b = response(second, (opt & 2) ? nullptr : "application/x-protobuf", 2);
  std::vector<std::string> ab;
  const bool whole_ab = basic(differ, a, b, ab);
  twin::traffic::Response fa = response(frame(first, 0), "application/grpc", 1);
  twin::traffic::Response fb = response(frame(second, 0), "application/grpc", 2);
  std::vector<std::string> framed;
  if (differ.diff(fa, fb, framed) && whole_ab && framed != ab) std::abort();
  if (first == second) return;  // (equal bytes are never read; the compressed frame would be)
  std::string packed;
  if (!twin::traffic::encode(twin::traffic::Coding::kGzip, first, packed)) std::abort();
  twin::traffic::Response za = response(frame(packed, 1), "application/grpc", 1);
  za.headers.push_back({"grpc-encoding", "gzip"});
  std::vector<std::string> zipped;
  if (differ.diff(za, fb, zipped) && whole_ab && zipped != ab) std::abort();

  // Read by the schema (the type named by the media type): the basic properties. (What is
  // equal without the schema need not be with it: a string field whose bytes read as two
  // messages equal but for their fields' order is two strings.)
  twin::compare::DiffOptions typed = options;
  typed.protobuf = std::shared_ptr<const twin::traffic::ProtobufSchema>(
      &fuzz_schema(), [](const twin::traffic::ProtobufSchema*) {});
  twin::compare::ResponseDiffer typed_differ(typed);
  const auto ta = response(first, "application/x-protobuf; proto=f.T", 1);
  const auto tb = response(second, "application/x-protobuf; proto=f.T", 2);
  std::vector<std::string> typed_ab;
  basic(typed_differ, ta, tb, typed_ab);
}

bool has_duplicate_keys(const Ref& r) {
  if (r.kind == Ref::kObject) {
    std::set<std::string> keys(r.keys.begin(), r.keys.end());
    if (keys.size() != r.keys.size()) return true;
  }
  return std::any_of(r.items.begin(), r.items.end(), has_duplicate_keys);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  compare_ref::Input in;
  if (!compare_ref::split_input(data, size, in)) return 0;
  const uint8_t opt = in.opt;
  const bool cbor = opt & 1;
  twin::compare::DiffOptions options;
  if (opt & 4) options.max_depth = 2;
  if (opt & 8) options.max_paths = 2;
  if (opt & 32) {
    check_protobuf(in.first, in.second, opt, options);
    return 0;
  }
  const char* type = cbor ? "application/cbor" : "application/msgpack";
  const char* first_type =
      (opt & 16) ? (cbor ? "application/cbor-seq" : "application/x+msgpack") : type;
  twin::compare::ResponseDiffer differ(options);
  const auto a = response(in.first, first_type, 1);
  const auto b = response(in.second, (opt & 2) ? nullptr : type, 2);

  std::vector<std::string> ab;
  const bool whole_ab = basic(differ, a, b, ab);

  twin::compare::tape::Doc doc;
  const auto ours = [&](const std::string& body) {
    return cbor ? doc.parse_cbor(body) : doc.parse_msgpack(body);
  };
  const bool ours_a = ours(a.body), ours_b = ours(b.body);
  Ref x, y;
  const bool ref_a = read_ref(a.body, cbor, x), ref_b = read_ref(b.body, cbor, y);
  if (ours_a && ours_b && ref_a && ref_b) {
    std::set<std::string> want;
    if (a.body != b.body) {
      compare_ref::ref_compare(x, y, "$", 0, std::min<size_t>(options.max_depth, 1000), want);
    }
    compare_ref::check_paths(want, ab, whole_ab, options);
  }

  // Written again by nlohmann (minimal widths, keys sorted): the same value.
  if (ours_a && ref_a && !has_duplicate_keys(x)) {
    json j;
    try {
      j = cbor ? json::from_cbor(a.body) : json::from_msgpack(a.body);
    } catch (const json::exception&) {
      return 0;
    }
    const auto again = response(
        [&] {
          const std::vector<uint8_t> v = cbor ? json::to_cbor(j) : json::to_msgpack(j);
          return std::string(v.begin(), v.end());
        }(),
        type, 3);
    std::vector<std::string> same;
    if (!differ.diff(a, again, same) || !same.empty()) std::abort();
  }
  return 0;
}
