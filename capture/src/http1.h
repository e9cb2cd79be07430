#pragma once
// The HTTP/1.x analyzer: a sans-I/O parser that turns the two reassembled byte streams of one
// TCP connection into exchanges (RFC 9110, RFC 9112). One Http1Analyzer per connection, fed by
// reassembly through the Analyzer interface (analyzer.h); single-threaded, like its connection.
//
// Parsing. A header section is parsed in place from the data() view when it lies whole in it,
// and gathered into a per-direction buffer (at most max_header_bytes) when it spans calls.
// Header names and values are kept byte-exact in their original order and case; only the
// optional whitespace around a value is stripped, and the CR of a line ending. The request
// target and the reason phrase are kept as sent. Bodies are de-chunked; the first max_body bytes
// are kept, body_size counts all of them, and the parse stays in step whatever the length.
//
// Rules this analyzer follows where RFC 9112 leaves a choice or the capture needs one:
// - Authority: the Host header's value; without Host, the authority of an absolute-form target
//   (userinfo removed), or the target of a CONNECT (authority form).
// - Body framing (RFC 9112 6.3): responses to HEAD, 1xx, 204 and 304 have no body; a 2xx to
//   CONNECT and a 101 switch protocols; Transfer-Encoding ending in chunked wins over
//   Content-Length (anomaly); a response whose Transfer-Encoding does not end in chunked, or
//   that has neither header, is delimited by the close; a request without either has no body.
//   An invalid or conflicting Content-Length (without Transfer-Encoding), or a request whose
//   Transfer-Encoding does not end in chunked, leaves the message without reliable framing: it
//   gets ErrorKind::kProtocol, no body, and the direction resynchronises at the next message
//   start. Chunk sizes of 2^62 or more are invalid.
// - Trailers: the fields of a chunked body's trailer section are appended to the message's
//   headers, after the header section's fields, in their order.
// - Times: request_start/end are the times of the data() calls that delivered the request's
//   first byte (the request line; blank lines before it do not count) and last byte.
//   response_start/end are those of the final response: interim 1xx responses are skipped and
//   do not set response_start. A message cut by FIN/RST/finish ends at its last byte's time.
// - Interim responses (1xx but 101) are parsed and dropped; the request keeps waiting for its
//   final response. A request body may arrive before or after them (100-continue).
// - Pairing: responses answer the oldest request that has no response yet (pipelining is
//   FIFO), and an exchange is emitted when both its request and its final response are
//   complete. A response that started (time of its first byte) before that request started
//   answers a request that was never seen (midstream, or lost in a gap): it is skipped
//   (messages_skipped). Requests written out early by max_pending are owed their responses:
//   that many responses are skipped before pairing resumes.
// - Pairing after damage in the to-client direction (a gap that loses the response framing,
//   i.e. anything but a gap that fits inside a body of known length): the lost bytes may have
//   held whole responses. The first response found afterwards answers the newest request that
//   started before it, unless the connection has been seen pipelining (a response paired
//   while a later request had already started before it), in which case it answers the oldest
//   one. Requests passed over this way are emitted at once with kFlagNoResponse | kFlagGap.
//   Requests still unanswered at finish after such a gap (and started before it) get kFlagGap.
//   A request lost whole in a to-server gap leaves no trace: on a pipelining connection its
//   response then answers the next request (nothing in the bytes tells them apart); on a
//   sequential one the time rule above skips that response.
// - Gaps (bytes never captured): inside a body of known remaining length (Content-Length, or
//   the current chunk) that the gap fits in, the parse stays in step: body keeps the bytes
//   before the gap only, body_size counts the whole body including the lost bytes, and the
//   exchange gets kFlagGap (no error). Anywhere else the message is finished as far as it was
//   parsed with kFlagGap (a request or response whose head was cut keeps its start line and
//   the complete header lines; without a complete start line the fragment is dropped and
//   counted in messages_skipped), and the direction resynchronises at the next message start.
// - Limits: a header section longer than max_header_bytes is cut there: with a valid start
//   line the message is written out with its complete header lines, no body and kProtocol (so
//   that its response, often a 431, still pairs with it); the direction then resynchronises.
//   More than max_pending unanswered requests: the oldest is written out with kFlagNoResponse.
//   Held upgrade bytes and h2c hand-over bytes are bounded at 1 MiB each, chunk size lines at
//   4 KiB; bodies keep max_body bytes. Memory never grows with the input beyond these.
// - Resynchronisation (midstream start, gaps, garbage): the to-server direction skips to a
//   token start (a tchar after a byte that is not one; the first byte after damage counts)
//   that begins a valid request line (token SP target SP HTTP/1.x CRLF), the to-client
//   direction to any "HTTP/1.x SP 3DIGIT" that begins a valid status line: a skipped body
//   seldom ends with a line break, and the next message follows its last byte. A method glued
//   to skipped bytes ("helloGET") is cut to the known method it ends with (GET, POST, PUT,
//   DELETE, HEAD, OPTIONS, PATCH, CONNECT, TRACE). Candidates that fail are skipped silently.
//   All of this depends on the bytes only, never on how they were split into data() calls.
// - Not HTTP: a connection seen from its start whose first to-server bytes cannot begin a
//   request line (or whose to-client bytes come first and are not a status line) counts
//   flows_not_http once and goes kDone, decided at the first byte that breaks the grammar (at
//   most one line). A connection starting with the HTTP/2 preface ("PRI * HTTP/2.0") goes kDone
//   with the anomaly http1.h2_prior_knowledge instead (the engine routes those to HTTP/2).
// - Upgrade and CONNECT: after a request that carries Upgrade (or is a CONNECT), the client's
//   next bytes (at most 1 MiB) are held unparsed until its final response: a 101 to an
//   `Upgrade: h2c` request makes state() kUpgradeH2 (see take_upgrade()); any other 101, and a
//   2xx to CONNECT, emit the exchange with kFlagUpgrade and the response and make state()
//   kDone; any other final status releases the held bytes to the HTTP/1 parser. A hold that
//   overflows, or that a gap interrupts, is released at once; a later switch is then handed
//   over as kDone, not as h2c. A 101 to an h2c request whose body is still arriving waits for
//   the body's end before the hand-over. FIN/RST of the client during the hold is applied
//   after a release and dropped at an h2c hand-over.
// - End and finish: a close-delimited response completes at the server's FIN (framing kClose)
//   and gets kReset on RST. A message cut by FIN/RST gets kTruncated/kReset; by finish(),
//   kCancelled at the end of the capture and kTruncated otherwise. finish() writes out every
//   pending request: without a response, kFlagNoResponse and the error kCancelled at the end
//   of the capture, kReset when the server reset the connection, else the cut's error if any.
//   After kUpgradeH2, finish() does nothing: take_upgrade() owns the exchange.
//
// Anomalies (Counters::anomaly):
//   http1.bare_lf                  a header section, trailer section or chunk line used LF
//                                  line ends without CR (counted once per section; parsed)
//   http1.obs_fold                 a header line continued on the next (joined with one SP)
//   http1.bad_header_line          a header line without a colon or name (dropped)
//   http1.space_before_colon       whitespace between a header name and its colon (trimmed)
//   http1.bad_request_line         a request that does not start with a valid request line
//   http1.bad_status_line          a response that does not start with a valid status line
//   http1.unknown_version          HTTP/1.x with x other than 0 or 1 (read as HTTP/1.1)
//   http1.header_too_long          a header section longer than max_header_bytes
//   http1.bad_content_length       a Content-Length that is not a number below 10^18
//   http1.conflicting_content_length  Content-Length values that differ
//   http1.content_length_with_transfer_encoding  both headers: Transfer-Encoding wins
//   http1.bad_transfer_encoding    a request whose Transfer-Encoding does not end in chunked
//   http1.bad_chunk_size           a chunk size line that is not hex, or 2^62 or more
//   http1.chunk_line_too_long      a chunk size line longer than 4 KiB
//   http1.bad_chunk_end            chunk data not followed by CRLF
//   http1.trailers_too_long        a trailer section longer than max_header_bytes
//   http1.unpaired_response        a response with no request to answer on a connection seen
//                                  from its start without gaps (skipped)
//   http1.unexpected_switch        a 101 to a request without Upgrade, or to no request
//   http1.too_many_pending         more than max_pending unanswered requests
//   http1.upgrade_hold_overflow    more than 1 MiB from the client while an upgrade is pending
//   http1.upgrade_rest_overflow    more than 1 MiB after an h2c switch before the hand-over
//   http1.upgrade_gap              bytes lost during an h2c hand-over (handed over as kDone)
//   http1.h2_prior_knowledge       the connection starts with the HTTP/2 connection preface
//   http1.data_after_end           bytes after the direction's FIN/RST (ignored; once per
//                                  direction)

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer.h"

namespace twin::capture {

class Http1Analyzer final : public Analyzer {
 public:
  /// `context`'s references must outlive the analyzer; the sink is called from inside
  /// data()/gap()/end()/finish() and must not call back into this analyzer.
  explicit Http1Analyzer(AnalyzerContext context);
  ~Http1Analyzer() override;
  Http1Analyzer(const Http1Analyzer&) = delete;
  Http1Analyzer& operator=(const Http1Analyzer&) = delete;

  void data(Direction dir, std::string_view bytes, int64_t time) override;
  void gap(Direction dir, uint64_t length, int64_t time) override;
  void end(Direction dir, bool reset, int64_t time) override;
  void finish(int64_t time, bool end_of_capture) override;
  State state() const override { return state_; }
  size_t buffered() const override;

  /// After state() == kUpgradeH2: the upgrade request (as stream 1, response empty) and the
  /// bytes of each direction that followed the HTTP/1 part. Moves it out: call it once; later
  /// calls return an empty H2cUpgrade.
  H2cUpgrade take_upgrade();

 private:
  enum class Mode : uint8_t {
    kStart,     // between messages: blank lines are skipped, then a message starts
    kHead,      // in a header section (start line, then fields)
    kBody,      // in a body, see BodyKind
    kTrailers,  // in the trailer section of a chunked body
    kResync,    // skipping to the next plausible message start
    kHold,      // to-server: bytes after an Upgrade/CONNECT request, held for its response
    kTunnel,    // bytes after an h2c switch, kept for the hand-over
    kIgnore,    // nothing more to parse in this direction
  };
  enum class BodyKind : uint8_t { kLength, kChunkSize, kChunkData, kChunkDataEnd, kClose };

  // Validates a start line incrementally, byte by byte across calls, so that garbage is
  // rejected at the first byte that breaks the grammar.
  struct StartLineCheck {
    uint8_t phase = 0;
    uint16_t count = 0;
    uint16_t method_len = 0;
    uint32_t method4 = 0;  // the method's first bytes (HTTP/2 preface detection)
  };
  // Whether the line being scanned for the blank line that ends a section is empty so far.
  struct LineScan {
    uint8_t len = 0;  // bytes of the current line, capped at 2
    bool cr = false;  // the current line is exactly "\r"
  };

  struct HoldMark {
    size_t offset;
    int64_t time;
  };

  struct Entry {
    traffic::Exchange ex;
    std::string http2_settings;
    size_t stored = 0;           // bytes counted in buffered()
    bool request_done = false;   // the request's last byte was seen (or it was cut)
    bool answered = false;       // a final response has begun (or it was given up on)
    bool response_done = false;  // the final response is complete (or cut, or given up on)
    bool is_head = false;
    bool is_connect = false;
    bool wants_upgrade = false;
    bool h2c = false;
    bool hold_broken = false;  // its hold was released before its response decided
  };

  struct Side {
    bool request = true;
    Mode mode = Mode::kStart;
    BodyKind body_kind = BodyKind::kLength;
    bool checking = false;   // the start line is still being validated
    bool resyncing = false;  // after damage: rejected candidates are not anomalies
    bool boundary = true;    // kResync: the next byte may begin a token (request candidates)
    bool chunk_cr = false;   // kChunkDataEnd: the CR was seen
    bool body_gap = false;   // bytes of this body were lost: keep no more of it
    bool truncated = false;  // this body passed max_body (counted once)
    bool ended = false;      // FIN/RST seen
    bool late_data = false;  // bytes came after it (counted once)
    StartLineCheck check;
    LineScan scan;
    std::string buf;                        // a section or chunk line that spans data() calls
    std::vector<HoldMark> buf_marks;        // where each call's bytes (time) begin in buf (heads)
    uint64_t remaining = 0;                 // Content-Length or chunk bytes still to come
    int64_t start_time = traffic::kNoTime;  // data() time of the message's first byte
    int64_t last_time = traffic::kNoTime;   // data() time of the latest byte
    Entry* entry = nullptr;       // the exchange of the message in progress (nullptr: skipped)
    std::string* body = nullptr;  // where body bytes go (nullptr: discarded)
    uint64_t* body_size = nullptr;
    traffic::Headers* headers = nullptr;  // where trailers go
    uint32_t truncated_flag = 0;
  };

  struct HeadInfo;
  struct Cut;

  Side& side(Direction dir) { return dir == Direction::kToServer ? req_ : resp_; }
  const char* feed(Side& s, const char* p, const char* end, int64_t time);
  const char* on_start(Side& s, const char* p, const char* end, int64_t time);
  const char* on_head(Side& s, const char* p, const char* end, int64_t time);
  const char* on_body(Side& s, const char* p, const char* end, int64_t time);
  const char* on_chunk_size(Side& s, const char* p, const char* end, int64_t time);
  const char* on_trailers(Side& s, const char* p, const char* end, int64_t time);
  const char* on_resync(Side& s, const char* p, const char* end, int64_t time);
  const char* on_hold(const char* p, const char* end, int64_t time);
  const char* on_tunnel(Side& s, const char* p, const char* end, int64_t time);

  void start_message(Side& s, int64_t time);
  void append_head(Side& s, const char* p, const char* end, int64_t time);
  const char* check_start_line(Side& s, const char* p, const char* end, int* result);
  const char* bad_start(Side& s, const char* p, const char* at);
  const char* head_too_long(Side& s, const char* p, const char* at);
  void enter_resync(Side& s, bool boundary);
  void request_head(Side& s, std::string_view head, int64_t time, const Cut* cut);
  void response_head(Side& s, std::string_view head, int64_t time, const Cut* cut);
  void parse_fields(std::string_view text, traffic::Headers& out, HeadInfo& info, bool& bare_lf);
  void begin_body(Side& s, BodyKind kind, uint64_t length);
  void deliver(Side& s, const char* p, size_t n);
  void skip_body(Side& s, uint64_t n);
  void message_done(Side& s, int64_t time);
  void request_complete(Side& s, Entry& e, int64_t time, bool may_hold);
  void response_complete(Side& s, int64_t time);
  void framing_lost(Side& s, std::string_view anomaly, int64_t time);
  void partial_head(Side& s, traffic::ErrorKind error, uint32_t flags, int64_t time);
  void cut_side(Side& s, traffic::ErrorKind error);
  void end_side(Side& s, bool reset);
  Entry& new_entry();
  Entry* pair_response(int64_t start, bool* owed);
  void switch_protocols(Side& s, Entry* e, int64_t time);
  void finalize_h2c();
  void release_hold(bool broken);
  void go_done();
  void try_emit();
  void emit_front();
  void flag_gap(Side& s);

  AnalyzerContext context_;
  State state_ = State::kActive;
  Side req_;
  Side resp_;
  std::deque<Entry> pending_;  // requests in order; deque keeps Entry* stable
  uint64_t next_seq_ = 0;
  uint64_t owed_ = 0;               // responses still due to requests written out by max_pending
  size_t stored_ = 0;               // bytes held by pending entries (heads and kept bodies)
  bool any_request_ = false;        // a request head was parsed
  bool any_request_bytes_ = false;  // a request message began
  bool any_response_ = false;       // a status line was parsed
  bool had_gap_ = false;
  bool pipelined_ = false;
  bool resp_after_gap_ = false;  // the to-client direction lost its framing in a gap
  int64_t resp_gap_time_ = traffic::kNoTime;
  bool server_reset_ = false;
  bool finished_ = false;
  bool releasing_ = false;
  // The hold (see the rules above).
  Entry* hold_entry_ = nullptr;
  std::string hold_buf_;
  size_t hold_pos_ = 0;
  std::vector<HoldMark> hold_marks_;
  bool hold_end_ = false;  // the client's FIN/RST came during the hold
  bool hold_end_reset_ = false;
  // h2c: the switched request waiting for its body's end, and what is handed over.
  Entry* h2c_entry_ = nullptr;
  H2cUpgrade upgrade_;
  traffic::Headers scratch_headers_;  // the headers of skipped responses
};

}  // namespace twin::capture
