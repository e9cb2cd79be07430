#pragma once
// The interface between TCP reassembly and the HTTP parsers (Zeek's analyzer model): one
// Analyzer per TCP connection, fed each direction's bytes in stream order, told about holes
// (gap), ends (FIN/RST) and the end of the flow (finish). Analyzers are sans-I/O: they never read
// a socket or a file, they only consume what they are given, in pieces of any size, and hand
// finished exchanges to a sink. Two implementations: HTTP/1.x (http1.h) and HTTP/2 (http2.h).
//
// Malformed traffic is data: an analyzer counts it as a typed anomaly in Counters and carries
// on (or gives the connection up, state() == kDone). It never throws and never aborts.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "twin/capture/counters.h"
#include "twin/traffic/exchange.h"

namespace twin::capture {

enum class Direction : uint8_t {
  kToServer = 0,  // client → server: requests
  kToClient = 1,  // server → client: responses
};

/// Limits every analyzer honours; they bound memory per connection.
struct AnalyzerOptions {
  /// Bytes of each body kept in the exchange. A longer body is still parsed to its end (so the
  /// stream stays in step) and body_size holds its full length; the exchange gets
  /// kFlag{Request,Response}BodyTruncated and Counters::bodies_truncated counts it.
  size_t max_body = 1u << 20;
  /// A header section (HTTP/1: request line to blank line; HTTP/2: a header block with its
  /// CONTINUATIONs) longer than this is an anomaly; the message is skipped.
  size_t max_header_bytes = 256u << 10;
  /// Requests waiting for their responses (HTTP/1 pipelining) or open streams (HTTP/2) per
  /// connection; beyond it the oldest is written out without a response and counted.
  size_t max_pending = 1024;
};

/// Receives each finished exchange. The analyzer fills: seq (order of the request within the
/// connection, from 0), stream (HTTP/2), protocol, time (request_start/end,
/// response_start/end from the packet times passed to data()), request, response, error,
/// flags. The caller fills id, session, client, server and target.
using ExchangeSink = std::function<void(traffic::Exchange&&)>;

/// What an analyzer needs from the connection that owns it. The references outlive it.
struct AnalyzerContext {
  const AnalyzerOptions& options;
  Counters& counters;
  ExchangeSink sink;
  /// The connection was first seen without its SYN: the analyzer must resynchronise at the
  /// next message start in each direction and set kFlagMidstream on what it emits.
  bool midstream = false;
};

class Analyzer {
 public:
  enum class State : uint8_t {
    kActive,     // wants more bytes
    kDone,       // gave up on the connection or it was upgraded to something else than h2c:
                 // the caller stops feeding it (and counts the bytes it ignores)
    kUpgradeH2,  // HTTP/1 only: an h2c upgrade succeeded; see Http1Analyzer::take_upgrade()
  };

  virtual ~Analyzer() = default;

  /// Next bytes of one direction, in stream order, with the capture time (ns since the epoch)
  /// of the packet that carried them. `bytes` is only valid during the call.
  virtual void data(Direction dir, std::string_view bytes, int64_t time) = 0;
  /// `length` bytes of one direction were lost (never captured). The message in progress is
  /// flagged kFlagGap; the direction resynchronises at the next message start when it can.
  virtual void gap(Direction dir, uint64_t length, int64_t time) = 0;
  /// The direction ended: FIN (reset = false) or RST (reset = true), after all its bytes.
  /// A body delimited by the close ends here; an unfinished message is kTruncated / kReset.
  virtual void end(Direction dir, bool reset, int64_t time) = 0;
  /// No more calls will come (both directions ended, idle timeout, eviction, end of capture).
  /// Emits whatever is pending: requests without responses get kFlagNoResponse, and messages
  /// cut short get ErrorKind::kTruncated (or kCancelled when `time` is the end of capture).
  virtual void finish(int64_t time, bool end_of_capture) = 0;
  virtual State state() const = 0;
  /// Bytes this analyzer holds in buffers right now (for the capture's memory cap).
  virtual size_t buffered() const = 0;
};
using AnalyzerPtr = std::unique_ptr<Analyzer>;

/// What an HTTP/1 connection hands to HTTP/2 after a successful h2c upgrade (RFC 7540 3.2):
/// the upgrade request becomes stream 1 of the HTTP/2 connection, whose response comes in
/// HTTP/2 frames. `rest_*` are the bytes of each direction that followed the HTTP/1 part
/// (client: the connection preface onwards; server: the bytes after the 101 response).
struct H2cUpgrade {
  traffic::Exchange exchange;  // request filled (with its times, seq); response still empty;
                               // flags include kFlagUpgrade
  std::string http2_settings;  // the HTTP2-Settings header value (base64url), may be empty
  std::string rest_to_server;
  int64_t rest_to_server_time = traffic::kNoTime;
  std::string rest_to_client;
  int64_t rest_to_client_time = traffic::kNoTime;
};

}  // namespace twin::capture
