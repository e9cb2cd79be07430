// Fuzz target for the GraphQL literal rewriter (scrubber/src/graphql.h). Checked:
//   - an identity rewrite of a readable document gives it back byte for byte;
//   - replacing every literal and comment with text that needs escaping in every place gives a
//     readable document that reads back with as many visits, each literal the replacement;
//   - an unreadable document's error offset lies within the input (or at its end).

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "graphql.h"

namespace {

using twin::scrubber::GraphqlVisitor;

constexpr std::string_view kReplacement = "R\"\\\n\x01\"\"\"x";

class Visitor : public GraphqlVisitor {
 public:
  explicit Visitor(bool replace) : replace_(replace) {}
  bool visit(bool literal, std::string_view, std::string_view value, std::string& out) override {
    ++visits;
    if (literal) all_replacement = all_replacement && value == kReplacement;
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
  (void)twin::scrubber::looks_like_graphql(in);
  Visitor identity(false);
  std::string out;
  const auto r = twin::scrubber::rewrite_graphql(in, identity, out);
  if (!r.valid) {
    if (r.error_offset > in.size()) std::abort();
    return 0;
  }
  if (out != in || r.replaced != 0 || r.visited != identity.visits) std::abort();
  Visitor replace(true);
  std::string replaced;
  const auto r2 = twin::scrubber::rewrite_graphql(in, replace, replaced);
  if (!r2.valid || r2.replaced != identity.visits) std::abort();
  Visitor check(false);
  std::string again;
  const auto r3 = twin::scrubber::rewrite_graphql(replaced, check, again);
  if (!r3.valid || check.visits != identity.visits || !check.all_replacement) std::abort();
  return 0;
}
