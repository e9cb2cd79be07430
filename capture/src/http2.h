#pragma once
// The HTTP/2 cleartext analyzer (RFC 9113, h2c): a passive, sans-I/O decoder that turns the two
// reassembled byte streams of one TCP connection into exchanges. It owns its frame layer (a
// passive observer cannot use nghttp2_session, which is an endpoint) and uses nghttp2's HPACK
// inflater, one per direction, for the header blocks.
//
// Anomalies it counts (Counters::anomaly), "fatal" ones end the connection (state() kDone, every
// pending stream emitted with what was seen, error kProtocol unless said otherwise):
//   http2.midstream               context.midstream was set: nothing decoded (fatal)
//   http2.bad_preface             the client did not start with the connection preface (fatal)
//   http2.gap                     bytes of a direction were lost; pending streams are emitted
//                                 with kFlagGap and error kTruncated (fatal)
//   http2.bad_frame_size          a frame whose length its type forbids: SETTINGS not a multiple
//                                 of 6 or a non-empty ACK, PING not 8, RST_STREAM or
//                                 WINDOW_UPDATE not 4, GOAWAY under 8, or shorter than its
//                                 Pad Length / priority / promised-id fields (fatal)
//   http2.bad_padding             a Pad Length at least as long as the rest of the frame (fatal)
//   http2.bad_stream_id           DATA, HEADERS, PUSH_PROMISE, RST_STREAM or PRIORITY on
//                                 stream 0, or SETTINGS, PING, GOAWAY on another (fatal)
//   http2.bad_continuation        a CONTINUATION with no header block open on its stream, or a
//                                 header block interrupted by another frame (fatal)
//   http2.hpack_error             the HPACK inflater rejected a header block: that direction's
//                                 dynamic table is lost (fatal)
//   http2.bad_priority            a PRIORITY frame whose length is not 5 (a stream error for
//                                 the endpoints: ignored)
//   http2.header_block_too_long   a header block over AnalyzerOptions::max_header_bytes
//                                 (compressed, or decoded at 32 + name + value bytes per field,
//                                 as SETTINGS_MAX_HEADER_LIST_SIZE counts): the block is still
//                                 run through the inflater, so the dynamic table stays in step,
//                                 but its fields are not kept and the stream is skipped (not
//                                 emitted; Counters::messages_skipped)
//   http2.too_many_streams        a stream opened beyond max_pending: the oldest open stream is
//                                 emitted as it is (error kTruncated)
//   http2.unknown_stream          a frame on a stream never opened (a response before its
//                                 request, client HEADERS on an even stream id): ignored
//   http2.unexpected_data         DATA before the headers of its side or after its END_STREAM,
//                                 a header block after END_STREAM, or a second header block
//                                 that does not end the stream (trailers must): ignored, but
//                                 inflated
//   http2.bad_status              a response without a three-digit :status (status 0 is kept)
//   http2.push_skipped            a server push (PUSH_PROMISE): not recorded, see below
//   http2.unexpected_push_promise a PUSH_PROMISE sent by the client: ignored
//   http2.bad_upgrade_settings    an h2c HTTP2-Settings value that is not base64url SETTINGS
//
// Choices (the output is compared with tshark on real captures):
// - Streams become exchanges in the order they complete: when both sides have sent END_STREAM,
//   or at RST_STREAM (error kReset; kNone when it is a NO_ERROR reset after a complete
//   response, RFC 9113 8.1), or when the connection gives up or finishes. seq is the order in
//   which the client opened its streams. A request has framing kHttp2 when it carried at least
//   one DATA frame (an empty one included), else kNone; likewise the response.
// - Headers: every field of every block, pseudo-headers included, in wire order and as named on
//   the wire; trailers (a later block, which must carry END_STREAM) follow the regular fields of
//   their message; 1xx interim response blocks are dropped. request.target is :path (:authority
//   for a CONNECT without :path), request.authority is :authority (else the host header),
//   response.reason is empty.
// - Times: request_start / response_start are the time of the data() call that delivered the
//   first byte of the message's (final) HEADERS frame; request_end / response_end that of the
//   call that delivered the last byte of the frame that ended the stream (for a header block,
//   its last CONTINUATION).
// - A header block still open when its stream is emitted (reset, gap, finish...) is dropped
//   whole, so that any split of the input gives the same exchanges.
// - Server push is counted (http2.push_skipped) and skipped: a pushed exchange was never asked
//   for by the client, so a replay must not send it. Its header blocks are still inflated to keep
//   the server's HPACK table in step.
// - GOAWAY from the server with last-stream-id L: open client streams above L were not processed
//   by the server; they are emitted at once with error kReset (kFlagNoResponse), and streams the
//   client opens above L afterwards get the same when their request ends (or at finish). A
//   GOAWAY from the client (about pushed streams) changes nothing.
// - HPACK table size: SETTINGS_HEADER_TABLE_SIZE sent by one side bounds the encoder of the
//   other; the inflater of that other direction is given the largest value seen so far (capped at
//   max(64 KiB, max_header_bytes) to bound memory), never a smaller one. The encoder's own
//   in-band Dynamic Table Size Updates drive the actual table size, so the table stays exact
//   while a decrease cannot make the inflater demand an update from a block the encoder wrote
//   before it saw the SETTINGS (the two directions are not causally ordered here).
// - h2c upgrade: stream 1 is the upgrade request, already ended by the client; the client's
//   HEADER_TABLE_SIZE from HTTP2-Settings is applied. The caller feeds rest_to_server and
//   rest_to_client through data() after construction, as usual (the constructor does not).
// - SETTINGS_MAX_FRAME_SIZE is not enforced: the 24-bit length field bounds a frame, DATA
//   payloads stream into the bodies (at most max_body bytes kept) and header blocks stream
//   through the inflater, so no frame is ever buffered whole.
// - end(dir): nothing is emitted at once (the other side may still answer); at finish() a stream
//   still waiting on a direction that ended with RST gets kReset, with FIN kTruncated, else
//   kCancelled when end_of_capture, else kTruncated.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "analyzer.h"

namespace twin::capture {

/// True when `bytes` (the first bytes of a direction seen midstream) plausibly start with HTTP/2:
/// the client connection preface, or two or more consecutive well-formed frame headers (known
/// type, reserved bit clear, only defined flags, stream 0 exactly for connection frames, the
/// fixed lengths of PRIORITY, RST_STREAM, PING, WINDOW_UPDATE, SETTINGS). A sample that ends
/// inside the first frame's payload gives false. Pure function, thread-safe.
bool looks_like_http2(std::string_view bytes);

/// HTTP/2 analyzer of one cleartext connection. Single-threaded (one connection, one thread);
/// the context's references must outlive it. Never throws on the data path.
class Http2Analyzer final : public Analyzer {
 public:
  /// Prior knowledge: the client direction starts with the connection preface.
  explicit Http2Analyzer(AnalyzerContext context);
  /// After an h2c upgrade: stream 1 is the upgrade request (upgrade.exchange, kept as it is but
  /// for protocol kHttp2 and stream 1), half-closed by the client; client streams go on from 3
  /// with seq from upgrade.exchange.seq + 1. upgrade.rest_to_server / rest_to_client are NOT fed
  /// here: the caller passes them to data() afterwards, like any other bytes.
  Http2Analyzer(AnalyzerContext context, H2cUpgrade upgrade);
  ~Http2Analyzer() override;
  Http2Analyzer(const Http2Analyzer&) = delete;
  Http2Analyzer& operator=(const Http2Analyzer&) = delete;

  void data(Direction dir, std::string_view bytes, int64_t time) override;
  void gap(Direction dir, uint64_t length, int64_t time) override;
  void end(Direction dir, bool reset, int64_t time) override;
  void finish(int64_t time, bool end_of_capture) override;
  State state() const override;
  /// Bodies and headers held by open streams, plus both HPACK dynamic tables.
  size_t buffered() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace twin::capture
