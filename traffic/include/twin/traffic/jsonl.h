#pragma once
// The JSONL form of exchanges: one JSON object per line, a public contract (docs/FORMAT.md).
// Lossless against .twin: bodies and header fields that are not valid UTF-8 are base64.

#include <nlohmann/json.hpp>
#include <string>

#include "twin/traffic/exchange.h"
#include "twin/traffic/result.h"

namespace twin::traffic {

/// The JSONL object of one exchange, keys in the documented order.
nlohmann::ordered_json to_jsonl_object(const Exchange& exchange);
/// Appends the exchange as one line of JSON followed by '\n'.
void append_jsonl_line(const Exchange& exchange, std::string& out);
/// Reads a JSONL object back into `out`. On failure the message says which field is wrong
/// (e.g. "request.headers[3]: expected [name, value]") without naming a file: the caller adds
/// "FILE:LINE: ".
Result<void> from_jsonl_object(const nlohmann::json& object, Exchange& out);

}  // namespace twin::traffic
