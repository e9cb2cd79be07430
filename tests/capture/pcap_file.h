#pragma once
// Writes classic pcap files (nanosecond magic) of Ethernet/IPv4/TCP frames built from the
// segments of a test::Conversation, so that tests can run the whole capture on a file whose
// every byte they know.

#include <cstdint>
#include <string>
#include <vector>

#include "segments.h"

namespace twin::capture::test {

inline void put16(std::string& b, uint16_t v) {
  b.push_back(static_cast<char>(v >> 8));
  b.push_back(static_cast<char>(v));
}
inline void put32(std::string& b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}
inline void put32le(std::string& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
}

/// An Ethernet II frame with IPv4 and TCP headers (no options) around the segment's payload.
inline std::string ethernet_frame(const TcpSegment& s) {
  std::string f;
  f.append("\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
  put16(f, 0x0800);
  const auto total = static_cast<uint16_t>(20 + 20 + s.payload.size());
  f.push_back(0x45);
  f.push_back(0);
  put16(f, total);
  put16(f, 0x1234);
  put16(f, 0x4000);  // DF
  f.push_back(64);
  f.push_back(6);
  put16(f, 0);  // checksum: not verified by the decoder
  f.append(reinterpret_cast<const char*>(s.src.data()), 4);
  f.append(reinterpret_cast<const char*>(s.dst.data()), 4);
  put16(f, s.src_port);
  put16(f, s.dst_port);
  put32(f, s.seq);
  put32(f, s.ack);
  f.push_back(0x50);
  f.push_back(static_cast<char>(s.flags));
  put16(f, 65535);
  put16(f, 0);
  put16(f, 0);
  f.append(s.payload);
  return f;
}

/// A pcap file: global header (link type `linktype`, nanosecond timestamps) and one record per
/// frame. `offsets`, when given, receives each record's byte offset.
inline std::string pcap_file(const std::vector<std::pair<int64_t, std::string>>& frames,
                             uint32_t linktype = 1, std::vector<size_t>* offsets = nullptr) {
  std::string b;
  put32le(b, 0xa1b23c4d);
  b.append("\x02\x00\x04\x00", 4);
  put32le(b, 0);
  put32le(b, 0);
  put32le(b, 262144);
  put32le(b, linktype);
  for (const auto& [time, frame] : frames) {
    if (offsets) offsets->push_back(b.size());
    put32le(b, static_cast<uint32_t>(time / 1'000'000'000));
    put32le(b, static_cast<uint32_t>(time % 1'000'000'000));
    put32le(b, static_cast<uint32_t>(frame.size()));
    put32le(b, static_cast<uint32_t>(frame.size()));
    b.append(frame);
  }
  return b;
}

inline std::vector<std::pair<int64_t, std::string>> frames_of(const Conversation& c) {
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& s : c.build()) out.emplace_back(s.time, ethernet_frame(s));
  return out;
}

}  // namespace twin::capture::test
