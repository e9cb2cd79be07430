#pragma once
// The flow engine: decoded TCP segments in, HTTP exchanges out. It keeps the table of TCP
// connections (flows), decides which side is the client, reassembles each direction, picks the
// analyzer (HTTP/1, HTTP/2 prior knowledge, or HTTP/2 after an h2c upgrade), and bounds memory:
// flows idle too long are finished, and when the table or the buffers reach their caps the
// least recently active flow is evicted — each of these counted.
//
// Time is packet time (ns since the epoch): the engine has no clock of its own, so a file
// replays exactly as it was captured. A live capture calls tick() with the wall clock when no
// packets come, so idle flows still end.

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "analyzer.h"
#include "packet.h"
#include "reassembly.h"
#include "twin/capture/counters.h"

namespace twin::capture {

struct EngineOptions {
  AnalyzerOptions analyzer;
  ReassemblyOptions reassembly;
  /// Server ports (--port): they say which side is the server when the SYN was not seen.
  std::vector<uint16_t> server_ports;
  /// A flow with no packet for this long is finished (its pending requests written out).
  int64_t idle_timeout = 120'000'000'000;
  /// A closed flow is remembered this long so that its last ACKs and retransmissions are not
  /// taken for a new connection.
  int64_t closed_linger = 10'000'000'000;
  /// Flows tracked at once; beyond it the least recently active one is evicted.
  size_t max_flows = 1'000'000;
  /// Bytes buffered by all flows (reassembly queues and analyzers); beyond it the least
  /// recently active flows are evicted until it fits.
  size_t max_memory = 1u << 30;
  /// Keep a connection with this probability (whole connections), 1 keeps all.
  double sample_rate = 1.0;
  /// Key of the sampling hash: the same key makes the same choice on every capture agent.
  std::string sample_key;
};

class Engine {
 public:
  /// `out` receives every exchange with id left 0 and session, client and server filled.
  Engine(EngineOptions options, Counters& counters, ExchangeSink out);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// One decoded segment, in capture order.
  void add(const TcpSegment& segment);
  /// Finishes flows idle past the timeout at `now` (packet time, or the wall clock when live).
  void tick(int64_t now);
  /// End of capture: finishes every flow (pending requests written without responses).
  void finish(int64_t now);

  size_t flow_count() const { return flows_.size(); }
  size_t buffered() const { return buffered_; }
  int64_t last_time() const { return last_time_; }

 private:
  struct FlowKey {
    std::array<uint8_t, 16> a{};
    std::array<uint8_t, 16> b{};
    uint16_t a_port = 0;
    uint16_t b_port = 0;
    uint8_t family = 0;
    bool operator==(const FlowKey&) const = default;
  };
  struct FlowKeyHash {
    size_t operator()(const FlowKey& k) const;
  };
  struct Flow;
  class Side;

  struct Deferred;
  Flow* create(const FlowKey& key, const TcpSegment& s, bool from_a);
  /// Reassembles one segment's bytes (or FIN) and applies its ACK to the other direction.
  void apply(Flow& flow, Direction dir, uint32_t seq, uint32_t ack, uint8_t flags,
             std::string_view payload, uint32_t length, int64_t time);
  /// Applies deferred segments whose acknowledged bytes have arrived, or whose grace is over
  /// at `now` (all of them when `all`).
  void release(Flow& flow, int64_t now, bool all);
  void data(Flow& flow, Direction dir, std::string_view bytes, int64_t time);
  void choose_analyzer(Flow& flow, Direction dir, std::string_view bytes);
  AnalyzerContext analyzer_context(Flow& flow);
  void after_feed(Flow& flow);
  void give_up(Flow& flow);
  void close(Flow& flow, int64_t time, bool end_of_capture, bool evicted);
  void erase(Flow& flow);
  void touch(Flow& flow, int64_t time);
  void account(Flow& flow);
  void enforce_limits(int64_t time);
  void evict(Flow& flow, int64_t time);
  bool sampled(const FlowKey& key) const;
  bool is_server_port(uint16_t port) const;

  EngineOptions options_;
  Counters& counters_;
  ExchangeSink out_;
  std::unordered_map<FlowKey, std::unique_ptr<Flow>, FlowKeyHash> flows_;
  std::list<Flow*> open_;    // flows still open, least recently active first
  std::list<Flow*> closed_;  // closed flows lingering for their last packets, oldest first
  uint64_t next_session_ = 1;
  size_t buffered_ = 0;
  int64_t last_time_ = 0;
  int64_t next_sweep_ = 0;
  uint64_t sample_seed_ = 0;
  std::string sniff_scratch_;
};

}  // namespace twin::capture
