#include "staged.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
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

}  // namespace

StagedResult run_staged(traffic::Source& source, const StageWork& work, const StageWrite& write,
                        const StagedOptions& options, const StageTick& tick) {
  if (options.threads <= 1) return run_one_thread(source, work, write, tick);

  const size_t per_batch = std::max<size_t>(options.batch_exchanges, 1);
  const size_t depth = std::max<size_t>(options.depth, 1);
  BatchQueue to_work(depth), to_write(depth);
  BatchPool pool;
  StagedResult result;
  std::string read_error, write_error;  // each set by its own thread only, read after join
  uint64_t written = 0;

  std::thread reader([&] {
    bool done = false;
    while (!done) {
      BatchPtr b = pool.take();
      b->size = 0;
      size_t bytes = 0;
      while (b->size < per_batch && bytes < options.batch_bytes) {
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
    to_work.close();
  });

  std::thread writer([&] {
    while (BatchPtr b = to_write.pop()) {
      for (size_t i = 0; i < b->size; ++i) {
        if (!b->keep[i]) continue;
        if (auto r = write(b->items[i]); !r) {
          write_error = r.error().message;
          // Nothing more is written: the other stages stop where they are.
          to_work.abort();
          to_write.abort();
          return;
        }
        ++written;
      }
      pool.give(std::move(b));
    }
  });

  uint64_t worked = 0;
  while (BatchPtr b = to_work.pop()) {
    b->keep.resize(b->size);
    for (size_t i = 0; i < b->size; ++i) {
      b->keep[i] = work(b->items[i]) ? 1 : 0;
      ++worked;
      if (tick) tick(worked);
    }
    if (!to_write.push(std::move(b))) break;
  }
  to_write.close();
  writer.join();
  reader.join();
  result.read = worked;
  result.written = written;
  result.read_error = std::move(read_error);
  result.write_error = std::move(write_error);
  return result;
}

int default_stage_threads() { return std::thread::hardware_concurrency() > 1 ? 3 : 1; }

}  // namespace twin::cli
