// Tests of the HTTP/1.1 client codec: serialize_http1 and Http1ResponseParser. Every response is
// fed whole, split at every offset, byte by byte and in random pieces (DESIGN.md): each way must
// give the same completions, and the expected values below are written out by hand. Each check
// runs twice: with the fast head path, and with every head through Beast (its reference); the
// FastPath tests at the end compare the two on generated and mutated heads.

#include "twin/replay/http1.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace twin::replay {
namespace {

using Status = Http1ResponseParser::Status;
using traffic::ErrorKind;
using traffic::Framing;
using traffic::Headers;
using traffic::kNoTime;
using traffic::Response;

}  // namespace

// Readable failures.
void PrintTo(Http1ResponseParser::Status s, std::ostream* os) {
  *os << (s == Http1ResponseParser::Status::kDone     ? "kDone"
          : s == Http1ResponseParser::Status::kFailed ? "kFailed"
                                                      : "kNeedMore");
}

}  // namespace twin::replay

namespace twin::traffic {
void PrintTo(const Header& h, std::ostream* os) {
  *os << ::testing::PrintToString(h.name) << ": " << ::testing::PrintToString(h.value);
}
void PrintTo(const Response& r, std::ostream* os) {
  *os << "{" << r.status << " " << ::testing::PrintToString(r.reason)
      << " headers=" << ::testing::PrintToString(r.headers)
      << " body=" << ::testing::PrintToString(r.body) << " body_size=" << r.body_size
      << " framing=" << to_string(r.framing) << "}";
}
void PrintTo(ErrorKind e, std::ostream* os) { *os << to_string(e); }
}  // namespace twin::traffic

namespace twin::replay {
namespace {

// ---------------------------------------------------------------------------------------------
// The harness: one connection's bytes, cut into pieces, fed to one parser.

enum class End { kNone, kEof, kReset };

struct Conn {
  std::vector<bool> heads{false};  // one entry per request: whether it was HEAD
  size_t max_body = 1 << 20;
  End end = End::kNone;  // how the connection ends after the last piece
};

struct Got {
  Status status;
  Completion c;
  bool keep_alive;
  std::string failure;
  size_t end;  // offset in the wire just past what the parser consumed for this response
};

constexpr int64_t kFinishTime = 1'000'000;
constexpr uint64_t kToken = 1000;
int64_t piece_time(size_t piece) { return 100 * static_cast<int64_t>(piece + 1); }

// Feeds `wire` cut at `cuts` (increasing offsets inside the wire), piece i at piece_time(i),
// starting the parser anew for each request of `conn` after each completion.
// `memo`, when given, is the fast path's memo (shared with other runs); `memo_lines` counts the
// lines taken from it.
std::vector<Got> run(std::string_view wire, const std::vector<size_t>& cuts, const Conn& conn,
                     bool beast_only = false, uint64_t* fast_heads = nullptr,
                     std::shared_ptr<Http1HeadMemo> memo = nullptr,
                     uint64_t* memo_lines = nullptr) {
  Http1ResponseParser p(conn.max_body, beast_only, std::move(memo));
  struct Count {
    Http1ResponseParser& p;
    uint64_t* out;
    uint64_t* memo_out;
    ~Count() {
      if (out) *out += p.fast_heads();
      if (memo_out) *memo_out += p.memo_lines();
    }
  } count{p, fast_heads, memo_lines};
  std::vector<Got> got;
  size_t next = 0;
  p.start(kToken, conn.heads[0]);
  auto record = [&](Status s, size_t end) {
    got.push_back({s, p.completion(), p.keep_alive(), std::string(p.failure()), end});
  };
  bool stopped = false;
  size_t begin = 0;
  for (size_t i = 0; i <= cuts.size() && !stopped; ++i) {
    const size_t stop = i < cuts.size() ? cuts[i] : wire.size();
    size_t off = begin;
    while (off < stop) {
      const auto f = p.feed(wire.data() + off, stop - off, piece_time(i));
      EXPECT_LE(f.consumed, stop - off);
      if (f.status == Status::kNeedMore) {
        EXPECT_EQ(f.consumed, stop - off);
        break;
      }
      off += f.consumed;
      record(f.status, off);
      if (f.status == Status::kFailed || ++next == conn.heads.size()) {
        stopped = true;
        break;
      }
      p.start(kToken + next, conn.heads[next]);
    }
    begin = stop;
  }
  if (!stopped && conn.end != End::kNone) {
    record(p.finish(kFinishTime, conn.end == End::kReset), wire.size());
  }
  return got;
}

struct Want {
  Status status = Status::kDone;
  ErrorKind error = ErrorKind::kNone;
  bool has_response = true;
  Response response;
  uint32_t flags = 0;
  bool keep_alive = true;
  size_t end = 0;          // offset just past the response in the wire
  bool by_finish = false;  // ended by finish(): response_end is the finish time
};

Response resp(int status, std::string reason, Headers headers, std::string body, uint64_t body_size,
              Framing framing) {
  Response r;
  r.status = status;
  r.reason = std::move(reason);
  r.headers = std::move(headers);
  r.body = std::move(body);
  r.body_size = body_size;
  r.framing = framing;
  return r;
}

size_t piece_of(const std::vector<size_t>& cuts, size_t offset) {
  size_t n = 0;
  for (size_t c : cuts) n += c <= offset ? 1 : 0;
  return n;
}

std::string describe(const std::vector<size_t>& cuts) {
  std::string s = "cuts:";
  for (size_t c : cuts) s += " " + std::to_string(c);
  return s;
}

void check_one(std::string_view wire, const std::vector<size_t>& cuts, const Conn& conn,
               const std::vector<Want>& wants, bool beast_only) {
  SCOPED_TRACE(describe(cuts) + (beast_only ? " (Beast only)" : " (fast path)"));
  const std::vector<Got> got = run(wire, cuts, conn, beast_only);
  ASSERT_EQ(got.size(), wants.size());
  for (size_t j = 0; j < got.size(); ++j) {
    SCOPED_TRACE("response " + std::to_string(j));
    const Got& g = got[j];
    const Want& w = wants[j];
    EXPECT_EQ(g.status, w.status);
    EXPECT_EQ(g.c.token, kToken + j);
    EXPECT_EQ(g.c.error, w.error);
    EXPECT_EQ(g.c.has_response, w.has_response);
    EXPECT_EQ(g.c.response, w.response);
    EXPECT_EQ(g.c.response.headers, w.response.headers);
    EXPECT_EQ(g.c.response.body, w.response.body);
    EXPECT_EQ(g.c.flags, w.flags);
    EXPECT_EQ(g.keep_alive, w.keep_alive);
    EXPECT_EQ(g.failure.empty(), w.status != Status::kFailed) << g.failure;
    // Where a protocol failure is noticed depends on the parser, not on the contract.
    if (w.error == ErrorKind::kProtocol) continue;
    EXPECT_EQ(g.end, w.end);
    const size_t first = j == 0 ? 0 : wants[j - 1].end;
    const bool any = first < wire.size();
    EXPECT_EQ(g.c.response_start, any ? piece_time(piece_of(cuts, first)) : kNoTime);
    if (w.by_finish) {
      EXPECT_EQ(g.c.response_end, any ? kFinishTime : kNoTime);
    } else {
      EXPECT_EQ(g.c.response_end, piece_time(piece_of(cuts, w.end - 1)));
    }
  }
}

void check(std::string_view wire, const std::vector<size_t>& cuts, const Conn& conn,
           const std::vector<Want>& wants) {
  check_one(wire, cuts, conn, wants, false);
  check_one(wire, cuts, conn, wants, true);
}

// Whole, every split in two, byte by byte, and random pieces.
void expect_every_split(std::string_view wire, const Conn& conn, const std::vector<Want>& wants) {
  check(wire, {}, conn, wants);
  if (::testing::Test::HasFailure()) return;
  for (size_t k = 1; k < wire.size(); ++k) {
    check(wire, {k}, conn, wants);
    if (::testing::Test::HasFailure()) return;
  }
  std::vector<size_t> all;
  for (size_t k = 1; k < wire.size(); ++k) all.push_back(k);
  check(wire, all, conn, wants);
  if (::testing::Test::HasFailure()) return;
  std::mt19937 rng(7);
  for (int round = 0; round < 50 && wire.size() > 2; ++round) {
    std::vector<size_t> cuts;
    for (size_t k = 1; k < wire.size(); ++k) {
      if (rng() % 8 == 0) cuts.push_back(k);
    }
    check(wire, cuts, conn, wants);
    if (::testing::Test::HasFailure()) return;
  }
}

// ---------------------------------------------------------------------------------------------
// Framing

TEST(Http1Response, ContentLength) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
  Want w;
  w.response = resp(200, "OK", {{"Content-Type", "text/plain"}, {"Content-Length", "5"}}, "hello",
                    5, Framing::kContentLength);
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

TEST(Http1Response, ContentLengthZero) {
  const std::string wire = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
  Want w;
  w.response = resp(201, "Created", {{"Content-Length", "0"}}, "", 0, Framing::kContentLength);
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

TEST(Http1Response, BinaryBodyKeptExactly) {
  std::string body;
  for (int i = 0; i < 256; ++i) body += static_cast<char>(i);
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 256\r\n\r\n" + body;
  Want w;
  w.response = resp(200, "OK", {{"Content-Length", "256"}}, body, 256, Framing::kContentLength);
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

TEST(Http1Response, ChunkedWithExtensionsAndTrailers) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "6;a;b=\"q r\"\r\n world\r\n"
      "A\r\n0123456789\r\n"
      "0;last\r\nX-Trailer: t1\r\nx-other: T2\r\n\r\n";
  Want w;
  w.response =
      resp(200, "OK", {{"Transfer-Encoding", "chunked"}, {"X-Trailer", "t1"}, {"x-other", "T2"}},
           "hello world0123456789", 21, Framing::kChunked);
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

TEST(Http1Response, ChunkedWithoutTrailers) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  Want w;
  w.response = resp(200, "OK", {{"Transfer-Encoding", "chunked"}}, "abc", 3, Framing::kChunked);
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

TEST(Http1Response, ChunkedEmptyBodyWithTrailers) {
  // The last chunk comes first: cut anywhere, Beast must still see it whole (see http1.cc).
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000\r\n\r\n";
  Conn conn;
  conn.heads = {false, false};
  Want a;
  a.response =
      resp(200, "OK", {{"Transfer-Encoding", "chunked"}, {"X-T", "1"}}, "", 0, Framing::kChunked);
  a.end = wire.find("HTTP", 1);
  Want b;
  b.response = resp(200, "OK", {{"Transfer-Encoding", "chunked"}}, "", 0, Framing::kChunked);
  b.end = wire.size();
  expect_every_split(wire, conn, {a, b});
}

TEST(Http1Response, CloseDelimitedEndsAtEof) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>until close";
  Conn conn;
  conn.end = End::kEof;
  Want w;
  w.response =
      resp(200, "OK", {{"Content-Type", "text/html"}}, "<html>until close", 17, Framing::kClose);
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, CloseDelimitedEmptyBody) {
  const std::string wire = "HTTP/1.0 200 OK\r\n\r\n";
  Conn conn;
  conn.end = End::kEof;
  Want w;
  w.response = resp(200, "OK", {}, "", 0, Framing::kClose);
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, CloseDelimitedWaitsForEof) {
  Http1ResponseParser p(1024);
  p.start(1, false);
  const std::string wire = "HTTP/1.1 200 OK\r\n\r\nabc";
  const auto f = p.feed(wire.data(), wire.size(), 5);
  EXPECT_EQ(f.status, Status::kNeedMore);
  EXPECT_EQ(f.consumed, wire.size());
  EXPECT_FALSE(p.keep_alive());
  EXPECT_EQ(p.finish(9), Status::kDone);
  EXPECT_EQ(p.completion().response.body, "abc");
  EXPECT_EQ(p.completion().response_start, 5);
  EXPECT_EQ(p.completion().response_end, 9);
  EXPECT_EQ(p.completion().error, ErrorKind::kNone);
  EXPECT_FALSE(p.keep_alive());
}

TEST(Http1Response, CloseDelimitedResetIsAnError) {
  const std::string wire = "HTTP/1.1 200 OK\r\n\r\npartial";
  Conn conn;
  conn.end = End::kReset;
  Want w;
  w.status = Status::kFailed;
  w.error = ErrorKind::kReset;
  w.response = resp(200, "OK", {}, "partial", 7, Framing::kClose);
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, UnknownTransferEncodingIsCloseDelimited) {
  const std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz";
  Conn conn;
  conn.end = End::kEof;
  Want w;
  w.response = resp(200, "OK", {{"Transfer-Encoding", "gzip"}}, "zz", 2, Framing::kClose);
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

// ---------------------------------------------------------------------------------------------
// Responses without a body

TEST(Http1Response, HeadHasNoBody) {
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
  const std::string second = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string third = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  const std::string wire = first + second + third;
  Conn conn;
  conn.heads = {true, true, false};
  Want a;
  a.response = resp(200, "OK", {{"Content-Length", "1234"}}, "", 0, Framing::kNone);
  a.end = first.size();
  Want b;
  b.response = resp(200, "OK", {{"Transfer-Encoding", "chunked"}}, "", 0, Framing::kNone);
  b.end = first.size() + second.size();
  Want c;
  c.response = resp(200, "OK", {{"Content-Length", "2"}}, "hi", 2, Framing::kContentLength);
  c.end = wire.size();
  expect_every_split(wire, conn, {a, b, c});
}

TEST(Http1Response, NoContentAndNotModifiedHaveNoBody) {
  const std::string first = "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n";
  const std::string second = "HTTP/1.1 304 Not Modified\r\nETag: \"x1\"\r\n\r\n";
  const std::string third = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  const std::string wire = first + second + third;
  Conn conn;
  conn.heads = {false, false, false};
  Want a;
  a.response = resp(204, "No Content", {{"Content-Length", "10"}}, "", 0, Framing::kNone);
  a.end = first.size();
  Want b;
  b.response = resp(304, "Not Modified", {{"ETag", "\"x1\""}}, "", 0, Framing::kNone);
  b.end = first.size() + second.size();
  Want c;
  c.response = resp(200, "OK", {{"Content-Length", "3"}}, "abc", 3, Framing::kContentLength);
  c.end = wire.size();
  expect_every_split(wire, conn, {a, b, c});
}

// ---------------------------------------------------------------------------------------------
// Interim and switching responses

TEST(Http1Response, ContinueThenFinal) {
  const std::string wire =
      "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  Want w;
  w.response = resp(200, "OK", {{"Content-Length", "2"}}, "ok", 2, Framing::kContentLength);
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

TEST(Http1Response, EarlyHintsThenFinal) {
  const std::string wire =
      "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope";
  Want w;
  w.response = resp(404, "Not Found", {{"Content-Length", "4"}, {"Connection", "close"}}, "nope", 4,
                    Framing::kContentLength);
  w.keep_alive = false;
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

TEST(Http1Response, InterimThenEofIsTruncatedWithoutResponse) {
  const std::string wire = "HTTP/1.1 100 Continue\r\n\r\n";
  Conn conn;
  conn.end = End::kEof;
  Want w;
  w.status = Status::kFailed;
  w.error = ErrorKind::kTruncated;
  w.has_response = false;
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, InterimKeepsFirstByteTime) {
  Http1ResponseParser p(1024);
  p.start(3, false);
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
  EXPECT_EQ(p.feed(interim.data(), interim.size(), 10).status, Status::kNeedMore);
  EXPECT_EQ(p.feed(final.data(), 10, 20).status, Status::kNeedMore);
  const auto f = p.feed(final.data() + 10, final.size() - 10, 30);
  EXPECT_EQ(f.status, Status::kDone);
  EXPECT_EQ(f.consumed, final.size() - 10);
  EXPECT_EQ(p.completion().token, 3u);
  EXPECT_EQ(p.completion().response.status, 200);
  EXPECT_EQ(p.completion().response_start, 10);
  EXPECT_EQ(p.completion().response_end, 30);
}

TEST(Http1Response, SwitchingProtocolsIsFinal) {
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  const std::string wire = head + "\x81\x05hello";
  Want w;
  w.response = resp(101, "Switching Protocols",
                    {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}}, "", 0, Framing::kNone);
  w.flags = traffic::kFlagUpgrade;
  w.keep_alive = false;  // the connection no longer speaks HTTP/1.1
  w.end = head.size();
  expect_every_split(wire, {}, {w});
}

// ---------------------------------------------------------------------------------------------
// Connections carrying several responses

TEST(Http1Response, PipelinedInOneBuffer) {
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\nX-B: 2\r\n\r\none";
  const std::string second = "HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\ntwo";
  const std::string wire = first + second;
  Http1ResponseParser p(1024);
  p.start(1, false);
  auto f = p.feed(wire.data(), wire.size(), 7);
  ASSERT_EQ(f.status, Status::kDone);
  EXPECT_EQ(f.consumed, first.size());
  EXPECT_EQ(p.completion().response.body, "one");
  EXPECT_EQ(p.completion().response.headers.size(), 3u);
  EXPECT_TRUE(p.keep_alive());
  // Nothing more is taken until start().
  EXPECT_EQ(p.feed(wire.data() + f.consumed, wire.size() - f.consumed, 8).consumed, 0u);
  p.start(2, false);
  f = p.feed(wire.data() + first.size(), second.size(), 9);
  ASSERT_EQ(f.status, Status::kDone);
  EXPECT_EQ(f.consumed, second.size());
  EXPECT_EQ(p.completion().token, 2u);
  EXPECT_EQ(p.completion().response,
            resp(500, "Oops", {{"Content-Length", "3"}}, "two", 3, Framing::kContentLength));
  EXPECT_EQ(p.completion().response_start, 9);
  EXPECT_EQ(p.completion().response_end, 9);
}

TEST(Http1Response, PipelinedEverySplit) {
  const std::string first =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Many: 1\r\nX-More: 2\r\n\r\n"
      "2\r\nab\r\n0\r\n\r\n";
  const std::string second = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nc";
  const std::string third = "HTTP/1.1 200 OK\r\n\r\nrest";
  const std::string wire = first + second + third;
  Conn conn;
  conn.heads = {false, false, false};
  conn.end = End::kEof;
  Want a;
  a.response = resp(200, "OK", {{"Transfer-Encoding", "chunked"}, {"X-Many", "1"}, {"X-More", "2"}},
                    "ab", 2, Framing::kChunked);
  a.end = first.size();
  Want b;
  b.response = resp(200, "OK", {{"Content-Length", "1"}}, "c", 1, Framing::kContentLength);
  b.end = first.size() + second.size();
  Want c;
  c.response = resp(200, "OK", {}, "rest", 4, Framing::kClose);
  c.keep_alive = false;
  c.end = wire.size();
  c.by_finish = true;
  expect_every_split(wire, conn, {a, b, c});
}

TEST(Http1Response, CompletionCanBeMovedOutBetweenResponses) {
  Http1ResponseParser p(1024);
  const std::string one = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 1\r\n\r\nx";
  const std::string two = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
  p.start(1, false);
  ASSERT_EQ(p.feed(one.data(), one.size(), 1).status, Status::kDone);
  Response taken = std::move(p.completion().response);
  EXPECT_EQ(taken.headers.size(), 3u);
  p.start(2, false);
  ASSERT_EQ(p.feed(two.data(), two.size(), 2).status, Status::kDone);
  EXPECT_EQ(p.completion().response,
            resp(202, "Accepted", {{"Content-Length", "0"}}, "", 0, Framing::kContentLength));
  // And again without moving: stale header slots of a longer response must not show.
  p.start(3, false);
  ASSERT_EQ(p.feed(one.data(), one.size(), 3).status, Status::kDone);
  p.start(4, false);
  ASSERT_EQ(p.feed(two.data(), two.size(), 4).status, Status::kDone);
  EXPECT_EQ(p.completion().response.headers, (Headers{{"Content-Length", "0"}}));
}

// ---------------------------------------------------------------------------------------------
// The body cap

TEST(Http1Response, BodyCappedContentLength) {
  std::string body;
  for (int i = 0; i < 100; ++i) body += static_cast<char>('a' + i % 26);
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + body;
  Conn conn;
  conn.max_body = 10;
  Want w;
  w.response =
      resp(200, "OK", {{"Content-Length", "100"}}, "abcdefghij", 100, Framing::kContentLength);
  w.flags = traffic::kFlagResponseBodyTruncated;
  w.end = wire.size();
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, BodyCappedChunked) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  Conn conn;
  conn.max_body = 7;
  Want w;
  w.response =
      resp(200, "OK", {{"Transfer-Encoding", "chunked"}}, "hello w", 11, Framing::kChunked);
  w.flags = traffic::kFlagResponseBodyTruncated;
  w.end = wire.size();
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, BodyCappedCloseDelimitedAndZero) {
  const std::string wire = "HTTP/1.1 200 OK\r\n\r\n0123456789";
  Conn conn;
  conn.end = End::kEof;
  conn.max_body = 4;
  Want w;
  w.response = resp(200, "OK", {}, "0123", 10, Framing::kClose);
  w.flags = traffic::kFlagResponseBodyTruncated;
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
  conn.max_body = 0;
  w.response.body.clear();
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, BodyExactlyAtCapIsNotTruncated) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd";
  Conn conn;
  conn.max_body = 4;
  Want w;
  w.response = resp(200, "OK", {{"Content-Length", "4"}}, "abcd", 4, Framing::kContentLength);
  w.end = wire.size();
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, BigBodyIsNotAnError) {
  // Beast's default body limit for responses is 8 MiB; ours is none (we cap and count).
  const size_t size = (9u << 20) + 3;
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
  const std::string body(size, 'z');
  Http1ResponseParser p(16);
  p.start(1, false);
  EXPECT_EQ(p.feed(head.data(), head.size(), 1).status, Status::kNeedMore);
  size_t off = 0;
  Http1ResponseParser::Feed f;
  while (off < body.size()) {
    const size_t n = std::min<size_t>(65536, body.size() - off);
    f = p.feed(body.data() + off, n, 2);
    off += n;
  }
  EXPECT_EQ(f.status, Status::kDone);
  EXPECT_EQ(p.completion().response.body_size, size);
  EXPECT_EQ(p.completion().response.body, std::string(16, 'z'));
  EXPECT_EQ(p.completion().flags, uint32_t{traffic::kFlagResponseBodyTruncated});
}

// ---------------------------------------------------------------------------------------------
// Headers and status line

TEST(Http1Response, HeaderCaseOrderAndBytesKept) {
  const std::string wire =
      "HTTP/1.1 200 Everything Is Fine\r\n"
      "x-lower: a\r\n"
      "X-UPPER: B\r\n"
      "MiXeD-CaSe:   padded value  \r\n"
      "Set-Cookie: a=1\r\n"
      "set-cookie: b=2\r\n"
      "X-Bytes: a\tb \xff\x80 c\r\n"
      "X-Empty:\r\n"
      "Content-Length: 0\r\n\r\n";
  Want w;
  // Leading and trailing whitespace is not part of a field value (RFC 9110 5.5), as capture too.
  w.response = resp(200, "Everything Is Fine",
                    {{"x-lower", "a"},
                     {"X-UPPER", "B"},
                     {"MiXeD-CaSe", "padded value"},
                     {"Set-Cookie", "a=1"},
                     {"set-cookie", "b=2"},
                     {"X-Bytes", "a\tb \xff\x80 c"},
                     {"X-Empty", ""},
                     {"Content-Length", "0"}},
                    "", 0, Framing::kContentLength);
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

TEST(Http1Response, EmptyReasonPhrase) {
  const std::string wire = "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n";
  Want w;
  w.response = resp(404, "", {{"Content-Length", "0"}}, "", 0, Framing::kContentLength);
  w.end = wire.size();
  expect_every_split(wire, {}, {w});
}

// ---------------------------------------------------------------------------------------------
// keep_alive()

struct KeepAliveCase {
  std::string wire;
  bool keep_alive;
};

TEST(Http1Response, KeepAliveRules) {
  const std::vector<KeepAliveCase> cases = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
      {"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
      {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", true},
      {"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok", true},
      {"HTTP/1.1 204 No Content\r\n\r\n", true},
      {"HTTP/1.0 204 No Content\r\n\r\n", false},
  };
  for (const KeepAliveCase& k : cases) {
    SCOPED_TRACE(k.wire);
    Http1ResponseParser p(64);
    p.start(1, false);
    EXPECT_FALSE(p.keep_alive());  // not before the response is complete
    const auto f = p.feed(k.wire.data(), k.wire.size(), 1);
    ASSERT_EQ(f.status, Status::kDone);
    EXPECT_EQ(f.consumed, k.wire.size());
    EXPECT_EQ(p.keep_alive(), k.keep_alive);
  }
}

TEST(Http1Response, Http10KeepAliveButCloseDelimited) {
  const std::string wire = "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nbody";
  Conn conn;
  conn.end = End::kEof;
  Want w;
  w.response = resp(200, "OK", {{"Connection", "keep-alive"}}, "body", 4, Framing::kClose);
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

// ---------------------------------------------------------------------------------------------
// The connection ends early

TEST(Http1Response, TruncatedInStatusLine) {
  const std::string wire = "HTTP/1.1 20";
  Conn conn;
  conn.end = End::kEof;
  Want w;
  w.status = Status::kFailed;
  w.error = ErrorKind::kTruncated;
  w.has_response = false;
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, TruncatedInHeaders) {
  const std::string wire = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Le";
  Conn conn;
  conn.end = End::kEof;
  Want w;
  w.status = Status::kFailed;
  w.error = ErrorKind::kTruncated;
  // The status line was complete; the fields of a head that never ended are not kept (how many
  // of them Beast had reported would depend on the split).
  w.response.status = 200;
  w.response.reason = "OK";
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, TruncatedInBody) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
  Conn conn;
  conn.end = End::kEof;
  Want w;
  w.status = Status::kFailed;
  w.error = ErrorKind::kTruncated;
  w.response = resp(200, "OK", {{"Content-Length", "10"}}, "hello", 5, Framing::kContentLength);
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
  conn.end = End::kReset;
  w.error = ErrorKind::kReset;
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, TruncatedInChunks) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\nX-T: 1\r\n";
  Conn conn;
  conn.end = End::kEof;
  conn.max_body = 2;
  Want w;
  w.status = Status::kFailed;
  w.error = ErrorKind::kTruncated;
  w.response = resp(200, "OK", {{"Transfer-Encoding", "chunked"}}, "ab", 4, Framing::kChunked);
  w.flags = traffic::kFlagResponseBodyTruncated;
  w.keep_alive = false;
  w.end = wire.size();
  w.by_finish = true;
  expect_every_split(wire, conn, {w});
}

TEST(Http1Response, EofBeforeAnyResponseIsTruncated) {
  for (const bool reset : {false, true}) {
    Http1ResponseParser p(64);
    p.start(5, false);
    EXPECT_EQ(p.feed("", 0, 3).status, Status::kNeedMore);  // nothing: not a first byte
    EXPECT_EQ(p.finish(9, reset), Status::kFailed);
    const Completion& c = p.completion();
    EXPECT_EQ(c.token, 5u);
    EXPECT_EQ(c.error, reset ? ErrorKind::kReset : ErrorKind::kTruncated);
    EXPECT_FALSE(c.has_response);
    EXPECT_EQ(c.response, Response{});
    EXPECT_EQ(c.response_start, kNoTime);
    EXPECT_EQ(c.response_end, kNoTime);
    EXPECT_FALSE(p.failure().empty());
    EXPECT_FALSE(p.keep_alive());
  }
}

TEST(Http1Response, FinishAfterCompletionChangesNothing) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
  Http1ResponseParser p(64);
  p.start(1, false);
  ASSERT_EQ(p.feed(wire.data(), wire.size(), 4).status, Status::kDone);
  EXPECT_EQ(p.finish(8, true), Status::kDone);
  EXPECT_EQ(p.completion().error, ErrorKind::kNone);
  EXPECT_EQ(p.completion().response_end, 4);
  EXPECT_TRUE(p.keep_alive());
  EXPECT_TRUE(p.failure().empty());
}

// ---------------------------------------------------------------------------------------------
// Not HTTP

Want protocol_failure(bool has_response, Response r = {}) {
  Want w;
  w.status = Status::kFailed;
  w.error = ErrorKind::kProtocol;
  w.has_response = has_response;
  w.response = std::move(r);
  w.keep_alive = false;
  return w;
}

TEST(Http1Response, GarbageFails) {
  const std::vector<std::string> wires = {
      "SSH-2.0-OpenSSH_9.6 secret-banner\r\n",
      "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
      "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
  };
  for (const std::string& wire : wires) {
    SCOPED_TRACE(wire);
    expect_every_split(wire, {}, {protocol_failure(false)});
  }
}

TEST(Http1Response, BadFramingFails) {
  const Response ok = resp(200, "OK", {}, "", 0, Framing::kNone);
  expect_every_split("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", {},
                     {protocol_failure(true, ok)});
  expect_every_split(
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", {},
      {protocol_failure(true, resp(200, "OK", {{"Content-Length", "1"}}, "", 0, Framing::kNone))});
  expect_every_split(
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      {},
      {protocol_failure(true, resp(200, "OK", {{"Content-Length", "3"}}, "", 0, Framing::kNone))});
  expect_every_split(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n\r\n", {},
      {protocol_failure(
          true, resp(200, "OK", {{"Transfer-Encoding", "chunked"}}, "ab", 2, Framing::kChunked))});
}

TEST(Http1Response, FailureIsShortAndHoldsNoMessageBytes) {
  const std::string wire = "HTTP/1.1 200 OK\r\nX-Secret: hunter2\r\nContent-Length: x9\r\n\r\n";
  Http1ResponseParser p(64);
  p.start(1, false);
  const auto f = p.feed(wire.data(), wire.size(), 1);
  ASSERT_EQ(f.status, Status::kFailed);
  EXPECT_EQ(p.completion().error, ErrorKind::kProtocol);
  EXPECT_FALSE(p.failure().empty());
  EXPECT_LT(p.failure().size(), 80u);
  EXPECT_EQ(p.failure().find("hunter2"), std::string_view::npos);
  EXPECT_EQ(p.failure().find("x9"), std::string_view::npos);
  // A failed parser takes nothing more until start().
  EXPECT_EQ(p.feed(wire.data(), wire.size(), 2).consumed, 0u);
  EXPECT_EQ(p.feed(wire.data(), wire.size(), 2).status, Status::kFailed);
  EXPECT_EQ(p.finish(3), Status::kFailed);
  EXPECT_EQ(p.completion().error, ErrorKind::kProtocol);
  EXPECT_FALSE(p.keep_alive());
  p.start(2, false);
  EXPECT_TRUE(p.failure().empty());
  const std::string good = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(p.feed(good.data(), good.size(), 4).status, Status::kDone);
  EXPECT_EQ(p.completion().error, ErrorKind::kNone);
}

// ---------------------------------------------------------------------------------------------
// Size limits: a framing section (the head, a chunk line, the last chunk with its trailers) may
// be up to 64 KiB, whatever the split.

constexpr size_t kLimit = 64 * 1024;

// Feeds `wire` with a few representative splits and returns the statuses seen.
std::vector<Status> statuses_for_splits(const std::string& wire) {
  std::vector<std::vector<size_t>> splits = {
      {}, {1}, {wire.size() / 3}, {wire.size() / 2}, {wire.size() - 1}};
  std::vector<size_t> steps;
  for (size_t k = 1000; k < wire.size(); k += 1000) steps.push_back(k);
  splits.push_back(steps);
  std::vector<Status> out;
  for (const auto& cuts : splits) {
    for (bool beast_only : {false, true}) {
      const std::vector<Got> got = run(wire, cuts, {}, beast_only);
      out.push_back(got.empty() ? Status::kNeedMore : got[0].status);
    }
  }
  return out;
}

std::string head_of_size(size_t total) {
  // "HTTP/1.1 200 OK\r\n" + "X-Big: " + v + "\r\n" + "Content-Length: 0\r\n" + "\r\n"
  const std::string fixed = "HTTP/1.1 200 OK\r\nX-Big: \r\nContent-Length: 0\r\n\r\n";
  return "HTTP/1.1 200 OK\r\nX-Big: " + std::string(total - fixed.size(), 'v') +
         "\r\nContent-Length: 0\r\n\r\n";
}

TEST(Http1Response, HeadAtTheLimitPasses) {
  const std::string wire = head_of_size(kLimit);
  ASSERT_EQ(wire.size(), kLimit);
  for (Status s : statuses_for_splits(wire)) EXPECT_EQ(s, Status::kDone);
}

TEST(Http1Response, HugeHeadFails) {
  const std::string wire = head_of_size(kLimit + 1);
  for (Status s : statuses_for_splits(wire)) EXPECT_EQ(s, Status::kFailed);
  const std::string huge = head_of_size(200 * 1024);
  for (Status s : statuses_for_splits(huge)) EXPECT_EQ(s, Status::kFailed);
  // Byte by byte too: the parser must not keep more than the limit waiting.
  std::vector<size_t> all;
  for (size_t k = 1; k < huge.size(); ++k) all.push_back(k);
  const std::vector<Got> got = run(huge, all, {});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, Status::kFailed);
  EXPECT_EQ(got[0].c.error, ErrorKind::kProtocol);
  EXPECT_LE(got[0].end, kLimit + 1);
}

TEST(Http1Response, ManySmallFieldsOverTheLimitFail) {
  // 100 KiB of short fields: Beast alone would accept or refuse this depending on the split.
  std::string wire = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; wire.size() < 100 * 1024; ++i) wire += "X-F" + std::to_string(i) + ": 1\r\n";
  wire += "Content-Length: 0\r\n\r\n";
  for (Status s : statuses_for_splits(wire)) EXPECT_EQ(s, Status::kFailed);
}

TEST(Http1Response, HugeTrailersAndChunkLinesFail) {
  std::string trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n";
  for (int i = 0; trailers.size() < 100 * 1024; ++i)
    trailers += "T" + std::to_string(i) + ": 1\r\n";
  trailers += "\r\n";
  for (Status s : statuses_for_splits(trailers)) EXPECT_EQ(s, Status::kFailed);

  const std::string ext =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=" + std::string(100 * 1024, 'e') +
      "\r\na\r\n0\r\n\r\n";
  for (Status s : statuses_for_splits(ext)) EXPECT_EQ(s, Status::kFailed);

  // Modest trailers pass.
  const std::string fine =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nT: " +
      std::string(30 * 1024, 't') + "\r\n\r\n";
  for (Status s : statuses_for_splits(fine)) EXPECT_EQ(s, Status::kDone);
}

// ---------------------------------------------------------------------------------------------
// The fast head path against Beast: generated heads, most of them plain, many mutated into what
// the fast path must leave to Beast (folding, lists, bad bytes, odd versions and statuses). Both
// parsers must give the same completions, whole and split; and the fast path must be taken.

std::string pick(std::mt19937& rng, const std::vector<std::string>& from) {
  return from[rng() % from.size()];
}

std::string random_value(std::mt19937& rng) {
  static const std::string kBytes = std::string("aZ09 -_./,;=\"()") + '\t' + '\x7f' + '\x80' +
                                    '\xff' + '\x01' + '\0' + '\r' + '\n';
  std::string v;
  const size_t n = rng() % 12;
  // One value in three may hold any of kBytes; the others are letters.
  const bool odd = rng() % 3 == 0;
  for (size_t i = 0; i < n; ++i) {
    v +=
        odd && rng() % 3 == 0 ? kBytes[rng() % kBytes.size()] : static_cast<char>('a' + rng() % 26);
  }
  return v;
}

// A head the fast path should take (and a Content-Length body): valid versions and final
// statuses, clean names, values of every byte class a value may hold, OWS, Connection tokens.
std::string plain_response(std::mt19937& rng, bool head) {
  std::string w = pick(rng, {"HTTP/1.1 ", "HTTP/1.0 "});
  const std::string code = pick(rng, {"200", "201", "404", "500", "204", "304", "999"});
  w += code + " " + pick(rng, {"OK", "", "Not Found", "a\tb \x80\xff~"}) + "\r\n";
  const size_t fields = rng() % 6;
  for (size_t f = 0; f < fields; ++f) {
    if (rng() % 4 == 0) {
      w += pick(rng, {"Connection", "CONNECTION", "Proxy-Connection"}) + ":" +
           pick(rng, {"", " ", "\t"}) +
           pick(rng, {"close", "keep-alive", "Keep-Alive, Close", "foo , bar,keep-alive"}) +
           pick(rng, {"", " "}) + "\r\n";
      continue;
    }
    std::string value;
    for (size_t i = rng() % 16; i-- > 0;) {
      value += pick(rng, {"a", "Z", "0", " ", "\t", "\x80", "\xfe", "\"", ",", "~", ":"});
    }
    w += pick(rng, {"Server", "date", "ETag", "X-Y", "~!#$%&'*+.^_`|"}) + ":" +
         pick(rng, {"", " ", "\t "}) + value + "\r\n";
  }
  const bool bodiless = head || code == "204" || code == "304";
  const size_t length = rng() % 20;
  if (!bodiless || rng() % 2) w += "Content-Length: " + std::to_string(length) + "\r\n";
  w += "\r\n";
  if (!bodiless) {
    for (size_t i = 0; i < length; ++i) w += static_cast<char>(rng() % 256);
  }
  return w;
}

struct Generated {
  std::string wire;
  Conn conn;
};

Generated generate(std::mt19937& rng) {
  Generated g;
  g.conn.heads.clear();
  const size_t responses = 1 + rng() % 3;
  for (size_t r = 0; r < responses; ++r) {
    const bool head = rng() % 8 == 0;
    g.conn.heads.push_back(head);
    if (rng() % 5 < 2) {
      g.wire += plain_response(rng, head);
      continue;
    }
    std::string w;
    w += rng() % 12 ? pick(rng, {"HTTP/1.1", "HTTP/1.1", "HTTP/1.0"})
                    : pick(rng, {"HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.", "HTTP/1.1 "});
    w += rng() % 20 ? " " : "  ";
    const std::string code =
        rng() % 6 ? pick(rng, {"200", "200", "404", "500", "204", "304"})
                  : pick(rng, {"100", "101", "103", "199", "999", "2x0", "20", "000"});
    w += code;
    w += rng() % 20 ? " " : "";
    w += rng() % 5 ? pick(rng, {"OK", "", "Not Found", "Whatever It Is "}) : random_value(rng);
    w += rng() % 30 ? "\r\n" : "\n";
    int64_t length = -1;  // the Content-Length written, if one plain
    bool chunked = false;
    const size_t fields = rng() % 9;
    for (size_t f = 0; f < fields; ++f) {
      std::string name, value;
      switch (rng() % 12) {
        case 0:
        case 1: {
          name = pick(rng, {"Content-Length", "content-length", "CONTENT-LENGTH"});
          const uint64_t n = rng() % 40;
          value = rng() % 6 ? std::to_string(n)
                            : pick(rng, {"007", "1,1", "3, 3", "1, 2", "", "abc", "-1", "+4",
                                         "99999999999999999999", "999999999999999999", "4 4"});
          if (rng() % 6 != 0 || value == std::to_string(n)) length = static_cast<int64_t>(n);
          break;
        }
        case 2:
          name = pick(rng, {"Connection", "connection", "Proxy-Connection"});
          value = pick(rng, {"close", "keep-alive", "Keep-Alive", "CLOSE", "close, keep-alive",
                             "keep-alive ,close", "upgrade", "Upgrade, close", "close,,x", ",close",
                             "close;q=1", "keep-alive\t,\tfoo", "x y", ""});
          break;
        case 3:
          name = pick(rng, {"Transfer-Encoding", "Upgrade", "Keep-Alive"});
          value = pick(rng, {"chunked", "gzip", "h2c", "timeout=5"});
          chunked = chunked || value == "chunked";
          break;
        case 4:
          if (rng() % 3) {
            name = "X-Ok";
            value = random_value(rng);
            break;
          }
          name = pick(rng, {"Bad Name", "", "X@y", "Content-Length ", "X\x80", "Ok-Name"});
          value = random_value(rng);
          break;
        default:
          name = pick(rng,
                      {"Server", "Date", "ETag", "X-A", "x-b", "Accept-Ranges", "~!#$%&'*+.^_`|"});
          value = random_value(rng);
          break;
      }
      w += name;
      w += rng() % 25 ? ":" : " :";
      w += pick(rng, {"", " ", " ", "\t", "  "});
      w += value;
      w += pick(rng, {"", "", "", " ", "\t"});
      const unsigned end = rng() % 40;
      w += end == 0 ? "\n" : end == 1 ? "\r\n folded" : end == 2 ? "\r\n\tfolded" : "";
      w += "\r\n";
    }
    w += rng() % 40 ? "\r\n" : "\n\r\n";
    // A body that fits the framing most of the time.
    if (chunked && rng() % 4) {
      w += pick(rng, {"3\r\nabc\r\n0\r\n\r\n", "0\r\n\r\n", "1;x=y\r\nz\r\n0\r\nT: 1\r\n\r\n"});
    } else if (length > 0 && !head && rng() % 8) {
      for (int64_t i = 0; i < length; ++i) w += static_cast<char>(rng() % 256);
    } else if (rng() % 4 == 0) {
      w += random_value(rng);
    }
    g.wire += w;
  }
  const unsigned cap = rng() % 3;
  g.conn.max_body = cap == 0 ? 0 : cap == 1 ? 3 : 1 << 20;
  g.conn.end = static_cast<End>(rng() % 3);
  return g;
}

void expect_same(const std::vector<Got>& fast, const std::vector<Got>& beast) {
  ASSERT_EQ(fast.size(), beast.size());
  for (size_t j = 0; j < fast.size(); ++j) {
    SCOPED_TRACE("response " + std::to_string(j));
    const Got& a = fast[j];
    const Got& b = beast[j];
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.c.token, b.c.token);
    EXPECT_EQ(a.c.has_response, b.c.has_response);
    EXPECT_EQ(a.c.error, b.c.error);
    EXPECT_EQ(a.c.flags, b.c.flags);
    EXPECT_EQ(a.c.response_start, b.c.response_start);
    EXPECT_EQ(a.c.response_end, b.c.response_end);
    EXPECT_EQ(a.c.response, b.c.response);
    EXPECT_EQ(a.c.response.headers, b.c.response.headers);
    EXPECT_EQ(a.keep_alive, b.keep_alive);
    EXPECT_EQ(a.failure, b.failure);
    EXPECT_EQ(a.end, b.end);
  }
}

TEST(Http1FastPath, SameAsBeastOnGeneratedHeads) {
  std::mt19937 rng(20261205);
  uint64_t fast_heads = 0, done = 0, failed = 0, memo_lines = 0;
  // One memo for every case, as a worker's connections to one target share one: each head may
  // find lines of the heads before it.
  const auto memo = make_http1_head_memo();
  for (int i = 0; i < 20000; ++i) {
    const Generated g = generate(rng);
    std::vector<std::vector<size_t>> splits = {{}};
    for (int k = 0; k < 2 && g.wire.size() > 2; ++k) {
      std::vector<size_t> cuts;
      for (size_t at = 1; at < g.wire.size(); ++at)
        if (rng() % (k == 0 ? 4 : 16) == 0) cuts.push_back(at);
      splits.push_back(cuts);
    }
    for (const auto& cuts : splits) {
      SCOPED_TRACE("case " + std::to_string(i) + " " + describe(cuts) + " wire " +
                   ::testing::PrintToString(g.wire));
      uint64_t plain = 0, plain_with_memo = 0;
      const std::vector<Got> fast = run(g.wire, cuts, g.conn, false, &plain);
      const std::vector<Got> beast = run(g.wire, cuts, g.conn, true);
      expect_same(fast, beast);
      // With the memo: the same, and the same heads taken by the fast path (a memo that made
      // it give up would be hidden by Beast's answer being the same).
      expect_same(run(g.wire, cuts, g.conn, false, &plain_with_memo, memo, &memo_lines), beast);
      EXPECT_EQ(plain_with_memo, plain);
      fast_heads += plain;
      if (::testing::Test::HasFailure()) return;
      for (const Got& x : fast) (x.status == Status::kDone ? done : failed) += 1;
    }
  }
  // The generator is not degenerate: most heads are plain and taken by the fast path, and many
  // responses complete or fail either way.
  EXPECT_GT(fast_heads, 20000u);
  EXPECT_GT(done, 20000u);
  EXPECT_GT(failed, 5000u);
  EXPECT_GT(memo_lines, 1000u);
}

// The memo takes a line only when its bytes come back whole at the same place. A server's head,
// then the same head with one line changed in every way a byte can change (each byte replaced
// by one that matters to the parser, removed, or doubled), lines removed or added, each parsed
// after the one before through one memo, and each compared with Beast's parse of it alone.
TEST(Http1FastPath, MemoTakesOnlyLinesThatCameBackWhole) {
  const std::string status = "HTTP/1.1 200 OK\r\n";
  const std::vector<std::string> lines = {
      "Server: nginx/1.22.1",     "Date: Sat, 05 Dec 2026 21:58:50 GMT",
      "Content-Type: text/plain", "Content-Length: 2",
      "Connection: keep-alive",   "ETag: \"6b148608-64\"",
      "Accept-Ranges: bytes"};
  auto wire_of = [&](const std::vector<std::string>& ls) {
    std::string w = status;
    for (const auto& l : ls) w += l + "\r\n";
    return w + "\r\nok";
  };
  std::vector<std::vector<std::string>> heads = {lines, lines};
  const std::string bytes = std::string(" \t\r\n:,x0\x7f\x80", 10) + std::string(1, '\0');
  for (size_t i = 0; i < lines.size(); ++i) {
    for (size_t at = 0; at < lines[i].size(); ++at) {
      for (char b : bytes) {
        auto h = lines;
        h[i][at] = b;
        heads.push_back(h);
        heads.push_back(lines);
      }
      auto removed = lines;
      removed[i].erase(at, 1);
      heads.push_back(removed);
      auto doubled = lines;
      doubled[i].insert(at, 1, doubled[i][at]);
      heads.push_back(doubled);
    }
    auto without = lines;
    without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
    heads.push_back(without);
    auto with = lines;
    with.insert(with.begin() + static_cast<std::ptrdiff_t>(i), "Content-Length: 2");
    heads.push_back(with);
    with[i] = "Connection: close";
    heads.push_back(with);
    heads.push_back(with);  // whole from the memo, "close" included
    with[i] = "Content-Length: 0";
    heads.push_back(with);  // two lengths: Beast's
    heads.push_back(lines);
    auto longer = lines;
    longer[i] += "0";
    heads.push_back(longer);  // the memo's line and more: not the memo's line
    heads.push_back(lines);
  }
  auto zero = lines;
  zero[3] = "Content-Length: 0";
  heads.push_back(zero);
  heads.push_back(zero);  // its length from the memo
  heads.push_back(lines);
  const auto memo = make_http1_head_memo();
  uint64_t memo_lines = 0, fast_heads = 0;
  for (size_t k = 0; k < heads.size(); ++k) {
    const std::string wire = wire_of(heads[k]);
    SCOPED_TRACE("head " + std::to_string(k) + " " + ::testing::PrintToString(wire));
    Conn conn;
    conn.end = End::kEof;
    uint64_t plain = 0, plain_with_memo = 0;
    expect_same(run(wire, {}, conn, false, &plain_with_memo, memo, &memo_lines),
                run(wire, {}, conn, true));
    run(wire, {}, conn, false, &plain);
    EXPECT_EQ(plain_with_memo, plain);
    fast_heads += plain;
    if (::testing::Test::HasFailure()) return;
  }
  // The unchanged head came back after each change: all its lines but the changed one's were
  // taken from the memo most of the time.
  EXPECT_GT(memo_lines, heads.size() * (lines.size() - 2));
  EXPECT_GT(fast_heads, heads.size() / 2);
}

TEST(Http1FastPath, TakesPlainHeadsAndLeavesTheRest) {
  auto fast = [](std::string_view wire, bool head = false) {
    uint64_t n = 0;
    Conn conn;
    conn.heads = {head};
    run(wire, {}, conn, false, &n);
    return n;
  };
  EXPECT_EQ(fast("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), 1u);
  EXPECT_EQ(fast("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n"), 1u);
  EXPECT_EQ(fast("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true), 1u);
  // Left to Beast: chunked, close-delimited, interim, folded, listed or repeated lengths.
  EXPECT_EQ(fast("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 0u);
  EXPECT_EQ(fast("HTTP/1.1 200 OK\r\n\r\n"), 0u);
  EXPECT_EQ(fast("HTTP/1.1 100 Continue\r\n\r\n"), 0u);
  EXPECT_EQ(fast("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"), 0u);
  EXPECT_EQ(fast("HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\nx"), 0u);
  EXPECT_EQ(fast("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"), 0u);
}

// ---------------------------------------------------------------------------------------------
// serialize_http1

OutRequest request(std::string method, std::string path, std::string authority, Headers headers,
                   std::string body) {
  OutRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.authority = std::move(authority);
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

TEST(Http1Serialize, GetExactBytes) {
  std::string out;
  serialize_http1(request("GET", "/a/b?c=d", "example.com:8080",
                          {{"Accept", "*/*"}, {"x-CaSe", "MiXeD value"}, {"X-Empty", ""}}, ""),
                  out);
  EXPECT_EQ(out,
            "GET /a/b?c=d HTTP/1.1\r\n"
            "Host: example.com:8080\r\n"
            "Accept: */*\r\n"
            "x-CaSe: MiXeD value\r\n"
            "X-Empty: \r\n"
            "\r\n");
}

TEST(Http1Serialize, AppendsToWhatIsThere) {
  std::string out = "previous";
  serialize_http1(request("OPTIONS", "*", "h", {}, ""), out);
  EXPECT_EQ(out, "previousOPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(Http1Serialize, PostWithBody) {
  std::string out;
  const std::string body("{\"a\":1}\r\n\0x", 11);
  serialize_http1(request("POST", "/api", "h", {{"Content-Type", "application/json"}}, body), out);
  EXPECT_EQ(out,
            "POST /api HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
            "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST(Http1Serialize, ContentLengthRules) {
  struct Case {
    std::string method;
    std::string body;
    std::string content_length;  // empty: none expected
  };
  const std::vector<Case> cases = {
      {"GET", "", ""},       {"HEAD", "", ""},
      {"DELETE", "", ""},    {"POST", "", "0"},
      {"PUT", "", "0"},      {"PATCH", "", "0"},
      {"post", "", ""},      {"GET", "abc", "3"},
      {"DELETE", "xy", "2"}, {"PUT", std::string(12345, 'b'), "12345"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.method + " body " + std::to_string(c.body.size()));
    std::string out;
    serialize_http1(request(c.method, "/", "h", {}, c.body), out);
    std::string want = c.method + " / HTTP/1.1\r\nHost: h\r\n";
    if (!c.content_length.empty()) want += "Content-Length: " + c.content_length + "\r\n";
    want += "\r\n" + c.body;
    EXPECT_EQ(out, want);
  }
}

TEST(Http1Serialize, HeadersThatWouldInjectAreDropped) {
  std::string out;
  serialize_http1(request("GET", "/", "h",
                          {{"X-A", "ok"},
                           {"X-Bad", "v\r\nInjected: 1"},
                           {"X-LF", "a\nb"},
                           {"X-CR", "a\rb"},
                           {"X-Nul", std::string("a\0b", 3)},
                           {"X\r\nY", "v"},
                           {std::string("N\0", 2), "v"},
                           {"", "empty name"},
                           {"Bad:Name", "v"},
                           {"Content-Length ", "5"},
                           {"X-Tab\t", "v"},
                           {"X-B", "tab\tand obs-text \xff ok"}},
                          ""),
                  out);
  EXPECT_EQ(out,
            "GET / HTTP/1.1\r\nHost: h\r\n"
            "X-A: ok\r\n"
            "X-B: tab\tand obs-text \xff ok\r\n"
            "\r\n");
}

TEST(Http1Serialize, RequestLineAndHostCannotInject) {
  std::string out;
  serialize_http1(request("GET \r\n", "/a b\r\nX: y\x7f", "h\r\nX-Injected: 1", {}, ""), out);
  EXPECT_EQ(out,
            "GET /a%20b%0D%0AX:%20y%7F HTTP/1.1\r\n"
            "Host: hX-Injected: 1\r\n"
            "\r\n");
  // Whatever the input, the head has exactly the lines we wrote: request line, Host, blank.
  size_t lines = 0;
  for (size_t i = out.find("\r\n"); i != std::string::npos; i = out.find("\r\n", i + 2)) ++lines;
  EXPECT_EQ(lines, 3u);
  EXPECT_EQ(out.find('\n'), out.find("\r\n") + 1);
}

TEST(Http1Serialize, EmptyPathIsSlash) {
  std::string out;
  serialize_http1(request("GET", "", "h", {}, ""), out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST(Http1Serialize, BackToBackRequestsAreFramed) {
  // Requests are appended one after the other (pipelining, or a reused buffer), each framed.
  std::string out;
  serialize_http1(request("PUT", "/x", "h", {{"A", "1"}}, "body"), out);
  serialize_http1(request("GET", "/y", "h", {}, ""), out);
  EXPECT_EQ(out,
            "PUT /x HTTP/1.1\r\nHost: h\r\nA: 1\r\nContent-Length: 4\r\n\r\nbody"
            "GET /y HTTP/1.1\r\nHost: h\r\n\r\n");
}

}  // namespace
}  // namespace twin::replay
