// Fuzz target for the Thrift rewriter (scrubber/src/thrift.h); the input is read in both
// protocols. Checked, for each:
//   - what does not parse whole is not visited at all;
//   - a visitor that replaces nothing gets the input back byte for byte;
//   - a visitor that replaces every string (text with another length, bytes with other bytes
//     of theirs, and now and then of another length, which must be refused) and every number
//     (other sizes and signs, now and then what is no number) writes what parses whole in the
//     same protocol and reading, with as many fields and the same visits in the same order.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "thrift.h"

namespace {

using twin::scrubber::ProtobufVisitor;

class Visitor : public ProtobufVisitor {
 public:
  explicit Visitor(bool change) : change_(change) {}
  bool text(std::string_view path, std::string_view value, std::string& out) override {
    log += "t" + std::string(path) + ";";
    if (!change_) return false;
    out.assign((value.size() * 7 + 3) % 300, 'x');
    return true;
  }
  bool bytes(std::string_view path, std::string_view value, std::string& out) override {
    log += "b" + std::string(path) + ";";
    if (!change_) return false;
    out.assign(value.size() + (++n_ % 4 == 0 ? 1 : 0), '\x01');  // a wrong length, refused
    return true;
  }
  bool number(std::string_view path, std::string_view value, std::string& out) override {
    log += "n" + std::string(path) + ";";
    if (!change_) return false;
    switch (++n_ % 4) {
      case 0:
        out = "-" + std::to_string(value.size() * 1000003);
        break;
      case 1:
        out = "18446744073709551617";
        break;
      case 2:
        out = "2.5e3";
        break;  // an integer field refuses it; a double takes it
      default:
        out = "x";
        break;
    }
    return true;
  }
  std::string log;

 private:
  bool change_;
  size_t n_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  for (const auto protocol :
       {twin::scrubber::ThriftProtocol::kBinary, twin::scrubber::ThriftProtocol::kCompact}) {
    Visitor keep(false);
    std::string out;
    const auto kept = twin::scrubber::rewrite_thrift(in, protocol, keep, out);
    if (!kept.valid) {
      if (!keep.log.empty()) std::abort();
      continue;
    }
    if (out != in || kept.replaced != 0) std::abort();
    Visitor change(true);
    const auto changed = twin::scrubber::rewrite_thrift(in, protocol, change, out);
    if (!changed.valid || changed.fields != kept.fields || change.log != keep.log) std::abort();
    if (changed.reading != kept.reading) std::abort();
    // Read the way it was written (bytes may read more than one way: a rewrite may make a
    // struct's bytes read as a message too, which is then tried first).
    Visitor again(false);
    std::string twice;
    const auto reread =
        twin::scrubber::rewrite_thrift(out, protocol, again, twice, changed.reading);
    if (!reread.valid || reread.fields != kept.fields || twice != out) std::abort();
    if (again.log != keep.log) std::abort();
  }
  return 0;
}
