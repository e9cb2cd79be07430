// Fuzz target: arbitrary bytes as a HAR document. Entries that import must survive a round trip
// through twin's own HAR entry. The same bytes as a .har file, read as every command reads one:
// exchanges or a one-line error, never an exception.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "twin/traffic/har.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace twin::traffic;
  {
    static const std::string path = "/tmp/fuzz_har." + std::to_string(getpid()) + ".har";
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f != nullptr) {
      std::fwrite(data, 1, size, f);
      std::fclose(f);
      (void)read_har_file(path);
    }
  }
  auto doc = nlohmann::json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return 0;
  auto log = doc.find("log");
  if (log == doc.end() || !log->is_object()) return 0;
  auto entries = log->find("entries");
  if (entries == log->end() || !entries->is_array()) return 0;
  uint64_t index = 0;
  for (const auto& entry : *entries) {
    Exchange e;
    if (!from_har_entry(entry, index++, e)) continue;
    Exchange back;
    auto written = nlohmann::json::parse(to_har_entry(e).dump());
    if (!from_har_entry(written, 0, back) || !(back == e)) std::abort();
  }
  return 0;
}
