// Route templates: segment classification, templates of targets, and the learner.

#include "twin/compare/route.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace twin::compare {
namespace {

struct Classified {
  std::string segment;
  std::string placeholder;  // "" = literal
};

TEST(ClassifySegment, Positives) {
  const std::vector<Classified> cases = {
      {"0", "{id}"},
      {"42", "{id}"},
      {"20240131", "{id}"},
      {"123456789012345678901234", "{id}"},
      {"+4915112345678", "{phone}"},
      {"%2B33612345678", "{phone}"},
      {"+1234567", "{phone}"},
      {"550e8400-e29b-41d4-a716-446655440000", "{uuid}"},
      {"550E8400-E29B-41D4-A716-446655440000", "{uuid}"},
      {"1a2b3c4d", "{hex}"},
      {"ABCDEF12", "{hex}"},
      {"507f1f77bcf86cd799439011", "{hex}"},          // Mongo ObjectId
      {"deadbeefdeadbeef", "{hex}"},                  // 16 hex letters
      {"d41d8cd98f00b204e9800998ecf8427e", "{hex}"},  // MD5
      {"2024-01-31", "{date}"},
      {"2024-01-31T10:00:00Z", "{date}"},
      {"2024-01-31T10:00", "{date}"},
      {"2024-01-31T10:00:00.123+01:00", "{date}"},
      {"2024-01-31T10%3A00%3A00Z", "{date}"},
      {"2024-01-31T10:00:00%2B0100", "{date}"},
      {"alice@example.com", "{email}"},
      {"first.last+tag@mail.example.co.uk", "{email}"},
      {"alice%40example.com", "{email}"},
      {"bob%40Example.ORG", "{email}"},
      {"aZ3kQ9xP0mN7bV2cL5wE", "{token}"},
      {"pi_3MtwBwLkdIwHu7ix28a3tqPa", "{token}"},
      {"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_"
       "XgL0n3I9PlFUP0THsR8U",
       "{token}"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(classify_segment(c.segment), c.placeholder) << c.segment;
  }
}

TEST(ClassifySegment, LookAlikesStayLiteral) {
  const std::vector<std::string> literals = {
      "",
      "users",
      "api",
      "static",
      "v1",
      "v2",
      "V10",
      "2.0",
      "1.2.3",
      "-1",
      "+123456",            // too short for a phone number
      "+1234567890123456",  // too long
      "+49-151-1234",       // not E.164
      "favicon.ico",
      "app.js",
      "index.html",
      "en-US",
      "ABC-123",
      "deadbeef",  // 8 hex letters, no digit
      "facade",
      "cafe",
      "abc123",   // hex, but shorter than 8
      "1a2b3c4",  // 7
      "sha256",
      "md5",
      "@alice",             // no local part
      "alice@localhost",    // no TLD
      "alice@example.c0m",  // TLD with a digit
      "alice@@example.com",
      "2024-13-01",  // no 13th month
      "2024-01-32",
      "2024-1-31",
      "2024-01-31T25:00",
      "2024-01-31T10",
      "2024-01-31x",
      "12:30",
      "internationalization",                // long word, no digits
      "my-trip-to-paris-2019-photos",        // slug: digits apart from letters
      "annual-report-2023-final-v2-draft3",  // slug with few alternations
      "ProductCategorySummerCollection2024",
      "zzzzzzzzzz1z1z1z1z1z",   // alternating, but few distinct characters
      "a1b2c3d4e5f6g7h8i9j0!",  // a character outside the token alphabet
      "%E2%9C%93",
      "caf%C3%A9",
      "*",
      "..",
  };
  for (const auto& s : literals) EXPECT_EQ(classify_segment(s), "") << s;
}

TEST(TemplateOf, Paths) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/users/42/orders?x=1", "/users/{id}/orders"},
      {"/users/42", "/users/{id}"},
      {"/", "/"},
      {"", "/"},
      {"?x=1", "/"},
      {"/?x=1", "/"},
      {"/a#frag", "/a"},
      {"/a?x=1#frag", "/a"},
      {"/a#frag?x", "/a"},
      {"*", "*"},
      {"example.com:443", "example.com:443"},
      {"http://example.com/users/7?q", "/users/{id}"},
      {"https://example.com:8443/a/b", "/a/b"},
      {"http://example.com", "/"},
      {"http://example.com?x=1", "/"},
      {"http://user@example.com#x", "/"},
      {"/a/", "/a/"},  // trailing slash kept: a different route
      {"/a", "/a"},
      {"//a", "//a"},
      {"/a//b/", "/a//b/"},
      {"/users/42/", "/users/{id}/"},
      {"/u/550e8400-e29b-41d4-a716-446655440000/x", "/u/{uuid}/x"},
      {"/mail/alice%40example.com/inbox", "/mail/{email}/inbox"},
      {"/reports/2024-01-31", "/reports/{date}"},
      {"/files/123.json", "/files/{id}.json"},
      {"/files/123.tar.gz", "/files/{id}.tar.gz"},
      {"/exports/2024-01-31.csv", "/exports/{date}.csv"},
      {"/assets/main.3f2a9c1b.js", "/assets/main.{hex}.js"},
      {"/assets/app.js", "/assets/app.js"},
      {"/lib/jquery-3.6.0.min.js", "/lib/jquery-3.6.0.min.js"},
      {"/dl/1.2.3.tar.gz", "/dl/1.2.3.tar.gz"},
      {"/api/2.0/items", "/api/2.0/items"},
      {"/api/v1/items/9", "/api/v1/items/{id}"},
      {"/a%2F1/b", "/a%2F1/b"},
      {"/robots.txt", "/robots.txt"},
      {"/.well-known/openid-configuration", "/.well-known/openid-configuration"},
  };
  for (const auto& [target, expected] : cases) EXPECT_EQ(template_of(target), expected) << target;
}

// Observes every target, finishes, and returns each target's final "METHOD route".
std::vector<std::string> learn(RouteLearner& learner,
                               const std::vector<std::pair<std::string, std::string>>& requests,
                               std::vector<RouteLearner::Route>& routes) {
  std::vector<uint32_t> ids;
  for (const auto& [method, target] : requests) ids.push_back(learner.observe(method, target));
  std::vector<uint32_t> mapping = learner.finish(routes);
  EXPECT_EQ(mapping.size(), learner.size());
  std::vector<std::string> names;
  for (uint32_t id : ids) {
    EXPECT_LT(id, mapping.size());
    EXPECT_LT(mapping[id], routes.size());
    const auto& r = routes[mapping[id]];
    names.push_back(r.method + " " + r.route);
  }
  return names;
}

std::vector<std::string> route_names(const std::vector<RouteLearner::Route>& routes) {
  std::vector<std::string> names;
  for (const auto& r : routes) names.push_back(r.method + " " + r.route);
  return names;
}

TEST(RouteLearner, NumbersAreOneRoute) {
  RouteLearner learner;
  std::vector<std::pair<std::string, std::string>> requests;
  for (int i = 1; i <= 500; ++i) requests.emplace_back("GET", "/users/" + std::to_string(i));
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, requests, routes);
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].method, "GET");
  EXPECT_EQ(routes[0].route, "/users/{id}");
  EXPECT_FALSE(routes[0].overridden);
  EXPECT_EQ(learner.folded(), 0u);
}

TEST(RouteLearner, SameTemplateSameIdMethodsApart) {
  RouteLearner learner;
  uint32_t a = learner.observe("GET", "/users/1");
  uint32_t b = learner.observe("GET", "/users/2?x=1");
  uint32_t c = learner.observe("POST", "/users/3");
  uint32_t d = learner.observe("GET", "http://h/users/4#f");
  EXPECT_EQ(a, 0u);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, d);
  EXPECT_NE(a, c);
  EXPECT_EQ(learner.size(), 2u);
  std::vector<RouteLearner::Route> routes;
  learner.finish(routes);
  EXPECT_EQ(route_names(routes), (std::vector<std::string>{"GET /users/{id}", "POST /users/{id}"}));
}

TEST(RouteLearner, ManyLiteralsCollapseFewDoNot) {
  RouteLearner learner;  // max_literals 32
  std::vector<std::pair<std::string, std::string>> requests;
  for (int i = 0; i < 100; ++i)
    requests.emplace_back("GET", "/users/name" + std::string(1, 'a' + i % 26) +
                                     std::string(1, 'a' + i / 26) + "/profile");
  for (const char* endpoint : {"search", "orders", "cart", "checkout", "health"}) {
    requests.emplace_back("GET", std::string("/api/") + endpoint);
  }
  requests.emplace_back("GET", "/users/42/profile");
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, requests, routes);
  EXPECT_EQ(route_names(routes),
            (std::vector<std::string>{"GET /api/cart", "GET /api/checkout", "GET /api/health",
                                      "GET /api/orders", "GET /api/search",
                                      "GET /users/{id}/profile", "GET /users/{param}/profile"}));
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(names[i], "GET /users/{param}/profile");
  EXPECT_EQ(names[100], "GET /api/search");
  EXPECT_EQ(names.back(), "GET /users/{id}/profile");
}

TEST(RouteLearner, LimitIsStrictlyMoreThan) {
  RouteOptions options;
  options.max_literals = 3;
  RouteLearner exactly(options);
  for (const char* s : {"/a/x", "/a/y", "/a/z"}) exactly.observe("GET", s);
  std::vector<RouteLearner::Route> routes;
  exactly.finish(routes);
  EXPECT_EQ(routes.size(), 3u);

  RouteLearner more(options);
  for (const char* s : {"/a/x", "/a/y", "/a/z", "/a/w", "/a/", "/a/{id}"}) more.observe("GET", s);
  more.finish(routes);
  // Empty segments and placeholders are not literals and stay.
  EXPECT_EQ(route_names(routes),
            (std::vector<std::string>{"GET /a/", "GET /a/{id}", "GET /a/{param}"}));
}

TEST(RouteLearner, MergedSubtreesCollapseFurther) {
  // Each name has one child of its own; once the names merge, {param} has 10 children.
  RouteOptions options;
  options.max_literals = 4;
  RouteLearner learner(options);
  std::vector<std::pair<std::string, std::string>> requests;
  for (int i = 0; i < 10; ++i) {
    requests.emplace_back(
        "GET", "/t/name" + std::string(1, 'a' + i) + "/part" + std::string(1, 'a' + i) + "/end");
  }
  requests.emplace_back("GET", "/t/namea/parta");  // ends a level higher: its own route
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, requests, routes);
  EXPECT_EQ(route_names(routes),
            (std::vector<std::string>{"GET /t/{param}/{param}", "GET /t/{param}/{param}/end"}));
  EXPECT_EQ(names[3], "GET /t/{param}/{param}/end");
  EXPECT_EQ(names.back(), "GET /t/{param}/{param}");
}

TEST(RouteLearner, CollapseIsPerMethod) {
  RouteOptions options;
  options.max_literals = 2;
  RouteLearner learner(options);
  for (const char* s : {"/p/a", "/p/b", "/p/c"}) learner.observe("GET", s);
  for (const char* s : {"/p/a", "/p/b"}) learner.observe("DELETE", s);
  std::vector<RouteLearner::Route> routes;
  learner.finish(routes);
  EXPECT_EQ(route_names(routes),
            (std::vector<std::string>{"DELETE /p/a", "DELETE /p/b", "GET /p/{param}"}));
}

TEST(RouteLearner, OverridesWinAndAreNotCollapsed) {
  RouteOptions options;
  options.max_literals = 3;
  options.overrides = {
      {"GET", "/users/me", ""},
      {"GET", "/users/*/avatar", "avatar"},
      {"", "/static/**", "static files"},
      {"POST", "/orders/{order}", ""},
  };
  RouteLearner learner(options);
  std::vector<std::pair<std::string, std::string>> requests = {
      {"GET", "/users/me"},          // 0
      {"GET", "/users/bob"},         // 1
      {"GET", "/users/carol"},       // 2
      {"GET", "/users/dave"},        // 3
      {"GET", "/users/erin"},        // 4
      {"GET", "/users/7/avatar"},    // 5: an override beats {id}
      {"GET", "/users/bob/avatar"},  // 6
      {"GET", "/users//avatar"},     // 7: '*' needs a segment
      {"HEAD", "/static/a/b.css"},   // 8
      {"GET", "/static"},            // 9: '**' matches nothing too
      {"GET", "/staticx"},           // 10
      {"POST", "/orders/1"},         // 11
      {"POST", "/orders/1/items"},   // 12
      {"PUT", "/orders/1"},          // 13
      {"GET", "/users/me?x=1"},      // 14
  };
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, requests, routes);
  EXPECT_EQ(names[0], "GET /users/me");
  EXPECT_EQ(names[1], "GET /users/{param}");
  EXPECT_EQ(names[4], "GET /users/{param}");
  EXPECT_EQ(names[5], "GET avatar");
  EXPECT_EQ(names[6], "GET avatar");
  EXPECT_EQ(names[7], "GET /users//avatar");
  EXPECT_EQ(names[8], "* static files");
  EXPECT_EQ(names[9], "* static files");
  EXPECT_EQ(names[10], "GET /staticx");
  EXPECT_EQ(names[11], "POST /orders/{order}");
  EXPECT_EQ(names[12], "POST /orders/{id}/items");
  EXPECT_EQ(names[13], "PUT /orders/{id}");
  EXPECT_EQ(names[14], "GET /users/me");
  for (const auto& r : routes) {
    bool expected = r.route == "/users/me" || r.route == "avatar" || r.route == "static files" ||
                    r.route == "/orders/{order}";
    EXPECT_EQ(r.overridden, expected) << r.method << " " << r.route;
  }
}

TEST(RouteLearner, FirstOverrideWins) {
  RouteOptions options;
  options.overrides = {{"", "/a/*", "first"}, {"GET", "/a/b", "second"}};
  RouteLearner learner(options);
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, {{"GET", "/a/b"}}, routes);
  EXPECT_EQ(names[0], "* first");
}

TEST(RouteLearner, MaxTemplatesFolds) {
  RouteOptions options;
  options.max_templates = 3;
  RouteLearner learner(options);
  std::vector<std::pair<std::string, std::string>> requests;
  for (const char* s : {"/a", "/b", "/c", "/d", "/e", "/a", "/f"}) requests.emplace_back("GET", s);
  requests.emplace_back("POST", "/g");
  requests.emplace_back("POST", "/h");
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, requests, routes);
  EXPECT_EQ(learner.folded(), 5u);  // /d /e /f, POST /g /h
  EXPECT_EQ(names[3], "GET {other}");
  EXPECT_EQ(names[5], "GET /a");  // known templates keep their route
  EXPECT_EQ(names[7], "POST {other}");
  EXPECT_EQ(route_names(routes), (std::vector<std::string>{"GET /a", "GET /b", "GET /c",
                                                           "GET {other}", "POST {other}"}));
}

TEST(RouteLearner, FoldedMethodsAreBounded) {
  RouteOptions options;
  options.max_templates = 0;
  RouteLearner learner(options);
  for (int i = 0; i < 1000; ++i) learner.observe("M" + std::to_string(i), "/x");
  EXPECT_EQ(learner.folded(), 1000u);
  EXPECT_LE(learner.size(), 65u);
  std::vector<RouteLearner::Route> routes;
  learner.finish(routes);
  EXPECT_EQ(routes.size(), learner.size());
  EXPECT_EQ(std::count_if(routes.begin(), routes.end(),
                          [](const auto& r) { return r.method == "*" && r.route == "{other}"; }),
            1);
}

TEST(RouteLearner, MappingIsConsistent) {
  RouteOptions options;
  options.max_literals = 5;
  RouteLearner learner(options);
  std::mt19937 random(7);
  std::vector<std::pair<std::string, std::string>> requests;
  for (int i = 0; i < 2000; ++i) {
    std::string name =
        "w" + std::string(1, 'a' + random() % 26) + std::string(1, 'a' + random() % 8);
    switch (random() % 5) {
      case 0:
        requests.emplace_back("GET", "/items/" + std::to_string(random() % 100000));
        break;
      case 1:
        requests.emplace_back("GET", "/tags/" + name);
        break;
      case 2:
        requests.emplace_back("PUT", "/tags/" + name + "/items/" + std::to_string(i));
        break;
      case 3:
        requests.emplace_back("GET", "/fixed/" + std::string(1, 'a' + random() % 3));
        break;
      default:
        requests.emplace_back("GET", "/tags/" + name + "/" + name);
        break;
    }
  }
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, requests, routes);
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& [method, target] = requests[i];
    std::string expected = method + " ";
    if (target.starts_with("/items/")) {
      expected += "/items/{id}";
    } else if (target.starts_with("/tags/") && method == "PUT") {
      expected += "/tags/{param}/items/{id}";
    } else if (target.starts_with("/tags/") && std::count(target.begin(), target.end(), '/') == 2) {
      expected += "/tags/{param}";
    } else if (target.starts_with("/tags/")) {
      expected += "/tags/{param}/{param}";
    } else {
      expected += target;
    }
    EXPECT_EQ(names[i], expected) << target;
  }
  EXPECT_TRUE(std::is_sorted(routes.begin(), routes.end(), [](const auto& a, const auto& b) {
    return std::tie(a.method, a.route) < std::tie(b.method, b.route);
  }));
  auto all = route_names(routes);
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
}

TEST(RouteLearner, OrderDoesNotMatter) {
  std::vector<std::pair<std::string, std::string>> requests;
  for (int i = 0; i < 40; ++i) {
    std::string name = "n" + std::string(1, 'a' + i % 26) + std::to_string(i / 26);
    requests.emplace_back("GET", "/u/" + name + "/posts/" + std::to_string(i));
    requests.emplace_back("GET", "/u/" + name);
    requests.emplace_back(i % 2 ? "POST" : "GET", "/x/" + std::string(1, 'a' + i % 7));
  }
  RouteOptions options;
  options.max_literals = 10;
  options.overrides = {{"GET", "/u/nb0", "bee"}};
  std::vector<RouteLearner::Route> first;
  RouteLearner a(options);
  auto names_a = learn(a, requests, first);
  std::map<std::string, std::string> route_of;
  for (size_t i = 0; i < requests.size(); ++i) {
    route_of[requests[i].first + " " + requests[i].second] = names_a[i];
  }
  std::mt19937 random(1);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(requests.begin(), requests.end(), random);
    RouteLearner b(options);
    std::vector<RouteLearner::Route> second;
    auto names_b = learn(b, requests, second);
    EXPECT_EQ(route_names(first), route_names(second));
    for (size_t i = 0; i < requests.size(); ++i) {
      EXPECT_EQ(names_b[i], route_of[requests[i].first + " " + requests[i].second]);
    }
  }
  EXPECT_EQ(route_of["GET /u/nb0"], "GET bee");
  EXPECT_EQ(route_of["GET /u/nc0"], "GET /u/{param}");
  EXPECT_EQ(route_of["GET /u/nc0/posts/2"], "GET /u/{param}/posts/{id}");
}

TEST(RouteLearner, TargetsWithoutPathAreKept) {
  RouteOptions options;
  options.max_literals = 1;
  RouteLearner learner(options);
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner,
                     {{"OPTIONS", "*"},
                      {"CONNECT", "a.example:443"},
                      {"CONNECT", "b.example:443"},
                      {"GET", ""},
                      {"GET", "/"},
                      {"GET", "/?q=1"}},
                     routes);
  EXPECT_EQ(names, (std::vector<std::string>{"OPTIONS *", "CONNECT a.example:443",
                                             "CONNECT b.example:443", "GET /", "GET /", "GET /"}));
}

TEST(RouteLearner, DeepPathsDoNotRecurse) {
  RouteOptions options;
  options.max_literals = 1;
  RouteLearner learner(options);
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "/s";
  learner.observe("GET", deep);
  learner.observe("GET", deep + "x");
  learner.observe("GET", "/t" + deep);
  std::vector<RouteLearner::Route> routes;
  auto mapping = learner.finish(routes);
  // "/s/.../s", "/s/.../sx" and "/t/s/.../s" merge at their first segment, then the first two at
  // their last one, while the third goes one deeper.
  ASSERT_EQ(routes.size(), 2u);
  ASSERT_EQ(mapping.size(), 3u);
  EXPECT_EQ(mapping[0], mapping[1]);
  EXPECT_NE(mapping[0], mapping[2]);
  EXPECT_TRUE(routes[mapping[0]].route.starts_with("/{param}/s/s/"));
  EXPECT_TRUE(routes[mapping[0]].route.ends_with("/s/{param}"));
  EXPECT_TRUE(routes[mapping[2]].route.ends_with("/s/{param}/s"));
}

TEST(RouteLearner, UnboundedLiteralsDoNotUseUpTemplates) {
  // One route with a name in the path and 100,000 names: they collapse while observing, so that
  // they neither fill max_templates nor fold into {other}.
  RouteOptions options;
  options.max_templates = 10000;
  RouteLearner learner(options);
  const std::vector<std::string> fixed = {"/api/search", "/api/orders", "/api/cart",
                                          "/api/checkout", "/health"};
  std::vector<std::pair<std::string, std::string>> requests;
  for (int i = 0; i < 100000; ++i) {
    requests.emplace_back("GET", "/api/users/name" + std::to_string(i) + "/profile");
    if (i % 1000 == 0) requests.emplace_back("GET", fixed[(i / 1000) % fixed.size()]);
  }
  for (int i = 0; i < 100; ++i) requests.emplace_back("GET", "/api/users/name7/profile");
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, requests, routes);
  EXPECT_EQ(learner.folded(), 0u);
  EXPECT_LT(learner.size(), 500u);
  EXPECT_EQ(route_names(routes),
            (std::vector<std::string>{"GET /api/cart", "GET /api/checkout", "GET /api/orders",
                                      "GET /api/search", "GET /api/users/{param}/profile",
                                      "GET /health"}));
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::string& target = requests[i].second;
    std::string expected =
        target.starts_with("/api/users/") ? "GET /api/users/{param}/profile" : "GET " + target;
    ASSERT_EQ(names[i], expected) << target;
  }
}

TEST(RouteLearner, CollapsedTemplatesShareIds) {
  RouteOptions options;
  options.max_literals = 2;
  RouteLearner learner(options);
  std::vector<uint32_t> ids;
  for (const char* s : {"/u/a/x", "/u/b/x", "/u/c/x", "/u/d/x", "/u/e/x", "/u/f/x", "/u/g/x"}) {
    ids.push_back(learner.observe("GET", s));
  }
  size_t size = learner.size();
  EXPECT_LT(size, ids.size());  // some names reuse the id of a collapsed one
  EXPECT_EQ(learner.observe("GET", "/u/g/x"), ids.back());  // the same id again
  uint32_t other = learner.observe("GET", "/u/h/y");        // not the same route: a new id
  EXPECT_EQ(learner.size(), size + 1);
  EXPECT_EQ(learner.observe("POST", "/u/zz/x"), size + 1);  // nor another method's
  std::vector<RouteLearner::Route> routes;
  auto mapping = learner.finish(routes);
  EXPECT_EQ(route_names(routes),
            (std::vector<std::string>{"GET /u/{param}/x", "GET /u/{param}/y", "POST /u/zz/x"}));
  for (uint32_t id : ids) EXPECT_EQ(routes[mapping[id]].route, "/u/{param}/x");
  EXPECT_EQ(routes[mapping[other]].route, "/u/{param}/y");
}

TEST(RouteLearner, TrulyDistinctRoutesStillFold) {
  // 100,000 names of one route, and 3,000 routes that do not collapse (no node with more than 32
  // literals), with room for 1,000 templates: the names take few, the rest fold.
  RouteOptions options;
  options.max_templates = 1000;
  RouteLearner learner(options);
  std::vector<std::pair<std::string, std::string>> requests;
  for (int i = 0; i < 100000; ++i) {
    requests.emplace_back("GET", "/api/users/name" + std::to_string(i) + "/profile");
    if (i % 30 == 0 && i / 30 < 3000) {
      int n = i / 30;
      requests.emplace_back("GET", "/g" + std::to_string(n / 100) + "/h" +
                                       std::to_string(n / 10 % 10) + "/k" + std::to_string(n % 10));
    }
  }
  std::vector<RouteLearner::Route> routes;
  auto names = learn(learner, requests, routes);
  EXPECT_LE(learner.size(), 1001u);
  size_t others = 0;
  size_t distinct = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::string& target = requests[i].second;
    if (target.starts_with("/api/users/")) {
      ASSERT_EQ(names[i], "GET /api/users/{param}/profile") << target;
    } else if (names[i] == "GET {other}") {
      ++others;
    } else {
      ASSERT_EQ(names[i], "GET " + target);
      ++distinct;
    }
  }
  EXPECT_EQ(learner.folded(), others);
  EXPECT_GT(others, 2000u);
  EXPECT_GT(distinct, 900u);
  EXPECT_EQ(routes.size(), distinct + 2);  // the names' route and {other}
}

TEST(RouteLearner, CollapsingWhileObservingDoesNotDependOnOrder) {
  // Enough templates for many collapses while observing, with literals that merge at several
  // levels: whatever the order, the same routes and the same route for every request.
  RouteOptions options;
  options.max_literals = 3;
  std::mt19937 random(11);
  std::vector<std::pair<std::string, std::string>> requests;
  for (int i = 0; i < 3000; ++i) {
    auto word = [&](int n) { return std::string(1, 'a' + random() % n); };
    switch (random() % 6) {
      case 0:
        requests.emplace_back("GET", "/a/" + word(3) + "/" + word(26) + word(26));
        break;
      case 1:
        requests.emplace_back("GET", "/b/" + word(8) + "/c/" + word(2));
        break;
      case 2:
        requests.emplace_back("PUT", "/" + word(3) + "/" + word(5) + "/" + word(3));
        break;
      case 3:
        requests.emplace_back("GET", "/d/" + word(26) + "/" + word(4) + "/" + word(26) + "/x");
        break;
      case 4:
        requests.emplace_back("GET", "/d/" + word(2) + "/" + std::to_string(random() % 50));
        break;
      default:
        requests.emplace_back("DELETE", "/e/" + word(4) + word(2));
        break;
    }
  }
  std::vector<RouteLearner::Route> first;
  RouteLearner a(options);
  auto names_a = learn(a, requests, first);
  EXPECT_EQ(a.folded(), 0u);
  std::vector<std::string> templates;
  for (const auto& [method, target] : requests) templates.push_back(method + template_of(target));
  std::sort(templates.begin(), templates.end());
  templates.erase(std::unique(templates.begin(), templates.end()), templates.end());
  EXPECT_LT(a.size() * 2, templates.size());  // templates did share ids
  std::map<std::string, std::string> route_of;
  for (size_t i = 0; i < requests.size(); ++i) {
    route_of[requests[i].first + " " + requests[i].second] = names_a[i];
  }
  for (int round = 0; round < 4; ++round) {
    if (round == 0) {
      std::sort(requests.begin(), requests.end());
    } else if (round == 1) {
      std::reverse(requests.begin(), requests.end());
    } else {
      std::shuffle(requests.begin(), requests.end(), random);
    }
    RouteLearner b(options);
    std::vector<RouteLearner::Route> second;
    auto names_b = learn(b, requests, second);
    EXPECT_EQ(route_names(first), route_names(second));
    for (size_t i = 0; i < requests.size(); ++i) {
      ASSERT_EQ(names_b[i], route_of[requests[i].first + " " + requests[i].second]);
    }
  }
  EXPECT_EQ(route_of["GET /d/a/7"], "GET /d/{param}/{id}");
}

TEST(RouteLearner, Movable) {
  RouteLearner a;
  a.observe("GET", "/x/1");
  RouteLearner b(std::move(a));
  EXPECT_EQ(b.observe("GET", "/x/2"), 0u);
  RouteLearner c;
  c = std::move(b);
  EXPECT_EQ(c.size(), 1u);
}

}  // namespace
}  // namespace twin::compare
