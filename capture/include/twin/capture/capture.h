#pragma once
// twin::capture — packets to HTTP exchanges. A Capture reads a pcap/pcapng file or a live
// interface, decodes link, IP (with defragmentation) and TCP, reassembles each connection,
// decodes HTTP/1.x and HTTP/2 (prior knowledge and h2c upgrade) and appends one exchange per
// request to a .twin archive. Every packet, drop, gap, eviction and anomaly is counted
// (counters.h); the counters go into the archive's metadata under "capture" every few seconds
// and at the end, so even a killed capture leaves them behind.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "twin/capture/counters.h"
#include "twin/traffic/archive.h"
#include "twin/traffic/result.h"

namespace twin::capture {

struct CaptureOptions {
  std::string interface;            // live capture (-i); exactly one of interface and file
  std::string file;                 // pcap or pcapng file (-r); "-" for standard input
  std::string filter;               // BPF expression (-f)
  std::vector<uint16_t> ports;      // server ports (--port): filter and server side
  size_t max_body = 1u << 20;       // bytes of each body kept
  double duration = 0;              // seconds; 0 = no limit (live: wall clock, file: packet time)
  uint64_t max_exchanges = 0;       // 0 = no limit
  double sample_rate = 1.0;         // whole connections, by a keyed hash
  std::string sample_key = "twin";  // the hash key: same key, same choice on every agent
  int snaplen = 262144;
  size_t buffer_size = 256u << 20;  // live: kernel buffer
  bool immediate = true;            // live: packets delivered at once, not in blocks
  double idle_timeout = 120;        // seconds without a packet before a connection is finished
  size_t max_flows = 1'000'000;
  size_t max_memory = 1u << 30;  // bytes buffered across connections
  double stats_interval = 5;     // seconds between counters in the archive (and progress)
  /// Called on every exchange just before it is written, on the capture's thread: `twin capture
  /// --scrub` scrubs here, so that raw data never reaches the archive. Keeps capture free of
  /// any knowledge of the scrubber.
  std::function<void(traffic::Exchange&)> before_write;
  /// Instead of before_write, when set: called on batches of at most `write_batch` exchanges
  /// (or just past `write_batch_bytes` of targets and bodies) in capture order (ids given),
  /// just before they are written; the batch is written when full, before counters go into
  /// the archive, and at the end (`twin capture --scrub` with several scrubbing threads).
  std::function<void(std::span<traffic::Exchange>)> before_write_batch;
  size_t write_batch = 64;
  size_t write_batch_bytes = size_t{8} << 20;
  /// Called whenever counters go into the archive: extra metadata to write with them (the
  /// scrubber's counters), merged at the top level.
  std::function<nlohmann::json()> extra_metadata;
};

class Capture;
using CapturePtr = std::unique_ptr<Capture>;

/// One capture run. Not thread-safe, except request_stop(), which may be called from any
/// thread or a signal handler.
class Capture {
 public:
  /// Opens the source and checks the options (link type supported, filter compiles).
  /// Errors are one line naming the file or interface.
  static Result<CapturePtr> open(const CaptureOptions& options);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  /// What was captured and how, for the archive's header metadata ("capture_source").
  nlohmann::json description() const;

  /// Reads until the source ends, a limit is reached or request_stop() is called, writing
  /// exchanges to `writer` (ids from 1), and counters into its metadata every stats interval
  /// and at the end. `on_stats` (may be empty) is called at the same moments. An error is a
  /// bad input (a damaged file) or a write failure; everything decoded before it is written.
  Result<void> run(traffic::Writer& writer, const std::function<void(const Counters&)>& on_stats);

  void request_stop() { stop_.store(true, std::memory_order_relaxed); }
  const Counters& counters() const { return counters_; }

 private:
  Capture();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Counters counters_;
  std::atomic<bool> stop_{false};
};

/// The names of the link types the capture decodes, for messages.
std::string supported_linktypes();

}  // namespace twin::capture
