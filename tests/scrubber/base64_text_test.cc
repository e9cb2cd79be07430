// Text in base64 (scrubber/src/base64_text.h): what is read as text and what is not, and that
// encoding gives back the original spelling.
#include "base64_text.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "twin/traffic/text.h"

namespace twin::scrubber {
namespace {

std::string decoded(std::string_view in, Base64Style* style_out = nullptr) {
  std::string out;
  Base64Style style;
  if (!decode_base64_text(in, out, style)) return "<none>";
  if (style_out) *style_out = style;
  return out;
}

TEST(Base64Text, CursorsAndStateAreText) {
  Base64Style s;
  EXPECT_EQ(decoded("eyJpZCI6MTIzNDV9", &s), R"({"id":12345})");
  EXPECT_TRUE(s.url);  // no '+' '/' '-' '_' and no padding: URL-safe is the guess
  EXPECT_FALSE(s.padded);
  EXPECT_EQ(decoded("YXJyYXljb25uZWN0aW9uOjE5", &s), "arrayconnection:19");
  EXPECT_EQ(decoded("YXJyYXljb25uZWN0aW9uOjA=", &s), "arrayconnection:0");
  EXPECT_FALSE(s.url);
  EXPECT_TRUE(s.padded);
  // UTF-8 and line breaks are text
  EXPECT_EQ(decoded("eyJuIjoiWm/DqyJ9", &s), "{\"n\":\"Zo\xc3\xab\"}");
  EXPECT_FALSE(s.url);  // the '/' says standard
  EXPECT_EQ(decoded("eyJuIjoiWm_DqyJ9", &s), "{\"n\":\"Zo\xc3\xab\"}");
  EXPECT_TRUE(s.url);
  EXPECT_EQ(decoded("YQpi"), "a\nb");
}

TEST(Base64Text, NotText) {
  EXPECT_EQ(decoded(""), "<none>");
  EXPECT_EQ(decoded("YWJj*"), "<none>");     // a byte outside both alphabets
  EXPECT_EQ(decoded("YWJjZ"), "<none>");     // 5 characters: no such length
  EXPECT_EQ(decoded("YW+j_A"), "<none>");    // both alphabets
  EXPECT_EQ(decoded("YWJjZA="), "<none>");   // padding that does not complete the quantum
  EXPECT_EQ(decoded("YWJj===="), "<none>");  // padding after a whole quantum
  EXPECT_EQ(decoded("YWJjZB=="), "<none>");  // the last character's unused bits set
  EXPECT_EQ(decoded("AAECAwQF"), "<none>");  // control bytes
  EXPECT_EQ(decoded("wyg="), "<none>");      // not UTF-8 (0xC3 0x28)
  EXPECT_EQ(decoded("f39/"), "<none>");      // DEL
  EXPECT_EQ(decoded("MTIz"), "123");         // (text, for the contrast)
}

TEST(Base64Text, EncodeGivesBackTheSpelling) {
  for (std::string_view in : {"eyJpZCI6MTIzNDV9", "YXJyYXljb25uZWN0aW9uOjA=", "eyJuIjoiWm/DqyJ9",
                              "eyJuIjoiWm_DqyJ9", "YQpi", "YWI=", "YWI", "YQ==", "YQ"}) {
    std::string text;
    Base64Style style;
    ASSERT_TRUE(decode_base64_text(in, text, style)) << in;
    std::string back = "#";
    encode_base64(text, style, back);
    EXPECT_EQ(back, "#" + std::string(in)) << in;
  }
}

TEST(Base64Text, EncodeMatchesTheStandardEncoder) {
  std::mt19937 rng(7);
  for (int round = 0; round < 500; ++round) {
    std::string bytes(rng() % 40, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    std::string ours;
    encode_base64(bytes, Base64Style{false, true}, ours);
    EXPECT_EQ(ours, traffic::base64_encode(bytes));
  }
}

// Random bytes, as a secret's are, are almost never text: over 20,000 random 15-byte values
// (the shortest a 20-character secret run holds) in both alphabets, none decodes as text.
TEST(Base64Text, RandomSecretsAreNotText) {
  std::mt19937 rng(11);
  int text = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string bytes(15 + rng() % 30, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    std::string enc;
    encode_base64(bytes, Base64Style{round % 2 == 0, false}, enc);
    std::string out;
    Base64Style style;
    text += decode_base64_text(enc, out, style);
  }
  EXPECT_EQ(text, 0);
}

}  // namespace
}  // namespace twin::scrubber
