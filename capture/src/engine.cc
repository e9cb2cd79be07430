#include "engine.h"

#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>

#include "http1.h"
#include "http2.h"

namespace twin::capture {

namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpAck = 0x10;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr int64_t kSweepInterval = 1'000'000'000;
constexpr size_t kMaxEarly = 64u << 10;

/// True when a server's first bytes are an HTTP/2 SETTINGS frame (RFC 9113 3.4: the server
/// preface), which a server may send before the client's preface arrives.
bool http2_settings_first(std::string_view b) {
  if (b.size() < 9) return false;
  const auto u = [&](size_t i) { return static_cast<uint8_t>(b[i]); };
  const uint32_t length = u(0) << 16 | u(1) << 8 | u(2);
  return u(3) == 0x4 && u(4) == 0 && (u(5) | u(6) | u(7) | u(8)) == 0 && length % 6 == 0 &&
         length <= 16384;
}

int index(Direction d) { return static_cast<int>(d); }
Direction other(Direction d) {
  return d == Direction::kToServer ? Direction::kToClient : Direction::kToServer;
}

/// True when `bytes` start like something a client sends first: a request line's method
/// (upper-case token then a space) or the HTTP/2 preface.
bool looks_like_request(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size() && i < 20 && bytes[i] >= 'A' && bytes[i] <= 'Z') ++i;
  return i > 0 && i < bytes.size() && bytes[i] == ' ';
}

traffic::Endpoint endpoint(uint8_t family, const std::array<uint8_t, 16>& address, uint16_t port) {
  traffic::Endpoint e;
  e.family = family;
  e.address = address;
  e.port = port;
  return e;
}

}  // namespace

/// One direction of a flow as the reassembler's consumer.
class Engine::Side final : public StreamConsumer {
 public:
  Side(Engine& engine, Flow& flow, Direction dir) : engine_(engine), flow_(flow), dir_(dir) {}
  void on_data(std::string_view bytes, int64_t time) override;
  void on_gap(uint64_t length, int64_t time) override;
  void on_end(bool reset, int64_t time) override;

 private:
  Engine& engine_;
  Flow& flow_;
  Direction dir_;
};

/// A segment held back because it acknowledges bytes of the other direction that have not been
/// delivered yet: on a multi-core host the capture may see a response before the request it
/// answers (each CPU hands its packets to the ring on its own). The ACK number says what the
/// sender had received, so the engine restores cause before effect.
struct Engine::Deferred {
  uint32_t seq;
  uint32_t ack;
  uint8_t flags;
  uint32_t length;
  std::string payload;
  int64_t time;
};

struct Engine::Flow {
  enum class Mode : uint8_t { kSniff, kAnalyze, kIgnore, kClosed };

  Flow(Engine& engine)
      : sides{Side(engine, *this, Direction::kToServer),
              Side(engine, *this, Direction::kToClient)} {}

  FlowKey key;
  uint64_t session = 0;
  bool client_is_a = true;
  bool midstream = false;
  bool unsampled = false;
  Mode mode = Mode::kSniff;
  traffic::Endpoint client;
  traffic::Endpoint server;
  TcpReassembler streams[2];  // by Direction
  Side sides[2];
  bool ended[2] = {false, false};
  AnalyzerPtr analyzer;
  std::string sniff;  // the first bytes to the server while telling HTTP/1 from the h2 preface
  std::string early;  // server bytes sent before the client spoke (an HTTP/2 server's SETTINGS)
  int64_t early_time = 0;
  std::deque<Deferred> deferred[2];  // by Direction, in arrival order
  size_t deferred_bytes = 0;
  int64_t last_seen = 0;
  int64_t last_time[2] = {0, 0};        // by Direction: the latest time of bytes delivered
  std::list<Flow*>::iterator position;  // in open_ or closed_
  size_t accounted = 0;                 // bytes counted in Engine::buffered_
};

void Engine::Side::on_data(std::string_view bytes, int64_t time) {
  int64_t& last = flow_.last_time[index(dir_)];
  last = std::max(last, time);
  engine_.data(flow_, dir_, bytes, time);
}

void Engine::Side::on_gap(uint64_t length, int64_t time) {
  if (flow_.analyzer) {
    flow_.analyzer->gap(dir_, length, time);
    engine_.after_feed(flow_);
  } else if (flow_.mode == Flow::Mode::kSniff) {
    // A hole before the protocol is known (the client's first segment was lost, say): what
    // follows is taken as a connection picked up midstream, so HTTP/1 resynchronises at the
    // next message and HTTP/2 is recognised by its frames.
    engine_.counters_.anomaly("tcp.gap_before_protocol");
    flow_.midstream = true;
    flow_.sniff.clear();
  }
}

void Engine::Side::on_end(bool reset, int64_t time) {
  flow_.ended[index(dir_)] = true;
  if (flow_.mode == Flow::Mode::kSniff && !flow_.sniff.empty() && dir_ == Direction::kToServer) {
    // The client said less than a preface and closed: let HTTP/1 judge those bytes.
    engine_.choose_analyzer(flow_, dir_, {});
  }
  if (flow_.analyzer) {
    flow_.analyzer->end(dir_, reset, time);
    engine_.after_feed(flow_);
  }
}

size_t Engine::FlowKeyHash::operator()(const FlowKey& k) const {
  uint8_t buf[37];
  std::memcpy(buf, k.a.data(), 16);
  std::memcpy(buf + 16, k.b.data(), 16);
  std::memcpy(buf + 32, &k.a_port, 2);
  std::memcpy(buf + 34, &k.b_port, 2);
  buf[36] = k.family;
  return static_cast<size_t>(XXH3_64bits(buf, sizeof buf));
}

Engine::Engine(EngineOptions options, Counters& counters, ExchangeSink out)
    : options_(std::move(options)), counters_(counters), out_(std::move(out)) {
  sample_seed_ = XXH3_64bits(options_.sample_key.data(), options_.sample_key.size());
  flows_.reserve(std::min<size_t>(options_.max_flows, 1u << 16));
}

Engine::~Engine() = default;

bool Engine::is_server_port(uint16_t port) const {
  return std::find(options_.server_ports.begin(), options_.server_ports.end(), port) !=
         options_.server_ports.end();
}

bool Engine::sampled(const FlowKey& key) const {
  if (options_.sample_rate >= 1.0) return true;
  if (options_.sample_rate <= 0.0) return false;
  // Keyed by the connection's endpoints in canonical order, so every agent that sees the
  // connection, in either direction, makes the same choice for the same key.
  uint8_t buf[37];
  std::memcpy(buf, key.a.data(), 16);
  std::memcpy(buf + 16, key.b.data(), 16);
  buf[32] = static_cast<uint8_t>(key.a_port >> 8);
  buf[33] = static_cast<uint8_t>(key.a_port);
  buf[34] = static_cast<uint8_t>(key.b_port >> 8);
  buf[35] = static_cast<uint8_t>(key.b_port);
  buf[36] = key.family;
  const uint64_t h = XXH3_64bits_withSeed(buf, sizeof buf, sample_seed_);
  // Compare the top 53 bits with the rate scaled to 2^53: exact in a double.
  const double threshold = std::ldexp(options_.sample_rate, 53);
  return static_cast<double>(h >> 11) < threshold;
}

Engine::Flow* Engine::create(const FlowKey& key, const TcpSegment& s, bool from_a) {
  auto flow = std::make_unique<Flow>(*this);
  Flow& f = *flow;
  f.key = key;
  f.session = next_session_++;
  const bool syn = (s.flags & kTcpSyn) != 0;
  const bool ack = (s.flags & kTcpAck) != 0;
  bool sender_is_client;
  if (syn) {
    sender_is_client = !ack;  // a SYN opens, a SYN-ACK answers
  } else {
    // Picked up midstream: the bytes say who speaks, then the configured server ports, then
    // the lower port (servers listen on low ports, clients use ephemeral ones).
    std::string_view p = s.payload;
    if (p.starts_with("HTTP/")) {
      sender_is_client = false;
    } else if (looks_like_request(p)) {
      sender_is_client = true;
    } else if (is_server_port(s.dst_port) != is_server_port(s.src_port)) {
      sender_is_client = is_server_port(s.dst_port);
    } else {
      sender_is_client = s.dst_port <= s.src_port;
    }
  }
  f.client_is_a = (sender_is_client == from_a);
  f.midstream = !syn;
  if (sender_is_client) {
    f.client = endpoint(s.family, s.src, s.src_port);
    f.server = endpoint(s.family, s.dst, s.dst_port);
  } else {
    f.client = endpoint(s.family, s.dst, s.dst_port);
    f.server = endpoint(s.family, s.src, s.src_port);
  }
  ++counters_.flows;
  if (f.midstream) ++counters_.flows_midstream;
  if (!sampled(key)) {
    ++counters_.flows_unsampled;
    f.unsampled = true;
    f.mode = Flow::Mode::kIgnore;
  }
  f.last_seen = s.time;
  f.position = open_.insert(open_.end(), &f);
  Flow* raw = flow.get();
  flows_.emplace(key, std::move(flow));
  return raw;
}

void Engine::touch(Flow& flow, int64_t time) {
  flow.last_seen = std::max(flow.last_seen, time);
  auto& list = flow.mode == Flow::Mode::kClosed ? closed_ : open_;
  list.splice(list.end(), list, flow.position);
}

void Engine::add(const TcpSegment& s) {
  if (s.time > last_time_) last_time_ = s.time;
  if (last_time_ >= next_sweep_) {
    tick(last_time_);
    next_sweep_ = last_time_ + kSweepInterval;
  }

  FlowKey key;
  key.family = s.family;
  const int order = std::memcmp(s.src.data(), s.dst.data(), 16);
  const bool from_a = order < 0 || (order == 0 && s.src_port <= s.dst_port);
  if (from_a) {
    key.a = s.src;
    key.a_port = s.src_port;
    key.b = s.dst;
    key.b_port = s.dst_port;
  } else {
    key.a = s.dst;
    key.a_port = s.dst_port;
    key.b = s.src;
    key.b_port = s.src_port;
  }
  const bool syn = (s.flags & kTcpSyn) != 0;
  const bool ack = (s.flags & kTcpAck) != 0;

  Flow* flow = nullptr;
  if (auto it = flows_.find(key); it != flows_.end()) {
    flow = it->second.get();
    if (flow->mode == Flow::Mode::kClosed) {
      if (syn && !ack) {
        erase(*flow);  // the ports are reused by a new connection
        flow = nullptr;
      } else {
        // The last ACKs and retransmissions of a closed connection.
        if (s.payload_length > 0) ++counters_.segments_retransmitted;
        touch(*flow, s.time);
        return;
      }
    }
  }
  if (flow == nullptr) {
    // A segment with neither SYN nor bytes (an ACK, a FIN, a RST) of a connection we do not
    // know carries nothing to reassemble: it does not start a flow.
    if (!syn && s.payload_length == 0) return;
    flow = create(key, s, from_a);
  } else {
    touch(*flow, s.time);
  }
  Flow& f = *flow;
  if (f.unsampled) ++counters_.packets_filtered;

  const Direction dir = (from_a == f.client_is_a) ? Direction::kToServer : Direction::kToClient;
  TcpReassembler& stream = f.streams[index(dir)];
  uint32_t seq = s.seq;
  if (syn) {
    if (!stream.started()) stream.start(s.seq + 1);
    seq = s.seq + 1;  // a SYN's own sequence number is not a byte (TFO data follows it)
    if (ack) {
      TcpReassembler& peer = f.streams[index(other(dir))];
      if (!peer.started()) peer.start(s.ack);  // the SYN was missed; the SYN-ACK tells
    }
  } else if (!stream.started()) {
    stream.start(s.seq);
  }

  if ((s.flags & kTcpRst) != 0) {
    // A reset ends both directions at once, after what was held back.
    release(f, s.time, true);
    for (Direction d : {Direction::kToServer, Direction::kToClient}) {
      if (f.mode == Flow::Mode::kIgnore) {
        f.ended[index(d)] = true;
      } else if (!f.streams[index(d)].ended()) {
        if (f.streams[index(d)].started()) {
          f.streams[index(d)].reset(s.time, f.sides[index(d)], counters_);
        } else {
          f.sides[index(d)].on_end(true, s.time);
        }
      }
    }
  } else if (f.mode == Flow::Mode::kIgnore) {
    if ((s.flags & kTcpFin) != 0) f.ended[index(dir)] = true;
  } else {
    auto& held = f.deferred[index(dir)];
    const bool carries = s.payload_length > 0 || (s.flags & kTcpFin) != 0;
    if (carries &&
        (!held.empty() || (ack && !f.streams[index(other(dir))].delivered_through(s.ack)))) {
      held.push_back(
          Deferred{seq, s.ack, s.flags, s.payload_length, std::string(s.payload), s.time});
      f.deferred_bytes += s.payload.size();
    } else {
      apply(f, dir, seq, s.ack, s.flags, s.payload, s.payload_length, s.time);
    }
    release(f, s.time, f.deferred_bytes > options_.reassembly.max_buffer);
  }
  if (f.mode == Flow::Mode::kIgnore) {
    f.streams[0].clear();
    f.streams[1].clear();
  }
  if (f.ended[0] && f.ended[1]) {
    close(f, s.time, false, false);
  } else {
    account(f);
  }
  enforce_limits(s.time);
}

void Engine::apply(Flow& f, Direction dir, uint32_t seq, uint32_t ack, uint8_t flags,
                   std::string_view payload, uint32_t length, int64_t time) {
  if (f.mode == Flow::Mode::kIgnore || f.mode == Flow::Mode::kClosed) {
    if ((flags & kTcpFin) != 0) f.ended[index(dir)] = true;
    return;
  }
  f.streams[index(dir)].add(seq, payload, length, (flags & kTcpFin) != 0, time, f.sides[index(dir)],
                            counters_, options_.reassembly);
  if ((flags & kTcpAck) != 0 && f.mode != Flow::Mode::kIgnore) {
    f.streams[index(other(dir))].acked(ack, time, f.sides[index(other(dir))], counters_,
                                       options_.reassembly);
  }
}

void Engine::release(Flow& f, int64_t now, bool all) {
  // Each round applies one held segment: of the directions whose first held segment may go
  // (its acknowledged bytes arrived, or its grace is over), the one captured first, so that a
  // segment released by its grace does not overtake what the other direction holds.
  for (;;) {
    int pick = -1;
    bool causal = false;
    for (Direction d : {Direction::kToServer, Direction::kToClient}) {
      const auto& held = f.deferred[index(d)];
      if (held.empty()) continue;
      const Deferred& x = held.front();
      const bool caught_up =
          (x.flags & kTcpAck) == 0 || f.streams[index(other(d))].delivered_through(x.ack);
      const bool ready = caught_up || all || now - x.time >= options_.reassembly.ack_grace;
      if (ready && (pick < 0 || x.time < f.deferred[pick].front().time)) {
        pick = index(d);
        causal = caught_up;
      }
    }
    if (pick < 0) return;
    Deferred item = std::move(f.deferred[pick].front());
    f.deferred[pick].pop_front();
    f.deferred_bytes -= item.payload.size();
    // Packet times can run slightly backwards across directions when several CPUs hand
    // packets to the capture (a response stamped microseconds before the request it answers).
    // A segment that waited for the bytes it acknowledges comes after them in time too, so that
    // "this response started before that request" keeps its meaning for the analyzers.
    int64_t time = item.time;
    if (causal) time = std::max(time, f.last_time[1 - pick]);
    apply(f, static_cast<Direction>(pick), item.seq, item.ack, item.flags, item.payload,
          item.length, time);
  }
}

void Engine::data(Flow& flow, Direction dir, std::string_view bytes, int64_t time) {
  if (flow.mode == Flow::Mode::kIgnore || flow.mode == Flow::Mode::kClosed) return;
  if (!flow.analyzer) {
    if (dir == Direction::kToClient && !flow.midstream) {
      // The server spoke first. An HTTP/2 server may send its SETTINGS at once (nghttpd
      // does): hold those bytes until the client's first bytes choose the analyzer. Anything
      // else is not HTTP (SMTP, MySQL, ...).
      if (flow.early.size() + bytes.size() <= kMaxEarly &&
          (!flow.early.empty() || http2_settings_first(bytes))) {
        if (flow.early.empty()) flow.early_time = time;
        flow.early.append(bytes);
        return;
      }
      ++counters_.flows_not_http;
      give_up(flow);
      return;
    }
    if (dir == Direction::kToServer && !flow.midstream) {
      // The client's first bytes decide: the HTTP/2 preface, or HTTP/1. Wait for 24 bytes only
      // while they could still be a preface.
      if (flow.sniff.empty() && bytes.size() >= kPreface.size()) {
        choose_analyzer(flow, dir, bytes);
      } else {
        flow.sniff.append(bytes);
        const size_t n = std::min(flow.sniff.size(), kPreface.size());
        if (flow.sniff.size() < kPreface.size() && flow.sniff.compare(0, n, kPreface, 0, n) == 0) {
          return;  // still a possible preface
        }
        std::string first = std::move(flow.sniff);
        flow.sniff.clear();
        choose_analyzer(flow, dir, first);
        if (flow.analyzer) {
          flow.analyzer->data(dir, first, time);
          after_feed(flow);
        }
        return;
      }
    } else {
      choose_analyzer(flow, dir, bytes);
    }
    if (!flow.analyzer) return;
  }
  flow.analyzer->data(dir, bytes, time);
  after_feed(flow);
}

AnalyzerContext Engine::analyzer_context(Flow& flow) {
  // The analyzer fills the exchange; the connection adds what only it knows.
  auto sink = [this, f = &flow](traffic::Exchange&& e) {
    e.session = f->session;
    e.client = f->client;
    e.server = f->server;
    if (f->midstream) e.flags |= traffic::kFlagMidstream;
    out_(std::move(e));
  };
  return AnalyzerContext{options_.analyzer, counters_, std::move(sink), flow.midstream};
}

void Engine::choose_analyzer(Flow& flow, Direction dir, std::string_view bytes) {
  if (!flow.sniff.empty() && bytes.empty()) {
    // Called at the end of a short client stream: judge what was sniffed.
    std::string first = std::move(flow.sniff);
    flow.sniff.clear();
    choose_analyzer(flow, dir, first);
    if (flow.analyzer) {
      flow.analyzer->data(dir, first, flow.last_seen);
      after_feed(flow);
    }
    return;
  }
  AnalyzerContext context = analyzer_context(flow);
  if (dir == Direction::kToServer && bytes.starts_with(kPreface)) {
    // HTTP/2 with prior knowledge. Also when the SYN was missed: the preface is the start.
    context.midstream = false;
    flow.midstream = false;
    flow.analyzer = std::make_unique<Http2Analyzer>(context);
  } else if (flow.midstream && looks_like_http2(bytes)) {
    // HTTP/2 picked up midstream: the HPACK tables are unknown, so nothing can be decoded
    // reliably. Flagged and skipped, never misparsed.
    counters_.anomaly("http2.midstream");
    give_up(flow);
    return;
  } else {
    flow.analyzer = std::make_unique<Http1Analyzer>(context);
  }
  flow.mode = Flow::Mode::kAnalyze;
}

void Engine::after_feed(Flow& flow) {
  if (!flow.analyzer) return;
  if (!flow.early.empty() && flow.analyzer->state() == Analyzer::State::kActive) {
    // The client has spoken and chosen the analyzer: now the server's early bytes.
    std::string early = std::move(flow.early);
    flow.early.clear();
    flow.analyzer->data(Direction::kToClient, early, flow.early_time);
  }
  switch (flow.analyzer->state()) {
    case Analyzer::State::kActive:
      return;
    case Analyzer::State::kDone:
      give_up(flow);
      return;
    case Analyzer::State::kUpgradeH2: {
      auto& http1 = static_cast<Http1Analyzer&>(*flow.analyzer);
      H2cUpgrade upgrade = http1.take_upgrade();
      std::string to_server = std::move(upgrade.rest_to_server);
      std::string to_client = std::move(upgrade.rest_to_client);
      const int64_t to_server_time = upgrade.rest_to_server_time;
      const int64_t to_client_time = upgrade.rest_to_client_time;
      flow.analyzer = std::make_unique<Http2Analyzer>(analyzer_context(flow), std::move(upgrade));
      if (!to_server.empty()) flow.analyzer->data(Direction::kToServer, to_server, to_server_time);
      if (flow.analyzer->state() == Analyzer::State::kActive && !to_client.empty()) {
        flow.analyzer->data(Direction::kToClient, to_client, to_client_time);
      }
      if (flow.analyzer->state() != Analyzer::State::kActive) give_up(flow);
      return;
    }
  }
}

void Engine::give_up(Flow& flow) {
  if (flow.analyzer) {
    flow.analyzer->finish(flow.last_seen, false);
    flow.analyzer.reset();
  }
  flow.sniff.clear();
  flow.sniff.shrink_to_fit();
  flow.early.clear();
  flow.early.shrink_to_fit();
  if (flow.mode != Flow::Mode::kClosed) flow.mode = Flow::Mode::kIgnore;
  // Bytes already queued are of no use; later ones are not reassembled (add() checks mode).
  // Which direction ended is still tracked so that the flow closes.
  for (int d = 0; d < 2; ++d) {
    if (flow.streams[d].ended()) flow.ended[d] = true;
  }
}

void Engine::close(Flow& flow, int64_t time, bool end_of_capture, bool evicted) {
  if (flow.mode == Flow::Mode::kClosed) return;
  if (!evicted) release(flow, time, true);
  flow.deferred[0].clear();
  flow.deferred[1].clear();
  flow.deferred_bytes = 0;
  if (flow.analyzer && !evicted) {
    // Queued bytes after holes are still worth decoding; the holes become gaps.
    for (Direction d : {Direction::kToServer, Direction::kToClient}) {
      if (flow.analyzer) flow.streams[index(d)].flush(time, flow.sides[index(d)], counters_);
    }
  }
  if (flow.mode == Flow::Mode::kSniff && !flow.sniff.empty()) {
    choose_analyzer(flow, Direction::kToServer, {});
  }
  if (flow.mode == Flow::Mode::kSniff && !flow.analyzer && !flow.early.empty()) {
    ++counters_.flows_not_http;  // the server spoke and the client never did
  }
  if (flow.analyzer) {
    flow.analyzer->finish(time, end_of_capture);
    flow.analyzer.reset();
  }
  flow.sniff.clear();
  flow.early.clear();
  flow.streams[0].clear();
  flow.streams[1].clear();
  open_.erase(flow.position);
  flow.mode = Flow::Mode::kClosed;
  flow.position = closed_.insert(closed_.end(), &flow);
  account(flow);
}

void Engine::erase(Flow& flow) {
  buffered_ -= flow.accounted;
  auto& list = flow.mode == Flow::Mode::kClosed ? closed_ : open_;
  list.erase(flow.position);
  flows_.erase(flow.key);  // destroys the flow
}

void Engine::account(Flow& flow) {
  size_t now = flow.streams[0].buffered() + flow.streams[1].buffered() + flow.sniff.size() +
               flow.early.size() + flow.deferred_bytes;
  if (flow.analyzer) now += flow.analyzer->buffered();
  buffered_ = buffered_ - flow.accounted + now;
  flow.accounted = now;
}

void Engine::evict(Flow& flow, int64_t time) {
  ++counters_.flows_evicted;
  close(flow, time, false, true);
  erase(flow);
}

void Engine::enforce_limits(int64_t time) {
  while (flows_.size() > options_.max_flows) {
    if (!closed_.empty()) {
      erase(*closed_.front());
    } else {
      evict(*open_.front(), time);
    }
  }
  while (buffered_ > options_.max_memory && !open_.empty()) evict(*open_.front(), time);
}

void Engine::tick(int64_t now) {
  while (!closed_.empty() && closed_.front()->last_seen + options_.closed_linger <= now) {
    erase(*closed_.front());
  }
  while (!open_.empty() && open_.front()->last_seen + options_.idle_timeout <= now) {
    Flow& f = *open_.front();
    ++counters_.flows_idle_closed;
    close(f, now, false, false);
  }
}

void Engine::finish(int64_t now) {
  while (!open_.empty())
    close(*open_.front(), std::max(now, open_.front()->last_seen), true, false);
  while (!closed_.empty()) erase(*closed_.front());
}

}  // namespace twin::capture
