// Fuzz target for the YAML rewriter (scrubber/src/yaml.h). Checked:
//   - an identity rewrite of a valid document gives it back byte for byte;
//   - replacing every value, keys included, with one of a few replacements that need quoting,
//     folding or chomping in most places gives a valid document that reads back with as many
//     values, each the replacement;
//   - an invalid document's error offset lies within the input.

#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include "yaml.h"

namespace {

using twin::scrubber::YamlVisitor;

// The last byte of the input picks one (so that the input's prefix stays the document).
constexpr std::string_view kReplacements[] = {
    "R: #x\n'\"\\ & *a",     // every indicator; breaks a plain scalar, folds in a block scalar
    "",                      // empty: null as a plain scalar
    "true",                  // a boolean as a plain scalar
    " lead\n\n trail \n\n",  // white space at both ends, kept line ends
    "plain",
    "-12.5e3",
    "it's\ta \"q\"\r\x01\xC2\x85",  // control characters, a quote of each kind, NEL
    "\n\nafter empty lines\n",      // a block scalar's first lines empty
};

class Visitor : public YamlVisitor {
 public:
  Visitor(bool replace, std::string_view replacement)
      : replace_(replace), replacement_(replacement) {}
  bool visit(bool, std::string_view, std::string_view value, std::string& out) override {
    ++visits;
    all_replacement = all_replacement && value == replacement_;
    if (!replace_) return false;
    out = replacement_;
    return true;
  }
  size_t visits = 0;
  bool all_replacement = true;

 private:
  bool replace_;
  std::string_view replacement_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view replacement =
      kReplacements[size == 0 ? 0 : data[size - 1] % std::size(kReplacements)];
  Visitor identity(false, replacement);
  std::string out;
  const auto r = twin::scrubber::rewrite_yaml(in, identity, out);
  if (!r.valid) {
    if (r.error_offset > in.size()) std::abort();
    return 0;
  }
  if (out != in || r.replaced != 0 || r.visited != identity.visits) std::abort();
  Visitor replace(true, replacement);
  std::string replaced;
  const auto r2 = twin::scrubber::rewrite_yaml(in, replace, replaced);
  if (!r2.valid || r2.replaced != identity.visits) std::abort();
  Visitor check(false, replacement);
  std::string again;
  const auto r3 = twin::scrubber::rewrite_yaml(replaced, check, again);
  if (!r3.valid || check.visits != identity.visits || !check.all_replacement) std::abort();
  return 0;
}
