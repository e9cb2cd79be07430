#include "common.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

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

std::optional<int64_t> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  int y, mo, d, h, mi;
  double sec;
  int n = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%lf%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6)
    return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = 0;
  int64_t t = timegm(&tm);
  std::string rest = s.substr(static_cast<size_t>(n));
  int64_t offset = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = std::atoi(rest.substr(1, 2).c_str()), om = std::atoi(rest.substr(4, 2).c_str());
    offset = (oh * 3600 + om * 60) * (rest[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  return (t - offset) * 1'000'000'000 + static_cast<int64_t>(std::llround(sec * 1e9));
}

Result<void> parse_bound(const std::string& value, const std::string& option, int64_t& absolute,
                         double& offset) {
  if (value.empty()) return {};
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (end && *end == '\0' && v >= 0 && std::isfinite(v)) {
    offset = v;
    return {};
  }
  if (auto t = parse_rfc3339(value)) {
    absolute = *t;
    return {};
  }
  return fail(option + " '" + value +
              "': give seconds after the capture's start or an RFC 3339 instant "
              "(2026-11-23T10:00:00Z)");
}

bool Window::contains(int64_t start, int64_t t0) const {
  if (from == traffic::kNoTime && until == traffic::kNoTime && !needs_t0()) return true;
  if (start == traffic::kNoTime) return false;
  if (from != traffic::kNoTime && start < from) return false;
  if (until != traffic::kNoTime && start >= until) return false;
  if (needs_t0()) {
    if (t0 == traffic::kNoTime) return false;
    double at = static_cast<double>(start - t0) / 1e9;
    if (from_offset >= 0 && at < from_offset) return false;
    if (until_offset >= 0 && at >= until_offset) return false;
  }
  return true;
}

Result<Window> parse_window(const std::string& text, const std::string& option) {
  Window w;
  w.text = text;
  if (text.empty()) return w;
  auto dots = text.find("..");
  if (dots == std::string::npos) {
    return fail(option + " '" + text +
                "': expected FROM..TO (either side may be empty: 30.., ..90), each seconds after "
                "the capture's start or RFC 3339");
  }
  auto from = parse_bound(text.substr(0, dots), option, w.from, w.from_offset);
  if (!from) return tl::unexpected(from.error());
  auto until = parse_bound(text.substr(dots + 2), option, w.until, w.until_offset);
  if (!until) return tl::unexpected(until.error());
  return w;
}

Result<int64_t> first_request_start(const std::string& path) {
  if (traffic::format_from_path(path).value_or(traffic::Format::kTwin) == traffic::Format::kTwin) {
    auto reader = traffic::Reader::open(path);
    if (!reader) return tl::unexpected(reader.error());
    int64_t t0 = traffic::kNoTime;
    for (const auto& b : (*reader)->index())
      if (b.first_time != traffic::kNoTime)
        t0 = t0 == traffic::kNoTime ? b.first_time : std::min(t0, b.first_time);
    if (!(*reader)->index().empty()) return t0;
  }
  // No index (a torn archive, JSONL, HAR): a first pass.
  auto source = traffic::open_source(path);
  if (!source) return tl::unexpected(source.error());
  int64_t t0 = traffic::kNoTime;
  traffic::Exchange e;
  for (;;) {
    auto more = (*source)->next(e);
    if (!more || !*more) break;  // the real pass reports the error
    if (e.time.request_start != traffic::kNoTime)
      t0 = t0 == traffic::kNoTime ? e.time.request_start : std::min(t0, e.time.request_start);
  }
  return t0;
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
