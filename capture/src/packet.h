#pragma once
// Packet decoding: link layer → IPv4/IPv6 (fragment reassembly, IPv6 extension headers) → TCP
// header. One PacketDecoder per packet source (one link type), fed every captured packet; it
// hands each TCP segment to TCP reassembly and counts everything else in Counters.
//
// Checksums are not verified: captures taken on the sending host carry offloaded (unfilled)
// checksums, and tshark does not verify them either.
//
// Anomalies counted by the decoder (Counters::anomaly), one per packet that was cut short,
// malformed or dropped:
//
//   link.truncated                 frame shorter than its link header (or a VLAN tag)
//   link.too_many_vlan_tags        more than kMaxVlanTags stacked 802.1Q / 802.1ad tags
//   link.bad_ip_version            RAW link type whose first nibble is neither 4 nor 6
//   link.unsupported_linktype      decoder built for a link type supports() rejects
//   ipv4.truncated                 IPv4 header cut short (not by the snap length)
//   ipv4.header_snapped            IPv4 header cut by the snap length (packets_snapped too)
//   ipv4.bad_version               version field is not 4 where IPv4 was announced
//   ipv4.bad_ihl                   header length below 20 bytes
//   ipv4.bad_total_length          total length below the header length, or beyond the frame
//   ipv4.total_length_zero         total length 0 (TCP segmentation offload on the capturing
//                                  host): the frame's length is used instead
//   ipv4.fragment_bad_length       fragment without data, or a non-last one not a multiple of 8
//   ipv4.fragment_too_large        fragment reaching beyond 65535 bytes of datagram
//   ipv4.fragment_overlap          overlapping fragments with different bytes (the first wins)
//   ipv4.fragment_inconsistent     fragments disagreeing on where the datagram ends: dropped
//   ipv4.too_many_fragments        more than kMaxFragmentsPerDatagram fragments: dropped
//   ipv4.fragment_snapped          fragment cut by the snap length: not held (packets_snapped)
//   ipv4.fragment_evicted          datagram dropped to stay under max_fragment_bytes
//   ipv6.truncated                 IPv6 header or extension header cut short
//   ipv6.header_snapped            ... cut by the snap length (packets_snapped too)
//   ipv6.bad_version               version field is not 6 where IPv6 was announced
//   ipv6.bad_payload_length        payload length beyond the frame
//   ipv6.payload_length_zero       payload length 0 without a jumbo option (segmentation
//                                  offload on the capturing host): the frame's length is used
//   ipv6.jumbogram                 jumbo payload option: not supported, dropped
//   ipv6.bad_extension_header      extension header reaching beyond the payload
//   ipv6.too_many_extension_headers  more than kMaxExtensionHeaders extension headers
//   ipv6.hop_by_hop_not_first      Hop-by-Hop Options header anywhere but first
//   ipv6.nested_fragment           a fragment header inside a reassembled datagram
//   ipv6.fragment_bad_length, ipv6.fragment_too_large, ipv6.fragment_overlap,
//   ipv6.fragment_inconsistent, ipv6.too_many_fragments, ipv6.fragment_snapped,
//   ipv6.fragment_evicted          as for IPv4
//   tcp.truncated                  IP payload shorter than a TCP header
//   tcp.header_snapped             TCP header cut by the snap length (packets_snapped too)
//   tcp.bad_data_offset            data offset below 5 words or beyond the IP payload

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "twin/capture/counters.h"

namespace twin::capture {

/// The anomaly names above, as constants.
namespace packet_anomaly {
inline constexpr std::string_view kLinkTruncated = "link.truncated";
inline constexpr std::string_view kLinkTooManyVlanTags = "link.too_many_vlan_tags";
inline constexpr std::string_view kLinkBadIpVersion = "link.bad_ip_version";
inline constexpr std::string_view kLinkUnsupported = "link.unsupported_linktype";
inline constexpr std::string_view kIpv4Truncated = "ipv4.truncated";
inline constexpr std::string_view kIpv4HeaderSnapped = "ipv4.header_snapped";
inline constexpr std::string_view kIpv4BadVersion = "ipv4.bad_version";
inline constexpr std::string_view kIpv4BadIhl = "ipv4.bad_ihl";
inline constexpr std::string_view kIpv4BadTotalLength = "ipv4.bad_total_length";
inline constexpr std::string_view kIpv4TotalLengthZero = "ipv4.total_length_zero";
inline constexpr std::string_view kIpv4FragmentBadLength = "ipv4.fragment_bad_length";
inline constexpr std::string_view kIpv4FragmentTooLarge = "ipv4.fragment_too_large";
inline constexpr std::string_view kIpv4FragmentOverlap = "ipv4.fragment_overlap";
inline constexpr std::string_view kIpv4FragmentInconsistent = "ipv4.fragment_inconsistent";
inline constexpr std::string_view kIpv4TooManyFragments = "ipv4.too_many_fragments";
inline constexpr std::string_view kIpv4FragmentSnapped = "ipv4.fragment_snapped";
inline constexpr std::string_view kIpv4FragmentEvicted = "ipv4.fragment_evicted";
inline constexpr std::string_view kIpv6Truncated = "ipv6.truncated";
inline constexpr std::string_view kIpv6HeaderSnapped = "ipv6.header_snapped";
inline constexpr std::string_view kIpv6BadVersion = "ipv6.bad_version";
inline constexpr std::string_view kIpv6BadPayloadLength = "ipv6.bad_payload_length";
inline constexpr std::string_view kIpv6PayloadLengthZero = "ipv6.payload_length_zero";
inline constexpr std::string_view kIpv6Jumbogram = "ipv6.jumbogram";
inline constexpr std::string_view kIpv6BadExtensionHeader = "ipv6.bad_extension_header";
inline constexpr std::string_view kIpv6TooManyExtensionHeaders = "ipv6.too_many_extension_headers";
inline constexpr std::string_view kIpv6HopByHopNotFirst = "ipv6.hop_by_hop_not_first";
inline constexpr std::string_view kIpv6NestedFragment = "ipv6.nested_fragment";
inline constexpr std::string_view kIpv6FragmentBadLength = "ipv6.fragment_bad_length";
inline constexpr std::string_view kIpv6FragmentTooLarge = "ipv6.fragment_too_large";
inline constexpr std::string_view kIpv6FragmentOverlap = "ipv6.fragment_overlap";
inline constexpr std::string_view kIpv6FragmentInconsistent = "ipv6.fragment_inconsistent";
inline constexpr std::string_view kIpv6TooManyFragments = "ipv6.too_many_fragments";
inline constexpr std::string_view kIpv6FragmentSnapped = "ipv6.fragment_snapped";
inline constexpr std::string_view kIpv6FragmentEvicted = "ipv6.fragment_evicted";
inline constexpr std::string_view kTcpTruncated = "tcp.truncated";
inline constexpr std::string_view kTcpHeaderSnapped = "tcp.header_snapped";
inline constexpr std::string_view kTcpBadDataOffset = "tcp.bad_data_offset";
}  // namespace packet_anomaly

/// Link types (the LINKTYPE_ values of pcap files; the DLT_ values pcap_datalink() returns are
/// the same, except DLT_RAW, which is 12 or 14 depending on the platform).
inline constexpr int kLinktypeNull = 0;        // BSD loopback: 4-byte AF_ family, host order
inline constexpr int kLinktypeEthernet = 1;    // EN10MB
inline constexpr int kLinktypeDltRaw12 = 12;   // DLT_RAW on most platforms
inline constexpr int kLinktypeDltRaw14 = 14;   // DLT_RAW on OpenBSD
inline constexpr int kLinktypeRaw = 101;       // raw IPv4 or IPv6: the version nibble decides
inline constexpr int kLinktypeLoop = 108;      // OpenBSD loopback: 4-byte AF_ family, big-endian
inline constexpr int kLinktypeLinuxSll = 113;  // Linux cooked capture v1 ("any" device)
inline constexpr int kLinktypeIpv4 = 228;
inline constexpr int kLinktypeIpv6 = 229;
inline constexpr int kLinktypeLinuxSll2 = 276;  // Linux cooked capture v2

/// TCP flag bits (the 14th byte of the TCP header).
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;

/// Stacked VLAN tags followed before a frame is called malformed.
inline constexpr int kMaxVlanTags = 8;
/// IPv6 extension headers walked before a packet is called malformed.
inline constexpr int kMaxExtensionHeaders = 16;
/// Fragments one datagram may take (8-byte fragments of a 64 KiB datagram would be 8192; real
/// paths have an MTU of at least 576 (IPv4) or 1280 (IPv6) bytes).
inline constexpr uint32_t kMaxFragmentsPerDatagram = 1024;
/// Bytes charged to max_fragment_bytes for each datagram held, on top of its data buffer, so
/// that a flood of tiny fragments is bounded too.
inline constexpr size_t kFragmentOverhead = 256;

/// One decoded TCP segment. Views are valid until the next decode() or expire() call.
struct TcpSegment {
  int64_t time = 0;               // capture time, ns since the epoch
  uint8_t family = 0;             // 4 or 6
  std::array<uint8_t, 16> src{};  // network byte order; IPv4 uses the first 4 bytes, rest zero
  std::array<uint8_t, 16> dst{};  // IPv6: the final destination when a routing header is present
  uint16_t src_port = 0, dst_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;  // kFin, kSyn, kRst, kPsh, kAck, kUrg, kEce, kCwr
  uint16_t window = 0;
  std::string_view payload;     // the captured payload bytes
  uint32_t payload_length = 0;  // payload length per the IP/TCP headers; > payload.size()
                                // when the snap length cut the packet
};

enum class DecodeResult : uint8_t {
  kSegment,       // `out` holds a TCP segment
  kNotIp,         // neither IPv4 nor IPv6 (ARP, LLDP, ...): Counters::packets_not_ip
  kNotTcp,        // IP but not TCP (UDP, ICMP, ESP, ...): Counters::packets_not_tcp
  kFragmentHeld,  // a fragment of a TCP datagram, held until the rest arrives (if it never
                  // does, or memory runs short, Counters::fragments_expired counts it)
  kMalformed,     // cut short (headers cut by the snap length also count packets_snapped),
                  // malformed, or a rejected fragment: an anomaly was counted
};

struct DecoderOptions {
  /// Bytes held for all datagrams being reassembled (data plus kFragmentOverhead each); beyond
  /// it the oldest datagrams are dropped (fragments_expired, "<ip>.fragment_evicted").
  size_t max_fragment_bytes = 64u << 20;
  /// Packet-time ns after which an incomplete datagram is dropped (fragments_expired).
  int64_t fragment_timeout = 30'000'000'000;
};

/// Decodes the packets of one link type into TCP segments. Owned by one capture thread; not
/// thread-safe. The non-fragment path neither allocates nor throws.
class PacketDecoder {
 public:
  /// `counters` is borrowed and must outlive the decoder.
  PacketDecoder(int linktype, Counters& counters, DecoderOptions options = {});
  ~PacketDecoder();
  PacketDecoder(PacketDecoder&&) noexcept;
  PacketDecoder(const PacketDecoder&) = delete;
  PacketDecoder& operator=(const PacketDecoder&) = delete;
  PacketDecoder& operator=(PacketDecoder&&) = delete;

  /// Link types handled: NULL 0, EN10MB 1, RAW 101 (and DLT_RAW 12 and 14), LOOP 108,
  /// LINUX_SLL 113, LINUX_SLL2 276, IPV4 228, IPV6 229.
  static bool supports(int linktype);
  /// The pcap name of a link type ("EN10MB", "LINUX_SLL2", ...), "UNKNOWN" for others.
  static std::string_view linktype_name(int linktype);

  /// Decodes one captured packet: `caplen` bytes at `data` of a frame that was `wirelen` bytes
  /// on the wire. On kSegment fills `out`, whose views point into `data` (or, for a reassembled
  /// datagram, into the decoder) and stay valid until the next decode() or expire(); on any
  /// other result `out` is unspecified. Counts everything but packets/bytes (the caller's).
  DecodeResult decode(const uint8_t* data, uint32_t caplen, uint32_t wirelen, int64_t time,
                      TcpSegment& out);

  /// Drops fragment sets older than the timeout relative to `now` (packet time). decode() also
  /// does this for the oldest sets as fragments arrive.
  void expire(int64_t now);

  /// Bytes held for defragmentation (data buffers plus kFragmentOverhead per datagram).
  size_t buffered() const;

  int linktype() const { return linktype_; }

 private:
  class Defragmenter;  // packet.cc

  DecodeResult decode_ipv4(const uint8_t* p, size_t cap, size_t wire, int64_t time,
                           TcpSegment& out);
  DecodeResult decode_ipv6(const uint8_t* p, size_t cap, size_t wire, int64_t time,
                           TcpSegment& out);
  // Walks IPv6 extension headers from `pos` up to TCP. `total` is the length of the packet (or
  // reassembled fragmentable part) per its headers, `cap` the captured part of it.
  DecodeResult walk_ipv6(const uint8_t* p, size_t pos, size_t cap, size_t total, uint8_t nh,
                         bool reassembled, int64_t time, TcpSegment& out);
  DecodeResult decode_tcp(const uint8_t* p, size_t cap, size_t len, TcpSegment& out);
  DecodeResult cut_short(std::string_view truncated, std::string_view snapped, size_t cap,
                         size_t wire, size_t need);
  DecodeResult malformed(std::string_view anomaly);
  DecodeResult not_ip();
  DecodeResult not_tcp();

  int linktype_;
  Counters& counters_;
  std::unique_ptr<Defragmenter> defrag_;
};

}  // namespace twin::capture
