#include "packet.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <list>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

namespace twin::capture {

namespace {

namespace pa = packet_anomaly;

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6Ah = 51;
constexpr uint8_t kIpv6DestOptions = 60;
constexpr uint8_t kIpv6NoNextHeader = 59;

constexpr size_t kMaxDatagram = 65535;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

enum class Network : uint8_t { kIpv4, kIpv6, kOther, kTruncated, kTooManyTags };

// Follows an EtherType (at `type_at`, its payload at `payload`) through stacked VLAN tags to
// the network layer, whose offset goes to `l3`. Linux cooked captures may carry tags too.
Network ethertype(const uint8_t* data, size_t cap, size_t type_at, size_t payload, size_t& l3) {
  for (int tags = 0;; ++tags) {
    if (type_at + 2 > cap) return Network::kTruncated;
    switch (be16(data + type_at)) {
      case 0x0800:
        l3 = payload;
        return Network::kIpv4;
      case 0x86DD:
        l3 = payload;
        return Network::kIpv6;
      case 0x8100:  // 802.1Q
      case 0x88A8:  // 802.1ad (QinQ service tag)
      case 0x9100:  // pre-standard stacked tag
        if (tags == kMaxVlanTags) return Network::kTooManyTags;
        // The payload starts with the tag's TCI, then the next EtherType.
        type_at = payload + 2;
        payload += 4;
        continue;
      default:
        return Network::kOther;  // ARP, LLDP, MPLS, an 802.3 length, ...
    }
  }
}

// The 4-byte address family of NULL (host byte order of the capturing machine, so either
// order) and LOOP (network order) headers. AF_INET6 differs between operating systems.
Network af_family(const uint8_t* p) {
  uint32_t family;
  if (p[1] == 0 && p[2] == 0 && p[3] == 0) {
    family = p[0];
  } else if (p[0] == 0 && p[1] == 0 && p[2] == 0) {
    family = p[3];
  } else {
    return Network::kOther;
  }
  switch (family) {
    case 2:  // AF_INET everywhere
      return Network::kIpv4;
    case 10:  // Linux
    case 24:  // OpenBSD, NetBSD, BSD/OS
    case 28:  // FreeBSD, DragonFly
    case 30:  // macOS
      return Network::kIpv6;
    default:
      return Network::kOther;
  }
}

// Whether an IPv6 next-header value may still lead to TCP (worth holding a fragment for).
bool may_lead_to_tcp(uint8_t nh) {
  return nh == kProtoTcp || nh == kIpv6Routing || nh == kIpv6DestOptions || nh == kIpv6Ah;
}

// With segments left, the destination field of a routed packet names the next hop; TCP's peer
// (and the address the other direction comes from) is the final destination in the header.
void final_destination(const uint8_t* h, size_t length, std::array<uint8_t, 16>& dst) {
  const uint8_t type = h[2];
  const uint8_t segments_left = h[3];
  if (segments_left == 0) return;
  switch (type) {
    case 0: {  // deprecated source route: the last address of the list
      const size_t n = h[1] / 2;
      if (n > 0 && 8 + 16 * n <= length) std::memcpy(dst.data(), h + 8 + 16 * (n - 1), 16);
      return;
    }
    case 2:  // Mobile IPv6: the home address
    case 4:  // segment routing: Segment List[0] is the last segment
      if (8 + 16 <= length) std::memcpy(dst.data(), h + 8, 16);
      return;
    default:  // RPL (compressed) and others: keep the header's destination
      return;
  }
}

// `time - since > timeout` without overflow on any input.
bool older_than(int64_t since, int64_t time, int64_t timeout) {
  if (time <= since) return false;
  return static_cast<uint64_t>(time) - static_cast<uint64_t>(since) >
         static_cast<uint64_t>(timeout);
}

struct FragmentNames {
  std::string_view bad_length, too_large, overlap, inconsistent, too_many, evicted;
};
constexpr FragmentNames kIpv4Names{pa::kIpv4FragmentBadLength, pa::kIpv4FragmentTooLarge,
                                   pa::kIpv4FragmentOverlap,   pa::kIpv4FragmentInconsistent,
                                   pa::kIpv4TooManyFragments,  pa::kIpv4FragmentEvicted};
constexpr FragmentNames kIpv6Names{pa::kIpv6FragmentBadLength, pa::kIpv6FragmentTooLarge,
                                   pa::kIpv6FragmentOverlap,   pa::kIpv6FragmentInconsistent,
                                   pa::kIpv6TooManyFragments,  pa::kIpv6FragmentEvicted};

// (src, dst, id, protocol, family) of a datagram, as bytes.
using FragmentKey = std::array<uint8_t, 40>;

}  // namespace

/// IPv4 and IPv6 fragment reassembly: datagrams keyed by (src, dst, id[, protocol]), fragments
/// in any order, duplicates and overlaps (the first bytes to arrive win), bounded by a
/// per-datagram fragment count, a total memory budget (oldest datagram evicted first) and a
/// timeout. Every fragment it lets go of without a datagram is counted.
class PacketDecoder::Defragmenter {
 public:
  /// One fragment as the IP layer hands it over.
  struct Fragment {
    uint8_t family = 0;
    uint8_t proto = 0;  // IPv4: the protocol; IPv6: the fragment header's next header
    uint32_t id = 0;
    const uint8_t* key_src = nullptr;  // the header's addresses (4 or 16 bytes)
    const uint8_t* key_dst = nullptr;
    const std::array<uint8_t, 16>* src = nullptr;  // the addresses the segment will carry
    const std::array<uint8_t, 16>* dst = nullptr;
    uint32_t offset = 0;
    const uint8_t* data = nullptr;
    size_t length = 0;
    bool more = false;
    int64_t time = 0;
  };

  /// A datagram rebuilt from its fragments: its payload (valid until the next add() that
  /// completes a datagram) and what the segment needs from the fragments' headers.
  struct Reassembled {
    const uint8_t* data = nullptr;
    size_t length = 0;
    uint8_t proto = 0;
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
  };

  enum class Outcome : uint8_t { kHeld, kComplete, kRejected };

  Defragmenter(Counters& counters, const DecoderOptions& options)
      : counters_(counters), options_(options) {
    if (options_.fragment_timeout < 0) options_.fragment_timeout = 0;
  }

  Outcome add(const Fragment& f, Reassembled& done);
  void expire(int64_t now) {
    while (!order_.empty() && older_than(order_.front().created, now, options_.fragment_timeout)) {
      drop(order_.begin());
    }
  }
  size_t buffered() const { return buffered_; }

 private:
  struct Datagram {
    FragmentKey key{};
    int64_t created = 0;
    uint8_t family = 0;
    uint8_t proto = 0;
    bool total_known = false;
    size_t total = 0;
    uint32_t fragments = 0;
    size_t charged = 0;                               // bytes counted in buffered_
    std::vector<uint8_t> data;                        // sized to the furthest end seen
    std::vector<std::pair<uint32_t, uint32_t>> have;  // received [begin, end), sorted, merged
    std::array<uint8_t, 16> src{};
    std::array<uint8_t, 16> dst{};
  };
  using List = std::list<Datagram>;

  void drop(List::iterator it) {
    counters_.fragments_expired += it->fragments;
    buffered_ -= it->charged;
    index_.erase(it->key);
    order_.erase(it);
  }
  void recharge(Datagram& d) {
    const size_t charge = kFragmentOverhead + d.data.capacity() +
                          d.have.capacity() * sizeof(std::pair<uint32_t, uint32_t>);
    buffered_ = buffered_ - d.charged + charge;
    d.charged = charge;
  }
  static void merge(std::vector<std::pair<uint32_t, uint32_t>>& have, uint32_t begin, uint32_t end);

  Counters& counters_;
  DecoderOptions options_;
  List order_;  // by arrival of the first fragment: oldest first
  // Ordered, not hashed: fragment keys come from the network, and a tree has no worst case
  // an attacker can aim at. Only fragments pay for it.
  std::map<FragmentKey, List::iterator> index_;
  std::vector<uint8_t> reassembled_;
  size_t buffered_ = 0;
};

void PacketDecoder::Defragmenter::merge(std::vector<std::pair<uint32_t, uint32_t>>& have,
                                        uint32_t begin, uint32_t end) {
  // Ranges stay sorted and disjoint, touching ones joined: a complete datagram is one range.
  auto first = std::lower_bound(have.begin(), have.end(), begin,
                                [](const auto& r, uint32_t b) { return r.second < b; });
  auto last = first;
  while (last != have.end() && last->first <= end) {
    begin = std::min(begin, last->first);
    end = std::max(end, last->second);
    ++last;
  }
  if (first == last) {
    have.insert(first, {begin, end});
  } else {
    *first = {begin, end};
    have.erase(first + 1, last);
  }
}

PacketDecoder::Defragmenter::Outcome PacketDecoder::Defragmenter::add(const Fragment& f,
                                                                      Reassembled& done) {
  const FragmentNames& names = f.family == 4 ? kIpv4Names : kIpv6Names;
  expire(f.time);

  const size_t end = f.offset + f.length;
  if (f.length == 0 || (f.more && f.length % 8 != 0)) {
    counters_.anomaly(names.bad_length);
    return Outcome::kRejected;
  }
  if (end > kMaxDatagram) {
    counters_.anomaly(names.too_large);
    return Outcome::kRejected;
  }

  FragmentKey key{};
  const size_t address_size = f.family == 4 ? 4 : 16;
  std::memcpy(key.data(), f.key_src, address_size);
  std::memcpy(key.data() + 16, f.key_dst, address_size);
  std::memcpy(key.data() + 32, &f.id, sizeof f.id);
  key[36] = f.family;
  key[37] = f.family == 4 ? f.proto : 0;  // IPv6 keys on (src, dst, id) only

  List::iterator it;
  auto found = index_.find(key);
  if (found != index_.end() &&
      older_than(found->second->created, f.time, options_.fragment_timeout)) {
    drop(found->second);  // stale: this fragment starts a new datagram
    found = index_.end();
  }
  if (found == index_.end()) {
    order_.emplace_back();
    it = std::prev(order_.end());
    index_.emplace(key, it);
    it->key = key;
    it->created = f.time;
    it->family = f.family;
    it->proto = f.proto;
    it->src = *f.src;
    it->dst = *f.dst;
    recharge(*it);
  } else {
    it = found->second;
  }
  Datagram& d = *it;

  const bool inconsistent = d.total_known ? (end > d.total || (!f.more && end != d.total))
                                          : (!f.more && end < d.data.size());
  if (inconsistent) {
    counters_.anomaly(names.inconsistent);
    drop(it);
    return Outcome::kRejected;
  }
  if (d.fragments >= kMaxFragmentsPerDatagram) {
    counters_.anomaly(names.too_many);
    drop(it);
    return Outcome::kRejected;
  }
  if (!f.more) {
    d.total_known = true;
    d.total = end;
  }
  if (f.offset == 0) d.proto = f.proto;  // IPv6: the first fragment's next header is the one

  if (end > d.data.size()) d.data.resize(end);
  // Copy what is new; compare what overlaps bytes already held (the first arrival wins).
  bool differs = false;
  size_t pos = f.offset;
  for (const auto& [begin, stop] : d.have) {
    if (stop <= pos) continue;
    if (begin >= end) break;
    if (begin > pos) std::memcpy(d.data.data() + pos, f.data + (pos - f.offset), begin - pos);
    const size_t overlap_begin = std::max<size_t>(pos, begin);
    const size_t overlap_end = std::min<size_t>(end, stop);
    if (std::memcmp(d.data.data() + overlap_begin, f.data + (overlap_begin - f.offset),
                    overlap_end - overlap_begin) != 0) {
      differs = true;
    }
    pos = overlap_end;
  }
  if (pos < end) std::memcpy(d.data.data() + pos, f.data + (pos - f.offset), end - pos);
  merge(d.have, f.offset, static_cast<uint32_t>(end));
  if (differs) counters_.anomaly(names.overlap);
  ++d.fragments;

  if (d.total_known && d.have.size() == 1 && d.have[0].first == 0 && d.have[0].second == d.total) {
    reassembled_.swap(d.data);
    done.data = reassembled_.data();
    done.length = d.total;
    done.proto = d.proto;
    done.src = d.src;
    done.dst = d.dst;
    buffered_ -= d.charged;
    index_.erase(d.key);
    order_.erase(it);
    ++counters_.fragments_reassembled;
    return Outcome::kComplete;
  }

  recharge(d);
  // Over budget: evict the oldest other datagrams, then this one if it alone is too much.
  while (buffered_ > options_.max_fragment_bytes) {
    auto victim = order_.begin();
    if (victim == it) ++victim;
    if (victim == order_.end()) victim = it;
    counters_.anomaly(victim->family == 4 ? kIpv4Names.evicted : kIpv6Names.evicted);
    const bool self = victim == it;
    drop(victim);
    if (self) break;
  }
  return Outcome::kHeld;
}

PacketDecoder::PacketDecoder(int linktype, Counters& counters, DecoderOptions options)
    : linktype_(linktype),
      counters_(counters),
      defrag_(std::make_unique<Defragmenter>(counters, options)) {}

PacketDecoder::~PacketDecoder() = default;
PacketDecoder::PacketDecoder(PacketDecoder&&) noexcept = default;

bool PacketDecoder::supports(int linktype) {
  switch (linktype) {
    case kLinktypeNull:
    case kLinktypeEthernet:
    case kLinktypeDltRaw12:
    case kLinktypeDltRaw14:
    case kLinktypeRaw:
    case kLinktypeLoop:
    case kLinktypeLinuxSll:
    case kLinktypeLinuxSll2:
    case kLinktypeIpv4:
    case kLinktypeIpv6:
      return true;
    default:
      return false;
  }
}

std::string_view PacketDecoder::linktype_name(int linktype) {
  switch (linktype) {
    case kLinktypeNull:
      return "NULL";
    case kLinktypeEthernet:
      return "EN10MB";
    case kLinktypeDltRaw12:
    case kLinktypeDltRaw14:
    case kLinktypeRaw:
      return "RAW";
    case kLinktypeLoop:
      return "LOOP";
    case kLinktypeLinuxSll:
      return "LINUX_SLL";
    case kLinktypeLinuxSll2:
      return "LINUX_SLL2";
    case kLinktypeIpv4:
      return "IPV4";
    case kLinktypeIpv6:
      return "IPV6";
    default:
      return "UNKNOWN";
  }
}

void PacketDecoder::expire(int64_t now) { defrag_->expire(now); }

size_t PacketDecoder::buffered() const { return defrag_->buffered(); }

DecodeResult PacketDecoder::malformed(std::string_view anomaly) {
  counters_.anomaly(anomaly);
  return DecodeResult::kMalformed;
}

DecodeResult PacketDecoder::not_ip() {
  ++counters_.packets_not_ip;
  return DecodeResult::kNotIp;
}

DecodeResult PacketDecoder::not_tcp() {
  ++counters_.packets_not_tcp;
  return DecodeResult::kNotTcp;
}

DecodeResult PacketDecoder::cut_short(std::string_view truncated, std::string_view snapped,
                                      size_t cap, size_t wire, size_t need) {
  // The wire had the bytes and the snap length cut them: not the sender's fault.
  if (cap < wire && wire >= need) {
    ++counters_.packets_snapped;
    return malformed(snapped);
  }
  return malformed(truncated);
}

DecodeResult PacketDecoder::decode(const uint8_t* data, uint32_t caplen, uint32_t wirelen,
                                   int64_t time, TcpSegment& out) {
  const size_t cap = caplen;
  const size_t wire = std::max(wirelen, caplen);
  size_t l3 = 0;
  Network network = Network::kOther;
  switch (linktype_) {
    case kLinktypeEthernet:
      // Destination, source, then an EtherType (or an 802.3 length: not IP).
      network = ethertype(data, cap, 12, 14, l3);
      break;
    case kLinktypeLinuxSll:
      // Packet type, ARPHRD type, address length, 8 address bytes, protocol.
      network = ethertype(data, cap, 14, 16, l3);
      break;
    case kLinktypeLinuxSll2:
      // Protocol first, then reserved, ifindex, ARPHRD type, packet type, address length and
      // 8 address bytes: 20 bytes in all.
      if (cap < 20) return malformed(pa::kLinkTruncated);
      network = ethertype(data, cap, 0, 20, l3);
      break;
    case kLinktypeNull:
    case kLinktypeLoop:
      if (cap < 4) return malformed(pa::kLinkTruncated);
      network = af_family(data);
      l3 = 4;
      break;
    case kLinktypeRaw:
    case kLinktypeDltRaw12:
    case kLinktypeDltRaw14:
      if (cap < 1) return malformed(pa::kLinkTruncated);
      switch (data[0] >> 4) {
        case 4:
          network = Network::kIpv4;
          break;
        case 6:
          network = Network::kIpv6;
          break;
        default:
          return malformed(pa::kLinkBadIpVersion);
      }
      break;
    case kLinktypeIpv4:
      network = Network::kIpv4;
      break;
    case kLinktypeIpv6:
      network = Network::kIpv6;
      break;
    default:
      counters_.anomaly(pa::kLinkUnsupported);
      return not_ip();
  }
  switch (network) {
    case Network::kIpv4:
      out.time = time;
      return decode_ipv4(data + l3, cap - l3, wire - l3, time, out);
    case Network::kIpv6:
      out.time = time;
      return decode_ipv6(data + l3, cap - l3, wire - l3, time, out);
    case Network::kOther:
      return not_ip();
    case Network::kTruncated:
      return malformed(pa::kLinkTruncated);
    case Network::kTooManyTags:
      return malformed(pa::kLinkTooManyVlanTags);
  }
  return not_ip();
}

DecodeResult PacketDecoder::decode_ipv4(const uint8_t* p, size_t cap, size_t wire, int64_t time,
                                        TcpSegment& out) {
  if (cap < 20) return cut_short(pa::kIpv4Truncated, pa::kIpv4HeaderSnapped, cap, wire, 20);
  if (p[0] >> 4 != 4) return malformed(pa::kIpv4BadVersion);
  const size_t ihl = (p[0] & 0x0F) * 4u;
  if (ihl < 20) return malformed(pa::kIpv4BadIhl);
  size_t total = be16(p + 2);
  if (total == 0) {
    // Segmentation offload: the stack handed a large segment to the NIC, and the capture saw
    // it before the NIC cut it up and filled the lengths in.
    counters_.anomaly(pa::kIpv4TotalLengthZero);
    total = wire;
  }
  // Shorter than the frame: Ethernet padding follows. Longer than the wire: a lie.
  if (total < ihl || total > wire) return malformed(pa::kIpv4BadTotalLength);
  if (ihl > cap) return cut_short(pa::kIpv4Truncated, pa::kIpv4HeaderSnapped, cap, wire, ihl);
  const size_t ip_cap = std::min(cap, total);

  out.family = 4;
  out.src = {};
  out.dst = {};
  std::memcpy(out.src.data(), p + 12, 4);
  std::memcpy(out.dst.data(), p + 16, 4);
  const uint8_t proto = p[9];
  const uint16_t fragment = be16(p + 6);
  const bool more = (fragment & 0x2000) != 0;
  const uint32_t offset = (fragment & 0x1FFFu) * 8;
  if (!more && offset == 0) {
    if (proto != kProtoTcp) return not_tcp();
    return decode_tcp(p + ihl, ip_cap - ihl, total - ihl, out);
  }

  ++counters_.fragments;
  if (proto != kProtoTcp) return not_tcp();  // nobody here reassembles UDP
  if (ip_cap < total) {
    ++counters_.packets_snapped;
    return malformed(pa::kIpv4FragmentSnapped);
  }
  Defragmenter::Fragment f;
  f.family = 4;
  f.proto = proto;
  f.id = be16(p + 4);
  f.key_src = p + 12;
  f.key_dst = p + 16;
  f.src = &out.src;
  f.dst = &out.dst;
  f.offset = offset;
  f.data = p + ihl;
  f.length = total - ihl;
  f.more = more;
  f.time = time;
  Defragmenter::Reassembled r;
  switch (defrag_->add(f, r)) {
    case Defragmenter::Outcome::kHeld:
      return DecodeResult::kFragmentHeld;
    case Defragmenter::Outcome::kRejected:
      return DecodeResult::kMalformed;
    case Defragmenter::Outcome::kComplete:
      break;
  }
  out.src = r.src;
  out.dst = r.dst;
  return decode_tcp(r.data, r.length, r.length, out);
}

DecodeResult PacketDecoder::decode_ipv6(const uint8_t* p, size_t cap, size_t wire, int64_t time,
                                        TcpSegment& out) {
  if (cap < 40) return cut_short(pa::kIpv6Truncated, pa::kIpv6HeaderSnapped, cap, wire, 40);
  if (p[0] >> 4 != 6) return malformed(pa::kIpv6BadVersion);
  const uint8_t nh = p[6];
  size_t total = 40 + size_t{be16(p + 4)};
  if (total == 40 && nh != kIpv6NoNextHeader) {
    if (nh == kIpv6HopByHop && cap >= 48) {
      const size_t end = std::min<size_t>(cap, 40 + (p[41] + 1) * 8u);
      for (size_t i = 42; i < end;) {
        if (p[i] == 0xC2) return malformed(pa::kIpv6Jumbogram);
        if (p[i] == 0) {  // Pad1
          ++i;
        } else {
          if (i + 1 >= end) break;
          i += 2 + size_t{p[i + 1]};
        }
      }
    }
    // Segmentation offload (see IPv4): the frame's length stands in.
    counters_.anomaly(pa::kIpv6PayloadLengthZero);
    total = wire;
  }
  if (total > wire) return malformed(pa::kIpv6BadPayloadLength);

  out.family = 6;
  std::memcpy(out.src.data(), p + 8, 16);
  std::memcpy(out.dst.data(), p + 24, 16);
  return walk_ipv6(p, 40, std::min(cap, total), total, nh, false, time, out);
}

DecodeResult PacketDecoder::walk_ipv6(const uint8_t* p, size_t pos, size_t cap, size_t total,
                                      uint8_t nh, bool reassembled, int64_t time, TcpSegment& out) {
  for (int headers = 0;; ++headers) {
    switch (nh) {
      case kProtoTcp:
        return decode_tcp(p + pos, cap - pos, total - pos, out);
      case kIpv6HopByHop:
        if (headers != 0 || reassembled) return malformed(pa::kIpv6HopByHopNotFirst);
        [[fallthrough]];
      case kIpv6Routing:
      case kIpv6DestOptions:
      case kIpv6Ah:
      case kIpv6Fragment: {
        if (headers >= kMaxExtensionHeaders) return malformed(pa::kIpv6TooManyExtensionHeaders);
        if (pos + 8 > total) return malformed(pa::kIpv6BadExtensionHeader);
        if (pos + 8 > cap) {
          return cut_short(pa::kIpv6Truncated, pa::kIpv6HeaderSnapped, cap, total, pos + 8);
        }
        const uint8_t* h = p + pos;
        const size_t length = nh == kIpv6Fragment ? 8
                              : nh == kIpv6Ah     ? (h[1] + 2) * 4u
                                                  : (h[1] + 1) * 8u;
        if (pos + length > total) return malformed(pa::kIpv6BadExtensionHeader);
        if (pos + length > cap) {
          return cut_short(pa::kIpv6Truncated, pa::kIpv6HeaderSnapped, cap, total, pos + length);
        }
        if (nh == kIpv6Routing) final_destination(h, length, out.dst);
        const uint8_t next = h[0];
        pos += length;
        if (nh == kIpv6Fragment) {
          if (reassembled) return malformed(pa::kIpv6NestedFragment);
          const uint16_t field = be16(h + 2);
          const uint32_t offset = field & 0xFFF8u;
          const bool more = (field & 1) != 0;
          if (offset != 0 || more) {
            ++counters_.fragments;
            if (!may_lead_to_tcp(next)) return not_tcp();
            if (cap < total) {
              ++counters_.packets_snapped;
              return malformed(pa::kIpv6FragmentSnapped);
            }
            Defragmenter::Fragment f;
            f.family = 6;
            f.proto = next;
            f.id = be32(h + 4);
            f.key_src = p + 8;
            f.key_dst = p + 24;
            f.src = &out.src;
            f.dst = &out.dst;
            f.offset = offset;
            f.data = p + pos;
            f.length = total - pos;
            f.more = more;
            f.time = time;
            Defragmenter::Reassembled r;
            switch (defrag_->add(f, r)) {
              case Defragmenter::Outcome::kHeld:
                return DecodeResult::kFragmentHeld;
              case Defragmenter::Outcome::kRejected:
                return DecodeResult::kMalformed;
              case Defragmenter::Outcome::kComplete:
                break;
            }
            out.src = r.src;
            out.dst = r.dst;
            return walk_ipv6(r.data, 0, r.length, r.length, r.proto, true, time, out);
          }
          // An atomic fragment (RFC 6946): offset 0, no more; the packet is whole.
        }
        nh = next;
        break;
      }
      default:  // UDP, ICMPv6, ESP (encrypted), No Next Header, ...
        return not_tcp();
    }
  }
}

DecodeResult PacketDecoder::decode_tcp(const uint8_t* p, size_t cap, size_t len, TcpSegment& out) {
  if (len < 20) return malformed(pa::kTcpTruncated);
  if (cap < 20) return cut_short(pa::kTcpTruncated, pa::kTcpHeaderSnapped, cap, len, 20);
  const size_t header = (p[12] >> 4) * 4u;
  if (header < 20 || header > len) return malformed(pa::kTcpBadDataOffset);
  if (header > cap) return cut_short(pa::kTcpTruncated, pa::kTcpHeaderSnapped, cap, len, header);
  out.src_port = be16(p);
  out.dst_port = be16(p + 2);
  out.seq = be32(p + 4);
  out.ack = be32(p + 8);
  out.flags = p[13];
  out.window = be16(p + 14);
  out.payload = std::string_view(reinterpret_cast<const char*>(p + header), cap - header);
  out.payload_length = static_cast<uint32_t>(len - header);
  if (cap < len) ++counters_.packets_snapped;
  return DecodeResult::kSegment;
}

}  // namespace twin::capture
