// Writes a paired replay result for the compare benchmark (bench/compare.sh):
//   bench_compare_sample OUT.twin PAIRS [SEED]
// PAIRS captured requests, each answered by a "baseline" and a "candidate" target at the same
// intended instant, as `twin replay --target baseline=… --target candidate=… -o OUT` records
// them: 40 routes of a JSON API (ids, UUIDs and names in the paths, queries), the request's
// headers as a replayer sends them, responses with Content-Type, Content-Length, Date, Server,
// an ETag and a JSON body of 100 to 600 bytes. The candidate answers the same body (a few
// fields differ on 1 % of one route), is 5 % slower on two routes, and fails on 0.2 % of
// another; 1,000 pairs a second of replay time. Deterministic for a seed.
//
// Prints one line to stdout:  pairs=N exchanges=2N bytes=B
// where B counts the bytes of targets, header names and values, and bodies.

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "twin/traffic/archive.h"
#include "twin/traffic/exchange.h"

namespace {

using twin::traffic::Exchange;

struct Rng {
  uint64_t s;
  uint64_t operator()() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  uint64_t below(uint64_t n) { return (*this)() % n; }
  // Log-normal with the given median (ms) and shape.
  double lognormal(double median, double sigma) {
    double u1 = uniform(), u2 = uniform();
    double z = std::sqrt(-2 * std::log(u1 + 1e-300)) * std::cos(6.283185307179586 * u2);
    return median * std::exp(sigma * z);
  }
};

const char* kRoutes[] = {
    "/api/users/%u",
    "/api/users/%u/orders",
    "/api/orders/%u",
    "/api/products/%u",
    "/api/search?q=lamp&page=%u",
    "/api/carts/%08x-4a2b-4c3d-8e9f-%012x",
    "/api/users/name%u/profile",
    "/api/inventory/%u",
    "/api/reviews/%u",
    "/api/categories/%u",
};

std::string body_for(Rng& rng, uint64_t id, size_t size) {
  std::string b = "{\"id\":" + std::to_string(id) + ",\"name\":\"item " + std::to_string(id % 977) +
                  "\",\"price\":" + std::to_string(100 + id % 9000) + ",\"tags\":[\"a\",\"b\"]";
  while (b.size() + 40 < size) {
    b += ",\"f" + std::to_string(b.size()) + "\":\"" + std::to_string(rng()) + "\"";
  }
  b += "}";
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_compare_sample OUT.twin PAIRS [SEED]\n");
    return 2;
  }
  uint64_t pairs = std::strtoull(argv[2], nullptr, 10);
  Rng rng{argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1};
  auto writer = twin::traffic::Writer::open(argv[1]);
  if (!writer) {
    std::fprintf(stderr, "%s\n", writer.error().message.c_str());
    return 2;
  }
  uint64_t bytes = 0;
  Exchange e;
  e.protocol = twin::traffic::Protocol::kHttp11;
  e.request.method = "GET";
  e.request.authority = "api.example.com";
  e.request.headers = {{"Host", "api.example.com"},
                       {"User-Agent", "shop-sdk/4.2.1 (linux; x86_64)"},
                       {"Accept", "application/json"},
                       {"Authorization", "Bearer xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
                       {"X-Request-Id", "00000000-0000-4000-8000-000000000000"}};
  int64_t t0 = 1'764'000'000'000'000'000;
  uint64_t next_id = 1;
  std::string body;
  for (uint64_t i = 1; i <= pairs; ++i) {
    unsigned r = static_cast<unsigned>(rng.below(40));
    const char* pattern = kRoutes[r % 10];
    char path[160];
    uint64_t x = rng.below(100000);
    std::snprintf(path, sizeof path, pattern, static_cast<unsigned>(x),
                  static_cast<unsigned>(x * 7919));
    std::string target = path;
    if (r >= 10) target = "/v" + std::to_string(r / 10) + target;  // 40 routes in all
    int64_t intended = t0 + static_cast<int64_t>(i) * 1'000'000;   // 1,000 pairs a second
    body = body_for(rng, x, 100 + rng.below(500));
    double base_ms = rng.lognormal(4 + r % 7, 0.4);
    for (int side = 0; side < 2; ++side) {
      e.id = next_id++;
      e.origin_id = i;
      e.session = 1 + i % 64;
      e.target = side ? "candidate" : "baseline";
      e.request.target = target;
      double ms = side ? rng.lognormal(4 + r % 7, 0.4) : base_ms;
      if (side && (r == 3 || r == 17)) ms *= 1.05;
      e.time = {};
      e.time.intended = intended;
      e.time.request_start = intended + 15'000;
      e.time.request_end = intended + 25'000;
      int64_t lat = static_cast<int64_t>(ms * 1e6);
      e.time.response_start = intended + lat - 50'000;
      e.time.response_end = intended + lat;
      e.error = twin::traffic::ErrorKind::kNone;
      e.response.emplace();
      auto& resp = *e.response;
      resp.status = 200;
      resp.reason = "OK";
      resp.body = body;
      if (side && r == 5 && rng.below(100) == 0)
        resp.body.replace(resp.body.find("item"), 4, "ITEM");
      if (side && r == 8 && rng.below(500) == 0) {
        resp.status = 503;
        resp.body = "{\"error\":\"unavailable\"}";
      }
      resp.headers = {{"Content-Type", "application/json"},
                      {"Content-Length", std::to_string(resp.body.size())},
                      {"Date", "Thu, 04 Dec 2026 08:00:00 GMT"},
                      {"Server", "shop/1.0"},
                      {"ETag", "\"" + std::to_string(x) + "\""}};
      resp.body_size = resp.body.size();
      resp.framing = twin::traffic::Framing::kContentLength;
      bytes += e.request.target.size() + resp.body.size();
      for (const auto& h : e.request.headers) bytes += h.name.size() + h.value.size();
      for (const auto& h : resp.headers) bytes += h.name.size() + h.value.size();
      if (auto ok = (*writer)->append(e); !ok) {
        std::fprintf(stderr, "%s\n", ok.error().message.c_str());
        return 2;
      }
    }
  }
  if (auto ok = (*writer)->close(); !ok) {
    std::fprintf(stderr, "%s\n", ok.error().message.c_str());
    return 2;
  }
  std::printf("pairs=%" PRIu64 " exchanges=%" PRIu64 " bytes=%" PRIu64 "\n", pairs, 2 * pairs,
              bytes);
  return 0;
}
