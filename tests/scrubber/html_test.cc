// Where the scrubber looks for data in HTML pages and JSONP answers (scrubber/src/html.h).

#include "html.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace twin::scrubber {
namespace {

// Each region as "J:<text>" or "F:<name>=<text>".
std::vector<std::string> regions(std::string_view html) {
  std::vector<HtmlRegion> found;
  find_html_regions(html, found);
  std::vector<std::string> out;
  for (const auto& r : found) {
    const std::string text(html.substr(r.begin, r.end - r.begin));
    out.push_back(r.kind == HtmlRegion::Kind::kJson ? "J:" + text
                                                    : "F:" + std::string(r.name) + "=" + text);
  }
  return out;
}

using V = std::vector<std::string>;

TEST(Html, JsonScriptsWholeAndLiteralsAssignedInOtherScripts) {
  EXPECT_EQ(regions("<script type=\"application/ld+json\">\n{\"a\":1}\n</script>"),
            (V{"J:\n{\"a\":1}\n"}));
  EXPECT_EQ(regions("<ScRiPt TYPE=application/JSON>[1]</sCrIpT >"), (V{"J:[1]"}));
  EXPECT_EQ(regions("<script>var a = {\"x\":\"}\"}; b=[2]; if (c == {}) {} d => {e}; f != [3];"
                    " g <= [4]</script>"),
            (V{"J:{\"x\":\"}\"}", "J:[2]"}));
  // a literal inside a literal is not looked at again; an unclosed one is none
  EXPECT_EQ(regions("<script>x = {\"a\": {\"b\": 1}, \"c\": y = [1]}; z = {\"open\": 1</script>"),
            (V{"J:{\"a\": {\"b\": 1}, \"c\": y = [1]}"}));
  // an empty JSON script, and a script that never ends, give nothing
  EXPECT_EQ(regions("<script type=application/json></script><script>x = {}"), V{});
}

TEST(Html, FormControlsWithANameAndAValue) {
  EXPECT_EQ(regions("<form><input type=text name=first_name value=Alice>"
                    "<INPUT value='12 Main St' NAME='address'/>"
                    "<input name=\"a\" value=\"\"><input value=\"no name\">"
                    "<input name = \"b\" value = \"x y\" disabled>"
                    "<textarea name=note>line 1\nline 2</textarea><textarea>anon</textarea>"),
            (V{"F:first_name=Alice", "F:address=12 Main St", "F:b=x y", "F:note=line 1\nline 2"}));
}

TEST(Html, CommentsStylesAndTextArePassedOver) {
  EXPECT_EQ(regions("<!-- <input name=a value=b> --><style>x = {\"a\":1}</style>"
                    "a < b and c <= d <p title=\"<input name=c value=d>\">text</p>"
                    "<input name=e value=f>"),
            (V{"F:e=f"}));
  // a comment or a tag that never ends ends the scan
  EXPECT_EQ(regions("<input name=a value=b><!-- <input name=c value=d>"), (V{"F:a=b"}));
  EXPECT_EQ(regions("<input name=a value=b><input name=\"c value=d>"), (V{"F:a=b"}));
}

TEST(Html, JsonpArguments) {
  const auto arg = [](std::string_view body) {
    size_t begin = 0, end = 0;
    return jsonp_argument(body, begin, end) ? std::string(body.substr(begin, end - begin))
                                            : std::string("<none>");
  };
  EXPECT_EQ(arg("cb({\"a\":1});"), "{\"a\":1}");
  EXPECT_EQ(arg("/**/ jQuery_1.cb ( [1] ) ;\n"), " [1] ");
  EXPECT_EQ(arg("$x({})"), "{}");
  EXPECT_EQ(arg("cb(\"text\")"), "<none>");
  EXPECT_EQ(arg("1cb({})"), "<none>");
  EXPECT_EQ(arg("var a = cb({})"), "<none>");
  EXPECT_EQ(arg("cb({}) + 1"), "<none>");
  EXPECT_EQ(arg("cb()"), "<none>");
}

TEST(Html, LiteralEnds) {
  EXPECT_EQ(json_literal_end("{\"a\":[1,{\"b\":\"]}\\\"\"}]} tail", 0), 22u);
  EXPECT_EQ(json_literal_end("[[]", 0), std::string_view::npos);
  EXPECT_EQ(json_literal_end("{\"a\":\"}", 0), std::string_view::npos);
  EXPECT_EQ(json_literal_end("{]", 0), 2u);  // (brackets matched by count: JSON validates)
}

}  // namespace
}  // namespace twin::scrubber
