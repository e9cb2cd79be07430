#include "graphql.h"

#include <cstdint>
#include <vector>

#include "json_rewrite.h"
#include "twin/traffic/text.h"

namespace twin::scrubber {
namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_ignored(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ','; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A block string """…""" can hold a replacement as it is unless it holds """ or a backslash,
// or ends with a quote (which would run into the closing one).
bool block_string_can_hold(std::string_view v) {
  return v.find("\"\"\"") == std::string_view::npos && v.find('\\') == std::string_view::npos &&
         (v.empty() || v.back() != '"');
}

class Rewriter {
 public:
  Rewriter(std::string_view in, GraphqlVisitor& visitor, std::string& out)
      : in_(in), visitor_(visitor), out_(out) {}

  GraphqlRewriteResult run() {
    out_.clear();
    out_.reserve(in_.size());
    const size_t n = in_.size();
    size_t i = 0;
    if (in_.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
    while (i < n) {
      const char c = in_[i];
      if (is_ignored(c)) {
        ++i;
        continue;
      }
      if (c == '#') {
        size_t e = i + 1;
        while (e < n && in_[e] != '\n' && in_[e] != '\r') ++e;
        visit(false, {}, i + 1, e, in_.substr(i + 1, e - i - 1), false);
        i = e;
        continue;
      }
      if (c == '"') {
        if (!string_literal(i)) return fail(i);
        continue;
      }
      if (is_name_start(c)) {
        size_t e = i + 1;
        while (e < n && is_name_char(in_[e])) ++e;
        last_name_ = in_.substr(i, e - i);
        after_colon_ = false;  // a name in a value's place (a type, an enum value) is the value
        i = e;
        continue;
      }
      if (c == '-' || (c >= '0' && c <= '9')) {
        size_t e = i + 1;
        while (e < n && ((in_[e] >= '0' && in_[e] <= '9') || in_[e] == '.' || in_[e] == 'e' ||
                         in_[e] == 'E' || in_[e] == '+' || in_[e] == '-')) {
          ++e;
        }
        after_colon_ = false;
        i = e;
        continue;
      }
      switch (c) {
        case ':':
          if (!stack_.empty() && (stack_.back().kind == 'a' || stack_.back().kind == 'o')) {
            key_ = last_name_;
            after_colon_ = true;
          }
          break;
        case '(':
          if (!push('a', path_.size())) return fail(i);
          break;
        case '{':
          if (value_place()) {
            const size_t len = path_.size();
            set_value_path();
            if (!push('o', len)) return fail(i);
          } else if (!push('s', path_.size())) {
            return fail(i);
          }
          after_colon_ = false;
          break;
        case '[': {
          const size_t len = path_.size();
          if (value_place()) {
            set_value_path();
            path_ += "[]";
          }
          if (!push('l', len)) return fail(i);
          after_colon_ = false;
          break;
        }
        case ')':
        case '}':
        case ']': {
          const char want = c == ')' ? 'a' : c == ']' ? 'l' : 0;
          if (stack_.empty()) return fail(i);
          const Frame f = stack_.back();
          if (want != 0 ? f.kind != want : (f.kind != 'o' && f.kind != 's')) return fail(i);
          path_.resize(f.path_len);
          stack_.pop_back();
          after_colon_ = false;
          break;
        }
        case '$':
        case '!':
        case '=':
        case '@':
        case '|':
        case '&':
        case '.':
          if (c == '=') after_colon_ = false;
          break;
        default:
          return fail(i);  // not GraphQL outside a string or a comment
      }
      ++i;
    }
    if (!stack_.empty()) return fail(n);
    out_.append(in_.substr(copied_));
    return result_;
  }

 private:
  struct Frame {
    char kind;  // 's' selection set, 'a' arguments, 'o' input object, 'l' list
    size_t path_len;
  };

  GraphqlRewriteResult fail(size_t at) {
    result_.valid = false;
    result_.error_offset = at;
    return result_;
  }

  bool push(char kind, size_t path_len) {
    if (stack_.size() >= kGraphqlMaxDepth) return false;
    stack_.push_back(Frame{kind, path_len});
    return true;
  }

  // A value goes here: right after "name:" in arguments or an input object, or in a list.
  bool value_place() const {
    return after_colon_ || (!stack_.empty() && stack_.back().kind == 'l');
  }

  // path_ becomes the path of the value about to be read.
  void set_value_path() {
    if (!after_colon_) return;  // in a list: the list's path, "…[]"
    if (!path_.empty()) path_ += '.';
    for (char c : key_) path_ += c;
  }

  // A string literal from in_[i] == '"'; i ends after it. False when it does not end on its
  // line (or, for a block string, at all) or holds an escape GraphQL has not.
  bool string_literal(size_t& i) {
    const size_t n = in_.size();
    const size_t begin = i;
    std::string_view value;
    bool block = in_.substr(i, 3) == "\"\"\"";
    size_t end = 0;
    if (block) {
      size_t j = i + 3;
      while (true) {
        const size_t q = in_.find("\"\"\"", j);
        if (q == std::string_view::npos) return false;
        if (q > 0 && in_[q - 1] == '\\') {  // \""" is an escaped triple quote
          j = q + 3;
          continue;
        }
        end = q + 3;
        value = in_.substr(i + 3, q - i - 3);
        break;
      }
    } else {
      decoded_.clear();
      size_t j = i + 1;
      while (true) {
        if (j >= n || in_[j] == '\n' || in_[j] == '\r') return false;
        const char c = in_[j];
        if (c == '"') break;
        if (c != '\\') {
          decoded_ += c;
          ++j;
          continue;
        }
        if (j + 1 >= n) return false;
        const char e = in_[j + 1];
        j += 2;
        switch (e) {
          case '"':
          case '\\':
          case '/':
            decoded_ += e;
            break;
          case 'b':
            decoded_ += '\b';
            break;
          case 'f':
            decoded_ += '\f';
            break;
          case 'n':
            decoded_ += '\n';
            break;
          case 'r':
            decoded_ += '\r';
            break;
          case 't':
            decoded_ += '\t';
            break;
          case 'u': {
            uint32_t cp = 0;
            for (int k = 0; k < 4; ++k) {
              if (j >= n || hex_value(in_[j]) < 0) return false;
              cp = cp * 16 + static_cast<uint32_t>(hex_value(in_[j]));
              ++j;
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // surrogates: not read here
            traffic::append_utf8(decoded_, cp);
            break;
          }
          default:
            return false;
        }
      }
      end = j + 1;
      value = decoded_;
    }
    // Its place: named after the key it is the value of, or the list's path, else unnamed.
    std::string_view path;
    const size_t len = path_.size();
    if (value_place()) {
      set_value_path();
      path = path_;
    }
    visit(true, path, begin, end, value, block);
    path_.resize(len);
    after_colon_ = false;
    i = end;
    return true;
  }

  // Hands a literal (in_[begin, end), quotes included) or a comment's text to the visitor.
  void visit(bool literal, std::string_view path, size_t begin, size_t end, std::string_view value,
             bool block) {
    ++result_.visited;
    replacement_.clear();
    if (!visitor_.visit(literal, path, value, replacement_)) return;
    ++result_.replaced;
    out_.append(in_.substr(copied_, begin - copied_));
    if (!literal) {
      // a comment ends at its line's end: a replacement's own line ends become spaces
      for (char c : replacement_) out_ += (c == '\n' || c == '\r') ? ' ' : c;
    } else if (block && block_string_can_hold(replacement_)) {
      out_ += "\"\"\"";
      out_ += replacement_;
      out_ += "\"\"\"";
    } else {
      append_json_string(out_, replacement_);  // GraphQL strings take JSON's escapes
    }
    copied_ = end;
  }

  std::string_view in_;
  GraphqlVisitor& visitor_;
  std::string& out_;
  size_t copied_ = 0;
  GraphqlRewriteResult result_;
  std::vector<Frame> stack_;
  std::string path_;
  std::string_view last_name_;
  std::string_view key_;
  bool after_colon_ = false;
  std::string decoded_;
  std::string replacement_;
};

}  // namespace

bool looks_like_graphql(std::string_view text) {
  size_t i = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  while (i < text.size()) {
    if (is_ignored(text[i])) {
      ++i;
    } else if (text[i] == '#') {
      while (i < text.size() && text[i] != '\n' && text[i] != '\r') ++i;
    } else {
      break;
    }
  }
  if (i >= text.size()) return false;
  if (text[i] == '{') return true;
  size_t e = i;
  while (e < text.size() && is_name_char(text[e])) ++e;
  const std::string_view word = text.substr(i, e - i);
  if (word != "query" && word != "mutation" && word != "subscription" && word != "fragment") {
    return false;
  }
  while (e < text.size() && is_ignored(text[e])) ++e;
  if (e >= text.size()) return false;
  const char c = text[e];
  // an operation needs a selection set
  return (is_name_start(c) || c == '(' || c == '{' || c == '@') &&
         text.find('{', e) != std::string_view::npos;
}

GraphqlRewriteResult rewrite_graphql(std::string_view in, GraphqlVisitor& visitor,
                                     std::string& out) {
  return Rewriter(in, visitor, out).run();
}

}  // namespace twin::scrubber
