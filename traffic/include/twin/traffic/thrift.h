#pragma once
// Apache Thrift bodies (the binary and the compact protocol), walked without the IDL, for the
// scrubber's rewriter (scrubber/src/thrift.h: each string and number replaced in place) and the
// comparator's reader (compare/src/tape.h: fields by id, sets in any order). Thrift's wire says
// each value's type, so a body reads whole without the IDL; libthrift needs the IDL's generated
// code to read a struct, which is why this walker is written here.
//
// Specs: github.com/apache/thrift doc/specs/thrift-binary-protocol.md and
// thrift-compact-protocol.md.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace twin::traffic {

enum class ThriftProtocol : uint8_t { kBinary, kCompact };

/// How a body is read: an RPC message, a bare struct, a bare list or set (binary protocol
/// only: a compact list's header reads as a struct's field header as often as not), or a
/// message in the binary protocol's old form (the name first). kAny: the first of them that
/// reads the whole body, in this order.
enum class ThriftReading : uint8_t { kAny, kMessage, kStruct, kList, kOldMessage };

/// The types, whatever each protocol calls them.
enum class ThriftType : uint8_t {
  kBool,
  kI8,
  kI16,
  kI32,
  kI64,
  kDouble,
  kString,  // string and binary: one wire type
  kStruct,
  kMap,
  kSet,
  kList,
  kUuid,
};

/// Nested structs and containers deeper than this do not parse.
inline constexpr int kThriftMaxDepth = 64;

/// What walk_thrift() reads, in the order of the body. Every value is reported by one call
/// (a scalar's, with its bytes at [begin, end) of the body: a string's length included) or by
/// a begin_…() and its end_…() around its contents. The defaults ignore it.
class ThriftHandler {
 public:
  virtual ~ThriftHandler() = default;
  /// A struct's field `id` (its value follows), and its end.
  virtual void field(int16_t /*id*/) {}
  virtual void end_field() {}
  virtual void begin_struct() {}
  virtual void end_struct() {}
  /// A list or set of `count` elements of `element`.
  virtual void begin_list(ThriftType /*element*/, uint32_t /*count*/, bool /*set*/) {}
  virtual void end_list() {}
  /// A map of `count` entries; before each entry's key map_entry(true), before its value
  /// map_entry(false).
  virtual void begin_map(ThriftType /*key*/, ThriftType /*value*/, uint32_t /*count*/) {}
  virtual void map_entry(bool /*key*/) {}
  virtual void end_map() {}
  virtual void boolean(bool /*value*/) {}
  /// i8, i16, i32 and i64 (`type` says which).
  virtual void integer(ThriftType /*type*/, int64_t /*value*/, size_t /*begin*/, size_t /*end*/) {}
  /// A double's bits.
  virtual void floating(uint64_t /*bits*/, size_t /*begin*/, size_t /*end*/) {}
  /// A string or binary's bytes (`bytes`), its length prefix included in [begin, end).
  virtual void string(std::string_view /*bytes*/, size_t /*begin*/, size_t /*end*/) {}
  virtual void uuid(std::string_view /*bytes*/) {}
};

struct ThriftWalk {
  ThriftReading reading = ThriftReading::kAny;  // how `in` read whole; kAny: it did not
  size_t values = 0;                            // fields and elements read, at every depth
};

/// Walks `in` in `protocol` as `only` says (every reading in turn for kAny): an RPC message
/// (its header — the binary protocol's strict or old form, the compact one's — skipped, the
/// method name not reported) or a bare struct, or in the binary protocol a bare list or set
/// (Zipkin v1's spans), each to the end of the input. A dry walk finds the reading first, so
/// that the handler hears nothing of a reading that fails further on: when none reads the
/// whole input it hears nothing at all.
ThriftWalk walk_thrift(std::string_view in, ThriftProtocol protocol, ThriftHandler& handler,
                       ThriftReading only = ThriftReading::kAny);

}  // namespace twin::traffic
