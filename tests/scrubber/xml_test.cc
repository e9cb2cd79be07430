#include "xml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace twin::scrubber {
namespace {

using Seen = std::pair<std::string, std::string>;  // path, value

// Records every visit; replaces a value when `replace` gives a replacement for it.
class Recorder : public XmlVisitor {
 public:
  std::function<bool(std::string_view, std::string_view, std::string&)> replace;
  std::vector<Seen> seen;
  bool visit(std::string_view path, std::string_view value, std::string& out) override {
    seen.emplace_back(std::string(path), std::string(value));
    return replace ? replace(path, value, out) : false;
  }
};

// Comments and processing instructions are text (2026-12-07: their contents were copied
// unread): shown in order, replaced in place, never ending early.
TEST(RewriteXml, CommentsAndProcessingInstructionsAreShownAndReplaced) {
  const std::string in =
      "<?xml version=\"1.0\"?><!-- owner bob@example.com --><r><?note call +14155552671?>"
      "<a>x</a><!---->\n</r><!-- end -->";
  class Markup : public Recorder {
   public:
    std::vector<std::string> shown;
    bool markup(std::string_view content, std::string& out) override {
      shown.emplace_back(content);
      if (content.find("owner") != std::string_view::npos) out = " owner -- x- -";
      if (content.find("note") != std::string_view::npos) out = "note ?> ?\?>";
      return !out.empty();
    }
  };
  Markup r;
  std::string out;
  const auto res = rewrite_xml(in, r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(r.shown, (std::vector<std::string>{"xml version=\"1.0\"", " owner bob@example.com ",
                                               "note call +14155552671", " end "}));
  EXPECT_EQ(res.replaced, 2u);
  EXPECT_EQ(out,
            "<?xml version=\"1.0\"?><!-- owner -_ x- _--><r><?note ?  ?\? ?>"
            "<a>x</a><!---->\n</r><!-- end -->");
  Recorder again;
  std::string out2;
  ASSERT_TRUE(rewrite_xml(out, again, out2).valid);
  EXPECT_EQ(again.seen, r.seen);
}

TEST(RewriteXml, PathsTextsAndAttributesOfASoapBody) {
  const std::string in =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!-- a comment <name>not data</name> -->\n"
      "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\n"
      "  <soap:Body>\n"
      "    <m:GetCustomer xmlns:m=\"urn:shop\" id='42'>\n"
      "      <m:name>Maria &amp; Jo&#233; &#x4E2D;</m:name>\n"
      "      <email type=\"home\">maria@example.org</email>\n"
      "      <note><![CDATA[<b>raw</b> & kept]]></note>\n"
      "      <empty/><empty2 a=\"1\"/>\n"
      "    </m:GetCustomer>\n"
      "  </soap:Body>\n"
      "</soap:Envelope>\n";
  Recorder r;
  std::string out;
  auto res = rewrite_xml(in, r, out);
  ASSERT_TRUE(res.valid) << res.error_offset;
  EXPECT_EQ(out, in);  // nothing replaced: byte for byte
  EXPECT_THAT(r.seen, ::testing::ElementsAre(
                          Seen{"Envelope.Body.GetCustomer.id", "42"},
                          Seen{"Envelope.Body.GetCustomer.name", "Maria & Jo\u00e9 \u4e2d"},
                          Seen{"Envelope.Body.GetCustomer.email.type", "home"},
                          Seen{"Envelope.Body.GetCustomer.email", "maria@example.org"},
                          Seen{"Envelope.Body.GetCustomer.note", "<b>raw</b> & kept"},
                          Seen{"Envelope.Body.GetCustomer.empty2.a", "1"}));
  EXPECT_EQ(res.visited, 6u);
  EXPECT_EQ(res.replaced, 0u);
}

TEST(RewriteXml, ReplacementsAreEscapedForTheirPlace) {
  const std::string in = "<a x=\"v1\" y='v2'><b>t&lt;1</b><c><![CDATA[c1]]></c><d>keep</d></a>";
  Recorder r;
  r.replace = [](std::string_view path, std::string_view, std::string& out) {
    if (path == "a.d") return false;
    out = "<&\"'>]]>";
    return true;
  };
  std::string out;
  auto res = rewrite_xml(in, r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(res.replaced, 4u);
  EXPECT_EQ(out,
            "<a x=\"&lt;&amp;&quot;&apos;&gt;]]&gt;\" y='&lt;&amp;&quot;&apos;&gt;]]&gt;'>"
            "<b>&lt;&amp;&quot;&apos;&gt;]]&gt;</b><c><![CDATA[<&\"'>]]]]><![CDATA[>]]></c>"
            "<d>keep</d></a>");
  // The output reads back with the replacements as they were given (the split CDATA section as
  // two runs that join up).
  Recorder again;
  std::string out2;
  ASSERT_TRUE(rewrite_xml(out, again, out2).valid);
  std::map<std::string, std::string> by_path;
  for (const auto& [path, value] : again.seen) by_path[path] += value;
  EXPECT_THAT(by_path, ::testing::ElementsAre(Seen{"a.b", "<&\"'>]]>"}, Seen{"a.c", "<&\"'>]]>"},
                                              Seen{"a.d", "keep"}, Seen{"a.x", "<&\"'>]]>"},
                                              Seen{"a.y", "<&\"'>]]>"}));
}

TEST(RewriteXml, EntitiesBeyondXmlsOwnAreNeverExpanded) {
  // A DTD's entities (the "billion laughs", an external file) are skipped, not read: &lol; and
  // &xxe; stay as written, and nothing outside the body is touched.
  const std::string in =
      "<!DOCTYPE r [<!ENTITY lol \"lol\"><!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
      "<r>&lol;&xxe;&#0;&#xD800;&#1114112;&bogus &amp;</r>";
  Recorder r;
  std::string out;
  auto res = rewrite_xml(in, r, out);
  ASSERT_TRUE(res.valid);
  ASSERT_EQ(r.seen.size(), 1u);
  EXPECT_EQ(r.seen[0].second, "&lol;&xxe;&#0;&#xD800;&#1114112;&bogus &");
}

TEST(RewriteXml, MalformedInputIsReportedWhereItBreaks) {
  const std::vector<std::pair<std::string, size_t>> cases = {
      {"<a><b>x</a>", 7},             // mismatched end tag
      {"<a>text", 7},                 // broken off inside an element
      {"<a x=1></a>", 5},             // unquoted attribute
      {"<a x=\"1\"y=\"2\"></a>", 8},  // attributes not separated
      {"<a><!-- never closed", 20},   // comment without its end
      {"<a><![CDATA[x", 13},          // CDATA without its end
      {"text<a/>", 0},                // character data before the root
      {"<a/>tail", 4},                // and after it
      {"</a>", 0},                    // an end tag with nothing open
      {"<>", 0},                      // no name
      {"<a x=\"<\"/>", 6},            // '<' in an attribute value
      {"{\"json\": true}", 0},        // not XML at all
  };
  for (const auto& [in, at] : cases) {
    Recorder r;
    std::string out;
    auto res = rewrite_xml(in, r, out);
    EXPECT_FALSE(res.valid) << in;
    EXPECT_EQ(res.error_offset, at) << in;
  }
  // Deep nesting is bounded.
  std::string deep;
  for (size_t i = 0; i <= kXmlMaxDepth; ++i) deep += "<a>";
  Recorder r;
  std::string out;
  EXPECT_FALSE(rewrite_xml(deep, r, out).valid);
}

TEST(RewriteXml, AByteOrderMarkIsKept) {
  Recorder r;
  std::string out;
  const std::string in = "\xEF\xBB\xBF<?xml version=\"1.0\"?><a>x</a>";
  ASSERT_TRUE(rewrite_xml(in, r, out).valid);
  EXPECT_EQ(out, in);
  EXPECT_THAT(r.seen, ::testing::ElementsAre(Seen{"a", "x"}));
}

TEST(RewriteXml, NamesWithDotsOrBracketsDoNotSplitThePath) {
  Recorder r;
  std::string out;
  ASSERT_TRUE(rewrite_xml("<my.doc><v[1]>x</v[1]></my.doc>", r, out).valid);
  ASSERT_EQ(r.seen.size(), 1u);
  EXPECT_EQ(r.seen[0].first, "my_doc.v_1]");
}

// A name/value record's label reaches its text, its value attribute and its value children, and
// nothing else.
TEST(RewriteXml, NameValueRecordsLabelTheirValues) {
  class Labels : public XmlVisitor {
   public:
    bool visit(std::string_view path, std::string_view value, std::string&) override {
      seen.push_back(std::string(path) + "=" + std::string(value) + "|" + std::string(label));
      return false;
    }
    std::vector<std::string> seen;
  };
  const std::string in =
      "<r>"
      "<field name=\"last_name\" type=\"string\">Okafor<meta>crm</meta></field>"
      "<attribute value=\"a@b.example\" key=\"email\"/>"
      "<saml:Attribute Name=\"mail\"><saml:AttributeValue>m@x.example</saml:AttributeValue>"
      "<other>o</other></saml:Attribute>"
      "<field name=\"a&amp;b\">esc</field>"
      "<plain>p</plain><Value>v</Value>"
      "</r>";
  Labels v;
  std::string out;
  ASSERT_TRUE(rewrite_xml(in, v, out).valid);
  EXPECT_EQ(out, in);
  EXPECT_THAT(v.seen, ::testing::ElementsAre("r.field.name=last_name|", "r.field.type=string|",
                                             "r.field=Okafor|last_name", "r.field.meta=crm|",
                                             "r.attribute.value=a@b.example|email",
                                             "r.attribute.key=email|", "r.Attribute.Name=mail|",
                                             "r.Attribute.AttributeValue=m@x.example|mail",
                                             "r.Attribute.other=o|", "r.field.name=a&b|",
                                             "r.field=esc|", "r.plain=p|", "r.Value=v|"));
}

}  // namespace
}  // namespace twin::scrubber
