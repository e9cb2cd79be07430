#pragma once
// Realistic HTTP/1.1 JSON API traffic for benchmarks: about 1 KB an exchange (headers of a
// browser or SDK client and a JSON API server, small JSON bodies with varying ids, names and
// amounts), deterministic from a seed. Compression ratios depend on the data, so the sample
// varies what real traffic varies (ids, tokens, timestamps, values) and repeats what it repeats.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "twin/traffic/exchange.h"

namespace twin::bench {

inline std::vector<traffic::Exchange> sample_exchanges(size_t n, uint64_t seed = 42) {
  std::mt19937_64 rng(seed);
  auto pick = [&](auto const& v) -> const auto& { return v[rng() % v.size()]; };
  auto hex = [&](size_t len) {
    static const char* digits = "0123456789abcdef";
    std::string s(len, '0');
    for (auto& c : s) c = digits[rng() % 16];
    return s;
  };
  const std::vector<std::string> names = {"Ada Lovelace",      "Grace Hopper",   "Alan Turing",
                                          "Edsger Dijkstra",   "Barbara Liskov", "Ken Thompson",
                                          "Margaret Hamilton", "Donald Knuth"};
  const std::vector<std::string> agents = {
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
      "Safari/537.36",
      "okhttp/4.12.0", "python-requests/2.31.0", "shop-ios/5.2.1 CFNetwork/1490.0.4 Darwin/23.2.0"};
  const std::vector<std::string> skus = {"SKU-1001", "SKU-2002", "SKU-3003", "SKU-4004",
                                         "SKU-5005"};
  std::vector<traffic::Exchange> out(n);
  int64_t t = 1'763'900'000'000'000'000;
  uint64_t session = 1, seq = 0;
  std::string token = hex(40);
  for (size_t i = 0; i < n; ++i) {
    auto& e = out[i];
    if (rng() % 8 == 0) {
      ++session;
      seq = 0;
      token = hex(40);
    }
    e.id = i + 1;
    e.session = session;
    e.seq = seq++;
    e.protocol = traffic::Protocol::kHttp11;
    t += static_cast<int64_t>(rng() % 2'000'000);
    e.time.request_start = t;
    e.time.request_end = t + 20'000 + static_cast<int64_t>(rng() % 40'000);
    e.time.response_start = e.time.request_end + 300'000 + static_cast<int64_t>(rng() % 9'000'000);
    e.time.response_end = e.time.response_start + 30'000 + static_cast<int64_t>(rng() % 90'000);
    e.client = *traffic::Endpoint::parse("10.1." + std::to_string(session % 200) + "." +
                                         std::to_string(session % 250 + 1) + ":" +
                                         std::to_string(30000 + session % 30000));
    e.server = *traffic::Endpoint::parse("10.0.0.5:8080");
    const uint64_t user = rng() % 5000;
    const uint64_t order = 100000 + rng() % 900000;
    auto& rq = e.request;
    rq.authority = "shop.example.com";
    rq.headers = {{"Host", rq.authority},
                  {"User-Agent", pick(agents)},
                  {"Accept", "application/json"},
                  {"Accept-Encoding", "gzip, deflate, br"},
                  {"Authorization", "Bearer " + token},
                  {"X-Request-Id", hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12)},
                  {"Accept-Language", "en-US,en;q=0.9"},
                  {"Cookie", "sid=" + token.substr(0, 24) + "; theme=dark; consent=1"},
                  {"Traceparent", "00-" + hex(32) + "-" + hex(16) + "-01"}};
    auto& rs = e.response.emplace();
    rs.status = 200;
    rs.reason = "OK";
    rs.framing = traffic::Framing::kContentLength;
    switch (rng() % 4) {
      case 0:
        rq.method = "GET";
        rq.target = "/api/users/" + std::to_string(user);
        rs.body = "{\"id\":" + std::to_string(user) + ",\"name\":\"" + pick(names) +
                  "\",\"email\":\"user" + std::to_string(user) +
                  "@example.org\",\"phone\":\"+1555" + std::to_string(1000000 + rng() % 8999999) +
                  "\",\"address\":{\"street\":\"" + std::to_string(rng() % 999) +
                  " Main St\",\"city\":\"Springfield\",\"zip\":\"" +
                  std::to_string(10000 + rng() % 89999) + "\"}}";
        break;
      case 1:
        rq.method = "POST";
        rq.target = "/api/orders";
        rq.body = "{\"user_id\":" + std::to_string(user) + ",\"items\":[{\"sku\":\"" + pick(skus) +
                  "\",\"qty\":" + std::to_string(1 + rng() % 5) + "}],\"card\":\"4111" +
                  std::to_string(100000000000 + rng() % 899999999999) + "\"}";
        rq.framing = traffic::Framing::kContentLength;
        rq.headers.push_back({"Content-Type", "application/json"});
        rq.headers.push_back({"Content-Length", std::to_string(rq.body.size())});
        rs.status = 201;
        rs.reason = "Created";
        rs.body = "{\"id\":" + std::to_string(order) +
                  ",\"status\":\"created\",\"total\":" + std::to_string(rng() % 50000) + "." +
                  std::to_string(10 + rng() % 89) + "}";
        break;
      case 2:
        rq.method = "GET";
        rq.target = "/api/orders/" + std::to_string(order);
        rs.body = "{\"id\":" + std::to_string(order) + ",\"user_id\":" + std::to_string(user) +
                  ",\"status\":\"shipped\",\"items\":[{\"sku\":\"" + pick(skus) +
                  "\",\"qty\":2,\"price\":19.99}],\"created\":\"2026-11-" +
                  std::to_string(10 + rng() % 19) + "T" + std::to_string(10 + rng() % 13) +
                  ":12:01Z\"}";
        break;
      default:
        rq.method = "GET";
        rq.target = "/api/search?q=" + pick(skus) + "&limit=" + std::to_string(5 + rng() % 20) +
                    "&page=" + std::to_string(rng() % 4);
        rs.body = "{\"results\":[{\"sku\":\"" + pick(skus) +
                  "\",\"name\":\"Widget\",\"price\":" + std::to_string(rng() % 100) +
                  ".99},{\"sku\":\"" + pick(skus) +
                  "\",\"name\":\"Gadget\",\"price\":" + std::to_string(rng() % 100) +
                  ".49}],\"total\":" + std::to_string(rng() % 300) + "}";
        break;
    }
    rq.body_size = rq.body.size();
    rs.body_size = rs.body.size();
    rs.headers = {{"Server", "nginx/1.22.1"},
                  {"Date", "Sun, 23 Nov 2026 10:" + std::to_string(10 + rng() % 49) + ":" +
                               std::to_string(10 + rng() % 49) + " GMT"},
                  {"Content-Type", "application/json; charset=utf-8"},
                  {"Content-Length", std::to_string(rs.body.size())},
                  {"Connection", "keep-alive"},
                  {"Cache-Control", "no-store"},
                  {"X-Request-Id", rq.headers[5].value},
                  {"Strict-Transport-Security", "max-age=63072000; includeSubDomains"},
                  {"Vary", "Accept-Encoding, Authorization"},
                  {"X-Content-Type-Options", "nosniff"},
                  {"X-Response-Time", std::to_string(rng() % 9000) + "us"}};
  }
  return out;
}

}  // namespace twin::bench
