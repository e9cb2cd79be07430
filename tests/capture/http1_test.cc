// Tests of the HTTP/1.x analyzer. Every scenario is a script of data/gap/end calls; check()
// runs it whole, with each data call split in two at every offset, and byte by byte, and
// requires the same exchanges, counters, state and hand-over in every run. The expected values
// are written out by hand.

#include "http1.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "twin/traffic/jsonl.h"

namespace twin::traffic {
// Readable failures: an exchange prints as its JSONL line.
void PrintTo(const Exchange& x, std::ostream* os) {
  std::string line;
  append_jsonl_line(x, line);
  if (line.size() > 4000) line = line.substr(0, 4000) + "...";
  *os << line;
}
}  // namespace twin::traffic

namespace twin::capture {
namespace {

using traffic::ErrorKind;
using traffic::Exchange;
using traffic::Framing;
using traffic::Headers;
using traffic::kNoTime;
using traffic::Protocol;
using traffic::Request;
using traffic::Response;
using traffic::Timing;
using State = Analyzer::State;
using namespace std::literals;

constexpr Direction kC = Direction::kToServer;
constexpr Direction kS = Direction::kToClient;

struct Step {
  enum Kind : uint8_t { kData, kGap, kEnd } kind;
  Direction dir;
  std::string bytes;
  uint64_t length = 0;
  bool reset = false;
  int64_t time = 0;
};

struct Script {
  AnalyzerOptions options;
  bool midstream = false;
  std::vector<Step> steps;
  int64_t finish_time = 1'000'000;
  bool end_of_capture = false;

  Script& c(std::string b, int64_t t) {
    steps.push_back({Step::kData, kC, std::move(b), 0, false, t});
    return *this;
  }
  Script& s(std::string b, int64_t t) {
    steps.push_back({Step::kData, kS, std::move(b), 0, false, t});
    return *this;
  }
  Script& gap(Direction d, uint64_t n, int64_t t) {
    steps.push_back({Step::kGap, d, {}, n, false, t});
    return *this;
  }
  Script& fin(Direction d, int64_t t) {
    steps.push_back({Step::kEnd, d, {}, 0, false, t});
    return *this;
  }
  Script& rst(Direction d, int64_t t) {
    steps.push_back({Step::kEnd, d, {}, 0, true, t});
    return *this;
  }
};

struct Outcome {
  std::vector<Exchange> exchanges;
  Counters counters;
  State state = State::kActive;
  bool upgraded = false;
  // The hand-over as take_upgrade() returned it (raw), and with every byte fed to the
  // analyzer's direction after it appended (what the HTTP/2 side gets in total).
  H2cUpgrade raw;
  H2cUpgrade upgrade;
  size_t max_buffered = 0;
};

// How data steps are cut: whole, one step cut in two at an offset, or every step byte by byte.
struct Cutting {
  enum Mode { kWhole, kSplit, kBytes } mode = kWhole;
  size_t step = 0;
  size_t at = 0;
};

Outcome run(const Script& sc, Cutting cut = {}) {
  Outcome o;
  AnalyzerContext ctx{sc.options, o.counters,
                      [&o](Exchange&& x) { o.exchanges.push_back(std::move(x)); }, sc.midstream};
  Http1Analyzer a(std::move(ctx));
  auto data = [&](Direction d, std::string_view b, int64_t t) {
    if (o.upgraded) {
      // The engine feeds these to the HTTP/2 analyzer after the hand-over.
      std::string& rest = d == kC ? o.upgrade.rest_to_server : o.upgrade.rest_to_client;
      int64_t& rt = d == kC ? o.upgrade.rest_to_server_time : o.upgrade.rest_to_client_time;
      if (rest.empty()) rt = t;
      rest.append(b);
      return;
    }
    if (a.state() != State::kActive) return;
    a.data(d, b, t);
    o.max_buffered = std::max(o.max_buffered, a.buffered());
    if (a.state() == State::kUpgradeH2) {
      o.upgraded = true;
      o.raw = a.take_upgrade();
      o.upgrade = o.raw;
    }
  };
  for (size_t i = 0; i < sc.steps.size(); ++i) {
    const Step& st = sc.steps[i];
    switch (st.kind) {
      case Step::kData: {
        const std::string_view b = st.bytes;
        if (cut.mode == Cutting::kBytes) {
          for (size_t k = 0; k < b.size(); ++k) data(st.dir, b.substr(k, 1), st.time);
        } else if (cut.mode == Cutting::kSplit && cut.step == i) {
          data(st.dir, b.substr(0, cut.at), st.time);
          data(st.dir, b.substr(cut.at), st.time);
        } else {
          data(st.dir, b, st.time);
        }
        break;
      }
      case Step::kGap:
        if (a.state() == State::kActive) a.gap(st.dir, st.length, st.time);
        break;
      case Step::kEnd:
        if (a.state() == State::kActive) a.end(st.dir, st.reset, st.time);
        break;
    }
  }
  a.finish(sc.finish_time, sc.end_of_capture);
  o.state = a.state();
  o.max_buffered = std::max(o.max_buffered, a.buffered());
  return o;
}

bool same_upgrade(const H2cUpgrade& a, const H2cUpgrade& b) {
  return a.exchange == b.exchange && a.http2_settings == b.http2_settings &&
         a.rest_to_server == b.rest_to_server && a.rest_to_client == b.rest_to_client &&
         a.rest_to_server_time == b.rest_to_server_time &&
         a.rest_to_client_time == b.rest_to_client_time;
}

// Compares a run with the whole-fed one; reports the first difference only.
bool same(const Outcome& want, const Outcome& got, const std::string& how) {
  if (want.exchanges != got.exchanges) {
    ADD_FAILURE() << how << ": exchanges differ";
    EXPECT_EQ(want.exchanges, got.exchanges) << how;
    return false;
  }
  if (want.counters.to_json() != got.counters.to_json()) {
    ADD_FAILURE() << how << ": counters differ\n  whole: " << want.counters.to_json().dump()
                  << "\n  this:  " << got.counters.to_json().dump();
    return false;
  }
  if (want.state != got.state || want.upgraded != got.upgraded ||
      !same_upgrade(want.upgrade, got.upgrade)) {
    ADD_FAILURE() << how << ": state or hand-over differ";
    return false;
  }
  return true;
}

// Runs the script whole, byte by byte, and (with all_splits) cut in two at every offset of
// every data step; expects the same outcome from all of them and returns the whole one.
Outcome check(const Script& sc, bool all_splits = true) {
  Outcome whole = run(sc);
  if (!same(whole, run(sc, {Cutting::kBytes, 0, 0}), "byte by byte")) return whole;
  if (!all_splits) return whole;
  for (size_t i = 0; i < sc.steps.size(); ++i) {
    if (sc.steps[i].kind != Step::kData) continue;
    for (size_t k = 1; k < sc.steps[i].bytes.size(); ++k) {
      if (!same(whole, run(sc, {Cutting::kSplit, i, k}),
                "step " + std::to_string(i) + " split at " + std::to_string(k))) {
        return whole;
      }
    }
  }
  return whole;
}

Exchange X(uint64_t seq, Request rq, std::optional<Response> rs, Timing t, uint32_t flags = 0,
           ErrorKind error = ErrorKind::kNone, Protocol p = Protocol::kHttp11) {
  Exchange x;
  x.seq = seq;
  x.protocol = p;
  x.time = t;
  x.request = std::move(rq);
  x.response = std::move(rs);
  x.flags = flags;
  x.error = error;
  return x;
}

Request Get(std::string target, std::string host = "h", Headers headers = {}) {
  Request r;
  r.method = "GET";
  r.target = std::move(target);
  r.authority = host;
  r.headers = headers.empty() ? Headers{{"Host", host}} : std::move(headers);
  return r;
}

std::string get(std::string_view target, std::string_view host = "h") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n";
}

std::string ok(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

Response Ok(std::string body) {
  Response r;
  r.status = 200;
  r.reason = "OK";
  r.headers = {{"Content-Length", std::to_string(body.size())}};
  r.body_size = body.size();
  r.body = std::move(body);
  r.framing = Framing::kContentLength;
  return r;
}

uint64_t anomaly(const Outcome& o, std::string_view name) { return o.counters.anomaly_count(name); }

// ---------------------------------------------------------------------------------------------
// Requests and responses

TEST(Http1, KeepAliveTwoExchangesEveryFieldExact) {
  Script sc;
  sc.c("GET /a?x=1 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n",
       1000)
      .s("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: "
         "5\r\n\r\nhello",
         2000)
      .c("GET /b HTTP/1.1\r\nhost: shop.example.com\r\n\r\n", 3000)
      .s("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Request r0{"GET",
             "/a?x=1",
             "shop.example.com",
             {{"Host", "shop.example.com"}, {"User-Agent", "wrk"}, {"Accept", "*/*"}},
             "",
             0,
             Framing::kNone};
  Response s0{
      200,     "OK", {{"Server", "nginx"}, {"Content-Type", "text/plain"}, {"Content-Length", "5"}},
      "hello", 5,    Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, r0, s0, {1000, 1000, 2000, 2000}));
  Request r1{"GET", "/b", "shop.example.com", {{"host", "shop.example.com"}},
             "",    0,    Framing::kNone};
  Response s1{404, "Not Found", {{"Content-Length", "0"}}, "", 0, Framing::kContentLength};
  EXPECT_EQ(o.exchanges[1], X(1, r1, s1, {3000, 3000, 4000, 4000}));
  EXPECT_EQ(o.state, State::kActive);
  EXPECT_TRUE(o.counters.anomalies.empty());
  EXPECT_EQ(o.counters.messages_skipped, 0u);
}

TEST(Http1, PipelinedRequestsPairInOrder) {
  Script sc;
  sc.c(get("/1") + get("/2") + get("/3"), 1000).s(ok("one") + ok("two") + ok("three"), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 3u);
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), Ok("one"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("two"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[2], X(2, Get("/3"), Ok("three"), {1000, 1000, 2000, 2000}));
}

TEST(Http1, PipelinedResponsesInSeparatePacketsEmitAsTheyComplete) {
  Script sc;
  sc.c(get("/1") + get("/2"), 1000).s(ok("one"), 2000).s(ok("two"), 3000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), Ok("one"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("two"), {1000, 1000, 3000, 3000}));
}

TEST(Http1, ContentLengthRequestBody) {
  Script sc;
  sc.c("POST /api/orders HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
       "Content-Length: 13\r\n\r\n{\"item\":\"42\"}",
       1000)
      .s(ok("{}"), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"POST",
            "/api/orders",
            "api",
            {{"Host", "api"}, {"Content-Type", "application/json"}, {"Content-Length", "13"}},
            "{\"item\":\"42\"}",
            13,
            Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, r, Ok("{}"), {1000, 1000, 2000, 2000}));
}

TEST(Http1, ChunkedResponseWithExtensionsAndTrailers) {
  Script sc;
  sc.c(get("/wiki"), 1000)
      .s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
         "4;name=value\r\nWiki\r\n"
         "5 ; ext\r\npedia\r\n"
         "E\r\n in\r\n\r\nchunks.\r\n"
         "0\r\nX-Checksum: abc\r\nX-Other:  v \r\n\r\n",
         2000)
      .c(get("/next"), 3000)
      .s(ok("n"), 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s{200,
             "OK",
             {{"Transfer-Encoding", "chunked"},
              {"Trailer", "X-Checksum"},
              {"X-Checksum", "abc"},
              {"X-Other", "v"}},
             "Wikipedia in\r\n\r\nchunks.",
             23,
             Framing::kChunked};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/wiki"), s, {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/next"), Ok("n"), {3000, 3000, 4000, 4000}));
  EXPECT_TRUE(o.counters.anomalies.empty());
}

TEST(Http1, ChunkedRequestBodyWithUppercaseHexAndEmptyTrailers) {
  Script sc;
  sc.c("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
       "A\r\n0123456789\r\n1\r\nX\r\n0\r\n\r\n",
       1000)
      .s(ok(""), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"POST",
            "/up",
            "h",
            {{"Host", "h"}, {"Transfer-Encoding", "gzip, chunked"}},
            "0123456789X",
            11,
            Framing::kChunked};
  EXPECT_EQ(o.exchanges[0], X(0, r, Ok(""), {1000, 1000, 2000, 2000}));
}

TEST(Http1, CloseDelimitedResponseEndsAtFin) {
  Script sc;
  sc.c("GET /old HTTP/1.0\r\nHost: legacy\r\n\r\n", 1000)
      .s("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>", 2000)
      .s("</html>", 3000)
      .fin(kS, 4000)
      .fin(kC, 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"GET", "/old", "legacy", {{"Host", "legacy"}}, "", 0, Framing::kNone};
  Response s{200, "OK", {{"Content-Type", "text/html"}}, "<html></html>", 13, Framing::kClose};
  EXPECT_EQ(o.exchanges[0],
            X(0, r, s, {1000, 1000, 2000, 3000}, 0, ErrorKind::kNone, Protocol::kHttp10));
}

TEST(Http1, CloseDelimitedResponseResetIsReset) {
  Script sc;
  sc.c("GET /old HTTP/1.0\r\n\r\n", 1000).s("HTTP/1.0 200 OK\r\n\r\nabc", 2000).rst(kS, 3000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"GET", "/old", "", {}, "", 0, Framing::kNone};
  Response s{200, "OK", {}, "abc", 3, Framing::kClose};
  EXPECT_EQ(o.exchanges[0],
            X(0, r, s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kReset, Protocol::kHttp10));
}

TEST(Http1, CloseDelimitedResponseWithoutFinAtEndOfCaptureIsCancelled) {
  Script sc;
  sc.c(get("/stream"), 1000).s("HTTP/1.1 200 OK\r\n\r\nabc", 2000);
  sc.end_of_capture = true;
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Response s{200, "OK", {}, "abc", 3, Framing::kClose};
  EXPECT_EQ(o.exchanges[0],
            X(0, Get("/stream"), s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kCancelled));
}

TEST(Http1, HeadResponseHasNoBodyDespiteContentLength) {
  Script sc;
  sc.c("HEAD /file HTTP/1.1\r\nHost: h\r\n\r\n" + get("/next"), 1000)
      .s("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n" + ok("ok"), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Request r{"HEAD", "/file", "h", {{"Host", "h"}}, "", 0, Framing::kNone};
  Response s{200, "OK", {{"Content-Length", "1234"}}, "", 0, Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, r, s, {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/next"), Ok("ok"), {1000, 1000, 2000, 2000}));
}

TEST(Http1, NoContentAndNotModifiedHaveNoBodyDespiteContentLength) {
  Script sc;
  sc.c(get("/a") + get("/b") + get("/c"), 1000)
      .s("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
         "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\nETag: \"x\"\r\n\r\n" +
             ok("abc"),
         2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 3u);
  Response s204{204, "No Content", {{"Content-Length", "10"}}, "", 0, Framing::kNone};
  Response s304{304, "Not Modified", {{"Content-Length", "99"}, {"ETag", "\"x\""}}, "",
                0,   Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/a"), s204, {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/b"), s304, {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[2], X(2, Get("/c"), Ok("abc"), {1000, 1000, 2000, 2000}));
}

TEST(Http1, InterimResponsesAreSkippedAndTheFinalOnePairs) {
  Script sc;
  sc.c(get("/"), 1000)
      .s("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n", 2000)
      .s("HTTP/1.1 102 Processing\r\n\r\n", 2500)
      .s(ok("hi"), 3000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  EXPECT_EQ(o.exchanges[0], X(0, Get("/"), Ok("hi"), {1000, 1000, 3000, 3000}));
  EXPECT_EQ(o.counters.messages_skipped, 0u);
}

TEST(Http1, ExpectContinueBodyAfterTheInterimResponse) {
  Script sc;
  sc.c("PUT /upload HTTP/1.1\r\nHost: files\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
       1000)
      .s("HTTP/1.1 100 Go Ahead Please\r\n\r\n", 2000)
      .c("hello world", 3000)
      .s("HTTP/1.1 201 Created Just For You\r\nContent-Length: 0\r\n\r\n", 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"PUT",
            "/upload",
            "files",
            {{"Host", "files"}, {"Content-Length", "11"}, {"Expect", "100-continue"}},
            "hello world",
            11,
            Framing::kContentLength};
  Response s{201, "Created Just For You", {{"Content-Length", "0"}}, "",
             0,   Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, r, s, {1000, 3000, 4000, 4000}));
}

TEST(Http1, EarlyFinalResponseWaitsForTheRequestBody) {
  Script sc;
  sc.c("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234", 1000)
      .s("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n", 1500)
      .c("56789", 2000)
      .c(get("/n"), 3000)
      .s(ok("n"), 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Request r{"POST",
            "/up",
            "h",
            {{"Host", "h"}, {"Content-Length", "10"}},
            "0123456789",
            10,
            Framing::kContentLength};
  Response s{413, "Payload Too Large", {{"Content-Length", "0"}}, "", 0, Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, r, s, {1000, 2000, 1500, 1500}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/n"), Ok("n"), {3000, 3000, 4000, 4000}));
}

TEST(Http1, TimesComeFromTheCallsThatCarriedTheFirstAndLastBytes) {
  Script sc;
  sc.c("\r\n", 50)
      .c("POST /t HTTP/1.1\r\nHost: h\r\nContent-", 100)
      .c("Length: 4\r\n\r\nab", 200)
      .c("cd", 300)
      .s("HTTP/1.1 200 OK\r\n", 400)
      .s("Content-Length: 2\r\n\r\no", 500)
      .s("k", 600);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"POST",
            "/t",
            "h",
            {{"Host", "h"}, {"Content-Length", "4"}},
            "abcd",
            4,
            Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, r, Ok("ok"), {100, 300, 400, 600}));
}

TEST(Http1, HeaderValuesTrimOnlyOptionalWhitespaceAndKeepCase) {
  Script sc;
  sc.c("GET / HTTP/1.1\r\nHost:h\r\nX-A:   spaced  value \t\r\nX-Empty:\r\nx-lower: MiXeD\r\n\r\n" +
           get("/2") + get("/3"),
       1000)
      .s("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"
         "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"
         "HTTP/1.1 299 \xc3\x87"
         "a va  \r\nContent-Length: 0\r\n\r\n",
         2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 3u);
  Request r{"GET",
            "/",
            "h",
            {{"Host", "h"}, {"X-A", "spaced  value"}, {"X-Empty", ""}, {"x-lower", "MiXeD"}},
            "",
            0,
            Framing::kNone};
  EXPECT_EQ(o.exchanges[0].request, r);
  ASSERT_TRUE(o.exchanges[0].response);
  EXPECT_EQ(o.exchanges[0].response->status, 200);
  EXPECT_EQ(o.exchanges[0].response->reason, "");
  ASSERT_TRUE(o.exchanges[1].response);
  EXPECT_EQ(o.exchanges[1].response->status, 404);
  EXPECT_EQ(o.exchanges[1].response->reason, "");
  ASSERT_TRUE(o.exchanges[2].response);
  EXPECT_EQ(o.exchanges[2].response->status, 299);
  EXPECT_EQ(o.exchanges[2].response->reason,
            "\xc3\x87"
            "a va  ");
}

TEST(Http1, AuthorityFromHostAbsoluteFormOrConnectTarget) {
  Script sc;
  sc.c("GET http://user:pw@proxy.example:8080/x?y HTTP/1.1\r\nAccept: */*\r\n\r\n"
       "OPTIONS * HTTP/1.1\r\nHost: api.example\r\n\r\n"
       "GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n",
       1000)
      .s(ok("1") + ok("2") + ok("3"), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 3u);
  EXPECT_EQ(o.exchanges[0].request.target, "http://user:pw@proxy.example:8080/x?y");
  EXPECT_EQ(o.exchanges[0].request.authority, "proxy.example:8080");
  EXPECT_EQ(o.exchanges[1].request.method, "OPTIONS");
  EXPECT_EQ(o.exchanges[1].request.target, "*");
  EXPECT_EQ(o.exchanges[1].request.authority, "api.example");
  EXPECT_EQ(o.exchanges[2].request.authority, "b.example");  // Host first
}

TEST(Http1, BareLfAndObsFoldAreParsedAndCounted) {
  Script sc;
  sc.c("GET /lf HTTP/1.1\nHost: h\nX-Folded: first\r\n   second\r\n\tthird\r\n\r\n", 1000)
      .s("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"GET", "/lf", "h",           {{"Host", "h"}, {"X-Folded", "first second third"}},
            "",    0,     Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, r, Ok("ok"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(anomaly(o, "http1.bare_lf"), 2u);  // once per section
  EXPECT_EQ(anomaly(o, "http1.obs_fold"), 2u);
}

TEST(Http1, TransferEncodingWinsOverContentLength) {
  Script sc;
  sc.c(get("/1") + get("/2"), 1000)
      .s("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n" +
             ok("two"),
         2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s{200,   "OK", {{"Content-Length", "100"}, {"Transfer-Encoding", "chunked"}},
             "abc", 3,    Framing::kChunked};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), s, {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("two"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(anomaly(o, "http1.content_length_with_transfer_encoding"), 1u);
}

TEST(Http1, DuplicatedEqualContentLengthIsFineConflictingIsProtocolError) {
  Script sc;
  sc.c(get("/1"), 1000)
      .s("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc", 2000)
      .c(get("/2"), 3000)
      .s("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 4000)
      .c(get("/3"), 5000)
      .s(ok("3"), 6000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 3u);
  Response s0{200,   "OK", {{"Content-Length", "3"}, {"Content-Length", "3, 3"}},
              "abc", 3,    Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), s0, {1000, 1000, 2000, 2000}));
  Response s1{200, "OK", {{"Content-Length", "3"}, {"Content-Length", "4"}}, "", 0, Framing::kNone};
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), s1, {3000, 3000, 4000, 4000}, 0, ErrorKind::kProtocol));
  EXPECT_EQ(o.exchanges[2], X(2, Get("/3"), Ok("3"), {5000, 5000, 6000, 6000}));
  EXPECT_EQ(anomaly(o, "http1.conflicting_content_length"), 1u);
}

// ---------------------------------------------------------------------------------------------
// Upgrades and CONNECT

const std::string kH2cRequest =
    "GET /h2 HTTP/1.1\r\nHost: h2.example\r\nConnection: Upgrade, HTTP2-Settings\r\n"
    "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n";
const std::string kPreface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                             std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
const std::string kSettings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
const std::string kSettingsAck("\x00\x00\x00\x04\x01\x00\x00\x00\x00", 9);
const std::string k101 =
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";

Exchange h2c_exchange(int64_t start, int64_t end) {
  Request r{"GET",
            "/h2",
            "h2.example",
            {{"Host", "h2.example"},
             {"Connection", "Upgrade, HTTP2-Settings"},
             {"Upgrade", "h2c"},
             {"HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"}},
            "",
            0,
            Framing::kNone};
  return X(0, r, std::nullopt, {start, end, kNoTime, kNoTime}, traffic::kFlagUpgrade);
}

TEST(Http1, H2cUpgradeWithPrefaceBeforeThe101) {
  Script sc;
  sc.c(kH2cRequest, 1000).c(kPreface, 1500).s(k101 + kSettings, 2000).s(kSettingsAck, 3000);
  const Outcome o = check(sc);
  EXPECT_TRUE(o.exchanges.empty());
  EXPECT_EQ(o.state, State::kUpgradeH2);
  ASSERT_TRUE(o.upgraded);
  EXPECT_EQ(o.raw.exchange, h2c_exchange(1000, 1000));
  EXPECT_EQ(o.raw.http2_settings, "AAMAAABkAARAAAAAAAIAAAAA");
  EXPECT_EQ(o.raw.rest_to_server, kPreface);  // held before the 101, whatever the split
  EXPECT_EQ(o.raw.rest_to_server_time, 1500);
  EXPECT_EQ(o.upgrade.rest_to_client, kSettings + kSettingsAck);
  EXPECT_EQ(o.upgrade.rest_to_client_time, 2000);
  // Whole, the server's SETTINGS came in the same call as the 101.
  EXPECT_EQ(o.raw.rest_to_client, kSettings);
  EXPECT_TRUE(o.counters.anomalies.empty());
  EXPECT_EQ(o.counters.flows_not_http, 0u);
}

TEST(Http1, H2cUpgradeWithPrefaceAfterThe101) {
  Script sc;
  sc.c(kH2cRequest, 1000).s(k101, 2000).c(kPreface, 2500).s(kSettings, 2600);
  const Outcome o = check(sc);
  EXPECT_TRUE(o.exchanges.empty());
  ASSERT_TRUE(o.upgraded);
  EXPECT_EQ(o.raw.exchange, h2c_exchange(1000, 1000));
  EXPECT_EQ(o.raw.rest_to_server, "");
  EXPECT_EQ(o.raw.rest_to_server_time, kNoTime);
  EXPECT_EQ(o.raw.rest_to_client, "");
  EXPECT_EQ(o.upgrade.rest_to_server, kPreface);
  EXPECT_EQ(o.upgrade.rest_to_server_time, 2500);
  EXPECT_EQ(o.upgrade.rest_to_client, kSettings);
}

TEST(Http1, H2cUpgradeOfARequestWithABodyWaitsForTheBody) {
  Script sc;
  sc.c("POST /h2 HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n"
       "Content-Length: 6\r\n\r\nabc",
       1000)
      .s(k101 + kSettings, 2000)
      .c("def" + kPreface, 3000);
  const Outcome o = check(sc);
  EXPECT_TRUE(o.exchanges.empty());
  ASSERT_TRUE(o.upgraded);
  Request r{"POST",
            "/h2",
            "h",
            {{"Host", "h"}, {"Upgrade", "h2c"}, {"HTTP2-Settings", ""}, {"Content-Length", "6"}},
            "abcdef",
            6,
            Framing::kContentLength};
  EXPECT_EQ(o.raw.exchange,
            X(0, r, std::nullopt, {1000, 3000, kNoTime, kNoTime}, traffic::kFlagUpgrade));
  EXPECT_EQ(o.raw.http2_settings, "");
  EXPECT_EQ(o.upgrade.rest_to_server, kPreface);
  EXPECT_EQ(o.upgrade.rest_to_server_time, 3000);
  EXPECT_EQ(o.upgrade.rest_to_client, kSettings);
  EXPECT_EQ(o.upgrade.rest_to_client_time, 2000);
}

TEST(Http1, DeclinedUpgradeParsesTheHeldBytesAsHttp1) {
  Script sc;
  sc.c("GET /maybe HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMA\r\n"
       "Connection: Upgrade, HTTP2-Settings\r\n\r\n",
       1000)
      .c(get("/second"), 1200)
      .s(ok("one"), 2000)
      .s(ok("two"), 3000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Request r{"GET",
            "/maybe",
            "h",
            {{"Host", "h"},
             {"Upgrade", "h2c"},
             {"HTTP2-Settings", "AAMA"},
             {"Connection", "Upgrade, HTTP2-Settings"}},
            "",
            0,
            Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, r, Ok("one"), {1000, 1000, 2000, 2000}));
  // The held request keeps the time of the call that brought it.
  EXPECT_EQ(o.exchanges[1], X(1, Get("/second"), Ok("two"), {1200, 1200, 3000, 3000}));
  EXPECT_EQ(o.state, State::kActive);
  EXPECT_FALSE(o.upgraded);
  EXPECT_TRUE(o.counters.anomalies.empty());
}

TEST(Http1, DeclinedUpgradeAfterAnInterimResponse) {
  Script sc;
  sc.c("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n" + get("/next"), 1000)
      .s("HTTP/1.1 100 Continue\r\n\r\n", 1500)
      .s("HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n\r\n" + ok("n"), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  ASSERT_TRUE(o.exchanges[0].response);
  EXPECT_EQ(o.exchanges[0].response->status, 426);
  EXPECT_EQ(o.exchanges[0].flags, 0u);
  EXPECT_EQ(o.exchanges[1], X(1, Get("/next"), Ok("n"), {1000, 1000, 2000, 2000}));
}

TEST(Http1, ACutResponseStillDecidesAPendingUpgrade) {
  // A switch whose head a gap cut: not handed over as h2c, but the connection has left HTTP/1.
  Script sc;
  sc.c(kH2cRequest, 1000)
      .c(kPreface, 1500)
      .s("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpg", 2000)
      .gap(kS, 30, 2100)
      .s(kSettings, 2200);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Exchange want = h2c_exchange(1000, 1000);
  want.flags = traffic::kFlagUpgrade | traffic::kFlagGap;
  want.response =
      Response{101, "Switching Protocols", {{"Connection", "Upgrade"}}, "", 0, Framing::kNone};
  want.time.response_start = 2000;
  want.time.response_end = 2000;
  EXPECT_EQ(o.exchanges[0], want);
  EXPECT_EQ(o.state, State::kDone);
  EXPECT_FALSE(o.upgraded);

  // A declining status whose head was cut releases the held request.
  Script d;
  d.c("GET /u HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", 1000)
      .c(get("/held"), 1100)
      .s("HTTP/1.1 400 Bad Request\r\nContent-Le", 2000)
      .gap(kS, 20, 2100)
      .s(ok("held"), 3000);
  const Outcome od = check(d);
  ASSERT_EQ(od.exchanges.size(), 2u);
  EXPECT_EQ(od.exchanges[0].flags, traffic::kFlagGap);
  EXPECT_EQ(od.exchanges[0].response->status, 400);
  EXPECT_EQ(od.exchanges[1], X(1, Get("/held"), Ok("held"), {1100, 1100, 3000, 3000}));
  EXPECT_EQ(od.state, State::kActive);
}

TEST(Http1, WebSocketUpgradeEmitsTheExchangeAndIsDone) {
  const std::string frame("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  Script sc;
  sc.c("GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
       1000)
      .c(frame, 1500)
      .s("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05Hello",
         2000)
      .c(frame, 3000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"GET",
            "/chat",
            "ws.example",
            {{"Host", "ws.example"},
             {"Upgrade", "websocket"},
             {"Connection", "Upgrade"},
             {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
             {"Sec-WebSocket-Version", "13"}},
            "",
            0,
            Framing::kNone};
  Response s{101,
             "Switching Protocols",
             {{"Upgrade", "websocket"},
              {"Connection", "Upgrade"},
              {"Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}},
             "",
             0,
             Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, r, s, {1000, 1000, 2000, 2000}, traffic::kFlagUpgrade));
  EXPECT_EQ(o.state, State::kDone);
  EXPECT_TRUE(o.counters.anomalies.empty());
  EXPECT_EQ(o.counters.flows_not_http, 0u);
}

TEST(Http1, ConnectTunnelEmitsTheExchangeAndIsDone) {
  Script sc;
  sc.c("CONNECT pay.example.com:443 HTTP/1.1\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n",
       1000)
      .c(std::string("\x16\x03\x01\x00\x05hello", 10), 1100)
      .s("HTTP/1.1 200 Connection Established\r\n\r\n", 2000)
      .s(std::string("\x16\x03\x03\x00\x02hi", 7), 2100);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"CONNECT",
            "pay.example.com:443",
            "pay.example.com:443",
            {{"Proxy-Authorization", "Basic dXNlcjpwYXNz"}},
            "",
            0,
            Framing::kNone};
  Response s{200, "Connection Established", {}, "", 0, Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, r, s, {1000, 1000, 2000, 2000}, traffic::kFlagUpgrade));
  EXPECT_EQ(o.state, State::kDone);
  EXPECT_EQ(o.counters.flows_not_http, 0u);
  EXPECT_TRUE(o.counters.anomalies.empty());
}

TEST(Http1, RefusedConnectStaysHttp) {
  Script sc;
  sc.c("CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 1000)
      .s("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno", 2000)
      .c(get("/after"), 3000)
      .s(ok("a"), 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  EXPECT_EQ(o.exchanges[0].flags, 0u);
  EXPECT_EQ(o.exchanges[0].response->status, 407);
  EXPECT_EQ(o.exchanges[0].response->body, "no");
  EXPECT_EQ(o.exchanges[1], X(1, Get("/after"), Ok("a"), {3000, 3000, 4000, 4000}));
  EXPECT_EQ(o.state, State::kActive);
}

TEST(Http1, UpgradeHoldOverflowReleasesTheBytes) {
  Script sc;
  sc.c("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", 1000)
      .c(std::string((1u << 20) + 10, '\x82'), 1100)
      .s("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 2000);
  const Outcome o = check(sc, false);
  ASSERT_EQ(o.exchanges.size(), 1u);
  EXPECT_EQ(o.exchanges[0].flags, traffic::kFlagUpgrade);
  EXPECT_EQ(o.exchanges[0].response->status, 101);
  EXPECT_EQ(anomaly(o, "http1.upgrade_hold_overflow"), 1u);
  EXPECT_EQ(anomaly(o, "http1.bad_request_line"), 1u);  // the released frames are not HTTP
  EXPECT_EQ(o.state, State::kDone);
  EXPECT_LT(o.max_buffered, (1u << 20) + 4096);
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(Http1, LongBodyKeepsExactlyMaxBodyAndStaysInStep) {
  constexpr size_t kLen = 5u << 20;
  std::string body(kLen, '\0');
  for (size_t i = 0; i < kLen; ++i) body[i] = static_cast<char>('a' + (i * 7) % 26);
  Script sc;
  sc.options.max_body = 1u << 20;
  sc.c(get("/big"), 1000)
      .s("HTTP/1.1 200 OK\r\nContent-Length: 5242880\r\n\r\n" + body.substr(0, 1000), 2000);
  for (size_t off = 1000; off < kLen; off += 16384) {
    sc.s(body.substr(off, 16384), 3000);
  }
  sc.c("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3145728\r\n\r\n" +
           body.substr(0, 3u << 20) + get("/next"),
       4000)
      .s(ok("ok") + ok("ok2"), 5000);
  const Outcome o = check(sc, false);
  ASSERT_EQ(o.exchanges.size(), 3u);
  const Exchange& big = o.exchanges[0];
  ASSERT_TRUE(big.response);
  EXPECT_EQ(big.response->body_size, kLen);
  ASSERT_EQ(big.response->body.size(), 1u << 20);
  EXPECT_TRUE(big.response->body == std::string_view(body).substr(0, 1u << 20));
  EXPECT_EQ(big.flags, traffic::kFlagResponseBodyTruncated);
  EXPECT_EQ(big.time, (Timing{1000, 1000, 2000, 3000}));
  const Exchange& up = o.exchanges[1];
  EXPECT_EQ(up.request.body_size, 3u << 20);
  EXPECT_TRUE(up.request.body == std::string_view(body).substr(0, 1u << 20));
  EXPECT_EQ(up.flags, traffic::kFlagRequestBodyTruncated);
  EXPECT_EQ(up.response, Ok("ok"));
  EXPECT_EQ(o.exchanges[2], X(2, Get("/next"), Ok("ok2"), {4000, 4000, 5000, 5000}));
  EXPECT_EQ(o.counters.bodies_truncated, 2u);
  // Memory stays near max_body: only the kept part of a body is held.
  EXPECT_LT(o.max_buffered, (1u << 20) + 4096);
}

TEST(Http1, HeaderSectionTooLongIsWrittenWithProtocolErrorAndResyncs) {
  Script sc;
  sc.options.max_header_bytes = 200;
  sc.c("GET /big HTTP/1.1\r\nHost: h\r\nCookie: " + std::string(400, 'a') + "\r\n\r\n" +
           get("/small"),
       1000)
      .s("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n" + ok("ok"),
         2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s431{431,
                "Request Header Fields Too Large",
                {{"Content-Length", "0"}},
                "",
                0,
                Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0],
            X(0, Get("/big"), s431, {1000, 1000, 2000, 2000}, 0, ErrorKind::kProtocol));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/small"), Ok("ok"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(anomaly(o, "http1.header_too_long"), 1u);
  EXPECT_LE(o.max_buffered, 1024u);
}

TEST(Http1, MaxPendingWritesOutTheOldestAndSkipsItsResponse) {
  Script sc;
  sc.options.max_pending = 1;
  sc.c(get("/1") + get("/2"), 1000).s(ok("one") + ok("two"), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), std::nullopt, {1000, 1000, kNoTime, kNoTime},
                              traffic::kFlagNoResponse));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("two"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(anomaly(o, "http1.too_many_pending"), 1u);
  EXPECT_EQ(o.counters.messages_skipped, 1u);
}

TEST(Http1, HundredThousandRequestPipelineIsBoundedByMaxPending) {
  constexpr size_t kN = 100000;
  Script sc;
  sc.options.max_pending = 16;
  std::string reqs;
  std::string resps;
  for (size_t i = 0; i < kN; ++i) {
    reqs += get("/" + std::to_string(i));
    resps += ok(std::to_string(i));
    if (i % 100 == 99) {
      sc.c(std::move(reqs), 1000 + static_cast<int64_t>(i));
      reqs.clear();
    }
  }
  for (size_t off = 0; off < resps.size(); off += 1460) sc.s(resps.substr(off, 1460), 500000);
  const Outcome o = check(sc, false);
  ASSERT_EQ(o.exchanges.size(), kN);
  for (size_t i = 0; i < kN; ++i) {
    const Exchange& x = o.exchanges[i];
    ASSERT_EQ(x.seq, i);
    ASSERT_EQ(x.request.target, "/" + std::to_string(i));
    if (i < kN - 16) {
      ASSERT_EQ(x.flags, traffic::kFlagNoResponse) << i;
      ASSERT_FALSE(x.response) << i;
    } else {
      ASSERT_TRUE(x.response) << i;
      ASSERT_EQ(x.response->body, std::to_string(i));
    }
  }
  EXPECT_EQ(anomaly(o, "http1.too_many_pending"), kN - 16);
  EXPECT_EQ(o.counters.messages_skipped, kN - 16);
  EXPECT_LT(o.max_buffered, 16u * 1024);
}

// ---------------------------------------------------------------------------------------------
// Gaps, resets, finish

TEST(Http1, GapInsideAContentLengthBodyStaysInStep) {
  Script sc;
  sc.c(get("/big"), 1000)
      .s("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234", 2000)
      .gap(kS, 10, 2500)
      .s("ABCDE", 3000)
      .c(get("/next"), 4000)
      .s(ok("ok"), 5000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s{200, "OK", {{"Content-Length", "20"}}, "01234", 20, Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/big"), s, {1000, 1000, 2000, 3000}, traffic::kFlagGap));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/next"), Ok("ok"), {4000, 4000, 5000, 5000}));
  EXPECT_EQ(o.counters.messages_skipped, 0u);
}

TEST(Http1, GapInsideAChunkStaysInStepAndGapEndingTheBodyCompletesIt) {
  Script sc;
  sc.c(get("/c") + get("/l"), 1000)
      .s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n012", 2000)
      .gap(kS, 5, 2100)
      .s("89\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc", 2200)
      .gap(kS, 3, 2300)
      .c(get("/z"), 2350)
      .s(ok("z"), 2400);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 3u);
  Response c{200, "OK", {{"Transfer-Encoding", "chunked"}}, "012", 10, Framing::kChunked};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/c"), c, {1000, 1000, 2000, 2200}, traffic::kFlagGap));
  Response l{200, "OK", {{"Content-Length", "6"}}, "abc", 6, Framing::kContentLength};
  EXPECT_EQ(o.exchanges[1], X(1, Get("/l"), l, {1000, 1000, 2200, 2300}, traffic::kFlagGap));
  EXPECT_EQ(o.exchanges[2], X(2, Get("/z"), Ok("z"), {2350, 2350, 2400, 2400}));
}

TEST(Http1, GapInsideRequestHeadersKeepsWhatWasParsedAndResyncs) {
  Script sc;
  sc.c("GET /lost HTTP/1.1\r\nHost: h\r\nX-Long: aaaa", 1000)
      .gap(kC, 500, 1100)
      .c("aaaa\r\nMore: x\r\n\r\n" + get("/after"), 1200)
      .s(ok("A"), 2000)
      .s(ok("B"), 2100);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  EXPECT_EQ(o.exchanges[0],
            X(0, Get("/lost"), Ok("A"), {1000, 1000, 2000, 2000}, traffic::kFlagGap));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/after"), Ok("B"), {1200, 1200, 2100, 2100}));
  EXPECT_EQ(o.counters.messages_skipped, 0u);
  EXPECT_TRUE(o.counters.anomalies.empty());
}

TEST(Http1, LostResponseDoesNotShiftPairing) {
  Script sc;
  sc.c(get("/1"), 1000)
      .gap(kS, 300, 2000)  // the whole response to /1
      .c(get("/2"), 3000)
      .s(ok("2"), 4000)
      .c(get("/3"), 5000)
      .s(ok("3"), 6000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 3u);
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), std::nullopt, {1000, 1000, kNoTime, kNoTime},
                              traffic::kFlagNoResponse | traffic::kFlagGap));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("2"), {3000, 3000, 4000, 4000}));
  EXPECT_EQ(o.exchanges[2], X(2, Get("/3"), Ok("3"), {5000, 5000, 6000, 6000}));
}

TEST(Http1, GapInAResponseHeadOnAPipelinedConnectionPairsTheNextResponseFifo) {
  Script sc;
  sc.c(get("/1") + get("/2") + get("/3") + get("/4"), 1000)
      .s(ok("1"), 2000)
      .s("HTTP/1.1 200 OK\r\nContent-Le", 3000)
      .gap(kS, 100, 3100)
      .s(ok("3") + ok("4"), 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 4u);
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), Ok("1"), {1000, 1000, 2000, 2000}));
  Response cut{200, "OK", {}, "", 0, Framing::kNone};
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), cut, {1000, 1000, 3000, 3000}, traffic::kFlagGap));
  EXPECT_EQ(o.exchanges[2], X(2, Get("/3"), Ok("3"), {1000, 1000, 4000, 4000}));
  EXPECT_EQ(o.exchanges[3], X(3, Get("/4"), Ok("4"), {1000, 1000, 4000, 4000}));
}

TEST(Http1, GapInACloseDelimitedBodyCountsTheBytes) {
  Script sc;
  sc.c(get("/s"), 1000)
      .s("HTTP/1.1 200 OK\r\n\r\nabc", 2000)
      .gap(kS, 10, 2100)
      .s("def", 2200)
      .fin(kS, 2300);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Response s{200, "OK", {}, "abc", 16, Framing::kClose};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/s"), s, {1000, 1000, 2000, 2200}, traffic::kFlagGap));
}

TEST(Http1, ResetMidBody) {
  Script sc;
  sc.c(get("/r"), 1000)
      .s("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(40, 'x'), 2000)
      .rst(kS, 2500);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Response s{
      200, "OK", {{"Content-Length", "100"}}, std::string(40, 'x'), 40, Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/r"), s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kReset));
}

TEST(Http1, ClientFinMidBodyTruncatesTheRequest) {
  Script sc;
  sc.c("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", 1000)
      .fin(kC, 1100)
      .s("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  Request r{"POST",
            "/p",
            "h",
            {{"Host", "h"}, {"Content-Length", "10"}},
            "abc",
            3,
            Framing::kContentLength};
  Response s{400, "Bad Request", {{"Content-Length", "0"}}, "", 0, Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, r, s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kTruncated));
}

TEST(Http1, FinishAtEndOfCaptureCancelsPendingRequests) {
  Script sc;
  sc.c(get("/1") + get("/2"), 1000).s("HTTP/1.1 200 OK\r\nContent-Len", 2000);
  sc.end_of_capture = true;
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response partial{200, "OK", {}, "", 0, Framing::kNone};
  EXPECT_EQ(o.exchanges[0],
            X(0, Get("/1"), partial, {1000, 1000, 2000, 2000}, 0, ErrorKind::kCancelled));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), std::nullopt, {1000, 1000, kNoTime, kNoTime},
                              traffic::kFlagNoResponse, ErrorKind::kCancelled));
}

TEST(Http1, FinishOnIdleWritesPendingRequestsWithoutError) {
  Script sc;
  sc.c(get("/1") + "GET /2 HTTP/1.1\r\nHost: h\r\nX-Par", 1000)
      .s("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s{200, "OK", {{"Content-Length", "9"}}, "abc", 3, Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kTruncated));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), std::nullopt, {1000, 1000, kNoTime, kNoTime},
                              traffic::kFlagNoResponse, ErrorKind::kTruncated));
}

TEST(Http1, ServerResetLeavesUnansweredRequestsReset) {
  Script sc;
  sc.c(get("/1"), 1000).rst(kS, 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), std::nullopt, {1000, 1000, kNoTime, kNoTime},
                              traffic::kFlagNoResponse, ErrorKind::kReset));
}

// ---------------------------------------------------------------------------------------------
// Midstream, not HTTP, hostile input

TEST(Http1, MidstreamStartInTheMiddleOfBodies) {
  Script sc;
  sc.midstream = true;
  sc.c("ody-of-a-previous-post\r\n" + get("/next"), 1000)
      .s("rest of an old response body\r\n" + ok("ok"), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  EXPECT_EQ(o.exchanges[0],
            X(0, Get("/next"), Ok("ok"), {1000, 1000, 2000, 2000}, traffic::kFlagMidstream));
  EXPECT_EQ(o.counters.messages_skipped, 0u);
  EXPECT_TRUE(o.counters.anomalies.empty());
}

TEST(Http1, MidstreamStartInHeadersSkipsTheResponseToTheUnseenRequest) {
  Script sc;
  sc.midstream = true;
  sc.c("ept: */*\r\nHost: h\r\n\r\n", 1000)
      .s(ok("old"), 1500)
      .c(get("/seen"), 2000)
      .s(ok("new"), 3000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 1u);
  EXPECT_EQ(o.exchanges[0],
            X(0, Get("/seen"), Ok("new"), {2000, 2000, 3000, 3000}, traffic::kFlagMidstream));
  EXPECT_EQ(o.counters.messages_skipped, 1u);
  EXPECT_TRUE(o.counters.anomalies.empty());
}

TEST(Http1, MidstreamFindsMessagesGluedToTheSkippedBodies) {
  Script sc;
  sc.midstream = true;
  sc.c("d=hello worldPOST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na=b", 1000)
      .s("tail of a text bodyHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 2000)
      .c("{\"x\":1}", 2500)   // an unknown body: the request direction is in step, so this is
      .c(get("/json"), 3000)  // a bad request line and /json is found after the '}'
      .s(ok("j"), 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Request r{"POST",
            "/form",
            "h",
            {{"Host", "h"}, {"Content-Length", "3"}},
            "a=b",
            3,
            Framing::kContentLength};
  Response s{201, "Created", {{"Content-Length", "0"}}, "", 0, Framing::kContentLength};
  EXPECT_EQ(o.exchanges[0], X(0, r, s, {1000, 1000, 2000, 2000}, traffic::kFlagMidstream));
  EXPECT_EQ(o.exchanges[1],
            X(1, Get("/json"), Ok("j"), {3000, 3000, 4000, 4000}, traffic::kFlagMidstream));
  EXPECT_EQ(anomaly(o, "http1.bad_request_line"), 1u);
  EXPECT_EQ(o.counters.messages_skipped, 1u);
}

TEST(Http1, TlsClientHelloIsNotHttp) {
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x5a\x5b", 13);
  Script sc;
  sc.c(hello, 1000).s(std::string("\x16\x03\x03\x00\x5a\x02", 6), 2000);
  const Outcome o = check(sc);
  EXPECT_TRUE(o.exchanges.empty());
  EXPECT_EQ(o.state, State::kDone);
  EXPECT_EQ(o.counters.flows_not_http, 1u);
  EXPECT_TRUE(o.counters.anomalies.empty());

  // Decided at the first byte, without waiting for more.
  Counters counters;
  AnalyzerOptions options;
  Http1Analyzer a({options, counters, nullptr, false});
  a.data(kC, "\x16", 1000);
  EXPECT_EQ(a.state(), State::kDone);
  EXPECT_EQ(counters.flows_not_http, 1u);
}

TEST(Http1, NotHttpIsDecidedWithinTheFirstLine) {
  Counters counters;
  AnalyzerOptions options;
  Http1Analyzer a({options, counters, nullptr, false});
  a.data(kC, "GE", 1000);
  EXPECT_EQ(a.state(), State::kActive);  // could still be GET
  a.data(kC, "T /x HTTP/1.1", 1000);
  EXPECT_EQ(a.state(), State::kActive);
  a.data(kC, "\r\n", 1000);
  EXPECT_EQ(a.state(), State::kActive);

  Counters c2;
  Http1Analyzer b({options, c2, nullptr, false});
  b.data(kC, "SSH-2.0-OpenSSH_9.2p1 Debian\r\n", 1000);
  EXPECT_EQ(b.state(), State::kDone);
  EXPECT_EQ(c2.flows_not_http, 1u);

  Counters c3;  // a server that speaks first
  Http1Analyzer c({options, c3, nullptr, false});
  c.data(kS, "220 mail.example.com ESMTP\r\n", 1000);
  EXPECT_EQ(c.state(), State::kDone);
  EXPECT_EQ(c3.flows_not_http, 1u);
}

TEST(Http1, Http2PriorKnowledgeIsNotCountedAsNotHttp) {
  Script sc;
  sc.c(kPreface, 1000);
  const Outcome o = check(sc);
  EXPECT_EQ(o.state, State::kDone);
  EXPECT_EQ(o.counters.flows_not_http, 0u);
  EXPECT_EQ(anomaly(o, "http1.h2_prior_knowledge"), 1u);
}

TEST(Http1, UnpairedResponseIsSkippedAndCounted) {
  Script sc;
  sc.c(get("/1"), 1000).s(ok("1") + ok("extra"), 2000).c(get("/2"), 3000).s(ok("2"), 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), Ok("1"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("2"), {3000, 3000, 4000, 4000}));
  EXPECT_EQ(anomaly(o, "http1.unpaired_response"), 1u);
  EXPECT_EQ(o.counters.messages_skipped, 1u);
}

TEST(Http1, HugeChunkSizeIsAProtocolErrorAndTheStreamResyncs) {
  Script sc;
  sc.c(get("/1"), 1000)
      .s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nxxxx\r\n",
         2000)
      .c(get("/2"), 3000)
      .s(ok("ok"), 4000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s{200, "OK", {{"Transfer-Encoding", "chunked"}}, "", 0, Framing::kChunked};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kProtocol));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("ok"), {3000, 3000, 4000, 4000}));
  EXPECT_EQ(anomaly(o, "http1.bad_chunk_size"), 1u);
}

TEST(Http1, BadChunkEndIsAProtocolError) {
  Script sc;
  sc.c(get("/1") + get("/2"), 1000)
      .s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n" + ok("2"),
         2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s{200, "OK", {{"Transfer-Encoding", "chunked"}}, "abc", 3, Framing::kChunked};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kProtocol));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("2"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(anomaly(o, "http1.bad_chunk_end"), 1u);
}

TEST(Http1, NegativeAndOverflowingContentLength) {
  Script sc;
  sc.c("POST /neg HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 1000)
      .c(get("/next"), 1100)
      .s("HTTP/1.1 400 Bad Request\r\nContent-Length: 99999999999999999999\r\n\r\n", 2000)
      .s(ok("ok"), 2100);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Request r{"POST", "/neg", "h", {{"Host", "h"}, {"Content-Length", "-1"}}, "", 0, Framing::kNone};
  Response s{400, "Bad Request", {{"Content-Length", "99999999999999999999"}}, "",
             0,   Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, r, s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kProtocol));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/next"), Ok("ok"), {1100, 1100, 2100, 2100}));
  EXPECT_EQ(anomaly(o, "http1.bad_content_length"), 2u);
}

TEST(Http1, NulBytesInHeadersAreKeptInTheRequestLineTheyAreSkipped) {
  Script sc;
  sc.c(std::string("GET /ok HTTP/1.1\r\nHost: h\r\nX-Nul: a\0b\r\n\r\n"sv), 1000)
      .s(ok("1"), 1500)
      .c(std::string("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n\0\0\0\r\n"sv), 2000)
      .s("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 2500)
      .c(get("/after"), 3000)
      .s(ok("3"), 3500);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Request r{"GET", "/ok", "h",           {{"Host", "h"}, {"X-Nul", std::string("a\0b"sv)}},
            "",    0,     Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, r, Ok("1"), {1000, 1000, 1500, 1500}));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/after"), Ok("3"), {3000, 3000, 3500, 3500}));
  EXPECT_EQ(anomaly(o, "http1.bad_request_line"), 1u);
  EXPECT_EQ(anomaly(o, "http1.unpaired_response"), 1u);  // the 400 answers the skipped one
  EXPECT_EQ(o.counters.messages_skipped, 2u);
}

TEST(Http1, GapInChunkFramingEndsTheBodyAndResyncs) {
  Script sc;
  sc.c(get("/1") + get("/2"), 1000)
      .s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1", 2000)
      .gap(kS, 40, 2100)  // the rest of the size line and beyond: the framing is lost
      .s("ef\r\n0\r\n\r\n" + ok("2"), 2200);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s{200, "OK", {{"Transfer-Encoding", "chunked"}}, "abc", 3, Framing::kChunked};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), s, {1000, 1000, 2000, 2100}, traffic::kFlagGap));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("2"), {1000, 1000, 2200, 2200}));
  EXPECT_EQ(o.counters.messages_skipped, 0u);
}

TEST(Http1, ChunkSizeLineTooLongIsAProtocolError) {
  Script sc;
  sc.c(get("/1") + get("/2"), 1000)
      .s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + std::string(5000, 'e') +
             "\r\nabcde\r\n0\r\n\r\n" + ok("2"),
         2000);
  const Outcome o = check(sc, false);
  ASSERT_EQ(o.exchanges.size(), 2u);
  Response s{200, "OK", {{"Transfer-Encoding", "chunked"}}, "", 0, Framing::kChunked};
  EXPECT_EQ(o.exchanges[0], X(0, Get("/1"), s, {1000, 1000, 2000, 2000}, 0, ErrorKind::kProtocol));
  EXPECT_EQ(o.exchanges[1], X(1, Get("/2"), Ok("2"), {1000, 1000, 2000, 2000}));
  EXPECT_EQ(anomaly(o, "http1.chunk_line_too_long"), 1u);
}

TEST(Http1, OddButParseableHeads) {
  Script sc;
  sc.c("GET /v HTTP/1.2\r\nHost : h\r\nno colon here\r\n\r\n"
       "HEAD /h HTTP/1.0\r\nHost: h\r\n\r\n",
       1000)
      .c(get("/x"), 1500)
      .s(ok("v") + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + ok("x"), 2000);
  const Outcome o = check(sc);
  ASSERT_EQ(o.exchanges.size(), 3u);
  Request r{"GET", "/v", "h", {{"Host", "h"}}, "", 0, Framing::kNone};
  EXPECT_EQ(o.exchanges[0], X(0, r, Ok("v"), {1000, 1000, 2000, 2000}));
  Request head{"HEAD", "/h", "h", {{"Host", "h"}}, "", 0, Framing::kNone};
  Response chunked_head{200, "OK", {{"Transfer-Encoding", "chunked"}}, "", 0, Framing::kNone};
  EXPECT_EQ(o.exchanges[1], X(1, head, chunked_head, {1000, 1000, 2000, 2000}, 0, ErrorKind::kNone,
                              Protocol::kHttp10));
  EXPECT_EQ(o.exchanges[2], X(2, Get("/x"), Ok("x"), {1500, 1500, 2000, 2000}));
  EXPECT_EQ(anomaly(o, "http1.unknown_version"), 1u);
  EXPECT_EQ(anomaly(o, "http1.space_before_colon"), 1u);
  EXPECT_EQ(anomaly(o, "http1.bad_header_line"), 1u);
}

TEST(Http1, BufferedCountsPartialHeadsAndReturnsToZero) {
  Counters counters;
  AnalyzerOptions options;
  std::vector<Exchange> out;
  Http1Analyzer a({options, counters, [&](Exchange&& x) { out.push_back(std::move(x)); }, false});
  a.data(kC, "GET / HTTP/1.1\r\nHo", 1);
  EXPECT_EQ(a.buffered(), 18u);
  a.data(kC, "st: h\r\n\r\n", 2);
  EXPECT_GT(a.buffered(), 0u);  // the pending request
  a.data(kS, ok("x"), 3);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(a.buffered(), 0u);
}

}  // namespace
}  // namespace twin::capture
