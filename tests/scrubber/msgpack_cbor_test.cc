// The MessagePack and CBOR rewriters (scrubber/src/msgpack_cbor.h). Documents are written by
// nlohmann/json's to_msgpack/to_cbor (or by hand from the specs' tables, for the forms it does
// not write) and what the rewriter wrote is read back by its from_msgpack/from_cbor: an
// independent writer and reader.

#include "msgpack_cbor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace twin::scrubber {
namespace {

using json = nlohmann::ordered_json;
using ::testing::ElementsAre;

std::string bytes(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::string msgpack(const json& j) { return bytes(json::to_msgpack(j)); }
std::string cbor(const json& j) { return bytes(json::to_cbor(j)); }
json from_msgpack(std::string_view s) { return json::from_msgpack(s.begin(), s.end()); }
json from_cbor(std::string_view s) {
  return json::from_cbor(s.begin(), s.end(), true, true, json::cbor_tag_handler_t::ignore);
}

struct Visit {
  JsonToken token;
  std::string path, parent, value;
  bool bytes;
  bool operator==(const Visit&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Visit& v) {
  return os << int(v.token) << " " << v.path << " (" << v.parent << ") " << v.value
            << (v.bytes ? " bytes" : "");
}
Visit key(std::string path, std::string parent, std::string value) {
  return {JsonToken::kKey, std::move(path), std::move(parent), std::move(value), false};
}
Visit str(std::string path, std::string parent, std::string value, bool b = false) {
  return {JsonToken::kString, std::move(path), std::move(parent), std::move(value), b};
}
Visit num(std::string path, std::string parent, std::string value) {
  return {JsonToken::kNumber, std::move(path), std::move(parent), std::move(value), false};
}

// Records every visit and replaces the values `with` maps.
struct Recorder : JsonVisitor {
  std::vector<Visit> visits;
  std::vector<std::pair<std::string, std::string>> with;
  bool visit(JsonToken token, std::string_view path, std::string_view parent,
             std::string_view value, std::string& replacement) override {
    visits.push_back({token, std::string(path), std::string(parent), std::string(value), bytes});
    for (const auto& [from, to] : with) {
      if (value == from) {
        replacement = to;
        return true;
      }
    }
    return false;
  }
};

const json kUser = json::parse(R"({"user": {"name": "Ann Lee", "emails": ["ann@example.com"],
  "age": 42, "score": 4.5, "ok": true, "none": null, "debt": -7}, "n": 1})");

TEST(MsgpackCbor, ValuesAndKeysAreVisitedByPathAndKeptByteForByte) {
  const std::vector<Visit> expected = {
      key("", "", "user"),
      key("user", "user", "name"),
      str("user.name", "user", "Ann Lee"),
      key("user", "user", "emails"),
      str("user.emails[]", "user", "ann@example.com"),
      key("user", "user", "age"),
      num("user.age", "user", "42"),
      key("user", "user", "score"),
      num("user.score", "user", "4.5"),
      key("user", "user", "ok"),
      key("user", "user", "none"),
      key("user", "user", "debt"),
      num("user.debt", "user", "-7"),
      key("", "", "n"),
      num("n", "", "1"),
  };
  for (const bool is_cbor : {false, true}) {
    SCOPED_TRACE(is_cbor ? "cbor" : "msgpack");
    const std::string in = is_cbor ? cbor(kUser) : msgpack(kUser);
    Recorder r;
    std::string out;
    const auto result = is_cbor ? rewrite_cbor(in, r, out) : rewrite_msgpack(in, r, out);
    EXPECT_TRUE(result.valid);
    EXPECT_EQ(result.replaced, 0u);
    EXPECT_EQ(out, in);
    EXPECT_EQ(r.visits, expected);
    EXPECT_EQ(result.visited, expected.size());
  }
}

// Replacements of any length (across the header sizes: fixstr to str8 at 32 bytes, str8 to
// str16 at 256), keys, numbers of another sign or size, decimals for integers (rounded toward
// zero) and floats: what nlohmann/json reads back is the document with those values changed.
TEST(MsgpackCbor, ReplacementsOfAnyLengthAndSizeReadBackAsTheDocumentChanged) {
  const json doc = json::parse(R"({"a": "short", "b": ["x", "y"], "card": 4111111111111111,
    "small": 5, "neg": -3, "lat": 51.507351, "k": "v", "big": "0123456789"})");
  const std::string long_text(300, 'q');
  std::vector<std::pair<std::string, std::string>> with = {
      {"short", std::string(40, 's')},  // fixstr → str8
      {"x", long_text},                 // fixstr → str16
      {"y", ""},
      {"4111111111111111", "4000000000000002"},
      {"5", "-70000"},  // positive fixint → a signed 32-bit one
      {"-3", "300"},    // negative fixint → unsigned
      {"51.507351", "51.5"},
      {"k", "key"},  // a key
      {"0123456789", "9876543210"},
  };
  json expected = json::parse(R"({"a": "", "b": ["", ""], "card": 4000000000000002,
    "small": -70000, "neg": 300, "lat": 51.5, "key": "v", "big": "9876543210"})");
  expected["a"] = std::string(40, 's');
  expected["b"][0] = long_text;
  for (const bool is_cbor : {false, true}) {
    SCOPED_TRACE(is_cbor ? "cbor" : "msgpack");
    const std::string in = is_cbor ? cbor(doc) : msgpack(doc);
    Recorder r;
    r.with = with;
    std::string out;
    const auto result = is_cbor ? rewrite_cbor(in, r, out) : rewrite_msgpack(in, r, out);
    ASSERT_TRUE(result.valid);
    EXPECT_EQ(result.replaced, with.size());
    EXPECT_EQ(is_cbor ? from_cbor(out) : from_msgpack(out), expected);
    // a value's path has its key as it came (as in JSON), whatever replaced the key
    EXPECT_THAT(r.visits, ::testing::Contains(str("k", "", "v")));
  }
  // A decimal for an integer is rounded toward zero; a replacement that is no JSON number is
  // not used (and counted).
  Recorder r;
  r.with = {{"5", "-12.9"}, {"-3", "1e3"}, {"4111111111111111", "12a"}, {"51.507351", "nan"}};
  std::string out;
  const auto result = rewrite_msgpack(msgpack(doc), r, out);
  ASSERT_TRUE(result.valid);
  EXPECT_EQ(result.bad_numbers, 2u);
  const json got = from_msgpack(out);
  EXPECT_EQ(got["small"], -12);
  EXPECT_EQ(got["neg"], 1000);
  EXPECT_EQ(got["card"], 4111111111111111);
  EXPECT_EQ(got["lat"], 51.507351);
}

// The case that breaks a scan of the raw bytes: a 48-byte secret in str8 has the length byte
// 0x30, '0', right before it (CBOR: 'x' then '0'). A token of the same length keeps the header
// byte for byte; so does a small number in a wide format (uint32 holding 5 stays uint32).
TEST(MsgpackCbor, HeadersKeepTheirFormatWhenTheValueFits) {
  const std::string secret = "Zk3PqW8rTn2LbX5vYc7HdJ4sMa9GeUfRx1Qy6Kp0Wm8Nt3Vb";
  const std::string token = "Qm7RtY2pLk9XbN4vWc8HsJ3dFa6GeUzPx5Ty1Kq0Wn7Mb2Vc";
  ASSERT_EQ(secret.size(), 48u);
  ASSERT_EQ(token.size(), 48u);
  const std::string mp = "\x81\xa3key\xd9\x30" + secret;  // {"key": secret}
  Recorder r;
  r.with = {{secret, token}};
  std::string out;
  ASSERT_TRUE(rewrite_msgpack(mp, r, out).valid);
  EXPECT_EQ(out, "\x81\xa3key\xd9\x30" + token);
  const std::string cb = "\xa1\x63key\x78\x30" + secret;
  ASSERT_TRUE(rewrite_cbor(cb, r, out).valid);
  EXPECT_EQ(out, "\xa1\x63key\x78\x30" + token);

  // uint32 5 → 6 stays uint32; int16 -2 → -3 stays int16; float32 stays float32
  const std::string wide("\x93\xce\x00\x00\x00\x05\xd1\xff\xfe\xca\x40\x20\x00\x00", 14);
  r.with = {{"5", "6"}, {"-2", "-3"}, {"2.5", "3.25"}};
  ASSERT_TRUE(rewrite_msgpack(wide, r, out).valid);
  EXPECT_EQ(out, std::string("\x93\xce\x00\x00\x00\x06\xd1\xff\xfd\xca\x40\x50\x00\x00", 14));
  // CBOR: a one-byte-argument 5 (0x18 0x05, not preferred) stays one; -1 - 9 = -10 as 0x29
  const std::string cwide("\x82\x18\x05\x29", 4);
  r.with = {{"5", "7"}, {"-10", "-20"}};
  ASSERT_TRUE(rewrite_cbor(cwide, r, out).valid);
  EXPECT_EQ(out, std::string("\x82\x18\x07\x33", 4));
}

// Binary strings go to the visitor with `bytes` set, and may be replaced.
TEST(MsgpackCbor, BinaryStringsAreVisitedAsBytes) {
  json doc;
  doc["avatar"] = json::binary({0x89, 'P', 'N', 'G'});
  for (const bool is_cbor : {false, true}) {
    SCOPED_TRACE(is_cbor ? "cbor" : "msgpack");
    const std::string in = is_cbor ? cbor(doc) : msgpack(doc);
    Recorder r;
    r.with = {{"\x89PNG", "xyz"}};
    std::string out;
    ASSERT_TRUE((is_cbor ? rewrite_cbor(in, r, out) : rewrite_msgpack(in, r, out)).valid);
    EXPECT_THAT(r.visits, ElementsAre(key("", "", "avatar"), str("avatar", "", "\x89PNG", true)));
    const json got = is_cbor ? from_cbor(out) : from_msgpack(out);
    EXPECT_EQ(std::vector<uint8_t>(got["avatar"].get_binary()),
              (std::vector<uint8_t>{'x', 'y', 'z'}));
  }
}

// CBOR's other forms (RFC 8949 appendix A): tags are read through, indefinite-length strings
// by chunk, indefinite arrays and maps, integer keys (COSE), the most negative integer; half
// floats and simple values are not visited. Several items (a CBOR sequence) one after another.
TEST(MsgpackCbor, CborTagsIndefiniteLengthsAndIntegerKeys) {
  std::string in;
  in += "\xbf";  // indefinite map
  in +=
      "\x64when\xc0\x74"
      "2013-03-21T20:04:00Z";                 // tag 0, a date string
  in += "\x64name\x7f\x65strea\x64ming\xff";  // indefinite text, two chunks
  in += "\x63ids\x9f\x01\x38\x63\xff";        // [_ 1, -100]
  in +=
      "\x63"
      "big\x3b" +
      std::string(8, '\xff');                    // -18446744073709551616
  in += std::string("\x64half\xf9\x3c\x00", 8);  // 1.0 as a half float
  in += "\x63nil\xf6";
  in += "\xff";
  in += std::string("\xa2\x01\x02\x03\x26", 5);  // {1: 2, 3: -7}
  Recorder r;
  r.with = {{"2013-03-21T20:04:00Z", "2014-04-22T21:05:01Z"}, {"ming", "MING!"}, {"-100", "-5"}};
  std::string out;
  const auto result = rewrite_cbor(in, r, out);
  ASSERT_TRUE(result.valid);
  EXPECT_THAT(
      r.visits,
      ElementsAre(key("", "", "when"), str("when", "", "2013-03-21T20:04:00Z"), key("", "", "name"),
                  str("name", "", "strea"), str("name", "", "ming"), key("", "", "ids"),
                  num("ids[]", "", "1"), num("ids[]", "", "-100"), key("", "", "big"),
                  num("big", "", "-18446744073709551616"), key("", "", "half"), key("", "", "nil"),
                  num("1", "", "2"), num("3", "", "-7")));
  std::string expected = in;
  expected.replace(expected.find("2013"), 20, "2014-04-22T21:05:01Z");
  expected.replace(expected.find("\x64ming"), 5, "\x65MING!");
  expected.replace(expected.find("\x38\x63"), 2, "\x38\x04");  // -5, in the width -100 had
  EXPECT_EQ(out, expected);

  // A key in chunks is a key, chunk by chunk; its value's path has the chunks joined.
  Recorder k;
  ASSERT_TRUE(rewrite_cbor("\xa1\x7f\x62"
                           "ab\x61"
                           "c\xff\x01",
                           k, out)
                  .valid);
  EXPECT_THAT(k.visits, ElementsAre(key("", "", "ab"), key("", "", "c"), num("abc", "", "1")));
}

// A document cut short (at --max-body) or corrupt: what came before the error is rewritten,
// the rest copied as it was, from error_offset, for the caller to read as bytes.
TEST(MsgpackCbor, WhatDoesNotParseIsCopiedFromTheError) {
  const json doc = json::parse(R"({"email": "ann@example.com", "note": "a long note here"})");
  for (const bool is_cbor : {false, true}) {
    SCOPED_TRACE(is_cbor ? "cbor" : "msgpack");
    const std::string whole = is_cbor ? cbor(doc) : msgpack(doc);
    const std::string cut = whole.substr(0, whole.size() - 4);
    Recorder r;
    r.with = {{"ann@example.com", "bob@example.org!"}};
    std::string out;
    const auto result = is_cbor ? rewrite_cbor(cut, r, out) : rewrite_msgpack(cut, r, out);
    EXPECT_FALSE(result.valid);
    ASSERT_LE(result.error_offset, cut.size());
    EXPECT_TRUE(out.ends_with(cut.substr(result.error_offset)));
    EXPECT_NE(out.find("bob@example.org!"), std::string::npos);
    EXPECT_EQ(out.find("ann@example.com"), std::string::npos);
  }
  // 0xc1 is never used in MessagePack; a break outside an indefinite item is not CBOR; a map
  // that announces more members than bytes; nesting past 512.
  std::string out;
  Recorder r;
  EXPECT_FALSE(rewrite_msgpack("\xc1", r, out).valid);
  EXPECT_FALSE(rewrite_cbor("\xff", r, out).valid);
  EXPECT_FALSE(rewrite_msgpack("\xdf\xff\xff\xff\xff\x01", r, out).valid);
  EXPECT_FALSE(
      rewrite_cbor(std::string("\xbb\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10), r, out).valid);
  EXPECT_FALSE(rewrite_msgpack(std::string(600, '\x91') + "\x01", r, out).valid);
  EXPECT_FALSE(rewrite_cbor(std::string(600, '\x81') + "\x01", r, out).valid);
  EXPECT_TRUE(rewrite_msgpack(std::string(500, '\x91') + "\x01", r, out).valid);
  // several objects one after another
  EXPECT_TRUE(rewrite_msgpack(msgpack(doc) + msgpack(doc), r, out).valid);
  EXPECT_TRUE(rewrite_cbor(cbor(doc) + cbor(doc), r, out).valid);
}

// Text under such a media type parses in MessagePack (every ASCII byte is a positive fixint)
// and nearly in CBOR ('a' is a one-byte text string): read so, an e-mail address in it would be
// one number or short string a character, and no detector would see it. A top-level item must
// be a map or an array (a CBOR one may be tagged), which no ASCII byte starts.
TEST(MsgpackCbor, TopLevelItemsAreMapsOrArrays) {
  const std::string text = R"({"contact": "ann@example.com"})";
  Recorder r;
  std::string out;
  auto result = rewrite_msgpack(text, r, out);
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.error_offset, 0u);
  EXPECT_TRUE(r.visits.empty());
  EXPECT_EQ(out, text);
  result = rewrite_cbor("ann@example.com", r, out);
  EXPECT_FALSE(result.valid);
  EXPECT_EQ(result.error_offset, 0u);
  // a scalar at the top, a map after it: the map is not read either
  EXPECT_FALSE(rewrite_msgpack("\x05" + msgpack(json::parse(R"({"a": "b"})")), r, out).valid);
  EXPECT_TRUE(r.visits.empty());
  // a tagged map is one (tag 55799, "self-described CBOR")
  EXPECT_TRUE(rewrite_cbor("\xd9\xd9\xf7" + cbor(json::parse(R"({"a": "b"})")), r, out).valid);
  EXPECT_THAT(r.visits, ElementsAre(key("", "", "a"), str("a", "", "b")));
}

}  // namespace
}  // namespace twin::scrubber
