// Fuzz target for the JSON rewriter. The input is a JSON text (or not). Checked:
//   - an identity rewrite gives back the input byte for byte, valid or not, and the error offset
//     lies inside the input; json_structure_hash is non-zero exactly when the input is valid;
//   - a visitor that replaces every string (with quotes, backslashes, control characters and
//     non-ASCII) and every number gives valid JSON when the input was valid, with the same
//     structure hash, and visiting that output shows the replacements decoded as given; when
//     the input was invalid, the input from the error on is still the output's tail;
//   - a visitor that hands back invalid numbers changes nothing and has them all counted;
//   - paths and parents stay bounded by the input (no leftovers from closed containers);
//   - a key the parser says holds no hint byte ('0'-'9', ':', '@', '%') holds none.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "json_rewrite.h"

namespace {

using twin::scrubber::json_structure_hash;
using twin::scrubber::JsonRewriteResult;
using twin::scrubber::JsonToken;
using twin::scrubber::JsonVisitor;

const std::string kTricky =
    std::string("r\"e\\p/l\n\t\x01\x1f\x7f \xC3\xA9\xF0\x9F\x98\x80 ") + '\0' + "end";
constexpr std::string_view kNumber = "-12.5e+3";

class Visitor : public JsonVisitor {
 public:
  enum class Mode { kIdentity, kReplace, kBadNumbers, kCheckReplaced };
  Visitor(Mode mode, size_t input_size) : mode_(mode), input_size_(input_size) {}

  bool visit(JsonToken token, std::string_view path, std::string_view parent,
             std::string_view value, std::string& replacement) override {
    ++visits;
    if (token == JsonToken::kNumber) ++numbers;
    // A path holds at most the keys of the open members (each escaped: at most twice as long)
    // plus "[]" and a '.' per level.
    if (path.size() > 2 * input_size_ + 3 * 513 || parent.size() > input_size_) std::abort();
    switch (mode_) {
      case Mode::kIdentity:
        return false;
      case Mode::kReplace:
        if (token == JsonToken::kString) {
          replacement = kTricky;
          return true;
        }
        if (token == JsonToken::kNumber) {
          replacement = kNumber;
          return true;
        }
        return false;
      case Mode::kBadNumbers:
        replacement = "01";
        return token == JsonToken::kNumber;
      case Mode::kCheckReplaced:
        if (token == JsonToken::kString && value != kTricky) std::abort();
        if (token == JsonToken::kNumber && value != kNumber) std::abort();
        return false;
    }
    return false;
  }

  // The parser's may_hint false promises a key without '0'-'9', ':', '@' and '%'.
  bool wants_key(std::string_view key, bool may_hint) override {
    if (!may_hint) {
      for (char c : key) {
        if ((c >= '0' && c <= ':') || c == '@' || c == '%') std::abort();
      }
    }
    return true;
  }

  uint64_t visits = 0;
  uint64_t numbers = 0;

 private:
  Mode mode_;
  size_t input_size_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  Visitor identity(Visitor::Mode::kIdentity, size);
  std::string out;
  const JsonRewriteResult r = twin::scrubber::rewrite_json(in, identity, out);
  if (out != in) std::abort();
  if (r.replaced != 0 || r.visited != identity.visits) std::abort();
  if (!r.valid && r.error_offset > size) std::abort();
  const uint64_t hash = json_structure_hash(in);
  if ((hash != 0) != r.valid) std::abort();

  Visitor replace(Visitor::Mode::kReplace, size);
  std::string replaced;
  const JsonRewriteResult rr = twin::scrubber::rewrite_json(in, replace, replaced);
  if (rr.valid != r.valid || rr.error_offset != r.error_offset || rr.visited != r.visited) {
    std::abort();
  }
  if (r.valid) {
    Visitor check(Visitor::Mode::kCheckReplaced, replaced.size());
    std::string again;
    const JsonRewriteResult rc = twin::scrubber::rewrite_json(replaced, check, again);
    if (!rc.valid || rc.visited != r.visited || again != replaced) std::abort();
    if (json_structure_hash(replaced) != hash) std::abort();
  } else {
    const std::string_view tail = in.substr(r.error_offset);
    if (replaced.size() < tail.size() ||
        std::string_view(replaced).substr(replaced.size() - tail.size()) != tail) {
      std::abort();
    }
  }

  Visitor bad(Visitor::Mode::kBadNumbers, size);
  std::string unchanged;
  const JsonRewriteResult rb = twin::scrubber::rewrite_json(in, bad, unchanged);
  if (unchanged != in || rb.replaced != 0 || rb.bad_numbers != bad.numbers) std::abort();
  return 0;
}
