#include "keyvalue.h"

#include <vector>

namespace twin::scrubber {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_key_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_key_char(char c) {
  return is_key_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '[' ||
         c == ']' || c == '/';
}

// One line's parts: in[begin, end) without its line end.
struct Line {
  size_t begin = 0;
  size_t end = 0;
  bool comment = false;
  size_t key_begin = 0, key_end = 0;      // the key (pairs)
  size_t value_begin = 0, value_end = 0;  // the value without white space around it
};

// Reads in[begin, end) as a pair or a comment; false when it is neither (blank lines are
// comments with nothing in them).
bool read_line(std::string_view in, Line& l) {
  size_t i = l.begin;
  while (i < l.end && is_blank(in[i])) ++i;
  if (i == l.end || in[i] == '#' || in[i] == '!' || in[i] == ';' || in[i] == '[') {
    l.comment = true;
    // (a section's "[name]" is read whole, by content, as a comment is)
    l.value_begin = i == l.end ? l.end : in[i] == '[' ? i : i + 1;
    l.value_end = l.end;
    return true;
  }
  if (l.end - i > 7 && in.substr(i, 7) == "export ") i += 7;  // .env
  if (i == l.end || !is_key_start(in[i])) return false;
  l.key_begin = i;
  while (i < l.end && is_key_char(in[i])) ++i;
  l.key_end = i;
  while (i < l.end && is_blank(in[i])) ++i;
  if (i == l.end || (in[i] != '=' && in[i] != ':')) return false;
  ++i;
  while (i < l.end && is_blank(in[i])) ++i;
  size_t e = l.end;
  while (e > i && is_blank(in[e - 1])) --e;
  l.value_begin = i;
  l.value_end = e;
  return true;
}

}  // namespace

KeyValueRewriteResult rewrite_key_value_lines(std::string_view in, KeyValueVisitor& visitor,
                                              std::string& out) {
  KeyValueRewriteResult result;
  out.clear();
  // First every line, so that a body that is not such a document is left to the caller whole.
  std::vector<Line> lines;
  size_t i = 0;
  while (i < in.size()) {
    Line l;
    l.begin = i;
    size_t e = i;
    while (e < in.size() && in[e] != '\n' && in[e] != '\r') ++e;
    l.end = e;
    if (e < in.size() && in[e] == '\r') ++e;
    if (e < in.size() && in[e] == '\n') ++e;
    if (!read_line(in, l)) {
      result.valid = false;
      result.error_offset = l.begin;
      return result;
    }
    result.pairs += !l.comment;
    lines.push_back(l);
    i = e;
  }
  if (result.pairs < 2) {
    result.valid = false;
    result.error_offset = in.size();
    return result;
  }
  out.reserve(in.size());
  size_t copied = 0;
  std::string replacement;
  for (const Line& l : lines) {
    if (l.value_end <= l.value_begin) continue;
    const std::string_view key =
        l.comment ? std::string_view() : in.substr(l.key_begin, l.key_end - l.key_begin);
    ++result.visited;
    replacement.clear();
    if (!visitor.visit(key, in.substr(l.value_begin, l.value_end - l.value_begin), replacement)) {
      continue;
    }
    ++result.replaced;
    out.append(in.substr(copied, l.value_begin - copied));
    for (char c : replacement) out += (c == '\n' || c == '\r') ? ' ' : c;
    copied = l.value_end;
  }
  out.append(in.substr(copied));
  return result;
}

}  // namespace twin::scrubber
