// Tests of response diffs by field path and of Diffy-style noise cancellation.

#include "twin/compare/diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "twin/traffic/content_coding.h"

namespace twin::compare {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Paths = std::vector<std::string>;

traffic::Response response(std::string body, traffic::Headers headers = {}) {
  traffic::Response r;
  r.status = 200;
  r.reason = "OK";
  r.headers = std::move(headers);
  r.body = std::move(body);
  r.body_size = r.body.size();
  r.framing = traffic::Framing::kContentLength;
  return r;
}

traffic::Response json(std::string body) {
  return response(std::move(body), {{"Content-Type", "application/json"}});
}

// Compresses with zlib: window_bits 15 + 16 for gzip, 15 for zlib, -15 for raw deflate.
std::string compress(std::string_view in, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Paths diff(const traffic::Response& a, const traffic::Response& b, DiffOptions options = {}) {
  ResponseDiffer differ(std::move(options));
  Paths out{"stale"};
  EXPECT_TRUE(differ.diff(a, b, out));
  return out;
}

Paths diff_json(std::string a, std::string b, DiffOptions options = {}) {
  return diff(json(std::move(a)), json(std::move(b)), std::move(options));
}

// ---- bodies

TEST(ResponseDiffer, IdenticalBodiesHaveNoPaths) {
  const std::string body = R"({"a":1,"b":[1,2,3],"c":{"d":"e"}})";
  EXPECT_THAT(diff_json(body, body), IsEmpty());
  EXPECT_THAT(diff(response("plain text"), response("plain text")), IsEmpty());
  EXPECT_THAT(diff(response(""), response("")), IsEmpty());
}

TEST(ResponseDiffer, IdenticalInvalidJsonIsNotADifference) {
  EXPECT_THAT(diff_json("{oops", "{oops"), IsEmpty());
}

TEST(ResponseDiffer, KeyOrderAndWhitespaceAreIgnored) {
  EXPECT_THAT(diff_json(R"({"a":1,"b":{"x":true,"y":null},"c":"s"})",
                        " {\"c\" : \"s\",\n \"b\": {\"y\":null, \"x\":true}, \"a\":1}\n"),
              IsEmpty());
}

TEST(ResponseDiffer, DuplicateKeysTheLastOneWins) {
  // Found by fuzzing: the matching leading keys used to be paired in order, before the rest.
  EXPECT_THAT(diff_json(R"({"a":1,"a":2})", R"({"a":2})"), IsEmpty());
  EXPECT_THAT(diff_json(R"({"k":1,"k":2,"z":0})", R"({"k":3,"k":2})"), ElementsAre("$.z"));
}

TEST(ResponseDiffer, KeysThatAreDataAreNamedByKind) {
  EXPECT_THAT(diff_json(R"({"alice@example.com":{"x":1}})", R"({"alice@example.com":{"x":2}})"),
              ElementsAre(R"($["{email}"].x)"));
  EXPECT_THAT(diff_json(R"({"users":{"12345":1}})", R"({"users":{"12345":2}})"),
              ElementsAre(R"($.users["{id}"])"));
  std::string key(100000, 'k');
  EXPECT_THAT(diff_json("{\"" + key + "\":[1,1,1]}", "{\"" + key + "\":[2,2,2]}"),
              ElementsAre(R"($["{long-key}"][*])"));
}

TEST(ResponseDiffer, NestedChangeNamesTheLeaf) {
  EXPECT_THAT(diff_json(R"({"user":{"name":"ann","age":3},"ok":true})",
                        R"({"user":{"name":"bob","age":3},"ok":true})"),
              ElementsAre("$.user.name"));
}

TEST(ResponseDiffer, ArrayElementsShareOnePath) {
  EXPECT_THAT(diff_json(R"({"items":[{"p":1,"q":1},{"p":2,"q":2},{"p":3,"q":3}]})",
                        R"({"items":[{"p":9,"q":1},{"p":8,"q":2},{"p":3,"q":7}]})"),
              ElementsAre("$.items[*].p", "$.items[*].q"));
}

TEST(ResponseDiffer, ArrayLengthChangeNamesTheArrayAndComparesThePrefix) {
  EXPECT_THAT(diff_json(R"({"a":[1,2,3]})", R"({"a":[1,2]})"), ElementsAre("$.a"));
  EXPECT_THAT(diff_json(R"({"a":[{"x":1},{"x":2}]})", R"({"a":[{"x":5}]})"),
              ElementsAre("$.a", "$.a[*].x"));
  EXPECT_THAT(diff_json("[]", "[1]"), ElementsAre("$"));
}

TEST(ResponseDiffer, ArraysAreAlignedAsADiffAlignsLines) {
  const std::string a = R"({"a":[{"id":1,"p":1},{"id":2,"p":2},{"id":3,"p":3}]})";
  // One element inserted at the front, or removed from the middle: the array changed, not the
  // fields of every element after it.
  EXPECT_THAT(
      diff_json(a, R"({"a":[{"id":0,"p":0},{"id":1,"p":1},{"id":2,"p":2},{"id":3,"p":3}]})"),
      ElementsAre("$.a"));
  EXPECT_THAT(diff_json(a, R"({"a":[{"id":1,"p":1},{"id":3,"p":3}]})"), ElementsAre("$.a"));
  // A feed's window moved by one: same length, one element out, one in.
  EXPECT_THAT(diff_json(R"([1,2,3,4])", R"([2,3,4,5])"), ElementsAre("$"));
  EXPECT_THAT(diff_json(R"({"a":["x","m","y"]})", R"({"a":["x","y","n"]})"), ElementsAre("$.a"));
  // An insertion and a changed element: the changed one still names its field.
  EXPECT_THAT(
      diff_json(a, R"({"a":[{"id":0,"p":0},{"id":1,"p":1},{"id":2,"p":7},{"id":3,"p":3}]})"),
      ElementsAre("$.a", "$.a[*].p"));
  // Elements that all differ (a timestamp in each) are compared in order, as before.
  EXPECT_THAT(diff_json(R"([{"t":1,"v":1},{"t":2,"v":2}])", R"([{"t":5,"v":1},{"t":6,"v":2}])"),
              ElementsAre("$[*].t"));
  // Equal as the differ judges equal: key order and number spelling do not stop a match.
  EXPECT_THAT(diff_json(R"([{"a":1,"b":[1.0]},{"c":2}])", R"([{"x":0},{"b":[1e0],"a":1},{"c":2}])"),
              ElementsAre("$"));
}

TEST(ResponseDiffer, AlignmentIsBoundedByMaxAlign) {
  DiffOptions small;
  small.max_align = 1;  // 2 x 2 elements left after the prefix and suffix: paired in order
  EXPECT_THAT(diff_json(R"([{"k":"a"},{"k":"b"}])", R"([{"k":"b"},{"k":"c"}])", small),
              ElementsAre("$[*].k"));
  EXPECT_THAT(diff_json(R"([{"k":"a"},{"k":"b"}])", R"([{"k":"b"},{"k":"c"}])"), ElementsAre("$"));
  // The prefix and suffix need no table.
  EXPECT_THAT(diff_json(R"([1,2,3])", R"([0,1,2,3])", small), ElementsAre("$"));
}

TEST(ResponseDiffer, InsertionsAnywhereNameOnlyTheArray) {
  // Property: an array with elements inserted at random places (some equal to others) differs
  // from the original at the array's path only, as long as the alignment finds every original
  // element; removing them again gives the same.
  std::mt19937 rng(11);
  ResponseDiffer differ;
  Paths out;
  for (int round = 0; round < 300; ++round) {
    nlohmann::json items = nlohmann::json::array();
    const int n = static_cast<int>(rng() % 30);
    for (int i = 0; i < n; ++i) {
      items.push_back(
          {{"id", rng() % 8}, {"tags", {rng() % 3, "t"}}, {"price", (rng() % 5) / 2.0}});
    }
    nlohmann::json more = items;
    const int k = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < k; ++i) {
      const nlohmann::json extra = {{"id", rng() % 8}, {"price", 1}};
      more.insert(more.begin() + static_cast<std::ptrdiff_t>(rng() % (more.size() + 1)), extra);
    }
    const std::string x = nlohmann::json{{"items", items}}.dump();
    const std::string y = nlohmann::json{{"items", more}}.dump();
    ASSERT_TRUE(differ.diff(json(x), json(y), out));
    EXPECT_THAT(out, ElementsAre("$.items")) << x << "\n" << y;
    ASSERT_TRUE(differ.diff(json(y), json(x), out));
    EXPECT_THAT(out, ElementsAre("$.items")) << y << "\n" << x;
  }
}

TEST(ResponseDiffer, UnorderedArraysAreMultisets) {
  DiffOptions any;
  any.unordered = {"$.tags", "$.items", "$.groups[*].members"};
  // Order alone is no difference.
  EXPECT_THAT(diff_json(R"({"tags":["x","y","z"]})", R"({"tags":["z","x","y"]})", any), IsEmpty());
  EXPECT_THAT(diff_json(R"({"tags":["x","y","z"]})", R"({"tags":["z","x","y"]})"),
              ElementsAre("$.tags"));
  // Reordered, one element changed: the change is named by its field.
  const std::string a = R"({"items":[{"id":1,"p":1},{"id":2,"p":2},{"id":3,"p":3}]})";
  EXPECT_THAT(diff_json(a, R"({"items":[{"id":3,"p":3},{"id":1,"p":9},{"id":2,"p":2}]})", any),
              ElementsAre("$.items[*].p"));
  // A length change names the array; the unmatched elements are paired in order.
  EXPECT_THAT(diff_json(a, R"({"items":[{"id":2,"p":2},{"id":1,"p":1}]})", any),
              ElementsAre("$.items"));
  EXPECT_THAT(
      diff_json(a, R"({"items":[{"id":2,"p":2},{"id":1,"p":1},{"id":4,"p":3},{"id":5}]})", any),
      ElementsAre("$.items", "$.items[*].id"));
  // Multiplicity counts: a twice and b once is not a once and b twice.
  EXPECT_THAT(diff_json(R"({"tags":["a","a","b"]})", R"({"tags":["b","a","b"]})", any),
              ElementsAre("$.tags[*]"));
  // Nested in an ordered array: elements whose inner set is reordered are equal, so they still
  // match (the outer alignment) and name nothing.
  EXPECT_THAT(
      diff_json(R"({"groups":[{"n":1,"members":["a","b"]},{"n":2,"members":["c","d"]}]})",
                R"({"groups":[{"n":0},{"n":1,"members":["b","a"]},{"n":2,"members":["d","c"]}]})",
                any),
      ElementsAre("$.groups"));
  // A pattern names the array at its whole path, not what is below it.
  DiffOptions outer;
  outer.unordered = {"$.m"};
  EXPECT_THAT(diff_json(R"({"m":[[1,2],[3,4]]})", R"({"m":[[4,3],[1,2]]})", outer),
              ElementsAre("$.m[*]"));
  outer.unordered = {"$.m", "$.m[*]"};
  EXPECT_THAT(diff_json(R"({"m":[[1,2],[3,4]]})", R"({"m":[[4,3],[1,2]]})", outer), IsEmpty());
  // "$.**" names every array, the root included.
  DiffOptions every;
  every.unordered = {"$.**"};
  EXPECT_THAT(
      diff_json(R"([{"a":[1,2]},{"b":[3,[4,5]]}])", R"([{"b":[[5,4],3]},{"a":[2,1]}])", every),
      IsEmpty());
}

TEST(ResponseDiffer, UnorderedRandomPermutationsAreEqual) {
  // Property: any permutation of any level of a random document compares equal under "$.**",
  // and a changed leaf still differs.
  std::mt19937 rng(5);
  DiffOptions every;
  every.unordered = {"$.**"};
  ResponseDiffer differ(every);
  Paths out;
  const std::function<nlohmann::json(int)> make = [&](int depth) -> nlohmann::json {
    const int r = static_cast<int>(rng() % 6);
    if (depth == 0 || r < 2) return static_cast<int>(rng() % 4);
    if (r < 4) {
      nlohmann::json arr = nlohmann::json::array();
      for (int i = static_cast<int>(rng() % 6); i > 0; --i) arr.push_back(make(depth - 1));
      return arr;
    }
    nlohmann::json obj = nlohmann::json::object();
    for (int i = static_cast<int>(rng() % 4); i > 0; --i) {
      obj["k" + std::to_string(rng() % 5)] = make(depth - 1);
    }
    return obj;
  };
  const std::function<void(nlohmann::json&)> shuffle = [&](nlohmann::json& v) {
    if (v.is_array()) {
      std::vector<nlohmann::json> items(v.begin(), v.end());
      std::shuffle(items.begin(), items.end(), rng);
      v = items;
    }
    if (v.is_structured()) {
      for (auto& child : v) shuffle(child);
    }
  };
  int changed = 0;
  for (int round = 0; round < 500; ++round) {
    nlohmann::json x = nlohmann::json::array({make(4), make(4), make(3)});
    nlohmann::json y = x;
    shuffle(y);
    ASSERT_TRUE(differ.diff(json(x.dump()), json(y.dump()), out));
    EXPECT_THAT(out, IsEmpty()) << x.dump() << "\n" << y.dump();
    // Bump one number somewhere: now they differ.
    std::string z = y.dump();
    const size_t at = z.find_first_of("0123");
    if (at == std::string::npos) continue;
    z[at] = '7';
    ASSERT_TRUE(differ.diff(json(x.dump()), json(z), out));
    EXPECT_THAT(out, ::testing::Not(IsEmpty())) << x.dump() << "\n" << z;
    ++changed;
  }
  EXPECT_GT(changed, 300);
}

TEST(ResponseDiffer, MalformedUnorderedPatternThrows) {
  DiffOptions bad;
  bad.unordered = {"$[\"a"};
  EXPECT_THROW(ResponseDiffer{bad}, std::invalid_argument);
}

TEST(ResponseDiffer, MissingKeyNamesTheValueWithoutDescending) {
  EXPECT_THAT(diff_json(R"({"a":1,"b":{"c":{"d":1}}})", R"({"a":1})"), ElementsAre("$.b"));
  EXPECT_THAT(diff_json(R"({"a":1})", R"({"a":1,"z":{"y":2}})"), ElementsAre("$.z"));
  EXPECT_THAT(diff_json(R"({"a":1,"b":2,"c":3})", R"({"c":3,"d":2,"a":1})"),
              ElementsAre("$.b", "$.d"));
}

TEST(ResponseDiffer, TypeChangeNamesTheValue) {
  EXPECT_THAT(diff_json(R"({"a":{"b":1}})", R"({"a":[1]})"), ElementsAre("$.a"));
  EXPECT_THAT(diff_json(R"({"a":"1"})", R"({"a":1})"), ElementsAre("$.a"));
  EXPECT_THAT(diff_json(R"({"a":null})", R"({"a":false})"), ElementsAre("$.a"));
  EXPECT_THAT(diff_json(R"({"a":true})", R"({"a":false})"), ElementsAre("$.a"));
  EXPECT_THAT(diff_json(R"({"a":1})", R"([1])"), ElementsAre("$"));
  EXPECT_THAT(diff_json("1", "2"), ElementsAre("$"));
}

TEST(ResponseDiffer, NumbersCompareByValue) {
  EXPECT_THAT(diff_json(R"({"a":1,"b":0,"c":0.5,"d":100})", R"({"a":1.0,"b":-0,"c":5e-1,"d":1E2})"),
              IsEmpty());
  // Integers compare exactly: these two are the same double.
  EXPECT_THAT(diff_json(R"({"id":9007199254740993})", R"({"id":9007199254740992})"),
              ElementsAre("$.id"));
  EXPECT_THAT(diff_json(R"({"a":1.5})", R"({"a":1.25})"), ElementsAre("$.a"));
}

TEST(ResponseDiffer, StringsCompareUnescaped) {
  EXPECT_THAT(diff_json(R"({"a":"\u00e9\/","b":"\ud83d\ude00"})",
                        "{\"a\":\"\xC3\xA9/\",\"b\":\"\xF0\x9F\x98\x80\"}"),
              IsEmpty());
  EXPECT_THAT(diff_json(R"({"k\u0065y":1})", R"({"key":2})"), ElementsAre("$.key"));
}

TEST(ResponseDiffer, KeysOutsideIdentifiersAreBracketed) {
  EXPECT_THAT(
      diff_json(R"({"content-type":1,"":1,"a\"b":1,"x.y":{"z":1},"_ok9":1})",
                R"({"content-type":2,"":2,"a\"b":2,"x.y":{"z":2},"_ok9":2})"),
      ElementsAre("$._ok9", "$[\"\"]", "$[\"a\\\"b\"]", "$[\"content-type\"]", "$[\"x.y\"].z"));
}

TEST(ResponseDiffer, DuplicateKeysInSameOrderCompareInOrder) {
  EXPECT_THAT(diff_json(R"({"a":1,"a":2})", R"({"a":1,"a":2})"), IsEmpty());
  // Otherwise the last occurrence wins.
  EXPECT_THAT(diff_json(R"({"b":0,"a":1,"a":2})", R"({"a":2,"b":0})"), IsEmpty());
}

TEST(ResponseDiffer, NonJsonBodiesAreBytes) {
  EXPECT_THAT(diff(response("hello"), response("world")), ElementsAre("$body"));
  EXPECT_THAT(diff(response("<p>1</p>", {{"Content-Type", "text/html"}}),
                   response("<p>2</p>", {{"Content-Type", "text/html"}})),
              ElementsAre("$body"));
}

TEST(ResponseDiffer, JsonIsRecognisedByContentTypeOrLeadingBracket) {
  // No Content-Type, but the body starts with '{' after whitespace.
  EXPECT_THAT(diff(response(" \n{\"a\":1}"), response("{\"a\":2}")), ElementsAre("$.a"));
  EXPECT_THAT(diff(response("[1,{\"b\":2}]"), response("[1,{\"b\":3}]")), ElementsAre("$[*].b"));
  // A scalar is JSON only by Content-Type.
  EXPECT_THAT(diff(response("\"x\""), response("\"y\"")), ElementsAre("$body"));
  EXPECT_THAT(diff(response("\"x\"", {{"content-type", "application/problem+JSON"}}),
                   response("\"y\"", {{"content-type", "application/problem+JSON"}})),
              ElementsAre("$"));
}

TEST(ResponseDiffer, InvalidJsonOnOneSideIsBody) {
  EXPECT_THAT(diff_json(R"({"a":1})", R"({"a":1)"), ElementsAre("$body"));
  EXPECT_THAT(diff_json(R"({"a":1,})", R"({"a":1})"), ElementsAre("$body"));
  EXPECT_THAT(diff_json(R"({"a":1})", ""), ElementsAre("$body"));
  EXPECT_THAT(diff_json(R"({"a":01})", R"({"a":1})"), ElementsAre("$body"));
  EXPECT_THAT(diff_json(R"({"a":"\ud800"})", R"({"a":1})"), ElementsAre("$body"));
  EXPECT_THAT(diff_json("{\"a\":\"\t\"}", R"({"a":1})"), ElementsAre("$body"));
  EXPECT_THAT(diff_json(R"({"a":1} x)", R"({"a":1})"), ElementsAre("$body"));
  // An HTML error page where the baseline had JSON.
  EXPECT_THAT(diff(json(R"({"a":1})"), response("<html>oops</html>")), ElementsAre("$body"));
}

TEST(ResponseDiffer, GzipAndIdentityWithTheSameContentAgree) {
  const std::string body = R"({"a":1,"items":[1,2,3],"s":")" + std::string(2000, 'x') + "\"}";
  const traffic::Response plain = json(body);
  for (const auto& [coding, bits] : std::vector<std::pair<std::string, int>>{
           {"gzip", 15 + 16}, {"x-gzip", 15 + 16}, {"deflate", 15}, {"deflate", -15}}) {
    SCOPED_TRACE(coding + " " + std::to_string(bits));
    traffic::Response packed = response(
        compress(body, bits), {{"Content-Type", "application/json"}, {"Content-Encoding", coding}});
    EXPECT_THAT(diff(plain, packed), IsEmpty());
    EXPECT_THAT(diff(packed, plain), IsEmpty());
    const std::string changed = R"({"a":2,"items":[1,2,3],"s":")" + std::string(2000, 'x') + "\"}";
    packed.body = compress(changed, bits);
    EXPECT_THAT(diff(plain, packed), ElementsAre("$.a"));
  }
}

TEST(ResponseDiffer, ConcatenatedGzipMembersAreDecoded) {
  const std::string packed = compress(R"({"a":)", 15 + 16) + compress("1}", 15 + 16);
  EXPECT_THAT(diff(json(R"({"a":1})"), response(packed, {{"Content-Encoding", "gzip"}})),
              IsEmpty());
}

// A candidate that compresses with another coding or at another level answers the same: br and
// zstd (what browsers ask for) are decoded as gzip is, and a list of codings last first.
TEST(ResponseDiffer, BrotliZstdAndStackedCodingsAreDecoded) {
  const std::string body = R"({"a":1,"items":[1,2,3],"s":")" + std::string(2000, 'x') + "\"}";
  const std::string changed = R"({"a":2,"items":[1,2,3],"s":")" + std::string(2000, 'x') + "\"}";
  auto encoded = [](std::string_view in, const std::vector<traffic::Coding>& codings) {
    std::string out(in);
    for (const traffic::Coding c : codings) {
      std::string next;
      EXPECT_TRUE(traffic::encode(c, out, next));
      out.swap(next);
    }
    return out;
  };
  const traffic::Response plain = json(body);
  const traffic::Response gz = response(compress(body, 15 + 16), {{"Content-Encoding", "gzip"}});
  for (const auto& [name, codings] :
       std::vector<std::pair<std::string, std::vector<traffic::Coding>>>{
           {"br", {traffic::Coding::kBrotli}},
           {"zstd", {traffic::Coding::kZstd}},
           {"gzip, br", {traffic::Coding::kGzip, traffic::Coding::kBrotli}},
           {"zstd, identity", {traffic::Coding::kZstd}}}) {
    SCOPED_TRACE(name);
    traffic::Response packed = response(encoded(body, codings), {{"Content-Encoding", name}});
    EXPECT_THAT(diff(plain, packed), IsEmpty());
    EXPECT_THAT(diff(packed, gz), IsEmpty());
    packed.body = encoded(changed, codings);
    EXPECT_THAT(diff(gz, packed), ElementsAre("$.a"));
  }
}

TEST(ResponseDiffer, UndecodableBodiesAreComparedAsBytes) {
  const std::string body = R"({"a":1})";
  std::string broken = compress(body, 15 + 16);
  broken.resize(broken.size() / 2);
  EXPECT_THAT(diff(json(body), response(broken, {{"Content-Encoding", "gzip"}})),
              ElementsAre("$body"));
  // A coding twin does not know (dcz needs its dictionary): the same bytes agree, other bytes
  // are $body.
  const traffic::Headers dcz = {{"Content-Encoding", "dcz"}};
  EXPECT_THAT(diff(response("\x5e\x2a\x4d\x18", dcz), response("\x5e\x2a\x4d\x18", dcz)),
              IsEmpty());
  EXPECT_THAT(diff(response("\x5e\x2a\x4d\x18", dcz), response("\x5e\x2a\x4d\x19", dcz)),
              ElementsAre("$body"));
  // The same bytes under different codings are not the same content.
  const std::string packed = compress(body, 15 + 16);
  EXPECT_THAT(diff(response(packed), response(packed, {{"Content-Encoding", "gzip"}})),
              ElementsAre("$body"));
  // A list that does not undo (gzip bytes said to be br over gzip) is $body.
  EXPECT_THAT(diff(json(body), response(packed, {{"Content-Encoding", "gzip, br"}})),
              ElementsAre("$body"));
  // The same bytes under the same codings spelt otherwise agree without decoding.
  EXPECT_THAT(diff(response(broken, {{"Content-Encoding", "gzip"}}),
                   response(broken, {{"Content-Encoding", "identity, GZIP"}})),
              IsEmpty());
}

TEST(ResponseDiffer, DecodedOutputIsBoundedByMaxBody) {
  DiffOptions options;
  options.max_body = 1000;
  const std::string big = "[" + std::string(5000, ' ') + "1]";
  const std::string big2 = "[" + std::string(5000, ' ') + "2]";
  // Over max_body after decoding: compared as bytes, never parsed.
  EXPECT_THAT(diff(response(compress(big, 15 + 16), {{"Content-Encoding", "gzip"}}),
                   response(compress(big2, 15 + 16), {{"Content-Encoding", "gzip"}}), options),
              ElementsAre("$body"));
  EXPECT_THAT(diff(json(big), json(big2), options), ElementsAre("$body"));
  EXPECT_THAT(diff(json(big), json(big), options), IsEmpty());
  // Within max_body: parsed.
  options.max_body = 10000;
  EXPECT_THAT(diff(response(compress(big, 15 + 16), {{"Content-Encoding", "gzip"}}),
                   response(compress(big2, 15 + 16), {{"Content-Encoding", "gzip"}}), options),
              ElementsAre("$[*]"));
}

// ---- ignore globs

TEST(ResponseDiffer, IgnoreGlobs) {
  const std::string a =
      R"({"meta":{"ts":1,"x":{"y":1}},"items":[{"updated_at":1,"p":1}],"n":{"trace_id":1},)"
      R"("a-b":1,"user_1":1,"user_2":1,"keep":1})";
  const std::string b =
      R"({"meta":{"ts":2,"x":{"y":2}},"items":[{"updated_at":2,"p":2}],"n":{"trace_id":2},)"
      R"("a-b":2,"user_1":2,"user_2":2,"keep":2})";
  EXPECT_THAT(diff_json(a, b),
              ElementsAre("$.items[*].p", "$.items[*].updated_at", "$.keep", "$.meta.ts",
                          "$.meta.x.y", "$.n.trace_id", "$.user_1", "$.user_2", "$[\"a-b\"]"));
  DiffOptions options;
  options.ignore = {"$.meta", "$.items[*].updated_at", "$.**.trace_id", "$.a-b", "$.user_*"};
  EXPECT_THAT(diff_json(a, b, options), ElementsAre("$.items[*].p", "$.keep"));
  options.ignore = {"$.meta.**", "$[\"a-b\"]", "$.*[*].*"};
  EXPECT_THAT(diff_json(a, b, options),
              ElementsAre("$.keep", "$.n.trace_id", "$.user_1", "$.user_2"));
  options.ignore = {"$.meta.*.y"};
  EXPECT_THAT(diff_json(a, b, options), ::testing::Contains("$.meta.ts"));
  EXPECT_THAT(diff_json(a, b, options), ::testing::Not(::testing::Contains("$.meta.x.y")));
  options.ignore = {"**"};
  EXPECT_THAT(diff_json(a, b, options), IsEmpty());
  options.ignore = {"$"};
  EXPECT_THAT(diff_json(a, b, options), IsEmpty());
  EXPECT_THAT(diff(response("x"), response("y"), options), ElementsAre("$body"));
  options.ignore = {"$body"};
  EXPECT_THAT(diff(response("x"), response("y"), options), IsEmpty());
}

TEST(ResponseDiffer, IgnoringAChildDoesNotHideTheParentsTypeChange) {
  DiffOptions options;
  options.ignore = {"$.meta.ts"};
  EXPECT_THAT(diff_json(R"({"meta":{"ts":1}})", R"({"meta":null})", options),
              ElementsAre("$.meta"));
}

TEST(ResponseDiffer, MalformedIgnorePatternThrows) {
  DiffOptions options;
  options.ignore = {"$[\"open"};
  EXPECT_THROW(ResponseDiffer{options}, std::invalid_argument);
}

// ---- limits

TEST(ResponseDiffer, MaxPathsCutsTheOutput) {
  std::string a = "{", b = "{";
  for (int i = 0; i < 10; ++i) {
    a += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
    b += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":2";
  }
  a += "}";
  b += "}";
  DiffOptions options;
  options.max_paths = 4;
  ResponseDiffer differ(options);
  Paths out;
  EXPECT_FALSE(differ.diff(json(a), json(b), out));
  EXPECT_EQ(out.size(), 4u);
  EXPECT_TRUE(std::is_sorted(out.begin(), out.end()));
  options.max_paths = 10;
  EXPECT_TRUE(ResponseDiffer(options).diff(json(a), json(b), out));
  EXPECT_EQ(out.size(), 10u);
}

TEST(ResponseDiffer, RepeatedArrayPathsDoNotCountAgainstMaxPaths) {
  std::string a = "[", b = "[";
  for (int i = 0; i < 1000; ++i) {
    a += (i ? "," : "") + std::string(R"({"x":1,"y":1})");
    b += (i ? "," : "") + std::string(R"({"x":2,"y":2})");
  }
  a += "]";
  b += "]";
  DiffOptions options;
  options.max_paths = 2;
  EXPECT_THAT(diff_json(a, b, options), ElementsAre("$[*].x", "$[*].y"));
}

TEST(ResponseDiffer, DeeperThanMaxDepthIsComparedWhole) {
  DiffOptions options;
  options.max_depth = 2;
  EXPECT_THAT(diff_json(R"({"a":{"b":{"c":{"d":1}}}})", R"({"a":{"b":{"c":{"d":2}}}})", options),
              ElementsAre("$.a.b"));
  // Key order still does not matter there.
  EXPECT_THAT(diff_json(R"({"a":{"b":{"x":[1,{"p":1,"q":2}],"y":2}}})",
                        R"({"a":{"b":{"y":2,"x":[1,{"q":2,"p":1}]}}})", options),
              IsEmpty());
  EXPECT_THAT(diff_json(R"({"a":{"b":{"x":[1,{"p":1,"q":2}],"y":2}}})",
                        R"({"a":{"b":{"y":2,"x":[1,{"q":2,"p":1,"r":0}]}}})", options),
              ElementsAre("$.a.b"));
  options.max_depth = 0;
  EXPECT_THAT(diff_json(R"({"a":1,"b":2})", R"({"a":1,"b":3})", options), ElementsAre("$"));
}

TEST(ResponseDiffer, VeryDeepNestingNeitherCrashesNorRecursesPastTheCap) {
  const size_t depth = 200000;
  const std::string a = std::string(depth, '[') + "1" + std::string(depth, ']');
  const std::string b = std::string(depth, '[') + "2" + std::string(depth, ']');
  DiffOptions options;
  options.max_depth = SIZE_MAX;
  options.max_body = 1 << 22;
  const Paths out = diff_json(a, b, options);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(
      out[0], "$" + [] {
        std::string s;
        for (int i = 0; i < 1000; ++i) s += "[*]";
        return s;
      }());
  EXPECT_THAT(diff_json(a, a + " ", options), IsEmpty());
}

// ---- headers

TEST(ResponseDiffer, HeadersAreComparedOnlyWhenAsked) {
  const traffic::Response a = response("{}", {{"Date", "Mon, 01 Jan 2024 00:00:00 GMT"},
                                              {"ETag", "\"1\""},
                                              {"Set-Cookie", "a=1"},
                                              {"Set-Cookie", "b=2"},
                                              {"Content-Length", "2"},
                                              {"Connection", "keep-alive"},
                                              {"Server", "v1"}});
  const traffic::Response b = response("{}", {{"date", "Tue, 02 Jan 2024 00:00:00 GMT"},
                                              {"etag", " \"1\""},
                                              {"SET-COOKIE", "b=2"},
                                              {"set-cookie", "a=1"},
                                              {"Transfer-Encoding", "chunked"},
                                              {"Server", "v2"},
                                              {"X-New", "1"},
                                              {":status", "200"}});
  EXPECT_THAT(diff(a, b), IsEmpty());
  DiffOptions options;
  options.headers = true;
  EXPECT_THAT(diff(a, b, options), ElementsAre("header.server", "header.x-new"));
  EXPECT_THAT(diff(a, a, options), IsEmpty());
  // A value repeated a different number of times is a difference (multiset).
  traffic::Response c = a;
  c.headers.push_back({"Set-Cookie", "a=1"});
  EXPECT_THAT(diff(a, c, options), ElementsAre("header.set-cookie"));
  options.ignore = {"header.x-*", "header.server"};
  EXPECT_THAT(diff(a, b, options), IsEmpty());
}

TEST(ResponseDiffer, ContentEncodingChangeIsAHeaderDifferenceOnly) {
  const std::string body = R"({"a":1})";
  DiffOptions options;
  options.headers = true;
  EXPECT_THAT(diff(json(body),
                   response(compress(body, 15 + 16),
                            {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}}),
                   options),
              ElementsAre("header.content-encoding"));
}

TEST(ResponseDiffer, BodyAndHeaderPathsSortTogether) {
  DiffOptions options;
  options.headers = true;
  EXPECT_THAT(diff(response(R"({"a":1})", {{"ETag", "1"}}), response(R"({"a":2})", {{"ETag", "2"}}),
                   options),
              ElementsAre("$.a", "header.etag"));
}

TEST(ResponseDiffer, StatusIsNotADiff) {
  traffic::Response a = json("{}"), b = json("{}");
  b.status = 500;
  b.reason = "Internal Server Error";
  EXPECT_THAT(diff(a, b), IsEmpty());
}

TEST(ResponseDiffer, IsReusableAndMovable) {
  ResponseDiffer first;
  ResponseDiffer differ(std::move(first));
  Paths out;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(differ.diff(json(R"({"a":1,"b":"\u0041"})"), json(R"({"a":2,"b":"A"})"), out));
    EXPECT_THAT(out, ElementsAre("$.a"));
    EXPECT_TRUE(differ.diff(json("[1]"), json("[1]"), out));
    EXPECT_THAT(out, IsEmpty());
  }
  ResponseDiffer other;
  other = std::move(differ);
  EXPECT_TRUE(other.diff(json("[1]"), json("[2]"), out));
  EXPECT_THAT(out, ElementsAre("$[*]"));
}

// ---- against nlohmann::json as an oracle

// A random JSON value with small integers, ASCII strings and distinct keys, so that
// nlohmann's equality is the one documented for the differ.
nlohmann::json random_value(std::mt19937& rng, int depth) {
  const auto pick = [&](uint32_t n) { return static_cast<uint32_t>(rng() % n); };
  switch (depth <= 0 ? pick(5) : pick(7)) {
    case 0:
      return nullptr;
    case 1:
      return pick(2) == 0;
    case 2:
      return static_cast<int>(pick(5)) - 2;
    case 3:
      return static_cast<double>(pick(5)) / 2;
    case 4:
      return std::string(1, static_cast<char>('a' + pick(3)));
    case 5: {
      nlohmann::json array = nlohmann::json::array();
      for (uint32_t i = pick(4); i > 0; --i) array.push_back(random_value(rng, depth - 1));
      return array;
    }
    default: {
      nlohmann::json object = nlohmann::json::object();
      for (uint32_t i = pick(4); i > 0; --i) {
        object[std::string(1, static_cast<char>('k' + pick(4)))] = random_value(rng, depth - 1);
      }
      return object;
    }
  }
}

// Writes with shuffled key order and ints sometimes as floats, which must not matter.
std::string write_shuffled(const nlohmann::json& v, std::mt19937& rng) {
  if (v.is_object()) {
    std::vector<std::string> members;
    for (const auto& [k, x] : v.items()) {
      members.push_back(nlohmann::json(k).dump() + ":" + write_shuffled(x, rng));
    }
    std::shuffle(members.begin(), members.end(), rng);
    std::string s = "{";
    for (size_t i = 0; i < members.size(); ++i) s += (i ? "," : "") + members[i];
    return s + "}";
  }
  if (v.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + write_shuffled(v[i], rng);
    return s + "]";
  }
  if (v.is_number_integer() && rng() % 2 == 0) return v.dump() + ".0";
  return v.dump();
}

TEST(ResponseDiffer, AgreesWithNlohmannOnEqualityAndValidity) {
  std::mt19937 rng(42);
  ResponseDiffer differ;
  Paths out;
  int equal = 0, different = 0, invalid = 0;
  for (int i = 0; i < 3000; ++i) {
    const nlohmann::json x = random_value(rng, 4);
    const nlohmann::json y = rng() % 3 == 0 ? x : random_value(rng, 4);
    const std::string a = write_shuffled(x, rng);
    const std::string b = write_shuffled(y, rng);
    ASSERT_TRUE(differ.diff(json(a), json(b), out));
    const bool same = nlohmann::json::parse(a) == nlohmann::json::parse(b);
    EXPECT_EQ(out.empty(), same) << "case " << i;
    EXPECT_THAT(out, ::testing::Not(::testing::Contains("$body")));
    ++(same ? equal : different);
    // A corrupted copy is $body exactly when nlohmann rejects it.
    std::string c = b;
    static constexpr char kNoise[] = "{}[],:\"\\ 0-.eEtfnu1x";
    const size_t at = rng() % (c.size() + 1);
    switch (rng() % 3) {
      case 0:
        c.insert(at, 1, kNoise[rng() % (sizeof(kNoise) - 1)]);
        break;
      case 1:
        if (at < c.size()) c.erase(at, 1);
        break;
      default:
        c.resize(at);
    }
    ASSERT_TRUE(differ.diff(json(a), json(c), out));
    const bool valid = nlohmann::json::accept(c);
    EXPECT_EQ(out == Paths{"$body"}, !valid && a != c) << "case " << i;
    invalid += !valid;
  }
  EXPECT_GT(equal, 500);
  EXPECT_GT(different, 500);
  EXPECT_GT(invalid, 500);
}

// ---- FieldNoise

std::set<std::string> reported(const FieldNoise& noise, const NoiseOptions& options) {
  std::set<std::string> result;
  for (const FieldNoise::Field& f : noise.fields(options)) {
    if (f.reported) result.insert(f.path);
  }
  return result;
}

// One simulated pair: which fields the candidate and the noise target differ at.
struct Simulated {
  Paths candidate, noise;
};

std::vector<Simulated> simulate(size_t n) {
  std::mt19937 rng(7);
  std::vector<Simulated> pairs(n);
  for (size_t i = 0; i < n; ++i) {
    Simulated& p = pairs[i];
    p.candidate.push_back("$.ts");  // a timestamp: differs every time on both
    p.noise.push_back("$.ts");
    if (rng() % 2) p.candidate.push_back("$.rid");  // a random id: half the time on both
    if (rng() % 2) p.noise.push_back("$.rid");
    if (i % 10 == 3) p.candidate.push_back("$.price");  // a real change: 10 %, never in noise
    if (i % 100 < 33) p.candidate.push_back("$.x");     // 33 % against 30 % of noise
    if ((i + 50) % 100 < 30) p.noise.push_back("$.x");
    std::sort(p.candidate.begin(), p.candidate.end());
    std::sort(p.noise.begin(), p.noise.end());
  }
  return pairs;
}

TEST(FieldNoise, DiffyCancelsFieldsThatDifferAtRandom) {
  const NoiseOptions options;
  FieldNoise noise;
  const std::vector<Simulated> pairs = simulate(1000);
  for (size_t i = 0; i < pairs.size(); ++i) {
    noise.add(1000 + i, pairs[i].candidate, &pairs[i].noise, options);
  }
  EXPECT_EQ(noise.compared(), 1000u);
  EXPECT_EQ(noise.with_noise(), 1000u);
  EXPECT_EQ(noise.overflow(), 0u);
  EXPECT_EQ(reported(noise, options), std::set<std::string>{"$.price"});

  const std::vector<FieldNoise::Field> fields = noise.fields(options);
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[0].path, "$.price");  // reported first
  EXPECT_TRUE(fields[0].reported);
  EXPECT_EQ(fields[0].differ, 100u);
  EXPECT_EQ(fields[0].noise_differ, 0u);
  EXPECT_DOUBLE_EQ(fields[0].rate, 0.1);
  EXPECT_DOUBLE_EQ(fields[0].noise_rate, 0);
  EXPECT_THAT(fields[0].samples, ElementsAre(1003u, 1013u, 1023u));
  EXPECT_EQ(fields[1].path, "$.ts");  // then by rate
  EXPECT_DOUBLE_EQ(fields[1].rate, 1);
  EXPECT_DOUBLE_EQ(fields[1].noise_rate, 1);
  EXPECT_EQ(fields[2].path, "$.rid");
  EXPECT_EQ(fields[3].path, "$.x");
  EXPECT_DOUBLE_EQ(fields[3].rate, 0.33);
  EXPECT_DOUBLE_EQ(fields[3].noise_rate, 0.30);
  // $.x is cancelled by the relative threshold alone: 0.33 < 0.30 × 1.2.
  NoiseOptions loose = options;
  loose.relative = 0.05;
  EXPECT_EQ(reported(noise, loose), (std::set<std::string>{"$.price", "$.x"}));
}

TEST(FieldNoise, WithoutNoiseEveryFieldAboveAbsoluteIsReported) {
  NoiseOptions options;
  FieldNoise noise;
  const std::vector<Simulated> pairs = simulate(1000);
  for (size_t i = 0; i < pairs.size(); ++i) noise.add(i, pairs[i].candidate, nullptr, options);
  noise.add(5000, {"$.rare"}, nullptr, options);  // 1 in 1001: under 0.001
  EXPECT_EQ(noise.with_noise(), 0u);
  EXPECT_EQ(reported(noise, options), (std::set<std::string>{"$.price", "$.rid", "$.ts", "$.x"}));
  for (const FieldNoise::Field& f : noise.fields(options)) EXPECT_EQ(f.noise_rate, 0);
  options.absolute = 0.0005;
  EXPECT_EQ(reported(noise, options).count("$.rare"), 1u);
}

TEST(FieldNoise, ThresholdsAreInclusive) {
  NoiseOptions options;
  options.absolute = 0.1;
  options.relative = 1.0;
  FieldNoise noise;
  const Paths none, a{"$.a"};
  // $.a: candidate 20 %, noise 10 %: excess exactly 0.1 and rate exactly 2 × noise.
  for (int i = 0; i < 100; ++i) noise.add(i, i < 20 ? a : none, i < 10 ? &a : &none, options);
  EXPECT_EQ(reported(noise, options), std::set<std::string>{"$.a"});
  options.absolute = 0.1001;
  EXPECT_THAT(reported(noise, options), IsEmpty());
  options.absolute = 0.1;
  options.relative = 1.01;
  EXPECT_THAT(reported(noise, options), IsEmpty());
}

TEST(FieldNoise, NoiseRateIsOverPairsThatHadANoiseResponse) {
  const NoiseOptions options;
  FieldNoise noise;
  const Paths a{"$.a"};
  for (int i = 0; i < 100; ++i) noise.add(i, a, i < 50 ? &a : nullptr, options);
  EXPECT_EQ(noise.with_noise(), 50u);
  const std::vector<FieldNoise::Field> fields = noise.fields(options);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_DOUBLE_EQ(fields[0].rate, 1);
  EXPECT_DOUBLE_EQ(fields[0].noise_rate, 1);
  EXPECT_FALSE(fields[0].reported);
}

TEST(FieldNoise, NoiseOnlyFieldsAreListedButNotReported) {
  NoiseOptions options;
  options.absolute = 0;
  FieldNoise noise;
  const Paths none, a{"$.a"};
  noise.add(1, none, &a, options);
  const std::vector<FieldNoise::Field> fields = noise.fields(options);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].differ, 0u);
  EXPECT_EQ(fields[0].noise_differ, 1u);
  EXPECT_FALSE(fields[0].reported);
  EXPECT_THAT(fields[0].samples, IsEmpty());
}

TEST(FieldNoise, APathRepeatedInOneListCountsOnce) {
  const NoiseOptions options;
  FieldNoise noise;
  const Paths twice{"$.a", "$.a"};
  noise.add(1, twice, &twice, options);
  noise.add(2, twice, &twice, options);
  const std::vector<FieldNoise::Field> fields = noise.fields(options);
  ASSERT_EQ(fields.size(), 1u);
  EXPECT_EQ(fields[0].differ, 2u);
  EXPECT_EQ(fields[0].noise_differ, 2u);
}

TEST(FieldNoise, SamplesAreTheSmallestOriginIds) {
  NoiseOptions options;
  options.samples = 2;
  FieldNoise noise;
  for (const uint64_t id : {50, 7, 30, 7, 3, 90}) noise.add(id, {"$.a"}, nullptr, options);
  EXPECT_THAT(noise.fields(options)[0].samples, ElementsAre(3u, 7u));
  options.samples = 0;
  FieldNoise none;
  none.add(1, {"$.a"}, nullptr, options);
  EXPECT_THAT(none.fields(options)[0].samples, IsEmpty());
}

TEST(FieldNoise, MaxFieldsBoundsMemoryAndCountsOverflow) {
  NoiseOptions options;
  options.max_fields = 2;
  FieldNoise noise;
  const Paths three{"$.a", "$.b", "$.c"};
  noise.add(1, three, &three, options);
  noise.add(2, three, nullptr, options);
  EXPECT_EQ(noise.fields(options).size(), 2u);
  EXPECT_EQ(noise.overflow(), 3u);
  FieldNoise other;
  other.add(3, {"$.d", "$.a"}, nullptr, options);
  noise.merge(other, options);
  EXPECT_EQ(noise.fields(options).size(), 2u);
  EXPECT_EQ(noise.overflow(), 4u);
  EXPECT_EQ(noise.compared(), 3u);
}

bool same_fields(const std::vector<FieldNoise::Field>& x, const std::vector<FieldNoise::Field>& y) {
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].path != y[i].path || x[i].differ != y[i].differ ||
        x[i].noise_differ != y[i].noise_differ || x[i].rate != y[i].rate ||
        x[i].noise_rate != y[i].noise_rate || x[i].reported != y[i].reported ||
        x[i].samples != y[i].samples) {
      return false;
    }
  }
  return true;
}

TEST(FieldNoise, MergeEqualsAddingEverythingToOne) {
  const NoiseOptions options;
  const std::vector<Simulated> pairs = simulate(1000);
  FieldNoise all;
  FieldNoise parts[3];
  for (size_t i = 0; i < pairs.size(); ++i) {
    // Some pairs without a noise response, and a shuffled split between "threads".
    const Paths* noise_paths = i % 7 == 0 ? nullptr : &pairs[i].noise;
    all.add(i, pairs[i].candidate, noise_paths, options);
    parts[(i * 2654435761u) % 3].add(i, pairs[i].candidate, noise_paths, options);
  }
  FieldNoise merged;
  merged.merge(parts[2], options);
  merged.merge(parts[0], options);
  merged.merge(parts[1], options);
  EXPECT_EQ(merged.compared(), all.compared());
  EXPECT_EQ(merged.with_noise(), all.with_noise());
  EXPECT_EQ(merged.overflow(), all.overflow());
  EXPECT_TRUE(same_fields(merged.fields(options), all.fields(options)));
  EXPECT_EQ(reported(merged, options), std::set<std::string>{"$.price"});
}

TEST(FieldNoise, MergingWithItselfDoublesTheCounts) {
  const NoiseOptions options;
  FieldNoise noise;
  noise.add(1, {"$.a"}, nullptr, options);
  noise.merge(noise, options);
  EXPECT_EQ(noise.compared(), 2u);
  EXPECT_EQ(noise.fields(options)[0].differ, 2u);
  EXPECT_THAT(noise.fields(options)[0].samples, ElementsAre(1u));
}

TEST(FieldNoise, DiffsFeedTheNoiseCounts) {
  // End to end: baseline, candidate and noise responses through the differ.
  ResponseDiffer differ;
  const NoiseOptions options;
  FieldNoise noise;
  Paths candidate_paths, noise_paths;
  for (int i = 0; i < 200; ++i) {
    const auto body = [&](int ts, int price) {
      return json(R"({"ts":)" + std::to_string(ts) + R"(,"price":)" + std::to_string(price) +
                  R"(,"items":[{"id":1}]})");
    };
    const traffic::Response base = body(i * 3, 10);
    const traffic::Response cand = body(i * 3 + 1, i % 4 == 0 ? 11 : 10);
    const traffic::Response other = body(i * 3 + 2, 10);
    ASSERT_TRUE(differ.diff(base, cand, candidate_paths));
    ASSERT_TRUE(differ.diff(base, other, noise_paths));
    noise.add(static_cast<uint64_t>(i), candidate_paths, &noise_paths, options);
  }
  EXPECT_EQ(reported(noise, options), std::set<std::string>{"$.price"});
}

}  // namespace
}  // namespace twin::compare
