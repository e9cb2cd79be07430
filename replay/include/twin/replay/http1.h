#pragma once
// The HTTP/1.1 side of the replay client, sans I/O (DESIGN.md, after nghttp2): the connection owns
// the socket and feeds bytes in; nothing here blocks, allocates per byte, or knows a clock (the
// caller passes `now`, nanoseconds).
//
// Responses are parsed with Boost.Beast's basic_parser (a maintained, fuzzed parser) driven
// through its callbacks, so that headers keep their order and original case, bodies can be capped
// without being buffered whole, and the framing is known. Plain heads (Content-Length or no body,
// no folding, no Transfer-Encoding) take a fast path that accepts a subset of what Beast accepts,
// with the same result (http1.cc says how, and why).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "twin/replay/response.h"
#include "twin/replay/target.h"

namespace twin::replay {

/// Appends the HTTP/1.1 wire form of `request` to `out`: request line, Host first, the headers in
/// order, Content-Length when there is a body or the method usually has one (POST, PUT, PATCH),
/// then the body. Never chunked: the body is known whole.
void serialize_http1(const OutRequest& request, std::string& out);

/// The header lines of a recent plain response head, shared by the parsers of one worker's
/// connections to one target: a server's heads repeat most lines byte for byte (Server,
/// Content-Type, Connection, …), and a line that comes back at the same place is taken as it was
/// last time instead of being validated again (http1.cc). Not thread-safe: one per worker.
struct Http1HeadMemo;
std::shared_ptr<Http1HeadMemo> make_http1_head_memo();

/// Parses the responses on one HTTP/1.1 connection, one at a time. Not thread-safe; lives with
/// its connection. Memory: the response being parsed, its body capped at `max_body`.
class Http1ResponseParser {
 public:
  enum class Status {
    kNeedMore,  // everything given was consumed; the response is not complete
    kDone,      // a response is complete: take it with take(); bytes after it were not consumed
    kFailed,    // the bytes are not HTTP/1.x: take() gives ErrorKind::kProtocol
  };
  struct Feed {
    size_t consumed = 0;
    Status status = Status::kNeedMore;
  };

  /// `beast_only` (tests) sends every head through Beast, the fast path's reference. `memo`
  /// (optional) is shared with the other parsers of the same thread and target.
  explicit Http1ResponseParser(size_t max_body, bool beast_only = false,
                               std::shared_ptr<Http1HeadMemo> memo = nullptr);
  ~Http1ResponseParser();
  Http1ResponseParser(const Http1ResponseParser&) = delete;
  Http1ResponseParser& operator=(const Http1ResponseParser&) = delete;

  /// Starts on the response to a new request. `head` says that the request was HEAD (no body
  /// whatever the headers say). `token` is copied into the Completion.
  void start(uint64_t token, bool head);
  /// Feeds received bytes. Interim 1xx responses (100 Continue, 103) are skipped, not returned.
  Feed feed(const char* data, size_t size, int64_t now);
  /// The connection ended (EOF). A close-delimited body ends here (kDone); anything else that
  /// is incomplete becomes ErrorKind::kTruncated, or kReset when `reset`. Returns the status.
  Status finish(int64_t now, bool reset = false);
  /// The completed (or failed) response. Valid after kDone or kFailed, until start().
  Completion& completion();
  /// Whether the connection may carry another request after this response (HTTP/1.1 without
  /// "Connection: close", HTTP/1.0 with keep-alive, and not close-delimited).
  bool keep_alive() const;
  /// A short description of the last failure (no bytes of the message), for counters and logs.
  std::string_view failure() const;

  /// Heads parsed by the fast path so far (tests: that it is taken).
  uint64_t fast_heads() const;
  /// Header lines the fast path took from the memo so far (tests: that it is used).
  uint64_t memo_lines() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace twin::replay
