#include "service.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <exception>

#include "rng.h"

namespace twin::shop {
namespace {

constexpr std::string_view kJson = "application/json";

std::string dump(const Json& j) {
  // Replace invalid UTF-8 (e.g. echoed query bytes) rather than throw.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

HttpResponse make_response(http::status status, std::string_view content_type, std::string body) {
  HttpResponse res;
  res.result(status);
  res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

HttpResponse json_response(http::status status, const Json& body) {
  return make_response(status, kJson, dump(body));
}

HttpResponse error_response(http::status status, std::string_view message, Json extra = {}) {
  Json body = {{"error", message}};
  if (extra.is_object()) body.update(extra);
  return json_response(status, body);
}

HttpResponse unauthorized() {
  HttpResponse res = error_response(http::status::unauthorized, "missing or invalid bearer token");
  res.set(http::field::www_authenticate, "Bearer realm=\"shop\"");
  return res;
}

// Strict non-negative decimal integer within [lo, hi].
std::optional<int64_t> parse_int(std::string_view s, int64_t lo, int64_t hi) {
  int64_t v = 0;
  if (s.empty() || s.size() > 18) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  }
  return out;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::optional<uint64_t> parse_hex64(std::string_view s) {
  uint64_t v = 0;
  if (s.size() != 16) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string now_rfc3339_ms() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];  // sized for any int values, so the compiler can prove no truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// A query parameter as an integer: the default when absent, nullopt when present but bad.
std::optional<int64_t> int_param(std::string_view query, std::string_view name, int64_t def,
                                 int64_t lo, int64_t hi) {
  auto v = query_param(query, name);
  if (!v) return def;
  return parse_int(*v, lo, hi);
}

}  // namespace

std::string url_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (url_decode(key) == name) {
      return eq == std::string_view::npos ? std::string() : url_decode(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

Shop::Shop(uint64_t seed, Faults faults)
    : seed_(seed),
      key_(mix64(seed ^ 0x70ce11u)),
      catalog_(generate_catalog(seed)),
      faults_(std::move(faults)) {}

std::string Shop::issue_token(int user_id) {
  uint64_t nonce = mix64(key_ + token_counter_.fetch_add(1, std::memory_order_relaxed));
  uint64_t masked = static_cast<uint64_t>(user_id) ^ mix64(nonce ^ key_);
  uint64_t mac = mix64(key_ ^ mix64(nonce ^ mix64(static_cast<uint64_t>(user_id) + key_)));
  return hex64(nonce) + hex64(masked) + hex64(mac);
}

int Shop::verify_token(std::string_view token) const {
  if (token.size() != 48) return 0;
  auto nonce = parse_hex64(token.substr(0, 16));
  auto masked = parse_hex64(token.substr(16, 16));
  auto mac = parse_hex64(token.substr(32, 16));
  if (!nonce || !masked || !mac) return 0;
  uint64_t user_id = *masked ^ mix64(*nonce ^ key_);
  if (user_id == 0 || user_id > catalog_.users.size()) return 0;
  if (*mac != mix64(key_ ^ mix64(*nonce ^ mix64(user_id + key_)))) return 0;
  return static_cast<int>(user_id);
}

int Shop::authenticate(const HttpRequest& request) const {
  auto it = request.find(http::field::authorization);
  if (it == request.end()) return 0;
  std::string_view v(it->value().data(), it->value().size());
  constexpr std::string_view kBearer = "Bearer ";
  if (v.size() <= kBearer.size() || lower(v.substr(0, kBearer.size())) != "bearer ") return 0;
  return verify_token(v.substr(kBearer.size()));
}

Handled Shop::handle(const HttpRequest& request, bool* sequence_seen) {
  std::string_view target(request.target().data(), request.target().size());
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  std::string_view method(request.method_string().data(), request.method_string().size());

  // Route matching: the template, then the method.
  std::string_view route, param, allow;
  auto is = [&](std::string_view m, std::string_view r, std::string_view p = {}) {
    if (method == m) {
      route = r;
      param = p;
    } else {
      allow = m;
    }
  };
  constexpr std::string_view kUsers = "/api/users/", kOrders = "/api/orders/";
  if (path == "/api/login") {
    is("POST", "POST /api/login");
  } else if (path == "/api/users") {
    is("GET", "GET /api/users");
  } else if (path.starts_with(kUsers) && path.size() > kUsers.size() &&
             path.find('/', kUsers.size()) == std::string_view::npos) {
    is("GET", "GET /api/users/{id}", path.substr(kUsers.size()));
  } else if (path == "/api/orders") {
    is("POST", "POST /api/orders");
  } else if (path.starts_with(kOrders) && path.size() > kOrders.size() &&
             path.find('/', kOrders.size()) == std::string_view::npos) {
    is("GET", "GET /api/orders/{id}", path.substr(kOrders.size()));
  } else if (path == "/api/search") {
    is("GET", "GET /api/search");
  } else if (path.starts_with("/static/")) {
    is("GET", "GET /static/*");
  } else if (path == "/healthz") {
    is("GET", "GET /healthz");
  }

  Handled h;
  if (route.empty()) {
    if (!allow.empty()) {
      h.response = error_response(http::status::method_not_allowed, "method not allowed",
                                  {{"method", method}, {"allow", allow}});
      h.response.set(http::field::allow, allow);
    } else {
      h.response = error_response(http::status::not_found, "not found", {{"path", path}});
    }
    return h;
  }
  h.route = route;
  if (sequence_seen != nullptr && faults_.sequence_error(route, *sequence_seen)) {
    h.response = error_response(http::status::internal_server_error, "internal server error");
    return h;
  }
  Faults::Decision d = faults_.decide(route);
  h.delay = d.delay;
  if (d.error) {
    h.response = error_response(http::status::internal_server_error, "internal server error");
    return h;
  }
  try {
    h.response = dispatch(request, route, path, query, param);
    if (faults_.changes_fields(route) && h.response.result_int() / 100 == 2 &&
        h.response[http::field::content_type] == kJson) {
      // Only candidates started with --change-field/--add-field/--reorder pay for this pass.
      Json body = Json::parse(h.response.body(), nullptr, /*allow_exceptions=*/false);
      if (!body.is_discarded()) {
        faults_.apply(route, body);
        h.response.body() = dump(body);
      }
    }
  } catch (const std::exception&) {
    // A bug, not bad input (input errors are answered as 4xx): keep serving.
    h.response = error_response(http::status::internal_server_error, "internal server error");
  }
  return h;
}

HttpResponse Shop::dispatch(const HttpRequest& request, std::string_view route,
                            std::string_view path, std::string_view query, std::string_view param) {
  if (route == "POST /api/login") return login(request);
  if (route == "GET /api/users") return list_users(query);
  if (route == "GET /api/users/{id}") return get_user(request, param);
  if (route == "POST /api/orders") return create_order(request);
  if (route == "GET /api/orders/{id}") return get_order(request, param);
  if (route == "GET /api/search") return search(query);
  if (route == "GET /static/*") return static_file(path);
  return make_response(http::status::ok, "text/plain; charset=utf-8", "ok");
}

HttpResponse Shop::login(const HttpRequest& request) {
  Json body = Json::parse(request.body(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return error_response(http::status::bad_request, "invalid JSON");
  if (!body.is_object() || !body.contains("email") || !body["email"].is_string() ||
      !body.contains("password") || !body["password"].is_string()) {
    return error_response(http::status::bad_request, "expected {\"email\", \"password\"}");
  }
  const User* user = catalog_.find_user_by_email(body["email"].get_ref<const std::string&>());
  if (user == nullptr || body["password"].get_ref<const std::string&>() != user->password) {
    return error_response(http::status::unauthorized, "invalid credentials");
  }
  Json out = {{"token", issue_token(user->id)},
              {"token_type", "Bearer"},
              {"expires_in", 3600},
              {"user_id", user->id}};
  return json_response(http::status::ok, out);
}

HttpResponse Shop::list_users(std::string_view query) {
  auto limit = int_param(query, "limit", 20, 1, 100);
  auto offset = int_param(query, "offset", 0, 0, 1000000);
  if (!limit || !offset) {
    return error_response(http::status::bad_request,
                          "limit must be in [1, 100] and offset a non-negative integer");
  }
  Json users = Json::array();
  for (int64_t i = *offset; i < *offset + *limit && i < static_cast<int64_t>(catalog_.users.size());
       ++i) {
    users.push_back(to_summary_json(catalog_.users[static_cast<size_t>(i)]));
  }
  Json out = {{"users", std::move(users)},
              {"total", catalog_.users.size()},
              {"limit", *limit},
              {"offset", *offset}};
  return json_response(http::status::ok, out);
}

HttpResponse Shop::get_user(const HttpRequest& request, std::string_view id) {
  if (authenticate(request) == 0) return unauthorized();
  auto n = parse_int(id, 1, 1000000000);
  const User* user = n ? catalog_.find_user(*n) : nullptr;
  if (user == nullptr) return error_response(http::status::not_found, "no such user");
  return json_response(http::status::ok, to_json(*user));
}

HttpResponse Shop::create_order(const HttpRequest& request) {
  int me = authenticate(request);
  if (me == 0) return unauthorized();
  Json body = Json::parse(request.body(), nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return error_response(http::status::bad_request, "invalid JSON");
  if (!body.is_object() || !body.contains("user_id") || !body["user_id"].is_number_integer() ||
      !body.contains("items") || !body["items"].is_array() || !body.contains("card") ||
      !body["card"].is_string()) {
    return error_response(http::status::bad_request,
                          "expected {\"user_id\": int, \"items\": [...], \"card\": string}");
  }
  if (body["user_id"].get<int64_t>() != me) {
    return error_response(http::status::forbidden, "token does not belong to this user");
  }
  const Json& items = body["items"];
  if (items.empty() || items.size() > 50) {
    return error_response(http::status::bad_request, "an order has 1 to 50 items");
  }
  Json lines = Json::array();
  int64_t total = 0;
  for (const Json& item : items) {
    if (!item.is_object() || !item.contains("sku") || !item["sku"].is_string() ||
        !item.contains("qty") || !item["qty"].is_number_integer()) {
      return error_response(http::status::bad_request,
                            "each item is {\"sku\": string, \"qty\": int}");
    }
    int64_t qty = item["qty"].get<int64_t>();
    if (qty < 1 || qty > 99) return error_response(http::status::bad_request, "qty is 1 to 99");
    const std::string& sku = item["sku"].get_ref<const std::string&>();
    const Product* p = catalog_.find_product(sku);
    if (p == nullptr) {
      return error_response(http::status::unprocessable_entity, "unknown sku", {{"sku", sku}});
    }
    if (!p->in_stock) {
      return error_response(http::status::conflict, "out of stock", {{"sku", sku}});
    }
    total += p->price_cents * qty;
    lines.push_back({{"sku", p->sku},
                     {"name", p->name},
                     {"qty", qty},
                     {"unit_price", to_amount(p->price_cents)},
                     {"subtotal", to_amount(p->price_cents * qty)}});
  }
  const std::string& card = body["card"].get_ref<const std::string&>();
  if (!luhn_valid(card) || card.size() < 12 || card.size() > 19) {
    return error_response(http::status::unprocessable_entity, "invalid card number");
  }
  Json order = {{"id", 0},
                {"user_id", me},
                {"items", std::move(lines)},
                {"total", to_amount(total)},
                {"currency", "EUR"},
                {"card", {{"last4", card.substr(card.size() - 4)}}},
                {"status", "created"},
                {"created_at", now_rfc3339_ms()}};
  {
    std::lock_guard lock(orders_mutex_);
    int64_t id = next_order_id_++;
    order["id"] = id;
    orders_.emplace(id, order);
    order_ids_.push_back(id);
    if (order_ids_.size() > kMaxOrders) {
      orders_.erase(order_ids_.front());
      order_ids_.pop_front();
    }
  }
  HttpResponse res = json_response(http::status::created, order);
  res.set(http::field::location, "/api/orders/" + std::to_string(order["id"].get<int64_t>()));
  return res;
}

HttpResponse Shop::get_order(const HttpRequest& request, std::string_view id) {
  int me = authenticate(request);
  if (me == 0) return unauthorized();
  auto n = parse_int(id, 1, 999999999999);
  Json order;
  if (n) {
    std::lock_guard lock(orders_mutex_);
    auto it = orders_.find(*n);
    if (it != orders_.end()) order = it->second;
  }
  // Someone else's order is "not found" too: do not tell which ids exist.
  if (order.is_null() || order["user_id"].get<int64_t>() != me) {
    return error_response(http::status::not_found, "no such order");
  }
  return json_response(http::status::ok, order);
}

HttpResponse Shop::search(std::string_view query) {
  std::string q = lower(query_param(query, "q").value_or(""));
  auto limit = int_param(query, "limit", 10, 1, 100);
  auto page = int_param(query, "page", 1, 1, 10000);
  if (!limit || !page) {
    return error_response(http::status::bad_request, "limit must be in [1, 100] and page >= 1");
  }
  // Every word of q must appear in the name or be the category.
  std::vector<std::string> words;
  for (size_t i = 0; i < q.size();) {
    size_t sp = q.find(' ', i);
    if (sp == std::string::npos) sp = q.size();
    if (sp > i) words.push_back(q.substr(i, sp - i));
    i = sp + 1;
  }
  std::vector<const Product*> matches;
  for (const Product& p : catalog_.products) {
    std::string name = lower(p.name);
    bool all = std::all_of(words.begin(), words.end(), [&](const std::string& w) {
      return name.find(w) != std::string::npos || p.category == w;
    });
    if (all) matches.push_back(&p);
  }
  Json results = Json::array();
  size_t first = static_cast<size_t>((*page - 1) * *limit);
  for (size_t i = first; i < matches.size() && i < first + static_cast<size_t>(*limit); ++i) {
    results.push_back(to_json(*matches[i]));
  }
  Json out = {{"query", query_param(query, "q").value_or("")},
              {"page", *page},
              {"limit", *limit},
              {"total", matches.size()},
              {"results", std::move(results)}};
  return json_response(http::status::ok, out);
}

HttpResponse Shop::static_file(std::string_view path) {
  const std::string* content = nullptr;
  std::string_view type;
  if (path == "/static/app.js") {
    content = &catalog_.app_js;
    type = "application/javascript; charset=utf-8";
  } else if (path == "/static/style.css") {
    content = &catalog_.style_css;
    type = "text/css; charset=utf-8";
  } else if (path == "/static/logo.png") {
    content = &catalog_.logo_png;
    type = "image/png";
  } else {
    return error_response(http::status::not_found, "not found", {{"path", path}});
  }
  HttpResponse res = make_response(http::status::ok, type, *content);
  res.set(http::field::cache_control, "public, max-age=3600");
  res.set(http::field::etag, "\"" + hex64(hash_string(*content)) + "\"");
  return res;
}

}  // namespace twin::shop
