#pragma once
// A rewriter for XML bodies (SOAP, Atom, plain XML APIs): it walks the elements and hands every
// text run and attribute value, with the path of element names it sits under, to a visitor
// that may replace it, and the content of comments and processing instructions too (markup());
// everything else (names, the DOCTYPE declaration) is copied byte for byte. The tokens come from
// twin/traffic/xml.h's reader (why it is written rather than taken from libxml2 or expat is said
// there): not validating, no entity expanded beyond XML's five and character references, and a
// document that breaks off or mismatches is reported invalid where it does (the scrubber then
// reads the whole body with the content detectors instead).

#include <cstddef>
#include <string>
#include <string_view>

#include "twin/traffic/xml.h"

namespace twin::scrubber {

class XmlVisitor {
 public:
  virtual ~XmlVisitor() = default;
  /// A text run (entities and character references decoded; a CDATA section as written) or an
  /// attribute value (decoded likewise). `path`: the local names (prefix dropped) of the
  /// enclosing elements from the root, joined by '.', and an attribute's local name last ('.'
  /// and '[' in a name become '_'). Returns true to replace the value with `replacement`, which
  /// the rewriter escapes as its place needs.
  virtual bool visit(std::string_view path, std::string_view value, std::string& replacement) = 0;

  /// The content of a comment (between "<!--" and "-->") or of a processing instruction
  /// (between "<?" and "?>", the XML declaration's too), as written: no element's value, but
  /// text all the same ("<!-- owner: bob@example.com -->"). Returns true to replace it with
  /// `replacement`, written as it is but for a "--" (in a comment) or "?>" (in an instruction)
  /// it would make, whose second byte becomes '_' or ' '. The default keeps it.
  virtual bool markup(std::string_view /*content*/, std::string& /*replacement*/) { return false; }

  /// Set by rewrite_xml() before each visit(): in a name/value record, what the value is. An
  /// element with an attribute named "name", "key", "field", "property", "attribute" or
  /// "label" (as json_rewrite.h's is_label_key() reads them) labels its own text, its
  /// attribute named "value" (is_value_key()) and the text of its children whose local name
  /// ends with "value" (SAML: <Attribute Name="mail"><AttributeValue>…</AttributeValue>);
  /// `<field name="ssn">…</field>`, `<attribute name="email" value="…"/>`. Empty otherwise.
  /// The label is the attribute's raw value (one with '&' labels nothing).
  std::string_view label;
};

struct XmlRewriteResult {
  bool valid = true;
  size_t error_offset = 0;  // where the input stopped being XML (when !valid)
  size_t visited = 0;       // values handed to the visitor
  size_t replaced = 0;      // values, comments and processing instructions replaced
};

/// Rewrites `in` into `out` (cleared first). When !valid, `out` is undefined.
XmlRewriteResult rewrite_xml(std::string_view in, XmlVisitor& visitor, std::string& out);

/// Nesting deeper than this is reported invalid (a bound on the parser's memory).
using traffic::kXmlMaxDepth;

}  // namespace twin::scrubber
