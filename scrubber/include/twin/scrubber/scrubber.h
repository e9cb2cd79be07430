#pragma once
// The scrub engine: walks every place of an exchange where personal data can sit — headers
// (credentials, cookies, URLs in Referer/Location), the path and query of the target, the
// bodies (JSON, urlencoded and multipart forms, text; gzip/deflate/br decoded and re-encoded),
// the client and server addresses — and replaces what the policy says with shape-keeping values.
// Content-Length and the recorded body size follow the new body.
//
// Referential integrity: a token depends only on the value and the key, so a value scrubbed in
// a response and met again in a later request becomes the same token in both. A value scrubbed
// by a place rule or a key name is also remembered (by keyed hash, bounded by the policy's
// memory.values) so that where it comes back in a place no rule covers — an order id in a later
// path — it is scrubbed the same way.

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>

#include "twin/scrubber/key.h"
#include "twin/scrubber/kind.h"
#include "twin/scrubber/policy.h"
#include "twin/scrubber/report.h"
#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::scrubber {

/// Everything that can explain a surprise in a scrub run. Kept in the archive's metadata
/// under "scrub".
struct ScrubCounters {
  uint64_t exchanges = 0;
  uint64_t exchanges_changed = 0;
  uint64_t values = 0;                                 // values (or spans within values) scrubbed
  std::array<uint64_t, kKindCount> by_kind{};          // kNone: chosen by a place rule
  std::array<uint64_t, kLocationCount> by_location{};  // where they were
  uint64_t dropped = 0;           // values, fields or pairs removed by a drop action
  uint64_t memory_hits = 0;       // values scrubbed because they were scrubbed before
  uint64_t memory_evictions = 0;  // remembered values forgotten (memory.values reached)
  uint64_t fallbacks = 0;         // an action that could not apply; a token was used instead
  uint64_t json_bodies = 0;
  uint64_t json_malformed = 0;  // not valid JSON: scrubbed by the content detectors instead
  uint64_t json_truncated = 0;  // cut at --max-body: the part before the cut as JSON, the rest
                                // by the content detectors
  uint64_t form_bodies = 0;
  uint64_t multipart_bodies = 0;
  uint64_t multipart_malformed = 0;
  uint64_t xml_bodies = 0;
  uint64_t xml_malformed = 0;  // not XML after all: scrubbed by the content detectors instead
  uint64_t xml_truncated = 0;  // cut at --max-body: likewise
  uint64_t csv_bodies = 0;     // CSV and TSV
  uint64_t csv_malformed = 0;  // a quoted field that never ends: by the content detectors
  uint64_t csv_truncated = 0;  // cut at --max-body: likewise
  uint64_t yaml_bodies = 0;
  uint64_t yaml_malformed = 0;     // not the YAML read here: by the content detectors
  uint64_t yaml_truncated = 0;     // cut at --max-body: likewise
  uint64_t graphql_documents = 0;  // GraphQL queries read literal by literal
  uint64_t key_value_bodies = 0;   // text bodies read as key=value lines (.properties, .env)
  uint64_t text_bodies = 0;
  uint64_t binary_bodies = 0;    // scanned with length-keeping tokens only
  uint64_t decoded_bodies = 0;   // Content-Encoding decoded and encoded again
  uint64_t bodies_dropped = 0;   // could not be decoded (corrupt, truncated, over
                                 // max_decoded_body, unknown coding): removed, never kept raw
  uint64_t residual = 0;         // detections left in scrubbed output (must be 0)
  uint64_t metadata_values = 0;  // strings of an archive's metadata changed (scrub_text)
  // base64 runs that read as text (cursors, OAuth state): scrubbed decoded and encoded again
  // in their own style instead of tokenized as secrets (the same bytes when nothing was found)
  uint64_t base64_texts = 0;
  // JSON documents held in a string (stringified JSON, a JSON query or form value, a header)
  // read as JSON, by key path, key name and content
  uint64_t embedded_json = 0;
  // URLs with a query and query strings held in a value (a JSON member's redirect link) read
  // as a request target is, parameters by name and content
  uint64_t embedded_urls = 0;
  // gRPC, gRPC-Web and Connect bodies: length-prefixed messages read one by one (compressed
  // ones decoded and encoded again); a stream whose framing does not parse, or whose base64
  // (gRPC-Web text) does not decode: by the content detectors, lengths kept
  uint64_t grpc_messages = 0;
  uint64_t grpc_malformed = 0;
  // Protocol Buffers messages (gRPC messages and application/x-protobuf bodies) read field by
  // field; one that does not parse as a message (another codec, or cut at --max-body): by the
  // content detectors with length-keeping tokens
  uint64_t protobuf_messages = 0;
  uint64_t protobuf_malformed = 0;
  // MessagePack and CBOR bodies read value by value as JSON is; one that does not parse (or
  // is cut at --max-body) from where it stops: by the content detectors, lengths kept
  uint64_t msgpack_bodies = 0;
  uint64_t msgpack_malformed = 0;
  uint64_t cbor_bodies = 0;
  uint64_t cbor_malformed = 0;
  // Apache Thrift bodies (binary or compact protocol) read field by field; one that parses in
  // neither: by the content detectors with length-keeping tokens
  uint64_t thrift_bodies = 0;
  uint64_t thrift_malformed = 0;
  // Server-sent events (text/event-stream): each event's data as the JSON document it holds
  // (counted in json_bodies too) or as text by content, the other lines by content
  uint64_t event_streams = 0;
  // JSON Lines, NDJSON and JSON text sequences: each record as a JSON body (counted in
  // json_bodies, json_malformed and json_truncated too)
  uint64_t json_line_bodies = 0;
  // HTML pages (text/html, XHTML): JSON in their scripts and form controls' values by name
  // (form fields), the rest by content
  uint64_t html_bodies = 0;
  // JSON documents in bodies of another media type, read as JSON bodies (and counted in
  // json_bodies): a text/plain or application/octet-stream body that is JSON, a JSONP answer's
  // argument, a JSON script or an object literal assigned in a script of an HTML page
  uint64_t json_in_text = 0;

  void merge(const ScrubCounters& other);
  nlohmann::json to_json() const;
};

/// How a scrub on several threads went (Scrubber::create with threads > 1): not part of the
/// counters, which are the same whatever the thread count.
struct ParallelStats {
  uint64_t batches = 0;
  uint64_t exchanges = 0;  // scrubbed by scrub_batch()
  // of which checked against the memory as of their place in the input: they asked the memory
  // about a value another thread had remembered in an earlier exchange of the batch (the others
  // stood as scrubbed)
  uint64_t checked = 0;
  // of which scrubbed again, each by its thread, because the memory of values answered a
  // worker otherwise than it answers in input order (a value remembered in an exchange another
  // worker had at the same time), or by the master after a broken batch: work done twice (an
  // exchange counts once, however often it was redone)
  uint64_t rescrubbed = 0;
  // batches in which an exchange scrubbed again remembered other values than on its thread:
  // every exchange after it was scrubbed again too (a safety net; 0 is expected)
  uint64_t broken_batches = 0;
  // the most report paths one thread's report held at the end of a batch (bounded: kMaxPaths
  // and "(other)", once more paths than that were met)
  uint64_t report_paths = 0;
};

/// One scrub engine. Not thread-safe: call it from one thread at a time. Engines built from
/// equal policies and keys give identical output, counters and report, whatever their threads.
class Scrubber {
 public:
  /// Compiles the policy's detectors; fails naming a policy regex that does not compile.
  /// `threads` > 1: scrub_batch() spreads a batch over that many threads (the calling one and
  /// threads - 1 of the engine's own) with the output of one thread, byte for byte.
  static Result<std::unique_ptr<Scrubber>> create(const Policy& policy, const Key& key,
                                                  int threads = 1);
  virtual ~Scrubber() = default;

  /// Scrubs `exchange` in place and sets kFlagScrubbed. Never fails: what cannot be scrubbed
  /// safely is removed and counted.
  virtual void scrub(traffic::Exchange& exchange) = 0;

  /// Scrubs the exchanges of `batch`, which come in this order in the input, as scrub() on each
  /// in turn would.
  virtual void scrub_batch(std::span<traffic::Exchange> batch) {
    for (auto& e : batch) scrub(e);
  }
  virtual ParallelStats parallel_stats() const { return {}; }

  /// Scrubs a string that belongs to no exchange (an archive's metadata: a capture's BPF filter
  /// naming a host, a file name) with the content detectors, tokens as in exchanges (an address
  /// in a filter becomes the address the exchanges got). Reported under the path "metadata" and
  /// counted in metadata_values. Returns whether it changed.
  virtual bool scrub_text(std::string& text) = 0;

  virtual const ScrubCounters& counters() const = 0;
  virtual const Report& report() const = 0;
  /// See Report::set_shape_statistics; on by default.
  virtual void set_shape_statistics(bool on) = 0;
};
using ScrubberPtr = std::unique_ptr<Scrubber>;

}  // namespace twin::scrubber
