// The packet decoder on hand-built frames: every link type, IPv4 options and padding, snapped
// packets, IPv4 and IPv6 fragments in every order, IPv6 extension headers, non-TCP traffic, and
// every layer's headers cut at every byte (each frame is copied to a buffer of exactly its
// captured length, so ASan sees any read past it).

#include "packet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace twin::capture {
namespace {

namespace pa = packet_anomaly;
using Bytes = std::vector<uint8_t>;
using ::testing::ElementsAre;

// ---- builders ------------------------------------------------------------------------------

void put16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

struct Tcp {
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint32_t seq = 0x01020304;
  uint32_t ack = 0xA0B0C0D0;
  uint8_t flags = kAck | kPsh;
  uint16_t window = 0x7654;
  Bytes options;                  // padded with NOPs to a multiple of 4
  std::optional<uint8_t> offset;  // data offset in words, if not the right one
  std::string payload = "GET / HTTP/1.1\r\n\r\n";
};

Bytes tcp(const Tcp& t) {
  Bytes options = t.options;
  while (options.size() % 4 != 0) options.push_back(1);
  Bytes b;
  put16(b, t.sport);
  put16(b, t.dport);
  put32(b, t.seq);
  put32(b, t.ack);
  b.push_back(static_cast<uint8_t>(t.offset.value_or((20 + options.size()) / 4) << 4));
  b.push_back(t.flags);
  put16(b, t.window);
  put16(b, 0xDEAD);  // checksum: not verified
  put16(b, 0);       // urgent pointer
  b.insert(b.end(), options.begin(), options.end());
  b.insert(b.end(), t.payload.begin(), t.payload.end());
  return b;
}

constexpr std::array<uint8_t, 4> kSrc4{192, 0, 2, 1};
constexpr std::array<uint8_t, 4> kDst4{198, 51, 100, 7};
constexpr std::array<uint8_t, 16> kSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr std::array<uint8_t, 16> kDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
constexpr std::array<uint8_t, 16> kFinal6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                          0,    0,    0,    0,    0, 0, 0, 9};

struct Ip4 {
  std::array<uint8_t, 4> src = kSrc4;
  std::array<uint8_t, 4> dst = kDst4;
  uint8_t proto = 6;
  uint16_t id = 0x1234;
  bool df = false;
  bool mf = false;
  uint16_t offset = 0;  // bytes, a multiple of 8
  Bytes options;        // padded to a multiple of 4
  std::optional<uint16_t> total;
  std::optional<uint8_t> ihl;
  uint8_t version = 4;
};

Bytes ipv4(const Ip4& h, const Bytes& payload) {
  Bytes options = h.options;
  while (options.size() % 4 != 0) options.push_back(0);
  const size_t header = 20 + options.size();
  Bytes b;
  b.push_back(static_cast<uint8_t>(h.version << 4 | h.ihl.value_or(header / 4)));
  b.push_back(0);
  put16(b, h.total.value_or(static_cast<uint16_t>(header + payload.size())));
  put16(b, h.id);
  put16(b, static_cast<uint16_t>((h.df ? 0x4000 : 0) | (h.mf ? 0x2000 : 0) | h.offset / 8));
  b.push_back(64);
  b.push_back(h.proto);
  put16(b, 0xBEEF);  // checksum: not verified
  b.insert(b.end(), h.src.begin(), h.src.end());
  b.insert(b.end(), h.dst.begin(), h.dst.end());
  b.insert(b.end(), options.begin(), options.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes ipv6(uint8_t nh, const Bytes& payload, std::optional<uint16_t> length = {},
           const std::array<uint8_t, 16>& src = kSrc6, const std::array<uint8_t, 16>& dst = kDst6) {
  Bytes b{0x60, 0x01, 0x23, 0x45};
  put16(b, length.value_or(static_cast<uint16_t>(payload.size())));
  b.push_back(nh);
  b.push_back(64);
  b.insert(b.end(), src.begin(), src.end());
  b.insert(b.end(), dst.begin(), dst.end());
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

// Hop-by-Hop or Destination Options: PadN-filled to a multiple of 8 bytes.
Bytes options6(uint8_t next, size_t length = 8) {
  Bytes b{next, static_cast<uint8_t>(length / 8 - 1), 1, static_cast<uint8_t>(length - 4)};
  b.resize(length, 0);
  return b;
}

Bytes routing6(uint8_t next, uint8_t type, uint8_t segments_left,
               const std::vector<std::array<uint8_t, 16>>& addresses) {
  Bytes b{next, static_cast<uint8_t>(2 * addresses.size()), type, segments_left, 0, 0, 0, 0};
  for (const auto& a : addresses) b.insert(b.end(), a.begin(), a.end());
  return b;
}

Bytes ah6(uint8_t next) {  // 12 fixed bytes and a 12-byte ICV: 24 bytes, length field 4
  Bytes b{next, 4, 0, 0};
  put32(b, 0x1000);  // SPI
  put32(b, 1);       // sequence
  b.resize(24, 0xAA);
  return b;
}

Bytes fragment6(uint8_t next, uint16_t offset, bool more, uint32_t id) {
  Bytes b{next, 0};
  put16(b, static_cast<uint16_t>(offset | (more ? 1 : 0)));
  put32(b, id);
  return b;
}

Bytes ethernet(uint16_t type, const Bytes& payload, const std::vector<uint16_t>& tags = {}) {
  Bytes b{0x02, 0, 0, 0, 0, 0xBB, 0x02, 0, 0, 0, 0, 0xAA};
  uint16_t vid = 100;
  for (uint16_t tpid : tags) {
    put16(b, tpid);
    put16(b, vid++);
  }
  put16(b, type);
  return cat(b, payload);
}

Bytes sll(uint16_t protocol, const Bytes& payload) {
  Bytes b;
  put16(b, 0);  // packet type: to us
  put16(b, 1);  // ARPHRD_ETHER
  put16(b, 6);
  b.insert(b.end(), {0x02, 0, 0, 0, 0, 0xAA, 0, 0});
  put16(b, protocol);
  return cat(b, payload);
}

Bytes sll2(uint16_t protocol, const Bytes& payload) {
  Bytes b;
  put16(b, protocol);
  put16(b, 0);
  put32(b, 3);     // ifindex
  put16(b, 1);     // ARPHRD_ETHER
  b.push_back(4);  // outgoing
  b.push_back(6);
  b.insert(b.end(), {0x02, 0, 0, 0, 0, 0xAA, 0, 0});
  return cat(b, payload);
}

Bytes family_header(uint32_t family, bool big_endian, const Bytes& payload) {
  Bytes b;
  if (big_endian) {
    put32(b, family);
  } else {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(family >> (8 * i)));
  }
  return cat(b, payload);
}

Bytes segment4(const Tcp& t = {}, const Ip4& h = {}) { return ipv4(h, tcp(t)); }
Bytes segment6(const Tcp& t = {}) { return ipv6(6, tcp(t)); }

// IPv4 fragments of a TCP segment cut at `cuts` (offsets into the IP payload, multiples of 8).
std::vector<Bytes> fragments4(const Bytes& l4, const std::vector<size_t>& cuts, uint16_t id = 7) {
  std::vector<Bytes> out;
  size_t begin = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : l4.size();
    Ip4 h;
    h.id = id;
    h.offset = static_cast<uint16_t>(begin);
    h.mf = i < cuts.size();
    out.push_back(ipv4(h, Bytes(l4.begin() + begin, l4.begin() + end)));
    begin = end;
  }
  return out;
}

// IPv6 fragments: `unfragmentable` extension headers (ending with next header 44), then a
// fragment header and a piece of `fragmentable` (whose first header is `first`).
std::vector<Bytes> fragments6(const Bytes& fragmentable, uint8_t first,
                              const std::vector<size_t>& cuts, uint32_t id = 0x01020304) {
  std::vector<Bytes> out;
  size_t begin = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : fragmentable.size();
    Bytes piece = fragment6(first, static_cast<uint16_t>(begin), i < cuts.size(), id);
    piece.insert(piece.end(), fragmentable.begin() + begin, fragmentable.begin() + end);
    out.push_back(ipv6(44, piece));
    begin = end;
  }
  return out;
}

uint64_t anomaly_total(const Counters& c) {
  uint64_t n = 0;
  for (const auto& [name, count] : c.anomalies) n += count;
  return n;
}

std::string str(std::string_view v) { return std::string(v); }

// ---- fixture -------------------------------------------------------------------------------

class PacketTest : public ::testing::Test {
 protected:
  // Decodes a copy of `frame` held in a buffer of exactly `caplen` bytes (all of it when 0),
  // checking the accounting every result promises.
  DecodeResult decode(PacketDecoder& decoder, const Bytes& frame, std::optional<size_t> caplen = {},
                      std::optional<uint32_t> wirelen = {}, int64_t time = 1'000) {
    const size_t cap = caplen.value_or(frame.size());
    buffer_ = std::make_unique<uint8_t[]>(cap);
    std::memcpy(buffer_.get(), frame.data(), cap);
    const uint64_t anomalies = anomaly_total(counters_);
    const uint64_t not_ip = counters_.packets_not_ip;
    const uint64_t not_tcp = counters_.packets_not_tcp;
    seg_ = TcpSegment{};
    const DecodeResult r =
        decoder.decode(buffer_.get(), static_cast<uint32_t>(cap),
                       wirelen.value_or(static_cast<uint32_t>(frame.size())), time, seg_);
    switch (r) {
      case DecodeResult::kSegment:
        EXPECT_LE(seg_.payload.size(), seg_.payload_length);
        EXPECT_EQ(seg_.time, time);
        break;
      case DecodeResult::kMalformed:
        EXPECT_GT(anomaly_total(counters_), anomalies) << "kMalformed without an anomaly";
        break;
      case DecodeResult::kNotIp:
        EXPECT_EQ(counters_.packets_not_ip, not_ip + 1);
        break;
      case DecodeResult::kNotTcp:
        EXPECT_EQ(counters_.packets_not_tcp, not_tcp + 1);
        break;
      case DecodeResult::kFragmentHeld:
        break;
    }
    return r;
  }

  void expect_default_segment4() {
    EXPECT_EQ(seg_.family, 4);
    EXPECT_THAT(seg_.src, ElementsAre(192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    EXPECT_THAT(seg_.dst, ElementsAre(198, 51, 100, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    EXPECT_EQ(seg_.src_port, 40000);
    EXPECT_EQ(seg_.dst_port, 80);
    EXPECT_EQ(seg_.seq, 0x01020304u);
    EXPECT_EQ(seg_.ack, 0xA0B0C0D0u);
    EXPECT_EQ(seg_.flags, kAck | kPsh);
    EXPECT_EQ(seg_.window, 0x7654);
    EXPECT_EQ(str(seg_.payload), "GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(seg_.payload_length, 18u);
  }
  void expect_default_segment6() {
    EXPECT_EQ(seg_.family, 6);
    EXPECT_EQ(seg_.src, kSrc6);
    EXPECT_EQ(seg_.dst, kDst6);
    EXPECT_EQ(seg_.src_port, 40000);
    EXPECT_EQ(seg_.dst_port, 80);
    EXPECT_EQ(seg_.seq, 0x01020304u);
    EXPECT_EQ(str(seg_.payload), "GET / HTTP/1.1\r\n\r\n");
    EXPECT_EQ(seg_.payload_length, 18u);
  }

  Counters counters_;
  TcpSegment seg_;
  std::unique_ptr<uint8_t[]> buffer_;
};

// ---- link layers ---------------------------------------------------------------------------

TEST_F(PacketTest, EthernetIpv4) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  ASSERT_EQ(decode(d, ethernet(0x0800, segment4()), {}, {}, 1'700'000'000'123'456'789),
            DecodeResult::kSegment);
  expect_default_segment4();
  EXPECT_EQ(seg_.time, 1'700'000'000'123'456'789);
  // The payload is a view into the frame itself.
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(seg_.payload.data()), buffer_.get() + 14 + 20 + 20);
  EXPECT_TRUE(counters_.anomalies.empty());
  EXPECT_EQ(counters_.packets_snapped, 0u);
}

TEST_F(PacketTest, EthernetIpv6) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  ASSERT_EQ(decode(d, ethernet(0x86DD, segment6())), DecodeResult::kSegment);
  expect_default_segment6();
}

TEST_F(PacketTest, EthernetVlanTags) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  const std::vector<std::vector<uint16_t>> stacks = {
      {0x8100}, {0x88A8, 0x8100}, {0x8100, 0x8100}, {0x9100, 0x8100}, {0x88A8, 0x88A8, 0x8100}};
  for (const auto& tags : stacks) {
    SCOPED_TRACE(tags.size());
    ASSERT_EQ(decode(d, ethernet(0x0800, segment4(), tags)), DecodeResult::kSegment);
    expect_default_segment4();
    ASSERT_EQ(decode(d, ethernet(0x86DD, segment6(), tags)), DecodeResult::kSegment);
    expect_default_segment6();
  }
  // kMaxVlanTags tags are fine, one more is not.
  ASSERT_EQ(decode(d, ethernet(0x0800, segment4(), std::vector<uint16_t>(kMaxVlanTags, 0x8100))),
            DecodeResult::kSegment);
  EXPECT_EQ(
      decode(d, ethernet(0x0800, segment4(), std::vector<uint16_t>(kMaxVlanTags + 1, 0x8100))),
      DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kLinkTooManyVlanTags), 1u);
  // A VLAN frame carrying ARP is not IP.
  EXPECT_EQ(decode(d, ethernet(0x0806, Bytes(28, 0), {0x8100})), DecodeResult::kNotIp);
}

TEST_F(PacketTest, EthernetPaddingIsNotPayload) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  Tcp t;
  t.payload = "x";
  Bytes frame = ethernet(0x0800, segment4(t));
  ASSERT_EQ(frame.size(), 55u);
  frame.resize(60, 0xEE);  // minimum frame size
  ASSERT_EQ(decode(d, frame), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), "x");
  EXPECT_EQ(seg_.payload_length, 1u);
  // A bare ACK, padded too: no payload at all.
  t.payload.clear();
  frame = ethernet(0x0800, segment4(t));
  frame.resize(60, 0xEE);
  ASSERT_EQ(decode(d, frame), DecodeResult::kSegment);
  EXPECT_EQ(seg_.payload.size(), 0u);
  EXPECT_EQ(seg_.payload_length, 0u);
  // IPv6 trusts its payload length the same way.
  frame = ethernet(0x86DD, ipv6(6, tcp(t)));
  frame.resize(frame.size() + 6, 0xEE);
  ASSERT_EQ(decode(d, frame), DecodeResult::kSegment);
  EXPECT_EQ(seg_.payload.size(), 0u);
  EXPECT_TRUE(counters_.anomalies.empty());
}

TEST_F(PacketTest, NotIpFrames) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  EXPECT_EQ(decode(d, ethernet(0x0806, Bytes(28, 0))), DecodeResult::kNotIp);  // ARP
  EXPECT_EQ(decode(d, ethernet(0x88CC, Bytes(30, 0))), DecodeResult::kNotIp);  // LLDP
  EXPECT_EQ(decode(d, ethernet(46, Bytes(46, 0))), DecodeResult::kNotIp);      // 802.3 length
  EXPECT_EQ(counters_.packets_not_ip, 3u);
  EXPECT_TRUE(counters_.anomalies.empty());
}

TEST_F(PacketTest, LinuxCookedV1) {
  PacketDecoder d(kLinktypeLinuxSll, counters_);
  ASSERT_EQ(decode(d, sll(0x0800, segment4())), DecodeResult::kSegment);
  expect_default_segment4();
  ASSERT_EQ(decode(d, sll(0x86DD, segment6())), DecodeResult::kSegment);
  expect_default_segment6();
  // A tag in the payload: TCI, then the EtherType.
  Bytes tagged{0x00, 0x64, 0x08, 0x00};
  ASSERT_EQ(decode(d, sll(0x8100, cat(tagged, segment4()))), DecodeResult::kSegment);
  expect_default_segment4();
  EXPECT_EQ(decode(d, sll(0x0806, Bytes(28, 0))), DecodeResult::kNotIp);
}

TEST_F(PacketTest, LinuxCookedV2) {
  PacketDecoder d(kLinktypeLinuxSll2, counters_);
  ASSERT_EQ(decode(d, sll2(0x0800, segment4())), DecodeResult::kSegment);
  expect_default_segment4();
  ASSERT_EQ(decode(d, sll2(0x86DD, segment6())), DecodeResult::kSegment);
  expect_default_segment6();
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(seg_.payload.data()), buffer_.get() + 20 + 40 + 20);
  Bytes tagged{0x00, 0x64, 0x86, 0xDD};
  ASSERT_EQ(decode(d, sll2(0x8100, cat(tagged, segment6()))), DecodeResult::kSegment);
  expect_default_segment6();
  EXPECT_EQ(decode(d, sll2(0x0806, Bytes(28, 0))), DecodeResult::kNotIp);
}

TEST_F(PacketTest, NullBothByteOrders) {
  PacketDecoder d(kLinktypeNull, counters_);
  for (bool big_endian : {false, true}) {
    SCOPED_TRACE(big_endian);
    ASSERT_EQ(decode(d, family_header(2, big_endian, segment4())), DecodeResult::kSegment);
    expect_default_segment4();
    for (uint32_t inet6 : {10u, 24u, 28u, 30u}) {
      ASSERT_EQ(decode(d, family_header(inet6, big_endian, segment6())), DecodeResult::kSegment);
      expect_default_segment6();
    }
    EXPECT_EQ(decode(d, family_header(7, big_endian, segment4())), DecodeResult::kNotIp);
  }
  EXPECT_EQ(decode(d, family_header(0x02000200, true, segment4())), DecodeResult::kNotIp);
  EXPECT_EQ(counters_.packets_not_ip, 3u);
}

TEST_F(PacketTest, Loop) {
  PacketDecoder d(kLinktypeLoop, counters_);
  ASSERT_EQ(decode(d, family_header(2, true, segment4())), DecodeResult::kSegment);
  expect_default_segment4();
  ASSERT_EQ(decode(d, family_header(24, true, segment6())), DecodeResult::kSegment);
  expect_default_segment6();
}

TEST_F(PacketTest, RawLinkTypes) {
  for (int linktype : {kLinktypeRaw, kLinktypeDltRaw12, kLinktypeDltRaw14}) {
    SCOPED_TRACE(linktype);
    PacketDecoder d(linktype, counters_);
    ASSERT_EQ(decode(d, segment4()), DecodeResult::kSegment);
    expect_default_segment4();
    ASSERT_EQ(decode(d, segment6()), DecodeResult::kSegment);
    expect_default_segment6();
  }
  PacketDecoder raw(kLinktypeRaw, counters_);
  Bytes bad = segment4();
  bad[0] = 0x55;
  EXPECT_EQ(decode(raw, bad), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kLinkBadIpVersion), 1u);

  PacketDecoder v4(kLinktypeIpv4, counters_);
  ASSERT_EQ(decode(v4, segment4()), DecodeResult::kSegment);
  expect_default_segment4();
  EXPECT_EQ(decode(v4, segment6()), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4BadVersion), 1u);

  PacketDecoder v6(kLinktypeIpv6, counters_);
  ASSERT_EQ(decode(v6, segment6()), DecodeResult::kSegment);
  expect_default_segment6();
  EXPECT_EQ(decode(v6, segment4()), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6BadVersion), 1u);
}

TEST_F(PacketTest, LinktypeNamesAndSupport) {
  EXPECT_EQ(PacketDecoder::linktype_name(kLinktypeEthernet), "EN10MB");
  EXPECT_EQ(PacketDecoder::linktype_name(kLinktypeLinuxSll2), "LINUX_SLL2");
  EXPECT_EQ(PacketDecoder::linktype_name(kLinktypeLinuxSll), "LINUX_SLL");
  EXPECT_EQ(PacketDecoder::linktype_name(kLinktypeNull), "NULL");
  EXPECT_EQ(PacketDecoder::linktype_name(kLinktypeLoop), "LOOP");
  EXPECT_EQ(PacketDecoder::linktype_name(kLinktypeDltRaw12), "RAW");
  EXPECT_EQ(PacketDecoder::linktype_name(kLinktypeIpv4), "IPV4");
  EXPECT_EQ(PacketDecoder::linktype_name(kLinktypeIpv6), "IPV6");
  EXPECT_EQ(PacketDecoder::linktype_name(105), "UNKNOWN");
  for (int t : {0, 1, 12, 14, 101, 108, 113, 228, 229, 276})
    EXPECT_TRUE(PacketDecoder::supports(t));
  for (int t : {-1, 2, 9, 105, 127, 192, 1000}) EXPECT_FALSE(PacketDecoder::supports(t));

  PacketDecoder wifi(105, counters_);
  EXPECT_EQ(decode(wifi, segment4()), DecodeResult::kNotIp);
  EXPECT_EQ(counters_.anomaly_count(pa::kLinkUnsupported), 1u);
}

// ---- IPv4 ----------------------------------------------------------------------------------

TEST_F(PacketTest, Ipv4OptionsAreSkipped) {
  PacketDecoder d(kLinktypeRaw, counters_);
  Ip4 h;
  h.options = {0x94, 0x04, 0x00, 0x00};  // router alert
  ASSERT_EQ(decode(d, segment4({}, h)), DecodeResult::kSegment);
  expect_default_segment4();
  h.options = Bytes(40, 1);  // the most there can be: IHL 15
  ASSERT_EQ(decode(d, segment4({}, h)), DecodeResult::kSegment);
  expect_default_segment4();
  EXPECT_EQ(reinterpret_cast<const uint8_t*>(seg_.payload.data()), buffer_.get() + 60 + 20);
}

TEST_F(PacketTest, Ipv4BadHeaderFields) {
  PacketDecoder d(kLinktypeRaw, counters_);
  Ip4 h;
  h.ihl = 4;
  EXPECT_EQ(decode(d, segment4({}, h)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4BadIhl), 1u);

  h = {};
  h.total = 19;  // below the header
  EXPECT_EQ(decode(d, segment4({}, h)), DecodeResult::kMalformed);
  h.total = 59;  // one beyond the frame, which is whole
  EXPECT_EQ(decode(d, segment4({}, h)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4BadTotalLength), 2u);

  h.ihl = 15;  // options beyond the total length
  h.total = 58;
  EXPECT_EQ(decode(d, segment4({}, h)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4BadTotalLength), 3u);
}

TEST_F(PacketTest, Ipv4TotalLengthZeroUsesTheFrame) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  Ip4 h;
  h.total = 0;
  ASSERT_EQ(decode(d, ethernet(0x0800, segment4({}, h))), DecodeResult::kSegment);
  expect_default_segment4();
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4TotalLengthZero), 1u);
  // ... and a snapped one is still snapped, by what the wire had.
  const Bytes frame = ethernet(0x0800, segment4({}, h));
  ASSERT_EQ(decode(d, frame, frame.size() - 8), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), "GET / HTTP");
  EXPECT_EQ(seg_.payload_length, 18u);
  EXPECT_EQ(counters_.packets_snapped, 1u);
}

TEST_F(PacketTest, SnappedPayload) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  const Bytes frame = ethernet(0x0800, segment4());
  ASSERT_EQ(decode(d, frame, 14 + 20 + 20 + 4), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), "GET ");
  EXPECT_EQ(seg_.payload_length, 18u);
  EXPECT_EQ(counters_.packets_snapped, 1u);
  // Cut right after the TCP header: a segment with no captured payload.
  ASSERT_EQ(decode(d, frame, 14 + 20 + 20), DecodeResult::kSegment);
  EXPECT_EQ(seg_.payload.size(), 0u);
  EXPECT_EQ(seg_.payload_length, 18u);
  EXPECT_EQ(counters_.packets_snapped, 2u);
  // The same for IPv6.
  const Bytes frame6 = ethernet(0x86DD, segment6());
  ASSERT_EQ(decode(d, frame6, 14 + 40 + 20 + 3), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), "GET");
  EXPECT_EQ(seg_.payload_length, 18u);
  EXPECT_EQ(counters_.packets_snapped, 3u);
  // Cut inside the TCP header: counted, no segment.
  EXPECT_EQ(decode(d, frame, 14 + 20 + 10), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kTcpHeaderSnapped), 1u);
  EXPECT_EQ(counters_.packets_snapped, 4u);
  // A wire length below the IP total length is no excuse: malformed.
  EXPECT_EQ(decode(d, frame, 14 + 20 + 20 + 4, 14 + 20 + 20 + 10), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4BadTotalLength), 1u);
}

// ---- TCP -----------------------------------------------------------------------------------

TEST_F(PacketTest, TcpOptionsAndFlags) {
  PacketDecoder d(kLinktypeRaw, counters_);
  Tcp t;
  // MSS, SACK permitted, timestamps, NOP, window scale: 20 bytes of options, data offset 10.
  t.options = {2, 4, 0x05, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7};
  t.flags = kSyn;
  t.payload.clear();
  ASSERT_EQ(decode(d, segment4(t)), DecodeResult::kSegment);
  EXPECT_EQ(seg_.flags, kSyn);
  EXPECT_EQ(seg_.payload_length, 0u);
  EXPECT_EQ(seg_.payload.size(), 0u);

  t.payload = "hello";
  for (uint8_t flags :
       {kFin, kSyn, kRst, kPsh, kAck, kUrg, kEce, kCwr, static_cast<uint8_t>(kSyn | kAck),
        static_cast<uint8_t>(kFin | kAck), static_cast<uint8_t>(0xFF)}) {
    t.flags = flags;
    ASSERT_EQ(decode(d, segment4(t)), DecodeResult::kSegment);
    EXPECT_EQ(seg_.flags, flags);
    EXPECT_EQ(str(seg_.payload), "hello");
    EXPECT_EQ(seg_.payload_length, 5u);
  }
  EXPECT_EQ(kFin | kSyn | kRst | kPsh | kAck | kUrg | kEce | kCwr, 0xFF);
}

TEST_F(PacketTest, TcpBadDataOffset) {
  PacketDecoder d(kLinktypeRaw, counters_);
  Tcp t;
  t.offset = 4;
  EXPECT_EQ(decode(d, segment4(t)), DecodeResult::kMalformed);
  t.offset = 15;  // 60 bytes, beyond the 38 the IP payload holds
  EXPECT_EQ(decode(d, segment4(t)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kTcpBadDataOffset), 2u);
  t.payload.clear();
  t.offset = 5;
  Ip4 h;
  h.total = 20 + 19;  // a TCP header one byte short
  EXPECT_EQ(decode(d, segment4(t, h)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kTcpTruncated), 1u);
}

TEST_F(PacketTest, NotTcpIsCounted) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  Ip4 udp;
  udp.proto = 17;
  EXPECT_EQ(decode(d, ethernet(0x0800, ipv4(udp, Bytes(8 + 12, 0)))), DecodeResult::kNotTcp);
  Ip4 icmp;
  icmp.proto = 1;
  EXPECT_EQ(decode(d, ethernet(0x0800, ipv4(icmp, Bytes(8, 0)))), DecodeResult::kNotTcp);
  EXPECT_EQ(decode(d, ethernet(0x86DD, ipv6(58, Bytes(8, 0)))), DecodeResult::kNotTcp);  // ICMPv6
  EXPECT_EQ(decode(d, ethernet(0x86DD, ipv6(17, Bytes(8, 0)))), DecodeResult::kNotTcp);
  EXPECT_EQ(decode(d, ethernet(0x86DD, ipv6(50, Bytes(16, 0)))), DecodeResult::kNotTcp);  // ESP
  EXPECT_EQ(decode(d, ethernet(0x86DD, ipv6(59, {}))), DecodeResult::kNotTcp);  // no next header
  EXPECT_EQ(decode(d, ethernet(0x0806, Bytes(28, 0))), DecodeResult::kNotIp);   // ARP
  EXPECT_EQ(counters_.packets_not_tcp, 6u);
  EXPECT_EQ(counters_.packets_not_ip, 1u);
  EXPECT_TRUE(counters_.anomalies.empty());
}

// ---- IPv4 fragments ------------------------------------------------------------------------

class FragmentTest : public PacketTest {
 protected:
  Tcp big() {
    Tcp t;
    t.payload.clear();
    for (int i = 0; i < 100; ++i) t.payload += "line " + std::to_string(i) + "\n";
    return t;
  }
};

TEST_F(FragmentTest, Ipv4InAnyOrder) {
  const Tcp t = big();
  const Bytes l4 = tcp(t);
  // The first cut is inside the TCP header: its ports come from one fragment, its flags from
  // the next.
  const auto frags = fragments4(l4, {8, 200, 400, 600});
  std::vector<size_t> order(frags.size());
  std::iota(order.begin(), order.end(), 0);
  int permutations = 0;
  do {
    PacketDecoder d(kLinktypeRaw, counters_);
    for (size_t i = 0; i < order.size(); ++i) {
      const DecodeResult r = decode(d, frags[order[i]], {}, {}, 1000 + static_cast<int64_t>(i));
      if (i + 1 < order.size()) {
        ASSERT_EQ(r, DecodeResult::kFragmentHeld);
        EXPECT_GT(d.buffered(), 0u);
      } else {
        ASSERT_EQ(r, DecodeResult::kSegment);
      }
    }
    EXPECT_EQ(str(seg_.payload), t.payload);
    EXPECT_EQ(seg_.payload_length, t.payload.size());
    EXPECT_EQ(seg_.flags, kAck | kPsh);
    EXPECT_EQ(seg_.seq, 0x01020304u);
    EXPECT_EQ(seg_.time, 1004);
    EXPECT_THAT(seg_.src, ElementsAre(192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
    EXPECT_EQ(d.buffered(), 0u);
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(permutations, 120);
  EXPECT_EQ(counters_.fragments, 600u);
  EXPECT_EQ(counters_.fragments_reassembled, 120u);
  EXPECT_EQ(counters_.fragments_expired, 0u);
  EXPECT_TRUE(counters_.anomalies.empty());
}

TEST_F(FragmentTest, Ipv4OverEthernetWithPadding) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  Tcp t;
  t.payload = "abcdefghijkl";  // 32 bytes of TCP: fragments of 24 and 8
  const auto frags = fragments4(tcp(t), {24});
  Bytes last = ethernet(0x0800, frags[1]);
  ASSERT_EQ(last.size(), 42u);
  last.resize(60, 0xEE);
  ASSERT_EQ(decode(d, ethernet(0x0800, frags[0])), DecodeResult::kFragmentHeld);
  ASSERT_EQ(decode(d, last), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), "abcdefghijkl");
}

TEST_F(FragmentTest, Ipv4Duplicates) {
  PacketDecoder d(kLinktypeRaw, counters_);
  const Tcp t = big();
  const auto frags = fragments4(tcp(t), {256, 512});
  EXPECT_EQ(decode(d, frags[0]), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, frags[0]), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, frags[2]), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, frags[2]), DecodeResult::kFragmentHeld);
  ASSERT_EQ(decode(d, frags[1]), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), t.payload);
  EXPECT_TRUE(counters_.anomalies.empty());
  EXPECT_EQ(counters_.fragments, 5u);
  EXPECT_EQ(counters_.fragments_reassembled, 1u);
  // A late duplicate starts a new datagram, which never completes.
  EXPECT_EQ(decode(d, frags[1]), DecodeResult::kFragmentHeld);
  d.expire(1'000 + 30'000'000'001);
  EXPECT_EQ(counters_.fragments_expired, 1u);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST_F(FragmentTest, Ipv4OverlapsFirstBytesWin) {
  const Tcp t = big();
  const Bytes l4 = tcp(t);
  auto piece = [&](size_t begin, size_t end, bool more, char fill = 0) {
    Ip4 h;
    h.id = 9;
    h.offset = static_cast<uint16_t>(begin);
    h.mf = more;
    Bytes data(l4.begin() + begin, l4.begin() + end);
    if (fill != 0) std::fill(data.begin(), data.end(), static_cast<uint8_t>(fill));
    return ipv4(h, data);
  };
  {
    // Overlapping with the same bytes: no anomaly.
    PacketDecoder d(kLinktypeRaw, counters_);
    EXPECT_EQ(decode(d, piece(0, 400, true)), DecodeResult::kFragmentHeld);
    EXPECT_EQ(decode(d, piece(200, 600, true)), DecodeResult::kFragmentHeld);
    EXPECT_EQ(decode(d, piece(96, 304, true)), DecodeResult::kFragmentHeld);
    ASSERT_EQ(decode(d, piece(560, l4.size(), false)), DecodeResult::kSegment);
    EXPECT_EQ(str(seg_.payload), t.payload);
    EXPECT_TRUE(counters_.anomalies.empty());
  }
  {
    // Different bytes over what is held: counted, and the first arrival stays. The gap between
    // two held ranges is filled from the new fragment.
    PacketDecoder d(kLinktypeRaw, counters_);
    EXPECT_EQ(decode(d, piece(0, 200, true)), DecodeResult::kFragmentHeld);
    EXPECT_EQ(decode(d, piece(400, 600, true)), DecodeResult::kFragmentHeld);
    Bytes forged = piece(96, 504, true);
    for (size_t i = 20; i < 20 + 104; ++i) forged[i] = 'X';             // 96..200: over held bytes
    for (size_t i = 20 + 304; i < forged.size(); ++i) forged[i] = 'Y';  // 400..504: held too
    EXPECT_EQ(decode(d, forged), DecodeResult::kFragmentHeld);
    EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentOverlap), 1u);
    ASSERT_EQ(decode(d, piece(600, l4.size(), false)), DecodeResult::kSegment);
    EXPECT_EQ(str(seg_.payload), t.payload);
  }
  {
    // The forged fragment first: its bytes win over the genuine ones.
    PacketDecoder d(kLinktypeRaw, counters_);
    EXPECT_EQ(decode(d, piece(200, 304, true, 'Z')), DecodeResult::kFragmentHeld);
    EXPECT_EQ(decode(d, piece(0, 400, true)), DecodeResult::kFragmentHeld);
    ASSERT_EQ(decode(d, piece(400, l4.size(), false)), DecodeResult::kSegment);
    EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentOverlap), 2u);
    std::string expected = t.payload;
    std::fill(expected.begin() + (200 - 20), expected.begin() + (304 - 20), 'Z');
    EXPECT_EQ(str(seg_.payload), expected);
  }
}

TEST_F(FragmentTest, Ipv4IncompleteExpires) {
  PacketDecoder d(kLinktypeRaw, counters_,
                  {.max_fragment_bytes = 1 << 20, .fragment_timeout = 1000});
  const auto frags = fragments4(tcp(big()), {256, 512});
  EXPECT_EQ(decode(d, frags[0], {}, {}, 100), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, frags[1], {}, {}, 200), DecodeResult::kFragmentHeld);
  d.expire(1100);  // exactly the timeout: kept
  EXPECT_EQ(counters_.fragments_expired, 0u);
  EXPECT_GT(d.buffered(), 0u);
  d.expire(1101);
  EXPECT_EQ(counters_.fragments_expired, 2u);
  EXPECT_EQ(d.buffered(), 0u);
  // The last fragment alone now: held, not completed with the dropped ones.
  EXPECT_EQ(decode(d, frags[2], {}, {}, 1200), DecodeResult::kFragmentHeld);

  // A fragment arriving after the timeout does not complete a stale datagram either, even
  // without an expire() call: decode() notices.
  PacketDecoder e(kLinktypeRaw, counters_,
                  {.max_fragment_bytes = 1 << 20, .fragment_timeout = 1000});
  EXPECT_EQ(decode(e, frags[0], {}, {}, 100), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(e, frags[1], {}, {}, 150), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(e, frags[2], {}, {}, 5000), DecodeResult::kFragmentHeld);
  EXPECT_EQ(counters_.fragments_expired, 4u);
  EXPECT_EQ(counters_.fragments_reassembled, 0u);

  // Packet times that go backwards: a datagram queued behind a younger one still times out
  // when its next fragment arrives.
  PacketDecoder f(kLinktypeRaw, counters_,
                  {.max_fragment_bytes = 1 << 20, .fragment_timeout = 1000});
  const auto other = fragments4(tcp(big()), {256, 512}, 8);
  EXPECT_EQ(decode(f, other[0], {}, {}, 5000), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(f, frags[0], {}, {}, 100), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(f, frags[1], {}, {}, 150), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(f, frags[2], {}, {}, 1200), DecodeResult::kFragmentHeld);
  EXPECT_EQ(counters_.fragments_expired, 6u);
  EXPECT_EQ(counters_.fragments_reassembled, 0u);
}

TEST_F(FragmentTest, DecoderMovesWithItsFragments) {
  const Tcp t = big();
  const auto frags = fragments4(tcp(t), {256});
  PacketDecoder d(kLinktypeRaw, counters_);
  EXPECT_EQ(decode(d, frags[0]), DecodeResult::kFragmentHeld);
  PacketDecoder moved(std::move(d));
  EXPECT_GT(moved.buffered(), 0u);
  EXPECT_EQ(moved.linktype(), kLinktypeRaw);
  ASSERT_EQ(decode(moved, frags[1]), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), t.payload);
}

TEST_F(FragmentTest, Ipv4MemoryCapEvictsOldest) {
  const Tcp t = big();
  const Bytes l4 = tcp(t);
  ASSERT_GT(l4.size(), 600u);
  // A tail fragment makes its datagram's buffer l4.size() bytes long; with kFragmentOverhead
  // (and a little bookkeeping) two such datagrams fit in the budget, three do not.
  const size_t budget = 2 * (l4.size() + kFragmentOverhead) + 200;
  PacketDecoder d(kLinktypeRaw, counters_, {.max_fragment_bytes = budget});
  const auto a = fragments4(l4, {504}, 1);
  const auto b = fragments4(l4, {504}, 2);
  const auto c = fragments4(l4, {504}, 3);
  EXPECT_EQ(decode(d, a[1]), DecodeResult::kFragmentHeld);  // the tail first: 504..end
  EXPECT_EQ(decode(d, b[1]), DecodeResult::kFragmentHeld);
  EXPECT_LE(d.buffered(), budget);
  EXPECT_EQ(decode(d, c[1]), DecodeResult::kFragmentHeld);  // evicts a
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentEvicted), 1u);
  EXPECT_EQ(counters_.fragments_expired, 1u);
  EXPECT_LE(d.buffered(), budget);
  EXPECT_EQ(decode(d, a[0]), DecodeResult::kFragmentHeld);  // a is gone: held anew, evicts b
  ASSERT_EQ(decode(d, c[0]), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), t.payload);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentEvicted), 2u);

  // A datagram that alone exceeds the budget is dropped itself.
  PacketDecoder tiny(kLinktypeRaw, counters_, {.max_fragment_bytes = 100});
  EXPECT_EQ(decode(tiny, a[0]), DecodeResult::kFragmentHeld);
  EXPECT_EQ(tiny.buffered(), 0u);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentEvicted), 3u);
}

TEST_F(FragmentTest, Ipv4Rejected) {
  PacketDecoder d(kLinktypeRaw, counters_);
  const Tcp t = big();
  const Bytes l4 = tcp(t);
  Ip4 h;
  h.mf = true;
  EXPECT_EQ(decode(d, ipv4(h, Bytes(l4.begin(), l4.begin() + 100))), DecodeResult::kMalformed);
  h.offset = 8;
  h.mf = false;
  EXPECT_EQ(decode(d, ipv4(h, {})), DecodeResult::kMalformed);  // no data
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentBadLength), 2u);

  h.offset = 65528;
  EXPECT_EQ(decode(d, ipv4(h, Bytes(16, 0))), DecodeResult::kMalformed);  // 65528 + 16 > 65535
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentTooLarge), 1u);

  // Two last fragments that disagree on the end.
  const auto frags = fragments4(l4, {256});
  EXPECT_EQ(decode(d, frags[1]), DecodeResult::kFragmentHeld);
  Ip4 last;
  last.id = 7;
  last.offset = 512;
  EXPECT_EQ(decode(d, ipv4(last, Bytes(l4.begin() + 512, l4.end() - 8))), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentInconsistent), 1u);
  EXPECT_EQ(counters_.fragments_expired, 1u);
  // Data beyond the announced end.
  EXPECT_EQ(decode(d, frags[1]), DecodeResult::kFragmentHeld);
  Ip4 beyond;
  beyond.id = 7;
  beyond.offset = static_cast<uint16_t>(l4.size() + 7) / 8 * 8;
  beyond.mf = true;
  EXPECT_EQ(decode(d, ipv4(beyond, Bytes(8, 0))), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentInconsistent), 2u);
  EXPECT_EQ(d.buffered(), 0u);

  // Fragments of UDP are not ours: not held.
  Ip4 udp;
  udp.proto = 17;
  udp.mf = true;
  EXPECT_EQ(decode(d, ipv4(udp, Bytes(64, 0))), DecodeResult::kNotTcp);
  EXPECT_EQ(d.buffered(), 0u);

  // A fragment cut by the snap length cannot be used.
  const Bytes whole = frags[0];
  EXPECT_EQ(decode(d, whole, whole.size() - 1, static_cast<uint32_t>(whole.size())),
            DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4FragmentSnapped), 1u);
  EXPECT_EQ(counters_.packets_snapped, 1u);
}

TEST_F(FragmentTest, Ipv4TooManyFragments) {
  PacketDecoder d(kLinktypeRaw, counters_);
  Ip4 h;
  h.mf = true;
  for (uint32_t i = 0; i < kMaxFragmentsPerDatagram; ++i) {
    h.offset = static_cast<uint16_t>(16 * i);
    ASSERT_EQ(decode(d, ipv4(h, Bytes(8, 0))), DecodeResult::kFragmentHeld);
  }
  h.offset = static_cast<uint16_t>(16 * kMaxFragmentsPerDatagram);
  EXPECT_EQ(decode(d, ipv4(h, Bytes(8, 0))), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv4TooManyFragments), 1u);
  EXPECT_EQ(counters_.fragments_expired, kMaxFragmentsPerDatagram);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST_F(FragmentTest, Ipv4SeparateDatagrams) {
  // Same id, different protocol or addresses: different datagrams; interleaved.
  PacketDecoder d(kLinktypeRaw, counters_);
  Tcp one = big();
  Tcp two = big();
  two.payload[0] = '#';
  const auto a = fragments4(tcp(one), {256}, 5);
  auto b = fragments4(tcp(two), {256}, 5);
  for (auto& f : b) f[15] = 99;  // another source address
  EXPECT_EQ(decode(d, a[0]), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, b[1]), DecodeResult::kFragmentHeld);
  ASSERT_EQ(decode(d, a[1]), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), one.payload);
  ASSERT_EQ(decode(d, b[0]), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), two.payload);
  EXPECT_EQ(seg_.src[3], 99);
}

// ---- IPv6 ----------------------------------------------------------------------------------

TEST_F(PacketTest, Ipv6ExtensionHeaders) {
  PacketDecoder d(kLinktypeEthernet, counters_);
  // Hop-by-Hop, Routing (no segments left), Destination Options, AH, then TCP.
  Bytes chain = cat(cat(cat(options6(43), routing6(60, 4, 0, {kFinal6})), options6(51, 16)),
                    cat(ah6(6), tcp({})));
  ASSERT_EQ(decode(d, ethernet(0x86DD, ipv6(0, chain))), DecodeResult::kSegment);
  expect_default_segment6();
  EXPECT_TRUE(counters_.anomalies.empty());

  // With segments left, the peer is the final destination.
  for (uint8_t type : {0, 2, 4}) {
    SCOPED_TRACE(type);
    Bytes routed =
        type == 0 ? routing6(6, 0, 1, {kDst6, kFinal6}) : routing6(6, type, 1, {kFinal6});
    if (type == 4) routed = routing6(6, 4, 1, {kFinal6, kDst6});  // segment list in reverse
    ASSERT_EQ(decode(d, ethernet(0x86DD, ipv6(43, cat(routed, tcp({}))))), DecodeResult::kSegment);
    EXPECT_EQ(seg_.dst, kFinal6);
    EXPECT_EQ(seg_.src, kSrc6);
  }

  // ESP hides the rest; No Next Header has none.
  EXPECT_EQ(decode(d, ethernet(0x86DD, ipv6(0, cat(options6(50), Bytes(16, 0))))),
            DecodeResult::kNotTcp);
  EXPECT_EQ(decode(d, ethernet(0x86DD, ipv6(60, options6(59)))), DecodeResult::kNotTcp);
  EXPECT_EQ(decode(d, ethernet(0x86DD, ipv6(60, cat(options6(17), Bytes(8, 0))))),
            DecodeResult::kNotTcp);
}

TEST_F(PacketTest, Ipv6BadExtensionHeaders) {
  PacketDecoder d(kLinktypeRaw, counters_);
  // Hop-by-Hop after another header.
  EXPECT_EQ(decode(d, ipv6(60, cat(options6(0), cat(options6(6), tcp({}))))),
            DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6HopByHopNotFirst), 1u);
  // A header longer than the payload.
  Bytes too_long = options6(6);
  too_long[1] = 200;
  EXPECT_EQ(decode(d, ipv6(60, cat(too_long, tcp({})))), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6BadExtensionHeader), 1u);
  // A payload too short for any header.
  EXPECT_EQ(decode(d, ipv6(60, Bytes(4, 0))), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6BadExtensionHeader), 2u);
  // A long chain.
  Bytes chain = tcp({});
  for (int i = 0; i < kMaxExtensionHeaders; ++i) chain = cat(options6(i == 0 ? 6 : 60), chain);
  EXPECT_EQ(decode(d, ipv6(60, chain)), DecodeResult::kSegment);
  chain = cat(options6(60), chain);
  EXPECT_EQ(decode(d, ipv6(60, chain)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6TooManyExtensionHeaders), 1u);
  // Payload length beyond the frame.
  EXPECT_EQ(decode(d, ipv6(6, tcp({}), 100)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6BadPayloadLength), 1u);
}

TEST_F(PacketTest, Ipv6PayloadLengthZero) {
  PacketDecoder d(kLinktypeRaw, counters_);
  // A jumbogram: Hop-by-Hop with the jumbo payload option (0xC2, length 4).
  Bytes jumbo{6, 0, 0xC2, 4, 0, 1, 0, 0};
  EXPECT_EQ(decode(d, ipv6(0, cat(jumbo, tcp({})), 0)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6Jumbogram), 1u);
  // ... behind Pad1 and PadN.
  Bytes padded{6, 1, 0, 1, 0, 0xC2, 4, 0, 0, 1, 0, 0, 1, 1, 0, 0};
  EXPECT_EQ(decode(d, ipv6(0, cat(padded, tcp({})), 0)), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6Jumbogram), 2u);
  // Zero without the option: segmentation offload, the frame's length is used.
  ASSERT_EQ(decode(d, ipv6(6, tcp({}), 0)), DecodeResult::kSegment);
  expect_default_segment6();
  ASSERT_EQ(decode(d, ipv6(0, cat(options6(6), tcp({})), 0)), DecodeResult::kSegment);
  expect_default_segment6();
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6PayloadLengthZero), 2u);
}

TEST_F(FragmentTest, Ipv6Fragments) {
  const Tcp t = big();
  const Bytes l4 = tcp(t);
  const auto frags = fragments6(l4, 6, {8, 256, 512});
  std::vector<size_t> order(frags.size());
  std::iota(order.begin(), order.end(), 0);
  do {
    PacketDecoder d(kLinktypeEthernet, counters_);
    for (size_t i = 0; i < order.size(); ++i) {
      const DecodeResult r = decode(d, ethernet(0x86DD, frags[order[i]]));
      ASSERT_EQ(r, i + 1 < order.size() ? DecodeResult::kFragmentHeld : DecodeResult::kSegment);
    }
    EXPECT_EQ(str(seg_.payload), t.payload);
    EXPECT_EQ(seg_.src, kSrc6);
    EXPECT_EQ(seg_.dst, kDst6);
    EXPECT_EQ(seg_.family, 6);
    EXPECT_EQ(d.buffered(), 0u);
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(counters_.fragments_reassembled, 24u);
  EXPECT_TRUE(counters_.anomalies.empty());
}

TEST_F(FragmentTest, Ipv6FragmentsWithHeadersAroundThem) {
  PacketDecoder d(kLinktypeRaw, counters_);
  const Tcp t = big();
  // Unfragmentable: Hop-by-Hop and Routing (segments left: the peer is kFinal6). Fragmentable:
  // Destination Options, then TCP.
  const Bytes fragmentable = cat(options6(6, 16), tcp(t));
  const auto pieces = fragments6(fragmentable, 60, {8, 400});
  for (size_t i : {2, 0, 1}) {
    Bytes piece(pieces[i].begin() + 40, pieces[i].end());  // the fragment header onwards
    Bytes unfragmentable = cat(options6(43), routing6(44, 2, 1, {kFinal6}));
    const DecodeResult r = decode(d, ipv6(0, cat(unfragmentable, piece)));
    ASSERT_EQ(r, i == 1 ? DecodeResult::kSegment : DecodeResult::kFragmentHeld);
  }
  EXPECT_EQ(str(seg_.payload), t.payload);
  EXPECT_EQ(seg_.dst, kFinal6);
  EXPECT_TRUE(counters_.anomalies.empty());

  // An atomic fragment (offset 0, no more) is a whole packet.
  ASSERT_EQ(decode(d, ipv6(44, cat(fragment6(6, 0, false, 77), tcp({})))), DecodeResult::kSegment);
  expect_default_segment6();
  EXPECT_EQ(counters_.fragments, 3u);

  // A fragment header inside the reassembled part.
  const Bytes nested = cat(options6(44), cat(fragment6(6, 0, false, 78), tcp({})));
  const auto outer = fragments6(nested, 60, {16});
  EXPECT_EQ(decode(d, outer[0]), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, outer[1]), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6NestedFragment), 1u);

  // UDP fragments are not held.
  EXPECT_EQ(decode(d, fragments6(Bytes(64, 0), 17, {32})[0]), DecodeResult::kNotTcp);
  EXPECT_EQ(d.buffered(), 0u);

  // Rejected: a non-last fragment whose length is not a multiple of 8, and one cut by the snap
  // length.
  EXPECT_EQ(decode(d, fragments6(tcp(t), 6, {100})[0]), DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6FragmentBadLength), 1u);
  const Bytes first = fragments6(tcp(t), 6, {96})[0];
  EXPECT_EQ(decode(d, first, first.size() - 1, static_cast<uint32_t>(first.size())),
            DecodeResult::kMalformed);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6FragmentSnapped), 1u);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST_F(FragmentTest, Ipv6SeparateDatagramsOverlapAndExpiry) {
  PacketDecoder d(kLinktypeRaw, counters_);
  const Tcp t = big();
  const Bytes l4 = tcp(t);
  const auto a = fragments6(l4, 6, {256}, 1);
  const auto b = fragments6(l4, 6, {256}, 2);
  EXPECT_EQ(decode(d, a[0]), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, b[1]), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, b[0]), DecodeResult::kSegment);
  EXPECT_EQ(decode(d, a[1]), DecodeResult::kSegment);
  EXPECT_EQ(str(seg_.payload), t.payload);
  // Overlap with different bytes and expiry, IPv6 flavour.
  auto forged = a[1];
  forged.back() ^= 0xFF;
  EXPECT_EQ(decode(d, a[1], {}, {}, 10), DecodeResult::kFragmentHeld);
  EXPECT_EQ(decode(d, forged, {}, {}, 20), DecodeResult::kFragmentHeld);
  EXPECT_EQ(counters_.anomaly_count(pa::kIpv6FragmentOverlap), 1u);
  d.expire(30'000'000'011);
  EXPECT_EQ(counters_.fragments_expired, 2u);
}

// ---- every header cut at every byte --------------------------------------------------------

struct Sample {
  std::string name;
  int linktype;
  Bytes frame;
  size_t headers;                                              // bytes up to the TCP payload
  std::vector<std::pair<size_t, std::string_view>> truncated;  // from offset: anomaly when cut
  std::vector<std::pair<size_t, std::string_view>> snapped;    // ... when snapped
};

std::vector<Sample> samples() {
  std::vector<Sample> out;
  Tcp t;
  t.options = {2, 4, 0x05, 0xB4, 1, 1, 4, 2};
  Ip4 h;
  h.options = {0x94, 0x04, 0, 0};
  const Bytes v4 = segment4(t, h);  // 24 + 28 + 18
  const Bytes v6 = ipv6(0, cat(cat(options6(43), routing6(60, 0, 0, {kFinal6})),
                               cat(options6(51, 16), cat(ah6(6), tcp(t)))));  // 40+8+24+16+24+28
  const std::vector<std::pair<size_t, std::string_view>> v4_truncated = {
      {0, pa::kIpv4Truncated}, {20, pa::kIpv4BadTotalLength}};
  const std::vector<std::pair<size_t, std::string_view>> v4_snapped = {{0, pa::kIpv4HeaderSnapped},
                                                                       {24, pa::kTcpHeaderSnapped}};
  const std::vector<std::pair<size_t, std::string_view>> v6_truncated = {
      {0, pa::kIpv6Truncated}, {40, pa::kIpv6BadPayloadLength}};
  const std::vector<std::pair<size_t, std::string_view>> v6_snapped = {
      {0, pa::kIpv6HeaderSnapped}, {112, pa::kTcpHeaderSnapped}};
  auto shift = [](std::vector<std::pair<size_t, std::string_view>> v, size_t by,
                  std::string_view link) {
    for (auto& [at, name] : v) at += by;
    if (by > 0) v.insert(v.begin(), {0, link});
    return v;
  };
  auto add = [&](std::string name, int linktype, size_t link, const Bytes& l3, bool is_v6) {
    const auto& tr = is_v6 ? v6_truncated : v4_truncated;
    const auto& sn = is_v6 ? v6_snapped : v4_snapped;
    Bytes frame = l3;
    switch (linktype) {
      case kLinktypeEthernet:
        frame = ethernet(is_v6 ? 0x86DD : 0x0800, l3, {0x88A8, 0x8100});
        break;
      case kLinktypeLinuxSll:
        frame = sll(is_v6 ? 0x86DD : 0x0800, l3);
        break;
      case kLinktypeLinuxSll2:
        frame = sll2(is_v6 ? 0x86DD : 0x0800, l3);
        break;
      case kLinktypeNull:
        frame = family_header(is_v6 ? 30 : 2, false, l3);
        break;
      default:
        break;
    }
    const size_t headers = link + (is_v6 ? 112 + 28 : 24 + 28);
    Sample s{name,
             linktype,
             frame,
             headers,
             shift(tr, link, pa::kLinkTruncated),
             shift(sn, link, pa::kLinkTruncated)};
    if (linktype == kLinktypeRaw) {  // an empty frame has no version nibble
      s.truncated[0].first = 1;
      s.truncated.insert(s.truncated.begin(), {0, pa::kLinkTruncated});
      s.snapped[0].first = 1;
      s.snapped.insert(s.snapped.begin(), {0, pa::kLinkTruncated});
    }
    out.push_back(std::move(s));
  };
  add("ethernet_qinq_v4", kLinktypeEthernet, 22, v4, false);
  add("ethernet_qinq_v6", kLinktypeEthernet, 22, v6, true);
  add("sll_v4", kLinktypeLinuxSll, 16, v4, false);
  add("sll2_v6", kLinktypeLinuxSll2, 20, v6, true);
  add("null_v6", kLinktypeNull, 4, v6, true);
  add("ipv4", kLinktypeIpv4, 0, v4, false);
  add("raw_v6", kLinktypeRaw, 0, v6, true);
  return out;
}

std::string_view expected_at(const std::vector<std::pair<size_t, std::string_view>>& table,
                             size_t n) {
  std::string_view name;
  for (const auto& [at, anomaly] : table) {
    if (n >= at) name = anomaly;
  }
  return name;
}

TEST_F(PacketTest, EveryHeaderCutAtEveryByte) {
  for (const Sample& s : samples()) {
    SCOPED_TRACE(s.name);
    {
      PacketDecoder d(s.linktype, counters_);
      ASSERT_EQ(decode(d, s.frame), DecodeResult::kSegment);
      EXPECT_EQ(seg_.payload_length, s.frame.size() - s.headers);
    }
    for (size_t n = 0; n < s.frame.size(); ++n) {
      SCOPED_TRACE(n);
      // Cut short on the wire: the frame is what it is.
      {
        Counters fresh;
        std::swap(counters_, fresh);
        PacketDecoder d(s.linktype, counters_);
        const uint32_t wire = static_cast<uint32_t>(n);
        const DecodeResult r = decode(d, s.frame, n, wire);
        ASSERT_EQ(r, DecodeResult::kMalformed);
        const std::string_view want = expected_at(s.truncated, n);
        EXPECT_EQ(counters_.anomaly_count(want), 1u) << want;
        EXPECT_EQ(counters_.packets_snapped, 0u);
      }
      // Cut by the snap length: a segment as soon as the headers are in.
      {
        Counters fresh;
        std::swap(counters_, fresh);
        PacketDecoder d(s.linktype, counters_);
        const DecodeResult r = decode(d, s.frame, n);
        if (n >= s.headers) {
          ASSERT_EQ(r, DecodeResult::kSegment);
          EXPECT_EQ(seg_.payload.size(), n - s.headers);
          EXPECT_EQ(seg_.payload_length, s.frame.size() - s.headers);
          EXPECT_TRUE(counters_.anomalies.empty());
        } else {
          ASSERT_EQ(r, DecodeResult::kMalformed);
          const std::string_view want = expected_at(s.snapped, n);
          EXPECT_EQ(counters_.anomaly_count(want), 1u) << want;
        }
        EXPECT_EQ(counters_.packets_snapped,
                  expected_at(s.snapped, n) == pa::kLinkTruncated ? 0u : 1u);
      }
    }
  }
}

TEST_F(PacketTest, FragmentsCutAtEveryByte) {
  // Fragments that are cut short never reach the defragmenter, and the whole ones still
  // complete the datagram.
  Tcp t;
  t.payload = std::string(300, 'q');
  const auto v4 = fragments4(tcp(t), {160});
  const auto v6 = fragments6(cat(options6(6), tcp(t)), 60, {160});
  for (const auto* frags : {&v4, &v6}) {
    PacketDecoder d(kLinktypeRaw, counters_);
    for (size_t n = 0; n < (*frags)[0].size(); ++n) {
      const DecodeResult r = decode(d, (*frags)[0], n, static_cast<uint32_t>(n));
      EXPECT_EQ(r, DecodeResult::kMalformed) << n;
      const DecodeResult s = decode(d, (*frags)[0], n);
      EXPECT_EQ(s, DecodeResult::kMalformed) << n;
    }
    EXPECT_EQ(d.buffered(), 0u);
    EXPECT_EQ(decode(d, (*frags)[1]), DecodeResult::kFragmentHeld);
    ASSERT_EQ(decode(d, (*frags)[0]), DecodeResult::kSegment);
    EXPECT_EQ(str(seg_.payload), t.payload);
  }
}

TEST_F(PacketTest, RandomBytesNeverCrash) {
  // Random frames and random mutations of valid ones, for every link type, through one decoder
  // each (so fragments accumulate): the accounting in decode() is checked on every call.
  std::mt19937 rng(12345);
  std::vector<Bytes> seeds;
  for (const Sample& s : samples()) seeds.push_back(s.frame);
  for (const auto& f : fragments4(tcp({}), {8, 24})) seeds.push_back(ethernet(0x0800, f));
  for (const auto& f : fragments6(tcp({}), 6, {8, 24})) seeds.push_back(ethernet(0x86DD, f));
  for (int linktype : {0, 1, 12, 101, 108, 113, 228, 229, 276}) {
    PacketDecoder d(linktype, counters_, {.max_fragment_bytes = 1 << 16, .fragment_timeout = 50});
    for (int i = 0; i < 20000; ++i) {
      Bytes frame = seeds[rng() % seeds.size()];
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) frame[rng() % frame.size()] = static_cast<uint8_t>(rng());
      const size_t cap = rng() % (frame.size() + 1);
      const uint32_t wire = static_cast<uint32_t>(cap + (rng() % 2 ? rng() % 100 : 0));
      decode(d, frame, cap, wire, i);
      if (i % 100 == 0) d.expire(i);
    }
  }
  SUCCEED();
}

}  // namespace
}  // namespace twin::capture
