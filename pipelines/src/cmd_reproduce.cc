// twin reproduce: does an incident's slice of captured traffic make a target fail again, every
// time? Each trial replays the slice (in process, time-faithfully, session order kept) and
// evaluates --expect over the responses. Reliable reproductions can be minimized by delta
// debugging, first over sessions, then over requests, and written out as an archive and a curl
// script.

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "curl_script.h"
#include "minimize.h"
#include "select.h"
#include "twin/replay/replay.h"
#include "twin/traffic/archive.h"
#include "twin/traffic/convert.h"

extern char** environ;

namespace twin::cli {

namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_stop{false};
extern "C" void on_reproduce_signal(int) { g_stop.store(true); }

struct ReproduceOptions {
  std::string input;
  std::string target;
  std::string window;
  std::string filter;
  std::string expect;
  std::string reset;
  std::string output;
  std::string json;
  bool minimize = false;
  bool insecure = false;
  bool quiet = false;
  size_t trials = 3;
  size_t max_trials = 200;
  size_t max_requests = 100000;
  double speed = 1.0;
  double timeout = 30;
};

/// A result exchange that matched --expect, named by the captured exchange it reproduces.
struct Hit {
  uint64_t origin = 0;
  uint64_t session = 0;  // captured
  uint64_t seq = 0;      // captured
  std::string method;
  int status = -1;  // -1: no response
  traffic::ErrorKind error = traffic::ErrorKind::kNone;
};

struct TrialOutcome {
  bool reproduced = false;
  std::vector<Hit> hits;
};

/// Removes a directory tree when it goes out of scope.
class TempDir {
 public:
  static Result<TempDir> make() {
    std::error_code ec;
    fs::path base = fs::temp_directory_path(ec);
    if (ec) base = "/tmp";
    std::string tmpl = (base / "twin-reproduce-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return fail(tmpl + ": cannot create a temporary directory");
    }
    TempDir d;
    d.path_ = tmpl;
    return d;
  }
  TempDir() = default;
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

/// Runs `command` with /bin/sh -c in the current directory; its standard output goes to our
/// standard error (standard output is for results), its standard input is /dev/null. Fails
/// naming the exit status, never the command's output.
Result<void> run_reset(const std::string& command) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
  const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return fail("--reset: cannot start /bin/sh: " + std::string(std::strerror(rc)));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      return fail("--reset: waitpid failed: " + std::string(std::strerror(errno)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFEXITED(status)) {
    return fail("--reset: the command exited with status " + std::to_string(WEXITSTATUS(status)));
  }
  if (WIFSIGNALED(status)) {
    return fail("--reset: the command was killed by signal " + std::to_string(WTERMSIG(status)));
  }
  return fail("--reset: the command failed");
}

std::string plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string percent(size_t k, size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f %%", n ? 100.0 * static_cast<double>(k) / n : 0.0);
  return buf;
}

/// The slice, the trials and what they found. Not thread-safe.
class Reproducer {
 public:
  Reproducer(const ReproduceOptions& o, replay::Target target, Selector expect, TempDir dir)
      : o_(o), target_(std::move(target)), expect_(std::move(expect)), dir_(std::move(dir)) {}

  /// Reads the slice: the sendable exchanges in the window that match --filter, in capture
  /// order. An error for input that cannot be read; damage is reported and read past.
  Result<void> load(const Window& window, const Selector& filter) {
    auto source = traffic::open_source(o_.input);
    if (!source) return tl::unexpected(source.error());
    int64_t t0 = traffic::kNoTime;
    if (window.needs_t0()) {
      auto first = first_request_start(o_.input);
      if (!first) return tl::unexpected(first.error());
      t0 = *first;
    }
    metadata_ = (*source)->metadata();
    if (!metadata_.is_object()) metadata_ = nlohmann::json::object();
    traffic::Exchange e;
    for (;;) {
      auto more = (*source)->next(e);
      if (!more) return tl::unexpected(more.error());
      if (!*more) break;
      ++read_;
      if (!window.contains(e.time.request_start, t0) || !filter.matches(e)) continue;
      // What the replay would not send is left out of the slice (and counted), so that the
      // slice is exactly what a trial sends.
      if (e.request.method.empty() || e.request.method == "CONNECT" || e.request.method == "PRI" ||
          e.has(traffic::kFlagRequestBodyTruncated)) {
        ++unsendable_;
        continue;
      }
      // The slice is held in memory (every trial replays it): a slice that big is a window or
      // a filter that was meant narrower, not an incident to minimize.
      if (slice_.size() >= o_.max_requests) {
        return fail(o_.input + ": exchange " + std::to_string(read_) +
                    ": the slice exceeds --max-requests " + std::to_string(o_.max_requests) +
                    " (narrow --window or --filter, or raise it)");
      }
      slice_.push_back(e);
    }
    damage_ = print_warnings(**source);
    std::stable_sort(slice_.begin(), slice_.end(), [](const auto& a, const auto& b) {
      if (a.time.request_start != b.time.request_start)
        return a.time.request_start < b.time.request_start;
      return a.id < b.id;
    });
    for (size_t i = 0; i < slice_.size(); ++i) by_id_[slice_[i].id] = i;
    // Sessions in the order of their first request; an exchange without one is its own.
    std::map<uint64_t, size_t> index;
    for (size_t i = 0; i < slice_.size(); ++i) {
      if (slice_[i].session == 0) {
        sessions_.push_back({i});
        continue;
      }
      auto [it, fresh] = index.try_emplace(slice_[i].session, sessions_.size());
      if (fresh) sessions_.emplace_back();
      sessions_[it->second].push_back(i);
    }
    return {};
  }

  const std::vector<traffic::Exchange>& slice() const { return slice_; }
  const std::vector<std::vector<size_t>>& sessions() const { return sessions_; }
  uint64_t read() const { return read_; }
  uint64_t unsendable() const { return unsendable_; }
  size_t damage() const { return damage_; }
  size_t trials_run() const { return trials_run_; }
  const nlohmann::json& metadata() const { return metadata_; }
  /// The first error of a trial (a failing --reset, a replay that could not run): once set,
  /// no more trials run and every one after reports "not reproduced".
  const std::optional<Error>& error() const { return error_; }

  /// Sessions spanned by the exchanges at `positions` (indices into slice()).
  size_t session_count(const std::vector<size_t>& positions) const {
    std::vector<uint64_t> ids;
    size_t loose = 0;
    for (size_t p : positions) {
      if (slice_[p].session == 0) {
        ++loose;
      } else {
        ids.push_back(slice_[p].session);
      }
    }
    std::sort(ids.begin(), ids.end());
    return loose + static_cast<size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
  }

  /// One trial with the exchanges at `positions` (sorted indices into slice()).
  TrialOutcome trial(const std::vector<size_t>& positions) {
    TrialOutcome out;
    if (error_ || g_stop.load()) {
      if (!error_) error_ = Error{"interrupted"};
      return out;
    }
    ++trials_run_;
    auto r = run_trial(positions, out);
    if (!r) {
      error_ = r.error();
      out = {};
    }
    if (!o_.quiet && !error_) {
      std::fprintf(stderr, "reproduce: trial %zu: %s, %s: %s\n", trials_run_,
                   plural(session_count(positions), "session", "sessions").c_str(),
                   plural(positions.size(), "request", "requests").c_str(),
                   out.reproduced ? "reproduced" : "not reproduced");
    }
    return out;
  }

 private:
  Result<void> run_trial(const std::vector<size_t>& positions, TrialOutcome& out) {
    if (!o_.reset.empty()) {
      auto reset = run_reset(o_.reset);
      if (!reset) return reset;
    }
    const std::string input = dir_.file("trial.twin");
    const std::string results = dir_.file("results.twin");
    {
      auto w = traffic::Writer::open(input);
      if (!w) return tl::unexpected(w.error());
      for (size_t p : positions) {
        auto a = (*w)->append(slice_[p]);
        if (!a) return a;
      }
      auto c = (*w)->close();
      if (!c) return c;
    }
    replay::Options ro;
    ro.input = input;
    ro.output = results;
    ro.targets = {target_};
    ro.mode = replay::Mode::kFaithful;
    ro.speed = o_.speed;
    ro.keep_order = true;
    ro.timeout = o_.timeout;
    ro.tls.insecure = o_.insecure;
    ro.threads = 1;  // a slice is small; one worker keeps trials light
    replay::Hooks hooks;
    hooks.stop = &g_stop;
    auto summary = replay::run(ro, hooks);
    if (!summary) return tl::unexpected(summary.error());
    if (summary->interrupted || g_stop.load()) return fail("interrupted");

    auto reader = traffic::Reader::open(results);
    if (!reader) return tl::unexpected(reader.error());
    traffic::Exchange e;
    for (;;) {
      auto more = (*reader)->next(e);
      if (!more) return tl::unexpected(more.error());
      if (!*more) break;
      if (!expect_.matches(e)) continue;
      Hit h;
      h.origin = e.origin_id;
      if (auto it = by_id_.find(e.origin_id); it != by_id_.end()) {
        h.session = slice_[it->second].session;
        h.seq = slice_[it->second].seq;
      }
      h.method = e.request.method;
      h.status = e.response ? e.response->status : -1;
      h.error = e.error;
      out.hits.push_back(std::move(h));
    }
    out.reproduced = !out.hits.empty();
    std::sort(out.hits.begin(), out.hits.end(),
              [](const Hit& a, const Hit& b) { return a.origin < b.origin; });
    // A target that could not be reached at all is an error, unless that is what was expected.
    const auto& t = summary->targets.front();
    if (!out.reproduced && t.completed == 0 && t.connections_failed > 0 &&
        t.connections_failed >= t.connections_opened) {
      return fail("--target " + o_.target + ": no connection could be made");
    }
    return {};
  }

  const ReproduceOptions& o_;
  replay::Target target_;
  Selector expect_;
  TempDir dir_;
  std::vector<traffic::Exchange> slice_;
  std::map<uint64_t, size_t> by_id_;  // captured id → index into slice_
  std::vector<std::vector<size_t>> sessions_;
  nlohmann::json metadata_;
  uint64_t read_ = 0;
  uint64_t unsendable_ = 0;
  size_t damage_ = 0;
  size_t trials_run_ = 0;
  std::optional<Error> error_;
};

std::string describe(const Hit& h) {
  std::string s = "origin " + std::to_string(h.origin) + " (session " + std::to_string(h.session) +
                  ", seq " + std::to_string(h.seq) + "): " + h.method + " -> " +
                  (h.status < 0 ? std::string("no response") : std::to_string(h.status));
  if (h.error != traffic::ErrorKind::kNone) s += " error=" + std::string(to_string(h.error));
  return s;
}

nlohmann::json to_json(const Hit& h, size_t trials) {
  nlohmann::json j = {{"origin", h.origin},
                      {"session", h.session},
                      {"seq", h.seq},
                      {"method", h.method},
                      {"error", std::string(to_string(h.error))},
                      {"trials", trials}};
  j["status"] = h.status < 0 ? nlohmann::json(nullptr) : nlohmann::json(h.status);
  return j;
}

/// Runs the positions `runs` times; returns how many reproduced and, per captured exchange that
/// matched, in how many trials (with the first hit seen for it).
struct Check {
  size_t reproduced = 0;
  std::map<uint64_t, std::pair<Hit, size_t>> hits;
};
Check check(Reproducer& r, const std::vector<size_t>& positions, size_t runs) {
  Check c;
  for (size_t i = 0; i < runs && !r.error(); ++i) {
    auto t = r.trial(positions);
    if (r.error()) break;
    if (t.reproduced) ++c.reproduced;
    for (auto& h : t.hits) {
      auto [it, fresh] = c.hits.try_emplace(h.origin, h, 0);
      ++it->second.second;
    }
  }
  return c;
}

int reproduce(ReproduceOptions& o) {
  auto fail_usage = [](const std::string& message) {
    std::fprintf(stderr, "twin: reproduce: %s\n", message.c_str());
    return kExitInputError;
  };
  auto target = replay::parse_target(o.target, 0);
  if (!target) return fail_usage(target.error().message);
  auto expect = Selector::parse(o.expect, "--expect");
  if (!expect) return fail_usage(expect.error().message);
  if (expect->empty()) return fail_usage("--expect: give a condition, e.g. status=5xx");
  auto filter = Selector::parse(o.filter, "--filter");
  if (!filter) return fail_usage(filter.error().message);
  auto window = parse_window(o.window, "--window");
  if (!window) return fail_usage(window.error().message);
  if (o.trials < 1) return fail_usage("--trials: at least 1");
  std::error_code same_ec;
  if (!o.output.empty() && (o.output == o.input || fs::equivalent(o.input, o.output, same_ec))) {
    return fail_usage("-o " + o.output + ": the same file as the input");
  }
  if (!o.output.empty() && fs::path(o.output).extension() == ".sh") {
    return fail_usage("-o " + o.output + ": give OUT.twin (OUT.sh is written next to it)");
  }
  auto dir = TempDir::make();
  if (!dir) return fail_usage(dir.error().message);

  Reproducer r(o, *target, std::move(*expect), std::move(*dir));
  if (auto loaded = r.load(*window, *filter); !loaded) {
    std::fprintf(stderr, "twin: %s\n", loaded.error().message.c_str());
    return kExitInputError;
  }
  if (r.damage() > 0) {
    std::fprintf(stderr, "twin: reproduce: %s: damaged input (see above)\n", o.input.c_str());
    return kExitInputError;
  }
  const auto& slice = r.slice();
  if (slice.empty()) {
    std::fprintf(stderr,
                 "twin: reproduce: %s: nothing to replay (%llu exchanges read, none in "
                 "the window and filter%s)\n",
                 o.input.c_str(), static_cast<unsigned long long>(r.read()),
                 r.unsendable() ? ", or none sendable" : "");
    return kExitInputError;
  }
  if (!o.quiet) {
    std::fprintf(stderr, "reproduce: slice: %s in %s (of %llu read",
                 plural(slice.size(), "request", "requests").c_str(),
                 plural(r.sessions().size(), "session", "sessions").c_str(),
                 static_cast<unsigned long long>(r.read()));
    if (r.unsendable())
      std::fprintf(stderr, "; %llu not sendable, left out",
                   static_cast<unsigned long long>(r.unsendable()));
    std::fprintf(stderr, ")\n");
    if (o.reset.empty()) {
      std::fprintf(stderr,
                   "reproduce: warning: no --reset: trials do not start from the same state "
                   "(each sees what the previous ones left behind)\n");
    }
  }

  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_reproduce_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  struct Restore {
    struct sigaction *i, *t;
    ~Restore() {
      sigaction(SIGINT, i, nullptr);
      sigaction(SIGTERM, t, nullptr);
    }
  } restore{&old_int, &old_term};

  nlohmann::json report = {{"input", o.input},
                           {"target", o.target},
                           {"expect", o.expect},
                           {"filter", o.filter},
                           {"window", o.window},
                           {"reset", !o.reset.empty()},
                           {"trials", o.trials},
                           {"slice",
                            {{"requests", slice.size()},
                             {"sessions", r.sessions().size()},
                             {"read", r.read()},
                             {"not_sendable", r.unsendable()}}}};
  auto trial_error = [&]() {
    std::fprintf(stderr, "twin: reproduce: %s\n", r.error()->message.c_str());
    return kExitInputError;
  };
  auto write_json = [&](const std::string& verdict) -> bool {
    report["verdict"] = verdict;
    report["trial_count"] = r.trials_run();
    if (o.json.empty()) return true;
    std::ofstream f(o.json);
    f << report.dump(2) << "\n";
    f.close();
    if (!f) {
      std::fprintf(stderr, "twin: %s: cannot write the JSON report\n", o.json.c_str());
      return false;
    }
    return true;
  };

  // 1. Reliability: the whole slice, --trials times.
  std::vector<size_t> all(slice.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  Check first = check(r, all, o.trials);
  if (r.error()) return trial_error();
  const double rate = static_cast<double>(first.reproduced) / static_cast<double>(o.trials);
  report["reproduced_trials"] = first.reproduced;
  report["rate"] = rate;
  nlohmann::json hits = nlohmann::json::array();
  for (const auto& [origin, hit] : first.hits) hits.push_back(to_json(hit.first, hit.second));
  report["reproduced"] = hits;
  if (first.reproduced == 0) {
    std::fprintf(stderr, "reproduce: does not reproduce: %s matched nothing in %s\n",
                 o.expect.c_str(), plural(o.trials, "trial", "trials").c_str());
    return write_json("not_reproduced") ? kExitGateFailed : kExitInputError;
  }
  auto print_hits = [&](const Check& c) {
    if (o.quiet) return;
    size_t shown = 0;
    for (const auto& [origin, hit] : c.hits) {
      if (++shown > 20) {
        std::fprintf(stderr, "reproduce:   ... and %zu more\n", c.hits.size() - 20);
        break;
      }
      std::fprintf(stderr, "reproduce:   %s (in %zu of %zu trials)\n", describe(hit.first).c_str(),
                   hit.second, o.trials);
    }
  };
  if (first.reproduced < o.trials) {
    std::fprintf(stderr, "reproduce: flaky: reproduced in %zu of %zu trials (%s)\n",
                 first.reproduced, o.trials, percent(first.reproduced, o.trials).c_str());
    print_hits(first);
    return write_json("flaky") ? kExitGateFailed : kExitInputError;
  }
  std::fprintf(stderr, "reproduce: reproduced in %zu of %zu trials: %s\n", first.reproduced,
               o.trials, plural(first.hits.size(), "exchange matches", "exchanges match").c_str());
  print_hits(first);

  // 2. Minimization: sessions, then the requests of the sessions left.
  std::vector<size_t> chosen = all;
  bool capped = false;
  if (o.minimize) {
    size_t used = 0;
    std::vector<size_t> groups(r.sessions().size());
    for (size_t i = 0; i < groups.size(); ++i) groups[i] = i;
    auto positions_of = [&](const std::vector<size_t>& gs) {
      std::vector<size_t> ps;
      for (size_t g : gs) ps.insert(ps.end(), r.sessions()[g].begin(), r.sessions()[g].end());
      std::sort(ps.begin(), ps.end());
      return ps;
    };
    auto by_sessions = ddmin(
        groups,
        [&](const std::vector<size_t>& gs) -> std::optional<bool> {
          bool reproduced = r.trial(positions_of(gs)).reproduced;
          if (r.error()) return std::nullopt;  // interrupted or a failed reset: stop at once
          return reproduced;
        },
        o.max_trials);
    if (r.error()) return trial_error();
    used += by_sessions.trials;
    capped = by_sessions.capped;
    chosen = positions_of(by_sessions.minimal);
    if (!o.quiet) {
      std::fprintf(stderr, "reproduce: sessions: %zu -> %zu in %s\n", groups.size(),
                   by_sessions.minimal.size(),
                   plural(by_sessions.trials, "trial", "trials").c_str());
    }
    report["minimize"] = {{"sessions",
                           {{"from", groups.size()},
                            {"to", by_sessions.minimal.size()},
                            {"trials", by_sessions.trials}}}};
    // ddmin reads a cap of 0 as "no cap": with none left, the requests are not tried.
    if (!capped && chosen.size() > 1 && used >= o.max_trials) capped = true;
    if (!capped && chosen.size() > 1) {
      const size_t left = o.max_trials - used;
      auto by_requests = ddmin(
          chosen,
          [&](const std::vector<size_t>& ps) -> std::optional<bool> {
            bool reproduced = r.trial(ps).reproduced;
            if (r.error()) return std::nullopt;
            return reproduced;
          },
          left);
      if (r.error()) return trial_error();
      if (!o.quiet) {
        std::fprintf(stderr, "reproduce: requests: %zu -> %zu in %s\n", chosen.size(),
                     by_requests.minimal.size(),
                     plural(by_requests.trials, "trial", "trials").c_str());
      }
      report["minimize"]["requests"] = {{"from", chosen.size()},
                                        {"to", by_requests.minimal.size()},
                                        {"trials", by_requests.trials}};
      used += by_requests.trials;
      capped = by_requests.capped;
      chosen = by_requests.minimal;
    }
    report["minimize"]["trials"] = used;
    report["minimize"]["capped"] = capped;
    if (capped) {
      std::fprintf(stderr,
                   "reproduce: warning: --max-trials %zu reached: the result is the smallest "
                   "reproducing set found so far (%s), not necessarily minimal\n",
                   o.max_trials, plural(chosen.size(), "request", "requests").c_str());
    }
    nlohmann::json ids = nlohmann::json::array();
    for (size_t p : chosen) ids.push_back(slice[p].id);
    report["minimized"] = ids;

    // 3. The minimal set, checked like the slice was.
    Check again = check(r, chosen, o.trials);
    if (r.error()) return trial_error();
    report["minimize"]["recheck"] = {{"trials", o.trials}, {"reproduced", again.reproduced}};
    if (again.reproduced < o.trials) {
      std::fprintf(stderr,
                   "reproduce: minimization not trusted (flaky): the minimal set of %s "
                   "reproduced in %zu of %zu trials (%s)\n",
                   plural(chosen.size(), "request", "requests").c_str(), again.reproduced, o.trials,
                   percent(again.reproduced, o.trials).c_str());
      return write_json("minimization_flaky") ? kExitGateFailed : kExitInputError;
    }
    std::fprintf(stderr, "reproduce: minimal: %s in %s, reproduced in %zu of %zu trials\n",
                 plural(chosen.size(), "request", "requests").c_str(),
                 plural(r.session_count(chosen), "session", "sessions").c_str(), again.reproduced,
                 o.trials);
    if (!o.quiet) {
      for (size_t p : chosen) {
        const auto& e = slice[p];
        auto hit = again.hits.find(e.id);
        std::fprintf(
            stderr, "reproduce:   origin %llu (session %llu, seq %llu): %s%s\n",
            static_cast<unsigned long long>(e.id), static_cast<unsigned long long>(e.session),
            static_cast<unsigned long long>(e.seq), e.request.method.c_str(),
            hit == again.hits.end()
                ? ""
                : (" -> " +
                   (hit->second.first.status < 0 ? std::string("no response")
                                                 : std::to_string(hit->second.first.status)) +
                   " (matches)")
                      .c_str());
      }
    }
  }

  // 4. The reproducing set as an archive of the captured exchanges and a curl script.
  if (!o.output.empty()) {
    nlohmann::json meta = r.metadata();
    meta["reproduce"] = {{"input", o.input},        {"expect", o.expect},
                         {"filter", o.filter},      {"window", o.window},
                         {"minimized", o.minimize}, {"requests", chosen.size()},
                         {"trials", o.trials}};
    traffic::WriterOptions wo;
    wo.metadata = meta;
    auto w = traffic::Writer::open(o.output, wo);
    if (!w) {
      std::fprintf(stderr, "twin: %s\n", w.error().message.c_str());
      return kExitInputError;
    }
    std::vector<const traffic::Exchange*> out;
    for (size_t p : chosen) {
      out.push_back(&slice[p]);
      if (auto a = (*w)->append(slice[p]); !a) {
        std::fprintf(stderr, "twin: %s\n", a.error().message.c_str());
        return kExitInputError;
      }
    }
    if (auto c = (*w)->close(); !c) {
      std::fprintf(stderr, "twin: %s\n", c.error().message.c_str());
      return kExitInputError;
    }
    const std::string script = fs::path(o.output).replace_extension(".sh").string();
    if (auto s = write_curl_script(script, out, *target, o.insecure); !s) {
      std::fprintf(stderr, "twin: %s\n", s.error().message.c_str());
      return kExitInputError;
    }
    report["output"] = {{"archive", o.output}, {"script", script}};
    if (!o.quiet) {
      std::fprintf(stderr, "reproduce: wrote %s and %s (%s)\n", o.output.c_str(), script.c_str(),
                   plural(chosen.size(), "request", "requests").c_str());
    }
  }
  return write_json("reproduced") ? kExitOk : kExitInputError;
}

}  // namespace

Run add_reproduce(CLI::App& app) {
  auto o = std::make_shared<ReproduceOptions>();
  auto* cmd = app.add_subcommand(
      "reproduce",
      "Replay a slice of captured traffic until a condition shows, check it is reliable, and "
      "minimize it to the requests that matter (see docs/reproduce.md)");
  cmd->add_option("archive", o->input, "Captured archive (.twin, .jsonl, .har)")->required();
  cmd->add_option("-t,--target", o->target,
                  "URL to replay against: http://, https://, h2c:// or h2:// (the only host "
                  "contacted)")
      ->required();
  cmd->add_option("--expect", o->expect,
                  "Condition on the target's responses that shows the incident, a selection "
                  "expression: status=5xx, error=timeout, body~\"out of stock\", ...")
      ->required();
  cmd->add_option("--window", o->window,
                  "FROM..TO of the capture: seconds after its first request or RFC 3339; "
                  "either side may be empty");
  cmd->add_option("--filter", o->filter, "Selection expression: only these captured exchanges");
  cmd->add_flag("--minimize", o->minimize,
                "Delta-debug the slice to a 1-minimal set: sessions first, then requests");
  cmd->add_option("--reset", o->reset,
                  "Shell command run before every trial (sh -c, in the current directory) to "
                  "bring the target back to its starting state; a non-zero exit stops everything");
  cmd->add_option("--trials", o->trials,
                  "Runs of the slice (and of the minimal set) that must all reproduce (3)")
      ->check(CLI::Range(size_t{1}, size_t{1000}));
  cmd->add_option("--max-trials", o->max_trials, "Trials the minimization may use at most (200)")
      ->check(CLI::Range(size_t{1}, size_t{1000000}));
  cmd->add_option("--max-requests", o->max_requests,
                  "Largest slice, in requests, held in memory (100000); more is an error")
      ->check(CLI::Range(size_t{1}, size_t{100000000}));
  const CLI::Validator positive(
      [](std::string& v) -> std::string {
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != '\0' || !(d > 0) || !std::isfinite(d))
          return "'" + v + "' is not a positive number";
        return {};
      },
      "POSITIVE");
  cmd->add_option("--speed", o->speed, "Captured gaps divided by X (1: as captured)")
      ->check(positive);
  cmd->add_option("--timeout", o->timeout, "Seconds per request before it times out (30)")
      ->check(positive);
  cmd->add_flag("-k,--insecure", o->insecure, "Accept any server certificate (https targets)");
  cmd->add_option("-o,--output", o->output,
                  "Write the reproducing (minimal) requests as captured to OUT.twin, and OUT.sh "
                  "(one curl per session, its requests in order)");
  cmd->add_option("--json", o->json, "Write trials, rate, matches and the minimal ids as JSON");
  cmd->add_flag("-q,--quiet", o->quiet, "Only the verdict on stderr");
  return [o]() { return reproduce(*o); };
}

}  // namespace twin::cli
