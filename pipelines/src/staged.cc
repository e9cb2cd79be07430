#include "staged.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace twin::cli {

namespace {

struct Batch {
  std::vector<traffic::Exchange> items;  // kept between uses: their strings keep their capacity
  std::vector<uint8_t> keep;             // work's answer for each item in use
  size_t size = 0;                       // items in use
};
using BatchPtr = std::unique_ptr<Batch>;

// A bounded queue of batches between two stages. abort() wakes everyone for good.
class BatchQueue {
 public:
  explicit BatchQueue(size_t capacity) : capacity_(capacity) {}

  // Blocks while full; false when aborted (the batch is dropped).
  bool push(BatchPtr b) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return aborted_ || items_.size() < capacity_; });
    if (aborted_) return false;
    items_.push_back(std::move(b));
    not_empty_.notify_one();
    return true;
  }
  // Blocks while empty and open; nullptr at the end (closed and drained) or when aborted.
  BatchPtr pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return aborted_ || closed_ || !items_.empty(); });
    if (aborted_ || items_.empty()) return nullptr;
    BatchPtr b = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return b;
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }
  void abort() {
    std::lock_guard lock(mu_);
    aborted_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<BatchPtr> items_;
  size_t capacity_;
  bool closed_ = false;
  bool aborted_ = false;
};

// Written batches, for the reader to fill again.
class BatchPool {
 public:
  BatchPtr take() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return std::make_unique<Batch>();
    BatchPtr b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void give(BatchPtr b) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::vector<BatchPtr> free_;
};

// Lets go of a string's capacity past `keep` bytes.
void trim(std::string& s, size_t keep) {
  if (s.capacity() > keep) std::string().swap(s);
}
void trim(traffic::Exchange& e, size_t keep) {
  trim(e.request.target, keep);
  trim(e.request.body, keep);
  if (e.response) trim(e.response->body, keep);
}

size_t payload_bytes(const traffic::Exchange& e) {
  size_t n = e.request.target.size() + e.request.body.size();
  if (e.response) n += e.response->body.size();
  return n;
}

StagedResult run_one_thread(traffic::Source& source, const StageWork& work, const StageWrite& write,
                            const StageTick& tick) {
  StagedResult result;
  traffic::Exchange e;
  while (true) {
    auto more = source.next(e);
    if (!more) {
      result.read_error = more.error().message;
      break;
    }
    if (!*more) break;
    ++result.read;
    const bool keep = work(e);
    if (tick) tick(result.read);
    if (!keep) continue;
    if (auto r = write(e); !r) {
      result.write_error = r.error().message;
      break;
    }
    ++result.written;
  }
  return result;
}

// Works on a batch in place and sets its keep flags.
using BatchWork = std::function<void(Batch&)>;

StagedResult run_threaded(traffic::Source& source, const BatchWork& work, const StageWrite& write,
                          const StagedOptions& options) {
  const size_t per_batch = std::max<size_t>(options.batch_exchanges, 1);
  const size_t depth = std::max<size_t>(options.depth, 1);
  // What an exchange's strings may keep of their capacity when its batch is used again: the
  // share of batch_bytes of one exchange, so that reused batches hold about batch_bytes each
  // however large the largest exchange they ever held.
  const size_t keep_capacity = std::max<size_t>(options.batch_bytes / per_batch, 4096);
  BatchQueue to_work(depth), to_write(depth);
  BatchPool pool;
  StagedResult result;
  // Each set by its own thread only, read after the joins.
  std::string read_error, write_error;
  std::exception_ptr read_exception, write_exception, work_exception;
  uint64_t written = 0;
  // Set after a write error or an exception: the reader reads no further (a read already
  // waiting on a pipe still has to return first).
  std::atomic<bool> stop{false};
  auto abort_all = [&] {
    stop.store(true);
    to_work.abort();
    to_write.abort();
  };

  std::thread reader([&] {
    BatchPtr b;
    try {
      bool done = false;
      while (!done && !stop.load()) {
        b = pool.take();
        b->size = 0;
        size_t bytes = 0;
        while (b->size < per_batch && bytes < options.batch_bytes) {
          if (stop.load()) {
            done = true;
            break;
          }
          if (b->items.size() <= b->size) b->items.emplace_back();
          traffic::Exchange& e = b->items[b->size];
          auto more = source.next(e);
          if (!more) {
            read_error = more.error().message;
            done = true;
            break;
          }
          if (!*more) {
            done = true;
            break;
          }
          bytes += payload_bytes(e);
          ++b->size;
        }
        if (b->size > 0 && !to_work.push(std::move(b))) break;
      }
    } catch (...) {
      // As a read error: what came before goes through; the exception is thrown again on the
      // calling thread at the end, as with one thread.
      read_exception = std::current_exception();
      try {
        if (b && b->size > 0) to_work.push(std::move(b));
      } catch (...) {
        abort_all();  // not even that: nothing more is written
      }
    }
    to_work.close();
  });

  std::thread writer([&] {
    try {
      while (BatchPtr b = to_write.pop()) {
        for (size_t i = 0; i < b->size; ++i) {
          if (!b->keep[i]) continue;
          if (auto r = write(b->items[i]); !r) {
            write_error = r.error().message;
            // Nothing more is written: the other stages stop where they are.
            abort_all();
            return;
          }
          ++written;
        }
        for (size_t i = 0; i < b->size; ++i) trim(b->items[i], keep_capacity);
        pool.give(std::move(b));
      }
    } catch (...) {
      write_exception = std::current_exception();
      abort_all();
    }
  });

  uint64_t worked = 0;
  try {
    while (BatchPtr b = to_work.pop()) {
      b->keep.resize(b->size);
      work(*b);
      worked += b->size;
      if (!to_write.push(std::move(b))) break;
    }
  } catch (...) {
    work_exception = std::current_exception();
    abort_all();
  }
  to_write.close();
  writer.join();
  reader.join();
  for (const auto& e : {work_exception, write_exception, read_exception}) {
    if (e) std::rethrow_exception(e);
  }
  result.read = worked;
  result.written = written;
  result.read_error = std::move(read_error);
  result.write_error = std::move(write_error);
  return result;
}

}  // namespace

StagedResult run_staged(traffic::Source& source, const StageWork& work, const StageWrite& write,
                        const StagedOptions& options, const StageTick& tick) {
  if (options.threads <= 1) return run_one_thread(source, work, write, tick);
  uint64_t worked = 0;
  return run_threaded(
      source,
      [&](Batch& b) {
        for (size_t i = 0; i < b.size; ++i) {
          b.keep[i] = work(b.items[i]) ? 1 : 0;
          if (tick) tick(++worked);
        }
      },
      write, options);
}

StagedResult run_staged_batches(traffic::Source& source, const StageBatchWork& work,
                                const StageWrite& write, const StagedOptions& options,
                                const StageTick& tick) {
  if (options.threads <= 1) {
    return run_one_thread(
        source,
        [&](traffic::Exchange& e) {
          work(std::span<traffic::Exchange>(&e, 1));
          return true;
        },
        write, tick);
  }
  uint64_t worked = 0;
  return run_threaded(
      source,
      [&](Batch& b) {
        work(std::span<traffic::Exchange>(b.items.data(), b.size));
        std::fill(b.keep.begin(), b.keep.end(), uint8_t{1});
        worked += b.size;
        if (tick) tick(worked);
      },
      write, options);
}

int usable_cores() {
  // The cores this process may run on (taskset, a cgroup's cpuset), not the machine's.
  cpu_set_t set;
  CPU_ZERO(&set);
  const int usable = sched_getaffinity(0, sizeof set, &set) == 0
                         ? CPU_COUNT(&set)
                         : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(usable, 1);
}

int default_stage_threads() { return usable_cores() > 1 ? 3 : 1; }

}  // namespace twin::cli
