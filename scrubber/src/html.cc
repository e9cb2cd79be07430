// JSON and form-control values in HTML pages and JSONP answers (html.h).

#include "html.h"

#include <algorithm>
#include <cstring>

namespace twin::scrubber {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool name_char(char c) { return !space(c) && c != '/' && c != '>' && c != '=' && c != '\0'; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == y; });
}

// The first case-insensitive occurrence of `needle` (lower case) in s from `from`, or npos.
size_t ifind(std::string_view s, std::string_view needle, size_t from) {
  while (from < s.size()) {
    const void* hit = std::memchr(s.data() + from, needle[0], s.size() - from);
    const void* hit_upper = needle[0] >= 'a' && needle[0] <= 'z'
                                ? std::memchr(s.data() + from, needle[0] - 32, s.size() - from)
                                : nullptr;
    if (hit == nullptr || (hit_upper != nullptr && hit_upper < hit)) hit = hit_upper;
    if (hit == nullptr) return std::string_view::npos;
    const auto at = static_cast<size_t>(static_cast<const char*>(hit) - s.data());
    if (at + needle.size() <= s.size() && iequals(s.substr(at, needle.size()), needle)) return at;
    from = at + 1;
  }
  return std::string_view::npos;
}

struct Attribute {
  std::string_view name;
  size_t begin = 0, end = 0;  // the value's bytes (without its quotes)
  bool has_value = false;
};

// The attributes of the tag whose name ends at p, up to its '>': p past it, or npos when the tag
// never ends.
size_t read_attributes(std::string_view s, size_t p, std::vector<Attribute>& attrs) {
  attrs.clear();
  for (;;) {
    while (p < s.size() && (space(s[p]) || s[p] == '/')) ++p;
    if (p >= s.size()) return std::string_view::npos;
    if (s[p] == '>') return p + 1;
    const size_t name_begin = p;
    while (p < s.size() && (name_char(s[p]) || (p == name_begin && s[p] == '='))) ++p;
    Attribute a;
    a.name = s.substr(name_begin, p - name_begin);
    size_t q = p;
    while (q < s.size() && space(s[q])) ++q;
    if (q < s.size() && s[q] == '=') {
      ++q;
      while (q < s.size() && space(s[q])) ++q;
      if (q >= s.size()) return std::string_view::npos;
      a.has_value = true;
      if (s[q] == '"' || s[q] == '\'') {
        const size_t close = s.find(s[q], q + 1);
        if (close == std::string_view::npos) return std::string_view::npos;
        a.begin = q + 1;
        a.end = close;
        p = close + 1;
      } else {
        a.begin = q;
        while (q < s.size() && !space(s[q]) && s[q] != '>') ++q;
        a.end = q;
        p = q;
      }
    }
    attrs.push_back(a);
  }
}

const Attribute* attribute(const std::vector<Attribute>& attrs, std::string_view name) {
  for (const auto& a : attrs) {
    if (iequals(a.name, name)) return &a;
  }
  return nullptr;
}

// The object and array literals assigned in a script's text [begin, end): each after an '=' that
// is no part of a comparison or an arrow (==, ===, !=, <=, >=, =>).
void script_literals(std::string_view s, size_t begin, size_t end, std::vector<HtmlRegion>& out) {
  const std::string_view text = s.substr(0, end);
  size_t p = begin;
  while (p < end) {
    const size_t eq = text.find('=', p);
    if (eq == std::string_view::npos) return;
    size_t q = eq + 1;
    const char before = eq > begin ? text[eq - 1] : ' ';
    if ((q < end && (text[q] == '=' || text[q] == '>')) || before == '!' || before == '<' ||
        before == '>') {
      while (q < end && (text[q] == '=' || text[q] == '>')) ++q;
      p = q;
      continue;
    }
    while (q < end && space(text[q])) ++q;
    if (q < end && (text[q] == '{' || text[q] == '[')) {
      const size_t stop = json_literal_end(text, q);
      if (stop != std::string_view::npos) {
        out.push_back({HtmlRegion::Kind::kJson, q, stop, {}});
        p = stop;
        continue;
      }
    }
    p = q;
  }
}

}  // namespace

size_t json_literal_end(std::string_view s, size_t at) {
  size_t depth = 0;
  for (size_t p = at; p < s.size(); ++p) {
    const char c = s[p];
    if (c == '"') {
      for (++p; p < s.size() && s[p] != '"'; ++p) {
        if (s[p] == '\\') ++p;
      }
      if (p >= s.size()) return std::string_view::npos;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return std::string_view::npos;
      if (--depth == 0) return p + 1;
    }
  }
  return std::string_view::npos;
}

void find_html_regions(std::string_view s, std::vector<HtmlRegion>& out) {
  out.clear();
  std::vector<Attribute> attrs;
  size_t p = 0;
  while (p < s.size()) {
    const size_t lt = s.find('<', p);
    if (lt == std::string_view::npos || lt + 1 >= s.size()) return;
    if (s.substr(lt, 4) == "<!--") {
      const size_t close = s.find("-->", lt + 4);
      if (close == std::string_view::npos) return;
      p = close + 3;
      continue;
    }
    size_t q = lt + 1;
    while (q < s.size() && name_char(s[q]) && s[q] != '<') ++q;
    const std::string_view tag = s.substr(lt + 1, q - lt - 1);
    if (tag.empty() || !((tag[0] >= 'a' && tag[0] <= 'z') || (tag[0] >= 'A' && tag[0] <= 'Z'))) {
      p = lt + 1;  // "</x>", "<!DOCTYPE", a '<' in text: passed over
      continue;
    }
    const size_t after = read_attributes(s, q, attrs);
    if (after == std::string_view::npos) return;
    p = after;
    const bool script = iequals(tag, "script"), textarea = iequals(tag, "textarea");
    if (script || textarea || iequals(tag, "style")) {
      // Raw text up to the element's end tag.
      const std::string_view end_tag = script ? "</script" : textarea ? "</textarea" : "</style";
      const size_t close = ifind(s, end_tag, after);
      if (close == std::string_view::npos) return;
      p = close + end_tag.size();
      if (script) {
        const Attribute* type = attribute(attrs, "type");
        std::string_view t;
        if (type != nullptr) t = s.substr(type->begin, type->end - type->begin);
        if (ifind(t, "json", 0) != std::string_view::npos) {
          if (close > after) out.push_back({HtmlRegion::Kind::kJson, after, close, {}});
        } else {
          script_literals(s, after, close, out);
        }
      } else if (textarea) {
        const Attribute* name = attribute(attrs, "name");
        if (name != nullptr && name->end > name->begin && close > after) {
          out.push_back({HtmlRegion::Kind::kField, after, close,
                         s.substr(name->begin, name->end - name->begin)});
        }
      }
      continue;
    }
    if (iequals(tag, "input")) {
      const Attribute* name = attribute(attrs, "name");
      const Attribute* value = attribute(attrs, "value");
      if (name != nullptr && name->end > name->begin && value != nullptr &&
          value->end > value->begin) {
        out.push_back({HtmlRegion::Kind::kField, value->begin, value->end,
                       s.substr(name->begin, name->end - name->begin)});
      }
    }
  }
}

bool jsonp_argument(std::string_view body, size_t& begin, size_t& end) {
  size_t p = 0;
  while (p < body.size() && space(body[p])) ++p;
  if (body.substr(p, 4) == "/**/") p += 4;
  while (p < body.size() && space(body[p])) ++p;
  const size_t name = p;
  while (p < body.size() &&
         ((body[p] >= 'a' && body[p] <= 'z') || (body[p] >= 'A' && body[p] <= 'Z') ||
          (body[p] >= '0' && body[p] <= '9') || body[p] == '_' || body[p] == '$' ||
          body[p] == '.')) {
    ++p;
  }
  if (p == name || (body[name] >= '0' && body[name] <= '9')) return false;
  while (p < body.size() && space(body[p])) ++p;
  if (p >= body.size() || body[p] != '(') return false;
  size_t q = body.size();
  while (q > p && (space(body[q - 1]) || body[q - 1] == ';')) --q;
  if (q <= p + 1 || body[q - 1] != ')') return false;
  begin = p + 1;
  end = q - 1;
  const size_t first = body.find_first_not_of(" \t\r\n", begin);
  return first < end && (body[first] == '{' || body[first] == '[');
}

}  // namespace twin::scrubber
