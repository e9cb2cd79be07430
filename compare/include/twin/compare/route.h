#pragma once
// Route templates learned from the traffic: `/users/123` and `/users/456` are one route,
// `GET /users/{id}`. Two steps:
//  1. each path segment is classified on its own (numbers, UUIDs, hex ids, e-mail addresses,
//     dates, long opaque tokens) and replaced by a placeholder;
//  2. what is left is learned: where one position of a template holds more distinct literal
//     segments than a limit (user names, slugs, file names), they collapse into `{param}`.
// Overrides (from the gate file) win over both. The query string never makes a route.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace twin::compare {

/// The placeholder for one whole path segment, or "" when the segment looks like a literal word
/// to keep. Segments are the bytes as sent, %-decoding nothing. First rule that applies:
///  - "{id}": digits only ("42", "20240131");
///  - "{phone}": an E.164 number, '+' (or "%2B") and 7 to 15 digits ("+4915112345678");
///  - "{hex}": hex digits only, either 16 or more of them (Mongo ids, hashes) or 8 or more with
///    at least one digit ("1a2b3c4d"); "deadbeef", "cafe" stay literal;
///  - "{uuid}": 8-4-4-4-12 hex digits, any case;
///  - "{date}": "YYYY-MM-DD", optionally "T" and "HH:MM[:SS[.frac]]" with "Z" or "±HH[:MM]"
///    (':' and '+' also %-encoded);
///  - "{email}": local@domain.tld, the '@' also as "%40"; the TLD two letters or more;
///  - "{token}": 20 characters or more of [A-Za-z0-9-_.~=+] with letters and digits alternating at
///    least 3 times and at least 10 distinct characters (session ids, base64url keys, JWTs).
/// Words, versions ("v1", "2.0"), file names ("app.js"), SKUs ("ABC-123"), locales ("en-US") and
/// slugs stay literal. The returned view is static.
std::string_view classify_segment(std::string_view segment);

/// Step 1 alone: the path of `target` with every classified segment replaced by its placeholder.
/// "/users/42/orders?x=1" → "/users/{id}/orders". The scheme and authority of an absolute form,
/// the query and the fragment are dropped; an empty path is "/". Slashes are kept as sent: "/a/"
/// and "/a" are different templates (servers may answer them differently), so are "//a" and "/a".
/// A target not starting with '/' after that ("*" of OPTIONS, a CONNECT authority) is returned
/// unchanged. A segment with dots that is not classified as a whole is classified per dot-part:
/// the last part (the extension) stays, a first part that is a number counts only when all parts
/// after it look like extensions (letters and digits with a letter), any other part only when it
/// is not a plain number: "123.json" → "{id}.json", "main.3f2a9c1b.js" → "main.{hex}.js", while
/// "2.0", "jquery-3.6.0.min.js" and "1.2.3.tar.gz" stay literal.
std::string template_of(std::string_view target);

/// A route named by the user: requests whose method matches (empty = any; compared exactly, as
/// HTTP methods are case-sensitive) and whose path matches `pattern` get `route` as their route.
/// The pattern is split at '/' like the path (so it starts with '/'); a segment `*` or
/// `{anything}` matches one non-empty segment, a final `**` matches the rest (none or more
/// segments), other segments match literally. The path matched is the target's, without query,
/// before any classification. Overrides are tried in order; the first match wins. An override
/// without a method makes one route for all methods, shown with method "*".
struct RouteOverride {
  std::string method;
  std::string pattern;
  std::string route;  // the name shown; defaults to the pattern when empty
};

/// Whether `path` (a route template or a request path, no query) matches `pattern` with the
/// semantics of RouteOverride: `*` or `{name}` one non-empty segment, a final `**` the rest
/// (also nothing), other segments literally.
bool route_pattern_matches(std::string_view pattern, std::string_view path);

struct RouteOptions {
  /// A template position with more distinct literal segments than this collapses into {param}.
  size_t max_literals = 32;
  /// At most this many distinct templates get a provisional id of their own; more (a crawler,
  /// random paths) fold into "{other}" of their method, counted in folded(). Templates whose
  /// literals already collapsed while observing (`/users/{name}/profile` with a million names)
  /// share the id of an earlier template of their route and use up nothing, so only truly
  /// distinct routes fold. Bounds memory whatever the input: at most this many templates, as many
  /// more remembered as sharing an id, and at most 64 methods get their own "{other}", the
  /// folded requests of further methods go to ("*", "{other}").
  size_t max_templates = 10000;
  std::vector<RouteOverride> overrides;
};

/// Learns routes as requests stream by. Not thread-safe.
///
/// observe() returns a provisional id at once, so that statistics can be kept per id while
/// reading; finish() then tells which ids became which final routes (several ids merge when
/// their literals collapsed), and the caller merges the statistics of merged ids.
class RouteLearner {
 public:
  explicit RouteLearner(RouteOptions options = {});
  ~RouteLearner();
  RouteLearner(RouteLearner&&) noexcept;
  RouteLearner& operator=(RouteLearner&&) noexcept;

  /// The provisional route id of a request. Ids are dense, from 0. Cheap when the template was
  /// seen before (one classification pass and a hash lookup). Collapsing (see finish()) also runs
  /// while observing, each time the number of templates doubles and when max_templates is
  /// reached; a new template that the last collapse puts on the route of an earlier one gets the
  /// earlier one's id.
  uint32_t observe(std::string_view method, std::string_view target);

  struct Route {
    std::string method;
    std::string route;  // template or override name, e.g. "/users/{id}"
    bool overridden = false;
  };
  /// Ends learning: fills `routes` with the final routes, sorted by (method, route), and returns,
  /// for every provisional id, the index of its final route in `routes`. The learner may not be
  /// used afterwards.
  ///
  /// Per method, the templates form a trie of segments; wherever a node has more than
  /// max_literals distinct literal children (not empty, holding no placeholder) they merge into
  /// one "{param}" child, their subtrees merging too, top-down, so a merge can cause further
  /// merges below. Overridden routes, "{other}" and templates not starting with '/' are never
  /// collapsed. Same set of templates → same routes, whatever the order they were seen in, and
  /// whichever templates shared ids while observing (as long as nothing folded).
  std::vector<uint32_t> finish(std::vector<Route>& routes);

  /// Provisional ids handed out so far.
  size_t size() const;
  /// Requests folded into "{other}" because max_templates was reached.
  uint64_t folded() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace twin::compare
