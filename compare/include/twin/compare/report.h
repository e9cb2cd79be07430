#pragma once
// The comparator's findings as plain data, and the writers that turn them into reports: a
// terminal table, JSON (schema in docs/compare-report-schema.md), Markdown for
// $GITHUB_STEP_SUMMARY, JUnit XML (one testcase per route and check), and a self-contained HTML
// page with SVG plots that opens with no network.
//
// Reports never hold a payload or a header value: paths, counts, rates, statuses and exchange
// ids only (a human looks them up with `twin cat --origin ID`).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace twin::compare {

enum class Verdict {
  kPass,          // checked, no regression
  kRegressed,     // the gate fails on this
  kInsufficient,  // too few requests to decide; says so instead of guessing
  kInfo,          // shown, not gated (e.g. latency against captured production)
  kWarn,          // worth a look, does not fail the gate
};
std::string_view to_string(Verdict v);  // "pass", "regressed", "insufficient", "info", "warn"

struct LatencyRow {
  std::string name;  // "p50", "p90", "p99", "p99.9"
  double q = 0;
  double baseline_ms = 0, candidate_ms = 0;
  double ratio = 1, low = 1, high = 1;  // candidate / baseline and its confidence interval
  double p_value = 1, q_value = 1;      // one-sided; q_value after Benjamini-Hochberg
  double min_effect = 0;                // the gate's minimum slowdown, e.g. 0.10 for +10 %
  Verdict verdict = Verdict::kPass;
  std::string note;         // e.g. "412 requests; p99 needs 1000"
  double min_delta_ms = 0;  // the gate's minimum slowdown in milliseconds
};

/// A latency CDF as points (milliseconds, cumulative share in [0, 1]), ascending.
using Cdf = std::vector<std::pair<double, double>>;

struct ErrorRow {
  std::string kind;  // "5xx", "4xx changed", "timeout", "connect", "reset", "truncated", ...
  uint64_t baseline = 0, candidate = 0;      // counts
  uint64_t baseline_n = 0, candidate_n = 0;  // exchanges they are counted among
  double p_value = 1, q_value = 1;
  bool new_class = false;  // the baseline never showed this kind on this route
  Verdict verdict = Verdict::kPass;
  std::vector<uint64_t> samples;  // origin ids
};

struct StatusChange {
  int baseline = 0, candidate = 0;  // 0: no response (an error)
  uint64_t count = 0;
  std::vector<uint64_t> samples;  // origin ids
  // The gRPC status of a gRPC answer (HTTP 200; 0 OK, 14 UNAVAILABLE, …), -1 for other answers.
  int baseline_grpc = -1, candidate_grpc = -1;
};

struct DiffRow {
  std::string path;       // "$.items[*].price", "$body", "header.etag"
  uint64_t differ = 0;    // pairs where the candidate differs from the baseline here
  uint64_t compared = 0;  // pairs compared
  double rate = 0;
  double noise_rate = -1;            // -1: no noise target
  Verdict verdict = Verdict::kWarn;  // kRegressed when reported and the gate fails on diffs
  std::vector<uint64_t> samples;     // origin ids
  double p_value = 1, q_value = 1;   // one-sided Fisher test against the noise rate (or 0)
};

struct RouteReport {
  std::string method;  // "" for the overall row
  std::string route;   // "/users/{id}"; "(all)" for the overall row
  uint64_t count = 0;  // paired exchanges
  Verdict verdict = Verdict::kPass;
  std::vector<LatencyRow> latency;
  Cdf baseline_cdf, candidate_cdf;  // filled for regressed routes and the overall row
  std::vector<ErrorRow> errors;
  std::vector<StatusChange> status_changes;
  std::vector<DiffRow> diffs;
  std::vector<std::string> notes;
};

struct Report {
  /// kPass or kRegressed; kInsufficient when nothing could be compared (no pair, or every pair
  /// on a skipped route): a gate that checked nothing passes nothing.
  Verdict verdict = Verdict::kPass;
  std::string baseline, candidate, noise;  // target names; noise "" when none
  std::vector<std::string> inputs;         // archive paths
  std::string gate;                        // gate file path, "" for the defaults
  double alpha = 0.01;                     // false-discovery rate
  bool latency_gated = true;               // false when the baseline is captured production
  nlohmann::ordered_json counters = nlohmann::ordered_json::object();  // pairing, evictions, …
  RouteReport overall;
  std::vector<RouteReport> routes;  // regressed first, then by count
  std::vector<std::string> notes;
};

/// The JSON report; docs/compare.md documents its schema.
nlohmann::ordered_json to_json(const Report& report);
/// A Markdown summary (verdict, a table of routes, the findings) for $GITHUB_STEP_SUMMARY.
std::string to_markdown(const Report& report);
/// JUnit XML: a testsuite per route, a testcase per check (latency quantile, error kind, diffs);
/// a regression is a <failure>, insufficient data a <skipped>.
std::string to_junit(const Report& report);
/// A self-contained HTML page (inline CSS and SVG, no script, no network).
std::string to_html(const Report& report);
/// The terminal table; `color` adds ANSI colours.
std::string to_table(const Report& report, bool color);

}  // namespace twin::compare
