#pragma once
// Protocol Buffers and gRPC bodies, read without a schema.
//
// The wire format (protobuf.dev/programming-guides/encoding) says for each field its number
// and how its bytes are framed: a varint, 8 or 4 fixed bytes, or a length and that many bytes
// (a string, bytes, a nested message or a packed repeated field: the wire does not say which).
// Scanned as one run of bytes, a message's tags and lengths sit next to its strings, and the
// content detectors read them as part of a value: the length 0x30 of a 48-character key is a
// '0' glued to it, the tag 'b' of field 12 runs on from an e-mail's ".com" before it, and a
// token written over such a run changes a length or a tag: the message no longer parses, and
// the replay sends the candidate a request it rejects. So the rewriter below walks the fields
// and hands each length-delimited field's bytes to a visitor on their own, with the path of
// field numbers that leads to it ("1.3": field 3 of the message in field 1), and writes every
// length again for what replaced it. libprotobuf needs the schema for any of this (its
// UnknownFieldSet keeps no byte-exact order and cannot be told a string from a message), so
// the reader is written here; it is small.
//
// Which of the four a length-delimited field is, is read from its bytes: a field whose bytes
// parse whole as a message, with a length-delimited field of its own, is a message (a nested
// message of a single short string has a printable tag and length, and would otherwise read as
// text); else UTF-8 text without control bytes (but tab, CR and LF) is text; else another
// message (numbers only); else bytes, which only keep their length.
//
// gRPC (grpc.github.io/grpc/core/md_doc__p_r_o_t_o_c_o_l-_h_t_t_p2.html), gRPC-Web and Connect
// frame each message with a flags byte and a 4-byte big-endian length: split_envelopes() reads
// that framing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "twin/traffic/protobuf.h"
#include "twin/traffic/rpc.h"

namespace twin::scrubber {

using traffic::ProtobufSchema;

class ProtobufVisitor {
 public:
  virtual ~ProtobufVisitor() = default;
  /// A length-delimited field read as text, `path` its field numbers joined by '.'. Returns
  /// true to replace it with `replacement` (of any length).
  virtual bool text(std::string_view path, std::string_view value, std::string& replacement) = 0;
  /// A length-delimited field that is neither text nor a message. Returns true to replace it
  /// with `replacement`, which must have the same length (else it is not used).
  virtual bool bytes(std::string_view path, std::string_view value, std::string& replacement) = 0;
  /// A number field the schema types: an integer (int32, int64, uint32, uint64, sint32,
  /// sint64 and the fixed ones), `value` its decimal value, or floating point (double, float),
  /// `value` the shortest decimal that reads back as it (not NaN or an infinity, which are not
  /// visited); not bool or enum. Returns true to replace it with `replacement`, a decimal: for
  /// an integer field an integer, one out of the type's range taken modulo its size (so that it
  /// never stays what it was for not fitting); for floating point any decimal number, rounded
  /// to the type (one past a float's range becomes an infinity). One that is not such a number
  /// is not used.
  virtual bool number(std::string_view /*path*/, std::string_view /*value*/,
                      std::string& /*replacement*/) {
    return false;
  }
};

struct ProtobufRewriteResult {
  bool valid = false;   // `in` parsed whole as a message
  size_t fields = 0;    // fields read, at every depth
  size_t replaced = 0;  // text and bytes fields replaced
};

/// Nested messages deeper than this are visited as bytes (libprotobuf's default recursion
/// limit is 100).
inline constexpr int kProtobufMaxDepth = 64;

/// Rewrites the message `in` into `out` (cleared first): every field's bytes as they were but
/// for the length-delimited fields the visitor replaced, with their lengths (and those of the
/// messages around them) written again. When !valid, nothing was visited and `out` is
/// unspecified. A message with no replaced field comes out byte for byte.
/// With `type` (and the schema it belongs to), fields the type names are visited under their
/// names (a repeated field's with "[]": "addresses[].street") and read as the schema says: a
/// string as text, a message as that message, an integer or floating-point field as a number
/// (each element of a packed repeated one too). Fields it does not name are read as without a
/// schema, under their numbers.
ProtobufRewriteResult rewrite_protobuf(std::string_view in, ProtobufVisitor& visitor,
                                       std::string& out, const ProtobufSchema* schema = nullptr,
                                       const ProtobufSchema::MessageType* type = nullptr);

/// Whether `in` parses whole as a message (an empty one does).
bool is_protobuf_message(std::string_view in);

/// Whether a field's bytes are read as text (traffic::is_printable_utf8).
inline bool is_field_text(std::string_view s) { return traffic::is_printable_utf8(s); }

/// A number() replacement for an integer: its two's complement bits (a decimal integer, '-'
/// allowed, its digits read modulo 2^64); false when it is not one.
bool integer_replacement(std::string_view replacement, uint64_t& bits);
/// A number() replacement for floating point: any decimal number std::from_chars reads whole
/// (no leading '+'); false when it is not one.
bool decimal_replacement(std::string_view replacement, double& value);
/// `d` as a float's bits, rounded to nearest; past a float's range an infinity of its sign.
uint32_t float_bits_of(double d);

// gRPC, gRPC-Web and Connect envelopes (twin/traffic/rpc.h, shared with the comparator).
using traffic::append_envelope;
using traffic::Envelope;
using traffic::Envelopes;
using traffic::split_envelopes;

/// A stream of messages each after its length as a varint (writeDelimitedTo in Java,
/// Prometheus' `encoding=delimited`): the whole messages, and `rest` the bytes after the last
/// one (a length that announces more than is there, or one that is no varint).
struct DelimitedMessages {
  std::vector<std::string_view> items;  // (views into the body)
  std::string_view rest;
};
DelimitedMessages split_delimited(std::string_view body);

/// Appends a message after its length as a varint to `out`.
void append_delimited(std::string_view message, std::string& out);

/// gRPC's binary metadata: a header whose name ends in "-bin" holds base64 (standard alphabet,
/// padded or not: both must be accepted) of bytes, most often a protobuf message
/// (grpc-status-details-bin is a google.rpc.Status with its details). Decodes into `out`
/// (cleared first) and says whether it was padded; false when it is not such base64.
bool decode_binary_header(std::string_view value, std::string& out, bool& padded);

using traffic::decode_grpc_web_text;

}  // namespace twin::scrubber
