// Fuzz target for the MessagePack and CBOR rewriters (scrubber/src/msgpack_cbor.h); the input
// is read as both. Checked, for each:
//   - a visitor that replaces nothing gets the input back byte for byte, parsed or not, and
//     the error offset lies inside the input;
//   - a visitor that replaces every string and number (with other lengths, signs and sizes,
//     and now and then with what is no number) writes a document that parses with as many
//     visits, of the same kinds in the same order;
//   - where nlohmann/json reads the input as one document (its own reader, not the code under
//     test), it reads that output too, with the same shape: the same containers of the same
//     sizes holding the same kinds of values.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "../support/binary_json_shape.h"
#include "msgpack_cbor.h"

namespace {

using twin::scrubber::JsonToken;
using twin::scrubber::JsonVisitor;

class Visitor : public JsonVisitor {
 public:
  explicit Visitor(bool change) : change_(change) {}
  bool visit(JsonToken token, std::string_view, std::string_view, std::string_view value,
             std::string& out) override {
    kinds += static_cast<char>('0' + int(token) + (bytes ? 3 : 0));
    if (!change_ || token == JsonToken::kKey) return false;  // (keys kept: no duplicates made)
    ++n_;
    if (token == JsonToken::kNumber) {
      switch (n_ % 5) {
        case 0:
          out = "-" + std::to_string(value.size() * 1000003);
          break;
        case 1:
          out = std::to_string(value.size()) + "e2";
          break;
        case 2:
          out = "18446744073709551617";
          break;  // past 64 bits
        case 3:
          out = "-0.5";
          break;
        default:
          out = "1x";
          break;  // no number: not used
      }
      return true;
    }
    out.assign((value.size() * 7 + 3) % 300, bytes ? '\x01' : 'x');
    return true;
  }
  std::string kinds;

 private:
  bool change_;
  size_t n_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const bool cbor : {false, true}) {
    auto rewrite = [cbor](std::string_view doc, JsonVisitor& v, std::string& out) {
      return cbor ? twin::scrubber::rewrite_cbor(doc, v, out)
                  : twin::scrubber::rewrite_msgpack(doc, v, out);
    };
    Visitor keep(false);
    std::string out;
    const auto kept = rewrite(in, keep, out);
    if (out != in || kept.replaced != 0) std::abort();
    if (!kept.valid && kept.error_offset > in.size()) std::abort();
    if (!kept.valid) continue;

    Visitor change(true);
    const auto changed = rewrite(in, change, out);
    if (!changed.valid || changed.visited != kept.visited || change.kinds != keep.kinds) {
      std::abort();
    }
    Visitor again(false);
    std::string twice;
    const auto reread = rewrite(out, again, twice);
    if (!reread.valid || again.kinds != keep.kinds || twice != out) std::abort();

    // (nlohmann's reader is recursive with no depth cap: only documents ours read, which are
    // at most 512 deep)
    const std::string before = twin::test::binary_json_shape(cbor, in);
    if (!before.empty() && twin::test::binary_json_shape(cbor, out) != before) std::abort();
  }
  return 0;
}
