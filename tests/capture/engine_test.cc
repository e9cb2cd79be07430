// The flow engine with the real analyzers: TCP conversations in, exchanges out. Flows and their
// direction, midstream pickup, protocol choice (HTTP/1, the h2 preface, h2c upgrade, not HTTP),
// reordering and loss, port reuse, idle timeout, caps with counted evictions, and sampling.

#include "engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "segments.h"

namespace twin::capture {
namespace {

using test::Conversation;
using traffic::Exchange;

constexpr uint32_t kClient = 0x0a000001;  // 10.0.0.1
constexpr uint32_t kServer = 0x0a000002;  // 10.0.0.2

struct Harness {
  EngineOptions options;
  Counters counters;
  std::vector<Exchange> out;
  std::unique_ptr<Engine> engine;

  Engine& get() {
    if (!engine) {
      engine = std::make_unique<Engine>(options, counters,
                                        [this](Exchange&& e) { out.push_back(std::move(e)); });
    }
    return *engine;
  }
  void feed(const std::vector<TcpSegment>& segs) {
    for (const auto& s : segs) get().add(s);
  }
  void feed(const Conversation& c) { feed(c.build()); }
  void finish() { get().finish(get().last_time()); }
};

const std::string kGet1 = "GET /a HTTP/1.1\r\nHost: shop\r\n\r\n";
const std::string kGet2 = "GET /b?x=1 HTTP/1.1\r\nHost: shop\r\n\r\n";
const std::string kOk1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const std::string kOk2 = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnop";

Conversation keep_alive(uint16_t client_port = 40000, uint16_t server_port = 80,
                        int64_t start = 1'700'000'000'000'000'000) {
  Conversation c(kClient, client_port, kServer, server_port);
  c.time = start;
  c.handshake();
  c.client(kGet1);
  c.server(kOk1);
  c.client(kGet2);
  c.server(kOk2);
  c.client_fin();
  c.server_fin();
  c.ack(true);
  return c;
}

TEST(Engine, KeepAliveConnectionGivesOrderedExchangesWithEndpointsAndTimes) {
  Harness run;
  Conversation c = keep_alive();
  run.feed(c);
  ASSERT_EQ(run.out.size(), 2u);
  const Exchange& a = run.out[0];
  const Exchange& b = run.out[1];
  EXPECT_EQ(a.request.target, "/a");
  EXPECT_EQ(b.request.target, "/b?x=1");
  ASSERT_TRUE(a.response && b.response);
  EXPECT_EQ(a.response->status, 200);
  EXPECT_EQ(a.response->body, "hello");
  EXPECT_EQ(b.response->status, 404);
  EXPECT_EQ(a.session, 1u);
  EXPECT_EQ(b.session, 1u);
  EXPECT_EQ(a.seq, 0u);
  EXPECT_EQ(b.seq, 1u);
  EXPECT_EQ(a.client.to_string(), "10.0.0.1:40000");
  EXPECT_EQ(a.server.to_string(), "10.0.0.2:80");
  EXPECT_EQ(a.flags & traffic::kFlagMidstream, 0u);
  // Segment 3 (after the handshake) carries the request, segment 4 the response.
  EXPECT_EQ(a.time.request_start, c.planned[3].time);
  EXPECT_EQ(a.time.request_end, c.planned[3].time);
  EXPECT_EQ(a.time.response_start, c.planned[4].time);
  EXPECT_EQ(a.time.response_end, c.planned[4].time);
  EXPECT_EQ(run.counters.flows, 1u);
  EXPECT_EQ(run.counters.flows_midstream, 0u);
  // Both FINs seen: the flow is closed before the end of the capture.
  EXPECT_EQ(run.get().flow_count(), 1u);  // lingering closed
  EXPECT_EQ(run.get().buffered(), 0u);
}

TEST(Engine, ReorderedAndDuplicatedSegmentsGiveTheSameExchanges) {
  Conversation c(kClient, 40000, kServer, 80);
  c.handshake();
  c.client(kGet1);
  const std::string big =
      "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + std::string(3000, 'z');
  c.server(big, 1000);
  c.client_fin();
  c.server_fin();
  auto segs = c.build();
  // Segments 4..7 carry the response; deliver them 6,4,7,5 with 4 twice.
  std::vector<TcpSegment> shuffled(segs.begin(), segs.begin() + 4);
  for (int i : {6, 4, 7, 4, 5}) shuffled.push_back(segs[i]);
  shuffled.insert(shuffled.end(), segs.begin() + 8, segs.end());
  Harness run;
  run.feed(shuffled);
  ASSERT_EQ(run.out.size(), 1u);
  ASSERT_TRUE(run.out[0].response);
  EXPECT_EQ(run.out[0].response->body, std::string(3000, 'z'));
  EXPECT_EQ(run.out[0].flags & traffic::kFlagGap, 0u);
  EXPECT_EQ(run.counters.segments_out_of_order, 2u);
  EXPECT_EQ(run.counters.segments_retransmitted, 1u);
  EXPECT_EQ(run.counters.gaps, 0u);
}

TEST(Engine, ALostSegmentAcknowledgedByThePeerIsAGapOnTheExchange) {
  Conversation c(kClient, 40000, kServer, 80);
  c.handshake();
  c.client(kGet1);
  c.server("HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123456789");
  c.lose(false, 10);  // "abcdefghij" never captured
  c.server("ABCDEFGHIJ");
  c.ack(true);  // the client acknowledges all 30 bytes
  c.client(kGet2);
  c.server(kOk2);
  Harness run;
  run.feed(c);
  run.finish();
  ASSERT_EQ(run.out.size(), 2u);
  EXPECT_TRUE(run.out[0].has(traffic::kFlagGap));
  ASSERT_TRUE(run.out[0].response);
  EXPECT_EQ(run.out[0].response->body_size, 30u);
  EXPECT_EQ(run.out[1].request.target, "/b?x=1");
  ASSERT_TRUE(run.out[1].response);
  EXPECT_EQ(run.out[1].response->status, 404);
  EXPECT_FALSE(run.out[1].has(traffic::kFlagGap));
  EXPECT_EQ(run.counters.gaps, 1u);
  EXPECT_EQ(run.counters.gap_bytes, 10u);
}

TEST(Engine, AResponseCapturedBeforeItsRequestIsPutBackInOrder) {
  // Two CPUs hand packets to the capture: the response is seen (and stamped) 5 us before the
  // request it answers. Its ACK number says it came after: the engine waits for the request.
  Conversation c = keep_alive();
  auto segs = c.build();
  std::swap(segs[3], segs[4]);  // segment 4 (response) before segment 3 (request)
  segs[3].time = segs[4].time - 5000;
  Harness run;
  run.feed(segs);
  ASSERT_EQ(run.out.size(), 2u);
  EXPECT_EQ(run.out[0].request.target, "/a");
  ASSERT_TRUE(run.out[0].response);
  EXPECT_EQ(run.out[0].response->status, 200);
  EXPECT_GE(run.out[0].time.response_start, run.out[0].time.request_start);
  EXPECT_EQ(run.counters.anomaly_count("http1.unpaired_response"), 0u);
}

TEST(Engine, MidstreamConnectionIsFlaggedAndItsClientFoundByTheBytes) {
  // The client port (80) is lower than the server's (8080): only the bytes say who is who.
  Conversation c(kClient, 80, kServer, 8080);
  c.client(kGet1);
  c.server(kOk1);
  Harness run;
  run.feed(c);
  run.finish();
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_TRUE(run.out[0].has(traffic::kFlagMidstream));
  EXPECT_EQ(run.out[0].client.to_string(), "10.0.0.1:80");
  EXPECT_EQ(run.out[0].server.to_string(), "10.0.0.2:8080");
  EXPECT_EQ(run.counters.flows_midstream, 1u);
}

TEST(Engine, MidstreamResponseFirstStillFindsTheServer) {
  Conversation c(kClient, 40000, kServer, 80);
  c.server(kOk1);  // answers a request that was never captured
  c.client(kGet2);
  c.server(kOk2);
  Harness run;
  run.feed(c);
  run.finish();
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(run.out[0].request.target, "/b?x=1");
  ASSERT_TRUE(run.out[0].response);
  EXPECT_EQ(run.out[0].response->status, 404);
  EXPECT_EQ(run.out[0].server.to_string(), "10.0.0.2:80");
}

// HTTP/2 by hand with HPACK static-table entries only: GET / (0x82 0x84 0x86, :authority "a"),
// then :status 200 (0x88) and a DATA frame "ok".
std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const auto n = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  f.push_back(static_cast<char>(stream >> 24));
  f.push_back(static_cast<char>(stream >> 16));
  f.push_back(static_cast<char>(stream >> 8));
  f.push_back(static_cast<char>(stream));
  f.append(payload);
  return f;
}
const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const std::string kH2Request = frame(1, 0x05, 1,
                                     std::string("\x82\x84\x86\x41\x01"
                                                 "a",
                                                 6));
const std::string kH2Response = frame(1, 0x04, 1, "\x88") + frame(0, 0x01, 1, "ok");

TEST(Engine, ThePrefaceSelectsHttp2) {
  Conversation c(kClient, 40000, kServer, 8080);
  c.handshake();
  c.client(kPreface + frame(4, 0, 0, "") + kH2Request);
  c.server(frame(4, 0, 0, "") + frame(4, 1, 0, "") + kH2Response);
  c.client_fin();
  c.server_fin();
  Harness run;
  run.feed(c);
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(run.out[0].protocol, traffic::Protocol::kHttp2);
  EXPECT_EQ(run.out[0].stream, 1u);
  EXPECT_EQ(run.out[0].request.method, "GET");
  EXPECT_EQ(run.out[0].request.target, "/");
  ASSERT_TRUE(run.out[0].response);
  EXPECT_EQ(run.out[0].response->status, 200);
  EXPECT_EQ(run.out[0].response->body, "ok");
}

TEST(Engine, ThePrefaceSplitAcrossSegmentsStillSelectsHttp2) {
  Conversation c(kClient, 40000, kServer, 8080);
  c.handshake();
  c.client(kPreface + frame(4, 0, 0, "") + kH2Request, 5);
  c.server(frame(4, 0, 0, "") + kH2Response);
  Harness run;
  run.feed(c);
  run.finish();
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(run.out[0].protocol, traffic::Protocol::kHttp2);
}

TEST(Engine, Http2PickedUpMidstreamIsSkippedAndCounted) {
  Conversation c(kClient, 40000, kServer, 8080);
  c.client(frame(1, 0x05, 3, "\xbe") + frame(8, 0, 0, std::string("\0\0\0\1", 4)));
  c.server(frame(1, 0x04, 3, "\xbe") + frame(0, 0x01, 3, "GET / HTTP/1.1\r\n\r\n"));
  Harness run;
  run.feed(c);
  run.finish();
  EXPECT_TRUE(run.out.empty());
  EXPECT_EQ(run.counters.anomaly_count("http2.midstream"), 1u);
}

TEST(Engine, TlsIsNotHttpAndIsCounted) {
  Conversation c(kClient, 40000, kServer, 443);
  c.handshake();
  c.client(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(300, 'r'));
  c.server(std::string("\x16\x03\x03\x00\x7a\x02", 6) + std::string(100, 's'));
  Harness run;
  run.feed(c);
  run.finish();
  EXPECT_TRUE(run.out.empty());
  EXPECT_EQ(run.counters.flows_not_http, 1u);
  EXPECT_EQ(run.get().buffered(), 0u);
}

TEST(Engine, AServerThatSpeaksFirstIsNotHttp) {
  Conversation c(kClient, 40000, kServer, 25);
  c.handshake();
  c.server("220 mail.example ESMTP\r\n");
  c.client("EHLO x\r\n");
  Harness run;
  run.feed(c);
  run.finish();
  EXPECT_TRUE(run.out.empty());
  EXPECT_EQ(run.counters.flows_not_http, 1u);
}

TEST(Engine, PortsReusedByANewConnectionMakeANewSession) {
  Conversation first = keep_alive(40000);
  Conversation second(kClient, 40000, kServer, 80, 777777, 888888);
  second.time = first.time + 1'000'000'000;
  second.handshake();
  second.client(kGet1);
  second.server(kOk1);
  Harness run;
  run.feed(first);
  run.feed(second);
  run.finish();
  ASSERT_EQ(run.out.size(), 3u);
  EXPECT_EQ(run.out[2].session, 2u);
  EXPECT_EQ(run.out[2].seq, 0u);
  EXPECT_EQ(run.counters.flows, 2u);
}

TEST(Engine, IdleConnectionsAreFinishedAndCounted) {
  Harness run;
  run.options.idle_timeout = 60'000'000'000;
  Conversation idle(kClient, 40000, kServer, 80);
  idle.handshake();
  idle.client(kGet1);  // never answered
  Conversation later = keep_alive(40001, 80, idle.time + 61'000'000'000);
  run.feed(idle);
  EXPECT_TRUE(run.out.empty());
  run.feed(later);
  ASSERT_GE(run.out.size(), 1u);
  EXPECT_EQ(run.out[0].request.target, "/a");
  EXPECT_EQ(run.out[0].session, 1u);
  EXPECT_TRUE(run.out[0].has(traffic::kFlagNoResponse));
  EXPECT_EQ(run.counters.flows_idle_closed, 1u);
}

TEST(Engine, TooManyFlowsEvictsTheLeastRecentlyActiveAndCountsIt) {
  Harness run;
  run.options.max_flows = 2;
  std::vector<Conversation> convs;
  for (uint16_t port : {40001, 40002, 40003}) {
    Conversation c(kClient, port, kServer, 80);
    c.handshake();
    c.client(kGet1);
    convs.push_back(c);
  }
  for (auto& c : convs) run.feed(c);
  EXPECT_EQ(run.counters.flows_evicted, 1u);
  ASSERT_EQ(run.out.size(), 1u);  // the evicted flow's request, written without a response
  EXPECT_EQ(run.out[0].client.port, 40001);
  EXPECT_TRUE(run.out[0].has(traffic::kFlagNoResponse));
  EXPECT_LE(run.get().flow_count(), 2u);
}

TEST(Engine, MemoryCapEvictsAndBufferedStaysBounded) {
  Harness run;
  run.options.max_memory = 64 * 1024;
  Conversation c(kClient, 40000, kServer, 80);
  c.handshake();
  c.client(kGet1);
  c.server("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
  c.lose(false, 1000);  // a hole that is never acknowledged: everything after it queues
  c.server(std::string(200000, 'q'));
  run.feed(c);
  EXPECT_EQ(run.counters.flows_evicted, 1u);
  EXPECT_LE(run.get().buffered(), 64u * 1024);
}

TEST(Engine, ResetMidResponseEndsTheExchangeAsReset) {
  Conversation c(kClient, 40000, kServer, 80);
  c.handshake();
  c.client(kGet1);
  c.server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
  c.client_rst();
  Harness run;
  run.feed(c);
  ASSERT_EQ(run.out.size(), 1u);
  EXPECT_EQ(run.out[0].error, traffic::ErrorKind::kReset);
}

TEST(Engine, EndOfCaptureWritesPendingRequests) {
  Conversation c(kClient, 40000, kServer, 80);
  c.handshake();
  c.client(kGet1);
  c.client(kGet2);
  Harness run;
  run.feed(c);
  EXPECT_TRUE(run.out.empty());
  run.finish();
  ASSERT_EQ(run.out.size(), 2u);
  for (const auto& e : run.out) EXPECT_TRUE(e.has(traffic::kFlagNoResponse));
}

TEST(Engine, H2cUpgradeBecomesOneHttp2ExchangeOnStreamOne) {
  Conversation c(kClient, 40000, kServer, 8080);
  c.handshake();
  c.client(
      "GET /up HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
  c.server("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" +
           frame(4, 0, 0, "") + kH2Response);
  c.client(kPreface + frame(4, 0, 0, "") + frame(4, 1, 0, ""));
  c.client(frame(1, 0x05, 3,
                 std::string("\x82\x84\x86\x41\x01"
                             "a",
                             6)));
  c.server(frame(1, 0x04, 3, "\x88") + frame(0, 0x01, 3, "second"));
  c.client_fin();
  c.server_fin();
  Harness run;
  run.feed(c);
  run.finish();
  ASSERT_EQ(run.out.size(), 2u);
  const Exchange* up = nullptr;
  const Exchange* next = nullptr;
  for (const auto& e : run.out) (e.stream == 1 ? up : next) = &e;
  ASSERT_TRUE(up && next);
  EXPECT_EQ(up->protocol, traffic::Protocol::kHttp2);
  EXPECT_EQ(up->request.method, "GET");
  EXPECT_EQ(up->request.target, "/up");
  EXPECT_TRUE(up->has(traffic::kFlagUpgrade));
  ASSERT_TRUE(up->response);
  EXPECT_EQ(up->response->status, 200);
  EXPECT_EQ(up->response->body, "ok");
  EXPECT_EQ(next->stream, 3u);
  ASSERT_TRUE(next->response);
  EXPECT_EQ(next->response->body, "second");
}

// Sampling keeps whole connections by a keyed hash: the same key keeps the same ones, the rate
// holds over many connections, and the packet direction does not matter.
std::set<uint16_t> sampled_ports(double rate, const std::string& key, bool server_first) {
  Harness run;
  run.options.sample_rate = rate;
  run.options.sample_key = key;
  for (uint32_t i = 0; i < 4000; ++i) {
    const auto port = static_cast<uint16_t>(20000 + i);
    Conversation c(kClient + (i % 7), port, kServer, 80);
    if (server_first) {
      c.server(kOk1);
      c.client(kGet1);
      c.server(kOk1);
    } else {
      c.handshake();
      c.client(kGet1);
      c.server(kOk1);
    }
    run.feed(c);
  }
  run.finish();
  std::set<uint16_t> kept;
  for (const auto& e : run.out) kept.insert(e.client.port);
  EXPECT_EQ(run.counters.flows_unsampled + kept.size(), 4000u);
  return kept;
}

TEST(Engine, SamplingIsStableByKeyAndHoldsItsRate) {
  const auto a = sampled_ports(0.25, "k1", false);
  const auto again = sampled_ports(0.25, "k1", true);
  const auto other = sampled_ports(0.25, "k2", false);
  EXPECT_EQ(a, again);
  EXPECT_NE(a, other);
  // 4000 connections at 25 %: mean 1000, sd 27.4; 5 sd either way.
  EXPECT_NEAR(static_cast<double>(a.size()), 1000.0, 137.0);
  EXPECT_NEAR(static_cast<double>(other.size()), 1000.0, 137.0);
  // A higher rate with the same key keeps a superset: the choice is a threshold on one hash.
  const auto half = sampled_ports(0.5, "k1", false);
  EXPECT_TRUE(std::includes(half.begin(), half.end(), a.begin(), a.end()));
}

}  // namespace
}  // namespace twin::capture
