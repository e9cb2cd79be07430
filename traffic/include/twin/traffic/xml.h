#pragma once
// XML's lexical structure, read token by token (a pull reader), for the scrubber's rewriter
// (scrubber/src/xml.h: every value's exact bytes replaced in place) and the comparator's reader
// (compare/src/tape.h: elements into the tape, by name). Written here rather than taken from
// libxml2 or expat because the scrubber needs the byte offsets of every value (a DOM round trip
// reformats, re-escapes and reorders attributes), and neither user may expand an entity beyond
// XML's five and character references (no DTD is read, no external entity fetched: a hostile
// body cannot make either read a file or grow without bound); the grammar they need is small.
//
// Not validating: names are taken as written, a start tag must be closed by an end tag of the
// same name, and a document that breaks off or mismatches stops with an error where it does.
// White space alone between tags is no text (it is not reported).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace twin::traffic {

/// Nesting deeper than this is an error (a bound on the readers' memory).
inline constexpr size_t kXmlMaxDepth = 256;

/// An attribute of a start tag: its qualified name as written and its value's raw bytes (between
/// the quotes, entities not decoded) at [begin, end) of the input.
struct XmlAttribute {
  std::string_view name;
  size_t begin = 0;
  size_t end = 0;
};

class XmlReader {
 public:
  enum class Token : uint8_t {
    kText,         // character data with more than white space: [begin(), end()), raw
    kCData,        // a CDATA section's content: [begin(), end()), as written
    kComment,      // between "<!--" and "-->": [begin(), end())
    kInstruction,  // between "<?" and "?>" (the XML declaration's too): [begin(), end())
    kStart,        // a start tag or an empty-element tag: name(), attributes(), empty_element()
    kEnd,          // an end tag, or right after an empty-element tag's kStart: name()
    kDone,         // the end of a well-formed input
    kError,        // not XML from error_offset() on; every later next() says so again
  };

  explicit XmlReader(std::string_view in);

  /// The next token. A DOCTYPE declaration is skipped, its internal subset never read; a
  /// UTF-8 byte order mark at the start too.
  Token next();

  size_t begin() const { return begin_; }
  size_t end() const { return end_; }
  std::string_view content() const { return in_.substr(begin_, end_ - begin_); }
  /// kStart and kEnd: the element's qualified name, as written ("soap:Envelope").
  std::string_view name() const { return name_; }
  /// kStart: the tag's attributes in order, namespace declarations included.
  const std::vector<XmlAttribute>& attributes() const { return attributes_; }
  std::string_view attribute_value(const XmlAttribute& a) const {
    return in_.substr(a.begin, a.end - a.begin);
  }
  /// kStart of an empty-element tag ("<a/>"): the next token is its kEnd.
  bool empty_element() const { return empty_; }
  /// Elements open: after kStart, that one included; after kEnd, that one no longer.
  size_t depth() const { return open_.size(); }
  size_t error_offset() const { return error_; }

 private:
  Token fail(size_t at);
  Token start_tag(size_t i);
  bool starts(size_t i, std::string_view what) const { return in_.substr(i, what.size()) == what; }

  std::string_view in_;
  size_t at_ = 0;
  size_t begin_ = 0, end_ = 0;
  size_t error_ = 0;
  bool failed_ = false;
  bool empty_ = false;
  bool close_pending_ = false;  // an empty-element tag's kEnd is next
  std::string_view name_;
  std::vector<XmlAttribute> attributes_;
  std::vector<std::string_view> open_;  // the open elements' qualified names
};

/// `qname` without its prefix ("soap:Body" → "Body").
inline std::string_view xml_local_name(std::string_view qname) {
  const size_t colon = qname.rfind(':');
  return colon == std::string_view::npos ? qname : qname.substr(colon + 1);
}

/// `raw` (character data or an attribute value as written) with XML's five predefined entities
/// and character references decoded into `out`; any other '&' (a DTD's entity, a stray
/// ampersand) stays as written, and sets `*unknown` when it is given. Returns the decoded text:
/// `raw` itself when it holds no '&' (`out` untouched then). Linear in `raw`.
std::string_view decode_xml_text(std::string_view raw, std::string& out, bool* unknown = nullptr);

}  // namespace twin::traffic
