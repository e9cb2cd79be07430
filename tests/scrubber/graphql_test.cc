#include "graphql.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace twin::scrubber {
namespace {

using Seen = std::tuple<bool, std::string, std::string>;  // literal, path, value
using ::testing::ElementsAre;

class Recorder : public GraphqlVisitor {
 public:
  std::function<bool(bool, std::string_view, std::string&)> replace;
  std::vector<Seen> seen;
  bool visit(bool literal, std::string_view path, std::string_view value,
             std::string& out) override {
    seen.emplace_back(literal, std::string(path), std::string(value));
    return replace ? replace(literal, value, out) : false;
  }
};

TEST(RewriteGraphql, LiteralsByArgumentAndInputFieldPath) {
  const std::string in =
      "# update a customer\n"
      "mutation Update($id: ID!, $note: String = \"default note\") {\n"
      "  updateUser(id: $id, email: \"liam.chen@example.net\", input: {lastName: "
      "\"Chen-Whitaker\", address: {city: \"Springfield\", lines: [\"12 High St\", \"Flat 2\"]}, "
      "age: 41, vip: true}) {\n"
      "    id\n"
      "    alias: name @include(if: true)\n"
      "    ... on Admin { level(scope: \"a\\\"b\\u00e9\") }\n"
      "  }\n"
      "  note(text: \"\"\"multi\n  line\"\"\")\n"
      "}\n";
  Recorder r;
  std::string out;
  const auto res = rewrite_graphql(in, r, out);
  ASSERT_TRUE(res.valid) << res.error_offset;
  EXPECT_EQ(out, in);
  EXPECT_EQ(res.visited, r.seen.size());
  EXPECT_THAT(
      r.seen,
      ElementsAre(Seen{false, "", " update a customer"}, Seen{true, "", "default note"},
                  Seen{true, "email", "liam.chen@example.net"},
                  Seen{true, "input.lastName", "Chen-Whitaker"},
                  Seen{true, "input.address.city", "Springfield"},
                  Seen{true, "input.address.lines[]", "12 High St"},
                  Seen{true, "input.address.lines[]", "Flat 2"},
                  Seen{true, "scope", "a\"b\xC3\xA9"}, Seen{true, "text", "multi\n  line"}));
  EXPECT_TRUE(looks_like_graphql(in));
}

TEST(RewriteGraphql, ReplacementsAreEscapedAndReadBack) {
  const std::string in = "query { a(x: \"one\", y: \"\"\"two\"\"\") # c\n b(z: [\"three\"]) }";
  Recorder r;
  r.replace = [](bool literal, std::string_view, std::string& out) {
    out = literal ? "q\"\\\n\x01\"\"\"" : "line\nend";
    return true;
  };
  std::string out;
  const auto res = rewrite_graphql(in, r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(res.replaced, 4u);
  EXPECT_EQ(
      out,
      "query { a(x: \"q\\\"\\\\\\n\\u0001\\\"\\\"\\\"\", y: \"q\\\"\\\\\\n\\u0001\\\"\\\"\\\"\") "
      "#line end\n b(z: [\"q\\\"\\\\\\n\\u0001\\\"\\\"\\\"\"]) }");
  // Read back: the same places, each literal the replacement.
  Recorder again;
  std::string out2;
  ASSERT_TRUE(rewrite_graphql(out, again, out2).valid);
  ASSERT_EQ(again.seen.size(), 4u);
  EXPECT_EQ(again.seen[0], (Seen{true, "x", "q\"\\\n\x01\"\"\""}));
  EXPECT_EQ(again.seen[1], (Seen{true, "y", "q\"\\\n\x01\"\"\""}));
  EXPECT_EQ(again.seen[3], (Seen{true, "z[]", "q\"\\\n\x01\"\"\""}));
  // A block string keeps its form when the replacement fits it.
  Recorder plain;
  plain.replace = [](bool literal, std::string_view, std::string& out) {
    out = literal ? "XYZ" : " c";
    return literal;
  };
  ASSERT_TRUE(rewrite_graphql(in, plain, out).valid);
  EXPECT_EQ(out, "query { a(x: \"XYZ\", y: \"\"\"XYZ\"\"\") # c\n b(z: [\"XYZ\"]) }");
}

TEST(RewriteGraphql, BrokenDocumentsAreInvalidWhereTheyBreak) {
  Recorder r;
  std::string out;
  struct Bad {
    std::string in;
    size_t at;
  };
  const Bad bad[] = {
      {"query { a(x: \"open) }", 13},
      {"query { a(x: \"line\nbreak\") }", 13},
      {"query { a(x: 1) ", 16},
      {"query { a(x: 1] }", 14},
      {"query { a(x: \"\\q\") }", 13},
      {"query { a(x: \"\"\"never closed) }", 13},
      {"query { a(x: \"\\ud800\") }", 13},
      {"query { a; }", 9},
  };
  for (const Bad& b : bad) {
    const auto res = rewrite_graphql(b.in, r, out);
    EXPECT_FALSE(res.valid) << b.in;
    EXPECT_EQ(res.error_offset, b.at) << b.in;
  }
  std::string deep = "query { a(x: ";
  for (int i = 0; i < 300; ++i) deep += '[';
  EXPECT_FALSE(rewrite_graphql(deep, r, out).valid);
}

TEST(RewriteGraphql, WhatLooksLikeADocument) {
  for (const char* yes : {"{ me { id } }", "  # c\n query Q { a }", "mutation($a: Int) { b }",
                          "subscription @x { a }", "fragment F on User { id }"}) {
    EXPECT_TRUE(looks_like_graphql(yes)) << yes;
  }
  for (const char* no : {"", "query", "query jane doe", "mutation testing", "select * from t",
                         "queryX { a }", "query 42 { a }", "jane.doe@example.com"}) {
    EXPECT_FALSE(looks_like_graphql(no)) << no;
  }
}

}  // namespace
}  // namespace twin::scrubber
