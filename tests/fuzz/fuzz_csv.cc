// Fuzz target for the CSV rewriter (scrubber/src/csv.h). The first byte picks the delimiter
// (',' or '\t'), the rest is the body. Checked:
//   - an identity rewrite gives the body back byte for byte;
//   - replacing every non-header field with one that needs quoting gives a body that reads back
//     with as many records, every replaced field the replacement;
//   - a broken body's error offset lies within the input.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "csv.h"

namespace {

using twin::scrubber::CsvVisitor;

constexpr std::string_view kReplacement = "R,\"x\"\n";

class Visitor : public CsvVisitor {
 public:
  explicit Visitor(bool replace) : replace_(replace) {}
  bool visit(bool header, std::string_view, std::string_view value, std::string& out) override {
    if (header) return false;
    ++fields;
    all_replacement = all_replacement && value == kReplacement;
    if (!replace_) return false;
    out = kReplacement;
    return true;
  }
  size_t fields = 0;
  bool all_replacement = true;

 private:
  bool replace_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 16)) return 0;
  const char delimiter = (data[0] & 1) ? '\t' : ',';
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  Visitor identity(false);
  std::string out;
  const auto r = twin::scrubber::rewrite_csv(in, delimiter, identity, out);
  if (!r.valid) {
    if (r.error_offset > in.size()) std::abort();
    return 0;
  }
  if (out != in || r.replaced != 0) std::abort();
  Visitor replace(true);
  std::string replaced;
  const auto r2 = twin::scrubber::rewrite_csv(in, delimiter, replace, replaced);
  if (!r2.valid || r2.replaced != identity.fields) std::abort();
  Visitor check(false);
  std::string again;
  const auto r3 = twin::scrubber::rewrite_csv(replaced, delimiter, check, again);
  if (!r3.valid || r3.records != r.records || check.fields != identity.fields ||
      !check.all_replacement) {
    std::abort();
  }
  return 0;
}
