// Fuzz target: arbitrary bytes as one record. Whatever decodes must re-encode to a record that
// decodes to the same exchange.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace twin::traffic;
  Exchange e;
  int64_t prev = 0;
  if (!codec::decode_record(reinterpret_cast<const char*>(data), size, prev, e)) return 0;
  std::string again;
  int64_t p1 = 0;
  codec::encode_record(e, p1, again);
  Exchange back;
  int64_t p2 = 0;
  if (!codec::decode_record(again.data(), again.size(), p2, back) || !(back == e)) std::abort();
  return 0;
}
