// twin compare: result archives → a verdict (exit 0 pass, 1 regression, 2 error) and reports.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"
#include "twin/compare/compare.h"

namespace twin::cli {

namespace {

struct CompareCli {
  compare::CompareOptions options;
  std::string gate;
  std::string json, markdown, junit, html;
  bool quiet = false;
  bool no_color = false;
};

// Writes a report file; "-" is standard output. A failure is an input/output error (exit 2).
bool write_report(const std::string& path, const std::string& text, const char* what) {
  if (path.empty()) return true;
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return std::fflush(stdout) == 0;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::fprintf(stderr, "twin: compare: %s: cannot write the %s report\n", path.c_str(), what);
    return false;
  }
  return true;
}

int run_compare(CompareCli& cli) {
  if (!cli.gate.empty()) {
    auto gate = compare::load_gate(cli.gate);
    if (!gate) {
      std::fprintf(stderr, "twin: compare: %s\n", gate.error().message.c_str());
      return kExitInputError;
    }
    cli.options.gate = std::move(*gate);
    cli.options.gate_path = cli.gate;
  }
  Progress progress("compare");
  cli.options.progress = [&](uint64_t n) { progress.tick(n & ~uint64_t{1023}); };
  auto report = compare::compare(cli.options);
  if (!report) {
    std::fprintf(stderr, "twin: %s\n", report.error().message.c_str());
    return kExitInputError;
  }
  progress.finish(report->counters.value("read", uint64_t{0}));

  bool ok = true;
  // Names in a report come from the traffic (routes, JSON keys): bytes that are not UTF-8 are
  // replaced in the JSON rather than failing the whole run.
  if (!cli.json.empty()) {
    ok &= write_report(cli.json,
                       compare::to_json(*report).dump(
                           2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) +
                           "\n",
                       "JSON");
  }
  if (!cli.markdown.empty())
    ok &= write_report(cli.markdown, compare::to_markdown(*report), "Markdown");
  if (!cli.junit.empty()) ok &= write_report(cli.junit, compare::to_junit(*report), "JUnit");
  if (!cli.html.empty()) ok &= write_report(cli.html, compare::to_html(*report), "HTML");
  if (!cli.quiet) {
    // The table goes to stderr when a report is written to stdout, so the two never mix.
    bool stdout_taken =
        cli.json == "-" || cli.markdown == "-" || cli.junit == "-" || cli.html == "-";
    FILE* to = stdout_taken ? stderr : stdout;
    bool color = !cli.no_color && isatty(fileno(to)) && std::getenv("NO_COLOR") == nullptr;
    std::string table = compare::to_table(*report, color);
    std::fwrite(table.data(), 1, table.size(), to);
    if (!cli.html.empty() && cli.html != "-")
      std::fprintf(to, "HTML report: %s\n", cli.html.c_str());
  }
  if (!ok) return kExitInputError;
  if (report->verdict == compare::Verdict::kInsufficient) {
    // Nothing compared is not a pass: a gate that checked nothing must not let a release through.
    if (report->counters.value("paired", uint64_t{0}) == 0) {
      std::fprintf(stderr,
                   "twin: compare: nothing to compare: no response of '%s' was paired with one "
                   "of '%s'\n",
                   cli.options.baseline.c_str(), cli.options.candidate.c_str());
    } else {
      std::fprintf(stderr, "twin: compare: nothing to compare: every pair is on a skipped route\n");
    }
    return kExitInputError;
  }
  return report->verdict == compare::Verdict::kRegressed ? kExitGateFailed : kExitOk;
}

}  // namespace

Run add_compare(CLI::App& app) {
  auto cli = std::make_shared<CompareCli>();
  auto* sub = app.add_subcommand(
      "compare",
      "Compare a candidate with a baseline from result archives: exit 0 when the gate passes, 1 "
      "on a regression, 2 on an error");
  sub->add_option("inputs", cli->options.inputs,
                  "Result archives of twin replay (a paired replay, or one per target); a captured "
                  "archive takes part under the name 'capture'")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--baseline", cli->options.baseline, "Target name of the baseline")->required();
  sub->add_option("--candidate", cli->options.candidate, "Target name of the candidate")
      ->required();
  sub->add_option("--noise", cli->options.noise,
                  "A second baseline target: fields that differ between the two baselines are "
                  "cancelled as noise");
  sub->add_option("--gate", cli->gate, "Gate file (YAML): thresholds, routes, ignore rules")
      ->check(CLI::ExistingFile);
  sub->add_option("--json", cli->json, "Write the JSON report here ('-': standard output)");
  sub->add_option("--markdown", cli->markdown,
                  "Write a Markdown summary here (e.g. \"$GITHUB_STEP_SUMMARY\")");
  sub->add_option("--junit", cli->junit, "Write a JUnit XML report here");
  sub->add_option("--html", cli->html, "Write a self-contained HTML report here");
  sub->add_option("--max-pending", cli->options.max_pending,
                  "Responses waiting for their partner at most (the oldest is given up, counted)")
      ->check(CLI::Range(size_t{1000}, size_t{100'000'000}));
  sub->add_flag("-q,--quiet", cli->quiet, "No table on the terminal");
  sub->add_flag("--no-color", cli->no_color, "No colours in the table");
  return [cli]() { return run_compare(*cli); };
}

}  // namespace twin::cli
