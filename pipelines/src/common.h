#pragma once
// Pieces shared by the subcommands: reading any source to the end with progress on a terminal,
// and the format option.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "twin/traffic/convert.h"
#include "twin/traffic/result.h"

namespace twin::cli {

/// Parses a --format value, or fails with a usage error naming the option.
std::optional<traffic::Format> format_option(const std::string& value, const std::string& option);

/// Prints every warning of `source` to stderr ("twin: warning: FILE: offset N: ..."); returns
/// how many there were.
size_t print_warnings(const traffic::Source& source);

/// "2026-11-23T10:00:00Z", with an optional fraction and ±HH:MM offset → ns since the epoch.
std::optional<int64_t> parse_rfc3339(const std::string& s);

/// A window bound: seconds after the capture's first request (into `offset`) or an RFC 3339
/// instant (into `absolute`); an empty value leaves both alone. Fails with a one-line message
/// naming `option` and the value.
Result<void> parse_bound(const std::string& value, const std::string& option, int64_t& absolute,
                         double& offset);

/// A capture-time window [from, until): each bound an instant (ns since the epoch) or seconds
/// after the archive's first request start (`t0`), or absent.
struct Window {
  int64_t from = traffic::kNoTime;
  int64_t until = traffic::kNoTime;
  double from_offset = -1;
  double until_offset = -1;
  std::string text;  // as given

  bool empty() const { return text.empty(); }
  /// Whether offsets are used, so that the archive's first request start must be known.
  bool needs_t0() const { return from_offset >= 0 || until_offset >= 0; }
  /// Whether a request that started at `start` lies in the window; an unknown start is outside
  /// any window that has a bound.
  bool contains(int64_t start, int64_t t0) const;
};

/// Parses "FROM..TO" (either side may be empty: "30..", "..90"; each seconds or RFC 3339).
/// Errors are one line naming `option`.
Result<Window> parse_window(const std::string& text, const std::string& option);

/// The least request start of the archive at `path`: from a .twin file's index when it has one,
/// else by reading it through once. kNoTime when no exchange has a start.
Result<int64_t> first_request_start(const std::string& path);

/// A one-line progress display on stderr, redrawn at most every 500 ms; silent when stderr is
/// not a terminal or when CI is set. Not thread-safe.
class Progress {
 public:
  explicit Progress(std::string what);
  ~Progress();
  void tick(uint64_t done) {
    if (enabled_ && (done & 1023) == 0) redraw(done, false);
  }
  void finish(uint64_t done);

 private:
  void redraw(uint64_t done, bool last);
  std::string what_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace twin::cli
