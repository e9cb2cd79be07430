#pragma once
// multipart/form-data (RFC 7578) and other multipart/* bodies: the parts are split at the
// boundary from the Content-Type, each part's headers are parsed, and the visitor may replace a
// part's body; the delimiters, part headers and preamble/epilogue keep their exact bytes unless
// the visitor replaces the filename.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace twin::scrubber {

/// The boundary parameter of a multipart Content-Type value (quoted or not); nullopt when the
/// value is not multipart/* or has no valid boundary (1–70 chars, RFC 2046).
std::optional<std::string> multipart_boundary(std::string_view content_type);

struct MultipartPart {
  std::string_view name;          // Content-Disposition name parameter ("" if none)
  std::string_view filename;      // Content-Disposition filename parameter ("" if none)
  std::string_view content_type;  // the part's Content-Type value ("" if none)
  std::string_view body;          // the part's bytes
};

class MultipartVisitor {
 public:
  virtual ~MultipartVisitor() = default;
  /// Return true and fill `body` to replace the part's body; fill `filename` (non-empty) to
  /// replace the filename parameter's value.
  virtual bool visit(const MultipartPart& part, std::string& body, std::string& filename) = 0;
};

struct MultipartResult {
  bool valid = true;  // the closing delimiter was found and every part had a header section
  uint64_t parts = 0;
  uint64_t replaced = 0;
};

/// Rewrites `in` into `out` (cleared first). An invalid body is copied unchanged from the first
/// part it cannot parse, and result.valid is false (the caller scans it with content detectors).
MultipartResult rewrite_multipart(std::string_view in, std::string_view boundary,
                                  MultipartVisitor& visitor, std::string& out);

}  // namespace twin::scrubber
