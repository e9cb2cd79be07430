// twin: a digital twin of a running system, built from its own traffic.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <map>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"twin: capture, scrub, replay and compare HTTP traffic"};
  app.set_version_flag("--version", std::string("twin ") + TWIN_VERSION);
  app.require_subcommand(1);
  // Only commands that work are listed here; each stage adds its own as it lands.
  std::map<CLI::App*, twin::cli::Run> runs;
  auto add = [&](twin::cli::Run (*adder)(CLI::App&)) {
    auto run = adder(app);
    runs[app.get_subcommands({}).back()] = std::move(run);
  };
  add(twin::cli::add_pipeline);
  add(twin::cli::add_capture);
  add(twin::cli::add_scrub);
  add(twin::cli::add_replay);
  add(twin::cli::add_compare);
  add(twin::cli::add_reproduce);
  add(twin::cli::add_filter);
  add(twin::cli::add_convert);
  add(twin::cli::add_cat);
  add(twin::cli::add_info);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "twin: %s (see twin --help)\n", e.what());
    return twin::cli::kExitInputError;
  }
  // Log lines go to stderr: stdout is data (`-o -`, `cat`, `--json -`).
  spdlog::set_default_logger(spdlog::stderr_color_mt("twin"));
  spdlog::set_pattern("twin: %l: %v");
  try {
    for (auto* sub : app.get_subcommands()) return runs.at(sub)();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "twin: %s\n", e.what());
    return twin::cli::kExitInputError;
  }
  return twin::cli::kExitInputError;
}
