// Fuzz target for the XML rewriter (scrubber/src/xml.h). Checked:
//   - an identity rewrite of a valid document gives it back byte for byte;
//   - replacing every value with one that needs escaping in every place gives a valid document
//     that reads back with as many values, each the replacement;
//   - an invalid document's error offset lies within the input.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "xml.h"

namespace {

using twin::scrubber::XmlVisitor;

constexpr std::string_view kReplacement = "R<&\"'>x";

class Visitor : public XmlVisitor {
 public:
  explicit Visitor(bool replace) : replace_(replace) {}
  bool visit(std::string_view, std::string_view value, std::string& out) override {
    ++visits;
    all_replacement = all_replacement && value == kReplacement;
    if (!replace_) return false;
    out = kReplacement;
    return true;
  }
  size_t visits = 0;
  bool all_replacement = true;

 private:
  bool replace_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  Visitor identity(false);
  std::string out;
  const auto r = twin::scrubber::rewrite_xml(in, identity, out);
  if (!r.valid) {
    if (r.error_offset > in.size()) std::abort();
    return 0;
  }
  if (out != in || r.replaced != 0 || r.visited != identity.visits) std::abort();
  Visitor replace(true);
  std::string replaced;
  const auto r2 = twin::scrubber::rewrite_xml(in, replace, replaced);
  if (!r2.valid || r2.replaced != identity.visits) std::abort();
  Visitor check(false);
  std::string again;
  const auto r3 = twin::scrubber::rewrite_xml(replaced, check, again);
  if (!r3.valid || check.visits != identity.visits || !check.all_replacement) std::abort();
  return 0;
}
