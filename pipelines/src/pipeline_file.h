#pragma once
// A pipeline file (docs/pipeline.md) read into the `twin` commands it stands for. Reading checks
// everything that can be checked before anything runs — keys, types, sources, targets, the
// environment variables it uses — so that a mistake is reported with its line and column and not
// discovered half-way through a gate.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twin/traffic/result.h"

namespace twin::cli {

enum class Stage : uint8_t { kCapture, kFilter, kScrub, kReplay, kCompare };
inline constexpr std::array<std::string_view, 5> kStageNames = {"capture", "filter", "scrub",
                                                                "replay", "compare"};
inline std::string_view to_string(Stage s) { return kStageNames[static_cast<size_t>(s)]; }
std::optional<Stage> parse_stage(std::string_view name);

/// A readiness probe of one replay target.
struct Probe {
  std::string name;  // the target's name
  std::string url;   // scheme://authority + path, with twin's h2c:// and h2:// schemes kept
};

/// One stage as the command that runs it.
struct StageRun {
  Stage stage = Stage::kCapture;
  /// The `twin` arguments after the program name ({"replay", "in.twin", "-o", …}); empty when
  /// nothing runs (a capture stage that names an existing archive).
  std::vector<std::string> args;
  std::string input;   // the archive read; empty for a capture
  std::string output;  // the archive written (for `capture: archive:` the archive itself)
  int line = 0;        // where the stage is in the file (1-based), for messages

  // capture
  bool live = false;          // -i: needs the readiness line before `while` starts
  std::string while_command;  // run in `dir` during the capture
  double settle = 1.0;        // seconds between the command's exit and the capture's stop

  // replay
  std::vector<Probe> probes;
  double ready_timeout = 30;
  long ready_status = 0;  // 0: any status below 500
  bool insecure = false;

  // compare: the report files by kind ("json" is always set)
  std::vector<std::pair<std::string, std::string>> reports;
};

struct Notify {
  std::string url;     // a secret (Slack's URL is its key): never printed
  std::string format;  // slack | github | json
  std::string when;    // always | failure | regression
  std::vector<std::pair<std::string, std::string>> headers;  // values never printed
  int line = 0;
};

struct Pipeline {
  std::string path;              // the file
  std::string name;              // `name`, or the file's stem
  std::string dir;               // the file's directory: relative paths and commands start here
  std::string workdir;           // absolute or relative to the current directory
  std::vector<StageRun> stages;  // the stages present, in pipeline order
  std::vector<Notify> notify;
};

using GetEnv = std::function<std::optional<std::string>(const std::string&)>;

/// The process environment.
std::optional<std::string> process_env(const std::string& name);

/// Reads and checks `path`. `workdir` (may be empty) overrides the file's. Errors are one line:
/// "FILE:LINE:COLUMN: message".
Result<Pipeline> load_pipeline(const std::string& path, const std::string& workdir = {},
                               const GetEnv& env = process_env);

/// Replaces ${VAR} and ${VAR:-default} in `text`; `$$` is a literal `$`. Fails naming the first
/// variable that is unset and has no default (the message is the variable's name).
Result<std::string> expand_env(std::string_view text, const GetEnv& env);

/// `args` as one line a POSIX shell reads back as the same words.
std::string shell_quote(const std::vector<std::string>& args);

}  // namespace twin::cli
