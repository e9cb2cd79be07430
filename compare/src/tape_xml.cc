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

// A namespace as an attribute's key shows it: as it is up to 64 bytes, else "#" and a 64-bit
// FNV-1a hash of it in hex.
std::string qualifier(std::string_view ns) {
  if (ns.size() <= 64) return std::string(ns);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : ns) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  char out[18] = "#";
  for (int k = 0; k < 16; ++k) out[1 + k] = "0123456789abcdef"[(h >> (60 - 4 * k)) & 0xF];
  return std::string(out, 17);
}

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
  xml_scope_.clear();
  open_.clear();  // each open element's first binding in xml_bindings_
  traffic::XmlReader reader(src_);
  uint32_t current = kNone;
  size_t roots = 0;
  bool unknown = false;  // an entity reference not XML's own (a DTD's, a stray '&')
  // The namespace `prefix` names where the reader is ("" for none, or an unbound prefix).
  const auto resolve = [&](std::string_view prefix, uint32_t& begin, uint32_t& end) {
    begin = end = 0;
    if (xml_bindings_.size() <= 8) {  // (the usual few: looked through, not hashed)
      for (size_t k = xml_bindings_.size(); k-- > 0;) {
        if (xml_bindings_[k].prefix == prefix) {
          begin = xml_bindings_[k].begin;
          end = xml_bindings_[k].end;
          return;
        }
      }
      return;
    }
    const auto it = xml_scope_.find(prefix);
    if (it == xml_scope_.end() || it->second == kNone) return;
    begin = xml_bindings_[it->second].begin;
    end = xml_bindings_[it->second].end;
  };
  const auto prefix_of = [](std::string_view qname) {
    const size_t colon = qname.rfind(':');
    return colon == std::string_view::npos ? std::string_view() : qname.substr(0, colon);
  };
  while (true) {
    const Token token = reader.next();
    switch (token) {
      case Token::kText:
      case Token::kCData: {
        if (reader.begin() == reader.end()) break;  // an empty CDATA section
        XmlElement& e = xml_elements_[current];     // (text is only ever inside an element)
        const auto piece = static_cast<uint32_t>(xml_pieces_.size());
        xml_pieces_.push_back({static_cast<uint32_t>(reader.begin()),
                               static_cast<uint32_t>(reader.end()), token == Token::kCData,
                               e.child_since_text, kNone});
        e.child_since_text = false;
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
        for (const traffic::XmlAttribute& a : reader.attributes()) {
          if (a.name != "xmlns" && !a.name.starts_with("xmlns:")) continue;
          const auto at = static_cast<uint32_t>(xml_ns_text_.size());
          xml_ns_text_ +=
              traffic::decode_xml_text(reader.attribute_value(a), xml_decoded_, &unknown);
          const std::string_view prefix = a.name.substr(std::min<size_t>(a.name.size(), 6));
          const auto [it, fresh] = xml_scope_.try_emplace(prefix, kNone);
          xml_bindings_.push_back(
              {prefix, at, static_cast<uint32_t>(xml_ns_text_.size()), it->second});
          it->second = static_cast<uint32_t>(xml_bindings_.size() - 1);
        }
        const auto attrs_begin = static_cast<uint32_t>(xml_attrs_.size());
        for (const traffic::XmlAttribute& a : reader.attributes()) {
          if (a.name == "xmlns" || a.name.starts_with("xmlns:")) continue;
          xml_attrs_.push_back({traffic::xml_local_name(a.name), a.name,
                                static_cast<uint32_t>(a.begin), static_cast<uint32_t>(a.end), 0,
                                0});
        }
        // Attributes of one local name: one in no namespace keeps "@name", those in a namespace
        // are "@{namespace}name" (a prefix is the writer's choice); two of one name in one
        // namespace (or one written twice) are no XML.
        const auto attrs_end = static_cast<uint32_t>(xml_attrs_.size());
        xml_attr_order_.clear();
        if (attrs_end - attrs_begin >= 2) {
          for (uint32_t k = attrs_begin; k < attrs_end; ++k) xml_attr_order_.push_back(k);
          std::sort(xml_attr_order_.begin(), xml_attr_order_.end(), [&](uint32_t x, uint32_t y) {
            return xml_attrs_[x].local < xml_attrs_[y].local;
          });
          for (size_t i = 0; i < xml_attr_order_.size();) {
            size_t j = i + 1;
            const std::string_view local = xml_attrs_[xml_attr_order_[i]].local;
            while (j < xml_attr_order_.size() && xml_attrs_[xml_attr_order_[j]].local == local) ++j;
            if (j - i > 1) {
              size_t bare = 0;  // in no namespace
              xml_keys_.clear();
              for (size_t k = i; k < j; ++k) {
                XmlAttr& attr = xml_attrs_[xml_attr_order_[k]];
                const std::string_view prefix = prefix_of(attr.qname);
                uint32_t ns_begin = 0, ns_end = 0;
                if (!prefix.empty()) resolve(prefix, ns_begin, ns_end);
                if (ns_begin == ns_end) {
                  ++bare;
                  continue;
                }
                // (a namespace over 64 bytes by a hash of it: a key per attribute must not copy
                // a long one again each time)
                const std::string ns =
                    qualifier(std::string_view(xml_ns_text_).substr(ns_begin, ns_end - ns_begin));
                attr.key_begin = static_cast<uint32_t>(xml_ns_text_.size());
                xml_ns_text_ += "@{";
                xml_ns_text_ += ns;
                xml_ns_text_ += '}';
                xml_ns_text_ += local;
                attr.key_end = static_cast<uint32_t>(xml_ns_text_.size());
                xml_keys_.emplace_back(attr.key_begin, attr.key_end);
              }
              // One namespace under two prefixes, or a name written twice: no XML.
              const std::string_view t = xml_ns_text_;
              const auto text = [&](const std::pair<uint32_t, uint32_t>& k) {
                return t.substr(k.first, k.second - k.first);
              };
              std::sort(xml_keys_.begin(), xml_keys_.end(),
                        [&](const auto& x, const auto& y) { return text(x) < text(y); });
              for (size_t k = 1; k < xml_keys_.size(); ++k) {
                if (text(xml_keys_[k - 1]) == text(xml_keys_[k])) return false;
              }
              if (bare > 1) return false;
            }
            i = j;
          }
        }
        uint32_t ns_begin = 0, ns_end = 0;  // no namespace: an unbound prefix has none either
        resolve(prefix_of(reader.name()), ns_begin, ns_end);
        const auto index = static_cast<uint32_t>(xml_elements_.size());
        xml_elements_.push_back({traffic::xml_local_name(reader.name()), current, kNone, kNone,
                                 kNone, kNone, kNone, attrs_begin, attrs_end, ns_begin, ns_end,
                                 false});
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
          parent.child_since_text = true;
        }
        current = index;
        break;
      }
      case Token::kEnd:
        while (xml_bindings_.size() > open_.back()) {  // the element's bindings go out of scope
          const XmlBinding& b = xml_bindings_.back();
          xml_scope_[b.prefix] = b.shadowed;
          xml_bindings_.pop_back();
        }
        open_.pop_back();
        current = xml_elements_[current].parent;
        break;
      case Token::kDone:
        return roots == 1 && !unknown;
      case Token::kError:
        return false;
    }
  }
}

// The text of `e` as a string node: its pieces decoded and joined, in the body where it is one
// piece that needs neither. In an element with child elements each piece is trimmed of white
// space (indentation), and two pieces a child element stands between are joined by a space:
// "a<b/>bc" is not "ab<b/>c". (Every piece has text: the reader reports no run of white space
// alone, and an empty CDATA section is not kept.) False on an entity reference XML does not
// define (a DTD's, a stray '&'): such a document does not read.
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
  bool unknown = false;
  for (uint32_t k = e.first_piece; k != kNone; k = xml_pieces_[k].next) {
    const XmlPiece& piece = xml_pieces_[k];
    if (piece.after_child && k != e.first_piece) arena_ += ' ';
    arena_ +=
        piece.cdata ? raw(piece) : traffic::decode_xml_text(raw(piece), xml_decoded_, &unknown);
  }
  return !unknown && push_arena(Kind::kString, 0, at);
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
  // Namespaces and qualified attribute keys, once: the nodes of "@xmlns" and of such keys point
  // here (a namespace is not copied again for each element it is met on).
  const size_t ns_base = arena_.size();
  arena_ += xml_ns_text_;
  if (arena_.size() >= UINT32_MAX) return false;
  const auto in_arena = [&](uint32_t begin, uint32_t end, uint8_t flags) {
    nodes_.push_back({Kind::kString, static_cast<uint8_t>(flags | kInArena),
                      static_cast<uint32_t>(ns_base + begin), end - begin});
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
        if (e.first_piece != kNone) {
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
      case kKeyAttr: {
        const XmlAttr& a = xml_attrs_[task.arg];
        if (a.key_end != 0) {
          in_arena(a.key_begin, a.key_end, kFieldKey);
        } else if (!push_xml_key("@", a.local)) {
          return false;
        }
        break;
      }
      case kAttrValue: {
        const XmlAttr& a = xml_attrs_[task.arg];
        const std::string_view raw = src_.substr(a.begin, a.end - a.begin);
        bool unknown = false;
        const std::string_view value = traffic::decode_xml_text(raw, xml_decoded_, &unknown);
        if (unknown) return false;
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
        const XmlElement& e = xml_elements_[task.arg];
        in_arena(e.ns_begin, e.ns_end, 0);
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
