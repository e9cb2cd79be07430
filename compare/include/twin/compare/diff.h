#pragma once
// Response differences by field path, and Diffy-style noise cancellation.
//
// A JSON body is compared value by value; every leaf (or subtree, when the types differ or a key
// is missing on one side) that differs is named by a normalised path: `$.user.name`,
// `$.items[*].price` (array indices become [*] so that a path is a field, not an occurrence).
// Keys that are data rather than field names are named by their kind, as path segments are in
// route templates: digits only `["{id}"]`, with an '@' `["{email}"]`, longer than 64 bytes
// `["{long-key}"]` — so a report holds no value, and one hostile key cannot blow up every path.
// MessagePack and CBOR bodies (by their media type) are read into the same values and compared
// by the same paths; Protocol Buffers bodies by field number, or by name with the service's
// schema (DiffOptions::protobuf). Bodies that are none of these are compared as bytes under the
// path `$body`; status codes are not diffs (the caller counts them separately); headers, when
// asked, are `header.<lower-case name>`.
//
// Noise: some fields differ on every call (timestamps, request ids, random ordering). With a
// second baseline target (`--noise`), each field's rate of candidate-vs-baseline differences is
// set against its rate of noise-vs-baseline differences, and a field is reported only where the
// excess passes both thresholds (see NoiseOptions), as in Twitter's Diffy.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twin/traffic/exchange.h"
#include "twin/traffic/protobuf.h"

namespace twin::compare {

/// How two responses are compared. Paths are written as follows:
///   `$`               the JSON root;
///   `.key`            an object member whose key is made only of [A-Za-z0-9_];
///   `["key"]`         any other key, JSON-escaped (`$["content-type"]`, `$[""]`);
///   `[*]`             every element of an array;
///   `$body`           the body as bytes (not JSON, invalid JSON, undecodable, over max_body);
///   `header.<name>`   a response header, name lower-cased.
///
/// JSON semantics: object key order is not a difference; numbers compare by value (`1`, `1.0`
/// and `1e0` are equal; two integers compare exactly, digit by digit, so large ids keep their
/// precision; otherwise both are read as IEEE doubles); strings compare after unescaping
/// (`"\u00e9"` equals `"é"`). A type change, or a key present on one side only, names the path
/// of that value and is not descended. Arrays are aligned as a diff aligns lines, so that an
/// element inserted or removed does not make every later one differ: elements equal on both
/// sides are matched — the common prefix, the common suffix, then a longest common subsequence
/// of the rest (of the ties, the one that passes over the baseline's elements first) — and
/// between two matched elements the unmatched ones are paired in order and compared (a changed
/// element names its fields: `$.items[*].price`). An element left without a partner (inserted,
/// removed, moved) names the array itself, as a change of length always does. Arrays named in
/// `unordered` are matched as multisets instead. Objects with duplicate keys: when both sides
/// list the same keys in the same order members are compared in order, otherwise the last
/// occurrence of a key wins.
///
/// Formats, by Content-Type: JSON when it holds "json"; MessagePack for the subtypes msgpack,
/// x-msgpack, vnd.msgpack and `+msgpack`; CBOR for cbor, cbor-seq, `+cbor` and `+cbor-seq`;
/// protobuf and framed RPC messages (below); XML for xml and `+xml`; Apache Thrift for x-thrift
/// (binary protocol, else compact), vnd.apache.thrift.binary and vnd.apache.thrift.compact (read
/// as tape.h's Doc::parse_thrift() says: fields by id, sets in any order); JSON Lines (x-ndjson,
/// ndjson, jsonl, x-jsonl, jsonlines, x-jsonlines) and JSON text sequences (json-seq,
/// `+json-seq`) as an array of their records; server-sent events (event-stream) as the array of
/// events a client dispatches (tape.h's Doc::parse_event_stream(): `$[*].data.…`). A side whose
/// type says none of these is read in the other side's format; when neither says, both are JSON if
/// one body starts with `{` or `[`, XML if one starts with an XML declaration. Two different
/// declared formats are `$body`. XML is read as tape.h's Doc::parse_xml() says: elements and
/// attributes by local name (`$.order.@id`, `$.order.line[*]`, `$.order.#text`), namespaces by what
/// they are, not by prefix (`@xmlns` where an element's differs from its parent's). MessagePack and
/// CBOR values compare by the JSON rules whatever width, key order or chunking wrote them (uint8 5
/// equals uint64 5; a float32 equals the float64 of the same value), and a body of several items (a
/// stream, a CBOR sequence) is an array of them. What JSON cannot say is a difference there:
/// integer against float, byte string against text, a MessagePack ext type, CBOR undefined against
/// null, a CBOR simple value, and CBOR tags (a tagged value against the bare one). Map keys compare
/// by their text (an integer key 7 is the key "7", named `["{id}"]`); a body with a key that is a
/// container, boolean, null or tagged, or that is not well-formed, is compared as bytes.
///
/// Headers (when `headers`): compared by lower-cased name as a multiset of values (surrounding
/// spaces trimmed), skipping those that vary per connection or follow the body: Date,
/// Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, TE, Trailer, Content-Length,
/// and HTTP/2 pseudo-headers (`:status`).
struct DiffOptions {
  bool headers = false;  // also compare response headers (see above for the ones skipped)
  /// Paths to leave out, as globs over normalised paths: `*` matches within one path component,
  /// `**` any number of components (zero included). Components are split at `.`, `[*]` and
  /// `["…"]` (the key inside brackets is matched unescaped, so `$.a-b` and `$["a-b"]` are the
  /// same pattern); `header.<name>` is two components whatever the name holds. An ignored path
  /// ignores its whole subtree: "$.meta" and "$.meta.**" are the same. E.g. "$.meta",
  /// "$.items[*].updated_at", "$.**.trace_id", "header.etag", "header.x-*".
  std::vector<std::string> ignore;
  /// Arrays whose elements come in any order (a set, a Go map's entries, a protobuf map field),
  /// as globs over their own paths, written as for `ignore` but matching the whole path only:
  /// "$.tags", "$.items[*].roles", "$.4" (a protobuf field), "$.**" (every array). Their elements
  /// are matched as a multiset: each of the baseline's, in order, to the first equal one of the
  /// other side's not yet matched; the unmatched ones are then paired in order and compared, and
  /// the array's own path is named only when the lengths differ. Arrays deeper than max_depth
  /// are compared whole, in order.
  std::vector<std::string> unordered;
  /// Ordered arrays are aligned as a diff aligns lines (see the contract above); with more than
  /// this many pairs of elements to align once the common prefix and suffix are set aside, the
  /// rest is paired in order instead, bounding the work to O(max_align) comparisons.
  size_t max_align = 1 << 16;
  /// Containers this deep (the root is depth 0) are compared as a whole subtree and named by
  /// their own path. Capped at 1000 to bound the stack.
  size_t max_depth = 64;
  size_t max_paths = 64;  // per response pair; more differing paths are cut (diff returns false)
  /// Bodies longer than this once decoded are compared as bytes (`$body`); decoding stops here.
  size_t max_body = 1 << 20;
  /// The service's Protocol Buffers schema (FileDescriptorSets), or none. Where it gives a
  /// protobuf body's type — the output of the method the request's path names (diff()'s
  /// `target`), else the type its media type's `proto=`/`messageType=` parameter or an
  /// X-Protobuf-Message header names — fields are read as tape.h's parse_protobuf says: named
  /// (`$.items[*].price`), repeated fields always arrays, map fields compared in any order,
  /// numbers by their type. Fields it does not name stay numbers (`$.7`).
  std::shared_ptr<const traffic::ProtobufSchema> protobuf;
};

/// Compares responses. Not thread-safe (it keeps parse and decode buffers, bounded by
/// max_body); use one per thread.
class ResponseDiffer {
 public:
  /// Throws std::invalid_argument when an ignore pattern is malformed (an unclosed `["`).
  explicit ResponseDiffer(DiffOptions options = {});
  ~ResponseDiffer();
  ResponseDiffer(ResponseDiffer&&) noexcept;
  ResponseDiffer& operator=(ResponseDiffer&&) noexcept;

  /// Fills `out` (cleared first) with the distinct normalised paths at which `b` (candidate or
  /// noise) differs from `a` (baseline), sorted. Byte-identical bodies are not parsed.
  /// Content-Encoding gzip/x-gzip/deflate is decoded (output bounded by max_body) before
  /// comparing; a body that cannot be decoded (br, zstd, corrupt, too large) is compared as
  /// its raw bytes. The format is chosen as DiffOptions says; if either side then fails to
  /// read, the difference is `$body`.
  /// Returns false when the output was cut at max_paths (`out` then holds max_paths paths).
  /// `target`, the request's target, names the gRPC or Connect method whose output type reads a
  /// protobuf body when DiffOptions::protobuf holds a schema.
  bool diff(const traffic::Response& a, const traffic::Response& b, std::vector<std::string>& out,
            std::string_view target = {});

  /// The pairs of bodies diff() read, by format, and those it compared as bytes and why: what
  /// explains a `$body` (bodies of the same bytes are not read, and not counted).
  struct BodyCounts {
    uint64_t json = 0, msgpack = 0, cbor = 0, protobuf = 0, xml = 0, thrift = 0;
    uint64_t json_lines = 0;    // JSON Lines, NDJSON and JSON text sequences
    uint64_t event_stream = 0;  // server-sent events
    uint64_t rpc = 0;           // messages in gRPC, gRPC-Web or Connect frames (protobuf or JSON)
    uint64_t unreadable = 0;    // a body not well-formed, undecodable, past max_body, two formats
    uint64_t unknown = 0;       // neither body in a format the differ reads
  };
  const BodyCounts& body_counts() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct NoiseOptions {
  /// A field is reported when it differed at least once and
  ///   rate − noise_rate >= absolute   and   rate >= noise_rate × (1 + relative),
  /// rate being the share of compared pairs where the candidate differs from the baseline there,
  /// noise_rate the share of pairs with a noise response where the noise target differs from the
  /// baseline there. Without a noise target noise_rate is 0, so every field differing in at
  /// least `absolute` of the pairs is reported.
  double relative = 0.2;
  double absolute = 0.001;
  size_t samples = 3;       // origin ids kept per field: the smallest ones, whatever the order
  size_t max_fields = 512;  // distinct paths kept per route; more are counted in overflow()
};

/// Per-field difference counts of one route. Not thread-safe; mergeable: merging per-thread
/// instances gives the same fields, counts and samples as adding every pair to one (as long as
/// max_fields was not reached).
class FieldNoise {
 public:
  /// One compared pair (or triple): the paths where the candidate differs from the baseline, and
  /// (with a noise target; nullptr without) where the noise target differs from the baseline.
  /// A path listed twice in one list counts once.
  void add(uint64_t origin_id, const std::vector<std::string>& candidate_paths,
           const std::vector<std::string>* noise_paths, const NoiseOptions& options);
  /// Adds `other`'s pairs and counts to this one.
  void merge(const FieldNoise& other, const NoiseOptions& options);

  struct Field {
    std::string path;
    uint64_t differ = 0;            // pairs where candidate != baseline at this path
    uint64_t noise_differ = 0;      // pairs where noise != baseline at this path
    double rate = 0;                // differ / compared()
    double noise_rate = 0;          // noise_differ / with_noise(); 0 when with_noise() is 0
    bool reported = false;          // passes the thresholds
    std::vector<uint64_t> samples;  // origin ids of pairs where the candidate differs, ascending
  };
  /// Every field seen (in either list), reported ones first, then by rate (descending), then by
  /// path.
  std::vector<Field> fields(const NoiseOptions& options) const;
  uint64_t compared() const { return compared_; }
  uint64_t with_noise() const { return with_noise_; }  // pairs that had a noise response
  /// Differences (one per pair and path, candidate or noise) dropped because max_fields distinct
  /// paths were already kept. Memory stays bounded, so distinct dropped paths are not counted.
  uint64_t overflow() const { return overflow_; }

 private:
  struct Counts {
    uint64_t differ = 0, noise_differ = 0;
    // Pair numbers (compared_ when last counted) so that a path repeated in one list counts once.
    uint64_t last_pair = 0, last_noise_pair = 0;
    std::vector<uint64_t> samples;  // ascending, at most NoiseOptions::samples
  };
  Counts* find_or_insert(std::string_view path, const NoiseOptions& options);

  std::vector<std::pair<std::string, Counts>> fields_;  // sorted by path, at most max_fields
  uint64_t compared_ = 0, with_noise_ = 0, overflow_ = 0;
};

}  // namespace twin::compare
