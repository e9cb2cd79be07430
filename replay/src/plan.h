#pragma once
// Internal: what the planner (reader thread) hands to a worker, and the clock both use.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <type_traits>
#include <vector>

#include "twin/replay/http1.h"
#include "twin/replay/replay.h"
#include "twin/traffic/exchange.h"

namespace twin::replay::detail {

/// Monotonic nanoseconds (steady_clock). Schedules and latencies use it; recorded instants are
/// these plus a fixed offset to the epoch taken once at the start, so that they stay monotonic.
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Memory for the --loop copy, handed out in order from chunks that never move and are freed
/// all at once with their owner (the planner, after the workers). A bump allocator rather than
/// a malloc per piece: on the 2-core VM the first touch of a page costs about 10 µs
/// (bench/README.md), so what the first pass keeps of each request is made as small as it can
/// be, in one place, with no allocator's headers between the pieces, and what a later pass
/// reads lies in the order it reads it.
class Arena {
 public:
  static constexpr size_t kChunk = size_t{1} << 20;
  static constexpr size_t rounded(size_t n) { return (n + 7) & ~size_t{7}; }
  /// `n` bytes, 8-aligned, uninitialized.
  char* allocate(size_t n) {
    n = rounded(n);
    if (n > left_) {
      const size_t size = std::max(n, kChunk);
      chunks_.emplace_back(new char[size]);  // not zeroed: a page is touched when first used
      next_ = chunks_.back().get();
      left_ = size;
    }
    char* p = next_;
    next_ += n;
    left_ -= n;
    used_ += n;
    return p;
  }
  /// Bytes handed out.
  size_t bytes() const { return used_; }

 private:
  std::vector<std::unique_ptr<char[]>> chunks_;
  char* next_ = nullptr;
  size_t left_ = 0;
  size_t used_ = 0;
};

/// What one target is sent for a request kept by --loop: prepare()'s result and, for a target
/// that may be spoken to in HTTP/1.1, serialize_http1() of it. The planner builds it once, the
/// first time it plans the kept request; every later send of it, on every pass, reads it
/// instead of preparing and serializing again (a sixth of a worker's instructions per request
/// in a closed loop). Read-only once built, alive until the planner is destroyed.
///
/// Compact because it is new memory for every kept request, and new memory is dear (about
/// 10 µs a page on the 2-core VM, bench/README.md): the fields and the wire bytes are one
/// block in the planner's Arena (about 200 bytes for a GET with three headers, against 470 as
/// an OutRequest, its header vector and a string), which HTTP/2's submission reads too
/// (Http2Session::submit).
class Prepared {
 public:
  Prepared() = default;
  /// `r` as it is sent to a target (`invalid`: captured headers prepare() left out), with
  /// `wire`, its HTTP/1.1 bytes (serialize_http1(); empty for a target that speaks HTTP/2
  /// only); the block is taken from `arena`.
  Prepared(const OutRequest& r, std::string_view wire, uint32_t invalid, Arena& arena)
      : invalid_(invalid),
        headers_(static_cast<uint32_t>(r.headers.size())),
        body_truncated_(r.body_truncated) {
    const size_t head = (kFixed + 2 * r.headers.size() + 1) * sizeof(uint32_t);
    char* block = arena.allocate(bytes_for(r, wire));
    block_ = block;
    uint32_t off = 0;
    size_t i = 0;
    auto put = [&](std::string_view v) {
      if (!v.empty()) std::memcpy(block + head + off, v.data(), v.size());
      std::memcpy(block + i++ * sizeof(uint32_t), &off, sizeof off);
      off += static_cast<uint32_t>(v.size());
    };
    put(r.method);
    put(r.path);
    put(r.authority);
    put(r.body);
    put(wire);
    for (const auto& h : r.headers) {
      put(h.name);
      put(h.value);
    }
    std::memcpy(block + i * sizeof(uint32_t), &off, sizeof off);
  }
  /// The arena bytes the block of `r` with `wire` takes.
  static size_t bytes_for(const OutRequest& r, std::string_view wire) {
    size_t size = (kFixed + 2 * r.headers.size() + 1) * sizeof(uint32_t) + r.method.size() +
                  r.path.size() + r.authority.size() + r.body.size() + wire.size();
    for (const auto& h : r.headers) size += h.name.size() + h.value.size();
    return Arena::rounded(size);
  }
  uint32_t invalid() const { return invalid_; }
  std::string_view method() const { return field(0); }
  std::string_view path() const { return field(1); }
  std::string_view authority() const { return field(2); }
  std::string_view body() const { return field(3); }
  /// The HTTP/1.1 bytes; empty for a target that speaks HTTP/2 only.
  std::string_view http1() const { return field(4); }
  size_t headers() const { return headers_; }
  std::string_view name(size_t i) const { return field(kFixed + 2 * i); }
  std::string_view value(size_t i) const { return field(kFixed + 2 * i + 1); }
  bool body_truncated() const { return body_truncated_; }

 private:
  static constexpr size_t kFixed = 5;  // method, path, authority, body, HTTP/1.1 bytes
  uint32_t offset(size_t i) const {
    uint32_t v;
    std::memcpy(&v, block_ + i * sizeof(uint32_t), sizeof v);
    return v;
  }
  std::string_view field(size_t i) const {
    const char* data = block_ + (kFixed + 2 * headers_ + 1) * sizeof(uint32_t);
    const uint32_t a = offset(i);
    return {data + a, offset(i + 1) - a};
  }
  const char* block_ = nullptr;  // offsets (uint32_t, one per field and the end), then bytes
  uint32_t invalid_ = 0;
  uint32_t headers_ = 0;
  bool body_truncated_ = false;
};
static_assert(std::is_trivially_destructible_v<Prepared>, "kept in an Arena, never destroyed");

/// One captured request, planned: sent once to every target.
struct Item {
  uint64_t origin_id = 0;
  uint64_t session = 0;         // captured session; 0: none (no order kept)
  int64_t intended = 0;         // steady ns; 0 in closed-loop mode (sent when a connection is free)
  bool wait_previous = false;   // must wait until the session's earlier requests completed
  bool warmup = false;          // sent, not counted, not recorded
  bool body_truncated = false;  // the captured body was cut
  bool head = false;            // a HEAD request: its response has no body
  /// The captured request, read through `request`: either `owned`, or, when the planner keeps
  /// it for --loop, the planner's copy (read-only, alive until the planner is destroyed, after
  /// the workers; `owned` is then null), so that a later pass hands over a pointer, not a
  /// copy; or null when `prepared` is set (the planner then keeps only what is sent). Out of line
  /// either way: an item is moved four or five times between the planner and the worker, and a
  /// request inline made each move one of five strings and a vector.
  const traffic::Request* request = nullptr;
  std::unique_ptr<traffic::Request> owned;
  const traffic::Request& req() const { return *request; }
  /// For a request kept by --loop, what each target (by index) is sent, when the planner had
  /// room for it (see Prepared); else null, and the worker prepares `request` itself.
  const Prepared* prepared = nullptr;
};

/// The planner → worker hand-off: the planner appends under the lock, the worker swaps the
/// whole vector out. `size` lets the planner pace itself without taking the lock.
///
/// `spare` goes the other way: requests the worker is done with, strings and header slots
/// still allocated, for the planner to decode the next records into. Without it every request
/// was allocated by the planner's thread and freed by the worker's, which glibc's malloc
/// makes dear (the freed chunks go back to the other thread's arena under its lock).
struct Inbox {
  std::mutex mutex;
  std::vector<Item> items;
  std::vector<std::unique_ptr<traffic::Request>> spare;
  std::atomic<size_t> queued{0};  // items handed over and not yet sent or failed
};

/// Buffers larger than this are freed rather than kept for reuse in a recycled object, so that
/// one big body does not stay allocated in a pooled slot for the rest of the run.
constexpr size_t kKeepCapacity = 64u << 10;

inline void shed(std::string& s, size_t keep = kKeepCapacity) {
  if (s.capacity() > keep) std::string().swap(s);
}

/// The route glob (declared in replay.h, where `twin filter` finds it too).
using twin::replay::route_match;

}  // namespace twin::replay::detail
