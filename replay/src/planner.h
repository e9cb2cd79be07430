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
  /// Bytes of the --loop cache's requests and of their Prepared (read after run() returned).
  size_t cache_bytes() const { return cache_bytes_; }
  size_t prepared_bytes() const { return prepared_bytes_; }

 private:
  static constexpr size_t kSessionSlots = 1 << 16;
  struct SessionSlot {
    uint64_t session = 0;
    int64_t last_end = traffic::kNoTime;
  };

  // What plan() reads of an exchange. Kept from the first pass for the later ones of --loop
  // (cache_), where the items handed to the workers point at `request`.
  struct Cached {
    traffic::Request request;
    uint64_t id = 0;
    uint64_t session = 0;
    int64_t request_start = traffic::kNoTime;
    int64_t response_end = traffic::kNoTime;
    uint32_t flags = 0;
    bool has_response = false;
    // What each target is sent (Prepared), built the first time it is planned, or left null
    // when it did not fit the budget or its body is large.
    std::unique_ptr<Prepared[]> prepared;
    bool prepare_tried = false;
  };

  bool stopped() const { return stop_.load(std::memory_order_relaxed); }
  bool keep(const Cached& c);
  Result<void> pass(traffic::Reader& reader);
  void pass_from_memory();
  Cached* remember(traffic::Exchange& e);
  void end_pass();
  // `shared`: `c` is in cache_, and the item points at its request; else the request is
  // moved into the item (and `c.request` refilled from spare_).
  void plan(Cached& c, bool shared);
  void prepare_kept(Cached& c, bool truncated);
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

  // The first pass's exchanges, in the order plan() saw them, in chunks that never move:
  // items in flight point into them, so nothing here is freed before the planner is (past
  // the budget the cache stops growing and is kept, unused, until then). The budget counts
  // the slots used; the last chunk's unused slots (under 1,024) come on top.
  static constexpr size_t kChunkBits = 10;
  std::vector<std::unique_ptr<Cached[]>> cache_;
  size_t cached_ = 0;
  size_t cache_bytes_ = 0;
  size_t prepared_bytes_ = 0;   // Cached::prepared, within a budget of its own of the same size
  bool prepared_full_ = false;  // that budget was reached
  Cached scratch_;              // an exchange not kept, on its way to plan()
  bool caching_ = false;        // the first pass is being kept
  bool cache_full_ = false;     // it was kept whole: later passes read it instead of the input
};

}  // namespace twin::replay::detail
