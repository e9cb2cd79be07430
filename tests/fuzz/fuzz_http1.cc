// Fuzz target for the HTTP/1.x analyzer. The input is a conversation script: plain bytes are
// data of the current direction, and 0xFF starts a command (so that seeds stay readable HTTP):
//   FF '>'   following bytes go to the server (the default)    FF '<'   ... to the client
//   FF '|'   end the current data() call (the next one gets a later time)
//   FF 'g' n a gap of n bytes (n = 255: 2^40) in the current direction
//   FF 'f'   FIN of the current direction                      FF 'r'   RST of it
//   FF 'm'   the connection is midstream (anywhere in the script)
//   FF 'o' b limits: b&7 picks max_body, (b>>3)&7 max_header_bytes, b>>6 max_pending
//   FF '!'   finish() is the end of the capture
//   FF FF    a literal 0xFF byte; FF followed by anything else is ignored
// The script is run twice, with its data calls whole and byte by byte: both runs must give
// the same exchanges, counters, state and h2c hand-over (the parser may not depend on how the
// bytes were split), and every exchange must respect the limits.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "http1.h"

namespace {

using twin::capture::AnalyzerContext;
using twin::capture::AnalyzerOptions;
using twin::capture::Counters;
using twin::capture::Direction;
using twin::capture::H2cUpgrade;
using twin::capture::Http1Analyzer;
using twin::traffic::Exchange;

struct Event {
  enum Kind : uint8_t { kData, kGap, kEnd } kind;
  Direction dir;
  std::string bytes;
  uint64_t length;
  bool reset;
  int64_t time;
};

struct Script {
  AnalyzerOptions options;
  bool midstream = false;
  bool end_of_capture = false;
  std::vector<Event> events;
};

Script parse(const uint8_t* data, size_t size) {
  Script sc;
  Direction dir = Direction::kToServer;
  std::string piece;
  int64_t time = 1'000'000;
  auto flush = [&] {
    if (!piece.empty()) sc.events.push_back({Event::kData, dir, std::move(piece), 0, false, time});
    piece.clear();
    time += 1000;
  };
  for (size_t i = 0; i < size; ++i) {
    if (data[i] != 0xFF || i + 1 == size) {
      piece += static_cast<char>(data[i]);
      continue;
    }
    const uint8_t cmd = data[++i];
    switch (cmd) {
      case 0xFF:
        piece += '\xFF';
        break;
      case '>':
      case '<':
        flush();
        dir = cmd == '>' ? Direction::kToServer : Direction::kToClient;
        break;
      case '|':
        flush();
        break;
      case 'g':
        if (i + 1 < size) {
          flush();
          const uint8_t n = data[++i];
          sc.events.push_back(
              {Event::kGap, dir, {}, n == 255 ? uint64_t{1} << 40 : n, false, time});
        }
        break;
      case 'f':
      case 'r':
        flush();
        sc.events.push_back({Event::kEnd, dir, {}, 0, cmd == 'r', time});
        break;
      case 'm':
        sc.midstream = true;
        break;
      case '!':
        sc.end_of_capture = true;
        break;
      case 'o':
        if (i + 1 < size) {
          const uint8_t b = data[++i];
          static constexpr size_t kBody[8] = {0, 1, 5, 16, 64, 1024, 65536, 1u << 20};
          static constexpr size_t kHeader[8] = {0, 16, 40, 64, 256, 4096, 65536, 256u << 10};
          static constexpr size_t kPending[4] = {1, 2, 4, 1024};
          sc.options.max_body = kBody[b & 7];
          sc.options.max_header_bytes = kHeader[(b >> 3) & 7];
          sc.options.max_pending = kPending[b >> 6];
        }
        break;
      default:
        break;
    }
  }
  flush();
  return sc;
}

struct Outcome {
  std::vector<Exchange> exchanges;
  Counters counters;
  twin::capture::Analyzer::State state{};
  bool upgraded = false;
  H2cUpgrade upgrade;
};

void run(const Script& sc, bool bytewise, Outcome& o) {
  AnalyzerContext ctx{sc.options, o.counters,
                      [&o](Exchange&& x) { o.exchanges.push_back(std::move(x)); }, sc.midstream};
  Http1Analyzer a(std::move(ctx));
  const size_t bound = 4 * sc.options.max_header_bytes + (3u << 20) +
                       (sc.options.max_pending + 2) * (2 * sc.options.max_body + (256u << 10));
  auto feed = [&](Direction d, std::string_view b, int64_t t) {
    if (o.upgraded) {
      std::string& rest =
          d == Direction::kToServer ? o.upgrade.rest_to_server : o.upgrade.rest_to_client;
      int64_t& rt =
          d == Direction::kToServer ? o.upgrade.rest_to_server_time : o.upgrade.rest_to_client_time;
      if (rest.empty()) rt = t;
      rest.append(b);
      return;
    }
    if (a.state() != twin::capture::Analyzer::State::kActive) return;
    a.data(d, b, t);
    if (a.buffered() > bound) std::abort();
    if (a.state() == twin::capture::Analyzer::State::kUpgradeH2) {
      o.upgraded = true;
      o.upgrade = a.take_upgrade();
    }
  };
  for (const Event& e : sc.events) {
    switch (e.kind) {
      case Event::kData:
        if (bytewise) {
          for (size_t k = 0; k < e.bytes.size(); ++k) feed(e.dir, e.bytes.substr(k, 1), e.time);
        } else {
          feed(e.dir, e.bytes, e.time);
        }
        break;
      case Event::kGap:
        a.gap(e.dir, e.length, e.time);
        break;
      case Event::kEnd:
        a.end(e.dir, e.reset, e.time);
        break;
    }
  }
  a.finish(9'000'000'000, sc.end_of_capture);
  o.state = a.state();
  (void)a.take_upgrade();
}

void check_limits(const Script& sc, const Outcome& o) {
  uint64_t prev_seq = 0;
  bool first = true;
  for (const Exchange& x : o.exchanges) {
    if (!first && x.seq <= prev_seq) std::abort();
    first = false;
    prev_seq = x.seq;
    if (x.request.body.size() > sc.options.max_body) std::abort();
    if (x.request.body_size < x.request.body.size()) std::abort();
    if (x.response) {
      if (x.response->body.size() > sc.options.max_body) std::abort();
      if (x.response->body_size < x.response->body.size()) std::abort();
      if (x.response->status < 0 || x.response->status > 999) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const Script sc = parse(data, size);
  Outcome whole;
  run(sc, false, whole);
  check_limits(sc, whole);
  Outcome bytes;
  run(sc, true, bytes);
  if (whole.exchanges != bytes.exchanges) std::abort();
  if (whole.counters.to_json() != bytes.counters.to_json()) std::abort();
  if (whole.state != bytes.state || whole.upgraded != bytes.upgraded) std::abort();
  const H2cUpgrade& a = whole.upgrade;
  const H2cUpgrade& b = bytes.upgrade;
  if (!(a.exchange == b.exchange) || a.http2_settings != b.http2_settings ||
      a.rest_to_server != b.rest_to_server || a.rest_to_client != b.rest_to_client ||
      a.rest_to_server_time != b.rest_to_server_time ||
      a.rest_to_client_time != b.rest_to_client_time) {
    std::abort();
  }
  return 0;
}
