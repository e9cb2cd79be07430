#include "json_rewrite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace twin::scrubber {
namespace {

using ::testing::ElementsAre;

struct Event {
  JsonToken token;
  std::string path;
  std::string parent;
  std::string value;
  bool operator==(const Event&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  const char* t = e.token == JsonToken::kKey      ? "key"
                  : e.token == JsonToken::kString ? "str"
                                                  : "num";
  return os << "{" << t << " path='" << e.path << "' parent='" << e.parent << "' value='" << e.value
            << "'}";
}

Event key(std::string path, std::string parent, std::string value) {
  return {JsonToken::kKey, std::move(path), std::move(parent), std::move(value)};
}
Event str(std::string path, std::string parent, std::string value) {
  return {JsonToken::kString, std::move(path), std::move(parent), std::move(value)};
}
Event num(std::string path, std::string parent, std::string value) {
  return {JsonToken::kNumber, std::move(path), std::move(parent), std::move(value)};
}

// Records every visit; replaces through an optional function.
class Recorder : public JsonVisitor {
 public:
  using Replace = std::function<bool(JsonToken, std::string_view, std::string&)>;
  Recorder() = default;
  explicit Recorder(Replace replace) : replace_(std::move(replace)) {}
  bool visit(JsonToken token, std::string_view path, std::string_view parent,
             std::string_view value, std::string& replacement) override {
    events.push_back({token, std::string(path), std::string(parent), std::string(value)});
    return replace_ ? replace_(token, value, replacement) : false;
  }
  std::vector<Event> events;

 private:
  Replace replace_;
};

struct Rewrite {
  JsonRewriteResult result;
  std::string out;
  std::vector<Event> events;
};

Rewrite run(std::string_view in, Recorder::Replace replace = nullptr) {
  Recorder rec(std::move(replace));
  Rewrite r;
  r.result = rewrite_json(in, rec, r.out);
  r.events = std::move(rec.events);
  return r;
}

bool nlohmann_accepts(const std::string& s) { return nlohmann::json::accept(s); }

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> docs = {
      "{}",
      "[]",
      "0",
      "-0",
      "\"\"",
      "true",
      "false",
      "null",
      " \t\r\n{ \t\r\n} \t\r\n",
      R"({"a":1,"b":[true,false,null],"c":{"d":"e"}})",
      "{\n  \"user\": {\n    \"name\": \"Ann\",\n    \"age\": 33\n  },\n  \"tags\": [ ]\n}\n",
      R"([0,-0,1,-1,0.0,-0.5,1e3,1E3,1e+3,1e-3,1.5E+10,-12.25e-7,123456789012345678901234567890])",
      R"(["\"\\\/\b\f\n\r\t","\u00e9\u00E9","\ud83d\ude00","\u0000","caf\u00e9 ok"])",
      "[\"caf\xC3\xA9\",\"\xE2\x82\xAC\",\"\xF0\x9F\x98\x80\",\"\xE6\x97\xA5\xE6\x9C\xAC\"]",
      R"([[[]],[[1,[2,[3]]]],{"a":[{"b":[[{"c":null}]]}]}])",
      R"({"a.b":{"c[0]":{"d\\e":1}},"":{"":""}})",
      R"({"a":1,"a":2})",
      "\xEF\xBB\xBF{\"bom\":true}",
      R"({"x":"\ud800"})",
      R"({"long":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"})",
      "  [ 1 , 2 , { \"k\" : [ \"v\" , 3.5 ] } ]  ",
  };
  return docs;
}

TEST(JsonRewrite, IdentityIsByteExact) {
  for (const std::string& doc : corpus()) {
    SCOPED_TRACE(doc);
    const Rewrite r = run(doc);
    EXPECT_TRUE(r.result.valid);
    EXPECT_EQ(r.out, doc);
    EXPECT_EQ(r.result.replaced, 0u);
    EXPECT_EQ(r.result.visited, r.events.size());
    EXPECT_NE(json_structure_hash(doc), 0u);
  }
}

TEST(JsonRewrite, PathsAndParents) {
  const Rewrite r =
      run(R"({"user":{"name":"Ann","addresses":[{"street":"Main","no":5}]},"ids":[[1,2],[3]],)"
          R"("a.b":{"c[d":{"e\\f":"x"}},"esc\u0061ped":"y","list":[{"id":"q"}]})");
  ASSERT_TRUE(r.result.valid);
  EXPECT_THAT(
      r.events,
      ElementsAre(key("", "", "user"), key("user", "user", "name"), str("user.name", "user", "Ann"),
                  key("user", "user", "addresses"), key("user.addresses[]", "addresses", "street"),
                  str("user.addresses[].street", "addresses", "Main"),
                  key("user.addresses[]", "addresses", "no"),
                  num("user.addresses[].no", "addresses", "5"), key("", "", "ids"),
                  num("ids[][]", "", "1"), num("ids[][]", "", "2"), num("ids[][]", "", "3"),
                  key("", "", "a.b"), key("a\\.b", "a.b", "c[d"), key("a\\.b.c\\[d", "c[d", "e\\f"),
                  str("a\\.b.c\\[d.e\\\\f", "c[d", "x"), key("", "", "escaped"),
                  str("escaped", "", "y"), key("", "", "list"), key("list[]", "list", "id"),
                  str("list[].id", "list", "q")));
}

// Long keys are read eight bytes at a time: a '.', '[' or '\\' is escaped wherever it falls,
// in the first word, on a word's edge, in a later word or in the tail.
TEST(JsonRewrite, PathsEscapeLongKeysAnywhere) {
  const Rewrite r = run(R"({"abcdefg.hijklmnopq":{"abcdefgh[ijklmnop":{"0123456789abcdef\\":)"
                        R"({"0123456789abcde.0123456.":1}}}})");
  ASSERT_TRUE(r.result.valid);
  ASSERT_EQ(r.events.size(), 5u);
  EXPECT_EQ(r.events[4].path,
            "abcdefg\\.hijklmnopq.abcdefgh\\[ijklmnop.0123456789abcdef\\\\."
            "0123456789abcde\\.0123456\\.");
}

TEST(JsonRewrite, RootArraysAndEmptyKeys) {
  const Rewrite r = run(R"([{"id":1},[["x"]],{"":{"b":2}}])");
  ASSERT_TRUE(r.result.valid);
  EXPECT_THAT(r.events,
              ElementsAre(key("[]", "", "id"), num("[].id", "", "1"), str("[][][]", "", "x"),
                          key("[]", "", ""), key("[].", "", "b"), num("[]..b", "", "2")));
  const Rewrite root = run("\"s\"");
  EXPECT_THAT(root.events, ElementsAre(str("", "", "s")));
}

TEST(JsonRewrite, DecodesEscapes) {
  const Rewrite r = run(
      R"(["a\"b\\c\/d\b\f\n\r\t","\u00e9\u20AC\ud83d\ude00","\ud800x","\udc00","\ud800\u0041"])");
  ASSERT_TRUE(r.result.valid);
  ASSERT_EQ(r.events.size(), 5u);
  EXPECT_EQ(r.events[0].value, "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(r.events[1].value, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(r.events[2].value, "\\ud800x");  // lone surrogates stay as their text
  EXPECT_EQ(r.events[3].value, "\\udc00");
  EXPECT_EQ(r.events[4].value, "\\ud800A");
}

// Strings around the 16-byte scanning blocks: a special byte at every position of strings of
// every length up to 40, at two alignments.
TEST(JsonRewrite, StringScanningAtEveryPosition) {
  const std::vector<std::pair<std::string, std::string>> specials = {
      {"\\n", "\n"},
      {"\\\"", "\""},
      {"\xC3\xA9", "\xC3\xA9"},
      {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"}};
  for (size_t len = 0; len <= 40; ++len) {
    for (size_t at = 0; at <= len; ++at) {
      for (const auto& [raw, decoded] : specials) {
        for (const std::string& lead : {std::string("["), std::string("[    ")}) {
          const std::string doc =
              lead + "\"" + std::string(at, 'a') + raw + std::string(len - at, 'b') + "\"]";
          const Rewrite r = run(doc);
          ASSERT_TRUE(r.result.valid) << doc;
          ASSERT_EQ(r.out, doc);
          ASSERT_EQ(r.events.size(), 1u);
          ASSERT_EQ(r.events[0].value, std::string(at, 'a') + decoded + std::string(len - at, 'b'));
        }
      }
      const std::string bad =
          "[\"" + std::string(at, 'a') + "\x01" + std::string(len - at, 'b') + "\"]";
      const Rewrite r = run(bad);
      EXPECT_FALSE(r.result.valid);
      EXPECT_EQ(r.result.error_offset, 2 + at);
      EXPECT_EQ(r.out, bad);
    }
  }
}

TEST(JsonRewrite, ReplacingGivesValidJsonWithTheSameStructure) {
  const std::string tricky = std::string("q\"uo\\te\n\t\x01\x1f/\xC3\xA9 end") + '\0' + "x";
  for (const std::string& doc : corpus()) {
    SCOPED_TRACE(doc);
    const Rewrite r = run(doc, [&](JsonToken t, std::string_view, std::string& out) {
      if (t == JsonToken::kString) {
        out = tricky;
        return true;
      }
      if (t == JsonToken::kNumber) {
        out = "-12.5e+3";
        return true;
      }
      return false;
    });
    ASSERT_TRUE(r.result.valid);
    EXPECT_TRUE(nlohmann_accepts(r.out)) << r.out;
    EXPECT_EQ(json_structure_hash(r.out), json_structure_hash(doc));
    // Visiting the output shows the replacements, decoded.
    const Rewrite again = run(r.out);
    ASSERT_TRUE(again.result.valid);
    ASSERT_EQ(again.events.size(), r.events.size());
    uint64_t replaced = 0;
    for (size_t i = 0; i < again.events.size(); ++i) {
      EXPECT_EQ(again.events[i].path, r.events[i].path);
      if (again.events[i].token == JsonToken::kString) {
        EXPECT_EQ(again.events[i].value, tricky);
        ++replaced;
      } else if (again.events[i].token == JsonToken::kNumber) {
        EXPECT_EQ(again.events[i].value, "-12.5e+3");
        ++replaced;
      } else {
        EXPECT_EQ(again.events[i].value, r.events[i].value);
      }
    }
    EXPECT_EQ(r.result.replaced, replaced);
  }
}

TEST(JsonRewrite, ReplacesOnlyWhatItIsTold) {
  const std::string doc = "{ \"email\" : \"ann@example.com\" ,\n \"n\":\t42, \"keep\":\"\\u0041\"}";
  const Rewrite r = run(doc, [](JsonToken t, std::string_view v, std::string& out) {
    if (t == JsonToken::kString && v == "ann@example.com") {
      out = "tok_1";
      return true;
    }
    if (t == JsonToken::kNumber) {
      out = "7";
      return true;
    }
    return false;
  });
  EXPECT_EQ(r.out, "{ \"email\" : \"tok_1\" ,\n \"n\":\t7, \"keep\":\"\\u0041\"}");
  EXPECT_EQ(r.result.replaced, 2u);
  EXPECT_EQ(r.result.visited, 6u);
}

// A visitor that declines keys: they are not visited, yet make their part of every path, and a
// declined key is still there in the output; the others are visited and replaced as before.
TEST(JsonRewrite, DeclinedKeysAreNotVisited) {
  class Picky : public Recorder {
   public:
    using Recorder::Recorder;
    bool wants_key(std::string_view key, bool /*may_hint*/) override {
      return key.empty() || key[0] != 'x';
    }
  };
  auto replace = [](JsonToken t, std::string_view v, std::string& out) {
    if (t == JsonToken::kKey && v == "yes") {
      out = "YES";
      return true;
    }
    return false;
  };
  const std::string doc = R"({"xa":{"yes":"v","xb":[1,{"xc":"w"}]},"yes":2,"xd.e":3,"":4})";
  const Rewrite all = run(doc, replace);  // every key visited
  Picky rec(replace);
  std::string out;
  const auto result = rewrite_json(doc, rec, out);
  EXPECT_TRUE(result.valid);
  EXPECT_EQ(out, R"({"xa":{"YES":"v","xb":[1,{"xc":"w"}]},"YES":2,"xd.e":3,"":4})");
  EXPECT_EQ(out, all.out);
  std::vector<Event> want;
  for (const Event& e : all.events) {
    if (e.token != JsonToken::kKey || e.value.empty() || e.value[0] != 'x') want.push_back(e);
  }
  EXPECT_EQ(want.size(), all.events.size() - 4);
  EXPECT_EQ(rec.events, want);
  EXPECT_THAT(rec.events, ::testing::Contains(num("xa.xb[]", "xa", "1")));
  EXPECT_THAT(rec.events, ::testing::Contains(num("xd\\.e", "", "3")));
  EXPECT_EQ(result.visited, rec.events.size());
}

// wants_key()'s may_hint: false only for a key without '0'-'9', ':', '@' and '%' (an escape
// decoding to one counts), wherever the byte falls against the 16-byte scanning blocks, and
// whatever follows the key's closing quote (here digits, in the same block).
TEST(JsonRewrite, KeysSayWhetherTheyMayHoldAHintByte) {
  struct Keys : JsonVisitor {
    bool visit(JsonToken, std::string_view, std::string_view, std::string_view,
               std::string&) override {
      return false;
    }
    bool wants_key(std::string_view key, bool may_hint) override {
      seen.emplace_back(key, may_hint);
      return true;
    }
    std::vector<std::pair<std::string, bool>> seen;
  };
  auto may_hint = [](const std::string& raw_key, const std::string& lead) {
    Keys keys;
    std::string out;
    const std::string doc = lead + "\"" + raw_key + "\":\"0123456789:@%0123456789\"}";
    const auto r = rewrite_json(doc, keys, out);
    EXPECT_TRUE(r.valid) << doc;
    EXPECT_EQ(keys.seen.size(), 1u) << doc;
    return keys.seen.empty() || keys.seen[0].second;
  };
  const std::vector<std::string> hints = {"0", "5", "9", ":", "@", "%", "\\u0040", "\\u0031"};
  const std::vector<std::string> others = {"/", ";", "?", "A", "z", "-", "_", "\\n", "\xC3\xA9"};
  for (size_t len = 0; len <= 40; ++len) {
    for (const std::string& lead : {std::string("{"), std::string("{   ")}) {
      EXPECT_FALSE(may_hint(std::string(len, 'k'), lead)) << len;
      for (size_t at = 0; at <= len; ++at) {
        for (const std::string& h : hints) {
          const std::string key = std::string(at, 'a') + h + std::string(len - at, 'b');
          EXPECT_TRUE(may_hint(key, lead)) << key;
        }
        for (const std::string& o : others) {
          const std::string key = std::string(at, 'a') + o + std::string(len - at, 'b');
          if (o[0] != '\\') {
            EXPECT_FALSE(may_hint(key, lead)) << key;
          } else {
            may_hint(key, lead);  // an escape: true or false, the key must parse
          }
        }
      }
    }
  }
}

// A "value" member gets the string of a sibling that names it, before or after it, skipping
// nested containers; nothing else gets a label.
TEST(JsonRewrite, NameValueRecordsLabelTheirValue) {
  class Labels : public JsonVisitor {
   public:
    bool visit(JsonToken token, std::string_view path, std::string_view, std::string_view value,
               std::string&) override {
      if (token != JsonToken::kKey)
        seen.push_back(std::string(path) + "=" + std::string(value) + "|" + std::string(label));
      return false;
    }
    std::vector<std::string> seen;
  };
  Labels v;
  std::string out;
  const std::string in =
      R"({"fields":[{"name":"ssn","value":"078051120"},)"
      R"({"value":4155550134,"meta":{"name":"x","value":"inner"},"Key":"phone"},)"
      R"({"property":"email","val":"a@b.example"},)"
      R"({"type":"work","value":"w"},)"
      R"({"name":"a\"b","value":"esc"},)"
      R"({"name":["arr"],"value":"v"},)"
      R"({"field_name":"last_name","VALUE":"Okafor","value_x":"no"}],)"
      R"("value":"top","label":"Phone","x":{"value":["name","ssn"],"name":"dob"},)"
      R"("y":{"value":"1","name":"ssn","value":"2"}})";
  ASSERT_TRUE(rewrite_json(in, v, out).valid);
  EXPECT_EQ(out, in);
  EXPECT_THAT(
      v.seen,
      ElementsAre(
          "fields[].name=ssn|", "fields[].value=078051120|ssn", "fields[].value=4155550134|phone",
          "fields[].meta.name=x|", "fields[].meta.value=inner|x", "fields[].Key=phone|",
          "fields[].property=email|", "fields[].val=a@b.example|email", "fields[].type=work|",
          "fields[].value=w|", "fields[].name=a\"b|", "fields[].value=esc|", "fields[].name[]=arr|",
          "fields[].value=v|", "fields[].field_name=last_name|", "fields[].VALUE=Okafor|last_name",
          "fields[].value_x=no|", "value=top|Phone", "label=Phone|", "x.value[]=name|",
          "x.value[]=ssn|", "x.name=dob|", "y.value=1|ssn", "y.name=ssn|", "y.value=2|ssn"));
}

TEST(JsonRewrite, ReplacesKeys) {
  const Rewrite r =
      run(R"({"ann@example.com":{"x":1}})", [](JsonToken t, std::string_view v, std::string& out) {
        if (t != JsonToken::kKey || v != "ann@example.com") return false;
        out = "k\"1";
        return true;
      });
  EXPECT_EQ(r.out, R"({"k\"1":{"x":1}})");
  // The path still names the key as it was in the input.
  EXPECT_EQ(r.events[2].path, "ann@example\\.com.x");
}

TEST(JsonRewrite, InvalidReplacementNumbersAreCountedAndKept) {
  for (const char* bad :
       {"", "01", "1.", ".5", "+1", "1e", "NaN", "Infinity", "0x10", "1 ", "--1"}) {
    const Rewrite r = run("[1,2]", [&](JsonToken, std::string_view, std::string& out) {
      out = bad;
      return true;
    });
    EXPECT_EQ(r.out, "[1,2]") << bad;
    EXPECT_EQ(r.result.bad_numbers, 2u);
    EXPECT_EQ(r.result.replaced, 0u);
  }
}

TEST(JsonRewrite, InvalidUtf8InAReplacementBecomesReplacementCharacter) {
  const Rewrite r = run(R"(["x"])", [](JsonToken, std::string_view, std::string& out) {
    out =
        "a\xFF"
        "b\xC3";
    return true;
  });
  EXPECT_EQ(r.out,
            "[\"a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\"]");
  EXPECT_TRUE(nlohmann_accepts(r.out));
}

struct Invalid {
  std::string text;
  size_t offset;
  size_t visited;  // values and keys visited before the error
};

TEST(JsonRewrite, InvalidInputs) {
  const std::vector<Invalid> cases = {
      {"", 0, 0},
      {"   ", 3, 0},
      {"[1,]", 3, 1},
      {"[1,2,]", 5, 2},
      {R"({"a":1,})", 7, 2},
      {"{,}", 1, 0},
      {"[,1]", 1, 0},
      {"[1 2]", 3, 1},
      {R"({"a" 1})", 5, 1},
      {R"({"a":})", 5, 1},
      {R"({a:1})", 1, 0},
      {"{'a':1}", 1, 0},
      {"['a']", 1, 0},
      {"// c\n1", 0, 0},
      {"/* c */ 1", 0, 0},
      {"[1] // c", 4, 1},
      {"NaN", 0, 0},
      {"[Infinity]", 1, 0},
      {"-Infinity", 1, 0},
      {"01", 1, 1},
      {"[00]", 2, 1},
      {"-01", 2, 1},
      {"1.", 2, 0},
      {"[1.]", 3, 0},
      {".5", 0, 0},
      {"+1", 0, 0},
      {"1e", 2, 0},
      {"1e+", 3, 0},
      {"[1.5e+x]", 6, 0},
      {"0x1F", 1, 1},
      {"tru", 3, 0},
      {"trUe", 2, 0},
      {"nul", 3, 0},
      {"[true false]", 6, 0},
      {"[null,nulL]", 9, 0},
      {R"("abc)", 4, 0},
      {R"(["a\q"])", 4, 0},
      {R"(["a\u12G4"])", 7, 0},
      {R"(["a\u12)", 7, 0},
      {"[\"a\tb\"]", 3, 0},
      {"[\"a\nb\"]", 3, 0},
      {"[\"a\x7f\", \"\xFF\"]", 8, 1},
      {"[\"\xC0\xAF\"]", 2, 0},          // overlong
      {"[\"\xED\xA0\x80\"]", 3, 0},      // surrogate in UTF-8
      {"[\"\xF4\x90\x80\x80\"]", 3, 0},  // above U+10FFFF
      {"[\"\xE2\x82\"]", 4, 0},          // cut short
      {"[\"\x80\"]", 2, 0},
      {"{\"a\":1}}", 7, 2},
      {"[1]]", 3, 1},
      {"[1}", 2, 1},
      {"{\"a\":1]", 6, 2},
      {"{} {}", 3, 0},
      {"1 2", 2, 1},
      {"[\"a\",\"b\"", 8, 2},
      {"{\"a\":{\"b\":[1,2,{\"c\":\"d\"", 23, 6},
      {"\xEF\xBB", 2, 0},
      {"\xEF\xBBx", 0, 0},
      {"[\"\\", 3, 0},
      {std::string(1, '\0'), 0, 0},
  };
  for (const Invalid& c : cases) {
    SCOPED_TRACE(c.text);
    const Rewrite r = run(c.text);
    EXPECT_FALSE(r.result.valid);
    EXPECT_EQ(r.result.error_offset, c.offset);
    EXPECT_EQ(r.result.visited, c.visited);
    EXPECT_EQ(r.out, c.text);
    EXPECT_EQ(json_structure_hash(c.text), 0u);
    EXPECT_FALSE(nlohmann_accepts(c.text));
  }
}

TEST(JsonRewrite, InvalidInputStillRewritesTheValuesBeforeTheError) {
  const std::string doc = R"({"email":"ann@example.com","n":5,"rest":[1,2,,"bob@example.com"]})";
  const Rewrite r = run(doc, [](JsonToken t, std::string_view, std::string& out) {
    if (t != JsonToken::kString) return false;
    out = "tok";
    return true;
  });
  EXPECT_FALSE(r.result.valid);
  EXPECT_EQ(r.result.error_offset, doc.find(",,") + 1);
  EXPECT_EQ(r.result.replaced, 1u);
  EXPECT_EQ(r.out, R"({"email":"tok","n":5,"rest":[1,2,,"bob@example.com"]})");
}

TEST(JsonRewrite, DepthCap) {
  const std::string ok = std::string(512, '[') + std::string(512, ']');
  EXPECT_TRUE(run(ok).result.valid);
  const std::string deep = std::string(513, '[') + std::string(513, ']');
  const Rewrite r = run(deep);
  EXPECT_FALSE(r.result.valid);
  EXPECT_EQ(r.result.error_offset, 512u);
  EXPECT_EQ(r.out, deep);
  std::string objects;
  for (int i = 0; i < 600; ++i) objects += "{\"a\":";
  objects += "1";
  for (int i = 0; i < 600; ++i) objects += "}";
  const Rewrite o = run(objects);
  EXPECT_FALSE(o.result.valid);
  EXPECT_EQ(o.result.error_offset, 512u * 5);
  EXPECT_EQ(o.result.visited, 512u);
  EXPECT_EQ(o.out, objects);
}

TEST(JsonStructureHash, EqualForEqualStructure) {
  const uint64_t h = json_structure_hash(R"({"a":[1,"x",true,null,{"b":false}]})");
  EXPECT_NE(h, 0u);
  EXPECT_EQ(h, json_structure_hash(
                   " { \"a\" : [ -2.5e3 , \"yy\\n\" , true , null , { \"b\" : false } ] } "));
  EXPECT_EQ(h, json_structure_hash(R"({"\u0061":[0,"",true,null,{"b":false}]})"));
  EXPECT_NE(h, json_structure_hash(R"({"a":[1,"x",true,null,{"c":false}]})"));
  EXPECT_NE(h, json_structure_hash(R"({"a":[1,1,true,null,{"b":false}]})"));
  EXPECT_NE(h, json_structure_hash(R"({"a":[1,"x",false,null,{"b":false}]})"));
  EXPECT_NE(h, json_structure_hash(R"({"a":[1,"x",true,null,{"b":false},1]})"));
  EXPECT_NE(h, json_structure_hash(R"({"a":[[1,"x",true,null,{"b":false}]]})"));
  EXPECT_NE(json_structure_hash(R"({"ab":1})"), json_structure_hash(R"({"a":1,"b":1})"));
  EXPECT_EQ(json_structure_hash("[1,2"), 0u);
}

// ---- Random documents, with nlohmann/json as the oracle ----------------------------------------

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  std::string document() {
    std::string out;
    ws(out);
    value(out, 0);
    ws(out);
    return out;
  }

  size_t pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

 private:
  void ws(std::string& out) {
    static const char* kWs[] = {"", "", "", " ", "\n", "  ", "\t", "\r\n  ", " \n\t "};
    out += kWs[pick(9)];
  }

  void value(std::string& out, int depth) {
    const size_t kind = depth >= 6 ? 2 + pick(5) : pick(7);
    switch (kind) {
      case 0: {
        out += '{';
        ws(out);
        const size_t n = pick(5);
        std::vector<std::string> seen;
        for (size_t i = 0; i < n; ++i) {
          const std::string k = key_text();
          const std::string decoded = nlohmann::json::parse(k).get<std::string>();
          if (std::find(seen.begin(), seen.end(), decoded) != seen.end()) continue;
          if (!seen.empty()) {
            ws(out);
            out += ',';
            ws(out);
          }
          seen.push_back(decoded);
          out += k;
          ws(out);
          out += ':';
          ws(out);
          value(out, depth + 1);
        }
        ws(out);
        out += '}';
        break;
      }
      case 1: {
        out += '[';
        ws(out);
        const size_t n = pick(5);
        for (size_t i = 0; i < n; ++i) {
          if (i > 0) {
            ws(out);
            out += ',';
            ws(out);
          }
          value(out, depth + 1);
        }
        ws(out);
        out += ']';
        break;
      }
      case 2:
      case 3:
        out += string_text();
        break;
      case 4:
      case 5:
        out += number_text();
        break;
      default:
        out += pick(3) == 0 ? "true" : pick(2) == 0 ? "false" : "null";
        break;
    }
  }

  std::string key_text() {
    static const char* kKeys[] = {
        "\"id\"", "\"name\"", "\"a.b\"",         "\"x[0]\"",   "\"back\\\\slash\"",
        "\"\"",   "\"user\"", "\"\\u0065mail\"", "\"q\\\"k\"", "\"caf\xC3\xA9\""};
    if (pick(3) == 0) return string_text();
    return kKeys[pick(10)];
  }

  std::string string_text() {
    static const char* kPieces[] = {"a",
                                    "hello",
                                    " ",
                                    "\\\"",
                                    "\\\\",
                                    "\\/",
                                    "\\b",
                                    "\\f",
                                    "\\n",
                                    "\\r",
                                    "\\t",
                                    "\\u0000",
                                    "\\u001f",
                                    "\\u00e9",
                                    "\\u00E9",
                                    "\\u20ac",
                                    "\\ud83d\\ude00",
                                    "\\uD834\\uDD1E",
                                    "\xC3\xA9",
                                    "\xE2\x82\xAC",
                                    "\xF0\x9F\x98\x80",
                                    "\x7f",
                                    "0123456789abcdef0123",
                                    ".",
                                    "[",
                                    "]"};
    std::string out = "\"";
    const size_t n = pick(8);
    for (size_t i = 0; i < n; ++i) out += kPieces[pick(26)];
    out += '"';
    return out;
  }

  std::string number_text() {
    std::string out;
    if (pick(2) == 0) out += '-';
    if (pick(4) == 0) {
      out += '0';
    } else {
      out += static_cast<char>('1' + pick(9));
      const size_t n = pick(pick(5) == 0 ? 25 : 6);
      for (size_t i = 0; i < n; ++i) out += static_cast<char>('0' + pick(10));
    }
    if (pick(3) == 0) {
      out += '.';
      const size_t n = 1 + pick(6);
      for (size_t i = 0; i < n; ++i) out += static_cast<char>('0' + pick(10));
    }
    if (pick(4) == 0) {
      out += pick(2) == 0 ? 'e' : 'E';
      const size_t sign = pick(3);
      if (sign == 1) out += '+';
      if (sign == 2) out += '-';
      const size_t n = 1 + pick(2);
      for (size_t i = 0; i < n; ++i) out += static_cast<char>('0' + pick(10));
    }
    return out;
  }

  std::mt19937_64 rng_;
};

using ordered_json = nlohmann::ordered_json;

std::string path_segment(const std::string& k) {
  std::string out;
  for (const char c : k) {
    if (c == '.' || c == '[' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The visits the rewriter should make, from nlohmann's parse: (token, path, parent, value) with
// numbers as nlohmann values.
struct Expected {
  JsonToken token;
  std::string path;
  std::string parent;
  ordered_json value;
};

void expect_walk(const ordered_json& j, const std::string& path, const std::string& near,
                 const std::string& parent, bool root, std::vector<Expected>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      out.push_back({JsonToken::kKey, path, near, k});
      expect_walk(v, path + (root ? "" : ".") + path_segment(k), k, near, false, out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) expect_walk(v, path + "[]", near, parent, false, out);
  } else if (j.is_string()) {
    out.push_back({JsonToken::kString, path, parent, j});
  } else if (j.is_number()) {
    out.push_back({JsonToken::kNumber, path, parent, j});
  }
}

void check_against_oracle(const std::string& doc, const ordered_json& parsed, const Rewrite& r) {
  std::vector<Expected> want;
  expect_walk(parsed, "", "", "", true, want);
  const auto keys = [](auto begin, auto end) {
    return std::count_if(begin, end, [](const auto& e) { return e.token == JsonToken::kKey; });
  };
  // nlohmann keeps one member of duplicate keys: nothing to compare member by member.
  if (keys(want.begin(), want.end()) != keys(r.events.begin(), r.events.end())) return;
  ASSERT_EQ(r.events.size(), want.size()) << doc;
  for (size_t i = 0; i < want.size(); ++i) {
    const Event& got = r.events[i];
    ASSERT_EQ(got.token, want[i].token) << doc << " at " << i;
    ASSERT_EQ(got.path, want[i].path) << doc << " at " << i;
    ASSERT_EQ(got.parent, want[i].parent) << doc << " at " << i;
    if (got.token == JsonToken::kNumber) {
      ASSERT_EQ(ordered_json::parse(got.value), want[i].value) << doc << " at " << i;
    } else {
      ASSERT_EQ(got.value, want[i].value.get<std::string>()) << doc << " at " << i;
    }
  }
}

// nlohmann's strict verdict, or nullopt where it differs from RFC 8259 on purpose (it rejects
// numbers that overflow a double and lone surrogate escapes, which RFC 8259 allows).
// A raw NUL byte is handled before asking it (see below).
std::optional<bool> oracle_valid(const std::string& doc, ordered_json* parsed) {
  // nlohmann stops at a NUL byte as if the input ended there; RFC 8259 allows none anywhere.
  if (doc.find('\0') != std::string::npos) return false;
  try {
    *parsed = ordered_json::parse(doc);
    return true;
  } catch (const nlohmann::json::out_of_range&) {
    return std::nullopt;
  } catch (const nlohmann::json::parse_error& e) {
    if (std::string_view(e.what()).find("surrogate") != std::string_view::npos) return std::nullopt;
    return false;
  }
}

TEST(JsonOracle, RandomDocumentsAgreeWithNlohmann) {
  Generator gen(20240601);
  size_t checked = 0;
  for (int n = 0; n < 3000; ++n) {
    const std::string doc = gen.document();
    ordered_json parsed;
    const auto verdict = oracle_valid(doc, &parsed);
    ASSERT_TRUE(verdict.has_value()) << doc;
    ASSERT_TRUE(*verdict) << doc;
    const Rewrite r = run(doc);
    ASSERT_TRUE(r.result.valid) << doc;
    ASSERT_EQ(r.out, doc);
    check_against_oracle(doc, parsed, r);
    ++checked;
  }
  EXPECT_EQ(checked, 3000u);
}

TEST(JsonOracle, MutatedDocumentsAgreeWithNlohmann) {
  Generator gen(77);
  static const std::string kAlphabet =
      std::string("{}[],:\"\\ 0123456789.eE+-tfnulrasxu\x01\x7f") + "\x80\xC3\xA9\xFF" + '\0';
  size_t invalid = 0;
  size_t compared = 0;
  for (int n = 0; n < 6000; ++n) {
    std::string doc = gen.document();
    const size_t edits = 1 + gen.pick(3);
    for (size_t e = 0; e < edits; ++e) {
      const size_t at = gen.pick(doc.size() + 1);
      const char c = kAlphabet[gen.pick(kAlphabet.size())];
      switch (gen.pick(3)) {
        case 0:
          doc.insert(doc.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        case 1:
          if (at < doc.size()) doc.erase(at, 1);
          break;
        default:
          if (at < doc.size()) doc[at] = c;
          break;
      }
    }
    ordered_json parsed;
    const auto verdict = oracle_valid(doc, &parsed);
    if (!verdict) continue;
    ++compared;
    const Rewrite r = run(doc);
    ASSERT_EQ(r.result.valid, *verdict) << doc << " error at " << r.result.error_offset;
    ASSERT_EQ(r.out, doc);
    if (*verdict) {
      check_against_oracle(doc, parsed, r);
    } else {
      ++invalid;
      ASSERT_LE(r.result.error_offset, doc.size());
      // What comes before the error is the start of some JSON text: completing it can only
      // meet the error later (a truncation of it is never invalid earlier).
      const Rewrite prefix = run(std::string_view(doc).substr(0, r.result.error_offset));
      if (!prefix.result.valid) {
        ASSERT_EQ(prefix.result.error_offset, r.result.error_offset) << doc;
      }
    }
  }
  EXPECT_GT(invalid, 1000u);
  EXPECT_GT(compared, 5000u);
}

TEST(JsonOracle, EveryTruncationOfValidDocuments) {
  Generator gen(4242);
  std::vector<std::string> docs = corpus();
  for (int n = 0; n < 300; ++n) docs.push_back(gen.document());
  for (const std::string& doc : docs) {
    const Rewrite full = run(doc);
    ASSERT_TRUE(full.result.valid) << doc;
    for (size_t len = 0; len < doc.size(); ++len) {
      const std::string cut = doc.substr(0, len);
      const Rewrite r = run(cut);
      ASSERT_EQ(r.out, cut);
      ordered_json parsed;
      const auto verdict = oracle_valid(cut, &parsed);
      if (verdict) {
        ASSERT_EQ(r.result.valid, *verdict) << cut;
      }
      if (!r.result.valid) {
        // A truncation is always a viable start of a text: the error is the end of the input.
        ASSERT_EQ(r.result.error_offset, len) << cut;
      }
      // The visits are those of the whole document, up to the cut (a number cut short shows
      // its prefix).
      ASSERT_LE(r.events.size(), full.events.size()) << cut;
      for (size_t i = 0; i < r.events.size(); ++i) {
        if (i + 1 == r.events.size() && r.events[i].token == JsonToken::kNumber) {
          ASSERT_EQ(full.events[i].value.rfind(r.events[i].value, 0), 0u) << cut;
        } else {
          ASSERT_EQ(r.events[i], full.events[i]) << cut;
        }
      }
    }
  }
}

}  // namespace
}  // namespace twin::scrubber
