// Fuzz target for the comparator's response diff (compare/src/diff.cc), which parses the bodies
// targets sent back: untrusted bytes. The input is
//   byte 0     options: bit 0 compare headers, bit 1 the first body is labelled encoded, bit 2 the
//              second is, bit 3 both are labelled JSON, bit 4 a tiny max_depth, bit 5 a tiny
//              max_paths, bits 6-7 the Content-Encoding label: "gzip", "deflate",
//              "X-Gzip, identity" or "gzip, br" (br over gzip)
//   bytes 1-2  the length of the first body (little-endian, clamped to what is there)
//   rest       the first body, then the second
// Inputs nested deeper than the default max_depth are also compared with the largest one (1000,
// the stack bound).
// Properties:
//   - for unencoded bodies, the paths are those of a plain recursive reference written from the
//     contract in diff.h (below: strict RFC 8259 parse, the number, string, duplicate-key, array
//     and max_depth rules, the path syntax), cut or not;
//   - a response never differs from itself;
//   - the paths are sorted and distinct, and start with '$' or "header.";
//   - one way's paths are empty only when the other way's are (the sets themselves may differ:
//     an array's alignment passes over the baseline's elements first when two are as long);
//   - with every array unordered ("$.**"), the paths are the reference's with multiset arrays;
//   - without a cut, ignoring every reported path leaves no difference (reported paths are
//     valid ignore patterns that match themselves);
//   - encoding does not matter: an unlabelled body gzip-, zlib-, raw-deflate-, br- or
//     zstd-compressed (or gzip then br) with the matching Content-Encoding gives the same paths
//     (header.content-encoding aside);
//   - with the JSON label, whitespace around an unlabelled body changes nothing (when the bodies
//     differ), and a body against itself wrapped in whitespace differs at most at "$body".
//
// Run with -DTWIN_FUZZ=ON (clang), giving the dictionary (JSON tokens, stream headers) with
// -dict; new inputs go to the first directory (one command line):
//   build-fuzz/bin/fuzz_compare_diff -dict=tests/fuzz/compare_diff.dict -max_len=4096
//       /tmp/cd-corpus tests/fuzz/corpus/compare_diff
// Then shrink into a fresh directory with -merge=1 (e.g. -use_counters=0 keeps it near 150
// files) and check that in: ctest replays the whole corpus.

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "compare_ref.h"
#include "twin/compare/diff.h"
#include "twin/traffic/content_coding.h"

namespace {

using compare_ref::check;
using compare_ref::Ref;
using compare_ref::ref_compare;
using compare_ref::RefParser;

twin::traffic::Response response(std::string body, bool json, const char* coding, int salt) {
  twin::traffic::Response r;
  r.status = 200;
  r.headers.push_back({"Content-Type", json ? "application/json" : "text/plain"});
  if (coding != nullptr) r.headers.push_back({"Content-Encoding", coding});
  r.headers.push_back({"X-Salt", std::to_string(salt)});
  r.body = std::move(body);
  r.body_size = r.body.size();
  return r;
}

// window_bits as for deflateInit2: 15 + 16 gzip, 15 zlib, -15 raw.
std::string compress(const std::string& in, int window_bits) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    std::abort();
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::vector<std::string> without(std::vector<std::string> paths, const std::string& drop) {
  paths.erase(std::remove(paths.begin(), paths.end(), drop), paths.end());
  return paths;
}

// The deepest run of open brackets, strings not skipped: an upper bound of the JSON nesting.
size_t nesting(const std::string& s) {
  size_t depth = 0, deepest = 0;
  for (const char c : s) {
    if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// The body paths diff() should give for two unencoded bodies.
std::set<std::string> ref_diff(const std::string& a, const std::string& b, bool json_label,
                               size_t depth_limit, bool any_order = false) {
  if (a == b) return {};
  const auto looks_json = [&](const std::string& s) {
    const size_t i = s.find_first_not_of(" \t\r\n");
    return json_label || (i != std::string::npos && (s[i] == '{' || s[i] == '['));
  };
  Ref x, y;
  if (!(looks_json(a) || looks_json(b)) || !RefParser(a).parse(x) || !RefParser(b).parse(y)) {
    return {"$body"};
  }
  std::set<std::string> out;
  compare_ref::RefArrays arrays;
  arrays.any_order = any_order;
  ref_compare(x, y, "$", 0, depth_limit, out, arrays);
  return out;
}

// Checks diff()'s paths against the reference, for unencoded bodies not nested too deep for its
// recursion.
void check_ref(const std::string& a, const std::string& b, bool json,
               const std::vector<std::string>& got, bool whole,
               const twin::compare::DiffOptions& options) {
  compare_ref::check_paths(
      ref_diff(a, b, json, std::min<size_t>(options.max_depth, 1000), !options.unordered.empty()),
      got, whole, options);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  compare_ref::Input in;
  if (!compare_ref::split_input(data, size, in)) return 0;
  const uint8_t opt = in.opt;
  const std::string& rest = in.both;
  twin::compare::DiffOptions options;
  options.headers = opt & 1;
  if (opt & 16) options.max_depth = 2;
  if (opt & 32) options.max_paths = 2;
  const bool json = opt & 8;
  static const char* const kLabels[] = {"gzip", "deflate", "X-Gzip, identity", "gzip, br"};
  const char* label = kLabels[opt >> 6];
  twin::compare::ResponseDiffer differ(options);
  auto a = response(in.first, json, (opt & 2) ? label : nullptr, 1);
  auto b = response(in.second, json, (opt & 4) ? label : nullptr, 2);

  std::vector<std::string> ab, ba, aa;
  bool whole_ab = differ.diff(a, b, ab);
  bool whole_ba = differ.diff(b, a, ba);
  check(ab);
  check(ba);
  if (whole_ab && whole_ba && ab.empty() != ba.empty()) std::abort();
  if (!differ.diff(a, a, aa) || !aa.empty()) std::abort();
  const bool shallow = nesting(rest) <= 200;
  if (!(opt & 6) && shallow) {
    check_ref(a.body, b.body, json, ab, whole_ab, options);
    // Every array a multiset.
    twin::compare::DiffOptions any_order = options;
    any_order.unordered = {"$.**"};
    twin::compare::ResponseDiffer sets(any_order);
    std::vector<std::string> got;
    const bool whole = sets.diff(a, b, got);
    check(got);
    check_ref(a.body, b.body, json, got, whole, any_order);
    if (!sets.diff(b, b, got) || !got.empty()) std::abort();
  }

  // Past the default max_depth, compare with the largest one too: the recursion must hold.
  if (!(opt & 16) && nesting(rest) > options.max_depth) {
    twin::compare::DiffOptions deep_options = options;
    deep_options.max_depth = 1000;
    twin::compare::ResponseDiffer deep(deep_options);
    std::vector<std::string> deep_ab, deep_ba;
    const bool whole_deep_ab = deep.diff(a, b, deep_ab);
    const bool whole = deep.diff(b, a, deep_ba) && whole_deep_ab;
    check(deep_ab);
    check(deep_ba);
    if (whole && deep_ab.empty() != deep_ba.empty()) std::abort();
    if (!(opt & 6) && shallow)
      check_ref(a.body, b.body, json, deep_ab, whole_deep_ab, deep_options);
    if (!deep.diff(b, b, deep_ab) || !deep_ab.empty()) std::abort();
  }

  // Every reported path, used as an ignore pattern, hides itself.
  if (whole_ab && !ab.empty()) {
    twin::compare::DiffOptions ignoring = options;
    ignoring.ignore = ab;
    twin::compare::ResponseDiffer quiet(ignoring);
    std::vector<std::string> rest_ab;
    if (!quiet.diff(a, b, rest_ab) || !rest_ab.empty()) std::abort();
  }

  if (a.body.size() > (1u << 14)) return 0;  // keep the metamorphic checks cheap
  std::vector<std::string> got;

  // Encoding the first body (when it is not labelled already) changes nothing.
  if (!(opt & 2) && whole_ab) {
    static const struct {
      const char* coding;
      int window_bits;  // 0: twin::traffic::encode
    } kCodings[] = {{"gzip", 15 + 16}, {"deflate", 15}, {"deflate", -15},
                    {"br", 0},         {"zstd", 0},     {"gzip, br", 0}};
    const auto& c = kCodings[a.body.size() % 6];
    std::string packed;
    if (c.window_bits != 0) {
      packed = compress(a.body, c.window_bits);
    } else {
      const auto codings = twin::traffic::parse_content_encoding(c.coding);
      if (!codings) std::abort();
      packed = a.body;
      for (const auto coding : *codings) {
        std::string next;
        if (!twin::traffic::encode(coding, packed, next)) std::abort();
        packed.swap(next);
      }
    }
    auto encoded = response(std::move(packed), json, c.coding, 1);
    const bool whole = differ.diff(encoded, b, got);
    check(got);
    if (whole &&
        without(got, "header.content-encoding") != without(ab, "header.content-encoding")) {
      std::abort();
    }
  }

  // Whitespace around a JSON body changes nothing.
  if (json && !(opt & 2) && !(opt & 4)) {
    auto padded = response(" \n" + a.body + "\t\r\n", json, nullptr, 1);
    if (a.body != b.body && padded.body != b.body && whole_ab) {
      const bool whole = differ.diff(padded, b, got);
      check(got);
      if (whole && got != ab) std::abort();
    }
    if (!differ.diff(a, padded, got)) std::abort();
    if (!got.empty() && got != std::vector<std::string>{"$body"}) std::abort();
  }
  return 0;
}
