#pragma once
// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/): as faithful as HAR allows.
// What HAR has no slot for (ids, sessions, nanosecond instants, addresses, error kind, flags,
// framing) goes into a custom "_twin" object on each entry, so that a HAR written by twin reads
// back to the same exchanges. HAR files written by browsers (Chromium, Firefox) import too.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::traffic {

/// The HAR entry of one exchange (with its "_twin" object).
nlohmann::ordered_json to_har_entry(const Exchange& exchange);
/// The text that opens a HAR document, up to and including `"entries":[`; entries follow,
/// separated by commas, then har_suffix().
std::string har_prefix(const std::string& creator_version);
std::string har_suffix();
/// Reads one HAR entry into `out`. `index` is the entry's position, used for ids when the
/// entry has no "_twin" object. The message on failure names the field, not the file.
Result<void> from_har_entry(const nlohmann::json& entry, uint64_t index, Exchange& out);
/// Parses a whole HAR document. Errors name the file: "FILE: not JSON: ...", "FILE: entry 3: ...".
Result<std::vector<Exchange>> read_har_file(const std::string& path);

}  // namespace twin::traffic
