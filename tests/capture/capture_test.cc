// The whole capture on pcap files whose every byte the test wrote: exchanges and counters in the
// archive, the port filter, limits, and bad files (truncated, garbage, unsupported link type)
// that fail with one line naming the file and the place while keeping what was decoded.

#include "twin/capture/capture.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "files.h"
#include "pcap_file.h"
#include "twin/traffic/archive.h"

namespace twin::capture {
namespace {

using test::Conversation;

constexpr uint32_t kClient = 0xc0a80001;  // 192.168.0.1
constexpr uint32_t kServer = 0xc0a80002;

Conversation conversation(uint16_t client_port, uint16_t server_port, int requests,
                          int64_t start = 1'700'000'000'000'000'000) {
  Conversation c(kClient, client_port, kServer, server_port);
  c.time = start;
  c.handshake();
  for (int i = 0; i < requests; ++i) {
    c.client("GET /item/" + std::to_string(i) + " HTTP/1.1\r\nHost: s\r\n\r\n");
    c.server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  }
  c.client_fin();
  c.server_fin();
  c.ack(true);
  return c;
}

struct CaptureResult {
  bool ok = false;
  std::string error;
  Counters counters;
  std::vector<traffic::Exchange> exchanges;
  nlohmann::json metadata;
};

CaptureResult run_capture(const std::string& pcap, CaptureOptions options, const std::string& dir) {
  CaptureResult r;
  options.file = pcap;
  auto c = Capture::open(options);
  if (!c) {
    r.error = c.error().message;
    return r;
  }
  const std::string out = dir + "/out.twin";
  traffic::WriterOptions wo;
  wo.metadata = {{"capture_source", (*c)->description()}};
  auto w = traffic::Writer::open(out, wo);
  EXPECT_TRUE(w.has_value());
  auto ran = (*c)->run(**w, {});
  EXPECT_TRUE((*w)->close().has_value());
  r.ok = ran.has_value();
  if (!ran) r.error = ran.error().message;
  r.counters = (*c)->counters();
  auto reader = traffic::Reader::open(out);
  EXPECT_TRUE(reader.has_value());
  traffic::Exchange e;
  while (true) {
    auto more = (*reader)->next(e);
    if (!more || !*more) break;
    r.exchanges.push_back(e);
  }
  r.metadata = (*reader)->final_metadata();
  return r;
}

TEST(Capture, FileToArchiveWithCountersInTheMetadata) {
  twin::test::TempDir dir;
  Conversation c = conversation(40000, 80, 3);
  const std::string pcap = dir.path() + "/a.pcap";
  twin::test::spit(pcap, test::pcap_file(test::frames_of(c)));
  CaptureResult r = run_capture(pcap, {}, dir.path());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.exchanges.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.exchanges[i].id, i + 1);
    EXPECT_EQ(r.exchanges[i].request.target, "/item/" + std::to_string(i));
    EXPECT_EQ(r.exchanges[i].client.to_string(), "192.168.0.1:40000");
  }
  EXPECT_EQ(r.counters.packets, c.planned.size());
  EXPECT_EQ(r.counters.exchanges, 3u);
  EXPECT_EQ(r.metadata["capture"]["packets"], c.planned.size());
  EXPECT_EQ(r.metadata["capture"]["exchanges"], 3);
  EXPECT_EQ(r.metadata["capture_source"]["linktype"], "EN10MB");
}

TEST(Capture, PortFilterKeepsOnlyTheServersAsked) {
  twin::test::TempDir dir;
  auto frames = test::frames_of(conversation(40000, 80, 2));
  auto other = test::frames_of(conversation(40001, 81, 2, 1'700'000'000'000'000'000 + 500'000));
  frames.insert(frames.end(), other.begin(), other.end());
  std::stable_sort(frames.begin(), frames.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::string pcap = dir.path() + "/two.pcap";
  twin::test::spit(pcap, test::pcap_file(frames));
  CaptureOptions o;
  o.ports = {81};
  CaptureResult r = run_capture(pcap, o, dir.path());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.exchanges.size(), 2u);
  for (const auto& e : r.exchanges) EXPECT_EQ(e.server.port, 81);
  EXPECT_EQ(r.metadata["capture_source"]["filter"],
            "(tcp port 81) or (vlan and (tcp port 81)) or (vlan and vlan and (tcp port 81))");
}

TEST(Capture, MaxExchangesStopsAndCountsWhatWasLeft) {
  twin::test::TempDir dir;
  const std::string pcap = dir.path() + "/a.pcap";
  twin::test::spit(pcap, test::pcap_file(test::frames_of(conversation(40000, 80, 10))));
  CaptureOptions o;
  o.max_exchanges = 4;
  CaptureResult r = run_capture(pcap, o, dir.path());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.exchanges.size(), 4u);
  EXPECT_EQ(r.counters.exchanges, 4u);
}

TEST(Capture, TruncatedFileFailsNamingThePlaceAndKeepsWhatCameBefore) {
  twin::test::TempDir dir;
  Conversation c = conversation(40000, 80, 4);
  std::vector<size_t> offsets;
  std::string bytes = test::pcap_file(test::frames_of(c), 1, &offsets);
  // Cut inside the record that carries the third response (handshake 3, then req/resp pairs).
  const size_t record = 3 + 2 * 2 + 1;
  bytes.resize(offsets[record] + 30);
  const std::string pcap = dir.path() + "/cut.pcap";
  twin::test::spit(pcap, bytes);
  CaptureResult r = run_capture(pcap, {}, dir.path());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find(pcap), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("after packet " + std::to_string(record)), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("offset " + std::to_string(offsets[record])), std::string::npos)
      << r.error;
  EXPECT_EQ(r.error.find('\n'), std::string::npos);
  // The two complete exchanges, and the third request (its response was cut off).
  ASSERT_EQ(r.exchanges.size(), 3u);
  EXPECT_TRUE(r.exchanges[0].response.has_value());
  EXPECT_TRUE(r.exchanges[1].response.has_value());
  EXPECT_TRUE(r.exchanges[2].has(traffic::kFlagNoResponse));
  EXPECT_EQ(r.metadata["capture"]["packets"], record);
}

TEST(Capture, GarbageIsRejectedWithTheFileName) {
  twin::test::TempDir dir;
  const std::string path = dir.path() + "/junk.pcap";
  twin::test::spit(path, "this is not a capture file at all, just text\n");
  CaptureResult r = run_capture(path, {}, dir.path());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
}

TEST(Capture, UnsupportedLinkTypeIsRejectedByName) {
  twin::test::TempDir dir;
  const std::string path = dir.path() + "/usb.pcap";
  twin::test::spit(path, test::pcap_file(test::frames_of(conversation(40000, 80, 1)), 147));
  CaptureResult r = run_capture(path, {}, dir.path());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("link type 147"), std::string::npos) << r.error;
}

TEST(Capture, BadFilterIsRejected) {
  twin::test::TempDir dir;
  const std::string pcap = dir.path() + "/a.pcap";
  twin::test::spit(pcap, test::pcap_file(test::frames_of(conversation(40000, 80, 1))));
  CaptureOptions o;
  o.filter = "tcp port banana";
  CaptureResult r = run_capture(pcap, o, dir.path());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("banana"), std::string::npos) << r.error;
}

TEST(Capture, DurationOfAFileIsPacketTime) {
  twin::test::TempDir dir;
  const int64_t t0 = 1'700'000'000'000'000'000;
  auto frames = test::frames_of(conversation(40000, 80, 1, t0));
  auto late = test::frames_of(conversation(40001, 80, 1, t0 + 10'000'000'000));
  frames.insert(frames.end(), late.begin(), late.end());
  const std::string pcap = dir.path() + "/a.pcap";
  twin::test::spit(pcap, test::pcap_file(frames));
  CaptureOptions o;
  o.duration = 5;
  CaptureResult r = run_capture(pcap, o, dir.path());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.exchanges.size(), 1u);
  EXPECT_EQ(r.exchanges[0].client.port, 40000);
}

}  // namespace
}  // namespace twin::capture
