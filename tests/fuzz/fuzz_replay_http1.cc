// Fuzz target for the replayer's HTTP/1.1 response parser (replay/src/http1.cc). The input is
//   byte 0   options: bits 0-2 pick max_body, bit 3 the connection ends (finish()) after the
//            last byte, bit 4 it ends with a reset
//   byte 1   bit i: request i (of up to 8 on the connection) was HEAD
//   rest     the bytes the server sent
// The parser is started for request 0, fed, started again after each completion, up to 8
// responses, then finished when asked. This runs whole, byte by byte, and in pieces of a size
// taken from the input: every way must give the same completions (the parser may not depend on
// how the bytes were split), and every completion must respect max_body. Whole, it also runs
// with every head through Beast: the fast head path must give exactly what Beast gives,
// including where a response ends and the failure's wording; and with the fast path's memo of
// header lines (kept from input to input), the same again.

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "twin/replay/http1.h"

namespace {

using twin::replay::Completion;
using twin::replay::Http1ResponseParser;
using Status = Http1ResponseParser::Status;
using twin::traffic::ErrorKind;
using twin::traffic::kNoTime;

constexpr size_t kMaxResponses = 8;

struct Options {
  size_t max_body = 0;
  bool end = false;
  bool reset = false;
  uint8_t heads = 0;
};

struct Outcome {
  Status status;
  Completion c;
  bool keep_alive;
  std::string failure;
  size_t end;
};

void check_one(const Options& o, const Outcome& x) {
  const auto& r = x.c.response;
  if (r.body.size() > o.max_body) std::abort();
  if (r.body_size < r.body.size()) std::abort();
  const bool capped = (x.c.flags & twin::traffic::kFlagResponseBodyTruncated) != 0;
  if (capped != (r.body_size > o.max_body)) std::abort();
  if (r.status < 0 || r.status > 999) std::abort();
  if (!x.c.has_response && !(r == twin::traffic::Response{})) std::abort();
  if (x.status == Status::kDone) {
    if (!x.c.has_response || x.c.error != ErrorKind::kNone || !x.failure.empty()) std::abort();
    if (r.status / 100 == 1 && r.status != 101) std::abort();  // interim responses are skipped
  } else {
    if (x.c.error == ErrorKind::kNone || x.failure.empty() || x.keep_alive) std::abort();
    if (x.failure.size() > 100) std::abort();
  }
  if (x.c.response_start != kNoTime && x.c.response_end != kNoTime &&
      x.c.response_end < x.c.response_start) {
    std::abort();
  }
}

// Feeds `wire` in pieces of `piece` bytes (0: whole).
std::vector<Outcome> run(const Options& o, std::string_view wire, size_t piece,
                         bool beast_only = false,
                         std::shared_ptr<twin::replay::Http1HeadMemo> memo = nullptr) {
  Http1ResponseParser p(o.max_body, beast_only, std::move(memo));
  std::vector<Outcome> out;
  size_t next = 0;
  p.start(next, (o.heads & 1) != 0);
  auto record = [&](Status s, size_t end) {
    out.push_back({s, p.completion(), p.keep_alive(), std::string(p.failure()), end});
  };
  int64_t time = 1000;
  size_t begin = 0;
  bool stopped = false;
  while (begin < wire.size() && !stopped) {
    const size_t stop = piece == 0 ? wire.size() : std::min(wire.size(), begin + piece);
    size_t off = begin;
    while (off < stop) {
      const auto f = p.feed(wire.data() + off, stop - off, time);
      if (f.consumed > stop - off) std::abort();
      if (f.status == Status::kNeedMore) {
        if (f.consumed != stop - off) std::abort();
        break;
      }
      off += f.consumed;
      record(f.status, off);
      // A finished parser takes nothing more.
      if (p.feed(wire.data() + off, stop - off, time).consumed != 0) std::abort();
      if (f.status == Status::kFailed || ++next == kMaxResponses) {
        stopped = true;
        break;
      }
      p.start(next, ((o.heads >> next) & 1) != 0);
    }
    begin = stop;
    ++time;
  }
  if (!stopped && o.end) record(p.finish(time, o.reset), wire.size());
  for (const Outcome& x : out) check_one(o, x);
  return out;
}

void compare(const std::vector<Outcome>& a, const std::vector<Outcome>& b, bool exact_end = false) {
  if (a.size() != b.size()) std::abort();
  for (size_t i = 0; i < a.size(); ++i) {
    const Outcome& x = a[i];
    const Outcome& y = b[i];
    if (x.status != y.status || x.c.token != y.c.token || x.c.error != y.c.error ||
        x.c.has_response != y.c.has_response || !(x.c.response == y.c.response) ||
        x.c.flags != y.c.flags || x.keep_alive != y.keep_alive || x.failure != y.failure) {
      std::abort();
    }
    // Where a protocol failure is noticed may depend on the split; where a response ends not.
    if ((exact_end || x.c.error != ErrorKind::kProtocol) && x.end != y.end) std::abort();
    if (exact_end &&
        (x.c.response_start != y.c.response_start || x.c.response_end != y.c.response_end)) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > (1u << 16)) return 0;
  static constexpr size_t kBody[8] = {0, 1, 5, 16, 64, 1024, 65536, 1u << 20};
  Options o;
  o.max_body = kBody[data[0] & 7];
  o.end = (data[0] & 8) != 0;
  o.reset = (data[0] & 16) != 0;
  o.heads = data[1];
  const std::string_view wire(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::vector<Outcome> whole = run(o, wire, 0);
  compare(whole, run(o, wire, 1));
  compare(whole, run(o, wire, 2 + (data[0] >> 5) * 5));
  compare(whole, run(o, wire, 0, true), true);
  // With the fast path's memo, kept from input to input as a worker keeps it from response to
  // response: the same outcome.
  static const auto memo = twin::replay::make_http1_head_memo();
  compare(whole, run(o, wire, 0, false, memo), true);
  return 0;
}
