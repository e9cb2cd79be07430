// Tests of response diffs over XML bodies (compare/src/tape_xml.cc through ResponseDiffer):
// elements compare by name and attributes by name, so that how a serializer wrote a document
// (attribute order, namespace prefixes and where they are declared, escapes against CDATA,
// indentation, comments, an empty element's two spellings) is no difference, and a changed value
// names its path. A seeded property test writes random documents in two styles and changes one
// value.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "responses.h"
#include "twin/compare/diff.h"

namespace twin::compare {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Paths = std::vector<std::string>;

traffic::Response response(std::string body, std::string type = "application/xml") {
  return test::response(std::move(body), std::move(type));
}

Paths diff(const std::string& a, const std::string& b, DiffOptions options = {},
           const std::string& type = "application/xml") {
  ResponseDiffer differ(std::move(options));
  Paths out{"stale"};
  EXPECT_TRUE(differ.diff(response(a, type), response(b, type), out));
  return out;
}

// A SOAP answer as one serializer writes it: prefixes declared on the envelope, attributes in
// one order, text escaped.
const std::string kSoap = R"(<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="urn:shop">
  <soap:Body>
    <m:GetOrderResponse>
      <m:order id="17" status="paid">
        <m:customer>Tom &amp; Jerry</m:customer>
        <m:line sku="A-1" qty="2"/>
        <m:line sku="B-7" qty="1"/>
        <m:total currency="EUR">12.50</m:total>
        <m:note></m:note>
      </m:order>
    </m:GetOrderResponse>
  </soap:Body>
</soap:Envelope>)";

// The same answer as another serializer writes it: other prefixes, the shop's namespace
// declared where it starts as the default one, attributes in the other order, the text in a
// CDATA section and a character reference, no indentation, a comment, an empty element's
// other spelling.
const std::string kSoapOther =
    "<env:Envelope xmlns:env=\"http://schemas.xmlsoap.org/soap/envelope/\"><env:Body>"
    "<GetOrderResponse xmlns=\"urn:shop\"><!-- generated --><order status='paid' id='17'>"
    "<customer><![CDATA[Tom & Jerry]]></customer><line qty=\"2\" sku=\"A-1\"></line>"
    "<line qty=\"1\" sku=\"B&#45;7\"/><total currency=\"EUR\">12.50</total><note/></order>"
    "</GetOrderResponse></env:Body></env:Envelope>";

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(DiffXml, HowASerializerWroteItIsNoDifference) {
  EXPECT_THAT(diff(kSoap, kSoap), IsEmpty());
  EXPECT_THAT(diff(kSoap, kSoapOther), IsEmpty());
  EXPECT_THAT(diff(kSoapOther, kSoap), IsEmpty());
}

TEST(DiffXml, AChangedValueNamesItsPath) {
  const std::string base = "$.Envelope.Body.GetOrderResponse.order";
  EXPECT_THAT(diff(kSoap, replace(kSoap, "12.50", "12.5")), ElementsAre(base + ".total.#text"));
  EXPECT_THAT(diff(kSoap, replace(kSoap, "status=\"paid\"", "status=\"open\"")),
              ElementsAre(base + ".@status"));
  EXPECT_THAT(diff(kSoap, replace(kSoap, "Tom &amp; Jerry", "Tom and Jerry")),
              ElementsAre(base + ".customer"));
  // the second of the two lines: the list is aligned, the changed one named by its field
  EXPECT_THAT(diff(kSoap, replace(kSoap, "qty=\"1\"", "qty=\"3\"")),
              ElementsAre(base + ".line[*].@qty"));
  // an attribute added: the element is no longer text alone
  EXPECT_THAT(diff(kSoap, replace(kSoap, "<m:note>", "<m:note lang=\"en\">")),
              ElementsAre(base + ".note"));
  // an element removed
  EXPECT_THAT(diff(kSoap, replace(kSoap, "<m:note></m:note>", "")), ElementsAre(base + ".note"));
}

TEST(DiffXml, ListsAreAlignedAndCanBeUnordered) {
  const auto list = [](std::vector<std::string> skus) {
    std::string s = "<items>";
    for (const auto& sku : skus) s += "<item><sku>" + sku + "</sku><n>1</n></item>";
    return s + "</items>";
  };
  // one item inserted at the top: the list, not every item after it
  EXPECT_THAT(diff(list({"a", "b", "c"}), list({"z", "a", "b", "c"})), ElementsAre("$.items.item"));
  EXPECT_THAT(diff(list({"a", "b", "c"}), list({"c", "b", "a"})), ElementsAre("$.items.item"));
  DiffOptions unordered;
  unordered.unordered = {"$.items.item"};
  EXPECT_THAT(diff(list({"a", "b", "c"}), list({"c", "b", "a"}), unordered), IsEmpty());
  // one item and two: a value against a list
  EXPECT_THAT(diff(list({"a"}), list({"a", "b"})), ElementsAre("$.items.item"));
}

TEST(DiffXml, NamespacesCompareByWhatTheyAreNotByPrefix) {
  const std::string a = R"(<a:r xmlns:a="urn:one"><a:x>1</a:x></a:r>)";
  EXPECT_THAT(diff(a, R"(<b:r xmlns:b="urn:one"><b:x>1</b:x></b:r>)"), IsEmpty());
  EXPECT_THAT(diff(a, R"(<r xmlns="urn:one"><x>1</x></r>)"), IsEmpty());
  // the namespace of the root changed: a new version of the schema
  EXPECT_THAT(diff(a, R"(<a:r xmlns:a="urn:two"><a:x>1</a:x></a:r>)"), ElementsAre("$.r.@xmlns"));
  // a child moved to a namespace of its own: it gains one
  EXPECT_THAT(diff(a, R"(<a:r xmlns:a="urn:one"><x>1</x></a:r>)"), ElementsAre("$.r.x"));
  // declarations are no attributes, and a document without namespaces has no @xmlns
  EXPECT_THAT(diff("<r><x>1</x></r>", R"(<r xmlns:unused="urn:u"><x>1</x></r>)"), IsEmpty());
}

TEST(DiffXml, TextIsDecodedAndJoined) {
  EXPECT_THAT(diff("<r>&lt;a&gt; &#233;&#xE9;</r>", "<r>&lt;a> \xC3\xA9\xC3\xA9</r>"), IsEmpty());
  EXPECT_THAT(diff("<r>ab</r>", "<r>a<!-- c -->b</r>"), IsEmpty());
  EXPECT_THAT(diff("<r>ab</r>", "<r><![CDATA[a]]>b</r>"), IsEmpty());
  // leaf text keeps its white space; indentation around child elements is none
  EXPECT_THAT(diff("<r>a</r>", "<r> a </r>"), ElementsAre("$.r"));
  EXPECT_THAT(diff("<r>x<c/>y</r>", "<r>\n  x\n  <c/>\n  y\n</r>"), IsEmpty());
  EXPECT_THAT(diff("<r>x<c/>y</r>", "<r>x<c/>z</r>"), ElementsAre("$.r.#text"));
  EXPECT_THAT(diff("<r><c/></r>", "<r>x<c/></r>"), ElementsAre("$.r.#text"));
  // text a child element stands between is two words, not one
  EXPECT_THAT(diff("<p>ab<b/>c</p>", "<p>a<b/>bc</p>"), ElementsAre("$.p.#text"));
  EXPECT_THAT(diff("<p>Hello <b>big</b> world</p>", "<p>Hello<b>big</b>world</p>"), IsEmpty());
}

TEST(DiffXml, WhatIsNotOneWellFormedDocumentIsBytes) {
  const std::string good = "<r><x>1</x></r>";
  for (const std::string bad : {
           "<r><x>1</x>",      // broken off
           "<r><x>1</r></x>",  // mismatched
           "<r/><s/>",         // two roots
           "text",             // no element
       }) {
    ResponseDiffer differ;
    Paths out;
    EXPECT_TRUE(differ.diff(response(good), response(bad), out));
    EXPECT_THAT(out, ElementsAre("$body")) << bad;
    EXPECT_EQ(differ.body_counts().unreadable, 1u) << bad;
  }
  // An entity the DTD declares is never expanded, and a document that uses one (or a stray '&')
  // does not read: two DTDs that define it otherwise must not compare equal.
  for (const std::string bad : {"<!DOCTYPE r [<!ENTITY e \"x\">]><r>&e;</r>", "<r>Tom & Jerry</r>",
                                "<r a=\"&e;\"/>", "<r xmlns=\"&e;\"/>"}) {
    EXPECT_THAT(diff(bad, "<r>x</r>"), ElementsAre("$body")) << bad;
  }
  // Attributes twice, or twice in one namespace: no XML either.
  for (const std::string bad :
       {"<r a=\"1\" a=\"2\"/>", R"(<r xmlns:p="urn:x" xmlns:q="urn:x" p:a="1" q:a="2"/>)"}) {
    EXPECT_THAT(diff(good, bad), ElementsAre("$body")) << bad;
  }
}

TEST(DiffXml, AttributesOfOneNameInTwoNamespacesAreTwoKeys) {
  const std::string a = R"(<r xmlns:p="urn:p" xmlns:q="urn:q" p:id="1" q:id="2" id="3"/>)";
  EXPECT_THAT(diff(a, R"(<r xmlns:s="urn:q" xmlns:t="urn:p" id="3" s:id="2" t:id="1"/>)"),
              IsEmpty());
  EXPECT_THAT(diff(a, R"(<r xmlns:p="urn:p" xmlns:q="urn:q" id="3" q:id="2" p:id="9"/>)"),
              ElementsAre("$.r[\"@{urn:p}id\"]"));
  EXPECT_THAT(diff(a, R"(<r xmlns:p="urn:p" xmlns:q="urn:q" p:id="1" q:id="2" id="4"/>)"),
              ElementsAre("$.r.@id"));
  // alone, a namespaced attribute is its local name
  EXPECT_THAT(diff(R"(<r xmlns:p="urn:p" p:id="1"/>)", R"(<r xmlns:q="urn:p" q:id="2"/>)"),
              ElementsAre("$.r.@id"));
}

TEST(DiffXml, ManyNamespacesAndLongOnesReadInLinearTime) {
  // (no timing asserted: these read, and as the same document, whatever they cost)
  const std::string ns(100000, 'u');
  std::string a = "<r xmlns:p=\"" + ns + "\">", b = "<r xmlns:q=\"" + ns + "\">";
  for (int i = 0; i < 2000; ++i) {
    a += "<p:x/>";
    b += "<q:x/>";
  }
  a += "<p:y>1</p:y></r>";
  b += "<q:y>2</q:y></r>";
  EXPECT_THAT(diff(a, b), ElementsAre("$.r.y.#text"));
  std::string many = "<r";
  for (int i = 0; i < 3000; ++i) many += " xmlns:a" + std::to_string(i) + "=\"u\"";
  many += ">";
  for (int i = 0; i < 3000; ++i) many += "<b/>";
  EXPECT_THAT(diff(many + "</r>", many + "<c/></r>"), ElementsAre("$.r.c"));
}

TEST(DiffXml, TheMediaTypeOrTheDeclarationSaysXml) {
  const std::string a = "<?xml version=\"1.0\"?><r><x>1</x><y>2</y></r>";
  const std::string b = "<?xml version=\"1.0\"?><r><y>2</y><x>3</x></r>";
  for (const std::string type :
       {"application/xml", "text/xml; charset=utf-8", "application/soap+xml",
        "application/atom+xml", "Application/RSS+XML", ""}) {
    ResponseDiffer differ;
    Paths out;
    EXPECT_TRUE(differ.diff(response(a, type), response(b, type), out));
    EXPECT_THAT(out, ElementsAre("$.r.x")) << type;
    EXPECT_EQ(differ.body_counts().xml, 1u) << type;
  }
  // without a media type or a declaration, markup is not read
  EXPECT_THAT(diff("<r>1</r>", "<r>2</r>", {}, ""), ElementsAre("$body"));
  // one side's label reads the other
  ResponseDiffer differ;
  Paths out;
  EXPECT_TRUE(differ.diff(response("<r>1</r>"), response("<r>2</r>", ""), out));
  EXPECT_THAT(out, ElementsAre("$.r"));
  // XML against JSON: two formats
  EXPECT_TRUE(
      differ.diff(response("<r>1</r>"), response("{\"r\":\"1\"}", "application/json"), out));
  EXPECT_THAT(out, ElementsAre("$body"));
}

TEST(DiffXml, NamesArePathComponents) {
  EXPECT_THAT(diff("<r><order-id>1</order-id></r>", "<r><order-id>2</order-id></r>"),
              ElementsAre("$.r.order-id"));
  // a '.' in a name (XStream writes class names) is quoted, not a step
  EXPECT_THAT(diff("<com.shop.Order><id>1</id></com.shop.Order>",
                   "<com.shop.Order><id>2</id></com.shop.Order>"),
              ElementsAre("$[\"com.shop.Order\"].id"));
  const std::string long_name(100, 'n');
  EXPECT_THAT(diff("<r><" + long_name + ">1</" + long_name + "></r>",
                   "<r><" + long_name + ">2</" + long_name + "></r>"),
              ElementsAre("$.r[\"{long-key}\"]"));
  DiffOptions ignore;
  ignore.ignore = {"$.r.@stamp", "$.r.meta.**"};
  EXPECT_THAT(diff(R"(<r stamp="1"><meta><at>5</at></meta><v>1</v></r>)",
                   R"(<r stamp="2"><meta><at>6</at></meta><v>2</v></r>)", ignore),
              ElementsAre("$.r.v"));
}

TEST(DiffXml, DeepNestingReadsWithoutRecursion) {
  std::string a, b;
  for (int i = 0; i < 255; ++i) a += "<d>";
  b = a;
  a += "1";
  b += "2";
  for (int i = 0; i < 255; ++i) {
    a += "</d>";
    b += "</d>";
  }
  DiffOptions deep;
  deep.max_depth = 1000;
  const Paths out = diff(a, b, deep);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].size(), 1 + 255 * 2);  // "$" and ".d" 255 times
}

// ---- a seeded property test: random documents, written in two styles

struct Element {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::string text;  // leaves only
  std::vector<Element> children;
};

std::string escape(const std::string& t, bool refs) {
  std::string out;
  for (const char c : t) {
    if (c == '&') {
      out += refs ? "&#38;" : "&amp;";
    } else if (c == '<') {
      out += refs ? "&#x3C;" : "&lt;";
    } else if (c == '"') {
      out += "&quot;";
    } else {
      out += c;
    }
  }
  return out;
}

// Style 0: prefix p, attributes in order, entities, compact. Style 1: the default namespace,
// attributes reversed, CDATA and character references, indented, comments.
void write(const Element& e, int style, int depth, std::string& out) {
  const std::string name = style == 0 ? "p:" + e.name : e.name;
  const std::string indent = style == 1 ? "\n" + std::string(2 * size_t(depth), ' ') : "";
  out += indent + "<" + name;
  if (depth == 0) out += style == 0 ? " xmlns:p=\"urn:t\"" : " xmlns=\"urn:t\"";
  auto attrs = e.attrs;
  if (style == 1) std::reverse(attrs.begin(), attrs.end());
  for (const auto& [k, v] : attrs) out += " " + k + "=\"" + escape(v, style == 1) + "\"";
  if (e.children.empty() && e.text.empty()) {
    out += style == 0 ? "></" + name + ">" : "/>";
    return;
  }
  out += ">";
  if (e.children.empty()) {
    out += style == 1 && e.text.find("]]>") == std::string::npos ? "<![CDATA[" + e.text + "]]>"
                                                                 : escape(e.text, style == 1);
  } else {
    for (const Element& c : e.children) {
      if (style == 1) out += "<!--c-->";
      write(c, style, depth + 1, out);
    }
    out += indent;
  }
  out += "</" + name + ">";
}

// The leaves' paths, and pointers to their values, as the differ names them.
void leaves(Element& e, const std::string& path,
            std::vector<std::pair<std::string, std::string*>>& out) {
  for (auto& [k, v] : e.attrs) out.emplace_back(path + ".@" + k, &v);
  if (e.children.empty()) {
    out.emplace_back(e.attrs.empty() ? path : path + ".#text", &e.text);
    return;
  }
  for (Element& c : e.children) {
    size_t same = 0;
    for (const Element& d : e.children) same += d.name == c.name;
    leaves(c, path + "." + c.name + (same > 1 ? "[*]" : ""), out);
  }
}

Element random_element(std::mt19937_64& rng, int depth) {
  static const char* kNames[] = {"a", "b", "item", "id", "price"};
  static const char* kTexts[] = {"1", "x & y", "<tag>", "\"q\"", "caf\xC3\xA9", "]]>", "v w"};
  Element e;
  e.name = kNames[rng() % 5];
  for (const char* attr : {"id", "kind"}) {
    if (rng() % 3 == 0) e.attrs.emplace_back(attr, kTexts[rng() % 7]);
  }
  const size_t children = depth < 3 ? rng() % 4 : 0;
  for (size_t i = 0; i < children; ++i) e.children.push_back(random_element(rng, depth + 1));
  if (e.children.empty()) e.text = kTexts[rng() % 7];
  return e;
}

TEST(DiffXml, RandomDocumentsInTwoStylesDifferOnlyWhereAValueChanged) {
  std::mt19937_64 rng(20261207);
  DiffOptions options;
  options.unordered = {};  // in order: a changed element of a list is named by its field
  for (int round = 0; round < 400; ++round) {
    Element root = random_element(rng, 0);
    root.name = "root";  // (a child at least: the root's own namespace makes it an object)
    if (root.children.empty()) {
      root.text.clear();
      root.children.push_back(random_element(rng, 1));
    }
    std::string compact, indented;
    write(root, 0, 0, compact);
    write(root, 1, 0, indented);
    ASSERT_THAT(diff(compact, indented, options), IsEmpty()) << compact << "\n" << indented;

    std::vector<std::pair<std::string, std::string*>> values;
    leaves(root, "$.root", values);
    ASSERT_FALSE(values.empty());
    auto& [path, value] = values[rng() % values.size()];
    *value += "!";
    const std::string wanted = path;
    std::string changed;
    write(root, 1, 0, changed);
    EXPECT_THAT(diff(compact, changed, options), ElementsAre(wanted)) << compact << "\n" << changed;
  }
}

}  // namespace
}  // namespace twin::compare
