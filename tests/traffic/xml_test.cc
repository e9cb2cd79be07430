// Tests of the XML pull reader (traffic/xml.h) that the scrubber's rewriter and the comparator's
// reader share: the tokens of a document in order with their bytes, the empty-element tag's
// two tokens, what is skipped, where a broken document stops, and entity decoding.

#include "twin/traffic/xml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace twin::traffic {
namespace {

using ::testing::ElementsAre;
using Token = XmlReader::Token;

// The tokens of `in` in a compact form: "<name a=raw>", "</name>", "T:raw", "C:cdata",
// "!:comment", "?:instruction", then "done" or "error@offset".
std::vector<std::string> tokens(std::string_view in) {
  std::vector<std::string> out;
  XmlReader r(in);
  while (true) {
    switch (r.next()) {
      case Token::kText:
        out.push_back("T:" + std::string(r.content()));
        break;
      case Token::kCData:
        out.push_back("C:" + std::string(r.content()));
        break;
      case Token::kComment:
        out.push_back("!:" + std::string(r.content()));
        break;
      case Token::kInstruction:
        out.push_back("?:" + std::string(r.content()));
        break;
      case Token::kStart: {
        std::string t = "<" + std::string(r.name());
        for (const XmlAttribute& a : r.attributes()) {
          t += " " + std::string(a.name) + "=" + std::string(r.attribute_value(a));
        }
        t += r.empty_element() ? "/>" : ">";
        t += std::to_string(r.depth());
        out.push_back(t);
        break;
      }
      case Token::kEnd:
        out.push_back("</" + std::string(r.name()) + ">" + std::to_string(r.depth()));
        break;
      case Token::kDone:
        out.push_back("done");
        return out;
      case Token::kError:
        out.push_back("error@" + std::to_string(r.error_offset()));
        EXPECT_EQ(r.next(), Token::kError);  // and it stays so
        return out;
    }
  }
}

TEST(XmlReader, TokensInOrderWithTheirBytes) {
  EXPECT_THAT(
      tokens("\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY e \"]>\">]>\n"
             "<s:r xmlns:s='urn:x' a=\"1 &amp; 2\">\n  <!-- c -->\n  <e/><f k = 'v' />"
             "t&lt;<![CDATA[<raw>]]></s:r >\n"),
      ElementsAre("?:xml version=\"1.0\"", "<s:r xmlns:s=urn:x a=1 &amp; 2>1", "!: c ", "<e/>2",
                  "</e>1", "<f k=v/>2", "</f>1", "T:t&lt;", "C:<raw>", "</s:r>0", "done"));
}

TEST(XmlReader, WhiteSpaceAloneIsNoText) {
  EXPECT_THAT(tokens(" \n<r> \t<a> x </a>\r\n</r>\n "),
              ElementsAre("<r>1", "<a>2", "T: x ", "</a>1", "</r>0", "done"));
}

TEST(XmlReader, BrokenDocumentsStopWhereTheyBreak) {
  EXPECT_THAT(tokens("<r><a></b></r>"), ElementsAre("<r>1", "<a>2", "error@6"));
  EXPECT_THAT(tokens("<r>"), ElementsAre("<r>1", "error@3"));
  EXPECT_THAT(tokens("x<r/>"), ElementsAre("error@0"));
  EXPECT_THAT(tokens("<r/>x"), ElementsAre("<r/>1", "</r>0", "error@4"));
  EXPECT_THAT(tokens("<r a='1'b='2'/>"), ElementsAre("error@8"));
  EXPECT_THAT(tokens("<r a=1/>"), ElementsAre("error@5"));
  EXPECT_THAT(tokens("<r a='<'/>"), ElementsAre("error@6"));
  EXPECT_THAT(tokens("<r><!-- x"), ElementsAre("<r>1", "error@9"));
  EXPECT_THAT(tokens("<r><![CDATA[x"), ElementsAre("<r>1", "error@13"));
  EXPECT_THAT(tokens("<>"), ElementsAre("error@0"));
  std::string deep;
  for (size_t i = 0; i < kXmlMaxDepth; ++i) deep += "<a>";
  EXPECT_EQ(tokens(deep + "<a>").back(), "error@" + std::to_string(3 * kXmlMaxDepth));
}

TEST(XmlReader, EntitiesDecodeAsXmlSaysAndNoFurther) {
  std::string buf = "untouched";
  EXPECT_EQ(decode_xml_text("plain", buf), "plain");
  EXPECT_EQ(buf, "untouched");
  EXPECT_EQ(decode_xml_text("&lt;&gt;&amp;&quot;&apos;", buf), "<>&\"'");
  EXPECT_EQ(decode_xml_text("&#233;&#xe9;&#x1F600;", buf), "\xC3\xA9\xC3\xA9\xF0\x9F\x98\x80");
  // a DTD's entity, a stray '&', a reference to nothing or to a surrogate stay as written
  EXPECT_EQ(decode_xml_text("&e; a & b &#0; &#xD800; &#x110000; &#;", buf),
            "&e; a & b &#0; &#xD800; &#x110000; &#;");
  bool unknown = false;
  decode_xml_text("&amp;&#65;", buf, &unknown);
  EXPECT_FALSE(unknown);
  decode_xml_text("&amp;&e;", buf, &unknown);
  EXPECT_TRUE(unknown);
  // a ';' further than an entity's longest name is none: "&" and the rest as written
  EXPECT_EQ(decode_xml_text("&" + std::string(20, 'a') + ";", buf),
            "&" + std::string(20, 'a') + ";");
  EXPECT_EQ(xml_local_name("soap:Body"), "Body");
  EXPECT_EQ(xml_local_name("Body"), "Body");
}

}  // namespace
}  // namespace twin::traffic
