#pragma once
// A rewriter for YAML bodies (Kubernetes manifests, OpenAPI documents, application configs, user
// records): it walks the block and flow collections and hands every scalar, keys included, with
// the path of keys it sits under, to a visitor that may replace it, and every comment's text;
// everything else is copied byte for byte. Written here rather than taken from yaml-cpp because the
// scrubber needs the exact bytes around each value kept, and a load/emit round trip reformats,
// drops comments, requotes and resolves anchors and aliases; the grammar subset that real bodies
// use is small.
//
// Supported: block mappings and sequences by indentation (a sequence may sit at its key's
// indentation, and "- key: v" / "- - x" start a collection inside an item), plain, single- and
// double-quoted scalars over one or several lines, literal and folded block scalars with their
// chomping and indentation indicators, flow collections (nested, over several lines), comments,
// several documents with "---" / "...", directives, anchors, aliases and tags (all copied; an
// alias is neither visited nor expanded, the value after a tag or an anchor is visited).
//
// Not supported, reported invalid where it starts (the scrubber then reads the whole body with
// the content detectors instead): explicit "? " keys, a collection used as a key, a "key: value"
// pair inside a flow sequence, a key spanning lines, tabs used as indentation, anchor and alias
// names beyond letters, digits, '-' and '_' (libyaml's), a '#' right after a closing quote,
// control characters other than tab and line ends, NEL, LS and PS (line ends to YAML 1.1
// readers, which could end a comment there and see a value this reader does not), "\u" escapes
// naming a UTF-16 surrogate, nesting deeper than kYamlMaxDepth. Not validating beyond what the
// walk needs: duplicate keys, undefined aliases, unknown tags and directives are copied as they
// are.

#include <cstddef>
#include <string>
#include <string_view>

namespace twin::scrubber {

class YamlVisitor {
 public:
  virtual ~YamlVisitor() = default;
  /// A scalar value (decoded: double-quoted escapes resolved, '' in single quotes resolved,
  /// plain and quoted scalars with their folded lines joined by one space as YAML does, a block
  /// scalar | or > as its content after folding and chomping). `path`: mapping keys from the
  /// document root joined by '.', sequence items as "[]" ("users[].email", "[].id", a root
  /// scalar ""); '.' and '[' inside a key become '_' (as in xml.h). Keys are visited too, with
  /// `key` true and `path` the path of the mapping holding them (a key can be personal data: an
  /// e-mail used as a key). Numbers, booleans and nulls written as plain scalars are visited like
  /// any other; empty nodes and aliases are not. Returns true to replace the value with
  /// `replacement`, which the rewriter writes so that it reads back as exactly that string: in
  /// the original's style when that can hold it (a plain scalar only where it reads as the same
  /// type as the original did, under YAML 1.2's core schema and YAML 1.1 alike), else
  /// double-quoted with escapes (a block scalar stays one, of its style and indentation, where
  /// the replacement allows). `path` and `value` are valid during the call only.
  virtual bool visit(bool key, std::string_view path, std::string_view value,
                     std::string& replacement) = 0;

  /// A comment's text after its '#' to its line's end ("# owner: bob@example.com"), which is
  /// no value but text all the same. Returns true to replace it with `replacement`, written as
  /// it is but for line breaks and control characters, which become spaces. Comments are
  /// asked as the output reaches them, in input order. The default keeps them.
  virtual bool comment(std::string_view /*text*/, std::string& /*replacement*/) { return false; }
};

struct YamlRewriteResult {
  bool valid = true;
  size_t error_offset = 0;  // where the input stopped being the YAML read here (when !valid)
  size_t visited = 0;       // scalars handed to the visitor, keys included
  size_t replaced = 0;      // scalars and comments replaced
};

/// Rewrites `in` into `out` (cleared first). When !valid, `out` is undefined. With nothing
/// replaced, `out` equals `in` byte for byte.
YamlRewriteResult rewrite_yaml(std::string_view in, YamlVisitor& visitor, std::string& out);

/// Collections nested deeper than this are reported invalid (a bound on the parser's stack).
inline constexpr size_t kYamlMaxDepth = 256;

}  // namespace twin::scrubber
