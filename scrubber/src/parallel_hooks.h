#pragma once
// Hooks for the tests of the scrub on several threads (tests/scrubber/parallel_test.cc), to run
// the paths that real input takes rarely or never, and the same way whatever the threads' timing.
// All off in use.

#include <atomic>
#include <cstdint>

namespace twin::scrubber::testing {

struct ParallelHooks {
  // Worker w scrubs pieces w, w + threads, w + 2 × threads… of each batch, whatever the
  // threads' timing, instead of the next piece no worker has taken: which exchanges are
  // suspect is then the same from run to run.
  std::atomic<bool> pieces_in_turn{false};
  // Every suspect exchange is scrubbed again on its worker, whatever its answers were.
  std::atomic<bool> again_every_suspect{false};
  // An exchange scrubbed again whose ordinal is a multiple of this (not 0) is taken to have
  // remembered otherwise than in its first scrub: the exchanges after it in its batch are then
  // all scrubbed again by the master, in order.
  std::atomic<uint64_t> break_every{0};
};

ParallelHooks& parallel_hooks();

}  // namespace twin::scrubber::testing
