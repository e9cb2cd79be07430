// The response differ's cost per pair of differing JSON bodies (compare/src/diff.cc), on one
// core: a list response of 50 objects, as an API answers a search or a page of users, in the
// shapes arrays take when two answers differ. Each case runs twice: with the alignment of
// arrays (the default) and with `max_align = 0`, which pairs elements in order after the common
// prefix and suffix and hashes nothing — what the differ did before arrays were aligned — so the
// ratio of the two is the alignment's cost, measured in one run. `unordered` adds a case with
// the list named in DiffOptions::unordered. Run:
//   build-bench/bin/diff_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "twin/compare/diff.h"

namespace {

using namespace twin;

traffic::Response response(std::string body) {
  traffic::Response r;
  r.status = 200;
  r.headers = {{"Content-Type", "application/json"}};
  r.body = std::move(body);
  r.body_size = r.body.size();
  return r;
}

// 50 items; `ts_step` makes every item's timestamp differ from the other side's, `qty_at` marks
// one item's quantity, `first` is the first item's id (an insertion shifts it), `reverse` writes
// them last to first.
std::string list(int ts, int qty_at, int first = 0, bool reverse = false) {
  std::string s = "{\"items\":[";
  for (int k = 0; k < 50; ++k) {
    const int i = reverse ? first + 49 - k : first + k;
    if (k) s += ',';
    s += "{\"id\":" + std::to_string(i) + ",\"name\":\"item number " + std::to_string(i) +
         "\",\"price\":" + std::to_string(100 + i) +
         ".5,\"tags\":[\"a\",\"b\",\"c\"],\"ts\":" + std::to_string(ts + i) +
         ",\"qty\":" + std::to_string(i == qty_at ? 9 : 1) + "}";
  }
  return s + "],\"meta\":{\"count\":50}}";
}

enum Case { kMetaOnly, kOneItem, kEveryItem, kInsertedFirst, kReversed, kReversedUnordered };

void BM_Diff(benchmark::State& state) {
  const auto which = static_cast<Case>(state.range(0));
  compare::DiffOptions options;
  if (state.range(1) == 0) options.max_align = 0;
  std::string a = list(1, -1), b;
  switch (which) {
    case kMetaOnly:
      b = a;
      b.replace(b.rfind("50"), 2, "51");
      break;
    case kOneItem:
      b = list(1, 7);
      break;
    case kEveryItem:
      b = list(2, -1);
      break;
    case kInsertedFirst:
      b = list(1, -1, -1);  // one item more at the top, one less at the end
      break;
    case kReversed:
      b = list(1, -1, 0, true);
      break;
    case kReversedUnordered:
      b = list(1, -1, 0, true);
      options.unordered = {"$.items"};
      break;
  }
  compare::ResponseDiffer differ(options);
  const traffic::Response ra = response(a), rb = response(b);
  std::vector<std::string> out;
  for (auto _ : state) {
    differ.diff(ra, rb, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(a.size() + b.size()));
  state.SetLabel(std::to_string(out.size()) + " paths" + (out.empty() ? "" : ", " + out[0]));
}

void cases(benchmark::internal::Benchmark* b) {
  b->ArgNames({"case", "align"});
  for (int c = kMetaOnly; c <= kReversed; ++c) {
    b->Args({c, 1});
    b->Args({c, 0});
  }
  b->Args({kReversedUnordered, 1});
}

BENCHMARK(BM_Diff)->Apply(cases)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
