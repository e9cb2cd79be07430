#include "twin/traffic/xml.h"

#include "twin/traffic/text.h"

namespace twin::traffic {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A name ends at white space, '/', '>', '=' or a quote (NameChar is far wider, but nothing
// that can end a name in well-formed XML can be part of one).
bool name_end(char c) {
  return is_space(c) || c == '/' || c == '>' || c == '=' || c == '"' || c == '\'' || c == '<';
}

struct Delimited {
  std::string_view open, close;
  XmlReader::Token token;
};
constexpr Delimited kDelimited[] = {
    {"<!--", "-->", XmlReader::Token::kComment},
    {"<![CDATA[", "]]>", XmlReader::Token::kCData},
    {"<?", "?>", XmlReader::Token::kInstruction},
};

}  // namespace

std::string_view decode_xml_text(std::string_view raw, std::string& out, bool* unknown) {
  if (raw.find('&') == std::string_view::npos) return raw;
  out.clear();
  size_t i = 0;
  while (i < raw.size()) {
    const size_t amp = raw.find('&', i);
    if (amp == std::string_view::npos) {
      out.append(raw.substr(i));
      break;
    }
    out.append(raw.substr(i, amp - i));
    // (the ';' looked for within 12 bytes only: a run of '&' must not make this quadratic)
    const std::string_view window = raw.substr(amp + 1, 12);
    const size_t k = window.find(';');
    const size_t semi = k == std::string_view::npos ? k : amp + 1 + k;
    const std::string_view ent =
        k == std::string_view::npos ? std::string_view() : window.substr(0, k);
    bool done = true;
    if (ent == "lt") {
      out += '<';
    } else if (ent == "gt") {
      out += '>';
    } else if (ent == "amp") {
      out += '&';
    } else if (ent == "quot") {
      out += '"';
    } else if (ent == "apos") {
      out += '\'';
    } else if (ent.size() >= 2 && ent[0] == '#') {
      const bool hex = ent[1] == 'x';
      uint32_t cp = 0;
      size_t digits = 0;
      for (size_t k = hex ? 2 : 1; k < ent.size(); ++k, ++digits) {
        const char c = ent[k];
        int d = -1;
        if (c >= '0' && c <= '9') d = c - '0';
        if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
        if (d < 0 || cp > 0x10FFFF) {
          digits = 0;
          break;
        }
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
      }
      if (digits == 0 || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        done = false;
      } else {
        append_utf8(out, cp);
      }
    } else {
      done = false;
    }
    if (done) {
      i = semi + 1;
    } else {
      if (unknown != nullptr) *unknown = true;
      out += '&';
      i = amp + 1;
    }
  }
  return out;
}

XmlReader::XmlReader(std::string_view in) : in_(in) {
  if (starts(0, "\xEF\xBB\xBF")) at_ = 3;  // a UTF-8 byte order mark
}

XmlReader::Token XmlReader::fail(size_t at) {
  failed_ = true;
  error_ = at;
  return Token::kError;
}

XmlReader::Token XmlReader::next() {
  if (failed_) return Token::kError;
  if (close_pending_) {  // an empty-element tag's end
    close_pending_ = false;
    empty_ = false;
    attributes_.clear();
    name_ = open_.back();
    open_.pop_back();
    return Token::kEnd;
  }
  empty_ = false;
  const size_t n = in_.size();
  while (at_ < n) {
    const size_t i = at_;
    if (in_[i] != '<') {
      const size_t lt = in_.find('<', i);
      const size_t end = lt == std::string_view::npos ? n : lt;
      at_ = end;
      size_t k = i;
      while (k < end && is_space(in_[k])) ++k;
      if (k == end) continue;             // white space alone
      if (open_.empty()) return fail(i);  // character data outside the root element
      begin_ = i;
      end_ = end;
      return Token::kText;
    }
    // Markup delimited by `open` and `close`, its content the token's bytes.
    for (const auto& [open, close, token] : kDelimited) {
      if (!starts(i, open)) continue;
      const size_t e = in_.find(close, i + open.size());
      if (e == std::string_view::npos) return fail(n);
      // (a CDATA section is character data: inside the root element only)
      if (token == Token::kCData && open_.empty()) return fail(i);
      begin_ = i + open.size();
      end_ = e;
      at_ = e + close.size();
      return token;
    }
    if (starts(i, "<!")) {
      // <!DOCTYPE …>, its internal subset in brackets and quoted literals skipped, never read.
      size_t k = i + 2;
      int depth = 0;
      for (; k < n; ++k) {
        const char c = in_[k];
        if (c == '"' || c == '\'') {
          const size_t q = in_.find(c, k + 1);
          if (q == std::string_view::npos) return fail(n);
          k = q;
        } else if (c == '[') {
          ++depth;
        } else if (c == ']') {
          --depth;
        } else if (c == '>' && depth <= 0) {
          break;
        }
      }
      if (k >= n) return fail(n);
      at_ = k + 1;
      continue;
    }
    if (starts(i, "</")) {
      size_t k = i + 2;
      while (k < n && !name_end(in_[k])) ++k;
      const std::string_view name = in_.substr(i + 2, k - i - 2);
      while (k < n && is_space(in_[k])) ++k;
      if (k >= n) return fail(n);
      if (in_[k] != '>' || open_.empty() || open_.back() != name) return fail(i);
      open_.pop_back();
      name_ = name;
      attributes_.clear();
      at_ = k + 1;
      return Token::kEnd;
    }
    return start_tag(i);
  }
  if (!open_.empty()) return fail(n);  // broke off inside an element
  return Token::kDone;
}

// A start tag or an empty-element tag at in_[i] == '<'.
XmlReader::Token XmlReader::start_tag(size_t i) {
  const size_t n = in_.size();
  size_t k = i + 1;
  while (k < n && !name_end(in_[k])) ++k;
  if (k == i + 1) return fail(k >= n ? n : i);
  if (open_.size() >= kXmlMaxDepth) return fail(i);
  name_ = in_.substr(i + 1, k - i - 1);
  attributes_.clear();
  while (true) {
    const size_t before = k;
    while (k < n && is_space(in_[k])) ++k;
    if (k >= n) return fail(n);
    if (in_[k] == '>') {
      at_ = k + 1;
      break;
    }
    if (in_[k] == '/') {
      if (k + 1 >= n) return fail(n);
      if (in_[k + 1] != '>') return fail(k);
      at_ = k + 2;
      empty_ = close_pending_ = true;
      break;
    }
    if (k == before) return fail(k);  // attributes are separated by white space
    const size_t a = k;
    while (k < n && !name_end(in_[k])) ++k;
    if (k == a) return fail(k >= n ? n : k);
    const std::string_view attr = in_.substr(a, k - a);
    while (k < n && is_space(in_[k])) ++k;
    if (k >= n) return fail(n);
    if (in_[k] != '=') return fail(k);
    ++k;
    while (k < n && is_space(in_[k])) ++k;
    if (k >= n) return fail(n);
    const char q = in_[k];
    if (q != '"' && q != '\'') return fail(k);
    const size_t e = in_.find(q, k + 1);
    if (e == std::string_view::npos) return fail(n);
    if (in_.substr(k + 1, e - k - 1).find('<') != std::string_view::npos) return fail(k + 1);
    attributes_.push_back({attr, k + 1, e});
    k = e + 1;
  }
  open_.push_back(name_);
  return Token::kStart;
}

}  // namespace twin::traffic
