#pragma once
// `twin replay`: the captured exchanges of an archive sent to one or more targets on a schedule,
// every response recorded into a results archive, with latency measured from the instant each
// request was meant to be sent (free of coordinated omission).
//
// Threads (DESIGN.md, after h2load): one reader thread streams the input archive and plans each
// request's intended instant; `threads` workers, each with its own io_context, own every
// connection of the captured sessions hashed to them and their own statistics; one writer thread
// appends the results. Statistics merge after the workers stop. Memory is bounded by the
// look-ahead (`max_ahead`), the connection limits and the result queue, never by the input or by
// what the targets do.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "twin/replay/target.h"
#include "twin/traffic/histogram.h"
#include "twin/traffic/result.h"

namespace twin::replay {

enum class Mode : uint8_t {
  kFaithful,  // captured inter-arrival times divided by `speed`
  kRate,      // a fixed rate, uniform or Poisson
  kMax,       // closed loop: `connections` per target, each sends as soon as it is free
};

struct TlsOptions {
  bool insecure = false;  // accept any certificate (self-signed test targets)
  std::string ca_file;    // trust these CAs instead of the system's
  std::string cert_file;  // client certificate (PEM) and its key
  std::string key_file;
};

struct Filter {
  std::vector<std::string> methods;  // upper case; empty = all
  std::vector<std::string> routes;   // globs on the path without query ('*' within a segment,
                                     // '**' across segments); empty = all
  int64_t from = traffic::kNoTime;   // capture-time window [from, until), ns since the epoch
  int64_t until = traffic::kNoTime;
  double from_offset = -1;  // or seconds after the capture's first request (>= 0)
  double until_offset = -1;
  double sample = 1.0;  // fraction of captured sessions kept, chosen by a keyed hash
  uint64_t sample_seed = 0;
};

/// Whether `path` (without its query) matches the route glob `pattern`: '*' matches within one
/// path segment, '**' across segments; no other character is special. Used by Filter::routes and
/// by `twin filter`'s route= selector, so that both read a glob alike.
bool route_match(std::string_view pattern, std::string_view path);

/// The path a route glob is matched against: the request target without its query or fragment,
/// an absolute-form target ("http://h/p") reduced to its path ("/p", "/" when it has none).
std::string_view route_path(std::string_view target);

/// Whether Filter::sample keeps captured session `session`: a keyed hash (XXH3 of {session,
/// seed}) below `fraction`, so the same sessions are kept in every run and by every command
/// (`twin replay --sample`, `twin filter --sample`).
bool sample_keeps(uint64_t session, double fraction, uint64_t seed);

struct Options {
  std::string input;
  std::string output;  // results archive; empty = none (statistics only)
  std::vector<Target> targets;
  Rewrite rewrite;
  Filter filter;
  TlsOptions tls;

  Mode mode = Mode::kFaithful;
  double speed = 1.0;  // kFaithful
  double rate = 0;     // kRate: requests/s
  bool poisson = false;
  uint64_t seed = 1;       // Poisson arrivals
  size_t connections = 0;  // kMax: per target (0 = 64)
  size_t streams = 1;      // kMax: concurrent streams per HTTP/2 connection (h2load -m)
  double duration = 0;     // seconds; 0 = until the input (and its loops) are done
  bool loop = false;       // start the input over when it ends (with --duration: soak)
  /// With `loop`: the first pass's requests are kept in memory, each as it is sent to each
  /// target, when they take at most this many bytes, and later passes plan from there instead
  /// of reading, decoding and preparing again (a third of the planner's work per request and
  /// a sixth of a worker's, on the cores that send). Workers are handed pointers to what is
  /// kept, never copies; past the budget, what was kept stays allocated (items in flight point
  /// into it) until the run ends. 0: never.
  size_t loop_cache_bytes = size_t{64} << 20;
  double warmup = 0;       // seconds at the start whose results are sent but not counted
  bool keep_order = true;  // a captured session's request waits for its predecessor
  size_t threads = 0;      // 0 = hardware concurrency

  size_t max_body = 1 << 20;  // response and request body bytes kept per recorded exchange
  double timeout = 30;        // seconds per request (from its send) before ErrorKind::kTimeout
  double connect_timeout = 10;
  size_t max_connections = 20000;  // per target, all workers together
  /// Connections per target (all workers together) opened before the schedule starts, so that
  /// its first requests do not each wait for a connection of their own: at 20,000 requests/s a
  /// cold --no-order start opened 400 connections in its first 50 ms and sent 11 ms late.
  /// -1: 32 (HTTP/2: one per worker) with keep_order off, else none. Not used with kMax.
  int64_t preconnect = -1;
  /// Requests planned ahead of the clock at most (bounds the reader's memory), and how far.
  /// 0.1 s, not more: at the start the planner reads that much input at once, on cores the
  /// workers (and a local target) share; a second's worth (20,000 requests at 20,000/s) slowed
  /// the first 0.3 s of a --no-order replay so that it opened 2,000 connections and fell 70 ms
  /// behind (bench/README.md, send lag).
  size_t max_ahead = 65536;
  double ahead_seconds = 0.1;
  /// Requests allowed to wait for a connection or their session's turn, per worker; above it
  /// they fail at once with ErrorKind::kCancelled and are counted as overflow.
  size_t max_waiting = 100000;
  bool skip_truncated = true;  // captured requests whose body was cut are not sent (counted)
  nlohmann::json extra_metadata = nlohmann::json::object();
};

/// Per target, merged over workers.
struct TargetStats {
  std::string name;
  uint64_t sent = 0;                         // requests written to the target
  uint64_t completed = 0;                    // responses received whole
  uint64_t warmup = 0;                       // exchanges of the warm-up, not in the numbers below
  std::map<std::string, uint64_t> errors;    // by traffic::ErrorKind name
  std::map<std::string, uint64_t> statuses;  // "2xx", "4xx", … of completed responses
  uint64_t connections_opened = 0;
  uint64_t connections_failed = 0;
  uint64_t preconnected = 0;  // of connections_opened: opened before the schedule started
  uint64_t response_bytes = 0;
  uint64_t truncated_bodies = 0;  // kept bodies cut at max_body
  uint64_t held_by_order = 0;     // sends that waited for their session's previous request
  uint64_t waited_for_connection = 0;
  uint64_t overflow = 0;         // requests failed because too many were waiting
  uint64_t invalid_headers = 0;  // captured headers no client may send, left out
  traffic::Histogram latency;    // ns, from the intended instant to the last response byte
  traffic::Histogram service;    // ns, from the actual send to the last response byte
  traffic::Histogram send_lag;   // ns, actual send − the instant the request was released
};

struct Summary {
  std::vector<TargetStats> targets;
  uint64_t planned = 0;              // captured requests scheduled (each goes to every target)
  uint64_t skipped_filtered = 0;     // by method/route/window/sample
  uint64_t skipped_truncated = 0;    // captured body cut at capture time
  uint64_t skipped_no_request = 0;   // exchanges without a usable request (upgrade, CONNECT)
  uint64_t loops = 0;                // times the input was started over
  uint64_t loops_from_memory = 0;    // of which planned from the first pass's copy
  uint64_t loop_cache_bytes = 0;     // held by that copy's slots and requests kept whole
  uint64_t loop_prepared_bytes = 0;  // and by the prepared forms (together ≤ --loop-cache)
  uint64_t recorded = 0;             // exchanges written to the results archive
  uint64_t record_stalls = 0;        // times a worker waited for the writer
  uint64_t input_damage = 0;         // damaged blocks in the input archive
  double elapsed = 0;                // seconds from the first intended instant to the end
  double duration_measured = 0;      // seconds after the warm-up
  bool interrupted = false;
  /// The counters as JSON (for the archive's metadata and --summary-json).
  nlohmann::json to_json() const;
};

/// A snapshot for the live line: cheap, read from any thread.
struct Progress {
  uint64_t planned = 0;
  uint64_t total = 0;  // planned requests × targets when the input size is known, else 0
  uint64_t sent = 0;
  uint64_t completed = 0;
  uint64_t errors = 0;
  double seconds = 0;
  uint64_t p99_ns = 0;  // of the last interval, first target
};

struct Hooks {
  /// Called every `progress_interval` seconds from the main thread while the run goes on.
  std::function<void(const Progress&)> on_progress;
  double progress_interval = 1.0;
  /// Set to true (e.g. from a signal handler) to stop: in-flight requests end as kCancelled.
  std::atomic<bool>* stop = nullptr;
};

/// Runs the replay. Errors (an unreadable input, a results file that cannot be created, a TLS
/// setup failure) are one line naming the file. Failures of the targets are not errors: they
/// are counted in the summary and recorded.
Result<Summary> run(const Options& options, const Hooks& hooks = {});

}  // namespace twin::replay
