#include "xml.h"

#include <cstdint>
#include <vector>

#include "json_rewrite.h"
#include "twin/traffic/xml.h"

namespace twin::scrubber {
namespace {

using traffic::xml_local_name;

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

  // The value in_[begin, end) (raw, or a CDATA section's content) at `path`.
  // `attr`: the local name of the attribute whose value this is; empty for character data.
  void value(size_t begin, size_t end, bool cdata, std::string_view attr = {}) {
    const std::string_view raw = in_.substr(begin, end - begin);
    const std::string_view v = cdata ? raw : traffic::decode_xml_text(raw, decoded_);
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
    for (char c : xml_local_name(qname)) path_ += (c == '.' || c == '[') ? '_' : c;
  }

  void pop_label() {
    labels_.pop_back();
    own_label_.pop_back();
  }

  void pop_name() {
    path_.resize(lens_.back());
    lens_.pop_back();
  }

  // The label of the element whose start tag `reader` has read (XmlVisitor::label): its own
  // attribute named as is_label_key() says, without '&' in its value; else, for an element
  // whose local name ends with "value" (any case: SAML's AttributeValue), its parent's own
  // label.
  std::string_view element_label(const traffic::XmlReader& reader, std::string_view local) const {
    for (const traffic::XmlAttribute& a : reader.attributes()) {
      const std::string_view v = reader.attribute_value(a);
      if (is_label_key(xml_local_name(a.name)) && !v.empty() &&
          v.find('&') == std::string_view::npos) {
        return v;
      }
    }
    if (local.size() >= 5 && !own_label_.empty() && own_label_.back() &&
        std::equal(local.end() - 5, local.end(), "value",
                   [](char a, char b) { return (a | 0x20) == b; })) {
      return labels_.back();
    }
    return {};
  }

  bool parse() {
    using Token = traffic::XmlReader::Token;
    traffic::XmlReader reader(in_);
    while (true) {
      switch (reader.next()) {
        case Token::kText:
          value(reader.begin(), reader.end(), false);
          break;
        case Token::kCData:
          value(reader.begin(), reader.end(), true);
          break;
        case Token::kComment:
          markup(reader.begin(), reader.end(), true);
          break;
        case Token::kInstruction:
          markup(reader.begin(), reader.end(), false);
          break;
        case Token::kStart:
          start_tag(reader);
          break;
        case Token::kEnd:
          pop_name();
          pop_label();
          break;
        case Token::kDone:
          return true;
        case Token::kError:
          return fail(reader.error_offset());
      }
    }
  }

  // A start tag's element: its name on the path, its label, its attributes' values visited
  // (namespace declarations name schemas, not data).
  void start_tag(const traffic::XmlReader& reader) {
    const std::string_view name = reader.name();
    const std::string_view label = element_label(reader, xml_local_name(name));
    push_name(name);
    own_label_.push_back(!label.empty() &&
                         (labels_.empty() || label.data() != labels_.back().data()));
    labels_.push_back(label);
    for (const traffic::XmlAttribute& a : reader.attributes()) {
      if (a.name == "xmlns" || a.name.starts_with("xmlns:")) continue;
      push_name(a.name);
      value(a.begin, a.end, false, xml_local_name(a.name));
      pop_name();
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
