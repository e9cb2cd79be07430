// The Thrift rewriter (scrubber/src/thrift.h) and Thrift bodies through the whole scrubber.
// Apache Thrift's own C++ library (libthrift, Debian's libthrift-dev) writes every document
// with TBinaryProtocol and TCompactProtocol and reads back what the rewriter wrote, value by
// value: an independent writer and reader.

#include "thrift.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/protocol/TCompactProtocol.h>
#include <thrift/transport/TBufferTransports.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "twin/scrubber/policy.h"
#include "twin/scrubber/scrubber.h"

namespace twin::scrubber {
namespace {

using apache::thrift::protocol::TProtocol;
using apache::thrift::protocol::TType;
using apache::thrift::transport::TMemoryBuffer;
using ::testing::Contains;
using ::testing::Pair;

using Writer = std::function<void(TProtocol&)>;

std::unique_ptr<TProtocol> protocol(ThriftProtocol p, std::shared_ptr<TMemoryBuffer> buf,
                                    bool strict = true) {
  if (p == ThriftProtocol::kCompact) {
    return std::make_unique<apache::thrift::protocol::TCompactProtocolT<TMemoryBuffer>>(buf);
  }
  return std::make_unique<apache::thrift::protocol::TBinaryProtocolT<TMemoryBuffer>>(buf, 0, 0,
                                                                                     false, strict);
}

std::string write(ThriftProtocol p, const Writer& fn, bool strict = true) {
  auto buf = std::make_shared<TMemoryBuffer>();
  fn(*protocol(p, buf, strict));
  return buf->getBufferAsString();
}

// Every value of a struct (read with libthrift) as (path, text): field ids joined by '.',
// "[]" for elements, "[].1"/"[].2" for a map's keys and values.
void dump(TProtocol& in, TType type, const std::string& path,
          std::vector<std::pair<std::string, std::string>>& out) {
  using namespace apache::thrift::protocol;
  switch (type) {
    case T_STRUCT: {
      std::string name;
      in.readStructBegin(name);
      for (;;) {
        TType t;
        int16_t id;
        in.readFieldBegin(name, t, id);
        if (t == T_STOP) break;
        dump(in, t, path.empty() ? std::to_string(id) : path + "." + std::to_string(id), out);
        in.readFieldEnd();
      }
      in.readStructEnd();
      return;
    }
    case T_LIST:
    case T_SET: {
      TType t;
      uint32_t n;
      if (type == T_LIST) {
        in.readListBegin(t, n);
      } else {
        in.readSetBegin(t, n);
      }
      for (uint32_t i = 0; i < n; ++i) dump(in, t, path + "[]", out);
      if (type == T_LIST) {
        in.readListEnd();
      } else {
        in.readSetEnd();
      }
      return;
    }
    case T_MAP: {
      TType k, v;
      uint32_t n;
      in.readMapBegin(k, v, n);
      for (uint32_t i = 0; i < n; ++i) {
        dump(in, k, path + "[].1", out);
        dump(in, v, path + "[].2", out);
      }
      in.readMapEnd();
      return;
    }
    case T_STRING: {
      std::string s;
      in.readBinary(s);
      out.emplace_back(path, s);
      return;
    }
    case T_I64: {
      int64_t v;
      in.readI64(v);
      out.emplace_back(path, std::to_string(v));
      return;
    }
    case T_I32: {
      int32_t v;
      in.readI32(v);
      out.emplace_back(path, std::to_string(v));
      return;
    }
    case T_I16: {
      int16_t v;
      in.readI16(v);
      out.emplace_back(path, std::to_string(v));
      return;
    }
    case T_DOUBLE: {
      double v;
      in.readDouble(v);
      out.emplace_back(path, std::to_string(v));
      return;
    }
    case T_BOOL: {
      bool v;
      in.readBool(v);
      out.emplace_back(path, v ? "true" : "false");
      return;
    }
    case T_BYTE: {
      int8_t v;
      in.readByte(v);
      out.emplace_back(path, std::to_string(v));
      return;
    }
    default:
      FAIL() << "type " << type;
  }
}

std::vector<std::pair<std::string, std::string>> read_struct(ThriftProtocol p,
                                                             const std::string& bytes) {
  auto buf = std::make_shared<TMemoryBuffer>();
  buf->write(reinterpret_cast<const uint8_t*>(bytes.data()), uint32_t(bytes.size()));
  auto in = protocol(p, buf);
  std::vector<std::pair<std::string, std::string>> out;
  dump(*in, apache::thrift::protocol::T_STRUCT, "", out);
  EXPECT_EQ(buf->available_read(), 0u) << "bytes after the struct";
  return out;
}

const std::string kSecret = "Zk3PqW8rTn2LbX5vYc7HdJ4sMa9GeUfRx1Qy6Kp0Wm8Nt3Vb";  // 48 bytes

// A Jaeger-like batch: struct {1: struct {1: string service, 2: list<Tag>}, 2: list<Span>},
// Tag {1: key, 3: vStr, 4: vDouble, 6: vLong}, with a map, a set, a bool, an i16 and a byte.
void batch(TProtocol& o) {
  using namespace apache::thrift::protocol;
  auto tag = [&](const std::string& key, const std::function<void()>& value) {
    o.writeStructBegin("Tag");
    o.writeFieldBegin("key", T_STRING, 1);
    o.writeString(key);
    o.writeFieldEnd();
    value();
    o.writeFieldStop();
    o.writeStructEnd();
  };
  auto str = [&](int16_t id, const std::string& v) {
    o.writeFieldBegin("s", T_STRING, id);
    o.writeBinary(v);
    o.writeFieldEnd();
  };
  o.writeStructBegin("Batch");
  o.writeFieldBegin("process", T_STRUCT, 1);
  o.writeStructBegin("Process");
  str(1, "checkout");
  o.writeFieldBegin("tags", T_LIST, 2);
  o.writeListBegin(T_STRUCT, 2);
  tag("user.email", [&] { str(3, "ann.lee@example.com"); });
  tag("api.key", [&] { str(3, kSecret); });
  o.writeListEnd();
  o.writeFieldEnd();
  o.writeFieldStop();
  o.writeStructEnd();
  o.writeFieldEnd();
  o.writeFieldBegin("spans", T_LIST, 2);
  o.writeListBegin(T_STRUCT, 1);
  o.writeStructBegin("Span");
  o.writeFieldBegin("traceIdLow", T_I64, 1);
  o.writeI64(-4155552671);
  o.writeFieldEnd();
  o.writeFieldBegin("flags", T_I32, 7);
  o.writeI32(1);
  o.writeFieldEnd();
  o.writeFieldBegin("tags", T_LIST, 8);
  o.writeListBegin(T_STRUCT, 2);
  tag("lat", [&] {
    o.writeFieldBegin("vDouble", T_DOUBLE, 4);
    o.writeDouble(51.507351);
    o.writeFieldEnd();
  });
  tag("phone", [&] {
    o.writeFieldBegin("vLong", T_I64, 6);
    o.writeI64(4155552671);
    o.writeFieldEnd();
  });
  o.writeListEnd();
  o.writeFieldEnd();
  o.writeFieldBegin("baggage", T_MAP, 9);
  o.writeMapBegin(T_STRING, T_STRING, 1);
  o.writeString("customer");
  o.writeString("bo.chen@mail.example");
  o.writeMapEnd();
  o.writeFieldEnd();
  o.writeFieldBegin("ids", T_SET, 10);
  o.writeSetBegin(T_I32, 2);
  o.writeI32(7);
  o.writeI32(-70000);
  o.writeSetEnd();
  o.writeFieldEnd();
  o.writeFieldBegin("sampled", T_BOOL, 11);
  o.writeBool(true);
  o.writeFieldEnd();
  o.writeFieldBegin("kind", T_I16, 12);
  o.writeI16(-2);
  o.writeFieldEnd();
  o.writeFieldBegin("b", T_BYTE, 13);
  o.writeByte(9);
  o.writeFieldEnd();
  str(300, std::string("\x00\x01\x02\xff", 4));  // bytes, not text; a long field id
  o.writeFieldStop();
  o.writeStructEnd();
  o.writeListEnd();
  o.writeFieldEnd();
  o.writeFieldStop();
  o.writeStructEnd();
}

// Records every visit and replaces what `with` maps.
struct Recorder : ProtobufVisitor {
  std::vector<std::pair<std::string, std::string>> texts, bytes_seen, numbers;
  std::vector<std::pair<std::string, std::string>> with;
  bool lookup(std::string_view value, std::string& replacement) {
    for (const auto& [from, to] : with) {
      if (value == from) {
        replacement = to;
        return true;
      }
    }
    return false;
  }
  bool text(std::string_view path, std::string_view value, std::string& replacement) override {
    texts.emplace_back(path, value);
    return lookup(value, replacement);
  }
  bool bytes(std::string_view path, std::string_view value, std::string& replacement) override {
    bytes_seen.emplace_back(path, value);
    return lookup(value, replacement);
  }
  bool number(std::string_view path, std::string_view value, std::string& replacement) override {
    numbers.emplace_back(path, value);
    return lookup(value, replacement);
  }
};

class Protocols : public ::testing::TestWithParam<ThriftProtocol> {};

// Every string and number is visited under its path; replacements of other lengths, sizes and
// signs read back through libthrift as the same struct with those values changed.
TEST_P(Protocols, ValuesAreVisitedByPathAndReadBackChanged) {
  const ThriftProtocol p = GetParam();
  const std::string in = write(p, batch);
  Recorder r;
  r.with = {{"ann.lee@example.com", "bob.smith@example.org"},  // longer
            {kSecret, std::string(48, 'Q')},
            {"4155552671", "99"},
            {"-4155552671", "-7"},
            {"51.507351", "51.5"},
            {"-70000", "5000000000"},  // past i32: cut to 32 bits
            {"bo.chen@mail.example", "x"},
            {std::string("\x00\x01\x02\xff", 4), "zzzz"}};
  std::string out;
  const auto result = rewrite_thrift(in, p, r, out);
  ASSERT_TRUE(result.valid);
  EXPECT_EQ(result.replaced, r.with.size());
  EXPECT_THAT(r.texts, Contains(Pair("1.2[].3", "ann.lee@example.com")));
  EXPECT_THAT(r.texts, Contains(Pair("1.2[].1", "user.email")));
  EXPECT_THAT(r.texts, Contains(Pair("2[].9[].2", "bo.chen@mail.example")));
  EXPECT_THAT(r.texts, Contains(Pair("2[].9[].1", "customer")));
  EXPECT_THAT(r.numbers, Contains(Pair("2[].8[].6", "4155552671")));
  EXPECT_THAT(r.numbers, Contains(Pair("2[].8[].4", "51.507351")));
  EXPECT_THAT(r.numbers, Contains(Pair("2[].10[]", "-70000")));
  EXPECT_THAT(r.bytes_seen, Contains(Pair("2[].300", std::string("\x00\x01\x02\xff", 4))));
  for (const auto& [path, value] : r.numbers) {
    EXPECT_NE(path, "2[].12") << "i16 is not read";
    EXPECT_NE(path, "2[].13") << "a byte is not read";
  }

  auto expected = read_struct(p, in);
  for (auto& [path, value] : expected) {
    if (value == "ann.lee@example.com") value = "bob.smith@example.org";
    if (value == kSecret) value = std::string(48, 'Q');
    if (value == "4155552671") value = "99";
    if (value == "-4155552671") value = "-7";
    if (path == "2[].8[].4") value = std::to_string(51.5);
    if (value == "-70000") value = std::to_string(int32_t(5000000000 % 4294967296));
    if (value == "bo.chen@mail.example") value = "x";
    if (path == "2[].300") value = "zzzz";
  }
  EXPECT_EQ(read_struct(p, out), expected);

  // Nothing replaced: the input, byte for byte.
  Recorder keep;
  ASSERT_TRUE(rewrite_thrift(in, p, keep, out).valid);
  EXPECT_EQ(out, in);
}

// The trap the rewriter is for: a 48-byte string's length is 00 00 00 30 (binary) or 0x30
// (compact), '0' right before the value. A token of the same length leaves it as it was.
TEST_P(Protocols, AStringsLengthIsNeverPartOfTheValue) {
  const ThriftProtocol p = GetParam();
  const std::string in = write(p, batch);
  const std::string glued =
      (p == ThriftProtocol::kBinary ? std::string("\0\0\0", 3) : "") + "0" + kSecret;
  ASSERT_NE(in.find(glued), std::string::npos);
  Recorder r;
  const std::string token = "Qm7RtY2pLk9XbN4vWc8HsJ3dFa6GeUzPx5Ty1Kq0Wn7Mb2Vc";
  r.with = {{kSecret, token}};
  std::string out;
  ASSERT_TRUE(rewrite_thrift(in, p, r, out).valid);
  std::string expected = in;
  expected.replace(in.find(kSecret), kSecret.size(), token);
  EXPECT_EQ(out, expected);
}

// An RPC message keeps its header (the method name is not visited) in both of the binary
// protocol's forms and the compact one's; a bare list (Zipkin v1's spans) is read too in the
// binary protocol (in the compact one it would read as a struct just as well).
TEST_P(Protocols, MessagesAndBareListsAreRead) {
  using namespace apache::thrift::protocol;
  const ThriftProtocol p = GetParam();
  for (const bool strict : {true, false}) {
    if (!strict && p == ThriftProtocol::kCompact) continue;
    SCOPED_TRACE(strict ? "strict" : "old form");
    const std::string in = write(
        p,
        [](TProtocol& o) {
          o.writeMessageBegin("getUser", T_CALL, 77);
          o.writeStructBegin("args");
          o.writeFieldBegin("email", T_STRING, 1);
          o.writeString("ann.lee@example.com");
          o.writeFieldEnd();
          o.writeFieldStop();
          o.writeStructEnd();
          o.writeMessageEnd();
        },
        strict);
    Recorder r;
    r.with = {{"ann.lee@example.com", "b@example.org"}};
    std::string out;
    ASSERT_TRUE(rewrite_thrift(in, p, r, out).valid);
    EXPECT_THAT(r.texts, ::testing::ElementsAre(Pair("1", "ann.lee@example.com")));
    auto buf = std::make_shared<TMemoryBuffer>();
    buf->write(reinterpret_cast<const uint8_t*>(out.data()), uint32_t(out.size()));
    auto rd = protocol(p, buf);
    std::string name;
    TMessageType type;
    int32_t seq = 0;
    rd->readMessageBegin(name, type, seq);
    EXPECT_EQ(name, "getUser");
    EXPECT_EQ(type, T_CALL);
    EXPECT_EQ(seq, 77);
    std::vector<std::pair<std::string, std::string>> args;
    dump(*rd, T_STRUCT, "", args);
    EXPECT_THAT(args, ::testing::ElementsAre(Pair("1", "b@example.org")));
  }
  if (p == ThriftProtocol::kCompact) return;
  const std::string spans = write(p, [](TProtocol& o) {
    o.writeListBegin(T_STRUCT, 2);
    for (const char* email : {"ann.lee@example.com", "bo@example.org"}) {
      o.writeStructBegin("Span");
      o.writeFieldBegin("name", T_STRING, 3);
      o.writeString(email);
      o.writeFieldEnd();
      o.writeFieldStop();
      o.writeStructEnd();
    }
    o.writeListEnd();
  });
  Recorder r;
  std::string out;
  ASSERT_TRUE(rewrite_thrift(spans, p, r, out).valid);
  EXPECT_THAT(r.texts, ::testing::ElementsAre(Pair("[].3", "ann.lee@example.com"),
                                              Pair("[].3", "bo@example.org")));
}

// What does not parse whole is not visited at all (a caller may try the other protocol).
TEST_P(Protocols, WhatDoesNotParseIsNotVisited) {
  const ThriftProtocol p = GetParam();
  const std::string in = write(p, batch);
  for (const std::string& bad : {in.substr(0, in.size() - 1), in.substr(0, in.size() / 2), in + "x",
                                 std::string("\x0b\x00\x01\x7f\xff\xff\xff", 7),
                                 std::string(100, '\x0c') + std::string(1, '\0')}) {
    Recorder r;
    std::string out;
    EXPECT_FALSE(rewrite_thrift(bad, p, r, out).valid);
    EXPECT_TRUE(r.texts.empty() && r.numbers.empty() && r.bytes_seen.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Thrift, Protocols,
                         ::testing::Values(ThriftProtocol::kBinary, ThriftProtocol::kCompact),
                         [](const auto& info) {
                           return info.param == ThriftProtocol::kBinary ? "Binary" : "Compact";
                         });

// Through the whole scrubber: application/x-thrift (binary, then compact) and the media types
// that name the protocol; personal data gone, the batch read back whole by libthrift.
TEST(ThriftBodies, AreScrubbedFieldByFieldAndStayThrift) {
  struct Case {
    const char* type;
    ThriftProtocol p;
  };
  for (const Case c : {Case{"application/x-thrift", ThriftProtocol::kBinary},
                       Case{"application/x-thrift", ThriftProtocol::kCompact},
                       Case{"application/vnd.apache.thrift.compact", ThriftProtocol::kCompact},
                       Case{"application/vnd.apache.thrift.binary", ThriftProtocol::kBinary}}) {
    SCOPED_TRACE(c.type);
    const std::string body = write(c.p, batch);
    auto s = Scrubber::create(default_policy(), Key::from_material("thrift test key"));
    ASSERT_TRUE(s);
    traffic::Exchange e;
    e.request.method = "POST";
    e.request.target = "/api/traces";
    e.request.headers = {{"Content-Type", c.type}, {"Content-Length", std::to_string(body.size())}};
    e.request.body = body;
    e.request.body_size = body.size();
    (*s)->scrub(e);
    const std::string& out = e.request.body;
    EXPECT_EQ(out.find("ann.lee@example.com"), std::string::npos);
    EXPECT_EQ(out.find("bo.chen@mail.example"), std::string::npos);
    EXPECT_EQ(out.find(kSecret), std::string::npos);
    EXPECT_EQ(e.request.headers[1].value, std::to_string(out.size()));
    const auto before = read_struct(c.p, body);
    const auto after = read_struct(c.p, out);
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < before.size(); ++i) EXPECT_EQ(after[i].first, before[i].first);
    EXPECT_EQ((*s)->counters().thrift_bodies, 1u);
    EXPECT_EQ((*s)->counters().thrift_malformed, 0u);
  }
  // Rules name a field by its ids: the service name (1.1) is no personal data by content.
  {
    auto policy = parse_policy("rules:\n  - where: \"thrift:1.1\"\n    action: redact\n", "t.yaml");
    ASSERT_TRUE(policy) << policy.error().message;
    auto s = Scrubber::create(*policy, Key::from_material("thrift test key"));
    ASSERT_TRUE(s);
    const std::string body = write(ThriftProtocol::kBinary, batch);
    traffic::Exchange e;
    e.request.method = "POST";
    e.request.target = "/api/traces";
    e.request.headers = {{"Content-Type", "application/x-thrift"}};
    e.request.body = body;
    e.request.body_size = body.size();
    (*s)->scrub(e);
    const auto after = read_struct(ThriftProtocol::kBinary, e.request.body);
    ASSERT_FALSE(after.empty());
    EXPECT_EQ(after[0].first, "1.1");
    EXPECT_NE(after[0].second, "checkout");
    EXPECT_NE((*s)->report().to_json().dump().find("request.thrift:1.1"), std::string::npos);
  }
  // Not Thrift in either protocol: bytes, their length kept, counted.
  auto s = Scrubber::create(default_policy(), Key::from_material("thrift test key"));
  ASSERT_TRUE(s);
  traffic::Exchange e;
  e.request.method = "POST";
  e.request.target = "/api/traces";
  const std::string junk = "\xff\xfe not thrift ann.lee@example.com";
  e.request.headers = {{"Content-Type", "application/x-thrift"}};
  e.request.body = junk;
  e.request.body_size = junk.size();
  (*s)->scrub(e);
  EXPECT_EQ(e.request.body.size(), junk.size());
  EXPECT_EQ(e.request.body.find("ann.lee@example.com"), std::string::npos);
  EXPECT_EQ((*s)->counters().thrift_malformed, 1u);
}

}  // namespace
}  // namespace twin::scrubber
