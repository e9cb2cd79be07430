#pragma once
// application/x-www-form-urlencoded bodies and URL query strings: name=value pairs joined by
// '&' (';' is not a separator). Names and values are percent-decoded ('+' as space) before they
// are shown to the visitor, and a replacement is encoded back in the style of the original:
// '+' for spaces when the original used '+', otherwise %20; only bytes outside the unreserved
// set (ALPHA DIGIT - . _ ~) are percent-encoded, with the hex case of the original.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

/// Rewrites `in` into `out` (cleared first). Pairs not replaced keep their exact bytes. With
/// `written`, the [begin, end) ranges of `out` that hold replaced values are appended to it, in
/// order (so that a caller reading `out` again can leave what it wrote alone).
FormRewriteResult rewrite_urlencoded(std::string_view in, FormVisitor& visitor, std::string& out,
                                     std::vector<std::pair<size_t, size_t>>* written = nullptr);

/// Percent-decodes `in` ('+' as space when `plus_is_space`), appending to `out`.
void percent_decode(std::string_view in, bool plus_is_space, std::string& out);
/// Percent-encodes `in` for a path segment or a query value, appending to `out`.
void percent_encode(std::string_view in, bool space_as_plus, std::string& out);

/// Whether `in` holds a percent-escape: '%' followed by two hex digits.
bool has_percent_escape(std::string_view in);
/// percent_decode into `out` (cleared first) that also says where each decoded byte is spelled:
/// `offsets` (cleared first) gets out.size() + 1 entries, offsets[i] the position in `in` where
/// the spelling of out[i] begins and the last one in.size(), so out[b, e) is spelled by
/// in[offsets[b], offsets[e]). Texts of 4 GiB or more are not supported.
void percent_decode_mapped(std::string_view in, bool plus_is_space, std::string& out,
                           std::vector<uint32_t>& offsets);
/// Percent-encodes `in`, appending to `out`, in the style of `original`, the encoded text it
/// replaces: a byte stays literal when it is unreserved, or when `original` spells it literally
/// and never escaped; every other byte is escaped with the hex case of `original` (upper when it
/// shows none). '%' is always escaped, and so is '+' when `plus_is_space`; a space stays literal
/// when `original` has literal spaces, else becomes '+' when `plus_is_space` and `original` uses
/// '+', else %20. Decoding the result (with the same `plus_is_space`) gives back `in`.
void percent_encode_like(std::string_view in, std::string_view original, bool plus_is_space,
                         std::string& out);

}  // namespace twin::scrubber
