// twin capture: packets (a pcap/pcapng file or a live interface) to a .twin archive.

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "commands.h"
#include "scrub_setup.h"
#include "staged.h"
#include "twin/capture/capture.h"

namespace twin::cli {

namespace {

struct CaptureCli {
  capture::CaptureOptions options;
  std::string output;
  bool quiet = false;
  std::string scrub;  // --scrub POLICY ("default" for the built-in policy)
  int scrub_threads = default_scrub_threads();

  // From 4 cores, all but one (at most 16): the capture's own thread is one of them, and the
  // kernel's buffer holds the packets while it scrubs. On fewer, the scrub stays on it.
  static int default_scrub_threads() {
    const int cores = usable_cores();
    return cores >= 4 ? std::min(cores - 1, 16) : 1;
  }
  ScrubSetup scrub_setup;
};

capture::Capture* g_running = nullptr;  // for the signal handler

extern "C" void on_signal(int) {
  if (g_running != nullptr) g_running->request_stop();
}

bool interactive() { return ::isatty(STDERR_FILENO) == 1 && std::getenv("CI") == nullptr; }

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void print_summary(const capture::Counters& c) {
  auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  std::fprintf(stderr,
               "capture: %llu packets (%s), kernel drops %llu, interface drops %llu, "
               "not IP %llu, not TCP %llu, snapped %llu, filtered %llu\n",
               u(c.packets), human_bytes(c.bytes).c_str(), u(c.kernel_drops), u(c.interface_drops),
               u(c.packets_not_ip), u(c.packets_not_tcp), u(c.packets_snapped),
               u(c.packets_filtered));
  std::fprintf(stderr,
               "capture: %llu connections (%llu midstream, %llu not HTTP, %llu unsampled, "
               "%llu idle-closed, %llu evicted); IP fragments %llu, reassembled %llu, expired "
               "%llu\n",
               u(c.flows), u(c.flows_midstream), u(c.flows_not_http), u(c.flows_unsampled),
               u(c.flows_idle_closed), u(c.flows_evicted), u(c.fragments),
               u(c.fragments_reassembled), u(c.fragments_expired));
  std::fprintf(stderr,
               "capture: TCP segments out of order %llu, retransmitted %llu, overlapping %llu, "
               "dropped %llu; gaps %llu (%s)\n",
               u(c.segments_out_of_order), u(c.segments_retransmitted), u(c.segments_overlapping),
               u(c.segments_dropped), u(c.gaps), human_bytes(c.gap_bytes).c_str());
  std::fprintf(stderr,
               "capture: %llu exchanges written (%llu without response, %llu with gaps, %llu "
               "bodies truncated), %llu messages skipped, %llu over --max-exchanges, %llu "
               "unwritten\n",
               u(c.exchanges), u(c.exchanges_no_response), u(c.exchanges_gap),
               u(c.bodies_truncated), u(c.messages_skipped), u(c.exchanges_over_limit),
               u(c.exchanges_unwritten));
  std::string anomalies;
  for (const auto& [name, n] : c.anomalies) {
    if (!anomalies.empty()) anomalies += ", ";
    anomalies += name + " " + std::to_string(n);
  }
  std::fprintf(stderr, "capture: anomalies: %s\n", anomalies.empty() ? "none" : anomalies.c_str());
}

}  // namespace

Run add_capture(CLI::App& app) {
  auto cli = std::make_shared<CaptureCli>();
  auto& o = cli->options;
  auto* cmd = app.add_subcommand(
      "capture", "Capture HTTP/1.x and HTTP/2 exchanges from a pcap file or a live interface");
  auto* file = cmd->add_option("-r,--read", o.file, "pcap or pcapng file (- for standard input)");
  auto* live = cmd->add_option("-i,--interface", o.interface, "Live interface (needs root)");
  file->excludes(live);
  cmd->add_option("-o,--output", cli->output, "Output .twin archive (- for standard output)")
      ->required();
  cmd->add_option("-f,--filter", o.filter, "BPF filter expression");
  cmd->add_option("--port", o.ports, "Server port (repeatable): only connections to it")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--max-body", o.max_body, "Bytes of each body kept (suffixes k, M, G)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd->add_option("--duration", o.duration, "Stop after SECONDS (files: of packet time)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-exchanges", o.max_exchanges, "Stop after N exchanges");
  cmd->add_option("--sample", o.sample_rate, "Keep whole connections with probability RATE")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--sample-key", o.sample_key,
                  "Key of the sampling hash (the same key keeps the same connections)");
  cmd->add_option("--snaplen", o.snaplen, "Live: bytes captured per packet")
      ->check(CLI::Range(128, 262144))
      ->capture_default_str();
  cmd->add_option("--buffer-size", o.buffer_size, "Live: kernel buffer (suffixes k, M, G)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd->add_flag("!--buffered", o.immediate,
                "Live: take packets from the kernel in blocks (fewer wakeups, up to 100 ms late) "
                "instead of immediate mode");
  cmd->add_option("--idle-timeout", o.idle_timeout, "Seconds before an idle connection ends")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-flows", o.max_flows, "Connections tracked at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-memory", o.max_memory,
                  "Bytes buffered across connections (suffixes k, M, G)")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  cmd->add_option("--stats-interval", o.stats_interval,
                  "Seconds between counters written to the archive")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", cli->quiet, "No summary at the end");
  cmd->add_option("--scrub", cli->scrub,
                  "Scrub in memory with POLICY (YAML; 'default' for the built-in policy) before "
                  "anything is written: raw personal data never reaches the archive");
  add_scrub_options(cmd, cli->scrub_setup, "--scrub");
  cmd->add_option("--scrub-threads", cli->scrub_threads,
                  "Threads that scrub with --scrub, the capture's own among them; exchanges "
                  "then wait in batches of 16 a thread (at most a stats interval) before they "
                  "are scrubbed and written. The archive is the same. Default: from 4 cores, "
                  "all but one (at most 16); else 1")
      ->check(CLI::Range(1, 64));

  return [cli]() -> int {
    auto& o = cli->options;
    if (o.file.empty() && o.interface.empty()) {
      std::fprintf(stderr, "twin: capture: give a source: -r FILE or -i INTERFACE\n");
      return kExitInputError;
    }
    if (o.sample_rate <= 0.0) {
      std::fprintf(stderr, "twin: capture: --sample must be more than 0\n");
      return kExitInputError;
    }
    std::optional<ScrubEngine> scrub;
    if (!cli->scrub.empty()) {
      cli->scrub_setup.policy = cli->scrub == "default" ? "" : cli->scrub;
      cli->scrub_setup.quiet = cli->quiet;
      cli->scrub_setup.threads = cli->scrub_threads;
      auto engine = make_scrub_engine(cli->scrub_setup);
      if (!engine) {
        std::fprintf(stderr, "twin: %s\n", engine.error().message.c_str());
        return kExitInputError;
      }
      scrub = std::move(*engine);
      auto* s = scrub->scrubber.get();
      if (cli->scrub_threads > 1) {
        o.before_write_batch = [s](std::span<traffic::Exchange> b) { s->scrub_batch(b); };
        o.write_batch = 16 * size_t(cli->scrub_threads);
      } else {
        o.before_write = [s](traffic::Exchange& e) { s->scrub(e); };
      }
      auto* se = &*scrub;
      o.extra_metadata = [se]() { return scrub_metadata(*se); };
    } else if (!cli->scrub_setup.report.empty()) {
      std::fprintf(stderr, "twin: capture: --report needs --scrub\n");
      return kExitInputError;
    }
    auto capture = capture::Capture::open(o);
    if (!capture) {
      std::fprintf(stderr, "twin: %s\n", capture.error().message.c_str());
      return kExitInputError;
    }
    traffic::WriterOptions wo;
    wo.metadata = {{"capture_source", (*capture)->description()}};
    // With --scrub the source's description (a BPF filter naming hosts, a file name) is
    // scrubbed like the exchanges: raw data never reaches disk.
    if (scrub) scrub_metadata_strings(*scrub, wo.metadata);
    if (scrub) wo.metadata.update(scrub_metadata(*scrub));
    auto writer = traffic::Writer::open(cli->output, wo);
    if (!writer) {
      std::fprintf(stderr, "twin: %s\n", writer.error().message.c_str());
      return kExitInputError;
    }

    g_running = capture->get();
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {
    }, old_term{};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    const bool tty = interactive();
    if (!o.interface.empty()) {
      std::fprintf(stderr, "twin: capturing on %s; Ctrl-C stops and writes %s\n",
                   o.interface.c_str(), cli->output.c_str());
    }
    auto on_stats = [tty](const capture::Counters& c) {
      if (!tty) return;
      std::fprintf(
          stderr,
          "\r\033[Kcapture: %llu packets, %llu connections, %llu exchanges, drops %llu, "
          "gaps %llu",
          static_cast<unsigned long long>(c.packets), static_cast<unsigned long long>(c.flows),
          static_cast<unsigned long long>(c.exchanges),
          static_cast<unsigned long long>(c.kernel_drops), static_cast<unsigned long long>(c.gaps));
    };
    auto ran = (*capture)->run(**writer, on_stats);
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    g_running = nullptr;
    if (tty) std::fprintf(stderr, "\r\033[K");

    int code = kExitOk;
    if (auto r = (*writer)->close(); !r) {
      std::fprintf(stderr, "twin: %s\n", r.error().message.c_str());
      code = kExitInputError;
    }
    if (!cli->quiet) print_summary((*capture)->counters());
    if (scrub && !finish_scrub(*scrub, cli->scrub_setup)) code = kExitInputError;
    if (!ran) {
      std::fprintf(stderr, "twin: %s\n", ran.error().message.c_str());
      code = kExitInputError;
    }
    return code;
  };
}

}  // namespace twin::cli
