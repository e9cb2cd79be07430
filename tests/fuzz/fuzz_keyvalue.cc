// Fuzz target for the key=value line rewriter (scrubber/src/keyvalue.h). Checked:
//   - an identity rewrite of such a document gives it back byte for byte;
//   - replacing every value gives a document that reads back as one, with as many visits,
//     each pair's value the replacement;
//   - an error offset lies within the input (or at its end).

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "keyvalue.h"

namespace {

using twin::scrubber::KeyValueVisitor;

constexpr std::string_view kReplacement = "R=#:x";

class Visitor : public KeyValueVisitor {
 public:
  explicit Visitor(bool replace) : replace_(replace) {}
  bool visit(std::string_view key, std::string_view value, std::string& out) override {
    ++visits;
    if (!key.empty()) all_replacement = all_replacement && value == kReplacement;
    if (!replace_ || key.empty()) return false;
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
  const auto r = twin::scrubber::rewrite_key_value_lines(in, identity, out);
  if (!r.valid) {
    if (r.error_offset > in.size() || identity.visits != 0) std::abort();
    return 0;
  }
  if (out != in || r.replaced != 0 || r.visited != identity.visits) std::abort();
  Visitor replace(true);
  std::string replaced;
  const auto r2 = twin::scrubber::rewrite_key_value_lines(in, replace, replaced);
  if (!r2.valid) std::abort();
  Visitor check(false);
  std::string again;
  const auto r3 = twin::scrubber::rewrite_key_value_lines(replaced, check, again);
  if (!r3.valid || check.visits != identity.visits || !check.all_replacement) std::abort();
  return 0;
}
