#pragma once
// Sources and sinks of exchanges in the three forms (.twin, .jsonl, .har), so that commands can
// read and write any of them alike. Two implementations and more: an interface is earned.

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "twin/traffic/archive.h"
#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::traffic {

enum class Format { kTwin, kJsonl, kHar };

std::string_view to_string(Format f);
/// "twin", "jsonl" or "har"; nullopt otherwise.
std::optional<Format> parse_format(std::string_view name);
/// By extension: .twin, .jsonl/.ndjson, .har; nullopt otherwise ("-" included).
std::optional<Format> format_from_path(std::string_view path);

/// A stream of exchanges. Not thread-safe.
class Source {
 public:
  virtual ~Source() = default;
  /// Fills `out` with the next exchange; false at the end. Errors are one line naming the file
  /// and the place; what was returned before an error stays good.
  virtual Result<bool> next(Exchange& out) = 0;
  /// Damage met and read past (a .twin file's torn tail, bad blocks), one line each.
  virtual std::vector<std::string> warnings() const { return {}; }
  /// The producer metadata, when the form has any (a JSON object, maybe empty).
  virtual nlohmann::json metadata() { return nlohmann::json::object(); }
};
using SourcePtr = std::unique_ptr<Source>;

/// Where exchanges go. close() must be called to finish the file; errors name the file.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Result<void> write(const Exchange& exchange) = 0;
  virtual Result<void> close() = 0;
};
using SinkPtr = std::unique_ptr<Sink>;

/// Opens `path` ("-" for standard input, then `format` is required) as a source.
Result<SourcePtr> open_source(const std::string& path, std::optional<Format> format = {});
/// Creates `path` ("-" for standard output). `metadata` goes into a .twin header.
Result<SinkPtr> open_sink(const std::string& path, std::optional<Format> format = {},
                          nlohmann::json metadata = nlohmann::json::object());

}  // namespace twin::traffic
