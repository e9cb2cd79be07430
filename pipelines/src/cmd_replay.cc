// twin replay: a captured archive sent to one or more targets, every response recorded.

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "twin/replay/replay.h"

namespace twin::cli {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_replay_signal(int) { g_stop.store(true); }

struct ReplayCli {
  replay::Options options;
  std::vector<std::string> targets;
  std::vector<std::string> headers;
  std::vector<std::string> methods;
  std::string from, until;
  double sample_percent = 100;
  std::string summary_json;
  bool max = false;
  bool no_order = false;
  bool send_truncated = false;
  size_t loop_cache_mib = 64;
  bool quiet = false;
};

std::string ms(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(ns) / 1e6);
  return buf;
}

void print_summary(const replay::Summary& s) {
  std::fprintf(stderr,
               "replay: planned=%llu skipped_filtered=%llu skipped_truncated_body=%llu "
               "skipped_no_request=%llu loops=%llu (from memory %llu) recorded=%llu "
               "record_stalls=%llu input_damage=%llu elapsed=%.2fs%s\n",
               (unsigned long long)s.planned, (unsigned long long)s.skipped_filtered,
               (unsigned long long)s.skipped_truncated, (unsigned long long)s.skipped_no_request,
               (unsigned long long)s.loops, (unsigned long long)s.loops_from_memory,
               (unsigned long long)s.recorded, (unsigned long long)s.record_stalls,
               (unsigned long long)s.input_damage, s.elapsed,
               s.interrupted ? " (interrupted)" : "");
  for (const auto& t : s.targets) {
    uint64_t errs = 0;
    std::string kinds;
    for (const auto& [k, v] : t.errors) {
      errs += v;
      kinds += " " + k + "=" + std::to_string(v);
    }
    std::string statuses;
    for (const auto& [k, v] : t.statuses) statuses += " " + k + "=" + std::to_string(v);
    double rate =
        s.duration_measured > 0 ? static_cast<double>(t.completed) / s.duration_measured : 0.0;
    std::fprintf(stderr,
                 "replay: target %s: sent=%llu completed=%llu errors=%llu%s%s rate=%.1f/s "
                 "latency_ms p50=%s p90=%s p99=%s p99.9=%s max=%s service_p99_ms=%s "
                 "send_lag_p99_ms=%s connections=%llu preconnected=%llu connect_failed=%llu "
                 "held_by_order=%llu "
                 "waited_for_connection=%llu overflow=%llu truncated_bodies=%llu warmup=%llu "
                 "invalid_headers=%llu\n",
                 t.name.c_str(), (unsigned long long)t.sent, (unsigned long long)t.completed,
                 (unsigned long long)errs,
                 kinds.empty() ? "" : (" (" + kinds.substr(1) + ")").c_str(), statuses.c_str(),
                 rate, ms(t.latency.quantile(0.5)).c_str(), ms(t.latency.quantile(0.9)).c_str(),
                 ms(t.latency.quantile(0.99)).c_str(), ms(t.latency.quantile(0.999)).c_str(),
                 ms(t.latency.max()).c_str(), ms(t.service.quantile(0.99)).c_str(),
                 ms(t.send_lag.quantile(0.99)).c_str(), (unsigned long long)t.connections_opened,
                 (unsigned long long)t.preconnected, (unsigned long long)t.connections_failed,
                 (unsigned long long)t.held_by_order, (unsigned long long)t.waited_for_connection,
                 (unsigned long long)t.overflow, (unsigned long long)t.truncated_bodies,
                 (unsigned long long)t.warmup, (unsigned long long)t.invalid_headers);
  }
}

}  // namespace

Run add_replay(CLI::App& app) {
  auto cli = std::make_shared<ReplayCli>();
  auto& o = cli->options;
  auto* cmd = app.add_subcommand(
      "replay", "Send captured traffic to one or more targets and record every response");
  cmd->add_option("input", o.input, "Captured archive (.twin)")->required();
  cmd->add_option("-t,--target", cli->targets,
                  "[NAME=]URL, repeatable: http://, https://, h2c:// (HTTP/2 cleartext) or h2:// "
                  "(HTTP/2 over TLS). Only these are ever contacted")
      ->required();
  cmd->add_option("-o,--output", o.output, "Results archive (.twin): one exchange per response");
  cmd->add_option("--summary-json", cli->summary_json, "Write the per-target summary as JSON");
  // schedule
  auto* speed = cmd->add_option("--speed", o.speed,
                                "Time-faithful: captured inter-arrival times divided by X")
                    ->check(CLI::PositiveNumber);
  auto* rate =
      cmd->add_option("--rate", o.rate, "Fixed rate, requests/s")->check(CLI::PositiveNumber);
  cmd->add_flag("--poisson", o.poisson, "With --rate: Poisson arrivals instead of uniform");
  auto* max =
      cmd->add_flag("--max", cli->max, "Closed loop: every connection sends as soon as it is free");
  cmd->add_option("-c,--connections", o.connections, "With --max: connections per target (64)");
  cmd->add_option("-m,--streams", o.streams,
                  "With --max: concurrent streams per HTTP/2 connection (1, like h2load -m)")
      ->check(CLI::Range(1, 1000));
  speed->excludes(rate)->excludes(max);
  rate->excludes(max);
  cmd->add_option("-d,--duration", o.duration, "Stop after S seconds")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--loop", o.loop, "Start the input over when it ends (soak; use --duration)");
  cmd->add_option("--loop-cache", cli->loop_cache_mib,
                  "With --loop: MiB of the first pass kept in memory, each request as it is "
                  "sent to each target, so that later passes read nothing (64; 0: read the "
                  "input on every pass)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--warmup", o.warmup, "Seconds at the start sent but not counted or recorded")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-order", cli->no_order,
                "Do not hold a session's request until its previous one completed");
  cmd->add_option("--threads", o.threads, "Worker threads (default: the core count)");
  cmd->add_option("--seed", o.seed, "Seed of --poisson arrivals");
  // limits
  cmd->add_option("--timeout", o.timeout, "Seconds per request before it times out (30)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--connect-timeout", o.connect_timeout, "Seconds per connection attempt (10)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-body", o.max_body, "Body bytes kept per recorded message (1 MiB)");
  cmd->add_option("--max-connections", o.max_connections, "Connections per target at most");
  cmd->add_option("--preconnect", o.preconnect,
                  "Connections per target opened before the schedule starts (default: 32 with "
                  "--no-order, one per thread to an HTTP/2 target; else 0; not with --max)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  cmd->add_option("--max-waiting", o.max_waiting,
                  "Requests per worker that may wait for a connection or their turn");
  cmd->add_flag("--send-truncated", cli->send_truncated,
                "Also send requests whose captured body was cut (with the shorter body)");
  // rewriting
  cmd->add_option("--authority", o.rewrite.authority, "Host / :authority to send");
  cmd->add_flag("--keep-authority", o.rewrite.keep_authority,
                "Send the captured Host / :authority instead of the target's");
  cmd->add_option("-H,--header", cli->headers,
                  "'Name: value' to set (replaces the captured ones), repeatable");
  cmd->add_option("--remove-header", o.rewrite.remove_headers, "Header to remove, repeatable");
  cmd->add_option("--path-prefix", o.rewrite.path_prefix, "Prepended to every path");
  cmd->add_option("--strip-prefix", o.rewrite.strip_prefix,
                  "Removed from the front of captured paths");
  // filters
  cmd->add_option("--method", cli->methods, "Only these methods (repeatable or comma-separated)")
      ->delimiter(',');
  cmd->add_option("--route", o.filter.routes,
                  "Only paths matching this glob ('*' one segment, '**' any), repeatable");
  cmd->add_option("--from", cli->from,
                  "Only requests captured from this instant: seconds after the capture's start, "
                  "or RFC 3339");
  cmd->add_option("--until", cli->until, "Only requests captured before this instant");
  cmd->add_option("--sample", cli->sample_percent,
                  "Percentage of captured sessions to replay, chosen by a keyed hash")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--sample-seed", o.filter.sample_seed, "Key of --sample's hash");
  // TLS
  cmd->add_flag("-k,--insecure", o.tls.insecure, "Accept any server certificate");
  cmd->add_option("--cacert", o.tls.ca_file, "Trust these CA certificates (PEM)");
  cmd->add_option("--cert", o.tls.cert_file, "Client certificate (PEM)");
  cmd->add_option("--key", o.tls.key_file, "Client key (PEM; default: in --cert)");
  cmd->add_flag("-q,--quiet", cli->quiet, "No live line and no summary on stderr");

  return [cli, rate, max]() -> int {
    auto& o = cli->options;
    for (size_t i = 0; i < cli->targets.size(); ++i) {
      auto t = replay::parse_target(cli->targets[i], i);
      if (!t) {
        std::fprintf(stderr, "twin: replay: %s\n", t.error().message.c_str());
        return kExitInputError;
      }
      for (const auto& other : o.targets) {
        if (other.name == t->name) {
          std::fprintf(stderr, "twin: replay: two targets named '%s'\n", t->name.c_str());
          return kExitInputError;
        }
      }
      o.targets.push_back(std::move(*t));
    }
    for (const auto& h : cli->headers) {
      auto colon = h.find(':');
      if (colon == std::string::npos || colon == 0 ||
          h.find_first_of("\r\n") != std::string::npos) {
        std::fprintf(stderr, "twin: replay: --header '%s': expected 'Name: value'\n",
                     h.substr(0, h.find_first_of("\r\n")).c_str());
        return kExitInputError;
      }
      std::string value = h.substr(colon + 1);
      size_t b = value.find_first_not_of(" \t");
      value = b == std::string::npos ? "" : value.substr(b);
      o.rewrite.set_headers.push_back({h.substr(0, colon), value});
    }
    for (auto m : cli->methods) {
      for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (!m.empty()) o.filter.methods.push_back(m);
    }
    for (auto bound : {parse_bound(cli->from, "--from", o.filter.from, o.filter.from_offset),
                       parse_bound(cli->until, "--until", o.filter.until, o.filter.until_offset)}) {
      if (!bound) {
        std::fprintf(stderr, "twin: replay: %s\n", bound.error().message.c_str());
        return kExitInputError;
      }
    }
    o.filter.sample = cli->sample_percent / 100.0;
    if (cli->max)
      o.mode = replay::Mode::kMax;
    else if (rate->count() > 0)
      o.mode = replay::Mode::kRate;
    else
      o.mode = replay::Mode::kFaithful;
    if (o.connections && !cli->max) {
      std::fprintf(stderr, "twin: replay: --connections goes with --max\n");
      return kExitInputError;
    }
    if (o.loop && o.duration <= 0 && !cli->quiet)
      std::fprintf(stderr, "twin: replay: warning: --loop without --duration runs until stopped\n");
    o.keep_order = !cli->no_order;
    o.loop_cache_bytes = cli->loop_cache_mib << 20;
    o.skip_truncated = !cli->send_truncated;
    o.extra_metadata["replay_options"] = {
        {"input", o.input},
        {"mode", cli->max            ? "max"
                 : rate->count() > 0 ? "rate"
                                     : "faithful"},
        {"speed", o.speed},
        {"rate", o.rate},
        {"poisson", o.poisson},
        {"connections", o.connections},
        {"duration_s", o.duration},
        {"loop", o.loop},
        {"loop_cache_bytes", o.loop_cache_bytes},
        {"warmup_s", o.warmup},
        {"keep_order", o.keep_order},
        {"timeout_s", o.timeout},
        {"max_body", o.max_body},
    };
    auto& targets = o.extra_metadata["targets"] = nlohmann::json::object();
    for (const auto& t : o.targets)
      targets[t.name] = {{"scheme", std::string(replay::to_string(t.scheme))},
                         {"authority", t.authority},
                         {"path_prefix", t.path_prefix}};
    (void)max;

    replay::Hooks hooks;
    hooks.stop = &g_stop;
    bool live = !cli->quiet && ::isatty(STDERR_FILENO) == 1 && std::getenv("CI") == nullptr;
    bool drawn = false;
    if (live) {
      hooks.progress_interval = 0.5;
      hooks.on_progress = [&drawn, last_done = uint64_t{0},
                           last_t = 0.0](const replay::Progress& p) mutable {
        double dt = p.seconds - last_t;
        double r = dt > 0 ? static_cast<double>(p.completed - last_done) / dt : 0;
        last_done = p.completed;
        last_t = p.seconds;
        std::string total = p.total ? std::to_string(p.total) : "?";
        std::fprintf(stderr, "\r\033[Kreplay: %.0f/s  %llu/%s completed  %llu errors  p99 %.1f ms",
                     r, (unsigned long long)p.completed, total.c_str(),
                     (unsigned long long)p.errors, static_cast<double>(p.p99_ns) / 1e6);
        drawn = true;
      };
    }
    struct sigaction sa {
    }, old_int{}, old_term{};
    sa.sa_handler = on_replay_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    auto result = replay::run(o, hooks);
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    if (drawn) std::fputs("\r\033[K", stderr);
    if (!result) {
      std::fprintf(stderr, "twin: %s\n", result.error().message.c_str());
      return kExitInputError;
    }
    if (!cli->quiet) print_summary(*result);
    if (!cli->summary_json.empty()) {
      std::ofstream out(cli->summary_json);
      out << result->to_json().dump(2) << "\n";
      if (!out) {
        std::fprintf(stderr, "twin: %s: cannot write the summary\n", cli->summary_json.c_str());
        return kExitInputError;
      }
    }
    // A target that answered nothing and refused every connection is not a result: say so.
    int code = kExitOk;
    for (const auto& t : result->targets) {
      if (t.completed == 0 && t.connections_failed > 0 &&
          t.connections_failed >= t.connections_opened) {
        std::fprintf(stderr, "twin: replay: target %s: no connection could be made\n",
                     t.name.c_str());
        code = kExitInputError;
      }
    }
    return code;
  };
}

}  // namespace twin::cli
