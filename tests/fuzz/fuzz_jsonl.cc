// Fuzz target: arbitrary bytes as one JSONL line. Whatever reads as an exchange must write back
// to JSONL that reads as the same exchange.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "twin/traffic/jsonl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace twin::traffic;
  auto object = nlohmann::json::parse(data, data + size, nullptr, false);
  if (object.is_discarded() || !object.is_object()) return 0;
  Exchange e;
  if (!from_jsonl_object(object, e)) return 0;
  std::string line;
  append_jsonl_line(e, line);
  Exchange back;
  auto again = nlohmann::json::parse(line, nullptr, false);
  if (again.is_discarded() || !from_jsonl_object(again, back) || !(back == e)) std::abort();
  return 0;
}
