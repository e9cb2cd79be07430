#pragma once
// Where data sits in text bodies that are not data formats: HTML pages and JavaScript. A page
// rendered on the server carries its data twice — in JSON (a `<script type="application/json">`
// such as Next.js's __NEXT_DATA__, JSON-LD's `application/ld+json` with a Person's name and
// address, `window.__INITIAL_STATE__ = {…}` in an inline script) and in the values of its form
// controls (`<input name="first_name" value="Alice">`) — where names, dates of birth and
// addresses are personal by their keys, which the content detectors alone cannot see. A JSONP
// answer (`callback({…});`) is JSON in a function call. These find those places; the scrubber
// reads them as JSON bodies and form fields, and the rest of the text by content as before.
//
// Written here, not with an HTML5 parser (Debian's gumbo or libxml2's HTML reader): the
// scrubber needs the byte offsets of each value to replace it in place and must copy every
// other byte as it was, and what it looks for is a handful of tags. Lenient as browsers are:
// names in any case, attribute values quoted either way or not at all; a tag or comment that
// never ends ends the scan. Candidates are not validated as JSON here (the scrubber does).

#include <cstddef>
#include <string_view>
#include <vector>

namespace twin::scrubber {

struct HtmlRegion {
  enum class Kind : unsigned char {
    kJson,   // an object or array literal: a JSON script's content, or one assigned in a script
    kField,  // a form control's value (raw, entities not decoded) under `name`
  };
  Kind kind = Kind::kJson;
  size_t begin = 0;
  size_t end = 0;
  std::string_view name;  // kField: the control's name attribute, as written
};

/// The JSON candidates and form-control values of an HTML document, in order, not overlapping:
/// - the content of a `<script>` whose type holds "json" (application/json, ld+json, …);
/// - in any other script, each object or array literal assigned with '=' (its end found by
///   matching brackets outside strings; a literal met inside one is not looked at again);
/// - the value attribute of an `<input>` with a name (of any type, hidden ones included), and
///   the content of a `<textarea>` with a name.
/// Comments, `<style>` and other tags are passed over.
void find_html_regions(std::string_view html, std::vector<HtmlRegion>& out);

/// A JSONP answer, `name(…)` with an optional `;` (and a leading `/**/`, which some APIs write
/// before the callback's name): true with [begin, end) the argument when it is an object or an
/// array literal (white space around it included).
bool jsonp_argument(std::string_view body, size_t& begin, size_t& end);

/// Where the object or array literal at s[at] ('{' or '[') ends (past its closing bracket),
/// brackets matched outside strings ('"' only, with backslash escapes); npos when it does not.
size_t json_literal_end(std::string_view s, size_t at);

}  // namespace twin::scrubber
