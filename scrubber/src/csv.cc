#include "csv.h"

#include <vector>

namespace twin::scrubber {

CsvRewriteResult rewrite_csv(std::string_view in, char delimiter, CsvVisitor& visitor,
                             std::string& out) {
  CsvRewriteResult result;
  out.clear();
  out.reserve(in.size());
  std::vector<std::string> columns;
  std::string unquoted;
  std::string replacement;
  size_t copied = 0;
  size_t column = 0;
  size_t i = 0;
  const size_t n = in.size();
  bool header = true;
  bool record_open = false;
  while (i < n) {
    // One field from in[i].
    record_open = true;
    const size_t begin = i;
    std::string_view value;
    bool quoted = false;
    if (in[i] == '"') {
      quoted = true;
      unquoted.clear();
      size_t k = i + 1;
      while (true) {
        const size_t q = in.find('"', k);
        if (q == std::string_view::npos) {
          result.valid = false;
          result.error_offset = n;
          return result;
        }
        unquoted.append(in.substr(k, q - k));
        if (q + 1 < n && in[q + 1] == '"') {
          unquoted += '"';
          k = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // Only a delimiter or a line end may follow the closing quote.
      if (i < n && in[i] != delimiter && in[i] != '\n' && in[i] != '\r') {
        result.valid = false;
        result.error_offset = i;
        return result;
      }
      value = unquoted;
    } else {
      size_t k = i;
      while (k < n && in[k] != delimiter && in[k] != '\n' && in[k] != '\r') ++k;
      value = in.substr(i, k - i);
      i = k;
    }
    const size_t end = i;
    if (header) columns.emplace_back(value);
    if (!value.empty()) {
      ++result.visited;
      replacement.clear();
      const std::string_view name = header                    ? std::string_view()
                                    : column < columns.size() ? std::string_view(columns[column])
                                                              : std::string_view();
      if (visitor.visit(header, name, value, replacement)) {
        out.append(in.substr(copied, begin - copied));
        const bool needs_quotes = quoted || replacement.find_first_of(std::string{
                                                delimiter, '"', '\n', '\r'}) != std::string::npos;
        if (needs_quotes) {
          out += '"';
          for (char c : replacement) {
            if (c == '"') out += '"';
            out += c;
          }
          out += '"';
        } else {
          out += replacement;
        }
        copied = end;
        ++result.replaced;
      }
    }
    ++column;
    if (i < n && in[i] == delimiter) {
      ++i;
      if (i == n) {  // a last, empty field
        break;
      }
      continue;
    }
    // A line end (\n, \r\n or \r) closes the record.
    if (i < n && in[i] == '\r') ++i;
    if (i < n && in[i] == '\n') ++i;
    ++result.records;
    record_open = false;
    header = false;
    column = 0;
  }
  if (record_open) ++result.records;
  out.append(in.substr(copied));
  return result;
}

}  // namespace twin::scrubber
