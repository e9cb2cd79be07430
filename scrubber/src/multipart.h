#pragma once
// multipart/form-data (RFC 7578) and other multipart/* bodies: the parts are split at the
// boundary from the Content-Type, each part's headers are parsed, and the visitor may replace a
// part's body and its filename. Every other byte that is not structure — the preamble, the
// epilogue, the values of part headers other than Content-Type, Content-Disposition's but for
// its grammar and the filename, and the rest of a body that cannot be parsed — is shown to the
// visitor as text, once; the delimiters and header names keep their exact bytes.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace twin::scrubber {

/// The boundary parameter of a multipart Content-Type value (quoted or not); nullopt when the
/// value is not multipart/* or has no valid boundary (1–70 chars, RFC 2046).
std::optional<std::string> multipart_boundary(std::string_view content_type);

/// The value of the parameter `name` (matched without regard to case) of a media type
/// ("application/x-protobuf; proto=\"a.B\"" → a.B), quoted or not; nullopt when there is none.
std::optional<std::string> media_type_parameter(std::string_view content_type,
                                                std::string_view name);

struct MultipartPart {
  std::string_view name;          // Content-Disposition name parameter ("" if none)
  std::string_view filename;      // Content-Disposition filename parameter ("" if none)
  std::string_view content_type;  // the part's Content-Type value ("" if none)
  std::string_view body;          // the part's bytes
};

/// What a MultipartVisitor::text call shows.
enum class MultipartText : uint8_t {
  kPreamble,  // before the first delimiter
  kHeader,    // a part header's value (folded lines included), or a header line with no ':'
  kEpilogue,  // after the close delimiter (the line break after it included)
  kUnparsed,  // the rest of an invalid body, from the first part that cannot be parsed
};

class MultipartVisitor {
 public:
  virtual ~MultipartVisitor() = default;
  /// Return true and fill `body` to replace the part's body; fill `filename` (non-empty) to
  /// replace the filename parameter's value.
  virtual bool visit(const MultipartPart& part, std::string& body, std::string& filename) = 0;
  /// Called, in the order of the input, for the bytes that are neither structure nor shown to
  /// visit(): see MultipartText (`header` is the header's name for kHeader, else empty). The
  /// headers of a part come before its visit(). Return true and fill `replacement` to replace
  /// `raw`; the default keeps every byte.
  virtual bool text(MultipartText /*where*/, std::string_view /*header*/, std::string_view /*raw*/,
                    std::string& /*replacement*/) {
    return false;
  }
};

struct MultipartResult {
  bool valid = true;  // the closing delimiter was found and every part had a header section
  uint64_t parts = 0;
  uint64_t replaced = 0;
  uint64_t texts_replaced = 0;  // text() calls that replaced their bytes
  size_t unparsed = 0;          // where in the input the kUnparsed rest begins (its size when none)
};

/// Rewrites `in` into `out` (cleared first), each byte of `in` shown once to the visitor (as a
/// part body, a filename or text) or not at all (delimiters, header names, Content-Type, whose
/// boundary a nested body is read by, and Content-Disposition's grammar: its type, ';',
/// parameter names and '='). Content-Disposition's parameter values but the filenames
/// (the field's name as written, quotes included; MultipartPart::name has it decoded) and bytes
/// that parse as no parameter are text. An invalid body is rewritten up to the first part it
/// cannot parse, whose rest is shown to text() as kUnparsed, and result.valid is false; a last
/// part cut before its next delimiter whose header section is complete is still visited (its
/// body runs to the end of the input), since a body cut at a size limit ends that way.
MultipartResult rewrite_multipart(std::string_view in, std::string_view boundary,
                                  MultipartVisitor& visitor, std::string& out);

}  // namespace twin::scrubber
