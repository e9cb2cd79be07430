#pragma once
// The comparator's parsed body: a flat tape of 12-byte nodes that point into the body, read from
// JSON (one text, JSON Lines, JSON text sequences), MessagePack, CBOR, Protocol Buffers, XML,
// Thrift or server-sent events, so that diff.cc compares them all by the same rules.
//
// Not a DOM library (nlohmann::json): with a noise-prone field (a timestamp, a request id) nearly
// every pair differs somewhere, so parsing is the common path, and a DOM of one heap node per
// value plus a std::map per object costs several times more than the comparison. Each body is
// parsed, validating, into the tape, reusing its buffers between calls; strings with JSON escapes
// or in chunks, and the text of binary numbers, go to one arena. Every reader is iterative:
// nesting costs heap bounded by the body, never stack.
//
// The binary formats (MessagePack, https://github.com/msgpack/msgpack/blob/master/spec.md; CBOR,
// RFC 8949) are read into the JSON kinds, with flags for what JSON cannot say, so that their
// values compare by what they mean, not by how they were written: an integer in any width, a
// map in any key order, a string in one piece or in chunks. What stays a difference: integer
// against float (both formats have the two types), a byte string against a text string, a
// MessagePack ext type, CBOR's undefined against null, a CBOR simple value, and CBOR tags (kept
// beside the tape). Map keys compare by their text (an integer key 1 is the key "1"); a key that
// is a container, a boolean or null, or is tagged, makes the body unreadable (it is then compared
// as bytes). A body of several top-level items (a CBOR sequence, a MessagePack stream) reads as
// an array of them.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "twin/traffic/protobuf.h"
#include "twin/traffic/thrift.h"

namespace twin::compare::tape {

inline bool is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// Decodes the JSON escape at s[p] == '\\' onto `out` and moves `p` past it. Lone surrogates are
/// rejected, as a strict parser (nlohmann's included) rejects them.
bool unescape_at(std::string_view s, size_t& p, std::string& out);

enum class Kind : uint8_t { kNull, kFalse, kTrue, kNumber, kString, kArray, kObject };

// Node flags.
constexpr uint8_t kInArena = 1;  // text in the arena (escapes decoded, chunks joined, a number)
constexpr uint8_t kInteger = 2;  // number with neither fraction nor exponent, or a binary integer
constexpr uint8_t kTyped = 4;    // number from a binary format: integer and float are two types
constexpr uint8_t kBytes = 8;    // byte string (CBOR major type 2, MessagePack bin)
constexpr uint8_t kExt = 16;     // MessagePack ext: the text is its type byte, then its data
constexpr uint8_t kUndefined = 32;  // CBOR undefined (a kNull)
constexpr uint8_t kSimple = 64;     // CBOR simple value, not false/true/null/undefined (a kNumber)
constexpr uint8_t kTagged = 128;    // CBOR tags on the value: Doc::tags()
/// On a key node only (keys carry no type): a Protocol Buffers field number, named as it is in
/// a path (`$.3.1`), not as a key that is data (`["{id}"]`).
constexpr uint8_t kFieldKey = kTyped;
/// On an array node only: its elements come in any order (a protobuf map field's entries, by the
/// schema), so they are compared as a multiset.
constexpr uint8_t kAnyOrder = kInteger;
/// Flags that make two values of one kind different values.
constexpr uint8_t kTypeFlags = kBytes | kExt | kUndefined | kSimple;

// Strings and numbers: a = offset, b = length (in the body, or in the arena with kInArena).
// Containers: a = members (key/value pairs for objects), b = index just past the subtree.
// An object's members follow it as key node, value subtree, key node, value subtree, ...
struct Node {
  Kind kind;
  uint8_t flags;
  uint32_t a;
  uint32_t b;
};

class Doc {
 public:
  /// Strict RFC 8259 parse (no comments, no trailing commas, no lone surrogates); UTF-8 is not
  /// validated, strings are compared as bytes.
  bool parse(std::string_view s);
  /// JSON Lines / NDJSON (`sequence` false: one JSON text a line; a line of white space alone is
  /// no record, a line may end with CRLF, and a record may not run over two lines) or JSON text
  /// sequences (RFC 7464, `sequence` true: each record after one or more RS bytes): always an
  /// array of the records, even of one or none, each read as parse() reads a body.
  bool parse_json_lines(std::string_view s, bool sequence);
  /// Server-sent events (text/event-stream, twin/traffic/sse.h), as a browser's EventSource
  /// dispatches them: an array of events, each an object of "event" (its type, "message" when
  /// the stream named none), "id" (the last event id the stream set, when it is not empty: a
  /// client's lastEventId), "retry" (a reconnection time set since the event before, a number)
  /// and "data" (its data lines joined by LF; read as JSON when it is an object or an array,
  /// else a string). Keys are names (kFieldKey). Comments, unknown fields and an event the body
  /// does not end with a blank line (which no client dispatches) are left out. Never false but
  /// for a body of 4 GiB or more: every byte string is an event stream.
  bool parse_event_stream(std::string_view s);
  /// MessagePack: one item or a stream of them; every byte must belong to an item.
  bool parse_msgpack(std::string_view s);
  /// CBOR (RFC 8949): one item or a sequence of them (RFC 8742), well-formed; UTF-8 is not
  /// validated.
  bool parse_cbor(std::string_view s);

  /// Protocol Buffers messages without their schema, `lengths` of them one after the other in
  /// `s` (a gRPC body's messages, unframed): one message, or an array of several. A message is
  /// an object keyed by field number (key nodes flagged kFieldKey), fields in number order, a
  /// number met more than once an array of its values in order. Varints and fixed32/64 are
  /// unsigned integers (their bits: without the schema a sint or a double cannot be told); a
  /// length-delimited field is text when it is printable UTF-8, else a message when it reads as
  /// one whole (to a depth of kMaxMessageDepth), else bytes. Groups are not read (the message
  /// holding one is bytes).
  ///
  /// With the service's schema and the messages' type, fields the schema names are read as it
  /// says: keyed by name (still flagged kFieldKey), a repeated field always an array (of every
  /// element of a packed one), a map field an array flagged kAnyOrder, numbers by their type
  /// (int32 -1 is -1, sint by zigzag, double and float as floats, bool as true/false), a string
  /// text and bytes bytes whatever they hold, a message field a message of its type (bytes when
  /// it does not read as one). Fields the schema does not name are read as without it.
  bool parse_protobuf(std::string_view s, std::span<const size_t> lengths,
                      const traffic::ProtobufSchema* schema = nullptr,
                      const traffic::ProtobufSchema::MessageType* type = nullptr);
  static constexpr int kMaxMessageDepth = 32;

  /// XML (SOAP, Atom, plain XML APIs), as a JSON document of the same paths: the root is an
  /// object of one member, the root element. An element with neither attributes nor child
  /// elements is a string, its text; any other is an object whose members are its attributes
  /// ("@id"; of a local name met more than once on an element, one in a namespace is
  /// "@{namespace}id", the namespace by a hash past 64 bytes), its child elements by local name
  /// — several of one name an array of them in document order, one alone its value — and its
  /// text ("#text") when it has some. Keys are names (flagged kFieldKey, as protobuf's). An
  /// element whose namespace (resolved, whatever its prefix or where it is declared) is not its
  /// parent's has it as "@xmlns"; namespace declarations are no attributes. Text is decoded
  /// (XML's five entities, character references, CDATA sections as written) and joined across
  /// comments and CDATA sections; in an element with child elements each piece is trimmed of
  /// white space and two pieces a child element stands between are joined by a space. White
  /// space alone between tags is none. Comments, processing instructions and the DOCTYPE are
  /// left out. Everything is text: XML has no numbers. False when the body is not one
  /// well-formed element (twin/traffic/xml.h), uses an entity XML does not define (a DTD's,
  /// never expanded, or a stray '&'), or has an attribute twice (one name written twice, or
  /// twice in one namespace). Linear in the body but for sorting each element's children and
  /// attributes by name.
  bool parse_xml(std::string_view s);

  /// Apache Thrift (twin/traffic/thrift.h), without the IDL: an RPC message's body (its header
  /// left out: the sequence id differs on every call) or a bare struct, list or set, in
  /// `protocol`. A struct is an object keyed by field id (key nodes flagged kFieldKey: `$.2.1`),
  /// a list an array, a set an array flagged kAnyOrder, a map with string, integer, bool or
  /// double keys an object keyed by the key's text, any other map an array flagged kAnyOrder of
  /// [key, value] arrays (an empty map in the compact protocol, which names no types, is an empty
  /// object). Integers of every width are integers (kTyped: an i64 5 is an i32 5, not a double
  /// 5.0), a string or binary is a string, a uuid 16 bytes (kBytes). False when the body does not
  /// read whole.
  bool parse_thrift(std::string_view s, traffic::ThriftProtocol protocol);

  /// The node to compare from: the one value, or the array of a body's several.
  uint32_t root() const { return root_; }
  /// Nodes on the tape (keys included): every index below it is a node.
  uint32_t size() const { return static_cast<uint32_t>(nodes_.size()); }
  const Node& operator[](uint32_t i) const { return nodes_[i]; }
  uint32_t next(uint32_t i) const {
    const Node& n = nodes_[i];
    return (n.kind == Kind::kArray || n.kind == Kind::kObject) ? n.b : i + 1;
  }
  std::string_view text(const Node& n) const {
    return (n.flags & kInArena) ? std::string_view(arena_).substr(n.a, n.b) : src_.substr(n.a, n.b);
  }
  /// The CBOR tags of node i, outermost first (empty unless it has kTagged).
  std::span<const uint64_t> tags(uint32_t i) const;

 private:
  // JSON
  bool parse_value(size_t& p);
  bool parse_string(size_t& p);
  bool parse_number(size_t& p);
  bool parse_key(size_t& p);

  // Binary formats: the head of one item, read at p. Scalars are pushed onto the tape here.
  enum class Head : uint8_t { kScalar, kArray, kMap, kTag, kBreak };
  struct Item {
    Head head = Head::kScalar;
    bool indefinite = false;  // CBOR: a container closed by a break
    uint64_t count = 0;       // a container's items (a map's pairs), or a tag's number
  };
  bool msgpack_head(size_t& p, Item& item);
  bool cbor_head(size_t& p, Item& item);
  template <bool kCbor>
  bool parse_items(std::string_view s);
  bool push_text(size_t& p, uint64_t length, uint8_t flags);
  bool push_integer(bool negative, unsigned __int128 magnitude);
  bool push_float(double value);
  bool push_arena(Kind kind, uint8_t flags, size_t at);
  // Protocol Buffers
  struct Field {
    uint32_t number;
    uint8_t wire;
    size_t begin, end;  // a length-delimited value's bytes
    uint64_t value;     // a number's
  };
  using MessageType = traffic::ProtobufSchema::MessageType;
  using FieldType = traffic::ProtobufSchema::FieldType;
  bool push_message(size_t begin, size_t end, int depth, const MessageType* type);
  bool push_field_value(const Field& f, int depth, const FieldType* named);
  bool push_typed_number(const Field& f, const FieldType& named);
  bool push_packed(const Field& f, const FieldType& named, uint32_t& count);
  const traffic::ProtobufSchema* schema_ = nullptr;
  std::vector<Field> fields_;  // a stack of the messages being read, each level's fields

  friend class ThriftBuilder;  // tape_thrift.cc

  // XML (tape_xml.cc): the document's elements, read first, then written onto the tape.
  struct XmlElement {
    std::string_view local;  // local name
    uint32_t parent;         // index, or kNone
    uint32_t first_child, last_child, next_sibling;
    uint32_t first_piece, last_piece;  // its text, a list through xml_pieces_
    uint32_t attrs_begin, attrs_end;   // its attributes in xml_attrs_
    uint32_t ns_begin, ns_end;         // its namespace, decoded, in xml_ns_text_
    bool child_since_text;             // a child element began after its last piece of text
  };
  struct XmlPiece {
    uint32_t begin, end;  // bytes of the body
    bool cdata;           // as written (else entities are decoded)
    bool after_child;     // a child element lies between it and the piece before
    uint32_t next;
  };
  struct XmlAttr {
    std::string_view local, qname;
    uint32_t begin, end;          // the raw value
    uint32_t key_begin, key_end;  // "@{namespace}local" in xml_ns_text_ when qualified, else 0, 0
  };
  struct XmlBinding {
    std::string_view prefix;
    uint32_t begin, end;  // its namespace in xml_ns_text_
    uint32_t shadowed;    // the binding of the same prefix it hides, or kNone
  };
  struct XmlTask {
    uint8_t op;
    uint32_t arg;
  };
  bool read_xml_elements();
  bool write_xml_elements();
  bool push_xml_text(const XmlElement& e);
  bool push_xml_key(std::string_view prefix, std::string_view name);
  std::vector<XmlTask> xml_tasks_;
  std::vector<XmlElement> xml_elements_;
  std::vector<XmlPiece> xml_pieces_;
  std::vector<XmlAttr> xml_attrs_;
  std::vector<XmlBinding> xml_bindings_;
  std::vector<uint32_t> xml_children_;
  std::string xml_ns_text_;
  std::string xml_decoded_;
  std::vector<uint32_t> xml_attr_order_;  // an element's attributes sorted by local name
  std::vector<std::pair<uint32_t, uint32_t>> xml_keys_;  // qualified keys of one name
  // The binding in scope for each prefix (an index in xml_bindings_): a lookup per element and
  // attribute, whatever number of bindings are in scope.
  std::unordered_map<std::string_view, uint32_t> xml_scope_;

  // Server-sent events (tape_sse.cc): the events read first, then written onto the tape. Their
  // data, joined, are in sse_text_ (the tape's src_ then); types, ids and retry times in the
  // arena, each copied once, where the stream sets it.
  struct SseEvent {
    uint32_t type_at, type_size;    // in the arena
    uint32_t id_at, id_size;        // in the arena; id_size 0: none
    uint32_t retry_at, retry_size;  // in the arena; retry_size 0: none
    uint32_t data_begin, data_end;  // in sse_text_
  };
  std::string sse_text_;
  std::vector<SseEvent> sse_events_;

  void reset(std::string_view s);

  std::string_view src_;
  std::vector<Node> nodes_;
  std::string arena_;
  std::vector<uint32_t> open_;  // JSON: indices of the containers being parsed
  struct Open {
    uint32_t node;
    bool map;
    bool key_next;    // a map's next item is a key
    bool indefinite;  // closed by a break, not by its count
    uint64_t left;    // items (a map's pairs) still to come, when not indefinite
  };
  std::vector<Open> open_binary_;
  // Every tag, by the node it is on: tag_nodes_ ascending (a node's several tags outermost
  // first), tag_values_ the tags' numbers in the same order.
  std::vector<uint32_t> tag_nodes_;
  std::vector<uint64_t> tag_values_;
  std::vector<uint64_t> pending_tags_;  // read, waiting for their item
  uint32_t root_ = 0;
};

}  // namespace twin::compare::tape
