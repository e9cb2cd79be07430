#pragma once
// Internal: what the planner (reader thread) hands to a worker, and the clock both use.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
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

/// What one target is sent for a request kept by --loop: prepare()'s result and, for a target
/// that may be spoken to in HTTP/1.1, serialize_http1() of it. The planner builds it once, the
/// first time it plans the kept request; every later send of it, on every pass, reads it
/// instead of preparing and serializing again (a sixth of a worker's instructions per request
/// in a closed loop). Read-only once built, alive until the planner is destroyed.
///
/// Compact because it is new memory for every kept request, and new memory is dear (about
/// 10 µs a page on the 2-core VM, bench/README.md): the fields and the wire bytes are one
/// block (about 240 bytes for a GET with two headers, against 470 as an OutRequest, its
/// header vector and a string). Only a target that may speak HTTP/2 (https://, h2c://, h2://)
/// also keeps the OutRequest that nghttp2's submission reads.
class Prepared {
 public:
  /// `r` as it is sent to a target (`invalid`: captured headers prepare() left out); with its
  /// HTTP/1.1 bytes when `http1`, with `r` itself when `http2`.
  void set(const OutRequest& r, uint32_t invalid, bool http1, bool http2) {
    invalid_ = invalid;
    headers_ = static_cast<uint32_t>(r.headers.size());
    std::string wire;
    if (http1) serialize_http1(r, wire);
    const size_t fields = kFixed + 2 * r.headers.size();
    size_t size =
        r.method.size() + r.path.size() + r.authority.size() + r.body.size() + wire.size();
    for (const auto& h : r.headers) size += h.name.size() + h.value.size();
    const size_t head = (fields + 1) * sizeof(uint32_t);
    block_ = std::make_unique<char[]>(head + size);
    uint32_t off = 0;
    size_t i = 0;
    auto put = [&](std::string_view v) {
      std::memcpy(block_.get() + head + off, v.data(), v.size());
      std::memcpy(block_.get() + i++ * sizeof(uint32_t), &off, sizeof off);
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
    std::memcpy(block_.get() + i * sizeof(uint32_t), &off, sizeof off);
    body_truncated_ = r.body_truncated;
    if (http2) full_ = std::make_unique<OutRequest>(r);
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
  /// The whole OutRequest, for HTTP/2; null for a target that speaks HTTP/1.1 only.
  const OutRequest* full() const { return full_.get(); }
  /// Heap bytes held (the budget's measure).
  size_t bytes() const {
    size_t n = block_ ? (kFixed + 2 * headers_ + 1) * sizeof(uint32_t) + end_offset() : 0;
    if (full_) {
      n += sizeof(OutRequest) + full_->headers.capacity() * sizeof(traffic::Header);
      auto heap = [](const std::string& x) { return x.size() > 15 ? x.capacity() + 1 : 0; };
      n += heap(full_->method) + heap(full_->path) + heap(full_->authority) + heap(full_->body);
      for (const auto& h : full_->headers) n += heap(h.name) + heap(h.value);
    }
    return n;
  }

 private:
  static constexpr size_t kFixed = 5;  // method, path, authority, body, HTTP/1.1 bytes
  uint32_t offset(size_t i) const {
    uint32_t v;
    std::memcpy(&v, block_.get() + i * sizeof(uint32_t), sizeof v);
    return v;
  }
  uint32_t end_offset() const { return offset(kFixed + 2 * headers_); }
  std::string_view field(size_t i) const {
    const char* data = block_.get() + (kFixed + 2 * headers_ + 1) * sizeof(uint32_t);
    const uint32_t a = offset(i);
    return {data + a, offset(i + 1) - a};
  }
  std::unique_ptr<char[]> block_;  // offsets (uint32_t, one per field and the end), then bytes
  std::unique_ptr<OutRequest> full_;
  uint32_t invalid_ = 0;
  uint32_t headers_ = 0;
  bool body_truncated_ = false;
};

/// One captured request, planned: sent once to every target.
struct Item {
  uint64_t origin_id = 0;
  uint64_t session = 0;         // captured session; 0: none (no order kept)
  int64_t intended = 0;         // steady ns; 0 in closed-loop mode (sent when a connection is free)
  bool wait_previous = false;   // must wait until the session's earlier requests completed
  bool warmup = false;          // sent, not counted, not recorded
  bool body_truncated = false;  // the captured body was cut
  /// The captured request, read through `request`: either `owned`, or, when the planner keeps
  /// it for --loop, the planner's copy (read-only, alive until the planner is destroyed, after
  /// the workers; `owned` is then null), so that a later pass hands over a pointer, not a
  /// copy. Out of line either way: an item is moved four or five times between the planner
  /// and the worker, and a request inline made each move one of five strings and a vector.
  const traffic::Request* request = nullptr;
  std::unique_ptr<traffic::Request> owned;
  const traffic::Request& req() const { return *request; }
  /// For a request kept by --loop, what each target (by index) is sent, when the planner had
  /// room for it (see Prepared); else null, and the worker prepares the request itself.
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
