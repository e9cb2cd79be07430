// Writes the benchmark sample (bench/traffic_sample.h) to a .twin file, for size comparisons:
//   bench_sample OUT.twin [COUNT]

#include <cstdio>
#include <cstdlib>
#include <string>

#include "traffic_sample.h"
#include "twin/traffic/archive.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_sample OUT.twin [COUNT]\n");
    return 2;
  }
  const size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 200000;
  auto w = twin::traffic::Writer::open(argv[1]);
  if (!w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return 2;
  }
  for (const auto& e : twin::bench::sample_exchanges(n)) {
    if (!(*w)->append(e)) return 2;
  }
  return (*w)->close() ? 0 : 2;
}
