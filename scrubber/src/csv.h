#pragma once
// A rewriter for CSV and TSV bodies (RFC 4180: a header row of column names, then records of
// fields; a field may be quoted, with "" for a quote inside): every field after the header row
// goes to a visitor with its column's name, and may be replaced; everything else is copied
// byte for byte. Written here because the scrubber must keep each record's bytes as they were
// (quoting, line ends, spacing) where a CSV library would re-serialise them.

#include <cstddef>
#include <string>
#include <string_view>

namespace twin::scrubber {

class CsvVisitor {
 public:
  virtual ~CsvVisitor() = default;
  /// With `header`, a column name of the header row (`column` empty): it may be replaced too (a
  /// name can be personal data: an e-mail used as a column). Otherwise a field of a later
  /// record: `column` is its column's name from the header row (empty past the header's last
  /// column), `value` the field unquoted. Empty fields are not visited. Returns true to replace
  /// the value with `replacement` (quoted as needed).
  virtual bool visit(bool header, std::string_view column, std::string_view value,
                     std::string& replacement) = 0;
};

struct CsvRewriteResult {
  bool valid = true;
  size_t error_offset = 0;  // where a quoted field broke off (when !valid)
  size_t records = 0;       // the header row included
  size_t visited = 0;
  size_t replaced = 0;
};

/// Rewrites `in` into `out` (cleared first), fields split at `delimiter` (',' or '\t').
/// When !valid, `out` is undefined.
CsvRewriteResult rewrite_csv(std::string_view in, char delimiter, CsvVisitor& visitor,
                             std::string& out);

}  // namespace twin::scrubber
