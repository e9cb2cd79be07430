// The selection expression (pipelines/src/select.h): every key and operator, quoting, status
// classes, error=any/none, and errors that name the column.

#include "select.h"

#include <gtest/gtest.h>

#include <string>

namespace twin::cli {
namespace {

using traffic::ErrorKind;
using traffic::Exchange;

Exchange make(std::string method, std::string target, int status = 200, std::string body = "") {
  Exchange e;
  e.id = 7;
  e.origin_id = 3;
  e.session = 12;
  e.seq = 1;
  e.request.method = std::move(method);
  e.request.target = std::move(target);
  e.request.body = "{\"qty\": 2}";
  e.response.emplace();
  e.response->status = status;
  e.response->body = std::move(body);
  return e;
}

Selector sel(const std::string& text) {
  auto s = Selector::parse(text, "--where");
  EXPECT_TRUE(s.has_value()) << text << ": " << (s ? "" : s.error().message);
  return s ? std::move(*s) : Selector();
}

bool match(const std::string& text, const Exchange& e) { return sel(text).matches(e); }

std::string error_of(const std::string& text) {
  auto s = Selector::parse(text, "--where");
  EXPECT_FALSE(s.has_value()) << text;
  return s ? std::string() : s.error().message;
}

TEST(Selector, EmptySelectsEverything) {
  auto s = sel("");
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.matches(make("GET", "/")));
  EXPECT_TRUE(sel("   ").empty());
  EXPECT_FALSE(sel("method=GET").empty());
  EXPECT_EQ(sel("method=GET  status=5xx").text(), "method=GET  status=5xx");
}

TEST(Selector, Method) {
  auto get = make("GET", "/a");
  EXPECT_TRUE(match("method=GET", get));
  EXPECT_TRUE(match("method=get", get));  // case-insensitive
  EXPECT_TRUE(match("method=get", make("get", "/a")));
  EXPECT_TRUE(match("method=POST|GET", get));
  EXPECT_FALSE(match("method=POST|PUT", get));
  EXPECT_FALSE(match("method!=GET", get));
  EXPECT_TRUE(match("method!=POST|PUT", get));
  EXPECT_TRUE(match("method~^G", get));
  EXPECT_FALSE(match("method!~^G", get));
}

TEST(Selector, RouteGlob) {
  EXPECT_TRUE(match("route=/api/users/*", make("GET", "/api/users/7?x=1")));
  EXPECT_FALSE(match("route=/api/users/*", make("GET", "/api/users/7/orders")));
  EXPECT_TRUE(match("route=/api/**", make("GET", "/api/users/7/orders")));
  EXPECT_TRUE(match("route=/static/*.css", make("GET", "/static/style.css")));
  EXPECT_TRUE(match("route=/api/users/*", make("GET", "http://h:8080/api/users/7")));
  EXPECT_TRUE(match("route=/x|/api/search", make("GET", "/api/search?q=a")));
  EXPECT_TRUE(match("route!=/static/**", make("GET", "/api/search")));
  EXPECT_TRUE(match("route~^/api/users/[0-9]+$", make("GET", "/api/users/7?q")));
  EXPECT_FALSE(match("route~q", make("GET", "/api/users/7?q")));  // the query is not the route
}

TEST(Selector, PathRegexOnly) {
  auto e = make("GET", "/api/v2/items?page=3");
  EXPECT_TRUE(match("path~\"^/api/v2/\"", e));
  EXPECT_TRUE(match("path~page=3", e));  // with the query
  EXPECT_FALSE(match("path!~page=3", e));
  EXPECT_TRUE(match("path!~^/static", e));
  EXPECT_EQ(error_of("path=/api"),
            "--where: column 5: 'path' takes ~ or !~ (a regular expression)");
}

TEST(Selector, StatusCodesClassesAndNone) {
  auto e500 = make("GET", "/", 500);
  auto e404 = make("GET", "/", 404);
  auto none = make("GET", "/");
  none.response.reset();
  EXPECT_TRUE(match("status=500", e500));
  EXPECT_TRUE(match("status=5xx", e500));
  EXPECT_TRUE(match("status=5XX", e500));
  EXPECT_FALSE(match("status=5xx", e404));
  EXPECT_TRUE(match("status=4xx|5xx", e404));
  EXPECT_TRUE(match("status=200|404", e404));
  EXPECT_TRUE(match("status!=2xx", e404));
  EXPECT_FALSE(match("status!=4xx", e404));
  EXPECT_TRUE(match("status=none", none));
  EXPECT_FALSE(match("status=5xx", none));
  EXPECT_TRUE(match("status!=5xx", none));
  EXPECT_FALSE(match("status=none", e500));
  EXPECT_EQ(error_of("status=abc"),
            "--where: column 8: status 'abc': expected a code (500), a class (5xx) or none (no "
            "response)");
  EXPECT_NE(error_of("status=5000").find("column 8"), std::string::npos);
  EXPECT_NE(error_of("status=0xx").find("column 8"), std::string::npos);
  EXPECT_NE(error_of("status=500|x").find("column 12"), std::string::npos);
  EXPECT_EQ(error_of("status~5"), "--where: column 7: 'status' takes = or != (not ~)");
}

TEST(Selector, ErrorAnyNoneAndKinds) {
  auto ok = make("GET", "/");
  auto timeout = make("GET", "/");
  timeout.error = ErrorKind::kTimeout;
  timeout.response.reset();
  EXPECT_TRUE(match("error=none", ok));
  EXPECT_FALSE(match("error=any", ok));
  EXPECT_TRUE(match("error=any", timeout));
  EXPECT_FALSE(match("error=none", timeout));
  EXPECT_TRUE(match("error=timeout", timeout));
  EXPECT_TRUE(match("error=reset|timeout", timeout));
  EXPECT_FALSE(match("error=reset|connect", timeout));
  EXPECT_TRUE(match("error!=none", timeout));
  EXPECT_TRUE(match("error!=timeout", ok));
  const auto msg = error_of("error=boom");
  EXPECT_NE(msg.find("column 7: unknown error kind 'boom' (none, any, connect, timeout"),
            std::string::npos)
      << msg;
}

TEST(Selector, TargetSessionIdOrigin) {
  auto e = make("GET", "/");
  EXPECT_TRUE(match("target=\"\"", e));  // a capture has no target name
  e.target = "candidate";
  EXPECT_TRUE(match("target=candidate", e));
  EXPECT_TRUE(match("target=baseline|candidate", e));
  EXPECT_FALSE(match("target!=candidate", e));
  EXPECT_TRUE(match("target~^cand", e));
  EXPECT_TRUE(match("session=12", e));
  EXPECT_TRUE(match("session=1|12|40", e));
  EXPECT_FALSE(match("session!=12", e));
  EXPECT_TRUE(match("id=7", e));
  EXPECT_FALSE(match("id=8", e));
  EXPECT_TRUE(match("origin=3", e));
  EXPECT_TRUE(match("origin!=4", e));
  EXPECT_EQ(error_of("session=x"),
            "--where: column 9: session 'x': expected a non-negative integer");
  EXPECT_NE(error_of("id=-1").find("column 4"), std::string::npos);
  EXPECT_NE(error_of("origin~1").find("column 7: 'origin' takes = or !="), std::string::npos);
}

TEST(Selector, BodiesWithQuotes) {
  auto e =
      make("POST", "/api/orders", 409, "{\"error\": \"out of stock\", \"say\": \"a \\\"b\\\"\"}");
  EXPECT_TRUE(match("body~\"out of stock\"", e));
  EXPECT_FALSE(match("body!~\"out of stock\"", e));
  EXPECT_TRUE(match("body~\"in stock\"|\"out of stock\"", e));
  EXPECT_FALSE(match("body~\"in stock\"", e));
  EXPECT_TRUE(match("body!~\"in stock\"", e));
  // \" is a quote and \\ a backslash inside quotes; other backslashes reach RE2 as they are.
  EXPECT_TRUE(match(R"(body~"a \\\\\"b")", e));  // regex a \\"b: a backslash, a quote
  EXPECT_TRUE(match(R"(body~"\"error\":\s+\"out")", e));
  EXPECT_TRUE(match("request_body~qty", e));
  EXPECT_TRUE(match("request_body~\"\\\"qty\\\": 2\"", e));
  EXPECT_FALSE(match("request_body~price", e));
  auto none = make("GET", "/");
  none.response.reset();
  EXPECT_FALSE(match("body~.", none));
  EXPECT_TRUE(match("body!~x", none));
  EXPECT_EQ(error_of("body=x"), "--where: column 5: 'body' takes ~ or !~ (a regular expression)");
}

TEST(Selector, TermsAreAnded) {
  auto e = make("POST", "/api/checkout", 500);
  EXPECT_TRUE(match("status=500 route=/api/checkout", e));
  EXPECT_TRUE(match("status=5xx method=POST route=/api/**", e));
  EXPECT_FALSE(match("status=500 route=/api/cart", e));
  EXPECT_FALSE(match("status=500 method=GET", e));
  EXPECT_TRUE(match("  status=500\troute=/api/checkout  ", e));
}

TEST(Selector, BadExpressionsNameTheColumn) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {"stauts=500",
            "--where: column 1: unknown key 'stauts' (method, route, path, status, error, target, "
            "session, id, origin, body, request_body)"},
           {"method=GET stauts=500", "--where: column 12: unknown key 'stauts'"},
           {"method", "--where: column 7: expected an operator (=, !=, ~ or !~) after 'method'"},
           {"method GET", "--where: column 7: expected an operator"},
           {"method<GET", "--where: column 7: expected an operator"},
           {"=GET", "--where: column 1: expected KEY OP VALUE"},
           {"method=", "--where: column 8: empty value"},
           {"method=GET|", "--where: column 12: empty value"},
           {"body~\"out of", "--where: column 6: unterminated quote"},
           {"method=GE\"T", "--where: column 10: a quote inside a value"},
           {"body~\"a\"b", "--where: column 9: unexpected 'b' after a value"},
           {"body~(", "--where: column 6: bad regular expression for 'body': "},
           {"route=api/*", "--where: column 7: route 'api/*': a glob on the path"},
       }) {
    const auto msg = error_of(c.text);
    EXPECT_EQ(msg.substr(0, std::string(c.error).size()), c.error) << c.text << " → " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
  }
  // The name given appears in the message.
  auto s = Selector::parse("x=1", "pipeline.yaml:12");
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.error().message.rfind("pipeline.yaml:12: column 1:", 0), 0u) << s.error().message;
}

TEST(Selector, MovesAndDefaults) {
  Selector a = sel("status=5xx");
  Selector b = std::move(a);
  EXPECT_TRUE(b.matches(make("GET", "/", 503)));
  EXPECT_FALSE(b.matches(make("GET", "/", 200)));
  Selector c;
  EXPECT_TRUE(c.empty());
  EXPECT_TRUE(c.matches(make("GET", "/")));
  c = std::move(b);
  EXPECT_FALSE(c.matches(make("GET", "/", 200)));
}

}  // namespace
}  // namespace twin::cli
