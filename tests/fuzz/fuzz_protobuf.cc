// Fuzz target for the schema-less Protocol Buffers rewriter and the gRPC envelope reader
// (scrubber/src/protobuf.h). The input is a message, a stream of envelopes or gRPC-Web text.
// Checked:
//   - the rewrite is valid exactly when the input parses as a message, and a rewrite that
//     replaces nothing gives the input back byte for byte;
//   - replacing every text field with a string of another length and every bytes field with
//     other bytes of its length gives a message that parses, with the same top-level fields
//     (numbers and wire types, read by tests/support/protobuf_wire.h, not by the code under
//     test) and as many fields at every depth;
//   - a bytes replacement of another length is never used;
//   - envelopes: the whole ones and the rest are the input, and writing them again gives it;
//   - a varint-delimited stream: its messages written again split into the same messages, and
//     the rest is the input's end, with no whole message at its start;
//   - gRPC-Web text: one padded piece decodes and encodes back to itself;
//   - the input as a FileDescriptorSet is read or refused with a one-line reason, and a
//     rewrite typed by each of its messages (integers replaced by others of any size and sign)
//     keeps the input's fields.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "../support/protobuf_wire.h"
#include "base64_text.h"
#include "protobuf.h"

namespace {

using twin::scrubber::ProtobufVisitor;

class Visitor : public ProtobufVisitor {
 public:
  explicit Visitor(int mode) : mode_(mode) {}
  bool text(std::string_view, std::string_view value, std::string& out) override {
    ++visits;
    if (mode_ == 0) return false;
    out.assign((value.size() * 7 + 3) % 300, 'x');
    return true;
  }
  bool number(std::string_view, std::string_view value, std::string& out) override {
    ++numbers;
    if (mode_ == 0) return false;
    // negative and past 32 or 64 bits in turn; mode 2: no integer, which is not used
    out = mode_ == 2 ? "12a"
                     : (value.size() % 2 ? "-" : "") + std::to_string(value.size()) +
                           std::string(value.size() % 25, '9');
    return true;
  }
  size_t numbers = 0;
  bool bytes(std::string_view, std::string_view value, std::string& out) override {
    ++visits;
    if (mode_ == 0) return false;
    // mode 2: a length that must be refused
    out.assign(value.size() + (mode_ == 2 ? 1 : 0), '\x01');
    return true;
  }
  size_t visits = 0;

 private:
  int mode_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  Visitor keep(0);
  std::string out;
  const auto kept = twin::scrubber::rewrite_protobuf(in, keep, out);
  if (kept.valid != twin::scrubber::is_protobuf_message(in)) std::abort();
  if (kept.valid) {
    if (out != in || kept.replaced != 0) std::abort();
    Visitor change(1);
    const auto changed = twin::scrubber::rewrite_protobuf(in, change, out);
    if (!changed.valid || change.visits != keep.visits || changed.fields != kept.fields) {
      std::abort();
    }
    if (!twin::scrubber::is_protobuf_message(out)) std::abort();
    if (twin::test::pb::shape(out) != twin::test::pb::shape(in)) std::abort();
    Visitor wrong(2);
    const auto refused = twin::scrubber::rewrite_protobuf(in, wrong, out);
    if (refused.valid != true) std::abort();
    // Bytes of another length are refused; text (of its own length here) may be replaced.
    if (twin::test::pb::shape(out) != twin::test::pb::shape(in)) std::abort();
  }

  // The input as a descriptor set: read or refused cleanly; a schema read from it types the
  // rewrite of the input as each of its messages, which still parses with the same fields.
  twin::scrubber::ProtobufSchema schema;
  std::string error;
  if (schema.add(in, error)) {
    for (const auto& type : schema.messages()) {
      // (a name that starts with '.' is looked up without it, as type names are written)
      if (!type.full_name.starts_with('.') && schema.message(type.full_name) == nullptr) {
        std::abort();
      }
      Visitor change(1);
      const auto typed = twin::scrubber::rewrite_protobuf(in, change, out, &schema, &type);
      if (typed.valid != kept.valid) std::abort();
      if (typed.valid && twin::test::pb::shape(out) != twin::test::pb::shape(in)) std::abort();
    }
    (void)schema.method("/a.B/C");
  } else if (error.empty() || error.find('\n') != std::string::npos) {
    std::abort();
  }

  const auto envelopes = twin::scrubber::split_envelopes(in);
  std::string again;
  for (const auto& e : envelopes.items) {
    if (!twin::scrubber::append_envelope(e.flags, e.payload, again)) std::abort();
  }
  again += envelopes.rest;
  if (again != in) std::abort();
  if (!envelopes.items.empty() && envelopes.rest.size() >= 5) {
    // the rest announces more than it holds
    const auto* p = reinterpret_cast<const uint8_t*>(envelopes.rest.data());
    const size_t n = size_t{p[1]} << 24 | size_t{p[2]} << 16 | size_t{p[3]} << 8 | p[4];
    if (n <= envelopes.rest.size() - 5) std::abort();
  }

  const auto stream = twin::scrubber::split_delimited(in);
  std::string rebuilt;
  for (const auto m : stream.items) twin::scrubber::append_delimited(m, rebuilt);
  const auto resplit = twin::scrubber::split_delimited(rebuilt);
  if (resplit.items != stream.items || !resplit.rest.empty()) std::abort();
  if (!in.ends_with(stream.rest)) std::abort();
  if (!stream.rest.empty() && !twin::scrubber::split_delimited(stream.rest).items.empty()) {
    std::abort();
  }

  std::string decoded;
  if (twin::scrubber::decode_grpc_web_text(in, decoded)) {
    const size_t pad = in.find('=');
    if (pad == std::string_view::npos || in.find_first_not_of('=', pad) == std::string_view::npos) {
      std::string text;
      twin::scrubber::encode_base64(decoded, twin::scrubber::Base64Style{false, true}, text);
      // (the unused bits of the last character are not checked on decoding)
      if (text.size() != in.size()) std::abort();
    }
  }
  return 0;
}
