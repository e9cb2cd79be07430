#pragma once
// Reading, working on and writing a stream of exchanges as three stages on threads of their own
// (`twin scrub`, `twin convert`, `twin filter`): reading a .twin file is zstd decompression and
// decoding, writing one encoding and zstd compression, and on their own threads neither waits for
// the other nor for the scrub between them. The work stage stays on the calling thread and sees the
// exchanges one at a time in file order, as with one thread: the scrubber's memory of values is
// an ordered thing, and the output is the same byte for byte whatever the thread count.
//
// Exchanges travel in batches (at most `batch_exchanges` of them, or past `batch_bytes` of
// target and bodies) through two queues of at most `depth` batches each, and batches are used
// again once written, their exchanges' strings trimmed to batch_bytes / batch_exchanges of
// capacity each: memory stays bounded by about 2 × depth + 3 batches of batch_bytes (and the
// exchanges that pass it) whatever the speed of each stage.
//
// A read error ends the reading: what came before is worked on and written. A write error stops
// every stage (the reader once its current read returns: one waiting on a pipe waits for it).
// An exception in any stage does the same and is thrown again on the calling thread once the
// others have stopped, after what was read before it was written when it came from the reader.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "twin/traffic/convert.h"
#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::cli {

struct StagedOptions {
  /// 1: everything on the calling thread, one exchange after another. 2 or more: reading and
  /// writing on threads of their own (three threads in all; more are not used).
  int threads = 1;
  size_t batch_exchanges = 64;
  size_t batch_bytes = size_t{1} << 20;
  size_t depth = 4;
};

struct StagedResult {
  uint64_t read = 0;        // read and worked on
  uint64_t written = 0;     // of which written (work kept them)
  std::string read_error;   // the source's error: everything read before it went through
  std::string write_error;  // the first write error: nothing was written after it
};

/// Works on an exchange in place; returns whether it is to be written.
using StageWork = std::function<bool(traffic::Exchange&)>;
using StageWrite = std::function<Result<void>(const traffic::Exchange&)>;
/// Called on the calling thread after each exchange worked on, with the count so far.
using StageTick = std::function<void(uint64_t)>;

/// Reads `source` to its end (or its first error), calls `work` on each exchange in order on
/// the calling thread, and `write` in order on each that work kept; stops at the first write
/// error.
StagedResult run_staged(traffic::Source& source, const StageWork& work, const StageWrite& write,
                        const StagedOptions& options, const StageTick& tick = {});

/// Works on a batch of exchanges in place, in order; every one is written.
using StageBatchWork = std::function<void(std::span<traffic::Exchange>)>;

/// run_staged() with the work done a batch at a time (on the calling thread; the work may
/// spread a batch over threads of its own). With options.threads 1, batches of one exchange.
StagedResult run_staged_batches(traffic::Source& source, const StageBatchWork& work,
                                const StageWrite& write, const StagedOptions& options,
                                const StageTick& tick = {});

/// The default of --threads: 3 when this process may run on more than one core (its CPU
/// affinity: taskset, a cgroup's cpuset), else 1.
int default_stage_threads();

/// The cores this process may run on (its CPU affinity), at least 1.
int usable_cores();

}  // namespace twin::cli
