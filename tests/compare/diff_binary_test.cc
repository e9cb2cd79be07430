// Tests of response diffs over MessagePack and CBOR bodies (compare/src/tape.cc): values compare
// by what they mean, whatever widths, key order or chunking wrote them, by the same rules as
// JSON, plus the types only the binary formats have. nlohmann::json writes most bodies (an
// independent encoder); the forms it never writes (wide integers, indefinite lengths, tags, half
// floats, ext types) are written byte by byte from the MessagePack spec and RFC 8949.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "responses.h"
#include "twin/compare/diff.h"

namespace twin::compare {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Paths = std::vector<std::string>;

using test::response;

std::string bytes(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::string bytes(std::initializer_list<int> v) {
  std::string s;
  for (const int b : v) s += static_cast<char>(b);
  return s;
}

traffic::Response msgpack(std::string body) {
  return response(std::move(body), "application/msgpack");
}
traffic::Response msgpack(const json& j) { return msgpack(bytes(json::to_msgpack(j))); }
traffic::Response cbor(std::string body) { return response(std::move(body), "application/cbor"); }
traffic::Response cbor(const json& j) { return cbor(bytes(json::to_cbor(j))); }
traffic::Response as_json(const json& j) { return response(j.dump(), "application/json"); }

Paths diff(const traffic::Response& a, const traffic::Response& b, DiffOptions options = {}) {
  ResponseDiffer differ(std::move(options));
  Paths out{"stale"};
  EXPECT_TRUE(differ.diff(a, b, out));
  return out;
}

const json kUser = json::parse(R"({
  "id": 4215, "name": "Ann", "score": -17, "ratio": 0.25, "active": true, "manager": null,
  "tags": ["gold", "beta"], "address": {"city": "Leeds", "zip": "LS1"},
  "orders": [{"id": 1, "total": 12.5}, {"id": 2, "total": 99.0}]
})");

TEST(DiffBinary, SameValueIsNoDifference) {
  EXPECT_THAT(diff(msgpack(kUser), msgpack(kUser)), IsEmpty());
  EXPECT_THAT(diff(cbor(kUser), cbor(kUser)), IsEmpty());
}

TEST(DiffBinary, ChangedFieldsAreNamedByPathAsInJson) {
  json changed = kUser;
  changed["name"] = "Bob";
  changed["orders"][1]["total"] = 98.5;
  changed["address"].erase("zip");
  changed["tags"].push_back("new");
  const Paths want{"$.address.zip", "$.name", "$.orders[*].total", "$.tags"};
  EXPECT_EQ(diff(as_json(kUser), as_json(changed)), want);
  EXPECT_EQ(diff(msgpack(kUser), msgpack(changed)), want);
  EXPECT_EQ(diff(cbor(kUser), cbor(changed)), want);
}

// {"id": 5, "name": "Al"} in MessagePack, minimal and in wider forms a candidate's encoder may
// choose: a uint64 and a str8 key, map16, keys in the other order.
TEST(DiffBinary, MessagePackWidthsAndKeyOrderDoNotMatter) {
  const std::string minimal =
      bytes({0x82, 0xa2, 'i', 'd', 0x05, 0xa4, 'n', 'a', 'm', 'e', 0xa2, 'A', 'l'});
  ASSERT_EQ(minimal, bytes(json::to_msgpack(json{{"id", 5}, {"name", "Al"}})));
  const std::string wide =
      bytes({0xde, 0x00, 0x02, 0xd9, 0x04, 'n',  'a',  'm',  'e',  0xda, 0x00, 0x02, 'A', 'l',
             0xd9, 0x02, 'i',  'd',  0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05});
  EXPECT_THAT(diff(msgpack(minimal), msgpack(wide)), IsEmpty());
  // int8 5 and a signed int64 5 are the same integer too
  const std::string signed_id =
      bytes({0x82, 0xa2, 'i', 'd', 0xd0, 0x05, 0xa4, 'n', 'a', 'm', 'e', 0xa2, 'A', 'l'});
  EXPECT_THAT(diff(msgpack(minimal), msgpack(signed_id)), IsEmpty());
  const std::string six =
      bytes({0x82, 0xa2, 'i', 'd', 0xcc, 0x06, 0xa4, 'n', 'a', 'm', 'e', 0xa2, 'A', 'l'});
  EXPECT_THAT(diff(msgpack(minimal), msgpack(six)), ElementsAre("$.id"));
}

TEST(DiffBinary, CborIndefiniteLengthsAndChunksDoNotMatter) {
  // {"a": [1, 2], "s": "hello"}: definite, then indefinite map and array and a chunked string
  const std::string definite = bytes(json::to_cbor(json{{"a", {1, 2}}, {"s", "hello"}}));
  const std::string indefinite = bytes({0xbf, 0x61, 'a', 0x9f, 0x01, 0x02, 0xff, 0x61, 's', 0x7f,
                                        0x62, 'h', 'e', 0x63, 'l', 'l', 'o', 0xff, 0xff});
  EXPECT_THAT(diff(cbor(definite), cbor(indefinite)), IsEmpty());
  // a wider head for the same integer (0x18 0x01 is 1 in one byte more)
  const std::string wide_one =
      bytes({0xa2, 0x61, 'a', 0x82, 0x18, 0x01, 0x02, 0x61, 's', 0x65, 'h', 'e', 'l', 'l', 'o'});
  EXPECT_THAT(diff(cbor(definite), cbor(wide_one)), IsEmpty());
  const std::string other = bytes({0xbf, 0x61, 'a', 0x9f, 0x01, 0x03, 0xff, 0x61, 's', 0x7f, 0x62,
                                   'h', 'e', 0x63, 'l', 'l', 'x', 0xff, 0xff});
  EXPECT_THAT(diff(cbor(definite), cbor(other)), ElementsAre("$.a[*]", "$.s"));
}

TEST(DiffBinary, FloatsCompareByValueAcrossWidths) {
  // 1.5 as CBOR half, single and double; 0.1 as single and double are two values
  const std::string half = bytes({0xa1, 0x61, 'x', 0xf9, 0x3e, 0x00});
  const std::string single = bytes({0xa1, 0x61, 'x', 0xfa, 0x3f, 0xc0, 0x00, 0x00});
  const std::string dbl = bytes(json::to_cbor(json{{"x", 1.5}}));
  EXPECT_THAT(diff(cbor(half), cbor(single)), IsEmpty());
  EXPECT_THAT(diff(cbor(half), cbor(dbl)), IsEmpty());
  const std::string tenth_single = bytes({0xa1, 0x61, 'x', 0xfa, 0x3d, 0xcc, 0xcc, 0xcd});
  const std::string tenth_double =
      bytes({0xa1, 0x61, 'x', 0xfb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a});
  EXPECT_THAT(diff(cbor(tenth_single), cbor(tenth_double)), ElementsAre("$.x"));
  // NaN against NaN is no difference, whatever sign and payload each encoder gave it
  const std::string nan_half = bytes({0xa1, 0x61, 'x', 0xf9, 0x7e, 0x00});
  EXPECT_THAT(diff(cbor(nan_half), cbor(bytes({0xa1, 0x61, 'x', 0xfa, 0x7f, 0xc0, 0x00, 0x00}))),
              IsEmpty());
  EXPECT_THAT(diff(cbor(nan_half), cbor(bytes({0xa1, 0x61, 'x', 0xf9, 0xff, 0xff}))), IsEmpty());
  EXPECT_THAT(diff(cbor(nan_half), cbor(bytes({0xa1, 0x61, 'x', 0xf9, 0x7c, 0x00}))),
              ElementsAre("$.x"));  // infinity
  // MessagePack float32 and float64 of 0.5
  EXPECT_THAT(diff(msgpack(bytes({0x81, 0xa1, 'x', 0xca, 0x3f, 0x00, 0x00, 0x00})),
                   msgpack(bytes({0x81, 0xa1, 'x', 0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0}))),
              IsEmpty());
}

// JSON has one number type, so 1 and 1.0 are equal there; the binary formats have two, and a
// client decoding an integer field may reject a float.
TEST(DiffBinary, IntegerAgainstFloatIsADifference) {
  EXPECT_THAT(diff(as_json(json{{"n", 1}}), response(R"({"n": 1.0})", "application/json")),
              IsEmpty());
  EXPECT_THAT(diff(msgpack(json{{"n", 1}}), msgpack(json{{"n", 1.0}})), ElementsAre("$.n"));
  EXPECT_THAT(diff(cbor(json{{"n", 1}}), cbor(json{{"n", 1.0}})), ElementsAre("$.n"));
}

TEST(DiffBinary, BytesTextAndExtTypesAreTold) {
  // MessagePack: bin "ab" against str "ab"; ext type 1 against type 2 over the same data
  const std::string bin = bytes({0x81, 0xa1, 'k', 0xc4, 0x02, 'a', 'b'});
  const std::string str = bytes({0x81, 0xa1, 'k', 0xa2, 'a', 'b'});
  EXPECT_THAT(diff(msgpack(bin), msgpack(str)), ElementsAre("$.k"));
  const std::string ext1 = bytes({0x81, 0xa1, 'k', 0xd5, 0x01, 'a', 'b'});
  const std::string ext1_wide = bytes({0x81, 0xa1, 'k', 0xc7, 0x02, 0x01, 'a', 'b'});
  const std::string ext2 = bytes({0x81, 0xa1, 'k', 0xd5, 0x02, 'a', 'b'});
  EXPECT_THAT(diff(msgpack(ext1), msgpack(ext1_wide)), IsEmpty());
  EXPECT_THAT(diff(msgpack(ext1), msgpack(ext2)), ElementsAre("$.k"));
  EXPECT_THAT(diff(msgpack(ext1), msgpack(bin)), ElementsAre("$.k"));
  // CBOR: byte string against text string; undefined against null; a simple value
  EXPECT_THAT(diff(cbor(bytes({0xa1, 0x61, 'k', 0x42, 'a', 'b'})),
                   cbor(bytes({0xa1, 0x61, 'k', 0x62, 'a', 'b'}))),
              ElementsAre("$.k"));
  EXPECT_THAT(diff(cbor(bytes({0xa1, 0x61, 'k', 0xf7})), cbor(bytes({0xa1, 0x61, 'k', 0xf6}))),
              ElementsAre("$.k"));
  EXPECT_THAT(diff(cbor(bytes({0xa1, 0x61, 'k', 0xf0})), cbor(bytes({0xa1, 0x61, 'k', 0x10}))),
              ElementsAre("$.k"));
  EXPECT_THAT(
      diff(cbor(bytes({0xa1, 0x61, 'k', 0xf8, 0x20})), cbor(bytes({0xa1, 0x61, 'k', 0xf8, 0x21}))),
      ElementsAre("$.k"));
}

TEST(DiffBinary, CborTagsAreCompared) {
  // {"t": 1(1700000000)} (an epoch time) against the bare number, another tag, the same tag
  const std::string tagged = bytes({0xa1, 0x61, 't', 0xc1, 0x1a, 0x65, 0x53, 0xf1, 0x00});
  const std::string bare = bytes({0xa1, 0x61, 't', 0x1a, 0x65, 0x53, 0xf1, 0x00});
  const std::string other_tag = bytes({0xa1, 0x61, 't', 0xc0, 0x1a, 0x65, 0x53, 0xf1, 0x00});
  const std::string same_tag_wide =
      bytes({0xa1, 0x61, 't', 0xd8, 0x01, 0x1a, 0x65, 0x53, 0xf1, 0x00});
  EXPECT_THAT(diff(cbor(tagged), cbor(bare)), ElementsAre("$.t"));
  EXPECT_THAT(diff(cbor(tagged), cbor(other_tag)), ElementsAre("$.t"));
  EXPECT_THAT(diff(cbor(tagged), cbor(same_tag_wide)), IsEmpty());
  // a tag on a container: the container is named, not descended
  const std::string tagged_map = bytes({0xa1, 0x61, 'm', 0xd9, 0xd9, 0xf7, 0xa1, 0x61, 'x', 0x01});
  const std::string plain_map = bytes({0xa1, 0x61, 'm', 0xa1, 0x61, 'x', 0x02});
  EXPECT_THAT(diff(cbor(tagged_map), cbor(plain_map)), ElementsAre("$.m"));
}

TEST(DiffBinary, IntegersAtTheEdges) {
  // CBOR -2^64 (0x3b, max), its neighbour; MessagePack int64 min and uint64 max
  const std::string min_cbor = bytes({0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  const std::string next_cbor = bytes({0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe});
  // (in a definite and an indefinite array, so that both are read)
  EXPECT_THAT(diff(cbor("\x81" + min_cbor), cbor("\x9f" + min_cbor + "\xff")), IsEmpty());
  EXPECT_THAT(diff(cbor("\x81" + min_cbor), cbor("\x9f" + next_cbor + "\xff")),
              ElementsAre("$[*]"));
  EXPECT_THAT(diff(cbor(min_cbor), cbor(next_cbor)), ElementsAre("$"));
  const std::string int64_min = bytes({0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_THAT(diff(msgpack(int64_min), msgpack(json(INT64_MIN))), IsEmpty());
  EXPECT_THAT(diff(msgpack(int64_min), msgpack(json(INT64_MIN + 1))), ElementsAre("$"));
  const std::string uint64_max = bytes({0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  EXPECT_THAT(diff(msgpack(uint64_max), msgpack(json(UINT64_MAX))), IsEmpty());
  EXPECT_THAT(diff(msgpack(uint64_max), msgpack(json(UINT64_MAX - 1))), ElementsAre("$"));
  // -1 as a negative fixint, int8 and int64
  EXPECT_THAT(diff(msgpack(bytes({0xff})), msgpack(bytes({0xd0, 0xff}))), IsEmpty());
  EXPECT_THAT(diff(msgpack(bytes({0xff})),
                   msgpack(bytes({0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))),
              IsEmpty());
}

// Keys compare by their text: integer keys are ids ("{id}" in a path, as a digits-only JSON key).
TEST(DiffBinary, IntegerKeys) {
  const std::string a = bytes({0x82, 0x01, 0xa1, 'x', 0x02, 0xa1, 'y'});
  const std::string b = bytes({0x82, 0x02, 0xa1, 'y', 0x01, 0xa1, 'z'});
  EXPECT_THAT(diff(msgpack(a), msgpack(b)), ElementsAre("$[\"{id}\"]"));
  EXPECT_THAT(
      diff(cbor(bytes({0xa1, 0x01, 0x61, 'x'})), cbor(bytes({0xa1, 0x18, 0x01, 0x61, 'x'}))),
      IsEmpty());
}

TEST(DiffBinary, SequencesReadAsAnArray) {
  // two CBOR items (application/cbor-seq) or two MessagePack objects one after the other
  const std::string one = bytes(json::to_cbor(json{{"a", 1}}));
  const std::string two = bytes(json::to_cbor(json{{"a", 2}}));
  EXPECT_THAT(diff(response(one + two, "application/cbor-seq"),
                   response(one + two, "application/cbor-seq")),
              IsEmpty());
  EXPECT_THAT(diff(response(one + one, "application/cbor-seq"),
                   response(one + two, "application/cbor-seq")),
              ElementsAre("$[*].a"));
  EXPECT_THAT(diff(cbor(one), cbor(one + one)), ElementsAre("$"));
  const std::string m1 = bytes(json::to_msgpack(json{{"a", 1}}));
  const std::string m2 = bytes(json::to_msgpack(json{{"a", 2}}));
  EXPECT_THAT(diff(msgpack(m1 + m1 + m1), msgpack(m1 + m2 + m1)), ElementsAre("$[*].a"));
}

TEST(DiffBinary, MediaTypes) {
  const json j1{{"a", 1}};
  const json j2{{"a", 2}};
  for (const char* type :
       {"application/msgpack", "application/x-msgpack", "Application/Vnd.MsgPack; charset=binary",
        "application/x.event+msgpack"}) {
    SCOPED_TRACE(type);
    EXPECT_THAT(diff(response(bytes(json::to_msgpack(j1)), type),
                     response(bytes(json::to_msgpack(j2)), type)),
                ElementsAre("$.a"));
  }
  for (const char* type : {"application/cbor", "application/cbor-seq", "application/senml+cbor",
                           "application/x+cbor-seq"}) {
    SCOPED_TRACE(type);
    EXPECT_THAT(
        diff(response(bytes(json::to_cbor(j1)), type), response(bytes(json::to_cbor(j2)), type)),
        ElementsAre("$.a"));
  }
  // one side unlabelled is read in the other's format, even when its first byte is '{' (0x7b,
  // the MessagePack integer 123)
  EXPECT_THAT(diff(msgpack(j1), response(bytes(json::to_msgpack(j2)), "")), ElementsAre("$.a"));
  EXPECT_THAT(diff(msgpack(bytes({0x0a})), response("{", "text/plain")), ElementsAre("$"));
  EXPECT_THAT(diff(msgpack(bytes({0x7b})), response("{", "")), IsEmpty());
  // neither labelled: bytes
  EXPECT_THAT(diff(response(bytes(json::to_msgpack(j1)), "application/octet-stream"),
                   response(bytes(json::to_msgpack(j2)), "application/octet-stream")),
              ElementsAre("$body"));
  // two formats are two answers, even when they hold the same value
  EXPECT_THAT(diff(msgpack(j1), cbor(j1)), ElementsAre("$body"));
  EXPECT_THAT(diff(as_json(j1), msgpack(j1)), ElementsAre("$body"));
}

TEST(DiffBinary, UnreadableBodiesAreComparedAsBytes) {
  const std::string good = bytes(json::to_msgpack(kUser));
  const std::vector<std::string> bad_msgpack = {
      good.substr(0, good.size() - 1),              // cut
      bytes({0xc1}),                                // never used
      bytes({0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}),  // 4 G elements claimed, one there
      bytes({0x81, 0x91, 0x01, 0x02}),              // an array as a key
      bytes({0x81, 0xc0, 0x01}),                    // nil as a key
      bytes({0xdb, 0xff, 0xff, 0xff, 0xf0, 'a'}),   // str32 past the end
      bytes({0xc7, 0x05, 0x01, 'a'}),               // ext8 past the end
  };
  for (const std::string& bad : bad_msgpack) {
    EXPECT_THAT(diff(msgpack(good), msgpack(bad)), ElementsAre("$body"));
  }
  const std::string ok_cbor = bytes(json::to_cbor(kUser));
  const std::vector<std::string> bad_cbor = {
      ok_cbor.substr(0, ok_cbor.size() - 1),
      bytes({0x1c}),                    // reserved additional information
      bytes({0xff}),                    // a break outside an indefinite container
      bytes({0x82, 0x01, 0xff}),        // a break in a definite array
      bytes({0xbf, 0x61, 'a', 0xff}),   // a break where a map's value should be
      bytes({0x7f, 0x41, 'a', 0xff}),   // a byte-string chunk in a text string
      bytes({0x7f, 0x7f, 0xff, 0xff}),  // an indefinite chunk
      bytes({0xf8, 0x10}),              // a one-byte simple value below 32
      bytes({0xc1}),                    // a tag on nothing
      bytes({0xa1, 0xc1, 0x01, 0x02}),  // a tagged key
      bytes({0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),  // 2^64 - 1 elements
  };
  for (const std::string& bad : bad_cbor) {
    EXPECT_THAT(diff(cbor(ok_cbor), cbor(bad)), ElementsAre("$body"));
  }
}

// Nesting costs heap, never stack: a million levels of arrays read and compare.
TEST(DiffBinary, DeepNestingIsBoundedByTheBody) {
  const size_t depth = 1'000'000;
  std::string a(depth, '\x91');
  std::string b = a;
  a += '\x01';
  b += '\x02';
  EXPECT_THAT(diff(msgpack(a), msgpack(a)), IsEmpty());
  const Paths got = diff(msgpack(a), msgpack(b));
  ASSERT_EQ(got.size(), 1u);
  // compared down to max_depth (64), then as a whole
  std::string want = "$";
  for (int i = 0; i < 64; ++i) want += "[*]";
  EXPECT_EQ(got[0], want);
  std::string c(depth, '\x81');  // CBOR: arrays of one
  c += '\x01';
  std::string d(depth, '\x81');
  d += '\x02';
  EXPECT_EQ(diff(cbor(c), cbor(d)), Paths{want});
}

// Seeded random documents: the diff of their MessagePack and of their CBOR is the diff of their
// JSON, change for change (numbers keep their type: an integer stays one).
TEST(DiffBinary, RandomDocumentsDiffAsTheirJson) {
  std::mt19937_64 rng(20261207);
  const auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::function<json(int)> make = [&](int depth) -> json {
    switch (depth > 3 ? pick(4) : pick(6)) {
      case 0:
        return static_cast<int64_t>(rng() % 2000) - 1000;
      case 1:
        return static_cast<double>(pick(1000)) / 8.0 + 0.0625;  // never a whole number
      case 2:
        return std::string(1 + pick(6), static_cast<char>('a' + pick(3)));
      case 3:
        return pick(2) ? json(nullptr) : json(pick(2) == 1);
      case 4: {
        json a = json::array();
        for (size_t i = pick(4); i > 0; --i) a.push_back(make(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (size_t i = pick(5); i > 0; --i) {
          o[std::string(1, static_cast<char>('k' + pick(6)))] = make(depth + 1);
        }
        return o;
      }
    }
  };
  // a copy with a few leaves changed, members added or removed, arrays grown
  const std::function<void(json&)> mutate = [&](json& j) {
    if (j.is_object()) {
      if (pick(6) == 0) j[std::string(1, static_cast<char>('k' + pick(8)))] = make(3);
      if (!j.empty() && pick(6) == 0) j.erase(j.begin());
      for (auto& [k, v] : j.items()) mutate(v);
    } else if (j.is_array()) {
      if (pick(8) == 0) j.push_back(make(3));
      for (auto& v : j) mutate(v);
    } else if (pick(5) == 0) {
      if (j.is_number_integer()) j = j.get<int64_t>() + 1;
      if (j.is_number_float()) j = j.get<double>() * 2;
      if (j.is_string()) j = j.get<std::string>() + "x";
      if (j.is_boolean()) j = !j.get<bool>();
    }
  };
  size_t differing = 0;
  for (int round = 0; round < 400; ++round) {
    const json x = make(0);
    json y = x;
    mutate(y);
    const Paths want = diff(as_json(x), as_json(y));
    differing += !want.empty();
    ASSERT_EQ(diff(msgpack(x), msgpack(y)), want) << x.dump() << " / " << y.dump();
    ASSERT_EQ(diff(cbor(x), cbor(y)), want) << x.dump() << " / " << y.dump();
  }
  EXPECT_GT(differing, 100u);  // the mutations do change documents
}

}  // namespace
}  // namespace twin::compare
