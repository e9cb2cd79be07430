#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"
#include "staged.h"

namespace twin::cli {

namespace {
struct ConvertOptions {
  std::string input;
  std::string output;
  std::string format;
  std::string from;
  int threads = default_stage_threads();
};
}  // namespace

Run add_convert(CLI::App& app) {
  auto opts = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert between .twin, .jsonl and .har (by extension, or --format/--from)");
  cmd->add_option("input", opts->input, "Input file (- for standard input, with --from)")
      ->required();
  cmd->add_option("-o,--output", opts->output, "Output file (- for standard output, with --format)")
      ->required();
  cmd->add_option("--format", opts->format, "Output format: twin, jsonl or har");
  cmd->add_option("--from", opts->from, "Input format: twin, jsonl or har");
  cmd->add_option("--threads", opts->threads,
                  "1: read and write on one thread; 2 or more: reading and writing on threads "
                  "of their own (the output is the same). Default: 3, or 1 when twin may run on "
                  "one core only")
      ->check(CLI::Range(1, 1024));
  return [opts]() -> int {
    auto in_format = format_option(opts->from, "--from");
    auto out_format = format_option(opts->format, "--format");
    auto source = traffic::open_source(opts->input, in_format);
    if (!source) {
      std::fprintf(stderr, "twin: %s\n", source.error().message.c_str());
      return kExitInputError;
    }
    // The source's metadata (a capture's counters, say) travels with the exchanges.
    nlohmann::json meta = (*source)->metadata();
    meta.erase("producer");
    meta.erase("created");
    meta.erase("format");
    meta["converted_from"] = {{"path", opts->input}};
    auto sink = traffic::open_sink(opts->output, out_format, std::move(meta));
    if (!sink) {
      std::fprintf(stderr, "twin: %s\n", sink.error().message.c_str());
      return kExitInputError;
    }
    Progress progress("convert");
    StagedOptions so;
    so.threads = opts->threads;
    auto* out = sink->get();
    const StagedResult run = run_staged(
        **source, [](traffic::Exchange&) { return true; },
        [out](const traffic::Exchange& e) { return out->write(e); }, so,
        [&](uint64_t n) { progress.tick(n); });
    progress.finish(run.read);
    int code = kExitOk;
    if (!run.write_error.empty()) {
      std::fprintf(stderr, "twin: %s\n", run.write_error.c_str());
      return kExitInputError;
    }
    if (!run.read_error.empty()) {
      std::fprintf(stderr, "twin: %s\n", run.read_error.c_str());
      code = kExitInputError;  // what was read before it is still written and closed below
    }
    if (auto r = (*sink)->close(); !r) {
      std::fprintf(stderr, "twin: %s\n", r.error().message.c_str());
      return kExitInputError;
    }
    if (print_warnings(**source) > 0) code = kExitInputError;
    return code;
  };
}

}  // namespace twin::cli
