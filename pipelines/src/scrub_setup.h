#pragma once
// The options that choose a scrub policy and key, shared by `twin scrub` and
// `twin capture --scrub`, and the summary both print.

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "twin/scrubber/scrubber.h"
#include "twin/traffic/result.h"

namespace twin::cli {

struct ScrubSetup {
  std::string policy;    // --policy FILE; empty: the built-in default, with a warning
  std::string key_file;  // --key-file FILE
  std::string key_env = "TWIN_SCRUB_KEY";  // --key-env NAME
  bool ephemeral = false;                  // --ephemeral-key
  std::string report;                      // --report FILE (JSON)
  bool quiet = false;
  int threads = 1;  // threads that scrub (Scrubber::create); not an option of its own
};

/// Adds --key-file, --key-env, --ephemeral-key and --report; `policy_flag` names the policy
/// option ("--policy" for scrub, "--scrub" for capture).
void add_scrub_options(CLI::App* cmd, ScrubSetup& setup, const std::string& policy_flag);

struct ScrubEngine {
  scrubber::ScrubberPtr scrubber;
  std::string policy_source;
  std::string key_fingerprint;
  bool ephemeral = false;
  int token_scheme = 0;
};

/// Loads the policy and the key (refusing to run without a key unless --ephemeral-key) and
/// builds the engine. Warnings go to stderr. Errors are one line, ready to print.
Result<ScrubEngine> make_scrub_engine(const ScrubSetup& setup);

/// Scrubs every string in `meta` (not its keys, numbers or booleans) with the engine's content
/// detectors (Scrubber::scrub_text): the metadata an input archive or a capture brings along
/// (a BPF filter naming a host, a file name) goes into a scrubbed archive too.
void scrub_metadata_strings(ScrubEngine& engine, nlohmann::json& meta);

/// The metadata kept in the archive under "scrub": policy, key fingerprint, counters, and the
/// report's totals.
nlohmann::json scrub_metadata(const ScrubEngine& engine);

/// Prints the counters and the report table to stderr; writes --report when asked. Returns false
/// when the report could not be written.
bool finish_scrub(const ScrubEngine& engine, const ScrubSetup& setup);

}  // namespace twin::cli
