// Fuzz target for the multipart rewriter. The first byte picks the boundary (from a few real
// ones), the rest is the body; the whole input is also tried as a Content-Type value. Checked:
//   - an identity rewrite gives back the body byte for byte;
//   - replacing every part's body and every non-empty filename, when the body was valid, gives
//     a valid body with the same number of parts that reads back with the replacements;
//   - when it was not, the parts before the failure are the same and the output ends with the
//     unparsed rest of the input;
//   - a boundary taken from a Content-Type is 1-70 characters.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "multipart.h"

namespace {

using twin::scrubber::MultipartPart;
using twin::scrubber::MultipartResult;
using twin::scrubber::MultipartVisitor;

constexpr std::string_view kBoundaries[] = {
    "b",
    "xyz",
    "------------------------38b6cb99af4b81c7",
    "----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "simple boundary",
    "=_Part_0_1.2",
};

constexpr std::string_view kBody = "replaced body";
constexpr std::string_view kFilename = "file_1.txt";

class Visitor : public MultipartVisitor {
 public:
  enum class Mode { kIdentity, kReplace };
  explicit Visitor(Mode mode) : mode_(mode) {}
  bool visit(const MultipartPart& part, std::string& body, std::string& filename) override {
    names.emplace_back(part.name);
    filenames.emplace_back(part.filename);
    bodies.emplace_back(part.body);
    if (mode_ == Mode::kIdentity) return false;
    if (!part.filename.empty()) filename = kFilename;
    body = kBody;
    return true;
  }
  std::vector<std::string> names;
  std::vector<std::string> filenames;
  std::vector<std::string> bodies;

 private:
  Mode mode_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 16)) return 0;
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  if (const auto b = twin::scrubber::multipart_boundary(whole)) {
    if (b->empty() || b->size() > 70) std::abort();
  }
  const std::string_view boundary = kBoundaries[data[0] % std::size(kBoundaries)];
  const std::string_view in = whole.substr(1);

  Visitor identity(Visitor::Mode::kIdentity);
  std::string out;
  const MultipartResult r = twin::scrubber::rewrite_multipart(in, boundary, identity, out);
  if (out != in || r.replaced != 0 || r.parts != identity.bodies.size()) std::abort();

  Visitor replace(Visitor::Mode::kReplace);
  std::string replaced;
  const MultipartResult rr = twin::scrubber::rewrite_multipart(in, boundary, replace, replaced);
  if (rr.valid != r.valid || rr.parts != r.parts || rr.replaced != r.parts) std::abort();
  if (replace.names != identity.names || replace.filenames != identity.filenames) std::abort();

  Visitor check(Visitor::Mode::kIdentity);
  std::string again;
  const MultipartResult rc = twin::scrubber::rewrite_multipart(replaced, boundary, check, again);
  if (r.valid) {
    if (!rc.valid || rc.parts != r.parts) std::abort();
    for (size_t i = 0; i < rc.parts; ++i) {
      if (check.bodies[i] != kBody || check.names[i] != identity.names[i]) std::abort();
      if (check.filenames[i] != (identity.filenames[i].empty() ? "" : kFilename)) std::abort();
    }
  } else if (rc.parts < r.parts) {
    std::abort();
  }
  return 0;
}
