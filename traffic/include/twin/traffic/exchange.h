#pragma once
// The exchange: one HTTP request with its response (when there is one), as seen at one point.
// Every stage of twin reads and writes sequences of these (see docs/FORMAT.md).

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace twin::traffic {

/// Sentinel for an instant that is not known (JSON null).
inline constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();

enum class Protocol : uint8_t {
  kUnknown = 0,
  kHttp10 = 1,
  kHttp11 = 2,
  kHttp2 = 3,
};

/// What went wrong with an exchange, if anything. Values are stored in archives: append only.
enum class ErrorKind : uint8_t {
  kNone = 0,
  kConnect = 1,    // the connection could not be established
  kTimeout = 2,    // no (complete) response in time
  kReset = 3,      // the peer reset the connection or stream
  kProtocol = 4,   // the peer violated the protocol
  kTruncated = 5,  // the connection ended inside a message
  kTls = 6,        // TLS handshake or record failure
  kCancelled = 7,  // the run ended before the exchange completed
  kOther = 8,
};

/// Exchange flags, a bit set. Values are stored in archives: append only.
enum Flag : uint32_t {
  kFlagGap = 1u << 0,                    // bytes were missing in the captured stream
  kFlagRequestBodyTruncated = 1u << 1,   // request body cut at --max-body
  kFlagResponseBodyTruncated = 1u << 2,  // response body cut at --max-body
  kFlagMidstream = 1u << 3,              // the connection was first seen midstream
  kFlagUpgrade = 1u << 4,                // the exchange switched protocols (101, CONNECT)
  kFlagNoResponse = 1u << 5,             // the request was seen but no response came
  kFlagScrubbed = 1u << 6,               // personal data was scrubbed from this exchange
};
inline constexpr uint32_t kKnownFlags = (1u << 7) - 1;

/// How a message body was delimited on the wire. The stored body is always de-chunked.
enum class Framing : uint8_t {
  kNone = 0,           // no body (e.g. GET without Content-Length, HEAD response, 204, 304)
  kContentLength = 1,  // Content-Length
  kChunked = 2,        // Transfer-Encoding: chunked
  kClose = 3,          // delimited by the connection closing
  kHttp2 = 4,          // HTTP/2 DATA frames
};

struct Header {
  std::string name;   // original case, byte-exact (HTTP/2 pseudo-headers keep their ':')
  std::string value;  // byte-exact, may hold bytes that are not UTF-8
  bool operator==(const Header&) const = default;
};
using Headers = std::vector<Header>;

/// `s = v` for a string that is reused from record to record (decoders, the replayer's slots):
/// when `v` is no longer than what `s` holds, its bytes are copied over and the length cut,
/// without the allocation and aliasing checks of assign(). `v` must not point into `s`.
inline void overwrite(std::string& s, std::string_view v) {
  if (v.size() <= s.size()) {
    if (!v.empty()) std::char_traits<char>::copy(s.data(), v.data(), v.size());
    s.resize(v.size());
  } else {
    s.assign(v);
  }
}

/// An IPv4 or IPv6 address with a port; family 0 means unknown.
struct Endpoint {
  uint8_t family = 0;                 // 0 unknown, 4 or 6
  std::array<uint8_t, 16> address{};  // network byte order; IPv4 uses the first 4 bytes
  uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;

  bool known() const { return family != 0; }
  /// "1.2.3.4:80", "[::1]:443", or "" when unknown.
  std::string to_string() const;
  /// Parses the form to_string() writes; nullopt when it is not one.
  static std::optional<Endpoint> parse(std::string_view text);
};

/// The instants of an exchange, in nanoseconds since the Unix epoch; kNoTime when unknown.
struct Timing {
  int64_t request_start = kNoTime;   // first byte of the request
  int64_t request_end = kNoTime;     // last byte of the request
  int64_t response_start = kNoTime;  // first byte of the response
  int64_t response_end = kNoTime;    // last byte of the response
  int64_t intended = kNoTime;        // replays: when the request was meant to be sent
  bool operator==(const Timing&) const = default;
};

struct Request {
  std::string method;
  std::string target;     // path and query as sent ("/a/b?c=d"), or the absolute form
  std::string authority;  // Host header or :authority
  Headers headers;
  std::string body;        // de-chunked, at most --max-body bytes
  uint64_t body_size = 0;  // bytes of body seen on the wire after de-chunking (>= body.size())
  Framing framing = Framing::kNone;
  bool operator==(const Request&) const = default;
};

struct Response {
  int status = 0;
  std::string reason;
  Headers headers;
  std::string body;
  uint64_t body_size = 0;
  Framing framing = Framing::kNone;
  bool operator==(const Response&) const = default;
};

/// One exchange. A plain value: copyable, movable, no hidden sharing. Readers fill an existing
/// Exchange in place so that its strings and vectors keep their capacity between records.
struct Exchange {
  uint64_t id = 0;         // unique within an archive
  uint64_t origin_id = 0;  // replays: the captured exchange this one reproduces; 0 otherwise
  uint64_t session = 0;    // connection id
  uint64_t seq = 0;        // order within the session, from 0
  uint32_t stream = 0;     // HTTP/2 stream id; 0 for HTTP/1
  Protocol protocol = Protocol::kUnknown;
  std::string target;  // replay target's name; empty for a capture
  Timing time;
  Endpoint client;
  Endpoint server;
  Request request;
  std::optional<Response> response;
  ErrorKind error = ErrorKind::kNone;
  uint32_t flags = 0;
  bool operator==(const Exchange&) const = default;

  bool has(Flag f) const { return (flags & f) != 0; }
};

/// Names used in JSONL, HAR and reports. The parse functions return nullopt for unknown names.
std::string_view to_string(Protocol p);
std::string_view to_string(ErrorKind e);
std::string_view to_string(Framing f);
std::string_view flag_name(Flag f);
std::optional<Protocol> parse_protocol(std::string_view s);
std::optional<ErrorKind> parse_error_kind(std::string_view s);
std::optional<Framing> parse_framing(std::string_view s);
std::optional<Flag> parse_flag(std::string_view s);

/// The first header with this name (ASCII case-insensitive), or nullptr. The pointer is valid
/// while the vector is not modified.
const Header* find_header(const Headers& headers, std::string_view name);

}  // namespace twin::traffic
