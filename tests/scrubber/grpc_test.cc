// gRPC, gRPC-Web, Connect and Protocol Buffers bodies, and MessagePack and CBOR ones, through
// the whole scrubber: every message keeps its framing and parses after the scrub, each field is
// read on its own, and the same value gets the same token as in JSON.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "base64_text.h"
#include "files.h"
#include "protobuf.h"
#include "protobuf_wire.h"
#include "twin/scrubber/policy.h"
#include "twin/scrubber/scrubber.h"
#include "twin/traffic/content_coding.h"

namespace twin::scrubber {
namespace {

using test::pb::envelope;
using test::pb::Field;
using test::pb::fields;
using test::pb::ld;
using test::pb::shape;
using test::pb::vi;
using traffic::Coding;
using traffic::Exchange;

ScrubberPtr make(const Policy& policy = default_policy()) {
  auto s = Scrubber::create(policy, Key::from_material("grpc test key"));
  EXPECT_TRUE(s) << s.error().message;
  return std::move(*s);
}

Exchange call(std::string_view type, const std::string& request, const std::string& response,
              traffic::Headers extra = {}) {
  Exchange e;
  e.protocol = traffic::Protocol::kHttp2;
  e.request.method = "POST";
  e.request.target = "/shop.v1.Users/Get";
  e.request.authority = "api.example";
  e.request.headers = {{"content-type", std::string(type)},
                       {"content-length", std::to_string(request.size())},
                       {"te", "trailers"}};
  for (const auto& h : extra) e.request.headers.push_back(h);
  e.request.body = request;
  e.request.body_size = request.size();
  e.response.emplace();
  e.response->status = 200;
  e.response->headers = {{"content-type", std::string(type)}};
  for (const auto& h : extra) e.response->headers.push_back(h);
  e.response->body = response;
  e.response->body_size = response.size();
  return e;
}

// The envelopes of a stream: (flags, message).
std::vector<std::pair<uint8_t, std::string>> envelopes(std::string_view body) {
  std::vector<std::pair<uint8_t, std::string>> out;
  while (body.size() >= 5) {
    const auto* p = reinterpret_cast<const uint8_t*>(body.data());
    const size_t n = size_t{p[1]} << 24 | size_t{p[2]} << 16 | size_t{p[3]} << 8 | p[4];
    if (n > body.size() - 5) break;
    out.emplace_back(p[0], std::string(body.substr(5, n)));
    body.remove_prefix(5 + n);
  }
  EXPECT_TRUE(body.empty()) << body.size() << " bytes after the last whole envelope";
  return out;
}

std::string header(const traffic::Headers& hs, std::string_view name) {
  auto* h = traffic::find_header(hs, name);
  return h ? h->value : std::string("<none>");
}

bool is_email(std::string_view s) {
  const auto at = s.find('@');
  return at != std::string_view::npos && at > 0 && s.find('.', at) != std::string_view::npos;
}

const std::string kSecret = "Zk3PqW8rTn2LbX5vYc7HdJ4sMa9GeUfRx1Qy6Kp0Wm8Nt3Vb";  // 48 bytes

// The message that broke when scanned as bytes: field 12's tag is 'b' and the length of its
// 48-byte key is '0', right after an e-mail's ".com"; field 8's tag is 'B'.
std::string user_message() {
  return ld(1, "ann.lee@example.com") + ld(12, kSecret) + ld(3, "+14155552671") + vi(4, 4215) +
         ld(8, "AAA" + kSecret.substr(0, 40) + "q7Zr2LmX9wPv3Kd8sTbN5cYh") +
         ld(9, ld(1, "ann.lee@example.com") + ld(2, "Leeds"));
}

TEST(Grpc, MessagesKeepTheirFramingAndEachFieldIsReadOnItsOwn) {
  auto s = make();
  const std::string m = user_message();
  auto e = call("application/grpc", envelope(0, m), envelope(0, m));
  s->scrub(e);
  for (const std::string* body : {&e.request.body, &e.response->body}) {
    const auto env = envelopes(*body);
    ASSERT_EQ(env.size(), 1u);
    EXPECT_EQ(env[0].first, 0);
    const std::string& out = env[0].second;
    ASSERT_EQ(shape(out), shape(m));
    std::vector<Field> f;
    ASSERT_TRUE(fields(out, f));
    EXPECT_NE(f[0].bytes, "ann.lee@example.com");
    EXPECT_TRUE(is_email(f[0].bytes)) << f[0].bytes;
    EXPECT_NE(f[1].bytes, kSecret);
    EXPECT_EQ(f[1].bytes.size(), kSecret.size());
    EXPECT_NE(f[2].bytes, "+14155552671");
    EXPECT_EQ(f[2].bytes.substr(0, 1), "+");
    EXPECT_EQ(f[3].value, 4215u);  // numbers are not read without a schema
    std::vector<Field> nested;
    ASSERT_TRUE(fields(f[5].bytes, nested));
    ASSERT_EQ(nested.size(), 2u);
    EXPECT_EQ(nested[0].bytes, f[0].bytes);  // the same e-mail, the same token
    EXPECT_EQ(nested[1].bytes, "Leeds");
  }
  EXPECT_EQ(e.request.body, e.response->body);
  EXPECT_EQ(s->counters().grpc_messages, 2u);
  EXPECT_EQ(s->counters().protobuf_messages, 2u);
  EXPECT_EQ(s->counters().protobuf_malformed, 0u);
  EXPECT_EQ(s->counters().residual, 0u);
  // The report names fields by their numbers.
  const auto report = s->report().to_json().dump();
  EXPECT_NE(report.find("request.protobuf:1"), std::string::npos);
  EXPECT_NE(report.find("response.protobuf:9.1"), std::string::npos);
}

// A name chosen by its key in JSON is remembered; met again in a message (where no key names
// it) it gets the same token, so a replay still connects the two.
TEST(Grpc, AValueRememberedFromJsonGetsItsTokenInAMessage) {
  auto s = make();
  Exchange j = call("application/json", R"({"first_name": "Marguerite"})", "");
  s->scrub(j);
  const auto token = nlohmann::json::parse(j.request.body)["first_name"].get<std::string>();
  ASSERT_NE(token, "Marguerite");
  auto e = call("application/grpc", envelope(0, ld(2, "Marguerite")), "");
  s->scrub(e);
  const auto env = envelopes(e.request.body);
  ASSERT_EQ(env.size(), 1u);
  EXPECT_EQ(env[0].second, ld(2, token));
}

TEST(Grpc, CompressedMessagesAreDecodedScrubbedAndCompressedAgain) {
  for (auto [name, coding] :
       {std::pair{"gzip", Coding::kGzip}, {"deflate", Coding::kDeflate}, {"zstd", Coding::kZstd}}) {
    SCOPED_TRACE(name);
    auto s = make();
    const std::string m = user_message();
    std::string packed;
    ASSERT_TRUE(traffic::encode(coding, m, packed));
    // One compressed message and one not, as a sender may choose per message.
    auto e = call("application/grpc+proto", envelope(1, packed) + envelope(0, m), "",
                  {{"grpc-encoding", name}});
    s->scrub(e);
    const auto env = envelopes(e.request.body);
    ASSERT_EQ(env.size(), 2u);
    EXPECT_EQ(env[0].first, 1);
    EXPECT_EQ(env[1].first, 0);
    std::string plain;
    ASSERT_TRUE(traffic::decode(coding, env[0].second, 1 << 20, plain));
    EXPECT_EQ(plain, env[1].second);  // the same message, the same tokens
    EXPECT_EQ(shape(plain), shape(m));
    EXPECT_EQ(plain.find("ann.lee@example.com"), std::string::npos);
  }
  // A message compressed in a coding twin cannot read: the body goes, never kept raw.
  auto s = make();
  std::string packed;
  ASSERT_TRUE(traffic::encode(Coding::kGzip, user_message(), packed));
  auto e = call("application/grpc", envelope(1, packed), "", {{"grpc-encoding", "snappy"}});
  s->scrub(e);
  EXPECT_TRUE(e.request.body.empty());
  EXPECT_EQ(s->counters().bodies_dropped, 1u);
}

TEST(Grpc, GrpcWebTextAndTrailersAreReadToo) {
  auto s = make();
  const std::string trailers = "grpc-status: 5\r\ngrpc-message: no user ann.lee@example.com\r\n";
  std::string body;
  // Each envelope base64-encoded on its own, as a server that flushes per message sends it.
  encode_base64(envelope(0, user_message()), Base64Style{false, true}, body);
  encode_base64(envelope(0x80, trailers), Base64Style{false, true}, body);
  auto e = call("application/grpc-web-text+proto", "", body);
  s->scrub(e);
  std::string raw;
  ASSERT_TRUE(decode_grpc_web_text(e.response->body, raw));
  const auto env = envelopes(raw);
  ASSERT_EQ(env.size(), 2u);
  EXPECT_EQ(shape(env[0].second), shape(user_message()));
  EXPECT_EQ(env[0].second.find("ann.lee@example.com"), std::string::npos);
  EXPECT_EQ(env[1].first, 0x80);
  EXPECT_EQ(env[1].second.find("ann.lee@example.com"), std::string::npos);
  EXPECT_EQ(env[1].second.substr(0, 30), "grpc-status: 5\r\ngrpc-message: ");
  EXPECT_EQ(s->counters().grpc_messages, 2u);
}

TEST(Grpc, ConnectJsonMessagesAndTheEndOfStreamAreJson) {
  auto s = make();
  const std::string end =
      R"({"error":{"code":"not_found","message":"no user ann.lee@example.com"}})";
  auto e = call("application/connect+json", "",
                envelope(0, R"({"user":{"email":"ann.lee@example.com","lastName":"Okafor"}})") +
                    envelope(2, end));
  s->scrub(e);
  const auto env = envelopes(e.response->body);
  ASSERT_EQ(env.size(), 2u);
  const auto user = nlohmann::json::parse(env[0].second);
  EXPECT_TRUE(is_email(user["user"]["email"].get<std::string>()));
  EXPECT_NE(user["user"]["email"], "ann.lee@example.com");
  EXPECT_NE(user["user"]["lastName"], "Okafor");  // by its key name: JSON is read as JSON
  EXPECT_EQ(env[1].first, 2);
  const auto error = nlohmann::json::parse(env[1].second);
  EXPECT_EQ(error["error"]["code"], "not_found");
  EXPECT_EQ(error["error"]["message"].get<std::string>().find("ann.lee@"), std::string::npos);
}

TEST(Grpc, ProtobufBodiesByFieldNumberRules) {
  auto p = parse_policy(R"(rules:
  - where: "protobuf:9.2"
    action: redact
)",
                        "test.yaml");
  ASSERT_TRUE(p) << p.error().message;
  auto s = make(*p);
  auto e = call("application/x-protobuf", user_message(), "");
  s->scrub(e);
  ASSERT_EQ(shape(e.request.body), shape(user_message()));
  std::vector<Field> f, nested;
  ASSERT_TRUE(fields(e.request.body, f));
  ASSERT_TRUE(fields(f[5].bytes, nested));
  EXPECT_NE(nested[1].bytes, "Leeds");  // by the rule; by content it stays
  EXPECT_EQ(header(e.request.headers, "content-length"), std::to_string(e.request.body.size()));
  EXPECT_EQ(s->counters().protobuf_messages, 1u);
}

// What is not a message (another codec, a body cut at --max-body) is read as bytes: its length
// is kept, and so whatever framing it has.
TEST(Grpc, WhatDoesNotParseIsReadAsBytesWithItsLength) {
  auto s = make();
  const std::string not_proto = std::string("\x07\x07", 2) + "ann.lee@example.com" + "\x06";
  const std::string m = user_message();
  const std::string stream = envelope(0, not_proto) + envelope(0, m);
  // Cut inside the second message.
  const std::string cut = stream.substr(0, stream.size() - 20);
  auto e = call("application/grpc", cut, "");
  e.flags |= traffic::kFlagRequestBodyTruncated;
  e.request.body_size = stream.size();
  s->scrub(e);
  ASSERT_EQ(e.request.body.size(), cut.size());
  EXPECT_EQ(e.request.body.find("ann.lee@example.com"), std::string::npos);
  EXPECT_EQ(e.request.body.substr(0, 5), cut.substr(0, 5));
  EXPECT_EQ(e.request.body.substr(5 + not_proto.size(), 5),
            cut.substr(5 + not_proto.size(), 5));  // the cut message's prefix
  EXPECT_EQ(e.request.body_size, stream.size());
  EXPECT_EQ(s->counters().protobuf_malformed, 1u);
  EXPECT_EQ(s->counters().grpc_malformed, 0u);  // a cut is not malformed
  // A cut compressed message cannot be read: the body goes.
  std::string packed;
  ASSERT_TRUE(traffic::encode(Coding::kGzip, m, packed));
  const std::string zipped = envelope(1, packed);
  auto z = call("application/grpc", zipped.substr(0, zipped.size() - 4), "",
                {{"grpc-encoding", "gzip"}});
  z.flags |= traffic::kFlagRequestBodyTruncated;
  s->scrub(z);
  EXPECT_TRUE(z.request.body.empty());
  EXPECT_EQ(s->counters().bodies_dropped, 1u);
  // A body that is not a stream at all.
  auto b = call("application/grpc", "ann.lee@example.com", "");
  s->scrub(b);
  EXPECT_EQ(b.request.body.size(), 19u);
  EXPECT_EQ(b.request.body.find("ann.lee@example.com"), std::string::npos);
  EXPECT_EQ(s->counters().grpc_malformed, 1u);
}

// grpc-status-details-bin: a google.rpc.Status whose BadRequest detail names the field and
// quotes the value; base64 without padding, as gRPC sends it.
TEST(Grpc, BinaryMetadataIsReadDecoded) {
  auto s = make();
  const std::string type_url = "type.googleapis.com/google.rpc.BadRequest";
  const std::string bad_request =
      ld(1, ld(1, "email") + ld(2, "ann.lee@example.com is taken by another account"));
  const std::string status = vi(1, 6) + ld(2, "already exists: ann.lee@example.com") +
                             ld(3, ld(1, type_url) + ld(2, bad_request));
  std::string value;
  encode_base64(status, Base64Style{false, false}, value);
  ASSERT_NE(value.back(), '=');
  auto e = call("application/grpc", "", "");
  e.response->headers.push_back({"grpc-status", "6"});
  e.response->headers.push_back({"grpc-status-details-bin", value});
  e.response->headers.push_back({"x-trace-bin", "AAEC"});  // bytes, not a message
  e.response->headers.push_back({"x-empty-bin", ""});
  s->scrub(e);
  EXPECT_EQ(s->counters().protobuf_messages, 1u);   // the status; not the empty value
  EXPECT_EQ(s->counters().protobuf_malformed, 1u);  // the trace's three bytes
  EXPECT_EQ(header(e.response->headers, "x-empty-bin"), "");
  const std::string now = header(e.response->headers, "grpc-status-details-bin");
  ASSERT_NE(now, value);
  EXPECT_NE(now.back(), '=');  // still without padding
  std::string bytes;
  bool padded = true;
  ASSERT_TRUE(decode_binary_header(now, bytes, padded));
  EXPECT_FALSE(padded);
  ASSERT_EQ(shape(bytes), shape(status));
  EXPECT_EQ(bytes.find("ann.lee@example.com"), std::string::npos);
  std::vector<Field> f, any, detail, violation;
  ASSERT_TRUE(fields(bytes, f));
  EXPECT_EQ(f[0].value, 6u);
  ASSERT_TRUE(fields(f[2].bytes, any));
  EXPECT_EQ(any[0].bytes, type_url);
  ASSERT_TRUE(fields(any[1].bytes, detail));
  ASSERT_TRUE(fields(detail[0].bytes, violation));
  EXPECT_EQ(violation[0].bytes, "email");
  EXPECT_EQ(violation[1].bytes.substr(violation[1].bytes.size() - 28),
            " is taken by another account");
  EXPECT_EQ(header(e.response->headers, "x-trace-bin"), "AAEC");
  EXPECT_EQ(header(e.response->headers, "grpc-status"), "6");
  const auto report = s->report().to_json().dump();
  EXPECT_NE(report.find("response.protobuf:grpc-status-details-bin.3.2.1.2"), std::string::npos)
      << report.substr(0, 2000);
}

// With the service's schema (protoc --descriptor_set_out, named in the policy) a message's
// fields are read by name: a name under first_name and a date under birth_date go by their key
// names as in JSON, rules name fields, and the report says user.first_name, not 1.3.
// A policy with the schema of shop.v1 (compiled by protoc in `dir`) and `rules`.
Policy shop_policy(const test::TempDir& dir, std::string_view rules) {
  test::spit(dir.file("shop.proto"), R"(syntax = "proto3";
package shop.v1;
message Address { string street = 1; string city = 2; }
message User {
  string email = 2;
  string first_name = 3;
  string birth_date = 5;
  repeated Address addresses = 4;
  int64 phone_number = 6;
  int64 id = 7;
}
message GetUser { User user = 1; }
message Place { double latitude = 1; double longitude = 2; float accuracy = 3; }
service Users { rpc Get(GetUser) returns (User); }
)");
  EXPECT_EQ(std::system(("cd " + dir.path() +
                         " && protoc --proto_path=. --descriptor_set_out=shop.pb shop.proto")
                            .c_str()),
            0);
  test::spit(dir.file("policy.yaml"),
             "version: 1\nprotobuf_descriptors: [shop.pb]\n" + std::string(rules));
  auto p = load_policy(dir.file("policy.yaml"));
  EXPECT_TRUE(p) << p.error().message;
  return p ? *p : default_policy();
}

TEST(Grpc, WithTheSchemaFieldsAreReadByName) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  test::TempDir dir;
  const Policy policy = shop_policy(dir, R"(rules:
  - where: "protobuf:**.city"
    action: redact
)");
  const Policy* p = &policy;
  auto s = make(*p);
  const std::string user = ld(2, "ann.lee@example.com") + ld(3, "Marguerite") +
                           ld(5, "1984-03-07") + ld(4, ld(1, "12 Long Road") + ld(2, "Leeds")) +
                           vi(6, 4155552671) + vi(7, 4215);
  auto e = call("application/grpc", envelope(0, ld(1, user)), envelope(0, user));
  s->scrub(e);
  for (const auto& [side, body] :
       {std::pair{"request", std::string(e.request.body)}, {"response", e.response->body}}) {
    SCOPED_TRACE(side);
    const auto env = envelopes(body);
    ASSERT_EQ(env.size(), 1u);
    std::string m = env[0].second;
    std::vector<Field> f;
    if (std::string(side) == "request") {
      ASSERT_TRUE(fields(m, f));
      m = std::string(f[0].bytes);
    }
    ASSERT_TRUE(fields(m, f));
    ASSERT_EQ(f.size(), 6u);
    EXPECT_NE(f[4].value, 4155552671u);  // a phone number by its key name, a number still
    EXPECT_GE(f[4].value, 1000000000u);
    EXPECT_LE(f[4].value, 9999999999u);
    EXPECT_EQ(f[5].value, 4215u);         // an id is no personal data
    EXPECT_NE(f[1].bytes, "Marguerite");  // by its key name
    EXPECT_EQ(f[1].bytes.size(), 10u);
    EXPECT_NE(f[2].bytes, "1984-03-07");  // a date of birth by its key name, shifted
    EXPECT_EQ(f[2].bytes.substr(4, 1), "-");
    std::vector<Field> address;
    ASSERT_TRUE(fields(f[3].bytes, address));
    EXPECT_EQ(address[0].bytes.find("Long Road"), std::string::npos);  // an address part
    EXPECT_NE(address[1].bytes, "Leeds");                              // by the rule
  }
  const auto report = s->report().to_json().dump();
  EXPECT_NE(report.find("response.protobuf:first_name"), std::string::npos);
  EXPECT_NE(report.find("request.protobuf:user.addresses[].city"), std::string::npos);
  // A method the schema does not know: numbers, as without it (a fresh engine: this one
  // remembers Marguerite now, and would scrub her anywhere).
  auto fresh = make(*p);
  auto other = call("application/grpc", envelope(0, user), "");
  other.request.target = "/shop.v1.Orders/Get";
  fresh->scrub(other);
  const std::string m = envelopes(other.request.body)[0].second;
  EXPECT_NE(m.find("Marguerite"), std::string::npos);
  EXPECT_EQ(m.find("ann.lee@example.com"), std::string::npos);
  EXPECT_NE(fresh->report().to_json().dump().find("request.protobuf:2"), std::string::npos);
}

// The fields of a User as protoc would read them, with the key-named ones checked: the first
// name and the phone number scrubbed (by their key names), the id kept.
void expect_user_read_by_name(std::string_view m) {
  std::vector<Field> f;
  ASSERT_TRUE(fields(m, f));
  ASSERT_EQ(f.size(), 6u);
  EXPECT_NE(f[1].bytes, "Marguerite");
  EXPECT_EQ(f[1].bytes.size(), 10u);
  EXPECT_NE(f[4].value, 4155552671u);
  EXPECT_EQ(f[5].value, 4215u);
}

// A protobuf body outside gRPC (a REST path, no method to name its type) is read by the
// schema when its media type's `proto` or `messageType` parameter or an X-Protobuf-Message
// header names the type; without one (or with a name the schema lacks) by content only.
TEST(Grpc, AProtobufBodyNamedByItsMediaTypeOrHeaderIsReadByTheSchema) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  test::TempDir dir;
  const Policy policy = shop_policy(dir, "");
  const std::string user = ld(2, "ann.lee@example.com") + ld(3, "Marguerite") +
                           ld(5, "1984-03-07") + ld(4, ld(1, "12 Long Road") + ld(2, "Leeds")) +
                           vi(6, 4155552671) + vi(7, 4215);
  struct Case {
    std::string type;
    traffic::Headers extra;
    bool by_name;
  };
  const std::vector<Case> cases = {
      {"application/x-protobuf; proto=shop.v1.User", {}, true},
      {"application/protobuf;messageType=\".shop.v1.User\"", {}, true},
      {"application/x-protobuf", {{"X-Protobuf-Message", "shop.v1.User"}}, true},
      {"application/vnd.acme.user+x-protobuf", {{"x-protobuf-message", " shop.v1.User"}}, true},
      {"application/x-protobuffer; proto=shop.v1.User", {}, true},
      {"application/x-protobuf", {}, false},
      {"application/x-protobuf; proto=shop.v1.Nobody", {}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.type);
    auto s = make(policy);  // fresh: an engine remembers Marguerite once it scrubbed her
    auto e = call(c.type, user, user, c.extra);
    e.request.method = "PUT";
    e.request.target = "/users/4215";
    s->scrub(e);
    EXPECT_EQ(s->counters().protobuf_messages, 2u);
    for (const std::string& body : {e.request.body, e.response->body}) {
      EXPECT_EQ(body.find("ann.lee@example.com"), std::string::npos);  // by content, always
      if (c.by_name) {
        expect_user_read_by_name(body);
      } else {
        EXPECT_NE(body.find("Marguerite"), std::string::npos);
      }
    }
  }
}

// A coordinate in a double field is read by its key name as one in JSON is (rounded), and
// written back as a double; a float under another name stays.
TEST(Grpc, CoordinatesInDoubleFieldsAreRoundedByTheirKeyNames) {
  if (!test::pb::has_protoc()) GTEST_SKIP() << test::pb::kNoProtoc;
  test::TempDir dir;
  auto s = make(shop_policy(dir, ""));
  auto fixed = [](uint32_t number, auto value) {
    std::string out = test::pb::tag(number, sizeof(value) == 8 ? 1 : 5);
    const auto bits =
        std::bit_cast<std::conditional_t<sizeof(value) == 8, uint64_t, uint32_t>>(value);
    for (size_t i = 0; i < sizeof(value); ++i) out += static_cast<char>((bits >> (8 * i)) & 0xff);
    return out;
  };
  const std::string place = fixed(1, 51.507351) + fixed(2, -0.127758) + fixed(3, 12.5f);
  auto e = call("application/x-protobuf; proto=shop.v1.Place", place, "");
  e.request.target = "/places";
  s->scrub(e);
  std::vector<Field> f;
  ASSERT_TRUE(fields(e.request.body, f));
  ASSERT_EQ(f.size(), 3u);
  auto as_double = [](std::string_view b) {
    uint64_t bits = 0;
    for (size_t i = b.size(); i-- > 0;) bits = bits << 8 | static_cast<uint8_t>(b[i]);
    return std::bit_cast<double>(bits);
  };
  const double lat = as_double(f[0].bytes), lng = as_double(f[1].bytes);
  EXPECT_NE(lat, 51.507351);
  EXPECT_NEAR(lat, 51.507351, 0.1);
  EXPECT_NE(lng, -0.127758);
  EXPECT_NEAR(lng, -0.127758, 0.1);
  EXPECT_EQ(f[2].bytes, place.substr(place.size() - 4));  // accuracy: no personal data
  EXPECT_NE(s->report().to_json().dump().find("request.protobuf:latitude"), std::string::npos);
}

// `encoding=delimited` (Prometheus' exposition, Java's writeDelimitedTo): a stream of
// messages each after its varint length. Each is read on its own (by the schema when `proto`
// names the type), its length written again; a stream cut at --max-body keeps the cut bytes'
// length.
TEST(Grpc, DelimitedProtobufStreamsAreReadMessageByMessage) {
  const std::string first = ld(2, "ann.lee@example.com") + ld(3, "Marguerite") +
                            ld(5, "1984-03-07") + ld(4, ld(1, "12 Long Road") + ld(2, "Leeds")) +
                            vi(6, 4155552671) + vi(7, 4215);
  const std::string second = ld(2, "bob.ray@example.org") + vi(7, 9);
  const std::string stream = test::pb::varint(first.size()) + first +
                             test::pb::varint(second.size()) + second + test::pb::varint(0);
  auto split = [](std::string_view body) {
    std::vector<std::string> out;
    while (!body.empty()) {
      uint64_t n = 0;
      int shift = 0;
      size_t i = 0;
      for (; i < body.size(); ++i, shift += 7) {
        n |= uint64_t(static_cast<uint8_t>(body[i]) & 0x7f) << shift;
        if ((static_cast<uint8_t>(body[i]) & 0x80) == 0) break;
      }
      EXPECT_LE(n, body.size() - i - 1);
      if (n > body.size() - i - 1) break;
      out.emplace_back(body.substr(i + 1, n));
      body.remove_prefix(i + 1 + n);
    }
    return out;
  };
  {
    SCOPED_TRACE("no schema");
    auto s = make();
    auto e = call("application/vnd.google.protobuf; encoding=delimited", stream, "");
    e.request.target = "/metrics";
    s->scrub(e);
    const auto messages = split(e.request.body);
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(shape(messages[0]), shape(first));
    EXPECT_EQ(shape(messages[1]), shape(second));
    EXPECT_EQ(messages[2], "");
    EXPECT_EQ(e.request.body.find("ann.lee@example.com"), std::string::npos);
    EXPECT_EQ(e.request.body.find("bob.ray@example.org"), std::string::npos);
    EXPECT_EQ(s->counters().protobuf_messages, 3u);
    EXPECT_EQ(s->counters().protobuf_malformed, 0u);
  }
  if (test::pb::has_protoc()) {
    SCOPED_TRACE("schema");
    test::TempDir dir;
    auto s = make(shop_policy(dir, ""));
    auto e = call("application/x-protobuf; proto=shop.v1.User; encoding=\"delimited\"", stream, "");
    e.request.target = "/users/bulk";
    s->scrub(e);
    const auto messages = split(e.request.body);
    ASSERT_EQ(messages.size(), 3u);
    expect_user_read_by_name(messages[0]);
  }
  {
    // Not such a stream (here text whose bytes split into "messages" to the end): scanned
    // whole, so that no address is cut where a length fell.
    SCOPED_TRACE("not a stream");
    auto s = make();
    // "note ann.lee@example" after its "length" (20), then the address's '.' read as the
    // length (46) of the rest: each piece alone holds no whole address.
    const std::string first = "note ann.lee@example";
    std::string rest = "com and thanks for the order";
    rest.resize(46, '.');
    const std::string text = char(first.size()) + first + "." + rest;
    auto e = call("application/x-protobuf; encoding=delimited", text, "");
    s->scrub(e);
    EXPECT_EQ(e.request.body.find("ann.lee@example"), std::string::npos);
    EXPECT_EQ(e.request.body.size(), text.size());
  }
  {
    SCOPED_TRACE("cut");
    auto s = make();
    const std::string cut = stream.substr(0, first.size() + 10);
    auto e = call("application/x-protobuf; encoding=delimited", cut, "");
    e.request.body_size = stream.size();
    e.flags |= traffic::kFlagRequestBodyTruncated;
    s->scrub(e);
    ASSERT_EQ(e.request.body.size(), cut.size());
    EXPECT_EQ(shape(split(e.request.body.substr(0, first.size() + 1))[0]), shape(first));
    EXPECT_EQ(e.request.body.find("ann.lee@example.com"), std::string::npos);
    EXPECT_EQ(s->counters().protobuf_malformed, 0u);  // cut, not malformed
  }
}

// MessagePack and CBOR: read value by value as JSON is (key names, paths, numbers), so that a
// string's length byte is never taken for part of the value after it; nlohmann/json reads
// what came out.
TEST(Grpc, MessagePackAndCborBodiesAreReadAsJson) {
  using ojson = nlohmann::ordered_json;
  ojson doc;
  doc["email"] = "ann.lee@example.com";
  doc["key"] = kSecret;  // str8: its length byte is '0'
  doc["first_name"] = "Marguerite";
  doc["phone"] = 4155552671;
  doc["lat"] = 51.507351;
  doc["id"] = 4215;
  doc["avatar"] = ojson::binary({0x89, 'P', 'N', 'G', 0x00, 0x01});
  for (const bool is_cbor : {false, true}) {
    SCOPED_TRACE(is_cbor ? "cbor" : "msgpack");
    const std::vector<uint8_t> packed = is_cbor ? ojson::to_cbor(doc) : ojson::to_msgpack(doc);
    const std::string body(packed.begin(), packed.end());
    auto s = make();
    auto e = call(is_cbor ? "application/cbor" : "application/x-msgpack", body,
                  R"({"contact": "ann.lee@example.com"})");
    e.request.target = "/users";
    e.response->headers = {{"content-type", "application/json"}};
    s->scrub(e);
    const std::string& out = e.request.body;
    EXPECT_EQ(header(e.request.headers, "content-length"), std::to_string(out.size()));
    const ojson got = is_cbor ? ojson::from_cbor(out) : ojson::from_msgpack(out);
    ASSERT_EQ(got.size(), doc.size());
    const std::string email = got["email"];
    EXPECT_NE(email, "ann.lee@example.com");
    EXPECT_TRUE(is_email(email));
    // the same token as the same address got in the JSON response
    EXPECT_EQ(nlohmann::json::parse(e.response->body)["contact"], email);
    const std::string key = got["key"];
    EXPECT_NE(key, kSecret);
    EXPECT_EQ(key.size(), kSecret.size());
    EXPECT_NE(got["first_name"], "Marguerite");  // by its key name
    EXPECT_NE(got["phone"], 4155552671);         // by its key name, a number still
    EXPECT_TRUE(got["phone"].is_number_integer());
    EXPECT_NE(got["lat"], 51.507351);  // rounded
    EXPECT_NEAR(got["lat"].get<double>(), 51.507351, 0.1);
    EXPECT_EQ(got["id"], 4215);
    EXPECT_EQ(got["avatar"].get_binary().size(), 6u);
    EXPECT_EQ(is_cbor ? s->counters().cbor_bodies : s->counters().msgpack_bodies, 1u);
    EXPECT_NE(s->report().to_json().dump().find("request.json:first_name"), std::string::npos);

    // Cut at --max-body: the values before the cut are read, the rest keeps its length.
    auto cut = call(is_cbor ? "application/cbor" : "application/msgpack",
                    body.substr(0, body.size() - 20), "");
    cut.flags |= traffic::kFlagRequestBodyTruncated;
    auto fresh = make();
    fresh->scrub(cut);
    // (a phone number's token may need a wider integer: the body may grow, never break)
    EXPECT_GE(cut.request.body.size(), body.size() - 20);
    EXPECT_EQ(cut.request.body.find("ann.lee@example.com"), std::string::npos);
    EXPECT_EQ(cut.request.body.find(kSecret), std::string::npos);
    EXPECT_EQ(fresh->counters().msgpack_malformed + fresh->counters().cbor_malformed, 0u);
  }
}

// Text sent as MessagePack or CBOR (a client that labels everything so) is not read as one
// small number a character: it is bytes, and the detectors see the address in it.
TEST(Grpc, TextUnderABinaryMediaTypeIsStillScannedWhole) {
  for (const char* type : {"application/msgpack", "application/cbor"}) {
    SCOPED_TRACE(type);
    auto s = make();
    auto e = call(type, R"({"contact": "ann.lee@example.com"})", "");
    s->scrub(e);
    EXPECT_EQ(e.request.body.find("ann.lee@example.com"), std::string::npos);
    EXPECT_EQ(e.request.body.size(), 34u);  // (its length kept)
    EXPECT_EQ(s->counters().msgpack_malformed + s->counters().cbor_malformed, 1u);
  }
}

TEST(Grpc, ADescriptorSetThatIsNotOneIsAPolicyError) {
  test::TempDir dir;
  test::spit(dir.file("bad.pb"), "this is not a descriptor set");
  test::spit(dir.file("policy.yaml"), "version: 1\nprotobuf_descriptors:\n  - bad.pb\n");
  auto p = load_policy(dir.file("policy.yaml"));
  ASSERT_FALSE(p);
  EXPECT_THAT(p.error().message, ::testing::StartsWith(dir.file("policy.yaml") + ":3:5: "));
  EXPECT_THAT(p.error().message, ::testing::HasSubstr("bad.pb: not a FileDescriptorSet"));
  test::spit(dir.file("policy.yaml"), "version: 1\nprotobuf_descriptors: [missing.pb]\n");
  p = load_policy(dir.file("policy.yaml"));
  ASSERT_FALSE(p);
  EXPECT_THAT(p.error().message, ::testing::HasSubstr("missing.pb: cannot open"));
}

}  // namespace
}  // namespace twin::scrubber
