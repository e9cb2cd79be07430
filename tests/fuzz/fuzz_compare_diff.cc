// Fuzz target for the comparator's response diff (compare/src/diff.cc), which parses the bodies
// targets sent back: untrusted bytes. The input is
//   byte 0     options: bit 0 compare headers, bit 1 the first body is labelled gzip, bit 2 the
//              second is, bit 3 both are labelled JSON, bit 4 a tiny max_depth, bit 5 a tiny
//              max_paths
//   bytes 1-2  the length of the first body (little-endian, clamped to what is there)
//   rest       the first body, then the second
// Properties: a response never differs from itself; the paths are sorted and distinct; every
// path starts with '$' or "header."; without a cut, the set of paths is the same both ways.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "twin/compare/diff.h"

namespace {

twin::traffic::Response response(std::string body, bool json, bool gzip, int salt) {
  twin::traffic::Response r;
  r.status = 200;
  r.headers.push_back({"Content-Type", json ? "application/json" : "text/plain"});
  if (gzip) r.headers.push_back({"Content-Encoding", "gzip"});
  r.headers.push_back({"X-Salt", std::to_string(salt)});
  r.body = std::move(body);
  r.body_size = r.body.size();
  return r;
}

void check(const std::vector<std::string>& paths) {
  if (!std::is_sorted(paths.begin(), paths.end())) std::abort();
  if (std::adjacent_find(paths.begin(), paths.end()) != paths.end()) std::abort();
  for (const auto& p : paths) {
    if (p.rfind("$", 0) != 0 && p.rfind("header.", 0) != 0) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  uint8_t opt = data[0];
  size_t len = static_cast<size_t>(data[1]) | (static_cast<size_t>(data[2]) << 8);
  std::string rest(reinterpret_cast<const char*>(data) + 3, size - 3);
  len = std::min(len, rest.size());
  twin::compare::DiffOptions options;
  options.headers = opt & 1;
  if (opt & 16) options.max_depth = 2;
  if (opt & 32) options.max_paths = 2;
  twin::compare::ResponseDiffer differ(options);
  auto a = response(rest.substr(0, len), opt & 8, opt & 2, 1);
  auto b = response(rest.substr(len), opt & 8, opt & 4, 2);

  std::vector<std::string> ab, ba, aa;
  bool whole_ab = differ.diff(a, b, ab);
  bool whole_ba = differ.diff(b, a, ba);
  check(ab);
  check(ba);
  if (whole_ab && whole_ba && ab != ba) std::abort();
  if (!differ.diff(a, a, aa) || !aa.empty()) std::abort();
  return 0;
}
