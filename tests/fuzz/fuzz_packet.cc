// Fuzzes the packet decoder: link layers, IPv4/IPv6 with defragmentation, TCP headers.
//
// Input: one byte choosing the link type, one byte choosing the defragmentation limits, then
// packets, each as [length: 2 bytes LE][wire: 1 byte][dt: 1 byte][length bytes] (a short last
// packet takes what is left). All packets go through one decoder, so fragments of different
// packets meet. `wire` & 0x7F bytes are added to the wire length (snapped packets), and its top
// bit calls expire() after the packet; `dt` advances the packet clock by dt × 0.25 s, so the
// timeout (2..32 s) can pass between fragments. Each packet is copied to a buffer of exactly its
// length, so a read past it is caught by ASan.

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "packet.h"

namespace {

constexpr int kLinktypes[] = {
    twin::capture::kLinktypeNull,
    twin::capture::kLinktypeEthernet,
    twin::capture::kLinktypeDltRaw12,
    twin::capture::kLinktypeDltRaw14,
    twin::capture::kLinktypeRaw,
    twin::capture::kLinktypeLoop,
    twin::capture::kLinktypeLinuxSll,
    twin::capture::kLinktypeIpv4,
    twin::capture::kLinktypeIpv6,
    twin::capture::kLinktypeLinuxSll2,
    105,  // unsupported (802.11)
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace twin::capture;
  if (size < 2) return 0;
  const int linktype = kLinktypes[data[0] % (sizeof kLinktypes / sizeof kLinktypes[0])];
  DecoderOptions options;
  options.max_fragment_bytes = size_t{1} << (8 + (data[1] & 0x0F));  // 256 B .. 8 MiB
  options.fragment_timeout = int64_t{2'000'000'000} * ((data[1] >> 4) + 1);
  Counters counters;
  PacketDecoder decoder(linktype, counters, options);
  TcpSegment segment;
  int64_t time = 1'700'000'000'000'000'000;
  size_t pos = 2;
  while (pos + 4 <= size) {
    size_t length = data[pos] | size_t{data[pos + 1]} << 8;
    const uint8_t wire = data[pos + 2];
    time += int64_t{data[pos + 3]} * 250'000'000;
    pos += 4;
    if (length > size - pos) length = size - pos;
    auto packet = std::make_unique<uint8_t[]>(length);
    if (length > 0) std::memcpy(packet.get(), data + pos, length);
    pos += length;

    const uint32_t caplen = static_cast<uint32_t>(length);
    const DecodeResult result =
        decoder.decode(packet.get(), caplen, caplen + (wire & 0x7F), time, segment);
    if (result == DecodeResult::kSegment) {
      if (segment.family != 4 && segment.family != 6) abort();
      if (segment.payload.size() > segment.payload_length) abort();
      if (segment.time != time) abort();
      // Touch every payload byte: ASan checks the view is inside a live buffer.
      unsigned sum = 0;
      for (char c : segment.payload) sum += static_cast<unsigned char>(c);
      volatile unsigned sink = sum;
      (void)sink;
    }
    if (wire & 0x80) decoder.expire(time);
    if (decoder.buffered() > options.max_fragment_bytes) abort();
  }
  decoder.expire(time + options.fragment_timeout + 1);
  if (decoder.buffered() != 0) abort();
  return 0;
}
