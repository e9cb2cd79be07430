// In-process tests of the shop's core (examples/shop: data, regressions, routes), covering what
// the end-to-end tests only sample: every generated user, every flag error, the token scheme.

#include <initializer_list>
#include <regex>
#include <set>
#include <string>

#include "data.h"
#include "faults.h"
#include "gtest/gtest.h"
#include "service.h"

namespace twin::shop {
namespace {

// FaultFlags from (flag, value) pairs, e.g. flags({{"latency", "*=5"}}).
FaultFlags flags(std::initializer_list<std::pair<std::string_view, std::string>> items) {
  FaultFlags f;
  for (const auto& [name, value] : items) {
    if (name == "latency") f.latency.push_back(value);
    if (name == "tail") f.tail.push_back(value);
    if (name == "error-rate") f.error_rate.push_back(value);
    if (name == "change-field") f.change_field.push_back(value);
    if (name == "add-field") f.add_field.push_back(value);
    if (name == "reorder") f.reorder.push_back(value);
  }
  return f;
}

TEST(ShopData, EveryUserHasWellFormedPersonalData) {
  Catalog cat = generate_catalog(42);
  ASSERT_EQ(cat.users.size(), static_cast<size_t>(kUserCount));
  std::set<std::string> emails;
  const std::regex e164(R"(\+[1-9][0-9]{7,14})");
  const std::regex email(R"([a-z0-9._]+@[a-z0-9.]+\.[a-z]+)");
  const std::regex date(R"((19[5-9][0-9]|200[0-5])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]))");
  for (size_t i = 0; i < cat.users.size(); ++i) {
    const User& u = cat.users[i];
    SCOPED_TRACE("user " + std::to_string(u.id));
    EXPECT_EQ(u.id, static_cast<int>(i + 1));
    EXPECT_TRUE(emails.insert(u.email).second) << "duplicate " << u.email;
    EXPECT_TRUE(std::regex_match(u.email, email)) << u.email;
    EXPECT_TRUE(std::regex_match(u.phone, e164)) << u.phone;
    // The national form has the same subscriber digits as the E.164 form.
    std::string national_digits;
    for (char c : u.phone_national) {
      if (c >= '0' && c <= '9') national_digits.push_back(c);
    }
    if (!national_digits.empty() && national_digits[0] == '0') national_digits.erase(0, 1);
    EXPECT_TRUE(u.phone.ends_with(national_digits)) << u.phone << " vs " << u.phone_national;
    EXPECT_TRUE(std::regex_match(u.date_of_birth, date)) << u.date_of_birth;
    EXPECT_FALSE(u.address.street.empty());
    EXPECT_FALSE(u.address.postal_code.empty());
    EXPECT_EQ(u.address.country.size(), 2u);
    EXPECT_TRUE(u.iban.starts_with(u.address.country)) << u.iban;
    EXPECT_TRUE(iban_valid(u.iban)) << u.iban;
    ASSERT_FALSE(u.cards.empty());
    for (const Card& c : u.cards) {
      EXPECT_TRUE(luhn_valid(c.number)) << c.number;
      EXPECT_EQ(c.number.size(), c.brand == "amex" ? 15u : 16u) << c.brand;
    }
  }
}

TEST(ShopData, SameSeedSameCatalogOtherSeedOtherData) {
  Catalog a = generate_catalog(7), b = generate_catalog(7), c = generate_catalog(8);
  EXPECT_EQ(to_json(a.users[10]), to_json(b.users[10]));
  EXPECT_EQ(a.logo_png, b.logo_png);
  EXPECT_EQ(a.app_js, b.app_js);
  EXPECT_NE(to_json(a.users[10]), to_json(c.users[10]));
  ASSERT_EQ(a.products.size(), 300u);
  for (size_t i = 1; i < a.products.size(); ++i) {
    EXPECT_LT(a.products[i - 1].sku,
              a.products[i].sku);  // sorted, unique: find_product relies on it
  }
  EXPECT_EQ(a.find_product(a.products[123].sku), &a.products[123]);
  EXPECT_EQ(a.find_product("SKU-000000"), nullptr);
}

TEST(ShopData, ChecksumHelpers) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_FALSE(luhn_valid("41111111x1111111"));
  EXPECT_TRUE(iban_valid("DE89370400440532013000"));
  EXPECT_TRUE(iban_valid("GB82WEST12345698765432"));
  EXPECT_FALSE(iban_valid("DE89370400440532013001"));
}

TEST(ShopFaults, BadFlagsAreRejectedWithTheFlagNamed) {
  auto error_of = [](FaultFlags f) -> std::string {
    try {
      Faults::parse(f, 1);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of(flags({{"latency", "GET /x=5"}})).find("unknown route 'GET /x'"),
            std::string::npos);
  EXPECT_NE(error_of(flags({{"latency", "GET /healthz"}})).find("--latency"), std::string::npos);
  EXPECT_NE(error_of(flags({{"latency", "GET /healthz=-1"}})).find("MS"), std::string::npos);
  EXPECT_NE(error_of(flags({{"tail", "GET /healthz=2:5"}})).find("FRACTION"), std::string::npos);
  EXPECT_NE(error_of(flags({{"error-rate", "* =0.5"}})).find("unknown route"), std::string::npos);
  EXPECT_NE(error_of(flags({{"change-field", "GET /healthz=a..b"}})).find("empty field"),
            std::string::npos);
  EXPECT_EQ(error_of(flags({{"latency", "*=5"},
                            {"tail", "GET /api/search=0.1:100"},
                            {"error-rate", "POST /api/orders=0.25"},
                            {"change-field", "GET /api/users/{id}=address.city:type"},
                            {"add-field", "GET /api/users=x:{\"a\":1}"}})),
            "");
}

TEST(ShopFaults, DecisionsAreReproducibleAndNearTheFraction) {
  FaultFlags ff = flags({{"tail", "GET /healthz=0.3:10"}, {"error-rate", "GET /api/search=0.5"}});
  Faults a = Faults::parse(ff, 5), b = Faults::parse(ff, 5);
  int slow = 0, errors = 0;
  for (int i = 0; i < 1000; ++i) {
    auto da = a.decide("GET /healthz"), db = b.decide("GET /healthz");
    EXPECT_EQ(da.delay, db.delay);
    EXPECT_FALSE(da.error);
    if (da.delay.count() > 0) {
      ++slow;
      EXPECT_EQ(da.delay, std::chrono::milliseconds(10));
    }
    if (a.decide("GET /api/search").error) ++errors;
    EXPECT_EQ(a.decide("GET /api/users").delay.count(), 0);
  }
  EXPECT_NEAR(slow, 300, 60);
  EXPECT_NEAR(errors, 500, 60);
}

TEST(ShopFaults, ChangedValues) {
  EXPECT_EQ(changed_value(41, false), 42);
  EXPECT_EQ(changed_value(10.0, false), 11.0);
  EXPECT_EQ(changed_value("x", false), "changed-x");
  EXPECT_EQ(changed_value(true, false), false);
  EXPECT_EQ(changed_value(12.5, true), "12.5");
  EXPECT_EQ(changed_value("7", true), 7.0);
  EXPECT_EQ(changed_value(Json::array({1, 2}), false), Json::array({1}));

  Faults f = Faults::parse(flags({{"change-field", "GET /api/search=results.price"},
                                  {"add-field", "GET /api/search=meta.version:2"}}),
                           1);
  Json body = {{"results", {{{"price", 1.0}}, {{"price", 2.0}}}}, {"total", 2}};
  EXPECT_TRUE(f.changes_fields("GET /api/search"));
  EXPECT_FALSE(f.changes_fields("GET /healthz"));
  f.apply("GET /api/search", body);
  EXPECT_EQ(body["results"][0]["price"], 1.1);
  EXPECT_EQ(body["results"][1]["price"], 2.2);
  EXPECT_EQ(body["meta"]["version"], 2);
  EXPECT_EQ(body["total"], 2);

  // --reorder answers the array in reverse, the same elements; what is not an array is kept.
  Faults r = Faults::parse(
      flags({{"reorder", "GET /api/users=users"}, {"reorder", "GET /api/users=total"}}), 1);
  EXPECT_TRUE(r.changes_fields("GET /api/users"));
  EXPECT_FALSE(r.changes_fields("GET /api/search"));
  Json users = {{"users", {{{"id", 1}}, {{"id", 2}}, {{"id", 3}}}}, {"total", 3}};
  r.apply("GET /api/users", users);
  EXPECT_EQ(users["users"], (Json{{{"id", 3}}, {{"id", 2}}, {{"id", 1}}}));
  EXPECT_EQ(users["total"], 3);
  EXPECT_EQ(r.describe().size(), 2u);
  EXPECT_EQ(r.describe()[0]["flag"], "reorder");
  EXPECT_THROW(Faults::parse(flags({{"reorder", "GET /nowhere=users"}}), 1), std::invalid_argument);
}

TEST(ShopService, QueryDecoding) {
  EXPECT_EQ(url_decode("a+b%20c%2Fd%zz%4"), "a b c/d%zz%4");
  EXPECT_EQ(query_param("q=red+lamp&limit=3", "q"), "red lamp");
  EXPECT_EQ(query_param("q=red&limit=3", "limit"), "3");
  EXPECT_EQ(query_param("flag&x=1", "flag"), "");
  EXPECT_EQ(query_param("q=1", "page"), std::nullopt);
}

TEST(ShopService, TokensAreBoundToTheUserAndTheSeed) {
  Shop shop(3, Faults::parse(FaultFlags(), 3));
  std::string t = shop.issue_token(17);
  EXPECT_EQ(t.size(), 48u);
  EXPECT_EQ(shop.verify_token(t), 17);
  EXPECT_NE(shop.issue_token(17), t);  // a new nonce every time
  for (size_t i = 0; i < t.size(); i += 7) {
    std::string bad = t;
    bad[i] = bad[i] == 'a' ? 'b' : 'a';
    EXPECT_EQ(shop.verify_token(bad), 0) << i;
  }
  Shop same(3, Faults::parse(FaultFlags(), 3)), other(4, Faults::parse(FaultFlags(), 4));
  EXPECT_EQ(same.verify_token(t), 17);
  EXPECT_EQ(other.verify_token(t), 0);
}

TEST(ShopService, RoutesAndStatuses) {
  Shop shop(1, Faults::parse(flags({{"error-rate", "GET /healthz=1"}}), 1));
  auto call = [&shop](http::verb verb, std::string target, std::string body = {}) {
    HttpRequest req{verb, target, 11};
    req.body() = std::move(body);
    req.prepare_payload();
    return shop.handle(req);
  };
  Handled h = call(http::verb::get, "/api/users?limit=2");
  EXPECT_EQ(h.route, "GET /api/users");
  EXPECT_EQ(h.response.result_int(), 200u);
  EXPECT_EQ(call(http::verb::get, "/api/users/3").route, "GET /api/users/{id}");
  EXPECT_EQ(call(http::verb::get, "/api/users/3").response.result_int(), 401u);
  EXPECT_EQ(call(http::verb::get, "/api/users/3/x").response.result_int(), 404u);
  EXPECT_EQ(call(http::verb::get, "/static/app.js").route, "GET /static/*");
  EXPECT_EQ(call(http::verb::get, "/healthz").response.result_int(), 500u);  // --error-rate
  Handled m = call(http::verb::put, "/api/orders");
  EXPECT_EQ(m.response.result_int(), 405u);
  EXPECT_EQ(m.route, "");
  EXPECT_EQ(call(http::verb::post, "/api/login", "{").response.result_int(), 400u);
  std::string email = shop.catalog().users[0].email;
  Handled ok = call(http::verb::post, "/api/login",
                    Json{{"email", email}, {"password", password_for(1)}}.dump());
  ASSERT_EQ(ok.response.result_int(), 200u);
  EXPECT_EQ(shop.verify_token(Json::parse(ok.response.body())["token"].get<std::string>()), 1);
}

}  // namespace
}  // namespace twin::shop
