// The selection expression of select.h: a hand-written scanner (columns for every error), one
// Term per KEY OP VALUE, evaluated in order with the first failing term ending the match.

#include "select.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "twin/replay/replay.h"

namespace twin::cli {

namespace {

enum class Key {
  kMethod,
  kRoute,
  kPath,
  kStatus,
  kError,
  kTarget,
  kSession,
  kId,
  kOrigin,
  kBody,
  kRequestBody
};

struct KeyInfo {
  std::string_view name;
  Key key;
  bool equality;  // = and != allowed
  bool regex;     // ~ and !~ allowed
};

constexpr KeyInfo kKeys[] = {
    {"method", Key::kMethod, true, true},
    {"route", Key::kRoute, true, true},
    {"path", Key::kPath, false, true},
    {"status", Key::kStatus, true, false},
    {"error", Key::kError, true, false},
    {"target", Key::kTarget, true, true},
    {"session", Key::kSession, true, false},
    {"id", Key::kId, true, false},
    {"origin", Key::kOrigin, true, false},
    {"body", Key::kBody, false, true},
    {"request_body", Key::kRequestBody, false, true},
};

std::string key_list() {
  std::string out;
  for (const auto& k : kKeys) out += (out.empty() ? "" : ", ") + std::string(k.name);
  return out;
}

std::string error_list() {
  std::string out = "none, any";
  for (int k = 1; k <= 255; ++k) {
    const auto kind = static_cast<traffic::ErrorKind>(k);
    auto name = traffic::to_string(kind);
    if (traffic::parse_error_kind(name) != kind) break;  // past the known kinds
    out += ", " + std::string(name);
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

struct StatusValue {
  int lo = 0, hi = 0;  // inclusive; lo == -1: no response
};

struct Term {
  Key key;
  bool negated = false;
  bool regex = false;
  std::vector<std::string> strings;  // method (upper case), route globs, target names
  std::vector<StatusValue> statuses;
  std::vector<int> errors;                // ErrorKind values; -1: any error
  std::vector<uint64_t> numbers;          // session, id, origin
  std::vector<std::unique_ptr<RE2>> res;  // ~ and !~

  bool any_of(const traffic::Exchange& e) const;
};

bool search(const std::vector<std::unique_ptr<RE2>>& res, std::string_view text) {
  for (const auto& re : res)
    if (RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re)) return true;
  return false;
}

// Whether one of the term's values holds for `e` (before negation).
bool Term::any_of(const traffic::Exchange& e) const {
  switch (key) {
    case Key::kMethod:
      if (regex) return search(res, e.request.method);
      return std::find(strings.begin(), strings.end(), upper(e.request.method)) != strings.end();
    case Key::kRoute: {
      auto path = replay::route_path(e.request.target);
      if (regex) return search(res, path);
      for (const auto& g : strings)
        if (replay::route_match(g, path)) return true;
      return false;
    }
    case Key::kPath:
      return search(res, e.request.target);
    case Key::kStatus:
      for (const auto& s : statuses) {
        if (s.lo < 0 ? !e.response.has_value()
                     : e.response && e.response->status >= s.lo && e.response->status <= s.hi)
          return true;
      }
      return false;
    case Key::kError:
      for (int k : errors) {
        if (k < 0 ? e.error != traffic::ErrorKind::kNone : static_cast<int>(e.error) == k)
          return true;
      }
      return false;
    case Key::kTarget:
      if (regex) return search(res, e.target);
      return std::find(strings.begin(), strings.end(), e.target) != strings.end();
    case Key::kSession:
      return std::find(numbers.begin(), numbers.end(), e.session) != numbers.end();
    case Key::kId:
      return std::find(numbers.begin(), numbers.end(), e.id) != numbers.end();
    case Key::kOrigin:
      return std::find(numbers.begin(), numbers.end(), e.origin_id) != numbers.end();
    case Key::kBody:
      // No response: no body to match (so body!~X holds).
      return e.response && search(res, e.response->body);
    case Key::kRequestBody:
      return search(res, e.request.body);
  }
  return false;
}

/// The scanner: one pass over the expression, columns counted from 1.
class Parser {
 public:
  Parser(std::string_view text, std::string_view what) : s_(text), what_(what) {}

  Result<std::vector<Term>> parse() {
    std::vector<Term> terms;
    for (;;) {
      skip_spaces();
      if (pos_ >= s_.size()) break;
      auto term = parse_term();
      if (!term) return tl::unexpected(term.error());
      terms.push_back(std::move(*term));
    }
    return terms;
  }

 private:
  tl::unexpected<Error> error(size_t pos, const std::string& message) const {
    return fail(std::string(what_) + ": column " + std::to_string(pos + 1) + ": " + message);
  }

  void skip_spaces() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }

  static bool key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }

  Result<Term> parse_term() {
    const size_t key_pos = pos_;
    while (pos_ < s_.size() && key_char(s_[pos_])) ++pos_;
    std::string_view name = s_.substr(key_pos, pos_ - key_pos);
    if (name.empty()) {
      return error(key_pos, "expected KEY OP VALUE (a key such as status=5xx), got '" +
                                std::string(1, s_[key_pos]) + "'");
    }
    const KeyInfo* info = nullptr;
    for (const auto& k : kKeys)
      if (k.name == name) info = &k;
    if (info == nullptr) {
      return error(key_pos, "unknown key '" + std::string(name) + "' (" + key_list() + ")");
    }
    // The operator.
    const size_t op_pos = pos_;
    Term t;
    t.key = info->key;
    if (s_.substr(pos_, 2) == "!=") {
      t.negated = true;
      pos_ += 2;
    } else if (s_.substr(pos_, 2) == "!~") {
      t.negated = t.regex = true;
      pos_ += 2;
    } else if (pos_ < s_.size() && s_[pos_] == '=') {
      ++pos_;
    } else if (pos_ < s_.size() && s_[pos_] == '~') {
      t.regex = true;
      ++pos_;
    } else {
      return error(op_pos,
                   "expected an operator (=, !=, ~ or !~) after '" + std::string(name) + "'");
    }
    if (t.regex && !info->regex) {
      return error(op_pos, "'" + std::string(name) + "' takes = or != (not ~)");
    }
    if (!t.regex && !info->equality) {
      return error(op_pos, "'" + std::string(name) + "' takes ~ or !~ (a regular expression)");
    }
    // The values, separated by '|'.
    for (;;) {
      const size_t value_pos = pos_;
      auto value = parse_value();
      if (!value) return tl::unexpected(value.error());
      auto added = add_value(t, *info, *value, value_pos);
      if (!added) return tl::unexpected(added.error());
      if (pos_ < s_.size() && s_[pos_] == '|') {
        ++pos_;
        continue;
      }
      break;
    }
    if (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '\t') {
      return error(pos_, "unexpected '" + std::string(1, s_[pos_]) +
                             "' after a value (quote values that hold it)");
    }
    return t;
  }

  Result<std::string> parse_value() {
    const size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '"') {
      ++pos_;
      std::string out;
      while (pos_ < s_.size()) {
        char c = s_[pos_++];
        if (c == '"') return out;
        if (c == '\\' && pos_ < s_.size() && (s_[pos_] == '"' || s_[pos_] == '\\')) {
          out.push_back(s_[pos_++]);
          continue;
        }
        out.push_back(c);
      }
      return error(start, "unterminated quote");
    }
    while (pos_ < s_.size() && s_[pos_] != ' ' && s_[pos_] != '\t' && s_[pos_] != '|') {
      if (s_[pos_] == '"') return error(pos_, "a quote inside a value (quote the whole value)");
      ++pos_;
    }
    if (pos_ == start) return error(start, "empty value (write \"\" for an empty string)");
    return std::string(s_.substr(start, pos_ - start));
  }

  Result<void> add_value(Term& t, const KeyInfo& info, const std::string& v, size_t at) {
    const std::string name(info.name);
    if (t.regex) {
      RE2::Options options;
      options.set_log_errors(false);
      auto re = std::make_unique<RE2>(v, options);
      if (!re->ok()) return error(at, "bad regular expression for '" + name + "': " + re->error());
      t.res.push_back(std::move(re));
      return {};
    }
    switch (info.key) {
      case Key::kMethod:
        t.strings.push_back(upper(v));
        return {};
      case Key::kRoute:
        if (v.empty() || v[0] != '/') {
          return error(at, "route '" + v + "': a glob on the path, starting with '/'");
        }
        t.strings.push_back(v);
        return {};
      case Key::kTarget:
        t.strings.push_back(v);
        return {};
      case Key::kStatus: {
        StatusValue sv;
        auto digit = [](char c) { return c >= '0' && c <= '9'; };
        if (v == "none") {
          sv.lo = sv.hi = -1;
        } else if (v.size() == 3 && v[0] >= '1' && v[0] <= '9' && (v[1] == 'x' || v[1] == 'X') &&
                   (v[2] == 'x' || v[2] == 'X')) {
          sv.lo = (v[0] - '0') * 100;
          sv.hi = sv.lo + 99;
        } else if (v.size() == 3 && digit(v[0]) && digit(v[1]) && digit(v[2]) && v[0] != '0') {
          sv.lo = sv.hi = std::stoi(v);
        } else {
          return error(
              at, "status '" + v + "': expected a code (500), a class (5xx) or none (no response)");
        }
        t.statuses.push_back(sv);
        return {};
      }
      case Key::kError: {
        if (v == "any") {
          t.errors.push_back(-1);
        } else if (auto k = traffic::parse_error_kind(v)) {
          t.errors.push_back(static_cast<int>(*k));
        } else {
          return error(at, "unknown error kind '" + v + "' (" + error_list() + ")");
        }
        return {};
      }
      case Key::kSession:
      case Key::kId:
      case Key::kOrigin: {
        uint64_t n = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (ec != std::errc() || end != v.data() + v.size()) {
          return error(at, name + " '" + v + "': expected a non-negative integer");
        }
        t.numbers.push_back(n);
        return {};
      }
      default:
        return error(at, "'" + name + "' takes ~ or !~");  // unreachable: checked with the op
    }
  }

  std::string_view s_;
  std::string_view what_;
  size_t pos_ = 0;
};

}  // namespace

struct Selector::Impl {
  std::string text;
  std::vector<Term> terms;
};

Selector::Selector() : impl_(std::make_unique<Impl>()) {}
Selector::~Selector() = default;
Selector::Selector(Selector&&) noexcept = default;
Selector& Selector::operator=(Selector&&) noexcept = default;

Result<Selector> Selector::parse(std::string_view expression, std::string_view what) {
  Parser parser(expression, what);
  auto terms = parser.parse();
  if (!terms) return tl::unexpected(terms.error());
  Selector s;
  s.impl_->text = std::string(expression);
  s.impl_->terms = std::move(*terms);
  return s;
}

bool Selector::matches(const traffic::Exchange& e) const {
  for (const auto& t : impl_->terms) {
    if (t.any_of(e) == t.negated) return false;
  }
  return true;
}

bool Selector::empty() const { return impl_->terms.empty(); }
const std::string& Selector::text() const { return impl_->text; }

}  // namespace twin::cli
