// Fuzz target: arbitrary bytes as one JSONL line. Whatever reads as an exchange must write back
// to JSONL that reads as the same exchange. The same bytes as a .jsonl file, read through the
// source every command uses: every line an exchange or a one-line error, never an exception
// (a number past a double's range once escaped as nlohmann's out_of_range).

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "twin/traffic/convert.h"
#include "twin/traffic/jsonl.h"

namespace {

void read_as_file(const uint8_t* data, size_t size) {
  using namespace twin::traffic;
  static const std::string path = "/tmp/fuzz_jsonl." + std::to_string(getpid()) + ".jsonl";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto source = open_source(path, Format::kJsonl);
  if (!source) return;
  Exchange e;
  for (int i = 0; i < 1000; ++i) {
    auto more = (*source)->next(e);
    if (!more || !*more) break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace twin::traffic;
  read_as_file(data, size);
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
