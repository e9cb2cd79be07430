#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "common.h"

namespace twin::cli {

namespace {
struct ConvertOptions {
  std::string input;
  std::string output;
  std::string format;
  std::string from;
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
    traffic::Exchange e;
    uint64_t n = 0;
    int code = kExitOk;
    while (true) {
      auto more = (*source)->next(e);
      if (!more) {
        std::fprintf(stderr, "twin: %s\n", more.error().message.c_str());
        code = kExitInputError;  // what was read so far is still written and closed below
        break;
      }
      if (!*more) break;
      if (auto r = (*sink)->write(e); !r) {
        std::fprintf(stderr, "twin: %s\n", r.error().message.c_str());
        return kExitInputError;
      }
      progress.tick(++n);
    }
    progress.finish(n);
    if (auto r = (*sink)->close(); !r) {
      std::fprintf(stderr, "twin: %s\n", r.error().message.c_str());
      return kExitInputError;
    }
    if (print_warnings(**source) > 0) code = kExitInputError;
    return code;
  };
}

}  // namespace twin::cli
