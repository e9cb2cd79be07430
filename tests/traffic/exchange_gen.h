#pragma once
// Deterministic random exchanges for round-trip tests (JSONL, HAR, .twin archives). Header-only.
// The set covers the awkward cases: binary, empty and (optionally) 10 MB bodies, headers and
// other strings that are not UTF-8, control characters, HTTP/2 pseudo-headers, no response,
// unknown instants (kNoTime), negative and extreme instants, ids up to 2^64 - 1, every error
// kind, every flag and flag bits this version does not know.

#include <array>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "twin/traffic/exchange.h"

namespace twin::traffic::gen {

struct GenOptions {
  /// Give exchange 1 (when n > 1) a response body of `huge_body_size` random bytes.
  bool huge_body = false;
  size_t huge_body_size = 10u << 20;
  /// Let method, targets, authority, reason and the target name hold bytes that are not UTF-8.
  bool invalid_utf8_strings = true;
  /// Set flag bits past kKnownFlags now and then.
  bool unknown_flags = true;
};

namespace detail {

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  uint64_t next() { return rng_(); }
  // Uniform enough in [0, n) for tests; modulo keeps results the same on every standard library.
  uint64_t below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool chance(uint64_t one_in) { return below(one_in) == 0; }

  template <typename T, size_t N>
  const T& pick(const std::array<T, N>& items) {
    return items[below(N)];
  }

  std::string bytes(size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng_() & 0xFF);
    return s;
  }

  // Text that is valid UTF-8 but needs escaping in JSON: quotes, backslashes, controls,
  // multi-byte characters and U+FFFF / U+10FFFF at the edges.
  std::string tricky_text(size_t n) {
    static constexpr std::string_view kAscii = "aZ0 \"\\\t\x1f\x7f\n";
    static constexpr std::array<std::string_view, 3> kWide = {"\xc3\xa9", "\xe2\x82\xac",
                                                              "\xf0\x9f\x98\x80"};
    std::string s;
    while (s.size() < n) {
      if (chance(3)) {
        s += pick(kWide);
      } else {
        s += kAscii[below(kAscii.size())];
      }
      if (chance(20)) s += '\0';
    }
    if (chance(8)) s += "\xef\xbf\xbf\xf4\x8f\xbf\xbf";
    return s;
  }

  // Bytes that are certainly not UTF-8: a valid start with one bad sequence in it.
  std::string invalid_utf8(std::string_view around) {
    // Overlong '/', a surrogate, past U+10FFFF, truncated 3-byte, lone continuation, a byte
    // that is never valid, truncated 2-byte, the old 5-byte form.
    static constexpr std::array<std::string_view, 8> kBad = {
        "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",    "\xe2\x82", "\x80",
        "\xff",     "\xc3",         "\xf8\x88\x80\x80\x80"};
    std::string s(around.substr(0, around.size() / 2));
    s += pick(kBad);
    s += around.substr(around.size() / 2);
    return s;
  }

  std::string body() {
    switch (below(8)) {
      case 0:
        return {};
      case 1:
        return "{\"id\":" + std::to_string(below(1000)) + ",\"name\":\"caf\xc3\xa9\"}";
      case 2:
        return tricky_text(below(200));
      case 3:
        return bytes(below(300));  // random bytes: almost never UTF-8
      case 4:
        return invalid_utf8("some text around a bad sequence");
      case 5:
        return "q=hello+world&lang=en&empty=&flag";
      case 6:
        return std::string(below(64), 'x');
      default:
        return "<!doctype html><html><body>\xe2\x9c\x93 ok</body></html>";
    }
  }

  int64_t instant() {
    switch (below(10)) {
      case 0:
        return kNoTime;
      case 1:
        return -static_cast<int64_t>(below(uint64_t{1} << 62));  // before 1970
      case 2:
        return std::numeric_limits<int64_t>::max() - static_cast<int64_t>(below(1000));
      case 3:
        return std::numeric_limits<int64_t>::min() + 1 + static_cast<int64_t>(below(1000));
      default:  // 2020 .. 2030
        return 1'577'836'800'000'000'000 + static_cast<int64_t>(below(315'576'000'000'000'000));
    }
  }

  Endpoint endpoint() {
    Endpoint e;
    switch (below(3)) {
      case 0:
        return e;  // unknown
      case 1:
        e.family = 4;
        for (int i = 0; i < 4; ++i) e.address[i] = static_cast<uint8_t>(next());
        break;
      default:
        e.family = 6;
        for (auto& b : e.address) b = static_cast<uint8_t>(next());
        if (chance(3)) {  // ::ffff:a.b.c.d prints in dotted form
          for (int i = 0; i < 10; ++i) e.address[i] = 0;
          e.address[10] = e.address[11] = 0xFF;
        }
        break;
    }
    e.port = static_cast<uint16_t>(next());
    return e;
  }

  Headers headers(bool request, const Exchange& x, bool allow_invalid) {
    Headers h;
    if (request && x.protocol == Protocol::kHttp2) {
      h.push_back({":method", x.request.method});
      h.push_back({":scheme", "https"});
      h.push_back({":authority", x.request.authority});
      h.push_back({":path", x.request.target});
    }
    static constexpr std::array<std::array<std::string_view, 2>, 12> kCommon = {{
        {"Content-Type", "application/json"},
        {"content-type", "application/x-www-form-urlencoded"},
        {"Accept", "*/*"},
        {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" \\ back"},
        {"Cookie", "session=abc123; theme=dark; empty="},
        {"Set-Cookie", "id=a3fWa; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Secure; HttpOnly"},
        {"Location", "/next?x=1"},
        {"X-Empty", ""},
        {"X-Dup", "1"},
        {"X-Dup", "2"},
        {"Transfer-Encoding", "chunked"},
        {"X-Tab", "a\tb"},
    }};
    const size_t n = below(8);
    for (size_t i = 0; i < n; ++i) {
      const auto& c = pick(kCommon);
      h.push_back({std::string(c[0]), std::string(c[1])});
    }
    if (!request && x.protocol == Protocol::kHttp2 && chance(2)) {
      h.insert(h.begin(), Header{":status", "200"});
    }
    if (allow_invalid && chance(5)) {
      if (chance(2)) {
        h.push_back({"X-Bin", invalid_utf8("value")});
      } else {
        h.push_back({invalid_utf8("X-Name"), "ok"});
      }
    }
    return h;
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace detail

/// `n` exchanges, the same for the same seed and options.
inline std::vector<Exchange> generate_exchanges(uint64_t seed, size_t n, GenOptions options = {}) {
  detail::Gen g(seed);
  static constexpr std::array<std::string_view, 9> kMethods = {
      "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "BREW"};
  static constexpr std::array<std::string_view, 8> kTargets = {
      "/",
      "/api/v1/items?id=3&q=a%20b",
      "/search?q=caf\xc3\xa9&page=2#frag",
      "*",
      "http://example.com/absolute?x=1",
      "example.com:443",
      "/very/long/path/with/many/segments/and/a/trailing/slash/",
      "/p?x=\"quoted\"&y=\\"};
  static constexpr std::array<std::string_view, 5> kAuthorities = {
      "example.com", "api.example.com:8443", "[::1]:8080", "", "shop.local:443"};
  static constexpr std::array<std::string_view, 4> kNames = {"", "candidate", "baseline",
                                                             "r\xc3\xa9plique"};
  static constexpr std::array<int, 13> kStatuses = {200, 201, 204, 301, 304, 400, 404,
                                                    500, 503, 101, 0,   999, 200};

  std::vector<Exchange> out;
  out.reserve(n);
  std::vector<uint64_t> seq_by_session(9, 0);
  for (size_t i = 0; i < n; ++i) {
    Exchange x;
    x.id = (n > 1 && i == n - 1) ? std::numeric_limits<uint64_t>::max() : i + 1;
    switch (g.below(4)) {
      case 0:
        x.origin_id = std::numeric_limits<uint64_t>::max();
        break;
      case 1:
        x.origin_id = g.next();
        break;
      default:
        x.origin_id = 0;
    }
    const uint64_t session = g.below(9);
    x.session = session == 8 ? std::numeric_limits<uint64_t>::max() : session;
    x.seq = seq_by_session[session]++;
    x.protocol = static_cast<Protocol>(i % 4);
    if (x.protocol == Protocol::kHttp2) {
      x.stream = g.chance(10) ? std::numeric_limits<uint32_t>::max()
                              : static_cast<uint32_t>(2 * x.seq + 1);
    }
    x.target = std::string(g.pick(kNames));
    if (options.invalid_utf8_strings && g.chance(12)) x.target = g.invalid_utf8("target");

    x.time.request_start = g.instant();
    const bool ordinary = x.time.request_start != kNoTime && x.time.request_start > 0 &&
                          x.time.request_start < (int64_t{1} << 62);
    if (ordinary && !g.chance(4)) {  // mostly ordered instants, as a capture has them
      x.time.request_end = x.time.request_start + static_cast<int64_t>(g.below(1'000'000));
      x.time.response_start = x.time.request_end + static_cast<int64_t>(g.below(50'000'000));
      x.time.response_end = x.time.response_start + static_cast<int64_t>(g.below(5'000'000));
      if (g.chance(5)) x.time.response_end = kNoTime;
    } else {
      x.time.request_end = g.instant();
      x.time.response_start = g.instant();
      x.time.response_end = g.instant();
    }
    x.time.intended = g.chance(2) ? kNoTime : g.instant();
    x.client = g.endpoint();
    x.server = g.endpoint();

    Request& q = x.request;
    q.method = std::string(g.pick(kMethods));
    q.target = std::string(g.pick(kTargets));
    q.authority = std::string(g.pick(kAuthorities));
    if (options.invalid_utf8_strings && g.chance(15)) q.method = g.invalid_utf8("GET");
    if (options.invalid_utf8_strings && g.chance(15)) q.target = g.invalid_utf8("/path");
    if (options.invalid_utf8_strings && g.chance(15)) q.authority = g.invalid_utf8("host");
    q.headers = g.headers(true, x, options.invalid_utf8_strings);
    q.body = g.body();
    q.body_size = q.body.size();
    if (g.chance(6)) {
      q.body_size += 1 + g.below(1'000'000);
      x.flags |= kFlagRequestBodyTruncated;
    }
    q.framing = static_cast<Framing>(g.below(5));

    if (g.chance(6)) {
      x.flags |= kFlagNoResponse;
    } else {
      Response& r = x.response.emplace();
      r.status = kStatuses[g.below(kStatuses.size())];
      r.reason = r.status == 200 ? "OK" : r.status == 404 ? "Not Found" : "";
      if (options.invalid_utf8_strings && g.chance(15)) r.reason = g.invalid_utf8("Weird");
      r.headers = g.headers(false, x, options.invalid_utf8_strings);
      r.body = g.body();
      if (options.huge_body && n > 1 && i == 1) r.body = g.bytes(options.huge_body_size);
      r.body_size = r.body.size();
      if (g.chance(6)) {
        r.body_size += 1 + g.below(1'000'000);
        x.flags |= kFlagResponseBodyTruncated;
      }
      r.framing = static_cast<Framing>(g.below(5));
    }
    x.error = static_cast<ErrorKind>(i % 9);  // every kind once in any 9 in a row
    x.flags |= static_cast<uint32_t>(1u << (i % 7));
    x.flags |= static_cast<uint32_t>(g.next()) & kKnownFlags & static_cast<uint32_t>(g.next());
    if (options.unknown_flags && g.chance(5)) x.flags |= 1u << (7 + g.below(25));
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace twin::traffic::gen
