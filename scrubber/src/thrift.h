#pragma once
// Apache Thrift bodies (the binary and the compact protocol), read without the IDL.
//
// Thrift over HTTP (THttpClient, Jaeger's collector taking application/x-thrift batches of
// spans, Zipkin v1) puts a string's length right before its bytes: four big-endian bytes in
// the binary protocol (00 00 00 30 for 48 bytes: the last one is the character '0') and a
// varint in the compact one (0x30 again). Scanned as one run of bytes, the detectors read that
// '0' as the first character of the secret after it, and a token written over it changes the
// length: the message no longer parses, and the replay sends the candidate a request it
// rejects (as with Protocol Buffers, MessagePack and CBOR). So the rewriter below walks the
// fields and hands each string to a ProtobufVisitor on its own, under the path of its field ids
// ("2.3[].1": field 1 of the structs in the list in field 3 of the struct in field 2; a map's
// keys under "N[].1" and its values under "N[].2", as protobuf writes map entries), and writes
// its length again for what replaced it. Unlike protobuf's, Thrift's wire says each value's
// type: i32, i64 and double values go to the visitor as numbers (a phone number kept in an
// i64) and come back in their type's encoding; i16, i8, bool and uuid are not read. Nothing
// around a value counts its bytes (structs end with a stop byte, containers count elements),
// so a replacement may have any length. The walk over the fields is twin/traffic/thrift.h's
// (shared with the comparator; why it is written rather than taken from libthrift is said
// there); libthrift would not write the same bytes back either.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protobuf.h"
#include "twin/traffic/thrift.h"

namespace twin::scrubber {

using traffic::kThriftMaxDepth;
using traffic::ThriftProtocol;
using traffic::ThriftReading;

struct ThriftRewriteResult {
  bool valid = false;                           // `in` parsed whole in the protocol
  ThriftReading reading = ThriftReading::kAny;  // how, when valid
  size_t fields = 0;                            // fields and elements read, at every depth
  size_t replaced = 0;                          // values replaced
};

/// Rewrites `in` into `out` (cleared first): an RPC message (its header — the binary
/// protocol's strict or old form, the compact one's — kept as it is, the method name not
/// visited) or a bare struct, or in the binary protocol a bare list or set (Zipkin v1's
/// spans), each to the end of the input. Every byte is kept but for the values the visitor
/// replaced: a string read as text (UTF-8 without control bytes) through text(), with any length;
/// other strings through bytes(), the same length only; i32, i64 and double values through number()
/// (an integer replacement is taken modulo 2^64, then cut to the type's width; a double's may be
/// any decimal; one that is no number is not used). When the input does not parse whole, nothing
/// was visited, `out` is unspecified and valid is false: a caller may try the other protocol.
/// The readings are tried in the order of ThriftReading (a message first), or only `reading`.
/// (Bytes may read more than one way, and a rewrite may make them read another way too: the
/// result says which reading wrote them.)
ThriftRewriteResult rewrite_thrift(std::string_view in, ThriftProtocol protocol,
                                   ProtobufVisitor& visitor, std::string& out,
                                   ThriftReading reading = ThriftReading::kAny);

}  // namespace twin::scrubber
