#include "csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

namespace twin::scrubber {
namespace {

using Seen = std::tuple<bool, std::string, std::string>;  // header, column, value

class Recorder : public CsvVisitor {
 public:
  std::function<bool(std::string_view, std::string_view, std::string&)> replace;
  std::vector<Seen> seen;
  bool visit(bool header, std::string_view column, std::string_view value,
             std::string& out) override {
    seen.emplace_back(header, std::string(column), std::string(value));
    return replace && !header ? replace(column, value, out) : false;
  }
};

TEST(RewriteCsv, FieldsByColumnQuotedAndNot) {
  const std::string in =
      "id,name,\"e\"\"mail\",note\r\n"
      "1,Maria Okafor,maria@example.org,\"a, b\r\nc\"\r\n"
      "2,,\"\",x,extra\n"
      "3,Jo\n";
  Recorder r;
  std::string out;
  auto res = rewrite_csv(in, ',', r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(out, in);
  EXPECT_EQ(res.records, 4u);
  EXPECT_THAT(r.seen,
              ::testing::ElementsAre(Seen{true, "", "id"}, Seen{true, "", "name"},
                                     Seen{true, "", "e\"mail"}, Seen{true, "", "note"},
                                     Seen{false, "id", "1"}, Seen{false, "name", "Maria Okafor"},
                                     Seen{false, "e\"mail", "maria@example.org"},
                                     Seen{false, "note", "a, b\r\nc"}, Seen{false, "id", "2"},
                                     Seen{false, "note", "x"}, Seen{false, "", "extra"},
                                     Seen{false, "id", "3"}, Seen{false, "name", "Jo"}));
}

TEST(RewriteCsv, ReplacementsAreQuotedWhenTheyMustBe) {
  const std::string in = "a,b,c\nplain,\"quoted\",keep\n";
  Recorder r;
  r.replace = [](std::string_view column, std::string_view, std::string& out) {
    if (column == "c") return false;
    out = column == "a" ? "x,\"y\"" : "z";
    return true;
  };
  std::string out;
  auto res = rewrite_csv(in, ',', r, out);
  ASSERT_TRUE(res.valid);
  EXPECT_EQ(out, "a,b,c\n\"x,\"\"y\"\"\",\"z\",keep\n");
  Recorder again;
  std::string out2;
  ASSERT_TRUE(rewrite_csv(out, ',', again, out2).valid);
  EXPECT_EQ(std::get<2>(again.seen[3]), "x,\"y\"");
  EXPECT_EQ(std::get<2>(again.seen[4]), "z");
}

TEST(RewriteCsv, TabsAndBrokenQuotes) {
  Recorder r;
  std::string out;
  ASSERT_TRUE(rewrite_csv("ssn\tcity\n123456789\tSpringfield", '\t', r, out).valid);
  EXPECT_THAT(r.seen, ::testing::Contains(Seen{false, "city", "Springfield"}));
  Recorder bad;
  auto res = rewrite_csv("a,b\n\"never closed,1\n", ',', bad, out);
  EXPECT_FALSE(res.valid);
  EXPECT_EQ(res.error_offset, 20u);  // the end of the input
  res = rewrite_csv("a,b\n\"x\"y,1\n", ',', bad, out);
  EXPECT_FALSE(res.valid);
  EXPECT_EQ(res.error_offset, 7u);
}

}  // namespace
}  // namespace twin::scrubber
