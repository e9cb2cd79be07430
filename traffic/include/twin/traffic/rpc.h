#pragma once
// Wire helpers for RPC bodies, shared by the scrubber (which rewrites the messages) and the
// comparator (which reads them and their status): gRPC's, gRPC-Web's and Connect's
// length-prefixed messages ("envelopes"), gRPC-Web's base64 text mode, and the test of whether
// a length-delimited protobuf field holds text.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace twin::traffic {

/// One length-prefixed message of a gRPC, gRPC-Web or Connect stream.
struct Envelope {
  uint8_t flags = 0;         // bit 0: compressed; gRPC-Web 0x80: trailers; Connect 0x02: end
  std::string_view payload;  // (a view into the body)
};

struct Envelopes {
  std::vector<Envelope> items;  // the whole ones
  // Bytes after the last whole envelope: a prefix that announces more than is there (a body
  // cut at --max-body, or not such a stream), or fewer than the 5 bytes of a prefix.
  std::string_view rest;
};

/// Splits `body` into envelopes (flags, 4-byte big-endian length, payload).
Envelopes split_envelopes(std::string_view body);

/// Appends an envelope to `out`. False when the payload is longer than 4 GiB - 1.
bool append_envelope(uint8_t flags, std::string_view payload, std::string& out);

/// gRPC-Web's text mode: the body is base64 (standard alphabet, padded), possibly several
/// pieces one after another, each padded on its own. Decodes into `out` (cleared first);
/// false when it is not such base64.
bool decode_grpc_web_text(std::string_view body, std::string& out);

/// UTF-8 (no overlong forms, surrogates or code points past U+10FFFF) without control bytes
/// other than tab, LF and CR, C1 controls included: what a length-delimited protobuf field
/// holds when it is text rather than bytes or a message.
bool is_printable_utf8(std::string_view s);

}  // namespace twin::traffic
