#pragma once
// A rewriter for text bodies made of "key=value" or "key: value" lines: Java .properties (as a
// Spring Cloud Config server sends them), .env files, INI-like dumps. When every line that is
// not blank is such a pair or a comment ('#', '!' or ';' first), each value goes to a visitor
// with its key and may be replaced; every other byte is copied as it was. Written here because
// the format is a line split and nothing more; no library reads it byte-exactly.
//
// Not read: a value continued on the next line ('\' at its end, .properties), quoting (a
// value's quotes are part of the value), sections ("[name]" lines are taken as comments).

#include <cstddef>
#include <string>
#include <string_view>

namespace twin::scrubber {

class KeyValueVisitor {
 public:
  virtual ~KeyValueVisitor() = default;
  /// A pair's value (without the white space around it) under `key` (without "export "), or,
  /// with `key` empty, a comment line's text after its marker. Empty values are not visited.
  /// Returns true to replace it with `replacement`, in which line ends become spaces.
  virtual bool visit(std::string_view key, std::string_view value, std::string& replacement) = 0;
};

struct KeyValueRewriteResult {
  bool valid = true;        // every line a pair, a comment or blank, and at least two pairs
  size_t error_offset = 0;  // the first line that is none of them (when !valid)
  size_t pairs = 0;
  size_t visited = 0;
  size_t replaced = 0;
};

/// Rewrites `in` into `out` (cleared first). When !valid, nothing was visited and `out` is
/// undefined.
KeyValueRewriteResult rewrite_key_value_lines(std::string_view in, KeyValueVisitor& visitor,
                                              std::string& out);

}  // namespace twin::scrubber
