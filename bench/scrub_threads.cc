// bench_scrub_threads IN.twin KEY_FILE THREADS... : the scrub alone, on several threads.
// Reads every exchange of IN into memory first, then, for each thread count given, scrubs a
// fresh copy of them in the batches `twin scrub` makes (64 exchanges, 16 a thread past 4;
// before 2026-12-07 64 a thread) with Scrubber::create(default policy, key,
// threads) and prints the wall-clock and CPU time of the scrub only (no reading, decoding,
// encoding or compression), the MB/s (method, target, header names and values, bodies) and
// how many exchanges were scrubbed again. For what reading and writing do around it, time
// `twin scrub`.

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include "twin/scrubber/key.h"
#include "twin/scrubber/policy.h"
#include "twin/scrubber/scrubber.h"
#include "twin/traffic/archive.h"

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

size_t payload(const twin::traffic::Exchange& e) {
  size_t n = e.request.method.size() + e.request.target.size() + e.request.body.size();
  for (const auto& h : e.request.headers) n += h.name.size() + h.value.size();
  if (e.response) {
    n += e.response->body.size();
    for (const auto& h : e.response->headers) n += h.name.size() + h.value.size();
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_scrub_threads IN.twin KEY_FILE THREADS...\n");
    return 2;
  }
  auto reader = twin::traffic::Reader::open(argv[1]);
  if (!reader) {
    std::fprintf(stderr, "%s\n", reader.error().message.c_str());
    return 2;
  }
  std::vector<twin::traffic::Exchange> in;
  size_t bytes = 0;
  while (true) {
    twin::traffic::Exchange e;
    auto more = (*reader)->next(e);
    if (!more) {
      std::fprintf(stderr, "%s\n", more.error().message.c_str());
      return 2;
    }
    if (!*more) break;
    bytes += payload(e);
    in.push_back(std::move(e));
  }
  auto key = twin::scrubber::Key::from_file(argv[2]);
  if (!key) {
    std::fprintf(stderr, "%s\n", key.error().message.c_str());
    return 2;
  }
  const auto policy = twin::scrubber::default_policy();
  for (int a = 3; a < argc; ++a) {
    const int threads = std::atoi(argv[a]);
    auto s = twin::scrubber::Scrubber::create(policy, *key, threads);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      return 2;
    }
    (*s)->set_shape_statistics(false);
    std::vector<twin::traffic::Exchange> work = in;
    const size_t batch = std::max<size_t>(64, 16 * size_t(threads > 1 ? threads : 1));
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < work.size(); i += batch) {
      const size_t n = std::min(batch, work.size() - i);
      (*s)->scrub_batch(std::span<twin::traffic::Exchange>(work.data() + i, n));
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    const auto p = (*s)->parallel_stats();
    std::printf(
        "threads %d: %zu exchanges, %.1f MB, wall %.3f s, cpu %.3f s, %.1f MB/s, "
        "checked %llu, rescrubbed %llu\n",
        threads, in.size(), double(bytes) / 1e6, wall, cpu, double(bytes) / 1e6 / wall,
        static_cast<unsigned long long>(p.checked), static_cast<unsigned long long>(p.rescrubbed));
  }
  return 0;
}
