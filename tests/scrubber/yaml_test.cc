#include "yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace twin::scrubber {
namespace {

using Seen = std::tuple<bool, std::string, std::string>;  // key, path, value

// Records every visit; replaces a value when `replace` gives a replacement for it.
class Recorder : public YamlVisitor {
 public:
  std::function<bool(bool, std::string_view, std::string_view, std::string&)> replace;
  std::vector<Seen> seen;
  bool visit(bool key, std::string_view path, std::string_view value, std::string& out) override {
    seen.emplace_back(key, std::string(path), std::string(value));
    return replace ? replace(key, path, value, out) : false;
  }
};

Seen K(std::string path, std::string value) { return {true, std::move(path), std::move(value)}; }
Seen V(std::string path, std::string value) { return {false, std::move(path), std::move(value)}; }

struct Doc {
  const char* name;
  std::string text;
  std::vector<Seen> seen;  // written by hand from YAML's rules
};

std::vector<Doc> documents() {
  const std::string c = "spec.template.spec.containers[]";
  const std::string g = "paths./users/{id}.get";
  std::vector<Doc> docs;
  docs.push_back({"kubernetes",
                  "# A deployment, as kubectl writes it\n"
                  "apiVersion: apps/v1\n"
                  "kind: Deployment\n"
                  "metadata:\n"
                  "  name: billing   # the service\n"
                  "  labels:\n"
                  "    app: billing\n"
                  "    tier: \"backend\"\n"
                  "\n"
                  "spec:\n"
                  "  replicas: 3\n"
                  "  template:\n"
                  "    spec:\n"
                  "      containers:\n"
                  "      - name: api\n"
                  "        image: registry.example.com/billing:1.4.2\n"
                  "        args: [\"--port\", \"8080\"]\n"
                  "        env:\n"
                  "          # who gets the alerts\n"
                  "          - name: ADMIN_EMAIL\n"
                  "            value: maria.okafor@example.org\n"
                  "          - name: DEBUG\n"
                  "            value: 'false'\n"
                  "        ports:\n"
                  "        - containerPort: 8080\n"
                  "          protocol: TCP\n",
                  {K("", "apiVersion"),
                   V("apiVersion", "apps/v1"),
                   K("", "kind"),
                   V("kind", "Deployment"),
                   K("", "metadata"),
                   K("metadata", "name"),
                   V("metadata.name", "billing"),
                   K("metadata", "labels"),
                   K("metadata.labels", "app"),
                   V("metadata.labels.app", "billing"),
                   K("metadata.labels", "tier"),
                   V("metadata.labels.tier", "backend"),
                   K("", "spec"),
                   K("spec", "replicas"),
                   V("spec.replicas", "3"),
                   K("spec", "template"),
                   K("spec.template", "spec"),
                   K("spec.template.spec", "containers"),
                   K(c, "name"),
                   V(c + ".name", "api"),
                   K(c, "image"),
                   V(c + ".image", "registry.example.com/billing:1.4.2"),
                   K(c, "args"),
                   V(c + ".args[]", "--port"),
                   V(c + ".args[]", "8080"),
                   K(c, "env"),
                   K(c + ".env[]", "name"),
                   V(c + ".env[].name", "ADMIN_EMAIL"),
                   K(c + ".env[]", "value"),
                   V(c + ".env[].value", "maria.okafor@example.org"),
                   K(c + ".env[]", "name"),
                   V(c + ".env[].name", "DEBUG"),
                   K(c + ".env[]", "value"),
                   V(c + ".env[].value", "false"),
                   K(c, "ports"),
                   K(c + ".ports[]", "containerPort"),
                   V(c + ".ports[].containerPort", "8080"),
                   K(c + ".ports[]", "protocol"),
                   V(c + ".ports[].protocol", "TCP")}});
  docs.push_back({"openapi",
                  "openapi: 3.0.3\n"
                  "info:\n"
                  "  title: Users API\n"
                  "  version: \"1.0\"\n"
                  "  description: |\n"
                  "    Manage users.\n"
                  "\n"
                  "    Contact: api@example.com\n"
                  "paths:\n"
                  "  /users/{id}:\n"
                  "    get:\n"
                  "      summary: Get a user\n"
                  "      parameters:\n"
                  "        - in: path\n"
                  "          name: id\n"
                  "          required: true\n"
                  "          schema: {type: string, format: uuid}\n"
                  "      responses:\n"
                  "        '200':\n"
                  "          description: >-\n"
                  "            The user,\n"
                  "            with addresses\n"
                  "        \"404\": {description: Not found}\n",
                  {K("", "openapi"),
                   V("openapi", "3.0.3"),
                   K("", "info"),
                   K("info", "title"),
                   V("info.title", "Users API"),
                   K("info", "version"),
                   V("info.version", "1.0"),
                   K("info", "description"),
                   V("info.description", "Manage users.\n\nContact: api@example.com\n"),
                   K("", "paths"),
                   K("paths", "/users/{id}"),
                   K("paths./users/{id}", "get"),
                   K(g, "summary"),
                   V(g + ".summary", "Get a user"),
                   K(g, "parameters"),
                   K(g + ".parameters[]", "in"),
                   V(g + ".parameters[].in", "path"),
                   K(g + ".parameters[]", "name"),
                   V(g + ".parameters[].name", "id"),
                   K(g + ".parameters[]", "required"),
                   V(g + ".parameters[].required", "true"),
                   K(g + ".parameters[]", "schema"),
                   K(g + ".parameters[].schema", "type"),
                   V(g + ".parameters[].schema.type", "string"),
                   K(g + ".parameters[].schema", "format"),
                   V(g + ".parameters[].schema.format", "uuid"),
                   K(g, "responses"),
                   K(g + ".responses", "200"),
                   K(g + ".responses.200", "description"),
                   V(g + ".responses.200.description", "The user, with addresses"),
                   K(g + ".responses", "404"),
                   K(g + ".responses.404", "description"),
                   V(g + ".responses.404.description", "Not found")}});
  docs.push_back({"users",
                  "users:\n"
                  "- id: 1\n"
                  "  name: Maria Okafor\n"
                  "  email: \"maria.okafor@example.org\"\n"
                  "  phone: +1 415 555 0134\n"
                  "  address: &home\n"
                  "    street: 12 Main St.\n"
                  "    city: Springfield\n"
                  "    zip: 02134\n"
                  "  billing: *home\n"
                  "  tags: [vip, 'early adopter', {since: 2019}]\n"
                  "- id: 2\n"
                  "  name: 'Jo O''Brien'\n"
                  "  email: jo@example.com\n"
                  "  phone: 4155550199\n"
                  "  born: !!str 1980-02-29\n"
                  "  note: \"Line one\\n\\tindented \\u00e9 \\x41\"\n"
                  "  bio: Likes long\n"
                  "    walks and\n"
                  "\n"
                  "    YAML.\n"
                  "  address: ~\n",
                  {K("", "users"),
                   K("users[]", "id"),
                   V("users[].id", "1"),
                   K("users[]", "name"),
                   V("users[].name", "Maria Okafor"),
                   K("users[]", "email"),
                   V("users[].email", "maria.okafor@example.org"),
                   K("users[]", "phone"),
                   V("users[].phone", "+1 415 555 0134"),
                   K("users[]", "address"),
                   K("users[].address", "street"),
                   V("users[].address.street", "12 Main St."),
                   K("users[].address", "city"),
                   V("users[].address.city", "Springfield"),
                   K("users[].address", "zip"),
                   V("users[].address.zip", "02134"),
                   K("users[]", "billing"),
                   K("users[]", "tags"),
                   V("users[].tags[]", "vip"),
                   V("users[].tags[]", "early adopter"),
                   K("users[].tags[]", "since"),
                   V("users[].tags[].since", "2019"),
                   K("users[]", "id"),
                   V("users[].id", "2"),
                   K("users[]", "name"),
                   V("users[].name", "Jo O'Brien"),
                   K("users[]", "email"),
                   V("users[].email", "jo@example.com"),
                   K("users[]", "phone"),
                   V("users[].phone", "4155550199"),
                   K("users[]", "born"),
                   V("users[].born", "1980-02-29"),
                   K("users[]", "note"),
                   V("users[].note", "Line one\n\tindented \xC3\xA9 A"),
                   K("users[]", "bio"),
                   V("users[].bio", "Likes long walks and\nYAML."),
                   K("users[]", "address"),
                   V("users[].address", "~")}});
  docs.push_back({"documents",
                  "%YAML 1.2\n"
                  "%TAG !e! tag:example.com,2024:\n"
                  "---\n"
                  "a: 1\n"
                  "...\n"
                  "# the second\n"
                  "--- \n"
                  "- x\n"
                  "- - nested\n"
                  "  - two\n"
                  "-\n"
                  "---\n"
                  "plain root\n"
                  "  folded over\n"
                  "lines\n"
                  "--- |\n"
                  "  literal root\n"
                  "...\n",
                  {K("", "a"), V("a", "1"), V("[]", "x"), V("[][]", "nested"), V("[][]", "two"),
                   V("", "plain root folded over lines"), V("", "literal root\n")}});
  docs.push_back({"flow",
                  "matrix: {os: [linux, \"mac os\"], py: [3.11, '3.12'],\n"
                  "  empty: [], nested: {a: {b: [1, [2, 3]]}}, k,   # a comment\n"
                  "  \"quoted key\": v, 'x':y, e.mail: , }\n"
                  "list: [ a , b ,\n"
                  "  c\n"
                  "  d,\n"
                  "]\n",
                  {K("", "matrix"),
                   K("matrix", "os"),
                   V("matrix.os[]", "linux"),
                   V("matrix.os[]", "mac os"),
                   K("matrix", "py"),
                   V("matrix.py[]", "3.11"),
                   V("matrix.py[]", "3.12"),
                   K("matrix", "empty"),
                   K("matrix", "nested"),
                   K("matrix.nested", "a"),
                   K("matrix.nested.a", "b"),
                   V("matrix.nested.a.b[]", "1"),
                   V("matrix.nested.a.b[][]", "2"),
                   V("matrix.nested.a.b[][]", "3"),
                   K("matrix", "k"),
                   K("matrix", "quoted key"),
                   V("matrix.quoted key", "v"),
                   K("matrix", "x"),
                   V("matrix.x", "y"),
                   K("matrix", "e.mail"),
                   K("", "list"),
                   V("list[]", "a"),
                   V("list[]", "b"),
                   V("list[]", "c d")}});
  docs.push_back(
      {"block scalars",
       "keep: |+\n"
       "  a\n"
       "  b\n"
       "\n"
       "strip: >-  # folded\n"
       "  folded\n"
       "  text\n"
       "\n"
       "     more indented\n"
       "  back\n"
       "clip: |2\n"
       "    two extra\n"
       "  base\n"
       "empty: |\n"
       "seq:\n"
       "- >\n"
       "   in an item\n"
       "  # a comment, less indented than the content\n"
       "next: x\n"
       "last: >- # no line after the header",
       {K("", "keep"), V("keep", "a\nb\n\n"), K("", "strip"),
        V("strip", "folded text\n\n   more indented\nback"), K("", "clip"),
        V("clip", "  two extra\nbase\n"), K("", "empty"), V("empty", ""), K("", "seq"),
        V("seq[]", "in an item\n"), K("", "next"), V("next", "x"), K("", "last"), V("last", "")}});
  docs.push_back({"crlf",
                  "\xEF\xBB\xBF"
                  "a: 1\r\n"
                  "b:\r\n"
                  "  - x   \r\n"
                  "  - \"y\r\n"
                  "   z\"\r\n"
                  "c: |\r\n"
                  "  l1\r\n"
                  "  l2\r\n"
                  "d: tab\there\t \r\n"
                  "f: |\r  lone CR\r"
                  "e: end",
                  {K("", "a"), V("a", "1"), K("", "b"), V("b[]", "x"), V("b[]", "y z"), K("", "c"),
                   V("c", "l1\nl2\n"), K("", "d"), V("d", "tab\there"), K("", "f"),
                   V("f", "lone CR\n"), K("", "e"), V("e", "end")}});
  docs.push_back(
      {"anchors and tags",
       "base: &base\n"
       "  retries: 3\n"
       "  owner: !custom maria@example.org\n"
       "prod:\n"
       "  <<: *base\n"
       "  host: !!str db.internal\n"
       "  ids: !!seq [*a1, &a1 7, !!null ]\n"
       "  &k key2: v\n"
       "  *base : aliased key\n"
       "  dotted.key[0]: !<tag:yaml.org,2002:str> w\n",
       {K("", "base"), K("base", "retries"), V("base.retries", "3"), K("base", "owner"),
        V("base.owner", "maria@example.org"), K("", "prod"), K("prod", "<<"), K("prod", "host"),
        V("prod.host", "db.internal"), K("prod", "ids"), V("prod.ids[]", "7"), K("prod", "key2"),
        V("prod.key2", "v"), V("prod.*base", "aliased key"), K("prod", "dotted.key[0]"),
        V("prod.dotted_key_0]", "w")}});
  return docs;
}

TEST(RewriteYaml, RealisticDocumentsComeBackByteForByteWithEveryScalarVisited) {
  for (const Doc& d : documents()) {
    Recorder r;
    std::string out;
    const auto res = rewrite_yaml(d.text, r, out);
    ASSERT_TRUE(res.valid) << d.name << " at " << res.error_offset;
    EXPECT_EQ(out, d.text) << d.name;
    EXPECT_EQ(r.seen, d.seen) << d.name;
    EXPECT_EQ(res.visited, d.seen.size()) << d.name;
    EXPECT_EQ(res.replaced, 0u) << d.name;
  }
}

TEST(RewriteYaml, ReplacedValuesReadBackAsTheReplacementOnTheSamePaths) {
  const std::vector<std::string> replacements = {
      "a: b",        "#x",        "true",        "",
      "line\nbreak", "it's",      "\"q\"",       "- item",
      "x #y",        " pad ",     "tab\tin",     "two\n\nbreaks\n",
      "\n",          "trail\n\n", "\n\nafter",   "  indented\nfirst",
      "[a, b]",      "5551234",   "null",        "no",
      "1e3",         "\x01\x7F",  "back\\slash", "---",
      "-",           "{}",        "*a",          "&a",
      "!t",          "%p",        "@a",          "`b",
      "|",           ">",         "?",           "x:",
      "a,b"};
  for (const Doc& d : documents()) {
    for (const std::string& replacement : replacements) {
      Recorder r;
      r.replace = [&](bool key, std::string_view, std::string_view, std::string& out) {
        if (key) return false;
        out = replacement;
        return true;
      };
      std::string out;
      const auto res = rewrite_yaml(d.text, r, out);
      ASSERT_TRUE(res.valid) << d.name;
      Recorder again;
      std::string out2;
      const auto res2 = rewrite_yaml(out, again, out2);
      ASSERT_TRUE(res2.valid) << d.name << " with \"" << replacement << "\" at "
                              << res2.error_offset << ":\n"
                              << out;
      ASSERT_EQ(again.seen.size(), d.seen.size()) << d.name << ":\n" << out;
      for (size_t k = 0; k < d.seen.size(); ++k) {
        const auto& [key, path, value] = d.seen[k];
        EXPECT_EQ(std::get<0>(again.seen[k]), key) << d.name << " " << k;
        EXPECT_EQ(std::get<1>(again.seen[k]), path) << d.name << " " << k << ":\n" << out;
        EXPECT_EQ(std::get<2>(again.seen[k]), key ? value : replacement)
            << d.name << " " << path << ":\n"
            << out;
      }
    }
  }
}

// Comments are text (2026-12-07: "# owner: bob@example.com" was copied unread): each is shown
// once, in input order, wherever it sits — its own line, after a value, after a block scalar's
// header, inside a flow collection, between documents; a replacement is written in its place
// (line breaks as spaces) and the document reads back the same.
TEST(RewriteYaml, CommentsAreShownInOrderAndReplacedInPlace) {
  const std::string in =
      "# head bob@example.com\n"
      "user:   # after a key\n"
      "  email: jane@example.org  # after a value\n"
      "  bio: | # after a header\n"
      "    line one\n"
      "  tags: [a, # in a flow\n"
      "         b]\n"
      "  note: \"q # not a comment\"\n"
      "---  # after a marker\n"
      "- x\n"
      "# last\n";
  class Comments : public Recorder {
   public:
    std::vector<std::string> comments;
    bool comment(std::string_view text, std::string& out) override {
      comments.emplace_back(text);
      out = "C" + std::to_string(comments.size()) + (comments.size() == 2 ? "\nbroken" : "");
      return true;
    }
  };
  Comments r;
  std::string out;
  const auto res = rewrite_yaml(in, r, out);
  ASSERT_TRUE(res.valid) << res.error_offset;
  EXPECT_EQ(r.comments, (std::vector<std::string>{" head bob@example.com", " after a key",
                                                  " after a value", " after a header", " in a flow",
                                                  " after a marker", " last"}));
  EXPECT_EQ(res.replaced, 7u);
  EXPECT_EQ(out,
            "#C1\n"
            "user:   #C2 broken\n"
            "  email: jane@example.org  #C3\n"
            "  bio: | #C4\n"
            "    line one\n"
            "  tags: [a, #C5\n"
            "         b]\n"
            "  note: \"q # not a comment\"\n"
            "---  #C6\n"
            "- x\n"
            "#C7\n");
  // the values are the same, read back
  Recorder before, after;
  std::string o1, o2;
  ASSERT_TRUE(rewrite_yaml(in, before, o1).valid);
  ASSERT_TRUE(rewrite_yaml(out, after, o2).valid);
  EXPECT_EQ(after.seen, before.seen);
  // with a scalar replaced before, between and after comments too
  Comments both;
  both.replace = [](bool key, std::string_view, std::string_view v, std::string& o) {
    if (key) return false;
    o = "<" + std::string(v) + ">";
    return true;
  };
  ASSERT_TRUE(rewrite_yaml(in, both, out).valid);
  EXPECT_NE(out.find("email: <jane@example.org>  #C3\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" #C4\n    <line one\n    >\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("bob@"), std::string::npos) << out;
}

TEST(RewriteYaml, ReplacedKeysReadBackAsTheReplacement) {
  for (const Doc& d : documents()) {
    for (const std::string replacement : {"k: v", "maria@example.org", "", "true", "a\nb"}) {
      Recorder r;
      r.replace = [&](bool key, std::string_view, std::string_view, std::string& out) {
        out = replacement;
        return key;
      };
      std::string out;
      ASSERT_TRUE(rewrite_yaml(d.text, r, out).valid);
      Recorder again;
      std::string out2;
      ASSERT_TRUE(rewrite_yaml(out, again, out2).valid) << d.name << ":\n" << out;
      ASSERT_EQ(again.seen.size(), d.seen.size()) << d.name << ":\n" << out;
      for (size_t k = 0; k < d.seen.size(); ++k) {
        const auto& [key, path, value] = d.seen[k];
        EXPECT_EQ(std::get<2>(again.seen[k]), key ? replacement : value) << d.name << ":\n" << out;
      }
    }
  }
}

TEST(RewriteYaml, ReplacementsKeepTheOriginalsStyleWhereTheyCan) {
  const std::string in =
      "plain: old value  # why\n"
      "typed: old\n"
      "number: 4155550134\n"
      "single: 'old'\n"
      "double: \"old\"\n"
      "flow: [old, 'old', {k: old}]\n"
      "literal: |\n"
      "  old\n"
      "folded: >+\n"
      "  old\n"
      "\n"
      "keep: old\n";
  Recorder r;
  r.replace = [](bool key, std::string_view path, std::string_view, std::string& out) {
    if (key || path == "keep") return false;
    if (path == "plain") out = "new value";
    if (path == "typed") out = "yes";
    if (path == "number") out = "4155559876";
    if (path == "single") out = "it's";
    if (path == "double") out = "\"q\"\n";
    if (path == "flow[]") out = "a, b";
    if (path == "flow[].k") out = "c";
    if (path == "literal") out = "line one\n  line two\n";
    if (path == "folded") out = "one\ntwo three";
    return true;
  };
  std::string out;
  const auto res = rewrite_yaml(in, r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(res.replaced, 10u);
  EXPECT_EQ(out,
            "plain: new value  # why\n"
            "typed: \"yes\"\n"
            "number: 4155559876\n"
            "single: 'it''s'\n"
            "double: \"\\\"q\\\"\\n\"\n"
            "flow: [\"a, b\", 'a, b', {k: c}]\n"
            "literal: |\n"
            "  line one\n"
            "    line two\n"
            "folded: >-\n"
            "  one\n"
            "\n"
            "  two three\n"
            "keep: old\n");
  // A first line that starts with white space needs an indentation indicator; a control
  // character or a folded line that starts with white space, double quotes.
  r.replace = [](bool key, std::string_view path, std::string_view, std::string& out) {
    if (key || path == "keep") return false;
    out = path == "literal" ? "  indented\n" : path == "folded" ? " x" : "\x01";
    return path == "literal" || path == "folded" || path == "plain";
  };
  ASSERT_TRUE(rewrite_yaml(in, r, out).valid);
  EXPECT_NE(out.find("plain: \"\\x01\"  # why\n"), std::string::npos) << out;
  EXPECT_NE(out.find("literal: |2\n    indented\nfolded: \" x\"\nkeep: old\n"), std::string::npos)
      << out;
}

TEST(RewriteYaml, APlainReplacementReadsAsTheOriginalsTypeInYaml12AndYaml11) {
  struct Case {
    const char* original;
    const char* replacement;
    bool plain;
  };
  const Case cases[] = {
      {"4155550134", "4155559876", true},
      {"hello", "hello world", true},
      {"hello", "1.2.3", true},
      {"hello", "10.0.0.1", true},
      {"hello", "true", false},
      {"hello", "Yes", false},
      {"hello", "y", false},
      {"hello", "off", false},
      {"hello", "~", false},
      {"hello", "null", false},
      {"hello", "1e3", false},
      {"hello", "0x1F", false},
      {"hello", "1_000", false},
      {"hello", "12:30", false},
      {"hello", "2024-01-02", false},
      {"hello", ".inf", false},
      {"hello", "09", false},
      {"on", "off", true},
      {"y", "n", true},
      {"y", "no", false},  // y: a string to PyYAML
      {"tRuE", "true", false},
      {"3.11", "2.5", true},
      {"3.11", "-12.5e3", false},  // a float to YAML 1.2, a string to YAML 1.1
      {"1985-04-12", "1999-12-31", true},
      {"1:30", "2:45", true},
  };
  for (const Case& c : cases) {
    Recorder r;
    r.replace = [&](bool key, std::string_view, std::string_view, std::string& out) {
      out = c.replacement;
      return !key;
    };
    std::string out;
    ASSERT_TRUE(rewrite_yaml(std::string("k: ") + c.original + "\n", r, out).valid);
    const std::string want = c.plain ? c.replacement : std::string("\"") + c.replacement + "\"";
    EXPECT_EQ(out, "k: " + want + "\n") << c.original << " -> " << c.replacement;
  }
}

TEST(RewriteYaml, MalformedOrUnsupportedInputIsReportedWhereItBreaks) {
  const std::vector<std::pair<std::string, size_t>> cases = {
      {"a: \"abc", 7},                // unterminated double quote
      {"a: 'abc\n", 8},               // unterminated single quote
      {"a:\n  b: 1\n c: 2\n", 11},    // indentation that matches no open mapping
      {"a: 1\n  b: 2\n", 8},          // a key inside a scalar's continuation
      {"? complex\n: value\n", 0},    // an explicit key
      {"a:\n\tb: 1\n", 3},            // a tab as indentation
      {"a: 1\n \t \nb: 2\n", 6},      // even on an empty line (as libyaml has it)
      {"- x\n- y\nz: 1\n", 8},        // a mapping after a root sequence
      {"a: b: c\n", 4},               // a mapping where a value must be
      {"a: - b\n", 3},                // a sequence where a value must be
      {"[a, b", 5},                   // a flow collection that never closes
      {"{a: 1}}", 6},                 // more after a flow collection
      {"[a: 1]", 2},                  // a pair in a flow sequence
      {"[a, , b]", 4},                // an empty flow entry
      {"[a]: b\n", 3},                // a collection as a key
      {"a: \"\\q\"", 4},              // an unknown escape
      {"a: \"\\ud800\"", 4},          // a surrogate
      {"a: *\n", 4},                  // an alias without a name
      {"a: 1\n%YAML 1.2\n", 5},       // a directive inside a document
      {"%YAML 1.2\na: 1\n", 10},      // a directive without "---"
      {"a: \x01", 3},                 // a control character
      {"a: |0\n  x\n", 4},            // indentation indicator 0
      {"\"x\ny\": 1\n", 5},           // a key over two lines
      {"a: 'x'y\n", 6},               // more after a quoted scalar
      {"a: [x]\n  - y\n", 9},         // a block sequence after a flow one
      {"# c\xC2\x85secret: v\n", 3},  // NEL: a line end to YAML 1.1 readers
      {"a: &b:c\n", 5},               // an anchor name as libyaml reads it, then no space
      {"@at\n", 0},                   // a reserved indicator
      {"a:\n  - b\n - c\n", 10},      // a sequence entry at a third indentation
  };
  for (const auto& [in, at] : cases) {
    Recorder r;
    std::string out;
    const auto res = rewrite_yaml(in, r, out);
    EXPECT_FALSE(res.valid) << in;
    EXPECT_EQ(res.error_offset, at) << in;
  }
}

TEST(RewriteYaml, DeepNestingIsBounded) {
  std::vector<std::string> bombs(4);
  for (size_t k = 0; k <= kYamlMaxDepth; ++k) {
    bombs[0] += "[";
    bombs[1] += "- ";
    bombs[2] += std::string(k, ' ') + "a:\n";
    bombs[3] += "{a: ";
  }
  bombs[1] += "x\n";
  for (const std::string& in : bombs) {
    Recorder r;
    std::string out;
    const auto res = rewrite_yaml(in, r, out);
    EXPECT_FALSE(res.valid) << in.substr(0, 20);
    EXPECT_LE(res.error_offset, in.size());
  }
  // Just below the bound is fine.
  std::string ok(kYamlMaxDepth, '[');
  ok += std::string(kYamlMaxDepth, ']');
  Recorder r;
  std::string out;
  EXPECT_TRUE(rewrite_yaml(ok, r, out).valid);
}

TEST(RewriteYaml, EveryPrefixOfADocumentEndsCleanly) {
  // Cut anywhere, a document is either read or reported invalid within the input, never read
  // past it.
  for (const Doc& d : documents()) {
    for (size_t n = 0; n <= d.text.size(); ++n) {
      const std::string cut = d.text.substr(0, n);  // its own allocation, for ASan
      Recorder r;
      std::string out;
      const auto res = rewrite_yaml(cut, r, out);
      if (res.valid) {
        EXPECT_EQ(out, cut);
      } else {
        EXPECT_LE(res.error_offset, n);
      }
    }
  }
}

TEST(RewriteYaml, ManyValuesGoThroughInOnePass) {
  std::string in = "users:\n";
  constexpr size_t kUsers = 50000;  // 100k lines
  for (size_t k = 0; k < kUsers; ++k) {
    in += "- id: " + std::to_string(k) + "\n  email: user" + std::to_string(k) + "@example.org\n";
  }
  Recorder r;
  r.replace = [](bool key, std::string_view path, std::string_view, std::string& out) {
    out = "redacted: x";
    return !key && path == "users[].email";
  };
  std::string out;
  const auto res = rewrite_yaml(in, r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(res.visited, 1 + 4 * kUsers);
  EXPECT_EQ(res.replaced, kUsers);
  EXPECT_NE(out.find("- id: 49999\n  email: \"redacted: x\"\n"), std::string::npos);
}

}  // namespace
}  // namespace twin::scrubber
