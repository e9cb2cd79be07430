#include "keyvalue.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace twin::scrubber {
namespace {

using Seen = std::pair<std::string, std::string>;  // key, value

class Recorder : public KeyValueVisitor {
 public:
  std::function<bool(std::string_view, std::string&)> replace;
  std::vector<Seen> seen;
  bool visit(std::string_view key, std::string_view value, std::string& out) override {
    seen.emplace_back(std::string(key), std::string(value));
    return replace ? replace(key, out) : false;
  }
};

TEST(RewriteKeyValue, PropertiesAndEnvFiles) {
  const std::string in =
      "# Spring Cloud Config\r\n"
      "spring.datasource.url = jdbc:postgresql://db:5432/shop\r\n"
      "spring.datasource.password=hunter2  \r\n"
      "\r\n"
      "! legacy comment\n"
      "[section maria@example.org]\n"
      "export DB_USER=app\n"
      "  admin.email: ops@example.org\n"
      "EMPTY=\n"
      "list[0]=a=b";
  Recorder r;
  std::string out;
  const auto res = rewrite_key_value_lines(in, r, out);
  ASSERT_TRUE(res.valid) << res.error_offset;
  EXPECT_EQ(out, in);
  EXPECT_EQ(res.pairs, 6u);
  EXPECT_THAT(r.seen,
              ::testing::ElementsAre(
                  Seen{"", " Spring Cloud Config"},
                  Seen{"spring.datasource.url", "jdbc:postgresql://db:5432/shop"},
                  Seen{"spring.datasource.password", "hunter2"}, Seen{"", " legacy comment"},
                  Seen{"", "[section maria@example.org]"}, Seen{"DB_USER", "app"},
                  Seen{"admin.email", "ops@example.org"}, Seen{"list[0]", "a=b"}));
  r.seen.clear();
  r.replace = [](std::string_view key, std::string& out) {
    if (key.empty()) return false;
    out = "R\nX";
    return true;
  };
  ASSERT_TRUE(rewrite_key_value_lines(in, r, out).valid);
  EXPECT_EQ(out,
            "# Spring Cloud Config\r\n"
            "spring.datasource.url = R X\r\n"
            "spring.datasource.password=R X  \r\n"
            "\r\n"
            "! legacy comment\n"
            "[section maria@example.org]\n"
            "export DB_USER=R X\n"
            "  admin.email: R X\n"
            "EMPTY=\n"
            "list[0]=R X");
}

TEST(RewriteKeyValue, OtherTextIsNotSuchADocument) {
  Recorder r;
  std::string out;
  struct Case {
    std::string in;
    size_t at;
  };
  const Case cases[] = {
      {"a=1\nthis is prose\nb=2\n", 4},
      {"only=one\n# and a comment\n", 25},  // one pair: its end
      {"<html>\n", 0},
      {"a=1\n=2\n", 4},
      {"a=1\n9b=2\n", 4},
      {"", 0},
  };
  for (const Case& c : cases) {
    const auto res = rewrite_key_value_lines(c.in, r, out);
    EXPECT_FALSE(res.valid) << c.in;
    EXPECT_EQ(res.error_offset, c.at) << c.in;
  }
  EXPECT_TRUE(r.seen.empty());  // nothing visited when the body is not one
}

}  // namespace
}  // namespace twin::scrubber
