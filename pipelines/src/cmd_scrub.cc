// twin scrub: an archive in, the same archive with its personal data replaced out.

#include <algorithm>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "commands.h"
#include "common.h"
#include "scrub_setup.h"
#include "staged.h"
#include "twin/traffic/archive.h"

namespace twin::cli {

namespace {
struct ScrubCli {
  std::string input;
  std::string output;
  std::string format;
  std::string from;
  bool print_policy = false;
  int threads = default_threads();
  ScrubSetup setup;

  // 4 cores or more: all but one scrubbing (up to 16), and a thread each for reading and
  // writing, which share that one. On 2 or 3 cores the scrub stays on one thread: on the 2-core
  // benchmark VM two scrubbing threads next to reading and writing gained nothing (bench/README).
  static int default_threads() {
    const int cores = usable_cores();
    if (cores >= 4) return std::min(cores - 1, 16) + 2;
    return cores > 1 ? 3 : 1;
  }
};
}  // namespace

Run add_scrub(CLI::App& app) {
  auto cli = std::make_shared<ScrubCli>();
  auto* cmd = app.add_subcommand(
      "scrub", "Replace the personal data in an archive with shape-keeping tokens");
  cmd->add_option("input", cli->input, "Input archive (.twin, .jsonl, .har; - with --from)");
  cmd->add_option("-o,--output", cli->output, "Output archive (.twin keeps the scrub counters)");
  cmd->add_option("--policy", cli->setup.policy,
                  "Scrub policy (YAML); without it the built-in secure default, with a warning");
  cmd->add_option("--format", cli->format, "Output format: twin, jsonl or har");
  cmd->add_option("--from", cli->from, "Input format: twin, jsonl or har");
  cmd->add_flag("--print-default-policy", cli->print_policy,
                "Print the built-in default policy and exit");
  cmd->add_flag("-q,--quiet", cli->setup.quiet, "No summary at the end");
  cmd->add_option("--threads", cli->threads,
                  "Threads in all. 1: read, scrub and write on one thread; 2 or 3: reading and "
                  "writing on threads of their own, the scrub on one; N >= 4: N - 2 threads "
                  "scrub. The output is the same byte for byte. Default: on 4 cores or more, "
                  "the cores twin may use + 1 (at most 18); 3 on 2 or 3 cores; 1 on one. At "
                  "most 66 (each scrubbing thread keeps caches of about 10 MiB)")
      ->check(CLI::Range(1, 66));
  add_scrub_options(cmd, cli->setup, "--policy");

  return [cli]() -> int {
    if (cli->print_policy) {
      std::fputs(std::string(scrubber::default_policy_text()).c_str(), stdout);
      return kExitOk;
    }
    if (cli->input.empty() || cli->output.empty()) {
      std::fprintf(stderr, "twin: scrub: give an input archive and -o OUTPUT\n");
      return kExitInputError;
    }
    auto in_format = format_option(cli->from, "--from");
    auto out_format = format_option(cli->format, "--format");
    if (!out_format) out_format = traffic::format_from_path(cli->output);
    const int scrub_threads = cli->threads >= 4 ? cli->threads - 2 : 1;
    cli->setup.threads = scrub_threads;
    auto engine = make_scrub_engine(cli->setup);
    if (!engine) {
      std::fprintf(stderr, "twin: %s\n", engine.error().message.c_str());
      return kExitInputError;
    }
    auto source = traffic::open_source(cli->input, in_format);
    if (!source) {
      std::fprintf(stderr, "twin: %s\n", source.error().message.c_str());
      return kExitInputError;
    }
    nlohmann::json meta = (*source)->metadata();
    meta.erase("producer");
    meta.erase("created");
    meta.erase("format");
    // What the input's metadata says (a capture's filter and file, a conversion's input path)
    // goes into the scrubbed archive: scrubbed like the exchanges. An input scrubbed before
    // keeps its own "scrub" record untouched (the new one replaces it below).
    meta.erase("scrub");
    scrub_metadata_strings(*engine, meta);
    meta.update(scrub_metadata(*engine));

    // A .twin output gets the counters again at the end (a metadata block); other formats
    // only carry what their header can.
    traffic::WriterPtr writer;
    traffic::SinkPtr sink;
    if (out_format.value_or(traffic::Format::kTwin) == traffic::Format::kTwin) {
      traffic::WriterOptions wo;
      wo.metadata = meta;
      auto w = traffic::Writer::open(cli->output, wo);
      if (!w) {
        std::fprintf(stderr, "twin: %s\n", w.error().message.c_str());
        return kExitInputError;
      }
      writer = std::move(*w);
    } else {
      auto s = traffic::open_sink(cli->output, out_format, meta);
      if (!s) {
        std::fprintf(stderr, "twin: %s\n", s.error().message.c_str());
        return kExitInputError;
      }
      sink = std::move(*s);
    }

    Progress progress("scrub");
    StagedOptions so;
    so.threads = cli->threads;
    // Several scrubbing threads share each batch: more of them, more exchanges a batch.
    so.batch_exchanges = std::max<size_t>(so.batch_exchanges, 16 * size_t(scrub_threads));
    auto* scrubber = engine->scrubber.get();
    const StagedResult run = run_staged_batches(
        **source, [scrubber](std::span<traffic::Exchange> batch) { scrubber->scrub_batch(batch); },
        [&](const traffic::Exchange& e) { return writer ? writer->append(e) : sink->write(e); }, so,
        [&](uint64_t n) { progress.tick(n); });
    progress.finish(run.read);
    int code = kExitOk;
    if (!run.write_error.empty()) {
      std::fprintf(stderr, "twin: %s\n", run.write_error.c_str());
      return kExitInputError;
    }
    if (!run.read_error.empty()) {
      std::fprintf(stderr, "twin: %s\n", run.read_error.c_str());
      code = kExitInputError;  // what was read before it is still scrubbed, written and closed
    }
    if (writer) {
      if (auto r = writer->put_metadata(scrub_metadata(*engine)); !r) {
        std::fprintf(stderr, "twin: %s\n", r.error().message.c_str());
        return kExitInputError;
      }
    }
    auto closed = writer ? writer->close() : sink->close();
    if (!closed) {
      std::fprintf(stderr, "twin: %s\n", closed.error().message.c_str());
      return kExitInputError;
    }
    if (print_warnings(**source) > 0) code = kExitInputError;
    if (!finish_scrub(*engine, cli->setup)) code = kExitInputError;
    return code;
  };
}

}  // namespace twin::cli
