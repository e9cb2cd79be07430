// XML onto the tape (Doc::parse_xml, tape.h): the elements are read first, with their text,
// attributes and resolved namespace, then written as the JSON document of their paths, children
// grouped by name. Both passes are iterative: nesting (at most traffic::kXmlMaxDepth) costs heap,
// never stack.

#include <algorithm>
#include <climits>

#include "tape.h"
#include "twin/traffic/xml.h"

namespace twin::compare::tape {
namespace {

constexpr uint32_t kNone = UINT32_MAX;

// What write_xml_elements() has left to do, popped from the back of a stack.
enum Op : uint8_t {
  kElement,    // arg: an element, whose value is written
  kKeyName,    // arg: an element, whose local name is written as a key
  kKeyAttr,    // arg: an attribute, "@" and its local name as a key
  kAttrValue,  // arg: an attribute, its value
  kKeyText,    // "#text"
  kText,       // arg: an element, its text
  kKeyXmlns,   // "@xmlns"
  kXmlns,      // arg: an element, its namespace
  kArray,      // arg: elements in the array opened here
  kClose,      // the container opened last is complete
};

bool is_xml_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// `raw` without white space at either end.
std::string_view trimmed(std::string_view raw) {
  while (!raw.empty() && is_xml_space(raw.front())) raw.remove_prefix(1);
  while (!raw.empty() && is_xml_space(raw.back())) raw.remove_suffix(1);
  return raw;
}

}  // namespace

bool Doc::parse_xml(std::string_view s) {
  reset(s);
  if (s.size() >= UINT32_MAX) return false;
  return read_xml_elements() && write_xml_elements();
}

bool Doc::read_xml_elements() {
  using Token = traffic::XmlReader::Token;
  xml_elements_.clear();
  xml_pieces_.clear();
  xml_attrs_.clear();
  xml_bindings_.clear();
  xml_ns_text_.clear();
  open_.clear();  // each open element's first binding in xml_bindings_
  traffic::XmlReader reader(src_);
  uint32_t current = kNone;
  size_t roots = 0;
  while (true) {
    const Token token = reader.next();
    switch (token) {
      case Token::kText:
      case Token::kCData: {
        if (reader.begin() == reader.end()) break;  // an empty CDATA section
        const auto piece = static_cast<uint32_t>(xml_pieces_.size());
        xml_pieces_.push_back({static_cast<uint32_t>(reader.begin()),
                               static_cast<uint32_t>(reader.end()), token == Token::kCData, kNone});
        XmlElement& e = xml_elements_[current];  // (text is only ever inside an element)
        if (e.last_piece == kNone) {
          e.first_piece = piece;
        } else {
          xml_pieces_[e.last_piece].next = piece;
        }
        e.last_piece = piece;
        break;
      }
      case Token::kComment:
      case Token::kInstruction:
        break;
      case Token::kStart: {
        open_.push_back(static_cast<uint32_t>(xml_bindings_.size()));
        const auto attrs_begin = static_cast<uint32_t>(xml_attrs_.size());
        for (const traffic::XmlAttribute& a : reader.attributes()) {
          if (a.name == "xmlns" || a.name.starts_with("xmlns:")) {
            const auto at = static_cast<uint32_t>(xml_ns_text_.size());
            xml_ns_text_ += traffic::decode_xml_text(reader.attribute_value(a), xml_decoded_);
            xml_bindings_.push_back({a.name.substr(std::min<size_t>(a.name.size(), 6)), at,
                                     static_cast<uint32_t>(xml_ns_text_.size())});
          } else {
            xml_attrs_.push_back({traffic::xml_local_name(a.name), static_cast<uint32_t>(a.begin),
                                  static_cast<uint32_t>(a.end)});
          }
        }
        const std::string_view qname = reader.name();
        const size_t colon = qname.rfind(':');
        const std::string_view prefix =
            colon == std::string_view::npos ? std::string_view() : qname.substr(0, colon);
        uint32_t ns_begin = 0, ns_end = 0;  // no namespace: an unbound prefix has none either
        for (size_t k = xml_bindings_.size(); k-- > 0;) {
          if (xml_bindings_[k].prefix == prefix) {
            ns_begin = xml_bindings_[k].begin;
            ns_end = xml_bindings_[k].end;
            break;
          }
        }
        const auto index = static_cast<uint32_t>(xml_elements_.size());
        xml_elements_.push_back({traffic::xml_local_name(qname), current, kNone, kNone, kNone,
                                 kNone, kNone, attrs_begin,
                                 static_cast<uint32_t>(xml_attrs_.size()), ns_begin, ns_end});
        if (current == kNone) {
          ++roots;
        } else {
          XmlElement& parent = xml_elements_[current];
          if (parent.last_child == kNone) {
            parent.first_child = index;
          } else {
            xml_elements_[parent.last_child].next_sibling = index;
          }
          parent.last_child = index;
        }
        current = index;
        break;
      }
      case Token::kEnd:
        xml_bindings_.resize(open_.back());
        open_.pop_back();
        current = xml_elements_[current].parent;
        break;
      case Token::kDone:
        return roots == 1;
      case Token::kError:
        return false;
    }
  }
}

// Whether `e` has text: in an element with child elements, runs of white space at either end
// of a piece (indentation) are none.
bool Doc::has_xml_text(const XmlElement& e) const {
  const bool trim = e.first_child != kNone;
  for (uint32_t k = e.first_piece; k != kNone; k = xml_pieces_[k].next) {
    const XmlPiece& piece = xml_pieces_[k];
    if (!trim || piece.cdata) return true;
    if (!trimmed(src_.substr(piece.begin, piece.end - piece.begin)).empty()) return true;
  }
  return false;
}

// The text of `e` as a string node: its pieces decoded and joined (each trimmed of white space
// in an element with child elements), in the body where it is one piece that needs neither.
bool Doc::push_xml_text(const XmlElement& e) {
  const bool trim = e.first_child != kNone;
  const auto raw = [&](const XmlPiece& piece) {
    const std::string_view r = src_.substr(piece.begin, piece.end - piece.begin);
    return trim && !piece.cdata ? trimmed(r) : r;
  };
  if (e.first_piece == kNone) {
    nodes_.push_back({Kind::kString, 0, 0, 0});
    return true;
  }
  const XmlPiece& first = xml_pieces_[e.first_piece];
  if (first.next == kNone && (first.cdata || raw(first).find('&') == std::string_view::npos)) {
    const std::string_view r = raw(first);
    nodes_.push_back({Kind::kString, 0, static_cast<uint32_t>(r.data() - src_.data()),
                      static_cast<uint32_t>(r.size())});
    return true;
  }
  const size_t at = arena_.size();
  for (uint32_t k = e.first_piece; k != kNone; k = xml_pieces_[k].next) {
    const XmlPiece& piece = xml_pieces_[k];
    arena_ += piece.cdata ? raw(piece) : traffic::decode_xml_text(raw(piece), xml_decoded_);
  }
  return push_arena(Kind::kString, 0, at);
}

bool Doc::push_xml_key(std::string_view prefix, std::string_view name) {
  const size_t at = arena_.size();
  arena_ += prefix;
  arena_ += name;
  return push_arena(Kind::kString, kFieldKey, at);
}

bool Doc::write_xml_elements() {
  const auto ns = [&](const XmlElement& e) {
    return std::string_view(xml_ns_text_).substr(e.ns_begin, e.ns_end - e.ns_begin);
  };
  const auto position = [&](std::string_view part) {
    return static_cast<uint32_t>(part.data() - src_.data());
  };
  open_.clear();  // the containers being written
  xml_tasks_.clear();
  // The root: an object of one member, the root element (the first element read).
  nodes_.push_back({Kind::kObject, 0, 1, 0});
  open_.push_back(0);
  xml_tasks_.push_back({kClose, 0});
  xml_tasks_.push_back({kElement, 0});
  xml_tasks_.push_back({kKeyName, 0});
  while (!xml_tasks_.empty()) {
    const XmlTask task = xml_tasks_.back();
    xml_tasks_.pop_back();
    switch (task.op) {
      case kElement: {
        const XmlElement& e = xml_elements_[task.arg];
        const bool own_ns =
            ns(e) != (e.parent == kNone ? std::string_view() : ns(xml_elements_[e.parent]));
        const uint32_t attrs = e.attrs_end - e.attrs_begin;
        if (!own_ns && attrs == 0 && e.first_child == kNone) {
          if (!push_xml_text(e)) return false;
          break;
        }
        // An object: "@xmlns", the attributes, the children by name, "#text"; pushed as tasks
        // in reverse.
        const auto object = static_cast<uint32_t>(nodes_.size());
        nodes_.push_back({Kind::kObject, 0, 0, 0});
        open_.push_back(object);
        uint32_t members = 0;
        xml_tasks_.push_back({kClose, 0});
        if (has_xml_text(e)) {
          xml_tasks_.push_back({kText, task.arg});
          xml_tasks_.push_back({kKeyText, 0});
          ++members;
        }
        xml_children_.clear();
        for (uint32_t c = e.first_child; c != kNone; c = xml_elements_[c].next_sibling) {
          xml_children_.push_back(c);
        }
        std::stable_sort(xml_children_.begin(), xml_children_.end(), [&](uint32_t x, uint32_t y) {
          return xml_elements_[x].local < xml_elements_[y].local;
        });
        for (size_t end = xml_children_.size(); end > 0;) {  // groups of a name, last first
          size_t begin = end - 1;
          const std::string_view name = xml_elements_[xml_children_[begin]].local;
          while (begin > 0 && xml_elements_[xml_children_[begin - 1]].local == name) --begin;
          if (end - begin == 1) {
            xml_tasks_.push_back({kElement, xml_children_[begin]});
          } else {
            xml_tasks_.push_back({kClose, 0});
            for (size_t k = end; k-- > begin;) xml_tasks_.push_back({kElement, xml_children_[k]});
            xml_tasks_.push_back({kArray, static_cast<uint32_t>(end - begin)});
          }
          xml_tasks_.push_back({kKeyName, xml_children_[begin]});
          ++members;
          end = begin;
        }
        for (uint32_t k = e.attrs_end; k-- > e.attrs_begin;) {
          xml_tasks_.push_back({kAttrValue, k});
          xml_tasks_.push_back({kKeyAttr, k});
          ++members;
        }
        if (own_ns) {
          xml_tasks_.push_back({kXmlns, task.arg});
          xml_tasks_.push_back({kKeyXmlns, 0});
          ++members;
        }
        nodes_[object].a = members;
        break;
      }
      case kKeyName: {
        const std::string_view name = xml_elements_[task.arg].local;
        nodes_.push_back(
            {Kind::kString, kFieldKey, position(name), static_cast<uint32_t>(name.size())});
        break;
      }
      case kKeyAttr:
        if (!push_xml_key("@", xml_attrs_[task.arg].local)) return false;
        break;
      case kAttrValue: {
        const XmlAttr& a = xml_attrs_[task.arg];
        const std::string_view raw = src_.substr(a.begin, a.end - a.begin);
        const std::string_view value = traffic::decode_xml_text(raw, xml_decoded_);
        if (value.data() == raw.data()) {
          nodes_.push_back({Kind::kString, 0, a.begin, a.end - a.begin});
        } else {
          const size_t at = arena_.size();
          arena_ += value;
          if (!push_arena(Kind::kString, 0, at)) return false;
        }
        break;
      }
      case kKeyText:
        if (!push_xml_key("#", "text")) return false;
        break;
      case kText:
        if (!push_xml_text(xml_elements_[task.arg])) return false;
        break;
      case kKeyXmlns:
        if (!push_xml_key("@", "xmlns")) return false;
        break;
      case kXmlns: {
        const size_t at = arena_.size();
        arena_ += ns(xml_elements_[task.arg]);
        if (!push_arena(Kind::kString, 0, at)) return false;
        break;
      }
      case kArray:
        open_.push_back(static_cast<uint32_t>(nodes_.size()));
        nodes_.push_back({Kind::kArray, 0, task.arg, 0});
        break;
      case kClose:
        nodes_[open_.back()].b = static_cast<uint32_t>(nodes_.size());
        open_.pop_back();
        break;
    }
    if (nodes_.size() >= UINT32_MAX) return false;
  }
  root_ = 0;
  return true;
}

}  // namespace twin::compare::tape
