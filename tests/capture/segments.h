#pragma once
// Builds TCP conversations as decoded segments (what PacketDecoder hands the engine), for the
// engine tests and the fuzz target: a client and a server with their sequence numbers, so a test
// says "client sends X" and gets a segment with the right seq/ack.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "packet.h"

namespace twin::capture::test {

inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

/// Segments of one connection, in the order the test adds them. Payload bytes are owned here
/// (the segments' views point into `payloads`, which never reallocates after build()).
class Conversation {
 public:
  Conversation(uint32_t client_ip, uint16_t client_port, uint32_t server_ip, uint16_t server_port,
               uint32_t client_isn = 1000, uint32_t server_isn = 500000)
      : cip_(client_ip),
        sip_(server_ip),
        cport_(client_port),
        sport_(server_port),
        cseq_(client_isn),
        sseq_(server_isn) {}

  int64_t time = 1'700'000'000'000'000'000;  // advanced by 1 ms per segment

  void handshake() {
    add(true, kSyn, "", cseq_, 0);
    ++cseq_;
    add(false, kSyn | kAck, "", sseq_, cseq_);
    ++sseq_;
    add(true, kAck, "", cseq_, sseq_);
  }
  /// The client sends `bytes` in segments of at most `mss` bytes.
  void client(std::string_view bytes, size_t mss = 1460) { send(true, bytes, mss); }
  void server(std::string_view bytes, size_t mss = 1460) { send(false, bytes, mss); }
  void client_fin() { fin(true); }
  void server_fin() { fin(false); }
  void client_rst() { add(true, kRst | kAck, "", cseq_, sseq_); }
  /// Skips `n` bytes of the client's (or server's) stream without a segment: a capture loss.
  void lose(bool from_client, uint32_t n) { (from_client ? cseq_ : sseq_) += n; }
  /// A pure ACK from one side acknowledging everything the other side sent.
  void ack(bool from_client) {
    add(from_client, kAck, "", from_client ? cseq_ : sseq_, from_client ? sseq_ : cseq_);
  }

  struct Planned {
    bool from_client;
    uint8_t flags;
    std::string payload;
    uint32_t seq, ack;
    int64_t time;
  };
  std::vector<Planned> planned;

  /// The segments, views into `planned`.
  std::vector<TcpSegment> build() const {
    std::vector<TcpSegment> out;
    for (const Planned& p : planned) {
      TcpSegment s;
      s.time = p.time;
      s.family = 4;
      put(s.src, p.from_client ? cip_ : sip_);
      put(s.dst, p.from_client ? sip_ : cip_);
      s.src_port = p.from_client ? cport_ : sport_;
      s.dst_port = p.from_client ? sport_ : cport_;
      s.seq = p.seq;
      s.ack = p.ack;
      s.flags = p.flags;
      s.payload = p.payload;
      s.payload_length = static_cast<uint32_t>(p.payload.size());
      out.push_back(s);
    }
    return out;
  }

 private:
  static void put(std::array<uint8_t, 16>& a, uint32_t ip) {
    a = {};
    a[0] = static_cast<uint8_t>(ip >> 24);
    a[1] = static_cast<uint8_t>(ip >> 16);
    a[2] = static_cast<uint8_t>(ip >> 8);
    a[3] = static_cast<uint8_t>(ip);
  }
  void add(bool from_client, uint8_t flags, std::string_view payload, uint32_t seq, uint32_t ack) {
    planned.push_back({from_client, flags, std::string(payload), seq, ack, time});
    time += 1'000'000;
  }
  void send(bool from_client, std::string_view bytes, size_t mss) {
    for (size_t i = 0; i < bytes.size(); i += mss) {
      auto part = bytes.substr(i, mss);
      uint32_t& seq = from_client ? cseq_ : sseq_;
      add(from_client, kAck | kPsh, part, seq, from_client ? sseq_ : cseq_);
      seq += static_cast<uint32_t>(part.size());
    }
  }
  void fin(bool from_client) {
    uint32_t& seq = from_client ? cseq_ : sseq_;
    add(from_client, kFin | kAck, "", seq, from_client ? sseq_ : cseq_);
    ++seq;
  }

  uint32_t cip_, sip_;
  uint16_t cport_, sport_;
  uint32_t cseq_, sseq_;
};

}  // namespace twin::capture::test
