// Fuzz target for the form/query rewriter. The input is a form body or query string. Checked:
//   - an identity rewrite gives back the input byte for byte;
//   - replacing every value (with bytes that all need encoding) keeps the pairs and their
//     names, and reading the output back shows the replacements decoded as given;
//   - dropping every other pair leaves exactly the other pairs, in order;
//   - percent_encode then percent_decode gives back any bytes.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "urlencoded.h"

namespace {

using twin::scrubber::FormRewriteResult;
using twin::scrubber::FormVisitor;

struct Pair {
  std::string name;
  std::string value;
  bool operator==(const Pair&) const = default;
};

const std::string kValue = std::string("a b+c&d=e%f/\xC3\xA9~.-_") + '\0';

class Visitor : public FormVisitor {
 public:
  enum class Mode { kIdentity, kReplace, kDropOdd };
  explicit Visitor(Mode mode) : mode_(mode) {}
  bool visit(std::string_view name, std::string_view value, bool has_value,
             std::string& replacement, bool& drop) override {
    const size_t index = pairs.size();
    pairs.push_back({std::string(name), has_value ? std::string(value) : std::string("<none>")});
    switch (mode_) {
      case Mode::kIdentity:
        return false;
      case Mode::kReplace:
        replacement = kValue;
        return true;
      case Mode::kDropOdd:
        drop = index % 2 == 1;
        return false;
    }
    return false;
  }
  std::vector<Pair> pairs;

 private:
  Mode mode_;
};

std::vector<Pair> read(std::string_view in) {
  Visitor v(Visitor::Mode::kIdentity);
  std::string out;
  (void)twin::scrubber::rewrite_urlencoded(in, v, out);
  return std::move(v.pairs);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  Visitor identity(Visitor::Mode::kIdentity);
  std::string out;
  const FormRewriteResult r = twin::scrubber::rewrite_urlencoded(in, identity, out);
  if (out != in || r.replaced != 0 || r.dropped != 0 || r.pairs != identity.pairs.size()) {
    std::abort();
  }
  if (r.bad_escapes > size) std::abort();

  Visitor replace(Visitor::Mode::kReplace);
  std::string replaced;
  const FormRewriteResult rr = twin::scrubber::rewrite_urlencoded(in, replace, replaced);
  if (rr.replaced != r.pairs) std::abort();
  const std::vector<Pair> back = read(replaced);
  if (back.size() != identity.pairs.size()) std::abort();
  for (size_t i = 0; i < back.size(); ++i) {
    if (back[i].name != identity.pairs[i].name || back[i].value != kValue) std::abort();
  }

  Visitor dropper(Visitor::Mode::kDropOdd);
  std::string dropped;
  const FormRewriteResult rd = twin::scrubber::rewrite_urlencoded(in, dropper, dropped);
  if (rd.dropped != r.pairs / 2) std::abort();
  std::vector<Pair> kept;
  for (size_t i = 0; i < identity.pairs.size(); i += 2) kept.push_back(identity.pairs[i]);
  if (read(dropped) != kept) std::abort();

  for (const bool plus : {false, true}) {
    std::string encoded;
    twin::scrubber::percent_encode(in, plus, encoded);
    std::string decoded;
    twin::scrubber::percent_decode(encoded, plus, decoded);
    if (decoded != in) std::abort();
  }
  return 0;
}
