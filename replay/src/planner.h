#pragma once
// Internal: the planner thread (planner.cc).

#include <atomic>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "plan.h"
#include "twin/traffic/archive.h"

namespace twin::replay::detail {

class Planner {
 public:
  /// `start` is the steady instant of the schedule's zero; negative: when the first request
  /// is planned (start() tells it then). `inboxes` has one per worker.
  Planner(const Options& options, std::vector<Inbox>& inboxes, int64_t start,
          std::atomic<bool>& stop);
  /// Called after items were handed to a worker, so that it looks at its inbox.
  void on_wake(std::function<void(size_t)> wake) { wake_ = std::move(wake); }
  /// Reads and plans the whole input (with its loops); returns when everything is handed over
  /// or the run is stopped. An error only when the input cannot be read at all.
  Result<void> run();

  /// The schedule's zero, once known (started()).
  int64_t start() const { return start_; }
  bool started() const { return started_.load(std::memory_order_acquire); }
  uint64_t planned() const { return planned_.load(std::memory_order_relaxed); }
  uint64_t total_hint() const { return total_; }
  uint64_t skipped_filtered() const { return skipped_filtered_.load(); }
  uint64_t skipped_truncated() const { return skipped_truncated_.load(); }
  uint64_t skipped_no_request() const { return skipped_no_request_.load(); }
  uint64_t loops() const { return loops_.load(); }
  /// Passes after the first that were planned from memory (Options::loop_cache_bytes).
  uint64_t loops_from_memory() const { return loops_from_memory_.load(); }
  uint64_t damage() const { return damage_.load(); }
  /// Bytes of the --loop cache (read after run() returned): its slots and the requests kept
  /// whole, and the prepared forms of the others (together at most Options::loop_cache_bytes).
  size_t cache_bytes() const { return cache_bytes_; }
  size_t prepared_bytes() const { return arena_.bytes(); }

 private:
  static constexpr size_t kSessionSlots = 1 << 16;
  struct SessionSlot {
    uint64_t session = 0;
    int64_t last_end = traffic::kNoTime;
  };

  // What plan() reads of an exchange besides its request.
  struct Meta {
    uint64_t id = 0;
    uint64_t session = 0;
    int64_t request_start = traffic::kNoTime;
    int64_t response_end = traffic::kNoTime;
    uint32_t flags = 0;
    bool has_response = false;
  };
  // Why the first pass did not plan an exchange; a later pass counts it again.
  enum class Skip : uint8_t { kNone, kNoRequest, kFiltered, kTruncated };
  // An exchange of the first pass kept for the later ones of --loop (cache_): what plan()
  // reads, and either what each target is sent (`prepared`, one per target, in arena_: the
  // request itself is then not kept) or the request whole (`whole`, in whole_: no target, a
  // body over kPreparedBody, a head over kPreparedHead), which items point at. 64 bytes.
  struct Cached : Meta {
    const traffic::Request* whole = nullptr;
    const Prepared* prepared = nullptr;
    Skip skip = Skip::kNone;
    bool head = false;  // a HEAD request
  };

  bool stopped() const { return stop_.load(std::memory_order_relaxed); }
  bool keep(const Meta& m, const traffic::Request& r);
  // Why `r` is not planned (counted by count()), or Skip::kNone.
  Skip check(const Meta& m, const traffic::Request& r);
  void count(Skip skip);
  Result<void> pass(traffic::Reader& reader);
  void pass_from_memory();
  // Keeps `e` in cache_ while the budget allows (its request moved out when kept whole);
  // nullptr past the budget (and caching_ is then off).
  Cached* remember(traffic::Exchange& e);
  void end_pass();
  // Plans a request: `m` gets its intended instant, session order and worker; the item is
  // handed over, or (end of the run) dropped. `item` has its request already.
  void plan(const Meta& m, Item&& item);
  void plan_cached(const Cached& c);
  void flush(size_t worker);
  void flush_all();

  const Options& options_;
  std::vector<Inbox>& inboxes_;
  std::vector<std::vector<Item>> pending_ = std::vector<std::vector<Item>>(inboxes_.size());
  std::vector<std::unique_ptr<traffic::Request>> spare_;  // from the workers (Inbox::spare)
  void set_start(int64_t start);
  int64_t start_ = 0;
  std::atomic<bool> started_{false};
  int64_t end_ = 0;
  int64_t warmup_end_ = 0;
  std::atomic<bool>& stop_;
  std::function<void(size_t)> wake_;
  size_t per_worker_limit_ = 0;
  std::vector<SessionSlot> sessions_;

  int64_t t0_ = traffic::kNoTime;  // the first captured instant
  int64_t first_capture_ = traffic::kNoTime;
  int64_t last_capture_ = traffic::kNoTime;
  int64_t pass_offset_ = 0;
  uint64_t pass_ = 0;
  uint64_t planned_in_pass_ = 0;
  uint64_t planned_total_ = 0;
  double rate_clock_ = 0;
  std::mt19937_64 rng_{options_.seed};
  bool done_ = false;
  uint64_t total_ = 0;

  std::atomic<uint64_t> planned_{0};
  std::atomic<uint64_t> skipped_filtered_{0};
  std::atomic<uint64_t> skipped_truncated_{0};
  std::atomic<uint64_t> skipped_no_request_{0};
  std::atomic<uint64_t> loops_{0};
  std::atomic<uint64_t> loops_from_memory_{0};
  std::atomic<uint64_t> damage_{0};

  // The first pass's exchanges, in the order plan() saw them, in chunks that never move, with
  // what they point at (arena_, whole_): items in flight point into them, so nothing here is
  // freed before the planner is (past the budget the cache stops growing and is kept, unused,
  // until then). The budget counts the slots used, the prepared forms and the whole requests;
  // the last chunks' unused room (under 1,024 slots and 1 MiB) comes on top.
  static constexpr size_t kChunkBits = 10;
  std::vector<std::unique_ptr<Cached[]>> cache_;
  size_t cached_ = 0;
  Arena arena_;
  std::vector<std::unique_ptr<traffic::Request>> whole_;
  size_t cache_bytes_ = 0;  // slots and whole requests
  // remember()'s scratch: a request as each target is sent it, before it is known to fit.
  struct Out {
    OutRequest r;
    std::string wire;
    uint32_t invalid = 0;
  };
  std::vector<Out> outs_;
  bool caching_ = false;     // the first pass is being kept
  bool cache_full_ = false;  // it was kept whole: later passes read it instead of the input
};

}  // namespace twin::replay::detail
