// twin filter: the exchanges of an archive that match a selection expression, lie in a capture
// time window and belong to a sample of sessions, written to a new archive.

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "select.h"
#include "staged.h"
#include "twin/replay/replay.h"
#include "twin/traffic/archive.h"
#include "twin/traffic/convert.h"

namespace twin::cli {

namespace {

struct FilterOptions {
  std::string input;
  std::string output;
  std::string where;
  std::string window;
  double sample_percent = 100;
  uint64_t sample_seed = 0;
  bool quiet = false;
  int threads = default_stage_threads();
};

int filter(const FilterOptions& o) {
  auto selector = Selector::parse(o.where, "--where");
  if (!selector) {
    std::fprintf(stderr, "twin: filter: %s\n", selector.error().message.c_str());
    return kExitInputError;
  }
  auto window = parse_window(o.window, "--window");
  if (!window) {
    std::fprintf(stderr, "twin: filter: %s\n", window.error().message.c_str());
    return kExitInputError;
  }
  std::error_code ec;
  if (o.output == o.input || std::filesystem::equivalent(o.input, o.output, ec)) {
    std::fprintf(stderr, "twin: filter: -o %s: the same file as the input\n", o.output.c_str());
    return kExitInputError;
  }
  auto source = traffic::open_source(o.input);
  if (!source) {
    std::fprintf(stderr, "twin: %s\n", source.error().message.c_str());
    return kExitInputError;
  }
  int64_t t0 = traffic::kNoTime;
  if (window->needs_t0()) {
    auto first = first_request_start(o.input);
    if (!first) {
      std::fprintf(stderr, "twin: %s\n", first.error().message.c_str());
      return kExitInputError;
    }
    t0 = *first;
  }
  const double fraction = o.sample_percent / 100.0;

  nlohmann::json metadata = (*source)->metadata();
  if (!metadata.is_object()) metadata = nlohmann::json::object();
  nlohmann::json settings = {{"where", o.where},
                             {"window", o.window},
                             {"sample", o.sample_percent},
                             {"sample_seed", o.sample_seed}};
  metadata["filter"] = settings;
  // A .twin output gets the counters in a metadata block at the end; other forms have no room
  // for metadata.
  const auto format = traffic::format_from_path(o.output).value_or(traffic::Format::kTwin);
  traffic::WriterPtr writer;
  traffic::SinkPtr sink;
  if (format == traffic::Format::kTwin) {
    traffic::WriterOptions wo;
    wo.metadata = metadata;
    auto w = traffic::Writer::open(o.output, wo);
    if (!w) {
      std::fprintf(stderr, "twin: %s\n", w.error().message.c_str());
      return kExitInputError;
    }
    writer = std::move(*w);
  } else {
    auto s = traffic::open_sink(o.output, format, metadata);
    if (!s) {
      std::fprintf(stderr, "twin: %s\n", s.error().message.c_str());
      return kExitInputError;
    }
    sink = std::move(*s);
  }

  int code = kExitOk;
  Progress progress("filter");
  StagedOptions so;
  so.threads = o.threads;
  const StagedResult run = run_staged(
      **source,
      [&](traffic::Exchange& e) {
        return window->contains(e.time.request_start, t0) &&
               (fraction >= 1.0 || replay::sample_keeps(e.session, fraction, o.sample_seed)) &&
               selector->matches(e);
      },
      [&](const traffic::Exchange& e) { return writer ? writer->append(e) : sink->write(e); }, so,
      [&](uint64_t n) { progress.tick(n); });
  progress.finish(run.read);
  if (!run.write_error.empty()) {
    std::fprintf(stderr, "twin: %s\n", run.write_error.c_str());
    return kExitInputError;
  }
  if (!run.read_error.empty()) {
    std::fprintf(stderr, "twin: %s\n", run.read_error.c_str());
    code = kExitInputError;
  }
  const uint64_t read = run.read, kept = run.written;
  if (print_warnings(**source) > 0) code = kExitInputError;
  settings["read"] = read;
  settings["kept"] = kept;
  Result<void> closed;
  if (writer) {
    closed = writer->put_metadata({{"filter", settings}});
    if (closed) closed = writer->close();
  } else {
    closed = sink->close();
  }
  if (!closed) {
    std::fprintf(stderr, "twin: %s\n", closed.error().message.c_str());
    return kExitInputError;
  }
  if (!o.quiet) {
    std::fprintf(stderr, "filter: read %llu, kept %llu\n", static_cast<unsigned long long>(read),
                 static_cast<unsigned long long>(kept));
  }
  return code;
}

}  // namespace

Run add_filter(CLI::App& app) {
  auto o = std::make_shared<FilterOptions>();
  auto* cmd = app.add_subcommand(
      "filter",
      "Keep the exchanges that match an expression, a capture-time window and a sample of "
      "sessions (see docs/reproduce.md for the expression)");
  cmd->add_option("input", o->input, "Archive to read (.twin, .jsonl, .har)")->required();
  cmd->add_option("-o,--output", o->output, "Archive to write (.twin)")->required();
  cmd->add_option("--where", o->where,
                  "Selection: KEY OP VALUE[|VALUE] terms, all must hold; keys method, route, "
                  "path, status, error, target, session, id, origin, body, request_body; ops = "
                  "!= ~ !~ (e.g. 'status=5xx route=/api/**')");
  cmd->add_option("--window", o->window,
                  "FROM..TO, each seconds after the archive's first request or RFC 3339; either "
                  "side may be empty (30.., ..90)");
  cmd->add_option("--sample", o->sample_percent,
                  "Percentage of sessions to keep, chosen by the keyed hash `twin replay "
                  "--sample` uses")
      ->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--sample-seed", o->sample_seed, "Key of --sample's hash");
  cmd->add_flag("-q,--quiet", o->quiet, "No counts on stderr");
  cmd->add_option("--threads", o->threads,
                  "1: read, select and write on one thread; 2 or more: reading and writing on "
                  "threads of their own (the output is the same). Default: 3, or 1 when twin may "
                  "run on one core only")
      ->check(CLI::Range(1, 1024));
  return [o]() { return filter(*o); };
}

}  // namespace twin::cli
