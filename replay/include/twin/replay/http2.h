#pragma once
// The HTTP/2 side of the replay client: an nghttp2 client session, sans I/O (nghttp2's own mem_recv
// and mem_send). The connection owns the socket, feeds received bytes in with receive() and
// writes what pending_output() gives; completions come out of the callback. Not thread-safe: a
// session lives on its connection's thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "twin/replay/response.h"
#include "twin/replay/target.h"
#include "twin/traffic/result.h"

namespace twin::replay {

namespace detail {
class Prepared;  // a request kept by --loop as it is sent (replay/src/plan.h)
}

struct Http2Options {
  size_t max_body = 1 << 20;  // response body bytes kept per stream; the rest is counted only
  /// Our receive windows (SETTINGS_INITIAL_WINDOW_SIZE and the connection window): large, so
  /// that big responses are not throttled by us; consumed data is acknowledged as it arrives.
  uint32_t stream_window = 16u << 20;
  uint32_t connection_window = 64u << 20;
  /// SETTINGS_MAX_CONCURRENT_STREAMS we would use even if the server allows more.
  uint32_t max_concurrent_streams = 100;
};

class Http2Session {
 public:
  using OnComplete = std::function<void(Completion&)>;

  /// The connection preface and SETTINGS are queued at once (pending_output()).
  static Result<std::unique_ptr<Http2Session>> create(const Http2Options& options,
                                                      OnComplete on_complete);
  ~Http2Session();
  Http2Session(const Http2Session&) = delete;
  Http2Session& operator=(const Http2Session&) = delete;

  /// Queues a request as a new stream (":scheme" is `scheme`, "http" or "https"). Returns the
  /// stream id (> 0), or 0 when no stream can be opened now (the peer's concurrency limit is
  /// reached, or GOAWAY was received, or the session failed): the caller waits or fails it.
  /// The request is copied; its body is sent with flow control.
  int32_t submit(const OutRequest& request, std::string_view scheme, uint64_t token, int64_t now);
  /// The same for the planner's prepared form of a request (what an OutRequest would hold).
  int32_t submit(const detail::Prepared& request, std::string_view scheme, uint64_t token,
                 int64_t now);
  /// Feeds received bytes. Response trailers are appended to the response's headers, after
  /// the header block (so gRPC's grpc-status is kept). On a protocol error the session fails: every
  /// open stream completes with ErrorKind::kProtocol and alive() turns false.
  void receive(const uint8_t* data, size_t size, int64_t now);
  /// Appends the bytes to write (frames, including WINDOW_UPDATE and SETTINGS ACK) to `out`.
  void pending_output(std::string& out);
  bool want_write() const;
  /// The connection ended: every open stream completes with `error` (kTruncated, kReset, …).
  void close(traffic::ErrorKind error, int64_t now);
  /// Gives up on one stream (a request timeout): RST_STREAM(CANCEL) is queued and the stream
  /// completes now with `error`; the other streams go on. Unknown or finished ids are ignored.
  void cancel(int32_t stream_id, traffic::ErrorKind error, int64_t now);
  /// False once the session failed, was closed, or got GOAWAY and has no open stream left.
  bool alive() const;
  /// Whether submit() would open a stream now.
  bool can_submit() const;
  size_t open_streams() const;
  /// For counters: "goaway", "protocol", … or empty.
  std::string_view failure() const;

 private:
  Http2Session() = default;
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace twin::replay
