#include "urlencoded.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace twin::scrubber {
namespace {

using ::testing::ElementsAre;

struct Pair {
  std::string name;
  std::string value;
  bool has_value;
  bool operator==(const Pair&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Pair& p) {
  return os << "{'" << p.name << "'" << (p.has_value ? "='" + p.value + "'" : "") << "}";
}

// Replaces (or drops) through a function of the decoded name and value.
class Recorder : public FormVisitor {
 public:
  using Replace = std::function<bool(std::string_view, std::string_view, std::string&, bool&)>;
  Recorder() = default;
  explicit Recorder(Replace replace) : replace_(std::move(replace)) {}
  bool visit(std::string_view name, std::string_view value, bool has_value,
             std::string& replacement, bool& drop) override {
    pairs.push_back({std::string(name), std::string(value), has_value});
    return replace_ ? replace_(name, value, replacement, drop) : false;
  }
  std::vector<Pair> pairs;

 private:
  Replace replace_;
};

struct Rewrite {
  FormRewriteResult result;
  std::string out;
  std::vector<Pair> pairs;
};

Rewrite run(std::string_view in, Recorder::Replace replace = nullptr) {
  Recorder rec(std::move(replace));
  Rewrite r;
  r.result = rewrite_urlencoded(in, rec, r.out);
  r.pairs = std::move(rec.pairs);
  return r;
}

// Replaces the value of `name` with `with`.
Recorder::Replace replace(std::string name, std::string with) {
  return [name, with](std::string_view n, std::string_view, std::string& out, bool&) {
    if (n != name) return false;
    out = with;
    return true;
  };
}

Recorder::Replace drop(std::vector<std::string> names) {
  return [names](std::string_view n, std::string_view, std::string&, bool& d) {
    for (const std::string& name : names) d = d || n == name;
    return false;
  };
}

TEST(Urlencoded, IdentityIsByteExact) {
  for (const char* in : {"", "a=1", "a=1&b=2", "a", "a&b", "=v", "a=", "&", "&&a=1&&", "a=1;b=2",
                         "a=%zz%4&b=%", "q=caf%C3%A9+au+lait&x=%2f%2F", "a==b=c", "+=+",
                         "email=ann%40example.com&next=%2Fhome%3Fx%3D1"}) {
    const Rewrite r = run(in);
    EXPECT_EQ(r.out, in);
    EXPECT_EQ(r.result.replaced, 0u);
  }
}

TEST(Urlencoded, DecodesNamesAndValues) {
  const Rewrite r = run("a+b=c%20d&flag&=v&e=&caf%C3%A9=%E2%82%AC;x&k=a=b&&");
  EXPECT_THAT(r.pairs,
              ElementsAre(Pair{"a b", "c d", true}, Pair{"flag", "", false}, Pair{"", "v", true},
                          Pair{"e", "", true}, Pair{"caf\xC3\xA9", "\xE2\x82\xAC;x", true},
                          Pair{"k", "a=b", true}));
  EXPECT_EQ(r.result.pairs, 6u);
  EXPECT_EQ(r.result.bad_escapes, 0u);
}

TEST(Urlencoded, BadEscapesAreCountedAndKept) {
  const Rewrite r = run("a=%zz&b=%4&c=%&d=100%25&%g=1");
  EXPECT_THAT(r.pairs,
              ElementsAre(Pair{"a", "%zz", true}, Pair{"b", "%4", true}, Pair{"c", "%", true},
                          Pair{"d", "100%", true}, Pair{"%g", "1", true}));
  EXPECT_EQ(r.result.bad_escapes, 4u);
  EXPECT_EQ(r.out, "a=%zz&b=%4&c=%&d=100%25&%g=1");
}

TEST(Urlencoded, ReplacementKeepsTheSpaceStyle) {
  EXPECT_EQ(run("q=hello+world&x=1", replace("q", "a b")).out, "q=a+b&x=1");
  EXPECT_EQ(run("q=hello%20world&x=1", replace("q", "a b")).out, "q=a%20b&x=1");
  // The value shows no style: the rest of the input does.
  EXPECT_EQ(run("q=hello&x=a+b", replace("q", "a b")).out, "q=a+b&x=a+b");
  EXPECT_EQ(run("q=hello&x=a%20b", replace("q", "a b")).out, "q=a%20b&x=a%20b");
  // Nothing shows: %20.
  EXPECT_EQ(run("q=hello&x=1", replace("q", "a b")).out, "q=a%20b&x=1");
}

TEST(Urlencoded, ReplacementKeepsTheHexCase) {
  EXPECT_EQ(run("p=%2fhome", replace("p", "/a?b")).out, "p=%2fa%3fb");
  EXPECT_EQ(run("p=%2Fhome", replace("p", "/a?b")).out, "p=%2Fa%3Fb");
  EXPECT_EQ(run("p=x&o=%c3%a9", replace("p", "\xC3\xA9")).out, "p=%c3%a9&o=%c3%a9");
  EXPECT_EQ(run("p=x", replace("p", "\xC3\xA9")).out, "p=%C3%A9");
  // Digits alone say nothing about case.
  EXPECT_EQ(run("p=%20x&o=%ab", replace("p", ":")).out, "p=%3a&o=%ab");
}

TEST(Urlencoded, OnlyUnreservedBytesStayLiteral) {
  EXPECT_EQ(run("v=1", replace("v", "AZaz09-._~")).out, "v=AZaz09-._~");
  EXPECT_EQ(run("v=1", replace("v", "a&b=c+d/e%f")).out, "v=a%26b%3Dc%2Bd%2Fe%25f");
  const Rewrite r = run("v=1&w=2", replace("v", std::string("\0\xff", 2)));
  EXPECT_EQ(r.out, "v=%00%FF&w=2");
  EXPECT_EQ(run(r.out).pairs[0].value, std::string("\0\xff", 2));
}

TEST(Urlencoded, ReplacesABareName) {
  const Rewrite r = run("flag&x=1", replace("flag", "t 1"));
  EXPECT_EQ(r.out, "flag=t%201&x=1");
  EXPECT_EQ(r.result.replaced, 1u);
}

TEST(Urlencoded, KeepsEverythingElseExact) {
  const Rewrite r = run("A=%41&email=ann%40example.com&&b=%zz;c", replace("email", "tok_1"));
  EXPECT_EQ(r.out, "A=%41&email=tok_1&&b=%zz;c");
  EXPECT_EQ(r.result.pairs, 3u);
  EXPECT_EQ(r.result.replaced, 1u);
  EXPECT_EQ(r.result.bad_escapes, 1u);
}

TEST(Urlencoded, Drop) {
  EXPECT_EQ(run("a=1&b=2&c=3", drop({"a"})).out, "b=2&c=3");
  EXPECT_EQ(run("a=1&b=2&c=3", drop({"b"})).out, "a=1&c=3");
  EXPECT_EQ(run("a=1&b=2&c=3", drop({"c"})).out, "a=1&b=2");
  EXPECT_EQ(run("a=1&b=2&c=3", drop({"b", "c"})).out, "a=1");
  EXPECT_EQ(run("a=1&b=2&c=3", drop({"a", "b"})).out, "c=3");
  EXPECT_EQ(run("a=1&b=2&c=3", drop({"a", "c"})).out, "b=2");
  EXPECT_EQ(run("a=1&b=2&c=3", drop({"a", "b", "c"})).out, "");
  EXPECT_EQ(run("a=1", drop({"a"})).out, "");
  EXPECT_EQ(run("a=1&", drop({"a"})).out, "");
  EXPECT_EQ(run("x=1&&a=1", drop({"a"})).out, "x=1&");
  const Rewrite r = run("a=1&b=2&a=3", drop({"a"}));
  EXPECT_EQ(r.out, "b=2");
  EXPECT_EQ(r.result.dropped, 2u);
  EXPECT_EQ(r.result.pairs, 3u);
  // A replacement next to a drop.
  EXPECT_EQ(run("a=1&b=2&c=3",
                [](std::string_view n, std::string_view, std::string& out, bool& d) {
                  if (n == "c") d = true;
                  out = "X";
                  return n == "b";
                })
                .out,
            "a=1&b=X");
}

TEST(PercentCoding, DecodeAndEncode) {
  std::string out;
  percent_decode("a+b%20c%2B%zz", true, out);
  EXPECT_EQ(out, "a b c+%zz");
  out.clear();
  percent_decode("a+b%20c", false, out);
  EXPECT_EQ(out, "a+b c");
  out = "keep:";
  percent_encode("a b/é~", false, out);
  EXPECT_EQ(out, "keep:a%20b%2F%C3%A9~");
  out.clear();
  percent_encode("a b", true, out);
  EXPECT_EQ(out, "a+b");
}

TEST(PercentCoding, RoundTripsEveryByte) {
  std::mt19937 rng(7);
  for (int n = 0; n < 500; ++n) {
    std::string raw(rng() % 40, '\0');
    for (char& c : raw) c = static_cast<char>(rng());
    for (const bool plus : {false, true}) {
      std::string encoded;
      percent_encode(raw, plus, encoded);
      for (const char c : encoded) {
        ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) ||
                    std::string_view("-._~%+").find(c) != std::string_view::npos);
      }
      std::string decoded;
      percent_decode(encoded, plus, decoded);
      ASSERT_EQ(decoded, raw);
      // And through the rewriter: a replaced value reads back as it was given.
      const Rewrite r = run(plus ? "k=a+b" : "k=a%20b", replace("k", raw));
      ASSERT_EQ(run(r.out).pairs.at(0).value, raw);
    }
  }
}

TEST(Urlencoded, SaysWhereItWroteReplacedValues) {
  Recorder rec([](std::string_view n, std::string_view, std::string& out, bool& d) {
    d = n == "d";
    out = "a b@c";
    return n == "x" || n == "bare";
  });
  std::string out;
  std::vector<std::pair<size_t, size_t>> written = {{99, 99}};  // appended to, not cleared
  rewrite_urlencoded("x=1&d=2&k=v+w&bare&x=%20", rec, out, &written);
  EXPECT_EQ(out, "x=a+b%40c&k=v+w&bare=a+b%40c&x=a%20b%40c");
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(out.substr(written[1].first, written[1].second - written[1].first), "a+b%40c");
  EXPECT_EQ(out.substr(written[2].first, written[2].second - written[2].first), "a+b%40c");
  EXPECT_EQ(out.substr(written[3].first, written[3].second - written[3].first), "a%20b%40c");
  EXPECT_EQ(written[3].second, out.size());
}

TEST(PercentCoding, HasEscape) {
  EXPECT_TRUE(has_percent_escape("a%40b"));
  EXPECT_TRUE(has_percent_escape("%2b"));
  EXPECT_TRUE(has_percent_escape("100% and %7E"));
  EXPECT_FALSE(has_percent_escape(""));
  EXPECT_FALSE(has_percent_escape("a+b"));
  EXPECT_FALSE(has_percent_escape("100%"));
  EXPECT_FALSE(has_percent_escape("%4"));
  EXPECT_FALSE(has_percent_escape("%zz%g0%0g %"));
}

TEST(PercentCoding, DecodeMappedSaysWhereEachByteIsSpelled) {
  std::string out = "old";
  std::vector<uint32_t> at = {7};
  percent_decode_mapped("a%40b+c%zz%2", true, out, at);
  EXPECT_EQ(out, "a@b c%zz%2");
  EXPECT_THAT(at, ElementsAre(0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12));
  percent_decode_mapped("a+%2B", false, out, at);
  EXPECT_EQ(out, "a++");
  EXPECT_THAT(at, ElementsAre(0, 1, 2, 5));
  percent_decode_mapped("", false, out, at);
  EXPECT_EQ(out, "");
  EXPECT_THAT(at, ElementsAre(0));
  // The same bytes as percent_decode, always.
  std::mt19937 rng(11);
  const std::string alphabet = "%+aF0 4g";
  for (int n = 0; n < 2000; ++n) {
    std::string in(rng() % 12, 'x');
    for (char& c : in) c = alphabet[rng() % alphabet.size()];
    for (const bool plus : {false, true}) {
      std::string want;
      percent_decode(in, plus, want);
      percent_decode_mapped(in, plus, out, at);
      ASSERT_EQ(out, want) << in;
      ASSERT_EQ(at.size(), out.size() + 1);
      ASSERT_EQ(at.back(), in.size());
      for (size_t i = 0; i < out.size(); ++i) {
        std::string one;
        percent_decode(std::string_view(in).substr(at[i], at[i + 1] - at[i]), plus, one);
        ASSERT_EQ(one, out.substr(i, 1)) << in << " at " << i;
      }
    }
  }
}

TEST(PercentCoding, EncodeLikeKeepsTheOriginalsStyle) {
  auto like = [](std::string_view in, std::string_view original, bool plus) {
    std::string out;
    percent_encode_like(in, original, plus, out);
    return out;
  };
  // What the original escapes stays escaped, unreserved bytes and what it spells literally stay
  // literal, the hex case follows.
  EXPECT_EQ(like("kqzfp.ymnor@hjtwmbq.com", "alice.smith%40example.com", false),
            "kqzfp.ymnor%40hjtwmbq.com");
  EXPECT_EQ(like("x+y@z.org", "john%2bshop%40mail.org", false), "x%2by%40z.org");
  EXPECT_EQ(like("x+y@z.org", "john+shop%40mail.org", false), "x+y%40z.org");
  EXPECT_EQ(like("a@b", "a@b", false), "a@b");
  EXPECT_EQ(like("a@b%c", "a%40b", false), "a%40b%25c");  // '%' is always escaped
  EXPECT_EQ(like("\xC3\xA9", "%c3%a9", false), "%c3%a9");
  // Spaces: literal when the original has literal spaces, '+' when it spells them so.
  EXPECT_EQ(like("+1 415", "%2B1 555", false), "%2B1 415");
  EXPECT_EQ(like("a b+c", "x+y%40z", true), "a+b%2Bc");
  EXPECT_EQ(like("a b+c", "x%20y", true), "a%20b%2Bc");
  EXPECT_EQ(like("a b", "xy", true), "a%20b");
  // Anything the original does not show is escaped.
  EXPECT_EQ(like("a/b?c#d&e=f", "a%40b", false), "a%2Fb%3Fc%23d%26e%3Df");
  EXPECT_EQ(like("a&b", "a&b%40c", false), "a&b");
  EXPECT_EQ(like("a@b", "x@y%40z", false), "a%40b");  // escaped once: escaped
  // Decoding gives back the input, whatever the original.
  std::mt19937 rng(5);
  for (int n = 0; n < 1000; ++n) {
    std::string in(rng() % 20, '\0');
    for (char& c : in) c = static_cast<char>(rng());
    std::string original(rng() % 20, '\0');
    for (char& c : original) c = "%+ @.aB3"[rng() % 8];
    for (const bool plus : {false, true}) {
      const std::string encoded = like(in, original, plus);
      std::string decoded;
      percent_decode(encoded, plus, decoded);
      ASSERT_EQ(decoded, in);
    }
  }
}

}  // namespace
}  // namespace twin::scrubber
