#include "common.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "commands.h"

namespace twin::cli {

std::optional<traffic::Format> format_option(const std::string& value, const std::string& option) {
  if (value.empty()) return std::nullopt;
  auto f = traffic::parse_format(value);
  if (!f) throw CLI::ValidationError(option, "'" + value + "' is not one of twin, jsonl, har");
  return f;
}

size_t print_warnings(const traffic::Source& source) {
  auto warnings = source.warnings();
  for (const auto& w : warnings) std::fprintf(stderr, "twin: warning: %s\n", w.c_str());
  return warnings.size();
}

Progress::Progress(std::string what)
    : what_(std::move(what)),
      enabled_(::isatty(STDERR_FILENO) == 1 && std::getenv("CI") == nullptr),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

Progress::~Progress() {
  if (drawn_) std::fputc('\n', stderr);
}

void Progress::finish(uint64_t done) {
  if (drawn_) redraw(done, true);
}

void Progress::redraw(uint64_t done, bool last) {
  const auto now = std::chrono::steady_clock::now();
  if (!last && now - last_ < std::chrono::milliseconds(500)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r%s: %llu exchanges, %.0f/s   ", what_.c_str(),
               static_cast<unsigned long long>(done), secs > 0 ? done / secs : 0.0);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace twin::cli
