#pragma once
// The comparator: reads result archives, pairs the responses of each captured exchange across
// targets (by origin_id), groups them by route, and decides with the gate whether the candidate
// is slower, fails more or answers differently than the baseline.
//
// Memory does not grow with the number of exchanges: archives are streamed and merged by time,
// a response waits for its partner in a bounded window (evictions are counted), and every
// statistic is a bounded summary (block series of sparse histograms, capped tallies).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "twin/compare/diff.h"
#include "twin/compare/report.h"
#include "twin/compare/route.h"
#include "twin/compare/stats.h"
#include "twin/traffic/result.h"

namespace twin::compare {

/// What fails the gate, and how sure the comparator must be. Read from a YAML gate file
/// (docs/compare.md); every field has a default, so no file is needed.
struct Gate {
  /// False-discovery rate over all the statistical checks of a run (Benjamini-Hochberg).
  double alpha = 0.01;

  struct Quantile {
    std::string name;       // "p99"
    double q = 0;           // 0.99
    double min_effect = 0;  // the smallest slowdown that matters: 0.10 = +10 %
    /// ... and in absolute terms: below this, a difference is within the jitter of a replayer and
    /// a network (a 0.2 ms answer taking 0.25 ms is +25 %, and nothing an SRE acts on).
    double min_delta_ms = 0.5;
    uint64_t min_count = 0;  // fewer paired requests on a route: "insufficient"
  };
  std::vector<Quantile> quantiles = {
      {"p50", 0.50, 0.10, 0.5, 20},
      {"p90", 0.90, 0.10, 0.5, 100},
      {"p99", 0.99, 0.10, 0.5, 1000},
      {"p99.9", 0.999, 0.20, 0.5, 10000},
  };
  /// Fewer non-empty time blocks than this: the bootstrap has too little to resample.
  size_t min_blocks = kMinBootstrapBlocks;
  int64_t block_ns = 10'000'000;  // finest time block (blocks widen as the run grows)
  size_t max_blocks = 128;
  int resamples = 1000;
  uint64_t seed = 1;
  /// false: latency is shown, not gated. Set automatically when the baseline is a capture.
  bool latency_gated = true;

  /// Error rates: a regression needs significance and at least this rise of the rate (absolute
  /// share: 0.001 = +0.1 percentage point).
  double error_min_effect = 0.001;
  /// A class of error the baseline never showed on a route fails the gate (otherwise: warned).
  bool fail_on_new_error_class = false;
  /// Status mismatches (both answered, with different statuses): significance and this share.
  double status_min_effect = 0.001;
  /// Body (and header) differences: reported fields fail the gate (otherwise: warned).
  bool fail_on_diffs = true;
  DiffOptions diff;
  NoiseOptions noise;

  RouteOptions routes;
  /// Routes left out of every check ("GET /health", "* /metrics/**"): method or *, then a route
  /// pattern as in RouteOverride.
  std::vector<std::string> skip;
};

/// Reads a gate file. Errors name the file, line and column ("gate.yaml:4:7: …").
Result<Gate> load_gate(const std::string& path);
/// The same from text; `name` is used in messages.
Result<Gate> parse_gate(const std::string& text, const std::string& name);

struct CompareOptions {
  std::vector<std::string> inputs;  // result archives (and/or a captured archive)
  std::string baseline;             // target name; "capture" names a captured archive's exchanges
  std::string candidate;
  std::string noise;  // optional second baseline target for noise cancellation
  Gate gate;
  std::string gate_path;  // for the report
  /// Responses waiting for their partners; beyond either bound the oldest is given up (counted).
  size_t max_pending = 200'000;
  size_t max_pending_bytes = size_t{512} << 20;
  /// Called every so often with the exchanges read so far (progress display).
  std::function<void(uint64_t)> progress;
};

/// The name under which exchanges of a capture (empty `target`) are compared.
inline constexpr const char* kCaptureTarget = "capture";

/// Runs the comparison. Fails (an Error) only when an input cannot be read at all or the
/// options are contradictory; damage inside an archive is counted and noted in the report.
Result<Report> compare(const CompareOptions& options);

}  // namespace twin::compare
