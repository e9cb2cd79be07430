// Tests of the HTTP/2 analyzer. Every conversation is fed whole, split in two at every byte
// offset (or a stride of them for the megabyte ones) and byte by byte, and must give the same
// exchanges and anomalies each time. Wire bytes are built here: frames by hand, header blocks
// with nghttp2's HPACK deflater (one per direction, like real endpoints, so later blocks use the
// dynamic table), plus a few real conversations recorded between nghttp/h2load and nghttpd
// (tests/data/http2/, see its README.md).

#include "http2.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "files.h"

namespace twin::traffic {
// Readable gmock messages.
void PrintTo(const Header& h, std::ostream* os) { *os << h.name << ": " << h.value; }
}  // namespace twin::traffic

namespace twin::capture {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using traffic::ErrorKind;
using traffic::Exchange;
using traffic::Framing;
using traffic::Headers;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// ---------------------------------------------------------------------------------------------
// Wire bytes.

enum : uint8_t {
  kData = 0,
  kHeadersFrame = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};
enum : uint8_t { kEndStream = 1, kAck = 1, kEndHeaders = 4, kPadded = 8, kPriorityFlag = 0x20 };

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

/// A frame; `length` overrides the payload's length in the header (hostile frames).
std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload,
                  std::optional<uint32_t> length = std::nullopt) {
  const uint32_t n = length.value_or(static_cast<uint32_t>(payload.size()));
  std::string f = {static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n),
                   static_cast<char>(type), static_cast<char>(flags)};
  f += be32(stream);
  f += payload;
  return f;
}

std::string settings(const std::vector<std::pair<uint16_t, uint32_t>>& entries) {
  std::string p;
  for (auto [id, value] : entries) {
    p += static_cast<char>(id >> 8);
    p += static_cast<char>(id);
    p += be32(value);
  }
  return frame(kSettings, 0, 0, p);
}
std::string settings_ack() { return frame(kSettings, kAck, 0, ""); }

std::string data(uint32_t stream, std::string_view body, bool end = false) {
  return frame(kData, end ? kEndStream : 0, stream, body);
}
std::string rst_stream(uint32_t stream, uint32_t code) {
  return frame(kRstStream, 0, stream, be32(code));
}
std::string goaway(uint32_t last, uint32_t code) {
  return frame(kGoaway, 0, 0, be32(last) + be32(code) + "debug");
}
std::string window_update(uint32_t stream, uint32_t n) {
  return frame(kWindowUpdate, 0, stream, be32(n));
}
std::string ping() { return frame(kPing, 0, 0, "12345678"); }

/// Concatenates in order. Encoders are stateful (the dynamic table), so header blocks must be
/// encoded in wire order: the elements of a braced list are evaluated left to right, while the
/// operands of + are not sequenced.
std::string cat(std::initializer_list<std::string> parts) {
  std::string out;
  for (const std::string& p : parts) out += p;
  return out;
}

using Fields = std::vector<std::pair<std::string, std::string>>;

/// An HPACK encoder: nghttp2's deflater, as the endpoints use it.
class Encoder {
 public:
  explicit Encoder(size_t max_table = 4096) {
    if (nghttp2_hd_deflate_new(&deflater_, max_table) != 0) deflater_ = nullptr;
  }
  ~Encoder() { nghttp2_hd_deflate_del(deflater_); }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  std::string encode(const Fields& fields) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [name, value] : fields) {
      nva.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                     reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                     value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nva.data(), nva.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(out.data()),
                                            out.size(), nva.data(), nva.size());
    EXPECT_GE(n, 0);
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }
  /// The peer's SETTINGS_HEADER_TABLE_SIZE: the next block starts with a table size update.
  void change_table_size(size_t size) { nghttp2_hd_deflate_change_table_size(deflater_, size); }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

std::string headers(uint32_t stream, std::string_view block, bool end_stream) {
  return frame(kHeadersFrame, static_cast<uint8_t>(kEndHeaders | (end_stream ? kEndStream : 0)),
               stream, block);
}

Fields get_fields(std::string path, std::string authority = "example.com") {
  return {{":method", "GET"},
          {":scheme", "http"},
          {":authority", std::move(authority)},
          {":path", std::move(path)},
          {"user-agent", "twin-test/1"}};
}
Fields status_fields(std::string status, Fields more = {}) {
  Fields f = {{":status", std::move(status)}};
  f.insert(f.end(), more.begin(), more.end());
  return f;
}
Headers to_headers(const Fields& fields) {
  Headers h;
  for (const auto& [n, v] : fields) h.push_back({n, v});
  return h;
}

// ---------------------------------------------------------------------------------------------
// Conversations and how they are fed.

struct Event {
  enum Kind { kBytes, kGap, kEnd, kFinish } kind;
  Direction dir = Direction::kToServer;
  std::string bytes;
  int64_t time = 0;
  bool flag = false;  // kEnd: reset; kFinish: end_of_capture
};

struct Script {
  std::vector<Event> events;
  Script& client(std::string bytes, int64_t time) {
    events.push_back({Event::kBytes, Direction::kToServer, std::move(bytes), time});
    return *this;
  }
  Script& server(std::string bytes, int64_t time) {
    events.push_back({Event::kBytes, Direction::kToClient, std::move(bytes), time});
    return *this;
  }
  Script& gap(Direction dir, int64_t time) {
    events.push_back({Event::kGap, dir, "", time});
    return *this;
  }
  Script& end(Direction dir, bool reset, int64_t time) {
    events.push_back({Event::kEnd, dir, "", time, reset});
    return *this;
  }
  Script& finish(int64_t time, bool end_of_capture) {
    events.push_back({Event::kFinish, Direction::kToServer, "", time, end_of_capture});
    return *this;
  }
  size_t total() const {
    size_t n = 0;
    for (const Event& e : events) n += e.bytes.size();
    return n;
  }
};

/// The preface and the client's first SETTINGS, as nghttp sends them.
std::string client_start() { return std::string(kPreface) + settings({{3, 100}, {4, 65535}}); }
std::string server_start() { return settings({{3, 100}}) + settings_ack(); }

struct Outcome {
  std::vector<Exchange> exchanges;
  std::map<std::string, uint64_t, std::less<>> anomalies;
  uint64_t bodies_truncated = 0;
  uint64_t messages_skipped = 0;
  Analyzer::State state = Analyzer::State::kActive;
  size_t max_buffered = 0;
  bool operator==(const Outcome&) const = default;
};

std::string describe(const Exchange& e) {
  std::ostringstream o;
  o << "seq=" << e.seq << " stream=" << e.stream << " error=" << traffic::to_string(e.error)
    << " flags=" << e.flags << " " << e.request.method << " " << e.request.target << " ["
    << e.request.authority << "] req_headers=" << e.request.headers.size()
    << " req_body=" << e.request.body_size << " times=" << e.time.request_start << ","
    << e.time.request_end << "," << e.time.response_start << "," << e.time.response_end;
  if (e.response) {
    o << " status=" << e.response->status << " resp_headers=" << e.response->headers.size()
      << " resp_body=" << e.response->body_size;
  }
  return o.str();
}

std::string describe(const Outcome& r) {
  std::ostringstream o;
  o << "state=" << static_cast<int>(r.state) << " truncated=" << r.bodies_truncated
    << " skipped=" << r.messages_skipped << "\n";
  for (const auto& [k, v] : r.anomalies) o << "  anomaly " << k << "=" << v << "\n";
  for (const Exchange& e : r.exchanges) o << "  " << describe(e) << "\n";
  return o.str();
}

enum class Split { kWhole, kAt, kBytes };

Outcome feed(const Script& script, const AnalyzerOptions& options,
             const std::optional<H2cUpgrade>& upgrade, Split split, size_t at = 0) {
  Outcome out;
  Counters counters;
  AnalyzerContext ctx{options, counters, [&](Exchange&& e) { out.exchanges.push_back(e); }};
  auto analyzer = upgrade ? std::make_unique<Http2Analyzer>(std::move(ctx), *upgrade)
                          : std::make_unique<Http2Analyzer>(std::move(ctx));
  size_t offset = 0;  // of the event's first byte among all the script's bytes
  for (const Event& e : script.events) {
    switch (e.kind) {
      case Event::kBytes: {
        std::string_view b = e.bytes;
        if (split == Split::kBytes) {
          for (size_t i = 0; i < b.size(); ++i) analyzer->data(e.dir, b.substr(i, 1), e.time);
        } else if (split == Split::kAt && at > offset && at < offset + b.size()) {
          analyzer->data(e.dir, b.substr(0, at - offset), e.time);
          out.max_buffered = std::max(out.max_buffered, analyzer->buffered());
          analyzer->data(e.dir, b.substr(at - offset), e.time);
        } else {
          analyzer->data(e.dir, b, e.time);
        }
        offset += b.size();
        break;
      }
      case Event::kGap:
        analyzer->gap(e.dir, 100, e.time);
        break;
      case Event::kEnd:
        analyzer->end(e.dir, e.flag, e.time);
        break;
      case Event::kFinish:
        analyzer->finish(e.time, e.flag);
        break;
    }
    out.max_buffered = std::max(out.max_buffered, analyzer->buffered());
  }
  out.anomalies = counters.anomalies;
  out.bodies_truncated = counters.bodies_truncated;
  out.messages_skipped = counters.messages_skipped;
  out.state = analyzer->state();
  return out;
}

/// Feeds the script whole, split at every offset (every `stride`-th for long scripts) and byte
/// by byte; all must agree. Returns the whole-fed outcome for the test's own expectations.
Outcome run(const Script& script, const AnalyzerOptions& options = {},
            const std::optional<H2cUpgrade>& upgrade = std::nullopt) {
  Outcome whole = feed(script, options, upgrade, Split::kWhole);
  whole.max_buffered = 0;
  const size_t total = script.total();
  const size_t stride = total <= 30000 ? 1 : total / 97;
  for (size_t at = 1; at < total; at += stride) {
    Outcome split = feed(script, options, upgrade, Split::kAt, at);
    split.max_buffered = 0;
    if (!(split == whole)) {
      ADD_FAILURE() << "split at " << at << " of " << total << " differs:\nwhole:\n"
                    << describe(whole) << "split:\n"
                    << describe(split);
      break;
    }
  }
  Outcome bytes = feed(script, options, upgrade, Split::kBytes);
  bytes.max_buffered = 0;
  EXPECT_TRUE(bytes == whole) << "byte by byte differs:\nwhole:\n"
                              << describe(whole) << "bytes:\n"
                              << describe(bytes);
  return whole;
}

uint64_t anomaly(const Outcome& r, std::string_view name) {
  auto it = r.anomalies.find(name);
  return it == r.anomalies.end() ? 0 : it->second;
}

// ---------------------------------------------------------------------------------------------
// Prior knowledge.

TEST(Http2Analyzer, GetWithResponseBody) {
  Encoder client, server;
  Script s;
  s.client(client_start(), 100)
      .client(headers(1, client.encode(get_fields("/index.html?x=1")), true), 200)
      .server(server_start(), 300)
      .server(headers(1,
                      server.encode(status_fields(
                          "200", {{"content-type", "text/plain"}, {"content-length", "11"}})),
                      false),
              400)
      .server(data(1, "hello "), 500)
      .server(data(1, "world", true), 600);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  EXPECT_EQ(r.state, Analyzer::State::kActive);
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.protocol, traffic::Protocol::kHttp2);
  EXPECT_EQ(e.stream, 1u);
  EXPECT_EQ(e.seq, 0u);
  EXPECT_EQ(e.error, ErrorKind::kNone);
  EXPECT_EQ(e.flags, 0u);
  EXPECT_EQ(e.request.method, "GET");
  EXPECT_EQ(e.request.target, "/index.html?x=1");
  EXPECT_EQ(e.request.authority, "example.com");
  EXPECT_EQ(e.request.headers, to_headers(get_fields("/index.html?x=1")));
  EXPECT_EQ(e.request.framing, Framing::kNone);
  EXPECT_EQ(e.request.body_size, 0u);
  ASSERT_TRUE(e.response.has_value());
  EXPECT_EQ(e.response->status, 200);
  EXPECT_EQ(e.response->reason, "");
  EXPECT_EQ(
      e.response->headers,
      to_headers(status_fields("200", {{"content-type", "text/plain"}, {"content-length", "11"}})));
  EXPECT_EQ(e.response->body, "hello world");
  EXPECT_EQ(e.response->body_size, 11u);
  EXPECT_EQ(e.response->framing, Framing::kHttp2);
  EXPECT_EQ(e.time.request_start, 200);
  EXPECT_EQ(e.time.request_end, 200);
  EXPECT_EQ(e.time.response_start, 400);
  EXPECT_EQ(e.time.response_end, 600);
}

TEST(Http2Analyzer, TimesComeFromTheCallsCarryingTheFrames) {
  // A HEADERS frame whose first byte comes at 10 and the rest at 20: request_start is 10, and
  // the END_STREAM frame completing at 20 gives request_end 20.
  Encoder client, server;
  const std::string h = headers(1, client.encode(get_fields("/")), true);
  Counters counters;
  AnalyzerOptions options;
  std::vector<Exchange> out;
  Http2Analyzer a({options, counters, [&](Exchange&& e) { out.push_back(std::move(e)); }});
  a.data(Direction::kToServer, client_start() + h.substr(0, 1), 10);
  a.data(Direction::kToServer, h.substr(1), 20);
  const std::string r = headers(1, server.encode(status_fields("204")), false) + data(1, "", true);
  a.data(Direction::kToClient, server_start() + r.substr(0, 3), 30);
  a.data(Direction::kToClient, r.substr(3, r.size() - 4), 40);
  EXPECT_TRUE(out.empty());
  a.data(Direction::kToClient, r.substr(r.size() - 1), 50);  // the empty DATA's last byte
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].time.request_start, 10);
  EXPECT_EQ(out[0].time.request_end, 20);
  EXPECT_EQ(out[0].time.response_start, 30);
  EXPECT_EQ(out[0].time.response_end, 50);
  EXPECT_EQ(out[0].response->framing, Framing::kHttp2);  // an empty DATA frame is a body
  EXPECT_EQ(out[0].response->body_size, 0u);
}

TEST(Http2Analyzer, PostWithBodyAndResponseWithoutBody) {
  Encoder client, server;
  Fields post = {{":method", "POST"},
                 {":scheme", "https"},
                 {":authority", "api.example.com:8443"},
                 {":path", "/v1/items"},
                 {"content-type", "application/json"},
                 {"content-length", "17"}};
  Script s;
  s.client(client_start(), 1)
      .client(headers(3, client.encode(post), false), 2)
      .client(data(3, "{\"name\":"), 3)
      .server(server_start(), 4)
      .client(window_update(0, 1000) + ping() + data(3, "\"box\"}", false), 5)
      .client(data(3, "\n", true), 6)
      .server(headers(3, server.encode(status_fields("201", {{"location", "/v1/items/9"}})), true),
              7);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.stream, 3u);
  EXPECT_EQ(e.seq, 0u);
  EXPECT_EQ(e.request.method, "POST");
  EXPECT_EQ(e.request.target, "/v1/items");
  EXPECT_EQ(e.request.authority, "api.example.com:8443");
  EXPECT_EQ(e.request.body, "{\"name\":\"box\"}\n");
  EXPECT_EQ(e.request.body_size, 15u);
  EXPECT_EQ(e.request.framing, Framing::kHttp2);
  EXPECT_EQ(e.time.request_start, 2);
  EXPECT_EQ(e.time.request_end, 6);
  ASSERT_TRUE(e.response);
  EXPECT_EQ(e.response->status, 201);
  EXPECT_EQ(e.response->framing, Framing::kNone);
  EXPECT_EQ(e.response->body_size, 0u);
  EXPECT_EQ(e.time.response_start, 7);
  EXPECT_EQ(e.time.response_end, 7);
}

TEST(Http2Analyzer, ConcurrentStreamsInterleavedEmitInCompletionOrder) {
  Encoder client, server;
  Script s;
  s.client(cat({client_start(), headers(1, client.encode(get_fields("/a")), true),
                headers(3, client.encode(get_fields("/b")), true)}),
           10)
      .client(headers(5, client.encode(get_fields("/c")), true), 11)
      .server(cat({server_start(), headers(5, server.encode(status_fields("200")), false),
                   headers(1, server.encode(status_fields("404")), false)}),
              20)
      .server(cat({data(5, "c1"), headers(3, server.encode(status_fields("200")), false),
                   data(3, "b1"), data(1, "a1")}),
              21)
      .server(data(5, "c2", true), 22)
      .server(data(3, "b2") + data(1, "a2", true), 23)
      .server(data(3, "b3", true), 24);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 3u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  const Exchange& c = r.exchanges[0];
  const Exchange& a = r.exchanges[1];
  const Exchange& b = r.exchanges[2];
  EXPECT_EQ(c.stream, 5u);
  EXPECT_EQ(c.seq, 2u);
  EXPECT_EQ(c.request.target, "/c");
  EXPECT_EQ(c.response->body, "c1c2");
  EXPECT_EQ(c.time.response_end, 22);
  EXPECT_EQ(a.stream, 1u);
  EXPECT_EQ(a.seq, 0u);
  EXPECT_EQ(a.request.target, "/a");
  EXPECT_EQ(a.response->status, 404);
  EXPECT_EQ(a.response->body, "a1a2");
  EXPECT_EQ(b.stream, 3u);
  EXPECT_EQ(b.seq, 1u);
  EXPECT_EQ(b.request.target, "/b");
  EXPECT_EQ(b.response->body, "b1b2b3");
  EXPECT_EQ(b.time.response_start, 21);
  EXPECT_EQ(b.time.response_end, 24);
}

TEST(Http2Analyzer, ContinuationFramesCarryTheRestOfTheBlock) {
  Encoder client, server;
  Fields req = get_fields("/long");
  for (int i = 0; i < 20; ++i) req.emplace_back("x-h" + std::to_string(i), std::string(30, 'v'));
  const std::string block = client.encode(req);
  ASSERT_GT(block.size(), 300u);
  const std::string rblock = server.encode(status_fields("200", {{"x-r", std::string(90, 'r')}}));
  Script s;
  s.client(client_start(), 1)
      .client(frame(kHeadersFrame, kEndStream, 1, block.substr(0, 100)), 2)
      .client(frame(kContinuation, 0, 1, block.substr(100, 100)), 3)
      .client(frame(kContinuation, 0, 1, ""), 4)  // an empty fragment is allowed
      .client(frame(kContinuation, kEndHeaders, 1, block.substr(200)), 5)
      .server(server_start(), 6)
      .server(frame(kHeadersFrame, kEndStream, 1, rblock.substr(0, 10)) +
                  frame(kContinuation, kEndHeaders, 1, rblock.substr(10)),
              7);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.request.headers, to_headers(req));
  EXPECT_EQ(e.request.target, "/long");
  EXPECT_EQ(e.time.request_start, 2);
  EXPECT_EQ(e.time.request_end, 5);  // END_STREAM takes effect with END_HEADERS
  EXPECT_EQ(e.response->status, 200);
  EXPECT_EQ(e.response->headers[1].value, std::string(90, 'r'));
}

TEST(Http2Analyzer, PaddingAndPriorityFieldsAreNotContent) {
  Encoder client, server;
  const std::string block = client.encode(get_fields("/p"));
  // HEADERS: Pad Length 7, then E|stream dependency and weight, the fragment, 7 zero bytes.
  std::string hp =
      std::string(1, '\x07') + be32(0x80000000u | 11) + "\x10" + block + std::string(7, '\0');
  std::string rblock = server.encode(status_fields("200"));
  std::string rhp = std::string(1, '\x03') + rblock + "abc";  // padding need not be zero here
  Script s;
  s.client(client_start() + frame(kPriority, 0, 11, be32(0) + "\x20"), 1)
      .client(frame(kHeadersFrame, kEndHeaders | kPadded | kPriorityFlag, 1, hp), 2)
      .client(frame(kData, kPadded, 1, std::string(1, '\x04') + "body" + std::string(4, '\0')), 3)
      .client(frame(kData, kPadded | kEndStream, 1, std::string(1, '\0') + "!"), 4)
      .server(server_start() + frame(kHeadersFrame, kEndHeaders | kPadded, 1, rhp), 5)
      // A padded DATA frame with only padding, then one that ends the stream.
      .server(frame(kData, kPadded, 1, std::string(1, '\x05') + std::string(5, 'P')), 6)
      .server(frame(kData, kPadded | kEndStream, 1, std::string(1, '\x02') + "ok" + "PP"), 7);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.request.headers, to_headers(get_fields("/p")));
  EXPECT_EQ(e.request.body, "body!");
  EXPECT_EQ(e.request.body_size, 5u);
  EXPECT_EQ(e.response->headers, to_headers(status_fields("200")));
  EXPECT_EQ(e.response->body, "ok");
  EXPECT_EQ(e.response->body_size, 2u);
}

TEST(Http2Analyzer, GrpcTrailersFollowTheResponseHeaders) {
  Encoder client, server;
  Fields req = {{":method", "POST"},
                {":scheme", "http"},
                {":path", "/helloworld.Greeter/SayHello"},
                {":authority", "grpc.local:50051"},
                {"content-type", "application/grpc"},
                {"te", "trailers"}};
  const std::string msg("\0\0\0\0\x05hello", 10);
  Script s;
  s.client(client_start() + headers(1, client.encode(req), false) + data(1, msg, true), 1)
      .server(
          server_start() +
              headers(1,
                      server.encode(status_fields("200", {{"content-type", "application/grpc"}})),
                      false) +
              data(1, msg),
          2)
      .server(
          headers(1, server.encode({{"grpc-status", "14"}, {"grpc-message", "unavailable"}}), true),
          3);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.request.target, "/helloworld.Greeter/SayHello");
  EXPECT_EQ(e.request.body, msg);
  EXPECT_EQ(e.response->status, 200);
  EXPECT_EQ(e.response->headers, to_headers({{":status", "200"},
                                             {"content-type", "application/grpc"},
                                             {"grpc-status", "14"},
                                             {"grpc-message", "unavailable"}}));
  EXPECT_EQ(e.response->body, msg);
  EXPECT_EQ(e.time.response_start, 2);
  EXPECT_EQ(e.time.response_end, 3);
  EXPECT_EQ(e.error, ErrorKind::kNone);
}

TEST(Http2Analyzer, RequestTrailersAreAppendedToo) {
  Encoder client, server;
  Fields req = {{":method", "PUT"}, {":scheme", "http"}, {":path", "/u"}, {":authority", "h"}};
  Script s;
  s.client(cat({client_start(), headers(1, client.encode(req), false), data(1, "xyz"),
                headers(1, client.encode({{"x-checksum", "abc"}}), true)}),
           1)
      .server(server_start() + headers(1, server.encode(status_fields("204")), true), 2);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  Fields all = req;
  all.emplace_back("x-checksum", "abc");
  EXPECT_EQ(r.exchanges[0].request.headers, to_headers(all));
  EXPECT_EQ(r.exchanges[0].request.body, "xyz");
}

TEST(Http2Analyzer, InterimResponsesAreSkipped) {
  Encoder client, server;
  Fields req = get_fields("/upload");
  req[0].second = "POST";
  req.emplace_back("expect", "100-continue");
  Script s;
  s.client(client_start() + headers(1, client.encode(req), false), 1)
      .server(server_start() + headers(1, server.encode(status_fields("100")), false), 2)
      .client(data(1, "payload", true), 3)
      .server(headers(1, server.encode(status_fields("103", {{"link", "</s.css>; rel=preload"}})),
                      false),
              4)
      .server(headers(1, server.encode(status_fields("200", {{"x-final", "1"}})), false) +
                  data(1, "done", true),
              5);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.response->status, 200);
  EXPECT_EQ(e.response->headers, to_headers(status_fields("200", {{"x-final", "1"}})));
  EXPECT_EQ(e.response->body, "done");
  EXPECT_EQ(e.time.response_start, 5);
  EXPECT_EQ(e.request.body, "payload");
}

TEST(Http2Analyzer, ConnectTargetIsTheAuthorityAndHostFillsAMissingAuthority) {
  Encoder client, server;
  Script s;
  s.client(
       cat({client_start(),
            headers(1, client.encode({{":method", "CONNECT"}, {":authority", "db:5432"}}), true),
            headers(3,
                    client.encode({{":method", "GET"},
                                   {":scheme", "http"},
                                   {":path", "/h"},
                                   {"host", "legacy.example"}}),
                    true)}),
       1)
      .server(cat({server_start(), headers(1, server.encode(status_fields("200")), true),
                   headers(3, server.encode(status_fields("200")), true)}),
              2);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 2u) << describe(r);
  EXPECT_EQ(r.exchanges[0].request.method, "CONNECT");
  EXPECT_EQ(r.exchanges[0].request.target, "db:5432");
  EXPECT_EQ(r.exchanges[0].request.authority, "db:5432");
  EXPECT_EQ(r.exchanges[1].request.target, "/h");
  EXPECT_EQ(r.exchanges[1].request.authority, "legacy.example");
}

// ---------------------------------------------------------------------------------------------
// Resets and GOAWAY.

TEST(Http2Analyzer, RstStreamFromTheClientKeepsWhatWasSeen) {
  Encoder client, server;
  Script s;
  s.client(client_start() + headers(1, client.encode(get_fields("/big")), true), 1)
      .server(
          server_start() + headers(1, server.encode(status_fields("200")), false) + data(1, "part"),
          2)
      .client(rst_stream(1, 0x8 /*CANCEL*/), 3)
      .server(data(1, "late data after the reset", true), 4);  // in flight: ignored
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.error, ErrorKind::kReset);
  EXPECT_FALSE(e.has(traffic::kFlagNoResponse));
  ASSERT_TRUE(e.response);
  EXPECT_EQ(e.response->status, 200);
  EXPECT_EQ(e.response->body, "part");
  EXPECT_EQ(e.time.response_end, traffic::kNoTime);
}

TEST(Http2Analyzer, RstStreamFromTheServerBeforeAnyResponse) {
  Encoder client, server;
  Script s;
  s.client(client_start() + headers(1, client.encode(get_fields("/x")), false) + data(1, "ab"), 1)
      .server(server_start() + rst_stream(1, 0x7 /*REFUSED_STREAM*/), 2)
      .client(data(1, "cd", true), 3)
      .client(headers(3, client.encode(get_fields("/y")), true), 4)
      .server(headers(3, server.encode(status_fields("200")), true), 5);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 2u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  EXPECT_EQ(r.exchanges[0].error, ErrorKind::kReset);
  EXPECT_TRUE(r.exchanges[0].has(traffic::kFlagNoResponse));
  EXPECT_FALSE(r.exchanges[0].response.has_value());
  EXPECT_EQ(r.exchanges[0].request.body, "ab");
  EXPECT_EQ(r.exchanges[1].request.target, "/y");
  EXPECT_EQ(r.exchanges[1].seq, 1u);
  EXPECT_EQ(r.exchanges[1].error, ErrorKind::kNone);
}

TEST(Http2Analyzer, EarlyResponseThenNoErrorResetIsComplete) {
  Encoder client, server;
  Fields req = get_fields("/upload");
  req[0].second = "POST";
  Script s;
  s.client(client_start() + headers(1, client.encode(req), false) + data(1, "chunk1"), 1)
      .server(server_start() + headers(1, server.encode(status_fields("413")), true) +
                  rst_stream(1, 0 /*NO_ERROR*/),
              2);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_EQ(r.exchanges[0].error, ErrorKind::kNone);
  EXPECT_EQ(r.exchanges[0].response->status, 413);
  EXPECT_EQ(r.exchanges[0].request.body, "chunk1");
  EXPECT_EQ(r.exchanges[0].time.request_end, traffic::kNoTime);
}

TEST(Http2Analyzer, GoawayResetsStreamsAboveTheLastStreamId) {
  Encoder client, server;
  Script s;
  s.client(client_start(), 1)
      .client(cat({headers(1, client.encode(get_fields("/1")), true),
                   headers(3, client.encode(get_fields("/3")), true),
                   headers(5, client.encode(get_fields("/5")), true)}),
              2)
      .server(server_start() + headers(1, server.encode(status_fields("200")), false), 3)
      .server(goaway(1, 0), 4)
      .client(headers(7, client.encode(get_fields("/7")), true), 5)  // raced the GOAWAY
      .server(data(1, "one", true), 6);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 4u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  EXPECT_EQ(r.exchanges[0].stream, 3u);
  EXPECT_EQ(r.exchanges[0].error, ErrorKind::kReset);
  EXPECT_TRUE(r.exchanges[0].has(traffic::kFlagNoResponse));
  EXPECT_EQ(r.exchanges[1].stream, 5u);
  EXPECT_EQ(r.exchanges[1].error, ErrorKind::kReset);
  EXPECT_EQ(r.exchanges[2].stream, 7u);
  EXPECT_EQ(r.exchanges[2].seq, 3u);
  EXPECT_EQ(r.exchanges[2].error, ErrorKind::kReset);
  EXPECT_EQ(r.exchanges[3].stream, 1u);
  EXPECT_EQ(r.exchanges[3].error, ErrorKind::kNone);
  EXPECT_EQ(r.exchanges[3].response->body, "one");
}

// ---------------------------------------------------------------------------------------------
// h2c upgrade.

H2cUpgrade make_upgrade() {
  H2cUpgrade u;
  Exchange& e = u.exchange;
  e.seq = 0;
  e.protocol = traffic::Protocol::kHttp11;
  e.flags = traffic::kFlagUpgrade;
  e.time.request_start = 5;
  e.time.request_end = 6;
  e.request.method = "GET";
  e.request.target = "/first";
  e.request.authority = "up.example";
  e.request.headers = {{"Host", "up.example"},
                       {"Connection", "Upgrade, HTTP2-Settings"},
                       {"Upgrade", "h2c"},
                       {"HTTP2-Settings", "AAMAAABkAAQAAP__"}};
  u.http2_settings = "AAMAAABkAAQAAP__";  // MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW 65535
  return u;
}

TEST(Http2Analyzer, H2cUpgradeStreamOneThenLaterStreams) {
  Encoder client, server;
  H2cUpgrade up = make_upgrade();
  Script s;
  s.client(client_start() + headers(3, client.encode(get_fields("/second", "up.example")), true),
           10)
      .server(server_start() +
                  headers(1, server.encode(status_fields("200", {{"server", "h2c-test"}})), false) +
                  data(1, "first body", true),
              11)
      .client(headers(5, client.encode(get_fields("/third", "up.example")), true), 12)
      .server(
          cat({headers(5, server.encode(status_fields("200", {{"server", "h2c-test"}})), true),
               headers(3, server.encode(status_fields("304", {{"server", "h2c-test"}})), true)}),
          13);
  Outcome r = run(s, {}, up);
  ASSERT_EQ(r.exchanges.size(), 3u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  const Exchange& one = r.exchanges[0];
  EXPECT_EQ(one.stream, 1u);
  EXPECT_EQ(one.seq, 0u);
  EXPECT_EQ(one.protocol, traffic::Protocol::kHttp2);
  EXPECT_TRUE(one.has(traffic::kFlagUpgrade));
  EXPECT_EQ(one.request, up.exchange.request);
  EXPECT_EQ(one.time.request_start, 5);
  EXPECT_EQ(one.time.request_end, 6);
  EXPECT_EQ(one.time.response_start, 11);
  EXPECT_EQ(one.response->status, 200);
  EXPECT_EQ(one.response->body, "first body");
  EXPECT_EQ(r.exchanges[1].stream, 5u);
  EXPECT_EQ(r.exchanges[1].seq, 2u);
  EXPECT_EQ(r.exchanges[1].request.target, "/third");
  EXPECT_EQ(r.exchanges[2].stream, 3u);
  EXPECT_EQ(r.exchanges[2].seq, 1u);
  EXPECT_EQ(r.exchanges[2].response->status, 304);
  EXPECT_EQ(r.exchanges[2].response->headers,
            to_headers(status_fields("304", {{"server", "h2c-test"}})));
}

TEST(Http2Analyzer, H2cUpgradeSettingsRaiseTheServerTableLimit) {
  // HTTP2-Settings carries HEADER_TABLE_SIZE 8192 and the client's SETTINGS frame repeats
  // nothing: only the header lets the server's encoder grow its table past 4096.
  Encoder client, server(8192);
  server.change_table_size(8192);
  H2cUpgrade up = make_upgrade();
  up.http2_settings = "AAEAACAA";  // 00 01 00 00 20 00
  Fields big = status_fields("200");
  for (int i = 0; i < 6; ++i)
    big.emplace_back("x-big-" + std::to_string(i), std::string(1000, 'b'));
  Script s;
  s.client(std::string(kPreface) + settings({}) +
               headers(3, client.encode(get_fields("/again", "up.example")), true),
           1)
      .server(settings({}) + headers(1, server.encode(big), true), 2)
      .server(headers(3, server.encode(big), true), 3);
  Outcome r = run(s, {}, up);
  ASSERT_EQ(r.exchanges.size(), 2u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  EXPECT_EQ(r.exchanges[0].response->headers, to_headers(big));
  EXPECT_EQ(r.exchanges[1].response->headers, to_headers(big));
}

TEST(Http2Analyzer, H2cUpgradeWithBadSettingsIsCounted) {
  H2cUpgrade up = make_upgrade();
  up.http2_settings = "AAE*";
  Script s;
  s.client(client_start(), 1).finish(2, true);
  Outcome r = run(s, {}, up);
  EXPECT_EQ(anomaly(r, "http2.bad_upgrade_settings"), 1u);
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_EQ(r.exchanges[0].error, ErrorKind::kCancelled);
  EXPECT_TRUE(r.exchanges[0].has(traffic::kFlagNoResponse));
  EXPECT_TRUE(r.exchanges[0].has(traffic::kFlagUpgrade));
}

// ---------------------------------------------------------------------------------------------
// HPACK state.

TEST(Http2Analyzer, DynamicTableEntriesFromEarlierBlocksDecode) {
  Encoder client, server;
  Fields r1 = get_fields("/first");
  r1.emplace_back("x-tenant", "acme-corporation-with-a-long-name");
  r1.emplace_back("cookie", "session=0123456789abcdef0123456789abcdef");
  Fields r2 = get_fields("/second");
  r2.emplace_back("x-tenant", "acme-corporation-with-a-long-name");
  r2.emplace_back("cookie", "session=0123456789abcdef0123456789abcdef");
  const std::string b1 = client.encode(r1);
  const std::string b2 = client.encode(r2);
  // The second block refers to the first one's entries: it is much shorter.
  ASSERT_LT(b2.size() * 3, b1.size());
  Fields s1 = status_fields("200", {{"x-trace", "trace-id-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}});
  const std::string rb1 = server.encode(s1);
  const std::string rb2 = server.encode(s1);
  ASSERT_LT(rb2.size() * 3, rb1.size());
  Script s;
  s.client(client_start() + headers(1, b1, true), 1)
      .server(server_start() + headers(1, rb1, true), 2)
      .client(headers(3, b2, true), 3)
      .server(headers(3, rb2, true), 4);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 2u) << describe(r);
  EXPECT_EQ(r.exchanges[0].request.headers, to_headers(r1));
  EXPECT_EQ(r.exchanges[1].request.headers, to_headers(r2));
  EXPECT_EQ(r.exchanges[1].response->headers, to_headers(s1));
}

TEST(Http2Analyzer, StreamsThatAreNotKeptStillFeedTheTable) {
  // Trailers on a stream the analyzer evicted are decoded and dropped; the table entry they
  // add is what a later request refers to.
  Encoder client, server;
  AnalyzerOptions options;
  options.max_pending = 1;
  Fields shared = get_fields("/s");
  shared.emplace_back("x-shared", "value-that-gets-indexed-in-the-table");
  Script s;
  s.client(client_start() + headers(1, client.encode(get_fields("/one")), false), 1)
      .client(headers(3, client.encode(shared), true), 2)  // evicts stream 1
      .client(headers(1,
                      client.encode({{"x-trailer", "t"},
                                     {"x-shared",
                                      "value-that-gets-indexed-in-the-"
                                      "table"}}),
                      true),
              3)  // trailers on the evicted stream: decoded, dropped
      .server(server_start() + headers(3, server.encode(status_fields("200")), true), 4)
      .client(headers(5, client.encode(shared), true), 5)
      .server(headers(5, server.encode(status_fields("200")), true), 6);
  Outcome r = run(s, options);
  ASSERT_EQ(r.exchanges.size(), 3u) << describe(r);
  EXPECT_EQ(anomaly(r, "http2.too_many_streams"), 1u);
  EXPECT_EQ(r.exchanges[0].stream, 1u);
  EXPECT_EQ(r.exchanges[0].error, ErrorKind::kTruncated);
  EXPECT_TRUE(r.exchanges[0].has(traffic::kFlagNoResponse));
  EXPECT_EQ(r.exchanges[2].stream, 5u);
  EXPECT_EQ(r.exchanges[2].request.headers, to_headers(shared));
}

TEST(Http2Analyzer, HeaderTableSizeSettingsAreFollowed) {
  // The client lets the server's encoder use 16 KiB: the server's next block starts with a
  // Dynamic Table Size Update to 16384 and fills the table beyond 4096. Then the client lowers
  // it to 1024 and the encoder shrinks (and evicts) with another update.
  Encoder client, server(16384);
  Fields big = status_fields("200");
  for (int i = 0; i < 8; ++i) big.emplace_back("x-big-" + std::to_string(i), std::string(900, 'z'));
  Script s;
  s.client(client_start() + headers(1, client.encode(get_fields("/1")), true), 1)
      .server(server_start() + headers(1, server.encode(status_fields("200")), true), 2)
      .client(settings({{1, 16384}}), 3);
  server.change_table_size(16384);
  s.server(settings_ack(), 4)
      .client(headers(3, client.encode(get_fields("/3")), true), 5)
      .server(headers(3, server.encode(big), true), 6)
      .client(headers(5, client.encode(get_fields("/5")), true), 7)
      .server(headers(5, server.encode(big), true), 8)  // all indexed, some beyond 4096
      .client(settings({{1, 1024}}), 9);
  server.change_table_size(1024);
  s.client(headers(7, client.encode(get_fields("/7")), true), 10)
      .server(headers(7, server.encode(big), true), 11);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 4u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  EXPECT_EQ(r.exchanges[1].response->headers, to_headers(big));
  EXPECT_EQ(r.exchanges[2].response->headers, to_headers(big));
  EXPECT_EQ(r.exchanges[3].response->headers, to_headers(big));
  EXPECT_EQ(r.exchanges[3].request.target, "/7");
}

TEST(Http2Analyzer, TableSizeDecreaseSeenBeforeTheEncoderAppliesIt) {
  // The client lowers the server's table to 256, but the server's next block was encoded before
  // the server read that SETTINGS: it carries no size update. Endpoints accept that; so must
  // the observer. The block after it starts with the update and evicts.
  Encoder client, server;
  const Fields r1 = status_fields("200", {{"x-long-lived", std::string(500, 'L')}});
  Script s;
  s.client(cat({client_start(), headers(1, client.encode(get_fields("/1")), true),
                headers(3, client.encode(get_fields("/3")), true)}),
           1)
      .server(server_start() + headers(1, server.encode(r1), true), 2)
      .client(settings({{1, 256}}), 3)
      .server(headers(3, server.encode(r1), true), 4);  // still refers to the 500-byte entry
  server.change_table_size(256);
  s.server(settings_ack(), 5)
      .client(headers(5, client.encode(get_fields("/5")), true), 6)
      .server(headers(5, server.encode(r1), true), 7);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 3u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  for (const Exchange& e : r.exchanges) EXPECT_EQ(e.response->headers, to_headers(r1));
}

TEST(Http2Analyzer, TableSizeRaisedWhileABlockIsOpenAppliesAfterIt) {
  Encoder client, server(8192);
  Fields big = status_fields("200");
  for (int i = 0; i < 6; ++i)
    big.emplace_back("x-big-" + std::to_string(i), std::string(1000, 'q'));
  const std::string first = server.encode(status_fields("200", {{"x-a", "1"}}));
  Script s;
  s.client(cat({client_start(), headers(1, client.encode(get_fields("/1")), true),
                headers(3, client.encode(get_fields("/3")), true)}),
           1)
      .server(server_start() + frame(kHeadersFrame, kEndStream, 1, first.substr(0, 2)), 2)
      .client(settings({{1, 8192}}), 3)  // arrives while the server's block is open
      .server(frame(kContinuation, kEndHeaders, 1, first.substr(2)), 4);
  server.change_table_size(8192);
  s.server(headers(3, server.encode(big), true), 5);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 2u) << describe(r);
  EXPECT_THAT(r.anomalies, IsEmpty());
  EXPECT_EQ(r.exchanges[1].response->headers, to_headers(big));
}

TEST(Http2Analyzer, ServerPushIsSkippedButItsBlocksAreDecoded) {
  Encoder client, server;
  Fields pushed_req = get_fields("/style.css");
  pushed_req.emplace_back("x-pushed-marker", "pppppppppppppppppppppppppppppp");
  Fields pushed_resp = status_fields("200", {{"x-push-resp", "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"}});
  Fields final3 = status_fields("200", {{"x-pushed-marker", "pppppppppppppppppppppppppppppp"},
                                        {"x-push-resp", "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"}});
  Script s;
  s.client(client_start() + headers(1, client.encode(get_fields("/")), true), 1)
      .server(cat({server_start(),
                   frame(kPushPromise, kEndHeaders, 1, be32(2) + server.encode(pushed_req)),
                   headers(1, server.encode(status_fields("200")), false),
                   headers(2, server.encode(pushed_resp), false), data(2, "body{}", true),
                   data(1, "<html>", true)}),
              2)
      .client(headers(3, client.encode(get_fields("/next")), true), 3)
      .server(headers(3, server.encode(final3), true), 4);
  Outcome r = run(s);
  ASSERT_EQ(r.exchanges.size(), 2u) << describe(r);
  EXPECT_EQ(anomaly(r, "http2.push_skipped"), 1u);
  EXPECT_EQ(r.anomalies.size(), 1u);
  EXPECT_EQ(r.exchanges[0].stream, 1u);
  EXPECT_EQ(r.exchanges[0].response->body, "<html>");
  EXPECT_EQ(r.exchanges[1].stream, 3u);
  EXPECT_EQ(r.exchanges[1].seq, 1u);
  EXPECT_EQ(r.exchanges[1].response->headers, to_headers(final3));
}

TEST(Http2Analyzer, HeaderBlockTooLongSkipsTheStreamButKeepsTheTable) {
  Encoder client, server;
  AnalyzerOptions options;
  options.max_header_bytes = 1024;
  Fields huge = get_fields("/huge");
  for (int i = 0; i < 10; ++i) huge.emplace_back("x-k" + std::to_string(i), std::string(200, 'k'));
  Fields after = get_fields("/after");
  after.emplace_back("x-k9", std::string(200, 'k'));  // indexed by the huge block
  const std::string b1 = client.encode(huge);
  const std::string b2 = client.encode(after);
  ASSERT_LT(b2.size(), 40u);
  Script s;
  s.client(client_start() + frame(kHeadersFrame, kEndStream, 1, b1.substr(0, 700)) +
               frame(kContinuation, kEndHeaders, 1, b1.substr(700)),
           1)
      .server(server_start() + headers(1, server.encode(status_fields("200")), true), 2)
      .client(headers(3, b2, true), 3)
      .server(headers(3, server.encode(status_fields("200")), true), 4);
  Outcome r = run(s, options);
  EXPECT_EQ(anomaly(r, "http2.header_block_too_long"), 1u);
  EXPECT_EQ(r.messages_skipped, 1u);
  EXPECT_EQ(r.state, Analyzer::State::kActive);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_EQ(r.exchanges[0].stream, 3u);
  EXPECT_EQ(r.exchanges[0].seq, 1u);
  EXPECT_EQ(r.exchanges[0].request.headers, to_headers(after));
}

TEST(Http2Analyzer, DecodedHeadersOverTheLimitAlsoCount) {
  // 30 one-byte references to a 300-byte table entry: a small block, a large header list.
  Encoder client, server;
  AnalyzerOptions options;
  options.max_header_bytes = 4096;
  Fields warm = get_fields("/warm");
  warm.emplace_back("x-rep", std::string(300, 'r'));
  Fields bomb = get_fields("/bomb");
  for (int i = 0; i < 30; ++i) bomb.emplace_back("x-rep", std::string(300, 'r'));
  const std::string block = [&] {
    client.encode(warm);
    return client.encode(bomb);
  }();
  ASSERT_LT(block.size(), 100u);
  Encoder client2;
  Script s;
  s.client(cat({client_start(), headers(1, client2.encode(warm), true),
                headers(3, client2.encode(bomb), true)}),
           1)
      .server(cat({server_start(), headers(1, server.encode(status_fields("200")), true),
                   headers(3, server.encode(status_fields("200")), true)}),
              2);
  Outcome r = run(s, options);
  EXPECT_EQ(anomaly(r, "http2.header_block_too_long"), 1u);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_EQ(r.exchanges[0].request.target, "/warm");
}

// ---------------------------------------------------------------------------------------------
// Bodies and limits.

TEST(Http2Analyzer, FiveMegabyteBodyIsCutAtMaxBody) {
  Encoder client, server;
  AnalyzerOptions options;
  options.max_body = 1000;
  std::string body;
  for (size_t i = 0; body.size() < 5'000'000; ++i) body += static_cast<char>('a' + i % 26);
  Script s;
  s.client(client_start() + headers(1, client.encode(get_fields("/5mb")), true), 1)
      .server(server_start() + headers(1, server.encode(status_fields("200")), false), 2);
  std::string frames;
  for (size_t off = 0; off < body.size(); off += 16384) {
    const bool last = off + 16384 >= body.size();
    frames += data(1, std::string_view(body).substr(off, 16384), last);
  }
  s.server(frames, 3);
  Outcome r = run(s, options);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.response->body_size, 5'000'000u);
  EXPECT_EQ(e.response->body, body.substr(0, 1000));
  EXPECT_TRUE(e.has(traffic::kFlagResponseBodyTruncated));
  EXPECT_FALSE(e.has(traffic::kFlagRequestBodyTruncated));
  EXPECT_EQ(r.bodies_truncated, 1u);
}

TEST(Http2Analyzer, ALargeDataFrameStreamsWithoutBeingBuffered) {
  Encoder client, server;
  AnalyzerOptions options;
  options.max_body = 4096;
  const std::string block = client.encode(get_fields("/up"));
  const uint32_t length = 12u << 20;  // one 12 MiB DATA frame
  Counters counters;
  std::vector<Exchange> out;
  Http2Analyzer a({options, counters, [&](Exchange&& e) { out.push_back(std::move(e)); }});
  a.data(Direction::kToServer, client_start() + headers(1, block, false), 1);
  a.data(Direction::kToServer, frame(kData, kEndStream, 1, "", length), 2);
  const std::string chunk(64 << 10, 'd');
  size_t peak = 0;
  for (uint32_t sent = 0; sent < length; sent += chunk.size()) {
    a.data(Direction::kToServer, chunk, 3);
    peak = std::max(peak, a.buffered());
  }
  EXPECT_LT(peak, 64u << 10);
  a.data(Direction::kToClient,
         server_start() + headers(1, Encoder().encode(status_fields("200")), true), 4);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].request.body_size, length);
  EXPECT_EQ(out[0].request.body.size(), 4096u);
  EXPECT_TRUE(out[0].has(traffic::kFlagRequestBodyTruncated));
}

TEST(Http2Analyzer, StreamsBeyondMaxPendingEvictTheOldest) {
  Encoder client, server;
  AnalyzerOptions options;
  options.max_pending = 4;
  Script s;
  std::string c = client_start();
  for (uint32_t id = 1; id <= 11; id += 2) {
    c += headers(id, client.encode(get_fields("/" + std::to_string(id))), true);
  }
  s.client(c, 1)
      .server(cat({server_start(), headers(11, server.encode(status_fields("200")), true),
                   headers(1, server.encode(status_fields("200")), true)}),  // 1 was evicted
              2)
      .finish(3, false);
  Outcome r = run(s, options);
  EXPECT_EQ(anomaly(r, "http2.too_many_streams"), 2u);
  ASSERT_EQ(r.exchanges.size(), 6u) << describe(r);
  EXPECT_EQ(r.exchanges[0].stream, 1u);
  EXPECT_EQ(r.exchanges[0].error, ErrorKind::kTruncated);
  EXPECT_TRUE(r.exchanges[0].has(traffic::kFlagNoResponse));
  EXPECT_EQ(r.exchanges[1].stream, 3u);
  EXPECT_EQ(r.exchanges[2].stream, 11u);
  EXPECT_EQ(r.exchanges[2].error, ErrorKind::kNone);
  EXPECT_EQ(r.exchanges[2].seq, 5u);
  EXPECT_EQ(r.exchanges[3].stream, 5u);  // the rest at finish, in the order they were opened
  EXPECT_EQ(r.exchanges[4].stream, 7u);
  EXPECT_EQ(r.exchanges[5].stream, 9u);
  EXPECT_EQ(r.exchanges[5].error, ErrorKind::kTruncated);
  EXPECT_EQ(r.state, Analyzer::State::kDone);
}

// ---------------------------------------------------------------------------------------------
// Gaps, ends, finish.

TEST(Http2Analyzer, GapFlagsAndEmitsInFlightStreams) {
  Encoder client, server;
  Script s;
  s.client(cat({client_start(), headers(1, client.encode(get_fields("/1")), true),
                headers(3, client.encode(get_fields("/3")), true)}),
           1)
      .server(server_start() + headers(1, server.encode(status_fields("200")), false) +
                  data(1, "partial"),
              2)
      .gap(Direction::kToClient, 3)
      .server(data(1, "never seen", true), 4)
      .finish(5, false);
  Outcome r = run(s);
  EXPECT_EQ(anomaly(r, "http2.gap"), 1u);
  EXPECT_EQ(r.state, Analyzer::State::kDone);
  ASSERT_EQ(r.exchanges.size(), 2u) << describe(r);
  EXPECT_EQ(r.exchanges[0].stream, 1u);
  EXPECT_TRUE(r.exchanges[0].has(traffic::kFlagGap));
  EXPECT_EQ(r.exchanges[0].error, ErrorKind::kTruncated);
  EXPECT_EQ(r.exchanges[0].response->body, "partial");
  EXPECT_EQ(r.exchanges[1].stream, 3u);
  EXPECT_TRUE(r.exchanges[1].has(traffic::kFlagGap));
  EXPECT_TRUE(r.exchanges[1].has(traffic::kFlagNoResponse));
}

TEST(Http2Analyzer, FinishEmitsPendingStreams) {
  Encoder client, server;
  Script base;
  base.client(cat({client_start(), headers(1, client.encode(get_fields("/done")), true),
                   headers(3, client.encode(get_fields("/waiting")), true),
                   headers(5, client.encode(get_fields("/upload")), false), data(5, "up")}),
              1)
      .server(cat({server_start(), headers(1, server.encode(status_fields("200")), true),
                   headers(3, server.encode(status_fields("200")), false), data(3, "so far")}),
              2);
  {
    Script s = base;
    s.finish(3, true);
    Outcome r = run(s);
    ASSERT_EQ(r.exchanges.size(), 3u) << describe(r);
    EXPECT_EQ(r.exchanges[0].error, ErrorKind::kNone);
    EXPECT_EQ(r.exchanges[1].stream, 3u);
    EXPECT_EQ(r.exchanges[1].error, ErrorKind::kCancelled);
    EXPECT_FALSE(r.exchanges[1].has(traffic::kFlagNoResponse));
    EXPECT_EQ(r.exchanges[1].response->body, "so far");
    EXPECT_EQ(r.exchanges[2].stream, 5u);
    EXPECT_EQ(r.exchanges[2].error, ErrorKind::kCancelled);
    EXPECT_TRUE(r.exchanges[2].has(traffic::kFlagNoResponse));
    EXPECT_EQ(r.exchanges[2].request.body, "up");
    EXPECT_EQ(r.state, Analyzer::State::kDone);
  }
  {
    Script s = base;
    s.end(Direction::kToClient, true, 3).end(Direction::kToServer, false, 3).finish(4, false);
    Outcome r = run(s);
    ASSERT_EQ(r.exchanges.size(), 3u) << describe(r);
    EXPECT_EQ(r.exchanges[1].error, ErrorKind::kReset);      // waited on the reset server
    EXPECT_EQ(r.exchanges[2].error, ErrorKind::kTruncated);  // waited on the client's FIN
  }
  {
    Script s = base;
    s.finish(4, false);
    Outcome r = run(s);
    ASSERT_EQ(r.exchanges.size(), 3u) << describe(r);
    EXPECT_EQ(r.exchanges[1].error, ErrorKind::kTruncated);
    EXPECT_EQ(r.exchanges[2].error, ErrorKind::kTruncated);
  }
}

TEST(Http2Analyzer, MidstreamContextIsRefused) {
  Counters counters;
  AnalyzerOptions options;
  int emitted = 0;
  Http2Analyzer a({options, counters, [&](Exchange&&) { ++emitted; }, true});
  EXPECT_EQ(a.state(), Analyzer::State::kDone);
  EXPECT_EQ(counters.anomaly_count("http2.midstream"), 1u);
  a.data(Direction::kToServer, client_start(), 1);
  a.finish(2, true);
  EXPECT_EQ(emitted, 0);
}

// ---------------------------------------------------------------------------------------------
// Hostile input.

TEST(Http2Analyzer, BadPreface) {
  Script s;
  s.client("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1).server(server_start(), 2);
  Outcome r = run(s);
  EXPECT_EQ(anomaly(r, "http2.bad_preface"), 1u);
  EXPECT_EQ(r.state, Analyzer::State::kDone);
  EXPECT_TRUE(r.exchanges.empty());
  // A preface that goes wrong only at its last byte.
  std::string almost(kPreface);
  almost.back() = 'X';
  Script t;
  t.client(almost, 1);
  EXPECT_EQ(anomaly(run(t), "http2.bad_preface"), 1u);
}

struct Hostile {
  const char* name;
  std::string client_tail;  // after the preface and a pending stream 1
  std::string anomaly;
};

TEST(Http2Analyzer, HostileFramesEndTheConnection) {
  const std::vector<Hostile> cases = {
      {"padding longer than the frame",
       frame(kData, kPadded, 1, std::string(1, '\xc8') + "0123456789"), "http2.bad_padding"},
      {"padding as long as the payload", frame(kData, kPadded, 1, std::string(1, '\x05') + "abcd"),
       "http2.bad_padding"},
      {"padded frame without its Pad Length", frame(kData, kPadded, 1, ""), "http2.bad_frame_size"},
      {"HEADERS shorter than its priority fields",
       frame(kHeadersFrame, kPriorityFlag | kEndHeaders, 1, "abc"), "http2.bad_frame_size"},
      {"SETTINGS of 7 bytes", frame(kSettings, 0, 0, "1234567"), "http2.bad_frame_size"},
      {"SETTINGS ACK with a payload", frame(kSettings, kAck, 0, "123456"), "http2.bad_frame_size"},
      {"PING of 4 bytes", frame(kPing, 0, 0, "1234"), "http2.bad_frame_size"},
      {"RST_STREAM of 8 bytes", frame(kRstStream, 0, 1, "12345678"), "http2.bad_frame_size"},
      {"GOAWAY of 4 bytes", frame(kGoaway, 0, 0, "1234"), "http2.bad_frame_size"},
      {"DATA on stream 0", frame(kData, 0, 0, "x"), "http2.bad_stream_id"},
      {"HEADERS on stream 0", frame(kHeadersFrame, kEndHeaders, 0, "\x82"), "http2.bad_stream_id"},
      {"SETTINGS on stream 1", frame(kSettings, 0, 1, ""), "http2.bad_stream_id"},
      {"CONTINUATION without HEADERS", frame(kContinuation, kEndHeaders, 1, "\x82"),
       "http2.bad_continuation"},
      {"header block interrupted", frame(kHeadersFrame, kEndStream, 1, "\x82") + data(1, "x"),
       "http2.bad_continuation"},
      {"CONTINUATION on another stream",
       frame(kHeadersFrame, kEndStream, 1, "\x82") + frame(kContinuation, kEndHeaders, 5, "\x84"),
       "http2.bad_continuation"},
      {"HPACK index out of range", headers(1, "\xff\xff\xff\x7f", true), "http2.hpack_error"},
      {"HPACK block cut inside a literal",
       headers(1,
               "\x40\x0a"
               "abc",
               true),
       "http2.hpack_error"},
      {"HPACK table update above the limit", headers(1, "\x3f\xe1\xff\x03\x82", true),
       "http2.hpack_error"},
  };
  for (const Hostile& c : cases) {
    SCOPED_TRACE(c.name);
    Encoder client;
    Script s;
    s.client(client_start() + headers(1, client.encode(get_fields("/victim")), false), 1)
        .client(c.client_tail, 2)
        .client(headers(7, client.encode(get_fields("/after")), true), 3)
        .finish(4, true);
    Outcome r = run(s);
    EXPECT_EQ(anomaly(r, c.anomaly), 1u) << describe(r);
    EXPECT_EQ(r.anomalies.size(), 1u) << describe(r);
    EXPECT_EQ(r.state, Analyzer::State::kDone);
    ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);  // the pending stream, nothing after
    EXPECT_EQ(r.exchanges[0].request.target, "/victim");
    EXPECT_EQ(r.exchanges[0].error, ErrorKind::kProtocol);
    EXPECT_TRUE(r.exchanges[0].has(traffic::kFlagNoResponse));
  }
}

TEST(Http2Analyzer, HugeLengthsStreamAndUnknownFramesAreIgnored) {
  Encoder client, server;
  Script s;
  s.client(client_start() + frame(0xfa, 0xff, 0, "unknown extension frame") +
               frame(kPriority, 0, 3, "bad"),  // a stream error only: counted, ignored
           1)
      .client(headers(1, client.encode(get_fields("/ok")), true), 2)
      .server(server_start() + frame(0x10, 0, 0, "\0\0\0\x01u=1") +
                  headers(1, server.encode(status_fields("200")), true),
              3)
      // A frame that claims 16 MiB - 1 of an unknown type: consumed as it comes.
      .server(frame(0xee, 0, 0, std::string(1000, 'u'), 0xffffff), 4);
  Outcome r = run(s);
  EXPECT_EQ(anomaly(r, "http2.bad_priority"), 1u);
  EXPECT_EQ(r.anomalies.size(), 1u);
  EXPECT_EQ(r.state, Analyzer::State::kActive);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_EQ(r.exchanges[0].response->status, 200);
  EXPECT_LT(r.max_buffered, 16u << 10);
}

TEST(Http2Analyzer, FramesOnUnknownStreamsAreCounted) {
  Encoder client, server;
  Script s;
  s.client(client_start() + headers(1, client.encode(get_fields("/1")), true), 1)
      .server(server_start() + headers(9, server.encode(status_fields("200")), true) +
                  data(11, "?") + rst_stream(13, 8),
              2)
      .client(headers(4, client.encode(get_fields("/even")), true) + data(1, "after end"), 3)
      .server(headers(1, server.encode(status_fields("500")), true), 4);
  Outcome r = run(s);
  EXPECT_EQ(anomaly(r, "http2.unknown_stream"), 4u) << describe(r);
  EXPECT_EQ(anomaly(r, "http2.unexpected_data"), 1u) << describe(r);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_EQ(r.exchanges[0].response->status, 500);
  EXPECT_EQ(r.exchanges[0].request.body_size, 0u);
}

TEST(Http2Analyzer, ASecondHeaderBlockMustEndTheStream) {
  Encoder client, server;
  Script s;
  s.client(cat({client_start(), headers(1, client.encode(get_fields("/1")), false),
                headers(1, client.encode({{"x-not-trailers", "1"}}), false), data(1, "b", true)}),
           1)
      .server(
          cat({server_start(), headers(1, server.encode(status_fields("200")), false),
               headers(1, server.encode({{"x-not-trailers", "2"}}), false), data(1, "r", true)}),
          2);
  Outcome r = run(s);
  EXPECT_EQ(anomaly(r, "http2.unexpected_data"), 2u);
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  EXPECT_EQ(r.exchanges[0].request.headers, to_headers(get_fields("/1")));
  EXPECT_EQ(r.exchanges[0].response->headers, to_headers(status_fields("200")));
  EXPECT_EQ(r.exchanges[0].request.body, "b");
  EXPECT_EQ(r.exchanges[0].response->body, "r");
}

TEST(Http2Analyzer, ResponseWithoutStatus) {
  Encoder client, server;
  Script s;
  s.client(client_start() + headers(1, client.encode(get_fields("/")), true), 1)
      .server(server_start() + headers(1, server.encode({{"x-no-status", "1"}}), true), 2);
  Outcome r = run(s);
  EXPECT_EQ(anomaly(r, "http2.bad_status"), 1u);
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_EQ(r.exchanges[0].response->status, 0);
}

// ---------------------------------------------------------------------------------------------
// looks_like_http2.

TEST(LooksLikeHttp2, RealFrameSequences) {
  Encoder client, server;
  EXPECT_TRUE(looks_like_http2(server_start()));
  EXPECT_TRUE(looks_like_http2(client_start()));
  EXPECT_TRUE(looks_like_http2(kPreface.substr(0, 10)));
  EXPECT_TRUE(looks_like_http2(headers(7, server.encode(status_fields("200")), false) +
                               data(7, "abc") + data(7, std::string(5000, 'x'))));
  EXPECT_TRUE(looks_like_http2(window_update(0, 100) + ping() + goaway(3, 0)));
  EXPECT_TRUE(looks_like_http2(data(3, std::string(3000, 'y')) + rst_stream(3, 8)));
  // One header alone, or a sample ending inside the first payload, is not enough.
  EXPECT_FALSE(looks_like_http2(settings({{3, 100}})));
  EXPECT_FALSE(looks_like_http2(data(3, std::string(3000, 'y')).substr(0, 1000)));
  EXPECT_FALSE(looks_like_http2(""));
}

TEST(LooksLikeHttp2, OtherProtocolsAndNoise) {
  EXPECT_FALSE(looks_like_http2("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"));
  EXPECT_FALSE(looks_like_http2("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_FALSE(looks_like_http2("POST /api HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_FALSE(looks_like_http2("PRX"));
  // TLS 1.2 ClientHello and a TLS application data record.
  const std::string client_hello(
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x5b\x1c\x7e\x3f\x11\x22\x33\x44\x55\x66\x77"
      "\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc",
      44);
  EXPECT_FALSE(looks_like_http2(client_hello));
  const std::string app_data = std::string("\x17\x03\x03\x00\x40", 5) + std::string(64, '\x9c');
  EXPECT_FALSE(looks_like_http2(app_data));
  std::mt19937 rng(20240601);
  int positives = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string noise(16 + rng() % 200, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    positives += looks_like_http2(noise);
  }
  EXPECT_EQ(positives, 0);
}

// ---------------------------------------------------------------------------------------------
// Real conversations recorded between nghttp/h2load and nghttpd (tests/data/http2/README.md):
// records of u8 direction (0 client → server), u32 little-endian length, bytes.

Script load_recording(const std::string& name) {
  const std::string raw = test::slurp(std::string(TWIN_TEST_DATA) + "/http2/" + name);
  EXPECT_FALSE(raw.empty()) << name;
  Script s;
  size_t i = 0;
  int64_t t = 1000;
  while (i + 5 <= raw.size()) {
    const auto dir = static_cast<uint8_t>(raw[i]);
    uint32_t n = 0;
    std::memcpy(&n, raw.data() + i + 1, 4);
    i += 5;
    std::string bytes = raw.substr(i, n);
    i += n;
    if (dir == 0) {
      s.client(std::move(bytes), t);
    } else {
      s.server(std::move(bytes), t);
    }
    t += 1000;
  }
  return s;
}

std::string header_value(const Headers& h, std::string_view name) {
  const traffic::Header* found = traffic::find_header(h, name);
  return found ? found->value : "<none>";
}

TEST(Http2Recorded, NghttpThreeGets) {
  Outcome r = run(load_recording("nghttp_get3.rec"));
  EXPECT_THAT(r.anomalies, IsEmpty());
  ASSERT_EQ(r.exchanges.size(), 3u) << describe(r);
  const char* paths[] = {"/index.html", "/a.txt", "/nope"};
  for (size_t i = 0; i < 3; ++i) {
    const Exchange& e = r.exchanges[i];
    EXPECT_EQ(e.stream, 13u + 2 * i);
    EXPECT_EQ(e.seq, i);
    EXPECT_EQ(e.request.method, "GET");
    EXPECT_EQ(e.request.target, paths[i]);
    EXPECT_EQ(e.request.authority, "127.0.0.1:18081");
    EXPECT_THAT(e.request.headers,
                ElementsAre(traffic::Header{":method", "GET"}, traffic::Header{":path", paths[i]},
                            traffic::Header{":scheme", "http"},
                            traffic::Header{":authority", "127.0.0.1:18081"},
                            traffic::Header{"accept", "*/*"},
                            traffic::Header{"accept-encoding", "gzip, deflate"},
                            traffic::Header{"user-agent", "nghttp2/1.52.0"}));
    EXPECT_EQ(e.time.request_start, 1000);
    EXPECT_EQ(e.time.response_start, 2000);
    EXPECT_EQ(header_value(e.response->headers, "server"), "nghttpd nghttp2/1.52.0");
  }
  // The response header lists as tshark 4.0 decodes them from the same bytes.
  EXPECT_THAT(r.exchanges[0].response->headers,
              ElementsAre(traffic::Header{":status", "200"},
                          traffic::Header{"server", "nghttpd nghttp2/1.52.0"},
                          traffic::Header{"cache-control", "max-age=3600"},
                          traffic::Header{"date", "Mon, 23 Nov 2026 13:30:07 GMT"},
                          traffic::Header{"content-length", "12"},
                          traffic::Header{"last-modified", "Mon, 23 Nov 2026 13:02:00 GMT"},
                          traffic::Header{"content-type", "text/html"}));
  EXPECT_THAT(r.exchanges[2].response->headers,
              ElementsAre(traffic::Header{":status", "404"},
                          traffic::Header{"server", "nghttpd nghttp2/1.52.0"},
                          traffic::Header{"date", "Mon, 23 Nov 2026 13:30:07 GMT"},
                          traffic::Header{"content-type", "text/html; charset=UTF-8"},
                          traffic::Header{"content-length", "148"}));
  EXPECT_EQ(r.exchanges[0].response->status, 200);
  EXPECT_EQ(r.exchanges[0].response->body, "hello world\n");
  EXPECT_EQ(r.exchanges[1].response->status, 200);
  EXPECT_EQ(r.exchanges[1].response->body_size, 4000u);
  EXPECT_EQ(r.exchanges[1].response->body.substr(0, 30), "abcdefghijklmnopqrstuvwxyzabcd");
  EXPECT_EQ(r.exchanges[2].response->status, 404);
  EXPECT_EQ(r.exchanges[2].response->body_size, 148u);
  EXPECT_EQ(header_value(r.exchanges[2].response->headers, "content-type"),
            "text/html; charset=UTF-8");
}

TEST(Http2Recorded, NghttpPost) {
  Outcome r = run(load_recording("nghttp_post.rec"));
  EXPECT_THAT(r.anomalies, IsEmpty());
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  const Exchange& e = r.exchanges[0];
  EXPECT_EQ(e.request.method, "POST");
  EXPECT_EQ(e.request.body, "hello-post-body\n");
  EXPECT_EQ(e.request.framing, Framing::kHttp2);
  EXPECT_EQ(header_value(e.request.headers, "content-length"), "16");
  EXPECT_EQ(e.response->status, 200);
  EXPECT_EQ(e.response->body, "hello world\n");
}

TEST(Http2Recorded, H2loadTwelveRequestsFourAtATime) {
  Outcome r = run(load_recording("h2load_12.rec"));
  EXPECT_THAT(r.anomalies, IsEmpty());
  ASSERT_EQ(r.exchanges.size(), 12u) << describe(r);
  for (size_t i = 0; i < 12; ++i) {
    const Exchange& e = r.exchanges[i];
    EXPECT_EQ(e.stream, 1u + 2 * i);
    EXPECT_EQ(e.seq, i);
    EXPECT_EQ(e.request.target, "/index.html");
    // In h2load's order; its later requests are five bytes of indexed fields.
    EXPECT_THAT(
        e.request.headers,
        ElementsAre(traffic::Header{":path", "/index.html"}, traffic::Header{":scheme", "http"},
                    traffic::Header{":authority", "127.0.0.1:18081"},
                    traffic::Header{":method", "GET"},
                    traffic::Header{"user-agent", "h2load nghttp2/1.52.0"}));
    EXPECT_EQ(e.response->status, 200);
    EXPECT_EQ(e.response->body, "hello world\n");
    EXPECT_EQ(e.error, ErrorKind::kNone);
  }
}

TEST(Http2Recorded, NghttpdTrailers) {
  Outcome r = run(load_recording("nghttpd_trailer.rec"));
  EXPECT_THAT(r.anomalies, IsEmpty());
  ASSERT_EQ(r.exchanges.size(), 1u) << describe(r);
  const Headers& h = r.exchanges[0].response->headers;
  ASSERT_GE(h.size(), 3u);
  EXPECT_EQ(h[0].name, ":status");
  EXPECT_EQ(h[h.size() - 2], (traffic::Header{"grpc-status", "0"}));
  EXPECT_EQ(h[h.size() - 1], (traffic::Header{"grpc-message", "fine"}));
  EXPECT_EQ(r.exchanges[0].response->body, "hello world\n");
}

// ---------------------------------------------------------------------------------------------
// Seeds for tests/fuzz/fuzz_http2.cc, in its input encoding. Run by hand after changing the
// encoding or the scenarios:
//   capture_http2_test --gtest_also_run_disabled_tests --gtest_filter='*WriteFuzzSeeds'

std::string to_fuzz_input(const Script& script, uint8_t options) {
  std::string out(1, static_cast<char>(options));
  for (const Event& e : script.events) {
    const uint8_t dir = e.dir == Direction::kToClient ? 0x80 : 0;
    switch (e.kind) {
      case Event::kBytes:
        for (size_t off = 0; off < e.bytes.size(); off += 65535) {
          const std::string_view piece = std::string_view(e.bytes).substr(off, 65535);
          if (piece.size() < 63) {
            out += static_cast<char>(dir | piece.size());
          } else {
            out += static_cast<char>(dir | 63);
            out += static_cast<char>(piece.size() & 0xff);
            out += static_cast<char>(piece.size() >> 8);
          }
          out += piece;
        }
        break;
      case Event::kGap:
        out += static_cast<char>(dir | 0x40);
        break;
      case Event::kEnd:
        out += static_cast<char>(dir | 0x40 | (e.flag ? 2 : 1));
        break;
      case Event::kFinish:
        break;
    }
  }
  return out;
}

TEST(Http2Fuzz, DISABLED_WriteFuzzSeeds) {
  const std::string dir = std::string(TWIN_TEST_DATA) + "/../fuzz/corpus/http2/";
  int n = 0;
  auto write = [&](const std::string& name, const Script& s, uint8_t options) {
    test::spit(dir + name, to_fuzz_input(s, options));
    ++n;
  };
  write("rec_nghttp_get3", load_recording("nghttp_get3.rec"), 0);
  write("rec_nghttp_post", load_recording("nghttp_post.rec"), 0);
  write("rec_h2load_12", load_recording("h2load_12.rec"), 0);
  write("rec_nghttpd_trailer", load_recording("nghttpd_trailer.rec"), 8);
  {
    Encoder c, v;
    Script s;
    s.client(client_start() + headers(1, c.encode(get_fields("/")), true), 1)
        .server(cat({server_start(), headers(1, v.encode(status_fields("200")), false),
                     data(1, "hello"), data(1, "", true)}),
                2);
    write("get", s, 0);
    write("get_small_limits", s, 2 | 8);
  }
  {
    Encoder c, v;
    Fields post = get_fields("/p");
    post[0].second = "POST";
    Script s;
    s.client(cat({client_start(), headers(1, c.encode(post), false), data(1, "abc"),
                  frame(kData, kPadded | kEndStream, 1, std::string(1, '\x02') + "de" + "00")}),
             1)
        .server(cat({server_start(),
                     frame(kHeadersFrame, kEndHeaders | kPadded | kPriorityFlag, 1,
                           std::string(1, '\x01') + be32(0) + "\x10" +
                               v.encode(status_fields("201")) + "0"),
                     data(1, std::string(100, 'x'), true)}),
                2);
    write("post_padded", s, 0);
    write("post_padded_small", s, 2);
  }
  {
    Encoder c, v;
    Script s;
    s.client(cat({client_start(), headers(1, c.encode(get_fields("/a")), true),
                  headers(3, c.encode(get_fields("/b")), true),
                  headers(5, c.encode(get_fields("/c")), true)}),
             1)
        .server(cat({server_start(), headers(5, v.encode(status_fields("200")), false),
                     headers(1, v.encode(status_fields("404")), false), data(5, "c1"),
                     headers(3, v.encode(status_fields("200")), false), data(3, "b1"),
                     data(1, "a1", true), data(3, "b2", true), data(5, "c2", true)}),
                2);
    write("interleaved", s, 0);
    write("interleaved_max_pending", s, 2);
  }
  {
    Encoder c, v;
    Fields req = get_fields("/long");
    for (int i = 0; i < 8; ++i) req.emplace_back("x-h" + std::to_string(i), std::string(40, 'v'));
    const std::string b = c.encode(req);
    Script s;
    s.client(cat({client_start(), frame(kHeadersFrame, kEndStream, 1, b.substr(0, 50)),
                  frame(kContinuation, 0, 1, b.substr(50, 50)),
                  frame(kContinuation, kEndHeaders, 1, b.substr(100))}),
             1)
        .server(server_start() + headers(1, v.encode(status_fields("200")), true), 2);
    write("continuation", s, 0);
    write("continuation_too_long", s, 2);
  }
  {
    Encoder c, v;
    Script s;
    s.client(client_start() + headers(1, c.encode(get_fields("/grpc")), false) +
                 data(1, std::string("\0\0\0\0\x02hi", 7), true),
             1)
        .server(
            cat({server_start(), headers(1, v.encode(status_fields("200")), false), data(1, "x"),
                 headers(1, v.encode({{"grpc-status", "0"}, {"grpc-message", "ok"}}), true)}),
            2);
    write("trailers", s, 0);
  }
  {
    Encoder c, v;
    Script s;
    s.client(cat({client_start(), headers(1, c.encode(get_fields("/1")), true),
                  headers(3, c.encode(get_fields("/3")), false), data(3, "up")}),
             1)
        .server(cat({server_start(), rst_stream(3, 7),
                     headers(1, v.encode(status_fields("200")), false), data(1, "p")}),
                2)
        .client(rst_stream(1, 8), 3);
    write("rst_both", s, 0);
  }
  {
    Encoder c, v;
    Script s;
    s.client(cat({client_start(), headers(1, c.encode(get_fields("/1")), true),
                  headers(3, c.encode(get_fields("/3")), true)}),
             1)
        .server(server_start() + goaway(1, 0), 2)
        .client(headers(5, c.encode(get_fields("/5")), true), 3)
        .server(headers(1, v.encode(status_fields("200")), true), 4);
    write("goaway", s, 0);
  }
  {
    Encoder c, v;
    Script s;
    s.client(client_start() + headers(3, c.encode(get_fields("/3")), true), 1)
        .server(cat({server_start(), headers(1, v.encode(status_fields("200")), false),
                     data(1, "one", true), headers(3, v.encode(status_fields("200")), true)}),
                2);
    write("upgrade", s, 1);
    write("upgrade_eoc", s, 1 | 8);
  }
  {
    Encoder c, v(16384);
    Fields big = status_fields("200");
    for (int i = 0; i < 5; ++i)
      big.emplace_back("x-big-" + std::to_string(i), std::string(900, 'z'));
    Script s;
    s.client(client_start() + headers(1, c.encode(get_fields("/1")), true) + settings({{1, 16384}}),
             1);
    v.change_table_size(16384);
    s.server(server_start() + headers(1, v.encode(big), true), 2)
        .client(headers(3, c.encode(get_fields("/3")), true) + settings({{1, 512}}), 3);
    s.server(headers(3, v.encode(big), true), 4);
    v.change_table_size(512);
    s.client(headers(5, c.encode(get_fields("/5")), true), 5)
        .server(headers(5, v.encode(big), true), 6);
    write("table_size", s, 0);
  }
  {
    Encoder c, v;
    Script s;
    s.client(client_start() + headers(1, c.encode(get_fields("/")), true), 1)
        .server(cat({server_start(),
                     frame(kPushPromise, kEndHeaders, 1, be32(2) + v.encode(get_fields("/s"))),
                     headers(1, v.encode(status_fields("200")), true),
                     headers(2, v.encode(status_fields("200")), false), data(2, "pushed", true)}),
                2);
    write("push", s, 0);
  }
  {
    Encoder c, v;
    Script s;
    s.client(client_start() + headers(1, c.encode(get_fields("/1")), true), 1)
        .server(
            server_start() + headers(1, v.encode(status_fields("200")), false) + data(1, "partial"),
            2)
        .gap(Direction::kToClient, 3);
    write("gap", s, 0);
    Script t;
    t.client(client_start() + headers(1, Encoder().encode(get_fields("/1")), false), 1)
        .end(Direction::kToServer, false, 2)
        .end(Direction::kToClient, true, 3);
    write("ends", t, 0);
  }
  const std::vector<std::pair<std::string, std::string>> hostile = {
      {"bad_padding", frame(kData, kPadded, 1, std::string(1, '\xc8') + "0123456789")},
      {"settings_size", frame(kSettings, 0, 0, "1234567")},
      {"data_stream0", frame(kData, 0, 0, "x")},
      {"orphan_continuation", frame(kContinuation, kEndHeaders, 1, "\x82")},
      {"interrupted_block", frame(kHeadersFrame, kEndStream, 1, "\x82") + data(1, "x")},
      {"hpack_index", headers(1, "\xff\xff\xff\x7f", true)},
      {"hpack_cut_literal", headers(1,
                                    "\x40\x0a"
                                    "abc",
                                    true)},
      {"huge_unknown", frame(0xee, 0, 0, std::string(100, 'u'), 0xffffff)},
      {"huge_headers", frame(kHeadersFrame, kEndHeaders, 3, "\x82\x84\x86", 0xffffff)},
  };
  for (const auto& [name, tail] : hostile) {
    Encoder c;
    Script s;
    s.client(client_start() + headers(1, c.encode(get_fields("/v")), false), 1).client(tail, 2);
    write("hostile_" + name, s, 0);
  }
  {
    Script s;
    s.client("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    write("bad_preface", s, 0);
    Script t;  // the preface comes from option bit 2
    t.client(settings({}) + headers(1, Encoder().encode(get_fields("/")), true), 1);
    write("preface_option", t, 4);
  }
  EXPECT_GE(n, 20);
}

}  // namespace
}  // namespace twin::capture
