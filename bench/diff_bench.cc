// The response differ's cost per pair of differing JSON bodies (compare/src/diff.cc), on one
// core: a list response of 50 objects, as an API answers a search or a page of users, in the
// shapes arrays take when two answers differ. Each case runs twice: with the alignment of
// arrays (the default) and with `max_align = 0`, which pairs elements in order after the common
// prefix and suffix and hashes nothing — what the differ did before arrays were aligned — so the
// ratio of the two is the alignment's cost, measured in one run. `unordered` adds a case with
// the list named in DiffOptions::unordered. BM_Format diffs the same answer, with one item's
// quantity changed, in each format the differ reads field by field (JSON, XML, Thrift binary,
// JSON Lines, server-sent events), so that a format's reading is measured against JSON's in one
// run. Run:
//   build-bench/bin/diff_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

#include <benchmark/benchmark.h>

#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "twin/compare/diff.h"

namespace {

using namespace twin;

traffic::Response response(std::string body, const char* type = "application/json") {
  traffic::Response r;
  r.status = 200;
  r.headers = {{"Content-Type", type}};
  r.body = std::move(body);
  r.body_size = r.body.size();
  return r;
}

// Diffs the pair in the timed loop; bytes are both bodies', the label says the bodies' size and
// the paths named.
void run(benchmark::State& state, const compare::DiffOptions& options, const traffic::Response& a,
         const traffic::Response& b) {
  compare::ResponseDiffer differ(options);
  std::vector<std::string> out;
  for (auto _ : state) {
    differ.diff(a, b, out);
    benchmark::DoNotOptimize(out.data());
  }
  const size_t bytes = a.body.size() + b.body.size();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
  state.SetLabel(std::to_string(bytes) + " bytes, " + std::to_string(out.size()) + " paths" +
                 (out.empty() ? "" : ", " + out[0]));
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
  run(state, options, response(a), response(b));
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

// The list of list() as XML: <items><item id=".."><name>..</name>…<tags><tag>a</tag>…</tags>
// </item>…<meta><count>50</count></meta></items>, written as a SOAP-era serializer would.
std::string list_xml(int qty_at) {
  std::string s = "<?xml version=\"1.0\"?>\n<items xmlns=\"urn:shop\">\n";
  for (int i = 0; i < 50; ++i) {
    s += "  <item id=\"" + std::to_string(i) + "\">\n    <name>item number " + std::to_string(i) +
         "</name>\n    <price>" + std::to_string(100 + i) +
         ".5</price>\n    <tags><tag>a</tag><tag>b</tag><tag>c</tag></tags>\n    <ts>" +
         std::to_string(1 + i) + "</ts>\n    <qty>" + std::to_string(i == qty_at ? 9 : 1) +
         "</qty>\n  </item>\n";
  }
  return s + "  <meta><count>50</count></meta>\n</items>\n";
}

// The same list in Thrift's binary protocol: struct { 1: list<Item> items, 2: Meta meta },
// Item { 1: i64 id, 2: string name, 3: double price, 4: list<string> tags, 5: i64 ts,
// 6: i32 qty }, Meta { 1: i32 count }.
std::string list_thrift(int qty_at) {
  std::string s;
  const auto be = [&](uint64_t v, int n) {
    for (int k = n - 1; k >= 0; --k) s += static_cast<char>((v >> (8 * k)) & 0xff);
  };
  const auto field = [&](uint8_t type, int16_t id) {
    s += static_cast<char>(type);
    be(static_cast<uint16_t>(id), 2);
  };
  const auto str = [&](const std::string& v) {
    be(v.size(), 4);
    s += v;
  };
  field(15, 1);
  s += static_cast<char>(12);
  be(50, 4);
  for (int i = 0; i < 50; ++i) {
    field(10, 1);
    be(static_cast<uint64_t>(i), 8);
    field(11, 2);
    str("item number " + std::to_string(i));
    field(4, 3);
    be(std::bit_cast<uint64_t>(100.5 + i), 8);
    field(15, 4);
    s += static_cast<char>(11);
    be(3, 4);
    for (const char* t : {"a", "b", "c"}) str(t);
    field(10, 5);
    be(static_cast<uint64_t>(1 + i), 8);
    field(8, 6);
    be(i == qty_at ? 9 : 1, 4);
    s += '\0';
  }
  field(12, 2);
  field(8, 1);
  be(50, 4);
  s += '\0';
  s += '\0';
  return s;
}

// The 50 items of list() as JSON Lines (a record a line) or as server-sent events (an event
// each, its data the item), as an export or a streamed feed sends them.
std::string list_stream(int qty_at, bool events) {
  std::string s;
  for (int i = 0; i < 50; ++i) {
    if (events) s += "id: " + std::to_string(i) + "\ndata: ";
    s += "{\"id\":" + std::to_string(i) + ",\"name\":\"item number " + std::to_string(i) +
         "\",\"price\":" + std::to_string(100 + i) +
         ".5,\"tags\":[\"a\",\"b\",\"c\"],\"ts\":" + std::to_string(1 + i) +
         ",\"qty\":" + std::to_string(i == qty_at ? 9 : 1) + "}\n";
    if (events) s += "\n";
  }
  return s;
}

enum Format { kJson, kXml, kThrift, kJsonLines, kEventStream };

void BM_Format(benchmark::State& state) {
  const auto format = static_cast<Format>(state.range(0));
  std::string a, b;
  const char* type = "application/json";
  switch (format) {
    case kJson:
      a = list(1, -1);
      b = list(1, 7);
      break;
    case kXml:
      a = list_xml(-1);
      b = list_xml(7);
      type = "application/xml";
      break;
    case kThrift:
      a = list_thrift(-1);
      b = list_thrift(7);
      type = "application/x-thrift";
      break;
    case kJsonLines:
    case kEventStream:
      a = list_stream(-1, format == kEventStream);
      b = list_stream(7, format == kEventStream);
      type = format == kEventStream ? "text/event-stream" : "application/x-ndjson";
      break;
  }
  run(state, {}, response(a, type), response(b, type));
}

BENCHMARK(BM_Format)
    ->ArgName("format")
    ->DenseRange(kJson, kEventStream)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
