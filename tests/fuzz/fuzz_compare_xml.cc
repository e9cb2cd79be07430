// Fuzz target for the comparator's reading of XML bodies (compare/src/tape_xml.cc, through
// ResponseDiffer in compare/src/diff.cc): bytes a target sent back, untrusted. The input is
//   byte 0     options: bit 0 a tiny max_depth, bit 1 a tiny max_paths, bit 2 the second body
//              unlabelled (read as the first one's XML), bit 3 every array unordered ("$.**")
//   bytes 1-2  the length of the first body (little-endian, clamped to what is there)
//   rest       the first body, then the second
// Properties:
//   - a response never differs from itself; the paths are sorted, distinct and start with '$';
//     one way's paths are empty only when the other way's are;
//   - where the tape reads both bodies, so does the reference below (and the other way round),
//     and the paths are those of compare_ref.h's differ over the reference's values: a plain
//     recursive reader of the tokens (twin/traffic/xml.h) into the mapping tape.h documents,
//     written apart from it (a DOM, children grouped in a std::map, namespaces resolved by
//     walking up the tree);
//   - a body the tape reads, written again from the reference's values (no prefixes: each
//     namespace a default declaration where it changes; attributes from "@" members; white
//     space in text as character references), reads the same and compares equal.
//
// Run with -DTWIN_FUZZ=ON (clang); new inputs go to the first directory:
//   build-fuzz/bin/fuzz_compare_xml -dict=tests/fuzz/compare_xml.dict -max_len=4096 /tmp/cx-corpus
//       tests/fuzz/corpus/compare_xml
// then merge into the checked-in corpus (-merge=1), which ctest replays.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "compare_ref.h"
#include "tape.h"
#include "twin/compare/diff.h"
#include "twin/traffic/xml.h"

namespace {

using compare_ref::Ref;
using twin::traffic::XmlReader;
using Token = XmlReader::Token;

twin::traffic::Response response(std::string body, bool labelled, int salt) {
  return compare_ref::response(std::move(body), labelled ? "application/xml" : nullptr, salt);
}

// ---- the reference: a DOM of the document, then its values

struct XNode {
  std::string local;
  std::string prefix;
  std::vector<std::pair<std::string, std::string>> declarations;  // prefix, namespace
  struct Attr {
    std::string local, prefix, value;  // (the value decoded)
  };
  std::vector<Attr> attrs;
  struct Piece {
    bool cdata;
    std::string raw;
    bool after_child;  // a child element came between it and the piece before
  };
  std::vector<Piece> pieces;
  bool child_since_text = false;
  std::vector<std::unique_ptr<XNode>> children;
  XNode* parent = nullptr;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// `raw` decoded; sets `unknown` on an entity XML does not define (the document does not read).
std::string decode(std::string_view raw, bool& unknown) {
  std::string buf;
  return std::string(twin::traffic::decode_xml_text(raw, buf, &unknown));
}

// A namespace in an attribute's key: itself up to 64 bytes, else "#" and its FNV-1a 64 in hex.
std::string qualifier(const std::string& ns) {
  if (ns.size() <= 64) return ns;
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : ns) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return "#" + std::string(hex);
}

// The document's one root element; null when it is not one well-formed element. `odd`: an
// element's name starts with '@' or '#' (its key reads like an attribute's or the text's, so the
// values cannot be written back as the same document).
std::unique_ptr<XNode> read_dom(std::string_view body, bool& odd) {
  odd = false;
  bool unknown = false;
  XmlReader reader(body);
  std::unique_ptr<XNode> root;
  XNode* at = nullptr;
  size_t roots = 0;
  while (true) {
    const Token t = reader.next();
    if (t == Token::kError) return nullptr;
    if (t == Token::kDone) return roots == 1 && !unknown ? std::move(root) : nullptr;
    if (t == Token::kText || t == Token::kCData) {
      if (reader.content().empty()) continue;  // (an empty CDATA section is no text)
      at->pieces.push_back(
          {t == Token::kCData, std::string(reader.content()), at->child_since_text});
      at->child_since_text = false;
    } else if (t == Token::kStart) {
      auto node = std::make_unique<XNode>();
      const std::string qname(reader.name());
      const size_t colon = qname.rfind(':');
      node->local = colon == std::string::npos ? qname : qname.substr(colon + 1);
      node->prefix = colon == std::string::npos ? "" : qname.substr(0, colon);
      odd = odd || node->local.starts_with('@') || node->local.starts_with('#');
      for (const auto& a : reader.attributes()) {
        const std::string name(a.name);
        const std::string value = decode(reader.attribute_value(a), unknown);
        if (name == "xmlns") {
          node->declarations.emplace_back("", value);
        } else if (name.rfind("xmlns:", 0) == 0) {
          node->declarations.emplace_back(name.substr(6), value);
        } else {
          const size_t c = name.rfind(':');
          node->attrs.push_back({c == std::string::npos ? name : name.substr(c + 1),
                                 c == std::string::npos ? "" : name.substr(0, c), value});
        }
      }
      node->parent = at;
      XNode* raw = node.get();
      if (at == nullptr) {
        ++roots;
        root = std::move(node);
      } else {
        at->children.push_back(std::move(node));
        at->child_since_text = true;
      }
      at = raw;
    } else if (t == Token::kEnd) {
      at = at->parent;
    }
  }
}

// The namespace `prefix` names at `n`: the nearest declaration, walking up; none is "".
std::string resolve(const XNode* n, const std::string& prefix) {
  for (; n != nullptr; n = n->parent) {
    for (auto it = n->declarations.rbegin(); it != n->declarations.rend(); ++it) {
      if (it->first == prefix) return it->second;
    }
  }
  return "";
}

Ref text_ref(std::string t) {
  Ref r;
  r.kind = Ref::kString;
  r.text = std::move(t);
  return r;
}

// The values of `n` as tape.h maps them; `bad` set when they are no XML (an attribute twice).
Ref element_ref(const XNode& n, bool& bad, bool& odd) {
  const bool trim_pieces = !n.children.empty();
  std::string text;
  bool has_text = false, unknown = false;
  for (const XNode::Piece& p : n.pieces) {
    const std::string piece = p.cdata ? p.raw : decode(trim_pieces ? trim(p.raw) : p.raw, unknown);
    if (piece.empty() && !p.cdata) continue;
    if (has_text && p.after_child) text += ' ';
    text += piece;
    has_text = true;
  }
  bad = bad || unknown;
  const std::string ns = resolve(&n, n.prefix);
  const std::string parent_ns = n.parent ? resolve(n.parent, n.parent->prefix) : "";
  if (ns == parent_ns && n.attrs.empty() && n.children.empty()) return text_ref(text);
  Ref r;
  r.kind = Ref::kObject;
  r.names = true;
  const auto member = [&](std::string key, Ref value) {
    r.keys.push_back(std::move(key));
    r.items.push_back(std::move(value));
  };
  if (ns != parent_ns) member("@xmlns", text_ref(ns));
  // Attributes by local name; of a name met more than once, those in a namespace by it.
  std::map<std::string, int> count;
  for (const auto& a : n.attrs) ++count[a.local];
  std::set<std::string> keys;
  for (const auto& a : n.attrs) {
    std::string key = "@" + a.local;
    if (count[a.local] > 1) {
      const std::string attr_ns = a.prefix.empty() ? "" : resolve(&n, a.prefix);
      if (!attr_ns.empty()) {
        key = "@{" + qualifier(attr_ns) + "}" + a.local;
        odd = true;  // (a key the write-back cannot spell)
      }
    }
    if (count[a.local] > 1 && !keys.insert(key).second) bad = true;
    member(key, text_ref(a.value));
  }
  std::map<std::string, std::vector<const XNode*>> groups;
  for (const auto& c : n.children) groups[c->local].push_back(c.get());
  for (const auto& [name, nodes] : groups) {
    if (nodes.size() == 1) {
      member(name, element_ref(*nodes[0], bad, odd));
    } else {
      Ref list;
      list.kind = Ref::kArray;
      for (const XNode* c : nodes) list.items.push_back(element_ref(*c, bad, odd));
      member(name, std::move(list));
    }
  }
  if (has_text) member("#text", text_ref(text));
  return r;
}

bool read_ref(std::string_view body, Ref& out, bool& odd) {
  const std::unique_ptr<XNode> root = read_dom(body, odd);
  if (!root) return false;
  out = Ref();
  out.kind = Ref::kObject;
  out.names = true;
  out.keys.push_back(root->local);
  bool bad = false;
  out.items.push_back(element_ref(*root, bad, odd));
  return !bad;
}

// ---- the document written again from the values

std::string escaped(const std::string& t) {
  std::string out;
  for (const char c : t) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case ' ':
        out += "&#32;";
        break;
      case '\t':
        out += "&#9;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A name written back must read as the same name, in the same place: not empty, not a
// declaration, nothing the reader would take for markup (a name is read up to white space,
// '/', '>', '=', a quote or '<').
bool writable_name(const std::string& n) {
  return !n.empty() && n[0] != '!' && n[0] != '?' && n != "xmlns" && n.rfind("xmlns:", 0) != 0 &&
         n.find(':') == std::string::npos;
}

bool write_element(const std::string& name, const Ref& v, std::string& out) {
  if (!writable_name(name)) return false;
  out += "<" + name;
  if (v.kind == Ref::kString) {
    out += ">" + escaped(v.text) + "</" + name + ">";
    return true;
  }
  if (v.kind != Ref::kObject) return false;
  std::set<std::string> seen;
  std::string body;
  for (size_t i = 0; i < v.keys.size(); ++i) {
    const std::string& k = v.keys[i];
    const Ref& item = v.items[i];
    if (k.empty() || !seen.insert(k).second) return false;
    if (k == "@xmlns") {
      if (item.kind != Ref::kString) return false;
      out += " xmlns=\"" + escaped(item.text) + "\"";
    } else if (k[0] == '@' && item.kind == Ref::kString) {
      if (!writable_name(k.substr(1))) return false;
      out += " " + k.substr(1) + "=\"" + escaped(item.text) + "\"";
    } else if (k == "#text" && item.kind == Ref::kString) {
      body += escaped(item.text);
    } else if (item.kind == Ref::kArray) {
      for (const Ref& e : item.items) {
        if (!write_element(k, e, body)) return false;
      }
    } else if (!write_element(k, item, body)) {
      return false;
    }
  }
  out += ">" + body + "</" + name + ">";
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  compare_ref::Input in;
  if (!compare_ref::split_input(data, size, in)) return 0;
  const uint8_t opt = in.opt;
  twin::compare::DiffOptions options;
  if (opt & 1) options.max_depth = 2;
  if (opt & 2) options.max_paths = 2;
  compare_ref::RefArrays arrays;
  if (opt & 8) {
    options.unordered = {"$.**"};
    arrays.any_order = true;
  }
  twin::compare::ResponseDiffer differ(options);
  const auto a = response(in.first, true, 1);
  const auto b = response(in.second, (opt & 4) == 0, 2);
  std::vector<std::string> ab;
  const bool whole = compare_ref::basic(differ, a, b, ab);

  twin::compare::tape::Doc doc;
  const bool ours_a = doc.parse_xml(a.body), ours_b = doc.parse_xml(b.body);
  Ref x, y;
  bool odd_a = false, odd_b = false;
  const bool ref_a = read_ref(a.body, x, odd_a), ref_b = read_ref(b.body, y, odd_b);
  if (ours_a != ref_a || ours_b != ref_b) std::abort();
  const size_t depth_limit = std::min<size_t>(options.max_depth, 1000);
  if (ours_a && ours_b) {
    std::set<std::string> want;
    if (a.body != b.body) compare_ref::ref_compare(x, y, "$", 0, depth_limit, want, arrays);
    compare_ref::check_paths(want, ab, whole, options);
  }

  // Written again from the values: the same values, no difference.
  if (ours_a && !odd_a) {
    std::string again;
    if (!write_element(x.keys[0], x.items[0], again)) return 0;
    Ref z;
    bool odd = false;
    if (!read_ref(again, z, odd) || !compare_ref::ref_equal(x, z)) std::abort();
    std::vector<std::string> none;
    if (!differ.diff(a, response(again, true, 3), none) || !none.empty()) std::abort();
  }
  return 0;
}
