// libFuzzer target for the HTTP/2 analyzer (capture/src/http2.h).
//
// Input encoding (the seeds in corpus/http2 are written by the DISABLED_WriteFuzzSeeds test of
// tests/capture/http2_test.cc):
//   byte 0     options: bit 0 use the h2c-upgrade constructor (stream 1 pre-opened);
//              bit 1 small limits (max_body 64, max_header_bytes 512, max_pending 3);
//              bit 2 prepend the connection preface to the client's bytes;
//              bit 3 finish() with end_of_capture
//   then records, each starting with a tag byte t:
//     t & 0x80 the direction: 0 client → server, 1 server → client
//     t & 0x40 an event, t & 0x3f: 0 gap, 1 end (FIN), 2 end (RST), others nothing
//     else     data: t & 0x3f is the length, 63 meaning "the next two bytes, little-endian";
//              that many bytes (fewer at the end of the input) go to one data() call
//   Each record's time is its index. finish() follows the last record.
//
// Besides "no crash, no UB, no leak", the target checks two properties and traps on failure:
// feeding every data() record byte by byte gives the same exchanges and anomalies, and
// buffered() stays under a bound set by the limits, whatever the input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http2.h"

namespace {

using twin::capture::AnalyzerContext;
using twin::capture::AnalyzerOptions;
using twin::capture::Counters;
using twin::capture::Direction;
using twin::capture::H2cUpgrade;
using twin::capture::Http2Analyzer;

struct Result {
  std::vector<twin::traffic::Exchange> exchanges;
  Counters counters;
  size_t peak = 0;
};

void run(const uint8_t* data, size_t size, bool bytewise, Result& out) {
  const uint8_t options_byte = data[0];
  AnalyzerOptions options;
  if (options_byte & 2) {
    options.max_body = 64;
    options.max_header_bytes = 512;
    options.max_pending = 3;
  }
  AnalyzerContext ctx{options, out.counters,
                      [&](twin::traffic::Exchange&& e) { out.exchanges.push_back(std::move(e)); }};
  std::unique_ptr<Http2Analyzer> a;
  if (options_byte & 1) {
    H2cUpgrade up;
    up.exchange.request.method = "GET";
    up.exchange.request.target = "/";
    up.exchange.request.headers = {{"Host", "fuzz"}, {"Upgrade", "h2c"}};
    up.exchange.flags = twin::traffic::kFlagUpgrade;
    up.http2_settings = "AAMAAABkAAQAAP__AAEAACAA";
    a = std::make_unique<Http2Analyzer>(std::move(ctx), std::move(up));
  } else {
    a = std::make_unique<Http2Analyzer>(std::move(ctx));
  }
  auto feed = [&](Direction dir, std::string_view bytes, int64_t time) {
    if (!bytewise) {
      a->data(dir, bytes, time);
    } else {
      for (size_t i = 0; i < bytes.size(); ++i) a->data(dir, bytes.substr(i, 1), time);
    }
  };
  if (options_byte & 4) feed(Direction::kToServer, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0);
  size_t i = 1;
  int64_t time = 1;
  while (i < size) {
    const uint8_t tag = data[i++];
    const Direction dir = (tag & 0x80) ? Direction::kToClient : Direction::kToServer;
    if (tag & 0x40) {
      switch (tag & 0x3f) {
        case 0:
          a->gap(dir, 1, time);
          break;
        case 1:
          a->end(dir, false, time);
          break;
        case 2:
          a->end(dir, true, time);
          break;
        default:
          break;
      }
    } else {
      size_t len = tag & 0x3f;
      if (len == 63) {
        if (size - i < 2) break;
        len = data[i] | (size_t{data[i + 1]} << 8);
        i += 2;
      }
      if (len > size - i) len = size - i;
      feed(dir, std::string_view(reinterpret_cast<const char*>(data + i), len), time);
      i += len;
    }
    out.peak = std::max(out.peak, a->buffered());
    ++time;
  }
  a->finish(time, (options_byte & 8) != 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  Result whole;
  run(data, size, false, whole);
  Result bytes;
  run(data, size, true, bytes);
  if (whole.exchanges != bytes.exchanges || whole.counters.anomalies != bytes.counters.anomalies ||
      whole.counters.bodies_truncated != bytes.counters.bodies_truncated) {
    __builtin_trap();
  }
  // Per stream: two bodies and the decoded headers; per direction: one HPACK table (64 KiB at
  // most with these limits); the stream records themselves.
  const size_t streams = (data[0] & 2) ? 3 : 1024;
  const size_t max_body = (data[0] & 2) ? 64 : (1u << 20);
  const size_t max_headers = (data[0] & 2) ? 512 : (256u << 10);
  const size_t bound = streams * (2 * max_body + 4 * max_headers + 2048) + 2 * (1u << 20);
  if (whole.peak > bound || bytes.peak > bound) __builtin_trap();
  return 0;
}
