// run_staged (pipelines/src/staged.h): the exchanges come out in order, each worked on once on
// the calling thread, with one thread and with three; what the work does not keep is not
// written; a read error lets everything before it through; a write error stops all three stages
// without a hang; an exception in any stage comes back to the caller after the others stopped; a
// slow writer does not let the reader run ahead past the queues' bound; and reused exchanges do
// not keep a large body's capacity.

#include "staged.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace twin::cli {
namespace {

/// Exchanges 1..n (the id), each with a body of `body` bytes; an error in place of exchange
/// `fail_at` (0: none). Counts what it has handed out.
class FakeSource : public traffic::Source {
 public:
  FakeSource(uint64_t n, uint64_t fail_at = 0, size_t body = 10)
      : n_(n), fail_at_(fail_at), body_(body) {}
  Result<bool> next(traffic::Exchange& out) override {
    if (on_read) on_read(read_);
    most_capacity = std::max(most_capacity, out.request.body.capacity());
    if (throw_at != 0 && read_ + 1 == throw_at) throw std::runtime_error("source exploded");
    if (fail_at_ != 0 && read_ + 1 == fail_at_) {
      return fail("fake.twin: bad block at exchange " + std::to_string(fail_at_));
    }
    if (read_ == n_) return false;
    out = traffic::Exchange{};
    out.id = ++read_;
    out.request.target = "/x/" + std::to_string(out.id);
    out.request.body.assign(body_, 'b');
    return true;
  }
  std::atomic<uint64_t> read_{0};
  std::function<void(uint64_t)> on_read;
  uint64_t throw_at = 0;     // next() throws in place of this exchange
  size_t most_capacity = 0;  // the largest body capacity an exchange to fill arrived with

 private:
  uint64_t n_, fail_at_;
  size_t body_;
};

struct Seen {
  std::vector<uint64_t> worked, written;
  std::vector<std::string> targets;  // as written: the work's change must be there
  bool off_thread_work = false;
};

StagedResult run(FakeSource& src, Seen& seen, int threads, uint64_t fail_write_at = 0,
                 StagedOptions o = {}) {
  const auto caller = std::this_thread::get_id();
  o.threads = threads;
  return run_staged(
      src,
      [&](traffic::Exchange& e) {
        if (std::this_thread::get_id() != caller) seen.off_thread_work = true;
        seen.worked.push_back(e.id);
        e.request.target += "?w";
        return true;
      },
      [&](const traffic::Exchange& e) -> Result<void> {
        if (fail_write_at != 0 && e.id == fail_write_at) return fail("out.twin: disk full");
        seen.written.push_back(e.id);
        seen.targets.push_back(e.request.target);
        return {};
      },
      o);
}

std::vector<uint64_t> ids(uint64_t from, uint64_t to) {
  std::vector<uint64_t> v;
  for (uint64_t i = from; i <= to; ++i) v.push_back(i);
  return v;
}

TEST(Staged, InOrderOnceEachOnTheCallingThread) {
  for (int threads : {1, 2, 3, 8}) {
    for (uint64_t n : {0u, 1u, 63u, 64u, 65u, 1000u}) {
      FakeSource src(n);
      Seen seen;
      StagedOptions o;
      o.batch_exchanges = 64;
      auto r = run(src, seen, threads, 0, o);
      EXPECT_EQ(r.written, n) << threads << " " << n;
      EXPECT_TRUE(r.read_error.empty());
      EXPECT_TRUE(r.write_error.empty());
      EXPECT_EQ(seen.worked, ids(1, n)) << threads << " " << n;
      EXPECT_EQ(seen.written, ids(1, n)) << threads << " " << n;
      EXPECT_FALSE(seen.off_thread_work);
      for (size_t i = 0; i < seen.targets.size(); ++i) {
        ASSERT_EQ(seen.targets[i], "/x/" + std::to_string(i + 1) + "?w");
      }
    }
  }
}

TEST(Staged, WhatWorkDoesNotKeepIsNotWritten) {
  for (int threads : {1, 3}) {
    FakeSource src(1000);
    std::vector<uint64_t> written;
    StagedOptions o;
    o.threads = threads;
    auto r = run_staged(
        src, [](traffic::Exchange& e) { return e.id % 3 == 0; },
        [&](const traffic::Exchange& e) -> Result<void> {
          written.push_back(e.id);
          return {};
        },
        o);
    EXPECT_EQ(r.read, 1000u) << threads;
    EXPECT_EQ(r.written, 333u) << threads;
    std::vector<uint64_t> want;
    for (uint64_t i = 3; i <= 1000; i += 3) want.push_back(i);
    EXPECT_EQ(written, want) << threads;
  }
}

TEST(Staged, ABatchClosesAtItsByteBound) {
  // 100 exchanges of 300 KiB bodies with a 1 MiB bound: 4 to a batch, all of them through.
  FakeSource src(100, 0, 300 << 10);
  Seen seen;
  StagedOptions o;
  o.batch_bytes = 1 << 20;
  std::atomic<uint64_t> written{0};
  uint64_t most_ahead = 0;
  src.on_read = [&](uint64_t read) { most_ahead = std::max(most_ahead, read - written.load()); };
  auto r = run_staged(
      src, [](traffic::Exchange&) { return true; },
      [&](const traffic::Exchange&) -> Result<void> {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        ++written;
        return {};
      },
      [&] {
        o.threads = 3;
        return o;
      }());
  EXPECT_EQ(r.written, 100u);
  // Batches of 4 (the one that passes the bound included), at most 2 × 4 + 3 of them read and
  // not yet written.
  EXPECT_LE(most_ahead, (2 * 4 + 3) * 4u);
}

TEST(Staged, ASlowWriterHoldsTheReaderBack) {
  FakeSource src(5000);
  std::atomic<uint64_t> written{0};
  uint64_t most_ahead = 0;
  src.on_read = [&](uint64_t read) { most_ahead = std::max(most_ahead, read - written.load()); };
  StagedOptions o;
  o.threads = 3;
  o.batch_exchanges = 16;
  o.depth = 2;
  auto r = run_staged(
      src, [](traffic::Exchange&) { return true; },
      [&](const traffic::Exchange& e) -> Result<void> {
        if (e.id % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
        ++written;
        return {};
      },
      o);
  EXPECT_EQ(r.written, 5000u);
  // Two queues of 2 batches, one batch in each stage's hands, one being filled: 7 × 16.
  EXPECT_LE(most_ahead, (2 * 2 + 3) * 16u);
  EXPECT_GE(most_ahead, 16u);  // the reader did run ahead (the stages overlap)
}

TEST(Staged, AReadErrorLetsEverythingBeforeItThrough) {
  for (int threads : {1, 3}) {
    for (uint64_t fail_at : {1u, 2u, 64u, 65u, 500u}) {
      FakeSource src(1000, fail_at);
      Seen seen;
      auto r = run(src, seen, threads);
      EXPECT_EQ(r.read_error, "fake.twin: bad block at exchange " + std::to_string(fail_at));
      EXPECT_EQ(r.written, fail_at - 1);
      EXPECT_EQ(r.read, fail_at - 1);
      EXPECT_EQ(seen.worked, ids(1, fail_at - 1)) << threads << " " << fail_at;
      EXPECT_EQ(seen.written, ids(1, fail_at - 1)) << threads << " " << fail_at;
      EXPECT_TRUE(r.write_error.empty());
    }
  }
}

TEST(Staged, AWriteErrorStopsEveryStage) {
  for (int threads : {1, 3}) {
    for (uint64_t fail_at : {1u, 30u, 64u, 65u, 700u}) {
      FakeSource src(100000, 0);
      Seen seen;
      StagedOptions o;
      o.batch_exchanges = 64;
      o.depth = 4;
      auto r = run(src, seen, threads, fail_at, o);
      EXPECT_EQ(r.write_error, "out.twin: disk full");
      EXPECT_EQ(r.written, fail_at - 1);
      EXPECT_EQ(seen.written, ids(1, fail_at - 1)) << threads << " " << fail_at;
      // The reader stopped within the queues' bound, not at the end of the input.
      EXPECT_LE(src.read_.load(), fail_at + (2 * 4 + 3) * 64u) << threads << " " << fail_at;
      if (threads == 1) {
        EXPECT_EQ(src.read_.load(), fail_at);
      }
    }
  }
}

TEST(Staged, AnExceptionInAnyStageComesBackToTheCaller) {
  for (int threads : {1, 3}) {
    {  // the source: everything before it is written, as with a read error
      FakeSource src(1000);
      src.throw_at = 300;
      Seen seen;
      EXPECT_THROW(run(src, seen, threads), std::runtime_error) << threads;
      EXPECT_EQ(seen.written, ids(1, 299)) << threads;
    }
    {  // the work
      FakeSource src(100000);
      std::vector<uint64_t> written;
      StagedOptions o;
      o.threads = threads;
      EXPECT_THROW(run_staged(
                       src,
                       [](traffic::Exchange& e) {
                         if (e.id == 500) throw std::runtime_error("work exploded");
                         return true;
                       },
                       [&](const traffic::Exchange& e) -> Result<void> {
                         written.push_back(e.id);
                         return {};
                       },
                       o),
                   std::runtime_error)
          << threads;
      EXPECT_LE(written.size(), 499u);
      EXPECT_LE(src.read_.load(), 500u + (2 * 4 + 3) * 64u);
    }
    {  // the writer
      FakeSource src(100000);
      StagedOptions o;
      o.threads = threads;
      EXPECT_THROW(run_staged(
                       src, [](traffic::Exchange&) { return true; },
                       [&](const traffic::Exchange& e) -> Result<void> {
                         if (e.id == 700) throw std::runtime_error("disk exploded");
                         return {};
                       },
                       o),
                   std::runtime_error)
          << threads;
      EXPECT_LE(src.read_.load(), 700u + (2 * 4 + 3) * 64u);
    }
  }
}

TEST(Staged, ReusedExchangesDoNotKeepALargeBodysCapacity) {
  // Every 10th exchange has a 900 KB body; the others 10 bytes. An exchange coming back to be
  // filled again holds at most batch_bytes / batch_exchanges (16 KiB) of body capacity.
  class Mixed : public FakeSource {
   public:
    Mixed() : FakeSource(3000) {}
    Result<bool> next(traffic::Exchange& out) override {
      auto r = FakeSource::next(out);
      if (r && *r && out.id % 10 == 0) out.request.body.assign(900'000, 'B');
      return r;
    }
  } src;
  Seen seen;
  auto r = run(src, seen, 3);
  EXPECT_EQ(r.written, 3000u);
  EXPECT_LE(src.most_capacity, size_t{16} << 10);
}

}  // namespace
}  // namespace twin::cli

namespace twin::cli {
namespace {

// run_staged_batches: the work gets the exchanges in order, in batches of at most the option's
// size (of one with one thread), on the calling thread; every exchange it changed is written,
// in order; the progress tick counts them.
TEST(StagedBatches, WorkSeesOrderedBatchesAndEverythingIsWritten) {
  for (int threads : {1, 3}) {
    FakeSource src(1000);
    StagedOptions o;
    o.threads = threads;
    o.batch_exchanges = 48;
    const auto caller = std::this_thread::get_id();
    std::vector<uint64_t> worked, written;
    size_t largest = 0;
    uint64_t ticked = 0;
    bool off_thread = false;
    const StagedResult r = run_staged_batches(
        src,
        [&](std::span<traffic::Exchange> batch) {
          if (std::this_thread::get_id() != caller) off_thread = true;
          largest = std::max(largest, batch.size());
          for (auto& e : batch) {
            worked.push_back(e.id);
            e.request.target += "?b";
          }
        },
        [&](const traffic::Exchange& e) -> Result<void> {
          if (!e.request.target.ends_with("?b")) return fail("not worked on");
          written.push_back(e.id);
          return {};
        },
        o, [&](uint64_t n) { ticked = n; });
    EXPECT_EQ(r.read, 1000u) << threads;
    EXPECT_EQ(r.written, 1000u) << threads;
    EXPECT_TRUE(r.write_error.empty()) << r.write_error;
    EXPECT_EQ(worked, ids(1, 1000)) << threads;
    EXPECT_EQ(written, ids(1, 1000)) << threads;
    EXPECT_EQ(ticked, 1000u) << threads;
    EXPECT_FALSE(off_thread);
    EXPECT_EQ(largest, threads == 1 ? 1u : 48u) << threads;
  }
}

}  // namespace
}  // namespace twin::cli
