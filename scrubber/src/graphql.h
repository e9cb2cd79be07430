#pragma once
// A rewriter for the string literals of a GraphQL document (a query, a mutation; the "query"
// member of a GraphQL request or an application/graphql body): every string literal goes to a
// visitor with the names of the argument and input-object fields it is the value of
// (`updateUser(input: {lastName: "Okafor"})` → "input.lastName"), and comments with no name; the
// visitor may replace them, and every other byte is copied as it was. Written here because the
// scrubber needs a literal's key name (a surname in an argument is personal data only by its
// name) and the document's bytes kept; the lexical grammar (GraphQL, October 2021, section 2.1)
// is small and no GraphQL parser is packaged for C++ in Debian.
//
// Not validating: it follows the punctuation that decides where a literal sits (parentheses,
// braces and brackets, and ':'), not the grammar. A document whose brackets do not match, or
// with a string that does not end, is reported invalid where that shows.

#include <cstddef>
#include <string>
#include <string_view>

namespace twin::scrubber {

class GraphqlVisitor {
 public:
  virtual ~GraphqlVisitor() = default;
  /// A string literal (`literal` true; escapes decoded, a block string """…""" as written
  /// between its quotes) or a comment's text after '#' (`literal` false, `path` empty). `path`:
  /// the argument or input-field names the literal is the value of, from the outermost argument,
  /// joined by '.', a list element as "[]" ("input.emails[]"); empty for a literal that is no
  /// named value (a variable's default, a directive's bare list). Returns true to replace the
  /// text with `replacement`, which the rewriter escapes as its place needs.
  virtual bool visit(bool literal, std::string_view path, std::string_view value,
                     std::string& replacement) = 0;
};

struct GraphqlRewriteResult {
  bool valid = true;
  size_t error_offset = 0;  // where the document stopped being readable (when !valid)
  size_t visited = 0;
  size_t replaced = 0;
};

/// Whether `text` starts (after white space, commas and comments) like an executable GraphQL
/// document: '{', or "query", "mutation", "subscription" or "fragment" followed by a name, '(',
/// '{' or '@'.
bool looks_like_graphql(std::string_view text);

/// Rewrites `in` into `out` (cleared first). When !valid, `out` is undefined.
GraphqlRewriteResult rewrite_graphql(std::string_view in, GraphqlVisitor& visitor,
                                     std::string& out);

/// Brackets nested deeper than this are reported invalid (a bound on the rewriter's memory).
inline constexpr size_t kGraphqlMaxDepth = 256;

}  // namespace twin::scrubber
