// The schema-less Protocol Buffers rewriter and the gRPC envelope reader (scrubber/src/protobuf.h).
// Messages are built by a small encoder written here from the wire format's description, and,
// where protoc is installed (scripts/setup.sh), by protoc --encode from a schema and read back
// by protoc --decode: an independent reader of what the rewriter wrote.

#include "protobuf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "files.h"
#include "protobuf_wire.h"

namespace twin::scrubber {
namespace {

using test::pb::fixed32;
using test::pb::fixed64;
using test::pb::ld;
using test::pb::shape;
using test::pb::tag;
using test::pb::varint;
using test::pb::vi;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// Records every visit; replaces text by `text_map` (when it holds the value) and bytes by
// `bytes_with` (same length, or another length to check that it is refused).
struct Recorder : ProtobufVisitor {
  std::vector<std::pair<std::string, std::string>> texts, bytes_seen, numbers;
  std::vector<std::pair<std::string, std::string>> text_map, number_map;
  std::string bytes_with;
  bool text(std::string_view path, std::string_view value, std::string& replacement) override {
    texts.emplace_back(path, value);
    for (const auto& [from, to] : text_map) {
      if (value == from) {
        replacement = to;
        return true;
      }
    }
    return false;
  }
  bool number(std::string_view path, std::string_view value, std::string& replacement) override {
    numbers.emplace_back(path, value);
    for (const auto& [from, to] : number_map) {
      if (value == from) {
        replacement = to;
        return true;
      }
    }
    return false;
  }
  bool bytes(std::string_view path, std::string_view value, std::string& replacement) override {
    bytes_seen.emplace_back(path, value);
    if (bytes_with.empty()) return false;
    replacement = bytes_with;
    return true;
  }
};

TEST(Protobuf, FieldsAreVisitedByPathAndKind) {
  const std::string inner = ld(3, "ann.lee@example.com") + vi(4, 300) + ld(5, "");
  const std::string binary("\x00\xff\x10\x80", 4);
  const std::string m = ld(1, inner) + ld(2, "plain text, with a tab\tand é") + ld(4, binary) +
                        vi(5, 1) + fixed64(6) + fixed32(7) + ld(2, "second") +
                        ld(1, ld(3, "x@y.example"));
  Recorder r;
  std::string out;
  const auto res = rewrite_protobuf(m, r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(out, m);  // nothing replaced: the same bytes
  EXPECT_EQ(res.replaced, 0u);
  EXPECT_THAT(r.texts, ElementsAre(Pair("1.3", "ann.lee@example.com"),
                                   Pair("2", "plain text, with a tab\tand é"), Pair("2", "second"),
                                   Pair("1.3", "x@y.example")));
  EXPECT_THAT(r.bytes_seen, ElementsAre(Pair("4", binary)));
  EXPECT_EQ(res.fields, 8u + 3u + 1u);
}

TEST(Protobuf, ReplacementsOfAnyLengthRewriteEveryLengthAround) {
  // Lengths that cross the one-byte varint boundary at two depths.
  const std::string name(120, 'n');
  const std::string m =
      ld(1, ld(2, ld(3, "ann@example.com") + vi(4, 7)) + ld(5, name)) + vi(9, 150) + ld(6, "z");
  Recorder r;
  r.text_map = {{"ann@example.com", std::string(200, 'a') + "@example.com"}, {"z", ""}};
  std::string out;
  const auto res = rewrite_protobuf(m, r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(res.replaced, 2u);
  const std::string want =
      ld(1, ld(2, ld(3, std::string(200, 'a') + "@example.com") + vi(4, 7)) + ld(5, name)) +
      vi(9, 150) + ld(6, "");
  EXPECT_EQ(out, want);
  EXPECT_TRUE(is_protobuf_message(out));
  EXPECT_EQ(shape(out), shape(m));
}

TEST(Protobuf, BytesKeepTheirLength) {
  const std::string binary("\x01\x02\x03\xfe", 4);
  const std::string m = ld(1, binary);
  Recorder same;
  same.bytes_with = std::string("\x09\x08\x07\xf0", 4);
  std::string out;
  ASSERT_TRUE(rewrite_protobuf(m, same, out).valid);
  EXPECT_EQ(out, ld(1, same.bytes_with));
  Recorder longer;
  longer.bytes_with = "five!";
  ASSERT_TRUE(rewrite_protobuf(m, longer, out).valid);
  EXPECT_EQ(out, m);
}

// A nested message of one short string has a printable tag and length ('"' and ' ' for field 4
// and 32 bytes): it is read as a message, so that the detectors never see its tag and length
// as part of the text. Text that happens to parse as a message of numbers only ("Hi" is field
// 9 = 105) is text.
TEST(Protobuf, AmbiguousFieldsAreReadTheSafeWay) {
  const std::string secret = "Zk3PqW8rTn2LbX5vYc7HdJ4sMa9GeUfR";  // 32 bytes
  const std::string nested = ld(4, secret);
  ASSERT_EQ(nested.substr(0, 2), "\" ");
  Recorder r;
  std::string out;
  ASSERT_TRUE(rewrite_protobuf(ld(1, nested) + ld(2, "Hi"), r, out).valid);
  EXPECT_THAT(r.texts, ElementsAre(Pair("1.4", secret), Pair("2", "Hi")));
  EXPECT_TRUE(r.bytes_seen.empty());
}

TEST(Protobuf, WhatIsNotAMessageIsSaidSo) {
  Recorder r;
  std::string out;
  for (const std::string& bad :
       {std::string("\x08", 1),            // a tag without its varint
        std::string("\x00\x01", 2),        // field number 0
        tag(1, 3) + tag(1, 4),             // a group
        tag(1, 6),                         // no wire type 6
        tag(1, 2) + varint(10) + "short",  // a length past the end
        tag(1, 1) + "1234567",             // a fixed64 cut short
        std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),  // a varint past 64 bits
        tag(536870912, 0) + varint(1)}) {                                 // field number 2^29
    SCOPED_TRACE(testing::PrintToString(bad));
    EXPECT_FALSE(is_protobuf_message(bad));
    EXPECT_FALSE(rewrite_protobuf(bad, r, out).valid);
  }
  EXPECT_TRUE(r.texts.empty());
  EXPECT_TRUE(is_protobuf_message(""));
  EXPECT_TRUE(is_protobuf_message(tag(536870911, 0) + varint(1)));
}

TEST(Protobuf, NestingPastTheLimitIsBytesNotRecursion) {
  std::string m = ld(1, "deep@example.com");
  for (int i = 0; i < 200; ++i) m = ld(2, m + vi(3, 1));
  Recorder r;
  std::string out;
  ASSERT_TRUE(rewrite_protobuf(m, r, out).valid);
  EXPECT_EQ(out, m);
  EXPECT_TRUE(r.texts.empty());
  ASSERT_EQ(r.bytes_seen.size(), 1u);  // the message at depth 64, whole
  EXPECT_EQ(std::count(r.bytes_seen[0].first.begin(), r.bytes_seen[0].first.end(), '.'),
            kProtobufMaxDepth - 1);
}

TEST(Protobuf, RandomBytesNeverBreakTheRewriter) {
  std::mt19937 rng(5);
  Recorder r;
  r.text_map = {};
  std::string out;
  size_t valid = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string m(rng() % 40, '\0');
    for (char& c : m) c = static_cast<char>(rng());
    const auto res = rewrite_protobuf(m, r, out);
    ASSERT_EQ(res.valid, is_protobuf_message(m));
    if (res.valid) {
      ++valid;
      ASSERT_EQ(out, m);
    }
  }
  EXPECT_GT(valid, 100u);
}

TEST(Envelopes, SplitAndWrite) {
  std::string body;
  ASSERT_TRUE(append_envelope(0, "first", body));
  ASSERT_TRUE(append_envelope(1, "", body));
  ASSERT_TRUE(append_envelope(0x80, "grpc-status: 0\r\n", body));
  EXPECT_EQ(body.substr(0, 10), std::string("\x00\x00\x00\x00\x05"
                                            "first",
                                            10));
  Envelopes e = split_envelopes(body);
  ASSERT_EQ(e.items.size(), 3u);
  EXPECT_EQ(e.items[0].flags, 0);
  EXPECT_EQ(e.items[0].payload, "first");
  EXPECT_EQ(e.items[1].flags, 1);
  EXPECT_EQ(e.items[1].payload, "");
  EXPECT_EQ(e.items[2].flags, 0x80);
  EXPECT_TRUE(e.rest.empty());
  // Cut inside the last message, and inside a prefix.
  e = split_envelopes(std::string_view(body).substr(0, body.size() - 3));
  ASSERT_EQ(e.items.size(), 2u);
  EXPECT_EQ(e.rest.size(), 5u + 16u - 3u);
  e = split_envelopes(std::string_view(body).substr(0, 13));
  ASSERT_EQ(e.items.size(), 1u);
  EXPECT_EQ(e.rest.size(), 3u);
  // A length of 4 GiB - 1 announced by four bytes of 0xff is not there.
  e = split_envelopes(std::string("\x00\xff\xff\xff\xff", 5) + "abc");
  EXPECT_TRUE(e.items.empty());
  EXPECT_EQ(e.rest.size(), 8u);
}

TEST(Envelopes, GrpcWebTextIsBase64InPaddedPieces) {
  std::string out;
  // "\0\0\0\0\x02hi" and "\x80\0\0\0\x00" each encoded on its own, as a server sends them.
  ASSERT_TRUE(decode_grpc_web_text("AAAAAAJoaQ==gAAAAAA=", out));
  EXPECT_EQ(out, std::string("\x00\x00\x00\x00\x02hi\x80\x00\x00\x00\x00", 12));
  ASSERT_TRUE(decode_grpc_web_text("", out));
  EXPECT_TRUE(out.empty());
  for (const char* bad : {"AAAAAAJoaQ=", "AAAA AAA", "AA=A", "A===", "AAAAAAJoaQ-_"}) {
    EXPECT_FALSE(decode_grpc_web_text(bad, out)) << bad;
  }
}

TEST(Envelopes, BinaryHeadersArePaddedOrNot) {
  std::string out;
  bool padded = false;
  ASSERT_TRUE(decode_binary_header("CAYSAmhp", out, padded));  // 6 bytes: no padding needed
  EXPECT_EQ(out, vi(1, 6) + ld(2, "hi"));
  EXPECT_FALSE(padded);
  ASSERT_TRUE(decode_binary_header("CAYSAWg", out, padded));
  EXPECT_EQ(out, vi(1, 6) + ld(2, "h"));
  EXPECT_FALSE(padded);
  ASSERT_TRUE(decode_binary_header("CAYSAWg=", out, padded));
  EXPECT_EQ(out, vi(1, 6) + ld(2, "h"));
  EXPECT_TRUE(padded);
  for (const char* bad : {"CAYSA", "CA==CA==", "CAY SAWg", "CAYSAWg-"}) {
    EXPECT_FALSE(decode_binary_header(bad, out, padded)) << bad;
  }
}

// protoc writes a message from a schema; the rewriter replaces its strings with longer and
// shorter ones; protoc reads the result with the same schema and finds every other field as
// it was.
TEST(Protobuf, ProtocReadsWhatTheRewriterWrote) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  test::TempDir dir;
  test::spit(dir.file("user.proto"), R"(syntax = "proto3";
package t;
message Address { string street = 1; string city = 2; }
message User {
  int64 id = 1;
  string email = 2;
  string name = 3;
  repeated Address addresses = 4;
  bytes avatar = 5;
  double score = 6;
  fixed32 flags = 7;
  repeated int32 codes = 8;
  map<string, string> labels = 9;
  User manager = 10;
}
)");
  test::spit(dir.file("user.txt"), R"(id: 4215
email: "ann.lee@example.com"
name: "Ann Lee"
addresses { street: "12 Long Road" city: "Leeds" }
addresses { street: "1 Short St" city: "York" }
avatar: "\211PNG\r\n\032\n\000\000"
score: 4.5
flags: 7
codes: [1, 300, 70000]
labels { key: "tier" value: "gold" }
manager { id: 7 email: "boss@example.com" name: "Bo" }
)");
  const std::string protoc = "cd " + dir.path() + " && protoc --proto_path=. ";
  ASSERT_EQ(std::system((protoc + "--encode=t.User user.proto < user.txt > user.bin").c_str()), 0);
  const std::string bin = test::slurp(dir.file("user.bin"));
  Recorder r;
  r.text_map = {{"ann.lee@example.com", "someone.else.entirely@example.org"},
                {"Ann Lee", "Q"},
                {"12 Long Road", std::string(150, 'R')},
                {"boss@example.com", "b@example.com"}};
  std::string out;
  const auto res = rewrite_protobuf(bin, r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(res.replaced, 4u);
  test::spit(dir.file("out.bin"), out);
  ASSERT_EQ(std::system((protoc + "--decode=t.User user.proto < out.bin > out.txt").c_str()), 0);
  const std::string text = test::slurp(dir.file("out.txt"));
  EXPECT_THAT(text, HasSubstr("email: \"someone.else.entirely@example.org\""));
  EXPECT_THAT(text, HasSubstr("name: \"Q\""));
  EXPECT_THAT(text, HasSubstr("street: \"" + std::string(150, 'R') + "\""));
  EXPECT_THAT(text, HasSubstr("email: \"b@example.com\""));
  // Every other field as protoc wrote it.
  ASSERT_EQ(std::system((protoc + "--decode=t.User user.proto < user.bin > in.txt").c_str()), 0);
  std::string expected = test::slurp(dir.file("in.txt"));
  for (const auto& [from, to] : r.text_map) {
    const size_t at = expected.find("\"" + from + "\"");
    ASSERT_NE(at, std::string::npos) << from;
    expected.replace(at + 1, from.size(), to);
  }
  EXPECT_EQ(text, expected);
  // The strings inside the map entry and the nested messages were read by their paths.
  EXPECT_THAT(r.texts, ::testing::Contains(Pair("9.1", "tier")));
  EXPECT_THAT(r.texts, ::testing::Contains(Pair("10.2", "boss@example.com")));
  EXPECT_THAT(r.texts, ::testing::Contains(Pair("4.2", "York")));
}

// Integers typed by the schema are visited as decimals and written back in their type's
// encoding; protoc reads what was written. A value out of the type's range is cut to it.
TEST(ProtobufSchema, IntegersAreReadAsTheirTypesSay) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  test::TempDir dir;
  test::spit(dir.file("n.proto"), R"(syntax = "proto3";
package t;
message N {
  int64 phone = 1;
  int32 year = 2;
  sint64 delta = 3;
  fixed32 code = 4;
  uint32 big = 5;
  sfixed64 offset = 6;
  sint32 small = 7;
  repeated int64 ids = 8;
  bool flag = 9;
  double score = 10;
  int32 keep = 11;
}
)");
  test::spit(dir.file("n.txt"),
             "phone: 4155552671 year: -5 delta: -3 code: 4000000000 big: 4000000000 offset: "
             "-9000000000 small: -2 ids: [1, 2] flag: true score: 2.5 keep: 42\n");
  const std::string protoc = "cd " + dir.path() + " && protoc --proto_path=. ";
  ASSERT_EQ(std::system((protoc + "--encode=t.N n.proto < n.txt > n.bin").c_str()), 0);
  ASSERT_EQ(std::system((protoc + "--descriptor_set_out=n.pb n.proto").c_str()), 0);
  ProtobufSchema schema;
  std::string error;
  ASSERT_TRUE(schema.add(test::slurp(dir.file("n.pb")), error)) << error;
  Recorder r;
  r.number_map = {
      {"4155552671", "9999999999"}, {"-5", "-7"},   {"-3", "12"}, {"4000000000", "5000000000"},
      {"-9000000000", "7"},         {"-2", "-200"}, {"1", "x1"}};
  std::string out;
  ASSERT_TRUE(
      rewrite_protobuf(test::slurp(dir.file("n.bin")), r, out, &schema, schema.message("t.N"))
          .valid);
  EXPECT_THAT(r.numbers,
              ElementsAre(Pair("phone", "4155552671"), Pair("year", "-5"), Pair("delta", "-3"),
                          Pair("code", "4000000000"), Pair("big", "4000000000"),
                          Pair("offset", "-9000000000"), Pair("small", "-2"), Pair("ids[]", "1"),
                          Pair("ids[]", "2"), Pair("score", "2.5"), Pair("keep", "42")));
  test::spit(dir.file("out.bin"), out);
  ASSERT_EQ(std::system((protoc + "--decode=t.N n.proto < out.bin > out.txt").c_str()), 0);
  // 5000000000 does not fit 32 bits: 5000000000 mod 2^32 = 705032704. Bool is not visited;
  // "x1" is no integer, so nothing replaced the packed 1.
  EXPECT_EQ(test::slurp(dir.file("out.txt")),
            "phone: 9999999999\nyear: -7\ndelta: 12\ncode: 705032704\nbig: 705032704\n"
            "offset: 7\nsmall: -200\nids: 1\nids: 2\nflag: true\nscore: 2.5\nkeep: 42\n");
}

// proto3 packs repeated scalars into one length-delimited field: each integer in it is read
// as its type says and the field written again with its new length; unpacked ones are read
// one by one; packed bool, enum and floating point are left as they are.
TEST(ProtobufSchema, PackedIntegersAreReadOneByOne) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  test::TempDir dir;
  test::spit(dir.file("p.proto"), R"(syntax = "proto3";
package t;
message P {
  repeated int64 phones = 1;
  repeated sint32 deltas = 2;
  repeated fixed32 codes = 3;
  repeated sfixed64 offsets = 4;
  repeated bool flags = 5;
  repeated double scores = 6;
  repeated int64 loose = 7 [packed = false];
  string note = 8;
  repeated Mood moods = 9;
}
enum Mood { CALM = 0; GLAD = 1; }
)");
  test::spit(dir.file("p.txt"),
             "phones: [4155552671, 1, 4155552672] deltas: [-3, 5] codes: [7, 4000000000] "
             "offsets: [-9000000000, 2] flags: [true, false] scores: [1.5] loose: [4155552671, 3] "
             "note: \"x\" moods: [GLAD, CALM]\n");
  const std::string protoc = "cd " + dir.path() + " && protoc --proto_path=. ";
  ASSERT_EQ(std::system((protoc + "--encode=t.P p.proto < p.txt > p.bin").c_str()), 0);
  ASSERT_EQ(std::system((protoc + "--descriptor_set_out=p.pb p.proto").c_str()), 0);
  ProtobufSchema schema;
  std::string error;
  ASSERT_TRUE(schema.add(test::slurp(dir.file("p.pb")), error)) << error;
  const std::string in = test::slurp(dir.file("p.bin"));
  // protoc packed them: one length-delimited field 1 (not three varints)
  std::vector<test::pb::Field> top;
  ASSERT_TRUE(test::pb::fields(in, top));
  ASSERT_FALSE(top.empty());
  ASSERT_EQ(top[0].number, 1u);
  ASSERT_EQ(top[0].wire, 2);
  Recorder r;
  // 4155552671 → a 3-digit number: the packed field gets shorter, its length is written again
  r.number_map = {{"4155552671", "123"},
                  {"-3", "-300000"},
                  {"4000000000", "9"},
                  {"-9000000000", "-1"},
                  {"3", "33"}};
  std::string out;
  ASSERT_TRUE(rewrite_protobuf(in, r, out, &schema, schema.message("t.P")).valid);
  EXPECT_THAT(
      r.numbers,
      ElementsAre(Pair("phones[]", "4155552671"), Pair("phones[]", "1"),
                  Pair("phones[]", "4155552672"), Pair("deltas[]", "-3"), Pair("deltas[]", "5"),
                  Pair("codes[]", "7"), Pair("codes[]", "4000000000"),
                  Pair("offsets[]", "-9000000000"), Pair("offsets[]", "2"), Pair("scores[]", "1.5"),
                  Pair("loose[]", "4155552671"), Pair("loose[]", "3")));
  test::spit(dir.file("out.bin"), out);
  ASSERT_EQ(std::system((protoc + "--decode=t.P p.proto < out.bin > out.txt").c_str()), 0);
  EXPECT_EQ(test::slurp(dir.file("out.txt")),
            "phones: 123\nphones: 1\nphones: 4155552672\ndeltas: -300000\ndeltas: 5\n"
            "codes: 7\ncodes: 9\noffsets: -1\noffsets: 2\nflags: true\nflags: false\n"
            "scores: 1.5\nloose: 123\nloose: 33\nnote: \"x\"\nmoods: GLAD\nmoods: CALM\n");

  // A packed field whose bytes are not whole elements (a varint cut short, 5 bytes of a
  // fixed32) is left as it was, and the rest of the message is still read.
  const std::string bad = ld(1, varint(5) + "\x80") + ld(3, "12345") + ld(8, "x");
  Recorder none;
  none.number_map = {{"5", "6"}};
  ASSERT_TRUE(rewrite_protobuf(bad, none, out, &schema, schema.message("t.P")).valid);
  EXPECT_TRUE(none.numbers.empty());
  EXPECT_THAT(none.texts, ElementsAre(Pair("note", "x")));
  EXPECT_EQ(out, bad);
}

// double and float (a coordinate under `latitude` is personal data): read as the shortest
// decimal that is the value, the replacement rounded to the type; NaN and infinities are not
// visited; a replacement past a float's range is an infinity, one that is no number not used.
TEST(ProtobufSchema, FloatingPointIsReadAsDecimals) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  test::TempDir dir;
  test::spit(dir.file("g.proto"), R"(syntax = "proto3";
package t;
message G {
  double latitude = 1;
  float longitude = 2;
  repeated double path = 3;
  float big = 4;
  double odd = 5;
  float tiny = 6;
  double keep = 7;
}
)");
  test::spit(dir.file("g.txt"),
             "latitude: 51.507351 longitude: -0.127758 path: [40.7128, -74.006] big: 3.5 "
             "odd: nan tiny: -inf keep: 0.1\n");
  const std::string protoc = "cd " + dir.path() + " && protoc --proto_path=. ";
  ASSERT_EQ(std::system((protoc + "--encode=t.G g.proto < g.txt > g.bin").c_str()), 0);
  ASSERT_EQ(std::system((protoc + "--descriptor_set_out=g.pb g.proto").c_str()), 0);
  ProtobufSchema schema;
  std::string error;
  ASSERT_TRUE(schema.add(test::slurp(dir.file("g.pb")), error)) << error;
  Recorder r;
  r.number_map = {{"51.507351", "51.500000"}, {"-0.127758", "-0.13"}, {"40.7128", "40.71"},
                  {"-74.006", "-74.01"},      {"3.5", "1e39"},        {"0.1", "0.1x"}};
  std::string out;
  ASSERT_TRUE(
      rewrite_protobuf(test::slurp(dir.file("g.bin")), r, out, &schema, schema.message("t.G"))
          .valid);
  EXPECT_THAT(r.numbers, ElementsAre(Pair("latitude", "51.507351"), Pair("longitude", "-0.127758"),
                                     Pair("path[]", "40.7128"), Pair("path[]", "-74.006"),
                                     Pair("big", "3.5"), Pair("keep", "0.1")));
  test::spit(dir.file("out.bin"), out);
  ASSERT_EQ(std::system((protoc + "--decode=t.G g.proto < out.bin > out.txt").c_str()), 0);
  EXPECT_EQ(test::slurp(dir.file("out.txt")),
            "latitude: 51.5\nlongitude: -0.13\npath: 40.71\npath: -74.01\nbig: inf\n"
            "odd: nan\ntiny: -inf\nkeep: 0.1\n");
}

// A schema from protoc --descriptor_set_out names the fields and says which bytes are a
// string and which a message.
TEST(ProtobufSchema, ReadFromProtocsDescriptorSet) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  test::TempDir dir;
  test::spit(dir.file("shop.proto"), R"(syntax = "proto3";
package shop.v1;
import "google/protobuf/timestamp.proto";
message User {
  message Address { string street = 1; string city = 2; }
  int64 id = 1;
  string email = 2;
  repeated Address addresses = 4;
  map<string, string> labels = 9;
  User manager = 10;
  Secretish box = 11;
  bytes note = 12;
  google.protobuf.Timestamp born = 13;
  repeated int32 codes = 14;
}
message Secretish { string code = 4; }
message GetUser { string email = 1; }
service Users { rpc Get(GetUser) returns (User); }
)");
  ASSERT_EQ(std::system(("cd " + dir.path() +
                         " && protoc --proto_path=. --include_imports "
                         "--descriptor_set_out=shop.pb shop.proto")
                            .c_str()),
            0);
  ProtobufSchema schema;
  std::string error;
  ASSERT_TRUE(schema.add(test::slurp(dir.file("shop.pb")), error)) << error;
  const auto* user = schema.message("shop.v1.User");
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(schema.message(".shop.v1.User"), user);
  ASSERT_NE(user->field(4), nullptr);
  EXPECT_EQ(user->field(4)->name, "addresses");
  EXPECT_TRUE(user->field(4)->repeated);
  EXPECT_EQ(schema.messages()[size_t(user->field(4)->message)].full_name, "shop.v1.User.Address");
  EXPECT_EQ(user->field(3), nullptr);
  EXPECT_NE(schema.message("google.protobuf.Timestamp"), nullptr);  // --include_imports
  // A map field is a repeated message field whose entry type says map_entry.
  ASSERT_NE(user->field(9), nullptr);
  EXPECT_TRUE(user->field(9)->repeated);
  ASSERT_GE(user->field(9)->message, 0);
  EXPECT_TRUE(schema.messages()[size_t(user->field(9)->message)].map_entry);
  EXPECT_FALSE(schema.messages()[size_t(user->field(4)->message)].map_entry);
  EXPECT_FALSE(user->map_entry);
  const auto [in, out] = schema.method("/shop.v1.Users/Get?x=1");
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(in->full_name, "shop.v1.GetUser");
  EXPECT_EQ(out, user);
  EXPECT_EQ(schema.method("/shop.v1.Users/Put").first, nullptr);
  EXPECT_EQ(schema.method("shop.v1.Users/Get").first, nullptr);

  // Read by the schema: names, "[]" for repeated fields (map entries too), and the printable
  // message in field 11 read as the message it is declared to be, field 3 (not in the schema)
  // by its number.
  const std::string m = ld(2, "ann@example.com") + ld(4, ld(1, "12 Long Road") + ld(2, "Leeds")) +
                        ld(9, ld(1, "tier") + ld(2, "gold")) + ld(10, ld(2, "boss@example.com")) +
                        ld(11, ld(4, "Zk3PqW8rTn2LbX5vYc7HdJ4sMa9GeUfR")) + ld(12, "a note") +
                        ld(3, "stray") + ld(14, varint(1) + varint(2));
  Recorder r;
  std::string rewritten;
  ASSERT_TRUE(rewrite_protobuf(m, r, rewritten, &schema, user).valid);
  EXPECT_EQ(rewritten, m);
  EXPECT_THAT(
      r.texts,
      ElementsAre(Pair("email", "ann@example.com"), Pair("addresses[].street", "12 Long Road"),
                  Pair("addresses[].city", "Leeds"), Pair("labels[].key", "tier"),
                  Pair("labels[].value", "gold"), Pair("manager.email", "boss@example.com"),
                  Pair("box.code", "Zk3PqW8rTn2LbX5vYc7HdJ4sMa9GeUfR"), Pair("note", "a note"),
                  Pair("3", "stray")));
  EXPECT_TRUE(r.bytes_seen.empty());  // packed numbers are not visited

  // What is not a descriptor set says so, and adds nothing.
  ProtobufSchema other;
  EXPECT_FALSE(other.add(std::string("\x0a\x05"
                                     "ab",
                                     4),
                         error));
  EXPECT_THAT(error, HasSubstr("does not parse"));
  EXPECT_FALSE(other.add("", error));
  EXPECT_TRUE(other.empty());
}

}  // namespace
}  // namespace twin::scrubber
