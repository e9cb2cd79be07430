#pragma once
// A JSON rewriter that changes only the values it is told to and leaves every other byte alone.
//
// Written here rather than parsing with nlohmann/json and dumping again because a dump does not
// give back the same bytes: whitespace, key order within duplicate keys, number spellings
// (1.0, 1e3, -0), escapes (\u00e9 vs é, \/) all change, and the scrubber promises the same
// structure, key order and types, byte for byte outside the scrubbed values. It is also one pass
// with no allocation per value on the fast path, which a DOM is not.
//
// Sans-I/O: the whole body is given at once (bodies are bounded by --max-body).

#include <cstdint>
#include <string>
#include <string_view>

namespace twin::scrubber {

/// What a visited value is.
enum class JsonToken : uint8_t {
  kKey,     // an object key (a string)
  kString,  // a string value
  kNumber,  // a number value, as spelled in the input
};

/// Called for each key and each string or number value, in document order.
class JsonVisitor {
 public:
  virtual ~JsonVisitor() = default;
  /// `path` is the location of the value: keys joined with '.', array elements as "[]"
  /// ("user.addresses[].street", "[].id"; the root value's path is ""). A key containing '.',
  /// '[' or '\\' is written with those characters escaped by '\\'. For kKey, `path` is the path
  /// of the object holding it and `value` the key. `value` is decoded (escapes resolved, UTF-8;
  /// invalid escapes or lone surrogates are kept as their raw text). `parent` is the key of the
  /// enclosing object member ("" at the root or in an array of the root): for "x" in
  /// {"user":{"name":"x"}} path is "user.name" and parent "user"; for the key "name" path is
  /// "user" and parent "user" too.
  /// Return true and fill `replacement` (decoded form; for kNumber the new spelling, which must
  /// be a valid JSON number — the rewriter checks and counts an invalid one, keeping a string
  /// instead is the caller's job) to change it; false to keep the original bytes.
  virtual bool visit(JsonToken token, std::string_view path, std::string_view parent,
                     std::string_view value, std::string& replacement) = 0;
  /// Asked first for each key (decoded): false when visit() would keep it anyway, which then
  /// is not called for it (nor counted in JsonRewriteResult::visited); the key still makes its
  /// part of the paths. The default takes every key. Keys outnumber values in most bodies and
  /// few are looked at twice by the scrubber: this spares the rest the call and its path.
  /// `may_hint` false promises that the key holds none of the bytes '0'-'9', ':', '@' and '%'
  /// (the parser sees that as it reads the key; true does not promise that it holds one).
  virtual bool wants_key(std::string_view key, bool may_hint) {
    (void)key;
    (void)may_hint;
    return true;
  }

  /// Set by rewrite_json() before each visit() of a value: for a string or number member named
  /// "value" (or "Value", "VALUE", "val") of an object that also has a member named "name",
  /// "key", "field", "property", "attribute" or "label" (any case, '_' and '-' ignored;
  /// "fieldName", "propertyName", "attributeName" too) whose value is a string without escapes,
  /// that string, raw: what the value is, in the name/value records of CRMs, form builders,
  /// tags and environment lists ({"name": "ssn", "value": "078051120"}, {"name": "DB_PASSWORD",
  /// "value": "…"}), whichever member comes first. Empty otherwise. Only the first 4 KiB of the
  /// object are looked at.
  std::string_view label;

  /// Set by rewrite_msgpack() and rewrite_cbor() (msgpack_cbor.h) before each visit() of a
  /// binary string (MessagePack bin, CBOR byte string), whose bytes need not be text; false
  /// for everything else and for JSON.
  bool bytes = false;
};

struct JsonRewriteResult {
  bool valid = true;         // the input was one well-formed JSON text (RFC 8259), nothing after
  uint64_t visited = 0;      // keys and values visited (keys wants_key() declined are not)
  uint64_t replaced = 0;     // values replaced
  size_t error_offset = 0;   // where the input stopped being JSON, when !valid
  uint64_t bad_numbers = 0;  // kNumber replacements that were not JSON numbers (original kept)
};

/// Name/value records (JsonVisitor::label): whether a key names the record ("name", "key",
/// "field", "property", "attribute", "label", "fieldName", "propertyName", "attributeName"; any
/// case, '_' and '-' ignored), and whether it holds its value ("value", "Value", "VALUE", "val").
bool is_label_key(std::string_view key);
bool is_value_key(std::string_view key);

/// Appends `v` as a JSON string (quotes included), escaping only what must be: the quote, the
/// backslash and control characters. Bytes that are not UTF-8 cannot be written in JSON and
/// become U+FFFD, so that a replacement never makes the output invalid. (GraphQL's strings
/// take the same escapes.)
void append_json_string(std::string& out, std::string_view v);

/// Rewrites `in` into `out` (cleared first). When `in` is not valid JSON the values up to the
/// error are still visited and rewritten, the rest of the input is copied unchanged to `out`,
/// and result.valid is false: the caller then scans the text with content detectors. Replaced
/// strings are re-escaped minimally (", \\, control characters). Depth is capped at 512; deeper
/// input is treated as invalid from that point.
JsonRewriteResult rewrite_json(std::string_view in, JsonVisitor& visitor, std::string& out);

/// A fingerprint of the structure of a JSON text: the sequence of container openings and
/// closings, keys and value types (string, number, true, false, null), not the values. Two
/// texts with equal structure hash equal. Returns 0 for invalid JSON.
uint64_t json_structure_hash(std::string_view in);

}  // namespace twin::scrubber
