#pragma once
// Internal: what the planner (reader thread) hands to a worker, and the clock both use.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

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
struct Prepared {
  OutRequest request;
  std::string http1;     // empty for a target that speaks HTTP/2 only (h2c://, h2://)
  uint32_t invalid = 0;  // captured headers prepare() left out, counted at every send
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
