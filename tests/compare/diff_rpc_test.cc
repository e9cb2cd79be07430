// Tests of response diffs over Protocol Buffers bodies without their schema, bare and in the
// length-prefixed frames of gRPC, gRPC-Web (binary and text) and Connect streaming: fields are
// named by number (`$.3.1`), so that a noisy timestamp field and a real change are two paths,
// not one `$body`. The messages are written here from the wire-format spec
// (protobuf.dev/programming-guides/encoding).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "files.h"
#include "protobuf_wire.h"
#include "responses.h"
#include "twin/compare/diff.h"
#include "twin/traffic/content_coding.h"
#include "twin/traffic/text.h"

namespace twin::compare {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Paths = std::vector<std::string>;

using test::pb::varint;
std::string num(uint32_t field, uint64_t v) { return test::pb::vi(field, v); }
std::string str(uint32_t field, const std::string& v) { return test::pb::ld(field, v); }
std::string fixed64(uint32_t field, uint64_t v) {
  std::string out = test::pb::tag(field, 1);
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}
std::string frame(const std::string& message, uint8_t flags = 0) {
  return test::pb::envelope(flags, message);
}

using test::response;
traffic::Response grpc(const std::string& body, traffic::Headers more = {}) {
  more.push_back({"grpc-status", "0"});
  return response(body, "application/grpc", std::move(more));
}
traffic::Response proto(const std::string& body) {
  return response(body, "application/x-protobuf");
}

Paths diff(const traffic::Response& a, const traffic::Response& b, DiffOptions options = {}) {
  ResponseDiffer differ(std::move(options));
  Paths out{"stale"};
  EXPECT_TRUE(differ.diff(a, b, out));
  return out;
}

// An order: id 1, customer 2 (a message: name 1, tier 2), lines 3 (repeated messages: sku 1,
// qty 2), updated_at 5 (a varint timestamp), checksum 6 (fixed64), blob 7 (bytes).
std::string order(const std::string& name = "Ann", uint64_t qty2 = 2, uint64_t updated = 1700000000,
                  const std::string& blob = std::string("\x00\xff\x10", 3)) {
  return num(1, 4215) + str(2, str(1, name) + num(2, 3)) + str(3, str(1, "SKU-1") + num(2, 1)) +
         str(3, str(1, "SKU-2") + num(2, qty2)) + num(5, updated) + fixed64(6, 0xfeedface) +
         str(7, blob);
}

TEST(DiffRpc, FieldsAreNamedByNumber) {
  EXPECT_THAT(diff(proto(order()), proto(order())), IsEmpty());
  EXPECT_THAT(diff(proto(order()), proto(order("Bob"))), ElementsAre("$.2.1"));
  EXPECT_THAT(diff(proto(order()), proto(order("Ann", 3))), ElementsAre("$.3[*].2"));
  EXPECT_THAT(diff(proto(order()), proto(order("Ann", 2, 1700000001))), ElementsAre("$.5"));
  EXPECT_THAT(diff(proto(order()), proto(order("Ann", 2, 1700000000, "\x01\x02"))),
              ElementsAre("$.7"));
  // a field more, a field less, a repeated field grown
  EXPECT_THAT(diff(proto(order()), proto(order() + num(9, 1))), ElementsAre("$.9"));
  EXPECT_THAT(diff(proto(order() + str(3, str(1, "SKU-3"))), proto(order() + str(3, str(1, "X")))),
              ElementsAre("$.3[*].1"));
  EXPECT_THAT(diff(proto(order()), proto(order() + str(3, str(1, "SKU-3")))), ElementsAre("$.3"));
}

TEST(DiffRpc, FieldOrderOnTheWireDoesNotMatter) {
  // the same fields written in another order (an encoder that appends unknown fields, or sorts
  // otherwise); repeated values keep their order: swapped, a value moved, which names the field
  const std::string a = num(1, 7) + str(2, "x") + num(3, 1) + num(3, 2);
  const std::string b = num(3, 1) + str(2, "x") + num(3, 2) + num(1, 7);
  EXPECT_THAT(diff(proto(a), proto(b)), IsEmpty());
  const std::string swapped = num(3, 2) + str(2, "x") + num(3, 1) + num(1, 7);
  EXPECT_THAT(diff(proto(a), proto(swapped)), ElementsAre("$.3"));
  EXPECT_THAT(diff(proto(a), proto(num(3, 1) + str(2, "x") + num(3, 9) + num(1, 7))),
              ElementsAre("$.3[*]"));
}

TEST(DiffRpc, MapFieldsNamedUnorderedCompareInAnyOrder) {
  // A map<string, int64> field 4 is a repeated message of entries {1: key, 2: value}, which Go
  // writes in random order: named in `unordered`, order is no difference, a changed value is.
  const auto entry = [](const std::string& key, uint64_t value) {
    return str(4, str(1, key) + num(2, value));
  };
  const std::string a = num(1, 7) + entry("eu", 3) + entry("us", 5) + entry("ap", 1);
  const std::string b = num(1, 7) + entry("ap", 1) + entry("eu", 3) + entry("us", 5);
  const std::string c = num(1, 7) + entry("us", 6) + entry("ap", 1) + entry("eu", 3);
  DiffOptions maps;
  maps.unordered = {"$.4"};
  EXPECT_THAT(diff(proto(a), proto(b), maps), IsEmpty());
  EXPECT_THAT(diff(proto(a), proto(c), maps), ElementsAre("$.4[*].2"));
  EXPECT_THAT(diff(proto(a), proto(b)), ElementsAre("$.4"));
  // the same in every message of a gRPC stream
  maps.unordered = {"$[*].4"};
  EXPECT_THAT(diff(grpc(frame(a) + frame(a)), grpc(frame(b) + frame(c)), maps),
              ElementsAre("$[*].4[*].2"));
}

// The service's schema, by protoc, as the gate's diffs.protobuf_descriptors gives it.
std::shared_ptr<const traffic::ProtobufSchema> shop_schema() {
  test::TempDir dir;
  test::spit(dir.file("shop.proto"), R"(syntax = "proto3";
package shop.v1;
message Item { string sku = 1; int32 qty = 2; double price = 3; }
message Order {
  int64 id = 1;
  string note = 2;
  repeated Item items = 3;
  map<string, int64> stock = 4;
  sint32 delta = 5;
  repeated int32 codes = 6;
  bytes blob = 7;
  bool paid = 8;
}
message GetOrder { int64 id = 1; }
service Orders { rpc Get(GetOrder) returns (Order); }
)");
  if (std::system(
          ("cd " + dir.path() + " && protoc --proto_path=. --descriptor_set_out=shop.pb shop.proto")
              .c_str()) != 0) {
    return nullptr;
  }
  auto schema = std::make_shared<traffic::ProtobufSchema>();
  std::string error;
  if (!schema->add(test::slurp(dir.file("shop.pb")), error)) return nullptr;
  return schema;
}

TEST(DiffRpc, TheSchemaNamesFieldsAndReadsMapsNumbersAndRepeatedFields) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  DiffOptions typed;
  typed.protobuf = shop_schema();
  ASSERT_NE(typed.protobuf, nullptr);
  ResponseDiffer differ(typed);
  Paths out;
  const auto item = [](const std::string& sku, uint64_t qty) {
    return str(3, str(1, sku) + num(2, qty));
  };
  const auto entry = [](const std::string& key, uint64_t value) {
    return str(4, str(1, key) + num(2, value));
  };
  const std::string a = num(1, 7) + item("SKU-1", 2) + item("SKU-2", 1) + entry("eu", 3) +
                        entry("us", 5) + num(5, 3 /* zigzag -2 */);
  const auto rpc = [&](const std::string& body) { return grpc(frame(body)); };
  const std::string method = "/shop.v1.Orders/Get";
  // Named fields; the map's entries in another order are the same map.
  const std::string b =
      num(1, 7) + item("SKU-1", 2) + item("SKU-2", 4) + entry("us", 5) + entry("eu", 3) + num(5, 3);
  ASSERT_TRUE(differ.diff(rpc(a), rpc(b), out, method));
  EXPECT_THAT(out, ElementsAre("$.items[*].qty"));
  // Without the method (another path), fields are numbers and the entries' order counts.
  ASSERT_TRUE(differ.diff(rpc(a), rpc(b), out, "/other.Service/Get"));
  EXPECT_THAT(out, ElementsAre("$.3[*].2", "$.4"));
  // A changed map value is named by the map's entry field.
  const std::string c =
      num(1, 7) + item("SKU-1", 2) + item("SKU-2", 1) + entry("us", 6) + entry("eu", 3) + num(5, 3);
  ASSERT_TRUE(differ.diff(rpc(a), rpc(c), out, method));
  EXPECT_THAT(out, ElementsAre("$.stock[*].value"));
  // A repeated field of one element is still an array (a second element names the array, not
  // a type change); a field the schema does not know keeps its number.
  const std::string one = num(1, 7) + item("SKU-1", 2);
  ASSERT_TRUE(differ.diff(rpc(one), rpc(one + item("SKU-9", 1)), out, method));
  EXPECT_THAT(out, ElementsAre("$.items"));
  ASSERT_TRUE(differ.diff(rpc(one), rpc(one + num(15, 1)), out, method));
  EXPECT_THAT(out, ElementsAre("$.15"));
  // Numbers by their type: sint32 -2 (zigzag 3) equals -2 written as zigzag again, and differs
  // from +2 (zigzag 4); int64 -1 (ten bytes) is a number like any other.
  ASSERT_TRUE(differ.diff(rpc(a),
                          rpc(num(1, 7) + item("SKU-1", 2) + item("SKU-2", 1) + entry("eu", 3) +
                              entry("us", 5) + num(5, 4)),
                          out, method));
  EXPECT_THAT(out, ElementsAre("$.delta"));
  ASSERT_TRUE(differ.diff(rpc(num(1, ~uint64_t{0})), rpc(num(1, ~uint64_t{0})), out, method));
  EXPECT_THAT(out, IsEmpty());
  // An int32 -1 sign-extended (ten bytes) or in 32 bits (five) is -1 either way.
  const std::string item_minus = str(3, str(1, "S") + num(2, ~uint64_t{0}));
  const std::string item_minus32 = str(3, str(1, "S") + num(2, 0xffffffffu));
  ASSERT_TRUE(differ.diff(rpc(item_minus), rpc(item_minus32), out, method));
  EXPECT_THAT(out, IsEmpty());
  ASSERT_TRUE(differ.diff(rpc(item_minus), rpc(item_minus32), out));  // without: two numbers
  EXPECT_THAT(out, ElementsAre("$.3.2"));
  // Packed and unpacked repeated numbers are the same list; a changed element is named.
  const std::string packed = str(6, varint(1) + varint(2) + varint(3));
  const std::string unpacked = num(6, 1) + num(6, 2) + num(6, 3);
  ASSERT_TRUE(differ.diff(rpc(packed), rpc(unpacked), out, method));
  EXPECT_THAT(out, IsEmpty());
  ASSERT_TRUE(differ.diff(rpc(packed), rpc(num(6, 1) + num(6, 9) + num(6, 3)), out, method));
  EXPECT_THAT(out, ElementsAre("$.codes[*]"));
  // bytes that happen to be printable stay bytes: against a string they are another type only
  // where the schema says so; bool is true/false.
  ASSERT_TRUE(
      differ.diff(rpc(str(7, "abc") + num(8, 1)), rpc(str(7, "abd") + num(8, 0)), out, method));
  EXPECT_THAT(out, ElementsAre("$.blob", "$.paid"));
}

TEST(DiffRpc, TheSchemaReadsBareProtobufByMediaTypeOrHeader) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  DiffOptions typed;
  typed.protobuf = shop_schema();
  ASSERT_NE(typed.protobuf, nullptr);
  const std::string a = num(1, 7) + str(2, "x");
  const std::string b = num(1, 8) + str(2, "x");
  EXPECT_THAT(diff(response(a, "application/x-protobuf; proto=shop.v1.Order"),
                   response(b, "application/x-protobuf; proto=shop.v1.Order"), typed),
              ElementsAre("$.id"));
  EXPECT_THAT(diff(response(a, "application/x-protobuf; messageType=\"shop.v1.Order\""),
                   response(b, "application/x-protobuf; messageType=\"shop.v1.Order\""), typed),
              ElementsAre("$.id"));
  EXPECT_THAT(
      diff(response(a, "application/x-protobuf", {{"X-Protobuf-Message", "shop.v1.Order"}}),
           response(b, "application/x-protobuf", {{"X-Protobuf-Message", "shop.v1.Order"}}), typed),
      ElementsAre("$.id"));
  // A type the schema does not have: by number.
  EXPECT_THAT(diff(response(a, "application/x-protobuf; proto=shop.v1.Nope"),
                   response(b, "application/x-protobuf; proto=shop.v1.Nope"), typed),
              ElementsAre("$.1"));
}

TEST(DiffRpc, GrpcFramesAndStreams) {
  EXPECT_THAT(diff(grpc(frame(order())), grpc(frame(order("Bob")))), ElementsAre("$.2.1"));
  // a server stream: each message an element
  EXPECT_THAT(
      diff(grpc(frame(order()) + frame(order())), grpc(frame(order()) + frame(order("Bo")))),
      ElementsAre("$[*].2.1"));
  EXPECT_THAT(diff(grpc(frame(order())), grpc(frame(order()) + frame(order()))), ElementsAre("$"));
  // +proto, and a Trailers-Only answer against another (no messages on either side)
  EXPECT_THAT(diff(response(frame(order()), "application/grpc+proto"),
                   response(frame(order("Bob")), "application/grpc+proto")),
              ElementsAre("$.2.1"));
  EXPECT_THAT(diff(grpc(""), grpc("", {{"grpc-message", "other"}})), IsEmpty());
}

TEST(DiffRpc, CompressedFramesAreDecoded) {
  std::string packed;
  ASSERT_TRUE(traffic::encode(traffic::Coding::kGzip, order(), packed));
  EXPECT_THAT(diff(grpc(frame(order())), grpc(frame(packed, 1), {{"grpc-encoding", "gzip"}})),
              IsEmpty());
  std::string packed_bob;
  ASSERT_TRUE(traffic::encode(traffic::Coding::kGzip, order("Bob"), packed_bob));
  EXPECT_THAT(diff(grpc(frame(order())), grpc(frame(packed_bob, 1), {{"grpc-encoding", "gzip"}})),
              ElementsAre("$.2.1"));
  // a coding twin does not know, or none named: bytes
  EXPECT_THAT(diff(grpc(frame(order())), grpc(frame(packed, 1), {{"grpc-encoding", "snappy"}})),
              ElementsAre("$body"));
  EXPECT_THAT(diff(grpc(frame(order())), grpc(frame(packed, 1))), ElementsAre("$body"));
}

TEST(DiffRpc, GrpcWebTrailersAreNotTheBody) {
  const std::string ok = frame("grpc-status:0\r\ngrpc-message:fine\r\n", 0x80);
  const std::string ok2 = frame("grpc-status:0\r\ngrpc-message:also fine\r\n", 0x80);
  EXPECT_THAT(diff(response(frame(order()) + ok, "application/grpc-web+proto"),
                   response(frame(order()) + ok2, "application/grpc-web+proto")),
              IsEmpty());
  EXPECT_THAT(diff(response(frame(order()) + ok, "application/grpc-web"),
                   response(frame(order("Bob")) + ok, "application/grpc-web")),
              ElementsAre("$.2.1"));
  // grpc-web-text: base64, here in two chunks each padded on its own
  const std::string text_a = traffic::base64_encode(frame(order())) + traffic::base64_encode(ok);
  const std::string text_b =
      traffic::base64_encode(frame(order("Bob"))) + traffic::base64_encode(ok2);
  EXPECT_THAT(diff(response(text_a, "application/grpc-web-text"),
                   response(text_b, "application/grpc-web-text+proto")),
              ElementsAre("$.2.1"));
  EXPECT_THAT(diff(response(text_a, "application/grpc-web-text"),
                   response("%%%", "application/grpc-web-text")),
              ElementsAre("$body"));
}

TEST(DiffRpc, ConnectStreamingAndJsonMessages) {
  // Connect streaming: the end-of-stream frame (0x02) carries the status, not a message
  const std::string end_a = frame("{}", 0x02);
  const std::string end_b = frame(R"({"metadata":{"x":["1"]}})", 0x02);
  EXPECT_THAT(diff(response(frame(order()) + end_a, "application/connect+proto"),
                   response(frame(order()) + end_b, "application/connect+proto")),
              IsEmpty());
  // JSON messages in frames (grpc+json, connect+json): compared as JSON, several as an array
  EXPECT_THAT(diff(response(frame(R"({"a":1,"b":2})"), "application/grpc+json"),
                   response(frame(R"({"b":2,"a":3})"), "application/grpc+json")),
              ElementsAre("$.a"));
  EXPECT_THAT(
      diff(response(frame(R"({"a":1})") + frame(R"({"a":2})"), "application/connect+json"),
           response(frame(R"({"a":1})") + frame(R"({"a":3})") + end_b, "application/connect+json")),
      ElementsAre("$[*].a"));
  // a message that is no JSON on its own, though the array of them would read
  EXPECT_THAT(diff(response(frame("1,2"), "application/grpc+json"),
                   response(frame("1") + frame("2"), "application/grpc+json")),
              ElementsAre("$body"));
}

TEST(DiffRpc, TextBytesAndNestedMessagesAreTold) {
  // a printable string field is text; one of control bytes that reads as a message is one; other
  // bytes are bytes
  EXPECT_THAT(diff(proto(str(1, "hello")), proto(str(1, "hellp"))), ElementsAre("$.1"));
  EXPECT_THAT(diff(proto(str(1, num(1, 5) + num(2, 6))), proto(str(1, num(1, 5) + num(2, 7)))),
              ElementsAre("$.1.2"));
  EXPECT_THAT(diff(proto(str(1, std::string("\x00\x01", 2))), proto(str(1, num(1, 5)))),
              ElementsAre("$.1"));
  // a varint and a fixed64 of the same value are the same integer (bits)
  EXPECT_THAT(diff(proto(num(4, 99)), proto(fixed64(4, 99))), IsEmpty());
}

TEST(DiffRpc, NoiseAndRealChangeAreTwoPaths) {
  // what noise cancellation needs: the timestamp and the real change apart
  EXPECT_THAT(diff(grpc(frame(order())), grpc(frame(order("Ann", 5, 1700000099)))),
              ElementsAre("$.3[*].2", "$.5"));
  DiffOptions quiet;
  quiet.ignore = {"$.5", "$.3[*].1"};
  EXPECT_THAT(diff(grpc(frame(order())), grpc(frame(order("Ann", 5, 1700000099))), quiet),
              ElementsAre("$.3[*].2"));
}

TEST(DiffRpc, UnreadableBodiesAreComparedAsBytes) {
  const std::string good = frame(order());
  EXPECT_THAT(diff(grpc(good), grpc(good.substr(0, good.size() - 1))), ElementsAre("$body"));
  EXPECT_THAT(diff(grpc(good), grpc(good + std::string(1, '\0'))), ElementsAre("$body"));
  // a message that is none: a group, field 0, a varint past its end
  EXPECT_THAT(diff(proto(order()), proto("\x0b\x0c")), ElementsAre("$body"));
  EXPECT_THAT(diff(proto(order()), proto(std::string("\x00\x01", 2))), ElementsAre("$body"));
  EXPECT_THAT(diff(proto(order()), proto("\x08\xff")), ElementsAre("$body"));
  // two formats: protobuf against JSON
  EXPECT_THAT(diff(proto(order()), response("{}", "application/json")), ElementsAre("$body"));
}

// What the differ read is counted, so that a `$body` is explained: by format, unreadable (not
// well-formed, two formats), unknown; bodies of the same bytes are not read.
TEST(DiffRpc, BodyCountsSayHowBodiesWereCompared) {
  ResponseDiffer differ;
  Paths out;
  const auto run = [&](const traffic::Response& a, const traffic::Response& b) {
    differ.diff(a, b, out);
  };
  run(proto(order()), proto(order()));                        // same bytes: not read
  run(proto(order()), proto(order("Bob")));                   // protobuf
  run(grpc(frame(order())), grpc(frame(order("Bob"))));       // rpc
  run(grpc(frame(order())), grpc(frame(order()).substr(3)));  // unreadable (cut frame)
  run(proto(order()), response("{}", "application/json"));    // unreadable (two formats)
  run(response(R"({"a":1})", "application/json"), response(R"({"a":2})", "application/json"));
  run(response("abc", "text/plain"), response("abd", "text/plain"));  // unknown
  const ResponseDiffer::BodyCounts& n = differ.body_counts();
  EXPECT_EQ(n.protobuf, 1u);
  EXPECT_EQ(n.rpc, 1u);
  EXPECT_EQ(n.json, 1u);
  EXPECT_EQ(n.msgpack + n.cbor, 0u);
  EXPECT_EQ(n.unreadable, 2u);
  EXPECT_EQ(n.unknown, 1u);
}

// Nesting past the reader's depth is bytes, compared whole; nothing recurses with the input.
TEST(DiffRpc, DeepMessagesAreBoundedByTheReader) {
  std::string a = num(1, 1), b = num(1, 2);
  for (int i = 0; i < 2000; ++i) {
    a = str(1, a);
    b = str(1, b);
  }
  const Paths got = diff(proto(a), proto(b));
  ASSERT_EQ(got.size(), 1u);
  // the first 31 levels are read as messages, the 32nd is bytes
  std::string want = "$";
  for (int i = 0; i < 32; ++i) want += ".1";
  EXPECT_EQ(got[0], want);
}

}  // namespace
}  // namespace twin::compare
