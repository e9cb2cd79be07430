// Archive write and read throughput on realistic ~1 KB exchanges (bench/traffic_sample.h), on
// one core. Run through bench/archive.sh, which also compares the size with gzip -6 of JSONL.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "traffic_sample.h"
#include "twin/traffic/archive.h"

namespace {

using namespace twin;

constexpr size_t kExchanges = 200'000;

const std::vector<traffic::Exchange>& sample() {
  static const auto s = bench::sample_exchanges(kExchanges);
  return s;
}

std::string temp_path() {
  const char* dir = std::getenv("TWIN_BENCH_DIR");
  return std::string(dir ? dir : "/tmp") + "/twin-bench-" + std::to_string(getpid()) + ".twin";
}

size_t raw_bytes() {
  size_t total = 0;
  for (const auto& e : sample()) {
    total += e.request.method.size() + e.request.target.size() + e.request.body.size() +
             e.response->body.size();
    for (const auto& h : e.request.headers) total += h.name.size() + h.value.size() + 4;
    for (const auto& h : e.response->headers) total += h.name.size() + h.value.size() + 4;
  }
  return total;
}

void write_file(const std::string& path, int level) {
  traffic::WriterOptions options;
  options.level = level;
  auto w = traffic::Writer::open(path, options);
  if (!w) std::abort();
  for (const auto& e : sample()) {
    if (!(*w)->append(e)) std::abort();
  }
  if (!(*w)->close()) std::abort();
}

void BM_ArchiveWrite(benchmark::State& state) {
  const auto path = temp_path();
  const int level = static_cast<int>(state.range(0));
  (void)sample();  // generated before timing
  for (auto _ : state) write_file(path, level);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kExchanges));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw_bytes()));
  FILE* f = std::fopen(path.c_str(), "rb");
  std::fseek(f, 0, SEEK_END);
  state.counters["file_bytes_per_exchange"] =
      static_cast<double>(std::ftell(f)) / static_cast<double>(kExchanges);
  std::fclose(f);
  std::remove(path.c_str());
}
BENCHMARK(BM_ArchiveWrite)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ArchiveRead(benchmark::State& state) {
  const auto path = temp_path();
  write_file(path, 1);
  traffic::Exchange e;
  for (auto _ : state) {
    auto r = traffic::Reader::open(path);
    if (!r) std::abort();
    size_t n = 0;
    while (*(*r)->next(e)) ++n;
    if (n != kExchanges) std::abort();
    benchmark::DoNotOptimize(e);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kExchanges));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw_bytes()));
  state.counters["raw_bytes_per_exchange"] =
      static_cast<double>(raw_bytes()) / static_cast<double>(kExchanges);
  std::remove(path.c_str());
}
BENCHMARK(BM_ArchiveRead)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
