#include "xml.h"

#include <cstdint>
#include <vector>

#include "json_rewrite.h"
#include "twin/traffic/text.h"

namespace twin::scrubber {
namespace {

using traffic::append_utf8;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A name ends at white space, '/', '>', '=' or a quote (NameChar is far wider, but nothing
// that can end a name in well-formed XML can be part of one).
bool name_end(char c) {
  return is_space(c) || c == '/' || c == '>' || c == '=' || c == '"' || c == '\'' || c == '<';
}

std::string_view local_name(std::string_view qname) {
  const size_t colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

// `raw` with the five predefined entities and character references decoded into `out`; any
// other '&' (a DTD's entity, a stray ampersand) stays as written. Returns the decoded view:
// `raw` itself when it holds no '&'.
std::string_view decode(std::string_view raw, std::string& out) {
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
    const size_t semi = raw.find(';', amp + 1);
    const std::string_view ent = semi == std::string_view::npos || semi - amp > 12
                                     ? std::string_view()
                                     : raw.substr(amp + 1, semi - amp - 1);
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
      out += '&';
      i = amp + 1;
    }
  }
  return out;
}

// A replacement escaped for its place: text and attribute values escape '&' and '<' (and '>'
// and both quotes, so that no place needs to know its quote); a CDATA section splits a "]]>".
void append_escaped(std::string& out, std::string_view v, bool cdata) {
  if (cdata) {
    size_t i = 0;
    for (size_t k; (k = v.find("]]>", i)) != std::string_view::npos; i = k + 3) {
      out.append(v.substr(i, k - i));
      out += "]]]]><![CDATA[>";
    }
    out.append(v.substr(i));
    return;
  }
  for (char c : v) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
}

class Rewriter {
 public:
  Rewriter(std::string_view in, XmlVisitor& visitor, std::string& out)
      : in_(in), visitor_(visitor), out_(out) {}

  XmlRewriteResult run() {
    out_.clear();
    out_.reserve(in_.size());
    if (!parse()) {
      result_.valid = false;
      result_.error_offset = err_;
      return result_;
    }
    out_.append(in_.substr(copied_));
    return result_;
  }

 private:
  bool fail(size_t at) {
    err_ = at;
    return false;
  }

  bool starts(size_t i, std::string_view what) const { return in_.substr(i, what.size()) == what; }

  // The value in_[begin, end) (raw, or a CDATA section's content) at `path`.
  // `attr`: the local name of the attribute whose value this is; empty for character data.
  void value(size_t begin, size_t end, bool cdata, std::string_view attr = {}) {
    const std::string_view raw = in_.substr(begin, end - begin);
    const std::string_view v = cdata ? raw : decode(raw, decoded_);
    ++result_.visited;
    replacement_.clear();
    // a record's label reaches its text and its value attribute (XmlVisitor::label)
    visitor_.label = labels_.empty() || (!attr.empty() && !is_value_key(attr)) ? std::string_view()
                                                                               : labels_.back();
    if (!visitor_.visit(path_, v, replacement_)) return;
    out_.append(in_.substr(copied_, begin - copied_));
    append_escaped(out_, replacement_, cdata);
    copied_ = end;
    ++result_.replaced;
  }

  // A comment's or processing instruction's content in_[begin, end) (XmlVisitor::markup()).
  void markup(size_t begin, size_t end, bool comment) {
    replacement_.clear();
    if (begin >= end || !visitor_.markup(in_.substr(begin, end - begin), replacement_)) return;
    // what would end it early, or make a comment that is not one, defused
    for (size_t k = 1; k < replacement_.size(); ++k) {
      if (comment && replacement_[k - 1] == '-' && replacement_[k] == '-') replacement_[k] = '_';
      if (!comment && replacement_[k - 1] == '?' && replacement_[k] == '>') replacement_[k] = ' ';
    }
    if (comment && !replacement_.empty() && replacement_.back() == '-') replacement_.back() = '_';
    out_.append(in_.substr(copied_, begin - copied_));
    out_ += replacement_;
    copied_ = end;
    ++result_.replaced;
  }

  void push_name(std::string_view qname) {
    lens_.push_back(path_.size());
    if (!path_.empty()) path_ += '.';
    for (char c : local_name(qname)) path_ += (c == '.' || c == '[') ? '_' : c;
  }

  void pop_label() {
    labels_.pop_back();
    own_label_.pop_back();
  }

  void pop_name() {
    path_.resize(lens_.back());
    lens_.pop_back();
  }

  // The label of the element whose start tag's attributes begin at in_[k]
  // (XmlVisitor::label): its own attribute named as is_label_key() says, without '&' in its
  // value; else, for an element whose local name ends with "value" (any case: SAML's
  // AttributeValue), its parent's own label.
  std::string_view element_label(size_t k, std::string_view local) const {
    const size_t n = in_.size();
    while (k < n && in_[k] != '>' && in_[k] != '<') {
      if (name_end(in_[k])) {
        ++k;
        continue;
      }
      const size_t a = k;
      while (k < n && !name_end(in_[k])) ++k;
      const std::string_view attr = in_.substr(a, k - a);
      while (k < n && is_space(in_[k])) ++k;
      if (k >= n || in_[k] != '=') continue;
      ++k;
      while (k < n && is_space(in_[k])) ++k;
      if (k >= n || (in_[k] != '"' && in_[k] != '\'')) return {};
      const size_t e = in_.find(in_[k], k + 1);
      if (e == std::string_view::npos) return {};
      const std::string_view v = in_.substr(k + 1, e - k - 1);
      if (is_label_key(local_name(attr)) && !v.empty() && v.find('&') == std::string_view::npos &&
          v.find('<') == std::string_view::npos) {
        return v;
      }
      k = e + 1;
    }
    if (local.size() >= 5 && !own_label_.empty() && own_label_.back() &&
        std::equal(local.end() - 5, local.end(), "value",
                   [](char a, char b) { return (a | 0x20) == b; })) {
      return labels_.back();
    }
    return {};
  }

  bool parse() {
    const size_t n = in_.size();
    size_t i = starts(0, "\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte order mark
    while (i < n) {
      if (in_[i] != '<') {
        const size_t lt = in_.find('<', i);
        const size_t end = lt == std::string_view::npos ? n : lt;
        bool blank = true;
        for (size_t k = i; k < end && blank; ++k) blank = is_space(in_[k]);
        if (!blank) {
          if (lens_.empty()) return fail(i);  // character data outside the root element
          value(i, end, false);
        }
        i = end;
        continue;
      }
      if (starts(i, "<!--")) {
        const size_t e = in_.find("-->", i + 4);
        if (e == std::string_view::npos) return fail(n);
        markup(i + 4, e, true);
        i = e + 3;
      } else if (starts(i, "<![CDATA[")) {
        const size_t e = in_.find("]]>", i + 9);
        if (e == std::string_view::npos) return fail(n);
        if (lens_.empty()) return fail(i);  // character data outside the root element
        value(i + 9, e, true);
        i = e + 3;
      } else if (starts(i, "<?")) {
        const size_t e = in_.find("?>", i + 2);
        if (e == std::string_view::npos) return fail(n);
        markup(i + 2, e, false);
        i = e + 2;
      } else if (starts(i, "<!")) {
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
        i = k + 1;
      } else if (starts(i, "</")) {
        size_t k = i + 2;
        while (k < n && !name_end(in_[k])) ++k;
        const std::string_view name = in_.substr(i + 2, k - i - 2);
        while (k < n && is_space(in_[k])) ++k;
        if (k >= n) return fail(n);
        if (in_[k] != '>' || lens_.empty() || names_.back() != name) return fail(i);
        names_.pop_back();
        pop_name();
        pop_label();
        i = k + 1;
      } else {
        if (!start_tag(i)) return false;
      }
    }
    if (!lens_.empty()) return fail(n);  // broke off inside an element
    return true;
  }

  // A start tag or an empty-element tag at in_[i] == '<'; i past it.
  bool start_tag(size_t& i) {
    const size_t n = in_.size();
    size_t k = i + 1;
    while (k < n && !name_end(in_[k])) ++k;
    if (k == i + 1) return fail(k >= n ? n : i);
    if (lens_.size() >= kXmlMaxDepth) return fail(i);
    const std::string_view name = in_.substr(i + 1, k - i - 1);
    const std::string_view label = element_label(k, local_name(name));
    names_.push_back(name);
    push_name(name);
    own_label_.push_back(!label.empty() &&
                         (labels_.empty() || label.data() != labels_.back().data()));
    labels_.push_back(label);
    while (true) {
      const size_t before = k;
      while (k < n && is_space(in_[k])) ++k;
      if (k >= n) return fail(n);
      if (in_[k] == '>') {
        i = k + 1;
        return true;
      }
      if (in_[k] == '/') {
        if (k + 1 >= n) return fail(n);
        if (in_[k + 1] != '>') return fail(k);
        names_.pop_back();
        pop_name();
        pop_label();
        i = k + 2;
        return true;
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
      // Namespace declarations name schemas, not data.
      if (attr != "xmlns" && !attr.starts_with("xmlns:")) {
        push_name(attr);
        value(k + 1, e, false, local_name(attr));
        pop_name();
      }
      k = e + 1;
    }
  }

  std::string_view in_;
  XmlVisitor& visitor_;
  std::string& out_;
  size_t copied_ = 0;
  size_t err_ = 0;
  XmlRewriteResult result_;
  std::string path_;
  std::vector<size_t> lens_;              // path_'s size before each open element
  std::vector<std::string_view> names_;   // the open elements' qualified names
  std::vector<std::string_view> labels_;  // the open elements' labels (element_label())
  std::vector<bool> own_label_;           // … from their own attributes
  std::string decoded_;
  std::string replacement_;
};

}  // namespace

XmlRewriteResult rewrite_xml(std::string_view in, XmlVisitor& visitor, std::string& out) {
  return Rewriter(in, visitor, out).run();
}

}  // namespace twin::scrubber
