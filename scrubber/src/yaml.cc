#include "yaml.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <map>
#include <vector>

#include "twin/traffic/text.h"

namespace twin::scrubber {
namespace {

using traffic::append_utf8;

constexpr size_t kNone = std::string_view::npos;

bool is_ws(char c) { return c == ' ' || c == '\t'; }
bool is_break(char c) { return c == '\n' || c == '\r'; }
// White space, a line end or the end of the input (read as '\0': the input holds no NUL).
bool is_blank_end(char c) { return is_ws(c) || is_break(c) || c == '\0'; }
bool is_flow_indicator(char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; }
bool is_control(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7F; }

// NEL, LS and PS end a line for YAML 1.1 readers (libyaml among them). The length of the one at
// v[k], or 0.
size_t unicode_break_at(std::string_view v, size_t k) {
  if (v[k] == '\xC2') return v.substr(k, 2) == "\xC2\x85" ? 2 : 0;
  if (v[k] != '\xE2') return 0;
  return v.substr(k, 3) == "\xE2\x80\xA8" || v.substr(k, 3) == "\xE2\x80\xA9" ? 3 : 0;
}

bool has_unicode_break(std::string_view v) {
  for (size_t k = 0; k < v.size(); ++k) {
    if (unicode_break_at(v, k) > 0) return true;
  }
  return false;
}

// Whether a plain scalar may start with `c` followed by `next`.
bool plain_first(char c, char next, bool flow) {
  if (is_blank_end(c) || std::strchr(",[]{}#&*!|>'\"%@`", c) != nullptr) return false;
  if (c == '-' || c == '?' || c == ':') {
    return !is_blank_end(next) && !(flow && is_flow_indicator(next));
  }
  return true;
}

// Whether `r` written as a plain scalar (inside a flow collection when `flow`) reads back as
// itself, wherever a plain scalar stood: one line, no indicator first, no ": " or " #", no white
// space at either end, no document marker.
bool plain_ok(std::string_view r, bool flow) {
  if (r.empty() || !plain_first(r[0], r.size() > 1 ? r[1] : '\0', flow)) return false;
  if (r.starts_with("---") || r.starts_with("...") || is_ws(r.back()) || has_unicode_break(r)) {
    return false;
  }
  for (size_t k = 0; k < r.size(); ++k) {
    const char c = r[k];
    const char next = k + 1 < r.size() ? r[k + 1] : '\0';
    if (is_control(c) || (flow && is_flow_indicator(c))) return false;
    if (c == ':' && (is_blank_end(next) || (flow && is_flow_indicator(next)))) return false;
    if (c == '#' && k > 0 && is_ws(r[k - 1])) return false;
  }
  return true;
}

// Whether `r` fits between single quotes on one line.
bool single_ok(std::string_view r) {
  return std::none_of(r.begin(), r.end(), [](char c) { return is_control(c); }) &&
         !has_unicode_break(r);
}

enum class Kind { kString, kNull, kBool, kBoolShort, kBoolAnyCase, kInt, kFloat, kTime, kMerge };

size_t span(std::string_view v, size_t k, std::string_view set) {
  while (k < v.size() && set.find(v[k]) != kNone) ++k;
  return k;
}

// A cursor over a scalar, for the resolvers below.
struct Scan {
  std::string_view v;
  size_t k = 0;
  bool done() const { return k == v.size(); }
  bool eat(std::string_view set) {
    if (k == v.size() || set.find(v[k]) == kNone) return false;
    ++k;
    return true;
  }
  size_t run(std::string_view set) {
    const size_t begin = k;
    while (eat(set)) {
    }
    return k - begin;
  }
  // Base 60 ("1:30:00"): ":" and one or two digits, the first of two at most 5, once or more.
  bool sexagesimal() {
    size_t n = 0;
    for (; k < v.size() && v[k] == ':'; ++n) {
      ++k;
      if (eat("012345")) {
        eat(kDigits);
      } else if (!eat("6789")) {
        return false;
      }
    }
    return n > 0;
  }
  static constexpr std::string_view kDigits = "0123456789";
};

bool one_of(std::string_view v, std::initializer_list<std::string_view> set) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// What a plain scalar resolves to under the YAML 1.2 core schema.
Kind resolve_core(std::string_view v) {
  constexpr std::string_view d = Scan::kDigits;
  if (one_of(v, {"", "~", "null", "Null", "NULL"})) return Kind::kNull;
  if (one_of(v, {"true", "True", "TRUE", "false", "False", "FALSE"})) return Kind::kBool;
  if (one_of(v, {".nan", ".NaN", ".NAN"})) return Kind::kFloat;
  if (v.size() > 2 && (v.starts_with("0o") || v.starts_with("0x")) &&
      span(v, 2, v[1] == 'o' ? "01234567" : "0123456789abcdefABCDEF") == v.size()) {
    return Kind::kInt;
  }
  Scan s{v};
  s.eat("+-");
  if (one_of(v.substr(s.k), {".inf", ".Inf", ".INF"})) return Kind::kFloat;
  const size_t whole = s.run(d);
  if (whole > 0 && s.done()) return Kind::kInt;
  bool number = whole > 0;
  if (s.eat(".")) number = s.run(d) > 0 || number;
  if (number && s.eat("eE")) {
    s.eat("+-");
    number = s.run(d) > 0;
  }
  return number && s.done() ? Kind::kFloat : Kind::kString;
}

// What a plain scalar resolves to under YAML 1.1, as PyYAML and libyaml's users read it; y and
// n (booleans to the YAML 1.1 spec and go-yaml, strings to PyYAML) and booleans in an odd case
// are kinds of their own, so that a plain replacement reads as its original did in each reader.
Kind resolve_11(std::string_view v) {
  constexpr std::string_view d = Scan::kDigits;
  constexpr std::string_view d_ = "0123456789_";
  if (one_of(v, {"", "~", "null", "Null", "NULL"})) return Kind::kNull;
  if (one_of(v, {"true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no", "No",
                 "NO", "on", "On", "ON", "off", "Off", "OFF"})) {
    return Kind::kBool;
  }
  if (one_of(v, {"y", "Y", "n", "N"})) return Kind::kBoolShort;
  if (v.size() <= 5) {
    std::string lower(v);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (one_of(lower, {"true", "false", "yes", "no", "on", "off"})) return Kind::kBoolAnyCase;
  }
  if (v == "<<") return Kind::kMerge;
  if (one_of(v, {".nan", ".NaN", ".NAN"})) return Kind::kFloat;
  Scan t{v};  // 2001-12-14, 2001-12-14t21:59:43.10-05:00, 2001-12-14 21:59:43.10 Z
  if (t.run(d) == 4 && t.eat("-") && t.run(d) - 1 < 2 && t.eat("-") && t.run(d) - 1 < 2) {
    if (t.done()) {
      if (v.size() == 10) return Kind::kTime;
    } else if ((t.eat("Tt") || t.run(" \t") > 0) && t.run(d) - 1 < 2 && t.eat(":") &&
               t.run(d) == 2 && t.eat(":") && t.run(d) == 2) {
      if (t.eat(".")) t.run(d);
      if (t.done()) return Kind::kTime;
      t.run(" \t");
      const bool zone = t.eat("Z") || (t.eat("+-") && t.run(d) - 1 < 2 &&
                                       (t.done() || (t.eat(":") && t.run(d) == 2)));
      if (zone && t.done()) return Kind::kTime;
    }
  }
  // An exponent needs its sign in YAML 1.1.
  auto exponent_to_end = [&](Scan& s) {
    return (!s.eat("eE") || (s.eat("+-") && s.run(d) > 0)) && s.done();
  };
  Scan s{v};
  const bool sign = s.eat("+-");
  const std::string_view u = v.substr(s.k);
  if (one_of(u, {".inf", ".Inf", ".INF"})) return Kind::kFloat;
  if (u.size() > 2 && u[0] == '0' && (u[1] == 'b' || u[1] == 'x')) {
    const bool digits = span(u, 2, u[1] == 'b' ? "01_" : "0123456789abcdefABCDEF_") == u.size();
    return digits ? Kind::kInt : Kind::kString;
  }
  if (u.starts_with('.')) {  // .5, unsigned
    if (sign || !s.eat(".") || !s.eat(d)) return Kind::kString;
    s.run(d_);
    return exponent_to_end(s) ? Kind::kFloat : Kind::kString;
  }
  if (!s.eat(d)) return Kind::kString;
  const bool zero = u[0] == '0';
  s.run(d_);
  if (s.done()) return !zero || span(u, 1, "01234567_") == u.size() ? Kind::kInt : Kind::kString;
  const size_t whole = s.k;
  if (s.sexagesimal()) {  // 1:30 (not 0:30), 1:30.5
    if (s.done()) return zero ? Kind::kString : Kind::kInt;
    if (!s.eat(".")) return Kind::kString;
    s.run(d_);
    return s.done() ? Kind::kFloat : Kind::kString;
  }
  s.k = whole;
  if (!s.eat(".")) return Kind::kString;
  s.run(d_);
  return exponent_to_end(s) ? Kind::kFloat : Kind::kString;
}

struct Scalar {
  size_t begin = 0;
  size_t end = 0;         // [begin, end): the bytes a replacement takes the place of
  char style = 0;         // 'p' plain, '\'' or '"' quoted, '*' an alias
  bool one_line = true;   // (a key must be)
  std::string_view text;  // decoded: a view of the input or of Rewriter::decoded_
};

class Rewriter {
 public:
  Rewriter(std::string_view in, YamlVisitor& visitor, std::string& out)
      : in_(in), visitor_(visitor), out_(out) {}

  YamlRewriteResult run() {
    out_.clear();
    out_.reserve(in_.size());
    if (!stream()) {
      result_.valid = false;
      result_.error_offset = err_;
      return result_;
    }
    append_range(copied_, in_.size());
    return result_;
  }

 private:
  bool fail(size_t at) {
    err_ = std::min(at, in_.size());
    return false;
  }

  char at(size_t k) const { return k < in_.size() ? in_[k] : '\0'; }
  char peek(size_t k = 0) const { return at(i_ + k); }
  bool at_end() const { return i_ >= in_.size(); }
  long col() const { return static_cast<long>(i_ - line_); }
  void skip_ws() {
    while (is_ws(peek())) ++i_;
  }
  void skip_to_break() {
    while (!at_end() && !is_break(peek())) ++i_;
  }
  // Past a comment at i_ to its line's end, noted for the visitor (YamlVisitor::comment()).
  void comment() {
    const size_t b = i_ + 1;
    skip_to_break();
    if (b < i_) comments_.emplace(b, i_);
  }
  // Writes in_[b, e), the comments noted inside it as the visitor has them.
  void append_range(size_t b, size_t e) {
    for (auto it = comments_.lower_bound(b); it != comments_.end() && it->second <= e;
         it = comments_.erase(it)) {
      const auto [cb, ce] = *it;
      comment_out_.clear();
      if (!visitor_.comment(in_.substr(cb, ce - cb), comment_out_)) continue;
      for (char& c : comment_out_) {
        if (is_break(c) || is_control(c)) c = ' ';  // it must stay one comment
      }
      out_.append(in_.substr(b, cb - b));
      out_ += comment_out_;
      b = ce;
      ++result_.replaced;
    }
    out_.append(in_.substr(b, e - b));
  }
  size_t after_break(size_t k) const {
    if (at(k) == '\r') ++k;
    if (at(k) == '\n') ++k;
    return k;
  }
  void skip_break() { line_ = i_ = after_break(i_); }
  bool at_comment() const { return peek() == '#' && (i_ == line_ || is_ws(in_[i_ - 1])); }
  bool at_line_end() const { return at_end() || is_break(peek()) || at_comment(); }
  bool marker_at(size_t k, std::string_view m) const {
    return in_.substr(k, 3) == m && is_blank_end(at(k + 3));
  }
  bool at_marker(std::string_view m) const { return i_ == line_ && marker_at(i_, m); }
  bool at_doc_marker() const { return at_marker("---") || at_marker("..."); }
  bool at_seq_entry() const { return peek() == '-' && is_blank_end(peek(1)); }

  // Past white space, comments and line ends to the next content or the end of the input. Only
  // spaces indent: a tab at a line's start is an error, even on a line with nothing else or a
  // comment (as libyaml has it, which would not read a replacement's output otherwise).
  bool to_content() {
    if (i_ != line_) {
      skip_ws();
      if (at_comment()) comment();
      if (!is_break(peek())) return true;
      skip_break();
    }
    while (true) {
      while (peek() == ' ') ++i_;
      if (peek() == '\t') return fail(i_);
      if (at_comment()) comment();
      if (!is_break(peek())) return true;
      skip_break();
    }
  }

  void push(std::string_view key, bool item) {
    lens_.push_back(path_.size());
    if (item) {
      path_ += "[]";
      return;
    }
    if (!path_.empty()) path_ += '.';
    for (char c : key) path_ += (c == '.' || c == '[') ? '_' : c;
  }

  void pop() {
    path_.resize(lens_.back());
    lens_.pop_back();
  }

  // Hands `text` to the visitor; true when it is to be replaced by replacement_.
  bool ask(bool key, std::string_view text) {
    ++result_.visited;
    replacement_.clear();
    if (!visitor_.visit(key, path_, text, replacement_)) return false;
    ++result_.replaced;
    return true;
  }

  void visit(bool key, const Scalar& s, bool flow) {
    if (s.style == '*' || !ask(key, s.text)) return;
    append_range(copied_, s.begin);
    const std::string_view r = replacement_;
    if (s.style == 'p' && plain_ok(r, flow) && resolve_core(r) == resolve_core(s.text) &&
        resolve_11(r) == resolve_11(s.text)) {
      out_ += r;
    } else if (s.style == '\'' && single_ok(r)) {
      out_ += '\'';
      for (char c : r) {
        if (c == '\'') out_ += '\'';
        out_ += c;
      }
      out_ += '\'';
    } else {
      write_double(r);
    }
    copied_ = s.end;
  }

  void write_double(std::string_view r) {
    out_ += '"';
    for (size_t k = 0; k < r.size(); ++k) {
      const unsigned char c = r[k];
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += static_cast<char>(c);
      } else if (c == '\n') {
        out_ += "\\n";
      } else if (c == '\t') {
        out_ += "\\t";
      } else if (c == '\r') {
        out_ += "\\r";
      } else if (is_control(c)) {
        out_ += "\\x";
        out_ += "0123456789ABCDEF"[c >> 4];
        out_ += "0123456789ABCDEF"[c & 15];
      } else if (const size_t u = unicode_break_at(r, k); u > 0) {
        out_ += u == 2 ? "\\N" : r[k + 2] == '\xA8' ? "\\L" : "\\P";
        k += u - 1;
      } else {
        out_ += static_cast<char>(c);
      }
    }
    out_ += '"';
  }

  bool stream() {
    if (in_.starts_with("\xEF\xBB\xBF")) i_ = line_ = 3;  // a UTF-8 byte order mark
    // Control characters are not YAML; NEL, LS and PS end a line for YAML 1.1 readers (libyaml
    // among them), where they might end a comment that hides a value from this one.
    for (size_t k = 0; k < in_.size(); ++k) {
      if ((is_control(in_[k]) && !is_break(in_[k])) || unicode_break_at(in_, k) > 0) {
        return fail(k);
      }
    }
    while (true) {
      if (!to_content()) return false;
      if (at_end()) return true;
      if (i_ == line_ && peek() == '%') {  // directives, copied; a document must follow
        while (i_ == line_ && peek() == '%') {
          skip_to_break();
          if (!to_content()) return false;
        }
        if (!at_marker("---")) return fail(i_);
      }
      if (!at_marker("...")) {
        const bool start = at_marker("---");
        if (start) i_ += 3;
        if (!node(-1, !start, false) || !to_content()) return false;
        if (at_end()) return true;
        if (at_marker("---")) continue;
        if (!at_marker("...")) return fail(i_);  // more after the document's root node
      }
      i_ += 3;
      skip_ws();
      if (!at_line_end()) return fail(i_);
    }
  }

  // A block node after an indicator ("key:", "- ", "---") or at a line's start: on the rest of
  // the line or on the lines below, indented more than `n` (or at `n`, a sequence as a key's
  // value, when `seq_at_n`). `compact`: a mapping or a sequence may start on this line (not
  // after "key: ").
  bool node(long n, bool compact, bool seq_at_n) {
    size_t start = kNone;  // where the node starts, its properties included
    while (true) {
      skip_ws();
      if (at_line_end()) {
        if (!to_content()) return false;
        const long c = col();
        if (at_end() || at_doc_marker() || c < n || (c == n && !(seq_at_n && at_seq_entry()))) {
          return true;  // an empty node
        }
        compact = true;
        start = i_;
      }
      if (start == kNone) start = i_;
      if (peek() != '&' && peek() != '!') break;
      if (!property(false)) return false;
    }
    if (at_seq_entry()) {
      if (!compact || start != i_) return fail(i_);
      return block_seq(col());
    }
    const char c = peek();
    if (c == '?' && is_blank_end(peek(1))) return fail(i_);  // explicit keys are not supported
    if (c == '|' || c == '>') return block_scalar(n);
    if (c == '[' || c == '{') {
      if (!flow_collection()) return false;
      skip_ws();
      return at_line_end() || fail(i_);  // (a collection as a key is not supported)
    }
    Scalar s;
    if (!scalar(s, false)) return false;
    skip_ws();
    if (peek() == ':' && is_blank_end(peek(1))) {
      if (!compact || !s.one_line) return fail(i_);
      return block_map(static_cast<long>(start - line_), s);
    }
    if (s.style == 'p' && !plain_more(n, false, s)) return false;
    if (!at_line_end()) return fail(i_);
    visit(false, s, false);
    return true;
  }

  // A block mapping at indentation `m` whose first key has been read; i_ at its ':'.
  bool block_map(long m, Scalar key) {
    if (++depth_ > kYamlMaxDepth) return fail(key.begin);
    while (true) {
      visit(true, key, false);
      push(key.text, false);
      ++i_;
      if (!node(m, false, true)) return false;
      pop();
      if (!to_content()) return false;
      if (at_end() || at_doc_marker() || col() < m) break;
      if (col() > m) return fail(i_);
      // The next key: properties, then an alias or a scalar on one line, then ':'.
      while (peek() == '&' || peek() == '!') {
        if (!property(false)) return false;
        skip_ws();
      }
      if (at_seq_entry() || (peek() == '?' && is_blank_end(peek(1)))) return fail(i_);
      if (!scalar(key, false)) return false;
      skip_ws();
      if (peek() != ':' || !is_blank_end(peek(1)) || !key.one_line) return fail(i_);
    }
    --depth_;
    return true;
  }

  // A block sequence at indentation `s`; i_ at its first "-".
  bool block_seq(long s) {
    if (++depth_ > kYamlMaxDepth) return fail(i_);
    while (true) {
      push({}, true);
      ++i_;
      if (!node(s, true, false)) return false;
      pop();
      if (!to_content()) return false;
      if (at_end() || at_doc_marker() || col() < s) break;
      if (col() > s) return fail(i_);
      if (!at_seq_entry()) break;  // the next key of a mapping at the same indentation
    }
    --depth_;
    return true;
  }

  // An anchor or a tag, copied; white space (or in a flow collection, an indicator) must follow.
  bool property(bool flow) {
    const bool anchor = peek() == '&';
    const size_t begin = i_;
    if (peek(1) == '<' && !anchor) {  // a verbatim tag !<...>
      while (peek() != '>' && !is_blank_end(peek())) ++i_;
      if (peek() != '>') return fail(i_);
      ++i_;
    } else {
      ++i_;
      if (anchor) {
        skip_name();
        if (i_ == begin + 1) return fail(i_);
      } else {
        while (!is_blank_end(peek()) && !is_flow_indicator(peek())) ++i_;
      }
    }
    return is_blank_end(peek()) || (flow && is_flow_indicator(peek())) || fail(i_);
  }

  // An anchor's or an alias's name: letters, digits, '-' and '_', as libyaml takes them (YAML
  // allows more, which libyaml reads otherwise: anything after them is an error here).
  void skip_name() {
    while (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '-' || peek() == '_') ++i_;
  }

  // An alias, a quoted scalar or the first line of a plain scalar.
  bool scalar(Scalar& s, bool flow) {
    s = Scalar{};
    s.begin = i_;
    const char c = peek();
    if (c == '"' || c == '\'') return quoted(s);
    if (c == '*') {
      s.style = '*';
      ++i_;
      skip_name();
      if (i_ == s.begin + 1) return fail(i_);
      s.end = i_;
    } else {
      if (!plain_first(c, peek(1), flow)) return fail(i_);
      s.style = 'p';
      i_ = plain_line(i_, flow, s.end);
    }
    s.text = in_.substr(s.begin, s.end - s.begin);
    return true;
  }

  // Where a plain scalar's line from in_[k] ends: at a line end, at ": " (or a ':' before a flow
  // indicator), before " #" and, in a flow collection, at a flow indicator. `last`: past its last
  // character that is not white space.
  size_t plain_line(size_t k, bool flow, size_t& last) const {
    last = k;
    for (; k < in_.size(); ++k) {
      const char c = in_[k];
      const char next = at(k + 1);
      if (is_break(c) || (flow && is_flow_indicator(c))) break;
      if (c == ':' && (is_blank_end(next) || (flow && is_flow_indicator(next)))) break;
      if (c == '#' && k > 0 && (is_ws(in_[k - 1]) || is_break(in_[k - 1]))) break;
      if (!is_ws(c)) last = k + 1;
    }
    return k;
  }

  // Continues a plain scalar over the lines below that belong to it (indented more than `n` in a
  // block; any line but a document marker in a flow collection), folding them as YAML does: one
  // line end becomes a space, each empty line a line feed.
  bool plain_more(long n, bool flow, Scalar& s) {
    while (is_break(peek())) {
      size_t k = i_;
      size_t line = k;
      size_t empty = 0;
      long indent = 0;
      while (true) {
        line = k = after_break(k);
        k = span(in_, k, " ");
        indent = static_cast<long>(k - line);
        k = span(in_, k, " \t");
        if (!is_break(at(k))) break;
        ++empty;
      }
      if (k >= in_.size() || (!flow && indent <= n) || marker_at(line, "---") ||
          marker_at(line, "...")) {
        return true;
      }
      size_t last = 0;
      const size_t stop = plain_line(k, flow, last);
      if (last == k) return true;  // a comment or an indicator: not part of the scalar
      if (s.one_line) decoded_.assign(s.text);
      if (empty == 0) {
        decoded_ += ' ';
      } else {
        decoded_.append(empty, '\n');
      }
      decoded_.append(in_.substr(k, last - k));
      s.text = decoded_;
      s.end = last;
      s.one_line = false;
      i_ = stop;
      line_ = line;
    }
    return true;
  }

  // A single- or double-quoted scalar, decoded into decoded_ (as libyaml does: white space at a
  // line end dropped, one line end folded to a space, each empty line a line feed).
  bool quoted(Scalar& s) {
    const char q = peek();
    s.style = q;
    decoded_.clear();
    ++i_;
    while (true) {
      bool leading_blanks = false;
      while (!is_blank_end(peek())) {
        const char c = peek();
        if (c == q && q == '\'' && peek(1) == '\'') {
          decoded_ += '\'';
          i_ += 2;
        } else if (c == q) {
          break;
        } else if (q == '"' && c == '\\' && is_break(peek(1))) {
          ++i_;
          skip_break();
          if (at_doc_marker()) return fail(i_);
          s.one_line = false;
          leading_blanks = true;  // an escaped line end: joined without a space
          break;
        } else if (q == '"' && c == '\\') {
          if (!escape()) return false;
        } else {
          decoded_ += c;
          ++i_;
        }
      }
      if (at_end()) return fail(i_);
      if (peek() == q) {
        ++i_;
        s.end = i_;
        s.text = decoded_;
        return true;
      }
      const size_t blanks = i_;
      bool leading_break = false;
      size_t trailing = 0;
      while (is_ws(peek()) || is_break(peek())) {
        if (is_ws(peek())) {
          ++i_;
          continue;
        }
        skip_break();
        s.one_line = false;
        if (at_doc_marker()) return fail(i_);
        if (leading_blanks) {
          ++trailing;
        } else {
          leading_blanks = leading_break = true;
        }
      }
      if (!leading_blanks) {
        decoded_.append(in_.substr(blanks, i_ - blanks));
      } else if (leading_break && trailing == 0) {
        decoded_ += ' ';
      } else {
        decoded_.append(trailing, '\n');
      }
    }
  }

  // A double-quoted scalar's escape at in_[i_] == '\\', decoded into decoded_.
  bool escape() {
    static constexpr std::string_view kFrom = "0abt\tnvfre \"/\\N_LPxuU";
    static constexpr uint32_t kTo[] = {0,  7,   8,   9,   9,    10,   11,   12,     13,
                                       27, ' ', '"', '/', '\\', 0x85, 0xA0, 0x2028, 0x2029};
    const size_t begin = i_;
    const size_t e = kFrom.find(peek(1));
    if (e == kNone) return fail(begin);
    i_ += 2;
    const size_t digits = e < std::size(kTo) ? 0 : size_t{2} << (e - std::size(kTo));  // x u U
    uint32_t cp = digits == 0 ? kTo[e] : 0;
    for (size_t k = 0; k < digits; ++k, ++i_) {
      const char c = peek();
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) return fail(i_);
      cp = cp * 16 + static_cast<uint32_t>(d);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return fail(begin);
    append_utf8(decoded_, cp);
    return true;
  }

  // A literal (|) or folded (>) block scalar; `n`: the indentation of the node holding it.
  bool block_scalar(long n) {
    const size_t header = i_;
    const bool literal = peek() == '|';
    ++i_;
    long digit = 0;
    char chomp = 0;
    for (int k = 0; k < 2; ++k) {
      if (peek() >= '1' && peek() <= '9' && digit == 0) {
        digit = peek() - '0';
      } else if ((peek() == '+' || peek() == '-') && chomp == 0) {
        chomp = peek();
      } else {
        break;
      }
      ++i_;
    }
    const size_t header_end = i_;
    if (!is_blank_end(peek())) return fail(i_);
    skip_ws();
    if (!at_line_end()) return fail(i_);
    if (at_comment()) comment();
    skip_to_break();
    // Lines written in a replacement end as the header's line does (a lone CR too: an LF after
    // it would join it into one line end).
    const std::string_view header_break_bytes = in_.substr(i_, after_break(i_) - i_);
    const std::string_view br = header_break_bytes.empty() ? "\n" : header_break_bytes;
    const bool header_break = !at_end();
    const long base = std::max(n, 0L);
    long indent = digit > 0 ? base + digit : 0;
    size_t body = i_;
    size_t end = i_;
    size_t end_line = line_;
    bool leading_break = false;
    bool leading_blank = false;
    size_t trailing = 0;
    decoded_.clear();
    if (header_break) {
      skip_break();
      body = end = end_line = i_;
      if (!block_breaks(n, indent, trailing, end, end_line)) return false;
      while (col() == indent && !at_end()) {  // a content line
        const bool blank = is_ws(peek());
        if (!literal && leading_break && !leading_blank && !blank) {
          if (trailing == 0) decoded_ += ' ';  // folded
        } else if (leading_break) {
          decoded_ += '\n';
        }
        leading_break = false;
        decoded_.append(trailing, '\n');
        trailing = 0;
        leading_blank = blank;
        const size_t b = i_;
        skip_to_break();
        decoded_.append(in_.substr(b, i_ - b));
        end = i_;
        if (at_end()) break;
        skip_break();
        end = end_line = i_;
        leading_break = true;
        if (!block_breaks(n, indent, trailing, end, end_line)) return false;
      }
    }
    if (indent == 0) indent = std::max(n + 1, 1L);  // no line after the header
    if (chomp != '-' && leading_break) decoded_ += '\n';
    if (chomp == '+') decoded_.append(trailing, '\n');
    i_ = end;
    line_ = end_line;
    if (!ask(false, decoded_)) return true;
    append_range(copied_, header);
    if (block_text(literal, indent, indent - base, digit > 0, br)) {
      out_ += emit_header_;
      append_range(header_end, body);
      if (!header_break && !emit_body_.empty()) out_ += br;
      out_ += emit_body_;
    } else {
      write_double(replacement_);
      append_range(header_end, body);
    }
    copied_ = end;
    return true;
  }

  // A block scalar's empty lines and the indentation of the line after them, from a line's
  // start; an unknown `indent` (0) becomes that line's, or the least the scalar may have.
  bool block_breaks(long n, long& indent, size_t& trailing, size_t& end, size_t& end_line) {
    long max_indent = 0;
    while (true) {
      while ((indent == 0 || col() < indent) && peek() == ' ') ++i_;
      max_indent = std::max(max_indent, col());
      if ((indent == 0 || col() < indent) && peek() == '\t') return fail(i_);
      if (!is_break(peek())) break;
      skip_break();
      ++trailing;
      end = end_line = i_;
    }
    if (indent == 0) indent = std::max({max_indent, n + 1, 1L});
    return true;
  }

  // replacement_ as a block scalar's header and content lines (emit_header_, emit_body_) at
  // `indent` (`step` past the holding node's indentation), if it can be one: printable, and for a
  // folded scalar no line starting with white space (which would keep its line ends unfolded).
  bool block_text(bool literal, long indent, long step, bool with_digit, std::string_view br) {
    const std::string_view r = replacement_;
    if (std::any_of(r.begin(), r.end(), [](char c) { return c != '\n' && is_control(c); }) ||
        has_unicode_break(r)) {
      return false;
    }
    size_t t = 0;  // line feeds at the end, which the chomping indicator says
    while (t < r.size() && r[r.size() - 1 - t] == '\n') ++t;
    const std::string_view text = r.substr(0, r.size() - t);
    bool seen = false;
    emit_body_.clear();
    for (size_t k = 0; !text.empty();) {
      const size_t e = std::min(text.find('\n', k), text.size());
      const std::string_view line = text.substr(k, e - k);
      if (!line.empty()) {
        if (is_ws(line[0]) && !literal) return false;
        // A first line that starts with white space would be read as indentation.
        if (is_ws(line[0]) && !seen) with_digit = true;
        seen = true;
        emit_body_.append(static_cast<size_t>(indent), ' ');
      }
      emit_body_ += line;
      emit_body_ += br;
      if (e == text.size()) break;
      if (!literal && !line.empty()) emit_body_ += br;  // folded: one line end reads as a space
      k = e + 1;
    }
    emit_header_.assign(1, literal ? '|' : '>');
    // Without a content line the indentation would be read from the lines after the scalar (a
    // comment less indented than its content was, but more than its key): say it.
    if (with_digit || !seen) {
      if (step < 1 || step > 9) return false;
      emit_header_ += static_cast<char>('0' + step);
    }
    if (t == 0) {
      emit_header_ += '-';
    } else if (t > 1 || text.empty()) {
      emit_header_ += '+';
      for (size_t k = text.empty() ? 0 : 1; k < t; ++k) emit_body_ += br;
    }
    return true;
  }

  // A flow collection [...] or {...}.
  bool flow_collection() {
    if (++depth_ > kYamlMaxDepth) return fail(i_);
    const bool map = peek() == '{';
    const char close = map ? '}' : ']';
    ++i_;
    while (true) {
      if (!flow_space()) return false;
      if (peek() == close) break;
      if (map) {
        while (peek() == '&' || peek() == '!') {
          if (!property(true) || !flow_space()) return false;
        }
        if (peek() == '?' && is_blank_end(peek(1))) return fail(i_);
        Scalar key;
        if (!scalar(key, true)) return false;
        if (key.style == 'p' && !plain_more(-1, true, key)) return false;
        skip_ws();
        const bool quoted = key.style == '"' || key.style == '\'';
        const bool value =
            peek() == ':' && (quoted || is_blank_end(peek(1)) || is_flow_indicator(peek(1)));
        if (value && !key.one_line) return fail(i_);
        visit(true, key, true);
        push(key.text, false);
        if (value) {
          ++i_;
          if (!flow_space()) return false;
          if (peek() != ',' && peek() != '}' && !flow_node()) return false;
        }
        pop();
      } else {
        push({}, true);
        if (!flow_node()) return false;
        pop();
        if (!flow_space()) return false;
        if (peek() == ':') return fail(i_);  // a "key: value" pair in a sequence: not supported
      }
      if (!flow_space()) return false;
      if (peek() == ',') {
        ++i_;
      } else if (peek() != close) {
        return fail(i_);
      }
    }
    ++i_;
    --depth_;
    return true;
  }

  // A node inside a flow collection: properties, then a collection, an alias or a scalar (or,
  // after properties, nothing).
  bool flow_node() {
    bool properties = false;
    while (peek() == '&' || peek() == '!') {
      if (!property(true) || !flow_space()) return false;
      properties = true;
    }
    const char c = peek();
    if (properties && (c == ',' || c == ']' || c == '}' || c == ':')) return true;
    if (c == '[' || c == '{') return flow_collection();
    Scalar s;
    if (!scalar(s, true)) return false;
    if (s.style == 'p' && !plain_more(-1, true, s)) return false;
    visit(false, s, true);
    return true;
  }

  // White space, comments and line ends inside a flow collection, which must not end there.
  bool flow_space() {
    while (true) {
      skip_ws();
      if (at_comment()) comment();
      if (!is_break(peek())) break;
      skip_break();
      if (at_doc_marker()) return fail(i_);
    }
    return !at_end() || fail(i_);
  }

  std::string_view in_;
  YamlVisitor& visitor_;
  std::string& out_;
  size_t i_ = 0;
  size_t line_ = 0;  // where the line holding i_ starts
  size_t copied_ = 0;
  std::map<size_t, size_t> comments_;  // noted and not yet written: begin (past '#') → end
  std::string comment_out_;            // a comment's replacement (apart: a scalar's may be pending)
  size_t err_ = 0;
  size_t depth_ = 0;
  YamlRewriteResult result_;
  std::string path_;
  std::vector<size_t> lens_;  // path_'s size before each key or item
  std::string decoded_;
  std::string replacement_;
  std::string emit_header_;
  std::string emit_body_;
};

}  // namespace

YamlRewriteResult rewrite_yaml(std::string_view in, YamlVisitor& visitor, std::string& out) {
  return Rewriter(in, visitor, out).run();
}

}  // namespace twin::scrubber
