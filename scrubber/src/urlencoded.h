#pragma once
// application/x-www-form-urlencoded bodies and URL query strings: name=value pairs joined by
// '&' (';' is not a separator). Names and values are percent-decoded ('+' as space) before they
// are shown to the visitor, and a replacement is encoded back in the style of the original:
// '+' for spaces when the original used '+', otherwise %20; only bytes outside the unreserved
// set (ALPHA DIGIT - . _ ~) are percent-encoded, with the hex case of the original.

#include <cstdint>
#include <string>
#include <string_view>

namespace twin::scrubber {

class FormVisitor {
 public:
  virtual ~FormVisitor() = default;
  /// Called for each pair in order with its decoded name and value (`has_value` false for a bare
  /// "name" without '='). Return true and fill `replacement` (decoded) to replace the value.
  /// Setting `drop` removes the pair (and one adjacent '&').
  virtual bool visit(std::string_view name, std::string_view value, bool has_value,
                     std::string& replacement, bool& drop) = 0;
};

struct FormRewriteResult {
  uint64_t pairs = 0;
  uint64_t replaced = 0;
  uint64_t dropped = 0;
  uint64_t bad_escapes = 0;  // '%' not followed by two hex digits: kept literally
};

/// Rewrites `in` into `out` (cleared first). Pairs not replaced keep their exact bytes.
FormRewriteResult rewrite_urlencoded(std::string_view in, FormVisitor& visitor, std::string& out);

/// Percent-decodes `in` ('+' as space when `plus_is_space`), appending to `out`.
void percent_decode(std::string_view in, bool plus_is_space, std::string& out);
/// Percent-encodes `in` for a path segment or a query value, appending to `out`.
void percent_encode(std::string_view in, bool space_as_plus, std::string& out);

}  // namespace twin::scrubber
