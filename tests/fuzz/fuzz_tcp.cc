// Fuzz target: TCP reassembly and the flow engine with the real HTTP analyzers. The input is a
// script of segments between one client and one server (two connections, to exercise the flow
// table), each record:
//   byte 0: TCP flags in bits 0-4 (FIN SYN RST PSH ACK), bit 5 from the client, bit 6 the
//           second connection, bit 7 a long pause (past the idle timeout)
//   byte 1-2: signed offset of the segment's sequence number from the sender's next byte
//   byte 3: payload length (the payload bytes follow)
// Small caps (flows, memory, body) make evictions and truncation happen. Whatever the input,
// the engine must not crash, leak, or hold more than its memory cap after enforcing it.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace twin::capture;
  EngineOptions options;
  options.analyzer.max_body = 64;
  options.analyzer.max_header_bytes = 512;
  options.analyzer.max_pending = 8;
  options.max_flows = 2;
  options.max_memory = 4096;
  options.idle_timeout = 5'000'000'000;
  options.reassembly.max_buffer = 2048;
  Counters counters;
  uint64_t emitted = 0;
  Engine engine(options, counters, [&](twin::traffic::Exchange&& e) {
    ++emitted;
    if (e.request.body.size() > 64) std::abort();
    if (e.response && e.response->body.size() > 64) std::abort();
  });
  uint32_t next[2][2] = {{1000, 50000}, {7000, 90000}};  // [connection][0 client, 1 server]
  int64_t time = 1'700'000'000'000'000'000;
  size_t i = 0;
  while (i + 4 <= size) {
    const uint8_t control = data[i];
    const auto delta = static_cast<int16_t>(static_cast<uint16_t>(data[i + 1] << 8 | data[i + 2]));
    size_t len = data[i + 3];
    i += 4;
    if (len > size - i) len = size - i;
    const int conn = (control >> 6) & 1;
    const bool from_client = (control >> 5) & 1;
    TcpSegment s;
    time += (control & 0x80) ? 10'000'000'000 : 1'000'000;
    s.time = time;
    s.family = 4;
    s.src = {};
    s.dst = {};
    s.src[0] = from_client ? 10 : 10;
    s.src[3] = from_client ? 1 : 2;
    s.dst[0] = 10;
    s.dst[3] = from_client ? 2 : 1;
    const uint16_t client_port = static_cast<uint16_t>(40000 + conn);
    s.src_port = from_client ? client_port : 80;
    s.dst_port = from_client ? 80 : client_port;
    uint32_t& mine = next[conn][from_client ? 0 : 1];
    const uint32_t theirs = next[conn][from_client ? 1 : 0];
    s.seq = mine + static_cast<uint32_t>(static_cast<int32_t>(delta));
    s.ack = theirs;
    s.flags = control & 0x1f;
    s.payload = std::string_view(reinterpret_cast<const char*>(data + i), len);
    s.payload_length = static_cast<uint32_t>(len);
    i += len;
    if (delta == 0) mine += static_cast<uint32_t>(len) + ((s.flags & 0x03) ? 1 : 0);
    engine.add(s);
    if (engine.buffered() > options.max_memory) std::abort();
    if (engine.flow_count() > options.max_flows) std::abort();
  }
  engine.finish(time);
  if (engine.buffered() != 0) std::abort();
  return 0;
}
