// twin pipeline run: the stages of a pipeline file, each as the twin subcommand it names, run by
// this same binary in child processes. A pipeline therefore does nothing a user could not type
// (--dry-run prints it), every stage keeps its own exit codes, counters and signal handling, and
// a stage that crashes cannot take the gate's bookkeeping with it.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "http_client.h"
#include "pipeline_file.h"

namespace twin::cli {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};
extern "C" void on_pipeline_signal(int) { g_interrupted.store(true); }

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The path of this binary, to run the stages with the same twin.
std::string self_path() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("twin") : p.string();
}

/// A child process whose output is forwarded line by line with a prefix (stdout to stdout,
/// stderr to stderr), so that stages running together stay readable.
class Child {
 public:
  Child(std::string prefix, std::function<void(const std::string&)> on_err_line = {})
      : prefix_(std::move(prefix)), on_err_line_(std::move(on_err_line)) {}
  ~Child() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : fds_)
      if (fd >= 0) ::close(fd);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  /// argv[0] is the program; `dir` the working directory (empty: ours). Errors are one line.
  bool start(const std::vector<std::string>& argv, const std::string& dir, std::string& error) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      error = std::strerror(errno);
      return false;
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
      error = std::strerror(errno);
      ::close(out[0]);
      ::close(out[1]);
      return false;
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
      error = std::strerror(errno);
      for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
      return false;
    }
    if (pid == 0) {
      // The child: only async-signal-safe calls until exec.
      // Its own process group, so that a stop reaches whatever the command started too.
      ::setpgid(0, 0);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      if (!dir.empty() && ::chdir(dir.c_str()) != 0) _exit(127);
      ::execv(args[0], args.data());
      const char msg[] = "twin: pipeline: cannot run the command\n";
      ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
      (void)ignored;
      _exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    fds_[0] = out[0];
    fds_[1] = err[0];
    pid_ = pid;
    return true;
  }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  /// Signals the child's whole process group.
  void signal_child(int sig) {
    if (pid_ > 0) ::kill(-pid_, sig);
  }
  int fd(int i) const { return fds_[i]; }

  /// Reads what is there on pipe `i` and forwards whole lines.
  void drain(int i) {
    char buf[8192];
    ssize_t n = ::read(fds_[i], buf, sizeof buf);
    if (n <= 0) {
      if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        flush(i);
        ::close(fds_[i]);
        fds_[i] = -1;
      }
      return;
    }
    bufs_[i].append(buf, static_cast<size_t>(n));
    size_t start = 0, nl;
    while ((nl = bufs_[i].find('\n', start)) != std::string::npos) {
      emit(i, bufs_[i].substr(start, nl - start));
      start = nl + 1;
    }
    bufs_[i].erase(0, start);
    if (bufs_[i].size() > (64u << 10)) flush(i);  // a line that does not end is cut, not hoarded
  }

  /// Reaps the child when it has exited; returns its exit code (128+signal when killed).
  std::optional<int> poll_exit() {
    if (pid_ <= 0) return exit_;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r != pid_) return std::nullopt;
    pid_ = -1;
    exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_;
  }
  bool pipes_open() const { return fds_[0] >= 0 || fds_[1] >= 0; }

 private:
  void flush(int i) {
    if (!bufs_[i].empty()) emit(i, bufs_[i]);
    bufs_[i].clear();
  }
  void emit(int i, const std::string& line) {
    // A child's live line ("\r\033[K…") is not for a log: keep what follows the last redraw.
    std::string text = line;
    if (auto cr = text.rfind('\r'); cr != std::string::npos) text = text.substr(cr + 1);
    if (text.rfind("\033[K", 0) == 0) text = text.substr(3);
    if (i == 1 && on_err_line_) on_err_line_(text);
    std::FILE* to = i == 0 ? stdout : stderr;
    std::fprintf(to, "%s | %s\n", prefix_.c_str(), text.c_str());
    std::fflush(to);
  }

  std::string prefix_;
  std::function<void(const std::string&)> on_err_line_;
  pid_t pid_ = -1;
  std::optional<int> exit_;
  int fds_[2] = {-1, -1};
  std::string bufs_[2];
};

/// Forwards the output of `children` for up to `timeout_ms`.
void pump(const std::vector<Child*>& children, int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<std::pair<Child*, int>> who;
  for (auto* c : children) {
    for (int i = 0; i < 2; ++i) {
      if (c->fd(i) >= 0) {
        fds.push_back({c->fd(i), POLLIN, 0});
        who.emplace_back(c, i);
      }
    }
  }
  if (fds.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    return;
  }
  int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n <= 0) return;
  for (size_t k = 0; k < fds.size(); ++k) {
    if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) who[k].first->drain(who[k].second);
  }
}

/// Forwards what is left in `c`'s pipes after it exited, for at most half a second (a process it
/// left running in the background may hold them open for ever).
void drain_after_exit(Child& c) {
  auto start = Clock::now();
  while (c.pipes_open() && seconds_since(start) < 0.5) pump({&c}, 50);
}

/// Runs `c` to its end, forwarding its output; returns its exit code. When the pipeline is
/// interrupted (SIGINT, SIGTERM) the child gets SIGINT — twin's stages stop cleanly on it and
/// keep what they wrote — and SIGKILL if it has not ended 10 s later.
int wait_child(Child& c) {
  std::optional<Clock::time_point> interrupted_at;
  while (true) {
    if (g_interrupted && !interrupted_at) {
      interrupted_at = Clock::now();
      c.signal_child(SIGINT);
    } else if (interrupted_at && seconds_since(*interrupted_at) > 10) {
      c.signal_child(SIGKILL);
    }
    pump({&c}, 100);
    if (auto code = c.poll_exit()) {
      drain_after_exit(c);
      return *code;
    }
  }
}

/// A command line for the log: the values of headers are credentials more often than not, in
/// every spelling twin replay accepts (--header V, --header=V, -H V, -HV).
std::string loggable(const std::vector<std::string>& argv) {
  std::vector<std::string> shown = argv;
  auto mask = [](const std::string& header) {
    return header.substr(0, header.find(':')) + ": ***";
  };
  for (size_t i = 0; i < shown.size(); ++i) {
    const std::string& a = shown[i];
    if ((a == "--header" || a == "-H") && i + 1 < shown.size()) {
      shown[i + 1] = mask(shown[i + 1]);
      ++i;
    } else if (a.rfind("--header=", 0) == 0) {
      shown[i] = "--header=" + mask(a.substr(9));
    } else if (a.size() > 2 && a.rfind("-H", 0) == 0) {
      shown[i] = "-H" + mask(a.substr(2));
    }
  }
  return shell_quote(shown);
}

/// A URL for messages: a query may hold a token.
std::string without_query(const std::string& url) {
  auto q = url.find('?');
  return q == std::string::npos ? url : url.substr(0, q) + "?…";
}

/// At most `max` characters of UTF-8 `text`, never cutting one in two.
std::string utf8_prefix(const std::string& text, size_t max) {
  size_t chars = 0, i = 0;
  while (i < text.size()) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && chars++ == max) break;
    ++i;
  }
  return text.substr(0, i);
}

struct StageRecord {
  std::string stage;
  std::string command;
  int exit_code = 0;
  double seconds = 0;
  nlohmann::json extra = nlohmann::json::object();
};

struct PipelineCli {
  std::string file;
  std::string from, to;
  std::string workdir;
  bool dry_run = false;
  bool no_notify = false;
  bool quiet = false;
};

/// The live capture with a command run during it: start the capture, wait for it to be ready,
/// run the command, let the capture settle, stop it with SIGINT (it writes everything it has).
int run_capture_while(const StageRun& s, const Pipeline& p, const std::string& twin,
                      StageRecord& record) {
  bool ready = false;
  Child capture("capture", [&ready](const std::string& line) {
    if (line.find("capturing on") != std::string::npos) ready = true;
  });
  std::vector<std::string> argv = {twin};
  argv.insert(argv.end(), s.args.begin(), s.args.end());
  std::string error;
  if (!capture.start(argv, {}, error)) {
    std::fprintf(stderr, "twin: pipeline: capture: cannot start: %s\n", error.c_str());
    return kExitInputError;
  }
  auto start = Clock::now();
  while (!ready && capture.pipes_open() && seconds_since(start) < 30 && !g_interrupted)
    pump({&capture}, 50);
  if (!ready) {
    capture.signal_child(SIGINT);
    int code = wait_child(capture);
    std::fprintf(stderr, "twin: pipeline: capture: did not start capturing (exit %d)\n", code);
    return code == 0 ? kExitInputError : code;
  }
  Child driver("capture/while");
  if (!driver.start({"/bin/sh", "-c", s.while_command}, p.dir, error)) {
    capture.signal_child(SIGINT);
    wait_child(capture);
    std::fprintf(stderr, "twin: pipeline: capture.while: cannot start: %s\n", error.c_str());
    return kExitInputError;
  }
  std::optional<int> driver_code;
  while (!driver_code) {
    pump({&capture, &driver}, 100);
    driver_code = driver.poll_exit();
    if (driver_code) drain_after_exit(driver);
    if (g_interrupted) driver.signal_child(SIGTERM);
    if (auto c = capture.poll_exit()) {
      // The capture ended first (a limit, or a failure): the command's traffic is not all in.
      std::fprintf(stderr, "twin: pipeline: capture ended (exit %d) before capture.while\n", *c);
      driver.signal_child(SIGTERM);
      wait_child(driver);
      return *c == 0 ? kExitInputError : *c;
    }
  }
  record.extra["while_exit_code"] = *driver_code;
  auto settle_start = Clock::now();
  while (seconds_since(settle_start) < s.settle && capture.running()) pump({&capture}, 50);
  capture.signal_child(SIGINT);
  int code = wait_child(capture);
  if (*driver_code != 0) {
    std::fprintf(stderr, "twin: pipeline: capture.while exited with %d\n", *driver_code);
    return kExitInputError;
  }
  return code;
}

/// Probes every target at once; false when one is not ready in time.
bool probe_targets(const StageRun& s, bool quiet, StageRecord& record) {
  std::vector<ProbeResult> results(s.probes.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < s.probes.size(); ++i) {
    threads.emplace_back([&, i] {
      results[i] =
          wait_ready(s.probes[i].url, s.ready_timeout, s.ready_status, s.insecure, &g_interrupted);
    });
  }
  for (auto& t : threads) t.join();
  bool ok = true;
  auto& probes = record.extra["probes"] = nlohmann::json::array();
  for (size_t i = 0; i < s.probes.size(); ++i) {
    const auto& r = results[i];
    probes.push_back({{"target", s.probes[i].name},
                      {"ready", r.ready},
                      {"status", r.status},
                      {"attempts", r.attempts},
                      {"seconds", r.waited}});
    if (r.ready) {
      if (!quiet) {
        std::fprintf(stderr, "replay | target %s ready after %.1f s (HTTP %ld, %d probes)\n",
                     s.probes[i].name.c_str(), r.waited, r.status, r.attempts);
      }
    } else {
      std::fprintf(stderr, "twin: pipeline: replay: target %s (%s) not ready after %.1f s: %s\n",
                   s.probes[i].name.c_str(), without_query(s.probes[i].url).c_str(), r.waited,
                   r.error.c_str());
      ok = false;
    }
  }
  return ok;
}

std::string verdict_text(const std::string& name, const std::string& verdict,
                         const std::string& failed_stage,
                         const std::vector<std::string>& regressed) {
  std::string text = "twin: " + name + ": ";
  if (!failed_stage.empty()) return text + "ERROR in stage " + failed_stage;
  std::string upper = verdict;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  text += upper;
  if (!regressed.empty()) {
    text += " — ";
    for (size_t i = 0; i < regressed.size() && i < 10; ++i) text += (i ? ", " : "") + regressed[i];
    if (regressed.size() > 10) text += ", and " + std::to_string(regressed.size() - 10) + " more";
  }
  return text;
}

int run_pipeline(const PipelineCli& cli) {
  auto loaded = load_pipeline(cli.file, cli.workdir);
  if (!loaded) {
    std::fprintf(stderr, "twin: pipeline: %s\n", loaded.error().message.c_str());
    return kExitInputError;
  }
  const Pipeline& p = *loaded;
  // --from / --to, checked against the stages the file has.
  auto index_of = [&](const std::string& name, const char* option) -> std::optional<size_t> {
    auto stage = parse_stage(name);
    if (!stage) {
      std::fprintf(stderr,
                   "twin: pipeline: %s '%s': not a stage (capture, filter, scrub, replay, "
                   "compare)\n",
                   option, name.c_str());
      return std::nullopt;
    }
    for (size_t i = 0; i < p.stages.size(); ++i)
      if (p.stages[i].stage == *stage) return i;
    std::fprintf(stderr, "twin: pipeline: %s %s: %s has no %s stage\n", option, name.c_str(),
                 cli.file.c_str(), name.c_str());
    return std::nullopt;
  };
  size_t first = 0, last = p.stages.size() - 1;
  if (!cli.from.empty()) {
    auto i = index_of(cli.from, "--from");
    if (!i) return kExitInputError;
    first = *i;
  }
  if (!cli.to.empty()) {
    auto i = index_of(cli.to, "--to");
    if (!i) return kExitInputError;
    last = *i;
  }
  if (first > last) {
    std::fprintf(stderr, "twin: pipeline: --from %s comes after --to %s\n", cli.from.c_str(),
                 cli.to.c_str());
    return kExitInputError;
  }

  if (cli.dry_run) {
    std::printf("# %s\n%s\n", p.name.c_str(), shell_quote({"mkdir", "-p", p.workdir}).c_str());
    for (size_t i = first; i <= last; ++i) {
      const auto& s = p.stages[i];
      if (s.args.empty()) {
        std::printf("# %s: the archive %s\n", std::string(to_string(s.stage)).c_str(),
                    s.output.c_str());
        continue;
      }
      if (!s.probes.empty()) {
        for (const auto& probe : s.probes)
          std::printf("# probe %s: GET %s (%.0f s)\n", probe.name.c_str(),
                      without_query(probe.url).c_str(), s.ready_timeout);
      }
      std::vector<std::string> argv = {"twin"};
      argv.insert(argv.end(), s.args.begin(), s.args.end());
      if (!s.while_command.empty()) {
        std::string command = s.while_command;
        for (auto& ch : command)
          if (ch == '\n' || ch == '\r') ch = ' ';  // stays one comment
        std::printf("%s &  # stopped with SIGINT %.1f s after: %s\n", loggable(argv).c_str(),
                    s.settle, command.c_str());
      } else {
        std::printf("%s\n", loggable(argv).c_str());
      }
    }
    for (const auto& n : p.notify)
      std::printf("# notify: %s webhook (%s), line %d\n", n.format.c_str(), n.when.c_str(), n.line);
    return kExitOk;
  }

  std::error_code ec;
  fs::create_directories(p.workdir, ec);
  if (ec) {
    std::fprintf(stderr, "twin: pipeline: %s: cannot create the workdir: %s\n", p.workdir.c_str(),
                 ec.message().c_str());
    return kExitInputError;
  }

  // Children are reaped with waitpid: an inherited "ignore SIGCHLD" would make them vanish.
  signal(SIGCHLD, SIG_DFL);
  struct sigaction sa {};
  sa.sa_handler = on_pipeline_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {
  }, old_term{};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  const std::string twin = self_path();
  std::vector<StageRecord> records;
  std::string failed_stage;
  int code = kExitOk;
  auto run_start = Clock::now();
  if (!cli.quiet) {
    std::fprintf(stderr, "pipeline: %s: %zu stages, workdir %s\n", p.name.c_str(), last - first + 1,
                 p.workdir.c_str());
  }
  for (size_t i = first; i <= last && failed_stage.empty(); ++i) {
    const auto& s = p.stages[i];
    std::string stage(to_string(s.stage));
    StageRecord record;
    record.stage = stage;
    std::vector<std::string> shown = {"twin"};
    shown.insert(shown.end(), s.args.begin(), s.args.end());
    record.command = s.args.empty() ? "" : loggable(shown);
    auto start = Clock::now();
    if (g_interrupted) {
      std::fprintf(stderr, "twin: pipeline: interrupted before stage %s\n", stage.c_str());
      failed_stage = stage;
      code = record.exit_code = kExitInputError;
      records.push_back(record);
      break;
    }
    if (!s.input.empty() && !fs::exists(s.input)) {
      std::fprintf(stderr,
                   "twin: pipeline: %s: its input %s does not exist (run the stages before it, "
                   "or start --from an earlier stage)\n",
                   stage.c_str(), s.input.c_str());
      failed_stage = stage;
      code = record.exit_code = kExitInputError;
      record.extra["missing"] = s.input;
      records.push_back(record);
      break;
    }
    if (s.args.empty()) {  // capture: archive
      if (!fs::exists(s.output)) {
        std::fprintf(stderr, "twin: pipeline: %s:%d: capture.archive %s does not exist\n",
                     p.path.c_str(), s.line, s.output.c_str());
        failed_stage = stage;
        code = record.exit_code = kExitInputError;
        record.extra["missing"] = s.output;
        records.push_back(record);
        break;
      }
      if (!cli.quiet) std::fprintf(stderr, "capture | the archive %s\n", s.output.c_str());
      record.extra["archive"] = s.output;
      records.push_back(record);
      continue;
    }
    if (!cli.quiet)
      std::fprintf(stderr, "pipeline: %s: %s\n", stage.c_str(), record.command.c_str());
    if (!s.output.empty()) fs::create_directories(fs::path(s.output).parent_path(), ec);
    for (const auto& [kind, path] : s.reports)
      fs::create_directories(fs::path(path).parent_path(), ec);
    int rc = 0;
    if (s.stage == Stage::kReplay && !probe_targets(s, cli.quiet, record)) {
      rc = kExitInputError;
    } else if (!s.while_command.empty()) {
      rc = run_capture_while(s, p, twin, record);
    } else {
      Child child(stage);
      std::vector<std::string> argv = {twin};
      argv.insert(argv.end(), s.args.begin(), s.args.end());
      std::string error;
      if (!child.start(argv, {}, error)) {
        std::fprintf(stderr, "twin: pipeline: %s: cannot start: %s\n", stage.c_str(),
                     error.c_str());
        rc = kExitInputError;
      } else {
        rc = wait_child(child);
      }
    }
    record.exit_code = rc;
    record.seconds = seconds_since(start);
    records.push_back(record);
    bool gate_failed = s.stage == Stage::kCompare && rc == kExitGateFailed;
    if (rc != 0 && !gate_failed) {
      std::fprintf(stderr, "twin: pipeline: stage %s failed (exit %d)\n", stage.c_str(), rc);
      failed_stage = stage;
      code = kExitInputError;
    } else if (gate_failed) {
      code = kExitGateFailed;
    }
    if (g_interrupted && failed_stage.empty()) {
      std::fprintf(stderr, "twin: pipeline: interrupted after stage %s\n", stage.c_str());
      failed_stage = stage;
      code = kExitInputError;
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);

  // The verdict, from the compare stage's JSON report when it ran.
  std::string verdict = failed_stage.empty() ? "done" : "error";
  std::vector<std::string> regressed;
  nlohmann::json counts = nlohmann::json::object();
  nlohmann::json reports = nlohmann::json::object();
  const StageRun* compare = nullptr;
  // Reports are named only when compare ran in this run: an earlier run's must not pass for it.
  for (const auto& r : records)
    if (r.stage == "compare" && (r.exit_code == kExitOk || r.exit_code == kExitGateFailed))
      for (const auto& s : p.stages)
        if (s.stage == Stage::kCompare) compare = &s;
  if (compare != nullptr) {
    for (const auto& [kind, path] : compare->reports) reports[kind] = path;
    {
      std::ifstream in(compare->reports.front().second);
      nlohmann::json report = nlohmann::json::parse(in, nullptr, false);
      if (report.is_object() && report.contains("verdict")) {
        verdict = report.value("verdict", "error");
        if (report.contains("routes") && report["routes"].is_array()) {
          for (const auto& r : report["routes"]) {
            if (r.value("verdict", "") == "regressed")
              regressed.push_back(r.value("method", "") + " " + r.value("route", ""));
          }
        }
        if (report.contains("counters")) {
          for (const char* k : {"paired", "read", "unpaired_baseline", "unpaired_candidate"})
            if (report["counters"].contains(k)) counts[k] = report["counters"][k];
        }
      } else {
        std::fprintf(stderr, "twin: pipeline: %s: cannot read the compare report\n",
                     compare->reports.front().second.c_str());
        verdict = "error";
        code = kExitInputError;
      }
    }
  }
  std::string text = verdict_text(p.name, verdict, failed_stage, regressed);

  // Webhooks: the verdict stands whatever they answer.
  nlohmann::json notified = nlohmann::json::array();
  if (!cli.no_notify) {
    for (size_t k = 0; k < p.notify.size(); ++k) {
      const auto& n = p.notify[k];
      bool failure = code != kExitOk;
      if (n.when == "failure" && !failure) continue;
      if (n.when == "regression" && code != kExitGateFailed) continue;
      nlohmann::json body;
      if (n.format == "slack") {
        body = {{"text", text}};
      } else if (n.format == "github") {
        std::string state = code == kExitOk           ? "success"
                            : code == kExitGateFailed ? "failure"
                                                      : "error";
        std::string description = utf8_prefix(text, 140);  // GitHub counts characters
        body = {{"state", state}, {"description", description}, {"context", "twin/" + p.name}};
      } else {
        body = {{"pipeline", p.name},
                {"verdict", verdict},
                {"exit_code", code},
                {"failed_stage",
                 failed_stage.empty() ? nlohmann::json(nullptr) : nlohmann::json(failed_stage)},
                {"regressed", regressed},
                {"counts", counts},
                {"reports", reports},
                {"text", text}};
      }
      auto r = post_json(n.url, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                         n.headers, 15);
      notified.push_back(
          {{"format", n.format}, {"line", n.line}, {"ok", r.ok}, {"status", r.status}});
      if (r.ok) {
        if (!cli.quiet)
          std::fprintf(stderr, "pipeline: notified the %s webhook (line %d): HTTP %ld\n",
                       n.format.c_str(), n.line, r.status);
      } else {
        std::fprintf(stderr, "twin: pipeline: the %s webhook (line %d) failed: %s\n",
                     n.format.c_str(), n.line, r.error.c_str());
      }
    }
  }

  // The run's record, next to its archives.
  nlohmann::json run = {{"pipeline", p.name},
                        {"file", p.path},
                        {"verdict", verdict},
                        {"exit_code", code},
                        {"failed_stage", failed_stage.empty() ? nlohmann::json(nullptr)
                                                              : nlohmann::json(failed_stage)},
                        {"regressed", regressed},
                        {"seconds", seconds_since(run_start)},
                        {"reports", reports},
                        {"notified", notified},
                        {"stages", nlohmann::json::array()}};
  for (const auto& r : records) {
    nlohmann::json s = {{"stage", r.stage},
                        {"command", r.command},
                        {"exit_code", r.exit_code},
                        {"seconds", r.seconds}};
    s.update(r.extra);
    run["stages"].push_back(s);
  }
  {
    std::ofstream record(fs::path(p.workdir) / "pipeline.json");
    record << run.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (!record)
      std::fprintf(stderr, "twin: pipeline: %s: cannot write pipeline.json\n", p.workdir.c_str());
  }

  std::fprintf(stderr, "%s (exit %d)\n", text.c_str(), code);
  for (const auto& [kind, path] : reports.items())
    if (kind == "html") std::fprintf(stderr, "HTML report: %s\n", path.get<std::string>().c_str());
  return code;
}

}  // namespace

Run add_pipeline(CLI::App& app) {
  auto cli = std::make_shared<PipelineCli>();
  auto* cmd = app.add_subcommand(
      "pipeline",
      "Run a release gate from a pipeline file: capture, filter, scrub, replay, compare");
  cmd->require_subcommand(1);
  auto* run = cmd->add_subcommand("run", "Run the stages of a pipeline file (docs/pipeline.md)");
  run->add_option("file", cli->file, "Pipeline file (YAML)")->required();
  run->add_option("--from", cli->from,
                  "Start at this stage, reading the archive the stage before it wrote earlier");
  run->add_option("--to", cli->to, "Stop after this stage");
  run->add_option("--workdir", cli->workdir, "Where outputs go (overrides the file's workdir)");
  run->add_flag("--dry-run", cli->dry_run, "Check the file and print the commands; run nothing");
  run->add_flag("--no-notify", cli->no_notify, "Do not call the webhooks");
  run->add_flag("-q,--quiet", cli->quiet, "Only the stages' own output and the verdict");
  return [cli]() { return run_pipeline(*cli); };
}

}  // namespace twin::cli
