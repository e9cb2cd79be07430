#pragma once
// Pieces shared by the subcommands: reading any source to the end with progress on a terminal,
// and the format option.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "twin/traffic/convert.h"

namespace twin::cli {

/// Parses a --format value, or fails with a usage error naming the option.
std::optional<traffic::Format> format_option(const std::string& value, const std::string& option);

/// Prints every warning of `source` to stderr ("twin: warning: FILE: offset N: ..."); returns
/// how many there were.
size_t print_warnings(const traffic::Source& source);

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
