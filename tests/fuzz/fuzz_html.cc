// Fuzz target for where the scrubber looks for data in HTML pages and JSONP answers
// (scrubber/src/html.h): response bodies, untrusted. The input is the body. Properties:
//   - regions lie within the body, in order and not overlapping, each of at least one byte; a
//     form control's name is a non-empty piece of the body before its value;
//   - a JSON region starts with '{' or '[' and ends with '}' or ']', unless it is a JSON
//     script's whole content;
//   - json_literal_end() at any '{' or '[' ends past a closing bracket of the same depth, or
//     says npos;
//   - a JSONP argument lies between the body's first '(' and its last ')'.
// Run with -DTWIN_FUZZ=ON (clang):
//   build-fuzz/bin/fuzz_html -max_len=4096 /tmp/html-corpus tests/fuzz/corpus/html

#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "html.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view s(reinterpret_cast<const char*>(data), size);
  std::vector<twin::scrubber::HtmlRegion> regions;
  twin::scrubber::find_html_regions(s, regions);
  size_t at = 0;
  for (const auto& r : regions) {
    if (r.begin < at || r.end <= r.begin || r.end > s.size()) std::abort();
    if (r.kind == twin::scrubber::HtmlRegion::Kind::kField) {
      if (r.name.empty() || r.name.data() < s.data() ||
          r.name.data() + r.name.size() > s.data() + r.begin) {
        std::abort();
      }
    } else {
      const char first = s[r.begin], last = s[r.end - 1];
      const bool literal = (first == '{' || first == '[') && (last == '}' || last == ']');
      // (a JSON script's content is taken whole: it follows a '>')
      if (!literal && s[r.begin - 1] != '>') std::abort();
    }
    at = r.end;
  }
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    if (s[i] != '{' && s[i] != '[') continue;
    const size_t end = twin::scrubber::json_literal_end(s, i);
    if (end == std::string_view::npos) continue;
    if (end <= i + 1 || end > s.size() || (s[end - 1] != '}' && s[end - 1] != ']')) std::abort();
  }
  size_t begin = 0, end = 0;
  if (twin::scrubber::jsonp_argument(s, begin, end)) {
    if (begin == 0 || end >= s.size() || begin > end || s[begin - 1] != '(' || s[end] != ')' ||
        s.find('(') != begin - 1 || s.rfind(')') != end) {
      std::abort();
    }
  }
  return 0;
}
