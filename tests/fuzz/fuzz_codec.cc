// Fuzz target for Content-Encoding. The first byte picks the coding (bits 0-1: identity, gzip,
// deflate, br; bit 4 set: zstd) and the output cap (bits 2-3); the rest is the encoded body.
// Checked:
//   - decoding never writes past the cap, leaves `out` as it was on failure, and fails with a
//     one-line message that names the coding;
//   - what decodes, encodes and decodes again to the same bytes;
//   - any bytes encode and decode back to themselves;
//   - the input as a Content-Encoding value parses or fails cleanly.

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "twin/traffic/content_coding.h"

namespace {

using twin::traffic::Coding;

std::string_view name_of(Coding c) { return twin::traffic::coding_name(c); }

void check_failure(Coding c, const twin::Error& e) {
  const std::string& m = e.message;
  if (m.rfind(std::string(name_of(c)) + ": ", 0) != 0) std::abort();
  if (m.find('\n') != std::string::npos || m.size() > 200) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size > (1u << 16)) return 0;
  const std::string_view whole(reinterpret_cast<const char*>(data), size);
  (void)twin::traffic::parse_content_encoding(whole);

  const auto coding = (data[0] & 0x10) != 0 ? Coding::kZstd : static_cast<Coding>(data[0] & 3);
  static constexpr size_t kCaps[4] = {0, 100, 64u << 10, 4u << 20};
  const size_t cap = kCaps[(data[0] >> 2) & 3];
  const std::string_view in = whole.substr(1);

  std::string out = "pre";
  const twin::Result<void> r = twin::traffic::decode(coding, in, cap, out);
  if (!r) {
    check_failure(coding, r.error());
    if (out != "pre") std::abort();
  } else {
    if (out.size() - 3 > cap || out.compare(0, 3, "pre") != 0) std::abort();
    const std::string_view plain = std::string_view(out).substr(3);
    std::string enc;
    if (!twin::traffic::encode(coding, plain, enc)) std::abort();
    std::string dec;
    if (!twin::traffic::decode(coding, enc, plain.size(), dec) || dec != plain) std::abort();
  }

  std::string enc;
  if (!twin::traffic::encode(coding, in, enc)) std::abort();
  std::string dec;
  if (!twin::traffic::decode(coding, enc, in.size(), dec) || dec != in) std::abort();
  return 0;
}
