// Writes seed inputs for the fuzz targets from generated exchanges (tests/traffic/
// exchange_gen.h): small archives (whole, torn, with metadata), single records, JSONL lines and
// HAR documents. The committed corpora under tests/fuzz/corpus/ came from it, plus anything the
// fuzzers found.
//   fuzz_seeds tests/fuzz/corpus

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "codec.h"
#include "exchange_gen.h"
#include "files.h"
#include "twin/traffic/archive.h"
#include "twin/traffic/har.h"
#include "twin/traffic/jsonl.h"

namespace fs = std::filesystem;
using namespace twin::traffic;

using twin::test::slurp;
using twin::test::spit;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR\n");
    return 2;
  }
  const fs::path root = argv[1];
  for (const char* d : {"archive", "record", "jsonl", "har"}) fs::create_directories(root / d);
  gen::GenOptions options;
  options.invalid_utf8_strings = true;
  const auto exchanges = gen::generate_exchanges(77, 12, options);

  for (int n : {0, 1, 4, 12}) {
    const auto path = root / "archive" / ("seed-" + std::to_string(n) + ".twin");
    WriterOptions wo;
    wo.block_size = 600;
    auto w = Writer::open(path.string(), wo);
    if (!w) return 1;
    for (int i = 0; i < n; ++i) (void)(*w)->append(exchanges[i]);
    if (n == 4) (void)(*w)->put_metadata({{"counters", {{"drops", 1}}}});
    (void)(*w)->close();
    if (n == 12) {
      const std::string bytes = slurp(path.string());
      spit((root / "archive" / "seed-torn.twin").string(), bytes.substr(0, bytes.size() * 2 / 3));
    }
  }
  for (size_t i = 0; i < exchanges.size(); ++i) {
    std::string rec;
    int64_t prev = 0;
    codec::encode_record(exchanges[i], prev, rec);
    spit((root / "record" / ("seed-" + std::to_string(i))).string(), rec);
    std::string line;
    append_jsonl_line(exchanges[i], line);
    spit((root / "jsonl" / ("seed-" + std::to_string(i) + ".json")).string(), line);
  }
  std::string har = har_prefix("seed");
  for (size_t i = 0; i < 4; ++i) {
    if (i > 0) har += ',';
    har += to_har_entry(exchanges[i]).dump();
  }
  har += har_suffix();
  spit((root / "har" / "seed-twin.har").string(), har);
  return 0;
}
